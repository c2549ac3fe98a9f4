//! `initgrid --config FILE`: run a grid (or `--dry-run` it) and print the closing summary.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};

use super::{damaged_line, install_interrupt_handler, print_closing};
use crate::cli::RunArgs;
use crate::config::Config;
use crate::error::{Error, usage};
use crate::exec::adaptive::{Walker, shard_cells};
use crate::exec::finalize::finalize;
use crate::exec::heal::heal_chunks;
use crate::exec::prepare::prepare_dir;
use crate::exec::resolve_threads;
use crate::exec::reuse::load_reuse;
use crate::exec::runner::{ProgressMode, RunStats, run_windows};
use crate::exec::units::{Partition, parse_shard};
use crate::grid::{Cell, Grid};
use crate::store::atomic::write_bytes_atomic;
use crate::store::manifest::{Manifest, Resolved, VERSION, now_utc};
use crate::store::{self, chunk_path};
use crate::text::human_secs;

pub(crate) fn run(args: &RunArgs) -> Result<()> {
    let Some(cfg_path) = &args.config else {
        return usage("no config given: run `initgrid --config configs/grid.toml` (or a subcommand; see --help)");
    };
    let t_start = Instant::now();
    let cfg = Config::load(cfg_path)
        .and_then(|c| c.with_overrides(&args.overrides))
        .map_err(Error::from)?;
    let grid = Grid::build(&cfg)?;
    let threads = resolve_threads(args.threads)?;
    let shard = args
        .shard
        .as_deref()
        .map(parse_shard)
        .transpose()
        .map_err(|e| Error::Usage(format!("{e:#}")))?;
    let dir = args.out.clone().unwrap_or_else(|| PathBuf::from("results").join(&cfg.name));
    let part = Partition::of(&grid);
    let nw = part.n_windows();
    if args.dry_run {
        return dry_run(&cfg, &grid, threads, shard, &part);
    }
    let resolved = Resolved::of(&cfg);
    // Held until this function returns: one writer per directory (or shard).
    let prepared = prepare_dir(&dir, &resolved, shard, args.fresh)?;
    if let Some(n) = prepared.lock.notice() {
        eprintln!("{n}");
    }
    for d in &prepared.damaged {
        eprintln!(
            "{}; a new state file is written, and every chunk is checked against this config before it is kept",
            damaged_line("state file", d)
        );
    }
    if let Some(what) = &prepared.grew {
        eprintln!("the grid grew ({what}): finished runs are reused by (cell_id, replicate)");
    }
    for n in &prepared.notes {
        eprintln!("{n}");
    }
    if let Some(m) = &prepared.complete {
        if !args.quiet {
            eprintln!("{}", super::complete_line(&dir, m));
        }
        return Ok(());
    }
    let mut manifest = Manifest::begin(&cfg, &grid, shard, threads, nw);
    let state = store::state_path(&dir, shard);
    write_bytes_atomic(&state, serde_json::to_string_pretty(&manifest)?.as_bytes())?;

    let stop = install_interrupt_handler();
    let todo = part.shard_windows(shard);
    let progress = if args.quiet { ProgressMode::Quiet } else { ProgressMode::Auto };
    if !args.quiet {
        let what = match (shard, &grid.adaptive) {
            (Some((k, n)), None) => format!(", shard {k}/{n}: {} of {nw} windows", todo.len()),
            (Some((k, n)), Some(_)) => format!(", shard {k}/{n}: {} cells", shard_cells(&grid, shard).len()),
            (None, None) => format!(", {} runs", grid.n_runs()),
            (None, Some(_)) => String::new(),
        };
        let seeds = match &grid.adaptive {
            Some(a) => format!(
                "up to {} seeds (adaptive: each cell stops when its {} rate is known to ±{})",
                a.max_seeds, a.outcome, a.precision
            ),
            None => format!("{} seeds", grid.seeds),
        };
        eprintln!(
            "initgrid {VERSION}: {} — {} cells × {seeds}{what}, {threads} threads ({} kernel) → {}",
            cfg.name,
            grid.cells.len(),
            crate::core::dispatch::simd_level(),
            dir.display()
        );
    }
    let t0 = Instant::now();
    // Every chunk already there is checked before it is kept; a damaged one is set aside and
    // its runs are trained again like those of a missing chunk.
    for d in heal_chunks(&grid, &dir, &todo)? {
        eprintln!("{}; its {} runs will be retrained", damaged_line("chunk", &d), d.runs.unwrap_or(0));
    }
    let (reuse, damaged_reuse) = load_reuse(&dir)?;
    for d in &damaged_reuse {
        eprintln!("{}; its runs will be trained again", damaged_line("chunk of the earlier grid", d));
    }
    let reuse = (!reuse.is_empty()).then_some(&reuse);
    let (stats, chunks, expected_runs) = match &grid.adaptive {
        None => {
            let stats = run_windows(&grid, &dir, &todo, threads, progress, stop.clone(), reuse)?;
            let chunks: Vec<PathBuf> = (0..nw).map(|w| chunk_path(&dir, w)).collect();
            (stats, chunks, grid.n_runs())
        }
        // Stage by stage: train the next stage of every open cell, then let each cell's
        // confidence sequence decide whether it stops (the chunks were checked above).
        Some(_) => {
            let cells = shard_cells(&grid, shard);
            let mut walker = Walker::new(&grid)?;
            let mut stats = RunStats::default();
            let mut first = true;
            loop {
                let walk = walker.walk(&cells, |w| chunk_path(&dir, w), |_, _| Ok(true))?;
                if first {
                    stats.runs_skipped = walk.runs();
                    first = false;
                }
                if walk.missing.is_empty() || stats.interrupted {
                    let chunks = walk.windows.iter().map(|&w| chunk_path(&dir, w)).collect();
                    break (stats, chunks, walk.runs());
                }
                if !args.quiet {
                    let runs: u64 = walk.missing.iter().map(|&w| part.runs_in(w)).sum();
                    eprintln!(
                        "stage: {} of {} cells still open ({} settled), training {runs} more runs",
                        walk.missing.len(),
                        cells.len(),
                        cells.len() - walk.missing.len()
                    );
                }
                let s = run_windows(&grid, &dir, &walk.missing, threads, progress, stop.clone(), reuse)?;
                stats.add(&s);
            }
        }
    };
    if reuse.is_some() && !args.quiet {
        let reused = stats.runs_done.saturating_sub(stats.runs_trained);
        eprintln!("grown grid: {reused} finished runs reused, {} trained", stats.runs_trained);
    }
    if stats.runs_skipped > 0 && !args.quiet {
        eprintln!(
            "resumed: {} runs were already finished and kept, {} trained now",
            stats.runs_skipped, stats.runs_trained
        );
    }
    if stats.interrupted {
        return Err(Error::Interrupted(format!(
            "interrupted: {} runs finished in this session are saved under {}/chunks.\nresume with the same command: initgrid --config {}{}{}",
            stats.runs_done,
            dir.display(),
            cfg_path.display(),
            args.out.as_ref().map(|o| format!(" --out {}", o.display())).unwrap_or_default(),
            args.overrides.iter().map(|o| format!(" {o}")).collect::<String>()
        ))
        .into());
    }
    manifest.runs_trained = stats.runs_trained;
    manifest.wall_seconds = t0.elapsed().as_secs_f64();
    let train_secs = manifest.wall_seconds;
    if let Some((k, n)) = shard {
        manifest.finished = Some(now_utc());
        write_bytes_atomic(&state, serde_json::to_string_pretty(&manifest)?.as_bytes())?;
        if !args.quiet {
            eprintln!(
                "shard {k}/{n} done: {} runs in {:.1}s. When all {n} shards are done: initgrid merge OUT {}",
                stats.runs_done,
                manifest.wall_seconds,
                dir.display()
            );
        }
        return Ok(());
    }
    let done = finalize(&dir, &grid, &chunks, expected_runs, manifest).with_context(|| {
        format!(
            "assembling the final tables failed; the finished chunks stay in {}/chunks — free space or fix the cause, then run the same command again (it checks every chunk, retrains only damaged or missing ones, and rebuilds the tables)",
            dir.display()
        )
    })?;
    if dir.join(store::REUSE).exists() {
        std::fs::remove_dir_all(dir.join(store::REUSE))?; // everything it held is in the new chunks
    }
    print_closing(&dir, &grid, &done, args.quiet);
    if args.verbose {
        eprintln!("phases (wall time):");
        eprintln!("  {:<38} {:>8.2}s", "training (prepare, train, chunks)", train_secs);
        for (name, secs) in &done.phases {
            eprintln!("  {name:<38} {secs:>8.2}s");
        }
        eprintln!("  {:<38} {:>8.2}s", "total since start", t_start.elapsed().as_secs_f64());
    }
    Ok(())
}

