//! `rollback`: back one generation on each host, as `nixos-rebuild switch --rollback` does,
//! or to a given one (`--to N`, which nixos-rebuild cannot), with the switch launched
//! detached and followed.

use crate::app::Session;
use crate::cli::Global;
use crate::cli::{Guard, RequiredHosts};
use crate::error::Error;
use crate::health::generations;
use crate::inventory::Host;
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
        if let Some(n) = to {
            refuse_missing_generation(s, &hosts, n)?;
        }
        s.execute_and_summarise(&plan)
    }
}

/// `--to N`: each host that answers must have generation N, or nothing starts (no lock, no
/// watchdog, no switch), and the error lists the generations each such host has. A host that
/// does not answer is left to the rollback, which reports it as any run does.
fn refuse_missing_generation(s: &Session, hosts: &[&Host], n: u32) -> Result<(), Error> {
    let asked = s.ask(&plan::generations(&s.inv, &s.ctx, hosts))?;
    let missing: Vec<String> = generations::generations(&asked, &[])
        .iter()
        .filter(|h| h.unreachable.is_none() && h.unread.is_none())
        .filter(|h| !h.generations.iter().any(|g| g.number == n))
        .map(|h| {
            let have: Vec<String> = h.generations.iter().map(|g| g.number.to_string()).collect();
            format!(
                "{} has no generation {n}; it has {}",
                h.host,
                if have.is_empty() {
                    "none".to_string()
                } else {
                    have.join(", ")
                }
            )
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::usage(
        format!("--to {n}: {}; nothing was changed", missing.join("; ")),
        "`fleet generations HOST` lists them with their dates; pass one of them to --to",
    ))
}
