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
