//! initgrid: seeded grids of tiny-network trainings, with statistics instead of anecdotes.
//!
//! Layers, each importing only from the layers below it:
//!
//! ```text
//! lib::run     parse the command line, dispatch, map the error to the exit code
//! commands     one file per command — the only code that prints
//! cli          clap declarations only (nothing below `commands` sees clap)
//! exec         work units, windows, shards, training on all cores, resume, finalisation
//! report       the HTML report, from plain data
//! analysis     statistics, tables, summaries, paired comparisons, findings (pure)
//! store        the results directory: file names, atomic writes, runs schema, manifest
//! grid         cells, ids, seeds          config   TOML → typed, validated config
//! params       the one parameter table    text     formatting helpers
//! core         the training core — no I/O, no polars
//! error        the one error type
//! ```

pub mod analysis;
pub mod core;
pub mod store;

pub(crate) mod cli;
pub(crate) mod commands;
pub(crate) mod config;
pub(crate) mod error;
pub(crate) mod exec;
pub(crate) mod grid;
pub(crate) mod params;
pub(crate) mod report;
pub(crate) mod text;

use std::process::ExitCode;

use clap::Parser;

/// The binary's entry point: parses the command line, runs the command, prints an error and
/// returns the exit code (decided in one place, [`error::exit_code`]).
pub fn run() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::dispatch(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = error::exit_code(&e);
            if code == error::EXIT_INTERRUPTED {
                eprintln!("{e:#}");
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::from(code)
        }
    }
}
