//! Retraining one stored run and checking it against its row, bit for bit.

use std::path::Path;

use anyhow::Result;

use crate::core::{RunResult, Trajectory, same_value};
use crate::error::usage;
use crate::grid::{Grid, parse_run_id};
use crate::store::manifest::Manifest;
use crate::store::runs::{StoredRun, find_run};

/// A replayed run and the row it was checked against.
pub(crate) struct Replayed {
    pub seed: u64,
    pub result: RunResult,
    pub trajectory: Trajectory,
    pub stored: StoredRun,
}

impl Replayed {
    /// Outcome, epochs and final loss equal the stored row bit for bit (a NaN loss: NaN, of
    /// any sign — see `core::train::same_value`).
    pub(crate) fn verified(&self) -> bool {
        let (a, b) = (&self.stored.result, &self.result);
        a.outcome == b.outcome && a.epochs == b.epochs && same_value(a.final_loss, b.final_loss)
    }
}

/// Retrains `run_id` of the results in `dir` from the manifest's config.
pub(crate) fn replay_run(dir: &Path, run_id: &str) -> Result<Replayed> {
    let Some((cell_id, rep)) = parse_run_id(run_id) else {
        return usage(format!(
            "--run {run_id}: a run id looks like <cell_id>-<replicate>, e.g. 3fa9c1d2e4b5a6c7-17 (see runs.parquet)"
        ));
    };
    let m = Manifest::load_dir(dir)?;
    let grid = Grid::build(&m.config()?)?;
    let Some(cell) = grid.cell_by_id(cell_id) else {
        return usage(format!(
            "--run {run_id}: no cell `{cell_id}` in {} (its grid has {} cells)",
            dir.display(),
            grid.cells.len()
        ));
    };
    if rep >= grid.seeds {
        return usage(format!("--run {run_id}: replicate {rep} is outside 0..{}", grid.seeds));
    }
    let seed = grid.seed(cell.index, rep);
    let (result, trajectory) = cell.trainer.run_trajectory(seed);
    let stored = find_run(&dir.join(crate::store::RUNS), run_id)?;
    Ok(Replayed {
        seed,
        result,
        trajectory,
        stored,
    })
}
