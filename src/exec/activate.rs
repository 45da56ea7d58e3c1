//! Activation on a remote host, the safe way: launched detached and followed (a dropped
//! connection is re-opened and the result read), health checks, magic rollback's confirmation
//! over a new login, and the rollback itself, which the host carries out. Every command run
//! here is planned: the step's `follow` says what follows it.

use std::time::{Duration, Instant};

use super::failure::failure;
use super::host::{HostContext, Prepared, StepDone};
use super::interrupt::Stop;
use super::log::Log;
use super::run::Finished;
use super::transport::RunError;
use super::transport::Transport;
use crate::nix;
use crate::plan::{Follow, HostPlan, Invocation, Machine, Step};
use crate::report::{Failure, HostReport, Outcome};
use crate::vocab::quote_argv;

/// How long a health check may take when no watchdog bounds it.
const HEALTH_CHECK_LIMIT: Duration = Duration::from_secs(300);

/// How long a run waits for another run's deploy lock. A live holder renews it while it
/// works; its watchdog keeps it at most until its activation ends and is confirmed or rolled
/// back. Past this, something is wrong enough for a person to look.
const LOCK_WAIT_LIMIT: Duration = Duration::from_secs(30 * 60);

impl<T: Transport> HostContext<'_, T> {
    /// The host's deploy lock, taken; while another run holds it, waited for (at most
    /// `LOCK_WAIT_LIMIT`) with one line that names the holder, what keeps it alive and how
    /// long fleet has waited (or, with `--no-wait`, a failure at once). A lock whose holder
    /// died is taken over by the script, which says so. `waited` tells the caller that the
    /// host may have changed meanwhile.
    pub(super) async fn take_lock(
        &self,
        hp: &HostPlan,
        step: &Step,
        log: &Log,
    ) -> Result<StepDone, Failure> {
        let wait = matches!(step.follow, Some(Follow::Lock { wait: true, .. }));
        let started = Instant::now();
        // The holder last named (run, user, watchdog): its line is said again only when it
        // changes, not every second.
        let mut shown = None;
        self.events.step(Some(&hp.host), &step.title);
        loop {
            let f = match self.runner.run(&step.run, log).await {
                Ok(f) if f.success() => {
                    let mut done = StepDone::ran(f.stdout);
                    done.waited = shown.is_some();
                    return Ok(done);
                }
                Ok(f) if f.code == Some(nix::LOCK_BUSY) => f,
                other => return Err(failure(hp, step, other, None)),
            };
            let holder = crate::facts::lock_holder(&f.stdout);
            let busy = format!("another run holds {}'s deploy lock ({holder})", hp.host);
            let waited = started.elapsed();
            let out_of_time = waited >= LOCK_WAIT_LIMIT;
            if !wait || out_of_time || self.interrupts.at(Stop::Winding) {
                let mut failed = failure(hp, step, Ok(f), None);
                // The lock script's body says nothing a person needs; its holder does.
                failed.command = None;
                failed.output.clear();
                failed.message = if out_of_time {
                    format!(
                        "{busy}; waited {} min for it, and nothing was changed on {}",
                        waited.as_secs() / 60,
                        hp.host
                    )
                } else {
                    format!("{busy}; nothing was changed on it")
                };
                failed.next = format!(
                    "wait for that run to end (`fleet status {host}` shows the lock), then run again; if its fleet is gone and no watchdog keeps it, `fleet unlock {host}` breaks it",
                    host = hp.host
                );
                return Err(failed);
            }
            let who = Some((
                holder.run.clone(),
                holder.who.clone(),
                holder.watchdog.clone(),
            ));
            if who != shown {
                self.events
                    .note(Some(&hp.host), &format!("waiting: {busy}"));
                shown = who;
            }
            // The wait's length, in place on a terminal; a log has the line above.
            self.events.tick(
                &hp.host,
                &format!(
                    "waiting for the deploy lock ({} s; at most {} min)",
                    waited.as_secs(),
                    LOCK_WAIT_LIMIT.as_secs() / 60
                ),
            );
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = self.interrupts.until(Stop::Winding) => {}
            }
        }
    }

    /// Runs `work`, renewing the host's deploy lock (`lease`, once taken) meanwhile.
    pub(super) async fn with_lease<F: std::future::Future>(
        &self,
        lease: Option<&Invocation>,
        log: &Log,
        work: F,
    ) -> F::Output {
        let Some(renew) = lease else {
            return work.await;
        };
        let renewing = async {
            loop {
                tokio::time::sleep(Duration::from_secs(nix::LOCK_LEASE / 3)).await;
                let _ = self.runner.run(renew, log).await;
            }
        };
        tokio::select! {
            out = work => out,
            never = renewing => never,
        }
    }

    /// `switch-to-configuration`, launched detached on `host` and followed there until it
    /// ends; its exit code and output are read back from the host.
    pub(super) async fn activate_detached(
        &self,
        hp: &HostPlan,
        step: &Step,
        host: &str,
        log: &Log,
    ) -> Result<StepDone, Failure> {
        let Some(Follow::Activation {
            runs,
            await_exit,
            read_log,
        }) = &step.follow
        else {
            return self.step(hp, step, log).await;
        };
        // What the `pre` checks said (a switch installed for the next boot instead) leads
        // the activation's output.
        let launched = self.step(hp, step, log).await?;
        self.events
            .step(Some(&hp.host), &format!("{} (following it)", step.title));
        let exit = self.await_on_host(host, log, await_exit).await;
        // Its output, logged and its last lines kept as every command's are.
        let (output, tail) = match self.runner.run(read_log, log).await {
            Ok(f) => (f.stdout, f.tail),
            Err(_) => (String::new(), Vec::new()),
        };
        let (code, unread) = match &exit {
            Ok(f) if f.success() => (f.stdout.trim().parse::<i32>().ok(), None),
            Ok(f) => (None, Some(f.tail.join(" "))),
            Err(why) => (None, Some(why.clone())),
        };
        let shown = match self.runner.resolve(runs).await {
            Ok(argv) => quote_argv(&argv),
            Err(_) => step.title.clone(),
        };
        let finished = Finished {
            code,
            stdout: output.clone(),
            tail,
            shown: format!("{host}$ {shown} (detached)"),
            quiet_for: None,
        };
        if finished.success() {
            return Ok(StepDone::ran(format!("{}{output}", launched.stdout)));
        }
        let mut f = failure(hp, step, Ok(finished), None);
        if let Some(why) = unread {
            f.message =
                format!("the activation's result could not be read back from {host}: {why}");
        }
        Err(f)
    }

    /// A reboot: the host is asked to reboot (saying its boot id first), then asked again, a
    /// new login every two seconds, until it answers with another boot id, at most the step's
    /// limit; the wait is shown in place.
    pub(super) async fn reboot_and_wait(
        &self,
        hp: &HostPlan,
        step: &Step,
        host: &str,
        log: &Log,
    ) -> Result<StepDone, Failure> {
        let Some(Follow::Reboot {
            read_boot_id,
            limit,
        }) = &step.follow
        else {
            return self.step(hp, step, log).await;
        };
        let asked = self.step(hp, step, log).await?;
        let before = asked.stdout.trim().to_string();
        let started = Instant::now();
        let waiting = format!("waiting for {host} to boot again");
        self.events.step(Some(&hp.host), &waiting);
        loop {
            let waited = started.elapsed().as_secs();
            if waited >= *limit {
                let mut f = failure(
                    hp,
                    step,
                    Err(RunError::Resolve(format!(
                        "{host} did not answer again within {limit} s of its reboot"
                    ))),
                    None,
                );
                f.next = format!(
                    "look at {host}'s console; `fleet status {host}` once it is up shows what it booted"
                );
                return Err(f);
            }
            self.events.tick(
                &hp.host,
                &format!("{waiting} ({waited} s; at most {} min)", limit / 60),
            );
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
                () = self.interrupts.until(Stop::Leaving) => {
                    let why = format!("no longer waited for (Ctrl-C); {host} reboots on its own");
                    return Err(failure(hp, step, Err(RunError::Resolve(why)), None));
                }
            }
            if self.runner.transport.reconnect(host).await.is_err() {
                continue;
            }
            if let Ok(f) = self.runner.run(read_boot_id, log).await {
                let now = f.stdout.trim();
                if f.success() && !now.is_empty() && now != before {
                    self.events.note(
                        Some(&hp.host),
                        &format!("answers again, {waited} s after its reboot"),
                    );
                    return Ok(StepDone::ran(f.stdout));
                }
            }
        }
    }

    /// A health check on the new system, within the watchdog's time when one is armed.
    pub(super) async fn health_check(
        &self,
        hp: &HostPlan,
        step: &Step,
        armed: Option<u64>,
        log: &Log,
    ) -> Result<StepDone, Failure> {
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
        log: &Log,
    ) -> Result<StepDone, Failure> {
        self.events.step(Some(&hp.host), &step.title);
        match self.runner.run_on_new_login(&step.run, log).await {
            Ok(f) if f.success() => Ok(StepDone::ran(f.stdout)),
            Ok(f) if f.code.is_some_and(|c| nix::confirm_exit::ALL.contains(&c)) => {
                let code = f.code;
                let mut failed = failure(hp, step, Ok(f), None);
                let host = &hp.host;
                (failed.message, failed.next) = match code {
                    Some(nix::confirm_exit::TOO_LATE) => (
                        format!("the confirmation came too late: {host} was already rolling itself back"),
                        "the switch and the health checks took longer than the confirmation window; deploy again with a longer --confirm-timeout".to_string(),
                    ),
                    Some(nix::confirm_exit::TAKEN_OVER) => (
                        format!("another fleet run took over {host} before this one confirmed its switch"),
                        format!("see what {host} runs now with `fleet status {host}` and `fleet history {host}`"),
                    ),
                    _ => (
                        format!("the rollback watchdog on {host} did not answer the confirmation"),
                        format!("see `fleet status {host}`; the watchdog rolls the host back if nobody confirms in time"),
                    ),
                };
                Err(failed)
            }
            Err(RunError::Connect(e)) => {
                let on = step.run.on.to_string();
                let mut f = failure(hp, step, Err(RunError::Connect(e.clone())), None);
                f.message = format!("could not log in to {on} again after the switch ({e})");
                f.next = "the new configuration locks the deployer out (sshd, users, keys or the firewall); fix it and deploy again".to_string();
                f.unreachable = None;
                Err(f)
            }
            other => Err(failure(hp, step, other, None)),
        }
    }

    /// A step failed after the watchdog was armed (`armed`): the host rolls itself back. fleet
    /// asks for it at once when it can still reach the host; when it cannot, the watchdog acts
    /// alone when its time is up. Either way fleet waits for the host's word and reports.
    pub(super) async fn roll_back(
        &self,
        prepared: Prepared<'_>,
        armed: &Step,
        mut f: Failure,
    ) -> HostReport {
        let hp = prepared.hp;
        let (
            Machine::Host(host),
            Some(Follow::Watchdog {
                roll_back_now,
                await_rollback,
            }),
        ) = (&armed.run.on, &armed.follow)
        else {
            let end = self.inspect(hp, &prepared.log).await.ok();
            return self.failed(prepared, f, end);
        };
        let undo = if f.refused {
            "its profile goes back"
        } else {
            "rolling back"
        };
        self.events
            .note(Some(&hp.host), &format!("{}: {undo}", f.message));
        if !matches!(self.runner.run(roll_back_now, &prepared.log).await, Ok(r) if r.success()) {
            // The shared connection may be what failed: one new login, then the watchdog.
            if self.runner.transport.reconnect(host).await.is_ok() {
                let _ = self.runner.run(roll_back_now, &prepared.log).await;
            }
        }
        self.events
            .step(Some(&hp.host), "waiting for the host to roll back");
        let rolled = self
            .await_on_host(host, &prepared.log, await_rollback)
            .await;
        let end = self.inspect(hp, &prepared.log).await.ok();
        match rolled {
            Ok(r) if r.success() => {
                let to = end
                    .as_ref()
                    .and_then(|e| e.generation)
                    .map_or("its previous generation".to_string(), |g| {
                        format!("generation {g}")
                    });
                if f.refused {
                    // Nothing was activated: only the profile, set for it, went back.
                    f.message = format!(
                        "{}; nothing was changed on {host} (its profile is back at {to})",
                        f.message
                    );
                    return self.failed(prepared, f, end);
                }
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
                f.message.push_str(
                    "; the generation it rejected is removed from its profile, so neither `fleet rollback` nor its boot menu offers it",
                );
                self.events.note(Some(&hp.host), "rolled back");
                let mut report = self.failed(prepared, f, end);
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
                self.failed(prepared, f, end)
            }
        }
    }

    /// Runs `waiting`, a planned command that waits on `host` (at most its limit) and returns.
    /// When the connection drops, or cannot be opened, it is opened again and the command run
    /// again, waiting only for what is left of the limit. `Err` at the limit.
    async fn await_on_host(
        &self,
        host: &str,
        log: &Log,
        waiting: &Invocation,
    ) -> Result<Finished, String> {
        let limit = waiting.wait_limit().unwrap_or(nix::ACTIVATION_LIMIT);
        let started = Instant::now();
        let mut said = false;
        loop {
            let left = limit.saturating_sub(started.elapsed().as_secs());
            if left == 0 {
                return Err(format!("no answer from {host} within {limit} s"));
            }
            let invocation = waiting.waiting_at_most(left);
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
                        self.events
                            .note(Some(host), "connection lost; reconnecting to follow");
                        said = true;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let _ = self.runner.transport.reconnect(host).await;
                }
            }
        }
    }
}
