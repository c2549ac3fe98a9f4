//! Rates per group (`summary`) and the closing table of a run: pure functions over the
//! outcome matrix.

use std::collections::HashMap;

use serde::Serialize;

use super::curves::{Budget, binding_legend};
use super::select::{Filter, matches};
use super::tables::{CellStats, Outcomes};
use crate::grid::Grid;
use crate::params::{PARAMS, param_index};
use crate::text::render_table;

#[derive(Debug, Serialize)]
pub(crate) struct Group {
    #[serde(flatten)]
    pub key: indexmap_like::Key,
    pub k: u64,
    pub n: u64,
    /// Distinct seeds behind the rate: the independent units when several cells are pooled.
    pub seeds: u64,
    /// Cells pooled into this group.
    pub cells: u64,
    /// Design effect of pooling cells that share seeds (1 for a single cell).
    pub deff: f64,
    pub rate: f64,
    pub lo: f64,
    pub hi: f64,
}

pub(crate) mod indexmap_like {
    use serde::ser::{Serialize, SerializeMap, Serializer};
    /// Ordered (name, value) pairs serialised as a JSON object.
    #[derive(Debug, Clone)]
    pub(crate) struct Key(pub Vec<(String, String)>);
    impl Serialize for Key {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(self.0.len()))?;
            for (k, v) in &self.0 {
                m.serialize_entry(k, v)?;
            }
            m.end()
        }
    }
}

/// Rate of the outcomes in `set` per group of the `by` parameters (indices), over the cells
/// matching `filter`, in first-seen canonical order. A group pooling several cells counts
/// seeds, not cells × seeds: its interval is the seed-clustered one of
/// [`Outcomes::pooled_rate`] (plain Wilson for a single cell).
pub(crate) fn groups(grid: &Grid, runs: &Outcomes, stats: &[CellStats], by: &[usize], filter: &Filter, set: [bool; 4]) -> Vec<Group> {
    let mut order: Vec<Vec<String>> = Vec::new();
    let mut members: HashMap<Vec<String>, Vec<usize>> = HashMap::new();
    for st in stats.iter().filter(|st| matches(grid, st.cell, filter)) {
        let key: Vec<String> = by.iter().map(|&b| grid.cells[st.cell].values[b].to_string()).collect();
        members
            .entry(key.clone())
            .or_insert_with(|| {
                order.push(key);
                Vec::new()
            })
            .push(st.cell);
    }
    order
        .iter()
        .map(|key| {
            let cells = &members[key];
            let r = runs.pooled_rate(cells, set);
            Group {
                key: indexmap_like::Key(by.iter().map(|&b| PARAMS[b].name.to_string()).zip(key.iter().cloned()).collect()),
                k: r.k,
                n: r.n,
                seeds: r.seeds,
                cells: cells.len() as u64,
                deff: r.deff,
                rate: r.rate,
                lo: r.lo,
                hi: r.hi,
            }
        })
        .collect()
}

/// "11.2% [11.0, 11.4]": a rate and its interval in percent, with enough digits to be
/// informative (two decimals when one would print a zero-width interval).
pub(crate) fn pct(rate: f64, lo: f64, hi: f64) -> String {
    let one = format!("[{:.1}, {:.1}]", 100.0 * lo, 100.0 * hi);
    if format!("{:.1}", 100.0 * lo) == format!("{:.1}", 100.0 * hi) && hi > lo {
        format!("{:.2}% [{:.2}, {:.2}]", 100.0 * rate, 100.0 * lo, 100.0 * hi)
    } else {
        format!("{:.1}% {one}", 100.0 * rate)
    }
}

/// `rate` ("12.5% [..]") with the budget mark right after its percent sign.
pub(crate) fn marked(rate: String, mark: &str) -> String {
    rate.replacen('%', &format!("%{mark}"), 1)
}

/// Convergence rate by layout × learning rate, pooled over the other factors with seeds as
/// clusters; "n=… over S seeds" when cells are pooled.
pub(crate) fn closing_table(grid: &Grid, runs: &Outcomes) -> String {
    let li = param_index("layout").expect("known");
    let ri = param_index("lr").expect("known");
    let mut rows_k: Vec<String> = Vec::new();
    let mut cols_k: Vec<String> = Vec::new();
    let mut members: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for c in &grid.cells {
        if (0..grid.seeds).all(|r| runs.get(c.index, r).is_none()) {
            continue;
        }
        let (l, r) = (c.values[li].to_string(), c.values[ri].to_string());
        if !rows_k.contains(&l) {
            rows_k.push(l.clone());
        }
        if !cols_k.contains(&r) {
            cols_k.push(r.clone());
        }
        members.entry((l, r)).or_default().push(c.index);
    }
    let stats = runs.cell_stats(grid);
    let stat_of: HashMap<usize, &CellStats> = stats.iter().map(|s| (s.cell, s)).collect();
    let budgets: HashMap<&(String, String), Budget> = members
        .iter()
        .filter_map(|(k, v)| Budget::of(v.iter().filter_map(|c| stat_of.get(c).copied())).map(|b| (k, b)))
        .collect();
    let all = Budget::of(&stats);
    let by = all.map_or(String::new(), |b| format!(" by epoch {}", b.label()));
    let mut header = vec![format!("converged{by}: layout \\ lr")];
    header.extend(cols_k.iter().cloned());
    let converged = [true, false, false, false];
    let mut pooled = false;
    let rows: Vec<Vec<String>> = rows_k
        .iter()
        .map(|l| {
            let mut r = vec![l.clone()];
            for c in &cols_k {
                let key = (l.clone(), c.clone());
                r.push(match members.get(&key) {
                    Some(cells) => {
                        let x = runs.pooled_rate(cells, converged);
                        let mark = budgets.get(&key).map_or("", |b| b.mark());
                        if cells.len() > 1 {
                            pooled = true;
                            format!("{} n={} ({} seeds)", marked(pct(x.rate, x.lo, x.hi), mark), x.n, x.seeds)
                        } else {
                            format!("{} n={}", marked(pct(x.rate, x.lo, x.hi), mark), x.n)
                        }
                    }
                    None => "-".into(),
                });
            }
            r
        })
        .collect();
    let mut t = render_table(&header, &rows, false);
    if pooled {
        t.push_str("pooled over the other factors; intervals count seeds, not cells × seeds (seed-clustered Wilson)\n");
    }
    if let Some(l) = binding_legend(budgets.values()) {
        t.push_str(&l);
        t.push('\n');
    }
    t
}
