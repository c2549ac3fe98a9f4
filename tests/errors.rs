//! The bad-input catalogue (README): each input gets a clear message, the right exit code
//! (2 = usage/config, 1 = runtime), and never a panic or backtrace.

mod common;

use common::*;
use predicates::prelude::*;

const BASE: &str = "name = \"e\"\nseeds = 4\n[train]\ndataset = \"four\"\nmax_epochs = 20\n[grid]\nlayout = [\"relu-sigmoid\", \"sigmoid-sigmoid\"]\nlr = [0.5, 0.9]\n";

/// Runs a config; expects exit code `code` and every fragment in stderr, and no panic.
fn expect_err(cfg_text: &str, code: i32, fragments: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "c.toml", cfg_text);
    let o = bin()
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(tmp.path().join("o"))
        .arg("--quiet")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    for f in fragments {
        assert!(err.contains(f), "missing `{f}` in: {err}");
    }
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
}

#[test]
fn malformed_toml_gives_line_and_column() {
    expect_err("name = \"e\"\nseeds = [4\n", 2, &["c.toml:2:", "malformed TOML"]);
}

#[test]
fn unknown_key_suggests_the_closest() {
    expect_err(
        &BASE.replace("max_epochs", "max_epoch"),
        2,
        &["c.toml:5:1", "unknown key `max_epoch`", "did you mean `max_epochs`"],
    );
    expect_err(&format!("{BASE}lrr = [1]\n"), 2, &["did you mean `lr`"]);
    expect_err(&format!("nmae = \"x\"\n{BASE}"), 2, &["did you mean `name`"]);
}

#[test]
fn wrong_type_names_the_expected_type() {
    expect_err(
        &BASE.replace("max_epochs = 20", "max_epochs = \"20\""),
        2,
        &["train.max_epochs", "expected a non-negative integer, found a string"],
    );
    expect_err(&BASE.replace("lr = [0.5, 0.9]", "lr = 0.5"), 2, &["grid.lr", "expected a list"]);
    expect_err(
        &BASE.replace("lr = [0.5, 0.9]", "lr = [0.5]\nbatch_norm = [\"yes\"]"),
        2,
        &["grid.batch_norm", "expected true or false"],
    );
}

#[test]
fn empty_axis() {
    expect_err(&BASE.replace("lr = [0.5, 0.9]", "lr = []"), 2, &["grid.lr", "empty axis"]);
}

#[test]
fn bad_learning_rates() {
    expect_err(
        &BASE.replace("[0.5, 0.9]", "[0.5, -0.1]"),
        2,
        &["c.toml:8:", "learning rate -0.1 must be a positive finite number"],
    );
    expect_err(&BASE.replace("[0.5, 0.9]", "[0.5, 0]"), 2, &["learning rate 0 must be"]);
    expect_err(&BASE.replace("[0.5, 0.9]", "[0.5, inf]"), 2, &["learning rate inf must be"]);
    expect_err(&BASE.replace("[0.5, 0.9]", "[nan]"), 2, &["learning rate NaN must be"]);
}

#[test]
fn seeds_and_epochs_must_be_positive() {
    expect_err(&BASE.replace("seeds = 4", "seeds = 0"), 2, &["`seeds`", "at least one replicate"]);
    expect_err(
        &BASE.replace("max_epochs = 20", "max_epochs = 0"),
        2,
        &["train.max_epochs", "max_epochs must be ≥ 1"],
    );
}

#[test]
fn batch_norm_with_online_updates() {
    expect_err(
        &BASE.replace("lr = [0.5, 0.9]", "lr = [0.5]\nbatch_norm = [false, true]"),
        2,
        &["batch norm needs batches of ≥ 2", "[[exclude]]", "batch_norm = true"],
    );
    // fixed in [train]: cannot be excluded, must be changed
    expect_err(
        &BASE.replace("max_epochs = 20", "max_epochs = 20\nbatch_norm = true"),
        2,
        &["batch norm needs batches of ≥ 2", "fix its value in [train]"],
    );
}

#[test]
fn softmax_needs_cross_entropy() {
    expect_err(
        &BASE
            .replace("\"sigmoid-sigmoid\"]", "\"relu-softmax\"]")
            .replace("max_epochs = 20", "max_epochs = 20\nloss = \"mse\""),
        2,
        &["softmax output needs loss = \"ce\"", "layout = \"relu-softmax\""],
    );
    expect_err(
        &BASE.replace("max_epochs = 20", "max_epochs = 20\nloss = \"ce\""),
        2,
        &["needs a softmax output layer"],
    );
}

