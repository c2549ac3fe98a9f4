use std::process::ExitCode;

fn main() -> ExitCode {
    initgrid::app::main()
}
