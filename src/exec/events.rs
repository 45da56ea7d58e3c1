//! What the executor tells the person running fleet, and what it asks them, as a small trait:
//! the terminal UI implements it, so the executor prints nothing and reads no terminal itself.

use tokio::sync::oneshot;

use crate::secret::Secret;
use crate::vocab::Action;

/// How far the user has asked the run to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stop {
    /// Start nothing new.
    Winding = 1,
    /// Abort what has not started to change a host.
    Aborting = 2,
    /// Stop following activations.
    Leaving = 3,
}

/// The executor's side of the conversation with whoever watches a run.
pub trait Events: Sync {
    /// A host's current step (`None`: fleet's own, like the evaluation).
    fn step(&self, host: Option<&str>, text: &str);
    /// Something worth a line of its own.
    fn note(&self, host: Option<&str>, text: &str);
    /// How a host's current step goes (a count, a wait): shown in place on a terminal, never
    /// a line of its own in a log, where it would repeat.
    fn tick(&self, host: &str, text: &str) {
        let _ = (host, text);
    }
    /// Where the Nix command of a host's current step stands (derivations built, paths and
    /// bytes fetched), as Nix reports it; sent at most a few times a second.
    fn progress(&self, host: &str, report: &crate::nix::progress::Report) {
        let _ = (host, report);
    }
    /// The host is done; `outcome` says how.
    fn finish(&self, host: &str, outcome: &str);
    /// Ctrl-C was pressed; the run now stops as far as `stop`.
    fn interrupted(&self, stop: Stop);
    /// quick-all's question: deploy these changed hosts? The answer comes on the receiver (a
    /// dropped sender is a no); meanwhile the executor still watches for Ctrl-C.
    fn ask_to_deploy(&self, question: &DeployQuestion) -> oneshot::Receiver<bool>;
    /// The question is settled: answered, or withdrawn because Ctrl-C came first.
    fn question_settled(&self, answered: bool);
    /// A host refused the run's sudo password: ask for its own, without echo (`None`: no one
    /// can answer, or no answer).
    fn ask_secret(&self, prompt: &str) -> oneshot::Receiver<Option<Secret>> {
        let _ = prompt;
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(None);
        rx
    }
}

/// The changed hosts quick-all would deploy, for the user to say yes or no to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployQuestion {
    pub action: Action,
    pub hosts: Vec<Changed>,
    /// Hosts that could not be reached, skipped (laptops asleep).
    pub unreachable: Vec<String>,
    /// `--yes`: answered already; say what happens, ask nothing.
    pub answered_yes: bool,
}

/// One changed host: what it runs, and what it would run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub host: String,
    pub from: Option<String>,
    pub to: Option<String>,
    /// What deploying it would change, as far as it could be known.
    pub preview: Option<crate::preview::Preview>,
}

/// Events that go nowhere, and a question answered as `--yes` answers it (or "no" without).
#[cfg(test)]
pub struct Silent;

#[cfg(test)]
impl Events for Silent {
    fn step(&self, _: Option<&str>, _: &str) {}
    fn note(&self, _: Option<&str>, _: &str) {}
    fn finish(&self, _: &str, _: &str) {}
    fn interrupted(&self, _: Stop) {}
    fn ask_to_deploy(&self, question: &DeployQuestion) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(question.answered_yes);
        rx
    }
    fn question_settled(&self, _: bool) {}
}
