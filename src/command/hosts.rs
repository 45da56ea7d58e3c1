//! `hosts`: the inventory's hosts, their addresses, roles, builders, users and tags.

use crate::app::{write_json, write_stdout, Session};
use crate::cli::Global;
use crate::cli::OptionalHosts;
use crate::error::{exit, Error};
use crate::inventory::Host;
use crate::plan::Machine;
use crate::select::{select, WhenEmpty};
use crate::ui;

/// List the inventory: name, addresses, role, builder, tags
#[derive(Debug, clap::Args)]
pub struct Hosts {
    #[command(flatten)]
    hosts: OptionalHosts,
}

impl super::Run for Hosts {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let s = &Session::open(g)?;
        let selectors = &self.hosts.hosts;
        let hosts = select(&s.inv, selectors, WhenEmpty::All)?;
        if s.global.json {
            // `local` as this run sees it: set in hosts.toml, or this machine's hostname.
            let seen: Vec<Host> = hosts
                .iter()
                .map(|h| Host {
                    local: s.ctx.machine(h) == Machine::Local,
                    ..(*h).clone()
                })
                .collect();
            write_json(&seen)?;
        } else {
            let pending = crate::runs::pending(&crate::runs::read(&crate::app::state_dir()));
            let mut shown: Vec<(&str, &crate::runs::Pending)> = hosts
                .iter()
                .filter_map(|h| Some((h.name.as_str(), pending.get(&h.name)?)))
                .collect();
            shown.sort_by_key(|(h, _)| *h);
            let text = ui::commands::hosts(&s.ctx, &hosts) + &ui::pending(&shown);
            write_stdout(&text)?;
        }
        Ok(exit::OK)
    }
}
