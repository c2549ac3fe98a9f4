//! `initgrid ask KEY=VALUE…`: one sentence per cell with every outcome's rate and its
//! anytime-valid interval, the failure mechanisms, and the paired comparison of a varied
//! factor's levels (`--json`: one object per cell).

use anyhow::Result;
use serde_json::{Map, Value as Json, json};

use super::{damaged_line, install_interrupt_handler};
use crate::analysis::paired::pairs_phrase;
use crate::cli::AskArgs;
use crate::core::{Mechanism, Outcome};
use crate::exec::ask::{Answer, CellAnswer, METHOD, Question, Round, ask as answer};
use crate::exec::resolve_threads;
use crate::exec::runner::ProgressMode;
use crate::params::{PARAMS, Value, param_index};

pub(crate) fn ask(a: &AskArgs) -> Result<()> {
    let threads = resolve_threads(a.threads)?;
    let q = Question {
        params: a.params.clone(),
        outcome: a.outcome.clone(),
        precision: a.precision,
        max_seeds: a.max_seeds,
        first_seeds: a.first_seeds,
    };
    let progress = if a.quiet { ProgressMode::Quiet } else { ProgressMode::Auto };
    let quiet = a.quiet;
    let pts = 100.0 * a.precision;
    let mut on_round = |r: &Round| {
        for n in &r.notices {
            eprintln!("{n}");
        }
        for (what, d) in &r.damaged {
            eprintln!("{}; its runs were trained again", damaged_line(what, d));
        }
        if !quiet {
            eprintln!(
                "ask: {} seeds per cell ({} runs trained now): {}",
                group(r.seeds as u64),
                group(r.trained),
                if r.open == 0 {
                    format!("every interval within ±{pts:.1} points")
                } else {
                    format!("{} cell(s) wider than ±{pts:.1} points (widest ±{:.1})", r.open, 100.0 * r.widest)
                }
            );
        }
    };
    let ans = answer(&q, a.out.clone(), threads, progress, install_interrupt_handler(), &mut on_round)?;
    if let Some(e) = &ans.report_error {
        eprintln!(
            "warning: report.html could not be written ({e:#}); the tables are complete. Retry with `initgrid report {}`",
            ans.dir.display()
        );
    }
    if let Some(e) = &ans.compact_error {
        eprintln!("{}", super::compact_warning(&ans.dir, e));
    }
    if a.json {
        let objs: Vec<Json> = ans.cells.iter().map(|c| cell_json(&ans, c, &a.outcome)).collect();
        println!("{}", serde_json::to_string_pretty(&objs)?);
    } else {
        let given = given_params(&a.params);
        for c in &ans.cells {
            println!("{}", sentence(&ans, c, &a.outcome, &given));
        }
        for (factor, rows) in &ans.comparisons {
            for r in rows {
                println!(
                    "{factor} {} vs {} ({}, paired on seeds): {}",
                    r.level_a,
                    r.level_b,
                    pairs_phrase(r),
                    r.verdict
                );
            }
        }
    }
    if !quiet {
        let n = ans.cells.iter().map(|c| c.n).max().unwrap_or(0);
        if ans.precise {
            eprintln!(
                "stopped: every cell's {} rate is within ±{pts:.1} points after {} seeds",
                a.outcome,
                group(n)
            );
        } else {
            let open = ans.cells.iter().filter(|c| !c.precise).count();
            eprintln!(
                "stopped at --max-seeds {}: {open} cell(s) still wider than ±{pts:.1} points (ask again with a larger --max-seeds: the seeds trained are reused)",
                group(a.max_seeds as u64)
            );
        }
        eprintln!(
            "{} runs trained now; intervals: {METHOD}\nresults: {dir} (initgrid summary {dir} | initgrid compare {dir} --factor …)",
            group(ans.trained),
            dir = ans.dir.display()
        );
    }
    Ok(())
}

/// Parameter indices named in the question, in the order given.
fn given_params(params: &[String]) -> Vec<usize> {
    params
        .iter()
        .filter_map(|p| param_index(p.split_once('=').map_or(p.as_str(), |(k, _)| k).trim()))
        .collect()
}

