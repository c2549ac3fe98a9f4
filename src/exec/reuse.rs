//! Grown grids: finished runs of an earlier, smaller config, reused by (cell_id, replicate).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use polars::prelude::*;

use super::heal::{Damaged, set_aside};
use crate::core::RunResult;
use crate::store::atomic::guard_damaged;
use crate::store::runs::{RESULT_COLUMNS, RunsView};

/// Finished runs of an earlier, smaller version of the grid, by (cell_id, replicate): a grown
/// grid (more seeds, new levels) reuses them instead of training them again.
pub(crate) type Reuse = HashMap<(String, u32), (RunResult, u64)>;

/// Loads every runs table under `dir/reuse/` (chunks of an interrupted grid, or runs.parquet
/// of a finished one: the same columns). A damaged one (not readable as a runs table) is moved
/// to `dir/damaged/` and returned: its runs are simply trained again.
pub(crate) fn load_reuse(dir: &Path) -> Result<(Reuse, Vec<Damaged>)> {
    let mut map = Reuse::new();
    let mut damaged = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir.join(crate::store::REUSE)) else {
        return Ok((map, damaged));
    };
    for sub in rd.filter_map(|e| e.ok()) {
        let Ok(files) = std::fs::read_dir(sub.path()) else { continue };
        for f in files
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        {
            let bytes = std::fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?;
            // Only the columns RunsView::runs reads (runs.parquet of a large grid is big).
            let cols = Some(RESULT_COLUMNS.iter().map(|c| c.to_string()).collect());
            let runs = guard_damaged(&f, || {
                Ok(ParquetReader::new(std::io::Cursor::new(bytes)).with_columns(cols).finish()?)
            })
            .map_err(|e| format!("not readable as Parquet: {}", e.root_cause()))
            .and_then(|df| RunsView::new(&df, Path::new("the chunk")).runs().map_err(|e| format!("{e:#}")));
            match runs {
                Ok(runs) => {
                    for r in runs {
                        map.insert((r.cell_id, r.replicate), (r.result, r.wall_us));
                    }
                }
                Err(why) => damaged.push(set_aside(dir, &f, why, None)?),
            }
        }
    }
    Ok((map, damaged))
}
