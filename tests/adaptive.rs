//! Adaptive seeds in grids (`[adaptive]`): every cell stops by its own anytime-valid
//! confidence sequence; common random numbers, thread/shard/resume invariance, grown grids,
//! verify, and the config's errors.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use common::*;
use initgrid::analysis::confseq::{BetaPrior, cs_precise_enough};
use polars::prelude::*;
use predicates::prelude::*;

/// Six cells whose convergence rates range from ~0 to ~1, so they stop at different stages.
const ADAPT: &str = r#"
name = "adapt"
base_seed = 5
[adaptive]
precision = 0.1
min_seeds = 16
max_seeds = 256
[train]
dataset = "three"
max_epochs = 300
[grid]
layout = ["sigmoid-sigmoid", "relu-sigmoid", "relu-relu"]
lr = [0.5, 3.0]
"#;

const BOUNDS: [u64; 5] = [16, 32, 64, 128, 256];

fn col_u64(df: &DataFrame, name: &str) -> Vec<u64> {
    df.column(name)
        .unwrap()
        .cast(&DataType::UInt64)
        .unwrap()
        .u64()
        .unwrap()
        .into_no_null_iter()
        .collect()
}

fn col_str(df: &DataFrame, name: &str) -> Vec<String> {
    df.column(name)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.unwrap().to_string())
        .collect()
}

/// (cell_id → converged flags by replicate) from runs.parquet.
fn converged_by_cell(dir: &Path) -> HashMap<String, Vec<bool>> {
    let runs = read(&dir.join("runs.parquet"));
    let ids = col_str(&runs, "cell_id");
    let reps = col_u64(&runs, "replicate");
    let out = col_str(&runs, "outcome");
    let mut m: HashMap<String, Vec<(u64, bool)>> = HashMap::new();
    for i in 0..ids.len() {
        m.entry(ids[i].clone()).or_default().push((reps[i], out[i] == "converged"));
    }
    m.into_iter()
        .map(|(k, mut v)| {
            v.sort();
            assert!(
                v.iter().enumerate().all(|(i, (r, _))| *r == i as u64),
                "cell {k}: replicates not 0..n"
            );
            (k, v.into_iter().map(|x| x.1).collect())
        })
        .collect()
}

/// Runs a config to completion with its progress lines (not quiet); returns stderr.
fn run_loud(cfg: &Path, out: &Path) -> String {
    let o = bin()
        .arg("--config")
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .args(["--threads", "2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{err}");
    err
}

#[test]
fn each_cell_stops_by_its_confidence_sequence_and_keeps_common_random_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "a.toml", ADAPT);
    let out = tmp.path().join("a");
    let err = run_loud(&cfg, &out);
    assert!(err.contains("up to 256 seeds (adaptive"), "{err}");
    assert!(
        err.contains("adaptive: ") && err.contains("cells reached ±0.1 on converged"),
        "{err}"
    );

    let cells = read(&out.join("cells.parquet"));
    let n = col_u64(&cells, "n");
    let stopped = col_str(&cells, "stopped_by");
    let ids = col_str(&cells, "cell_id");
    assert!(n.iter().all(|x| BOUNDS.contains(x)), "n = {n:?}");
    let mut distinct = n.clone();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() >= 2, "every cell stopped at the same n: {n:?}");
    assert!(n.iter().any(|&x| x < 256), "no cell stopped early: {n:?}");

    // The rule, checked from the stored runs with the library's confidence sequence: a cell
    // stops at the first stage bound where it is precise enough, or at the cap.
    let conv = converged_by_cell(&out);
    let precise = |flags: &[bool], m: u64| {
        let k = flags[..m as usize].iter().filter(|&&c| c).count() as u64;
        cs_precise_enough(k, m, 0.95, BetaPrior::JEFFREYS, 0.1)
    };
    for (i, id) in ids.iter().enumerate() {
        let flags = &conv[id];
        assert_eq!(flags.len() as u64, n[i]);
        for &b in BOUNDS.iter().filter(|&&b| b < n[i]) {
            assert!(!precise(flags, b), "cell {id} should have stopped at {b}");
        }
        let at_n = precise(flags, n[i]);
        assert_eq!(stopped[i], if at_n { "precision" } else { "max_seeds" }, "cell {id}");
        assert!(at_n || n[i] == 256, "cell {id} stopped at {} without precision", n[i]);
    }

    // Common random numbers: a cell's runs are the first n runs of a fixed grid with the same
    // seeds, bit for bit.
    let fixed = write(
        tmp.path(),
        "f.toml",
        &ADAPT.replace("[adaptive]\nprecision = 0.1\nmin_seeds = 16\nmax_seeds = 256\n", "seeds = 256\n"),
    );
    let fo = tmp.path().join("f");
    run_ok(&fixed, &fo, &["--threads", "2"]);
    let a = runs_no_timing(&out);
    let f = runs_no_timing(&fo);
    let keep: Vec<bool> = {
        let ids = col_str(&f, "cell_id");
        let reps = col_u64(&f, "replicate");
        let limit: HashMap<&String, u64> = col_str(&cells, "cell_id")
            .iter()
            .zip(&n)
            .map(|(k, v)| (ids.iter().find(|x| *x == k).unwrap(), *v))
            .collect();
        ids.iter().zip(&reps).map(|(id, r)| *r < limit[id]).collect()
    };
    let mask = BooleanChunked::from_slice("keep".into(), &keep);
    let f = f.filter(&mask).unwrap();
    assert!(a.equals_missing(&f), "adaptive runs differ from the fixed grid's first n seeds");

    // verify agrees with the rule and retrains a sample bit for bit.
    bin().arg("verify").arg(&out).args(["--sample", "20"]).assert().success();
}

