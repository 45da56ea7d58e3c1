//! The executor: runs a plan. With `connect` and `run`, the only code that starts processes or
//! opens SSH connections. Evaluate once; then per host, at most `max_parallel` at a time:
//! inspect, build, (wait for every host and ask, for quick-all), deploy, read back.

mod activate;
pub mod connect;
mod failure;
mod gate;
pub mod interrupt;
pub mod net;
pub mod run;
pub mod wake;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::Semaphore;

use crate::error::Error;
use crate::inventory::Inventory;
use crate::plan::{Gate, HostPlan, Machine, Plan, Probe, Step, StepKind};
use crate::report::{Failure, HostReport, Outcome, RunReport, SystemState};
use crate::ui::progress::Progress;
use crate::ui::summary::short;

use connect::{Connections, Waking};
use failure::{failure, prepare_failure};
use interrupt::{Interrupts, Stop};
use run::{Finished, Log, RunError, Runner, System};

/// How a run behaves, beyond the plan.
pub struct Options {
    /// Answer yes to the quick-all question.
    pub yes: bool,
    /// Where this run's logs go (a directory per run is made inside).
    pub log_root: PathBuf,
    /// `-v`: show commands; `-vv`: and their output.
    pub verbose: u8,
    /// Which sleeping hosts to wake (wake-on-LAN).
    pub waking: Waking,
}

/// What a run produced: the per-host report, and the evaluated systems.
pub struct Executed {
    pub report: RunReport,
    pub systems: HashMap<String, System>,
}

/// Runs `plan`. Host failures are in the report; an `Err` means nothing host-specific could
/// start (the evaluation failed or was interrupted, the log directory could not be made).
/// Ctrl-C is fleet's to handle while this runs (see `interrupt`).
pub async fn execute(
    plan: &Plan,
    inv: &Inventory,
    opts: &Options,
    progress: &Progress,
) -> Result<Executed, Error> {
    let interrupts = Interrupts::default();
    tokio::select! {
        result = run_plan(plan, inv, opts, progress, &interrupts) => result,
        never = interrupts.listen(progress) => match never {},
    }
}

async fn run_plan(
    plan: &Plan,
    inv: &Inventory,
    opts: &Options,
    progress: &Progress,
    interrupts: &Interrupts,
) -> Result<Executed, Error> {
    let started = Instant::now();
    let Started {
        run_id,
        log_dir,
        connections,
        systems,
    } = tokio::select! {
        started = start(plan, inv, opts, progress) => started?,
        () = interrupts.until(Stop::Winding) => return Err(Error::Interrupted(
            "interrupted before any host was worked on; nothing was changed".into(),
        )),
    };
    let echo = echo(opts, progress);
    let runner = Runner {
        connections: &connections,
        systems: &systems,
        echo,
        run_id: &run_id,
    };
    let ctx = HostContext {
        plan,
        runner: &runner,
        progress,
        log_dir: &log_dir,
        limit: Semaphore::new(plan.max_parallel.max(1)),
        interrupts,
    };
    let hosts = match plan.gate {
        Gate::None => {
            join_all(plan.hosts.iter().map(|hp| async {
                match ctx.phase_a(hp, Instant::now()).await {
                    Ok(ready) => ctx.phase_b(ready).await,
                    Err(report) => report,
                }
            }))
            .await
        }
        Gate::AllBuiltThenConfirm => ctx.gated(opts.yes).await,
    };
    for h in &hosts {
        progress.finish(&h.host, h.outcome.as_str());
    }
    connections.close().await;
    Ok(Executed {
        report: RunReport {
            command: plan.command.clone(),
            action: plan.action.map(|a| a.as_str().to_string()),
            hosts,
            log_dir: Some(log_dir),
            seconds: started.elapsed().as_secs_f64(),
            interrupted: interrupts.at(Stop::Winding),
        },
        systems,
    })
}

