//! What the evaluations gave: each host's system or error, set once as its evaluation ends,
//! for the host's pipeline (which waits for its own) and the commands' placeholders.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;
use tokio::sync::Notify;

use crate::plan::{Plan, StepKind};

/// A host's system, from the evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct System {
    pub drv: String,
    pub out: String,
}

/// Why a host's evaluation gave no system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    /// Nix's own error, its first lines (never fleet's expression).
    pub message: String,
    /// The command, as run.
    pub command: Option<String>,
    /// Its last output (a trace, with `--show-trace`).
    pub output: Vec<String>,
    /// Not evaluated because of Ctrl-C: the host is skipped, not failed.
    pub interrupted: bool,
    /// `nix` could not be started here at all: not the configuration's fault.
    pub no_nix: bool,
}

/// Each evaluated host's system or error, set once, when its evaluation ends; and the flake's
/// `nixosConfigurations`, as the first evaluation to end listed them.
#[derive(Debug, Default)]
pub struct Evaluations {
    results: HashMap<String, OnceLock<Result<System, EvalError>>>,
    pub(super) configurations: OnceLock<Vec<String>>,
    /// The hosts evaluated on another machine than this one, and where: their derivations
    /// are there, not here.
    elsewhere: std::sync::Mutex<HashMap<String, String>>,
    ended: Notify,
}

impl Evaluations {
    /// A slot for each host the plan evaluates.
    pub fn for_plan(plan: &Plan) -> Evaluations {
        Evaluations {
            results: plan
                .prepare
                .iter()
                .filter_map(|s| match &s.kind {
                    StepKind::Evaluate(host) => Some((host.clone(), OnceLock::new())),
                    _ => None,
                })
                .collect(),
            ..Evaluations::default()
        }
    }

    /// `host`'s system, if its evaluation ended with one.
    pub fn system(&self, host: &str) -> Option<&System> {
        self.results.get(host)?.get()?.as_ref().ok()
    }

    /// `host`'s evaluation, once it has ended; `None` when the plan does not evaluate it.
    pub async fn of(&self, host: &str) -> Option<&Result<System, EvalError>> {
        let slot = self.results.get(host)?;
        loop {
            let ended = self.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if let Some(result) = slot.get() {
                return Some(result);
            }
            ended.await;
        }
    }

    /// Where `host`'s derivations are when not here: the machine that evaluated it.
    pub fn evaluated_on(&self, host: &str) -> Option<String> {
        self.elsewhere.lock().ok()?.get(host).cloned()
    }

    /// The flake's `nixosConfigurations`, if an evaluation listed them.
    pub fn configurations(&self) -> Option<&Vec<String>> {
        self.configurations.get()
    }

    /// Every error, as `host: message`.
    pub fn errors(&self) -> Vec<String> {
        let mut errors: Vec<String> = self
            .results
            .iter()
            .filter_map(|(host, r)| Some(format!("{host}: {}", r.get()?.as_ref().err()?.message)))
            .collect();
        errors.sort();
        errors
    }

    /// The systems that were evaluated.
    pub fn into_systems(self) -> (HashMap<String, System>, Option<Vec<String>>) {
        let systems = self
            .results
            .into_iter()
            .filter_map(|(host, r)| Some((host, r.into_inner()?.ok()?)))
            .collect();
        (systems, self.configurations.into_inner())
    }

    pub(super) fn evaluated_elsewhere(&self, host: &str, on: &str) {
        if let Ok(mut elsewhere) = self.elsewhere.lock() {
            elsewhere.insert(host.to_string(), on.to_string());
        }
    }

    pub(super) fn end(&self, host: &str, result: Result<System, EvalError>) {
        if let Some(slot) = self.results.get(host) {
            let _ = slot.set(result);
        }
        self.ended.notify_waiters();
    }
}
