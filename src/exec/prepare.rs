//! What to do with an existing results directory: resume it, grow it, refuse it, or start
//! over (`--fresh`).

use std::path::Path;

use anyhow::{Context, Result};

use crate::error::usage;
use crate::store::{
    self,
    manifest::{Manifest, Resolved},
};

/// Checks the output directory: writable, and either empty, ours with the same config
/// (resume), or explicitly started over with --fresh.
pub(crate) fn prepare_dir(dir: &Path, resolved: &Resolved, shard: Option<(u32, u32)>, fresh: bool) -> Result<()> {
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
    let states = store::state_files(dir);
    let has_results = dir.join(store::CHUNKS).exists() || dir.join(store::RUNS).exists();
    if fresh {
        for p in std::iter::once(store::CHUNKS).chain(store::FINAL_FILES) {
            let p = dir.join(p);
            if p.is_dir() {
                std::fs::remove_dir_all(&p)?;
            } else if p.exists() {
                std::fs::remove_file(&p)?;
            }
        }
        for s in states {
            std::fs::remove_file(s)?;
        }
        return Ok(());
    }
    if states.is_empty() {
        if has_results {
            return usage(format!(
                "{} holds results without an initgrid state file (another tool or version?): use --fresh to start over there, or another --out DIR",
                dir.display()
            ));
        }
        return Ok(());
    }
    for s in &states {
        let old = Manifest::load(s)?;
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
            for p in store::FINAL_FILES {
                let _ = std::fs::remove_file(dir.join(p));
            }
            std::fs::remove_file(s)?;
            eprintln!(
                "the grid grew ({}): finished runs are reused by (cell_id, replicate)",
                diff.join("; ")
            );
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
    Ok(())
}
