//! The subcommands, one file each: select the hosts, plan, then print the plan (`--dry-run`)
//! or run it and render what it did. A new subcommand is a file here, a clap variant in
//! `cli`, and, when it plans, a `plan::CommandKind` (its name and what success means).

mod build;
mod cache;
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
mod rollback;
mod status;
mod unlock;
mod update_flake;
mod validate;
mod wake;

use std::io::IsTerminal;

use anyhow::Context as _;

use crate::app::Session;
use crate::cli::{Cli, Color, Command};
use crate::error::{exit, Error};
use crate::{complete, ui};

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> Result<u8, Error> {
    let g = &cli.global;
    ui::set_color(match g.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    });
    if let Command::Completions { shell } = &cli.command {
        let mut out = std::io::stdout().lock();
        complete::script(shell.name(), &mut out).context("writing the completion script")?;
        return Ok(exit::OK);
    }
    if let Command::Man { markdown } = &cli.command {
        return man::run(*markdown);
    }
    if let Command::Init { force, ssh_config } = &cli.command {
        return init::run(g, *force, ssh_config.as_deref());
    }
    let s = Session::open(g)?;
    match &cli.command {
        Command::Completions { .. } | Command::Init { .. } | Command::Man { .. } => Ok(exit::OK),
        Command::Deploy { .. }
        | Command::DeployVia { .. }
        | Command::QuickDeploy { .. }
        | Command::DeployAllParallel { .. }
        | Command::QuickAll { .. } => deploy::run(&s, &cli.command),
        Command::Build {
            hosts,
            via,
            out_link,
            fallback,
        } => build::run(
            &s,
            &hosts.hosts,
            (via.via.as_deref(), out_link.as_deref(), fallback.fallback),
        ),
        Command::BuildAllParallel {
            hosts,
            via,
            out_link,
            parallel,
            fallback,
        } => build::run_all(
            &s,
            &hosts.hosts,
            (via.via.as_deref(), out_link.as_deref(), fallback.fallback),
            parallel.max_parallel,
        ),
        Command::Diff { hosts, via } => diff::run(&s, &hosts.hosts, via.via.as_deref()),
        Command::Status { hosts } => status::run(&s, &hosts.hosts),
        Command::Doctor { hosts } => doctor::run(&s, &hosts.hosts),
        Command::Cache { command } => cache::run(&s, command),
        Command::Gc { hosts, older_than } => gc::run(&s, &hosts.hosts, *older_than),
        Command::Wake { hosts } => wake::run(&s, &hosts.hosts),
        Command::Unlock { hosts } => unlock::run(&s, &hosts.hosts),
        Command::Rollback {
            hosts,
            to,
            rollback,
        } => rollback::run(&s, &hosts.hosts, *to, rollback),
        Command::Generations { hosts } => generations::run(&s, &hosts.hosts),
        Command::Exec {
            hosts,
            root,
            follow,
            command,
        } => exec::run(&s, hosts, command, *root, *follow),
        Command::History { host } => history::run(&s, host.as_deref()),
        Command::Disconnect { hosts } => disconnect::run(&s, &hosts.hosts),
        Command::Hosts { hosts } => hosts::run(&s, &hosts.hosts),
        Command::Validate { hosts, full } => validate::run(&s, &hosts.hosts, *full),
        Command::UpdateFlake { inputs } => update_flake::run(&s, inputs),
    }
}
