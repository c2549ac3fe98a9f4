//! One copy of the runs: a finished directory keeps runs.parquet and the tables, not the
//! chunks they were assembled from — and everything still works from what remains: an
//! identical rerun is "already complete", a grown grid reuses runs.parquet, a finalize that
//! stopped before the chunks were removed resumes, a changed table is rebuilt or its runs
//! retrained, shards keep their parts until merged, and verify/replay/report read it.

mod common;

use std::path::Path;

use common::*;

fn rerun(cfg: &Path, out: &Path, extra: &[&str]) -> (i32, String, String) {
    outcome(bin().arg("--config").arg(cfg).arg("--out").arg(out).args(extra))
}

/// The names in a finished directory, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

/// The bytes of every file of a finished directory (its tables, manifest, report, state).
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    listing(dir)
        .into_iter()
        .filter(|n| dir.join(n).is_file())
        .map(|n| {
            let b = std::fs::read(dir.join(&n)).unwrap();
            (n, b)
        })
        .collect()
}

const FINISHED: [&str; 7] = [
    "cells.parquet",
    "curves.parquet",
    "effects.parquet",
    "manifest.json",
    "report.html",
    "runs.parquet",
    "state.json",
];

fn assert_compact(dir: &Path) {
    let mut want: Vec<String> = FINISHED.iter().map(|s| s.to_string()).collect();
    want.sort();
    let got: Vec<String> = listing(dir).into_iter().filter(|n| n != "damaged").collect();
    assert_eq!(got, want, "{}", dir.display());
}

/// The chunks of a finished grid, as a run that stopped just before removing them leaves
/// them: a one-way shard keeps its chunks.
fn chunks_of(cfg: &Path, tmp: &Path) -> std::path::PathBuf {
    let d = tmp.join("chunks-of");
    run_ok(cfg, &d, &["--shard", "0/1"]);
    assert!(d.join("chunks").join("w0000000.parquet").exists());
    d.join("chunks")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn a_finished_directory_holds_one_copy_and_an_identical_rerun_trains_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "s.toml", SMALL);
    let out = tmp.path().join("o");
    run_ok(&cfg, &out, &[]);
    assert_compact(&out);
    let (before, cells) = (snapshot(&out), read(&out.join("cells.parquet")));
    let (code, _, err) = rerun(&cfg, &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("already complete — 480 runs finished"), "{err}");
    assert!(err.contains("nothing to train, tables unchanged"), "{err}");
    assert!(!err.contains("trained now"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert_eq!(snapshot(&out), before, "the tables, manifest and report are untouched");
    assert_compact(&out);
    // --quiet says nothing; --fresh still starts over.
    let (code, _, err) = rerun(&cfg, &out, &["--quiet"]);
    assert_eq!((code, err.as_str()), (0, ""));
    let (code, _, err) = rerun(&cfg, &out, &["--fresh"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("480 runs (480 trained now)"), "{err}");
    assert_compact(&out);
    assert!(read(&out.join("cells.parquet")).equals_missing(&cells));
}

#[test]
fn a_finalize_that_stopped_before_removing_the_chunks_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "s.toml", SMALL);
    let chunks = chunks_of(&cfg, tmp.path());
    let out = tmp.path().join("o");
    run_ok(&cfg, &out, &[]);
    let (runs, cells) = (runs_no_timing(&out), read(&out.join("cells.parquet")));

    // Stopped after the manifest, before the chunks were removed: complete, and compacted now.
    copy_dir(&chunks, &out.join("chunks"));
    let (code, _, err) = rerun(&cfg, &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("already complete"), "{err}");
    assert_compact(&out);

    // Stopped after runs.parquet, before the manifest (here: a stale manifest and a torn
    // curves table): the tables are assembled again from the chunks, nothing is trained.
    copy_dir(&chunks, &out.join("chunks"));
    std::fs::remove_file(out.join("manifest.json")).unwrap();
    std::fs::write(out.join("curves.parquet"), b"torn").unwrap();
    let (code, _, err) = rerun(&cfg, &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("resumed: 480 runs were already finished and kept, 0 trained now"),
        "{err}"
    );
    assert_compact(&out);
    assert!(runs_no_timing(&out).equals_missing(&runs));
    assert!(read(&out.join("cells.parquet")).equals_missing(&cells));
    bin().arg("verify").arg(&out).assert().success();
}

