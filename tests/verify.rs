//! `initgrid verify DIR`: passes on a fresh directory; fails, naming the problem, after a
//! flipped byte in runs.parquet, a deleted row, a tampered cells.parquet, and a stored result
//! that does not reproduce.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use polars::prelude::*;

fn verify(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    outcome(bin().arg("verify").arg(dir).args(extra))
}

/// A copy of the finished directory `src` (its top-level files) at `tmp/name`.
fn copy_dir(src: &Path, tmp: &Path, name: &str) -> PathBuf {
    let d = tmp.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), d.join(e.file_name())).unwrap();
        }
    }
    d
}

/// Sets the manifest's recorded checksum of `table` to the file's current SHA-256, as someone
/// covering their tracks would.
fn rewrite_checksum(dir: &Path, table: &str) {
    use sha2::{Digest, Sha256};
    let m_path = dir.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&m_path).unwrap()).unwrap();
    let hex: String = Sha256::digest(std::fs::read(dir.join(table)).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    m["checksums"][table] = serde_json::Value::String(hex);
    std::fs::write(&m_path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
}

#[test]
fn verify_passes_on_a_fresh_directory_and_names_each_kind_of_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "s.toml", SMALL);
    let fresh = tmp.path().join("fresh");
    run_ok(&cfg, &fresh, &[]);

    // Fresh: every check holds.
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fresh.join("manifest.json")).unwrap()).unwrap();
    for t in ["runs.parquet", "cells.parquet", "effects.parquet"] {
        assert_eq!(m["checksums"][t].as_str().unwrap().len(), 64, "{t}: {}", m["checksums"]);
    }
    let (code, out, err) = verify(&fresh, &[]);
    assert_eq!(code, 0, "{out}{err}");
    for line in ["ok       checksums", "ok       coverage", "ok       tables", "ok       replay"] {
        assert!(out.contains(line), "{out}");
    }
    assert!(
        out.contains("each of the grid's 480 runs (12 cells × 40 seeds) exactly once"),
        "{out}"
    );
    assert!(out.contains("20 of 20 sampled runs retrained bit for bit"), "{out}");
    let (code, json, _) = verify(&fresh, &["--json", "--sample", "5"]);
    assert_eq!(code, 0);
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(j["verified"], true);
    let sampled: Vec<String> = j["sampled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(sampled.len(), 5);
    // The choice is deterministic.
    let (_, again, _) = verify(&fresh, &["--json", "--sample", "5"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&again).unwrap()["sampled"], j["sampled"]);

    // A flipped byte in runs.parquet.
    let d = copy_dir(&fresh, tmp.path(), "flipped");
    let mut bytes = std::fs::read(d.join("runs.parquet")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(d.join("runs.parquet"), &bytes).unwrap();
    let (code, out, err) = verify(&d, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("FAILED   checksums  runs.parquet: SHA-256"), "{out}");
    assert!(err.contains("does not verify: checksums (runs.parquet: SHA-256"), "{err}");

    // A deleted row: named by the checksum, and still by coverage and the tables once the
    // checksum is rewritten to match.
    let d = copy_dir(&fresh, tmp.path(), "deleted");
    let runs = read(&d.join("runs.parquet"));
    let gone = runs.column("run_id").unwrap().str().unwrap().get(17).unwrap().to_string();
    let mut cut = runs.slice(0, 17).vstack(&runs.slice(18, runs.height())).unwrap();
    write_parquet(&d.join("runs.parquet"), &mut cut);
    let (code, out, err) = verify(&d, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("FAILED   checksums  runs.parquet: SHA-256"), "{out}");
    assert!(
        out.contains(&format!("FAILED   coverage   runs.parquet: 1 of the grid's runs missing: {gone}")),
        "{out}"
    );
    rewrite_checksum(&d, "runs.parquet");
    let (code, out, err) = verify(&d, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("ok       checksums"), "{out}");
    assert!(out.contains(&format!("1 of the grid's runs missing: {gone}")), "{out}");
    assert!(
        out.contains("FAILED   tables     cells.parquet does not match its recomputation from runs.parquet: column `n` differs at row 0"),
        "{out}"
    );

    // A tampered cells.parquet: one more converged run in the first cell.
    let d = copy_dir(&fresh, tmp.path(), "cells");
    let mut cells = read(&d.join("cells.parquet"));
    let conv: Vec<u64> = cells.column("converged").unwrap().u64().unwrap().into_no_null_iter().collect();
    let bumped: Vec<u64> = conv.iter().enumerate().map(|(i, c)| c + u64::from(i == 0)).collect();
    cells.with_column(Column::new("converged".into(), bumped)).unwrap();
    write_parquet(&d.join("cells.parquet"), &mut cells);
    let (code, out, err) = verify(&d, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("FAILED   checksums  cells.parquet: SHA-256"), "{out}");
    assert!(out.contains("ok       coverage"), "{out}");
    let cell0 = cells.column("cell_id").unwrap().str().unwrap().get(0).unwrap().to_string();
    assert!(out.contains("column `converged` differs at row 0 (cell_id"), "{out}");
    assert!(out.contains(&cell0), "{out}");
    assert!(out.contains(&format!("stored {}, recomputed {}", conv[0] + 1, conv[0])), "{out}");

    // A stored result that does not reproduce (its final loss edited, checksum rewritten; the
    // tables do not depend on it): only the replay can tell.
    let d = copy_dir(&fresh, tmp.path(), "replay");
    let mut runs = read(&d.join("runs.parquet"));
    let ids: Vec<String> = runs
        .column("run_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.unwrap().to_string())
        .collect();
    let loss: Vec<f64> = runs.column("final_loss").unwrap().f64().unwrap().into_no_null_iter().collect();
    let edited: Vec<f64> = ids
        .iter()
        .zip(&loss)
        .map(|(id, l)| if *id == sampled[0] { 0.123456789 } else { *l })
        .collect();
    runs.with_column(Column::new("final_loss".into(), edited)).unwrap();
    write_parquet(&d.join("runs.parquet"), &mut runs);
    rewrite_checksum(&d, "runs.parquet");
    let (code, out, err) = verify(&d, &["--sample", "5"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("ok       tables"), "{out}");
    assert!(out.contains("FAILED   replay     1 of 5 sampled runs do not reproduce"), "{out}");
    assert!(out.contains(&format!("{}: retrained", sampled[0])), "{out}");
}
