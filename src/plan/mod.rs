//! Plans: what fleet will do, per host, as ordered steps with the machine each runs on and its
//! exact argv. Built without I/O from the inventory and the command line; `--dry-run` prints one,
//! the executor runs one.

mod health;
pub mod settings;
mod strategy;

use std::fmt;

use serde::Serialize;

use crate::report::Outcome;
pub use crate::vocab::{
    Action, ActivationFlags, Arg, FailedUnits, FallbackTo, Machine, Probe, Sudo, Waking,
};

pub use health::{
    cache_status, doctor, exec, gc_collect_all, gc_survey, generations, status, unlock,
};
pub use settings::{Context, Overrides};
pub use strategy::{
    build, cache_push, deploy, reboot, rollback, update_flake, validate, wake, BuildRequest,
    DeployRequest, Mode, PushTo,
};

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

/// A command, where it runs, and whether it runs as root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invocation {
    pub on: Machine,
    /// Run as root through sudo; its words are put first only when the command runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sudo: Option<Sudo>,
    pub argv: Vec<Arg>,
    /// A read that answers at once (a link, a file, free space): nothing to end on the host
    /// if fleet dies while it runs, so it is not tied to the run there (see `nix::TIE`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub instant: bool,
}

impl Invocation {
    /// `argv` on `on`, as the user fleet logs in as.
    pub fn new(on: Machine, argv: Vec<Arg>) -> Invocation {
        Invocation {
            on,
            sudo: None,
            argv,
            instant: false,
        }
    }

    /// The same command, marked as a read that answers at once.
    pub fn instant(mut self) -> Invocation {
        self.instant = true;
        self
    }

    /// The same command, run as root through `sudo` (when `Some`).
    pub fn with_sudo(mut self, sudo: Option<Sudo>) -> Invocation {
        self.sudo = sudo;
        self
    }

    /// The argv as it runs: sudo's words, then the command.
    pub fn full_argv(&self) -> Vec<Arg> {
        let sudo = self.sudo.map_or(&[][..], Sudo::prefix);
        sudo.iter()
            .map(|w| Arg::from(*w))
            .chain(self.argv.iter().cloned())
            .collect()
    }

    /// The longest it waits, for a command that waits (see `Arg::SecondsLeft`).
    pub fn wait_limit(&self) -> Option<u64> {
        self.argv.iter().find_map(|a| match a {
            Arg::SecondsLeft { seconds_left } => Some(*seconds_left),
            _ => None,
        })
    }

    /// The same command, waiting at most `left` seconds.
    pub fn waiting_at_most(&self, left: u64) -> Invocation {
        let mut run = self.clone();
        for a in &mut run.argv {
            if let Arg::SecondsLeft { .. } = a {
                *a = Arg::from(left.to_string());
            }
        }
        run
    }
}

/// Commands planned to run on a host after a step, when it calls for them: nothing fleet
/// runs on a host is left out of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Follow {
    /// A detached activation: wait for its exit code, then read its output.
    Activation {
        /// What the launch runs there, as messages show it.
        runs: Vec<Arg>,
        await_exit: Invocation,
        read_log: Invocation,
    },
    /// A deploy lock: renewed while the run works on the host, released at its end. When
    /// another run holds it, this one waits for it (or, with `wait` off, fails at once).
    Lock {
        renew: Invocation,
        release: Invocation,
        wait: bool,
    },
    /// When the step fails because a store is full: delete there what it left half-written
    /// (store paths that are not valid; nothing alive), so the store is not kept full by it.
    FreeHalfWritten(Invocation),
    /// A reboot: the host answers again with a new boot id (read with `read_boot_id`), waited
    /// for at most `limit` seconds.
    Reboot {
        read_boot_id: Invocation,
        limit: u64,
    },
    /// An armed watchdog, once a later step fails: tell it to roll back now, then wait for
    /// the host to have rolled back.
    Watchdog {
        roll_back_now: Invocation,
        await_rollback: Invocation,
    },
}

