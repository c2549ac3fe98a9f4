//! `merge OUT DIR…`: shard parts → one result, identical to a single-machine run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{damaged_line, print_closing};
use crate::cli::MergeArgs;
use crate::error::{Error, usage};
use crate::exec::adaptive::Walker;
use crate::exec::finalize::finalize;
use crate::exec::heal::{ChunkChecker, load_states, set_aside};
use crate::exec::units::Partition;
use crate::grid::Grid;
use crate::store::lock::{DIR_LOCK, DirLock, shard_lock_name};
use crate::store::manifest::{GIT_COMMIT, Manifest, RUSTC, VERSION, now_utc};
use crate::store::{chunk_path, shard_of_state, state_files};

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
        let (ok, damaged) = load_states(d)?;
        if let Some(x) = damaged.first() {
            let kn = shard_of_state(&x.file).map_or("K/N".to_string(), |(k, n)| format!("{k}/{n}"));
            return Err(Error::Mismatch(format!(
                "{}; rerun shard {kn} (initgrid --config CONFIG --shard {kn} --out {}: it keeps its sound chunks), then merge again",
                damaged_line("state file", x),
                d.display()
            ))
            .into());
        }
        shards.extend(ok.into_iter().map(|(_, m)| (d.clone(), m)));
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
    // One writer per directory: the merged directory, and no shard rerun while its parts are
    // read (or set aside). Held until the merge returns.
    std::fs::create_dir_all(&a.out)?;
    let mut locks = vec![DirLock::acquire(&a.out, DIR_LOCK)?];
    for (k, dirs) in &seen {
        locks.push(DirLock::acquire(&dirs[0], &shard_lock_name(*k as usize, n as usize))?);
    }
    for l in &locks {
        if let Some(notice) = l.notice() {
            eprintln!("{notice}");
        }
    }
    let cfg = first.config()?;
    let grid = Grid::build(&cfg)?;
    let part = Partition::of(&grid);
    let nw = part.n_windows();
    let checker = ChunkChecker::new(&grid)?;
    let shard_dir = |w: usize| -> (u32, &PathBuf) {
        let k = part.shard_of(w, n);
        (k, &seen[&k][0])
    };
    // Every part is checked before it is merged; a damaged one is set aside in its shard's
    // directory, so rerunning that shard retrains exactly its runs.
    let mut damaged = Vec::new();
    let mut sound = |w: usize, p: &Path| -> Result<bool> {
        let (k, dir) = shard_dir(w);
        if let Err(why) = checker.check(w, p)? {
            let d = set_aside(dir, p, why, Some(checker.runs_in(w)))?;
            damaged.push(format!(
                "{} — it held {} runs of shard {k}/{n}: rerun that shard (initgrid --config {} --shard {k}/{n} --out {} retrains only the missing runs), then merge again",
                damaged_line("shard part", &d),
                d.runs.unwrap_or(0),
                first.config_file,
                dir.display()
            ));
            return Ok(false);
        }
        Ok(true)
    };
    let lacks = |w: usize| {
        let (k, dir) = shard_dir(w);
        usage::<()>(format!(
            "shard {k}/{n} in {} lacks its chunk {}: rerun that shard",
            dir.display(),
            chunk_path(dir, w).display()
        ))
    };
    let (windows, expected_runs) = match &grid.adaptive {
        None => {
            for w in 0..nw {
                let p = chunk_path(shard_dir(w).1, w);
                if !p.exists() {
                    lacks(w)?;
                }
                sound(w, &p)?;
            }
            ((0..nw).collect::<Vec<_>>(), grid.n_runs())
        }
        // Each cell's stages are followed over its shard's chunks, as the shard did.
        Some(_) => {
            let cells: Vec<usize> = (0..grid.cells.len()).collect();
            let walk = Walker::new(&grid)?.walk(&cells, |w| chunk_path(shard_dir(w).1, w), &mut sound)?;
            if let (Some(&w), true) = (walk.missing.first(), damaged.is_empty()) {
                lacks(w)?;
            }
            let runs = walk.runs();
            (walk.windows, runs)
        }
    };
    let chunks: Vec<PathBuf> = windows.iter().map(|&w| chunk_path(shard_dir(w).1, w)).collect();
    if !damaged.is_empty() {
        return Err(Error::Mismatch(format!("nothing merged: {}", damaged.join("\n"))).into());
    }
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
    let done = finalize(&a.out, &grid, &chunks, expected_runs, manifest)?;
    print_closing(&a.out, &grid, &done, a.quiet);
    if !a.quiet {
        eprintln!("merged {n} shards into {}", a.out.display());
    }
    Ok(())
}
