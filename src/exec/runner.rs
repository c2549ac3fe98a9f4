//! Runs a grid on all cores: work units in canonical order, results written as atomic chunk
//! files as soon as a window of units is complete (see [`super::units`] for the partition),
//! resumable, shardable, interruptible.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::reuse::Reuse;
use super::units::{Partition, Unit};
use crate::grid::Grid;
use crate::store::atomic::{Encoding, write_parquet_atomic};
use crate::store::chunk_path;
use crate::store::runs::{RunRow, runs_frame};

/// Trains one unit (taking from `reuse` the runs an earlier grid already finished); results in
/// replicate order.
pub(crate) fn run_unit(grid: &Grid, u: Unit, reuse: Option<&Reuse>) -> (Vec<RunRow>, u64) {
    let cell = &grid.cells[u.cell];
    let mut out: Vec<Option<RunRow>> = vec![None; (u.r1 - u.r0) as usize];
    let mut todo: Vec<u32> = Vec::with_capacity(out.len());
    for r in u.r0..u.r1 {
        match reuse.and_then(|m| m.get(&(cell.id.clone(), r))) {
            Some(&(result, wall_us)) => {
                out[(r - u.r0) as usize] = Some(RunRow {
                    cell: u.cell,
                    replicate: r,
                    seed: grid.seed(u.cell, r),
                    result,
                    wall_us,
                })
            }
            None => todo.push(r),
        }
    }
    if !todo.is_empty() {
        let seeds: Vec<u64> = todo.iter().map(|&r| grid.seed(u.cell, r)).collect();
        let t0 = Instant::now();
        let mut trained: Vec<RunRow> = Vec::with_capacity(todo.len());
        cell.trainer.run_many(&seeds, |i, result| {
            trained.push(RunRow {
                cell: u.cell,
                replicate: todo[i],
                seed: seeds[i],
                result,
                wall_us: 0,
            });
        });
        let total_us = t0.elapsed().as_micros() as f64;
        // Attribute the group's time to its runs in proportion to the epochs each trained.
        let weight: f64 = trained.iter().map(|r| r.result.epochs as f64 + 1.0).sum();
        for mut r in trained {
            r.wall_us = (total_us * (r.result.epochs as f64 + 1.0) / weight).round() as u64;
            out[(r.replicate - u.r0) as usize] = Some(r);
        }
    }
    (
        out.into_iter().map(|r| r.expect("every replicate reused or trained")).collect(),
        todo.len() as u64,
    )
}

/// Windows per thread from which [`run_windows`] trains a window's consecutive units of one cell
/// as one task: the lanes then idle only at the task's tail, not at every unit's (simulated on
/// the article grid's run lengths: 96 % busy with units of 256 replicates, 99 % with 1 000).
/// With fewer windows the units stay separate tasks, so that every thread gets work. Results
/// are the same bits either way (a run does not depend on its lane group). Measured: 2–25 %
/// faster on a relu-sigmoid-sigmoid cell with ragged run lengths, no difference measurable on
/// the whole article grid (±4 % run to run).
const MERGE_WINDOWS_PER_THREAD: usize = 8;

/// The tasks of one window: its units, or (`merge`) its runs of consecutive units of one cell
/// joined into one.
fn tasks(units: &[Unit], merge: bool) -> Vec<Unit> {
    let mut out: Vec<Unit> = Vec::with_capacity(units.len());
    for &u in units {
        match out.last_mut() {
            Some(last) if merge && last.cell == u.cell && last.r1 == u.r0 => last.r1 = u.r1,
            _ => out.push(u),
        }
    }
    out
}

/// How the runner reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProgressMode {
    /// A bar when stderr is a terminal, plain periodic lines otherwise.
    Auto,
    Quiet,
}

/// What a call to [`run_windows`] did.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunStats {
    /// Runs finished by this call (trained or reused).
    pub runs_done: u64,
    /// Runs trained by this call.
    pub runs_trained: u64,
    pub runs_skipped: u64,
    pub interrupted: bool,
    pub counts: [u64; 4],
    pub wall: Duration,
}

