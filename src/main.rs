//! The `fleet` binary: parse, run, map errors to exit codes. Everything else is in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    fleet::complete::handle_request(fleet::cli::command);
    let cli = fleet::cli::Cli::parse();
    match fleet::command::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            fleet::ui::print_error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}
