//! Time to convergence: the cumulative incidence of each terminal outcome against epochs
//! (`curves.parquet`), the Aalen–Johansen estimator for pools of cells with different budgets,
//! and the epoch budget behind a pooled rate (shown next to every rate, marked when binding).
//!
//! Every run stores the epoch at which its outcome was decided, and runs are deterministic
//! prefixes of longer runs, so within one cell the share of runs converged (dead, diverged) by
//! epoch t ≤ max_epochs is exact: it is the rate a grid with max_epochs = t would report.
//! Converged, dead and diverged are competing outcomes, not censoring: a run that died cannot
//! converge later. With one shared budget nothing is censored before the budget, and the
//! Aalen–Johansen estimate of each outcome's cumulative incidence is exactly the fraction
//! `k(t)/n` that curves.parquet stores. Pooling cells with *different* budgets (e.g. a report
//! curve per level of a factor while max_epochs varies) censors the runs of a cell at its
//! budget; [`aalen_johansen`] handles that.

use std::collections::HashMap;

use polars::prelude::*;
use serde::Serialize;

use super::select::{Filter, matches};
use super::stats::{CONFIDENCE, wilson, z_for};
use super::tables::{CellStats, Outcomes, budget_binds};
use crate::core::Outcome;
use crate::grid::Grid;

/// One row of curves.parquet: cumulative counts of cell `cell` at `epoch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CurveRow {
    pub cell: usize,
    pub epoch: u32,
    /// Runs decided as converged / dead / diverged at or before `epoch`.
    pub converged: u64,
    pub dead: u64,
    pub diverged: u64,
    pub n: u64,
}

/// Per cell (canonical order; cells without runs left out): one row at epoch 0, at every epoch
/// at which one of its runs was decided, and at its budget, with cumulative counts.
pub(crate) fn cell_curves(grid: &Grid, runs: &Outcomes) -> Vec<CurveRow> {
    let mut out = Vec::new();
    let mut ev: Vec<(u32, Outcome)> = Vec::with_capacity(grid.seeds as usize);
    for c in &grid.cells {
        ev.clear();
        ev.extend((0..grid.seeds).filter_map(|r| runs.get(c.index, r).map(|o| (runs.epochs(c.index, r), o))));
        if ev.is_empty() {
            continue;
        }
        ev.sort_unstable_by_key(|e| e.0);
        let budget = runs.budget(grid, c.index);
        let mut epochs: Vec<u32> = std::iter::once(0).chain(ev.iter().map(|e| e.0)).chain([budget]).collect();
        epochs.sort_unstable();
        epochs.dedup();
        let n = ev.len() as u64;
        let mut row = CurveRow {
            cell: c.index,
            epoch: 0,
            converged: 0,
            dead: 0,
            diverged: 0,
            n,
        };
        let mut i = 0;
        for t in epochs {
            while i < ev.len() && ev[i].0 <= t {
                match ev[i].1 {
                    Outcome::Converged => row.converged += 1,
                    Outcome::Dead => row.dead += 1,
                    Outcome::Diverged => row.diverged += 1,
                    Outcome::Stalled => {}
                }
                i += 1;
            }
            row.epoch = t;
            out.push(row.clone());
        }
    }
    out
}

/// `curves.parquet`: cell_id, epoch, converged, dead, diverged, n, p_converged with its
/// Wilson 95 % interval.
pub(crate) fn curves_frame(grid: &Grid, rows: &[CurveRow]) -> PolarsResult<DataFrame> {
    let ci: Vec<_> = rows.iter().map(|r| wilson(r.converged, r.n, CONFIDENCE)).collect();
    let u = |f: fn(&CurveRow) -> u64| rows.iter().map(f).collect::<Vec<_>>();
    DataFrame::new(
        rows.len(),
        vec![
            Column::new(
                "cell_id".into(),
                rows.iter().map(|r| grid.cells[r.cell].id.clone()).collect::<Vec<_>>(),
            ),
            Column::new("epoch".into(), rows.iter().map(|r| r.epoch).collect::<Vec<_>>()),
            Column::new("converged".into(), u(|r| r.converged)),
            Column::new("dead".into(), u(|r| r.dead)),
            Column::new("diverged".into(), u(|r| r.diverged)),
            Column::new("n".into(), u(|r| r.n)),
            Column::new(
                "p_converged".into(),
                rows.iter().map(|r| r.converged as f64 / r.n as f64).collect::<Vec<_>>(),
            ),
            Column::new("p_converged_lo".into(), ci.iter().map(|c| c.lo).collect::<Vec<_>>()),
            Column::new("p_converged_hi".into(), ci.iter().map(|c| c.hi).collect::<Vec<_>>()),
        ],
    )
}

