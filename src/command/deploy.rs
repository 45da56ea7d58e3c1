//! `deploy`, `deploy-via`, `quick-deploy`, `deploy-all-parallel` and `quick-all`: one planner
//! (`plan::deploy`), five ways of choosing hosts, builder, gate and parallelism.

use crate::app::Session;
use crate::cli;
use std::io::IsTerminal;

use crate::error::{exit, Error};
use crate::plan::{self, CommandKind, DeployRequest, Gate, Mode};
use crate::select::{select, WhenEmpty};
use crate::ui;

/// How each deployment command differs: which command, an empty selection, the builder,
/// whether only changed hosts are deployed, the gate, and `-j`.
struct Shape<'c> {
    command: CommandKind,
    selectors: &'c [String],
    when_empty: WhenEmpty,
    via: Option<&'c str>,
    only_changed: bool,
    gate: Gate,
    max_parallel: Option<u16>,
    deployment: &'c cli::Deployment,
}

fn shape(command: &cli::Command) -> Option<Shape<'_>> {
    let base = |command, selectors, when_empty, via, deployment| Shape {
        command,
        selectors,
        when_empty,
        via,
        only_changed: false,
        gate: Gate::None,
        max_parallel: None,
        deployment,
    };
    let refuse = WhenEmpty::Refuse;
    Some(match command {
        cli::Command::Deploy {
            hosts,
            via,
            deployment,
        } => base(
            CommandKind::Deploy,
            &hosts.hosts,
            refuse,
            via.via.as_deref(),
            deployment,
        ),
        cli::Command::DeployVia {
            builder,
            hosts,
            deployment,
        } => base(
            CommandKind::DeployVia,
            &hosts.hosts,
            refuse,
            Some(builder),
            deployment,
        ),
        cli::Command::QuickDeploy {
            hosts,
            via,
            deployment,
        } => Shape {
            only_changed: true,
            ..base(
                CommandKind::QuickDeploy,
                &hosts.hosts,
                refuse,
                via.via.as_deref(),
                deployment,
            )
        },
        cli::Command::DeployAllParallel {
            hosts,
            via,
            deployment,
            parallel,
        } => Shape {
            max_parallel: parallel.max_parallel,
            ..base(
                CommandKind::DeployAllParallel,
                &hosts.hosts,
                WhenEmpty::All,
                via.via.as_deref(),
                deployment,
            )
        },
        cli::Command::QuickAll {
            hosts,
            via,
            deployment,
            parallel,
        } => Shape {
            only_changed: true,
            gate: Gate::AllBuiltThenConfirm,
            max_parallel: parallel.max_parallel,
            ..base(
                CommandKind::QuickAll,
                &hosts.hosts,
                WhenEmpty::All,
                via.via.as_deref(),
                deployment,
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
    let plan = plan::deploy(
        &s.inv,
        &s.ctx,
        &DeployRequest {
            command: shape.command,
            hosts: select(&s.inv, shape.selectors, shape.when_empty)?,
            via: shape.via,
            action: shape.deployment.action.action,
            only_changed: shape.only_changed,
            gate: shape.gate,
            max_parallel: shape.max_parallel.map(usize::from),
            fallback: shape.deployment.fallback.fallback,
            confirm_timeout: shape.deployment.rollback.window(),
            no_wait: shape.deployment.rollback.no_wait,
            mode: if shape.deployment.preview {
                Mode::Preview
            } else {
                Mode::Activate
            },
        },
    )?;
    ui::set_all_packages(shape.deployment.all_packages);
    if let Some(code) = s.dry_run(&plan)? {
        return Ok(code);
    }
    // Changing every host at once deserves a question, as the justfile's "Are you sure?" was,
    // where someone can answer it (quick-all asks its own, after building).
    let several = plan.hosts.len() > 1 && shape.command == CommandKind::DeployAllParallel;
    if several && !s.global.yes && std::io::stdin().is_terminal() {
        let hosts: Vec<&str> = plan.hosts.iter().map(|h| h.host.as_str()).collect();
        let action = shape.deployment.action.action;
        if !ui::ask_yes_no(&format!(
            "Deploy {} hosts ({action}): {}?",
            hosts.len(),
            hosts.join(", ")
        )) {
            ui::say("Not deployed: nothing was changed.");
            return Ok(exit::OK);
        }
    }
    s.execute_and_summarise(&plan)
}