fn dry_run(cfg: &Config, grid: &Grid, threads: usize, shard: Option<(u32, u32)>, part: &Partition) -> Result<()> {
    let nw = part.n_windows();
    match &grid.adaptive {
        None => println!(
            "{}: {} cells × {} seeds = {} runs ({} chunk windows)",
            cfg.name,
            grid.cells.len(),
            grid.seeds,
            grid.n_runs(),
            nw
        ),
        Some(a) => println!(
            "{}: {} cells × {}…{} seeds (adaptive: a cell stops when its 95% confidence sequence for {} is within ±{}, stages of {}), at most {} runs",
            cfg.name,
            grid.cells.len(),
            a.min_seeds.min(a.max_seeds),
            a.max_seeds,
            a.outcome,
            a.precision,
            crate::exec::units::stage_bounds(a.min_seeds, a.max_seeds)[1..]
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            grid.n_runs()
        ),
    }
    let varied = &grid.varied;
    for c in grid.cells.iter().take(200) {
        println!("  {:>4}  {}  {}", c.index, c.id, c.describe(varied));
    }
    if grid.cells.len() > 200 {
        println!("  … {} more", grid.cells.len() - 200);
    }
    if let Some((k, n)) = shard {
        match &grid.adaptive {
            None => println!("shard {k}/{n}: {} of {nw} windows", part.shard_windows(shard).len()),
            Some(_) => println!("shard {k}/{n}: {} of {} cells", shard_cells(grid, shard).len(), grid.cells.len()),
        }
    }
    // Estimate: time one full lane group of replicates in up to 24 cells spread over the grid.
    let step = (grid.cells.len() / 24).max(1);
    let sample: Vec<&Cell> = grid.cells.iter().step_by(step).take(24).collect();
    let t0 = Instant::now();
    let seeds: Vec<u64> = (0..crate::core::dispatch::LANES.min(grid.seeds as usize) as u32)
        .map(|r| grid.seed(0, r))
        .collect();
    for c in &sample {
        c.trainer.run_many(&seeds, |_, _| {});
    }
    let per_run = t0.elapsed().as_secs_f64() / (sample.len() * seeds.len()) as f64;
    let est = per_run * grid.n_runs() as f64 / threads as f64;
    println!(
        "estimated time: {}{} on {threads} threads (from {} sample runs; {:.0} µs per run)",
        human_secs(est),
        if grid.adaptive.is_some() {
            " at most (every cell at max_seeds)"
        } else {
            ""
        },
        sample.len() * seeds.len(),
        per_run * 1e6
    );
    Ok(())
}