/// What a step is for; the executor gives some kinds their own meaning (a comparison that
/// ends a host's plan early, an activation whose end state must be read back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "what")]
pub enum StepKind {
    /// Evaluate one host's system, in a `nix eval` of its own (unless the evaluation cache
    /// answers for it: see `ReadFlakeHash`).
    Evaluate(String),
    /// Read the flake's locked hash, which keys the evaluation cache: a host whose system was
    /// evaluated from the same source, with the same options, and whose `.drv` is still in
    /// this machine's store, is not evaluated again. Best effort: without it, every host is.
    ReadFlakeHash,
    /// Send the flake's source and its locked inputs to the machine that evaluates
    /// (`eval_on`). Best effort: without it, hosts are evaluated here.
    ArchiveFlake,
    /// Ask the machine that evaluates for its cores, its free memory (which size `eval_jobs`
    /// there) and which of the `.drv` paths the evaluation cache holds for it it still has.
    ReadEvaluator,
    /// Read, in one command, the running system (`/run/current-system`), the system profile's
    /// generation, and the system the profile points at (what the host boots next). When only
    /// changed hosts are deployed, a host already running the evaluated system stops here;
    /// with the running system, the profile says whether an action has anything left to do.
    ReadState,
    /// Read the system this host runs, for `Arg::Running` placeholders of other steps (a
    /// builder's: its cache serves it, signed). Failing leaves those steps unasked.
    ReadRunningOf(String),
    /// Send the system's derivations to where it will be built: that builder, or this machine
    /// (`None`, from the machine that evaluated them).
    CopyDerivations(Option<String>),
    /// Realise the system derivation.
    Build,
    /// Get the built closure onto the target.
    CopyClosure,
    /// Take the host's deploy lock, so no other run changes it meanwhile.
    Lock,
    /// One of the host's `pre_activate` commands, as root, before anything else changes.
    PreActivate,
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
    /// A part of the preview (see `preview`).
    Preview(PreviewPart),
    /// `fleet exec`'s command.
    Exec,
    /// Reboot the host and wait until it answers again.
    Reboot,
    /// Find the specialisation to activate in the new system (its path there), or fail before
    /// anything changes.
    FindSpecialisation(String),
}