/// One run for [`aalen_johansen`]: the epoch its outcome was decided and the outcome. A
/// stalled run is censored at that epoch (its cell's budget): administrative censoring.
pub(crate) type Event = (u32, Outcome);

/// One step of an Aalen–Johansen estimate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IncidencePoint {
    pub epoch: u32,
    /// Cumulative incidence of converged, diverged, dead (order of [`Outcome::ALL`]).
    pub cif: [f64; 3],
    /// Runs whose budget reaches `epoch` (not censored before it): the n of the Wilson band.
    pub n_reach: u64,
}

/// Aalen–Johansen estimate of the cumulative incidence of converged, diverged and dead with
/// stalled runs censored at their budget, evaluated at epoch 0 and at every epoch at which a
/// run was decided or censored. At tied epochs outcomes come before censoring (a run that
/// converges at its last epoch converged). With one budget for every run this is exactly
/// `k(t)/n` (tested); runs censored at a smaller budget leave the risk set there and the
/// estimate after it rests on the runs with the larger budgets.
pub(crate) fn aalen_johansen(events: &[Event]) -> Vec<IncidencePoint> {
    let mut ev: Vec<Event> = events.to_vec();
    ev.sort_unstable_by_key(|e| e.0);
    let mut out = Vec::new();
    let mut at_risk = ev.len() as u64;
    let mut surv = 1.0f64; // P(undecided just before t)
    let mut cif = [0.0f64; 3];
    let mut censored_before = 0u64;
    let total = ev.len() as u64;
    let mut i = 0;
    if ev.first().is_none_or(|e| e.0 > 0) {
        out.push(IncidencePoint {
            epoch: 0,
            cif,
            n_reach: at_risk,
        });
    }
    while i < ev.len() {
        let t = ev[i].0;
        let mut d = [0u64; 3];
        let mut censored = 0u64;
        while i < ev.len() && ev[i].0 == t {
            match ev[i].1 {
                Outcome::Stalled => censored += 1,
                o => d[o as usize] += 1,
            }
            i += 1;
        }
        // Runs still under observation at t: neither decided nor censored before t.
        let y = at_risk as f64;
        let n_reach = total - censored_before;
        let dsum: u64 = d.iter().sum();
        if dsum > 0 {
            for (c, &dk) in cif.iter_mut().zip(&d) {
                *c += surv * dk as f64 / y;
            }
            surv *= 1.0 - dsum as f64 / y;
        }
        at_risk -= dsum + censored;
        censored_before += censored;
        out.push(IncidencePoint { epoch: t, cif, n_reach });
    }
    out
}

/// Wilson 95 % interval around an estimated proportion `p` with `n` runs behind it (for
/// `p = k/n` it is [`wilson`]`(k, n)`).
pub(crate) fn wilson_p(p: f64, n: u64) -> (f64, f64) {
    if n == 0 || !p.is_finite() {
        return (0.0, 1.0);
    }
    let z = z_for(CONFIDENCE);
    let nf = n as f64;
    let p = p.clamp(0.0, 1.0);
    let z2 = z * z;
    let den = 1.0 + z2 / nf;
    let centre = (p + z2 / (2.0 * nf)) / den;
    let half = z * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt() / den;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The epoch budget behind a rate pooled over some cells, and whether it binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Budget {
    /// Smallest and largest budget (max_epochs, or the `--at-epoch` value) of the cells.
    pub budget_min: u32,
    pub budget_max: u32,
    /// Converged runs, and those that converged in the last 10 % of their cell's budget.
    #[serde(skip)]
    pub converged: u64,
    #[serde(skip)]
    pub late: u64,
    /// The pooled budget-binding rule: ≥ 10 % of the converged runs converged late, i.e. the
    /// convergence rate is still rising at the cut-off.
    pub budget_binding: bool,
}

impl Budget {
    /// The budget of the cells in `stats` (`None` if there are none).
    pub(crate) fn of<'a>(stats: impl IntoIterator<Item = &'a CellStats>) -> Option<Budget> {
        let mut b: Option<Budget> = None;
        for s in stats {
            b = Some(match b {
                None => Budget {
                    budget_min: s.budget,
                    budget_max: s.budget,
                    converged: s.counts[0],
                    late: s.converged_late,
                    budget_binding: false,
                },
                Some(x) => Budget {
                    budget_min: x.budget_min.min(s.budget),
                    budget_max: x.budget_max.max(s.budget),
                    converged: x.converged + s.counts[0],
                    late: x.late + s.converged_late,
                    budget_binding: false,
                },
            });
        }
        b.map(|x| Budget {
            budget_binding: budget_binds(x.late, x.converged),
            ..x
        })
    }

    /// "3000" or "600–3000".
    pub(crate) fn label(&self) -> String {
        if self.budget_min == self.budget_max {
            self.budget_min.to_string()
        } else {
            format!("{}–{}", self.budget_min, self.budget_max)
        }
    }

    /// "↑" when the budget binds, else "".
    pub(crate) fn mark(&self) -> &'static str {
        if self.budget_binding { BINDING_MARK } else { "" }
    }
}

