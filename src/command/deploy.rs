//! `deploy`, `deploy-via`, `quick-deploy`, `deploy-all-parallel` and `quick-all`: one planner
//! (`plan::deploy`), five ways of choosing hosts, builder, gate and parallelism.

use crate::app::Session;
use crate::cli;
use crate::error::Error;
use crate::plan::{self, Command, DeployRequest, Gate};
use crate::select::{select, WhenEmpty};

/// How each deployment command differs: which command, an empty selection, the builder,
/// whether only changed hosts are deployed, the gate, and `-j`.
struct Shape<'c> {
    command: Command,
    selectors: &'c [String],
    when_empty: WhenEmpty,
    via: Option<&'c str>,
    action: plan::Action,
    only_changed: bool,
    gate: Gate,
    max_parallel: Option<u16>,
}

fn shape(command: &cli::Command) -> Option<Shape<'_>> {
    let base = |command, selectors, when_empty, via, action: &cli::ActionArg| Shape {
        command,
        selectors,
        when_empty,
        via,
        action: action.action,
        only_changed: false,
        gate: Gate::None,
        max_parallel: None,
    };
    Some(match command {
        cli::Command::Deploy { hosts, via, action } => base(
            Command::Deploy,
            &hosts.hosts,
            WhenEmpty::Refuse,
            via.via.as_deref(),
            action,
        ),
        cli::Command::DeployVia {
            builder,
            hosts,
            action,
        } => base(
            Command::DeployVia,
            &hosts.hosts,
            WhenEmpty::Refuse,
            Some(builder),
            action,
        ),
        cli::Command::QuickDeploy { hosts, via, action } => Shape {
            only_changed: true,
            ..base(
                Command::QuickDeploy,
                &hosts.hosts,
                WhenEmpty::Refuse,
                via.via.as_deref(),
                action,
            )
        },
        cli::Command::DeployAllParallel {
            hosts,
            via,
            action,
            parallel,
        } => Shape {
            max_parallel: parallel.max_parallel,
            ..base(
                Command::DeployAllParallel,
                &hosts.hosts,
                WhenEmpty::All,
                via.via.as_deref(),
                action,
            )
        },
        cli::Command::QuickAll {
            hosts,
            via,
            action,
            parallel,
        } => Shape {
            only_changed: true,
            gate: Gate::AllBuiltThenConfirm,
            max_parallel: parallel.max_parallel,
            ..base(
                Command::QuickAll,
                &hosts.hosts,
                WhenEmpty::All,
                via.via.as_deref(),
                action,
            )
        },
        _ => return None,
    })
}

/// Plans the deployment `command` asks for, then prints or runs it.
pub fn run(s: &Session, command: &cli::Command) -> Result<u8, Error> {
    let Some(shape) = shape(command) else {
        return Err(Error::Other(anyhow::anyhow!("not a deployment command")));
    };
    let g = s.global;
    let plan = plan::deploy(
        &s.inv,
        &s.ctx,
        &DeployRequest {
            command: shape.command,
            hosts: select(&s.inv, shape.selectors, shape.when_empty)?,
            via: shape.via,
            action: shape.action,
            only_changed: shape.only_changed,
            gate: shape.gate,
            max_parallel: shape.max_parallel.map(usize::from),
            fallback: g.fallback,
            confirm_timeout: s.confirm_timeout(),
        },
    )?;
    if let Some(code) = s.dry_run(&plan)? {
        return Ok(code);
    }
    s.execute_and_summarise(&plan)
}
