//! `bench`: times the reference workload (see the README's Speed section).

use anyhow::Result;

use crate::cli::BenchArgs;
use crate::error::usage;
use crate::exec::bench::{run_rounds, spread};
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
    let rounds = match a.rounds {
        Some(0) => return usage("--rounds 0: give at least 1 round (default 5, or 1 with --json)"),
        Some(n) => n,
        None if a.json => 1,
        None => 5,
    };
    if !a.json {
        println!(
            "reference workload: four, relu-sigmoid 1-4-2, U(-1,1), online SGD lr 0.1, {} epochs × {} replicates, loss evaluated every epoch; {} round(s)",
            a.epochs, a.replicates, rounds
        );
    }
    let mut json_err = None;
    let (runs, scaling) = run_rounds(a.replicates, a.epochs, &list, rounds, a.baseline, |r| {
        if a.json {
            match serde_json::to_string(r) {
                Ok(line) => println!("{line}"),
                Err(e) => json_err = Some(e),
            }
        }
    })?;
    if let Some(e) = json_err {
        return Err(e.into());
    }
    if a.json {
        return Ok(());
    }
    for per in &runs {
        let walls: Vec<f64> = per.iter().map(|r| r.wall_s).collect();
        let (med, lo, hi) = spread(&walls);
        let effs: Vec<f64> = per.iter().map(|r| r.efficiency).collect();
        let r = &per[0];
        let range = if per.len() > 1 {
            format!(" ({lo:.3}–{hi:.3})")
        } else {
            String::new()
        };
        println!(
            "  {:>2} thread(s) [{}]: {:.3} s{}  {:>10.0} trainings/s  {:>7.1} M sample-steps/s  busy {:.1}%  (final loss < 0.01: {:.1}%)",
            r.threads,
            r.kernel,
            med,
            range,
            r.replicates as f64 / med,
            r.sample_steps_per_s * r.wall_s / med / 1e6,
            100.0 * spread(&effs).0,
            100.0 * r.converged
        );
    }
    if let Some(sc) = scaling {
        let (m, lo, hi) = sc.ratio();
        let (sm, slo, shi) = sc.slowdown();
        let (how, ranges) = if rounds > 1 {
            (
                format!(" (median of {rounds} paired rounds, range {lo:.2}–{hi:.2})"),
                format!(" (range {slo:.3}–{shi:.3})"),
            )
        } else {
            (String::new(), String::new())
        };
        println!(
            "  scaling 1 → {} threads: {m:.2}×{how}; the same tasks took {sm:.3}× as long with every thread busy{ranges}",
            sc.threads
        );
    }
    Ok(())
}