impl StepKind {
    /// Steps that change a host's system, profile or store: once one has begun, the rest of
    /// the deployment runs to its end, whatever Ctrl-C says (see `exec::interrupt`).
    pub fn changes_host(&self) -> bool {
        self.is_activation()
            || matches!(
                self,
                StepKind::PreActivate
                    | StepKind::ArmWatchdog(_)
                    | StepKind::DeleteGenerations
                    | StepKind::CollectGarbage
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

/// The parts of a preview, each one command on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PreviewPart {
    /// What the host lacks of the new closure, and what fetching it costs (before the copy).
    Fetch,
    /// A reboot needed; the package changes between the running and the new closure.
    Changes,
    /// The units the switch would stop, restart and start (`dry-activate`, as root).
    Units,
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
    /// What may run on the host after this step (following it, or undoing it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow: Option<Follow>,
    /// When it fails, the run goes on without what it would have told, and says so.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub best_effort: bool,
}

impl Step {
    /// A step with no fallbacks and nothing to follow.
    pub fn new(kind: StepKind, title: &str, run: Invocation) -> Step {
        Step {
            kind,
            title: title.into(),
            run,
            fallbacks: Vec::new(),
            follow: None,
            best_effort: false,
        }
    }

    /// The same step, whose failure does not end the run.
    pub fn best_effort(mut self) -> Step {
        self.best_effort = true;
        self
    }

    /// The same step, with `run` tried (as `title` says) when the ways before it failed.
    pub fn or_else(mut self, title: impl Into<String>, run: Invocation) -> Step {
        self.fallbacks.push(Fallback {
            title: title.into(),
            run,
        });
        self
    }

    /// The same step, with what may run on the host after it.
    pub fn followed_by(mut self, follow: Follow) -> Step {
        self.follow = Some(follow);
        self
    }
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
    /// Run after building, on a host that changes: what the deployment would change, known
    /// without activating (`--preview`, and before quick-all's question). Best effort: a
    /// part that fails is reported unknown.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preview: Vec<Step>,
    pub deploy: Vec<Step>,
    /// When the builder cannot be reached: build elsewhere, in order (the next builder of the
    /// host's `via`, then `--fallback` or the inventory's), each entry for when the one
    /// before it is down too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub if_builder_down: Vec<BuilderDown>,
    /// A switch that leaves units failed (exit 4): keep it, or roll the host back.
    pub on_failed_units: FailedUnits,
    /// Hosts of this run that must reach a point before this one starts to change: those
    /// that fetch from it (its cache or store) until they have their closure, since its
    /// switch may restart the cache; every other host, for the machine fleet runs on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub activate_after: Vec<Awaited>,
}

impl HostPlan {
    /// It reboots the host (`reboot`, `deploy --reboot`): what the host booted is checked.
    pub fn reboots(&self) -> bool {
        self.deploy.iter().any(|s| s.kind == StepKind::Reboot)
    }

    /// The specialisation its activation switches to (or tests), if it names one.
    pub fn specialisation(&self) -> Option<&str> {
        self.deploy.iter().find_map(|s| match &s.kind {
            StepKind::FindSpecialisation(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// `host`'s plan with no steps yet: built on `build_on`, activated on `target`, a switch
    /// that leaves units failed kept, waiting for no other host.
    pub fn new(host: &crate::inventory::Host, build_on: Machine, target: Machine) -> HostPlan {
        HostPlan {
            host: host.name.clone(),
            attribute: host.attribute.clone(),
            build_on,
            target,
            inspect: Vec::new(),
            build: Vec::new(),
            preview: Vec::new(),
            deploy: Vec::new(),
            if_builder_down: Vec::new(),
            on_failed_units: FailedUnits::Keep,
            activate_after: Vec::new(),
        }
    }
}

/// A host of the run, and how far it must have got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Awaited {
    pub host: String,
    pub until: Milestone,
}

/// How far a host's deployment has got; each implies the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Milestone {
    /// Its closure is on it (or it will never fetch it: it ended early).
    HasClosure,
    /// Its deployment ended, whatever the outcome.
    Done,
}

/// What a plan does: the subcommand it was made for. The executor and the app ask it
/// questions (does it record history? what does a host's success mean?), never its name;
/// the answers are its row in `traits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    Deploy,
    DeployVia,
    QuickDeploy,
    DeployAllParallel,
    QuickAll,
    Build,
    BuildAllParallel,
    Diff,
    Validate,
    UpdateFlake,
    Wake,
    Rollback,
    CachePush,
    CacheStatus,
    Gc,
    Status,
    Doctor,
    Generations,
    Exec,
    Unlock,
    Reboot,
}

/// What a command is, as the executor, the history and the summary need to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traits {
    /// The subcommand as typed.
    pub name: &'static str,
    /// It changes what hosts run: each host's result goes into the history.
    pub records_history: bool,
    /// Which hosts that do not answer it are woken (wake-on-LAN).
    pub waking: Waking,
    /// Seconds each host may take to answer all its questions (`status`, the quick look at
    /// the whole fleet, must not be held up by one hung host).
    pub answer_within: Option<u64>,
    /// What a host that went through its whole plan has become.
    pub success: Outcome,
    /// `fleet retry` can run it again for the hosts it left undone (deployments and builds:
    /// doing them again does what was asked once; a rollback again would go further back).
    pub retryable: bool,
}

impl CommandKind {
    /// Every command, for the table's tests.
    #[cfg(test)]
    pub const ALL: [CommandKind; 21] = [
        CommandKind::Deploy,
        CommandKind::DeployVia,
        CommandKind::QuickDeploy,
        CommandKind::DeployAllParallel,
        CommandKind::QuickAll,
        CommandKind::Build,
        CommandKind::BuildAllParallel,
        CommandKind::Diff,
        CommandKind::Validate,
        CommandKind::UpdateFlake,
        CommandKind::Wake,
        CommandKind::Rollback,
        CommandKind::CachePush,
        CommandKind::CacheStatus,
        CommandKind::Gc,
        CommandKind::Status,
        CommandKind::Doctor,
        CommandKind::Generations,
        CommandKind::Exec,
        CommandKind::Unlock,
        CommandKind::Reboot,
    ];

    /// The one table of what each command is.
    #[rustfmt::skip]
    pub const fn traits(self) -> Traits {
        use CommandKind as C;
        use Outcome as O;
        use Waking::{Always, Never, OnDemand};
        const fn row(
            name: &'static str,
            records_history: bool,
            waking: Waking,
            answer_within: Option<u64>,
            success: Outcome,
            retryable: bool,
        ) -> Traits {
            Traits {
                name,
                records_history,
                waking,
                answer_within,
                success,
                retryable,
            }
        }
        // name, records history, waking, answer within (seconds), success, retryable
        match self {
            C::Deploy => row("deploy", true, OnDemand, None, O::Deployed, true),
            C::DeployVia => row("deploy-via", true, OnDemand, None, O::Deployed, true),
            C::QuickDeploy => row("quick-deploy", true, OnDemand, None, O::Deployed, true),
            C::DeployAllParallel => row("deploy-all-parallel", true, OnDemand, None, O::Deployed, true),
            C::QuickAll => row("quick-all", true, OnDemand, None, O::Deployed, true),
            C::Build => row("build", false, OnDemand, None, O::Built, true),
            C::BuildAllParallel => row("build-all-parallel", false, OnDemand, None, O::Built, true),
            C::Diff => row("diff", false, OnDemand, None, O::Compared, false),
            C::Validate => row("validate", false, OnDemand, None, O::Evaluated, false),
            C::UpdateFlake => row("update-flake", false, OnDemand, None, O::Deployed, false),
            C::Wake => row("wake", false, Always, None, O::Awake, false),
            C::Rollback => row("rollback", true, OnDemand, None, O::Reverted, false),
            C::CachePush => row("cache push", false, OnDemand, None, O::Pushed, false),
            C::CacheStatus => row("cache status", false, Never, None, O::Awake, false),
            C::Gc => row("gc", false, Never, None, O::Collected, false),
            C::Status => row("status", false, Never, Some(20), O::Awake, false),
            C::Doctor => row("doctor", false, Never, None, O::Awake, false),
            C::Generations => row("generations", false, Never, None, O::Awake, false),
            C::Exec => row("exec", false, OnDemand, None, O::Awake, false),
            C::Unlock => row("unlock", false, Never, None, O::Awake, false),
            C::Reboot => row("reboot", false, Never, None, O::Rebooted, false),
        }
    }

    /// The subcommand as typed.
    pub const fn name(self) -> &'static str {
        self.traits().name
    }

    /// Commands that change what hosts run: each host's result goes into the history.
    pub const fn records_history(self) -> bool {
        self.traits().records_history
    }

    /// Which hosts that do not answer this command wakes (wake-on-LAN): questions wake none,
    /// `wake` every host with a MAC, the rest those that ask for it.
    pub const fn waking(self) -> Waking {
        self.traits().waking
    }

    /// How long each host may take to answer all of this command's questions.
    pub fn answer_within(self) -> Option<std::time::Duration> {
        self.traits()
            .answer_within
            .map(std::time::Duration::from_secs)
    }

    /// `fleet retry` can run it again (see `Traits::retryable`).
    pub const fn retryable(self) -> bool {
        self.traits().retryable
    }

    /// What a host that went through its whole plan has become.
    pub const fn success(self) -> Outcome {
        self.traits().success
    }
}

/// A plan names its command as typed (`"cache push"`), in `--dry-run --json` and the history.
impl Serialize for CommandKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl fmt::Display for CommandKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub command: CommandKind,
    pub flake: String,
    pub action: Option<Action>,
    /// How many hosts are worked on at once.
    pub max_parallel: usize,
    pub gate: Gate,
    /// Deploy only hosts whose running system differs from the evaluated one.
    pub only_changed: bool,
    /// `--preview`: build, preview, and stop there: nothing is activated.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub preview_only: bool,
    /// Steps run once, before any host: the evaluation, flake checks and updates.
    pub prepare: Vec<Step>,
    pub hosts: Vec<HostPlan>,
}

