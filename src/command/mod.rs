//! The subcommands, one file each, holding its clap arguments (the struct's doc comment is its
//! `--help`) and what it does: select the hosts, plan, then print the plan (`--dry-run`) or run
//! it and render what it did. A new subcommand is a file here, a line in `commands!` below,
//! and, when it plans, a row of `plan::CommandKind::traits` (its name and what success means).

mod build;
mod cache;
mod completions;
mod deploy;
mod diff;
mod disconnect;
mod doctor;
mod exec;
mod gc;
mod generations;
mod history;
mod hosts;
mod init;
mod man;
mod reboot;
mod retry;
mod rollback;
mod status;
mod unlock;
mod update_flake;
mod validate;
mod wake;

use clap::{Parser, Subcommand};

use crate::cli::Global;
use crate::error::Error;

const AFTER_HELP: &str = "\
Host selectors: host names and @tags from hosts.toml (`fleet hosts` lists them).

Exit codes:
  0  every selected host succeeded
  1  at least one host failed (the summary says which, where and why)
  2  bad command line or inventory; nothing was run on any host
130  interrupted (Ctrl-C); the summary says where each host stands

Ctrl-C: the first starts no new host and lets deployments under way finish; the second aborts
builds and copies (activations under way still finish); the third stops following them, and
a switch fleet did not confirm rolls itself back.";

/// Deploy a NixOS fleet from one inventory: build where it is cheap, copy only what is needed,
/// activate safely.
#[derive(Debug, Parser)]
#[command(name = "fleet", version, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// A subcommand: its parsed arguments, run with the options every command takes. Those that
/// work with the inventory open their `app::Session` themselves.
trait Run {
    fn run(&self, g: &Global) -> Result<u8, Error>;
}

/// The subcommands in `--help`'s order, each its file's arguments; `Command::run` dispatches.
macro_rules! commands {
    ($($variant:ident($args:ty),)*) => {
        #[derive(Debug, Subcommand)]
        pub enum Command {
            $($variant($args),)*
        }

        impl Command {
            fn run(&self, g: &Global) -> Result<u8, Error> {
                match self {
                    $(Command::$variant(args) => args.run(g),)*
                }
            }
        }
    };
}

commands! {
    Deploy(deploy::Deploy),
    DeployVia(deploy::DeployVia),
    Build(build::Build),
    QuickDeploy(deploy::QuickDeploy),
    DeployAllParallel(deploy::DeployAllParallel),
    BuildAllParallel(build::BuildAllParallel),
    QuickAll(deploy::QuickAll),
    Diff(diff::Diff),
    Status(status::Status),
    Doctor(doctor::Doctor),
    Cache(cache::Cache),
    Gc(gc::Gc),
    Wake(wake::Wake),
    Unlock(unlock::Unlock),
    Reboot(reboot::Reboot),
    Retry(retry::Retry),
    Rollback(rollback::Rollback),
    Generations(generations::Generations),
    Exec(exec::Exec),
    Disconnect(disconnect::Disconnect),
    History(history::History),
    Hosts(hosts::Hosts),
    Validate(validate::Validate),
    UpdateFlake(update_flake::UpdateFlake),
    Init(init::Init),
    Completions(completions::Completions),
    Man(man::Man),
}

impl Command {
    /// The same command for `hosts` only, the run `fleet retry` makes of it; `false` for a
    /// command that is not retried (see `plan::Traits::retryable`).
    fn retarget(&mut self, hosts: Vec<String>) -> bool {
        let selection = match self {
            Command::Deploy(c) => &mut c.hosts.hosts,
            Command::DeployVia(c) => &mut c.hosts.hosts,
            Command::QuickDeploy(c) => &mut c.hosts.hosts,
            Command::DeployAllParallel(c) => &mut c.hosts.hosts,
            Command::QuickAll(c) => &mut c.hosts.hosts,
            Command::Build(c) => &mut c.hosts.hosts,
            Command::BuildAllParallel(c) => &mut c.hosts.hosts,
            _ => return false,
        };
        *selection = hosts;
        true
    }
}

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: &Cli) -> Result<u8, Error> {
    cli.command.run(&cli.global)
}

/// The whole command line as clap sees it: for completion, the man page and the reference.
pub fn clap_command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    /// clap's own checks of the whole command line (unique names, groups, flags), which it
    /// otherwise makes only when a subcommand is first used.
    #[test]
    fn the_command_line_is_well_formed() {
        super::clap_command().debug_assert();
    }

    /// Every planned command's name in `plan::CommandKind`'s table is a subcommand as typed,
    /// and each name is the table's once.
    #[test]
    fn the_command_table_names_real_subcommands() {
        use crate::plan::CommandKind;
        let cli = super::clap_command();
        let mut seen = std::collections::HashSet::new();
        for kind in CommandKind::ALL {
            let t = kind.traits();
            assert!(seen.insert(t.name), "{} twice", t.name);
            let mut words = t.name.split(' ');
            let first = words.next().unwrap_or_default();
            let mut sub = cli.find_subcommand(first);
            for w in words {
                sub = sub.and_then(|s| s.find_subcommand(w));
            }
            assert!(sub.is_some(), "`fleet {}` is not a subcommand", t.name);
            assert_eq!(
                serde_json::to_value(kind).ok(),
                Some(serde_json::Value::from(t.name))
            );
        }
    }
}
