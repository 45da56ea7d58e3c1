//! One host's way through a plan: inspect and build (nothing changes on the host, so Ctrl-C
//! may stop it), then deploy (once something changes, it runs to its end), then read back.

use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::events::Events;
use super::failure::{failure, units_failed};
use super::interrupt::{Interrupts, Stop};
use super::log::Log;
use super::run::{Finished, Runner};
use super::transport::{RunError, Transport};
use crate::plan::{
    Action, BuilderDown, FailedUnits, Follow, HostPlan, Invocation, Machine, Milestone, Plan,
    PreviewPart, Step, StepKind,
};
use crate::preview::Preview;
use crate::report::{Failure, HostReport, Left, Outcome, SystemState};
use crate::vocab::short;

/// A host whose evaluation failed, in Nix's words (never fleet's expression).
fn evaluation_failure(host: &str, e: &super::evaluations::EvalError) -> Failure {
    Failure {
        step: format!("evaluate {host}"),
        command: e.command.clone(),
        exit_code: None,
        message: format!("evaluation failed: {}", e.message),
        output: e.output.clone(),
        next: if e.no_nix {
            "install Nix on this machine (fleet runs `nix` here to evaluate and copy), or put it on PATH".into()
        } else {
            format!(
                "fix {host}'s configuration (`fleet validate {host}` shows its error, with --show-trace its trace); the other hosts went on"
            )
        },
        unreachable: None,
        fatal: false,
        refused: false,
    }
}

/// How long a target that dropped off mid-step is given to answer again.
const RECONNECT_LIMIT: Duration = Duration::from_secs(60);

/// A host that got through inspection and building, ready to deploy.
pub(super) struct Prepared<'p> {
    pub hp: &'p HostPlan,
    pub log: Log,
    started: Instant,
    /// Time spent while not waiting for other hosts.
    busy: Duration,
    pub before: Option<SystemState>,
    pub unchanged: bool,
    notes: Vec<String>,
    /// What `diff` or `gc` printed.
    output: Option<String>,
    /// What deploying would change, when the plan previews it.
    pub preview: Option<Preview>,
    /// Builders were down and the system was built as this entry of `if_builder_down` says.
    builder_down: Option<usize>,
    /// The switch happened and left units failed, and the host keeps it.
    units_failed: Option<Failure>,
    /// Its system was built (its plan's build steps all ran).
    built: bool,
    /// Its switch was inhibited (NixOS's switch-inhibitors changed): the system was installed
    /// for the next boot instead. What changed, as the `pre` script said it ("switch
    /// inhibited (systemd: systemd-257.9 -> systemd-258.1)").
    inhibited: Option<String>,
    /// The specialisation's system a switch or test activates, as the host resolved it: what
    /// it must run afterwards (the profile is the whole system).
    specialisation: Option<String>,
}

impl<'p> Prepared<'p> {
    /// Where the system was built instead, when builders were down.
    fn built_instead(&self) -> Option<&'p BuilderDown> {
        let hp = self.hp;
        self.builder_down.and_then(|i| hp.if_builder_down.get(i))
    }
}

/// How a host's deploy steps ended before their end.
enum Ended<'p> {
    /// Ctrl-C came before the host was changed.
    Skipped(String),
    /// `step` failed; `armed` is the watchdog's step, if one was armed before it.
    Failed {
        step: &'p Step,
        armed: Option<&'p Step>,
        failure: Failure,
    },
}

/// A step that succeeded: the fallback it needed, if any, and what it printed.
pub(super) struct StepDone {
    pub fallback: Option<String>,
    pub stdout: String,
    /// An activation that switched but left units failed, kept as the host's settings say.
    pub units_failed: Option<Failure>,
    /// It waited for another run (the deploy lock): the host may have changed meanwhile.
    pub waited: bool,
    /// Its last lines, stdout and stderr as they came (what Nix says of itself).
    pub tail: Vec<String>,
}

impl StepDone {
    pub fn ran(stdout: String) -> StepDone {
        StepDone {
            fallback: None,
            stdout,
            units_failed: None,
            waited: false,
            tail: Vec::new(),
        }
    }

    /// A command that succeeded: its stdout and its last lines.
    fn finished(f: Finished) -> StepDone {
        StepDone {
            tail: f.tail,
            ..StepDone::ran(f.stdout)
        }
    }
}

/// What every host of a run shares.
pub(super) struct HostContext<'a, T> {
    pub plan: &'a Plan,
    /// Told `(run, host)` just before a host is first changed.
    pub before_change: Option<&'a super::BeforeChange>,
    pub runner: &'a Runner<'a, T>,
    pub events: &'a dyn Events,
    pub log_dir: &'a std::path::Path,
    pub limit: Semaphore,
    pub interrupts: &'a Interrupts,
    /// How far each host has got, for hosts that activate after others.
    pub milestones: super::milestones::Milestones,
}

