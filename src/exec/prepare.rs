//! What to do with an existing results directory: lock it, resume it, grow it, refuse it, or
//! start over (`--fresh`).

use std::path::Path;

use anyhow::{Context, Result};

use super::compact::{Finished, compact, finished, settle_runs_table};
use super::heal::{Damaged, load_states};
use crate::error::usage;
use crate::store::lock::{DIR_LOCK, DirLock, shard_lock_name};
use crate::store::manifest::{Manifest, Resolved};
use crate::store::{self};

/// An output directory ready to be written.
pub(crate) struct Prepared {
    /// This process's lock on the directory (or its shard), held until dropped.
    pub lock: DirLock,
    /// Damaged state files that were moved aside.
    pub damaged: Vec<Damaged>,
    /// What changed when the grid grew (its finished runs are reused).
    pub grew: Option<String>,
    /// The directory already holds the finished results of this config (its manifest, whose
    /// checksums every table matches): nothing to train, the tables stay as they are.
    pub complete: Option<Manifest>,
    /// What was done with the runs table of an earlier run, one line each (to be printed).
    pub notes: Vec<String>,
}

/// Checks the output directory: writable, not in use by another process (one writer per
/// directory, or per shard), and either empty, ours with the same config (resume), or
/// explicitly started over with --fresh.
pub(crate) fn prepare_dir(dir: &Path, resolved: &Resolved, shard: Option<(u32, u32)>, fresh: bool) -> Result<Prepared> {
    if dir.exists() && !dir.is_dir() {
        return usage(format!("--out {}: exists and is not a directory", dir.display()));
    }
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create the output directory {} — choose a writable place with --out DIR",
            dir.display()
        )
    })?;
    let probe = dir.join(format!(".initgrid-probe-{}", std::process::id()));
    std::fs::write(&probe, b"ok").with_context(|| {
        format!(
            "the output directory {} is not writable — fix its permissions or choose another with --out DIR",
            dir.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    let lock = match shard {
        None => DirLock::acquire(dir, DIR_LOCK)?,
        Some((k, n)) => DirLock::acquire(dir, &shard_lock_name(k as usize, n as usize))?,
    };
    let mut prepared = Prepared {
        lock,
        damaged: Vec::new(),
        grew: None,
        complete: None,
        notes: Vec::new(),
    };
    let has_results = dir.join(store::CHUNKS).exists() || dir.join(store::RUNS).exists();
    if fresh {
        for p in [store::CHUNKS, store::REUSE, store::DAMAGED].into_iter().chain(store::FINAL_FILES) {
            let p = dir.join(p);
            if p.is_dir() {
                std::fs::remove_dir_all(&p)?;
            } else if p.exists() {
                std::fs::remove_file(&p)?;
            }
        }
        for s in store::state_files(dir) {
            std::fs::remove_file(s)?;
        }
        return Ok(prepared);
    }
    let (states, damaged) = load_states(dir)?;
    prepared.damaged = damaged;
    // A finished directory keeps runs.parquet only (see `compact`): what its manifest vouches
    // for decides whether there is anything to do.
    let done = if shard.is_none() { finished(dir)? } else { Finished::No };
    if let Finished::Complete(m) = &done
        && m.config_hash == resolved.hash()
    {
        compact(dir)?; // in case an earlier run stopped while compacting
        prepared.complete = Some(m.clone());
        return Ok(prepared);
    }
    if states.is_empty() {
        // Results whose state file was damaged (now or by an earlier attempt) are ours: their
        // chunks are checked against this config before any is kept.
        // A merged directory has no state file: its manifest vouches for its runs.
        let grown_from = match &done {
            Finished::Complete(m) | Finished::RunsOnly(m, _) if resolved.grows(&m.resolved) => Some(m),
            _ => None,
        };
        if let Some(m) = grown_from
            && m.config_hash != resolved.hash()
        {
            prepared.grew = Some(resolved.diff(&m.resolved).join("; "));
        } else if has_results && grown_from.is_none() && prepared.damaged.is_empty() && !store::has_damaged_state(dir) {
            return usage(format!(
                "{} holds results without an initgrid state file (another tool or version?): use --fresh to start over there, or another --out DIR",
                dir.display()
            ));
        }
    }
    for (s, old) in &states {
        if old.config_hash == resolved.hash() {
            if let (Some(a), Some(b)) = (old.shard, shard)
                && a.1 != b.1
            {
                return usage(format!(
                    "{} holds shards of a {}-way split; this run asks for {}-way: use the same N, or another --out DIR",
                    dir.display(),
                    a.1,
                    b.1
                ));
            }
            continue;
        }
        let diff = resolved.diff(&old.resolved);
        if resolved.grows(&old.resolved) && shard.is_none() && old.shard.is_none() {
            // The grid only grew: keep the finished runs aside and reuse them by
            // (cell_id, replicate) — cell ids and seeds do not depend on the grid's size.
            let keep = dir.join(store::REUSE).join(&old.config_hash);
            std::fs::create_dir_all(keep.parent().expect("has parent"))?;
            if dir.join(store::CHUNKS).exists() && !keep.exists() {
                std::fs::rename(dir.join(store::CHUNKS), &keep)?;
            } else if dir.join(store::CHUNKS).exists() {
                std::fs::remove_dir_all(dir.join(store::CHUNKS))?; // already kept by an earlier attempt
            }
            // (runs.parquet is settled below: reused, never deleted)
            for p in store::FINAL_FILES.into_iter().filter(|&p| p != store::RUNS) {
                let _ = std::fs::remove_file(dir.join(p));
            }
            std::fs::remove_file(s)?;
            prepared.grew = Some(diff.join("; "));
            continue;
        }
        return usage(format!(
            "{} holds results of a different config (hash {} vs {}): changed: {}\n  fix: use --fresh to discard the old results, or choose another --out DIR (growing a grid — more seeds, new levels — reuses finished runs)",
            dir.display(),
            old.config_hash,
            resolved.hash(),
            diff.join("; ")
        ));
    }
    if shard.is_none() {
        prepared.notes.extend(settle_runs_table(dir, resolved, &done)?);
    }
    Ok(prepared)
}
