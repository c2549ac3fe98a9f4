//! Rates per group (`summary`) and the closing table of a run: pure functions over the
//! outcome matrix.

use std::collections::HashMap;

use serde::Serialize;

use super::curves::{Budget, binding_legend};
use super::select::{Filter, matches};
use super::stats::{CONFIDENCE, wilson};
use super::tables::CellStats;
use crate::grid::Grid;
use crate::params::{PARAMS, param_index};
use crate::text::render_table;

#[derive(Debug, Serialize)]
pub(crate) struct Group {
    #[serde(flatten)]
    pub key: indexmap_like::Key,
    pub k: u64,
    pub n: u64,
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
/// matching `filter`, in first-seen canonical order. Every run of a cell shares its parameters,
/// so groups add up cell counts.
pub(crate) fn groups(grid: &Grid, stats: &[CellStats], by: &[usize], filter: &Filter, set: [bool; 4]) -> Vec<Group> {
    let mut order: Vec<Vec<String>> = Vec::new();
    let mut acc: HashMap<Vec<String>, (u64, u64)> = HashMap::new();
    for st in stats.iter().filter(|st| matches(grid, st.cell, filter)) {
        let key: Vec<String> = by.iter().map(|&b| grid.cells[st.cell].values[b].to_string()).collect();
        let e = acc.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            (0, 0)
        });
        e.0 += (0..4).filter(|&k| set[k]).map(|k| st.counts[k]).sum::<u64>();
        e.1 += st.n;
    }
    order
        .iter()
        .map(|key| {
            let (k, n) = acc[key];
            let ci = wilson(k, n, CONFIDENCE);
            Group {
                key: indexmap_like::Key(by.iter().map(|&b| PARAMS[b].name.to_string()).zip(key.iter().cloned()).collect()),
                k,
                n,
                rate: k as f64 / n as f64,
                lo: ci.lo,
                hi: ci.hi,
            }
        })
        .collect()
}

pub(crate) fn closing_table(grid: &Grid, stats: &[CellStats]) -> String {
    let li = param_index("layout").expect("known");
    let ri = param_index("lr").expect("known");
    let mut rows_k: Vec<String> = Vec::new();
    let mut cols_k: Vec<String> = Vec::new();
    let mut acc: HashMap<(String, String), (u64, u64)> = HashMap::new();
    let mut members: HashMap<(String, String), Vec<&CellStats>> = HashMap::new();
    for s in stats {
        let c = &grid.cells[s.cell];
        let (l, r) = (c.values[li].to_string(), c.values[ri].to_string());
        if !rows_k.contains(&l) {
            rows_k.push(l.clone());
        }
        if !cols_k.contains(&r) {
            cols_k.push(r.clone());
        }
        members.entry((l.clone(), r.clone())).or_default().push(s);
        let e = acc.entry((l, r)).or_insert((0, 0));
        e.0 += s.counts[0];
        e.1 += s.n;
    }
    let budgets: HashMap<&(String, String), Budget> = members
        .iter()
        .filter_map(|(k, v)| Budget::of(v.iter().copied()).map(|b| (k, b)))
        .collect();
    let all = Budget::of(stats);
    let by = all.map_or(String::new(), |b| format!(" by epoch {}", b.label()));
    let mut header = vec![format!("converged{by}: layout \\ lr")];
    header.extend(cols_k.iter().cloned());
    let rows: Vec<Vec<String>> = rows_k
        .iter()
        .map(|l| {
            let mut r = vec![l.clone()];
            for c in &cols_k {
                let key = (l.clone(), c.clone());
                r.push(match acc.get(&key) {
                    Some(&(k, n)) => {
                        let ci = wilson(k, n, CONFIDENCE);
                        format!(
                            "{:>5.1}%{:1} [{:.0}–{:.0}] n={n}",
                            100.0 * k as f64 / n as f64,
                            budgets.get(&key).map_or("", |b| b.mark()),
                            100.0 * ci.lo,
                            100.0 * ci.hi
                        )
                    }
                    None => "-".into(),
                });
            }
            r
        })
        .collect();
    let mut out = render_table(&header, &rows, false);
    if let Some(l) = binding_legend(budgets.values()) {
        out.push_str(&l);
        out.push('\n');
    }
    out
}