/// What every run sets up first: its log directory, its connections, the evaluation.
struct Started<'p> {
    run_id: String,
    log_dir: PathBuf,
    connections: Connections<'p>,
    systems: HashMap<String, System>,
}

async fn start<'p>(
    plan: &Plan,
    inv: &Inventory,
    opts: &Options,
    progress: &'p Progress,
) -> Result<Started<'p>, Error> {
    let name = plan.command.replace(' ', "-");
    let stamp = crate::time::stamp_now();
    let run_id = format!("{stamp}-{}", std::process::id());
    let log_dir = opts.log_root.join(format!("{stamp}-{name}"));
    let fleet_log = Log::create(log_dir.join("fleet.log"), None);
    let connections = Connections::new(inv, opts.waking, Some(progress))
        .map_err(|e| anyhow::anyhow!("creating a directory for SSH control sockets: {e}"))?;
    match prepare(
        plan,
        &connections,
        echo(opts, progress),
        &run_id,
        &fleet_log,
    )
    .await
    {
        Ok(systems) => Ok(Started {
            run_id,
            log_dir,
            connections,
            systems,
        }),
        Err(e) => {
            connections.close().await;
            Err(e)
        }
    }
}

fn echo<'a>(opts: &Options, progress: &'a Progress) -> run::Echo<'a> {
    run::Echo {
        level: opts.verbose,
        progress,
    }
}

/// Runs the plan's `prepare` steps (the evaluation, flake checks); returns the evaluated systems.
async fn prepare(
    plan: &Plan,
    connections: &Connections<'_>,
    echo: run::Echo<'_>,
    run_id: &str,
    log: &Log,
) -> Result<HashMap<String, System>, Error> {
    let mut systems = HashMap::new();
    for step in &plan.prepare {
        echo.progress.step(None, &step.title);
        let runner = Runner {
            connections,
            systems: &systems,
            echo,
            run_id,
        };
        match runner.run(&step.run, log).await {
            Ok(f) if f.success() => {
                if step.kind == StepKind::Evaluate {
                    systems = parse_systems(&f.stdout, plan).map_err(|e| {
                        Error::HostsFailed(format!("{e}\n  log: {}", log.path.display()))
                    })?;
                }
            }
            other => return Err(Error::HostsFailed(prepare_failure(step, other, log))),
        }
    }
    Ok(systems)
}

/// What one host answered to a question-only plan.
pub struct Answers {
    pub host: String,
    /// The address that answered.
    pub address: Option<String>,
    /// Why the host could not be asked at all.
    pub unreachable: Option<String>,
    /// Each question's command and what it printed (a non-zero exit is an answer too).
    pub answers: HashMap<Probe, Finished>,
    /// Questions that could not be asked (a value could not be resolved).
    pub unasked: HashMap<Probe, String>,
}

impl Answers {
    /// A probe's output, if it ran and succeeded.
    pub fn ok(&self, probe: &Probe) -> Option<&str> {
        self.answers
            .get(probe)
            .filter(|f| f.success())
            .map(|f| f.stdout.as_str())
    }
}

/// A question-only plan's results.
pub struct Asked {
    pub hosts: Vec<Answers>,
    pub systems: HashMap<String, System>,
    pub log_dir: PathBuf,
}

