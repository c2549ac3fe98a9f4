//! The real binary on small grids: outputs, schema, determinism, the answers commands.

mod common;

use common::*;
use polars::prelude::*;
use predicates::prelude::*;

#[test]
fn runs_and_cells_tables_have_the_documented_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "g.toml", SMALL);
    let out = tmp.path().join("out");
    run_ok(&cfg, &out, &[]);
    let runs = read(&out.join("runs.parquet"));
    assert_eq!(runs.height(), 12 * 40);
    let expect: &[(&str, DataType)] = &[
        ("run_id", DataType::String),
        ("cell_id", DataType::String),
        ("replicate", DataType::UInt32),
        ("seed", DataType::UInt64),
        ("dataset", DataType::String),
        ("targets", DataType::String),
        ("layout", DataType::String),
        ("hidden", DataType::UInt32),
        ("init_order", DataType::String),
        ("init_dist", DataType::String),
        ("bias_init", DataType::String),
        ("batch_norm", DataType::Boolean),
        ("loss", DataType::String),
        ("batch", DataType::String),
        ("sample_order", DataType::String),
        ("lr", DataType::Float64),
        ("momentum", DataType::Float64),
        ("max_epochs", DataType::UInt32),
        ("tol", DataType::Float64),
        ("diverge_loss", DataType::Float64),
        ("outcome", DataType::String),
        ("epochs", DataType::UInt32),
        ("dead_cause", DataType::String),
        ("mechanism", DataType::String),
        ("final_loss", DataType::Float64),
        ("min_loss", DataType::Float64),
        ("accuracy", DataType::Float64),
        ("born_dead", DataType::Boolean),
        ("dead_units_init", DataType::UInt32),
        ("dead_units_final", DataType::UInt32),
        ("live_units_init", DataType::UInt32),
        ("live_units_final", DataType::UInt32),
        ("initial_loss", DataType::Float64),
        ("loss_at_90pct", DataType::Float64),
        ("max_abs_param", DataType::Float64),
        ("wall_us", DataType::UInt64),
    ];
    let got: Vec<(String, DataType)> = runs.schema().iter().map(|(n, t)| (n.to_string(), t.clone())).collect();
    let want: Vec<(String, DataType)> = expect.iter().map(|(n, t)| (n.to_string(), t.clone())).collect();
    assert_eq!(got, want);

    let cells = read(&out.join("cells.parquet"));
    assert_eq!(cells.height(), 12);
    let n = cells.column("n").unwrap().u64().unwrap();
    let total: Vec<u64> = (0..12)
        .map(|i| {
            ["converged", "diverged", "dead", "stalled"]
                .iter()
                .map(|c| cells.column(c).unwrap().u64().unwrap().get(i).unwrap())
                .sum()
        })
        .collect();
    for (i, t) in total.iter().enumerate() {
        assert_eq!(n.get(i), Some(40));
        assert_eq!(*t, 40, "outcome counts sum to n");
        let p = cells.column("p_converged").unwrap().f64().unwrap().get(i).unwrap();
        let lo = cells.column("p_converged_lo").unwrap().f64().unwrap().get(i).unwrap();
        let hi = cells.column("p_converged_hi").unwrap().f64().unwrap().get(i).unwrap();
        assert!(lo <= p && p <= hi);
    }
    for c in [
        "p_diverged_lo",
        "p_dead_hi",
        "p_stalled",
        "epochs_median_converged",
        "epochs_p90_converged",
        "epochs_to_half",
        "rmst_epochs",
        "budget_binding",
        "born_doomed",
        "died_doomed",
        "still_improving",
        "plateau",
        "cell_id",
        "layout",
        "lr",
    ] {
        assert!(cells.column(c).is_ok(), "cells.parquet lacks {c}");
    }
    // cells are in canonical order: layout slowest, lr fastest
    let lay = cells.column("layout").unwrap().str().unwrap();
    let lr = cells.column("lr").unwrap().f64().unwrap();
    assert_eq!(lay.get(0), Some("sigmoid-sigmoid"));
    assert_eq!((lr.get(0), lr.get(1)), (Some(0.5), Some(3.0)));
    assert_eq!(lay.get(11), Some("relu-relu"));
    // Mechanisms partition the failures; dead_cause is set exactly for dead runs.
    for i in 0..12 {
        let g = |c: &str| cells.column(c).unwrap().u64().unwrap().get(i).unwrap();
        assert_eq!(
            g("born_doomed") + g("died_doomed") + g("still_improving") + g("plateau"),
            g("dead") + g("stalled")
        );
        assert_eq!(g("born_doomed") + g("died_doomed"), g("dead"));
    }
    let oc = runs.column("outcome").unwrap().str().unwrap();
    let dc = runs.column("dead_cause").unwrap().str().unwrap();
    let me = runs.column("mechanism").unwrap().str().unwrap();
    for i in 0..runs.height() {
        assert_eq!(dc.get(i).is_some(), oc.get(i) == Some("dead"), "row {i}");
        assert_eq!(me.get(i).is_none(), oc.get(i) == Some("converged"), "row {i}");
    }
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["results_format"], 2);
    let effects = read(&out.join("effects.parquet"));
    assert_eq!(effects.height(), (3 + 2 + 2) * 4);
    for k in [
        "config",
        "resolved",
        "config_hash",
        "initgrid_version",
        "git_commit",
        "rustc",
        "threads",
        "started",
        "finished",
        "wall_seconds",
        "counts",
    ] {
        assert!(m.get(k).is_some(), "manifest lacks {k}");
    }
    assert!(out.join("report.html").exists());
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "g.toml", &SMALL.replace("seeds = 40", "seeds = 70"));
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run_ok(&cfg, &a, &["--threads", "1"]);
    run_ok(&cfg, &b, &["--threads", "3"]);
    assert!(runs_no_timing(&a).equals_missing(&runs_no_timing(&b)));
    assert!(read(&a.join("cells.parquet")).equals_missing(&read(&b.join("cells.parquet"))));
}

