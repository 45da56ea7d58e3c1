//! Plans: what fleet will do, per host, as ordered steps with the machine each runs on and its
//! exact argv. Built without I/O from the inventory and the command line; `--dry-run` prints one,
//! the executor runs one.

mod health;
mod strategy;

use std::fmt;

use serde::Serialize;

pub use health::{cache_status, doctor, gc_collect, gc_survey, status};
pub use strategy::{
    build, cache_push, deploy, diff, rollback, update_flake, validate, wake, BuildRequest, Context,
    DeployRequest, PushTo,
};

/// What `switch-to-configuration` is asked to do, as in `nixos-rebuild ACTION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Make it the boot default and activate it now.
    Switch,
    /// Make it the boot default; activate at next boot.
    Boot,
    /// Activate now; the boot default stays as it is.
    Test,
    /// Show what activating would change; change nothing.
    DryActivate,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Switch => "switch",
            Action::Boot => "boot",
            Action::Test => "test",
            Action::DryActivate => "dry-activate",
        }
    }

    /// Switch and boot make the new system the profile's current generation; test and
    /// dry-activate leave the profile alone, as on NixOS.
    pub fn sets_profile(self) -> bool {
        matches!(self, Action::Switch | Action::Boot)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where to build when a host's builder cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FallbackTo {
    /// Build on the target itself.
    Target,
    /// Build on the machine fleet runs on.
    Local,
}

/// What to do instead when the builder is down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuilderDown {
    /// The builder whose absence triggers this.
    pub builder: String,
    pub build_on: Machine,
    pub build: Vec<Step>,
    /// Replaces the plan's copy steps.
    pub copy: Vec<Step>,
}

/// Where a command runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Machine {
    /// The machine fleet runs on; no SSH.
    Local,
    /// An inventory host, over its SSH connection.
    Host(String),
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Machine::Local => f.write_str("here"),
            Machine::Host(h) => f.write_str(h),
        }
    }
}

/// One argument of a command. Values known only at run time are typed placeholders, never
/// text pasted into a string, so nothing from a flake or the network can become syntax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Arg {
    Lit(String),
    /// The host's system derivation (`.drv`) path, from the evaluation.
    Drv {
        drv: String,
    },
    /// The host's system out path, from the evaluation, followed by `suffix`.
    Out {
        out: String,
        suffix: String,
    },
    /// `ssh-ng://[user@]ADDRESS` for the host, with the address that answered.
    Store {
        store: String,
    },
    /// The system the host runs now, read from it when needed.
    Running {
        running: String,
    },
    /// This run's state directory on the host (`/run/fleet/RUN-HOST`), followed by `file`.
    RunDir {
        run_dir: String,
        file: String,
    },
}

impl Arg {
    pub fn drv(host: &str) -> Arg {
        Arg::Drv { drv: host.into() }
    }
    pub fn out(host: &str) -> Arg {
        Arg::out_with(host, "")
    }
    pub fn out_with(host: &str, suffix: &str) -> Arg {
        Arg::Out {
            out: host.into(),
            suffix: suffix.into(),
        }
    }
    /// A path below this one: `OUT/bin/...`, `/nix/var/nix/profiles/system/bin/...`.
    /// Only literal paths, out paths and run directories have paths below them.
    pub fn with_suffix(self, more: &str) -> Arg {
        match self {
            Arg::Lit(s) => Arg::Lit(s + more),
            Arg::Out { out, suffix } => Arg::Out {
                out,
                suffix: suffix + more,
            },
            Arg::RunDir { run_dir, file } => Arg::RunDir {
                run_dir,
                file: file + more,
            },
            other => {
                debug_assert!(false, "{other:?} has no paths below it");
                other
            }
        }
    }
    pub fn store(host: &str) -> Arg {
        Arg::Store { store: host.into() }
    }
    pub fn run_dir(host: &str) -> Arg {
        Arg::run_dir_file(host, "")
    }
    pub fn run_dir_file(host: &str, file: &str) -> Arg {
        Arg::RunDir {
            run_dir: host.into(),
            file: file.into(),
        }
    }
    pub fn running(host: &str) -> Arg {
        Arg::Running {
            running: host.into(),
        }
    }
}

impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Lit(s.into())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::Lit(s)
    }
}

/// A command and where it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invocation {
    pub on: Machine,
    pub argv: Vec<Arg>,
}