#[test]
fn a_changed_table_is_rebuilt_from_runs_parquet_and_a_changed_runs_table_is_set_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "s.toml", SMALL);
    let out = tmp.path().join("o");
    run_ok(&cfg, &out, &[]);
    let (runs, cells) = (runs_no_timing(&out), read(&out.join("cells.parquet")));
    let runs_bytes = std::fs::read(out.join("runs.parquet")).unwrap();

    // cells.parquet deleted: rebuilt from runs.parquet, which is kept bit for bit in its rows.
    std::fs::remove_file(out.join("cells.parquet")).unwrap();
    let (code, _, err) = rerun(&cfg, &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("cells.parquet of the finished run differ from the SHA-256"), "{err}");
    assert!(err.contains("rebuilt from runs.parquet (no run is trained again)"), "{err}");
    assert!(err.contains("480 runs (0 trained now)"), "{err}");
    assert_compact(&out);
    assert!(read(&out.join("cells.parquet")).equals_missing(&cells));
    assert_eq!(std::fs::read(out.join("runs.parquet")).unwrap(), runs_bytes);

    // runs.parquet changed since it was written (one outcome edited): not trusted, set aside
    // (kept, never deleted), and its runs trained again.
    let mut df = read(&out.join("runs.parquet"));
    let mut o: Vec<String> = df
        .column("outcome")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|x| x.unwrap().to_string())
        .collect();
    o[0] = if o[0] == "stalled" { "converged".into() } else { "stalled".into() };
    df.with_column(polars::prelude::Column::new("outcome".into(), o)).unwrap();
    write_parquet(&out.join("runs.parquet"), &mut df);
    let (code, _, err) = rerun(&cfg, &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("runs.parquet set aside (it differs from the SHA-256 manifest.json recorded"),
        "{err}"
    );
    assert!(err.contains("480 runs (480 trained now)"), "{err}");
    assert!(out.join("damaged").join("runs.parquet").exists());
    assert_compact(&out);
    assert!(runs_no_timing(&out).equals_missing(&runs));
    bin().arg("verify").arg(&out).assert().success();
}

#[test]
fn a_grown_grid_reuses_runs_parquet_of_a_compacted_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let small = write(tmp.path(), "s.toml", SMALL);
    let grown = write(tmp.path(), "g.toml", &SMALL.replace("seeds = 40", "seeds = 50"));
    let out = tmp.path().join("o");
    run_ok(&small, &out, &[]);
    assert_compact(&out);
    let (code, _, err) = rerun(&grown, &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("the grid grew (seeds: 40 → 50)"), "{err}");
    assert!(err.contains("grown grid: 480 finished runs reused, 120 trained"), "{err}");
    assert_compact(&out);
    let fresh = tmp.path().join("fresh");
    run_ok(&grown, &fresh, &[]);
    assert!(runs_no_timing(&out).equals_missing(&runs_no_timing(&fresh)));
    // The same command again: complete.
    let (code, _, err) = rerun(&grown, &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("already complete — 600 runs"), "{err}");
}

#[test]
fn shards_keep_their_parts_until_merged_and_the_merged_directory_is_compact() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "s.toml", SMALL);
    let dirs: Vec<_> = (0..2).map(|k| tmp.path().join(format!("s{k}"))).collect();
    for (k, d) in dirs.iter().enumerate() {
        run_ok(&cfg, d, &["--shard", &format!("{k}/2")]);
        assert!(d.join("chunks").is_dir(), "a shard keeps its parts");
    }
    let merged = tmp.path().join("merged");
    bin().arg("merge").arg(&merged).args(&dirs).arg("--quiet").assert().success();
    let got: Vec<String> = listing(&merged);
    assert!(
        !got.contains(&"chunks".to_string()) && got.contains(&"runs.parquet".to_string()),
        "{got:?}"
    );
    assert!(
        dirs.iter().all(|d| d.join("chunks").is_dir()),
        "the shards' parts are theirs to delete"
    );
    // Merging again works (the parts are still there), and so does verify.
    bin().arg("merge").arg(&merged).args(&dirs).arg("--quiet").assert().success();
    bin().arg("verify").arg(&merged).assert().success();
    // The merged directory (no state file of its own) is complete for the same config…
    let (code, _, err) = rerun(&cfg, &merged, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("already complete"), "{err}");
    // …and grows from its runs.parquet.
    let grown = write(tmp.path(), "g.toml", &SMALL.replace("seeds = 40", "seeds = 50"));
    let (code, _, err) = rerun(&grown, &merged, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("grown grid: 480 finished runs reused, 120 trained"), "{err}");
    assert!(!merged.join("chunks").exists() && !merged.join("reuse").exists());
    // A shard merged into its own directory keeps its parts there.
    let own = &dirs[0];
    bin().arg("merge").arg(own).args(&dirs).arg("--quiet").assert().success();
    assert!(own.join("runs.parquet").exists() && own.join("chunks").is_dir());
}

#[test]
fn verify_replay_report_and_summary_read_a_compacted_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "s.toml", SMALL);
    let out = tmp.path().join("o");
    run_ok(&cfg, &out, &[]);
    assert_compact(&out);
    bin().arg("verify").arg(&out).args(["--sample", "30"]).assert().success();
    let runs = read(&out.join("runs.parquet"));
    let id = runs.column("run_id").unwrap().str().unwrap().get(123).unwrap().to_string();
    let r = bin().arg("replay").arg(&out).args(["--run", &id, "--json"]).output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["run_id"], id.as_str());
    std::fs::remove_file(out.join("report.html")).unwrap();
    bin().arg("report").arg(&out).assert().success();
    assert!(out.join("report.html").exists());
    bin().arg("summary").arg(&out).args(["--by", "layout"]).assert().success();
    assert_compact(&out);
}
