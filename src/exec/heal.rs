//! Self-healing resume: every chunk and state file is checked when it is read; a damaged one
//! is moved aside to `DIR/damaged/` and its runs are trained again, so the final tables equal
//! those of a clean run.
//!
//! A chunk is sound when it is readable Parquet with this grid's runs schema (column names,
//! order and types), holds exactly the runs of its window in canonical order (`run_id`,
//! `cell_id`, `replicate` and `seed` of every row), and every value reads back (no null or
//! unknown outcome, cause or mechanism). These checks also catch a chunk of another grid (its
//! cell ids, window or seeds differ) or of another initgrid version (its columns differ).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use polars::prelude::*;
use rayon::prelude::*;

use super::units::Partition;
use crate::core::{Outcome, RunResult};
use crate::grid::Grid;
use crate::store::atomic::guard_damaged;
use crate::store::manifest::Manifest;
use crate::store::runs::{RunRow, RunsView, runs_frame};
use crate::store::{chunk_path, move_to_damaged, state_files};

/// A damaged file, moved aside.
#[derive(Debug, Clone)]
pub(crate) struct Damaged {
    pub file: PathBuf,
    pub moved_to: PathBuf,
    /// What is wrong with it.
    pub why: String,
    /// The runs it should have held, which are trained again (`None` when not known: a state
    /// file, or a chunk of an earlier grid).
    pub runs: Option<u64>,
}

/// Moves `file` (of the results directory `dir`) to `dir/damaged/`.
pub(crate) fn set_aside(dir: &Path, file: &Path, why: String, runs: Option<u64>) -> Result<Damaged> {
    let moved_to = move_to_damaged(dir, file)?;
    Ok(Damaged {
        file: file.to_path_buf(),
        moved_to,
        why,
        runs,
    })
}

/// Checks chunk files against one grid.
pub(crate) struct ChunkChecker<'a> {
    grid: &'a Grid,
    part: Partition,
    /// The runs schema of this grid: column names and types, in order.
    schema: Vec<(String, DataType)>,
}

/// A placeholder result, only to learn the runs schema of a grid.
const PROBE: RunResult = RunResult {
    outcome: Outcome::Converged,
    epochs: 0,
    dead_cause: None,
    final_loss: 0.0,
    min_loss: 0.0,
    accuracy: 0.0,
    born_dead: false,
    dead_units_init: 0,
    dead_units_final: 0,
    live_units_init: 0,
    live_units_final: 0,
    initial_loss: 0.0,
    loss_at_90pct: 0.0,
    max_abs_param: 0.0,
};

