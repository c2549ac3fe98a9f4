//! `replay`: retrain one run from the manifest's config, verify it bit for bit against the
//! stored row, and show its trajectory.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use polars::prelude::*;
use serde::Serialize;

use crate::app::usage;
use crate::cli::ReplayArgs;
use crate::core::{Params, RunResult, Trajectory};
use crate::grid::{Grid, parse_run_id};
use crate::manifest::Manifest;

/// Replays `run_id` of the results in `dir`: (result, trajectory, stored outcome/epochs/final_loss).
pub fn replay_run(dir: &std::path::Path, run_id: &str) -> Result<(RunResult, Trajectory, u64)> {
    let Some((cell_id, rep)) = parse_run_id(run_id) else {
        return usage(format!(
            "--run {run_id}: a run id looks like <cell_id>-<replicate>, e.g. 3fa9c1d2e4b5a6c7-17 (see runs.parquet)"
        ));
    };
    let m = Manifest::load(&dir.join("manifest.json"))?;
    let cfg = m.config()?;
    let grid = Grid::build(&cfg)?;
    let Some(cell) = grid.cell_by_id(cell_id) else {
        return usage(format!(
            "--run {run_id}: no cell `{cell_id}` in {} (its grid has {} cells)",
            dir.display(),
            grid.cells.len()
        ));
    };
    if rep >= grid.seeds {
        return usage(format!("--run {run_id}: replicate {rep} is outside 0..{}", grid.seeds));
    }
    let seed = grid.seed(rep);
    let (res, traj) = cell.trainer.run_trajectory(seed);
    Ok((res, traj, seed))
}

#[derive(Serialize)]
struct ReplayJson<'a> {
    run_id: &'a str,
    seed: u64,
    verified: bool,
    outcome: &'a str,
    epochs: u32,
    final_loss: f64,
    min_loss: f64,
    accuracy: f64,
    born_dead: bool,
    dead_units_init: u32,
    dead_units_final: u32,
    max_abs_param: f64,
    losses: &'a [f64],
    accuracies: &'a [f64],
    dead_units: &'a [u32],
    initial_params: &'a Params,
    final_params: &'a Params,
}

/// The stored row's (outcome, epochs, final_loss) for a run id.
fn stored_row(dir: &std::path::Path, run_id: &str) -> Result<(String, u32, f64)> {
    let path = dir.join("runs.parquet");
    let path_s = path.to_str().context("non-UTF-8 path")?;
    let df = LazyFrame::scan_parquet(PlRefPath::new(path_s), ScanArgsParquet::default())?
        .filter(col("run_id").eq(lit(run_id)))
        .select([col("outcome"), col("epochs"), col("final_loss")])
        .collect()
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if df.height() != 1 {
        return usage(format!(
            "--run {run_id}: {} rows in {} have this run_id (expected 1)",
            df.height(),
            path.display()
        ));
    }
    let o = df.column("outcome")?.str()?.get(0).unwrap_or("").to_string();
    let e = df.column("epochs")?.u32()?.get(0).unwrap_or(0);
    let l = df.column("final_loss")?.f64()?.get(0).unwrap_or(f64::NAN);
    Ok((o, e, l))
}

pub fn replay(a: &ReplayArgs) -> Result<ExitCode> {
    let (res, tr, seed) = replay_run(&a.dir, &a.run)?;
    let (so, se, sl) = stored_row(&a.dir, &a.run)?;
    let verified = so == res.outcome.name() && se == res.epochs && sl.to_bits() == res.final_loss.to_bits();
    if a.json {
        let j = ReplayJson {
            run_id: &a.run,
            seed,
            verified,
            outcome: res.outcome.name(),
            epochs: res.epochs,
            final_loss: res.final_loss,
            min_loss: res.min_loss,
            accuracy: res.accuracy,
            born_dead: res.born_dead,
            dead_units_init: res.dead_units_init,
            dead_units_final: res.dead_units_final,
            max_abs_param: res.max_abs_param,
            losses: &tr.losses,
            accuracies: &tr.accuracies,
            dead_units: &tr.dead_units,
            initial_params: &tr.initial_params,
            final_params: &tr.final_params,
        };
        println!("{}", serde_json::to_string(&j)?);
    } else {
        println!(
            "run {} (seed {seed}): {} after {} epochs, final loss {:.6e}, accuracy {:.2}",
            a.run, res.outcome, res.epochs, res.final_loss, res.accuracy
        );
        println!(
            "born dead: {}, dead units {} → {}, max |θ| {:.3e}",
            res.born_dead, res.dead_units_init, res.dead_units_final, res.max_abs_param
        );
        let n = tr.losses.len();
        let rows = a.rows.max(2).min(n);
        println!("\n{:>7}  {:>14}  {:>8}  {:>10}", "epoch", "mean loss", "accuracy", "dead units");
        let mut last = usize::MAX;
        for i in 0..rows {
            let e = if rows == 1 { 0 } else { i * (n - 1) / (rows - 1) };
            if e == last {
                continue;
            }
            last = e;
            println!(
                "{e:>7}  {:>14.6e}  {:>8.2}  {:>10}",
                tr.losses[e], tr.accuracies[e], tr.dead_units[e]
            );
        }
        print_params("initial parameters", &tr.initial_params);
        print_params("final parameters", &tr.final_params);
        if verified {
            println!("\nverified: outcome, epochs and final loss equal the stored row bit for bit");
        }
    }
    if !verified {
        eprintln!(
            "error: replay does NOT match the stored row: stored {so}/{se} epochs/final loss {sl:e} ({:#018x}), replayed {}/{} epochs/{:e} ({:#018x}). The results were produced by different code or a different machine arithmetic.",
            sl.to_bits(),
            res.outcome,
            res.epochs,
            res.final_loss,
            res.final_loss.to_bits()
        );
        bail!("replay mismatch for {}", a.run);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_params(title: &str, p: &Params) {
    println!("\n{title}:");
    for (l, layer) in p.layers.iter().enumerate() {
        println!("  layer {} ({} units):", l + 1, layer.bias.len());
        for (j, w) in layer.weights.iter().enumerate() {
            let ws: Vec<String> = w.iter().map(|x| format!("{x:+.5}")).collect();
            let extra = match (&layer.gamma, &layer.beta) {
                (Some(g), Some(b)) => format!("  γ {:+.5}  β {:+.5}", g[j], b[j]),
                _ => String::new(),
            };
            println!("    unit {}: w [{}]  b {:+.5}{extra}", j + 1, ws.join(", "), layer.bias[j]);
        }
    }
}
