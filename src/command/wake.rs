//! `wake`: reach each host as any run does, waking it (wake-on-LAN) when it does not answer.

use crate::app::Session;
use crate::cli::Global;
use crate::cli::RequiredHosts;
use crate::error::Error;
use crate::plan;
use crate::select::{select, WhenEmpty};

/// Wake hosts (wake-on-LAN, from their `mac` in hosts.toml) and wait until they answer SSH
#[derive(Debug, clap::Args)]
pub struct Wake {
    #[command(flatten)]
    hosts: RequiredHosts,
}

impl super::Run for Wake {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let s = &Session::open(g)?;
        let selectors = &self.hosts.hosts;
        let hosts = select(&s.inv, selectors, WhenEmpty::Refuse)?;
        let plan = plan::wake(&s.inv, &s.ctx, &hosts)?;
        if let Some(code) = s.dry_run(&plan)? {
            return Ok(code);
        }
        s.execute_and_summarise(&plan)
    }
}
