//! Activation on a remote host, the safe way: launched detached and followed (a dropped
//! connection is re-opened and the result read), health checks, magic rollback's confirmation
//! over a new login, and the rollback itself, which the host carries out.

use std::time::{Duration, Instant};

use super::failure::failure;
use super::interrupt::Stop;
use super::run::{Finished, Log, RunError};
use super::{Done, HostContext, Ready};
use crate::nix;
use crate::plan::{Arg, HostPlan, Invocation, Machine, Step, StepKind};
use crate::report::{Failure, HostReport, Outcome};

/// How long a health check may take when no watchdog bounds it.
const HEALTH_CHECK_LIMIT: Duration = Duration::from_secs(300);
/// How long a host may take to switch back to its previous system, beyond its watchdog's wait.
const ROLLBACK_SLACK: u64 = 300;

impl HostContext<'_> {
    /// `switch-to-configuration`, launched detached on `host` and followed there until it
    /// ends; its exit code and output are read back from the host.
    pub(super) async fn activate_detached(
        &self,
        hp: &HostPlan,
        step: &Step,
        host: &str,
        log: &Log,
    ) -> Result<Done, Failure> {
        self.step(hp, step, log).await?;
        self.progress
            .step(Some(&hp.host), &format!("{} (following it)", step.title));
        let as_root = root_prefix(&step.run.argv);
        let exit = self
            .await_on_host(host, log, nix::ACTIVATION_LIMIT, |secs| {
                on(
                    host,
                    with_prefix(&as_root, nix::await_activation(&hp.host, secs)),
                )
            })
            .await;
        // Its output, logged and its last lines kept as every command's are.
        let (output, tail) = match self
            .runner
            .run(
                &on(host, with_prefix(&as_root, nix::activation_log(&hp.host))),
                log,
            )
            .await
        {
            Ok(f) => (f.stdout, f.tail),
            Err(_) => (String::new(), Vec::new()),
        };
        let (code, unread) = match &exit {
            Ok(f) if f.success() => (f.stdout.trim().parse::<i32>().ok(), None),
            Ok(f) => (None, Some(f.tail.join(" "))),
            Err(why) => (None, Some(why.clone())),
        };
        let finished = Finished {
            code,
            stdout: output.clone(),
            tail,
            shown: format!("{host}$ {} (detached)", self.shown_activation(step)),
        };
        if finished.success() {
            return Ok(Done {
                fallback: None,
                stdout: output,
            });
        }
        let mut f = failure(hp, step, Ok(finished), None);
        if let Some(why) = unread {
            f.message =
                format!("the activation's result could not be read back from {host}: {why}");
        }
        Err(f)
    }

    /// `SYSTEM/bin/switch-to-configuration ACTION` as the launch step starts it, for messages.
    fn shown_activation(&self, step: &Step) -> String {
        let (system, action) = match step.run.argv.as_slice() {
            [.., system, Arg::Lit(action)] => (system, action.as_str()),
            _ => return step.title.clone(),
        };
        let system = match system {
            Arg::Lit(path) => path.clone(),
            Arg::Out { out, .. } => self
                .runner
                .systems
                .get(out)
                .map_or_else(|| format!("{{{out}.out}}"), |s| s.out.clone()),
            other => crate::ui::show_arg(other),
        };
        format!("{system}/bin/switch-to-configuration {action}")
    }

    /// A health check on the new system, within the watchdog's time when one is armed.
    pub(super) async fn health_check(
        &self,
        hp: &HostPlan,
        step: &Step,
        armed: Option<u64>,
        log: &Log,
    ) -> Result<Done, Failure> {
        let limit = armed.map_or(HEALTH_CHECK_LIMIT, Duration::from_secs);
        match tokio::time::timeout(limit, self.step(hp, step, log)).await {
            Ok(result) => result,
            Err(_) => {
                let why = format!(
                    "the health check did not finish within {} s",
                    limit.as_secs()
                );
                Err(failure(hp, step, Err(RunError::Resolve(why)), None))
            }
        }
    }

    /// Magic rollback's confirmation, over a new SSH connection: it proves that the deployer
    /// can still log in to the switched host.
    pub(super) async fn confirm_over_new_login(
        &self,
        hp: &HostPlan,
        step: &Step,
        host: &str,
        log: &Log,
    ) -> Result<Done, Failure> {
        self.progress.step(Some(&hp.host), &step.title);
        let conn = match self.runner.connections.fresh(host).await {
            Ok(c) => c,
            Err(e) => {
                let mut f = failure(hp, step, Err(RunError::Connect(e.clone())), None);
                f.message = format!("could not log in to {host} again after the switch ({e})");
                f.next = "the new configuration locks the deployer out (sshd, users, keys or the firewall); fix it and deploy again".to_string();
                f.unreachable = None;
                return Err(f);
            }
        };
        let result = self.runner.run_over(&conn, &step.run, log).await;
        let _ = conn.session.close().await;
        match result {
            Ok(f) if f.success() => Ok(Done {
                fallback: None,
                stdout: f.stdout,
            }),
            other => Err(failure(hp, step, other, None)),
        }
    }

    /// A step failed after the watchdog was armed (`armed`): the host rolls itself back. fleet
    /// asks for it at once when it can still reach the host; when it cannot, the watchdog acts
    /// alone when its time is up. Either way fleet waits for the host's word and reports.
    pub(super) async fn roll_back(
        &self,
        ready: Ready<'_>,
        armed: &Step,
        mut f: Failure,
    ) -> HostReport {
        let hp = ready.hp;
        let (Machine::Host(host), StepKind::ArmWatchdog(secs)) = (&armed.run.on, &armed.kind)
        else {
            let end = self.inspect(hp, &ready.log).await.ok();
            return self.failed(ready, f, end);
        };
        self.progress
            .note(Some(&hp.host), &format!("{}: rolling back", f.message));
        let as_root = root_prefix(&armed.run.argv);
        let now = on(host, with_prefix(&as_root, nix::roll_back_now(&hp.host)));
        if !matches!(self.runner.run(&now, &ready.log).await, Ok(r) if r.success()) {
            // The shared connection may be what failed: one new login, then the watchdog.
            if self.runner.connections.reconnect(host).await.is_ok() {
                let _ = self.runner.run(&now, &ready.log).await;
            }
        }
        self.progress
            .step(Some(&hp.host), "waiting for the host to roll back");
        let rolled = self
            .await_on_host(host, &ready.log, secs + ROLLBACK_SLACK, |s| {
                on(
                    host,
                    with_prefix(&as_root, nix::await_rollback(&hp.host, s)),
                )
            })
            .await;
        let end = self.inspect(hp, &ready.log).await.ok();
        match rolled {
            Ok(r) if r.success() => {
                let to = end
                    .as_ref()
                    .and_then(|e| e.generation)
                    .map_or("its previous generation".to_string(), |g| {
                        format!("generation {g}")
                    });
                f.message
                    .push_str(&format!("; {host} rolled itself back to {to}"));
                match r.stdout.trim() {
                    "0" => {}
                    code => f.message.push_str(&format!(
                        " (whose switch-to-configuration exited {code}: see {}/…/rollback.log there)",
                        nix::RUN_DIR
                    )),
                }
                f.message.push_str(&self.end_state(hp, end.as_ref()));
                self.progress.note(Some(&hp.host), "rolled back");
                let mut report = self.failed(ready, f, end);
                report.outcome = Outcome::RolledBack;
                report
            }
            other => {
                let why = match other {
                    Ok(r) => r.tail.join(" "),
                    Err(why) => why,
                };
                f.message.push_str(&format!(
                    "; {host} did not report a rollback ({why}){}",
                    self.end_state(hp, end.as_ref())
                ));
                f.next = format!(
                    "check {host} by hand: `fleet status {host}`, and `fleet rollback {host}` if it still runs the new system"
                );
                self.failed(ready, f, end)
            }
        }
    }

    /// Runs a command on `host` that waits there (at most the seconds it is given) and
    /// returns. When the connection drops, or cannot be opened, it is opened again and the
    /// command run again with what is left of `limit` seconds. `Err` at the limit.
    async fn await_on_host(
        &self,
        host: &str,
        log: &Log,
        limit: u64,
        command: impl Fn(u64) -> Invocation,
    ) -> Result<Finished, String> {
        let started = Instant::now();
        let mut said = false;
        loop {
            let left = limit.saturating_sub(started.elapsed().as_secs());
            if left == 0 {
                return Err(format!("no answer from {host} within {limit} s"));
            }
            let invocation = command(left);
            let attempt = tokio::select! {
                r = self.runner.run(&invocation, log) => Some(r),
                () = self.interrupts.until(Stop::Leaving) => None,
            };
            let Some(attempt) = attempt else {
                return Err(format!("no longer followed (Ctrl-C); it goes on on {host}"));
            };
            match attempt {
                // The command ran to its end: its answer, or its own word that it cannot.
                Ok(f) if f.code.is_some() => return Ok(f),
                // The connection dropped, or cannot be opened now: open a new one, go on.
                _ => {
                    if !said {
                        self.progress
                            .note(Some(host), "connection lost; reconnecting to follow");
                        said = true;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let _ = self.runner.connections.reconnect(host).await;
                }
            }
        }
    }
}

fn on(host: &str, argv: Vec<Arg>) -> Invocation {
    Invocation {
        on: Machine::Host(host.to_string()),
        argv,
    }
}

/// The `sudo -n --` a planned step starts with, if any: the commands that follow it up touch
/// the same root-owned state, so they go the same way.
fn root_prefix(argv: &[Arg]) -> Vec<Arg> {
    match argv.first() {
        Some(Arg::Lit(p)) if p == "sudo" => {
            let end = argv
                .iter()
                .position(|a| matches!(a, Arg::Lit(s) if s == "--"))
                .map_or(1, |i| i + 1);
            argv[..end].to_vec()
        }
        _ => Vec::new(),
    }
}

fn with_prefix(prefix: &[Arg], argv: Vec<Arg>) -> Vec<Arg> {
    prefix.iter().cloned().chain(argv).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_up_commands_go_through_the_steps_sudo() {
        let argv: Vec<Arg> = ["sudo", "-n", "--", "sh", "-c", "x"]
            .into_iter()
            .map(Arg::from)
            .collect();
        assert_eq!(root_prefix(&argv), argv[..3].to_vec());
        assert!(root_prefix(&argv[3..]).is_empty());
    }
}