/// Runs a plan whose hosts only have `inspect` steps of kind `Probe`: the evaluation (if any),
/// then every host's questions, hosts in parallel, one connection each.
pub async fn ask(
    plan: &Plan,
    inv: &Inventory,
    opts: &Options,
    progress: &Progress,
) -> Result<Asked, Error> {
    let Started {
        run_id,
        log_dir,
        connections,
        systems,
    } = start(plan, inv, opts, progress).await?;
    let runner = Runner {
        connections: &connections,
        systems: &systems,
        echo: echo(opts, progress),
        run_id: &run_id,
    };
    let hosts = join_all(plan.hosts.iter().map(|hp| async {
        let log = Log::create(log_dir.join(format!("{}.log", hp.host)), Some(&hp.host));
        let mut a = Answers {
            host: hp.host.clone(),
            address: None,
            unreachable: None,
            answers: HashMap::new(),
            unasked: HashMap::new(),
        };
        for step in &hp.inspect {
            let StepKind::Probe(probe) = &step.kind else {
                continue;
            };
            progress.step(Some(&hp.host), &step.title);
            match runner.run(&step.run, &log).await {
                Ok(f) => {
                    a.answers.insert(probe.clone(), f);
                }
                Err(RunError::Connect(e)) if e.host == hp.host => {
                    a.unreachable = Some(e.to_string());
                    break;
                }
                Err(e) => {
                    a.unasked.insert(probe.clone(), e.to_string());
                }
            }
        }
        a.address = connections.opened(&hp.host).map(|c| c.address.clone());
        progress.finish(
            &hp.host,
            if a.unreachable.is_some() {
                "unreachable"
            } else {
                "asked"
            },
        );
        a
    }))
    .await;
    connections.close().await;
    Ok(Asked {
        hosts,
        systems,
        log_dir,
    })
}

/// A host that got through inspection and building.
struct Ready<'p> {
    hp: &'p HostPlan,
    log: Log,
    started: Instant,
    /// Time spent while not waiting for other hosts.
    busy: Duration,
    before: Option<SystemState>,
    unchanged: bool,
    notes: Vec<String>,
    /// What `diff` or `gc` reported.
    output: Option<String>,
    /// The builder was down and the system was built as `if_builder_down` says.
    builder_down: bool,
}

/// A step that succeeded: the fallback it needed, if any, and what it printed.
struct Done {
    fallback: Option<String>,
    stdout: String,
}

struct HostContext<'a> {
    plan: &'a Plan,
    runner: &'a Runner<'a>,
    progress: &'a Progress,
    log_dir: &'a std::path::Path,
    limit: Semaphore,
    interrupts: &'a Interrupts,
}

