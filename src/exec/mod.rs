//! The executor: runs a plan. Evaluate once; then per host, at most `max_parallel` at a time:
//! inspect, build, (wait for every host and ask, for quick-all), deploy, read back. Commands
//! go through a `Transport` (`machines` is the real one); what happens is told through
//! `Events`, which the terminal UI implements.

mod activate;
mod ask;
pub mod evaluate;
pub mod evaluations;
pub mod events;
mod failure;
mod gate;
mod host;
pub mod interrupt;
pub mod log;
mod milestones;
pub mod run;
pub mod transport;

use std::path::PathBuf;
use std::time::Instant;

use futures_util::future::join_all;
use tokio::sync::Semaphore;

use crate::error::Error;
use crate::inventory::Inventory;
use crate::plan::{Gate, Plan, StepKind};
use crate::report::RunReport;

pub use ask::{ask, Answers, Asked};
use events::Events;
use failure::prepare_failure;
use host::HostContext;
use interrupt::{Interrupts, Stop};
use log::Log;
use run::{Known, Runner};
use transport::connect::Connections;
use transport::machines::Machines;
use transport::sudo;
use transport::Transport;

/// Told `(run, host)` just before a host is first changed.
pub type BeforeChange = dyn Fn(&str, &str) + Send + Sync;

/// How a run behaves, beyond the plan.
pub struct Options {
    /// Answer yes to the quick-all question.
    pub yes: bool,
    /// Where this run's logs go (a directory per run is made inside).
    pub log_root: PathBuf,
    /// `-v`: show commands; `-vv`: and their output.
    pub verbose: u8,
    /// `-L`: builds' output shown as it comes.
    pub print_build_logs: bool,
    /// How long each host may take to answer a question-only plan (`None`: no bound).
    pub answer_within: Option<std::time::Duration>,
    /// Told `(run, host)` just before a host is first changed (the history's `started` line).
    pub before_change: Option<Box<BeforeChange>>,
    /// The sudo password asked for this run, for hosts whose sudo wants one.
    pub sudo_password: Option<crate::secret::Secret>,
    /// How long a build, copy or activation may print nothing (`[fleet] inactivity_timeout`).
    pub quiet_limit: Option<std::time::Duration>,
    /// Seconds each host's SSH master stays open after the run (`keep_connections`; 0: closed).
    pub keep_connections: u64,
    /// How many hosts are evaluated at once here (`[fleet] eval_jobs`, else sized here).
    pub eval_jobs: usize,
    /// MiB each evaluation is allowed, to size `eval_jobs` on another machine that evaluates
    /// from its cores and free memory; `None` when `eval_jobs` was given, which holds there too.
    pub eval_max_memory: Option<u64>,
    /// Where evaluations are remembered between runs (`None`: nowhere).
    pub eval_cache: Option<PathBuf>,
}

/// What a run produced: the per-host report, and the flake's configurations.
pub struct Executed {
    pub report: RunReport,
    /// The flake's `nixosConfigurations`, when it was evaluated.
    pub configurations: Option<Vec<String>>,
}

/// Runs `plan` over SSH and on this machine. Host failures are in the report; an `Err` means
/// nothing host-specific could start (the evaluation failed or was interrupted, the log
/// directory could not be made). Ctrl-C is fleet's to handle while this runs (see `interrupt`).
pub async fn execute(
    plan: &Plan,
    inv: &Inventory,
    opts: &Options,
    events: &dyn Events,
) -> Result<Executed, Error> {
    let machines = open(plan, inv, opts, events)?;
    let interrupts = Interrupts::default();
    let result = tokio::select! {
        result = execute_with(plan, &machines, opts, events, &interrupts) => result,
        never = interrupts.listen(events) => match never {},
    };
    machines.close().await;
    result.map(|mut executed| {
        executed.report.inventory = Some(inv.source.clone());
        executed
    })
}

