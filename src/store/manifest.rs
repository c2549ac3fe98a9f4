//! `manifest.json` and the resolved config it records: what ran, how, and from what.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::usage;
use crate::params::PARAMS;

/// The config with every default filled in, in a canonical form; its hash identifies the
/// experiment (two runs with the same hash are the same grid and seeds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Resolved {
    pub name: String,
    pub seeds: u32,
    pub base_seed: u64,
    /// Absent (true) in manifests of grids with common random numbers, so their hash is
    /// unchanged by this field's introduction.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub paired_seeds: bool,
    /// `[adaptive]` settings (`seeds` is then max_seeds); absent for a fixed seed count, so the
    /// hashes of such grids are unchanged by this field's introduction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<AdaptiveResolved>,
    pub fixed: BTreeMap<String, String>,
    pub axes: Vec<(String, Vec<String>)>,
    pub excludes: Vec<BTreeMap<String, String>>,
    /// Inline data sets: name → rows `[x…, label]` and classes.
    pub datasets: BTreeMap<String, (Vec<Vec<f64>>, usize)>,
}

/// The `[adaptive]` table as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AdaptiveResolved {
    pub precision: f64,
    pub min_seeds: u32,
    pub outcome: String,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

impl Resolved {
    pub(crate) fn of(cfg: &Config) -> Resolved {
        Resolved {
            name: cfg.name.clone(),
            seeds: cfg.seeds,
            base_seed: cfg.base_seed,
            paired_seeds: cfg.paired_seeds,
            adaptive: cfg.adaptive.as_ref().map(|a| AdaptiveResolved {
                precision: a.precision,
                min_seeds: a.min_seeds,
                outcome: a.outcome.clone(),
            }),
            fixed: cfg
                .fixed
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.as_ref().map(|v| (PARAMS[i].name.to_string(), v.to_string())))
                .collect(),
            axes: cfg
                .axes
                .iter()
                .map(|(i, v)| (PARAMS[*i].name.to_string(), v.iter().map(|x| x.to_string()).collect()))
                .collect(),
            excludes: cfg
                .excludes
                .iter()
                .map(|r| r.iter().map(|(i, v)| (PARAMS[*i].name.to_string(), v.to_string())).collect())
                .collect(),
            datasets: cfg
                .datasets
                .iter()
                .map(|(k, d)| {
                    let rows = (0..d.len())
                        .map(|s| d.x(s).iter().copied().chain(std::iter::once(d.labels[s] as f64)).collect())
                        .collect();
                    (k.clone(), (rows, d.classes))
                })
                .collect(),
        }
    }

    /// SHA-256 of the canonical JSON, 16 hex digits.
    pub(crate) fn hash(&self) -> String {
        let json = serde_json::to_string(self).expect("serialisable");
        Sha256::digest(json.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// Human-readable differences from `old` (what changed), empty when equal.
    pub(crate) fn diff(&self, old: &Resolved) -> Vec<String> {
        let mut d = Vec::new();
        if self.name != old.name {
            d.push(format!("name: {} → {}", old.name, self.name));
        }
        if self.seeds != old.seeds {
            d.push(format!("seeds: {} → {}", old.seeds, self.seeds));
        }
        if self.base_seed != old.base_seed {
            d.push(format!("base_seed: {} → {}", old.base_seed, self.base_seed));
        }
        if self.paired_seeds != old.paired_seeds {
            d.push(format!("paired_seeds: {} → {}", old.paired_seeds, self.paired_seeds));
        }
        if self.adaptive != old.adaptive {
            let show = |a: &Option<AdaptiveResolved>| match a {
                Some(a) => format!("±{} on {} from {} seeds", a.precision, a.outcome, a.min_seeds),
                None => "off".into(),
            };
            d.push(format!("[adaptive]: {} → {}", show(&old.adaptive), show(&self.adaptive)));
        }
        for p in PARAMS {
            let (a, b) = (old.fixed.get(p.name), self.fixed.get(p.name));
            let (aa, ba) = (old.axes.iter().find(|x| x.0 == p.name), self.axes.iter().find(|x| x.0 == p.name));
            if a != b || aa != ba {
                let show = |f: Option<&String>, ax: Option<&(String, Vec<String>)>| match (f, ax) {
                    (Some(v), _) => v.clone(),
                    (None, Some((_, l))) => format!("[{}]", l.join(", ")),
                    _ => "-".into(),
                };
                d.push(format!("{}: {} → {}", p.name, show(a, aa), show(b, ba)));
            }
        }
        if self.excludes != old.excludes {
            d.push("[[exclude]] rules changed".into());
        }
        if self.datasets != old.datasets {
            d.push("[datasets] changed".into());
        }
        d
    }

    /// True when `self` only grows `old`: more seeds and/or extra levels on existing axes,
    /// everything else equal. Finished runs of `old` can then be reused by (cell_id, replicate).
    pub(crate) fn grows(&self, old: &Resolved) -> bool {
        if self.name != old.name
            || self.base_seed != old.base_seed
            || self.paired_seeds != old.paired_seeds
            || self.seeds < old.seeds
            || self.fixed != old.fixed
        {
            return false;
        }
        if self.excludes != old.excludes || self.datasets != old.datasets || self.axes.len() != old.axes.len() {
            return false;
        }
        self.axes
            .iter()
            .zip(&old.axes)
            .all(|(n, o)| n.0 == o.0 && o.1.iter().all(|l| n.1.contains(l)))
    }
}

/// Everything needed to know what produced a results directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// [`super::RESULTS_FORMAT`] of the writer (1 for directories written before the field).
    #[serde(default = "format_one")]
    pub results_format: u32,
    pub initgrid_version: String,
    pub git_commit: String,
    pub rustc: String,
    pub config_file: String,
    /// The config text as given.
    pub config: String,
    /// Command-line overrides applied to `config` (`key=value`), in order; the effective
    /// values are in `resolved`.
    #[serde(default)]
    pub overrides: Vec<String>,
    pub resolved: Resolved,
    pub config_hash: String,
    /// `[k, n]` when this directory holds one shard's part.
    pub shard: Option<(u32, u32)>,
    pub threads: usize,
    pub simd: String,
    pub cells: usize,
    pub runs: u64,
    pub windows: usize,
    pub started: String,
    pub finished: Option<String>,
    pub wall_seconds: f64,
    /// Runs trained by the last invocation (the rest were resumed or merged).
    pub runs_trained: u64,
    pub counts: BTreeMap<String, u64>,
    /// SHA-256 (hex) of each table of [`super::CHECKSUMMED`] as written, by file name; empty
    /// in directories written before checksums were recorded. `initgrid verify` checks them.
    #[serde(default)]
    pub checksums: BTreeMap<String, String>,
}