impl HostContext<'_> {
    /// Inspect and build: nothing here changes the host, so a second Ctrl-C stops it.
    async fn phase_a<'p>(
        &self,
        hp: &'p HostPlan,
        started: Instant,
    ) -> Result<Ready<'p>, HostReport> {
        let _permit = self.limit.acquire().await;
        let log = Log::create(
            self.log_dir.join(format!("{}.log", hp.host)),
            Some(&hp.host),
        );
        let mut ready = Ready {
            hp,
            log,
            started,
            busy: Duration::ZERO,
            before: None,
            unchanged: false,
            notes: Vec::new(),
            output: None,
            builder_down: false,
        };
        if self.interrupts.at(Stop::Winding) {
            return Err(self.skipped(ready, "interrupted (Ctrl-C) before it started"));
        }
        let busy_from = Instant::now();
        let result = tokio::select! {
            r = self.inspect_and_build(&mut ready) => Some(r),
            () = self.interrupts.until(Stop::Aborting) => None,
        };
        ready.busy += busy_from.elapsed();
        match result {
            Some(Ok(())) => Ok(ready),
            Some(Err(f)) => Err(self.failed(ready, f, None)),
            None => Err(self.skipped(
                ready,
                "aborted (Ctrl-C) while inspecting or building; nothing was changed on it",
            )),
        }
    }

    async fn inspect_and_build(&self, ready: &mut Ready<'_>) -> Result<(), Failure> {
        let hp = ready.hp;
        if !hp.inspect.is_empty() {
            let state = self.inspect(hp, &ready.log).await?;
            let out = self.runner.systems.get(&hp.host).map(|s| s.out.as_str());
            ready.unchanged = self.plan.only_changed && state.system.as_deref() == out;
            ready.before = Some(state);
            if ready.unchanged {
                return Ok(());
            }
        }
        for step in &hp.build {
            match self.step(hp, step, &ready.log).await {
                Ok(done) => ready.notes.extend(done.fallback),
                Err(f) => match hp.if_builder_down.as_ref() {
                    Some(alt) if f.unreachable.as_deref() == Some(alt.builder.as_str()) => {
                        let note = format!(
                            "{} is down: built {} instead",
                            alt.builder,
                            where_(&alt.build_on)
                        );
                        self.progress.note(Some(&hp.host), &note);
                        ready.notes.push(note);
                        ready.builder_down = true;
                        for step in &alt.build {
                            self.step(hp, step, &ready.log).await?;
                        }
                        break;
                    }
                    _ => return Err(f),
                },
            }
        }
        Ok(())
    }

    /// Copy, activate, read back.
    async fn phase_b(&self, mut ready: Ready<'_>) -> HostReport {
        let hp = ready.hp;
        if ready.unchanged {
            return self.finish(ready, Outcome::Unchanged, None);
        }
        if hp.deploy.is_empty() {
            let outcome = if hp.build.is_empty() {
                Outcome::Awake
            } else {
                Outcome::Built
            };
            // `wake` reports what the host runs; a build changed nothing on it to report.
            let after = ready.before.clone().filter(|_| outcome == Outcome::Awake);
            return self.finish(ready, outcome, after);
        }
        let _permit = self.limit.acquire().await;
        if self.interrupts.at(Stop::Winding) {
            return self.skipped(ready, "interrupted (Ctrl-C) before deploying");
        }
        let busy_from = Instant::now();
        // Built elsewhere because the builder was down: its copy steps replace the plan's.
        let deploy: Vec<&Step> = match (&hp.if_builder_down, ready.builder_down) {
            (Some(alt), true) => alt
                .copy
                .iter()
                .chain(hp.deploy.iter().filter(|s| s.kind != StepKind::CopyClosure))
                .collect(),
            _ => hp.deploy.iter().collect(),
        };
        // The armed watchdog's step, once it is: from then on a failure rolls the host back.
        let mut armed: Option<&Step> = None;
        // Once a step has changed the host, every step runs to its end, Ctrl-C or not.
        let mut changing = false;
        for step in deploy {
            changing |= step.kind.changes_host();
            if !changing && self.interrupts.at(Stop::Winding) {
                ready.busy += busy_from.elapsed();
                return self.skipped(ready, "interrupted (Ctrl-C) before it was changed");
            }
            let run = async {
                match (&step.kind, &step.run.on) {
                    (StepKind::Activate(_), Machine::Host(h)) => {
                        self.activate_detached(hp, step, h, &ready.log).await
                    }
                    (StepKind::Confirm, Machine::Host(h)) => {
                        self.confirm_over_new_login(hp, step, h, &ready.log).await
                    }
                    (StepKind::HealthCheck, _) => {
                        let secs = armed.and_then(|a| match a.kind {
                            StepKind::ArmWatchdog(secs) => Some(secs),
                            _ => None,
                        });
                        self.health_check(hp, step, secs, &ready.log).await
                    }
                    _ => self.step(hp, step, &ready.log).await,
                }
            };
            let result = if changing {
                Some(run.await)
            } else {
                tokio::select! {
                    r = run => Some(r),
                    () = self.interrupts.until(Stop::Aborting) => None,
                }
            };
            let Some(result) = result else {
                ready.busy += busy_from.elapsed();
                return self.skipped(
                    ready,
                    &format!(
                        "aborted (Ctrl-C) during: {}; nothing was changed on it",
                        step.title
                    ),
                );
            };
            match result {
                Ok(done) => {
                    ready.notes.extend(done.fallback);
                    if matches!(step.kind, StepKind::ArmWatchdog(_)) {
                        armed = Some(step);
                    }
                    if matches!(step.kind, StepKind::DiffClosures | StepKind::CollectGarbage) {
                        ready.output = Some(crate::ui::strip_ansi(&done.stdout));
                    }
                }
                Err(f) => {
                    ready.busy += busy_from.elapsed();
                    if let Some(watchdog) = armed {
                        return self.roll_back(ready, watchdog, f).await;
                    }
                    // The exit code alone does not say what the host runs now: read it back.
                    let mut f = f;
                    let end = self.inspect(hp, &ready.log).await.ok();
                    if step.kind.is_activation() {
                        f.message.push_str(&self.end_state(hp, end.as_ref()));
                    }
                    return self.failed(ready, f, end);
                }
            }
        }
        ready.busy += busy_from.elapsed();
        let kinds = |k: StepKind| hp.deploy.iter().any(|s| s.kind == k);
        if kinds(StepKind::DiffClosures) {
            let before = ready.before.clone();
            return self.finish(ready, Outcome::Compared, before);
        }
        if kinds(StepKind::PushToCache) {
            return self.finish(ready, Outcome::Pushed, None);
        }
        if kinds(StepKind::CollectGarbage) {
            return self.finish(ready, Outcome::Collected, None);
        }
        let read_from = Instant::now();
        let after = self.inspect(hp, &ready.log).await.ok();
        ready.busy += read_from.elapsed();
        self.finish(ready, Outcome::Deployed, after)
    }

    /// The host's system derivation, once evaluated.
    fn drv(&self, hp: &HostPlan) -> Option<&str> {
        self.runner.systems.get(&hp.host).map(|s| s.drv.as_str())
    }

    fn end_state(&self, hp: &HostPlan, end: Option<&SystemState>) -> String {
        let new = self.runner.systems.get(&hp.host).map(|s| s.out.as_str());
        match end.and_then(|e| e.system.as_deref()) {
            Some(now) if Some(now) == new => format!("; {} now runs the new system", hp.host),
            Some(now) => format!("; {} still runs {}", hp.host, short(now)),
            None => format!("; what {} runs now could not be read", hp.host),
        }
    }

    /// What the host runs, and its profile's generation. Unreadable values are `None`; an
    /// unreachable host is a failure.
    async fn inspect(&self, hp: &HostPlan, log: &Log) -> Result<SystemState, Failure> {
        let mut state = SystemState::default();
        for step in &hp.inspect {
            self.progress.step(Some(&hp.host), &step.title);
            let value = match self.runner.run(&step.run, log).await {
                Ok(f) if f.success() => f.stdout.trim().to_string(),
                Ok(f) if f.code.is_none() => return Err(failure(hp, step, Ok(f), None)),
                Ok(_) => continue,
                Err(e) => return Err(failure(hp, step, Err(e), None)),
            };
            match &step.kind {
                StepKind::ReadRunning => {
                    state.system = Some(value).filter(|v| v.starts_with("/nix/store/"))
                }
                StepKind::ReadGeneration => state.generation = parse_generation(&value),
                _ => {}
            }
        }
        Ok(state)
    }

    /// Runs a step, then its fallbacks in order; returns the fallback used, if any.
    async fn step(&self, hp: &HostPlan, step: &Step, log: &Log) -> Result<Done, Failure> {
        self.progress.step(Some(&hp.host), &step.title);
        let mut last = match self.runner.run(&step.run, log).await {
            Ok(f) if f.success() => {
                return Ok(Done {
                    fallback: None,
                    stdout: f.stdout,
                })
            }
            other => failure(hp, step, other, self.drv(hp)),
        };
        for fallback in &step.fallbacks {
            self.progress.note(
                Some(&hp.host),
                &format!(
                    "{} failed ({}); {}",
                    step.title, last.message, fallback.title
                ),
            );
            match self.runner.run(&fallback.run, log).await {
                Ok(f) if f.success() => {
                    return Ok(Done {
                        fallback: Some(format!("used fallback: {}", fallback.title)),
                        stdout: f.stdout,
                    })
                }
                other => last = failure(hp, step, other, self.drv(hp)),
            }
        }
        Err(last)
    }

    fn report(
        &self,
        ready: Ready,
        outcome: Outcome,
        after: Option<SystemState>,
        failure: Option<Failure>,
    ) -> HostReport {
        let hp = ready.hp;
        let mut notes = ready.notes;
        // A host woken for this run, or its builder: worth knowing (it may go back to sleep).
        let builder = match &hp.build_on {
            Machine::Host(b) if *b != hp.host => Some(b.as_str()),
            _ => None,
        };
        for (name, conn) in [Some(hp.host.as_str()), builder]
            .into_iter()
            .flatten()
            .filter_map(|h| Some((h, self.runner.connections.opened(h)?)))
        {
            if let Some(woken) = &conn.woken {
                notes.push(format!("{name} {woken}"));
            }
        }
        HostReport {
            host: hp.host.clone(),
            outcome,
            address: self
                .runner
                .connections
                .opened(&hp.host)
                .map(|c| c.address.clone()),
            built_on: match (&hp.build_on, &hp.if_builder_down) {
                _ if outcome == Outcome::Unchanged => "-".into(),
                (_, Some(alt)) if ready.builder_down => match &alt.build_on {
                    Machine::Local => "here".into(),
                    Machine::Host(h) => h.clone(),
                },
                (Machine::Local, _) => "here".into(),
                (Machine::Host(h), _) => h.clone(),
            },
            system: self.runner.systems.get(&hp.host).map(|s| s.out.clone()),
            before: ready.before,
            after,
            seconds: ready.busy.max(Duration::ZERO).as_secs_f64().max(
                if self.plan.gate == Gate::None {
                    ready.started.elapsed().as_secs_f64()
                } else {
                    0.0
                },
            ),
            notes,
            failure,
            output: ready.output,
            log: Some(ready.log.path.clone()),
        }
    }

    fn finish(&self, ready: Ready, outcome: Outcome, after: Option<SystemState>) -> HostReport {
        let after = if outcome == Outcome::Unchanged {
            ready.before.clone()
        } else {
            after
        };
        self.report(ready, outcome, after, None)
    }

    fn failed(&self, ready: Ready, failure: Failure, end: Option<SystemState>) -> HostReport {
        self.progress.note(
            Some(&ready.hp.host),
            &format!("failed at: {}", failure.step),
        );
        self.report(ready, Outcome::Failed, end, Some(failure))
    }

    fn skipped(&self, mut ready: Ready, why: &str) -> HostReport {
        ready.notes.push(why.to_string());
        self.report(ready, Outcome::Skipped, None, None)
    }
}

