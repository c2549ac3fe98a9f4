//! The partition of a grid's runs into work units, windows and shards.
//!
//! * a **unit** is up to [`BLOCK`] consecutive replicates of one cell (trained in SIMD lanes);
//! * a **window** is [`WINDOW_UNITS`] consecutive units; its rows become one chunk file
//!   `chunks/w<index>.parquet`. The partition depends only on the grid (never on threads or
//!   scheduling), so a resumed, sharded or single run produces the same chunks;
//! * shard K of N owns the windows w with w mod N = K.
//!
//! **Adaptive grids** (`[adaptive]`, see [`super::adaptive`]) train seeds in stages: stage j
//! covers replicates `[b_j, b_{j+1})` with b₀ = 0, b₁ = min_seeds, then doubling, capped at
//! max_seeds. There a window is one cell's replicates of one stage, `w = j · cells + c`, so a
//! cell's chunks never depend on another cell's results, and shard K of N owns the windows of
//! the cells c with c mod N = K (each shard runs its cells' stages on its own).

use anyhow::{Context, Result, bail};

use crate::grid::Grid;

/// Replicates per work unit. Large enough that a unit's 16 SIMD lanes stay busy: a lane whose
/// run ends takes the unit's next replicate, so lanes idle only at the unit's tail. Simulated
/// on the article grid's run lengths, the lanes are busy 80 % of the time with units of 32
/// replicates, 96 % with 256 and 99 % with 1000. Measured on one relu-sigmoid and one
/// relu-sigmoid-sigmoid cell (lr 0.5, tol 0.01, 4 000 seeds): 99 → 65 and 194 → 148 ns per
/// run-epoch going from 32 to 256 (fewer tails and group set-ups).
pub(crate) const BLOCK: u32 = 256;
/// Units per chunk file (up to 1 024 runs; the article grid's windows are one cell each).
pub(crate) const WINDOW_UNITS: usize = 4;

/// A contiguous block of replicates of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unit {
    pub cell: usize,
    pub r0: u32,
    pub r1: u32,
}

/// The stage bounds of an adaptive grid: `[0, min, 2·min, 4·min, …, max]` (the last capped).
pub(crate) fn stage_bounds(min_seeds: u32, max_seeds: u32) -> Vec<u32> {
    let mut b = vec![0, min_seeds.min(max_seeds)];
    while *b.last().expect("nonempty") < max_seeds {
        let last = *b.last().expect("nonempty");
        b.push(last.saturating_mul(2).min(max_seeds));
    }
    b
}

/// How a grid's runs are cut into windows (chunk files).
#[derive(Debug, Clone)]
pub(crate) enum Partition {
    /// Every cell × `0..seeds`, in [`BLOCK`] units, [`WINDOW_UNITS`] units per window.
    Fixed(Vec<Unit>),
    /// Window `stage · cells + cell`: that cell's replicates `[bounds[stage], bounds[stage+1])`.
    Adaptive { cells: usize, bounds: Vec<u32> },
}

impl Partition {
    pub(crate) fn of(grid: &Grid) -> Partition {
        match &grid.adaptive {
            None => Partition::Fixed(units(grid)),
            Some(a) => Partition::Adaptive {
                cells: grid.cells.len(),
                bounds: stage_bounds(a.min_seeds, a.max_seeds),
            },
        }
    }

    /// Number of window indices (for an adaptive grid: every cell × every stage, most of which
    /// are never trained when cells stop early).
    pub(crate) fn n_windows(&self) -> usize {
        match self {
            Partition::Fixed(u) => n_windows(u.len()),
            Partition::Adaptive { cells, bounds } => cells * (bounds.len() - 1),
        }
    }

    /// The units of window `w`, in canonical order.
    pub(crate) fn window_units(&self, w: usize) -> Vec<Unit> {
        match self {
            Partition::Fixed(u) => window_units(u, w).to_vec(),
            Partition::Adaptive { cells, bounds } => {
                let (stage, cell) = (w / cells, w % cells);
                let (a, b) = (bounds[stage], bounds[stage + 1]);
                let mut out = Vec::new();
                let mut r = a;
                while r < b {
                    let r1 = (r + BLOCK).min(b);
                    out.push(Unit { cell, r0: r, r1 });
                    r = r1;
                }
                out
            }
        }
    }

    /// Runs in window `w`.
    pub(crate) fn runs_in(&self, w: usize) -> u64 {
        self.window_units(w).iter().map(|u| (u.r1 - u.r0) as u64).sum()
    }

    /// The window of stage `stage` of cell `cell` (adaptive grids).
    pub(crate) fn adaptive_window(&self, stage: usize, cell: usize) -> usize {
        match self {
            Partition::Fixed(_) => unreachable!("only adaptive grids have stages"),
            Partition::Adaptive { cells, .. } => stage * cells + cell,
        }
    }

    /// The shard (of `n`) that owns window `w`.
    pub(crate) fn shard_of(&self, w: usize, n: u32) -> u32 {
        match self {
            Partition::Fixed(_) => (w % n as usize) as u32,
            Partition::Adaptive { cells, .. } => ((w % cells) % n as usize) as u32,
        }
    }

    /// The windows `shard` owns (all for `None`); for an adaptive grid, every stage of its cells.
    pub(crate) fn shard_windows(&self, shard: Option<(u32, u32)>) -> Vec<usize> {
        (0..self.n_windows())
            .filter(|&w| shard.is_none_or(|(k, n)| self.shard_of(w, n) == k))
            .collect()
    }
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
