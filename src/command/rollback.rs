//! `rollback`: back one generation on each host, as `nixos-rebuild switch --rollback` does,
//! or to a given one (`--to N`, which nixos-rebuild cannot), with the switch launched
//! detached and followed.

use crate::app::Session;
use crate::cli::Global;
use crate::cli::{Guard, RequiredHosts};
use crate::error::Error;
use crate::plan;
use crate::select::{select, WhenEmpty};

/// Back to the previous generation on hosts (or to generation N): the system profile and
/// the running system
#[derive(Debug, clap::Args)]
pub struct Rollback {
    #[command(flatten)]
    hosts: RequiredHosts,
    /// Go to this generation (as `fleet generations` lists them), not the previous one
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    to: Option<u32>,
    #[command(flatten)]
    rollback: Guard,
}

impl super::Run for Rollback {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let s = &Session::open(g)?;
        let (selectors, to, guard) = (&self.hosts.hosts, self.to, &self.rollback);
        let hosts = select(&s.inv, selectors, WhenEmpty::Refuse)?;
        let overrides = plan::Overrides {
            confirm_timeout: guard.window(),
            no_wait: guard.no_wait,
            ..Default::default()
        };
        let plan = plan::rollback(&s.inv, &s.ctx, &hosts, to, &overrides)?;
        if let Some(code) = s.dry_run(&plan)? {
            return Ok(code);
        }
        s.execute_and_summarise(&plan)
    }
}
