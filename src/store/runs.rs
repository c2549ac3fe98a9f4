//! The runs table: its schema, written AND read here only.
//!
//! Writers build a frame from [`RunRow`]s ([`runs_frame`]); every reader (resume and grown-grid
//! reuse, the outcome matrix, findings, replay) goes through [`RunsView`], which checks the
//! columns' types and refuses a null or unknown value with the file and row — a damaged table is
//! an error, never a silent default.

use std::path::Path;

use anyhow::{Context, Result, bail};
use polars::prelude::*;

use crate::core::{DeadCause, Mechanism, Outcome, RunResult};
use crate::grid::Grid;
use crate::params::{PARAMS, Value};

/// One finished run, as the runner hands it to the sink.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunRow {
    pub cell: usize,
    pub replicate: u32,
    pub seed: u64,
    pub result: RunResult,
    pub wall_us: u64,
}

/// The runs table of `rows` (column order documented in the README).
pub(crate) fn runs_frame(grid: &Grid, rows: &[RunRow]) -> PolarsResult<DataFrame> {
    let n = rows.len();
    let mut cols: Vec<Column> = Vec::with_capacity(40);
    cols.push(Column::new(
        "run_id".into(),
        rows.iter().map(|r| grid.cells[r.cell].run_id(r.replicate)).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "cell_id".into(),
        rows.iter().map(|r| grid.cells[r.cell].id.clone()).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "replicate".into(),
        rows.iter().map(|r| r.replicate).collect::<Vec<_>>(),
    ));
    cols.push(Column::new("seed".into(), rows.iter().map(|r| r.seed).collect::<Vec<_>>()));
    for (i, p) in PARAMS.iter().enumerate() {
        cols.push(param_column(p.name, rows.iter().map(|r| &grid.cells[r.cell].values[i])));
    }
    cols.push(Column::new(
        "outcome".into(),
        rows.iter().map(|r| r.result.outcome.name()).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "epochs".into(),
        rows.iter().map(|r| r.result.epochs).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "dead_cause".into(),
        rows.iter().map(|r| r.result.dead_cause.map(|c| c.name())).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "mechanism".into(),
        rows.iter().map(|r| Mechanism::of(&r.result).map(|m| m.name())).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "final_loss".into(),
        rows.iter().map(|r| r.result.final_loss).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "min_loss".into(),
        rows.iter().map(|r| r.result.min_loss).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "accuracy".into(),
        rows.iter().map(|r| r.result.accuracy).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "born_dead".into(),
        rows.iter().map(|r| r.result.born_dead).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "dead_units_init".into(),
        rows.iter().map(|r| r.result.dead_units_init).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "dead_units_final".into(),
        rows.iter().map(|r| r.result.dead_units_final).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "live_units_init".into(),
        rows.iter().map(|r| r.result.live_units_init).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "live_units_final".into(),
        rows.iter().map(|r| r.result.live_units_final).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "initial_loss".into(),
        rows.iter().map(|r| r.result.initial_loss).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "loss_at_90pct".into(),
        rows.iter().map(|r| r.result.loss_at_90pct).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "max_abs_param".into(),
        rows.iter().map(|r| r.result.max_abs_param).collect::<Vec<_>>(),
    ));
    cols.push(Column::new("wall_us".into(), rows.iter().map(|r| r.wall_us).collect::<Vec<_>>()));
    DataFrame::new(n, cols)
}

/// A column of parameter values with its natural type.
pub(crate) fn param_column<'a>(name: &str, vals: impl Iterator<Item = &'a Value>) -> Column {
    let vals: Vec<&Value> = vals.collect();
    match vals.first() {
        Some(Value::Bool(_)) => Column::new(name.into(), vals.iter().map(|v| matches!(v, Value::Bool(true))).collect::<Vec<_>>()),
        Some(Value::U32(_)) => Column::new(
            name.into(),
            vals.iter().map(|v| if let Value::U32(u) = v { *u } else { 0 }).collect::<Vec<_>>(),
        ),
        Some(Value::F64(_)) => Column::new(
            name.into(),
            vals.iter()
                .map(|v| if let Value::F64(x) = v { *x } else { f64::NAN })
                .collect::<Vec<_>>(),
        ),
        _ => Column::new(name.into(), vals.iter().map(|v| v.to_string()).collect::<Vec<_>>()),
    }
}