#[test]
fn unknown_names() {
    expect_err(
        &BASE.replace("\"four\"", "\"fuor\""),
        2,
        &["unknown data set `fuor`", "did you mean `four`"],
    );
    expect_err(
        &BASE.replace("\"relu-sigmoid\",", "\"relu-sigmiod\","),
        2,
        &["unknown activation `sigmiod`"],
    );
    expect_err(
        &BASE.replace("max_epochs = 20", "max_epochs = 20\ninit_dist = \"gauss(0,1)\""),
        2,
        &["unknown init distribution", "he_normal"],
    );
    expect_err(&BASE.replace("\"relu-sigmoid\",", "\"relu\","), 2, &["no hidden layer"]);
    expect_err(
        &BASE.replace("\"relu-sigmoid\",", "\"softmax-sigmoid\","),
        2,
        &["only allowed on the output"],
    );
}

#[test]
fn inline_points_are_validated() {
    let with = |pts: &str, extra: &str| BASE.replace("\"four\"", "\"mine\"") + &format!("[datasets.mine]\npoints = {pts}\n{extra}");
    expect_err(
        &with("[[0.0, 0], [nan, 1]]", ""),
        2,
        &["datasets.mine.points", "point 2 contains NaN"],
    );
    expect_err(
        &with("[[0.0, 0], [0.5, 0.5, 1]]", ""),
        2,
        &["point 2 has 3 values but point 1 has 2"],
    );
    expect_err(&with("[[0.0, 0], [0.5, 2]]", "classes = 2"), 2, &["label 2 outside the 2 classes"]);
    expect_err(&with("[[0.0, 0], [0.5, 1.5]]", ""), 2, &["non-negative integers"]);
}

#[test]
fn both_fixed_and_varied() {
    expect_err(
        &BASE.replace("max_epochs = 20", "max_epochs = 20\nlr = 0.1"),
        2,
        &["both fixed in [train] and varied in [grid]", "line 6"],
    );
}

#[test]
fn missing_config_and_bad_flags() {
    bin().assert().code(2).stderr(predicate::str::contains("--config"));
    bin()
        .args(["--config", "/nonexistent/x.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read the config"));
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "c.toml", BASE);
    bin()
        .arg("--config")
        .arg(&cfg)
        .args(["--shard", "4/4"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("0 ≤ K < N"));
    bin().arg("--config").arg(&cfg).args(["--threads", "0"]).assert().code(2);
}

#[test]
fn output_directory_not_writable() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "c.toml", BASE);
    let file = write(tmp.path(), "a-file", "x");
    bin()
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(file.join("sub"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("choose a writable place with --out"));
}

#[test]
fn output_directory_of_another_config_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let c1 = write(tmp.path(), "c1.toml", BASE);
    run_ok(&c1, &out, &[]);
    let c2 = write(tmp.path(), "c2.toml", &BASE.replace("max_epochs = 20", "max_epochs = 30"));
    bin().arg("--config").arg(&c2).arg("--out").arg(&out).assert().code(2).stderr(
        predicate::str::contains("different config")
            .and(predicate::str::contains("max_epochs: 20 → 30"))
            .and(predicate::str::contains("--fresh")),
    );
    // --fresh starts over explicitly
    run_ok(&c2, &out, &["--fresh"]);
    // a directory with foreign results
    let foreign = tmp.path().join("f");
    std::fs::create_dir_all(foreign.join("chunks")).unwrap();
    bin()
        .arg("--config")
        .arg(&c1)
        .arg("--out")
        .arg(&foreign)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("without an initgrid state file"));
}

#[test]
fn an_axis_listing_one_value_twice_names_both_spellings() {
    // A batch of 1 *is* online learning: one canonical value.
    expect_err(
        &BASE.replace("lr = [0.5, 0.9]", "lr = [0.5]\nbatch = [1, \"online\"]"),
        2,
        &[
            "grid.batch",
            "`1` and `\"online\"` are the same value (`online`)",
            "list each level once",
        ],
    );
    expect_err(
        &BASE.replace("lr = [0.5, 0.9]", "lr = [0.5, 0.50]"),
        2,
        &["grid.lr", "`0.5` and `0.50` are the same value"],
    );
}

#[test]
fn every_command_on_a_directory_without_results_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path();
    for args in [
        vec!["summary"],
        vec!["compare", "--factor", "lr"],
        vec!["report"],
        vec!["replay", "--run", "0123456789abcdef-0"],
        vec!["verify"],
    ] {
        let o = bin().arg(args[0]).arg(empty).args(&args[1..]).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("holds no finished results"), "{args:?}: {err}");
    }
    let missing = tmp.path().join("nope");
    bin()
        .arg("summary")
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a results directory"));
}

#[test]
fn zero_threads_is_refused_by_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "c.toml", BASE);
    for flag in ["--threads", "-j"] {
        bin()
            .arg("--config")
            .arg(&cfg)
            .args([flag, "0"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--threads 0"));
        bin()
            .args(["bench", "--replicates", "16", "--epochs", "2", flag, "0"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--threads 0"));
    }
}
