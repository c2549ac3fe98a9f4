//! `bench`: times the reference workload (see the README's Speed section).

use anyhow::Result;

use crate::cli::BenchArgs;
use crate::exec::bench::run_bench;
use crate::exec::resolve_threads;

pub(crate) fn bench(a: &BenchArgs) -> Result<()> {
    let all = resolve_threads(None)?;
    let list: Vec<usize> = match a.threads {
        Some(n) => vec![resolve_threads(Some(n))?],
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