/// The budget of each group of the `by` parameters over the cells matching `filter`, keyed by
/// the group's values (as [`super::summary::groups`] groups them).
pub(crate) fn group_budgets(grid: &Grid, stats: &[CellStats], by: &[usize], filter: &Filter) -> HashMap<Vec<String>, Budget> {
    let mut members: HashMap<Vec<String>, Vec<&CellStats>> = HashMap::new();
    for st in stats.iter().filter(|st| matches(grid, st.cell, filter)) {
        let key: Vec<String> = by.iter().map(|&b| grid.cells[st.cell].values[b].to_string()).collect();
        members.entry(key).or_default().push(st);
    }
    members.into_iter().filter_map(|(k, v)| Budget::of(v).map(|b| (k, b))).collect()
}

/// The budget behind a paired comparison of `factor` (index) levels `a` and `b` over the cells
/// matching `filter`; `scope` is a row's scope: the other varied parameters of one pair of
/// cells, or anything else ("pooled", "cell") for every matching cell of the two levels.
pub(crate) fn pair_budget(grid: &Grid, stats: &[CellStats], factor: usize, filter: &Filter, scope: &str, a: &str, b: &str) -> Budget {
    let show: Vec<usize> = grid.varied.iter().copied().filter(|&i| i != factor).collect();
    let of_levels: Vec<&CellStats> = stats
        .iter()
        .filter(|st| {
            let lv = grid.cells[st.cell].values[factor].to_string();
            matches(grid, st.cell, filter) && (lv == a || lv == b)
        })
        .collect();
    let in_scope: Vec<&CellStats> = of_levels
        .iter()
        .copied()
        .filter(|st| grid.cells[st.cell].describe(&show) == scope)
        .collect();
    let cells = if in_scope.is_empty() { of_levels } else { in_scope };
    Budget::of(cells).unwrap_or(Budget {
        budget_min: 0,
        budget_max: 0,
        converged: 0,
        late: 0,
        budget_binding: false,
    })
}

/// A row serialised with its budget's fields (`budget_min`, `budget_max`, `budget_binding`)
/// appended, keeping the row's own field order.
#[derive(Serialize)]
pub(crate) struct WithBudget<'a, T: Serialize> {
    #[serde(flatten)]
    pub row: &'a T,
    #[serde(flatten)]
    pub budget: &'a Budget,
}

/// `rows` paired with their budgets, for JSON output.
pub(crate) fn with_budgets<'a, T: Serialize>(rows: &'a [T], budgets: &'a [Budget]) -> Vec<WithBudget<'a, T>> {
    rows.iter().zip(budgets).map(|(row, budget)| WithBudget { row, budget }).collect()
}

/// The mark on a rate whose budget binds.
pub(crate) const BINDING_MARK: &str = "↑";