/// 16 cells of 300 seeds: two work units per cell (256 + 44 replicates), 8 chunk windows. With
/// one thread the runner trains a window's two units of a cell as one task (8 windows ≥ 8 per
/// thread), with two threads unit by unit: the results must not notice.
#[test]
fn results_do_not_depend_on_how_units_are_grouped_into_tasks() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = r#"
name = "tasks"
seeds = 300
base_seed = 5
[train]
dataset = "three"
max_epochs = 100
[grid]
layout = ["sigmoid-sigmoid", "relu-relu"]
init_order = ["neuron", "layer"]
lr = [0.3, 0.9, 2.0, 5.0]
"#;
    let cfg = write(tmp.path(), "g.toml", grid);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run_ok(&cfg, &a, &["--threads", "1"]);
    run_ok(&cfg, &b, &["--threads", "2"]);
    assert_eq!(runs_no_timing(&a).height(), 4800);
    assert!(runs_no_timing(&a).equals_missing(&runs_no_timing(&b)));
    assert!(read(&a.join("cells.parquet")).equals_missing(&read(&b.join("cells.parquet"))));
}

#[test]
fn cell_ids_are_stable_when_an_axis_grows() {
    let tmp = tempfile::tempdir().unwrap();
    let c1 = write(tmp.path(), "a.toml", SMALL);
    let c2 = write(tmp.path(), "b.toml", &SMALL.replace("lr = [0.5, 3.0]", "lr = [0.5, 1.5, 3.0]"));
    let dry = |c: &std::path::Path| String::from_utf8(bin().arg("--config").arg(c).arg("--dry-run").output().unwrap().stdout).unwrap();
    let (a, b) = (dry(&c1), dry(&c2));
    assert!(a.contains("12 cells × 40 seeds = 480 runs"), "{a}");
    assert!(b.contains("18 cells"), "{b}");
    assert!(a.contains("estimated time"));
    let ids = |s: &str| -> Vec<(String, String)> {
        s.lines()
            .filter(|l| l.contains("layout="))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[1].to_string(), f[2..].join(" "))
            })
            .collect()
    };
    let (ia, ib) = (ids(&a), ids(&b));
    assert_eq!(ia.len(), 12);
    for x in &ia {
        assert!(ib.contains(x), "{x:?} lost its id");
    }
}

