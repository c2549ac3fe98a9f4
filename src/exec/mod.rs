//! Executing a grid: work units, windows and shards ([`units`]), training them on all cores
//! into chunk files ([`runner`]), reuse of a grown grid's runs ([`reuse`]), the policy for an
//! existing results directory ([`prepare`]), assembling the final tables ([`finalize`]) and
//! retraining one stored run ([`replay`]), checking chunks and state files when they are read
//! ([`heal`]), keeping one copy of the runs in a finished directory ([`compact`]) and auditing
//! a finished directory ([`verify`]).

pub(crate) mod adaptive;
pub(crate) mod ask;
pub(crate) mod bench;
pub(crate) mod compact;
pub(crate) mod finalize;
pub(crate) mod heal;
pub(crate) mod prepare;
pub(crate) mod replay;
pub(crate) mod reuse;
pub(crate) mod runner;
pub(crate) mod units;
pub(crate) mod verify;

use anyhow::Result;

use crate::error::usage;

/// Worker threads: the flag's value (≥ 1), else `RAYON_NUM_THREADS`, else all cores. Every
/// command that trains resolves its `--threads` here.
pub(crate) fn resolve_threads(arg: Option<usize>) -> Result<usize> {
    match arg {
        Some(0) => usage("--threads 0: give at least 1 thread (or leave it out to use every core)"),
        Some(n) => Ok(n),
        None => Ok(std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))),
    }
}
