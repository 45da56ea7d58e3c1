//! `status`: what every host runs, whether it is what the flake says, its store and uptime.

use crate::app::{write_json, write_stdout, Session};
use crate::cli::Global;
use crate::cli::OptionalHosts;
use crate::error::{exit, Error};
use crate::select::{select, WhenEmpty};
use crate::{health, plan, ui};

/// One line per host: reachable where, generation and date, running what the flake says,
/// store size, free space, uptime
#[derive(Debug, clap::Args)]
pub struct Status {
    #[command(flatten)]
    hosts: OptionalHosts,
}

impl super::Run for Status {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let s = &Session::open(g)?;
        let selectors = &self.hosts.hosts;
        let hosts = select(&s.inv, selectors, WhenEmpty::All)?;
        let plan = plan::status(&s.inv, &s.ctx, &hosts);
        if let Some(code) = s.dry_run(&plan)? {
            return Ok(code);
        }
        let asked = s.ask(&plan)?;
        let mut lines = health::status_lines(&asked);
        let mut pending = crate::runs::pending(&crate::runs::read(&crate::app::state_dir()));
        for line in &mut lines {
            line.pending = pending.remove(&line.host);
        }
        if s.global.json {
            write_json(&lines)?;
        } else {
            write_stdout(&ui::health::status(&lines, &asked.missed))?;
        }
        let consistent = lines.iter().all(|l| !l.profile_differs);
        Ok(
            if consistent && lines.iter().all(|l| l.unreachable.is_none()) {
                exit::OK
            } else {
                exit::HOST_FAILED
            },
        )
    }
}
