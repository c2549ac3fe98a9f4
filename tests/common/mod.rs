//! Helpers shared by the integration tests: run the real binary, read tables back.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use polars::prelude::*;

pub fn bin() -> Command {
    let mut c = Command::cargo_bin("initgrid").expect("binary built");
    c.env_remove("RAYON_NUM_THREADS");
    c
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

pub fn read(p: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(p).unwrap()).finish().unwrap()
}

/// runs.parquet without the timing column.
pub fn runs_no_timing(dir: &Path) -> DataFrame {
    read(&dir.join("runs.parquet")).drop("wall_us").unwrap()
}

/// A small grid that runs in about a second in a debug build.
pub const SMALL: &str = r#"
name = "small"
seeds = 40
base_seed = 7
[train]
dataset = "three"
max_epochs = 400
[grid]
layout = ["sigmoid-sigmoid", "relu-sigmoid", "relu-relu"]
init_order = ["neuron", "layer"]
lr = [0.5, 3.0]
"#;

/// 2400 runs in ~10 chunk windows: a few seconds in a debug build, long enough to interrupt a
/// run or start a second process while the first trains.
pub const MID: &str = r#"
name = "mid"
seeds = 400
base_seed = 11
[train]
dataset = "five"
max_epochs = 600
[grid]
layout = ["sigmoid-sigmoid", "relu-sigmoid", "relu-sigmoid-sigmoid"]
init_order = ["neuron", "layer"]
lr = [0.5, 0.9]
"#;

/// Runs a config to completion into `out`, asserting success.
pub fn run_ok(cfg: &Path, out: &Path, extra: &[&str]) -> String {
    let o = bin()
        .arg("--config")
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "run failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Writes a frame as Parquet (to tamper with a table in a test).
pub fn write_parquet(p: &Path, df: &mut DataFrame) {
    ParquetWriter::new(std::fs::File::create(p).unwrap()).finish(df).unwrap();
}

/// Runs a command to its end and returns (exit code, stdout, stderr).
pub fn outcome(cmd: &mut Command) -> (i32, String, String) {
    let o = cmd.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}
