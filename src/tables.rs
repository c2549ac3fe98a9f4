//! The aggregated tables: `cells.parquet` (one row per cell, rates with Wilson intervals) and
//! `effects.parquet` (each factor level's marginal outcome rates), computed with polars from
//! `runs.parquet`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use polars::prelude::*;

use crate::config::PARAMS;
use crate::core::Outcome;
use crate::grid::Grid;
use crate::sink::param_column;
use crate::stats::{CONFIDENCE, wilson};

/// Aggregated outcome counts of one cell.
#[derive(Debug, Clone, PartialEq)]
pub struct CellStats {
    pub cell: usize,
    pub n: u64,
    /// converged, diverged, dead, stalled
    pub counts: [u64; 4],
    pub epochs_median: Option<f64>,
    pub epochs_p90: Option<f64>,
}

/// Aggregates `runs.parquet` per cell with polars (lazy scan + group_by), in canonical order.
pub fn aggregate_cells(grid: &Grid, runs: &Path) -> Result<Vec<CellStats>> {
    let path = runs.to_str().context("non-UTF-8 path")?;
    let conv = col("outcome").eq(lit("converged"));
    let count = |o: &str| col("outcome").eq(lit(o)).cast(DataType::UInt64).sum().alias(o);
    let df = LazyFrame::scan_parquet(PlRefPath::new(path), ScanArgsParquet::default())?
        .group_by([col("cell_id")])
        .agg([
            len().cast(DataType::UInt64).alias("n"),
            count("converged"),
            count("diverged"),
            count("dead"),
            count("stalled"),
            col("epochs")
                .cast(DataType::Float64)
                .filter(conv.clone())
                .median()
                .alias("epochs_median"),
            col("epochs")
                .cast(DataType::Float64)
                .filter(conv)
                .quantile(lit(0.9), QuantileMethod::Linear)
                .alias("epochs_p90"),
        ])
        .collect()
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot aggregate {}", runs.display()))?;
    let ids = df.column("cell_id")?.str()?.clone();
    let get_u = |name: &str| -> Result<Vec<u64>> { Ok(df.column(name)?.u64()?.iter().map(|v| v.unwrap_or(0)).collect()) };
    let get_f = |name: &str| -> Result<Vec<Option<f64>>> { Ok(df.column(name)?.f64()?.iter().collect()) };
    let (n, c, d, de, s) = (
        get_u("n")?,
        get_u("converged")?,
        get_u("diverged")?,
        get_u("dead")?,
        get_u("stalled")?,
    );
    let (med, p90) = (get_f("epochs_median")?, get_f("epochs_p90")?);
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (i, id) in ids.iter().enumerate() {
        by_id.insert(id.unwrap_or(""), i);
    }
    let mut out = Vec::with_capacity(grid.cells.len());
    for cell in &grid.cells {
        let Some(&i) = by_id.get(cell.id.as_str()) else { continue };
        out.push(CellStats {
            cell: cell.index,
            n: n[i],
            counts: [c[i], d[i], de[i], s[i]],
            epochs_median: med[i],
            epochs_p90: p90[i],
        });
    }
    Ok(out)
}

/// `cells.parquet`: parameters, cell_id, n, counts, rates with Wilson 95 % intervals, epochs.
pub fn cells_frame(grid: &Grid, stats: &[CellStats]) -> PolarsResult<DataFrame> {
    let mut cols: Vec<Column> = Vec::new();
    for (i, p) in PARAMS.iter().enumerate() {
        cols.push(param_column(p.name, stats.iter().map(|s| &grid.cells[s.cell].values[i])));
    }
    cols.push(Column::new(
        "cell_id".into(),
        stats.iter().map(|s| grid.cells[s.cell].id.clone()).collect::<Vec<_>>(),
    ));
    cols.push(Column::new("n".into(), stats.iter().map(|s| s.n).collect::<Vec<_>>()));
    for (k, o) in Outcome::ALL.iter().enumerate() {
        cols.push(Column::new(o.name().into(), stats.iter().map(|s| s.counts[k]).collect::<Vec<_>>()));
    }
    for (k, o) in Outcome::ALL.iter().enumerate() {
        let ci: Vec<_> = stats.iter().map(|s| wilson(s.counts[k], s.n, CONFIDENCE)).collect();
        cols.push(Column::new(
            format!("p_{}", o.name()).into(),
            stats.iter().map(|s| s.counts[k] as f64 / s.n as f64).collect::<Vec<_>>(),
        ));
        cols.push(Column::new(
            format!("p_{}_lo", o.name()).into(),
            ci.iter().map(|c| c.lo).collect::<Vec<_>>(),
        ));
        cols.push(Column::new(
            format!("p_{}_hi", o.name()).into(),
            ci.iter().map(|c| c.hi).collect::<Vec<_>>(),
        ));
    }
    cols.push(Column::new(
        "epochs_median".into(),
        stats.iter().map(|s| s.epochs_median).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "epochs_p90".into(),
        stats.iter().map(|s| s.epochs_p90).collect::<Vec<_>>(),
    ));
    DataFrame::new(stats.len(), cols)
}

/// One factor level's marginal rate of one outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    pub factor: String,
    pub level: String,
    pub outcome: Outcome,
    pub k: u64,
    pub n: u64,
    pub p: f64,
    pub lo: f64,
    pub hi: f64,
}

/// For each varied factor and level, each outcome's rate pooled over the other factors.
pub fn effects(grid: &Grid, stats: &[CellStats]) -> Vec<Effect> {
    let mut out = Vec::new();
    for &pi in &grid.varied {
        let mut levels: Vec<String> = Vec::new();
        let mut acc: Vec<(u64, [u64; 4])> = Vec::new();
        for s in stats {
            let lv = grid.cells[s.cell].values[pi].to_string();
            let idx = match levels.iter().position(|l| *l == lv) {
                Some(i) => i,
                None => {
                    levels.push(lv);
                    acc.push((0, [0; 4]));
                    levels.len() - 1
                }
            };
            acc[idx].0 += s.n;
            for k in 0..4 {
                acc[idx].1[k] += s.counts[k];
            }
        }
        for (lv, (n, counts)) in levels.iter().zip(&acc) {
            for (k, o) in Outcome::ALL.iter().enumerate() {
                let ci = wilson(counts[k], *n, CONFIDENCE);
                out.push(Effect {
                    factor: PARAMS[pi].name.into(),
                    level: lv.clone(),
                    outcome: *o,
                    k: counts[k],
                    n: *n,
                    p: counts[k] as f64 / *n as f64,
                    lo: ci.lo,
                    hi: ci.hi,
                });
            }
        }
    }
    out
}

pub fn effects_frame(e: &[Effect]) -> PolarsResult<DataFrame> {
    DataFrame::new(
        e.len(),
        vec![
            Column::new("factor".into(), e.iter().map(|x| x.factor.clone()).collect::<Vec<_>>()),
            Column::new("level".into(), e.iter().map(|x| x.level.clone()).collect::<Vec<_>>()),
            Column::new("outcome".into(), e.iter().map(|x| x.outcome.name()).collect::<Vec<_>>()),
            Column::new("k".into(), e.iter().map(|x| x.k).collect::<Vec<_>>()),
            Column::new("n".into(), e.iter().map(|x| x.n).collect::<Vec<_>>()),
            Column::new("p".into(), e.iter().map(|x| x.p).collect::<Vec<_>>()),
            Column::new("lo".into(), e.iter().map(|x| x.lo).collect::<Vec<_>>()),
            Column::new("hi".into(), e.iter().map(|x| x.hi).collect::<Vec<_>>()),
        ],
    )
}
