//! `bench`: the reference workload of the speed issue, timed.
//!
//! Data `four`; layout relu-sigmoid, hidden 4 (1-4-2); weights and biases U(−1,1); online SGD,
//! fixed order, lr 0.1; `epochs` epochs with the loss evaluated after every epoch, tol = 0 and
//! no early stop for dead runs, so every replicate trains every epoch (as the NumPy/JAX peers do).

use std::time::Instant;

use anyhow::Result;
use rayon::prelude::*;
use serde::Serialize;

use crate::core::seed::replicate_seed;
use crate::core::{Dataset, Outcome, TrainSpec, Trainer};

#[derive(Debug, Serialize)]
pub(crate) struct BenchResult {
    pub threads: usize,
    pub kernel: String,
    pub replicates: u32,
    pub epochs: u32,
    pub wall_s: f64,
    /// Sum over tasks of each task's wall time: the time workers spent training.
    pub busy_s: f64,
    /// `busy_s / (threads × wall_s)`: the fraction of the workers' time spent in tasks (1 =
    /// no worker waited). Below 1 means the split or the scheduling idled a thread; a
    /// scaling short of `threads` with an efficiency near 1 means each task itself ran slower.
    pub efficiency: f64,
    pub trainings_per_s: f64,
    pub sample_steps_per_s: f64,
    /// Fraction of replicates whose final mean loss is below 0.01 (sanity check vs peers).
    pub converged: f64,
}

pub(crate) fn reference_trainer(epochs: u32) -> Trainer {
    let mut s = TrainSpec::new(
        Dataset::preset("four").expect("preset"),
        "relu-sigmoid".parse().expect("layout"),
        0.1,
    );
    s.hidden = 4;
    s.max_epochs = epochs;
    s.tol = 0.0;
    let mut t = Trainer::new(s).expect("valid reference spec");
    t.disable_early_stop();
    t
}

/// Replicates per parallel task: one group of 16 lanes (a multiple of every kernel's width).
/// Smaller than the grid's work units (`units::BLOCK`, sized so that lanes freed by early stops
/// are refilled): here every run trains every epoch, so no lane idles, and the last task, during
/// which the other threads may have nothing left, is short (10 000 replicates: 625 tasks).
/// Measured on 2 threads, 10 000 replicates: workers busy 99.7–99.8 % of the wall time, against
/// 99.2–99.9 % with tasks of 64.
const TASK: u32 = 16;

pub(crate) fn run_bench(replicates: u32, epochs: u32, threads: usize, baseline: bool) -> Result<BenchResult> {
    let t = reference_trainer(epochs);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let blocks: Vec<(u32, u32)> = (0..replicates)
        .step_by(TASK as usize)
        .map(|r| (r, (r + TASK).min(replicates)))
        .collect();
    let t0 = Instant::now();
    let (steps, low, busy): (u64, u64, f64) = pool.install(|| {
        // One task per rayon job. Without `with_max_len(1)` rayon's adaptive splitter hands out
        // leaves of several tasks that run sequentially and cannot be stolen; the last leaf
        // then held one thread while the other waited: 94–98 % busy on 2 threads (the rest
        // 5–22 ms of idle tail), instead of 99.2–99.9 %.
        blocks
            .par_iter()
            .with_max_len(1)
            .map(|&(a, b)| {
                let start = Instant::now();
                let seeds: Vec<u64> = (a..b).map(|r| replicate_seed(0, r)).collect();
                let (mut steps, mut low) = (0u64, 0u64);
                let mut f = |_: usize, r: crate::core::RunResult| {
                    steps += r.epochs as u64 * 4;
                    if r.final_loss < 0.01 || r.outcome == Outcome::Converged {
                        low += 1;
                    }
                };
                if baseline {
                    crate::core::dispatch::run_baseline(&t, &seeds, &mut f);
                } else {
                    t.run_many(&seeds, &mut f);
                }
                (steps, low, start.elapsed().as_secs_f64())
            })
            .reduce(|| (0, 0, 0.0), |x, y| (x.0 + y.0, x.1 + y.1, x.2 + y.2))
    });
    let wall = t0.elapsed().as_secs_f64();
    Ok(BenchResult {
        threads,
        kernel: if baseline {
            "baseline".into()
        } else {
            crate::core::dispatch::simd_level().into()
        },
        replicates,
        epochs,
        wall_s: wall,
        busy_s: busy,
        efficiency: busy / (threads as f64 * wall),
        trainings_per_s: replicates as f64 / wall,
        sample_steps_per_s: steps as f64 / wall,
        converged: low as f64 / replicates as f64,
    })
}

