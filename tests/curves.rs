//! Time to convergence through the real binary: curves.parquet recounted from runs.parquet,
//! and `--at-epoch N` equal to a grid run with max_epochs = N.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::*;
use polars::prelude::*;
use predicates::prelude::*;

/// Every outcome occurs: sigmoid nets converge slowly (many after epoch 600), ReLU nets die,
/// tanh-linear at lr 5 diverges.
const GRID: &str = r#"
name = "budget"
seeds = 12
base_seed = 3
[train]
dataset = "three"
max_epochs = 3000
[grid]
layout = ["sigmoid-sigmoid", "relu-sigmoid", "relu-relu", "tanh-linear"]
lr = [0.5, 5.0]
"#;

fn run_grid(dir: &Path, name: &str, max_epochs: u32) -> std::path::PathBuf {
    let cfg = write(
        dir,
        &format!("{name}.toml"),
        &GRID.replace("max_epochs = 3000", &format!("max_epochs = {max_epochs}")),
    );
    let out = dir.join(name);
    run_ok(&cfg, &out, &[]);
    out
}

fn stdout_of(args: &[&str], dir: &Path) -> String {
    let o = bin().arg(args[0]).arg(dir).args(&args[1..]).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn u64s(df: &DataFrame, c: &str) -> Vec<u64> {
    df.column(c).unwrap().u64().unwrap().into_no_null_iter().collect()
}

fn strs(df: &DataFrame, c: &str) -> Vec<String> {
    let ca = df.column(c).unwrap().str().unwrap().clone();
    (0..ca.len()).map(|i| ca.get(i).unwrap().to_string()).collect()
}

#[test]
fn curves_recount_from_runs_are_monotone_and_end_at_the_cell_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_grid(tmp.path(), "g3000", 3000);
    let runs = read(&out.join("runs.parquet"));
    let curves = read(&out.join("curves.parquet"));
    let cells = read(&out.join("cells.parquet"));
    let schema: Vec<(String, DataType)> = curves.schema().iter().map(|(n, t)| (n.to_string(), t.clone())).collect();
    let want: Vec<(String, DataType)> = [
        ("cell_id", DataType::String),
        ("epoch", DataType::UInt32),
        ("converged", DataType::UInt64),
        ("dead", DataType::UInt64),
        ("diverged", DataType::UInt64),
        ("n", DataType::UInt64),
        ("p_converged", DataType::Float64),
        ("p_converged_lo", DataType::Float64),
        ("p_converged_hi", DataType::Float64),
    ]
    .iter()
    .map(|(n, t)| (n.to_string(), t.clone()))
    .collect();
    assert_eq!(schema, want);

    // Runs per cell: (epochs, outcome).
    let mut by_cell: HashMap<String, Vec<(u32, String)>> = HashMap::new();
    let ep: Vec<u32> = runs.column("epochs").unwrap().u32().unwrap().into_no_null_iter().collect();
    for ((c, o), e) in strs(&runs, "cell_id").into_iter().zip(strs(&runs, "outcome")).zip(ep) {
        by_cell.entry(c).or_default().push((e, o));
    }
    let cid = strs(&curves, "cell_id");
    let cep: Vec<u32> = curves.column("epoch").unwrap().u32().unwrap().into_no_null_iter().collect();
    let (conv, dead, div, n) = (
        u64s(&curves, "converged"),
        u64s(&curves, "dead"),
        u64s(&curves, "diverged"),
        u64s(&curves, "n"),
    );
    let p = curves.column("p_converged").unwrap().f64().unwrap().clone();
    let (lo, hi) = (
        curves.column("p_converged_lo").unwrap().f64().unwrap().clone(),
        curves.column("p_converged_hi").unwrap().f64().unwrap().clone(),
    );
    let mut rows_of: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in cid.iter().enumerate() {
        rows_of.entry(c.as_str()).or_default().push(i);
    }
    assert_eq!(rows_of.len(), 8, "one curve per cell");
    let count = |rs: &[(u32, String)], o: &str, t: u32| rs.iter().filter(|r| r.1 == o && r.0 <= t).count() as u64;
    let mut seen = std::collections::HashSet::new();
    for (c, rows) in &rows_of {
        let rs = &by_cell[*c];
        // The epochs: 0, every decision epoch, the budget; strictly increasing.
        let mut want: Vec<u32> = std::iter::once(0).chain(rs.iter().map(|r| r.0)).chain([3000]).collect();
        want.sort_unstable();
        want.dedup();
        let got: Vec<u32> = rows.iter().map(|&i| cep[i]).collect();
        assert_eq!(got, want, "cell {c}");
        for (j, &i) in rows.iter().enumerate() {
            let t = cep[i];
            assert_eq!(conv[i], count(rs, "converged", t), "cell {c} epoch {t}");
            assert_eq!(dead[i], count(rs, "dead", t), "cell {c} epoch {t}");
            assert_eq!(div[i], count(rs, "diverged", t), "cell {c} epoch {t}");
            assert_eq!(n[i], 12);
            let pi = p.get(i).unwrap();
            assert_eq!(pi, conv[i] as f64 / 12.0);
            assert!(lo.get(i).unwrap() <= pi && pi <= hi.get(i).unwrap());
            if j > 0 {
                let k = rows[j - 1];
                assert!(conv[i] >= conv[k] && dead[i] >= dead[k] && div[i] >= div[k], "monotone");
            }
        }
        // The last row is the cell's row of cells.parquet.
        let last = *rows.last().unwrap();
        let ci = strs(&cells, "cell_id").iter().position(|x| x == c).unwrap();
        for (col, v) in [
            ("converged", conv[last]),
            ("dead", dead[last]),
            ("diverged", div[last]),
            ("n", n[last]),
        ] {
            assert_eq!(u64s(&cells, col)[ci], v, "cell {c}: {col}");
        }
        for (e, o) in rs {
            if o != "stalled" {
                seen.insert(o.clone());
            }
            assert!(*e <= 3000);
        }
    }
    assert_eq!(seen.len(), 3, "the grid produces every terminal outcome: {seen:?}");
}

