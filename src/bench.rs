//! `bench`: the reference workload of the speed issue, timed.
//!
//! Data `four`; layout relu-sigmoid, hidden 4 (1-4-2); weights and biases U(−1,1); online SGD,
//! fixed order, lr 0.1; `epochs` epochs with the loss evaluated after every epoch, tol = 0 and
//! no early stop for dead runs, so every replicate trains every epoch (as the NumPy/JAX peers do).

use std::time::Instant;

use anyhow::Result;
use rayon::prelude::*;
use serde::Serialize;

use crate::cli::BenchArgs;
use crate::core::seed::replicate_seed;
use crate::core::{Dataset, Outcome, TrainSpec, Trainer};
use crate::runner::BLOCK;

#[derive(Debug, Serialize)]
pub struct BenchResult {
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

pub fn reference_trainer(epochs: u32) -> Trainer {
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

pub fn run_bench(replicates: u32, epochs: u32, threads: usize, baseline: bool) -> Result<BenchResult> {
    let t = reference_trainer(epochs);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let blocks: Vec<(u32, u32)> = (0..replicates)
        .step_by(BLOCK as usize)
        .map(|r| (r, (r + BLOCK).min(replicates)))
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

pub fn bench(a: &BenchArgs) -> Result<()> {
    let all = crate::app::threads(None)?;
    let list: Vec<usize> = match a.threads {
        Some(n) => vec![n],
        None if a.json => vec![all],
        None => {
            let mut v = vec![1];
            if all > 1 {
                v.push(all);
            }
            v
        }
    };
    let mut results = Vec::new();
    for th in list {
        results.push(run_bench(a.replicates, a.epochs, th, a.baseline)?);
    }
    if a.json {
        println!("{}", serde_json::to_string(&results[0])?);
    } else {
        println!(
            "reference workload: four, relu-sigmoid 1-4-2, U(-1,1), online SGD lr 0.1, {} epochs × {} replicates, loss evaluated every epoch",
            a.epochs, a.replicates
        );
        for r in &results {
            println!(
                "  {:>2} thread(s) [{}]: {:.3} s  {:>10.0} trainings/s  {:>7.1} M sample-steps/s  (final loss < 0.01: {:.1}%)",
                r.threads,
                r.kernel,
                r.wall_s,
                r.trainings_per_s,
                r.sample_steps_per_s / 1e6,
                100.0 * r.converged
            );
        }
        if results.len() == 2 {
            println!(
                "  scaling 1 → {} threads: {:.2}×",
                results[1].threads,
                results[0].wall_s / results[1].wall_s
            );
        }
    }
    Ok(())
}
