//! `disconnect`: ends the SSH masters fleet keeps open between runs (`[fleet]
//! keep_connections`), every one or the selected hosts'.

use crate::app::{write_json, write_stdout, Session};
use crate::cli::Global;
use crate::cli::OptionalHosts;
use crate::error::{exit, Error};
use crate::exec::transport::master;
use crate::select::{select, WhenEmpty};
use crate::ui;

/// Close the SSH connections fleet keeps open between runs (all, or these hosts')
#[derive(Debug, clap::Args)]
pub struct Disconnect {
    #[command(flatten)]
    hosts: OptionalHosts,
}

impl super::Run for Disconnect {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let s = &Session::open(g)?;
        let selectors = &self.hosts.hosts;
        let chosen: Option<Vec<String>> = if selectors.is_empty() {
            None
        } else {
            Some(
                select(&s.inv, selectors, WhenEmpty::Refuse)?
                    .iter()
                    .map(|h| h.name.clone())
                    .collect(),
            )
        };
        let kept = master::kept_dir()
            .map(|dir| master::list_kept(&dir))
            .unwrap_or_default();
        let closing: Vec<master::Kept> = kept
            .into_iter()
            .filter(|k| chosen.as_ref().is_none_or(|c| c.contains(&k.host)))
            .collect();
        if !s.global.dry_run {
            for k in &closing {
                master::close_kept(k);
            }
        }
        if s.global.json {
            write_json(&closing)?;
            return Ok(exit::OK);
        }
        let text = ui::commands::disconnected(&closing, s.global.dry_run);
        write_stdout(&text)?;
        Ok(exit::OK)
    }
}
