//! `deploy`, `deploy-via`, `quick-deploy`, `deploy-all-parallel` and `quick-all`: one planner
//! (`plan::deploy`), five ways of choosing hosts, builder, gate and parallelism.

use std::io::IsTerminal;

use clap_complete::engine::ArgValueCandidates;

use crate::app::Session;
use crate::cli::{Deployment, Global, OptionalHosts, Parallel, RequiredHosts, Via};
use crate::complete;

use crate::error::{exit, Error};
use crate::plan::{self, CommandKind, DeployRequest, Gate, Mode};
use crate::select::{select, WhenEmpty};
use crate::ui;

/// Build and activate hosts' systems (built where --via or the host's `via` says, else on the host)
#[derive(Debug, clap::Args)]
pub struct Deploy {
    #[command(flatten)]
    pub(super) hosts: RequiredHosts,
    #[command(flatten)]
    via: Via,
    #[command(flatten)]
    deployment: Deployment,
}

/// The same as `deploy HOST... --via BUILDER`
#[derive(Debug, clap::Args)]
pub struct DeployVia {
    /// The builder
    #[arg(value_name = "BUILDER", add = ArgValueCandidates::new(complete::builders))]
    builder: String,
    #[command(flatten)]
    pub(super) hosts: RequiredHosts,
    #[command(flatten)]
    deployment: Deployment,
}

/// Deploy only the hosts whose system changed (compared with what they run, no build needed)
#[derive(Debug, clap::Args)]
pub struct QuickDeploy {
    #[command(flatten)]
    pub(super) hosts: RequiredHosts,
    #[command(flatten)]
    via: Via,
    #[command(flatten)]
    deployment: Deployment,
}

/// Deploy every host (or the selected ones) in parallel
#[derive(Debug, clap::Args)]
pub struct DeployAllParallel {
    #[command(flatten)]
    pub(super) hosts: OptionalHosts,
    #[command(flatten)]
    via: Via,
    #[command(flatten)]
    deployment: Deployment,
    #[command(flatten)]
    parallel: Parallel,
}

/// Build every host; if all succeed, show what changed, ask, and deploy the changed ones in parallel
#[derive(Debug, clap::Args)]
pub struct QuickAll {
    #[command(flatten)]
    pub(super) hosts: OptionalHosts,
    #[command(flatten)]
    via: Via,
    #[command(flatten)]
    deployment: Deployment,
    #[command(flatten)]
    parallel: Parallel,
}

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
    deployment: &'c Deployment,
}

impl<'c> Shape<'c> {
    /// A deployment of the hosts `selectors` name (none: refused), every one activated.
    fn of(
        command: CommandKind,
        selectors: &'c [String],
        via: Option<&'c str>,
        deployment: &'c Deployment,
    ) -> Shape<'c> {
        Shape {
            command,
            selectors,
            when_empty: WhenEmpty::Refuse,
            via,
            only_changed: false,
            gate: Gate::None,
            max_parallel: None,
            deployment,
        }
    }
}

impl super::Run for Deploy {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let via = self.via.via.as_deref();
        run(
            g,
            Shape::of(
                CommandKind::Deploy,
                &self.hosts.hosts,
                via,
                &self.deployment,
            ),
        )
    }
}

impl super::Run for DeployVia {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let via = Some(self.builder.as_str());
        run(
            g,
            Shape::of(
                CommandKind::DeployVia,
                &self.hosts.hosts,
                via,
                &self.deployment,
            ),
        )
    }
}

impl super::Run for QuickDeploy {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let via = self.via.via.as_deref();
        let base = Shape::of(
            CommandKind::QuickDeploy,
            &self.hosts.hosts,
            via,
            &self.deployment,
        );
        run(
            g,
            Shape {
                only_changed: true,
                ..base
            },
        )
    }
}

impl super::Run for DeployAllParallel {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let via = self.via.via.as_deref();
        let base = Shape::of(
            CommandKind::DeployAllParallel,
            &self.hosts.hosts,
            via,
            &self.deployment,
        );
        run(
            g,
            Shape {
                when_empty: WhenEmpty::All,
                max_parallel: self.parallel.max_parallel,
                ..base
            },
        )
    }
}

impl super::Run for QuickAll {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let via = self.via.via.as_deref();
        let base = Shape::of(
            CommandKind::QuickAll,
            &self.hosts.hosts,
            via,
            &self.deployment,
        );
        run(
            g,
            Shape {
                when_empty: WhenEmpty::All,
                only_changed: true,
                gate: Gate::AllBuiltThenConfirm,
                max_parallel: self.parallel.max_parallel,
                ..base
            },
        )
    }
}

/// Plans the deployment `shape` describes, then prints or runs it.
fn run(g: &Global, shape: Shape) -> Result<u8, Error> {
    let action = shape.deployment.action.action;
    if shape.deployment.specialisation.is_some()
        && !matches!(action, plan::Action::Switch | plan::Action::Test)
    {
        return Err(Error::usage(
            format!("--specialisation is for a switch or a test, not --action {action}"),
            "a boot boots the whole system; its specialisations are entries of the boot menu",
        ));
    }
    let mut s = Session::open(g)?;
    s.look.all_packages = shape.deployment.all_packages;
    let s = &s;
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
            flags: plan::ActivationFlags {
                force_switch: shape.deployment.force_switch,
                install_bootloader: shape.deployment.install_bootloader,
            },
            reboot: shape.deployment.reboot,
            specialisation: shape.deployment.specialisation.as_deref(),
        },
    )?;
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
