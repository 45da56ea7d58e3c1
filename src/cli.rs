//! The command line: clap types only. What each command does lives in `command`, with what
//! the commands share in `app`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCandidates;

use crate::complete;
use crate::plan::Action;

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
    /// Answer yes to questions (quick-all's "deploy these hosts?")
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build and activate hosts' systems (built where --via or the host's `via` says, else on the host)
    Deploy {
        #[command(flatten)]
        hosts: RequiredHosts,
        #[command(flatten)]
        via: Via,
        #[command(flatten)]
        deployment: Deployment,
    },
    /// The same as `deploy HOST... --via BUILDER`
    DeployVia {
        /// The builder
        #[arg(value_name = "BUILDER", add = ArgValueCandidates::new(complete::builders))]
        builder: String,
        #[command(flatten)]
        hosts: RequiredHosts,
        #[command(flatten)]
        deployment: Deployment,
    },
    /// Build hosts' systems without activating them
    Build {
        #[command(flatten)]
        hosts: RequiredHosts,
        #[command(flatten)]
        via: Via,
        /// Leave a `result`-style link PATH-HOST to each system built here (systems built on a
        /// builder are kept there, as a GC root, for their targets)
        #[arg(short = 'o', long, value_name = "PATH")]
        out_link: Option<String>,
        #[command(flatten)]
        fallback: Fallback,
    },
    /// Deploy only the hosts whose system changed (compared with what they run, no build needed)
    QuickDeploy {
        #[command(flatten)]
        hosts: RequiredHosts,
        #[command(flatten)]
        via: Via,
        #[command(flatten)]
        deployment: Deployment,
    },
    /// Deploy every host (or the selected ones) in parallel
    DeployAllParallel {
        #[command(flatten)]
        hosts: OptionalHosts,
        #[command(flatten)]
        via: Via,
        #[command(flatten)]
        deployment: Deployment,
        #[command(flatten)]
        parallel: Parallel,
    },
    /// Build every host's system (or the selected ones') in parallel
    BuildAllParallel {
        #[command(flatten)]
        hosts: OptionalHosts,
        #[command(flatten)]
        via: Via,
        /// Leave a `result`-style link PATH-HOST to each system built here (systems built on a
        /// builder are kept there, as a GC root, for their targets)
        #[arg(short = 'o', long, value_name = "PATH")]
        out_link: Option<String>,
        #[command(flatten)]
        parallel: Parallel,
        #[command(flatten)]
        fallback: Fallback,
    },
    /// Build every host; if all succeed, show what changed, ask, and deploy the changed ones in parallel
    QuickAll {
        #[command(flatten)]
        hosts: OptionalHosts,
        #[command(flatten)]
        via: Via,
        #[command(flatten)]
        deployment: Deployment,
        #[command(flatten)]
        parallel: Parallel,
    },
    /// Show what deploying would change on hosts: package versions and sizes (nix store
    /// diff-closures), computed on each host, where both systems are. Activates nothing.
    Diff {
        #[command(flatten)]
        hosts: RequiredHosts,
        #[command(flatten)]
        via: Via,
    },
    /// One line per host: reachable where, generation and date, running what the flake says,
    /// store size, free space, uptime
    Status {
        #[command(flatten)]
        hosts: OptionalHosts,
    },
    /// Check caches and hosts: pass, warn or fail, each with its fix; exit 1 when any fails
    Doctor {
        #[command(flatten)]
        hosts: OptionalHosts,
    },
    /// Binary caches: status from here and from each host, pushing systems, nix settings
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// Delete old system generations and collect garbage (never the current, running or
    /// booted system). With --dry-run: ask the hosts what would go, delete nothing
    Gc {
        #[command(flatten)]
        hosts: RequiredHosts,
        /// Delete generations older than this many days (`7d` or `7`)
        #[arg(long, value_name = "AGE", default_value = "7d", value_parser = parse_days)]
        older_than: u64,
    },
    /// Wake hosts (wake-on-LAN, from their `mac` in hosts.toml) and wait until they answer SSH
    Wake {
        #[command(flatten)]
        hosts: RequiredHosts,
    },
    /// Break hosts' deploy locks, saying whose each was: for a run that is gone, whose lock
    /// `fleet status` still shows (a live run's lock keeps others from deploying at once)
    Unlock {
        #[command(flatten)]
        hosts: RequiredHosts,
    },
    /// Back to the previous generation on hosts (or to generation N): the system profile and
    /// the running system
    Rollback {
        #[command(flatten)]
        hosts: RequiredHosts,
        /// Go to this generation (as `fleet generations` lists them), not the previous one
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        to: Option<u32>,
        #[command(flatten)]
        rollback: Guard,
    },
    /// Each host's system generations: number, date, which is current, running and booted,
    /// and which fleet deployed (from this machine's history)
    Generations {
        #[command(flatten)]
        hosts: OptionalHosts,
    },
    /// Run a command on hosts, in parallel, over each host's one connection; output grouped
    /// per host: `fleet exec @laptop -- systemctl --failed`
    Exec {
        /// Host names or @tags, then `--` and the command (its words are passed as they are,
        /// never through a shell here)
        #[arg(value_name = "HOST", required = true, add = ArgValueCandidates::new(complete::hosts_and_tags))]
        hosts: Vec<String>,
        /// Run it as root (through sudo for a non-root deploy user)
        #[arg(long)]
        root: bool,
        /// Print each line as it comes, prefixed with its host, instead of grouped at the end
        #[arg(long)]
        follow: bool,
        /// The command and its arguments
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Close the SSH connections fleet keeps open between runs (all, or these hosts')
    Disconnect {
        #[command(flatten)]
        hosts: OptionalHosts,
    },
    /// Every deployment fleet made from this machine: time, host, from, to, result, who
    History {
        /// Only this host's
        #[arg(value_name = "HOST", add = ArgValueCandidates::new(complete::hosts_and_tags))]
        host: Option<String>,
    },
    /// List the inventory: name, addresses, role, builder, tags
    Hosts {
        #[command(flatten)]
        hosts: OptionalHosts,
    },
    /// Evaluate every host's system without building it
    Validate {
        #[command(flatten)]
        hosts: OptionalHosts,
        /// Also run `nix flake check`
        #[arg(long)]
        full: bool,
    },
    /// Update the flake's inputs (all, or the named ones) and say which moved
    UpdateFlake {
        /// Inputs to update [default: all]
        #[arg(value_name = "INPUT", add = ArgValueCandidates::new(complete::flake_inputs))]
        inputs: Vec<String>,
    },
    /// Write a commented hosts.toml in this flake's directory: a host per nixosConfigurations
    /// name, with what `ssh -G` says about it (--dry-run prints it instead)
    Init {
        /// Replace a hosts.toml that is there already
        #[arg(long)]
        force: bool,
        /// Ask ssh with this config file (-F), and write it as [fleet] ssh_config
        #[arg(long, value_name = "PATH")]
        ssh_config: Option<PathBuf>,
    },
    /// Print the shell completion script (host names and @tags complete from the inventory)
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print fleet's manual page (roff: `fleet man > fleet.1`, or `man <(fleet man)`)
    Man {
        /// Print the command reference (every command's --help) as Markdown instead
        #[arg(long)]
        markdown: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Every cache tier from here (over each address of the host serving it), then hosts ×
    /// caches: listed as a substituter, key trusted, reachable from the host
    Status {
        #[command(flatten)]
        hosts: OptionalHosts,
    },
    /// Put hosts' systems into a cache, built where deploy would build them
    Push {
        #[command(flatten)]
        hosts: RequiredHosts,
        /// A [caches] name or a Nix store URL (file://, ssh://, s3://...) [default: the
        /// inventory's Cachix cache]
        #[arg(long, value_name = "CACHE", add = ArgValueCandidates::new(complete::writable_caches))]
        to: Option<String>,
    },
    /// The nix.settings a host should have (substituters and keys in tier order), to paste
    /// into its NixOS configuration
    NixConfig {
        /// The host [default: every cache, for any host]
        #[arg(value_name = "HOST", add = ArgValueCandidates::new(complete::hosts_and_tags))]
        host: Option<String>,
    },
}

/// `7d`, `7`: a number of days.
fn parse_days(s: &str) -> Result<u64, String> {
    s.strip_suffix('d')
        .unwrap_or(s)
        .parse()
        .map_err(|_| format!("`{s}` is not a number of days, like 7d"))
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
    #[command(flatten)]
    pub rollback: Guard,
    #[command(flatten)]
    pub fallback: Fallback,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

impl Shell {
    pub fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
            Shell::Elvish => "elvish",
            Shell::Powershell => "powershell",
        }
    }
}

/// The clap command, for completion.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    /// clap's own checks of the whole command line (unique names, groups, flags), which it
    /// otherwise makes only when a subcommand is first used.
    #[test]
    fn the_command_line_is_well_formed() {
        super::command().debug_assert();
    }
}