impl Manifest {
    /// The manifest of a run of `grid` (from `cfg`) that starts now: what produced it, on
    /// which machine and split, nothing finished yet.
    pub(crate) fn begin(cfg: &Config, grid: &crate::grid::Grid, shard: Option<(u32, u32)>, threads: usize, windows: usize) -> Manifest {
        let resolved = Resolved::of(cfg);
        Manifest {
            results_format: super::RESULTS_FORMAT,
            initgrid_version: VERSION.into(),
            git_commit: GIT_COMMIT.into(),
            rustc: RUSTC.into(),
            config_file: cfg.file.clone(),
            config: cfg.source.clone(),
            overrides: cfg.overrides.clone(),
            config_hash: resolved.hash(),
            resolved,
            shard,
            threads,
            simd: crate::core::dispatch::simd_level().into(),
            cells: grid.cells.len(),
            runs: grid.n_runs(),
            windows,
            started: now_utc(),
            finished: None,
            wall_seconds: 0.0,
            runs_trained: 0,
            counts: Default::default(),
            checksums: Default::default(),
        }
    }

    /// The manifest of a finished results directory (`DIR/manifest.json` and `DIR/runs.parquet`
    /// must exist); a directory without them is a usage error naming what to do.
    pub(crate) fn load_dir(dir: &Path) -> Result<Manifest> {
        let (m, runs) = (dir.join(super::MANIFEST), dir.join(super::RUNS));
        if !dir.is_dir() {
            return usage(format!("{} is not a results directory (no such directory)", dir.display()));
        }
        if !m.exists() || !runs.exists() {
            return usage(format!(
                "{} holds no finished results (no {}): run a grid there first (initgrid --config … --out {}), let an interrupted run finish by running the same command again, or merge its shards (initgrid merge)",
                dir.display(),
                if m.exists() { super::RUNS } else { super::MANIFEST },
                dir.display()
            ));
        }
        Manifest::load(&m)
    }