#[test]
fn at_epoch_600_equals_a_grid_run_at_max_epochs_600() {
    let tmp = tempfile::tempdir().unwrap();
    let long = run_grid(tmp.path(), "g3000", 3000);
    let short = run_grid(tmp.path(), "g600", 600);
    // Every outcome (and `failed`), every cell (the default groups are the varied parameters,
    // so one group per cell): counts, rates, intervals and the budget columns are identical.
    for outcome in ["converged", "diverged", "dead", "stalled", "failed"] {
        let a = stdout_of(&["summary", "--format", "csv", "--outcome", outcome, "--at-epoch", "600"], &long);
        let b = stdout_of(&["summary", "--format", "csv", "--outcome", outcome], &short);
        assert_eq!(a, b, "--outcome {outcome}");
        assert_eq!(a.lines().count(), 1 + 8, "one row per cell");
    }
    // The budget matters in this grid: without --at-epoch the long run reports more converged.
    let full = stdout_of(&["summary", "--format", "csv"], &long);
    let cut = stdout_of(&["summary", "--format", "csv", "--at-epoch", "600"], &long);
    assert_ne!(full, cut, "some runs converge between epoch 600 and 3000");
    // Paired tests too.
    for factor in ["lr", "layout"] {
        let a = stdout_of(&["compare", "--factor", factor, "--format", "csv", "--at-epoch", "600"], &long);
        let b = stdout_of(&["compare", "--factor", factor, "--format", "csv"], &short);
        assert_eq!(a, b, "--factor {factor}");
    }
    // The table says which budget and marks nothing it should not.
    let t = stdout_of(&["summary", "--at-epoch", "600"], &long);
    assert!(t.contains("budget") && t.contains("at epoch 600:"), "{t}");
    // Above the budget: a usage error naming the largest valid value.
    bin()
        .arg("summary")
        .arg(&long)
        .args(["--at-epoch", "3001"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("largest valid value is 3000"));
    bin()
        .arg("compare")
        .arg(&short)
        .args(["--factor", "lr", "--at-epoch", "601"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("largest valid value is 600"));
}
