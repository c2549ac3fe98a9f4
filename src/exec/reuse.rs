//! Grown grids: finished runs of an earlier, smaller config, reused by (cell_id, replicate).

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;

use crate::core::RunResult;
use crate::store::runs::read_runs;

/// Finished runs of an earlier, smaller version of the grid, by (cell_id, replicate): a grown
/// grid (more seeds, new levels) reuses them instead of training them again.
pub(crate) type Reuse = HashMap<(String, u32), (RunResult, u64)>;

/// Loads every chunk under `dir/reuse/`.
pub(crate) fn load_reuse(dir: &Path) -> Result<Reuse> {
    let mut map = Reuse::new();
    let Ok(rd) = std::fs::read_dir(dir.join(crate::store::REUSE)) else {
        return Ok(map);
    };
    for sub in rd.filter_map(|e| e.ok()) {
        let Ok(files) = std::fs::read_dir(sub.path()) else { continue };
        for f in files
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        {
            for r in read_runs(&f)? {
                map.insert((r.cell_id, r.replicate), (r.result, r.wall_us));
            }
        }
    }
    Ok(map)
}