#[test]
fn summary_compare_and_replay_answer_questions() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "g.toml", SMALL);
    let out = tmp.path().join("out");
    run_ok(&cfg, &out, &[]);
    assert!(!out.join("chunks").exists(), "everything below reads the compacted directory");
    bin()
        .args(["summary"])
        .arg(&out)
        .args(["--by", "layout,lr"])
        .assert()
        .success()
        .stdout(predicate::str::contains("relu-sigmoid").and(predicate::str::contains("95% CI")));
    let j = bin()
        .args(["summary"])
        .arg(&out)
        .args(["--by", "layout", "--where", "lr=3", "--outcome", "failed", "--format", "json"])
        .output()
        .unwrap();
    assert!(j.status.success());
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3);
    assert_eq!(v[0]["n"], 80);
    bin()
        .args(["summary"])
        .arg(&out)
        .args(["--format", "csv", "--by", "layout"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("layout,k,n,seeds,cells,deff,p_converged,lo,hi"));
    bin()
        .args(["summary"])
        .arg(&out)
        .args(["--by", "layuot"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `layout`"));
    bin()
        .args(["compare"])
        .arg(&out)
        .args(["--factor", "init_order"])
        .assert()
        .success()
        .stdout(predicate::str::contains("pooled"));
    let cmp = read(&out.join("compare_init_order.parquet"));
    assert!(cmp.height() >= 7);
    for c in [
        "pairs",
        "both",
        "only_a",
        "only_b",
        "neither",
        "diff",
        "diff_lo",
        "diff_hi",
        "p_exact",
        "p_holm",
        "verdict",
        "seeds",
        "cells",
        "p_cluster",
        "method",
    ] {
        assert!(cmp.column(c).is_ok(), "{c}");
    }
    // Replay one run of each outcome the grid produced; each must verify bit for bit.
    let runs = read(&out.join("runs.parquet"));
    let outcomes = runs.column("outcome").unwrap().str().unwrap().clone();
    let ids = runs.column("run_id").unwrap().str().unwrap().clone();
    let mut seen = std::collections::HashSet::new();
    for i in 0..runs.height() {
        let o = outcomes.get(i).unwrap();
        if seen.insert(o.to_string()) {
            let r = bin()
                .args(["replay"])
                .arg(&out)
                .args(["--run", ids.get(i).unwrap(), "--json"])
                .output()
                .unwrap();
            assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
            let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
            assert_eq!(v["verified"], true);
            assert_eq!(v["outcome"], o);
            let epochs = v["epochs"].as_u64().unwrap() as usize;
            assert_eq!(v["losses"].as_array().unwrap().len(), epochs + 1);
            assert_eq!(v["initial_params"]["layers"][0]["weights"].as_array().unwrap().len(), 4);
            assert_eq!(v["final_params"]["layers"][1]["weights"][0].as_array().unwrap().len(), 4);
        }
    }
    assert!(seen.contains("converged") && seen.contains("dead"), "{seen:?}");
    bin().args(["replay"]).arg(&out).args(["--run", "nope"]).assert().code(2);
}

#[test]
fn diverged_runs_replay_too() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(
        tmp.path(),
        "d.toml",
        "name = \"d\"\nseeds = 8\n[train]\ndataset = \"four\"\nlayout = \"tanh-linear\"\nmax_epochs = 50\n[grid]\nlr = [5.0, 50.0]\n",
    );
    let out = tmp.path().join("o");
    run_ok(&cfg, &out, &[]);
    let runs = read(&out.join("runs.parquet"));
    let mask = runs.column("outcome").unwrap().str().unwrap().equal("diverged");
    let d = runs.filter(&mask).unwrap();
    assert!(d.height() > 0);
    let id = d.column("run_id").unwrap().str().unwrap().get(0).unwrap().to_string();
    bin()
        .args(["replay"])
        .arg(&out)
        .args(["--run", &id])
        .assert()
        .success()
        .stdout(predicate::str::contains("verified"));
}

#[test]
fn where_values_are_parsed_and_compared_as_values() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "g.toml", SMALL);
    let out = tmp.path().join("out");
    run_ok(&cfg, &out, &[]);
    let n = |args: &[&str]| -> u64 {
        let o = bin()
            .arg("summary")
            .arg(&out)
            .args(["--by", "layout", "--format", "json"])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v.as_array().unwrap().iter().map(|g| g["n"].as_u64().unwrap()).sum()
    };
    // The same value written three ways selects the same runs.
    assert_eq!(n(&["--where", "lr=0.5"]), 240);
    assert_eq!(n(&["--where", "lr=0.50"]), 240);
    assert_eq!(n(&["--where", "lr=5e-1"]), 240);
    assert_eq!(n(&["--where", "batch=1"]), 480); // batch = 1 is online, the default
    assert_eq!(n(&["--where", "sample_order=Fixed"]), 480); // parsed as the config parses it
    assert_eq!(n(&["--where", "layout=\"relu-sigmoid\""]), 160);
    // A value that matches nothing lists the values present.
    for (w, frag) in [
        ("lr=0.7", "values present: 0.5, 3"),
        ("sample_order=random", "values present for `sample_order`: fixed"),
        ("layout=relu-tanh", "values present: sigmoid-sigmoid, relu-sigmoid, relu-relu"),
    ] {
        bin()
            .arg("summary")
            .arg(&out)
            .args(["--where", w])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(frag));
    }
}

