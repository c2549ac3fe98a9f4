//! The commands: each turns validated options into calls on the domain modules.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;

use crate::cli::{Cli, Command, RunArgs};
use crate::config::{Config, ConfigError};
use crate::core::Outcome;
use crate::grid::{Grid, GridError};
use crate::manifest::{GIT_COMMIT, Manifest, RUSTC, Resolved, VERSION, now_utc};
use crate::runner::{self, ProgressMode, chunk_path, n_windows, parse_shard, shard_windows, units};

/// A mistake in how initgrid was called or configured (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);
impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for UsageError {}

pub fn usage<T>(msg: impl Into<String>) -> Result<T> {
    Err(UsageError(msg.into()).into())
}

/// Exit code for an interrupted run (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let usage = e.is::<UsageError>() || e.is::<ConfigError>() || e.is::<GridError>();
            eprintln!("error: {e:#}");
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        None => run(cli.run),
        Some(Command::Summary(a)) => crate::summary::summary(&a).map(|_| ExitCode::SUCCESS),
        Some(Command::Compare(a)) => crate::summary::compare(&a).map(|_| ExitCode::SUCCESS),
        Some(Command::Replay(a)) => crate::replay::replay(&a),
        Some(Command::Report(a)) => crate::report_data::report_cmd(&a).map(|_| ExitCode::SUCCESS),
        Some(Command::Merge(a)) => crate::merge::merge(&a).map(|_| ExitCode::SUCCESS),
        Some(Command::Findings(a)) => crate::findings::findings_cmd(&a.results, &a.out).map(|_| ExitCode::SUCCESS),
        Some(Command::Bench(a)) => crate::bench::bench(&a).map(|_| ExitCode::SUCCESS),
    }
}

/// Threads: `--threads`, else RAYON_NUM_THREADS, else all cores.
pub fn threads(arg: Option<usize>) -> Result<usize> {
    match arg {
        Some(0) => usage("--threads 0: give at least 1 thread"),
        Some(n) => Ok(n),
        None => Ok(std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))),
    }
}

fn state_name(shard: Option<(u32, u32)>) -> String {
    match shard {
        None => "state.json".into(),
        Some((k, n)) => format!("state-shard-{k}-of-{n}.json"),
    }
}

