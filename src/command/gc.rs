//! `gc`: ask each host which generations are old and what is dead, then delete those
//! generations (never the current or booted one) and collect garbage. `--dry-run` asks and
//! says what would go.

use crate::app::{write_json, write_stdout, Session};
use std::io::IsTerminal;

use crate::cli::Global;
use crate::cli::RequiredHosts;
use crate::error::{exit, Error};
use crate::health::gc;
use crate::inventory::Host;
use crate::plan;
use crate::select::{select, WhenEmpty};
use crate::ui;

/// Delete old system generations and collect garbage (never the current, running or
/// booted system), after showing what would go and asking (--yes: without asking). With
/// --dry-run: ask the hosts what would go, delete nothing
#[derive(Debug, clap::Args)]
pub struct Gc {
    #[command(flatten)]
    hosts: RequiredHosts,
    /// Delete generations older than this many days (`7d` or `7`)
    #[arg(long, value_name = "AGE", default_value = "7d", value_parser = parse_days)]
    older_than: u64,
}

impl super::Run for Gc {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let s = &Session::open(g)?;
        let (selectors, older_than) = (&self.hosts.hosts, self.older_than);
        let (inv, ctx, g) = (&s.inv, &s.ctx, s.global);
        let hosts = &select(inv, selectors, WhenEmpty::Refuse)?;
        let survey = plan::gc_survey(inv, ctx, hosts, g.dry_run);
        let asked = s.ask(&survey)?;
        let decisions: Vec<(String, Option<String>, gc::Decision)> = asked
            .hosts
            .iter()
            .map(|a| {
                (
                    a.host.clone(),
                    a.unreachable.clone(),
                    gc::decide(a, older_than),
                )
            })
            .collect();
        let unreachable = decisions.iter().any(|(_, u, _)| u.is_some());
        if g.dry_run {
            if g.json {
                let hosts: Vec<serde_json::Value> = asked
                    .hosts
                    .iter()
                    .zip(&decisions)
                    .map(|(a, (host, unreachable, d))| {
                        let dead = a.ok(&plan::Probe::Dead).map(|s| s.lines().count());
                        serde_json::json!({
                            "host": host,
                            "unreachable": unreachable,
                            "would_delete": d.delete,
                            "kept": d.kept,
                            "dead_paths": dead,
                        })
                    })
                    .collect();
                write_json(&hosts)?;
            } else {
                write_stdout(&ui::commands::gc_dry_run(&asked, &decisions, older_than))?;
            }
            return Ok(if unreachable {
                exit::HOST_FAILED
            } else {
                exit::OK
            });
        }
        if !g.yes && !confirm(&asked, &decisions, older_than)? {
            ui::say("Nothing was deleted.");
            return Ok(exit::OK);
        }
        let reached: Vec<(&Host, &[u32])> = hosts
            .iter()
            .zip(&decisions)
            .filter(|(_, (_, unreachable, _))| unreachable.is_none())
            .map(|(host, (_, _, d))| (*host, d.delete.as_slice()))
            .collect();
        let collect = plan::gc_collect_all(ctx, &reached);
        let code = s.execute_and_summarise(&collect)?;
        let unreachable: Vec<&str> = decisions
            .iter()
            .filter(|d| d.1.is_some())
            .map(|d| d.0.as_str())
            .collect();
        if !unreachable.is_empty() {
            eprintln!("not collected, unreachable: {}", unreachable.join(", "));
            return Ok(exit::HOST_FAILED);
        }
        Ok(code)
    }
}

/// Shows what would go on each host and asks, as quick-all does before deploying; without a
/// terminal to ask on, refuses (`--yes` deletes without asking).
fn confirm(
    asked: &crate::exec::Asked,
    decisions: &[(String, Option<String>, gc::Decision)],
    older_than: u64,
) -> Result<bool, Error> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::usage(
            "`fleet gc` asks before deleting, and there is no terminal to ask",
            "pass --yes to delete without asking, or --dry-run to see what would go",
        ));
    }
    let listing = ui::commands::gc_listing(asked, decisions, older_than);
    eprint!("{listing}");
    let reached = decisions.iter().filter(|d| d.1.is_none()).count();
    Ok(ui::ask_yes_no(&format!(
        "Delete these generations and collect garbage on {reached} host{}?",
        if reached == 1 { "" } else { "s" }
    )))
}

/// `7d`, `7`: a number of days.
fn parse_days(s: &str) -> Result<u64, String> {
    s.strip_suffix('d')
        .unwrap_or(s)
        .parse()
        .map_err(|_| format!("`{s}` is not a number of days, like 7d"))
}
