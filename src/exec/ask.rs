//! `initgrid ask`: a question given as parameters (`lr=0.9 layout=relu-relu,relu-sigmoid …`),
//! answered by training seeds in growing batches until every cell's anytime-valid confidence
//! sequence for the outcome is narrow enough.
//!
//! **Stopping rule.** Round j trains the grid with `seeds = n_j` (n₁ = `--first-seeds`, then
//! doubling, capped at `--max-seeds`) and stops when, in every cell, the 95 % Beta–Binomial
//! mixture confidence sequence ([`crate::analysis::confseq`]) lies within ±precision of the
//! estimate, or when n reaches the cap. The sequence covers the rate at every n at once, so
//! looking after every batch and stopping on what it shows keeps the 95 % coverage (a fixed-n
//! Wilson interval would not).
//!
//! **Storage and reuse.** Each round is the ordinary grid machinery (prepare, train into chunks,
//! finalise, compact to runs.parquet) with the config the question defines and `seeds = n`; growing `seeds` is a grown
//! grid, whose finished runs are reused by (cell_id, replicate). The directory is
//! `results/ask-<hash of the question>/`, the hash of the resolved config without its seeds, so
//! `lr=0.50` and `lr=0.5` are one question. Asking again starts from the seeds already stored:
//! an identical question trains nothing, a sharper one trains only the extra seeds. The first
//! n seeds of an `ask` are the runs a grid with `seeds = n` produces (same base seed, common
//! random numbers: replicate r has seed `replicate_seed(base_seed, r)` in every cell).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, Result};

use super::finalize::finalize;
use super::heal::{Damaged, heal_chunks};
use super::prepare::{Prepared, prepare_dir};
use super::reuse::load_reuse;
use super::runner::{ProgressMode, run_windows};
use super::units::{n_windows, units};
use crate::analysis::confseq::{BetaPrior, cs_interval, cs_precise_enough, half_width};
use crate::analysis::paired::{PairResult, paired_in};
use crate::analysis::select::outcome_set;
use crate::analysis::stats::{CONFIDENCE, Interval};
use crate::analysis::tables::Outcomes;
use crate::config::{Config, ConfigError};
use crate::core::Outcome;
use crate::error::Error;
use crate::grid::Grid;
use crate::params::PARAMS;
use crate::store::atomic::write_bytes_atomic;
use crate::store::manifest::{Manifest, Resolved};
use crate::store::runs::read_keys_frame;
use crate::store::{self, chunk_path};

/// How the intervals of an answer are computed (`method` in `--json`).
pub(crate) const METHOD: &str = "anytime-valid 95% confidence sequence: Beta-Binomial mixture martingale, \
                                 Jeffreys Beta(1/2,1/2) mixing (Robbins 1970; Howard et al. 2021)";

/// The question and its stopping rule.
#[derive(Debug, Clone)]
pub(crate) struct Question {
    /// `key=value` parameters (lists make axes), as overrides of an empty config.
    pub params: Vec<String>,
    /// `converged`, `diverged`, `dead`, `stalled` or `failed`.
    pub outcome: String,
    /// Stop when every cell's interval is within ±precision of its rate.
    pub precision: f64,
    pub max_seeds: u32,
    /// Seeds per cell in the first round (then doubling).
    pub first_seeds: u32,
}

/// The config a question defines, with `seeds` replicates per cell; its name is
/// `ask-<hash>`, the hash of the resolved config with the seeds left out.
pub(crate) fn ask_config(params: &[String], seeds: u32) -> Result<Config, ConfigError> {
    for p in params {
        let key = p.split_once('=').map_or(p.as_str(), |(k, _)| k).trim();
        let fix = match key {
            "seeds" => "leave it out: ask chooses the seeds (bound them with --max-seeds N)",
            "name" => "leave it out: choose the directory with --out DIR",
            _ => continue,
        };
        return Err(ConfigError {
            file: format!("ask `{p}`"),
            at: None,
            key: key.into(),
            message: format!("`{key}` cannot be set in a question"),
            fix: fix.into(),
        });
    }
    let build = |name: &str| {
        Config::parse_partial("ask", &format!("name = \"{name}\"\nseeds = {seeds}\n"))
            .expect("a generated config parses")
            .with_overrides(params)
    };
    let mut r = Resolved::of(&build("ask")?);
    r.seeds = 0;
    let name = format!("ask-{}", &r.hash()[..12]);
    build(&name)
}

/// One cell's answer.
#[derive(Debug, Clone)]
pub(crate) struct CellAnswer {
    pub cell: usize,
    pub n: u64,
    /// converged, diverged, dead, stalled.
    pub counts: [u64; 4],
    /// Failure mechanisms, in the order of `Mechanism::ALL`.
    pub mechanisms: [u64; 5],
    /// Runs with the asked outcome.
    pub k: u64,
    pub rate: f64,
    /// The confidence sequence of the asked outcome's rate.
    pub ci: Interval,
    /// The confidence sequence of every outcome's rate, in the order of `Outcome::ALL`.
    pub intervals: [Interval; 4],
    pub precise: bool,
}