#[test]
fn threads_shards_and_merge_give_the_same_cells() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "a.toml", ADAPT);
    let one = tmp.path().join("one");
    run_ok(&cfg, &one, &["--threads", "1"]);
    let two = tmp.path().join("two");
    run_ok(&cfg, &two, &["--threads", "2"]);
    let reference = runs_no_timing(&one);
    assert!(reference.equals_missing(&runs_no_timing(&two)));
    let dirs: Vec<_> = (0..4).map(|k| tmp.path().join(format!("s{k}"))).collect();
    for (k, d) in dirs.iter().enumerate() {
        run_ok(&cfg, d, &["--shard", &format!("{k}/4")]);
    }
    let merged = tmp.path().join("merged");
    bin().arg("merge").arg(&merged).args(&dirs).arg("--quiet").assert().success();
    assert!(runs_no_timing(&merged).equals_missing(&reference));
    assert!(read(&merged.join("cells.parquet")).equals_missing(&read(&one.join("cells.parquet"))));
    // A shard's cells are missing from the merge: named.
    bin()
        .arg("merge")
        .arg(tmp.path().join("m2"))
        .args(&dirs[..3])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing shard(s): 3/4"));
}

#[test]
fn kill_9_then_resume_equals_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    // Long enough (several stages of up to 1024 seeds on five points) to be killed midway.
    let text = ADAPT
        .replace("precision = 0.1", "precision = 0.03")
        .replace("min_seeds = 16", "min_seeds = 64")
        .replace("max_seeds = 256", "max_seeds = 1024")
        .replace("dataset = \"three\"", "dataset = \"five\"")
        .replace("max_epochs = 300", "max_epochs = 600");
    let cfg = write(tmp.path(), "a.toml", &text);
    let out = tmp.path().join("o");
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("initgrid"))
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .args(["--threads", "2", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let chunks = |d: &Path| std::fs::read_dir(d.join("chunks")).map(|r| r.count()).unwrap_or(0);
    while chunks(&out) < 7 {
        assert!(t0.elapsed() < Duration::from_secs(120), "no chunk appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.join("runs.parquet").exists(), "the run finished before it could be killed");
    let err = run_loud(&cfg, &out);
    assert!(err.contains("resumed: "), "{err}");
    let reference = tmp.path().join("ref");
    run_ok(&cfg, &reference, &["--threads", "2"]);
    assert!(runs_no_timing(&out).equals_missing(&runs_no_timing(&reference)));
}

#[test]
fn a_sharper_question_reuses_every_finished_run() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "a.toml", ADAPT);
    let out = tmp.path().join("o");
    run_ok(&cfg, &out, &[]);
    let before = runs_no_timing(&out).height() as u64;
    let sharper_text = ADAPT
        .replace("precision = 0.1", "precision = 0.06")
        .replace("max_seeds = 256", "max_seeds = 512");
    let sharper = write(tmp.path(), "s.toml", &sharper_text);
    let o = bin().arg("--config").arg(&sharper).arg("--out").arg(&out).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("[adaptive]: ±0.1 on converged from 16 seeds → ±0.06 on converged from 16 seeds"),
        "{err}"
    );
    let line = err
        .lines()
        .find(|l| l.starts_with("grown grid: "))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains(&format!("grown grid: {before} finished runs reused")), "{line}");
    let fresh = tmp.path().join("fresh");
    run_ok(&sharper, &fresh, &[]);
    assert!(runs_no_timing(&out).equals_missing(&runs_no_timing(&fresh)));
}

