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

/// Replicates per parallel task. Smaller than the grid's work units (`units::BLOCK`, sized so
/// that lanes freed by early stops are refilled): here every run trains every epoch, so a task
/// of 64 replicates (four groups of 16 lanes) idles no lane, and the last task, during which
/// the other threads may have nothing left, is a quarter as long (10 000 replicates: 157 tasks instead of 40).
const TASK: u32 = 64;

pub(crate) fn run_bench(replicates: u32, epochs: u32, threads: usize, baseline: bool) -> Result<BenchResult> {
    let t = reference_trainer(epochs);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let blocks: Vec<(u32, u32)> = (0..replicates)
        .step_by(TASK as usize)
        .map(|r| (r, (r + TASK).min(replicates)))
        .collect();
    let t0 = Instant::now();
    let (steps, low): (u64, u64) = pool.install(|| {
        blocks
            .par_iter()
            .map(|&(a, b)| {
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
                (steps, low)
            })
            .reduce(|| (0, 0), |x, y| (x.0 + y.0, x.1 + y.1))
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
        trainings_per_s: replicates as f64 / wall,
        sample_steps_per_s: steps as f64 / wall,
        converged: low as f64 / replicates as f64,
    })
}
