//! `history`: the deployments recorded here, oldest first: all, or those of a host or @tag.

use crate::app::{state_dir, write_json, write_stdout, Session};
use crate::cli::Global;
use crate::complete;
use crate::error::{exit, Error};
use crate::select::{select, WhenEmpty};
use crate::{history, ui};
use clap_complete::engine::ArgValueCandidates;

/// Every deployment fleet made from this machine: time, host, from, to, result, who
#[derive(Debug, clap::Args)]
pub struct History {
    /// Only this host's
    #[arg(value_name = "HOST", add = ArgValueCandidates::new(complete::hosts_and_tags))]
    host: Option<String>,
}

impl super::Run for History {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let s = &Session::open(g)?;
        // All entries, or those of the hosts `selector` names (a host or `@tag`). A name the
        // inventory no longer has still shows its entries, if there are any.
        let selector = self.host.as_deref();
        let all = history::read(&state_dir());
        let hosts: Option<Vec<String>> = match selector {
            None => None,
            Some(name) if all.iter().any(|e| e.host == name) && s.inv.host(name).is_none() => {
                Some(vec![name.to_string()])
            }
            Some(name) => Some(
                select(&s.inv, &[name.to_string()], WhenEmpty::Refuse)?
                    .iter()
                    .map(|h| h.name.clone())
                    .collect(),
            ),
        };
        let entries: Vec<history::Entry> = all
            .into_iter()
            .filter(|e| hosts.as_ref().is_none_or(|hs| hs.contains(&e.host)))
            .collect();
        if s.global.json {
            write_json(&entries)?;
        } else {
            write_stdout(&ui::commands::history(&entries, &state_dir()))?;
        }
        Ok(exit::OK)
    }
}
