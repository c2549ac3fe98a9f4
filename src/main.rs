use std::process::ExitCode;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`initgrid summary … | head`), like other Unix tools,
    // instead of panicking on the failed write.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    initgrid::app::main()
}