#[test]
fn p_values_are_never_printed_as_zero() {
    let tmp = tempfile::tempdir().unwrap();
    // relu-sigmoid vs relu-relu on `three`: a huge, certain difference (p ≈ 1e-57).
    let cfg = write(
        tmp.path(),
        "p.toml",
        "name = \"p\"\nseeds = 300\n[train]\ndataset = \"three\"\nlr = 0.5\nmax_epochs = 2000\n[grid]\nlayout = [\"relu-sigmoid\", \"relu-relu\"]\n",
    );
    let out = tmp.path().join("out");
    run_ok(&cfg, &out, &[]);
    let o = bin().arg("compare").arg(&out).args(["--factor", "layout"]).output().unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!text.contains(" 0.000 ") && !text.contains("= 0.00e0"), "{text}");
    assert!(text.contains("e-") || text.contains("< 1e-300"), "{text}");
}

#[test]
fn bench_times_paired_rounds_and_prints_one_json_line_per_run() {
    let o = bin()
        .args([
            "bench",
            "--json",
            "--threads",
            "1",
            "--rounds",
            "3",
            "--replicates",
            "40",
            "--epochs",
            "3",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for v in &lines {
        assert_eq!(v["replicates"], 40);
        assert_eq!(v["threads"], 1);
        let (wall, busy, eff) = (
            v["wall_s"].as_f64().unwrap(),
            v["busy_s"].as_f64().unwrap(),
            v["efficiency"].as_f64().unwrap(),
        );
        assert!(busy > 0.0 && busy <= wall * 1.000_001, "{v}");
        assert!((eff - busy / wall).abs() < 1e-12, "{v}");
    }
    // Text mode on two threads: both thread counts and a paired scaling line with its range.
    bin()
        .env("RAYON_NUM_THREADS", "2")
        .args(["bench", "--rounds", "2", "--replicates", "40", "--epochs", "3"])
        .assert()
        .success()
        .stdout(predicate::str::contains("2 round(s)"))
        .stdout(predicate::str::contains(" 1 thread(s)"))
        .stdout(predicate::str::contains(" 2 thread(s)"))
        .stdout(predicate::str::contains("median of 2 paired rounds, range"));
    bin()
        .args(["bench", "--replicates", "16", "--epochs", "2", "--rounds", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--rounds 0"));
}
