//! One writer per directory: an advisory lock on a lock file inside the results directory.
//!
//! [`DirLock::acquire`] takes an exclusive, non-blocking `flock(2)` on `DIR/<name>` (`.lock` for a
//! whole run, [`shard_lock_name`] for one shard) and writes who holds it — pid, host name and
//! start time (UTC) — into the file. A second process asking for the same lock is refused at
//! once with [`LockError::Held`], whose message names the holder and what to do.
//!
//! Why `flock`: the kernel releases it when the holding process dies, however it dies (`kill -9`,
//! power loss aside, a crash), so a lock file whose lock *can* be taken is stale by definition:
//! its writer is gone. Taking it over is not an error; [`DirLock::taken_over`] returns the dead
//! holder for the caller to print as a notice ([`DirLock::notice`]). On Linux NFS clients
//! `flock` is emulated with POSIX byte-range locks and so works across machines too.
//!
//! Locks belong to an *open file description*: two `open`s of the file, even in one process,
//! conflict. The lock is released when the [`DirLock`] is dropped; the lock file is removed
//! first (while still locked), and [`DirLock::acquire`] re-checks after locking that the path
//! still names the file it locked, so a process that opened the old file just before it was
//! removed retries on the new one instead of holding a lock on a deleted file.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Lock file of a whole (unsharded) run in its output directory.
pub const DIR_LOCK: &str = ".lock";

/// Lock file of shard `index` of `count` (0-based, as `--shard K/N`): `.lock-shard-K-of-N`.
pub fn shard_lock_name(index: usize, count: usize) -> String {
    format!(".lock-shard-{index}-of-{count}")
}

/// Who holds (or held) a lock, as written in the lock file. Fields are `None` when the file
/// did not say (a writer that died between creating the file and writing it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<u32>,
    pub host: Option<String>,
    /// UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub started: Option<String>,
}

impl Holder {
    /// This process, now.
    fn current() -> Holder {
        Holder {
            pid: Some(std::process::id()),
            host: Some(host_name()),
            started: Some(crate::store::manifest::now_utc()),
        }
    }

    /// Lock file contents: one `key=value` line per field.
    fn to_file_text(&self) -> String {
        let mut s = String::new();
        if let Some(pid) = self.pid {
            s.push_str(&format!("pid={pid}\n"));
        }
        if let Some(host) = &self.host {
            s.push_str(&format!("host={host}\n"));
        }
        if let Some(started) = &self.started {
            s.push_str(&format!("started={started}\n"));
        }
        s
    }

    /// Reads what [`Holder::to_file_text`] wrote; unknown lines and bad values are ignored.
    fn parse(text: &str) -> Holder {
        let mut h = Holder {
            pid: None,
            host: None,
            started: None,
        };
        for line in text.lines() {
            match line.split_once('=') {
                Some(("pid", v)) => h.pid = v.trim().parse().ok(),
                Some(("host", v)) if !v.trim().is_empty() => h.host = Some(v.trim().to_string()),
                Some(("started", v)) if !v.trim().is_empty() => h.started = Some(v.trim().to_string()),
                _ => {}
            }
        }
        h
    }
}

impl fmt::Display for Holder {
    /// `pid 4242 on host node7, started 2026-12-01T04:10:00Z` ("unknown" for missing fields).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "pid {pid}")?,
            None => write!(f, "pid unknown")?,
        }
        write!(f, " on host {}", self.host.as_deref().unwrap_or("unknown"))?;
        write!(f, ", started {}", self.started.as_deref().unwrap_or("at an unknown time"))
    }
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another open file description holds the lock: another process is writing this directory.
    #[error(
        "{dir} is in use by another initgrid process ({holder}; lock file {path}) — wait for it \
         to finish, or stop it{kill}; if no such process runs{on_host}, another process still \
         holds the lock file open (one on another machine sharing this directory, or a child \
         that inherited it: `fuser -v {path}` names it on its machine) — do not delete the lock \
         file while it is held",
        dir = dir.display(),
        path = path.display(),
        holder = describe(holder),
        kill = kill_hint(holder),
        on_host = on_host(holder),
    )]
    Held {
        dir: PathBuf,
        path: PathBuf,
        holder: Option<Holder>,
    },
    /// The lock file could not be created, locked, read or written.
    #[error("cannot {what} the lock file {path}: {source}", path = path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

fn describe(holder: &Option<Holder>) -> String {
    match holder {
        Some(h) => h.to_string(),
        None => "it has not written its pid yet".to_string(),
    }
}

fn kill_hint(holder: &Option<Holder>) -> String {
    match holder.as_ref().and_then(|h| h.pid) {
        Some(pid) => format!(" (`kill {pid}`)"),
        None => String::new(),
    }
}

fn on_host(holder: &Option<Holder>) -> String {
    match holder.as_ref().and_then(|h| h.host.as_deref()) {
        Some(host) => format!(" on {host}"),
        None => String::new(),
    }
}

