//! `merge OUT DIR…`: shard parts → one result, identical to a single-machine run.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;

use super::print_closing;
use crate::cli::MergeArgs;
use crate::error::usage;
use crate::exec::finalize::finalize;
use crate::exec::units::{n_windows, units};
use crate::grid::Grid;
use crate::store::manifest::{GIT_COMMIT, Manifest, RUSTC, VERSION, now_utc};
use crate::store::{chunk_path, state_files};

pub(crate) fn merge(a: &MergeArgs) -> Result<()> {
    let mut shards: Vec<(PathBuf, Manifest)> = Vec::new();
    for d in &a.dirs {
        let states = state_files(d);
        if states.is_empty() {
            return usage(format!(
                "{} holds no initgrid shard (no state-shard-*.json): is it the --out of a `--shard K/N` run?",
                d.display()
            ));
        }
        for s in states {
            shards.push((d.clone(), Manifest::load(&s)?));
        }
    }
    let first = &shards[0].1;
    for (d, m) in &shards[1..] {
        if m.config_hash != first.config_hash {
            let diff = m.resolved.diff(&first.resolved);
            return usage(format!(
                "{} comes from a different config than {} (hash {} vs {}): {}",
                d.display(),
                shards[0].0.display(),
                m.config_hash,
                first.config_hash,
                diff.join("; ")
            ));
        }
    }
    let n = first.shard.map(|s| s.1).unwrap_or(1);
    let mut seen: BTreeMap<u32, Vec<PathBuf>> = BTreeMap::new();
    for (d, m) in &shards {
        let k = m.shard.map(|s| s.0).unwrap_or(0);
        if m.shard.map(|s| s.1).unwrap_or(1) != n {
            return usage(format!("{}: shard split {:?} differs from {n}-way", d.display(), m.shard));
        }
        if m.finished.is_none() {
            return usage(format!(
                "shard {k}/{n} in {} did not finish: rerun it (it resumes), then merge",
                d.display()
            ));
        }
        seen.entry(k).or_default().push(d.clone());
    }
    let dup: Vec<String> = seen
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(k, v)| {
            format!(
                "shard {k}/{n} in {}",
                v.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" and ")
            )
        })
        .collect();
    if !dup.is_empty() {
        return usage(format!("duplicated shard(s): {}: pass each shard once", dup.join("; ")));
    }
    let missing: Vec<String> = (0..n).filter(|k| !seen.contains_key(k)).map(|k| format!("{k}/{n}")).collect();
    if !missing.is_empty() {
        return usage(format!(
            "missing shard(s): {} — run them (e.g. initgrid --config … --shard K/{n}) and merge again",
            missing.join(", ")
        ));
    }
    let cfg = first.config()?;
    let grid = Grid::build(&cfg)?;
    let nw = n_windows(units(&grid).len());
    let mut chunks = Vec::with_capacity(nw);
    for w in 0..nw {
        let k = (w % n as usize) as u32;
        let dir = &seen[&k][0];
        let p = chunk_path(dir, w);
        if !p.exists() {
            return usage(format!(
                "shard {k}/{n} in {} lacks its chunk {}: rerun that shard",
                dir.display(),
                p.display()
            ));
        }
        chunks.push(p);
    }
    std::fs::create_dir_all(&a.out)?;
    let trained: u64 = shards.iter().map(|(_, m)| m.runs_trained).sum();
    let wall: f64 = shards.iter().map(|(_, m)| m.wall_seconds).fold(0.0, f64::max);
    let manifest = Manifest {
        results_format: crate::store::RESULTS_FORMAT,
        initgrid_version: VERSION.into(),
        git_commit: GIT_COMMIT.into(),
        rustc: RUSTC.into(),
        shard: None,
        threads: first.threads,
        simd: first.simd.clone(),
        started: shards.iter().map(|(_, m)| m.started.clone()).min().unwrap_or_else(now_utc),
        finished: None,
        wall_seconds: wall,
        runs_trained: trained,
        counts: Default::default(),
        windows: nw,
        ..first.clone()
    };
    let done = finalize(&a.out, &grid, &chunks, manifest)?;
    print_closing(&a.out, &grid, &done, a.quiet);
    if !a.quiet {
        eprintln!("merged {n} shards into {}", a.out.display());
    }
    Ok(())
}