fn where_(m: &Machine) -> String {
    match m {
        Machine::Local => "here".into(),
        Machine::Host(h) => format!("on {h}"),
    }
}

/// `system-42-link` → 42.
fn parse_generation(link: &str) -> Option<u32> {
    link.rsplit('/')
        .next()?
        .strip_prefix("system-")?
        .strip_suffix("-link")?
        .parse()
        .ok()
}

/// The evaluation's JSON: host → { drv, out }, each a plain store path.
fn parse_systems(stdout: &str, plan: &Plan) -> Result<HashMap<String, System>, String> {
    let systems: HashMap<String, System> = serde_json::from_str(stdout).map_err(|e| {
        format!("the evaluation printed something that is not the expected JSON: {e}")
    })?;
    let plain = |p: &str| {
        p.starts_with("/nix/store/") && !p.contains(|c: char| c.is_whitespace() || c.is_control())
    };
    for host in &plan.hosts {
        match systems.get(&host.host) {
            Some(s) if plain(&s.drv) && plain(&s.out) => {}
            Some(_) => {
                return Err(format!(
                    "the evaluation gave {} a system that is not a plain store path",
                    host.host
                ))
            }
            None => return Err(format!("the evaluation gave no system for {}", host.host)),
        }
    }
    Ok(systems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations() {
        assert_eq!(parse_generation("system-42-link"), Some(42));
        assert_eq!(
            parse_generation("/nix/var/nix/profiles/system-3-link"),
            Some(3)
        );
        assert_eq!(parse_generation("/nix/store/abc-nixos-system"), None);
    }
}
