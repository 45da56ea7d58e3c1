//! quick-all's gate: every host inspected and built first, then the changed ones listed and
//! deployed only if every build succeeded and the user says yes.

use std::time::Instant;

use futures_util::future::join_all;

use super::events::{Changed, DeployQuestion};
use super::host::{HostContext, Prepared};
use super::interrupt::Stop;
use super::transport::Transport;
use crate::report::{HostReport, Left, Outcome};
use crate::vocab::Action;

impl<T: Transport> HostContext<'_, T> {
    /// quick-all: every host inspected and built first; deploy only if every build succeeded
    /// and the user says yes. A host that cannot be reached at all (a laptop asleep) is
    /// skipped, and does not hold the others back; a failed build stops everything.
    pub(super) async fn gated(&self, yes: bool) -> Vec<HostReport> {
        let results = join_all(
            self.plan
                .hosts
                .iter()
                .map(|hp| self.build(hp, Instant::now())),
        )
        .await;
        let mut ready = Vec::new();
        let mut reports = Vec::new();
        let mut failed = Vec::new();
        let mut unreachable = Vec::new();
        for r in results {
            match r {
                Ok(x) => ready.push(x),
                Err(report) if asleep(&report) => {
                    unreachable.push(report.host.clone());
                    reports.push(skip_asleep(report));
                }
                Err(report) => {
                    failed.push(report.host.clone());
                    reports.push(report);
                }
            }
        }
        let (unchanged, mut changed): (Vec<_>, Vec<_>) =
            ready.into_iter().partition(|r| r.unchanged);
        if !failed.is_empty() {
            let why = format!(
                "not deployed: {} failed, and {} deploys only when every host built",
                failed.join(", "),
                self.plan.command
            );
            reports.extend(
                unchanged
                    .into_iter()
                    .map(|r| self.finish(r, Outcome::Unchanged, None)),
            );
            reports.extend(changed.into_iter().map(|r| {
                let mut report = self.skipped(r, &why);
                report.left = Some(Left::Held);
                report
            }));
            return self.in_plan_order(reports);
        }
        // What deploying each would change, for the question.
        join_all(changed.iter_mut().map(|r| self.preview_changed(r))).await;
        reports.extend(
            unchanged
                .into_iter()
                .map(|r| self.finish(r, Outcome::Unchanged, None)),
        );
        let go = !changed.is_empty()
            && !self.interrupts.at(Stop::Winding)
            && self.confirm(&changed, &unreachable, yes).await;
        if !changed.is_empty() && !go {
            let (why, left) = if self.interrupts.at(Stop::Winding) {
                (
                    "interrupted (Ctrl-C): not deployed",
                    Some(Left::Interrupted),
                )
            } else {
                ("not confirmed", None)
            };
            reports.extend(changed.into_iter().map(|r| {
                let mut report = self.skipped(r, why);
                report.left = left;
                report
            }));
            return self.in_plan_order(reports);
        }
        reports.extend(join_all(changed.into_iter().map(|r| self.deploy(r))).await);
        self.in_plan_order(reports)
    }

    fn in_plan_order(&self, mut reports: Vec<HostReport>) -> Vec<HostReport> {
        let pos = |h: &str| self.plan.hosts.iter().position(|p| p.host == h);
        reports.sort_by_key(|r| pos(&r.host));
        reports
    }

    /// Lists the changed hosts (and those skipped as unreachable) and asks (or takes `--yes`);
    /// Ctrl-C meanwhile is a no.
    async fn confirm(&self, changed: &[Prepared<'_>], unreachable: &[String], yes: bool) -> bool {
        let question = DeployQuestion {
            action: self.plan.action.unwrap_or(Action::Switch),
            hosts: changed
                .iter()
                .map(|r| Changed {
                    host: r.hp.host.clone(),
                    from: r.before.as_ref().and_then(|b| b.system.clone()),
                    to: self.runner.known.out(&r.hp.host).map(String::from),
                    preview: r.preview.clone(),
                })
                .collect(),
            unreachable: unreachable.to_vec(),
            answered_yes: yes,
        };
        let answer = self.events.ask_to_deploy(&question);
        let yes = tokio::select! {
            answer = answer => Some(answer.unwrap_or(false)),
            () = self.interrupts.until(Stop::Winding) => None,
        };
        self.events.question_settled(yes.is_some());
        yes.unwrap_or(false)
    }
}

/// A host that failed because it could not be reached at all, before anything was built.
fn asleep(report: &HostReport) -> bool {
    report
        .failure
        .as_ref()
        .is_some_and(|f| f.unreachable.as_deref() == Some(report.host.as_str()))
}

/// An unreachable host's report: skipped, with why, rather than failed.
fn skip_asleep(mut report: HostReport) -> HostReport {
    if let Some(f) = report.failure.take() {
        report.notes.push(format!("skipped: {}", f.message));
    }
    report.outcome = Outcome::Skipped;
    report
}