/// A finished run as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredRun {
    pub cell_id: String,
    pub replicate: u32,
    pub result: RunResult,
    pub wall_us: u64,
}

/// Typed, checked access to the columns of a runs table (a chunk, a shard part or
/// runs.parquet). Only the columns a reader needs must be present: [`RunsView::keys`] needs
/// `cell_id, replicate, outcome, epochs`; [`RunsView::run`] needs every result column.
pub(crate) struct RunsView<'a> {
    df: &'a DataFrame,
    origin: &'a Path,
}

impl<'a> RunsView<'a> {
    pub(crate) fn new(df: &'a DataFrame, origin: &'a Path) -> RunsView<'a> {
        RunsView { df, origin }
    }

    pub(crate) fn len(&self) -> usize {
        self.df.height()
    }

    fn col(&self, name: &str) -> Result<&'a Column> {
        anyhow::Context::with_context(self.df.column(name), || {
            format!(
                "{}: no column `{name}` — not a runs table of this initgrid version",
                self.origin.display()
            )
        })
    }

    fn typed<T>(&self, name: &str, f: impl FnOnce(&'a Column) -> PolarsResult<T>) -> Result<T> {
        anyhow::Context::with_context(f(self.col(name)?), || {
            format!("{}: column `{name}` has the wrong type", self.origin.display())
        })
    }

    fn null(&self, name: &str, row: usize) -> anyhow::Error {
        anyhow::anyhow!(
            "{}: row {row}: `{name}` is null or invalid — the table is damaged",
            self.origin.display()
        )
    }

    /// `(cell_id, replicate, outcome, epochs)` of every row, in order.
    pub(crate) fn keys(&self) -> Result<Vec<(&'a str, u32, Outcome, u32)>> {
        let ids = self.typed("cell_id", |c| c.str())?;
        let reps = self.typed("replicate", |c| c.u32())?;
        let outs = self.typed("outcome", |c| c.str())?;
        let eps = self.typed("epochs", |c| c.u32())?;
        let mut v = Vec::with_capacity(self.len());
        for (i, (((id, r), o), e)) in ids.iter().zip(reps.iter()).zip(outs.iter()).zip(eps.iter()).enumerate() {
            let id = id.ok_or_else(|| self.null("cell_id", i))?;
            let r = r.ok_or_else(|| self.null("replicate", i))?;
            let o = o.and_then(|o| o.parse::<Outcome>().ok()).ok_or_else(|| self.null("outcome", i))?;
            let e = e.ok_or_else(|| self.null("epochs", i))?;
            v.push((id, r, o, e));
        }
        Ok(v)
    }

    /// Every row as a [`StoredRun`].
    pub(crate) fn runs(&self) -> Result<Vec<StoredRun>> {
        let keys = self.keys()?;
        let f = |n: &str| self.typed(n, |c| c.f64());
        let (fl, ml, acc, mx) = (f("final_loss")?, f("min_loss")?, f("accuracy")?, f("max_abs_param")?);
        let (il, l90) = (f("initial_loss")?, f("loss_at_90pct")?);
        let bd = self.typed("born_dead", |c| c.bool())?;
        let di = self.typed("dead_units_init", |c| c.u32())?;
        let dfi = self.typed("dead_units_final", |c| c.u32())?;
        let li = self.typed("live_units_init", |c| c.u32())?;
        let lf = self.typed("live_units_final", |c| c.u32())?;
        let causes = self.typed("dead_cause", |c| c.str())?;
        let wall = self.typed("wall_us", |c| c.u64())?;
        let mut out = Vec::with_capacity(keys.len());
        for (i, (id, r, outcome, epochs)) in keys.into_iter().enumerate() {
            // Losses may legitimately be NaN (a diverged run), but never null.
            let x = |c: &ChunkedArray<Float64Type>, n: &str| c.get(i).ok_or_else(|| self.null(n, i));
            // dead_cause is null exactly for runs that are not dead.
            let dead_cause = match (outcome, causes.get(i)) {
                (Outcome::Dead, Some(c)) => Some(c.parse::<DeadCause>().map_err(|_| self.null("dead_cause", i))?),
                (Outcome::Dead, None) | (_, Some(_)) => return Err(self.null("dead_cause", i)),
                (_, None) => None,
            };
            let result = RunResult {
                outcome,
                epochs,
                dead_cause,
                final_loss: x(fl, "final_loss")?,
                min_loss: x(ml, "min_loss")?,
                accuracy: x(acc, "accuracy")?,
                born_dead: bd.get(i).ok_or_else(|| self.null("born_dead", i))?,
                dead_units_init: di.get(i).ok_or_else(|| self.null("dead_units_init", i))?,
                dead_units_final: dfi.get(i).ok_or_else(|| self.null("dead_units_final", i))?,
                live_units_init: li.get(i).ok_or_else(|| self.null("live_units_init", i))?,
                live_units_final: lf.get(i).ok_or_else(|| self.null("live_units_final", i))?,
                initial_loss: x(il, "initial_loss")?,
                loss_at_90pct: x(l90, "loss_at_90pct")?,
                max_abs_param: x(mx, "max_abs_param")?,
            };
            out.push(StoredRun {
                cell_id: id.to_string(),
                replicate: r,
                result,
                wall_us: wall.get(i).ok_or_else(|| self.null("wall_us", i))?,
            });
        }
        Ok(out)
    }

    /// `mechanism` of every row (`None` exactly for converged runs).
    pub(crate) fn mechanisms(&self) -> Result<Vec<Option<Mechanism>>> {
        let keys = self.keys()?;
        let c = self.typed("mechanism", |c| c.str())?;
        keys.iter()
            .zip(c.iter())
            .enumerate()
            .map(|(i, (k, m))| match (k.2, m) {
                (Outcome::Converged, None) => Ok(None),
                (Outcome::Converged, Some(_)) | (_, None) => Err(self.null("mechanism", i)),
                (_, Some(m)) => m.parse::<Mechanism>().map(Some).map_err(|_| self.null("mechanism", i)),
            })
            .collect()
    }
}

