//! Builds the report's input from a results directory and writes `report.html`.

use std::path::Path;

use anyhow::{Context, Result};
use polars::prelude::*;

use crate::cli::ReportArgs;
use crate::config::{Config, PARAMS, param_index};
use crate::core::Outcome;
use crate::grid::Grid;
use crate::manifest::Manifest;
use crate::report::{CellRow, Curve, EffectRow, PairRow, ReportInput, render};
use crate::stats::{CONFIDENCE, wilson};
use crate::tables::{CellStats, Effect, aggregate_cells, effects};

/// Replayed curves per layout: this many converged and this many failed runs.
const CURVES_PER_KIND: usize = 3;

pub fn write_report(dir: &Path, _cfg: &Config, grid: &Grid, stats: &[CellStats], effects: &[Effect], m: &Manifest) -> Result<()> {
    let input = build_input(dir, grid, stats, effects, m)?;
    let html = render(&input);
    crate::sink::write_bytes_atomic(&dir.join("report.html"), html.as_bytes())
}

pub fn build_input(dir: &Path, grid: &Grid, stats: &[CellStats], effects: &[Effect], m: &Manifest) -> Result<ReportInput> {
    let cells: Vec<CellRow> = stats
        .iter()
        .map(|s| {
            let c = &grid.cells[s.cell];
            let mut rate = [(0.0, 0.0, 0.0); 4];
            for (k, r) in rate.iter_mut().enumerate() {
                let ci = wilson(s.counts[k], s.n, CONFIDENCE);
                *r = (s.counts[k] as f64 / s.n as f64, ci.lo, ci.hi);
            }
            CellRow {
                params: PARAMS
                    .iter()
                    .zip(&c.values)
                    .map(|(p, v)| (p.name.to_string(), v.to_string()))
                    .collect(),
                n: s.n,
                counts: s.counts,
                rate,
            }
        })
        .collect();
    let effects = effects
        .iter()
        .map(|e| EffectRow {
            factor: e.factor.clone(),
            level: e.level.clone(),
            outcome: e.outcome.name().into(),
            k: e.k,
            n: e.n,
            p: e.p,
            lo: e.lo,
            hi: e.hi,
        })
        .collect();
    let runs_path = dir.join("runs.parquet");
    let epochs_converged = epochs_by_layout(&runs_path)?;
    let curves = replay_curves(grid, &runs_path)?;
    let mut pairs = Vec::new();
    if grid.varied.contains(&param_index("init_order").expect("known")) {
        for r in crate::summary::paired(dir, "init_order", &[], "converged")? {
            pairs.push(PairRow {
                factor: if r.scope == "pooled" {
                    "init_order (pooled)".into()
                } else {
                    format!("init_order | {}", r.scope)
                },
                level_a: r.level_a,
                level_b: r.level_b,
                pairs: r.pairs,
                both: r.both,
                only_a: r.only_a,
                only_b: r.only_b,
                neither: r.neither,
                diff: r.diff,
                diff_lo: r.diff_lo,
                diff_hi: r.diff_hi,
                p_exact: r.p_exact,
                p_holm: r.p_holm,
                verdict: r.verdict,
            });
        }
    }
    let total: u64 = stats.iter().map(|s| s.n).sum();
    let mut meta = vec![
        ("runs".to_string(), total.to_string()),
        ("cells".into(), stats.len().to_string()),
        ("seeds per cell".into(), grid.seeds.to_string()),
        ("base seed".into(), grid.base_seed.to_string()),
        ("wall time".into(), crate::app::human_secs(m.wall_seconds)),
        ("initgrid".into(), format!("{} ({})", m.initgrid_version, m.git_commit)),
        ("config hash".into(), m.config_hash.clone()),
        ("finished".into(), m.finished.clone().unwrap_or_default()),
    ];
    for (o, c) in &m.counts {
        let ci = wilson(*c, total, CONFIDENCE);
        meta.push((
            o.clone(),
            format!(
                "{c} ({:.1}% [{:.1}, {:.1}])",
                100.0 * *c as f64 / total.max(1) as f64,
                100.0 * ci.lo,
                100.0 * ci.hi
            ),
        ));
    }
    Ok(ReportInput {
        title: m.resolved.name.clone(),
        meta,
        varied: grid.varied.iter().map(|&i| PARAMS[i].name.to_string()).collect(),
        cells,
        effects,
        epochs_converged,
        curves,
        pairs,
    })
}