/// Runs every window in `todo` (window indices) whose chunk is missing, writing chunks into
/// `dir/chunks`. Stops taking new units when `stop` is set.
pub(crate) fn run_windows(
    grid: &Grid,
    dir: &Path,
    todo: &[usize],
    threads: usize,
    progress: ProgressMode,
    stop: Arc<AtomicBool>,
    reuse: Option<&Reuse>,
) -> Result<RunStats> {
    let part = Partition::of(grid);
    std::fs::create_dir_all(dir.join(crate::store::CHUNKS))
        .with_context(|| format!("cannot create {}", dir.join(crate::store::CHUNKS).display()))?;
    let mut stats = RunStats::default();
    let pending: Vec<usize> = todo.iter().copied().filter(|&w| !chunk_path(dir, w).exists()).collect();
    let runs_in = |w: usize| part.runs_in(w);
    stats.runs_skipped = todo.iter().filter(|w| !pending.contains(w)).map(|&w| runs_in(w)).sum();
    let total: u64 = pending.iter().map(|&w| runs_in(w)).sum();
    // The work list: (window slot, unit) in canonical order; with enough windows to keep every
    // thread busy, a window's consecutive units of one cell are trained as one task.
    let per_window: Vec<Vec<Unit>> = pending.iter().map(|&w| part.window_units(w)).collect();
    let merge = pending.len() >= MERGE_WINDOWS_PER_THREAD * threads;
    let work: Vec<(usize, Unit)> = per_window
        .iter()
        .enumerate()
        .flat_map(|(slot, units)| tasks(units, merge).into_iter().map(move |u| (slot, u)))
        .collect();
    let mut remaining: Vec<usize> = vec![0; pending.len()];
    for &(slot, _) in &work {
        remaining[slot] += 1;
    }
    let mut rows: Vec<Vec<Vec<RunRow>>> = pending.iter().map(|_| Vec::new()).collect();
    let mut unit_pos: Vec<Vec<usize>> = pending.iter().map(|_| Vec::new()).collect();

    let bar = make_bar(total, progress);
    let t0 = Instant::now();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("cannot start the thread pool")?;
    let next = AtomicUsize::new(0);
    // Bounded: when writing chunks is slower than training, workers wait instead of piling
    // results up in memory.
    let (tx, rx) = mpsc::sync_channel::<(usize, Vec<RunRow>, u64)>(4 * threads);
    let mut write_err: Option<anyhow::Error> = None;
    let mut last_line = Instant::now();
    pool.in_place_scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, work, stop) = (&next, &work, &stop);
            s.spawn(move |_| {
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= work.len() {
                        break;
                    }
                    let (r, trained) = run_unit(grid, work[i].1, reuse);
                    if tx.send((i, r, trained)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, r, trained) in rx.iter() {
            stats.runs_trained += trained;
            let slot = work[i].0;
            for row in &r {
                stats.counts[row.result.outcome as usize] += 1;
            }
            stats.runs_done += r.len() as u64;
            bar.inc(r.len() as u64);
            unit_pos[slot].push(i);
            rows[slot].push(r);
            remaining[slot] -= 1;
            if remaining[slot] == 0 && write_err.is_none() {
                // Window complete: order its units canonically and write the chunk.
                let mut order: Vec<usize> = (0..rows[slot].len()).collect();
                order.sort_by_key(|&k| unit_pos[slot][k]);
                let flat: Vec<RunRow> = order.iter().flat_map(|&k| rows[slot][k].iter().copied()).collect();
                rows[slot] = Vec::new();
                let res = runs_frame(grid, &flat).map_err(anyhow::Error::from).and_then(|mut df| write_parquet_atomic(&chunk_path(dir, pending[slot]), &mut df, Encoding::Chunk));
                if let Err(e) = res {
                    write_err = Some(e);
                    stop.store(true, Ordering::Relaxed);
                }
            }
            let c = stats.counts;
            bar.set_message(format!("converged {}  diverged {}  dead {}  stalled {}", c[0], c[1], c[2], c[3]));
            if bar.is_hidden() && progress == ProgressMode::Auto && last_line.elapsed() > Duration::from_secs(10) {
                last_line = Instant::now();
                let done = stats.runs_done;
                let el = t0.elapsed().as_secs_f64();
                let rate = done as f64 / el.max(1e-9);
                let eta = (total - done) as f64 / rate.max(1e-9);
                eprintln!("[{el:>6.0}s] {done}/{total} runs ({:.1}%), {rate:.0} runs/s, eta {eta:.0}s; converged {} diverged {} dead {} stalled {}", 100.0 * done as f64 / total.max(1) as f64, c[0], c[1], c[2], c[3]);
            }
        }
    });
    bar.finish_and_clear();
    stats.wall = t0.elapsed();
    if let Some(e) = write_err {
        return Err(e.context(format!("writing results under {} failed; the finished chunks are kept — free space or fix permissions, then run the same command again to resume (it checks every chunk first)", dir.display())));
    }
    stats.interrupted = stop.load(Ordering::Relaxed) && remaining.iter().any(|&r| r > 0);
    Ok(stats)
}

impl RunStats {
    /// Adds the figures of a later call (an adaptive grid's next stage).
    pub(crate) fn add(&mut self, o: &RunStats) {
        self.runs_done += o.runs_done;
        self.runs_trained += o.runs_trained;
        self.runs_skipped += o.runs_skipped;
        self.interrupted |= o.interrupted;
        for (a, b) in self.counts.iter_mut().zip(o.counts) {
            *a += b;
        }
        self.wall += o.wall;
    }
}

fn make_bar(total: u64, mode: ProgressMode) -> ProgressBar {
    if mode == ProgressMode::Quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(4));
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30.cyan/blue}] {human_pos}/{human_len} runs  {per_sec}  eta {eta}  {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_merges_consecutive_units_of_one_cell_only() {
        let u = |cell, r0, r1| Unit { cell, r0, r1 };
        let units = [u(0, 0, 256), u(0, 256, 512), u(1, 0, 256), u(1, 256, 300), u(1, 400, 500)];
        assert_eq!(tasks(&units, false), units.to_vec());
        assert_eq!(tasks(&units, true), vec![u(0, 0, 512), u(1, 0, 300), u(1, 400, 500)]);
        assert!(tasks(&[], true).is_empty());
    }
}
