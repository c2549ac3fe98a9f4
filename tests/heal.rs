//! Self-healing: a damaged chunk, state file or shard part is set aside (named, with the runs
//! it costs) and its runs are trained again; the final tables equal a clean run. Also the
//! refusal of a results directory written by an incompatible version.

mod common;

use std::path::Path;

use common::*;

fn rerun(cfg: &Path, out: &Path, extra: &[&str]) -> (i32, String, String) {
    outcome(bin().arg("--config").arg(cfg).arg("--out").arg(out).args(extra))
}

fn truncate_half(p: &Path) {
    let bytes = std::fs::read(p).unwrap();
    std::fs::write(p, &bytes[..bytes.len() / 2]).unwrap();
}

#[test]
fn a_damaged_chunk_is_set_aside_and_retrained_and_the_tables_equal_a_clean_run() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "s.toml", SMALL);
    let reference = tmp.path().join("ref");
    run_ok(&cfg, &reference, &[]);
    let (runs, cells) = (runs_no_timing(&reference), read(&reference.join("cells.parquet")));
    // A finished directory keeps no chunks; a shard keeps its parts (a one-way shard: all).
    let out = tmp.path().join("o");
    run_ok(&cfg, &out, &["--shard", "0/1"]);
    let chunk = out.join("chunks").join("w0000001.parquet");

    // Truncated (a bad disk, a partial copy): 4 units of the 12 cells × 40 seeds = 160 runs.
    truncate_half(&chunk);
    let (code, _, err) = rerun(&cfg, &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("damaged chunk {} (not readable as Parquet", chunk.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!("moved to {}", out.join("damaged").join("w0000001.parquet").display())),
        "{err}"
    );
    assert!(err.contains("its 160 runs will be retrained"), "{err}");
    assert!(
        err.contains("resumed: 320 runs were already finished and kept, 160 trained now"),
        "{err}"
    );
    assert!(!err.contains("safe in"), "{err}");
    assert!(runs_no_timing(&out).equals_missing(&runs));
    assert!(read(&out.join("cells.parquet")).equals_missing(&cells));
    assert!(out.join("damaged").join("w0000001.parquet").exists());

    // A sound Parquet file holding the wrong runs (window 0's chunk copied over window 1's; both
    // windows hold 160 runs), found by the shard when it resumes; its merge equals a clean run.
    std::fs::copy(out.join("chunks").join("w0000000.parquet"), &chunk).unwrap();
    let (code, _, err) = rerun(&cfg, &out, &["--quiet", "--shard", "0/1"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("row 0 holds run") && err.contains("(a run of another window or grid)"),
        "{err}"
    );
    assert!(
        out.join("damaged").join("w0000001.parquet.1").exists(),
        "a second damaged copy keeps the first"
    );
    // The tables assembled again from the healed chunks (as after an assembly that stopped
    // before its manifest) equal a clean run.
    std::fs::remove_file(out.join("manifest.json")).unwrap();
    let (code, _, err) = rerun(&cfg, &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("480 runs (0 trained now)"), "{err}");
    assert!(runs_no_timing(&out).equals_missing(&runs));

    // The healed directory verifies.
    bin().arg("verify").arg(&out).assert().success();
}

#[test]
fn a_damaged_state_file_is_set_aside_and_every_sound_chunk_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "s.toml", SMALL);
    let out = tmp.path().join("o");
    run_ok(&cfg, &out, &[]);
    let runs = runs_no_timing(&out);
    truncate_half(&out.join("state.json"));
    let (code, _, err) = rerun(&cfg, &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("damaged state file {} (not valid JSON", out.join("state.json").display())),
        "{err}"
    );
    assert!(
        err.contains("every chunk is checked against this config before it is kept"),
        "{err}"
    );
    // The manifest vouches for every table: nothing to train.
    assert!(err.contains("already complete — 480 runs"), "{err}");
    assert!(runs_no_timing(&out).equals_missing(&runs));
    assert!(out.join("damaged").join("state.json").exists());
    // A run of another config over those results (state gone) keeps none of their runs and
    // sets their runs.parquet aside.
    assert!(!out.join("state.json").exists());
    let other = write(tmp.path(), "b.toml", &SMALL.replace("base_seed = 7", "base_seed = 8"));
    let (code, _, err) = rerun(&other, &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("runs.parquet set aside (it holds the runs of another config"), "{err}");
    assert!(out.join("damaged").join("runs.parquet").exists());
    let fresh = tmp.path().join("fresh");
    run_ok(&other, &fresh, &[]);
    assert!(runs_no_timing(&out).equals_missing(&runs_no_timing(&fresh)));
}