/// The columns [`RunsView::keys`] and [`RunsView::mechanisms`] read.
const KEY_COLUMNS: [&str; 5] = ["cell_id", "replicate", "outcome", "epochs", "mechanism"];

/// The columns [`RunsView::runs`] reads (the keys and every result column).
pub(crate) const RESULT_COLUMNS: [&str; 17] = [
    "cell_id",
    "replicate",
    "outcome",
    "epochs",
    "dead_cause",
    "final_loss",
    "min_loss",
    "accuracy",
    "born_dead",
    "dead_units_init",
    "dead_units_final",
    "live_units_init",
    "live_units_final",
    "initial_loss",
    "loss_at_90pct",
    "max_abs_param",
    "wall_us",
];

/// Reads the columns `cols` of the rows `slice` (offset, length; all rows if `None`) of a
/// Parquet file: a projection, the other columns are not decoded.
pub(crate) fn read_columns(path: &Path, cols: &[&str], slice: Option<(usize, usize)>) -> Result<DataFrame> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    ParquetReader::new(f)
        .with_columns(Some(cols.iter().map(|c| c.to_string()).collect()))
        .with_slice(slice)
        .finish()
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot read {}", path.display()))
}

/// The columns `cell_id, replicate, outcome, epochs, mechanism` of a runs table file (a projection: the
/// other columns are not read).
pub(crate) fn read_keys_frame(path: &Path) -> Result<DataFrame> {
    read_columns(path, &KEY_COLUMNS, None)
}

/// Every run of a runs table file.
pub(crate) fn read_runs(path: &Path) -> Result<Vec<StoredRun>> {
    let df = super::atomic::read_parquet(path)?;
    RunsView::new(&df, path).runs()
}

