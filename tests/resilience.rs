//! Never lose a run: kill -9 / Ctrl-C then resume, shards merged, missing/duplicate shards.

mod common;

use std::path::Path;
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use common::*;
use predicates::prelude::*;

fn spawn(cfg: &Path, out: &Path, extra: &[&str]) -> Child {
    StdCommand::new(assert_cmd::cargo::cargo_bin("initgrid"))
        .arg("--config")
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .arg("--threads")
        .arg("2")
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn chunks(out: &Path) -> usize {
    std::fs::read_dir(out.join("chunks"))
        .map(|r| {
            r.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
                .count()
        })
        .unwrap_or(0)
}

fn wait_for_chunks(out: &Path, n: usize) {
    let t0 = Instant::now();
    while chunks(out) < n {
        assert!(t0.elapsed() < Duration::from_secs(120), "no chunk appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Resumes a run to completion (not quiet) and returns the (kept, trained) counts its
/// `resumed:` line reports.
fn resume(cfg: &Path, out: &Path) -> (u64, u64) {
    let o = bin()
        .arg("--config")
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .args(["--threads", "2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "resume failed: {err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("resumed: "))
        .unwrap_or_else(|| panic!("no `resumed:` line: {err}"));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().unwrap())
        .collect();
    (nums[0], nums[1])
}

/// Resumes an interrupted run and checks that it kept finished runs, trained only the rest,
/// and ended with the tables of an uninterrupted run.
fn resume_keeps_finished_runs(tmp: &Path, cfg: &Path, out: &Path) {
    let (kept, trained) = resume(cfg, out);
    let total = runs_no_timing(out).height() as u64;
    assert!(
        kept > 0 && trained < total,
        "resume retrained {trained} of {total} runs (kept {kept})"
    );
    assert_eq!(kept + trained, total);
    assert!(runs_no_timing(out).equals_missing(&reference(tmp, cfg)));
}

fn reference(tmp: &Path, cfg: &Path) -> polars::prelude::DataFrame {
    let r = tmp.join("ref");
    run_ok(cfg, &r, &["--threads", "2"]);
    runs_no_timing(&r)
}

#[test]
fn kill_9_then_resume_equals_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "m.toml", MID);
    let out = tmp.path().join("o");
    let mut child = spawn(&cfg, &out, &["--quiet"]);
    wait_for_chunks(&out, 2);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = chunks(&out);
    assert!(!out.join("runs.parquet").exists(), "the run finished before it could be killed");
    resume_keeps_finished_runs(tmp.path(), &cfg, &out);
    assert!(before >= 2);
}

#[test]
fn ctrl_c_flushes_and_resume_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "m.toml", MID);
    let out = tmp.path().join("o");
    let child = spawn(&cfg, &out, &[]);
    wait_for_chunks(&out, 1);
    StdCommand::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("resume with the same command"), "{err}");
    assert!(!out.join("runs.parquet").exists());
    resume_keeps_finished_runs(tmp.path(), &cfg, &out);
}

#[test]
fn three_shards_merged_equal_one_run_and_gaps_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "m.toml", &MID.replace("seeds = 400", "seeds = 200"));
    let dirs: Vec<_> = (0..3).map(|k| tmp.path().join(format!("s{k}"))).collect();
    for (k, d) in dirs.iter().enumerate() {
        run_ok(&cfg, d, &["--shard", &format!("{k}/3")]);
        assert!(!d.join("runs.parquet").exists());
    }
    let merged = tmp.path().join("merged");
    bin().arg("merge").arg(&merged).args(&dirs).arg("--quiet").assert().success();
    assert!(runs_no_timing(&merged).equals_missing(&reference(tmp.path(), &cfg)));
    assert!(merged.join("cells.parquet").exists() && merged.join("manifest.json").exists());
    // missing shard
    bin()
        .arg("merge")
        .arg(tmp.path().join("m2"))
        .args(&dirs[..2])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing shard(s): 2/3"));
    // duplicated shard
    let dup = tmp.path().join("dup");
    std::fs::create_dir_all(&dup).unwrap();
    for e in std::fs::read_dir(&dirs[1]).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), dup.join(e.file_name())).unwrap();
        }
    }
    bin()
        .arg("merge")
        .arg(tmp.path().join("m3"))
        .args(&dirs)
        .arg(&dup)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("duplicated shard(s): shard 1/3"));
    // shards of a different config
    let other = write(tmp.path(), "o.toml", &MID.replace("seeds = 400", "seeds = 100"));
    let od = tmp.path().join("other");
    run_ok(&other, &od, &["--shard", "0/3"]);
    bin()
        .arg("merge")
        .arg(tmp.path().join("m4"))
        .args(&dirs[1..])
        .arg(&od)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("different config"));
}

