//! `verify`: audits a finished results directory, so that it can be shared as evidence.
//!
//! Four checks, each independent of the others (a tampered table is caught even if its
//! checksum was rewritten to match):
//! 1. **checksums** — the SHA-256 of runs/cells/effects equals what the manifest recorded when
//!    they were written;
//! 2. **coverage** — runs.parquet holds every run of the grid exactly once (none missing, none
//!    duplicated, none foreign);
//! 3. **tables** — cells.parquet and effects.parquet equal what is recomputed from runs.parquet;
//! 4. **replay** — a deterministic sample of runs, retrained here (every epoch, without the
//!    stationary-run shortcut), matches its stored row bit for bit (every result column).

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;
use polars::prelude::*;
use rayon::prelude::*;
use serde::Serialize;

use crate::analysis::tables::{Outcomes, cells_frame, effects, effects_frame};
use crate::core::seed::splitmix64;
use crate::core::{Trainer, same_value};
use crate::exec::adaptive::expected_seeds;
use crate::grid::Grid;
use crate::store::atomic::{guard_damaged, read_parquet};
use crate::store::manifest::{Manifest, sha256_file};
use crate::store::runs::{find_runs, read_keys_frame};
use crate::store::{self, CHECKSUMMED};

/// The result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Ok,
    Failed,
    /// Could not be checked (nothing recorded, or an earlier problem prevents it); not a failure.
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Check {
    pub name: &'static str,
    pub status: Status,
    /// What was found, one line per finding.
    pub details: Vec<String>,
}

impl Check {
    fn new(name: &'static str, problems: Vec<String>, ok: String) -> Check {
        if problems.is_empty() {
            Check {
                name,
                status: Status::Ok,
                details: vec![ok],
            }
        } else {
            Check {
                name,
                status: Status::Failed,
                details: problems,
            }
        }
    }

