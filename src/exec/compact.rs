//! One copy of the runs in a finished directory.
//!
//! While a grid runs, its finished runs live in `chunks/` (and, for a grown grid, the runs of
//! the earlier grid in `reuse/`). Once the final tables and `manifest.json` are written,
//! [`compact`] removes both: `runs.parquet` is then the only copy. What a later run may rely
//! on is what the manifest vouches for ([`finished`]): the SHA-256 it recorded for each table.
//!
//! * same config, every table matches: already complete, nothing is trained;
//! * same config, runs.parquet matches but another table does not: the tables are rebuilt
//!   from runs.parquet (moved to `reuse/<hash>/`), nothing is trained;
//! * a grown grid: runs.parquet moves to `reuse/<old hash>/`, its runs are reused;
//! * runs.parquet not vouched for (changed since it was written, or of another config) and no
//!   chunks: it is set aside in `damaged/` (never deleted) and its runs are trained again.

use std::path::Path;

use anyhow::{Context, Result};

use super::heal::set_aside;
use crate::store::manifest::{Manifest, Resolved, sha256_file};
use crate::store::{self, CHECKSUMMED, shard_of_state, state_files};

/// What `manifest.json` vouches for in a directory.
pub(crate) enum Finished {
    /// No finished manifest (none, unfinished, or damaged).
    No,
    /// Every table matches the SHA-256 the manifest recorded.
    Complete(Manifest),
    /// runs.parquet matches its SHA-256; the tables named do not (missing or changed).
    RunsOnly(Manifest, Vec<String>),
    /// runs.parquet is missing or differs from its SHA-256.
    RunsChanged,
}

/// Checks the tables of `dir` against the SHA-256 its manifest.json recorded at write time.
/// A manifest of another results format is an error (the usage error naming both versions).
pub(crate) fn finished(dir: &Path) -> Result<Finished> {
    let path = dir.join(store::MANIFEST);
    if !path.exists() {
        return Ok(Finished::No);
    }
    let m = match Manifest::load_or_damaged(&path)? {
        Ok(m) if m.finished.is_some() && m.shard.is_none() && !m.checksums.is_empty() => m,
        _ => return Ok(Finished::No),
    };
    let mut changed = Vec::new();
    for name in CHECKSUMMED {
        let file = dir.join(name);
        let same = file.exists()
            && m.checksums
                .get(name)
                .is_some_and(|want| sha256_file(&file).ok().as_ref() == Some(want));
        if !same {
            changed.push(name.to_string());
        }
    }
    Ok(if changed.is_empty() {
        Finished::Complete(m)
    } else if changed.iter().any(|c| c == store::RUNS) {
        Finished::RunsChanged
    } else {
        Finished::RunsOnly(m, changed)
    })
}

/// Removes what duplicates runs.parquet in a finished directory: `chunks/` (unless the
/// directory holds a shard's state file — those chunks are that shard's results, merged from
/// there) and `reuse/`.
pub(crate) fn compact(dir: &Path) -> Result<()> {
    let shard_parts = state_files(dir).iter().any(|s| shard_of_state(s).is_some());
    let chunks = dir.join(store::CHUNKS);
    if !shard_parts && chunks.exists() {
        std::fs::remove_dir_all(&chunks).with_context(|| format!("cannot remove {}", chunks.display()))?;
    }
    let reuse = dir.join(store::REUSE);
    if reuse.exists() {
        std::fs::remove_dir_all(&reuse).with_context(|| format!("cannot remove {}", reuse.display()))?;
    }
    Ok(())
}

/// Before a (non-shard) run that is not already complete: makes runs.parquet of a finished
/// directory a source of reusable runs, or sets it aside, so that it is never overwritten.
/// The other final files are derived from it and removed when it moves. Returns a line to
/// tell the user, if any (a grown grid is told by its caller).
pub(crate) fn settle_runs_table(dir: &Path, resolved: &Resolved, done: &Finished) -> Result<Option<String>> {
    let runs = dir.join(store::RUNS);
    if !runs.exists() {
        return Ok(None);
    }
    let hash = resolved.hash();
    let vouched = match done {
        Finished::Complete(m) | Finished::RunsOnly(m, _) if m.config_hash == hash || resolved.grows(&m.resolved) => Some(m),
        _ => None,
    };
    let Some(m) = vouched else {
        if dir.join(store::CHUNKS).exists() {
            // An assembly that did not finish (or an earlier initgrid's directory): the chunks
            // hold the runs and runs.parquet is rebuilt from them.
            return Ok(None);
        }
        let why = match done {
            Finished::RunsChanged => "it differs from the SHA-256 manifest.json recorded when it was written".to_string(),
            Finished::Complete(m) | Finished::RunsOnly(m, _) => {
                format!(
                    "it holds the runs of another config, hash {} (not a grid this one grew from)",
                    m.config_hash
                )
            }
            Finished::No => "no finished manifest.json vouches for it".to_string(),
        };
        let d = set_aside(dir, &runs, why, None)?;
        return Ok(Some(format!(
            "{} set aside ({}): moved to {}; its runs are trained again",
            d.file.display(),
            d.why,
            d.moved_to.display()
        )));
    };
    let keep = dir.join(store::REUSE).join(&m.config_hash);
    std::fs::create_dir_all(&keep).with_context(|| format!("cannot create {}", keep.display()))?;
    std::fs::rename(&runs, keep.join(store::RUNS)).with_context(|| format!("cannot move {} to {}", runs.display(), keep.display()))?;
    for p in store::FINAL_FILES {
        let _ = std::fs::remove_file(dir.join(p));
    }
    Ok(match done {
        Finished::RunsOnly(_, changed) if m.config_hash == hash => Some(format!(
            "{} of the finished run differ from the SHA-256 manifest.json recorded: the tables are rebuilt from runs.parquet (no run is trained again)",
            changed.join(", ")
        )),
        _ => None,
    })
}
