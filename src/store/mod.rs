//! The results directory: every file name, atomic writes, the runs schema, the manifest and
//! the state files. Nothing else names a file of a results directory.
//!
//! ```text
//! DIR/runs.parquet  cells.parquet  effects.parquet  curves.parquet  compare_<factor>.parquet
//! DIR/manifest.json  report.html
//! DIR/state.json | state-shard-K-of-N.json     progress of a run / of one shard
//! DIR/chunks/w<window>.parquet                  finished runs, one file per window, while a grid
//!                                               runs (removed once the tables are written)
//! DIR/reuse/<config hash>/…                     chunks or runs.parquet of an outgrown config
//!                                               (grown grids), removed once the tables are written
//! DIR/damaged/…                                 damaged chunks and state files, set aside
//! DIR/.lock | .lock-shard-K-of-N                one writer per directory / shard (lock.rs)
//! ```

pub(crate) mod atomic;
pub mod lock;
pub(crate) mod manifest;
pub(crate) mod runs;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Version of the results layout and of the bits in it. Bumped whenever stored columns change
/// or the kernels change results; a directory of another format is refused, naming both.
/// 1: initgrid ≤ 0.1 before this field existed. 2: mechanism columns, FMA kernels. (Storing
/// every NaN as the canonical one did not bump it: its rows differ from format 2's only in a
/// NaN's sign, and every comparison — `replay`, `verify`, `RunResult`'s `==` — takes any NaN as
/// the same value, so directories with the hardware's NaN stay valid and resume as before.)
pub(crate) const RESULTS_FORMAT: u32 = 2;

pub(crate) const RUNS: &str = "runs.parquet";
pub(crate) const CELLS: &str = "cells.parquet";
pub(crate) const EFFECTS: &str = "effects.parquet";
/// Cumulative incidence of each outcome against epochs, per cell.
pub(crate) const CURVES: &str = "curves.parquet";
pub(crate) const MANIFEST: &str = "manifest.json";
pub(crate) const REPORT: &str = "report.html";
pub(crate) const CHUNKS: &str = "chunks";
/// Where the chunks of an outgrown config wait to be reused.
pub(crate) const REUSE: &str = "reuse";

/// Where damaged chunks, shard parts and state files are moved aside (never deleted: they
/// may help to find what damaged them).
pub(crate) const DAMAGED: &str = "damaged";

/// The tables whose SHA-256 the manifest records at write time (checked by `verify`).
pub(crate) const CHECKSUMMED: [&str; 4] = [RUNS, CELLS, EFFECTS, CURVES];

/// The final files of a finished run (removed by `--fresh` and when a grid grows).
pub(crate) const FINAL_FILES: [&str; 6] = [RUNS, CELLS, EFFECTS, CURVES, MANIFEST, REPORT];

/// `DIR/compare_<factor>.parquet`.
pub(crate) fn compare_path(dir: &Path, factor: &str) -> PathBuf {
    dir.join(format!("compare_{factor}.parquet"))
}

/// The chunk file of window `w`.
pub(crate) fn chunk_path(dir: &Path, w: usize) -> PathBuf {
    dir.join(CHUNKS).join(format!("w{w:07}.parquet"))
}

/// The state file of a run or of one shard.
pub(crate) fn state_path(dir: &Path, shard: Option<(u32, u32)>) -> PathBuf {
    dir.join(match shard {
        None => "state.json".into(),
        Some((k, n)) => format!("state-shard-{k}-of-{n}.json"),
    })
}

/// Every state file in a directory (single run or shards), sorted.
pub(crate) fn state_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("state") && n.ends_with(".json"))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Moves the damaged `file` into `dir/damaged/` under its own name (`name.1`, `name.2`, … if
/// taken) and returns where it went. `dir` is the results directory the file belongs to.
pub(crate) fn move_to_damaged(dir: &Path, file: &Path) -> Result<PathBuf> {
    let to_dir = dir.join(DAMAGED);
    std::fs::create_dir_all(&to_dir).with_context(|| format!("cannot create {}", to_dir.display()))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "file".into());
    let mut to = to_dir.join(&name);
    let mut k = 1;
    while to.exists() {
        to = to_dir.join(format!("{name}.{k}"));
        k += 1;
    }
    std::fs::rename(file, &to).with_context(|| format!("cannot move the damaged {} to {}", file.display(), to.display()))?;
    Ok(to)
}

/// Whether `dir/damaged/` holds a state file that an earlier run set aside.
pub(crate) fn has_damaged_state(dir: &Path) -> bool {
    std::fs::read_dir(dir.join(DAMAGED))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("state"))
        })
        .unwrap_or(false)
}

/// `(K, N)` of a shard state file name `state-shard-K-of-N.json`.
pub(crate) fn shard_of_state(path: &Path) -> Option<(u32, u32)> {
    let n = path.file_name()?.to_str()?.strip_prefix("state-shard-")?.strip_suffix(".json")?;
    let (k, n) = n.split_once("-of-")?;
    Some((k.parse().ok()?, n.parse().ok()?))
}
