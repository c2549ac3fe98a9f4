//! The grid: cells (the cross-product of the axes after excludes), their stable ids, and the
//! runs (cell × replicate) with their seeds.
//!
//! **Canonical order.** Cells follow the `[grid]` table's axes as written, the first axis
//! varying slowest (like nested loops in file order), each axis in its listed order; excluded
//! combinations are skipped. Runs are cells × replicates 0..seeds, replicate fastest.
//!
//! **Stable ids.** `cell_id` = first 16 hex digits of SHA-256 over the cell's canonical
//! `name=value` lines for *all* parameters (plus the points of an inline data set). It depends
//! only on the values, so adding a level to an axis keeps every other cell's id.
//! `run_id = "<cell_id>-<replicate>"`.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::error::Error;

use crate::config::Config;
use crate::core::Trainer;
use crate::core::seed::replicate_seed;
use crate::params::{Datasets, PARAMS, Value, build_spec, param_index};

/// One cell: a value for every parameter, and its ready trainer.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    /// Position in canonical order.
    pub index: usize,
    pub id: String,
    /// One value per entry of [`PARAMS`] (loss resolved from `auto`).
    pub values: Vec<Value>,
    pub trainer: Arc<Trainer>,
}

impl Cell {
    pub(crate) fn value(&self, name: &str) -> &Value {
        &self.values[param_index(name).expect("known parameter")]
    }
    /// The cell's epoch budget (max_epochs).
    pub(crate) fn budget(&self) -> u32 {
        self.trainer.spec().max_epochs
    }
    /// `run_id` of replicate `r`.
    pub(crate) fn run_id(&self, r: u32) -> String {
        run_id(&self.id, r)
    }
    /// Short description `layout=relu-sigmoid lr=0.5` over the given parameter indices.
    pub(crate) fn describe(&self, params: &[usize]) -> String {
        params
            .iter()
            .map(|&i| format!("{}={}", PARAMS[i].name, self.values[i]))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub(crate) fn run_id(cell_id: &str, r: u32) -> String {
    format!("{cell_id}-{r}")
}

/// Splits a run id into (cell_id, replicate).
pub(crate) fn parse_run_id(s: &str) -> Option<(&str, u32)> {
    let (c, r) = s.rsplit_once('-')?;
    Some((c, r.parse().ok()?))
}

/// The expanded grid.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    pub cells: Vec<Cell>,
    pub seeds: u32,
    pub base_seed: u64,
    /// Common random numbers across cells (see [`Grid::seed`]).
    pub paired_seeds: bool,
    /// `[adaptive]`: cells stop at their own seed counts (`seeds` is then the cap, max_seeds).
    pub adaptive: Option<crate::config::Adaptive>,
    /// Indices (into PARAMS) of the varied parameters, in grid order.
    pub varied: Vec<usize>,
    /// The config's inline data sets (to parse values that name them).
    pub datasets: Datasets,
}

impl Grid {
    /// Expands the config into cells and validates every combination.
    pub(crate) fn build(cfg: &Config) -> Result<Grid, Error> {
        let varied: Vec<usize> = cfg.axes.iter().map(|(i, _)| *i).collect();
        let mut cells = Vec::new();
        let mut invalid: Vec<(String, String, Vec<Value>)> = Vec::new(); // (key, message, values)
        let sizes: Vec<usize> = cfg.axes.iter().map(|(_, v)| v.len()).collect();
        let total: usize = sizes.iter().product();
        let mut idx = vec![0usize; sizes.len()];
        for _ in 0..total {
            let mut values: Vec<Value> = cfg.fixed.iter().map(|v| v.clone().unwrap_or(Value::Bool(false))).collect();
            for (a, (pi, levels)) in cfg.axes.iter().enumerate() {
                values[*pi] = levels[idx[a]].clone();
            }
            let excluded = cfg.excludes.iter().any(|rule| rule.iter().all(|(pi, v)| &values[*pi] == v));
            if !excluded {
                match build_spec(&mut values, &cfg.datasets).and_then(|s| Trainer::new(s).map_err(|e| (e.key.to_string(), e.message))) {
                    Ok(trainer) => {
                        let id = cell_id(cfg, &values);
                        cells.push(Cell {
                            index: cells.len(),
                            id,
                            values,
                            trainer: Arc::new(trainer),
                        });
                    }
                    Err((key, msg)) => invalid.push((key, msg, values)),
                }
            }
            // odometer increment, last axis fastest
            for a in (0..sizes.len()).rev() {
                idx[a] += 1;
                if idx[a] < sizes[a] {
                    break;
                }
                idx[a] = 0;
            }
        }
        if !invalid.is_empty() {
            return Err(Error::Usage(describe_invalid(cfg, &varied, &invalid)));
        }
        if cells.is_empty() {
            return Err(Error::Usage(format!(
                "{}: every combination is excluded by the [[exclude]] rules: nothing to run",
                cfg.file
            )));
        }
        Ok(Grid {
            cells,
            seeds: cfg.seeds,
            base_seed: cfg.base_seed,
            paired_seeds: cfg.paired_seeds,
            adaptive: cfg.adaptive.clone(),
            varied,
            datasets: cfg.datasets.clone(),
        })
    }

