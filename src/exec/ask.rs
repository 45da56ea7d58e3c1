//! Question-only plans (status, doctor, cache status, generations, gc's survey) and `exec`:
//! every host's probes (or its one command), hosts in parallel, one connection each; the
//! answers as they came, for `health` (or `exec`'s view) to judge.

use std::collections::HashMap;

use futures_util::future::join_all;

use super::evaluations::System;
use super::events::Events;
use super::log::Log;
use super::run::{Finished, Runner};
use super::transport::RunError;
use super::transport::Transport;
use super::{open, prepare, Options, RunDirs};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::plan::{HostPlan, Plan, Probe, StepKind};

/// What one host answered to a question-only plan.
pub struct Answers {
    pub host: String,
    /// The address that answered.
    pub address: Option<String>,
    /// Why the host could not be asked at all: what each address said (where it is shown,
    /// the host is named beside it).
    pub unreachable: Option<String>,
    /// Each question's command and what it printed (a non-zero exit is an answer too).
    pub answers: HashMap<Probe, Finished>,
    /// Questions that could not be asked (a value could not be resolved).
    pub unasked: HashMap<Probe, String>,
    /// `exec`'s command, as it ended: its exit code and all its output; or why it could not
    /// run.
    pub ran: Option<Result<Finished, String>>,
}

impl Answers {
    /// No answers yet.
    pub fn new(host: &str) -> Answers {
        Answers {
            host: host.to_string(),
            address: None,
            unreachable: None,
            answers: HashMap::new(),
            unasked: HashMap::new(),
            ran: None,
        }
    }

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
    /// What best-effort steps could not tell (the evaluation, for `status`), and why.
    pub missed: Vec<String>,
}

/// Runs a plan whose hosts only have `inspect` steps of kind `Probe`, over SSH.
pub async fn ask(
    plan: &Plan,
    inv: &Inventory,
    opts: &Options,
    events: &dyn Events,
) -> Result<Asked, Error> {
    let machines = open(plan, inv, opts, events)?;
    let asked = ask_with(plan, &machines, opts, events).await;
    machines.close().await;
    asked
}

/// Runs a question-only plan through `transport`: the evaluation (if any), then every host's
/// questions.
pub async fn ask_with<T: Transport>(
    plan: &Plan,
    transport: &T,
    opts: &Options,
    events: &dyn Events,
) -> Result<Asked, Error> {
    let run = RunDirs::new(plan, opts);
    let (known, log) = prepare(plan, transport, opts, events, &run).await?;
    // Questions and `exec` run what the user asked for, as long as it takes.
    let runner = Runner {
        quiet_limit: None,
        transport,
        known: &known,
        verbose: opts.verbose,
        events,
        run_id: &run.id,
        print_build_logs: false,
    };
    // What the flake says, for the drift column: each host's evaluation, a broken one its own;
    // meanwhile each host's connection opens.
    let no_interrupts = super::interrupt::Interrupts::default();
    tokio::join!(
        super::evaluate::run(plan, &runner, opts, &log, &no_interrupts),
        super::warm(plan, transport)
    );
    let hosts = join_all(plan.hosts.iter().map(|hp| async {
        let asking = ask_host(&runner, hp, &run.log_dir);
        let Some(limit) = opts.answer_within else {
            return asking.await;
        };
        match tokio::time::timeout(limit, asking).await {
            Ok(answers) => answers,
            Err(_) => Answers {
                unreachable: Some(format!("did not answer within {} s", limit.as_secs())),
                ..Answers::new(&hp.host)
            },
        }
    }))
    .await;
    for a in &hosts {
        let outcome = if a.unreachable.is_some() {
            "unreachable"
        } else {
            "asked"
        };
        events.finish(&a.host, outcome);
    }
    let mut missed = known.missed;
    missed.extend(known.evaluations.errors());
    let (systems, _) = known.evaluations.into_systems();
    Ok(Asked {
        hosts,
        systems,
        missed,
    })
}

async fn ask_host<T: Transport>(
    runner: &Runner<'_, T>,
    hp: &HostPlan,
    log_dir: &std::path::Path,
) -> Answers {
    let log = Log::create(log_dir.join(format!("{}.log", hp.host)), Some(&hp.host));
    let mut a = Answers::new(&hp.host);
    for step in &hp.inspect {
        runner.events.step(Some(&hp.host), &step.title);
        let probe = match &step.kind {
            StepKind::Probe(probe) => probe,
            StepKind::Exec => {
                match runner.run_keeping_output(&step.run, &log).await {
                    Err(RunError::Connect(e)) if e.host == hp.host => {
                        a.unreachable = Some(e.reasons());
                    }
                    ran => a.ran = Some(ran.map_err(|e| e.to_string())),
                }
                continue;
            }
            _ => continue,
        };
        match runner.run(&step.run, &log).await {
            Ok(f) => {
                a.answers.insert(probe.clone(), f);
            }
            Err(RunError::Connect(e)) if e.host == hp.host => {
                a.unreachable = Some(e.reasons());
                break;
            }
            Err(e) => {
                a.unasked.insert(probe.clone(), e.to_string());
            }
        }
    }
    a.address = runner.transport.reached(&hp.host).map(|r| r.address);
    a
}
