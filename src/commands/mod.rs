//! One file per command: the only code that prints. Each turns validated options into calls
//! on the domain modules (`exec`, `analysis`, `report`, `store`); no command imports another.

pub(crate) mod ask;
pub(crate) mod bench;
pub(crate) mod compare;
pub(crate) mod findings;
pub(crate) mod merge;
pub(crate) mod replay;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod summary;
pub(crate) mod verify;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use anyhow::Result;

use crate::analysis::summary::closing_table;
use crate::cli::{Cli, Command};
use crate::error::EXIT_INTERRUPTED;
use crate::exec::finalize::Finalized;
use crate::exec::heal::Damaged;
use crate::grid::Grid;

/// Runs the command the command line asks for.
pub(crate) fn dispatch(cli: &Cli) -> Result<()> {
    match &cli.command {
        None => run::run(&cli.run),
        Some(Command::Summary(a)) => summary::summary(a),
        Some(Command::Compare(a)) => compare::compare(a),
        Some(Command::Replay(a)) => replay::replay(a),
        Some(Command::Report(a)) => report::report(a),
        Some(Command::Merge(a)) => merge::merge(a),
        Some(Command::Findings(a)) => findings::findings(a),
        Some(Command::Ask(a)) => ask::ask(a),
        Some(Command::Bench(a)) => bench::bench(a),
        Some(Command::Verify(a)) => verify::verify(a),
    }
}

/// The closing summary of a finished grid (also printed by `merge`).
pub(crate) fn print_closing(dir: &Path, grid: &Grid, done: &Finalized, quiet: bool) {
    if let Some(e) = &done.report_error {
        eprintln!(
            "warning: report.html could not be written ({e:#}); the tables are complete. Retry with `initgrid report {}`",
            dir.display()
        );
    }
    if let Some(e) = &done.compact_error {
        eprintln!("{}", compact_warning(dir, e));
    }
    if quiet {
        return;
    }
    let m = &done.manifest;
    let rate = m.runs_trained as f64 / m.wall_seconds.max(1e-9);
    eprintln!(
        "\n{} runs ({} trained now) in {:.1}s — {:.0} runs/s",
        m.counts.values().sum::<u64>(),
        m.runs_trained,
        m.wall_seconds,
        rate
    );
    eprintln!("{}", closing_table(grid, &done.outcomes));
    if let Some(line) = adaptive_line(grid, &done.outcomes) {
        eprintln!("{line}");
    }
    eprintln!(
        "wrote {}/{{runs,cells,effects,curves}}.parquet, manifest.json{}",
        dir.display(),
        if done.report_error.is_none() { ", report.html" } else { "" }
    );
    eprintln!(
        "next: initgrid summary {0} --by layout,lr   |   initgrid compare {0} --factor <name>",
        dir.display()
    );
}

/// How an adaptive grid's cells stopped, in one line (`None` for a fixed seed count).
fn adaptive_line(grid: &Grid, outcomes: &crate::analysis::tables::Outcomes) -> Option<String> {
    let a = grid.adaptive.as_ref()?;
    let states = match crate::exec::adaptive::expected_seeds(grid, outcomes) {
        Ok(s) => s,
        Err((c, why)) => return Some(format!("warning: adaptive cell {} {why}", grid.cells[c].id)),
    };
    let precise = states
        .iter()
        .filter(|s| s.stop == Some(crate::exec::adaptive::Stop::Precise))
        .count();
    let mut n: Vec<u32> = states.iter().map(|s| s.n).collect();
    n.sort_unstable();
    let total: u64 = n.iter().map(|&x| x as u64).sum();
    Some(format!(
        "adaptive: {precise} of {} cells reached ±{} on {} (seeds per cell {}–{}, median {}); {} stopped at max_seeds {}; {total} runs where a fixed max_seeds would train {} ({:.0} % saved). Intervals of single cells are anytime-valid confidence sequences.",
        states.len(),
        a.precision,
        a.outcome,
        n[0],
        n[n.len() - 1],
        n[n.len() / 2],
        states.len() - precise,
        a.max_seeds,
        grid.n_runs(),
        100.0 * (1.0 - total as f64 / grid.n_runs() as f64)
    ))
}

/// The tables are complete but the chunks they duplicate could not be removed.
pub(crate) fn compact_warning(dir: &Path, e: &anyhow::Error) -> String {
    format!(
        "warning: the chunks could not be removed ({e:#}); the tables are complete. Running the same command again removes them (or delete {}/chunks)",
        dir.display()
    )
}

/// The one line of a run whose results are already complete.
pub(crate) fn complete_line(dir: &Path, m: &crate::store::manifest::Manifest) -> String {
    let report = if dir.join(crate::store::REPORT).exists() {
        String::new()
    } else {
        format!("; report.html is missing: `initgrid report {}` writes it", dir.display())
    };
    format!(
        "{}: already complete — {} runs finished {}, every table matches its SHA-256 in manifest.json; nothing to train, tables unchanged (--fresh starts over){report}",
        dir.display(),
        m.runs,
        m.finished.as_deref().unwrap_or("earlier")
    )
}

/// First Ctrl-C / SIGTERM: stop taking new runs and flush. Second: exit at once (files are
/// only ever replaced atomically, so nothing is corrupted).
pub(crate) fn install_interrupt_handler() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let hits = Arc::new(AtomicU32::new(0));
    let (s, h) = (stop.clone(), hits.clone());
    let _ = ctrlc::set_handler(move || {
        if h.fetch_add(1, Ordering::SeqCst) == 0 {
            s.store(true, Ordering::SeqCst);
            eprintln!("\ninterrupt: finishing the runs in progress and saving them (press Ctrl-C again to quit at once)");
        } else {
            eprintln!("\nquitting at once; finished chunks are kept — rerun the same command to resume (it checks them first)");
            std::process::exit(EXIT_INTERRUPTED as i32);
        }
    });
    stop
}

/// `damaged chunk DIR/chunks/w0000003.parquet (why): moved to DIR/damaged/w0000003.parquet`.
pub(crate) fn damaged_line(what: &str, d: &Damaged) -> String {
    format!("damaged {what} {} ({}): moved to {}", d.file.display(), d.why, d.moved_to.display())
}
