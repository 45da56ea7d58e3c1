//! `diff`: copy the new closure to each host as a deploy would, then compare it there with
//! what the host runs (`nix store diff-closures`). Nothing is activated.

use crate::app::Session;
use crate::cli::Global;
use crate::cli::{RequiredHosts, Via};
use crate::error::Error;
use crate::plan;
use crate::select::{select, WhenEmpty};
use crate::ui;

/// Show what deploying would change on hosts: package versions and sizes (nix store
/// diff-closures), computed on each host, where both systems are. Activates nothing.
#[derive(Debug, clap::Args)]
pub struct Diff {
    #[command(flatten)]
    hosts: RequiredHosts,
    #[command(flatten)]
    via: Via,
}

impl super::Run for Diff {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let s = &Session::open(g)?;
        let (selectors, via) = (&self.hosts.hosts, self.via.via.as_deref());
        let hosts = select(&s.inv, selectors, WhenEmpty::Refuse)?;
        let plan = plan::deploy(&s.inv, &s.ctx, &plan::DeployRequest::diff(hosts, via))?;
        if let Some(code) = s.dry_run(&plan)? {
            return Ok(code);
        }
        s.execute_and_show(&plan, |executed| ui::commands::diff(&executed.report))
    }
}
