//! The aggregated tables: `cells.parquet` (one row per cell, rates with Wilson intervals) and
//! `effects.parquet` (each factor level's marginal outcome rates), computed with polars from
//! `runs.parquet`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Result, bail};
use polars::prelude::*;

use super::clustered::{ClusteredRate, SeedCount, clustered_rate};
use super::confseq::{BetaPrior, cs_interval, cs_precise_enough};
use super::stats::{CONFIDENCE, Interval, wilson};
use crate::core::{Mechanism, Outcome};
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
    /// Failure mechanisms, in the order of [`Mechanism::ALL`].
    pub mechanisms: [u64; 5],
    /// The cell's epoch budget (max_epochs).
    pub budget: u32,
    /// Median / 90th percentile of the epochs of the runs that converged (survivors only).
    pub epochs_median: Option<f64>,
    pub epochs_p90: Option<f64>,
    /// First epoch by which half of the cell's runs had converged; `None` when fewer than half
    /// converge within the budget ("> budget").
    pub epochs_to_half: Option<u32>,
    /// Restricted mean epochs to convergence up to the budget (runs that did not converge
    /// count the budget).
    pub rmst_epochs: f64,
    /// At least 10 % of the converged runs converged in the last 10 % of the budget: the rate
    /// is still rising at the cut-off.
    pub budget_binding: bool,
    /// Converged runs that converged in the last 10 % of the budget (for pooling the
    /// budget-binding rule over several cells).
    pub converged_late: u64,
}

/// A cell's 95 % interval for `k` of `n`: Wilson's for a fixed seed count; for an adaptive
/// grid, whose cells stopped when their data looked precise enough, the anytime-valid
/// confidence sequence (a fixed-n interval loses its coverage under such optional stopping).
pub(crate) fn cell_interval(grid: &Grid, k: u64, n: u64) -> Interval {
    if grid.adaptive.is_some() {
        cs_interval(k, n, CONFIDENCE)
    } else {
        wilson(k, n, CONFIDENCE)
    }
}

/// Why an adaptive grid's cell stopped: `precision` (its confidence sequence for the rule's
/// outcome is within ±precision) or `max_seeds`.
pub(crate) fn stopped_by(grid: &Grid, s: &CellStats) -> Option<&'static str> {
    let a = grid.adaptive.as_ref()?;
    let set = super::select::outcome_set(&a.outcome).ok()?;
    let k: u64 = (0..4).filter(|&o| set[o]).map(|o| s.counts[o]).sum();
    Some(if cs_precise_enough(k, s.n, CONFIDENCE, BetaPrior::JEFFREYS, a.precision) {
        "precision"
    } else {
        "max_seeds"
    })
}

/// `cells.parquet`: parameters, cell_id, n, counts, rates with 95 % intervals ([`cell_interval`]),
/// epochs; for an adaptive grid also `stopped_by`.
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
        let ci: Vec<_> = stats.iter().map(|s| cell_interval(grid, s.counts[k], s.n)).collect();
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
    for (k, m) in Mechanism::ALL.iter().enumerate().filter(|(_, m)| **m != Mechanism::Diverged) {
        cols.push(Column::new(
            m.name().into(),
            stats.iter().map(|s| s.mechanisms[k]).collect::<Vec<_>>(),
        ));
    }
    cols.push(Column::new(
        "epochs_to_half".into(),
        stats.iter().map(|s| s.epochs_to_half).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "rmst_epochs".into(),
        stats.iter().map(|s| s.rmst_epochs).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "budget_binding".into(),
        stats.iter().map(|s| s.budget_binding).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "epochs_median_converged".into(),
        stats.iter().map(|s| s.epochs_median).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "epochs_p90_converged".into(),
        stats.iter().map(|s| s.epochs_p90).collect::<Vec<_>>(),
    ));
    if grid.adaptive.is_some() {
        cols.push(Column::new(
            "stopped_by".into(),
            stats.iter().map(|s| stopped_by(grid, s)).collect::<Vec<_>>(),
        ));
    }
    DataFrame::new(stats.len(), cols)
}