    /// Total number of runs (for an adaptive grid: the most it can have, every cell at max_seeds).
    pub(crate) fn n_runs(&self) -> u64 {
        self.cells.len() as u64 * self.seeds as u64
    }

    /// Seed of replicate `r` of cell `c`: the same in every cell (common random numbers, so
    /// cells are paired on seeds), unless the config says `paired_seeds = false`, when each cell
    /// mixes its stable id into the base seed and draws seeds independent of every other cell's.
    pub(crate) fn seed(&self, c: usize, r: u32) -> u64 {
        if self.paired_seeds {
            replicate_seed(self.base_seed, r)
        } else {
            let id = u64::from_str_radix(&self.cells[c].id, 16).unwrap_or_else(|_| {
                self.cells[c]
                    .id
                    .bytes()
                    .fold(0u64, |h, b| crate::core::seed::splitmix64(h ^ b as u64))
            });
            replicate_seed(self.base_seed ^ crate::core::seed::splitmix64(id), r)
        }
    }

    pub(crate) fn cell_by_id(&self, id: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.id == id)
    }
}

/// SHA-256 of the canonical `name=value` lines, first 16 hex digits.
fn cell_id(cfg: &Config, values: &[Value]) -> String {
    let mut h = Sha256::new();
    for (p, v) in PARAMS.iter().zip(values) {
        h.update(p.name.as_bytes());
        h.update(b"=");
        h.update(v.to_string().as_bytes());
        h.update(b"\n");
    }
    // An inline data set is identified by its points, not only its name.
    if let Value::Str(name) = &values[param_index("dataset").expect("known")]
        && let Some(d) = cfg.datasets.get(name)
    {
        h.update(format!("points={:?};{:?};{}\n", d.inputs, d.labels, d.classes).as_bytes());
    }
    let digest = h.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn describe_invalid(cfg: &Config, varied: &[usize], invalid: &[(String, String, Vec<Value>)]) -> String {
    let mut out = format!(
        "{}: {} combination(s) of the grid cannot be trained and no [[exclude]] rule removes them:\n",
        cfg.file,
        invalid.len()
    );
    let mut seen_rules: Vec<String> = Vec::new();
    for (key, msg, values) in invalid.iter().take(50) {
        let inv: Vec<usize> = param_index(key)
            .map_or(&[][..], |i| PARAMS[i].involved)
            .iter()
            .filter_map(|n| param_index(n))
            .filter(|i| varied.contains(i))
            .collect();
        let rule = if inv.is_empty() {
            format!("(`{key}` is not varied: fix its value in [train])")
        } else {
            let pairs: Vec<String> = inv.iter().map(|&i| format!("{} = {}", PARAMS[i].name, values[i].toml())).collect();
            format!("[[exclude]]\n    {}", pairs.join("\n    "))
        };
        if seen_rules.contains(&rule) {
            continue;
        }
        let shown: Vec<String> = varied.iter().map(|&i| format!("{}={}", PARAMS[i].name, values[i])).collect();
        out.push_str(&format!(
            "  - {}: {msg}\n    e.g. {{{}}}\n    drop them with:\n    {rule}\n",
            key,
            shown.join(", ")
        ));
        seen_rules.push(rule);
        if seen_rules.len() >= 5 {
            break;
        }
    }
    out.push_str("  fix: add the [[exclude]] rules above, or change the values in [grid]/[train]");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(src: &str) -> Result<Grid, Error> {
        Grid::build(&Config::parse("t.toml", src).unwrap())
    }
    const BASE: &str =
        "name = \"t\"\nseeds = 2\n[train]\ndataset = \"four\"\n[grid]\nlayout = [\"relu-sigmoid\", \"sigmoid-sigmoid\"]\nlr = [0.5, 0.9]\n";

    #[test]
    fn canonical_order_first_axis_slowest() {
        let g = grid(BASE).unwrap();
        let d: Vec<String> = g.cells.iter().map(|c| c.describe(&g.varied)).collect();
        assert_eq!(
            d,
            vec![
                "layout=relu-sigmoid lr=0.5",
                "layout=relu-sigmoid lr=0.9",
                "layout=sigmoid-sigmoid lr=0.5",
                "layout=sigmoid-sigmoid lr=0.9"
            ]
        );
        assert_eq!(g.n_runs(), 8);
    }

    #[test]
    fn ids_survive_a_new_level() {
        let a = grid(BASE).unwrap();
        let b = grid(&BASE.replace("[0.5, 0.9]", "[0.05, 0.5, 0.9]")).unwrap();
        for c in &a.cells {
            assert!(b.cells.iter().any(|d| d.id == c.id && d.values == c.values));
        }
        assert_eq!(b.cells.len(), 6);
        let ids: std::collections::HashSet<_> = b.cells.iter().map(|c| &c.id).collect();
        assert_eq!(ids.len(), 6);
    }

    #[test]
    fn invalid_combinations_suggest_an_exclude() {
        let src = BASE.replace("lr = [0.5, 0.9]", "lr = [0.5]\nbatch_norm = [false, true]");
        let e = grid(&src).unwrap_err().to_string();
        assert!(e.contains("batch_norm = true") && e.contains("[[exclude]]"), "{e}");
        let fixed = format!("{src}[[exclude]]\nbatch_norm = true\n");
        assert_eq!(grid(&fixed).unwrap().cells.len(), 2);
    }
}