fn scan(runs: &Path) -> Result<LazyFrame> {
    let p = runs.to_str().context("non-UTF-8 path")?;
    Ok(LazyFrame::scan_parquet(PlRefPath::new(p), ScanArgsParquet::default())?)
}

/// Epochs to convergence of the converged runs, per layout (in first-seen order).
fn epochs_by_layout(runs: &Path) -> Result<Vec<(String, Vec<u32>)>> {
    let df = scan(runs)?
        .filter(col("outcome").eq(lit("converged")))
        .select([col("layout"), col("epochs")])
        .collect()?;
    let lay = df.column("layout")?.str()?.clone();
    let ep = df.column("epochs")?.u32()?.clone();
    let mut out: Vec<(String, Vec<u32>)> = Vec::new();
    for (l, e) in lay.iter().zip(ep.iter()) {
        let (Some(l), Some(e)) = (l, e) else { continue };
        match out.iter_mut().find(|x| x.0 == l) {
            Some(x) => x.1.push(e),
            None => out.push((l.to_string(), vec![e])),
        }
    }
    Ok(out)
}

/// A few converged and failed runs per layout, replayed for their loss curves.
fn replay_curves(grid: &Grid, runs: &Path) -> Result<Vec<(String, Vec<Curve>)>> {
    let df = scan(runs)?
        .select([col("run_id"), col("cell_id"), col("replicate"), col("layout"), col("outcome")])
        .collect()?;
    let (ids, cells, reps, lay, out) = (
        df.column("run_id")?.str()?.clone(),
        df.column("cell_id")?.str()?.clone(),
        df.column("replicate")?.u32()?.clone(),
        df.column("layout")?.str()?.clone(),
        df.column("outcome")?.str()?.clone(),
    );
    let mut picked: Vec<(String, Vec<(String, String, u32)>, usize, usize)> = Vec::new(); // layout, runs, n_conv, n_fail
    for i in 0..df.height() {
        let (Some(l), Some(o), Some(id), Some(c), Some(r)) = (lay.get(i), out.get(i), ids.get(i), cells.get(i), reps.get(i)) else {
            continue;
        };
        let idx = match picked.iter().position(|p| p.0 == l) {
            Some(x) => x,
            None => {
                picked.push((l.to_string(), Vec::new(), 0, 0));
                picked.len() - 1
            }
        };
        let p = &mut picked[idx];
        let conv = o == Outcome::Converged.name();
        if conv && p.2 < CURVES_PER_KIND {
            p.2 += 1;
            p.1.push((id.to_string(), c.to_string(), r));
        } else if !conv && p.3 < CURVES_PER_KIND {
            p.3 += 1;
            p.1.push((id.to_string(), c.to_string(), r));
        }
    }
    let mut curves = Vec::new();
    for (layout, list, _, _) in picked {
        let mut v = Vec::new();
        for (id, cell_id, r) in list {
            let Some(cell) = grid.cell_by_id(&cell_id) else { continue };
            let (res, tr) = cell.trainer.run_trajectory(grid.seed(r));
            v.push(Curve {
                run_id: id,
                outcome: res.outcome.name().into(),
                losses: tr.losses,
            });
        }
        curves.push((layout, v));
    }
    Ok(curves)
}

/// `initgrid report DIR [--markdown FILE]`.
pub fn report_cmd(a: &ReportArgs) -> Result<()> {
    let m = Manifest::load(&a.dir.join("manifest.json"))?;
    let cfg = m.config()?;
    let grid = Grid::build(&cfg)?;
    let stats = aggregate_cells(&grid, &a.dir.join("runs.parquet"))?;
    let eff = effects(&grid, &stats);
    write_report(&a.dir, &cfg, &grid, &stats, &eff, &m)?;
    eprintln!("wrote {}", a.dir.join("report.html").display());
    if let Some(md) = &a.markdown {
        let text = crate::findings::markdown(&a.dir, &grid, &stats, &m)?;
        crate::sink::write_bytes_atomic(md, text.as_bytes())?;
        eprintln!("wrote {}", md.display());
    }
    Ok(())
}
