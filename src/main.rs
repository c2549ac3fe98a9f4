use std::process::ExitCode;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`initgrid summary … | head`), like other Unix tools,
    // instead of panicking on the failed write.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    // A full disk or a file-size limit must surface as a write error (exit 1, chunks intact),
    // not as a SIGXFSZ kill.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    initgrid::run()
}
