//! Command-line overrides and `initgrid ask`: axes and fixed values from the command line,
//! their errors, the stopping rule, reuse of stored seeds, and common random numbers with a
//! `seeds = n` grid.

mod common;

use std::path::Path;

use common::*;
use initgrid::analysis::confseq::cs_interval;
use polars::prelude::*;

const TINY: &str = r#"
name = "tiny"
seeds = 6
[train]
dataset = "two"
layout = "relu-relu"
max_epochs = 200
[grid]
lr = [0.5]
"#;

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

fn sorted(df: DataFrame) -> DataFrame {
    df.sort(["run_id"], Default::default()).unwrap()
}

fn strings(df: &DataFrame, c: &str) -> Vec<String> {
    df.column(c)
        .unwrap()
        .as_materialized_series()
        .iter()
        .map(|v| v.to_string().trim_matches('"').to_string())
        .collect()
}

#[test]
fn overrides_make_axes_and_fix_values() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "g.toml", TINY);
    let out = tmp.path().join("o");
    // an axis from a list (replacing the file's axis), a fixed value, a top-level key
    run_ok(&cfg, &out, &["lr=0.5,0.9", "layout=relu-sigmoid", "seeds=8"]);
    let runs = read(&out.join("runs.parquet"));
    assert_eq!(runs.height(), 2 * 8);
    assert!(strings(&runs, "layout").iter().all(|l| l == "relu-sigmoid"));
    let m = manifest(&out);
    assert_eq!(m["overrides"], serde_json::json!(["lr=0.5,0.9", "layout=relu-sigmoid", "seeds=8"]));
    assert_eq!(m["resolved"]["fixed"]["layout"], "relu-sigmoid");
    // bit for bit the grid the same config file gives
    let same = write(
        tmp.path(),
        "same.toml",
        &TINY
            .replace("seeds = 6", "seeds = 8")
            .replace("\"relu-relu\"", "\"relu-sigmoid\"")
            .replace("lr = [0.5]", "lr = [0.5, 0.9]"),
    );
    let out2 = tmp.path().join("o2");
    run_ok(&same, &out2, &[]);
    assert_eq!(sorted(runs_no_timing(&out)), sorted(runs_no_timing(&out2)));
    // a changed override is a changed config on resume
    let o = bin()
        .args(["--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"])
        .args(["lr=0.5,0.9", "layout=relu-relu", "seeds=8"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("different config") && err.contains("layout: relu-sigmoid → relu-relu"),
        "{err}"
    );
    // summary reads the overridden grid back from the manifest
    let o = bin().args(["summary", out.to_str().unwrap(), "--format", "csv"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn override_errors_name_the_override_and_the_closest_key() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "g.toml", TINY);
    let fail = |args: &[&str]| {
        let o = bin()
            .args(["--config", cfg.to_str().unwrap(), "--out", tmp.path().join("x").to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let e = fail(&["layot=relu-sigmoid"]);
    assert!(
        e.contains("override `layot=relu-sigmoid`") && e.contains("did you mean `layout`"),
        "{e}"
    );
    let e = fail(&["lr=fast"]);
    assert!(e.contains("override `lr=fast`") && e.contains("expected a number"), "{e}");
    let e = fail(&["init_dist=normal(0,0.5),normal(0,0.50)"]);
    assert!(e.contains("same value"), "{e}");
    let e = fail(&["seeds=10", "seeds=20"]);
    assert!(e.contains("overridden twice"), "{e}");
    assert!(!tmp.path().join("x").join("runs.parquet").exists());
}

fn ask(out: &Path, extra: &[&str]) -> (serde_json::Value, String) {
    let o = bin()
        .args(["ask", "dataset=two", "layout=relu-relu", "lr=0.5,3", "max_epochs=200", "--json"])
        .args(["--out", out.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "ask failed: {err}");
    (serde_json::from_slice(&o.stdout).unwrap(), err)
}

/// k of the outcome among the first n replicates of a cell, from runs.parquet.
fn k_first(dir: &Path, cell: &str, n: u32, outcome: &str) -> u64 {
    let runs = read(&dir.join("runs.parquet"));
    let ids = strings(&runs, "cell_id");
    let out = strings(&runs, "outcome");
    let rep: Vec<u32> = runs.column("replicate").unwrap().u32().unwrap().into_no_null_iter().collect();
    (0..runs.height())
        .filter(|&i| ids[i] == cell && rep[i] < n && out[i] == outcome)
        .count() as u64
}

#[test]
fn ask_stops_by_its_rule_and_reuses_its_seeds() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("a");
    let p = 0.2;
    let (cells, _) = ask(&out, &["--first-seeds", "4", "--max-seeds", "256", "--precision", "0.2"]);
    let cells = cells.as_array().unwrap().clone();
    assert_eq!(cells.len(), 2);
    let n = cells[0]["n"].as_u64().unwrap();
    assert!(n < 256, "a ±20-point question stops early, took {n}");
    for c in &cells {
        assert_eq!(c["n"].as_u64().unwrap(), n);
        let (k, rate, lo, hi) = (
            c["k"].as_u64().unwrap(),
            c["rate"].as_f64().unwrap(),
            c["lo"].as_f64().unwrap(),
            c["hi"].as_f64().unwrap(),
        );
        assert_eq!(rate, k as f64 / n as f64);
        assert!(rate - lo <= p && hi - rate <= p, "{c}");
        assert_eq!(c["precise"], true);
        assert!(c["method"].as_str().unwrap().contains("Beta-Binomial mixture"));
        let total: u64 = ["converged", "diverged", "dead", "stalled"]
            .iter()
            .map(|o| c["counts"][o].as_u64().unwrap())
            .sum();
        assert_eq!(total, n);
        assert_eq!(c["outcome"], "converged");
    }
    // it did not stop later than it should: at n/2 some cell was still too wide
    if n > 4 {
        let wide = cells.iter().any(|c| {
            let k = k_first(&out, c["cell_id"].as_str().unwrap(), n as u32 / 2, "converged");
            let ci = cs_interval(k, n / 2, 0.95);
            let r = k as f64 / (n / 2) as f64;
            r - ci.lo > p || ci.hi - r > p
        });
        assert!(wide, "every cell was already precise at {} seeds", n / 2);
    }
    assert_eq!(manifest(&out)["runs_trained"], 2 * n);
    // the same question again trains nothing and answers the same
    let (again, err) = ask(&out, &["--first-seeds", "4", "--max-seeds", "256", "--precision", "0.2"]);
    assert_eq!(again.as_array().unwrap(), &cells);
    assert!(err.contains("\n0 runs trained now"), "{err}");
    // …from runs.parquet alone (no chunks are kept), leaving its tables and manifest as they were
    assert!(!out.join("chunks").exists() && !out.join("reuse").exists());
    assert_eq!(manifest(&out)["runs_trained"], 2 * n);
    // a sharper question trains only the extra seeds; the cap stops it
    let (sharp, _) = ask(
        &out,
        &["--first-seeds", "4", "--max-seeds", &(2 * n).to_string(), "--precision", "0.001"],
    );
    assert_eq!(sharp[0]["n"].as_u64().unwrap(), 2 * n);
    assert_eq!(sharp[0]["precise"], false);
    assert_eq!(manifest(&out)["runs_trained"], 2 * n);
}

#[test]
fn the_first_n_seeds_of_an_ask_are_a_seeds_n_grid() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("a");
    let (cells, _) = ask(&out, &["--first-seeds", "8", "--max-seeds", "16", "--precision", "0.01"]);
    assert_eq!(cells[0]["n"], 16);
    let cfg = write(
        tmp.path(),
        "g.toml",
        "name = \"g\"\nseeds = 8\n[train]\ndataset = \"two\"\nlayout = \"relu-relu\"\nmax_epochs = 200\n[grid]\nlr = [0.5, 3]\n",
    );
    let grid = tmp.path().join("g");
    run_ok(&cfg, &grid, &[]);
    let all = runs_no_timing(&out);
    let first8 = all.column("replicate").unwrap().u32().unwrap().lt(8u32);
    let asked = all.filter(&first8).unwrap();
    assert_eq!(asked.height(), 16);
    assert_eq!(sorted(asked), sorted(runs_no_timing(&grid)));
}

#[test]
fn ask_answers_in_sentences_with_the_paired_comparison() {
    let tmp = tempfile::tempdir().unwrap();
    let o = bin()
        .args([
            "ask",
            "dataset=two",
            "layout=relu-relu",
            "lr=0.5,3",
            "max_epochs=200",
            "--outcome",
            "dead",
        ])
        .args([
            "--first-seeds",
            "16",
            "--max-seeds",
            "16",
            "--out",
            tmp.path().join("a").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("relu-relu on two at lr 0.5 (max_epochs 200): dead "), "{text}");
    assert!(text.contains(" of 16 seeds") && text.contains("; converged "), "{text}");
    assert!(text.contains("lr 0.5 vs 3 (16 seeds, paired on seeds): "), "{text}");
    let o = bin().args(["ask", "dataset=two", "layout=relu-relu"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing parameter `lr`"));
}
