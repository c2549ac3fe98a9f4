//! Builds the report's input from a results directory and writes `report.html`.

use std::path::Path;

use anyhow::Result;

use super::{CellRow, Curve, EffectRow, FactorIncidence, LevelIncidence, PairRow, ReportInput, render};
use crate::analysis::curves::{Budget, Event, aalen_johansen, wilson_p};
use crate::analysis::stats::{CONFIDENCE, wilson};
use crate::analysis::tables::{CellStats, Effect, Outcomes};
use crate::core::Outcome;
use crate::grid::Grid;
use crate::params::{PARAMS, param_index};
use crate::store::atomic::write_bytes_atomic;
use crate::store::manifest::Manifest;

/// Replayed curves per layout: this many converged and this many failed runs.
const CURVES_PER_KIND: usize = 3;

pub(crate) fn write_report(dir: &Path, grid: &Grid, runs: &Outcomes, stats: &[CellStats], effects: &[Effect], m: &Manifest) -> Result<()> {
    let input = build_input(grid, runs, stats, effects, m)?;
    let html = render(&input);
    write_bytes_atomic(&dir.join(crate::store::REPORT), html.as_bytes())
}

pub(crate) fn build_input(grid: &Grid, runs: &Outcomes, stats: &[CellStats], effects: &[Effect], m: &Manifest) -> Result<ReportInput> {
    let cells: Vec<CellRow> = stats
        .iter()
        .map(|s| {
            let c = &grid.cells[s.cell];
            let mut rate = [(0.0, 0.0, 0.0); 4];
            for (k, r) in rate.iter_mut().enumerate() {
                let ci = wilson(s.counts[k], s.n, CONFIDENCE);
                *r = (s.counts[k] as f64 / s.n as f64, ci.lo, ci.hi);
            }
            CellRow {
                params: PARAMS
                    .iter()
                    .zip(&c.values)
                    .map(|(p, v)| (p.name.to_string(), v.to_string()))
                    .collect(),
                n: s.n,
                counts: s.counts,
                rate,
                binding: s.budget_binding,
                // Replicates 0..n of the cell (an adaptive grid's cells stop at their own n).
                converged_by_seed: (0..grid.seeds)
                    .map_while(|r| runs.get(s.cell, r))
                    .map(|o| o == Outcome::Converged)
                    .collect(),
            }
        })
        .collect();
    let effects = effects
        .iter()
        .map(|e| EffectRow {
            factor: e.factor.clone(),
            level: e.level.clone(),
            outcome: e.outcome.name().into(),
            k: e.k,
            n: e.n,
            p: e.p,
            lo: e.lo,
            hi: e.hi,
        })
        .collect();
    let incidence = incidence(grid, runs, stats);
    let curves = replay_curves(grid, runs);
    let mut pairs = Vec::new();
    if grid.paired_seeds && grid.varied.contains(&param_index("init_order").expect("known")) {
        for r in crate::analysis::paired::paired_in(grid, runs, "init_order", &Vec::new(), "converged")? {
            pairs.push(PairRow {
                factor: if r.scope == "pooled" {
                    "init_order (pooled)".into()
                } else {
                    format!("init_order | {}", r.scope)
                },
                level_a: r.level_a,
                level_b: r.level_b,
                pairs: r.pairs,
                both: r.both,
                only_a: r.only_a,
                only_b: r.only_b,
                neither: r.neither,
                diff: r.diff,
                diff_lo: r.diff_lo,
                diff_hi: r.diff_hi,
                p_exact: r.p_cluster,
                p_holm: r.p_holm,
                verdict: r.verdict,
            });
        }
    }
    let total: u64 = stats.iter().map(|s| s.n).sum();
    let mut meta = vec![
        ("runs".to_string(), total.to_string()),
        ("cells".into(), stats.len().to_string()),
        (
            "seeds per cell".into(),
            match &grid.adaptive {
                None => grid.seeds.to_string(),
                Some(a) => {
                    let (lo, hi) = stats.iter().fold((u64::MAX, 0), |(lo, hi), s| (lo.min(s.n), hi.max(s.n)));
                    format!(
                        "{lo}–{hi} (adaptive: each cell stops when its 95% confidence sequence for {} is within ±{}, at most {})",
                        a.outcome, a.precision, a.max_seeds
                    )
                }
            },
        ),
        ("base seed".into(), grid.base_seed.to_string()),
        (
            "epoch budget".into(),
            Budget::of(stats).map_or_else(String::new, |b| format!("{}{}", b.label(), b.mark())),
        ),
        ("wall time".into(), crate::text::human_secs(m.wall_seconds)),
        ("initgrid".into(), format!("{} ({})", m.initgrid_version, m.git_commit)),
        ("config hash".into(), m.config_hash.clone()),
        ("finished".into(), m.finished.clone().unwrap_or_default()),
    ];
    // Headline rates pooled over every cell count seeds, not cells × seeds (issue 13).
    let all: Vec<usize> = stats.iter().map(|s| s.cell).collect();
    for (k, o) in Outcome::ALL.iter().enumerate() {
        let mut set = [false; 4];
        set[k] = true;
        let r = runs.pooled_rate(&all, set);
        meta.push((
            o.name().to_string(),
            format!(
                "{} ({}{})",
                r.k,
                crate::analysis::summary::pct(r.rate, r.lo, r.hi),
                if all.len() > 1 {
                    format!(", {} seeds × {} cells, seed-clustered interval", r.seeds, all.len())
                } else {
                    String::new()
                }
            ),
        ));
    }
    Ok(ReportInput {
        title: m.resolved.name.clone(),
        meta,
        varied: grid.varied.iter().map(|&i| PARAMS[i].name.to_string()).collect(),
        cells,
        effects,
        incidence,
        curves,
        pairs,
    })
}

