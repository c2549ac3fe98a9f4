//! Assembling the final tables from complete chunks: runs.parquet (streamed), cells.parquet,
//! effects.parquet, curves.parquet, manifest.json and report.html; then the chunks, which
//! runs.parquet now duplicates, are removed ([`super::compact`]).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::analysis::curves::{cell_curves, curves_frame};
use crate::analysis::tables::{Outcomes, cells_frame, effects, effects_frame};
use crate::core::Outcome;
use crate::grid::Grid;
use crate::store::atomic::{Encoding, concat_parquet, write_bytes_atomic, write_parquet_atomic};
use crate::store::manifest::{Manifest, now_utc};
use crate::store::{self};

/// What [`finalize`] produced, for the closing summary.
pub(crate) struct Finalized {
    /// Wall seconds of each phase, in order (for `--verbose`).
    pub phases: Vec<(&'static str, f64)>,
    /// Every run's outcome (for seed-clustered pooled rates in the closing table).
    pub outcomes: Outcomes,
    pub manifest: Manifest,
    /// `None` if report.html was written, else why not (the tables are complete either way).
    pub report_error: Option<anyhow::Error>,
    /// `None` if the chunks were removed, else why not (the tables are complete either way;
    /// the next run of the same command removes them).
    pub compact_error: Option<anyhow::Error>,
}

/// Writes the final tables of `grid` from `chunks` (complete, in canonical order, holding
/// `expected_runs` runs: `grid.n_runs()`, or an adaptive grid's total) into `dir`.
pub(crate) fn finalize(dir: &Path, grid: &Grid, chunks: &[PathBuf], expected_runs: u64, mut manifest: Manifest) -> Result<Finalized> {
    let mut phases = Vec::new();
    let mut t = std::time::Instant::now();
    let mut lap = |name: &'static str, phases: &mut Vec<(&'static str, f64)>| {
        phases.push((name, t.elapsed().as_secs_f64()));
        t = std::time::Instant::now();
    };
    let runs_path = dir.join(store::RUNS);
    let mut outcomes = Outcomes::empty(grid);
    let n = concat_parquet(chunks, &runs_path, |df, origin| outcomes.absorb(grid, df, origin))?;
    if n != expected_runs {
        bail!("the chunks hold {n} runs but the grid has {expected_runs}: the results directory is inconsistent; rerun with --fresh");
    }
    lap("runs.parquet (chunks concatenated)", &mut phases);
    let stats = outcomes.cell_stats(grid);
    let mut cells = cells_frame(grid, &stats)?;
    write_parquet_atomic(&dir.join(store::CELLS), &mut cells, Encoding::Table)?;
    let effects = effects(grid, &outcomes, &stats);
    let mut ef = effects_frame(&effects)?;
    write_parquet_atomic(&dir.join(store::EFFECTS), &mut ef, Encoding::Table)?;
    lap("cells.parquet, effects.parquet", &mut phases);
    let mut curves = curves_frame(grid, &cell_curves(grid, &outcomes))?;
    write_parquet_atomic(&dir.join(store::CURVES), &mut curves, Encoding::Table)?;
    lap("curves.parquet", &mut phases);
    let mut totals = [0u64; 4];
    for s in &stats {
        for (t, c) in totals.iter_mut().zip(s.counts) {
            *t += c;
        }
    }
    manifest.counts = Outcome::ALL.iter().zip(totals).map(|(o, c)| (o.name().to_string(), c)).collect();
    manifest.finished = Some(now_utc());
    manifest.checksums = Manifest::table_checksums(dir)?;
    write_bytes_atomic(&dir.join(store::MANIFEST), serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    lap("manifest.json", &mut phases);
    let report_error = crate::report::data::write_report(dir, grid, &outcomes, &stats, &effects, &manifest).err();
    lap("report.html", &mut phases);
    // Only now, with every table and the manifest written: runs.parquet is the one copy left.
    let compact_error = super::compact::compact(dir).err();
    lap("chunks removed", &mut phases);
    Ok(Finalized {
        phases,
        outcomes,
        manifest,
        report_error,
        compact_error,
    })
}
