//! quick-all's gate: every host inspected and built first, then the changed ones listed and
//! deployed only if every build succeeded and the user says yes.

use std::time::Instant;

use futures_util::future::join_all;

use super::interrupt::Stop;
use super::{HostContext, Ready};
use crate::report::{HostReport, Outcome};
use crate::ui::summary::short;

impl HostContext<'_> {
    /// quick-all: every host inspected and built first; deploy only if all succeeded and the
    /// user says yes.
    pub(super) async fn gated(&self, yes: bool) -> Vec<HostReport> {
        let results = join_all(
            self.plan
                .hosts
                .iter()
                .map(|hp| self.phase_a(hp, Instant::now())),
        )
        .await;
        let failed: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err().map(|h| h.host.clone()))
            .collect();
        let mut ready = Vec::new();
        let mut reports = Vec::new();
        for r in results {
            match r {
                Ok(x) => ready.push(x),
                Err(report) => reports.push(report),
            }
        }
        if !failed.is_empty() {
            let why = format!("not deployed: {} failed, so nothing was", failed.join(", "));
            reports.extend(ready.into_iter().map(|r| self.skipped(r, &why)));
            return self.in_plan_order(reports);
        }
        let (unchanged, changed): (Vec<_>, Vec<_>) = ready.into_iter().partition(|r| r.unchanged);
        reports.extend(
            unchanged
                .into_iter()
                .map(|r| self.finish(r, Outcome::Unchanged, None)),
        );
        let go = !changed.is_empty()
            && !self.interrupts.at(Stop::Winding)
            && self.confirm(&changed, yes).await;
        if !changed.is_empty() && !go {
            let why = if self.interrupts.at(Stop::Winding) {
                "interrupted (Ctrl-C): not deployed"
            } else {
                "not confirmed"
            };
            reports.extend(changed.into_iter().map(|r| self.skipped(r, why)));
            return self.in_plan_order(reports);
        }
        reports.extend(join_all(changed.into_iter().map(|r| self.phase_b(r))).await);
        self.in_plan_order(reports)
    }

    fn in_plan_order(&self, mut reports: Vec<HostReport>) -> Vec<HostReport> {
        let pos = |h: &str| self.plan.hosts.iter().position(|p| p.host == h);
        reports.sort_by_key(|r| pos(&r.host));
        reports
    }

    /// Lists the changed hosts and asks (or takes `--yes`).
    async fn confirm(&self, changed: &[Ready<'_>], yes: bool) -> bool {
        let action = self.plan.action.map(|a| a.as_str()).unwrap_or("switch");
        let mut text = format!(
            "{} host{} changed and will be deployed ({action}):\n",
            changed.len(),
            if changed.len() == 1 { "" } else { "s" }
        );
        for r in changed {
            let from = r
                .before
                .as_ref()
                .and_then(|b| b.system.as_deref())
                .map(short)
                .unwrap_or_else(|| "?".into());
            let to = self
                .runner
                .systems
                .get(&r.hp.host)
                .map(|s| short(&s.out))
                .unwrap_or_default();
            text.push_str(&format!("  {:<12} {from} -> {to}\n", r.hp.host));
        }
        if yes {
            self.progress
                .suspend(|| eprintln!("{text}Deploying (--yes)."));
            return true;
        }
        self.progress
            .suspend(|| eprint!("{text}Deploy them? [y/N] "));
        // The answer is read on a thread of its own, so a Ctrl-C (a "no") is seen meanwhile.
        self.progress.pause();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut answer = String::new();
            let read = std::io::stdin().read_line(&mut answer);
            let _ = tx.send(read.map(|_| answer));
        });
        let yes = tokio::select! {
            answer = rx => matches!(
                answer.map(|a| a.map(|a| a.trim().to_ascii_lowercase())),
                Ok(Ok(a)) if a == "y" || a == "yes"
            ),
            () = self.interrupts.until(Stop::Winding) => {
                eprintln!();
                false
            }
        };
        self.progress.resume();
        yes
    }
}