impl<T: Transport> HostContext<'_, T> {
    /// A host's whole plan, with no gate between building and deploying.
    pub async fn build_then_deploy(&self, hp: &HostPlan) -> HostReport {
        match self.build(hp, Instant::now()).await {
            Ok(mut prepared) => {
                self.preview_changed(&mut prepared).await;
                self.deploy(prepared).await
            }
            Err(report) => report,
        }
    }

    /// Inspect and build: nothing here changes the host, so a second Ctrl-C stops it.
    pub async fn build<'p>(
        &self,
        hp: &'p HostPlan,
        started: Instant,
    ) -> Result<Prepared<'p>, HostReport> {
        // Its own evaluation first (holding no place among the hosts worked on): a host goes
        // on as soon as its system is known, and a host whose evaluation failed fails alone.
        let evaluation = self.runner.known.evaluations.of(&hp.host).await;
        let _permit = self.limit.acquire().await;
        let log = Log::create(
            self.log_dir.join(format!("{}.log", hp.host)),
            Some(&hp.host),
        );
        let mut prepared = Prepared {
            hp,
            log,
            started,
            busy: Duration::ZERO,
            before: None,
            unchanged: false,
            notes: Vec::new(),
            output: None,
            preview: None,
            builder_down: None,
            units_failed: None,
            built: false,
            inhibited: None,
            specialisation: None,
        };
        if let Some(Err(e)) = evaluation {
            if e.interrupted {
                return Err(self.skipped(prepared, &e.message));
            }
            return Err(self.failed(prepared, evaluation_failure(&hp.host, e), None));
        }
        if self.interrupts.at(Stop::Winding) {
            return Err(self.skipped(prepared, "interrupted (Ctrl-C) before it started"));
        }
        let busy_from = Instant::now();
        let result = tokio::select! {
            r = self.inspect_and_build(&mut prepared) => Some(r),
            () = self.interrupts.until(Stop::Aborting) => None,
        };
        prepared.busy += busy_from.elapsed();
        match result {
            Some(Ok(())) => Ok(prepared),
            Some(Err(f)) => Err(self.failed(prepared, f, None)),
            None => Err(self.skipped(
                prepared,
                "aborted (Ctrl-C) while inspecting or building; nothing was changed on it",
            )),
        }
    }

    async fn inspect_and_build(&self, prepared: &mut Prepared<'_>) -> Result<(), Failure> {
        let hp = prepared.hp;
        if !hp.inspect.is_empty() {
            let state = self.inspect(hp, &prepared.log).await?;
            let out = self.runner.known.out(&hp.host);
            let action = self.plan.action.unwrap_or(crate::vocab::Action::Switch);
            // A preview of a host that runs the new system already has nothing to show: it
            // is not built, as `diff` says "runs it already".
            prepared.unchanged = (self.plan.only_changed || self.plan.preview_only)
                && out.is_some_and(|new| action.already_done(&state, new, hp.specialisation()));
            prepared.before = Some(state);
            if prepared.unchanged {
                if self.plan.preview_only {
                    prepared
                        .notes
                        .push("runs the new system already; nothing would change".into());
                }
                return Ok(());
            }
        }
        let mut steps = hp.build.iter();
        // The next entry of `if_builder_down` to try when the builder in use is down.
        let mut next = 0;
        while let Some(step) = steps.next() {
            if let Some(there) = self.derivations_already_there(hp, step) {
                prepared.log.line(&format!(
                    "--- {}: skipped, {there} evaluated it and has its derivations",
                    step.title
                ));
                continue;
            }
            match self.step(hp, step, &prepared.log).await {
                Ok(done) => prepared.notes.extend(done.fallback),
                Err(f) => match hp.if_builder_down.get(next) {
                    Some(alt) if f.unreachable.as_deref() == Some(alt.builder.as_str()) => {
                        let note = format!(
                            "{} is down: built {} instead",
                            alt.builder,
                            alt.build_on.place()
                        );
                        self.events.note(Some(&hp.host), &note);
                        prepared.notes.push(note);
                        prepared.builder_down = Some(next);
                        next += 1;
                        steps = alt.build.iter();
                    }
                    _ => return Err(f),
                },
            }
        }
        prepared.built = !hp.build.is_empty();
        Ok(())
    }

    /// Runs a changed host's preview steps, if its plan has any (after every build, so a
    /// failed build elsewhere costs no host a preview).
    pub(super) async fn preview_changed(&self, prepared: &mut Prepared<'_>) {
        let hp = prepared.hp;
        if hp.preview.is_empty() || prepared.unchanged {
            return;
        }
        let _permit = self.limit.acquire().await;
        let busy_from = Instant::now();
        let alt = prepared.built_instead();
        prepared.preview = Some(self.preview(hp, alt, &prepared.log).await);
        prepared.busy += busy_from.elapsed();
    }

    /// Runs the preview steps, best effort: what fails is an unknown part, never a failed
    /// host; what comes after a failed copy is unknown too (it needs the closure there).
    /// With a builder down, the copy is `alt`'s, as the deployment's will be.
    async fn preview(&self, hp: &HostPlan, alt: Option<&BuilderDown>, log: &Log) -> Preview {
        let mut preview = Preview::default();
        let steps = hp.preview.iter().flat_map(|s| match alt {
            Some(alt) if s.kind == StepKind::CopyClosure => alt.copy.iter().collect(),
            _ => vec![s],
        });
        for step in steps {
            let StepKind::Preview(part) = step.kind else {
                match self.step(hp, step, log).await {
                    Ok(done) => {
                        if step.kind == StepKind::CopyClosure {
                            self.milestones.reached(&hp.host, Milestone::HasClosure);
                            preview.copied = Some(done.fallback.unwrap_or(step.title.clone()));
                        }
                        continue;
                    }
                    Err(f) => {
                        preview.unknown.push(format!(
                            "{}: {} (so the rest is unknown)",
                            step.title, f.message
                        ));
                        break;
                    }
                }
            };
            self.events.step(Some(&hp.host), &step.title);
            match self.runner.run_keeping_output(&step.run, log).await {
                Ok(f) if f.success() => match part {
                    PreviewPart::Fetch => preview.fetch = Some(crate::preview::fetch(&f.tail)),
                    PreviewPart::Changes => {
                        (preview.reboot, preview.packages) = crate::preview::changes(&f.stdout);
                        preview.inhibited = crate::preview::inhibited(&f.stdout);
                    }
                    PreviewPart::Units => preview.units = crate::preview::units(&f.stdout),
                },
                Ok(f) => preview.unknown.push(format!(
                    "{}: exited with {}{}",
                    step.title,
                    f.code.map_or("no code".into(), |c| c.to_string()),
                    f.tail.last().map(|l| format!(": {l}")).unwrap_or_default()
                )),
                Err(e) => preview.unknown.push(format!("{}: {e}", step.title)),
            }
        }
        preview
    }

    /// Copy, activate, read back: what the command's success means decides what is read.
    pub async fn deploy(&self, mut prepared: Prepared<'_>) -> HostReport {
        let hp = prepared.hp;
        let success = self.plan.command.success();
        if prepared.unchanged {
            return self.finish(prepared, Outcome::Unchanged, None);
        }
        if self.plan.preview_only {
            return self.finish(prepared, Outcome::Previewed, None);
        }
        if hp.deploy.is_empty() {
            // `wake` reports what the host runs; a build changed nothing on it to report.
            let after = prepared
                .before
                .clone()
                .filter(|_| success == Outcome::Awake);
            return self.finish(prepared, success, after);
        }
        let mut permit = self.limit.acquire().await.ok();
        if self.interrupts.at(Stop::Winding) {
            return self.skipped(prepared, "interrupted (Ctrl-C) before deploying");
        }
        let busy_from = Instant::now();
        let ended = self.deploy_steps(&mut prepared, &mut permit).await;
        drop(permit);
        prepared.busy += busy_from.elapsed();
        let log = prepared.log.clone();
        let report = self.settle(prepared, ended).await;
        // Whatever happened, the host's deploy lock is this run's to give back (the script
        // removes it only if this run holds it).
        let lock = hp.deploy.iter().find_map(|s| match &s.follow {
            Some(Follow::Lock { release, .. }) => Some(release),
            _ => None,
        });
        if let Some(release) = lock {
            let _ = self.runner.run(release, &log).await;
        }
        report
    }

    /// How the deploy steps ended, as the host's report: failed (and rolled back where a
    /// watchdog was armed), skipped, or done and read back.
    async fn settle(&self, mut prepared: Prepared<'_>, ended: Result<(), Ended<'_>>) -> HostReport {
        let hp = prepared.hp;
        let success = match self.plan.command.success() {
            Outcome::Deployed if self.plan.action == Some(Action::DryActivate) => {
                Outcome::DryActivated
            }
            success => success,
        };
        match ended {
            Ok(()) => {}
            Err(Ended::Skipped(why)) => return self.skipped(prepared, &why),
            Err(Ended::Failed {
                step,
                armed,
                failure,
            }) => return self.deploy_failed(prepared, step, armed, failure).await,
        }
        match success {
            Outcome::Deployed | Outcome::Reverted | Outcome::DryActivated | Outcome::Rebooted => {
                let read_from = Instant::now();
                let after = self.inspect(hp, &prepared.log).await.ok();
                prepared.busy += read_from.elapsed();
                let rebooted = hp.reboots();
                // Installed for the next boot and not rebooted: it waits for a reboot.
                let inhibited = prepared.inhibited.take();
                if let (Some(said), true) = (&inhibited, rebooted) {
                    prepared.notes.push(format!("{said}; rebooted into it"));
                }
                let inhibited = inhibited.filter(|_| !rebooted);
                let runs = prepared.specialisation.take();
                if let Some(f) =
                    self.not_shown(hp, after.as_ref(), inhibited.is_some(), runs.as_deref())
                {
                    return self.failed(prepared, f, after);
                }
                if let Some(why) = inhibited {
                    prepared.notes.push(format!(
                        "needs a reboot: {why}; it boots into the new system next time (`fleet reboot {}`)",
                        hp.host
                    ));
                    return self.finish(prepared, Outcome::NeedsReboot, after);
                }
                match prepared.units_failed.take() {
                    Some(f) => self.report(prepared, Outcome::UnitsFailed, after, Some(f)),
                    None => self.finish(prepared, success, after),
                }
            }
            // `diff` changed nothing on the host: what it runs is what it ran.
            Outcome::Compared => {
                let before = prepared.before.clone();
                self.finish(prepared, Outcome::Compared, before)
            }
            outcome => self.finish(prepared, outcome, None),
        }
    }

    /// The deploy steps in order (the fallback builder's copy steps in place of the plan's
    /// when the builder was down). `Err` says how they ended early.
    async fn deploy_steps<'s, 'p>(
        &'s self,
        prepared: &mut Prepared<'p>,
        permit: &mut Option<tokio::sync::SemaphorePermit<'s>>,
    ) -> Result<(), Ended<'p>> {
        let hp = prepared.hp;
        let steps: Vec<&'p Step> = match prepared.built_instead() {
            Some(alt) => alt
                .copy
                .iter()
                .chain(hp.deploy.iter().filter(|s| s.kind != StepKind::CopyClosure))
                .collect(),
            _ => hp.deploy.iter().collect(),
        };
        // The armed watchdog's step, once it is: from then on a failure rolls the host back.
        let mut armed: Option<&'p Step> = None;
        // The deploy lock's renewal, once it is taken: renewed while every later step runs.
        let mut lease: Option<&'p Invocation> = None;
        // Once a step has changed the host, every step runs to its end, Ctrl-C or not.
        let mut changing = false;
        for step in steps {
            // A switch installed for the next boot instead: the running system is the old
            // one, which the new system's health checks say nothing of.
            if prepared.inhibited.is_some() && step.kind == StepKind::HealthCheck {
                continue;
            }
            if !changing && step.kind.changes_host() {
                self.wait_for_others(hp, permit).await?;
                if let Some(tell) = self.before_change {
                    tell(self.runner.run_id, &hp.host);
                }
            }
            changing |= step.kind.changes_host();
            if !changing && self.interrupts.at(Stop::Winding) {
                let why = "interrupted (Ctrl-C) before it was changed";
                return Err(Ended::Skipped(why.into()));
            }
            let run = self.with_lease(
                lease,
                &prepared.log,
                self.deploy_step(hp, step, armed, &prepared.log),
            );
            let result = if changing {
                run.await
            } else {
                tokio::select! {
                    r = run => r,
                    () = self.interrupts.until(Stop::Aborting) => {
                        let why = format!(
                            "aborted (Ctrl-C) during: {}; nothing was changed on it",
                            step.title
                        );
                        return Err(Ended::Skipped(why));
                    }
                }
            };
            match result {
                Ok(done) => {
                    // What the lock's taking or the watchdog's arming settled (a lock taken
                    // over, older runs' watchdogs retired): told, and in the report.
                    if matches!(step.kind, StepKind::Lock | StepKind::ArmWatchdog(_)) {
                        for said in crate::facts::fleet_says(&done.stdout) {
                            self.events.note(Some(&hp.host), said);
                            prepared.notes.push(said.to_string());
                        }
                    }
                    if let Some(Follow::Lock { renew, .. }) = &step.follow {
                        lease = Some(renew);
                        // Another run deployed it meanwhile: what it runs now is the before.
                        if done.waited {
                            if let Ok(now) = self.inspect(hp, &prepared.log).await {
                                prepared.before = Some(now);
                            }
                        }
                    }
                    if step.kind == StepKind::CopyClosure {
                        self.milestones.reached(&hp.host, Milestone::HasClosure);
                    }
                    if matches!(step.kind, StepKind::ArmWatchdog(_)) {
                        armed = Some(step);
                    }
                    self.took(prepared, step, done);
                }
                Err(failure) => {
                    return Err(Ended::Failed {
                        step,
                        armed,
                        failure,
                    })
                }
            }
        }
        Ok(())
    }

    /// What a step that succeeded leaves in the host's report: the fallback it took, units a
    /// switch left failed, a switch installed for the next boot instead, what `diff`, a dry
    /// activation or `gc` said.
    fn took(&self, prepared: &mut Prepared<'_>, step: &Step, done: StepDone) {
        let hp = prepared.hp;
        if let StepKind::FindSpecialisation(name) = &step.kind {
            prepared.specialisation = crate::facts::store_path(&done.stdout);
            prepared.notes.push(format!("specialisation {name}"));
        }
        prepared.notes.extend(done.fallback);
        if let Some(f) = done.units_failed {
            self.events.note(Some(&hp.host), &f.message);
            prepared.units_failed = Some(f);
        }
        if step.kind == StepKind::Activate(Action::Switch) {
            let inhibited = crate::facts::fleet_says(&done.stdout)
                .into_iter()
                .find(|said| said.starts_with("switch inhibited"));
            if let Some(said) = inhibited {
                self.events.note(Some(&hp.host), said);
                // What changed, without the pre script's last words (what it did instead).
                let why = said.rsplit_once(": ").map_or(said, |(why, _)| why);
                prepared.inhibited = Some(why.to_string());
            }
        }
        if matches!(
            step.kind,
            StepKind::DiffClosures | StepKind::Activate(Action::DryActivate)
        ) {
            prepared.output = Some(console::strip_ansi_codes(&done.stdout).into());
        }
        // gc: what went, in the report's notes.
        if step.kind == StepKind::DeleteGenerations {
            let what = step.title.trim_start_matches("delete ");
            let what = what.trim_end_matches(&format!(" on {}", hp.host));
            prepared.notes.push(format!("deleted {what}"));
        }
        if step.kind == StepKind::CollectGarbage {
            let freed = crate::facts::gc_freed(&done.tail);
            prepared.output = freed.clone();
            prepared.notes.extend(freed);
        }
    }

    /// Before `hp`'s host changes: the hosts it must activate after (see
    /// `HostPlan::activate_after`) get that far first. Its place among the hosts worked on
    /// at once is given up meanwhile, so the hosts it waits for can take it.
    async fn wait_for_others<'s, 'p>(
        &'s self,
        hp: &HostPlan,
        permit: &mut Option<tokio::sync::SemaphorePermit<'s>>,
    ) -> Result<(), Ended<'p>> {
        if hp.activate_after.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = hp.activate_after.iter().map(|a| a.host.as_str()).collect();
        let why = if hp.target == Machine::Local {
            "it is this machine, which goes last".to_string()
        } else {
            "they get their system from it".to_string()
        };
        self.events.step(
            Some(&hp.host),
            &format!("waiting for {} ({why})", names.join(", ")),
        );
        drop(permit.take());
        tokio::select! {
            () = self.milestones.all(&hp.activate_after) => {}
            () = self.interrupts.until(Stop::Winding) => {
                return Err(Ended::Skipped("interrupted (Ctrl-C) before it was changed".into()));
            }
        }
        *permit = self.limit.acquire().await.ok();
        Ok(())
    }

    /// One deploy step, run as its kind asks. A switch that happened but left units failed
    /// (exit 4) is kept or failed as the host's `on_failed_units` says.
    async fn deploy_step(
        &self,
        hp: &HostPlan,
        step: &Step,
        armed: Option<&Step>,
        log: &Log,
    ) -> Result<StepDone, Failure> {
        let result = self.run_deploy_step(hp, step, armed, log).await;
        let switched = matches!(step.kind, StepKind::Activate(Action::Switch | Action::Test));
        // fleet's own checks refused it (the `pre` script), or NixOS's switch-to-configuration
        // did, at its pre-switch checks, before changing anything: it ends with their words.
        let refusal = |f: &Failure| {
            let ours = matches!(
                f.exit_code,
                Some(crate::nix::INHIBITED | crate::nix::CHECKS_FAILED)
            ) && f.output.iter().any(|l| l.contains(crate::nix::SAYS));
            let nixos = f.exit_code == Some(1)
                && f.output
                    .iter()
                    .map(|l| l.trim_start_matches("| ").trim())
                    .rfind(|l| !l.is_empty())
                    == Some(crate::nix::NIXOS_CHECKS_FAILED);
            step.kind.is_activation() && (ours || nixos)
        };
        match result {
            Err(mut f) if refusal(&f) => {
                let said: Vec<String> = f
                    .output
                    .iter()
                    .filter_map(|l| l.trim_start_matches("| ").strip_prefix(crate::nix::SAYS))
                    .map(String::from)
                    .collect();
                let host = &hp.host;
                let said = if said.is_empty() {
                    "its pre-switch checks failed".to_string()
                } else {
                    said.join("; ")
                };
                f.message = format!("{host} refused the activation before it began: {said}");
                f.next = if f.exit_code == Some(crate::nix::INHIBITED) {
                    format!("deploy with --action boot and reboot it (`fleet reboot {host}`), or --force-switch to switch anyway (NIXOS_NO_CHECK=1)")
                } else {
                    "read the checks' output above and fix the configuration; --force-switch skips the checks (NIXOS_NO_CHECK=1)".to_string()
                };
                f.refused = true;
                Err(f)
            }
            Err(f) if switched && f.exit_code == Some(crate::nix::UNITS_FAILED) => {
                match hp.on_failed_units {
                    FailedUnits::Keep => Ok(StepDone {
                        units_failed: Some(units_failed(hp, f)),
                        ..StepDone::ran(String::new())
                    }),
                    FailedUnits::Rollback => {
                        let kept = units_failed(hp, f);
                        Err(Failure {
                            message: format!(
                                "{}; hosts.toml says failed_units = \"rollback\"",
                                kept.message
                            ),
                            ..kept
                        })
                    }
                }
            }
            other => other,
        }
    }

    async fn run_deploy_step(
        &self,
        hp: &HostPlan,
        step: &Step,
        armed: Option<&Step>,
        log: &Log,
    ) -> Result<StepDone, Failure> {
        match (&step.kind, &step.run.on) {
            (StepKind::Lock, Machine::Host(_)) => self.take_lock(hp, step, log).await,
            (StepKind::Activate(_), Machine::Host(h)) if step.follow.is_some() => {
                self.activate_detached(hp, step, h, log).await
            }
            (StepKind::Reboot, Machine::Host(h)) => self.reboot_and_wait(hp, step, h, log).await,
            (StepKind::Confirm, Machine::Host(_)) => {
                self.confirm_over_new_login(hp, step, log).await
            }
            (StepKind::HealthCheck, _) => {
                let secs = armed.and_then(|a| match a.kind {
                    StepKind::ArmWatchdog(secs) => Some(secs),
                    _ => None,
                });
                self.health_check(hp, step, secs, log).await
            }
            _ => self.step(hp, step, log).await,
        }
    }

    /// A deploy step failed: the host rolls back if a watchdog is armed; else what it runs
    /// now is read back, since the exit code alone does not say.
    async fn deploy_failed(
        &self,
        prepared: Prepared<'_>,
        step: &Step,
        armed: Option<&Step>,
        mut f: Failure,
    ) -> HostReport {
        if let Some(watchdog) = armed {
            return self.roll_back(prepared, watchdog, f).await;
        }
        let end = self.inspect(prepared.hp, &prepared.log).await.ok();
        if step.kind.is_activation() {
            f.message
                .push_str(&self.end_state(prepared.hp, end.as_ref()));
        }
        self.failed(prepared, f, end)
    }

    /// An activation that said it worked, which the host's state read back afterwards does
    /// not show: success needs the new system running (the profile pointing at it, for
    /// `boot`), not only an exit file a broken or compromised host can write.
    fn not_shown(
        &self,
        hp: &HostPlan,
        after: Option<&SystemState>,
        inhibited: bool,
        specialisation: Option<&str>,
    ) -> Option<Failure> {
        // After a reboot, the host must have booted its profile's system: what its boot
        // loader was given.
        if hp.reboots() {
            let (booted, profile) = (
                after.and_then(|a| a.booted.as_deref()),
                after.and_then(|a| a.profile.as_deref()),
            );
            if booted.is_none() || booted != profile {
                let host = &hp.host;
                return Some(Failure::found(
                    "reboot".into(),
                    format!(
                        "{host} booted {}, but its profile is {}: its boot loader did not start the profile's system",
                        booted.map_or("a system that could not be read".into(), short),
                        profile.map_or("unreadable".into(), short)
                    ),
                    format!("look at {host}'s boot loader entries (`--install-bootloader` writes them anew)"),
                ));
            }
        }
        let new = self.runner.known.out(&hp.host)?;
        // A switch installed for the next boot instead is verified as a boot.
        let action = match self.plan.action? {
            Action::Switch if inhibited => Action::Boot,
            action => action,
        };
        let (now, what) = match action {
            Action::Switch | Action::Test => (after.and_then(|a| a.system.as_deref()), "runs"),
            Action::Boot => (
                after.and_then(|a| a.profile.as_deref()),
                "boots (its profile)",
            ),
            Action::DryActivate => return None,
        };
        // A specialisation runs its own system; the profile is still the whole one.
        let new = match (action, specialisation) {
            (Action::Switch | Action::Test, Some(system)) => system,
            _ => new,
        };
        if now == Some(new) {
            return None;
        }
        let host = &hp.host;
        let message = match now {
            Some(old) => format!(
                "the {action} reported success, but {host} still {what} {}",
                short(old)
            ),
            None => format!(
                "the {action} reported success, but what {host} {what} could not be read back"
            ),
        };
        Some(Failure::found(
            hp.inspect
                .last()
                .map_or_else(|| "read back the host's state".into(), |s| s.title.clone()),
            message,
            format!(
                "read the activation's output in the log; `fleet status {host}` shows what it runs and boots, `fleet rollback {host}` sets its profile back"
            ),
        ))
    }

    pub(super) fn end_state(&self, hp: &HostPlan, end: Option<&SystemState>) -> String {
        let new = self.runner.known.out(&hp.host);
        match end.and_then(|e| e.system.as_deref()) {
            Some(now) if Some(now) == new => format!("; {} now runs the new system", hp.host),
            Some(now) => format!("; {} still runs {}", hp.host, short(now)),
            None => format!("; what {} runs now could not be read", hp.host),
        }
    }

    /// What the host runs, and its profile's generation. Unreadable values are `None`; an
    /// unreachable host is a failure.
    pub(super) async fn inspect(&self, hp: &HostPlan, log: &Log) -> Result<SystemState, Failure> {
        let mut state = SystemState::default();
        for step in &hp.inspect {
            self.events.step(Some(&hp.host), &step.title);
            let stdout = match self.runner.run(&step.run, log).await {
                Ok(f) if f.success() => f.stdout,
                Ok(f) if f.code.is_none() => return Err(failure(hp, step, Ok(f), None)),
                Ok(_) => continue,
                Err(e) => return Err(failure(hp, step, Err(e), None)),
            };
            if step.kind != StepKind::ReadState {
                continue;
            }
            state = crate::facts::system_state(&stdout);
        }
        Ok(state)
    }

    /// The machine a derivation copy sends to, when that machine evaluated the host: its
    /// derivations are there already (`eval_on`).
    fn derivations_already_there(&self, hp: &HostPlan, step: &Step) -> Option<String> {
        let StepKind::CopyDerivations(Some(to)) = &step.kind else {
            return None;
        };
        let evaluated_on = self.runner.known.evaluations.evaluated_on(&hp.host)?;
        (*to == evaluated_on).then_some(evaluated_on)
    }

    /// One way of doing `step` (its own command or a fallback's): a build's output is shown
    /// as it comes with `-L`.
    async fn run_way(
        &self,
        step: &Step,
        inv: &Invocation,
        log: &Log,
    ) -> Result<Finished, RunError> {
        if step.kind == StepKind::Build {
            self.runner.run_build(inv, log).await
        } else {
            self.runner.run(inv, log).await
        }
    }

    /// Runs a step, then its fallbacks in order; returns the fallback used, if any.
    pub(super) async fn step(
        &self,
        hp: &HostPlan,
        step: &Step,
        log: &Log,
    ) -> Result<StepDone, Failure> {
        self.events.step(Some(&hp.host), &step.title);
        let run = |inv| self.run_way(step, inv, log);
        let mut first = run(&step.run).await;
        // The target dropped off during its own step: every other way needs it too, so it is
        // reached again (bounded) and the step tried again before any other way.
        let dropped = self.dropped_target(hp, step, &first);
        if dropped {
            if self.reconnect_target(hp, step).await {
                first = run(&step.run).await;
            } else {
                let mut f = failure(hp, step, first, self.runner.known.drv(&hp.host));
                f.message = format!(
                    "the connection to {host} dropped during this step, and {host} did not answer again within {} s",
                    RECONNECT_LIMIT.as_secs(),
                    host = hp.host
                );
                f.unreachable = Some(hp.host.clone());
                f.next = format!(
                    "check {host}'s network (asleep, link down?), then run fleet again",
                    host = hp.host
                );
                return Err(f);
            }
        }
        // A builder's connection cut off during its step: still there (the connection alone
        // dropped), the step is tried again; gone, the step failed because the builder is down,
        // and a via list goes on to its next builder.
        if let (Some(builder), false) = (self.cut_off_builder(hp, step, &first), dropped) {
            if self.runner.transport.reconnect(builder).await.is_ok() {
                self.events.note(
                    Some(&hp.host),
                    &format!(
                        "the connection to {builder} dropped during: {}; trying it again",
                        step.title
                    ),
                );
                first = run(&step.run).await;
            } else {
                let mut f = failure(hp, step, first, None);
                f.message = format!(
                    "{builder} went down during this step (its connection dropped, and it does not answer)"
                );
                f.unreachable = Some(builder.to_string());
                f.next = format!(
                    "start {builder} (or wake it), or build elsewhere: a via list's next builder, --fallback target (on {host}) or --fallback local",
                    host = hp.host
                );
                return Err(f);
            }
        }
        let mut last = match first {
            Ok(f) if f.success() => {
                let mut done = StepDone::finished(f);
                if dropped {
                    done.fallback = Some(format!(
                        "reconnected to {} after the connection dropped during: {}",
                        hp.host, step.title
                    ));
                }
                return Ok(done);
            }
            other => failure(hp, step, other, self.runner.known.drv(&hp.host)),
        };
        // Why each way failed, in its own last words, for the report when none succeeds.
        let mut tried: Vec<String> = Vec::new();
        let mut way = step.title.as_str();
        for fallback in &step.fallbacks {
            if last.fatal {
                break;
            }
            let said = last
                .output
                .last()
                .map(|l| format!(": {l}"))
                .unwrap_or_default();
            let why = format!("{}{said}", last.message);
            self.events.note(
                Some(&hp.host),
                &format!("{way} failed ({why}); {}", fallback.title),
            );
            tried.push(format!("{way}: {why}"));
            way = fallback.title.as_str();
            match run(&fallback.run).await {
                Ok(f) if f.success() => {
                    return Ok(StepDone {
                        fallback: Some(format!("used fallback: {}", fallback.title)),
                        ..StepDone::finished(f)
                    })
                }
                other => last = failure(hp, step, other, self.runner.known.drv(&hp.host)),
            }
        }
        if !tried.is_empty() {
            last.message = format!("{} (tried first: {})", last.message, tried.join("; "));
        }
        if let (true, Some(Follow::FreeHalfWritten(free))) = (last.fatal, &step.follow) {
            if let Ok(f) = self.runner.run(free, log).await {
                if let Some(said) = crate::facts::fleet_says(&f.stdout).next() {
                    self.events.note(Some(&hp.host), said);
                    last.next = format!("{said}; {}", last.next);
                }
            }
        }
        Err(last)
    }

    /// Whether `result` is `step`, on the target itself, cut off with its connection (not
    /// stopped by fleet, not a command that failed). Only a step that changes nothing there
    /// (a copy, a build) is tried again; one that changes the host has its own following.
    fn dropped_target(
        &self,
        hp: &HostPlan,
        step: &Step,
        result: &Result<super::run::Finished, super::transport::RunError>,
    ) -> bool {
        let on_target = step.run.on == Machine::Host(hp.host.clone());
        on_target
            && !step.kind.changes_host()
            && step.kind != StepKind::Lock
            && match result {
                Ok(f) => f.cut_off(),
                Err(super::transport::RunError::Connect(e)) => e.host == hp.host,
                Err(_) => false,
            }
    }

    /// The builder `step` ran on, when it is not the target and its connection was cut off
    /// during the step.
    fn cut_off_builder<'s>(
        &self,
        hp: &HostPlan,
        step: &'s Step,
        result: &Result<super::run::Finished, super::transport::RunError>,
    ) -> Option<&'s str> {
        let Machine::Host(on) = &step.run.on else {
            return None;
        };
        let cut = matches!(result, Ok(f) if f.cut_off());
        (cut && *on != hp.host && !step.kind.changes_host()).then_some(on.as_str())
    }

    /// Opens the target's connection again, trying for at most `RECONNECT_LIMIT`.
    async fn reconnect_target(&self, hp: &HostPlan, step: &Step) -> bool {
        self.events.note(
            Some(&hp.host),
            &format!(
                "the connection to {} dropped during: {}; reconnecting (at most {} s)",
                hp.host,
                step.title,
                RECONNECT_LIMIT.as_secs()
            ),
        );
        let started = Instant::now();
        while started.elapsed() < RECONNECT_LIMIT && !self.interrupts.at(Stop::Winding) {
            if self.runner.transport.reconnect(&hp.host).await.is_ok() {
                return true;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        false
    }

    pub(super) fn report(
        &self,
        prepared: Prepared,
        outcome: Outcome,
        after: Option<SystemState>,
        failure: Option<Failure>,
    ) -> HostReport {
        let hp = prepared.hp;
        let built_instead = prepared.built_instead();
        self.milestones.reached(&hp.host, Milestone::Done);
        let mut notes = prepared.notes;
        // A host woken for this run, or its builder: worth knowing (it may go back to sleep).
        let builder = match &hp.build_on {
            Machine::Host(b) if *b != hp.host => Some(b.as_str()),
            _ => None,
        };
        let transport = self.runner.transport;
        for (name, woken) in [Some(hp.host.as_str()), builder]
            .into_iter()
            .flatten()
            .filter_map(|h| Some((h, transport.reached(h)?.woken?)))
        {
            notes.push(format!("{name} {woken}"));
        }
        // Where it was built, when that is so, or where the build failed; "-" where nothing
        // was built: a plan without a build (rollback, gc, wake), an unchanged host, one
        // skipped before its build, one that could not be reached.
        let unreachable = failure
            .as_ref()
            .is_some_and(|f| f.unreachable.as_deref() == Some(hp.host.as_str()));
        let not_built = hp.build.is_empty()
            || matches!(outcome, Outcome::Unchanged | Outcome::Evaluated)
            || (outcome == Outcome::Skipped && !prepared.built)
            || unreachable;
        let built_on = match built_instead {
            _ if not_built => "-".into(),
            Some(alt) => alt.build_on.to_string(),
            None => hp.build_on.to_string(),
        };
        // Deployed again onto itself (a deploy that does not skip unchanged hosts).
        let same = |a: &SystemState, b: &SystemState| {
            a.system.is_some() && a.system == b.system && a.generation == b.generation
        };
        if outcome == Outcome::Deployed
            && prepared
                .before
                .as_ref()
                .zip(after.as_ref())
                .is_some_and(|(b, a)| same(b, a))
        {
            notes.push("re-activated, unchanged".into());
        }
        let waited_for_others = self.plan.gate != crate::plan::Gate::None;
        let seconds = if waited_for_others {
            prepared.busy.as_secs_f64()
        } else {
            prepared
                .busy
                .as_secs_f64()
                .max(prepared.started.elapsed().as_secs_f64())
        };
        HostReport {
            host: hp.host.clone(),
            outcome,
            address: transport.reached(&hp.host).map(|r| r.address),
            built_on,
            system: self.runner.known.out(&hp.host).map(String::from),
            before: prepared.before,
            after,
            seconds,
            notes,
            failure,
            output: prepared.output,
            preview: prepared.preview,
            log: Some(prepared.log.path.clone()).filter(|_| prepared.log.is_open()),
            left: match outcome {
                _ if !self.plan.command.retryable() => None,
                Outcome::Failed if unreachable => Some(Left::Asleep),
                Outcome::Failed => Some(Left::Failed),
                // Skipped: interrupted, unless the gate says otherwise (see `gate`).
                Outcome::Skipped => Some(Left::Interrupted),
                _ => None,
            },
        }
    }

    pub(super) fn finish(
        &self,
        prepared: Prepared,
        outcome: Outcome,
        after: Option<SystemState>,
    ) -> HostReport {
        let after = if outcome == Outcome::Unchanged {
            prepared.before.clone()
        } else {
            after
        };
        self.report(prepared, outcome, after, None)
    }

    pub(super) fn failed(
        &self,
        prepared: Prepared,
        failure: Failure,
        end: Option<SystemState>,
    ) -> HostReport {
        self.events.note(
            Some(&prepared.hp.host),
            &format!("failed at: {}", failure.step),
        );
        self.report(prepared, Outcome::Failed, end, Some(failure))
    }

    pub(super) fn skipped(&self, mut prepared: Prepared, why: &str) -> HostReport {
        prepared.notes.push(why.to_string());
        self.report(prepared, Outcome::Skipped, None, None)
    }
}
