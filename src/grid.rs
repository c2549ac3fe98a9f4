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

use crate::config::{Config, PARAMS, Value, param_index};
use crate::core::seed::replicate_seed;
use crate::core::{Loss, TrainSpec, Trainer};

/// One cell: a value for every parameter, and its ready trainer.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Position in canonical order.
    pub index: usize,
    pub id: String,
    /// One value per entry of [`PARAMS`] (loss resolved from `auto`).
    pub values: Vec<Value>,
    pub trainer: Arc<Trainer>,
}

impl Cell {
    pub fn value(&self, name: &str) -> &Value {
        &self.values[param_index(name).expect("known parameter")]
    }
    /// `run_id` of replicate `r`.
    pub fn run_id(&self, r: u32) -> String {
        run_id(&self.id, r)
    }
    /// Short description `layout=relu-sigmoid lr=0.5` over the given parameter indices.
    pub fn describe(&self, params: &[usize]) -> String {
        params
            .iter()
            .map(|&i| format!("{}={}", PARAMS[i].name, self.values[i]))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub fn run_id(cell_id: &str, r: u32) -> String {
    format!("{cell_id}-{r}")
}

/// Splits a run id into (cell_id, replicate).
pub fn parse_run_id(s: &str) -> Option<(&str, u32)> {
    let (c, r) = s.rsplit_once('-')?;
    Some((c, r.parse().ok()?))
}

/// The expanded grid.
#[derive(Debug, Clone)]
pub struct Grid {
    pub cells: Vec<Cell>,
    pub seeds: u32,
    pub base_seed: u64,
    /// Indices (into PARAMS) of the varied parameters, in grid order.
    pub varied: Vec<usize>,
}

/// Why the grid cannot run: cells whose combination is invalid, grouped by problem.
#[derive(Debug, Clone)]
pub struct GridError(pub String);

impl std::fmt::Display for GridError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for GridError {}

impl Grid {
    /// Expands the config into cells and validates every combination.
    pub fn build(cfg: &Config) -> Result<Grid, GridError> {
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
                match make_spec(cfg, &mut values).and_then(|s| Trainer::new(s).map_err(|e| (e.key.to_string(), e.message))) {
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
            return Err(GridError(describe_invalid(cfg, &varied, &invalid)));
        }
        if cells.is_empty() {
            return Err(GridError(format!(
                "{}: every combination is excluded by the [[exclude]] rules: nothing to run",
                cfg.file
            )));
        }
        Ok(Grid {
            cells,
            seeds: cfg.seeds,
            base_seed: cfg.base_seed,
            varied,
        })
    }

    /// Total number of runs.
    pub fn n_runs(&self) -> u64 {
        self.cells.len() as u64 * self.seeds as u64
    }

    /// Seed of replicate `r` (the same in every cell).
    pub fn seed(&self, r: u32) -> u64 {
        replicate_seed(self.base_seed, r)
    }

    pub fn cell_by_id(&self, id: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.id == id)
    }
}

/// Builds the typed spec of one combination; resolves `loss = "auto"` in `values`.
fn make_spec(cfg: &Config, values: &mut [Value]) -> Result<TrainSpec, (String, String)> {
    let s = |name: &str| -> String { values[param_index(name).expect("known")].to_string() };
    let f = |name: &str| -> f64 {
        match &values[param_index(name).expect("known")] {
            Value::F64(x) => *x,
            Value::U32(u) => *u as f64,
            _ => f64::NAN,
        }
    };
    let u = |name: &str| -> u32 {
        match &values[param_index(name).expect("known")] {
            Value::U32(x) => *x,
            _ => 0,
        }
    };
    let dataset = cfg
        .dataset(&s("dataset"))
        .ok_or_else(|| ("dataset".to_string(), format!("unknown data set `{}`", s("dataset"))))?;
    // Every text below was validated when the config was parsed.
    let layout: crate::core::Layout = s("layout")
        .parse()
        .map_err(|e: crate::core::spec::ParseError| ("layout".to_string(), e.0))?;
    let mut spec = TrainSpec::new(dataset, layout, f("lr"));
    spec.targets = s("targets").parse().expect("validated");
    spec.hidden = u("hidden");
    spec.init_order = s("init_order").parse().expect("validated");
    spec.init_dist = s("init_dist").parse().expect("validated");
    spec.bias_init = s("bias_init").parse().expect("validated");
    spec.batch_norm = matches!(values[param_index("batch_norm").expect("known")], Value::Bool(true));
    spec.batch = s("batch").parse().expect("validated");
    spec.sample_order = s("sample_order").parse().expect("validated");
    spec.momentum = f("momentum");
    spec.max_epochs = u("max_epochs");
    spec.tol = f("tol");
    spec.diverge_loss = f("diverge_loss");
    let loss = s("loss");
    if loss != "auto" {
        spec.loss = loss.parse().expect("validated");
    }
    values[param_index("loss").expect("known")] = Value::Str(match spec.loss {
        Loss::Mse => "mse".into(),
        Loss::Ce => "ce".into(),
    });
    Ok(spec)
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

/// Parameters an invalid combination's problem involves (for the suggested exclude rule).
fn involved(key: &str) -> &'static [&'static str] {
    match key {
        "batch_norm" | "batch" => &["batch_norm", "batch", "dataset"],
        "loss" => &["layout", "loss"],
        "targets" => &["targets", "layout", "dataset"],
        "layout" => &["layout", "targets", "dataset"],
        "dataset" => &["dataset"],
        "lr" => &["lr"],
        "momentum" => &["momentum"],
        "tol" | "diverge_loss" => &["tol", "diverge_loss"],
        "hidden" => &["hidden"],
        "max_epochs" => &["max_epochs"],
        _ => &[],
    }
}

fn describe_invalid(cfg: &Config, varied: &[usize], invalid: &[(String, String, Vec<Value>)]) -> String {
    let mut out = format!(
        "{}: {} combination(s) of the grid cannot be trained and no [[exclude]] rule removes them:\n",
        cfg.file,
        invalid.len()
    );
    let mut seen_rules: Vec<String> = Vec::new();
    for (key, msg, values) in invalid.iter().take(50) {
        let inv: Vec<usize> = involved(key)
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

    fn grid(src: &str) -> Result<Grid, GridError> {
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
        let e = grid(&src).unwrap_err();
        assert!(e.0.contains("batch_norm = true") && e.0.contains("[[exclude]]"), "{e}");
        let fixed = format!("{src}[[exclude]]\nbatch_norm = true\n");
        assert_eq!(grid(&fixed).unwrap().cells.len(), 2);
    }
}