    fn skipped(name: &'static str, why: String) -> Check {
        Check {
            name,
            status: Status::Skipped,
            details: vec![why],
        }
    }
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Verified {
    pub dir: String,
    pub initgrid_version: String,
    pub config_hash: String,
    pub runs: u64,
    pub verified: bool,
    pub checks: Vec<Check>,
    /// The runs retrained by the replay check.
    pub sampled: Vec<String>,
}

/// At most this many examples are named per kind of problem.
const EXAMPLES: usize = 5;

/// Audits the results directory `dir`, retraining `sample` runs.
pub(crate) fn verify_dir(dir: &Path, sample: usize) -> Result<Verified> {
    let m = Manifest::load_dir(dir)?;
    let grid = Grid::build(&m.config()?)?;
    let mut checks = vec![check_checksums(dir, &m)];
    let runs_path = dir.join(store::RUNS);
    let mut sampled = Vec::new();
    match guard_damaged(&runs_path, || read_keys_frame(&runs_path)) {
        Err(e) => {
            checks.push(Check::new("coverage", vec![format!("{}: {e:#}", store::RUNS)], String::new()));
            let why = format!("needs a readable {}", store::RUNS);
            checks.push(Check::skipped("tables", why.clone()));
            checks.push(Check::skipped("replay", why));
        }
        Ok(keys) => {
            let (want, rule) = seeds_per_cell(&grid, &keys);
            checks.push(check_coverage(&grid, &keys, &want, rule));
            checks.push(check_tables(dir, &grid, &keys));
            let (check, ids) = check_replay(&grid, &runs_path, sample, &m.config_hash, &want);
            checks.push(check);
            sampled = ids;
        }
    }
    Ok(Verified {
        dir: dir.display().to_string(),
        initgrid_version: m.initgrid_version.clone(),
        config_hash: m.config_hash.clone(),
        runs: m.counts.values().sum(),
        verified: checks.iter().all(|c| c.status != Status::Failed),
        checks,
        sampled,
    })
}

fn check_checksums(dir: &Path, m: &Manifest) -> Check {
    if m.checksums.is_empty() {
        return Check::skipped(
            "checksums",
            "the manifest records no checksums (written by an initgrid before they were recorded)".into(),
        );
    }
    let mut problems = Vec::new();
    for name in CHECKSUMMED {
        let path = dir.join(name);
        let Some(want) = m.checksums.get(name) else {
            problems.push(format!("{name}: no checksum recorded in the manifest"));
            continue;
        };
        match sha256_file(&path) {
            Err(e) => problems.push(format!("{name}: {e:#}")),
            Ok(got) if &got != want => problems.push(format!(
                "{name}: SHA-256 {}… differs from the {}… recorded when it was written — the file changed since",
                &got[..12],
                &want[..want.len().min(12)]
            )),
            Ok(_) => {}
        }
    }
    Check::new(
        "checksums",
        problems,
        format!("{} match the SHA-256 recorded at write time", CHECKSUMMED.join(", ")),
    )
}

/// Names up to [`EXAMPLES`] items and how many more there are.
fn some(items: &[String]) -> String {
    let mut s = items.iter().take(EXAMPLES).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > EXAMPLES {
        s.push_str(&format!(", … ({} more)", items.len() - EXAMPLES));
    }
    s
}

/// The seeds each cell should hold: `seeds` everywhere, or for an adaptive grid the count the
/// stopping rule gives on the stored outcomes; with the rule's complaint, if any.
fn seeds_per_cell(grid: &Grid, keys: &DataFrame) -> (Vec<u32>, Option<String>) {
    if grid.adaptive.is_none() {
        return (vec![grid.seeds; grid.cells.len()], None);
    }
    // Rows outside the grid are reported by the coverage check; the rule reads the rest.
    let mut o = Outcomes::empty(grid);
    if let Err(e) = o.absorb(grid, keys, Path::new(store::RUNS)) {
        return (vec![grid.seeds; grid.cells.len()], Some(format!("{e:#}")));
    }
    match expected_seeds(grid, &o) {
        Ok(states) => (states.iter().map(|s| s.n).collect(), None),
        Err((c, why)) => {
            let n: Vec<u32> = (0..grid.cells.len() as u32)
                .map(|c| (0..grid.seeds).take_while(|&r| o.get(c as usize, r).is_some()).count() as u32)
                .collect();
            (
                n,
                Some(format!(
                    "{}: cell {} {why} ([adaptive] stopping rule)",
                    store::RUNS,
                    grid.cells[c].id
                )),
            )
        }
    }
}

fn check_coverage(grid: &Grid, keys: &DataFrame, want: &[u32], rule: Option<String>) -> Check {
    let runs = store::RUNS;
    let (Ok(ids), Ok(reps)) = (
        keys.column("cell_id").and_then(|c| c.str()),
        keys.column("replicate").and_then(|c| c.u32()),
    ) else {
        return Check::new(
            "coverage",
            vec![format!("{runs}: `cell_id` or `replicate` is missing or of the wrong type")],
            String::new(),
        );
    };
    let index: HashMap<&str, usize> = grid.cells.iter().map(|c| (c.id.as_str(), c.index)).collect();
    let seeds = grid.seeds as usize;
    let mut count = vec![0u32; grid.cells.len() * seeds];
    let (mut foreign, mut nulls) = (Vec::new(), 0usize);
    for (id, r) in ids.iter().zip(reps.iter()) {
        match (id, r) {
            (Some(id), Some(r)) => match index.get(id) {
                Some(&c) if (r as usize) < seeds => count[c * seeds + r as usize] += 1,
                _ => foreign.push(crate::grid::run_id(id, r)),
            },
            _ => nulls += 1,
        }
    }
    let run = |i: usize| grid.cells[i / seeds].run_id((i % seeds) as u32);
    let wanted = |i: usize| ((i % seeds) as u32) < want[i / seeds];
    let missing: Vec<String> = (0..count.len()).filter(|&i| count[i] == 0 && wanted(i)).map(run).collect();
    let extra: Vec<String> = (0..count.len()).filter(|&i| count[i] > 0 && !wanted(i)).map(run).collect();
    let dup: Vec<String> = (0..count.len())
        .filter(|&i| count[i] > 1)
        .map(|i| format!("{} ({}×)", run(i), count[i]))
        .collect();
    let mut problems: Vec<String> = rule.into_iter().collect();
    if !extra.is_empty() {
        problems.push(format!(
            "{runs}: {} runs beyond the seeds the stopping rule gives their cells: {}",
            extra.len(),
            some(&extra)
        ));
    }
    if !missing.is_empty() {
        problems.push(format!("{runs}: {} of the grid's runs missing: {}", missing.len(), some(&missing)));
    }
    if !dup.is_empty() {
        problems.push(format!("{runs}: {} runs stored more than once: {}", dup.len(), some(&dup)));
    }
    if !foreign.is_empty() {
        problems.push(format!(
            "{runs}: {} rows are not runs of this grid: {}",
            foreign.len(),
            some(&foreign)
        ));
    }
    if nulls > 0 {
        problems.push(format!("{runs}: {nulls} rows with a null cell_id or replicate"));
    }
    let ok = match &grid.adaptive {
        None => format!(
            "{runs} holds each of the grid's {} runs ({} cells × {} seeds) exactly once",
            grid.n_runs(),
            grid.cells.len(),
            grid.seeds
        ),
        Some(a) => format!(
            "{runs} holds each of the grid's {} runs exactly once: every one of its {} cells has the seeds the [adaptive] rule gives (±{} on {})",
            want.iter().map(|&n| n as u64).sum::<u64>(),
            grid.cells.len(),
            a.precision,
            a.outcome
        ),
    };
    Check::new("coverage", problems, ok)
}

/// Where a stored table first differs from its recomputation, or `None` if equal.
fn first_difference(stored: &DataFrame, want: &DataFrame, key: &str) -> Option<String> {
    if stored.shape() != want.shape() {
        let (a, b) = (stored.shape(), want.shape());
        return Some(format!("{}×{} (rows × columns) where {}×{} were recomputed", a.0, a.1, b.0, b.1));
    }
    for w in want.columns() {
        let Ok(s) = stored.column(w.name().as_str()) else {
            return Some(format!("no column `{}`", w.name()));
        };
        if s.dtype() != w.dtype() {
            return Some(format!("column `{}` is {} where {} was recomputed", w.name(), s.dtype(), w.dtype()));
        }
        if s.as_materialized_series().equals_missing(w.as_materialized_series()) {
            continue;
        }
        // NaN equals NaN here (equals_missing says otherwise; of any sign, as `same_value`
        // says): look for a real difference.
        let same = |x: &AnyValue, y: &AnyValue| match (x, y) {
            (AnyValue::Float64(a), AnyValue::Float64(b)) => same_value(*a, *b),
            _ => x == y,
        };
        let Some(row) = (0..want.height()).find(|&i| match (s.get(i), w.get(i)) {
            (Ok(x), Ok(y)) => !same(&x, &y),
            _ => true,
        }) else {
            continue;
        };
        let at = want
            .column(key)
            .ok()
            .and_then(|c| c.get(row).ok())
            .map(|v| format!(" ({key} {v})"))
            .unwrap_or_default();
        let show = |c: &Column| c.get(row).map(|v| v.to_string()).unwrap_or_else(|_| "?".into());
        return Some(format!(
            "column `{}` differs at row {row}{at}: stored {}, recomputed {}",
            w.name(),
            show(s),
            show(w)
        ));
    }
    None
}

fn check_tables(dir: &Path, grid: &Grid, keys: &DataFrame) -> Check {
    let runs_path = dir.join(store::RUNS);
    let mut outcomes = Outcomes::empty(grid);
    if let Err(e) = outcomes.absorb(grid, keys, &runs_path) {
        return Check::new(
            "tables",
            vec![format!("cannot recompute from {}: {e:#}", store::RUNS)],
            String::new(),
        );
    }
    let stats = outcomes.cell_stats(grid);
    let recomputed = cells_frame(grid, &stats)
        .and_then(|c| effects_frame(&effects(grid, &outcomes, &stats)).map(|e| (c, e)))
        .map_err(anyhow::Error::from);
    let (cells, effects) = match recomputed {
        Ok(x) => x,
        Err(e) => return Check::new("tables", vec![format!("cannot recompute the tables: {e:#}")], String::new()),
    };
    let mut problems = Vec::new();
    for (name, want, key) in [(store::CELLS, &cells, "cell_id"), (store::EFFECTS, &effects, "factor")] {
        let path = dir.join(name);
        match guard_damaged(&path, || read_parquet(&path)) {
            Err(e) => problems.push(format!("{name}: {e:#}")),
            Ok(stored) => {
                if let Some(d) = first_difference(&stored, want, key) {
                    problems.push(format!("{name} does not match its recomputation from {}: {d}", store::RUNS));
                }
            }
        }
    }
    Check::new(
        "tables",
        problems,
        format!(
            "{} and {} equal their recomputation from {}",
            store::CELLS,
            store::EFFECTS,
            store::RUNS
        ),
    )
}

/// `k` distinct run indices out of `n`, chosen by a fixed pseudo-random stream seeded from the
/// config hash (Floyd's algorithm), sorted: the same directory always samples the same runs.
pub(crate) fn sample_indices(n: u64, k: usize, seed: u64) -> Vec<u64> {
    let k = (k as u64).min(n);
    let mut chosen = std::collections::BTreeSet::new();
    let mut state = seed;
    for j in n - k..n {
        state = splitmix64(state);
        let t = state % (j + 1);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    chosen.into_iter().collect()
}

fn check_replay(grid: &Grid, runs_path: &Path, sample: usize, config_hash: &str, want: &[u32]) -> (Check, Vec<String>) {
    if sample == 0 {
        return (Check::skipped("replay", "--sample 0: no run retrained".into()), Vec::new());
    }
    let seed = u64::from_str_radix(config_hash, 16).unwrap_or(0);
    // Run i of the cells' runs laid end to end (cell c holds replicates 0..want[c]).
    let starts: Vec<u64> = want
        .iter()
        .scan(0u64, |acc, &n| {
            let s = *acc;
            *acc += n as u64;
            Some(s)
        })
        .collect();
    let total: u64 = want.iter().map(|&n| n as u64).sum();
    let picks: Vec<(usize, u32)> = sample_indices(total, sample, seed)
        .into_iter()
        .map(|i| {
            let c = starts.partition_point(|&s| s <= i) - 1;
            (c, (i - starts[c]) as u32)
        })
        .collect();
    let ids: Vec<String> = picks.iter().map(|&(c, r)| grid.cells[c].run_id(r)).collect();
    let stored = match guard_damaged(runs_path, || find_runs(runs_path, &ids)) {
        Ok(s) => s,
        Err(e) => {
            return (
                Check::new("replay", vec![format!("cannot read the sampled runs: {e:#}")], String::new()),
                ids,
            );
        }
    };
    let mut by_key: HashMap<(&str, u32), Vec<&crate::core::RunResult>> = HashMap::new();
    for s in &stored {
        by_key.entry((s.cell_id.as_str(), s.replicate)).or_default().push(&s.result);
    }
    let problems: Vec<String> = picks
        .par_iter()
        .zip(ids.par_iter())
        .filter_map(|(&(c, r), id)| {
            let cell = &grid.cells[c];
            let rows = by_key.get(&(cell.id.as_str(), r)).map(Vec::as_slice).unwrap_or(&[]);
            if rows.is_empty() {
                return Some(format!("{id}: not in {}", store::RUNS));
            }
            // Every epoch trained: a stationary run's stored record (completed at its fixed
            // point) is checked against the long way round.
            let mut trainer = Trainer::clone(&cell.trainer);
            trainer.disable_stationary_stop();
            let again = trainer.run(grid.seed(c, r));
            rows.iter().find(|s| ***s != again).map(|s| {
                format!(
                    "{id}: retrained {} after {} epochs, final loss {:e}; stored {} after {} epochs, final loss {:e} (`initgrid replay DIR --run {id}` shows it)",
                    again.outcome.name(),
                    again.epochs,
                    again.final_loss,
                    s.outcome.name(),
                    s.epochs,
                    s.final_loss
                )
            })
        })
        .collect();
    let ok = format!("{} of {} sampled runs retrained bit for bit", ids.len(), ids.len());
    let mut check = Check::new("replay", problems, ok);
    if check.status == Status::Failed {
        let n = check.details.len();
        check
            .details
            .insert(0, format!("{n} of {} sampled runs do not reproduce", ids.len()));
    }
    (check, ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_distinct_deterministic_and_capped() {
        let a = sample_indices(1000, 20, 7);
        assert_eq!(a, sample_indices(1000, 20, 7));
        assert_eq!(a.len(), 20);
        assert!(a.windows(2).all(|w| w[0] < w[1]) && a[19] < 1000);
        assert_ne!(a, sample_indices(1000, 20, 8));
        assert_eq!(sample_indices(5, 20, 1), vec![0, 1, 2, 3, 4]);
        assert!(sample_indices(0, 20, 1).is_empty());
    }
}