    /// Reads a manifest or state file; one of another results format is a usage error naming
    /// both versions.
    pub(crate) fn load(path: &Path) -> Result<Manifest> {
        match Manifest::load_or_damaged(path)? {
            Ok(m) => Ok(m),
            Err(why) => Err(anyhow::anyhow!("{} is damaged: {why}", path.display())),
        }
    }

    /// Like [`Manifest::load`], but a file that is readable yet not a manifest (truncated, not
    /// JSON, fields missing) is `Ok(Err(why))`: damaged, as opposed to unreadable (an I/O error)
    /// or of another results format (a usage error).
    pub(crate) fn load_or_damaged(path: &Path) -> Result<std::result::Result<Manifest, String>> {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        // Parsed loosely first, so that a file of another results format is named as such even
        // when its fields differ from ours, and only a file that is not what it claims is damaged.
        let v: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            Ok(_) => return Ok(Err("not a JSON object".into())),
            Err(e) => return Ok(Err(format!("not valid JSON: {e}"))),
        };
        // A manifest without the field predates it (format 1); an object that is not a manifest
        // at all is damaged, not old.
        let format = match v.get("results_format") {
            Some(f) => f.as_u64(),
            None => v.get("initgrid_version").is_some().then_some(1),
        };
        if let Some(format) = format
            && format != super::RESULTS_FORMAT as u64
        {
            let version = v.get("initgrid_version").and_then(|x| x.as_str()).unwrap_or("unknown");
            return usage(format!(
                "{} was written by initgrid {version} (results format {format}); this is initgrid {VERSION} (results format {}), which stores different columns and bits — rerun the grid with --fresh (or with initgrid {version} to read it)",
                path.display(),
                super::RESULTS_FORMAT,
            ));
        }
        let m: Manifest = match serde_json::from_value(v) {
            Ok(m) => m,
            Err(e) => return Ok(Err(format!("not an initgrid manifest: {e}"))),
        };
        Ok(Ok(m))
    }

    /// SHA-256 of each table of [`super::CHECKSUMMED`] in `dir`, by file name.
    pub(crate) fn table_checksums(dir: &Path) -> Result<BTreeMap<String, String>> {
        super::CHECKSUMMED
            .iter()
            .map(|name| Ok((name.to_string(), sha256_file(&dir.join(name))?)))
            .collect()
    }

    /// Rebuilds the config from the stored text and overrides (for replay / report).
    pub(crate) fn config(&self) -> Result<Config> {
        Config::parse_partial(&self.config_file, &self.config)
            .and_then(|c| c.with_overrides(&self.overrides))
            .map_err(|e| anyhow::anyhow!("the stored config no longer parses: {e}"))
    }
}

/// SHA-256 of a file's bytes, lower-case hex (streamed).
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// ISO-8601 UTC timestamp (seconds).
pub(crate) fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // civil-from-days (H. Hinnant's algorithm)
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");
pub(crate) const GIT_COMMIT: &str = env!("INITGRID_GIT_COMMIT");
pub(crate) const RUSTC: &str = env!("INITGRID_RUSTC_VERSION");

fn format_one() -> u32 {
    1
}
