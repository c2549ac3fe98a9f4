//! The one error type of initgrid and the one place where errors become exit codes.
//!
//! | exit | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | runtime failure (I/O, disk full, a damaged file, a replay that does not reproduce) |
//! | 2 | bad usage or config (the message names the key or flag and the fix) |
//! | 130 | interrupted (finished runs are saved; rerun the same command to resume) |
//!
//! Domain code returns `anyhow::Result` so that I/O errors carry their context; an error that
//! is the user's to fix is raised as [`Error::Usage`] (a config error converts into it), anywhere
//! in the chain. [`exit_code`] is the only mapping.

use std::fmt;

/// Exit code of an interrupted run (128 + SIGINT).
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

/// An error whose kind decides the exit code.
#[derive(Debug)]
pub(crate) enum Error {
    /// A mistake in how initgrid was called or configured: exit 2.
    Usage(String),
    /// Stored results disagree with what they should be (a replay that does not reproduce,
    /// a damaged table): exit 1.
    Mismatch(String),
    /// Stopped by Ctrl-C / SIGTERM after saving: exit 130.
    Interrupted(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::Mismatch(m) | Error::Interrupted(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

/// `Err(Error::Usage(msg))` as an `anyhow::Result`.
pub(crate) fn usage<T>(msg: impl Into<String>) -> anyhow::Result<T> {
    Err(Error::Usage(msg.into()).into())
}

/// The exit code for an error: the first [`Error`] in its chain decides;
/// anything else is a runtime failure.
pub(crate) fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(err) = cause.downcast_ref::<Error>() {
            return match err {
                Error::Usage(_) => 2,
                Error::Mismatch(_) => 1,
                Error::Interrupted(_) => EXIT_INTERRUPTED,
            };
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn exit_codes_in_one_place() {
        let u: anyhow::Result<()> = usage("bad flag");
        assert_eq!(exit_code(&u.unwrap_err()), 2);
        // The kind survives added context.
        let u: anyhow::Result<()> = usage("bad flag");
        assert_eq!(exit_code(&u.context("while reading").unwrap_err()), 2);
        let io = std::fs::read("/nonexistent/initgrid").context("cannot read");
        assert_eq!(exit_code(&io.unwrap_err()), 1);
        assert_eq!(exit_code(&Error::Mismatch("differs".into()).into()), 1);
        assert_eq!(exit_code(&Error::Interrupted("stopped".into()).into()), 130);
    }
}