/// What one round did.
#[derive(Debug)]
pub(crate) struct Round {
    /// A stale lock taken over: one line each.
    pub notices: Vec<String>,
    /// Damaged files set aside (what, file): their runs were trained again.
    pub damaged: Vec<(&'static str, Damaged)>,
    pub seeds: u32,
    pub trained: u64,
    /// Cells whose interval is still wider than ±precision.
    pub open: usize,
    /// The widest half-width over the cells.
    pub widest: f64,
}

/// The answer to a question.
pub(crate) struct Answer {
    pub dir: PathBuf,
    pub grid: Grid,
    pub cells: Vec<CellAnswer>,
    /// Runs trained by this invocation (the rest were stored already).
    pub trained: u64,
    /// Every cell reached the precision (else the seed cap stopped it).
    pub precise: bool,
    /// Pooled paired comparisons of the levels of every varied factor, by factor.
    pub comparisons: Vec<(String, Vec<PairResult>)>,
    pub report_error: Option<anyhow::Error>,
    /// Why the chunks could not be removed, if so (the tables are complete).
    pub compact_error: Option<anyhow::Error>,
}

/// Answers `q` into `dir` (default `results/ask-<hash>/`); `on_round` hears after every round.
pub(crate) fn ask(
    q: &Question,
    dir: Option<PathBuf>,
    threads: usize,
    progress: ProgressMode,
    stop: Arc<AtomicBool>,
    on_round: &mut dyn FnMut(&Round),
) -> Result<Answer> {
    let set = outcome_set(&q.outcome)?;
    if !(q.precision > 0.0 && q.precision < 1.0) {
        return crate::error::usage(format!(
            "--precision {}: give a half-width between 0 and 1, e.g. 0.01 for ±1 point",
            q.precision
        ));
    }
    if q.max_seeds == 0 || q.first_seeds == 0 {
        return crate::error::usage("--max-seeds and --first-seeds must be at least 1");
    }
    let cfg1 = ask_config(&q.params, 1).map_err(Error::from)?;
    Grid::build(&cfg1)?; // every combination trainable, before any directory is made
    let dir = dir.unwrap_or_else(|| PathBuf::from("results").join(&cfg1.name));
    let mut n = q.first_seeds.min(q.max_seeds);
    if let Some(m) = stored_seeds(&dir, &cfg1) {
        n = n.max(m);
    }
    let t0 = Instant::now();
    let mut trained = 0u64;
    loop {
        let cfg = ask_config(&q.params, n).map_err(Error::from)?;
        let grid = Grid::build(&cfg)?;
        // `_lock`: one writer per directory, held until this round's tables are written.
        let t = train(&dir, &cfg, &grid, threads, progress, stop.clone())?;
        let (now, notices, damaged) = (t.trained, t.notices, t.damaged);
        trained += now;
        let outcomes = outcomes_of(&grid, &t.sources)?;
        let cells = answer_cells(&grid, &outcomes, set, q.precision);
        let open = cells.iter().filter(|c| !c.precise).count();
        let widest = cells.iter().map(|c| half_width(c.rate, c.ci)).fold(0.0, f64::max);
        on_round(&Round {
            notices,
            damaged,
            seeds: n,
            trained: now,
            open,
            widest,
        });
        if open > 0 && n < q.max_seeds {
            n = n.saturating_mul(2).min(q.max_seeds);
            continue;
        }
        // Already complete (an identical question asked before): its tables stay as they are.
        let (report_error, compact_error) = match t.complete {
            true => (None, None),
            false => {
                let mut manifest = t.manifest;
                manifest.runs_trained = trained;
                manifest.wall_seconds = t0.elapsed().as_secs_f64();
                let done = finalize(&dir, &grid, &t.sources, grid.n_runs(), manifest).with_context(|| {
                    format!(
                        "assembling the final tables failed; every finished run is safe in {}/chunks — ask again to retry",
                        dir.display()
                    )
                })?;
                (done.report_error, done.compact_error)
            }
        };
        let mut comparisons = Vec::new();
        if grid.paired_seeds {
            for &i in &grid.varied {
                let rows = paired_in(&grid, &outcomes, PARAMS[i].name, &Vec::new(), &q.outcome)?;
                comparisons.push((
                    PARAMS[i].name.to_string(),
                    rows.into_iter().filter(|r| r.scope == "pooled").collect(),
                ));
            }
        }
        return Ok(Answer {
            dir,
            grid,
            cells,
            trained,
            precise: open == 0,
            comparisons,
            report_error,
            compact_error,
        });
    }
}

/// Seeds per cell already stored in `dir` for this question (a finished or interrupted earlier
/// `ask`), if any.
fn stored_seeds(dir: &Path, cfg1: &Config) -> Option<u32> {
    let want = Resolved::of(cfg1);
    store::state_files(dir)
        .iter()
        .filter_map(|s| Manifest::load(s).ok())
        .filter(|m| m.shard.is_none())
        .find(|m| {
            let mut r = m.resolved.clone();
            r.seeds = want.seeds;
            r == want
        })
        .map(|m| m.resolved.seeds)
}

/// What [`train`] returns.
struct Trained {
    /// The runs tables holding every run of the round: its chunks, or runs.parquet when the
    /// directory already holds this round's finished results.
    sources: Vec<PathBuf>,
    /// The round's results were already complete: nothing trained, no table to write.
    complete: bool,
    /// The manifest so far.
    manifest: Manifest,
    /// Runs trained now.
    trained: u64,
    /// The directory's lock, held until the round's tables are written.
    _lock: Prepared,
    notices: Vec<String>,
    damaged: Vec<(&'static str, Damaged)>,
}

/// One round: the grid trained into `dir/chunks` (checking and reusing the runs stored there),
/// as `initgrid --config` does it.
fn train(dir: &Path, cfg: &Config, grid: &Grid, threads: usize, progress: ProgressMode, stop: Arc<AtomicBool>) -> Result<Trained> {
    let resolved = Resolved::of(cfg);
    let mut prepared = prepare_dir(dir, &resolved, None, false)?;
    // (a grown question needs no notice: the round's line says how many seeds it has)
    let mut notices: Vec<String> = prepared.lock.notice().into_iter().collect();
    notices.append(&mut prepared.notes);
    let mut damaged: Vec<(&'static str, Damaged)> = prepared.damaged.drain(..).map(|d| ("state file", d)).collect();
    if let Some(manifest) = prepared.complete.take() {
        return Ok(Trained {
            sources: vec![dir.join(store::RUNS)],
            complete: true,
            manifest,
            trained: 0,
            _lock: prepared,
            notices,
            damaged,
        });
    }
    let nw = n_windows(units(grid).len());
    let manifest = Manifest::begin(cfg, grid, None, threads, nw);
    write_bytes_atomic(&store::state_path(dir, None), serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    let todo: Vec<usize> = (0..nw).collect();
    damaged.extend(heal_chunks(grid, dir, &todo)?.into_iter().map(|d| ("chunk", d)));
    let (reuse, damaged_reuse) = load_reuse(dir)?;
    damaged.extend(damaged_reuse.into_iter().map(|d| ("chunk of the earlier grid", d)));
    let stats = run_windows(grid, dir, &todo, threads, progress, stop, (!reuse.is_empty()).then_some(&reuse))?;
    if stats.interrupted {
        return Err(Error::Interrupted(format!(
            "interrupted: {} runs finished in this session are saved under {}/chunks.\nresume with the same command (it reuses them)",
            stats.runs_done,
            dir.display()
        ))
        .into());
    }
    Ok(Trained {
        sources: (0..nw).map(|w| chunk_path(dir, w)).collect(),
        complete: false,
        manifest,
        trained: stats.runs_trained,
        _lock: prepared,
        notices,
        damaged,
    })
}

/// Every run's outcome, read from the round's runs tables.
fn outcomes_of(grid: &Grid, sources: &[PathBuf]) -> Result<Outcomes> {
    let mut o = Outcomes::empty(grid);
    for c in sources {
        o.absorb(grid, &read_keys_frame(c)?, c)?;
    }
    Ok(o)
}

/// Counts, rates and confidence sequences of every cell; `precise` by the stopping rule.
pub(crate) fn answer_cells(grid: &Grid, outcomes: &Outcomes, set: [bool; 4], precision: f64) -> Vec<CellAnswer> {
    outcomes
        .cell_stats(grid)
        .into_iter()
        .map(|s| {
            let k: u64 = (0..4).filter(|&o| set[o]).map(|o| s.counts[o]).sum();
            let rate = k as f64 / s.n as f64;
            let intervals = Outcome::ALL.map(|o| cs_interval(s.counts[o as usize], s.n, CONFIDENCE));
            CellAnswer {
                cell: s.cell,
                n: s.n,
                counts: s.counts,
                mechanisms: s.mechanisms,
                k,
                rate,
                ci: cs_interval(k, s.n, CONFIDENCE),
                intervals,
                precise: cs_precise_enough(k, s.n, CONFIDENCE, BetaPrior::JEFFREYS, precision),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn one_question_one_name_whatever_the_spelling_or_seeds() {
        let a = ask_config(&s(&["dataset=two", "layout=relu-relu", "lr=0.50"]), 100).unwrap();
        let b = ask_config(&s(&["lr=0.5", "layout=relu-relu", "dataset=two"]), 400).unwrap();
        assert_eq!(a.name, b.name);
        assert!(a.name.starts_with("ask-"));
        let c = ask_config(&s(&["dataset=two", "layout=relu-relu", "lr=0.9"]), 100).unwrap();
        assert_ne!(a.name, c.name);
        // the manifest's way back: stored text + overrides
        let again = Config::parse_partial(&a.file, &a.source)
            .unwrap()
            .with_overrides(&a.overrides)
            .unwrap();
        assert_eq!(Resolved::of(&again), Resolved::of(&a));
        assert!(ask_config(&s(&["dataset=two", "layout=relu-relu", "lr=0.5", "seeds=5"]), 1).is_err());
        assert!(
            ask_config(&s(&["dataset=two", "layout=relu-relu"]), 1)
                .unwrap_err()
                .to_string()
                .contains("`lr`")
        );
    }
}
