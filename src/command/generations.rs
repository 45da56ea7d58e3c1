//! `generations`: each host's system generations (number, date, current, running, booted)
//! and which fleet deployed, from which run; `fleet rollback HOST --to N` goes to one.

use crate::app::{state_dir, write_json, write_stdout, Session};
use crate::cli::Global;
use crate::cli::OptionalHosts;
use crate::error::{exit, Error};
use crate::health::generations;
use crate::select::{select, WhenEmpty};
use crate::{history, plan, ui};

/// Each host's system generations: number, date, which is current, running and booted,
/// and which fleet deployed (from this machine's history)
#[derive(Debug, clap::Args)]
pub struct Generations {
    #[command(flatten)]
    hosts: OptionalHosts,
}

impl super::Run for Generations {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let s = &Session::open(g)?;
        let selectors = &self.hosts.hosts;
        let hosts = select(&s.inv, selectors, WhenEmpty::All)?;
        let plan = plan::generations(&s.inv, &s.ctx, &hosts);
        if let Some(code) = s.dry_run(&plan)? {
            return Ok(code);
        }
        let asked = s.ask(&plan)?;
        let all = generations::generations(&asked, &history::read(&state_dir()));
        if s.global.json {
            write_json(&all)?;
        } else {
            write_stdout(&ui::commands::generations(&all))?;
        }
        Ok(
            if all
                .iter()
                .all(|h| h.unreachable.is_none() && h.unread.is_none())
            {
                exit::OK
            } else {
                exit::HOST_FAILED
            },
        )
    }
}
