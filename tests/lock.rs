//! `initgrid::store::lock` across real processes: a child process (this test binary, re-run as a
//! helper) holds the lock; the parent is refused naming the child, then takes the lock over with
//! a notice after the child is killed with SIGKILL (it never releases the lock itself).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use initgrid::store::lock::{DIR_LOCK, DirLock, LockError};

const DIR_VAR: &str = "INITGRID_LOCK_TEST_DIR";

/// Not a test: the child side of `second_process_is_refused_then_takes_over_a_dead_holder`.
/// It takes the lock in `$INITGRID_LOCK_TEST_DIR`, says so on stdout, and waits to be killed.
#[test]
#[ignore = "helper process for the cross-process lock test"]
fn lock_holder_child() {
    let Some(dir) = std::env::var_os(DIR_VAR) else { return };
    let lock = DirLock::acquire(Path::new(&dir), DIR_LOCK).expect("child takes the lock");
    println!("LOCKED {}", std::process::id());
    std::thread::sleep(std::time::Duration::from_secs(120));
    drop(lock); // not reached: the parent kills us
    panic!("the parent did not kill the lock holder");
}

/// The helper process; killed (SIGKILL) and reaped when dropped, so a failing test leaves
/// nothing behind.
struct HolderProcess(Child);

impl Drop for HolderProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_holder(dir: &Path) -> (HolderProcess, BufReader<ChildStdout>) {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["lock_holder_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(DIR_VAR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut holder = HolderProcess(child);
    let mut out = BufReader::new(holder.0.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "helper exited before locking");
        // libtest may print "test lock_holder_child ... " on the same line first.
        if let Some((_, pid)) = line.trim().split_once("LOCKED ") {
            assert_eq!(pid.parse::<u32>().unwrap(), holder.0.id());
            return (holder, out);
        }
    }
}

#[test]
fn second_process_is_refused_then_takes_over_a_dead_holder() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _stdout) = spawn_holder(dir.path());
    let pid = child.0.id();

    let err = DirLock::acquire(dir.path(), DIR_LOCK).unwrap_err();
    let LockError::Held { holder: Some(holder), .. } = &err else {
        panic!("expected Held naming the child, got {err:?}")
    };
    assert_eq!(holder.pid, Some(pid));
    let msg = err.to_string();
    assert!(msg.contains(&format!("pid {pid} on host ")), "{msg}");
    assert!(msg.contains("wait for it to finish, or stop it"), "{msg}");

    child.0.kill().unwrap(); // SIGKILL: no destructor runs, the lock file stays behind
    child.0.wait().unwrap();
    assert!(dir.path().join(DIR_LOCK).exists(), "a killed holder leaves its file");

    let lock = DirLock::acquire(dir.path(), DIR_LOCK).expect("stale lock taken over");
    assert_eq!(lock.taken_over().and_then(|h| h.pid), Some(pid));
    let notice = lock.notice().unwrap();
    assert!(
        notice.contains(&format!("pid {pid}")) && notice.contains("no longer running"),
        "{notice}"
    );
    assert_eq!(lock.holder().pid, Some(std::process::id()));
}

// ---- the lock wired into the binary: `initgrid --config … --out DIR` and `merge` ----

mod common;

use std::time::{Duration, Instant};

/// The real binary, started in the background on `out`.
fn spawn_run(cfg: &Path, out: &Path, extra: &[&str]) -> HolderProcess {
    let child = Command::new(assert_cmd::cargo::cargo_bin("initgrid"))
        .arg("--config")
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .args(["--threads", "2", "--quiet"])
        .args(extra)
        .env_remove("RAYON_NUM_THREADS")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    HolderProcess(child)
}

/// Waits until the lock file `out/name` names `pid`.
fn wait_for_lock(out: &Path, name: &str, pid: u32) {
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(out.join(name)).unwrap_or_default();
        if text.lines().any(|l| l == format!("pid={pid}")) {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "the run never took its lock");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_second_writer_is_refused_while_the_first_completes_correctly() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = common::write(tmp.path(), "m.toml", &common::MID.replace("seeds = 400", "seeds = 60"));
    let out = tmp.path().join("o");
    let mut first = spawn_run(&cfg, &out, &[]);
    let pid = first.0.id();
    wait_for_lock(&out, DIR_LOCK, pid);
    // The same command, and the same with --fresh (which would delete the first one's work):
    // both refused at once, exit 1, naming the holder and what to do.
    for extra in [&[][..], &["--fresh"][..]] {
        let t0 = Instant::now();
        let (code, _, err) = common::outcome(common::bin().arg("--config").arg(&cfg).arg("--out").arg(&out).args(extra));
        assert_eq!(code, 1, "{err}");
        assert!(t0.elapsed() < Duration::from_secs(5), "the second writer waited");
        assert!(
            err.contains(&format!("is in use by another initgrid process (pid {pid} on host ")),
            "{err}"
        );
        assert!(err.contains(&format!("wait for it to finish, or stop it (`kill {pid}`)")), "{err}");
    }
    assert!(
        !out.join("runs.parquet").exists(),
        "the first run ended before the second started; the test proves nothing"
    );
    let status = first.0.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(first.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "the first writer failed: {err}");
    assert!(!out.join(DIR_LOCK).exists(), "the lock file is removed on exit");
    // Its results are complete and sound.
    let (code, out_text, err) = common::outcome(common::bin().arg("verify").arg(&out).args(["--sample", "10"]));
    assert_eq!(code, 0, "{out_text}{err}");
}

#[test]
fn a_second_writer_on_the_same_shard_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = common::write(tmp.path(), "m.toml", common::MID);
    let out = tmp.path().join("o");
    let first = spawn_run(&cfg, &out, &["--shard", "1/2"]);
    let pid = first.0.id();
    wait_for_lock(&out, ".lock-shard-1-of-2", pid);
    let (code, _, err) = common::outcome(
        common::bin()
            .arg("--config")
            .arg(&cfg)
            .arg("--out")
            .arg(&out)
            .args(["--shard", "1/2"]),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("(pid {pid} on host ")), "{err}");
    assert!(err.contains(".lock-shard-1-of-2"), "{err}");
    drop(first); // SIGKILL: its lock is then stale
}

#[test]
fn a_stale_lock_of_a_killed_run_is_taken_over_with_a_notice() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = common::write(tmp.path(), "m.toml", &common::MID.replace("seeds = 400", "seeds = 60"));
    let out = tmp.path().join("o");
    let mut first = spawn_run(&cfg, &out, &[]);
    let pid = first.0.id();
    wait_for_lock(&out, DIR_LOCK, pid);
    first.0.kill().unwrap(); // SIGKILL: the lock file stays behind, the kernel drops the lock
    first.0.wait().unwrap();
    assert!(out.join(DIR_LOCK).exists());
    let (code, _, err) = common::outcome(common::bin().arg("--config").arg(&cfg).arg("--out").arg(&out).arg("--quiet"));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!(
            "note: took over the lock {} left by a process that is no longer running (pid {pid} on host ",
            out.join(DIR_LOCK).display()
        )),
        "{err}"
    );
    assert!(!out.join(DIR_LOCK).exists());
    // A lock file copied from another machine (nobody holds it here) is stale too.
    std::fs::write(out.join(DIR_LOCK), "pid=999999\nhost=elsewhere\nstarted=2026-01-01T00:00:00Z\n").unwrap();
    let (code, _, err) = common::outcome(common::bin().arg("--config").arg(&cfg).arg("--out").arg(&out).arg("--quiet"));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("(pid 999999 on host elsewhere, started 2026-01-01T00:00:00Z)"),
        "{err}"
    );
}