/// What a step is for; the executor gives some kinds their own meaning (a comparison that
/// ends a host's plan early, an activation whose end state must be read back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "what")]
pub enum StepKind {
    /// Evaluate the selected hosts' systems, once for all of them.
    Evaluate,
    /// Read the running system (`readlink -f /run/current-system`); when only changed hosts are
    /// deployed, a host already running the evaluated system stops here.
    ReadRunning,
    /// Read the system profile's current generation.
    ReadGeneration,
    /// Send the system's derivations to where it will be built.
    CopyDerivations,
    /// Realise the system derivation.
    Build,
    /// Get the built closure onto the target.
    CopyClosure,
    /// Point the system profile at the new system (a new generation).
    SetProfile,
    /// Run `switch-to-configuration`.
    Activate(Action),
    /// Compare the running system's closure with the new one, on the target.
    DiffClosures,
    /// `nix flake check`.
    CheckFlake,
    /// Update the flake's lock file.
    UpdateFlake,
    /// Ask a host something, changing nothing (status, doctor, cache status, gc's listing).
    Probe(Probe),
    /// Delete old system generations (gc).
    DeleteGenerations,
    /// Collect garbage in the host's store (gc).
    CollectGarbage,
    /// Put the built system into a binary cache.
    PushToCache,
    /// Arm magic rollback's watchdog on the host, with that many seconds to confirm.
    ArmWatchdog(u64),
    /// One of the host's health checks, on the newly activated system.
    HealthCheck,
    /// Confirm the deployment over a new SSH connection, so the watchdog stands down.
    Confirm,
}

/// A read-only question to a host; each has one command (see `nix.rs`) and one parser (see
/// `facts.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Probe {
    /// `readlink -f /run/current-system`.
    Running,
    /// `readlink -f /run/booted-system`.
    Booted,
    /// The system profile's generations, with dates.
    Generations,
    /// `nix show-config --json`: substituters and trusted keys.
    Settings,
    /// Free space on /nix and /boot.
    Space,
    /// The size of /nix/store.
    StoreSize,
    Uptime,
    NixVersion,
    /// Whether the host runs systemd.
    Systemd,
    /// Whether a systemd unit is active (the builder's cache service).
    UnitActive(String),
    /// Whether the host reaches a cache (by name).
    CacheReach(String),
    /// Whether a path signed by a cache verifies against the host's trusted keys.
    CacheVerify(String),
    /// What garbage collection would delete.
    Dead,
    /// The host's local time, to age its generations.
    Now,
    /// Each generation's link and the system it points at.
    GenerationLinks,
}

impl StepKind {
    /// Steps that change a host's system, profile or store: once one has begun, the rest of
    /// the deployment runs to its end, whatever Ctrl-C says (see `exec::interrupt`).
    pub fn changes_host(&self) -> bool {
        self.is_activation()
            || matches!(
                self,
                StepKind::ArmWatchdog(_) | StepKind::DeleteGenerations | StepKind::CollectGarbage
            )
    }

    /// Steps after which the host's running system or profile may have changed.
    pub fn is_activation(&self) -> bool {
        matches!(
            self,
            StepKind::Activate(_)
                | StepKind::SetProfile
                | StepKind::HealthCheck
                | StepKind::Confirm
        )
    }
}

/// One step of a plan: what to run, and what to try instead if it fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    #[serde(flatten)]
    pub kind: StepKind,
    pub title: String,
    pub run: Invocation,
    /// Tried in order when `run` fails; the first that succeeds completes the step.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<Fallback>,
}

/// An alternative way to complete a step, and when it is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fallback {
    pub title: String,
    pub run: Invocation,
}

/// What must hold across all hosts between their build phase and their deploy phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Gate {
    /// Each host goes on as soon as it is built.
    None,
    /// Every host must build before any is deployed; then the changed hosts are listed and
    /// the user is asked (or `--yes` answers).
    AllBuiltThenConfirm,
}

/// Everything fleet will do for one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostPlan {
    pub host: String,
    pub attribute: String,
    /// Where the system is built.
    pub build_on: Machine,
    /// Where the system is activated (the host itself, or `Local` when fleet runs on it).
    pub target: Machine,
    /// Run before building, and again after activating: what the host runs, which generation.
    pub inspect: Vec<Step>,
    pub build: Vec<Step>,
    pub deploy: Vec<Step>,
    /// When the builder cannot be reached: build elsewhere (`--fallback`, or the inventory's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub if_builder_down: Option<BuilderDown>,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The subcommand, as typed.
    pub command: String,
    pub flake: String,
    pub action: Option<Action>,
    /// How many hosts are worked on at once.
    pub max_parallel: usize,
    pub gate: Gate,
    /// Deploy only hosts whose running system differs from the evaluated one.
    pub only_changed: bool,
    /// Steps run once, before any host: the evaluation, flake checks and updates.
    pub prepare: Vec<Step>,
    pub hosts: Vec<HostPlan>,
}

impl Plan {
    /// Every step of the plan with the host it belongs to (`None` for `prepare`).
    pub fn steps(&self) -> impl Iterator<Item = (Option<&str>, &Step)> {
        let prepare = self.prepare.iter().map(|s| (None, s));
        let hosts = self.hosts.iter().flat_map(|h| {
            h.inspect
                .iter()
                .chain(&h.build)
                .chain(&h.deploy)
                .map(move |s| (Some(h.host.as_str()), s))
        });
        prepare.chain(hosts)
    }
}

#[cfg(test)]
mod tests;