#[test]
fn verify_names_a_cell_whose_seeds_break_the_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "a.toml", ADAPT);
    let out = tmp.path().join("o");
    run_ok(&cfg, &out, &[]);
    // Drop the last stored seed of the cell with the most seeds: it now holds a count that is
    // no stage bound of the rule.
    let runs = read(&out.join("runs.parquet"));
    let cells = read(&out.join("cells.parquet"));
    let n = col_u64(&cells, "n");
    let i = (0..n.len()).max_by_key(|&i| n[i]).unwrap();
    let id = col_str(&cells, "cell_id")[i].clone();
    let ids = col_str(&runs, "cell_id");
    let reps = col_u64(&runs, "replicate");
    let keep: Vec<bool> = ids.iter().zip(&reps).map(|(c, r)| !(c == &id && *r == n[i] - 1)).collect();
    let mut cut = runs.filter(&BooleanChunked::from_slice("k".into(), &keep)).unwrap();
    write_parquet(&out.join("runs.parquet"), &mut cut);
    bin()
        .arg("verify")
        .arg(&out)
        .args(["--sample", "0"])
        .assert()
        .failure()
        .stdout(predicate::str::contains(id.as_str()).and(predicate::str::contains("stopping rule")));
}

#[test]
fn adaptive_config_errors_name_the_key_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            ADAPT.replace("base_seed = 5", "base_seed = 5\nseeds = 100"),
            "`seeds` and [adaptive] both choose",
        ),
        (ADAPT.replace("min_seeds = 16", "min_seed = 16"), "did you mean `min_seeds`?"),
        (
            ADAPT.replace("min_seeds = 16", "min_seeds = 512"),
            "min_seeds = 512 exceeds max_seeds = 256",
        ),
        (ADAPT.replace("precision = 0.1", "precision = 1.5"), "between 0 and 0.5"),
        (ADAPT.replace("precision = 0.1\n", ""), "missing `precision`"),
        (ADAPT.replace("max_seeds = 256", "outcome = \"won\""), "missing `max_seeds`"),
        (
            ADAPT.replace("max_seeds = 256", "max_seeds = 256\noutcome = \"won\""),
            "expected one of converged",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let cfg = write(tmp.path(), &format!("e{i}.toml"), text);
        bin()
            .arg("--config")
            .arg(&cfg)
            .arg("--dry-run")
            .assert()
            .code(2)
            .stderr(predicate::str::contains(*want).and(predicate::str::contains("adaptive").or(predicate::str::contains("seeds"))));
    }
    // `seeds=` on the command line of an adaptive config
    let cfg = write(tmp.path(), "ok.toml", ADAPT);
    bin()
        .arg("--config")
        .arg(&cfg)
        .arg("seeds=50")
        .arg("--dry-run")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("[adaptive] table"));
    // the dry run describes the stages
    bin()
        .arg("--config")
        .arg(&cfg)
        .arg("--dry-run")
        .assert()
        .success()
        .stdout(predicate::str::contains("16, 32, 64, 128, 256"));
}
