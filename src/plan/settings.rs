//! Settings, resolved here and nowhere else: the command line over the host's entry in
//! hosts.toml over the inventory's [fleet] defaults. The run's own (`RunSettings`: the flake,
//! the Nix options, where and how much to evaluate, connections, timeouts) once per run; each
//! host's (`HostSettings`: where it builds, how it gets root, where it builds when its
//! builder is down, how long its switch waits for confirmation) once per plan. Planning and
//! the executor read the results; the inventory stays as hosts.toml says.

use crate::error::Error;
use crate::inventory::{Host, Inventory};
use crate::vocab::{FallbackTo, Machine, NixOptions, Sudo};

/// What planning needs beside the inventory: the machine fleet runs on, read once by the
/// caller, and the run's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// This machine's short hostname; the host of that name is deployed without SSH.
    pub hostname: Option<String>,
    /// Whether fleet runs as root here (if not, local activation goes through sudo).
    pub is_root: bool,
    /// `user@machine` running fleet, as a host's deploy lock names its holder.
    pub who: String,
    /// `--ask-sudo-password`: every host that gets root through sudo gets the password fleet
    /// asks for (as `sudo_password = true` in hosts.toml does for one host).
    pub ask_sudo_password: bool,
    /// The run's settings.
    pub run: RunSettings,
}

/// The run's settings: hosts.toml's `[fleet]`, with the command line over it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSettings {
    /// The flake with `nixosConfigurations` (`--flake`, else `[fleet] flake`).
    pub flake: String,
    /// Options for Nix: `[fleet.nix]`, then the command line's.
    pub nix: NixOptions,
    /// The host that evaluates (`--eval-on`, else `[fleet] eval_on`; `None`: here).
    pub eval_on: Option<String>,
    /// Hosts evaluated at once (`--eval-jobs`, else `[fleet] eval_jobs`; `None`: from the
    /// evaluating machine's cores and free memory, `eval_max_memory` MiB each).
    pub eval_jobs: Option<usize>,
    pub eval_max_memory: u64,
    /// Seconds each SSH master stays open after the run (`--keep-connections`).
    pub keep_connections: u64,
    /// Seconds a build, copy or activation may print nothing (`--inactivity-timeout`; 0: never).
    pub inactivity_timeout: u64,
}

/// What the command line says of the run's settings, where it says anything. `flake` is
/// already checked and resolved against the working directory (`app` reads it).
#[derive(Debug, Clone, Default)]
pub struct RunOverrides {
    pub flake: Option<String>,
    pub nix: NixOptions,
    /// `--eval-on HOST`, or `local`.
    pub eval_on: Option<String>,
    pub eval_jobs: Option<usize>,
    pub keep_connections: Option<u64>,
    pub inactivity_timeout: Option<u64>,
}

impl RunSettings {
    /// hosts.toml's settings alone.
    pub fn of(inv: &Inventory) -> RunSettings {
        RunSettings {
            flake: inv.flake.clone(),
            nix: inv.nix.clone(),
            eval_on: inv.eval_on.clone(),
            eval_jobs: inv.eval_jobs,
            eval_max_memory: inv.eval_max_memory,
            keep_connections: inv.keep_connections,
            inactivity_timeout: inv.inactivity_timeout,
        }
    }

    /// The command line over hosts.toml; an `--eval-on` host the inventory lacks is a usage
    /// error.
    pub fn resolve(inv: &Inventory, cli: &RunOverrides) -> Result<RunSettings, Error> {
        let own = RunSettings::of(inv);
        let eval_on = match cli.eval_on.as_deref() {
            None => own.eval_on,
            Some("local") => None,
            Some(host) if inv.host(host).is_some() => Some(host.to_string()),
            Some(host) => return Err(crate::select::unknown_host(inv, host, "--eval-on")),
        };
        Ok(RunSettings {
            flake: cli.flake.clone().unwrap_or(own.flake),
            nix: own.nix.with(&cli.nix),
            eval_on,
            eval_jobs: cli.eval_jobs.or(own.eval_jobs),
            eval_max_memory: own.eval_max_memory,
            keep_connections: cli.keep_connections.unwrap_or(own.keep_connections),
            inactivity_timeout: cli.inactivity_timeout.unwrap_or(own.inactivity_timeout),
        })
    }

    /// How many hosts are evaluated at once here: `eval_jobs`, else as this machine's cores
    /// and free memory allow (see `inventory::eval_jobs_for`).
    pub fn local_eval_jobs(&self) -> usize {
        if let Some(jobs) = self.eval_jobs {
            return jobs;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let free_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        });
        crate::inventory::eval_jobs_for(cores, free_kib, self.eval_max_memory)
    }

    /// How long a build, copy or activation may print nothing (`None`: no limit).
    pub fn quiet_limit(&self) -> Option<std::time::Duration> {
        (self.inactivity_timeout > 0)
            .then(|| std::time::Duration::from_secs(self.inactivity_timeout))
    }
}

impl Context {
    fn is_local(&self, host: &Host) -> bool {
        host.local || self.hostname.as_deref() == Some(host.name.as_str())
    }

    pub(crate) fn machine(&self, host: &Host) -> Machine {
        if self.is_local(host) {
            Machine::Local
        } else {
            Machine::Host(host.name.clone())
        }
    }

