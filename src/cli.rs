//! The command line's shared parts: the options every command takes (`Global`) and the
//! argument groups several commands flatten in. Each subcommand's own arguments are in its
//! file under `command`, beside what it does.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use clap_complete::engine::ArgValueCandidates;

use crate::complete;
use crate::plan::Action;

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The inventory [default: ./hosts.toml, or the nearest parent directory's]
    #[arg(
        short,
        long,
        global = true,
        env = "FLEET_INVENTORY",
        value_name = "PATH"
    )]
    pub inventory: Option<PathBuf>,
    /// Use this flake instead of the inventory's [fleet] flake
    #[arg(long, global = true, value_name = "REF")]
    pub flake: Option<String>,
    /// Print the plan (hosts, steps, commands) and run nothing
    #[arg(short = 'n', long, global = true)]
    pub dry_run: bool,
    /// Print results (or the plan, with --dry-run) as JSON
    #[arg(long, global = true)]
    pub json: bool,
    /// Show more: each command as it runs (-v), and its output (-vv)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Use the flake's nixConfig (its extra caches and keys) [default: [fleet.nix] in
    /// hosts.toml]
    #[arg(long, global = true, help_heading = "Nix")]
    pub accept_flake_config: bool,
    /// Show the whole evaluation trace on an error
    #[arg(long, global = true, help_heading = "Nix")]
    pub show_trace: bool,
    /// Print build logs in full
    #[arg(short = 'L', long, global = true, help_heading = "Nix")]
    pub print_build_logs: bool,
    /// Allow an impure evaluation (environment, files outside the flake)
    #[arg(long, global = true, help_heading = "Nix")]
    pub impure: bool,
    /// Build what can be built when a derivation fails
    #[arg(long, global = true, help_heading = "Nix")]
    pub keep_going: bool,
    /// Set a nix setting for this run (repeatable), like --option max-jobs 4
    #[arg(
        long = "option",
        global = true,
        num_args = 2,
        value_names = ["NAME", "VALUE"],
        action = clap::ArgAction::Append,
        help_heading = "Nix"
    )]
    pub nix_option: Vec<String>,
    /// Answer yes to questions (quick-all's "deploy these hosts?", gc's "delete these?")
    #[arg(short, long, global = true)]
    pub yes: bool,
    /// When to use colour
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto, value_name = "WHEN")]
    pub color: Color,
    /// Keep each host's SSH connection open this long after the run, for the next one (0: close
    /// it at the end) [default: [fleet] keep_connections, else 300]
    #[arg(long, global = true, value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub keep_connections: Option<u64>,
    /// Stop a build, copy or activation that printed nothing this long (0: never)
    /// [default: [fleet] inactivity_timeout, else 3600]
    #[arg(long, global = true, value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=604_800))]
    pub inactivity_timeout: Option<u64>,
    /// Evaluate this many hosts at once, each in a `nix eval` of its own [default: [fleet]
    /// eval_jobs, else from the cores and the free memory]
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=256))]
    pub eval_jobs: Option<u64>,
    /// Evaluate on this host (the flake and its inputs are sent there first), or `local`
    /// [default: [fleet] eval_on, else local]
    #[arg(long, global = true, value_name = "HOST|local", add = ArgValueCandidates::new(complete::evaluators))]
    pub eval_on: Option<String>,
    /// Ask once for the deploy user's sudo password (no echo) and give it to sudo on every host
    /// that gets root through sudo [default: per host, `sudo_password = true` in hosts.toml]
    #[arg(long, global = true)]
    pub ask_sudo_password: bool,
    /// The arguments after `fleet`, as typed (or, for `fleet retry`, as the retried run typed
    /// them): what the run's record keeps for the next retry.
    #[arg(skip)]
    pub argv: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

impl Color {
    /// Whether output uses colour: `auto` when stderr is a terminal and `NO_COLOR` is unset.
    pub fn enabled(self) -> bool {
        use std::io::IsTerminal;
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        }
    }
}

/// Hosts for commands that need at least one.
#[derive(Debug, Args)]
pub struct RequiredHosts {
    /// Host names or @tags
    #[arg(value_name = "HOST", required = true, add = ArgValueCandidates::new(complete::hosts_and_tags))]
    pub hosts: Vec<String>,
}