/// An exclusive advisory lock on `DIR/<name>`, held until dropped.
#[derive(Debug)]
pub struct DirLock {
    file: File,
    path: PathBuf,
    holder: Holder,
    taken_over: Option<Holder>,
}

impl DirLock {
    /// Takes the lock `dir/name` without waiting (`dir` must exist). Refused with
    /// [`LockError::Held`] naming the holder if another process (or another open of the file)
    /// holds it. A leftover lock file of a dead process is taken over: see [`DirLock::taken_over`].
    pub fn acquire(dir: &Path, name: &str) -> Result<DirLock, LockError> {
        let path = dir.join(name);
        let io_err = |what, source| LockError::Io {
            what,
            path: path.clone(),
            source,
        };
        // A releasing holder removes the file before unlocking it; whoever opened the old file
        // in between sees the path gone or replaced and retries. Bounded: each retry needs
        // another process to take and release the lock in the meantime.
        for _ in 0..64 {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
                .map_err(|e| io_err("create", e))?;
            // SAFETY: flock on a file descriptor we own; no memory is passed.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                    let text = read_all(&mut file).map_err(|e| io_err("read", e))?;
                    let holder = (!text.trim().is_empty()).then(|| Holder::parse(&text));
                    return Err(LockError::Held {
                        dir: dir.to_path_buf(),
                        path,
                        holder,
                    });
                }
                return Err(io_err("lock", e));
            }
            if !same_file(&file, &path).map_err(|e| io_err("check", e))? {
                continue; // locked a file its holder has just removed: try the new one
            }
            let text = read_all(&mut file).map_err(|e| io_err("read", e))?;
            let taken_over = (!text.trim().is_empty()).then(|| Holder::parse(&text));
            let holder = Holder::current();
            file.set_len(0).map_err(|e| io_err("write", e))?;
            file.seek(SeekFrom::Start(0)).map_err(|e| io_err("write", e))?;
            file.write_all(holder.to_file_text().as_bytes()).map_err(|e| io_err("write", e))?;
            file.sync_data().map_err(|e| io_err("write", e))?;
            return Ok(DirLock {
                file,
                path,
                holder,
                taken_over,
            });
        }
        Err(io_err(
            "lock",
            io::Error::other("the lock file kept being replaced by other processes; try again"),
        ))
    }

    /// The holder of a stale lock file this lock replaced (a process that died without
    /// releasing it), if any.
    pub fn taken_over(&self) -> Option<&Holder> {
        self.taken_over.as_ref()
    }

    /// A one-line notice for the user when a stale lock was taken over, else `None`.
    pub fn notice(&self) -> Option<String> {
        self.taken_over.as_ref().map(|h| {
            format!(
                "note: took over the lock {} left by a process that is no longer running ({h})",
                self.path.display()
            )
        })
    }

    /// What this lock wrote into its file (this process).
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// Path of the lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DirLock {
    /// Removes the lock file (only if the path still names the file we locked), then closes it,
    /// which releases the lock. Errors are ignored: the kernel releases the lock regardless, and a
    /// leftover file is recognised as stale.
    fn drop(&mut self) {
        if same_file(&self.file, &self.path).unwrap_or(false) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Whether `path` currently names the open `file` (same device and inode).
fn same_file(file: &File, path: &Path) -> io::Result<bool> {
    let open = file.metadata()?;
    match fs::metadata(path) {
        Ok(named) => Ok(open.dev() == named.dev() && open.ino() == named.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn read_all(file: &mut File) -> io::Result<String> {
    file.seek(SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// This machine's host name (`gethostname(2)`), or "unknown".
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for buf.len() bytes; gethostname NUL-terminates on success
    // when the name fits, and we also stop at the buffer's end.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match String::from_utf8_lossy(&buf[..end]).trim() {
        "" => "unknown".to_string(),
        h => h.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_file_names_this_process_and_goes_away_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let lock = DirLock::acquire(dir.path(), DIR_LOCK).unwrap();
        assert_eq!(lock.taken_over(), None);
        assert_eq!(lock.notice(), None);
        let text = fs::read_to_string(dir.path().join(".lock")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], format!("pid={}", std::process::id()));
        assert_eq!(lines[1], format!("host={}", host_name()));
        let started = lines[2].strip_prefix("started=").unwrap();
        // YYYY-MM-DDTHH:MM:SSZ
        assert_eq!(started.len(), 20, "{started}");
        assert!(started.starts_with("20") && started.ends_with('Z'), "{started}");
        assert_eq!(&started[10..11], "T");
        assert_eq!(Holder::parse(&text), *lock.holder());
        drop(lock);
        assert!(!dir.path().join(".lock").exists());
    }

    #[test]
    fn second_open_is_refused_naming_the_holder_then_allowed_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path(), DIR_LOCK).unwrap();
        let err = DirLock::acquire(dir.path(), DIR_LOCK).unwrap_err();
        match &err {
            LockError::Held { holder: Some(h), path, .. } => {
                assert_eq!(h, first.holder());
                assert_eq!(path, &dir.path().join(".lock"));
            }
            other => panic!("expected Held with a holder, got {other:?}"),
        }
        let msg = err.to_string();
        let pid = std::process::id();
        for needle in [
            format!("pid {pid} on host {}", host_name()),
            first.holder().started.clone().unwrap(),
            "wait for it to finish, or stop it".to_string(),
            format!("kill {pid}"),
            "if no such process runs".to_string(),
            "do not delete the lock file".to_string(),
        ] {
            assert!(msg.contains(&needle), "{needle:?} missing from: {msg}");
        }
        // The refused attempt must not have disturbed the holder's file.
        let text = fs::read_to_string(first.path()).unwrap();
        assert_eq!(Holder::parse(&text), *first.holder());
        drop(first);
        let again = DirLock::acquire(dir.path(), DIR_LOCK).unwrap();
        assert_eq!(again.taken_over(), None, "a released lock is not stale");
    }

    #[test]
    fn different_names_are_independent_locks() {
        let dir = tempfile::tempdir().unwrap();
        let _a = DirLock::acquire(dir.path(), &shard_lock_name(0, 2)).unwrap();
        let _b = DirLock::acquire(dir.path(), &shard_lock_name(1, 2)).unwrap();
        assert!(DirLock::acquire(dir.path(), &shard_lock_name(1, 2)).is_err());
        assert!(dir.path().join(".lock-shard-1-of-2").exists());
    }

    #[test]
    fn stale_lock_file_is_taken_over_with_a_notice() {
        let dir = tempfile::tempdir().unwrap();
        let old = "pid=999999\nhost=node7\nstarted=2026-01-02T03:04:05Z\n";
        fs::write(dir.path().join(".lock"), old).unwrap();
        let lock = DirLock::acquire(dir.path(), DIR_LOCK).unwrap();
        let dead = Holder {
            pid: Some(999_999),
            host: Some("node7".into()),
            started: Some("2026-01-02T03:04:05Z".into()),
        };
        assert_eq!(lock.taken_over(), Some(&dead));
        let notice = lock.notice().unwrap();
        assert!(
            notice.contains("pid 999999 on host node7, started 2026-01-02T03:04:05Z"),
            "{notice}"
        );
        assert!(notice.contains("no longer running"), "{notice}");
        // The file now names this process only.
        let text = fs::read_to_string(lock.path()).unwrap();
        assert_eq!(Holder::parse(&text), *lock.holder());
        assert!(!text.contains("999999"));
    }

    #[test]
    fn garbled_stale_file_is_taken_over_with_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".lock"), "pid=12x\ngarbage").unwrap();
        let lock = DirLock::acquire(dir.path(), DIR_LOCK).unwrap();
        let h = lock.taken_over().unwrap();
        assert_eq!((h.pid, h.host.as_deref(), h.started.as_deref()), (None, None, None));
        assert_eq!(h.to_string(), "pid unknown on host unknown, started at an unknown time");
    }

    #[test]
    fn holder_without_details_is_reported_without_a_kill_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        // Someone who locked the file but has not written it yet (the window right after open).
        let f = File::create(&path).unwrap();
        assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
        let err = DirLock::acquire(dir.path(), DIR_LOCK).unwrap_err();
        assert!(matches!(err, LockError::Held { holder: None, .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("it has not written its pid yet"), "{msg}");
        assert!(!msg.contains("kill"), "{msg}");
    }

    #[test]
    fn drop_spares_a_lock_file_that_replaced_ours() {
        let dir = tempfile::tempdir().unwrap();
        let lock = DirLock::acquire(dir.path(), DIR_LOCK).unwrap();
        // Someone deleted our file and another writer created its own.
        fs::remove_file(lock.path()).unwrap();
        let other = DirLock::acquire(dir.path(), DIR_LOCK).unwrap();
        drop(lock);
        assert!(other.path().exists(), "dropping the old lock removed the new holder's file");
        assert!(DirLock::acquire(dir.path(), DIR_LOCK).is_err());
    }

    #[test]
    fn missing_directory_is_an_io_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = DirLock::acquire(&dir.path().join("nope"), DIR_LOCK).unwrap_err();
        assert!(matches!(err, LockError::Io { what: "create", .. }), "{err:?}");
        assert!(err.to_string().contains("nope/.lock"), "{err}");
    }

    #[test]
    fn holder_text_round_trips() {
        let h = Holder {
            pid: Some(7),
            host: Some("a.b".into()),
            started: Some("2026-12-01T00:00:00Z".into()),
        };
        assert_eq!(Holder::parse(&h.to_file_text()), h);
        assert_eq!(h.to_string(), "pid 7 on host a.b, started 2026-12-01T00:00:00Z");
    }
}
