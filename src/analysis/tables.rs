//! The aggregated tables: `cells.parquet` (one row per cell, rates with Wilson intervals) and
//! `effects.parquet` (each factor level's marginal outcome rates), computed with polars from
//! `runs.parquet`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Result, bail};
use polars::prelude::*;

use super::stats::{CONFIDENCE, wilson};
use crate::core::Outcome;
use crate::grid::Grid;
use crate::params::PARAMS;
use crate::store::runs::{RunsView, param_column, read_keys_frame};

/// Aggregated outcome counts of one cell.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CellStats {
    pub cell: usize,
    pub n: u64,
    /// converged, diverged, dead, stalled
    pub counts: [u64; 4],
    pub epochs_median: Option<f64>,
    pub epochs_p90: Option<f64>,
}

/// `cells.parquet`: parameters, cell_id, n, counts, rates with Wilson 95 % intervals, epochs.
pub(crate) fn cells_frame(grid: &Grid, stats: &[CellStats]) -> PolarsResult<DataFrame> {
    let mut cols: Vec<Column> = Vec::new();
    for (i, p) in PARAMS.iter().enumerate() {
        cols.push(param_column(p.name, stats.iter().map(|s| &grid.cells[s.cell].values[i])));
    }
    cols.push(Column::new(
        "cell_id".into(),
        stats.iter().map(|s| grid.cells[s.cell].id.clone()).collect::<Vec<_>>(),
    ));
    cols.push(Column::new("n".into(), stats.iter().map(|s| s.n).collect::<Vec<_>>()));
    for (k, o) in Outcome::ALL.iter().enumerate() {
        cols.push(Column::new(o.name().into(), stats.iter().map(|s| s.counts[k]).collect::<Vec<_>>()));
    }
    for (k, o) in Outcome::ALL.iter().enumerate() {
        let ci: Vec<_> = stats.iter().map(|s| wilson(s.counts[k], s.n, CONFIDENCE)).collect();
        cols.push(Column::new(
            format!("p_{}", o.name()).into(),
            stats.iter().map(|s| s.counts[k] as f64 / s.n as f64).collect::<Vec<_>>(),
        ));
        cols.push(Column::new(
            format!("p_{}_lo", o.name()).into(),
            ci.iter().map(|c| c.lo).collect::<Vec<_>>(),
        ));
        cols.push(Column::new(
            format!("p_{}_hi", o.name()).into(),
            ci.iter().map(|c| c.hi).collect::<Vec<_>>(),
        ));
    }
    cols.push(Column::new(
        "epochs_median".into(),
        stats.iter().map(|s| s.epochs_median).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "epochs_p90".into(),
        stats.iter().map(|s| s.epochs_p90).collect::<Vec<_>>(),
    ));
    DataFrame::new(stats.len(), cols)
}

/// One factor level's marginal rate of one outcome.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Effect {
    pub factor: String,
    pub level: String,
    pub outcome: Outcome,
    pub k: u64,
    pub n: u64,
    pub p: f64,
    pub lo: f64,
    pub hi: f64,
}

/// For each varied factor and level, each outcome's rate pooled over the other factors.
pub(crate) fn effects(grid: &Grid, stats: &[CellStats]) -> Vec<Effect> {
    let mut out = Vec::new();
    for &pi in &grid.varied {
        let mut levels: Vec<String> = Vec::new();
        let mut acc: Vec<(u64, [u64; 4])> = Vec::new();
        for s in stats {
            let lv = grid.cells[s.cell].values[pi].to_string();
            let idx = match levels.iter().position(|l| *l == lv) {
                Some(i) => i,
                None => {
                    levels.push(lv);
                    acc.push((0, [0; 4]));
                    levels.len() - 1
                }
            };
            acc[idx].0 += s.n;
            for k in 0..4 {
                acc[idx].1[k] += s.counts[k];
            }
        }
        for (lv, (n, counts)) in levels.iter().zip(&acc) {
            for (k, o) in Outcome::ALL.iter().enumerate() {
                let ci = wilson(counts[k], *n, CONFIDENCE);
                out.push(Effect {
                    factor: PARAMS[pi].name.into(),
                    level: lv.clone(),
                    outcome: *o,
                    k: counts[k],
                    n: *n,
                    p: counts[k] as f64 / *n as f64,
                    lo: ci.lo,
                    hi: ci.hi,
                });
            }
        }
    }
    out
}