    /// How commands that need root on `host` get it, the one place this is decided: over
    /// SSH through sudo for a host whose user is not root, with the password fleet asked for
    /// where one is wanted (`sudo_password`, `--ask-sudo-password`), else `sudo -n` (no
    /// terminal to ask on there); here through `sudo` when fleet is not root; else they run
    /// as they are.
    pub fn sudo(&self, host: &Host) -> Option<Sudo> {
        match self.machine(host) {
            Machine::Local => (!self.is_root).then_some(Sudo::Interactive),
            Machine::Host(_) if !host.sudo => None,
            Machine::Host(_) if host.sudo_password || self.ask_sudo_password => {
                Some(Sudo::Password)
            }
            Machine::Host(_) => Some(Sudo::NonInteractive),
        }
    }
}

/// What the command line says, where it says anything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides<'a> {
    /// `--via BUILDER`, and the flag as errors name it: build every selected host there.
    pub builder: Option<(&'a str, &'static str)>,
    /// `--fallback`: where to build when a host's builder is down.
    pub fallback: Option<FallbackTo>,
    /// `-j N`: how many hosts at once.
    pub max_parallel: Option<usize>,
    /// Magic rollback's window (`--confirm-timeout`); `None` with `--no-rollback`.
    pub confirm_timeout: Option<u64>,
    /// `--no-wait`: a host another run holds fails at once.
    pub no_wait: bool,
}

/// One host's settings, resolved.
#[derive(Debug, Clone)]
pub struct HostSettings<'a> {
    pub host: &'a Host,
    /// Where its system is activated: the host itself, or here when fleet runs on it.
    pub target: Machine,
    /// Where its system is built.
    pub build_on: Machine,
    /// Where it is built when `build_on` cannot be reached, in order (the rest of its `via`).
    pub then_build_on: Vec<Machine>,
    /// Where to build when the builder is down (`None`: fail, naming the builder).
    pub fallback: Option<FallbackTo>,
    /// How commands that need root get it there.
    pub sudo: Option<Sudo>,
    /// Seconds its switch waits for confirmation before it rolls back (`None`: no watchdog).
    pub confirm_timeout: Option<u64>,
    /// Who holds its deploy lock while this run works on it (`user@machine`).
    pub who: String,
    /// Fail at once when another run holds the host, instead of waiting.
    pub no_wait: bool,
}

/// A run's settings: how many hosts at once, and each host's.
#[derive(Debug, Clone)]
pub struct Settings<'a> {
    pub max_parallel: usize,
    pub hosts: Vec<HostSettings<'a>>,
}

/// The one precedence order, per setting:
/// - builder: `--via`/`--on` > the host's `via` (the first that answers) > the host itself;
/// - fallback: `--fallback` > the host's `fallback` > none;
/// - parallel hosts: `-j` > [fleet] `max_parallel`;
/// - confirmation window: `--no-rollback` (none) > `--confirm-timeout` (default 30 s);
/// - root: as root, nothing; else `sudo -n` over SSH, `sudo` here (`Context::sudo`).
pub fn resolve<'a>(
    inv: &'a Inventory,
    ctx: &Context,
    hosts: &[&'a Host],
    cli: &Overrides,
) -> Result<Settings<'a>, Error> {
    let chosen = cli
        .builder
        .map(|(name, flag)| builder(inv, name, flag))
        .transpose()?;
    let hosts = hosts
        .iter()
        .map(|&host| {
            let (build_on, then_build_on) = build_machines(inv, ctx, host, chosen);
            HostSettings {
                host,
                target: ctx.machine(host),
                build_on,
                then_build_on,
                fallback: cli.fallback.or(host.fallback),
                sudo: ctx.sudo(host),
                confirm_timeout: cli.confirm_timeout,
                who: ctx.who.clone(),
                no_wait: cli.no_wait,
            }
        })
        .collect();
    Ok(Settings {
        max_parallel: cli.max_parallel.unwrap_or(inv.max_parallel),
        hosts,
    })
}

/// The builder named on the command line, checked.
fn builder<'a>(inv: &'a Inventory, name: &str, flag: &str) -> Result<&'a Host, Error> {
    match inv.host(name) {
        Some(h) if h.builder => Ok(h),
        Some(h) => Err(Error::usage(
            format!("{flag} {}: `{}` is not a builder", h.name, h.name),
            format!(
                "add `builder = true` to [hosts.{}] in {}, or pick one of: {}",
                h.name,
                inv.source.display(),
                builders(inv)
            ),
        )),
        None => Err(crate::select::unknown_host(inv, name, flag)),
    }
}

fn builders(inv: &Inventory) -> String {
    let names: Vec<&str> = inv
        .hosts
        .iter()
        .filter(|h| h.builder)
        .map(|h| h.name.as_str())
        .collect();
    if names.is_empty() {
        "(no host has builder = true)".into()
    } else {
        names.join(", ")
    }
}

/// Where `host`'s system is built, and where instead when that cannot be reached: the
/// command line's builder alone, else the host's `via` in order, else the host itself. The
/// chain ends at the host itself (a host that is its own builder builds on itself).
fn build_machines(
    inv: &Inventory,
    ctx: &Context,
    host: &Host,
    chosen: Option<&Host>,
) -> (Machine, Vec<Machine>) {
    let builders: Vec<&Host> = match chosen {
        Some(b) => vec![b],
        None => host.via.iter().filter_map(|v| inv.host(v)).collect(),
    };
    let target = ctx.machine(host);
    let mut chain = Vec::new();
    for b in builders {
        let m = if b.name == host.name {
            target.clone()
        } else {
            ctx.machine(b)
        };
        let last = m == target;
        chain.push(m);
        if last {
            break;
        }
    }
    let mut chain = chain.into_iter();
    let first = chain.next().unwrap_or(target);
    (first, chain.collect())
}
