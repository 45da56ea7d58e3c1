//! `reboot`: each host rebooted under its deploy lock, waited for until it answers again (a
//! new boot id), and what it booted checked against its profile.

use crate::app::Session;
use crate::cli::{Global, RequiredHosts};
use crate::error::Error;
use crate::plan;
use crate::select::{select, WhenEmpty};

/// Reboot hosts, wait until each answers SSH again, and check it booted its profile's system
/// (the one `--action boot`, or a switch NixOS inhibited, installed)
#[derive(Debug, clap::Args)]
pub struct Reboot {
    #[command(flatten)]
    hosts: RequiredHosts,
}

impl super::Run for Reboot {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let s = &Session::open(g)?;
        let hosts = select(&s.inv, &self.hosts.hosts, WhenEmpty::Refuse)?;
        let plan = plan::reboot(&s.inv, &s.ctx, &hosts)?;
        if let Some(code) = s.dry_run(&plan)? {
            return Ok(code);
        }
        s.execute_and_summarise(&plan)
    }
}