/// Hosts for commands where none means all.
#[derive(Debug, Args)]
pub struct OptionalHosts {
    /// Host names or @tags [default: every host]
    #[arg(value_name = "HOST", add = ArgValueCandidates::new(complete::hosts_and_tags))]
    pub hosts: Vec<String>,
}

#[derive(Debug, Args)]
pub struct Via {
    /// Build on this builder instead of the host's `via` (or the host itself); `--on` is the
    /// same
    #[arg(long, visible_alias = "on", value_name = "BUILDER", add = ArgValueCandidates::new(complete::builders))]
    pub via: Option<String>,
}

/// What every deployment command takes: the action, magic rollback, the builder-down fallback.
#[derive(Debug, Args)]
pub struct Deployment {
    #[command(flatten)]
    pub action: ActionArg,
    /// Build, put each system on its host, and show what deploying would change there (the
    /// packages whose versions change, what the host fetched, a reboot needed, the units the
    /// switch would restart); activate nothing
    #[arg(long)]
    pub preview: bool,
    /// In the preview (and quick-all's question), list every package change, not a line per
    /// host
    #[arg(long)]
    pub all_packages: bool,
    /// Switch even where NixOS refuses a live switch (the new system's switch-inhibitors, such
    /// as systemd's version, differ from the running one's; or its pre-switch checks fail):
    /// NIXOS_NO_CHECK=1. Without it such a switch installs the system for the next boot and
    /// reports the host as needing a reboot
    #[arg(long)]
    pub force_switch: bool,
    /// Install the boot loader anew (NIXOS_INSTALL_BOOTLOADER=1), as `nixos-rebuild
    /// --install-bootloader`
    #[arg(long)]
    pub install_bootloader: bool,
    /// Reboot each host once it is activated (with `--action boot`, into the new system), wait
    /// until it answers again, and check that it booted its profile's system
    #[arg(long)]
    pub reboot: bool,
    /// Switch to (or test) this specialisation of each new system (`$system/specialisation/
    /// NAME`), as `nixos-rebuild --specialisation`; the profile is the whole system [default:
    /// the host's `specialisation` in hosts.toml]
    #[arg(long, value_name = "NAME", value_parser = specialisation_name)]
    pub specialisation: Option<String>,
    #[command(flatten)]
    pub rollback: Guard,
    #[command(flatten)]
    pub fallback: Fallback,
}

/// A specialisation's name: a NixOS attribute name, nothing a shell or a path could read.
fn specialisation_name(text: &str) -> Result<String, String> {
    if crate::inventory::names::is_identifier(text) {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not a specialisation name: use letters, digits, `.`, `_` and `-`, starting with a letter or digit"
        ))
    }
}

/// Where to build when a host's builder is down (deployments and builds).
#[derive(Debug, Args)]
pub struct Fallback {
    /// When a host's builder is down: build on the target, or here [default: the host's
    /// `fallback` in hosts.toml, else fail]
    #[arg(long, value_enum, value_name = "WHERE")]
    pub fallback: Option<crate::vocab::FallbackTo>,
}

/// Magic rollback and the deploy lock (deployments and rollbacks).
#[derive(Debug, Args)]
pub struct Guard {
    /// Do not guard switches with magic rollback (a host-side watchdog that switches back to
    /// the previous generation unless fleet confirms, over a new SSH login, that the host is
    /// reachable and its health checks passed)
    #[arg(long)]
    pub no_rollback: bool,
    /// Seconds a switched host waits for fleet's confirmation over a new SSH connection before
    /// it rolls itself back
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(5..=3600))]
    pub confirm_timeout: u64,
    /// When another run is deploying a host (its deploy lock is held), fail that host at once
    /// instead of waiting for it
    #[arg(long)]
    pub no_wait: bool,
}

impl Guard {
    /// Magic rollback's window, or `None` when it is off.
    pub fn window(&self) -> Option<u64> {
        (!self.no_rollback).then_some(self.confirm_timeout)
    }
}

#[derive(Debug, Args)]
pub struct ActionArg {
    /// What switch-to-configuration does, as in nixos-rebuild
    #[arg(long, value_enum, default_value_t = Action::Switch)]
    pub action: Action,
}

#[derive(Debug, Args)]
pub struct Parallel {
    /// How many hosts at once [default: the inventory's max_parallel]
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub max_parallel: Option<u16>,
}
