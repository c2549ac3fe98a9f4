//! `replay`: retrain one run from the manifest's config, verify it bit for bit against the
//! stored row, and show its trajectory.

use anyhow::Result;
use serde::Serialize;

use crate::cli::ReplayArgs;
use crate::core::{DeadCause, Mechanism, Params};
use crate::error::Error;
use crate::exec::replay::replay_run;
use crate::text::fmt_param;

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
    dead_cause: Option<&'a str>,
    mechanism: Option<&'a str>,
    live_units_init: u32,
    live_units_final: u32,
    initial_loss: f64,
    loss_at_90pct: f64,
    max_abs_param: f64,
    losses: &'a [f64],
    accuracies: &'a [f64],
    dead_units: &'a [u32],
    live_units: &'a [u32],
    initial_params: &'a Params,
    final_params: &'a Params,
}

pub(crate) fn replay(a: &ReplayArgs) -> Result<()> {
    let rp = replay_run(&a.dir, &a.run)?;
    let verified = rp.verified();
    let (res, tr, seed) = (&rp.result, &rp.trajectory, rp.seed);
    let st = &rp.stored.result;
    let (so, se, sl) = (st.outcome, st.epochs, st.final_loss);
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
            dead_cause: res.dead_cause.map(|c| c.name()),
            mechanism: Mechanism::of(res).map(|m| m.name()),
            live_units_init: res.live_units_init,
            live_units_final: res.live_units_final,
            initial_loss: res.initial_loss,
            loss_at_90pct: res.loss_at_90pct,
            max_abs_param: res.max_abs_param,
            losses: &tr.losses,
            accuracies: &tr.accuracies,
            dead_units: &tr.dead_units,
            live_units: &tr.live_units,
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
            "born dead: {}, dead units {} → {}, live units {} → {}, max |θ| {:.3e}",
            res.born_dead, res.dead_units_init, res.dead_units_final, res.live_units_init, res.live_units_final, res.max_abs_param
        );
        match (res.dead_cause, Mechanism::of(res)) {
            (Some(DeadCause::Capacity), Some(m)) => println!(
                "dead at epoch {} ({}): too few live units for the data's label alternations — it can never converge (proof: src/core/capacity.rs)",
                res.epochs,
                m.name()
            ),
            (Some(DeadCause::Layer), Some(m)) => println!(
                "dead at epoch {} ({}): a whole ReLU layer is inactive on every point, so no gradient reaches below it",
                res.epochs,
                m.name()
            ),
            (_, Some(m)) => println!("failure mechanism: {}", m.name()),
            _ => {}
        }
        let n = tr.losses.len();
        let rows = a.rows.max(2).min(n);
        println!(
            "\n{:>7}  {:>14}  {:>8}  {:>10}  {:>10}",
            "epoch", "mean loss", "accuracy", "dead units", "live units"
        );
        let mut last = usize::MAX;
        for i in 0..rows {
            let e = if rows == 1 { 0 } else { i * (n - 1) / (rows - 1) };
            if e == last {
                continue;
            }
            last = e;
            println!(
                "{e:>7}  {:>14.6e}  {:>8.2}  {:>10}  {:>10}",
                tr.losses[e],
                tr.accuracies[e],
                tr.dead_units[e],
                tr.live_units.get(e).copied().unwrap_or(0)
            );
        }
        print_params("initial parameters", &tr.initial_params);
        print_params("final parameters", &tr.final_params);
        if verified {
            println!("\nverified: outcome, epochs and final loss equal the stored row bit for bit");
        }
    }
    if !verified {
        return Err(Error::Mismatch(format!(
            "replay of {} does NOT match the stored row: stored {so}/{se} epochs/final loss {sl:e} ({:#018x}), replayed {}/{} epochs/{:e} ({:#018x}). The results were produced by different code or a different machine arithmetic.",
            a.run,
            sl.to_bits(),
            res.outcome,
            res.epochs,
            res.final_loss,
            res.final_loss.to_bits()
        ))
        .into());
    }
    Ok(())
}

fn print_params(title: &str, p: &Params) {
    println!("\n{title}:");
    for (l, layer) in p.layers.iter().enumerate() {
        println!("  layer {} ({} units):", l + 1, layer.bias.len());
        for (j, w) in layer.weights.iter().enumerate() {
            let ws: Vec<String> = w.iter().map(|&x| fmt_param(x)).collect();
            let extra = match (&layer.gamma, &layer.beta) {
                (Some(g), Some(b)) => format!("  γ {}  β {}", fmt_param(g[j]), fmt_param(b[j])),
                _ => String::new(),
            };
            println!("    unit {}: w [{}]  b {}{extra}", j + 1, ws.join(", "), fmt_param(layer.bias[j]));
        }
    }
}
