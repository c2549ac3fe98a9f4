//! Paired comparisons of a factor's levels on shared seeds (common random numbers): McNemar's
//! exact test per matching cell and pooled, Holm's adjustment, Agresti–Min intervals.

use std::collections::HashMap;

use anyhow::Result;
use polars::prelude::*;
use serde::Serialize;

use super::clustered::{SeedPairs, clustered_mcnemar, clustered_paired_difference};
use super::select::{Filter, check_param, matches, outcome_set};
use super::stats::{CONFIDENCE, Interval, holm, mcnemar, paired_difference};
use super::tables::Outcomes;
use crate::error::usage;
use crate::grid::Grid;
use crate::params::PARAMS;
use crate::text::fmt_p;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct PairResult {
    /// "pooled" or the other parameters of the matching cell.
    pub scope: String,
    pub level_a: String,
    pub level_b: String,
    pub pairs: u64,
    /// Distinct seeds behind the row (the independent units).
    pub seeds: u64,
    /// Matching cell pairs pooled into the row (1 for a single-cell row).
    pub cells: u64,
    pub both: u64,
    pub only_a: u64,
    pub only_b: u64,
    pub neither: u64,
    pub rate_a: f64,
    pub rate_b: f64,
    pub diff: f64,
    pub diff_lo: f64,
    pub diff_hi: f64,
    /// McNemar's exact p on the row's counts, every pair taken as independent.
    pub p_exact: f64,
    /// The p-value used: the seed-clustered McNemar p (Durkalski et al. 2003) for rows pooling
    /// several cells, the exact p for single-cell rows.
    pub p_cluster: f64,
    /// How `p_cluster` and the difference's interval were computed.
    pub method: String,
    /// Holm's adjustment of `p_cluster` over every row.
    pub p_holm: f64,
    pub verdict: String,
}

/// Pairs runs that differ only in `factor` (same replicate, all other parameters equal).
pub(crate) fn paired_in(grid: &Grid, runs: &Outcomes, factor: &str, filter: &Filter, outcome: &str) -> Result<Vec<PairResult>> {
    let fi = check_param(factor, "--factor")?;
    let set = outcome_set(outcome)?;
    if !grid.paired_seeds {
        return usage(
            "this grid was run with `paired_seeds = false`: its cells draw independent seeds, so there are no pairs to compare; \
             compare rates with `initgrid summary`, or rerun with paired_seeds = true (the default)",
        );
    }
    let mut levels: Vec<String> = Vec::new();
    // Cells grouped by every other parameter: scope → [(level index, cell)]
    let mut scopes: Vec<Vec<(usize, usize)>> = Vec::new();
    let others: Vec<usize> = (0..PARAMS.len()).filter(|&i| i != fi).collect();
    let mut scope_of: HashMap<Vec<String>, usize> = HashMap::new();
    for c in grid.cells.iter().filter(|c| matches(grid, c.index, filter)) {
        let lv = c.values[fi].to_string();
        let li = match levels.iter().position(|l| *l == lv) {
            Some(x) => x,
            None => {
                levels.push(lv);
                levels.len() - 1
            }
        };
        let key: Vec<String> = others.iter().map(|&i| c.values[i].to_string()).collect();
        let si = *scope_of.entry(key).or_insert_with(|| {
            scopes.push(Vec::new());
            scopes.len() - 1
        });
        scopes[si].push((li, c.index));
    }
    if levels.len() < 2 {
        return usage(format!(
            "`{factor}` has {} level(s) in these runs: a comparison needs at least 2 (is it varied in the grid?)",
            levels.len()
        ));
    }
    let show: Vec<usize> = grid.varied.iter().copied().filter(|&i| i != fi).collect();
    let ok = |c: usize, r: u32| runs.get(c, r).map(|o| set[o as usize]);
    let mut out = Vec::new();
    for a in 0..levels.len() {
        for b in a + 1..levels.len() {
            let mut pooled = [0u64; 4];
            let mut per_seed = vec![SeedPairs::default(); grid.seeds as usize];
            let mut n_cells = 0u64;
            for members in &scopes {
                let (Some(&(_, ca)), Some(&(_, cb))) = (members.iter().find(|m| m.0 == a), members.iter().find(|m| m.0 == b)) else {
                    continue;
                };
                let mut t = [0u64; 4];
                for (r, sp) in per_seed.iter_mut().enumerate() {
                    let (Some(sa), Some(sb)) = (ok(ca, r as u32), ok(cb, r as u32)) else {
                        continue;
                    };
                    t[match (sa, sb) {
                        (true, true) => 0,
                        (true, false) => 1,
                        (false, true) => 2,
                        (false, false) => 3,
                    }] += 1;
                    sp.pairs += 1;
                    sp.only_a += (sa && !sb) as u64;
                    sp.only_b += (!sa && sb) as u64;
                }
                for k in 0..4 {
                    pooled[k] += t[k];
                }
                if t.iter().sum::<u64>() > 0 {
                    n_cells += 1;
                    let desc = grid.cells[ca].describe(&show);
                    out.push(pair_result(
                        if desc.is_empty() { "cell".into() } else { desc },
                        &levels[a],
                        &levels[b],
                        t,
                    ));
                }
            }
            if pooled.iter().sum::<u64>() > 0 {
                let mut r = pair_result("pooled".into(), &levels[a], &levels[b], pooled);
                if n_cells > 1 {
                    cluster(&mut r, &per_seed, n_cells);
                }
                out.push(r);
            }
        }
    }
    // Holm over the p-values actually used, of every row reported (per cell and pooled).
    let ps: Vec<f64> = out.iter().map(|r| r.p_cluster).collect();
    for (r, p) in out.iter_mut().zip(holm(&ps)) {
        r.p_holm = p;
        r.verdict = verdict(r, outcome);
    }
    Ok(out)
}

