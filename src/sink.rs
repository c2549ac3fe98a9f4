//! Parquet output: atomic chunk files as runs finish, then the final tables.
//!
//! Every file is written to a temporary name, fsynced and renamed, so a crash, `kill -9` or a
//! full disk leaves either the old state or the complete new file — never a torn one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use polars::prelude::*;

use crate::config::{PARAMS, Value};
use crate::core::RunResult;
use crate::grid::Grid;

/// One finished run, as the runner hands it to the sink.
#[derive(Debug, Clone, Copy)]
pub struct RunRow {
    pub cell: usize,
    pub replicate: u32,
    pub seed: u64,
    pub result: RunResult,
    pub wall_us: u64,
}

/// The runs table of `rows` (column order documented in the README).
pub fn runs_frame(grid: &Grid, rows: &[RunRow]) -> PolarsResult<DataFrame> {
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
        "max_abs_param".into(),
        rows.iter().map(|r| r.result.max_abs_param).collect::<Vec<_>>(),
    ));
    cols.push(Column::new("wall_us".into(), rows.iter().map(|r| r.wall_us).collect::<Vec<_>>()));
    DataFrame::new(n, cols)
}

/// A column of parameter values with its natural type.
pub fn param_column<'a>(name: &str, vals: impl Iterator<Item = &'a Value>) -> Column {
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

/// Writes `df` to `path` atomically: temp file, fsync, rename, fsync of the directory.
pub fn write_parquet_atomic(path: &Path, df: &mut DataFrame) -> Result<()> {
    let tmp = tmp_path(path);
    let f = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let res = ParquetWriter::new(&f)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(df)
        .map_err(anyhow::Error::from)
        .and_then(|_| f.sync_all().map_err(anyhow::Error::from));
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    commit(&tmp, path)
}

/// Writes bytes atomically (manifest, report).
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    let res = (|| -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    commit(&tmp, path)
}

fn tmp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn commit(tmp: &Path, path: &Path) -> Result<()> {
    fs::rename(tmp, path).with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

pub fn read_parquet(path: &Path) -> Result<DataFrame> {
    // Read through a buffer rather than a memory map: thousands of chunk files are read in a
    // row by the final assembly.
    let bytes = fs::read(path).with_context(|| format!("cannot open {}", path.display()))?;
    ParquetReader::new(std::io::Cursor::new(bytes))
        .finish()
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot read {} as Parquet", path.display()))
}

/// Concatenates chunk files, in the order given, into one Parquet file, streaming: at most
/// ~16k rows are held in memory at once. `each` sees every chunk as it passes.
pub fn concat_parquet(chunks: &[PathBuf], out: &Path, each: impl FnMut(&DataFrame) -> Result<()>) -> Result<u64> {
    let tmp = tmp_path(out);
    let f = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let res = concat_into(chunks, &f, each).and_then(|n| {
        f.sync_all()?;
        Ok(n)
    });
    drop(f);
    match res {
        Ok(n) => {
            commit(&tmp, out)?;
            Ok(n)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e).with_context(|| format!("cannot write {}", out.display()))
        }
    }
}

fn concat_into(chunks: &[PathBuf], f: &File, mut each: impl FnMut(&DataFrame) -> Result<()>) -> Result<u64> {
    let mut total = 0u64;
    let mut writer: Option<polars::io::parquet::write::BatchedWriter<&File>> = None;
    let mut pending: Option<DataFrame> = None;
    fn flush<'a>(w: &mut Option<polars::io::parquet::write::BatchedWriter<&'a File>>, f: &'a File, df: &mut DataFrame) -> Result<()> {
        df.rechunk_mut_par();
        if w.is_none() {
            *w = Some(
                ParquetWriter::new(f)
                    .with_compression(ParquetCompression::Zstd(None))
                    .with_row_group_size(Some(16_384))
                    .batched(df.schema())?,
            );
        }
        w.as_mut().expect("set").write_batch(df)?;
        Ok(())
    }
    for c in chunks {
        let df = read_parquet(c)?;
        each(&df)?;
        total += df.height() as u64;
        match pending.as_mut() {
            None => pending = Some(df),
            Some(p) => {
                p.vstack_mut(&df)
                    .map_err(anyhow::Error::from)
                    .with_context(|| format!("{} does not match the other chunks' columns", c.display()))?;
            }
        }
        if pending.as_ref().is_some_and(|p| p.height() >= 16_384) {
            let mut p = pending.take().expect("some");
            flush(&mut writer, f, &mut p)?;
        }
    }
    if let Some(mut p) = pending.take() {
        flush(&mut writer, f, &mut p)?;
    }
    match writer {
        Some(w) => {
            w.finish()?;
        }
        None => anyhow::bail!("no runs to write"),
    }
    Ok(total)
}

/// Adds the rows of a runs table (a chunk) to a reuse map keyed by (cell_id, replicate).
pub fn read_run_rows(path: &Path, map: &mut crate::runner::Reuse) -> Result<()> {
    use crate::core::{Outcome, RunResult};
    let df = read_parquet(path)?;
    let s = |n: &str| df.column(n).map_err(anyhow::Error::from);
    let (ids, reps, outs) = (s("cell_id")?.str()?, s("replicate")?.u32()?, s("outcome")?.str()?);
    let (ep, fl, ml, acc) = (
        s("epochs")?.u32()?,
        s("final_loss")?.f64()?,
        s("min_loss")?.f64()?,
        s("accuracy")?.f64()?,
    );
    let (bd, di, df_, mx, wall) = (
        s("born_dead")?.bool()?,
        s("dead_units_init")?.u32()?,
        s("dead_units_final")?.u32()?,
        s("max_abs_param")?.f64()?,
        s("wall_us")?.u64()?,
    );
    for i in 0..df.height() {
        let (Some(id), Some(r), Some(o)) = (ids.get(i), reps.get(i), outs.get(i)) else {
            continue;
        };
        let Ok(outcome) = o.parse::<Outcome>() else { continue };
        let result = RunResult {
            outcome,
            epochs: ep.get(i).unwrap_or(0),
            final_loss: fl.get(i).unwrap_or(f64::NAN),
            min_loss: ml.get(i).unwrap_or(f64::NAN),
            accuracy: acc.get(i).unwrap_or(f64::NAN),
            born_dead: bd.get(i).unwrap_or(false),
            dead_units_init: di.get(i).unwrap_or(0),
            dead_units_final: df_.get(i).unwrap_or(0),
            // core-mech: these columns are not in the runs schema yet (the lead wires them).
            dead_cause: None,
            live_units_init: 0,
            live_units_final: 0,
            initial_loss: f64::NAN,
            loss_at_90pct: f64::NAN,
            max_abs_param: mx.get(i).unwrap_or(f64::NAN),
        };
        map.insert((id.to_string(), r), (result, wall.get(i).unwrap_or(0)));
    }
    Ok(())
}