/// Every state file in a directory (single run or shards).
pub fn state_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("state") && n.ends_with(".json"))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn run(args: RunArgs) -> Result<ExitCode> {
    let Some(cfg_path) = &args.config else {
        return usage("no config given: run `initgrid --config configs/grid.toml` (or a subcommand; see --help)");
    };
    let cfg = Config::load(cfg_path)?;
    let grid = Grid::build(&cfg)?;
    let threads = threads(args.threads)?;
    let shard = args
        .shard
        .as_deref()
        .map(parse_shard)
        .transpose()
        .map_err(|e| UsageError(format!("{e:#}")))?;
    let dir = args.out.clone().unwrap_or_else(|| PathBuf::from("results").join(&cfg.name));
    let all_units = units(&grid);
    let nw = n_windows(all_units.len());
    if args.dry_run {
        return dry_run(&cfg, &grid, threads, shard, nw).map(|_| ExitCode::SUCCESS);
    }
    let resolved = Resolved::of(&cfg);
    prepare_dir(&dir, &resolved, shard, args.fresh)?;
    let started = now_utc();
    let mut manifest = Manifest {
        initgrid_version: VERSION.into(),
        git_commit: GIT_COMMIT.into(),
        rustc: RUSTC.into(),
        config_file: cfg.file.clone(),
        config: cfg.source.clone(),
        config_hash: resolved.hash(),
        resolved,
        shard,
        threads,
        simd: crate::core::dispatch::simd_level().into(),
        cells: grid.cells.len(),
        runs: grid.n_runs(),
        windows: nw,
        started,
        finished: None,
        wall_seconds: 0.0,
        runs_trained: 0,
        counts: Default::default(),
    };
    let state = dir.join(state_name(shard));
    crate::sink::write_bytes_atomic(&state, serde_json::to_string_pretty(&manifest)?.as_bytes())?;

    let stop = install_interrupt_handler();
    let todo = shard_windows(nw, shard);
    let progress = if args.quiet { ProgressMode::Quiet } else { ProgressMode::Auto };
    if !args.quiet {
        let what = match shard {
            Some((k, n)) => format!("shard {k}/{n}: {} of {nw} windows", todo.len()),
            None => format!("{} runs", grid.n_runs()),
        };
        eprintln!(
            "initgrid {VERSION}: {} — {} cells × {} seeds, {what}, {threads} threads ({} kernel) → {}",
            cfg.name,
            grid.cells.len(),
            grid.seeds,
            crate::core::dispatch::simd_level(),
            dir.display()
        );
    }
    let t0 = Instant::now();
    let reuse = runner::load_reuse(&dir)?;
    let stats = runner::run_windows(
        &grid,
        &dir,
        &todo,
        threads,
        progress,
        stop.clone(),
        (!reuse.is_empty()).then_some(&reuse),
    )?;
    if !reuse.is_empty() && !args.quiet {
        let reused = stats.runs_done.saturating_sub(stats.runs_trained);
        eprintln!("grown grid: {reused} finished runs reused, {} trained", stats.runs_trained);
    }
    if stats.runs_skipped > 0 && !args.quiet {
        eprintln!(
            "resumed: {} runs were already finished and kept, {} trained now",
            stats.runs_skipped, stats.runs_done
        );
    }
    if stats.interrupted {
        eprintln!(
            "interrupted: {} runs finished in this session are saved under {}/chunks.\nresume with the same command: initgrid --config {}{}",
            stats.runs_done,
            dir.display(),
            cfg_path.display(),
            args.out.as_ref().map(|o| format!(" --out {}", o.display())).unwrap_or_default()
        );
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    manifest.runs_trained = stats.runs_trained;
    manifest.wall_seconds = t0.elapsed().as_secs_f64();
    if let Some((k, n)) = shard {
        manifest.finished = Some(now_utc());
        crate::sink::write_bytes_atomic(&state, serde_json::to_string_pretty(&manifest)?.as_bytes())?;
        if !args.quiet {
            eprintln!(
                "shard {k}/{n} done: {} runs in {:.1}s. When all {n} shards are done: initgrid merge OUT {}",
                stats.runs_done,
                manifest.wall_seconds,
                dir.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let chunks: Vec<PathBuf> = (0..nw).map(|w| chunk_path(&dir, w)).collect();
    finalize(&dir, &grid, &chunks, manifest, args.quiet).with_context(|| {
        format!(
            "assembling the final tables failed; every finished run is safe in {}/chunks — free space or fix the cause, then run the same command again (it trains nothing twice)",
            dir.display()
        )
    })?;
    if dir.join(runner::REUSE_DIR).exists() {
        std::fs::remove_dir_all(dir.join(runner::REUSE_DIR))?; // everything it held is in the new chunks
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes runs.parquet, cells.parquet, effects.parquet, manifest.json and report.html from
/// complete chunks, and prints the closing summary.
pub fn finalize(dir: &Path, grid: &Grid, chunks: &[PathBuf], mut manifest: Manifest, quiet: bool) -> Result<()> {
    let runs_path = dir.join("runs.parquet");
    let mut outcomes = crate::tables::Outcomes::empty(grid);
    let n = crate::sink::concat_parquet(chunks, &runs_path, |df| outcomes.absorb(grid, df))?;
    if n != grid.n_runs() {
        bail!(
            "the chunks hold {n} runs but the grid has {}: the results directory is inconsistent; rerun with --fresh",
            grid.n_runs()
        );
    }
    let stats = outcomes.cell_stats(grid);
    let mut cells = crate::tables::cells_frame(grid, &stats)?;
    crate::sink::write_parquet_atomic(&dir.join("cells.parquet"), &mut cells)?;
    let effects = crate::tables::effects(grid, &stats);
    let mut ef = crate::tables::effects_frame(&effects)?;
    crate::sink::write_parquet_atomic(&dir.join("effects.parquet"), &mut ef)?;
    let mut totals = [0u64; 4];
    for s in &stats {
        for (t, c) in totals.iter_mut().zip(s.counts) {
            *t += c;
        }
    }
    manifest.counts = Outcome::ALL.iter().zip(totals).map(|(o, c)| (o.name().to_string(), c)).collect();
    manifest.finished = Some(now_utc());
    crate::sink::write_bytes_atomic(&dir.join("manifest.json"), serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    let report_ok = match crate::report_data::write_report(dir, grid, &outcomes, &stats, &effects, &manifest) {
        Ok(()) => true,
        Err(e) => {
            eprintln!(
                "warning: report.html could not be written ({e:#}); the tables are complete. Retry with `initgrid report {}`",
                dir.display()
            );
            false
        }
    };
    if !quiet {
        let rate = manifest.runs_trained as f64 / manifest.wall_seconds.max(1e-9);
        eprintln!(
            "\n{} runs ({} trained now) in {:.1}s — {:.0} runs/s",
            grid.n_runs(),
            manifest.runs_trained,
            manifest.wall_seconds,
            rate
        );
        eprintln!("{}", crate::summary::closing_table(grid, &stats));
        eprintln!(
            "wrote {}/{{runs,cells,effects}}.parquet, manifest.json{}",
            dir.display(),
            if report_ok { ", report.html" } else { "" }
        );
        eprintln!(
            "next: initgrid summary {0} --by layout,lr   |   initgrid compare {0} --factor <name>",
            dir.display()
        );
    }
    Ok(())
}

/// Checks the output directory: writable, and either empty, ours with the same config
/// (resume), or explicitly started over with --fresh.
fn prepare_dir(dir: &Path, resolved: &Resolved, shard: Option<(u32, u32)>, fresh: bool) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return usage(format!("--out {}: exists and is not a directory", dir.display()));
    }
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create the output directory {} — choose a writable place with --out DIR",
            dir.display()
        )
    })?;
    let probe = dir.join(format!(".initgrid-probe-{}", std::process::id()));
    std::fs::write(&probe, b"ok").with_context(|| {
        format!(
            "the output directory {} is not writable — fix its permissions or choose another with --out DIR",
            dir.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    let states = state_files(dir);
    let has_results = dir.join("chunks").exists() || dir.join("runs.parquet").exists();
    if fresh {
        for p in [
            "chunks",
            "runs.parquet",
            "cells.parquet",
            "effects.parquet",
            "manifest.json",
            "report.html",
        ] {
            let p = dir.join(p);
            if p.is_dir() {
                std::fs::remove_dir_all(&p)?;
            } else if p.exists() {
                std::fs::remove_file(&p)?;
            }
        }
        for s in states {
            std::fs::remove_file(s)?;
        }
        return Ok(());
    }
    if states.is_empty() {
        if has_results {
            return usage(format!(
                "{} holds results without an initgrid state file (another tool or version?): use --fresh to start over there, or another --out DIR",
                dir.display()
            ));
        }
        return Ok(());
    }
    for s in &states {
        let old = Manifest::load(s)?;
        if old.config_hash == resolved.hash() {
            if let (Some(a), Some(b)) = (old.shard, shard)
                && a.1 != b.1
            {
                return usage(format!(
                    "{} holds shards of a {}-way split; this run asks for {}-way: use the same N, or another --out DIR",
                    dir.display(),
                    a.1,
                    b.1
                ));
            }
            continue;
        }
        let diff = resolved.diff(&old.resolved);
        if resolved.grows(&old.resolved) && shard.is_none() && old.shard.is_none() {
            // The grid only grew: keep the finished runs aside and reuse them by
            // (cell_id, replicate) — cell ids and seeds do not depend on the grid's size.
            let keep = dir.join(crate::runner::REUSE_DIR).join(&old.config_hash);
            std::fs::create_dir_all(keep.parent().expect("has parent"))?;
            if dir.join("chunks").exists() && !keep.exists() {
                std::fs::rename(dir.join("chunks"), &keep)?;
            } else if dir.join("chunks").exists() {
                std::fs::remove_dir_all(dir.join("chunks"))?; // already kept by an earlier attempt
            }
            for p in ["runs.parquet", "cells.parquet", "effects.parquet", "manifest.json", "report.html"] {
                let _ = std::fs::remove_file(dir.join(p));
            }
            std::fs::remove_file(s)?;
            eprintln!(
                "the grid grew ({}): finished runs are reused by (cell_id, replicate)",
                diff.join("; ")
            );
            continue;
        }
        return usage(format!(
            "{} holds results of a different config (hash {} vs {}): changed: {}\n  fix: use --fresh to discard the old results, or choose another --out DIR (growing a grid — more seeds, new levels — reuses finished runs)",
            dir.display(),
            old.config_hash,
            resolved.hash(),
            diff.join("; ")
        ));
    }
    Ok(())
}

/// First Ctrl-C / SIGTERM: stop taking new runs and flush. Second: exit at once (files are
/// only ever replaced atomically, so nothing is corrupted).
fn install_interrupt_handler() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let hits = Arc::new(AtomicU32::new(0));
    let (s, h) = (stop.clone(), hits.clone());
    let _ = ctrlc::set_handler(move || {
        if h.fetch_add(1, Ordering::SeqCst) == 0 {
            s.store(true, Ordering::SeqCst);
            eprintln!("\ninterrupt: finishing the runs in progress and saving them (press Ctrl-C again to quit at once)");
        } else {
            eprintln!("\nquitting at once; finished chunks are intact — rerun the same command to resume");
            std::process::exit(EXIT_INTERRUPTED as i32);
        }
    });
    stop
}

fn dry_run(cfg: &Config, grid: &Grid, threads: usize, shard: Option<(u32, u32)>, nw: usize) -> Result<()> {
    println!(
        "{}: {} cells × {} seeds = {} runs ({} chunk windows)",
        cfg.name,
        grid.cells.len(),
        grid.seeds,
        grid.n_runs(),
        nw
    );
    let varied = &grid.varied;
    for c in grid.cells.iter().take(200) {
        println!("  {:>4}  {}  {}", c.index, c.id, c.describe(varied));
    }
    if grid.cells.len() > 200 {
        println!("  … {} more", grid.cells.len() - 200);
    }
    if let Some((k, n)) = shard {
        println!("shard {k}/{n}: {} of {nw} windows", shard_windows(nw, shard).len());
    }
    // Estimate: time one full lane group of replicates in up to 24 cells spread over the grid.
    let step = (grid.cells.len() / 24).max(1);
    let sample: Vec<&crate::grid::Cell> = grid.cells.iter().step_by(step).take(24).collect();
    let t0 = Instant::now();
    let seeds: Vec<u64> = (0..crate::core::dispatch::LANES.min(grid.seeds as usize) as u32)
        .map(|r| grid.seed(r))
        .collect();
    for c in &sample {
        c.trainer.run_many(&seeds, |_, _| {});
    }
    let per_run = t0.elapsed().as_secs_f64() / (sample.len() * seeds.len()) as f64;
    let est = per_run * grid.n_runs() as f64 / threads as f64;
    println!(
        "estimated time: {} on {threads} threads (from {} sample runs; {:.0} µs per run)",
        human_secs(est),
        sample.len() * seeds.len(),
        per_run * 1e6
    );
    Ok(())
}

pub fn human_secs(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}