/// Thread scaling from paired rounds: in each round every thread count runs once, the order
/// alternating between rounds, so a slow phase of the machine falls on both sides of a ratio.
#[derive(Debug)]
pub(crate) struct Scaling {
    pub threads: usize,
    /// wall(1 thread) / wall(`threads`), one per round.
    pub ratios: Vec<f64>,
    /// busy(`threads`) / busy(1 thread), one per round: how much slower the same tasks ran
    /// with every thread busy (1 = not at all).
    pub slowdowns: Vec<f64>,
}

impl Scaling {
    /// (median, min, max) of the per-round ratios.
    pub fn ratio(&self) -> (f64, f64, f64) {
        spread(&self.ratios)
    }
    pub fn slowdown(&self) -> (f64, f64, f64) {
        spread(&self.slowdowns)
    }
}

/// (median, min, max) of `xs`, which must not be empty.
pub(crate) fn spread(xs: &[f64]) -> (f64, f64, f64) {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    (crate::analysis::stats::median(&v), v[0], v[v.len() - 1])
}

/// `rounds` rounds over `threads` (each round runs every entry once; odd rounds in reverse
/// order). Returns the runs per entry of `threads`, in round order, and the scaling from the
/// first entry to the second when `threads` is `[1, n]`.
pub(crate) fn run_rounds(
    replicates: u32,
    epochs: u32,
    threads: &[usize],
    rounds: u32,
    baseline: bool,
    mut on_run: impl FnMut(&BenchResult),
) -> Result<(Vec<Vec<BenchResult>>, Option<Scaling>)> {
    let mut runs: Vec<Vec<BenchResult>> = threads.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..threads.len()).collect()
        } else {
            (0..threads.len()).rev().collect()
        };
        for i in order {
            let r = run_bench(replicates, epochs, threads[i], baseline)?;
            on_run(&r);
            runs[i].push(r);
        }
    }
    let scaling = match threads {
        [1, n] if *n > 1 => Some(Scaling {
            threads: *n,
            ratios: runs[0].iter().zip(&runs[1]).map(|(a, b)| a.wall_s / b.wall_s).collect(),
            slowdowns: runs[0].iter().zip(&runs[1]).map(|(a, b)| b.busy_s / a.busy_s).collect(),
        }),
        _ => None,
    };
    Ok((runs, scaling))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_alternate_and_pair_the_scaling() {
        let mut seen = Vec::new();
        let (runs, sc) = run_rounds(64, 3, &[1, 2], 3, false, |r| seen.push(r.threads)).unwrap();
        assert_eq!(seen, [1, 2, 2, 1, 1, 2]);
        assert_eq!(runs[0].len(), 3);
        assert!(runs.iter().flatten().all(|r| r.replicates == 64 && r.busy_s > 0.0));
        let sc = sc.unwrap();
        assert_eq!(sc.threads, 2);
        for (k, (one, two)) in runs[0].iter().zip(&runs[1]).enumerate() {
            assert_eq!(sc.ratios[k], one.wall_s / two.wall_s);
            assert_eq!(sc.slowdowns[k], two.busy_s / one.busy_s);
        }
        let (m, lo, hi) = sc.ratio();
        assert!(lo <= m && m <= hi);
        let (_, none) = run_rounds(16, 2, &[2], 1, false, |_| {}).unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn spread_is_median_min_max() {
        assert_eq!(spread(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(spread(&[4.0, 1.0]), (2.5, 1.0, 4.0));
    }
}