/// One factor level's marginal rate of one outcome, pooled over the other factors with seeds
/// as clusters (a level spans many cells that share seeds: see [`Outcomes::pooled_rate`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Effect {
    pub factor: String,
    pub level: String,
    pub outcome: Outcome,
    pub k: u64,
    pub n: u64,
    /// Distinct seeds behind the rate (the independent units).
    pub seeds: u64,
    /// Cells pooled.
    pub cells: u64,
    /// Design effect of the pooling (1 for one cell).
    pub deff: f64,
    pub p: f64,
    pub lo: f64,
    pub hi: f64,
}

/// For each varied factor and level, each outcome's rate pooled over the other factors, with a
/// seed-clustered (design-effect-adjusted Wilson) interval.
pub(crate) fn effects(grid: &Grid, runs: &Outcomes, stats: &[CellStats]) -> Vec<Effect> {
    let mut out = Vec::new();
    for &pi in &grid.varied {
        let mut levels: Vec<String> = Vec::new();
        let mut members: Vec<Vec<usize>> = Vec::new();
        for s in stats {
            let lv = grid.cells[s.cell].values[pi].to_string();
            let idx = match levels.iter().position(|l| *l == lv) {
                Some(i) => i,
                None => {
                    levels.push(lv);
                    members.push(Vec::new());
                    levels.len() - 1
                }
            };
            members[idx].push(s.cell);
        }
        for (lv, cells) in levels.iter().zip(&members) {
            for (k, o) in Outcome::ALL.iter().enumerate() {
                let mut set = [false; 4];
                set[k] = true;
                let r = runs.pooled_rate(cells, set);
                out.push(Effect {
                    factor: PARAMS[pi].name.into(),
                    level: lv.clone(),
                    outcome: *o,
                    k: r.k,
                    n: r.n,
                    seeds: r.seeds,
                    cells: cells.len() as u64,
                    deff: r.deff,
                    p: r.rate,
                    lo: r.lo,
                    hi: r.hi,
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
            Column::new("seeds".into(), e.iter().map(|x| x.seeds).collect::<Vec<_>>()),
            Column::new("cells".into(), e.iter().map(|x| x.cells).collect::<Vec<_>>()),
            Column::new("deff".into(), e.iter().map(|x| x.deff).collect::<Vec<_>>()),
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
    /// The grid's cells share seeds (common random numbers); when false every run is
    /// independent and pooled rates need no clustering.
    pub paired: bool,
    /// An adaptive grid's: a single cell's interval is its confidence sequence.
    pub anytime: bool,
    /// `Outcome as u8`, or `MISSING`.
    pub code: Vec<u8>,
    pub epochs: Vec<u32>,
    /// `Mechanism as u8`, or `MISSING` (converged, absent, or unknown after [`Outcomes::at_epoch`]).
    pub mech: Vec<u8>,
    /// `Some(N)` after [`Outcomes::at_epoch`]: every cell's budget is min(max_epochs, N).
    pub horizon: Option<u32>,
}

impl Outcomes {
    pub(crate) const MISSING: u8 = u8::MAX;

    /// An empty matrix for `grid`, to be filled with [`Outcomes::absorb`].
    pub(crate) fn empty(grid: &Grid) -> Outcomes {
        let n = grid.cells.len() * grid.seeds as usize;
        Outcomes {
            seeds: grid.seeds,
            paired: grid.paired_seeds,
            anytime: grid.adaptive.is_some(),
            code: vec![Self::MISSING; n],
            epochs: vec![0; n],
            mech: vec![Self::MISSING; n],
            horizon: None,
        }
    }

    /// The outcomes as if every cell's max_epochs had been min(max_epochs, `n`).
    ///
    /// Exact, not estimated: runs are deterministic prefixes of longer runs, so a run decided
    /// at epoch e ≤ n is decided the same way under budget n; a run decided after n was not yet
    /// decided at n and counts as stalled (epochs = n). Its mechanism becomes unknown
    /// (`MISSING`): telling still_improving from plateau needs the loss at 90 % of the new budget,
    /// which is not stored. One caveat, for cells where death is not permanent (momentum or
    /// mini-batch batch-norm statistics, see [`crate::core::Trainer::death_is_permanent`]):
    /// there a run is `dead` only if its layer is dead at the last epoch, which is known for
    /// max_epochs only, so such a run undecided by n counts as stalled even if its layer
    /// happened to be dead at epoch n.
    pub(crate) fn at_epoch(mut self, n: u32) -> Outcomes {
        let stalled = Outcome::Stalled as u8;
        for i in 0..self.code.len() {
            if self.code[i] != Self::MISSING && self.epochs[i] > n {
                self.code[i] = stalled;
                self.epochs[i] = n;
                self.mech[i] = Self::MISSING;
            }
        }
        self.horizon = Some(self.horizon.map_or(n, |h| h.min(n)));
        self
    }

    /// The epoch budget of cell `c`: its max_epochs, or less after [`Outcomes::at_epoch`].
    pub(crate) fn budget(&self, grid: &Grid, c: usize) -> u32 {
        let b = grid.cells[c].budget();
        self.horizon.map_or(b, |h| b.min(h))
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
        let (code, epochs, mech) = (&mut self.code, &mut self.epochs, &mut self.mech);
        let view = RunsView::new(df, origin);
        let mechs = view.mechanisms()?;
        for (i, (id, r, o, e)) in view.keys()?.into_iter().enumerate() {
            let Some(&c) = index.get(id) else {
                bail!("{}: row {i}: cell `{id}` is not a cell of this grid", origin.display());
            };
            if r as usize >= seeds {
                bail!("{}: row {i}: replicate {r} is outside 0..{seeds}", origin.display());
            }
            code[c * seeds + r as usize] = o as u8;
            epochs[c * seeds + r as usize] = e;
            mech[c * seeds + r as usize] = mechs[i].map_or(Self::MISSING, |m| m as u8);
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
            let mut mechanisms = [0u64; 5];
            conv.clear();
            for r in 0..grid.seeds {
                if let Some(o) = self.get(c.index, r) {
                    counts[o as usize] += 1;
                    if o == Outcome::Converged {
                        conv.push(self.epochs(c.index, r) as f64);
                    }
                    let m = self.mech[c.index * self.seeds as usize + r as usize];
                    if let Some(slot) = mechanisms.get_mut(m as usize) {
                        *slot += 1;
                    }
                }
            }
            let n: u64 = counts.iter().sum();
            if n == 0 {
                continue;
            }
            conv.sort_by(f64::total_cmp);
            let q = |p: f64| (!conv.is_empty()).then(|| super::stats::quantile(&conv, p));
            let budget = self.budget(grid, c.index);
            let timing = convergence_timing(&conv, n, budget);
            let converged_late = conv.iter().filter(|&&e| is_late(e, budget)).count() as u64;
            out.push(CellStats {
                cell: c.index,
                n,
                counts,
                mechanisms,
                budget,
                epochs_median: q(0.5),
                epochs_p90: q(0.9),
                epochs_to_half: timing.0,
                rmst_epochs: timing.1,
                budget_binding: timing.2,
                converged_late,
            });
        }
        out
    }

    /// The rate of the outcomes in `set` pooled over `cells`, seeds as clusters (issue 13):
    /// replicate r uses the same seed in every cell, so pooling C cells of S seeds gives C·S
    /// runs but S independent units. The interval is Wilson's with the design-effect-adjusted
    /// sample size ([`clustered_rate`]); for a single cell it is exactly plain Wilson.
    pub(crate) fn pooled_rate(&self, cells: &[usize], set: [bool; 4]) -> ClusteredRate {
        if self.anytime && cells.len() == 1 {
            // One cell of an adaptive grid: its seed count was chosen by its own data, so its
            // interval is the anytime-valid confidence sequence ([`cell_interval`]).
            let runs: Vec<Outcome> = (0..self.seeds).filter_map(|r| self.get(cells[0], r)).collect();
            let k = runs.iter().filter(|o| set[**o as usize]).count() as u64;
            let n = runs.len() as u64;
            let ci = cs_interval(k, n, CONFIDENCE);
            return ClusteredRate {
                rate: if n == 0 { f64::NAN } else { k as f64 / n as f64 },
                lo: ci.lo,
                hi: ci.hi,
                k,
                n,
                seeds: n,
                deff: 1.0,
            };
        }
        if !self.paired {
            // Independent seeds in every cell (`paired_seeds = false`): every run is its own unit.
            let per: Vec<SeedCount> = cells
                .iter()
                .flat_map(|&c| (0..self.seeds).filter_map(move |r| self.get(c, r)))
                .map(|o| SeedCount {
                    k: set[o as usize] as u64,
                    m: 1,
                })
                .collect();
            return clustered_rate(&per, CONFIDENCE);
        }
        let mut per = vec![SeedCount::default(); self.seeds as usize];
        for &c in cells {
            for (r, s) in per.iter_mut().enumerate() {
                if let Some(o) = self.get(c, r as u32) {
                    s.m += 1;
                    s.k += set[o as usize] as u64;
                }
            }
        }
        clustered_rate(&per, CONFIDENCE)
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

/// Censoring-aware timing of one cell from the sorted epochs of its converged runs, its n and
/// its budget: (epochs_to_half, rmst_epochs, budget_binding).
///
/// A run that converged at epoch e ≤ budget converges at e under any budget ≥ e (runs are
/// deterministic prefixes of longer runs), so these are exact, not estimates:
/// * epochs_to_half — the ⌈n/2⌉-th smallest convergence epoch, `None` if fewer than n/2 converged;
/// * rmst_epochs — mean of min(T, budget) over all n runs, T = convergence epoch (∞ if none);
/// * budget_binding — at least 10 % of the converged runs converged after 90 % of the budget.
pub(crate) fn convergence_timing(conv_sorted: &[f64], n: u64, budget: u32) -> (Option<u32>, f64, bool) {
    let k = conv_sorted.len() as u64;
    let half = n.div_ceil(2);
    let to_half = (k >= half && half > 0).then(|| conv_sorted[half as usize - 1] as u32);
    let rmst = (conv_sorted.iter().sum::<f64>() + (n - k) as f64 * budget as f64) / n as f64;
    let late = conv_sorted.iter().filter(|&&e| is_late(e, budget)).count() as u64;
    (to_half, rmst, budget_binds(late, k))
}

/// A convergence at epoch `e` is in the last 10 % of the budget.
pub(crate) fn is_late(e: f64, budget: u32) -> bool {
    e > 0.9 * budget as f64
}

/// The budget-binding rule: at least 10 % of the `converged` runs converged late ([`is_late`]).
/// Pooled over several cells it uses their summed counts, each run judged by its own budget.
pub(crate) fn budget_binds(late: u64, converged: u64) -> bool {
    converged > 0 && late as f64 >= 0.1 * converged as f64
}

#[cfg(test)]
mod timing_tests {
    use super::convergence_timing;

    #[test]
    fn censoring_aware_timing_by_hand() {
        // 5 runs, budget 100: converged at 10, 20, 95; two never.
        let (half, rmst, binding) = convergence_timing(&[10.0, 20.0, 95.0], 5, 100);
        assert_eq!(half, Some(95)); // the 3rd of 5 runs converged at 95
        assert_eq!(rmst, (10.0 + 20.0 + 95.0 + 200.0) / 5.0);
        assert!(binding); // 1 of 3 converged after epoch 90
        // Fewer than half converge: "> budget".
        let (half, rmst, binding) = convergence_timing(&[10.0], 4, 100);
        assert_eq!(half, None);
        assert_eq!(rmst, (10.0 + 300.0) / 4.0);
        assert!(!binding);
        // Nothing converges: RMST is the budget, never binding.
        assert_eq!(convergence_timing(&[], 3, 50), (None, 50.0, false));
    }
}