impl Plan {
    /// A plan of `command` over `hosts` of `flake`, `max_parallel` hosts at once: no action,
    /// no gate, nothing prepared before the hosts.
    pub fn new(
        command: CommandKind,
        flake: &str,
        max_parallel: usize,
        hosts: Vec<HostPlan>,
    ) -> Plan {
        Plan {
            command,
            flake: flake.to_string(),
            action: None,
            max_parallel,
            gate: Gate::None,
            only_changed: false,
            preview_only: false,
            prepare: Vec::new(),
            hosts,
        }
    }

    /// Every step of the plan with the host it belongs to (`None` for `prepare`).
    pub fn steps(&self) -> impl Iterator<Item = (Option<&str>, &Step)> {
        let prepare = self.prepare.iter().map(|s| (None, s));
        let hosts = self.hosts.iter().flat_map(|h| {
            h.inspect
                .iter()
                .chain(&h.build)
                .chain(&h.preview)
                .chain(&h.deploy)
                .map(move |s| (Some(h.host.as_str()), s))
        });
        prepare.chain(hosts)
    }

    /// The hosts where a command goes through sudo with the run's password, in plan order.
    pub fn sudo_password_hosts(&self) -> Vec<&str> {
        let mut hosts: Vec<&str> = self
            .steps()
            .filter(|(_, step)| {
                std::iter::once(&step.run)
                    .chain(step.fallbacks.iter().map(|f| &f.run))
                    .any(|inv| inv.sudo == Some(Sudo::Password))
            })
            .filter_map(|(host, _)| host)
            .collect();
        hosts.dedup();
        hosts
    }
}

/// How a builder's nix-daemon reaches one of its `build_machines` helpers: the helper's store
/// over `ssh-ng://`, at its first address, as its user.
pub(crate) fn helper_store(inv: &crate::inventory::Inventory, helper: &str) -> Option<String> {
    let h = inv.host(helper)?;
    Some(crate::nix::ssh_ng_store(
        h.user.as_deref(),
        h.addresses.first()?,
    ))
}

#[cfg(test)]
mod tests;