#[test]
fn shard_auto_reads_the_slurm_task_id() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "m.toml", &MID.replace("seeds = 400", "seeds = 32"));
    let d = tmp.path().join("a");
    bin()
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(&d)
        .args(["--shard", "auto/2", "--quiet"])
        .env("SLURM_ARRAY_TASK_ID", "1")
        .assert()
        .success();
    assert!(d.join("state-shard-1-of-2.json").exists());
    bin()
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(&d)
        .args(["--shard", "auto/2"])
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("SLURM_ARRAY_TASK_ID"));
}

#[test]
fn a_grown_grid_reuses_finished_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let small = write(tmp.path(), "s.toml", SMALL);
    let grown_text = SMALL
        .replace("seeds = 40", "seeds = 60")
        .replace("lr = [0.5, 3.0]", "lr = [0.5, 1.5, 3.0]");
    let grown = write(tmp.path(), "g.toml", &grown_text);
    let out = tmp.path().join("o");
    run_ok(&small, &out, &[]);
    let o = bin().arg("--config").arg(&grown).arg("--out").arg(&out).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    // 12 old cells × 40 seeds are reused; 18 × 60 − 480 = 600 runs are trained.
    assert!(err.contains("grown grid: 480 finished runs reused, 600 trained"), "{err}");
    assert!(!out.join("reuse").exists(), "the reuse area is cleaned up after success");
    let fresh = tmp.path().join("fresh");
    run_ok(&grown, &fresh, &[]);
    assert!(runs_no_timing(&out).equals_missing(&runs_no_timing(&fresh)));
    // A change that is not growth is still refused.
    let changed = write(tmp.path(), "c.toml", &grown_text.replace("max_epochs = 400", "max_epochs = 300"));
    bin()
        .arg("--config")
        .arg(&changed)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("max_epochs: 400 → 300"));
}

/// A disk that fills up mid-run, simulated with a file-size limit (`ulimit -f`) that lets the
/// chunk files through but not the final table: exit 1 naming the failed write, finished
/// chunks stay valid, and the same command resumes once space is back.
#[test]
fn a_full_disk_keeps_finished_chunks_and_resume_works() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "s.toml", SMALL);
    let reference = tmp.path().join("ref");
    run_ok(&cfg, &reference, &[]);
    // A finished directory keeps no chunks; a one-way shard keeps them all.
    let parts = tmp.path().join("parts");
    run_ok(&cfg, &parts, &["--shard", "0/1"]);
    let max_chunk = std::fs::read_dir(parts.join("chunks"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .max()
        .unwrap();
    let runs_size = std::fs::metadata(reference.join("runs.parquet")).unwrap().len();
    assert!(
        runs_size > max_chunk + 1024,
        "the test needs runs.parquet ({runs_size} B) larger than a chunk ({max_chunk} B)"
    );
    let blocks = (max_chunk + 1023) / 512; // ulimit -f counts 512-byte blocks
    let out = tmp.path().join("o");
    let bin_path = assert_cmd::cargo::cargo_bin("initgrid");
    let o = StdCommand::new("sh")
        .arg("-c")
        .arg(format!("ulimit -f {blocks}; exec \"$0\" --config \"$1\" --out \"$2\" --quiet"))
        .arg(&bin_path)
        .arg(&cfg)
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("runs.parquet"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.join("runs.parquet").exists());
    assert_eq!(chunks(&out), chunks(&parts));
    // Space is back: the same command resumes from the chunks and trains nothing.
    let o = bin().arg("--config").arg(&cfg).arg("--out").arg(&out).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("resumed: 480 runs were already finished and kept, 0 trained now"),
        "{err}"
    );
    assert!(runs_no_timing(&out).equals_missing(&runs_no_timing(&reference)));
    assert_eq!(chunks(&out), 0, "finished: runs.parquet is the one copy of the runs");
}