pub(crate) fn effects_frame(e: &[Effect]) -> PolarsResult<DataFrame> {
    DataFrame::new(
        e.len(),
        vec![
            Column::new("factor".into(), e.iter().map(|x| x.factor.clone()).collect::<Vec<_>>()),
            Column::new("level".into(), e.iter().map(|x| x.level.clone()).collect::<Vec<_>>()),
            Column::new("outcome".into(), e.iter().map(|x| x.outcome.name()).collect::<Vec<_>>()),
            Column::new("k".into(), e.iter().map(|x| x.k).collect::<Vec<_>>()),
            Column::new("n".into(), e.iter().map(|x| x.n).collect::<Vec<_>>()),
            Column::new("p".into(), e.iter().map(|x| x.p).collect::<Vec<_>>()),
            Column::new("lo".into(), e.iter().map(|x| x.lo).collect::<Vec<_>>()),
            Column::new("hi".into(), e.iter().map(|x| x.hi).collect::<Vec<_>>()),
        ],
    )
}

/// Every run's outcome and epochs as a dense matrix `[cell · seeds + replicate]`, read from
/// runs.parquet with four columns only: a few bytes per run, so the answers commands and the
/// report stay small for millions of runs (reading every column as text would not).
#[derive(Debug, Clone)]
pub(crate) struct Outcomes {
    pub seeds: u32,
    /// `Outcome as u8`, or `MISSING`.
    pub code: Vec<u8>,
    pub epochs: Vec<u32>,
}

impl Outcomes {
    pub(crate) const MISSING: u8 = u8::MAX;

    /// An empty matrix for `grid`, to be filled with [`Outcomes::absorb`].
    pub(crate) fn empty(grid: &Grid) -> Outcomes {
        let n = grid.cells.len() * grid.seeds as usize;
        Outcomes {
            seeds: grid.seeds,
            code: vec![Self::MISSING; n],
            epochs: vec![0; n],
        }
    }

    /// Reads runs.parquet (four columns only).
    pub(crate) fn load(grid: &Grid, runs: &Path) -> Result<Outcomes> {
        let df = read_keys_frame(runs)?;
        let mut o = Outcomes::empty(grid);
        o.absorb(grid, &df, runs)?;
        Ok(o)
    }

    /// Records the rows of a runs table (a chunk or the whole file).
    /// A row whose cell is not in `grid` or whose replicate is out of range is an error: the
    /// table does not belong to this grid.
    pub(crate) fn absorb(&mut self, grid: &Grid, df: &DataFrame, origin: &Path) -> Result<()> {
        let index: HashMap<&str, usize> = grid.cells.iter().map(|c| (c.id.as_str(), c.index)).collect();
        let seeds = grid.seeds as usize;
        let (code, epochs) = (&mut self.code, &mut self.epochs);
        for (i, (id, r, o, e)) in RunsView::new(df, origin).keys()?.into_iter().enumerate() {
            let Some(&c) = index.get(id) else {
                bail!("{}: row {i}: cell `{id}` is not a cell of this grid", origin.display());
            };
            if r as usize >= seeds {
                bail!("{}: row {i}: replicate {r} is outside 0..{seeds}", origin.display());
            }
            code[c * seeds + r as usize] = o as u8;
            epochs[c * seeds + r as usize] = e;
        }
        Ok(())
    }

    /// Per-cell counts, and median / 90th percentile (linear interpolation, as polars and
    /// numpy) of the epochs of converged runs, in canonical cell order; cells without runs
    /// are left out.
    pub(crate) fn cell_stats(&self, grid: &Grid) -> Vec<CellStats> {
        let mut out = Vec::with_capacity(grid.cells.len());
        let mut conv: Vec<f64> = Vec::with_capacity(grid.seeds as usize);
        for c in &grid.cells {
            let mut counts = [0u64; 4];
            conv.clear();
            for r in 0..grid.seeds {
                if let Some(o) = self.get(c.index, r) {
                    counts[o as usize] += 1;
                    if o == Outcome::Converged {
                        conv.push(self.epochs(c.index, r) as f64);
                    }
                }
            }
            let n: u64 = counts.iter().sum();
            if n == 0 {
                continue;
            }
            conv.sort_by(f64::total_cmp);
            let q = |p: f64| (!conv.is_empty()).then(|| super::stats::quantile(&conv, p));
            out.push(CellStats {
                cell: c.index,
                n,
                counts,
                epochs_median: q(0.5),
                epochs_p90: q(0.9),
            });
        }
        out
    }

    /// Outcome of replicate `r` of cell `c`.
    pub(crate) fn get(&self, c: usize, r: u32) -> Option<Outcome> {
        let k = self.code[c * self.seeds as usize + r as usize];
        Outcome::ALL.get(k as usize).copied()
    }

    pub(crate) fn epochs(&self, c: usize, r: u32) -> u32 {
        self.epochs[c * self.seeds as usize + r as usize]
    }
}