/// The legend line for the marks, if any of `budgets` binds: "↑ still rising at 3000 epochs …".
pub(crate) fn binding_legend<'a>(budgets: impl IntoIterator<Item = &'a Budget>) -> Option<String> {
    let binding: Vec<&Budget> = budgets.into_iter().filter(|b| b.budget_binding).collect();
    let first = binding.first()?;
    let at = if binding.iter().all(|b| b.label() == first.label()) {
        format!("{} epochs", first.label())
    } else {
        "its epoch budget".to_string()
    };
    Some(format!(
        "{BINDING_MARK} still rising at {at}: ≥ 10 % of the converged runs converged in the last 10 % of the budget, so more epochs would raise the convergence rate"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fractions(events: &[Event], t: u32) -> [f64; 3] {
        let n = events.len() as f64;
        let mut k = [0.0; 3];
        for e in events.iter().filter(|e| e.0 <= t && e.1 != Outcome::Stalled) {
            k[e.1 as usize] += 1.0;
        }
        k.map(|x| x / n)
    }

    #[test]
    fn one_budget_aalen_johansen_is_the_plain_fractions() {
        use Outcome::*;
        // 10 runs, budget 100: events at various epochs (ties included), 3 stalled at 100.
        let ev: Vec<Event> = vec![
            (0, Dead),
            (5, Converged),
            (5, Dead),
            (12, Diverged),
            (40, Converged),
            (40, Converged),
            (100, Converged),
            (100, Stalled),
            (100, Stalled),
            (100, Stalled),
        ];
        let aj = aalen_johansen(&ev);
        assert_eq!(aj.iter().map(|p| p.epoch).collect::<Vec<_>>(), vec![0, 5, 12, 40, 100]);
        for p in &aj {
            let f = fractions(&ev, p.epoch);
            let same = p.cif.iter().zip(f).all(|(a, b)| (a - b).abs() < 1e-12);
            assert!(same, "epoch {}: {:?} vs {:?}", p.epoch, p.cif, f);
            assert_eq!(p.n_reach, 10);
            // The band is Wilson(k, n).
            let kk = (f[0] * 10.0).round() as u64;
            let w = wilson(kk, 10, CONFIDENCE);
            let (lo, hi) = wilson_p(p.cif[0], p.n_reach);
            assert!((lo - w.lo).abs() < 1e-12 && (hi - w.hi).abs() < 1e-12);
        }
        let end = aj.last().unwrap().cif;
        assert!((end[0] - 0.4).abs() < 1e-12 && (end[1] - 0.1).abs() < 1e-12 && (end[2] - 0.2).abs() < 1e-12);
        // Random single-budget samples too.
        let mut x = 12345u64;
        for _ in 0..50 {
            let mut ev = Vec::new();
            for _ in 0..40 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let e = ((x >> 33) % 60) as u32;
                let o = Outcome::ALL[((x >> 20) % 4) as usize];
                ev.push(if o == Stalled { (60, Stalled) } else { (e, o) });
            }
            for p in aalen_johansen(&ev) {
                let f = fractions(&ev, p.epoch);
                assert!(p.cif.iter().zip(f).all(|(a, b)| (a - b).abs() < 1e-12));
            }
        }
    }

    #[test]
    fn two_budgets_censor_the_short_cell() {
        use Outcome::*;
        // Cell A, budget 10: converged at 5, stalled (censored at 10).
        // Cell B, budget 100: converged at 5, converged at 50.
        let ev: Vec<Event> = vec![(5, Converged), (10, Stalled), (5, Converged), (50, Converged)];
        let aj = aalen_johansen(&ev);
        let at = |t: u32| aj.iter().rev().find(|p| p.epoch <= t).unwrap().clone();
        // By 5: 2 of 4 converged. The censored run leaves at 10; at 50 one of the one remaining
        // run converges: S(50−) = 1/2, so the incidence rises by 1/2 to 1 (the naive fraction
        // 3/4 would count the censored run as never converging).
        assert!((at(5).cif[0] - 0.5).abs() < 1e-12);
        assert!((at(49).cif[0] - 0.5).abs() < 1e-12);
        assert!((at(50).cif[0] - 1.0).abs() < 1e-12);
        assert_eq!(at(50).n_reach, 3);
        assert_eq!(at(10).n_reach, 4);
    }

    #[test]
    fn budget_label_and_legend() {
        let b = Budget {
            budget_min: 600,
            budget_max: 600,
            converged: 10,
            late: 1,
            budget_binding: true,
        };
        assert_eq!(b.label(), "600");
        assert_eq!(b.mark(), "↑");
        let legend = binding_legend([&b]).unwrap();
        assert!(legend.starts_with("↑ still rising at 600 epochs"), "{legend}");
        let c = Budget {
            budget_max: 3000,
            budget_binding: false,
            ..b
        };
        assert_eq!(c.label(), "600–3000");
        assert_eq!(binding_legend([&c]), None);
        assert!(
            binding_legend([&b, &Budget { budget_binding: true, ..c }])
                .unwrap()
                .contains("its epoch budget")
        );
    }
}
