//! Atomic file writes and Parquet reading/concatenation.
//!
//! Every file is written to a temporary name, fsynced and renamed, so a crash, `kill -9` or a
//! full disk leaves either the old state or the complete new file — never a torn one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use polars::prelude::*;
use rayon::prelude::*;

/// How a Parquet file is encoded: final tables are compressed for keeps, chunk files for speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Tables users keep (runs, cells, effects, curves, comparisons): zstd, with column
    /// statistics (min/max/null counts, which query engines use to skip row groups).
    Table,
    /// Chunk files, written by the runner's one writer thread while both cores train and
    /// removed once runs.parquet holds their rows: LZ4 and no statistics (measured on 1 000-row
    /// chunks of the article grid: 3.3 ms of CPU per chunk against 4.4 ms with zstd and
    /// statistics — polars builds a fresh zstd context for every page — for files 59 KB
    /// instead of 51), encoded on the calling thread (no hand-off to polars' pool for 1 000 rows).
    Chunk,
}

/// Bytes buffered per write call: polars' writer emits every page and thrift field header as
/// its own small write (`strace`: `configs/quick.toml`, two chunks and the final tables, made
/// 27 042 `write` calls unbuffered, 11 buffered).
const WRITE_BUFFER: usize = 1 << 20;

fn parquet_writer<W: std::io::Write>(w: W, enc: Encoding) -> ParquetWriter<W> {
    let pw = ParquetWriter::new(w);
    match enc {
        Encoding::Table => pw.with_compression(ParquetCompression::Zstd(None)),
        Encoding::Chunk => pw
            .with_compression(ParquetCompression::Lz4Raw)
            .with_statistics(StatisticsOptions::empty())
            .set_parallel(false),
    }
}

/// Writes `df` to `path` atomically: temp file, fsync, rename, fsync of the directory.
pub(crate) fn write_parquet_atomic(path: &Path, df: &mut DataFrame, enc: Encoding) -> Result<()> {
    let tmp = tmp_path(path);
    let f = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let res = (|| -> Result<()> {
        let mut buf = std::io::BufWriter::with_capacity(WRITE_BUFFER, &f);
        parquet_writer(&mut buf, enc).finish(df)?;
        buf.flush()?;
        drop(buf);
        f.sync_all()?;
        Ok(())
    })();
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    commit(&tmp, path)
}

/// Writes bytes atomically (manifest, report).
pub(crate) fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
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

/// Runs `f`, a reader of a possibly damaged file: a panic inside the Parquet decoder (it trusts
/// some of what it reads) becomes an error naming the file instead of ending the process.
pub(crate) fn guard_damaged<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(anyhow::anyhow!(
                "cannot read {} as Parquet: the decoder failed ({msg})",
                path.display()
            ))
        }
    }
}

pub(crate) fn read_parquet(path: &Path) -> Result<DataFrame> {
    // Read through a buffer rather than a memory map: thousands of chunk files are read in a
    // row by the final assembly.
    let bytes = fs::read(path).with_context(|| format!("cannot open {}", path.display()))?;
    ParquetReader::new(std::io::Cursor::new(bytes))
        .finish()
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot read {} as Parquet", path.display()))
}

/// Concatenates chunk files, in the order given, into one Parquet file, streaming: at most
/// ~16k rows waiting to be written plus the chunks being read in parallel (up to
/// [`READ_AHEAD_MAX`]) are held in memory at once. `each` sees every chunk (and its path) as it passes.
pub(crate) fn concat_parquet(chunks: &[PathBuf], out: &Path, each: impl FnMut(&DataFrame, &Path) -> Result<()>) -> Result<u64> {
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

/// Chunks read ahead in parallel by [`concat_parquet`]: 4 per thread, at most this many (a
/// chunk holds up to 1 024 runs), so that memory stays bounded on many-core machines.
const READ_AHEAD_MAX: usize = 32;

fn concat_into(chunks: &[PathBuf], f: &File, mut each: impl FnMut(&DataFrame, &Path) -> Result<()>) -> Result<u64> {
    type Buf<'f> = std::io::BufWriter<&'f File>;
    type Writer<'a, 'f> = polars::io::parquet::write::BatchedWriter<&'a mut Buf<'f>>;
    let mut total = 0u64;
    let mut buf: Buf<'_> = std::io::BufWriter::with_capacity(WRITE_BUFFER, f);
    let mut writer: Option<Writer<'_, '_>> = None;
    let mut pending: Option<DataFrame> = None;
    fn flush<'a, 'f>(w: &mut Option<Writer<'a, 'f>>, buf: &mut Option<&'a mut Buf<'f>>, df: &mut DataFrame) -> Result<()> {
        df.rechunk_mut_par();
        if w.is_none() {
            let out = buf.take().expect("the buffer until the writer exists");
            *w = Some(
                parquet_writer(out, Encoding::Table)
                    .with_row_group_size(Some(16_384))
                    .batched(df.schema())?,
            );
        }
        w.as_mut().expect("set").write_batch(df)?;
        Ok(())
    }
    let mut out = Some(&mut buf);
    // Chunks are read (and decompressed) in parallel a window at a time, and taken in order.
    let window = (4 * rayon::current_num_threads()).clamp(1, READ_AHEAD_MAX);
    for part in chunks.chunks(window) {
        let frames: Vec<Result<DataFrame>> = part.par_iter().map(|c| read_parquet(c)).collect();
        for (c, df) in part.iter().zip(frames) {
            let df = df?;
            each(&df, c)?;
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
                flush(&mut writer, &mut out, &mut p)?;
            }
        }
    }
    if let Some(mut p) = pending.take() {
        flush(&mut writer, &mut out, &mut p)?;
    }
    match writer {
        Some(w) => {
            w.finish()?;
        }
        None => anyhow::bail!("no runs to write"),
    }
    buf.flush()?;
    Ok(total)
}