/// Which of `hosts` answer SSH now, each logged in to as a run would (waking those with a
/// `mac`, and waiting for them as a run does): `Ok` for those that answered, else why not.
/// The connections are kept for `keep_connections` seconds, for the run that follows.
pub async fn reach(
    inv: &Inventory,
    hosts: &[String],
    keep_connections: u64,
) -> Result<Vec<(String, Result<(), String>)>, Error> {
    let connections = Connections::new(inv, keep_connections, crate::plan::Waking::Always, None)
        .map_err(|e| anyhow::anyhow!("creating a directory for SSH control sockets: {e}"))?;
    let answers = join_all(hosts.iter().map(|h| async {
        let answer = connections
            .get(h)
            .await
            .map(|_| ())
            .map_err(|e| e.reasons());
        (h.clone(), answer)
    }))
    .await;
    connections.close().await;
    Ok(answers)
}

/// The real transport for `plan`: no connection is opened until a step needs one.
fn open<'e>(
    plan: &Plan,
    inv: &Inventory,
    opts: &Options,
    events: &'e dyn Events,
) -> Result<Machines<'e>, Error> {
    let connections = Connections::new(
        inv,
        opts.keep_connections,
        plan.command.waking(),
        Some(events),
    )
    .map_err(|e| anyhow::anyhow!("creating a directory for SSH control sockets: {e}"))?;
    Ok(Machines {
        connections,
        passwords: sudo::Passwords::new(opts.sudo_password.clone()),
        events,
    })
}

/// Runs `plan` through `transport`, with Ctrl-C as `interrupts` counts it.
pub async fn execute_with<T: Transport>(
    plan: &Plan,
    transport: &T,
    opts: &Options,
    events: &dyn Events,
    interrupts: &Interrupts,
) -> Result<Executed, Error> {
    let started = Instant::now();
    let run = RunDirs::new(plan, opts);
    let (known, eval_log) = tokio::select! {
        known = prepare(plan, transport, opts, events, &run) => known?,
        () = interrupts.until(Stop::Winding) => return Err(Error::Interrupted(
            "interrupted before any host was worked on; nothing was changed".into(),
        )),
    };
    let runner = Runner {
        transport,
        known: &known,
        verbose: opts.verbose,
        events,
        run_id: &run.id,
        quiet_limit: opts.quiet_limit,
        print_build_logs: opts.print_build_logs,
    };
    let ctx = HostContext {
        plan,
        before_change: opts.before_change.as_deref(),
        runner: &runner,
        events,
        log_dir: &run.log_dir,
        limit: Semaphore::new(plan.max_parallel.max(1)),
        interrupts,
        milestones: milestones::Milestones::new(plan),
    };
    // The evaluations run beside the hosts: each host waits for its own, then goes on.
    let evaluating = evaluate::run(plan, &runner, opts, &eval_log, interrupts);
    let working = async {
        match plan.gate {
            Gate::None => join_all(plan.hosts.iter().map(|hp| ctx.build_then_deploy(hp))).await,
            Gate::AllBuiltThenConfirm => ctx.gated(opts.yes).await,
        }
    };
    let ((), (), hosts) = tokio::join!(evaluating, warm(plan, transport), working);
    for h in &hosts {
        events.finish(&h.host, h.outcome.as_str());
    }
    let (_, configurations) = known.evaluations.into_systems();
    Ok(Executed {
        report: RunReport {
            run: run.id.clone(),
            command: plan.command.name().to_string(),
            action: plan.action.map(|a| a.as_str().to_string()),
            hosts,
            log_dir: Some(run.log_dir).filter(|d| d.is_dir()),
            seconds: started.elapsed().as_secs_f64(),
            interrupted: interrupts.at(Stop::Winding),
            inventory: None,
        },
        configurations,
    })
}

/// Opens the connections of `warm_first` at once (see `Transport::warm`).
async fn warm<T: Transport>(plan: &Plan, transport: &T) {
    join_all(warm_first(plan).into_iter().map(|h| transport.warm(h))).await;
}