impl<'a> ChunkChecker<'a> {
    pub(crate) fn new(grid: &'a Grid) -> Result<ChunkChecker<'a>> {
        let row = RunRow {
            cell: 0,
            replicate: 0,
            seed: grid.seed(0, 0),
            result: PROBE,
            wall_us: 0,
        };
        let df = runs_frame(grid, &[row])?;
        let schema = df.columns().iter().map(|c| (c.name().to_string(), c.dtype().clone())).collect();
        Ok(ChunkChecker {
            grid,
            part: Partition::of(grid),
            schema,
        })
    }

    /// The runs of window `w`.
    pub(crate) fn runs_in(&self, w: usize) -> u64 {
        self.part.runs_in(w)
    }

    /// Checks the chunk file of window `w`: `Ok(Ok(()))` sound, `Ok(Err(why))` damaged, `Err`
    /// when the file cannot be read at all (an I/O error such as a permission: not damage).
    pub(crate) fn check(&self, w: usize, path: &Path) -> Result<std::result::Result<(), String>> {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let read = guard_damaged(path, || Ok(ParquetReader::new(Cursor::new(bytes)).finish()?));
        let df = match read {
            Ok(df) => df,
            Err(e) => return Ok(Err(format!("not readable as Parquet: {}", e.root_cause()))),
        };
        Ok(self.check_frame(w, &df))
    }

    fn check_frame(&self, w: usize, df: &DataFrame) -> std::result::Result<(), String> {
        let cols = df.columns();
        if cols.len() != self.schema.len() {
            return Err(format!(
                "{} columns where the runs table has {} (another initgrid version?)",
                cols.len(),
                self.schema.len()
            ));
        }
        for (i, (c, (name, dtype))) in cols.iter().zip(&self.schema).enumerate() {
            if c.name().as_str() != name || c.dtype() != dtype {
                return Err(format!(
                    "column {i} is `{}` ({}) where the runs table has `{name}` ({dtype})",
                    c.name(),
                    c.dtype()
                ));
            }
        }
        let expected: Vec<(usize, u32)> = self
            .part
            .window_units(w)
            .iter()
            .flat_map(|u| (u.r0..u.r1).map(move |r| (u.cell, r)))
            .collect();
        if df.height() != expected.len() {
            return Err(format!("{} rows where its window holds {} runs", df.height(), expected.len()));
        }
        let view = RunsView::new(df, Path::new("the chunk"));
        let runs = view.runs().map_err(|e| format!("{e:#}"))?;
        view.mechanisms().map_err(|e| format!("{e:#}"))?;
        let run_ids = df.column("run_id").and_then(|c| c.str()).map_err(|e| e.to_string())?;
        let seeds = df.column("seed").and_then(|c| c.u64()).map_err(|e| e.to_string())?;
        for (i, (&(c, r), run)) in expected.iter().zip(&runs).enumerate() {
            let cell = &self.grid.cells[c];
            if run.cell_id != cell.id || run.replicate != r {
                return Err(format!(
                    "row {i} holds run {}-{} where its window has {} (a run of another window or grid)",
                    run.cell_id,
                    run.replicate,
                    cell.run_id(r)
                ));
            }
            if run_ids.get(i) != Some(cell.run_id(r).as_str()) {
                return Err(format!("row {i}: run_id {:?} does not name run {}", run_ids.get(i), cell.run_id(r)));
            }
            if seeds.get(i) != Some(self.grid.seed(c, r)) {
                return Err(format!(
                    "row {i}: seed {:?} is not the seed of replicate {r} (another base_seed or seed pairing?)",
                    seeds.get(i)
                ));
            }
        }
        Ok(())
    }
}

/// Checks the existing chunk files of `windows` in `dir` (in parallel) and moves every damaged
/// one to `dir/damaged/`; the runner then trains its runs again, as for a missing chunk.
pub(crate) fn heal_chunks(grid: &Grid, dir: &Path, windows: &[usize]) -> Result<Vec<Damaged>> {
    let checker = ChunkChecker::new(grid)?;
    let verdicts: Vec<(usize, PathBuf, std::result::Result<(), String>)> = windows
        .par_iter()
        .map(|&w| (w, chunk_path(dir, w)))
        .filter(|(_, p)| p.exists())
        .map(|(w, p)| checker.check(w, &p).map(|v| (w, p, v)))
        .collect::<Result<_>>()?;
    let mut out = Vec::new();
    for (w, p, v) in verdicts {
        if let Err(why) = v {
            out.push(set_aside(dir, &p, why, Some(checker.runs_in(w)))?);
        }
    }
    Ok(out)
}

/// State files that read back, with their manifests.
pub(crate) type States = Vec<(PathBuf, Manifest)>;

/// The state files of `dir` that read back, with their manifests; damaged ones (truncated, not
/// JSON, not a manifest) are moved to `dir/damaged/` and returned apart. A state file of another
/// results format is an error (a usage error naming both versions), not damage.
pub(crate) fn load_states(dir: &Path) -> Result<(States, Vec<Damaged>)> {
    let (mut ok, mut damaged) = (Vec::new(), Vec::new());
    for s in state_files(dir) {
        match Manifest::load_or_damaged(&s)? {
            Ok(m) => ok.push((s, m)),
            Err(why) => damaged.push(set_aside(dir, &s, why, None)?),
        }
    }
    Ok((ok, damaged))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::store::atomic::{Encoding, write_parquet_atomic};

    const CFG: &str = "name = \"t\"\nseeds = 40\n[train]\ndataset = \"three\"\nmax_epochs = 30\n[grid]\nlayout = [\"relu-sigmoid\", \"sigmoid-sigmoid\"]\nlr = [0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]\n";

    fn grid() -> Grid {
        Grid::build(&Config::parse("t.toml", CFG).unwrap()).unwrap()
    }

    /// Writes the chunk of window `w` as the runner does.
    fn write_chunk(grid: &Grid, dir: &Path, w: usize) -> PathBuf {
        let rows: Vec<RunRow> = Partition::of(grid)
            .window_units(w)
            .iter()
            .flat_map(|u| crate::exec::runner::run_unit(grid, *u, None).0)
            .collect();
        let p = chunk_path(dir, w);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        write_parquet_atomic(&p, &mut runs_frame(grid, &rows).unwrap(), Encoding::Chunk).unwrap();
        p
    }

    #[test]
    fn sound_chunks_pass_and_each_kind_of_damage_is_named() {
        let g = grid();
        let dir = tempfile::tempdir().unwrap();
        let (p0, p1) = (write_chunk(&g, dir.path(), 0), write_chunk(&g, dir.path(), 1));
        let c = ChunkChecker::new(&g).unwrap();
        assert_eq!(c.check(0, &p0).unwrap(), Ok(()));
        assert_eq!(c.check(1, &p1).unwrap(), Ok(()));
        // A chunk in the wrong window.
        let why = c.check(1, &p0).unwrap().unwrap_err();
        assert!(why.contains("where its window holds") || why.contains("another window"), "{why}");
        // Truncated.
        let bytes = std::fs::read(&p1).unwrap();
        std::fs::write(&p1, &bytes[..bytes.len() / 2]).unwrap();
        let why = c.check(1, &p1).unwrap().unwrap_err();
        assert!(why.starts_with("not readable as Parquet"), "{why}");
        // Rows missing.
        let mut df = crate::store::atomic::read_parquet(&p0).unwrap();
        df = df.slice(0, df.height() - 1);
        write_parquet_atomic(&p0, &mut df, Encoding::Chunk).unwrap();
        let why = c.check(0, &p0).unwrap().unwrap_err();
        assert!(why.contains("rows where its window holds"), "{why}");
        // heal_chunks moves both aside and counts their runs.
        let healed = heal_chunks(&g, dir.path(), &[0, 1, 2]).unwrap();
        assert_eq!(healed.len(), 2);
        assert_eq!(healed[0].runs, Some(c.runs_in(0)));
        assert!(healed.iter().all(|d| d.moved_to.exists() && !d.file.exists()));
        assert!(healed[0].moved_to.starts_with(dir.path().join("damaged")));
    }

    #[test]
    fn a_chunk_with_other_seeds_or_types_is_damaged() {
        let g = grid();
        let dir = tempfile::tempdir().unwrap();
        let p = write_chunk(&g, dir.path(), 0);
        let c = ChunkChecker::new(&g).unwrap();
        let good = crate::store::atomic::read_parquet(&p).unwrap();
        let mut df = good.clone();
        df.with_column(Column::new("seed".into(), vec![1u64; df.height()])).unwrap();
        assert!(c.check_frame(0, &df).unwrap_err().contains("not the seed of replicate 0"));
        let mut df = good.clone();
        df.with_column(Column::new("epochs".into(), vec![1i64; df.height()])).unwrap();
        assert!(c.check_frame(0, &df).unwrap_err().contains("`epochs`"));
    }
}
