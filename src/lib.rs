//! fleet: deploy a NixOS fleet from one inventory.
//!
//! Data flows one way: `hosts.toml` → [`inventory::Inventory`] → [`plan::Plan`] → executor → report.
//! `command` has each subcommand, its arguments beside its body (`cli` the options they share,
//! `app` what they share when they run), `ui` renders everything people read. Every module is private: the binary calls [`main`],
//! the fuzz targets [`fuzzing`], and the compiler finds what nothing uses.

mod app;
mod cli;
mod command;
mod complete;
mod error;
mod exec;
mod facts;
mod flake;
mod health;
mod history;
mod inventory;
mod nix;
mod plan;
mod preview;
mod report;
mod runs;
mod secret;
mod select;
mod time;
mod ui;
mod vocab;

/// The `fleet` binary: completions, parse, run, and the exit code (see `error::exit`).
pub fn main() -> std::process::ExitCode {
    use clap::Parser;
    complete::handle_request(command::clap_command);
    let mut cli = command::Cli::parse();
    cli.global.argv = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match command::run(&cli) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            ui::print_error(&e, cli.global.color.enabled());
            std::process::ExitCode::from(e.exit_code())
        }
    }
}

/// What the fuzz targets (`fuzz/`) feed bytes to.
#[doc(hidden)]
pub mod fuzzing {
    /// Any text as hosts.toml: an inventory whose every name passed the whitelists, or an
    /// error that renders; never a panic.
    pub fn inventory(text: &str) {
        use crate::inventory::names;
        match crate::inventory::Inventory::parse(text, std::path::Path::new("/fuzz/hosts.toml")) {
            Ok(inv) => {
                for h in &inv.hosts {
                    assert!(names::is_identifier(&h.name));
                    for a in &h.addresses {
                        assert!(names::address_problem(a).is_none());
                    }
                    for check in &h.health_checks {
                        for (i, word) in check.iter().enumerate() {
                            assert!(names::check_word_problem(word, i).is_none());
                        }
                    }
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }

    /// Any bytes as a host's answer, through every parser of host answers.
    pub fn host_answers(text: &str) {
        crate::facts::host_answers(text);
    }
}