/// Most steps kept per incidence curve (more are sampled on an even grid of epochs).
const MAX_STEPS: usize = 400;

/// Cumulative incidence per level of each varied factor (one "all runs" curve when nothing
/// varies), pooled over the other factors.
fn incidence(grid: &Grid, runs: &Outcomes, stats: &[CellStats]) -> Vec<FactorIncidence> {
    let factors: Vec<Option<usize>> = if grid.varied.is_empty() {
        vec![None]
    } else {
        grid.varied.iter().copied().map(Some).collect()
    };
    factors
        .into_iter()
        .map(|f| {
            let mut levels: Vec<(String, Vec<&CellStats>)> = Vec::new();
            for st in stats {
                let lv = f.map_or_else(|| "all runs".to_string(), |i| grid.cells[st.cell].values[i].to_string());
                match levels.iter_mut().find(|l| l.0 == lv) {
                    Some(l) => l.1.push(st),
                    None => levels.push((lv, vec![st])),
                }
            }
            FactorIncidence {
                factor: f.map_or("all runs", |i| PARAMS[i].name).to_string(),
                levels: levels
                    .into_iter()
                    .map(|(lv, cells)| level_incidence(grid, runs, lv, &cells))
                    .collect(),
            }
        })
        .collect()
}

fn level_incidence(grid: &Grid, runs: &Outcomes, level: String, cells: &[&CellStats]) -> LevelIncidence {
    let mut ev: Vec<Event> = Vec::new();
    for st in cells {
        for r in 0..grid.seeds {
            if let Some(o) = runs.get(st.cell, r) {
                ev.push((runs.epochs(st.cell, r), o));
            }
        }
    }
    let aj = aalen_johansen(&ev);
    let mut budgets: Vec<u32> = cells.iter().map(|s| s.budget).collect();
    budgets.sort_unstable();
    budgets.dedup();
    // Thin long curves: the value at an even grid of epochs, plus the last step exactly.
    let kept: Vec<usize> = if aj.len() <= MAX_STEPS {
        (0..aj.len()).collect()
    } else {
        let end = aj.last().map_or(0, |p| p.epoch) as f64;
        let mut idx: Vec<usize> = (0..=MAX_STEPS)
            .map(|j| {
                let t = end * j as f64 / MAX_STEPS as f64;
                aj.partition_point(|p| p.epoch as f64 <= t).saturating_sub(1)
            })
            .collect();
        idx.dedup();
        idx
    };
    let points = kept
        .into_iter()
        .map(|i| {
            let p = &aj[i];
            let band = |k: usize| {
                let (lo, hi) = wilson_p(p.cif[k], p.n_reach);
                (p.cif[k], lo, hi)
            };
            (p.epoch, [band(0), band(1), band(2)])
        })
        .collect();
    LevelIncidence {
        level,
        n: cells.iter().map(|s| s.n).sum(),
        budgets,
        binding: Budget::of(cells.iter().copied()).is_some_and(|b| b.budget_binding),
        points,
    }
}

/// Runs picked for replay in one layout: (cell, replicate), and how many converged / failed.
type Picked = (String, Vec<(usize, u32)>, usize, usize);

/// A few converged and failed runs per layout (first in canonical order), replayed.
fn replay_curves(grid: &Grid, runs: &Outcomes) -> Vec<(String, Vec<Curve>)> {
    let mut picked: Vec<Picked> = Vec::new();
    for c in &grid.cells {
        let l = c.value("layout").to_string();
        let idx = match picked.iter().position(|p| p.0 == l) {
            Some(x) => x,
            None => {
                picked.push((l, Vec::new(), 0, 0));
                picked.len() - 1
            }
        };
        let p = &mut picked[idx];
        for r in 0..grid.seeds {
            let Some(o) = runs.get(c.index, r) else { continue };
            if o == Outcome::Converged && p.2 < CURVES_PER_KIND {
                p.2 += 1;
                p.1.push((c.index, r));
            } else if o != Outcome::Converged && p.3 < CURVES_PER_KIND {
                p.3 += 1;
                p.1.push((c.index, r));
            }
            if p.2 >= CURVES_PER_KIND && p.3 >= CURVES_PER_KIND {
                break;
            }
        }
    }
    picked
        .into_iter()
        .map(|(layout, list, _, _)| {
            let curves = list
                .into_iter()
                .map(|(ci, r)| {
                    let cell = &grid.cells[ci];
                    let (res, tr) = cell.trainer.run_trajectory(grid.seed(cell.index, r));
                    Curve {
                        run_id: cell.run_id(r),
                        outcome: res.outcome.name().into(),
                        losses: tr.losses,
                    }
                })
                .collect();
            (layout, curves)
        })
        .collect()
}