/// The stored rows of the runs `run_ids` of a runs table file, in file order (a run stored
/// twice appears twice; one absent does not appear). Reads the `run_id` column, then only the
/// result columns of the matching rows.
pub(crate) fn find_runs(path: &Path, run_ids: &[String]) -> Result<Vec<StoredRun>> {
    let want: std::collections::HashSet<&str> = run_ids.iter().map(String::as_str).collect();
    let ids = read_columns(path, &["run_id"], None)?;
    let ids = anyhow::Context::with_context(ids.column("run_id").and_then(|c| c.str()), || {
        format!("{}: column `run_id` is missing or of the wrong type", path.display())
    })?;
    let rows: Vec<usize> = ids
        .iter()
        .enumerate()
        .filter(|(_, id)| id.is_some_and(|id| want.contains(id)))
        .map(|(i, _)| i)
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let df = read_columns(path, &RESULT_COLUMNS, Some((row, 1)))?;
        out.extend(RunsView::new(&df, path).runs()?);
    }
    Ok(out)
}

/// The stored run `run_id` of a runs table file.
pub(crate) fn find_run(path: &Path, run_id: &str) -> Result<StoredRun> {
    let mut runs = find_runs(path, &[run_id.to_string()])?;
    if runs.len() != 1 {
        bail!(crate::error::Error::Usage(format!(
            "--run {run_id}: {} rows in {} have this run_id (expected 1)",
            runs.len(),
            path.display()
        )));
    }
    Ok(runs.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(epochs: Vec<Option<u32>>, outcome: Vec<Option<&str>>) -> DataFrame {
        let n = epochs.len();
        DataFrame::new(
            n,
            vec![
                Column::new("cell_id".into(), vec!["0123456789abcdef"; n]),
                Column::new("replicate".into(), (0..n as u32).collect::<Vec<_>>()),
                Column::new("outcome".into(), outcome),
                Column::new("epochs".into(), epochs),
            ],
        )
        .unwrap()
    }

    #[test]
    fn a_null_or_unknown_value_is_an_error_naming_file_and_row() {
        let p = Path::new("DIR/runs.parquet");
        let ok = frame(vec![Some(3), Some(7)], vec![Some("converged"), Some("dead")]);
        let k = RunsView::new(&ok, p).keys().unwrap();
        assert_eq!(k[1], ("0123456789abcdef", 1, Outcome::Dead, 7));
        let null_epochs = frame(vec![Some(3), None], vec![Some("converged"), Some("dead")]);
        let e = RunsView::new(&null_epochs, p).keys().unwrap_err().to_string();
        assert!(e.contains("DIR/runs.parquet: row 1: `epochs` is null"), "{e}");
        let bad_outcome = frame(vec![Some(3), Some(4)], vec![Some("exploded"), Some("dead")]);
        let e = RunsView::new(&bad_outcome, p).keys().unwrap_err().to_string();
        assert!(e.contains("row 0: `outcome`"), "{e}");
        // A missing result column is named too.
        let e = RunsView::new(&ok, p).runs().unwrap_err().to_string();
        assert!(e.contains("no column `final_loss`"), "{e}");
    }
}

/// Timing of the readers on a large runs table (not run by default):
/// `INITGRID_RUNS=DIR/runs.parquet cargo test read_timing -- --ignored --nocapture`.
#[cfg(test)]
mod timing {
    use super::*;

    #[test]
    #[ignore = "timing only: needs INITGRID_RUNS=path/to/a/large/runs.parquet"]
    fn read_timing() {
        let Ok(p) = std::env::var("INITGRID_RUNS") else { return };
        let p = Path::new(&p);
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let df = read_keys_frame(p).unwrap();
            eprintln!("read_keys_frame: {} rows in {:.3}s", df.height(), t.elapsed().as_secs_f64());
        }
        let ids: Vec<String> = read_keys_frame(p)
            .unwrap()
            .column("cell_id")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .step_by(75_011)
            .enumerate()
            .map(|(i, c)| crate::grid::run_id(c.unwrap(), (i * 7) as u32 % 1000))
            .collect();
        let t = std::time::Instant::now();
        let one = find_run(p, &ids[3]).unwrap();
        eprintln!("find_run: {:.3}s ({}-{})", t.elapsed().as_secs_f64(), one.cell_id, one.replicate);
        let t = std::time::Instant::now();
        let many = find_runs(p, &ids).unwrap();
        eprintln!(
            "find_runs ({} ids): {} rows in {:.3}s",
            ids.len(),
            many.len(),
            t.elapsed().as_secs_f64()
        );
    }
}
