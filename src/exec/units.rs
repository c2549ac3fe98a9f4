//! The partition of a grid's runs into work units, windows and shards.
//!
//! * a **unit** is up to [`BLOCK`] consecutive replicates of one cell (trained in SIMD lanes);
//! * a **window** is [`WINDOW_UNITS`] consecutive units; its rows become one chunk file
//!   `chunks/w<index>.parquet`. The partition depends only on the grid (never on threads or
//!   scheduling), so a resumed, sharded or single run produces the same chunks;
//! * shard K of N owns the windows w with w mod N = K.

use anyhow::{Context, Result, bail};

use crate::grid::Grid;

/// Replicates per work unit.
pub(crate) const BLOCK: u32 = 32;
/// Units per chunk file.
pub(crate) const WINDOW_UNITS: usize = 16;

/// A contiguous block of replicates of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unit {
    pub cell: usize,
    pub r0: u32,
    pub r1: u32,
}

/// All units in canonical order.
pub(crate) fn units(grid: &Grid) -> Vec<Unit> {
    let mut out = Vec::new();
    for c in &grid.cells {
        let mut r = 0;
        while r < grid.seeds {
            let r1 = (r + BLOCK).min(grid.seeds);
            out.push(Unit { cell: c.index, r0: r, r1 });
            r = r1;
        }
    }
    out
}

pub(crate) fn n_windows(n_units: usize) -> usize {
    n_units.div_ceil(WINDOW_UNITS)
}

/// The units of window `w`.
pub(crate) fn window_units(all: &[Unit], w: usize) -> &[Unit] {
    let a = w * WINDOW_UNITS;
    &all[a.min(all.len())..((w + 1) * WINDOW_UNITS).min(all.len())]
}

/// The windows a shard owns.
pub(crate) fn shard_windows(n_windows: usize, shard: Option<(u32, u32)>) -> Vec<usize> {
    match shard {
        None => (0..n_windows).collect(),
        Some((k, n)) => (0..n_windows).filter(|w| w % n as usize == k as usize).collect(),
    }
}

/// Parses `K/N` or `auto/N` (SLURM_ARRAY_TASK_ID, then JOB_COMPLETION_INDEX).
pub(crate) fn parse_shard(s: &str) -> Result<(u32, u32)> {
    let Some((k, n)) = s.split_once('/') else {
        bail!("--shard {s}: write K/N, e.g. --shard 0/4 (K counts from 0) or --shard auto/4")
    };
    let n: u32 = n
        .trim()
        .parse()
        .with_context(|| format!("--shard {s}: N must be a positive integer"))?;
    if n == 0 {
        bail!("--shard {s}: N must be ≥ 1");
    }
    let k: u32 = if k.trim() == "auto" {
        let (var, val) = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"]
            .iter()
            .find_map(|v| std::env::var(v).ok().map(|x| (*v, x)))
            .with_context(|| format!("--shard {s}: neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set; give K explicitly"))?;
        val.trim()
            .parse()
            .with_context(|| format!("--shard {s}: {var}={val} is not an integer"))?
    } else {
        k.trim().parse().with_context(|| format!("--shard {s}: K must be an integer"))?
    };
    if k >= n {
        bail!(
            "--shard {k}/{n}: K must be in 0..{n} (0 ≤ K < N); with sbatch --array=0-{} use --shard auto/{n}",
            n - 1
        );
    }
    Ok((k, n))
}
