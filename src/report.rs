//! What a run did, per host: plain data that the summary table and `--json` both render.

use std::path::PathBuf;

use serde::Serialize;

/// How a host's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Activated (switch, boot or test, as asked).
    Deployed,
    /// `--action dry-activate`: what activating would do was asked of the host (its words are
    /// the report's `output`); nothing was changed.
    DryActivated,
    /// Already running the evaluated system; nothing was built, copied or activated.
    Unchanged,
    /// Built, not activated (build commands).
    Built,
    /// Its system evaluated (`validate`).
    Evaluated,
    /// Built and copied to the target, compared with what it runs; not activated (`diff`).
    Compared,
    /// Built and put on the target, and what deploying would change there shown; not
    /// activated (`--preview`).
    Previewed,
    /// Built and put into a binary cache (`cache push`).
    Pushed,
    /// Old generations deleted and garbage collected (`gc`).
    Collected,
    /// Switched, and kept, but some units failed (`switch-to-configuration` exited 4).
    UnitsFailed,
    /// Installed for the next boot, not switched to: NixOS refuses a live switch when its
    /// switch-inhibitors (systemd's version, say) change. It runs the new system after a
    /// reboot (`fleet reboot`). A success.
    NeedsReboot,
    /// Activated, then rolled back by the host itself (magic rollback).
    RolledBack,
    /// Back to an earlier generation, as `fleet rollback` asked.
    Reverted,
    /// Answers SSH (`wake`).
    Awake,
    /// Rebooted, answering again, booted into its profile's system (`reboot`).
    Rebooted,
    Failed,
    /// Not attempted, because of another host (quick-all) or the user's answer.
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Deployed => "deployed",
            Outcome::DryActivated => "dry-activated",
            Outcome::Unchanged => "unchanged",
            Outcome::Built => "built",
            Outcome::Evaluated => "evaluated",
            Outcome::Compared => "compared",
            Outcome::Previewed => "previewed",
            Outcome::Pushed => "pushed",
            Outcome::Collected => "collected",
            Outcome::UnitsFailed => "units failed",
            Outcome::NeedsReboot => "needs a reboot",
            Outcome::RolledBack => "rolled back",
            Outcome::Reverted => "reverted",
            Outcome::Awake => "awake",
            Outcome::Rebooted => "rebooted",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }

    pub fn is_success(self) -> bool {
        matches!(
            self,
            Outcome::Deployed
                | Outcome::DryActivated
                | Outcome::NeedsReboot
                | Outcome::Reverted
                | Outcome::Unchanged
                | Outcome::Built
                | Outcome::Evaluated
                | Outcome::Compared
                | Outcome::Previewed
                | Outcome::Pushed
                | Outcome::Collected
                | Outcome::Awake
                | Outcome::Rebooted
        )
    }
}

/// What a run left undone on a host, for `fleet retry` (and the pending mark of `status` and
/// `hosts`): a host that failed, was asleep, was interrupted, or waited on another's failure.
/// Not a host the user said no to, nor one that rolled back or whose units failed (a retry
/// would do the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Left {
    Failed,
    Asleep,
    Interrupted,
    /// Not deployed because another host failed (quick-all deploys only when all built).
    Held,
}

impl Left {
    pub fn as_str(self) -> &'static str {
        match self {
            Left::Failed => "failed",
            Left::Asleep => "asleep",
            Left::Interrupted => "interrupted",
            Left::Held => "held back",
        }
    }
}

/// What a host ran at some moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SystemState {
    /// The system profile's generation number.
    pub generation: Option<u32>,
    /// The running system's store path.
    pub system: Option<String>,
    /// The store path the system profile points at: what the host boots next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The system the host booted (`/run/booted-system`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booted: Option<String>,
    /// The profile's specialisation the running system is, when it runs one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub specialisation: Option<String>,
}

/// Why a host failed: where, what ran, what it said, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub step: String,
    pub command: Option<String>,
    pub exit_code: Option<i32>,
    pub message: String,
    pub output: Vec<String>,
    pub next: String,
    /// The host that could not be reached, when that is why the step failed.
    #[serde(skip)]
    pub unreachable: Option<String>,
    /// No other way can succeed (a store that is full): the step's fallbacks are not tried.
    #[serde(skip)]
    pub fatal: bool,
    /// The host refused the activation before it began (NixOS's switch-inhibitors, its
    /// pre-switch checks): the system it runs was not touched.
    #[serde(skip)]
    pub refused: bool,
}

impl Failure {
    /// A failure fleet found itself (no command's exit or output to show), at `step`.
    pub fn found(step: String, message: String, next: String) -> Failure {
        Failure {
            step,
            command: None,
            exit_code: None,
            message,
            output: Vec::new(),
            next,
            unreachable: None,
            fatal: false,
            refused: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostReport {
    pub host: String,
    pub outcome: Outcome,
    /// The address fleet reached the host at.
    pub address: Option<String>,
    /// Where the system was built.
    pub built_on: String,
    /// The evaluated system.
    pub system: Option<String>,
    pub before: Option<SystemState>,
    pub after: Option<SystemState>,
    pub seconds: f64,
    /// Things worth knowing, like a fallback that was used.
    pub notes: Vec<String>,
    pub failure: Option<Failure>,
    /// What the host reported: `diff`'s closure comparison, `gc`'s freed space, what a dry
    /// activation would do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// What deploying would change (`--preview`, quick-all), known before activating.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<crate::preview::Preview>,
    /// This host's full output.
    pub log: Option<PathBuf>,
    /// What this run left undone on it, for `fleet retry`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left: Option<Left>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// This run's id, as its state directories on hosts and its history lines name it.
    pub run: String,
    pub command: String,
    pub action: Option<String>,
    pub hosts: Vec<HostReport>,
    pub log_dir: Option<PathBuf>,
    pub seconds: f64,
    /// Ctrl-C was pressed: hosts not yet deployed were skipped.
    pub interrupted: bool,
    /// The hosts.toml this run used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inventory: Option<PathBuf>,
}

impl RunReport {
    pub fn success(&self) -> bool {
        self.hosts.iter().all(|h| h.outcome.is_success())
    }
}