/// The hosts whose connections a run opens first, while the evaluation runs: every target,
/// and every first builder unless only changed hosts are deployed (an unchanged host needs
/// none); never a via list's later builder, which may be asleep and is needed only if the
/// first is down. (A question's plan builds nowhere: its targets.)
fn warm_first(plan: &Plan) -> Vec<&str> {
    let mut hosts: Vec<&str> = Vec::new();
    for hp in &plan.hosts {
        let builder = (!plan.only_changed).then_some(&hp.build_on);
        for m in std::iter::once(&hp.target).chain(builder) {
            if let crate::plan::Machine::Host(h) = m {
                if !hosts.contains(&h.as_str()) {
                    hosts.push(h);
                }
            }
        }
    }
    hosts
}

/// A run's names: its id (for state directories on hosts) and its log directory here.
struct RunDirs {
    id: String,
    log_dir: PathBuf,
}

impl RunDirs {
    fn new(plan: &Plan, opts: &Options) -> RunDirs {
        let name = plan.command.name().replace(' ', "-");
        let id = format!("{}-{}", crate::time::stamp_now(), std::process::id());
        // The process id keeps runs started in the same second apart.
        RunDirs {
            log_dir: opts.log_root.join(format!("{id}-{name}")),
            id,
        }
    }
}

/// Runs the plan's `prepare` steps but the evaluations (flake checks, what builders run);
/// returns what they learnt, with a slot for each host's evaluation (see `evaluate`).
async fn prepare<T: Transport>(
    plan: &Plan,
    transport: &T,
    opts: &Options,
    events: &dyn Events,
    run: &RunDirs,
) -> Result<(Known, Log), Error> {
    let log = Log::create(run.log_dir.join("fleet.log"), None);
    if !log.is_open() {
        events.note(
            None,
            &format!(
                "warning: cannot write logs in {}; the run goes on without them",
                run.log_dir.display()
            ),
        );
    }
    let mut known = Known {
        evaluations: evaluations::Evaluations::for_plan(plan),
        ..Known::default()
    };
    for step in &plan.prepare {
        // The evaluation's own steps run beside the hosts (see `evaluate::run`).
        if matches!(
            step.kind,
            StepKind::Evaluate(_) | StepKind::ArchiveFlake | StepKind::ReadEvaluator
        ) {
            continue;
        }
        events.step(None, &step.title);
        let runner = Runner {
            transport,
            known: &known,
            verbose: opts.verbose,
            events,
            run_id: &run.id,
            quiet_limit: opts.quiet_limit,
            print_build_logs: opts.print_build_logs,
        };
        let result = runner.run(&step.run, &log).await;
        let told = match (&step.kind, result) {
            (StepKind::ReadFlakeHash, Ok(f)) if f.success() => {
                known.flake_hash = evaluate::locked_hash(&f.stdout);
                Ok(())
            }
            (StepKind::ReadRunningOf(host), Ok(f)) if f.success() => {
                let path = f.stdout.trim();
                if plain_store_path(path) {
                    known.running.insert(host.clone(), path.to_string());
                    Ok(())
                } else {
                    Err(format!("{host} does not say what it runs"))
                }
            }
            (_, Ok(f)) if f.success() => Ok(()),
            (_, other) => Err(prepare_failure(step, other, &log)),
        };
        match told {
            Ok(()) => {}
            // Not fatal: what needed it says it is unknown.
            Err(why) if step.best_effort => {
                log.line(&format!("--- {} failed; going on without it", step.title));
                events.note(None, &format!("{} failed; going on without it", step.title));
                known.missed.push(why);
            }
            Err(why) => return Err(Error::HostsFailed(why)),
        }
    }
    Ok((known, log))
}

/// A store path with nothing else in it (see `facts::store_path`).
fn plain_store_path(p: &str) -> bool {
    crate::facts::store_path(p).is_some_and(|s| s == p)
}

#[cfg(test)]
mod tests;