#[test]
fn merge_names_a_damaged_shard_part_or_state_and_the_shard_to_rerun() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "s.toml", SMALL);
    let dirs: Vec<_> = (0..2).map(|k| tmp.path().join(format!("s{k}"))).collect();
    for (k, d) in dirs.iter().enumerate() {
        run_ok(&cfg, d, &["--shard", &format!("{k}/2")]);
    }
    let merged = tmp.path().join("merged");
    // Window 1 belongs to shard 1 of 2.
    let part = dirs[1].join("chunks").join("w0000001.parquet");
    truncate_half(&part);
    let (code, _, err) = outcome(bin().arg("merge").arg(&merged).args(&dirs));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("damaged shard part {} (not readable as Parquet", part.display())),
        "{err}"
    );
    assert!(
        err.contains("it held 160 runs of shard 1/2: rerun that shard (initgrid --config"),
        "{err}"
    );
    assert!(err.contains("--shard 1/2 --out"), "{err}");
    assert!(!merged.join("runs.parquet").exists());
    // Rerunning that shard retrains exactly the damaged part.
    let (code, _, err) = rerun(&cfg, &dirs[1], &["--shard", "1/2"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("shard 1/2 done: 160 runs"), "{err}");

    // A damaged shard state file.
    let state = dirs[0].join("state-shard-0-of-2.json");
    std::fs::write(&state, b"{\"results_format\": 2, \"initgrid_ver").unwrap();
    let (code, _, err) = outcome(bin().arg("merge").arg(&merged).args(&dirs));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("damaged state file {} (not valid JSON", state.display())),
        "{err}"
    );
    assert!(err.contains("rerun shard 0/2"), "{err}");
    let (code, _, err) = rerun(&cfg, &dirs[0], &["--shard", "0/2"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("resumed: 320 runs were already finished and kept, 0 trained now"),
        "{err}"
    );

    bin().arg("merge").arg(&merged).args(&dirs).arg("--quiet").assert().success();
    let single = tmp.path().join("single");
    run_ok(&cfg, &single, &[]);
    assert!(runs_no_timing(&merged).equals_missing(&runs_no_timing(&single)));
    assert!(read(&merged.join("cells.parquet")).equals_missing(&read(&single.join("cells.parquet"))));
}

#[test]
fn a_results_directory_of_an_incompatible_version_is_refused_naming_both_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "s.toml", &SMALL.replace("seeds = 40", "seeds = 4"));
    let out = tmp.path().join("o");
    run_ok(&cfg, &out, &[]);
    let set_format = |file: &str, format: Option<u64>| {
        let p = out.join(file);
        let mut m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        m["initgrid_version"] = "0.0.9".into();
        match format {
            Some(f) => m["results_format"] = f.into(),
            None => {
                m.as_object_mut().unwrap().remove("results_format");
            }
        }
        std::fs::write(&p, serde_json::to_string(&m).unwrap()).unwrap();
    };
    let this = env!("CARGO_PKG_VERSION");
    // A manifest from before the field existed is format 1.
    set_format("manifest.json", None);
    let (code, _, err) = outcome(bin().arg("summary").arg(&out));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "was written by initgrid 0.0.9 (results format 1); this is initgrid {this} (results format 2)"
        )),
        "{err}"
    );
    set_format("manifest.json", Some(3));
    let (code, _, err) = outcome(bin().arg("verify").arg(&out));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("(results format 3)"), "{err}");
    // Resuming over a state file of another format is refused too — not treated as damage.
    set_format("state.json", Some(1));
    let (code, _, err) = rerun(&cfg, &out, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("state.json was written by initgrid 0.0.9 (results format 1)"), "{err}");
    assert!(!out.join("damaged").exists());
}