/// "relu-relu on four at lr 0.9 (max_epochs 200): converged 38.8 % [35.0, 42.7] of 2 400 seeds; …"
fn sentence(ans: &Answer, c: &CellAnswer, outcome: &str, given: &[usize]) -> String {
    let cell = &ans.grid.cells[c.cell];
    let v = |n: &str| cell.value(n).to_string();
    let mut head = format!("{} on {} at lr {}", v("layout"), v("dataset"), v("lr"));
    let rest: Vec<String> = given
        .iter()
        .filter(|&&i| !["layout", "dataset", "lr"].contains(&PARAMS[i].name))
        .map(|&i| format!("{} {}", PARAMS[i].name, cell.values[i]))
        .collect();
    if !rest.is_empty() {
        head.push_str(&format!(" ({})", rest.join(", ")));
    }
    let pct = |x: f64| format!("{:.1}", 100.0 * x);
    let part = |name: &str, k: u64, lo: f64, hi: f64| format!("{name} {} % [{}, {}]", pct(k as f64 / c.n as f64), pct(lo), pct(hi));
    let mut parts: Vec<String> = Vec::new();
    let asked: Option<Outcome> = outcome.parse().ok();
    if asked.is_none() {
        parts.push(format!("{} of {} seeds", part(outcome, c.k, c.ci.lo, c.ci.hi), group(c.n)));
    }
    let order: Vec<Outcome> = asked
        .into_iter()
        .chain(Outcome::ALL.into_iter().filter(|o| Some(*o) != asked))
        .collect();
    for o in order {
        let i = o as usize;
        let mut s = part(o.name(), c.counts[i], c.intervals[i].lo, c.intervals[i].hi);
        if Some(o) == asked {
            s.push_str(&format!(" of {} seeds", group(c.n)));
        }
        let mech: Vec<String> = Mechanism::ALL
            .iter()
            .enumerate()
            .filter(|(m, mm)| c.mechanisms[*m] > 0 && o != Outcome::Diverged && belongs(**mm, o))
            .map(|(m, mm)| format!("{} {}", mm.name().replace('_', " "), group(c.mechanisms[m])))
            .collect();
        if !mech.is_empty() {
            s.push_str(&format!(" ({})", mech.join(", ")));
        }
        parts.push(s);
    }
    format!("{head}: {}", parts.join("; "))
}

/// The outcome a failure mechanism belongs to.
fn belongs(m: Mechanism, o: Outcome) -> bool {
    matches!(
        (m, o),
        (Mechanism::BornDoomed | Mechanism::DiedDoomed, Outcome::Dead)
            | (Mechanism::Diverged, Outcome::Diverged)
            | (Mechanism::StillImproving | Mechanism::Plateau, Outcome::Stalled)
    )
}

fn cell_json(ans: &Answer, c: &CellAnswer, outcome: &str) -> Json {
    let cell = &ans.grid.cells[c.cell];
    let params: Map<String, Json> = PARAMS
        .iter()
        .zip(&cell.values)
        .map(|(p, v)| {
            let j = match v {
                Value::Str(s) => json!(s),
                Value::Bool(b) => json!(b),
                Value::U32(u) => json!(u),
                Value::F64(x) => json!(x),
            };
            (p.name.to_string(), j)
        })
        .collect();
    let counts: Map<String, Json> = Outcome::ALL
        .iter()
        .map(|o| (o.name().into(), json!(c.counts[*o as usize])))
        .collect();
    let intervals: Map<String, Json> = Outcome::ALL
        .iter()
        .map(|o| (o.name().into(), json!([c.intervals[*o as usize].lo, c.intervals[*o as usize].hi])))
        .collect();
    let mechanisms: Map<String, Json> = Mechanism::ALL
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name().into(), json!(c.mechanisms[i])))
        .collect();
    json!({
        "cell_id": cell.id,
        "params": params,
        "outcome": outcome,
        "k": c.k,
        "n": c.n,
        "rate": c.rate,
        "lo": c.ci.lo,
        "hi": c.ci.hi,
        "precise": c.precise,
        "method": METHOD,
        "counts": counts,
        "intervals": intervals,
        "mechanisms": mechanisms,
    })
}

/// 2400 → "2 400".
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(ch);
    }
    out
}