fn pair_result(scope: String, a: &str, b: &str, t: [u64; 4]) -> PairResult {
    let [both, only_a, only_b, neither] = t;
    let pairs = both + only_a + only_b + neither;
    let (diff, ci): (f64, Interval) = paired_difference(both, only_a, only_b, neither, CONFIDENCE);
    let m = mcnemar(only_a, only_b);
    PairResult {
        scope,
        level_a: a.into(),
        level_b: b.into(),
        pairs,
        seeds: pairs,
        cells: 1,
        both,
        only_a,
        only_b,
        neither,
        rate_a: (both + only_a) as f64 / pairs as f64,
        rate_b: (both + only_b) as f64 / pairs as f64,
        diff,
        diff_lo: ci.lo,
        diff_hi: ci.hi,
        p_exact: m.exact_p,
        p_cluster: m.exact_p,
        method: METHOD_EXACT.into(),
        p_holm: f64::NAN,
        verdict: String::new(),
    }
}

/// Single-cell rows: McNemar's exact test, Agresti–Min interval.
const METHOD_EXACT: &str = "McNemar exact; Agresti-Min interval";
/// Rows pooling several cells: seeds are the clusters.
const METHOD_CLUSTERED: &str = "clustered McNemar (Durkalski 2003), seeds as clusters; cluster-robust interval";

/// Replaces a pooled row's test and interval by their seed-clustered versions: replicate r
/// uses the same seed in every cell, so the row's pairs are `cells` correlated pairs per seed,
/// not independent draws (issue 13).
fn cluster(r: &mut PairResult, per_seed: &[SeedPairs], cells: u64) {
    let used: Vec<SeedPairs> = per_seed.iter().copied().filter(|s| s.pairs > 0).collect();
    let test = clustered_mcnemar(&used);
    let d = clustered_paired_difference(&used, CONFIDENCE);
    r.seeds = test.seeds;
    r.cells = cells;
    r.p_cluster = test.p;
    r.diff_lo = d.ci.lo;
    r.diff_hi = d.ci.hi;
    r.method = METHOD_CLUSTERED.into();
}

/// "1000 seeds × 4 cells" (pooled) or "1000 seeds": what a row's pairs really are.
pub(crate) fn pairs_phrase(r: &PairResult) -> String {
    if r.cells > 1 {
        format!("{} seeds × {} cells", r.seeds, r.cells)
    } else {
        format!("{} seeds", r.seeds)
    }
}

fn verdict(r: &PairResult, outcome: &str) -> String {
    let disc = r.only_a + r.only_b;
    let pts = |x: f64| format!("{:+.1} points [{:+.1}, {:+.1}]", 100.0 * x, 100.0 * r.diff_lo, 100.0 * r.diff_hi);
    if r.p_holm < 0.05 {
        let (hi, lo) = if r.diff > 0.0 {
            (&r.level_a, &r.level_b)
        } else {
            (&r.level_b, &r.level_a)
        };
        format!(
            "{hi} is {outcome} more often than {lo}: {} (Holm p {})",
            pts(r.diff),
            p_phrase(r.p_holm)
        )
    } else if disc == 0 {
        format!("identical on every seed: the factor changes nothing here ({})", pairs_phrase(r))
    } else {
        format!(
            "no detectable difference in how often ({}, Holm p {}), but {disc} of {} pairs ({:.1}%) flip: it changes which seeds are {outcome}",
            pts(r.diff),
            p_phrase(r.p_holm),
            r.pairs,
            100.0 * disc as f64 / r.pairs as f64
        )
    }
}

pub(crate) fn compare_frame(rows: &[PairResult], factor: &str) -> PolarsResult<DataFrame> {
    let s = |f: fn(&PairResult) -> String| rows.iter().map(f).collect::<Vec<_>>();
    let u = |f: fn(&PairResult) -> u64| rows.iter().map(f).collect::<Vec<_>>();
    let x = |f: fn(&PairResult) -> f64| rows.iter().map(f).collect::<Vec<_>>();
    DataFrame::new(
        rows.len(),
        vec![
            Column::new("factor".into(), vec![factor.to_string(); rows.len()]),
            Column::new("scope".into(), s(|r| r.scope.clone())),
            Column::new("level_a".into(), s(|r| r.level_a.clone())),
            Column::new("level_b".into(), s(|r| r.level_b.clone())),
            Column::new("pairs".into(), u(|r| r.pairs)),
            Column::new("seeds".into(), u(|r| r.seeds)),
            Column::new("cells".into(), u(|r| r.cells)),
            Column::new("both".into(), u(|r| r.both)),
            Column::new("only_a".into(), u(|r| r.only_a)),
            Column::new("only_b".into(), u(|r| r.only_b)),
            Column::new("neither".into(), u(|r| r.neither)),
            Column::new("rate_a".into(), x(|r| r.rate_a)),
            Column::new("rate_b".into(), x(|r| r.rate_b)),
            Column::new("diff".into(), x(|r| r.diff)),
            Column::new("diff_lo".into(), x(|r| r.diff_lo)),
            Column::new("diff_hi".into(), x(|r| r.diff_hi)),
            Column::new("p_exact".into(), x(|r| r.p_exact)),
            Column::new("p_cluster".into(), x(|r| r.p_cluster)),
            Column::new("method".into(), s(|r| r.method.clone())),
            Column::new("p_holm".into(), x(|r| r.p_holm)),
            Column::new("verdict".into(), s(|r| r.verdict.clone())),
        ],
    )
}

/// "= 0.012" or "< 1e-300": a p-value in a sentence.
fn p_phrase(p: f64) -> String {
    let s = fmt_p(p);
    if s.starts_with('<') { s } else { format!("= {s}") }
}
