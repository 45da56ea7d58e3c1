//! `exec`: one command on many hosts at once, over each host's one connection, as the deploy
//! user or as root; output grouped per host (or line by line with `--follow`), each host's
//! exit code in the summary. Its words go to the host as they are, never through a shell
//! here.

use crate::cli::Global;
use crate::complete;
use clap_complete::engine::ArgValueCandidates;
use serde::Serialize;

use crate::app::{write_json, write_stdout, Session};
use crate::error::{exit, Error};
use crate::exec::Asked;
use crate::inventory::Inventory;
use crate::select::{select, WhenEmpty};
use crate::{plan, ui};

/// The hosts and the command: after `--`, the command is what follows it; without, it starts
/// at the first word that is neither a host nor a tag of the inventory (`fleet exec razer
/// uptime`). A first word that is no host is left to `select`, which says which it meant.
fn split_command<'w>(
    inv: &Inventory,
    words: &'w [String],
    after_dashes: &'w [String],
) -> Result<(&'w [String], &'w [String]), Error> {
    if !after_dashes.is_empty() {
        return Ok((words, after_dashes));
    }
    let is_selector = |w: &String| match w.strip_prefix('@') {
        Some(tag) => inv.tags().contains(&tag),
        None => inv.host(w).is_some(),
    };
    match words.iter().position(|w| !is_selector(w)) {
        Some(0) => Ok((words, &[])),
        Some(i) => Ok(words.split_at(i)),
        None => Err(Error::usage(
            format!("no command to run on {}", words.join(", ")),
            "put the command after the hosts, best after --: `fleet exec HOST -- COMMAND...`",
        )),
    }
}

/// One host's result, for `--json`.
#[derive(Serialize)]
struct Ran<'a> {
    host: &'a str,
    address: Option<&'a str>,
    /// The command's exit code (`null`: it did not run, or was cut off).
    exit_code: Option<i32>,
    /// Its output, stdout and stderr as they came.
    output: Vec<&'a str>,
    /// Its standard output alone, whole.
    stdout: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// Run a command on hosts, in parallel, over each host's one connection; output grouped
/// per host: `fleet exec @laptop -- systemctl --failed`
#[derive(Debug, clap::Args)]
pub struct Exec {
    /// Host names or @tags, then the command, best after `--` (its words are passed as they
    /// are, never through a shell here); without `--`, the command is the first word that is
    /// not a host or @tag
    #[arg(value_name = "HOST", required = true, add = ArgValueCandidates::new(complete::hosts_and_tags))]
    hosts: Vec<String>,
    /// Run it as root (through sudo for a non-root deploy user)
    #[arg(long)]
    root: bool,
    /// Print each line as it comes, prefixed with its host, instead of grouped at the end
    #[arg(long)]
    follow: bool,
    /// The command and its arguments
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

impl super::Run for Exec {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let s = &Session::open(g)?;
        let (root, follow) = (self.root, self.follow);
        let (selectors, argv) = split_command(&s.inv, &self.hosts, &self.command)?;
        let hosts = select(&s.inv, selectors, WhenEmpty::Refuse)?;
        let plan = plan::exec(&s.inv, &s.ctx, &hosts, argv, root)?;
        if let Some(code) = s.dry_run(&plan)? {
            return Ok(code);
        }
        let asked = if follow {
            s.ask_following(&plan)?
        } else {
            s.ask(&plan)?
        };
        if s.global.json {
            write_json(&as_json(&asked))?;
        } else {
            write_stdout(&ui::commands::exec(&asked, follow))?;
        }
        let all_zero = asked
            .hosts
            .iter()
            .all(|a| matches!(&a.ran, Some(Ok(f)) if f.success()));
        Ok(if all_zero {
            exit::OK
        } else {
            exit::HOST_FAILED
        })
    }
}

fn as_json(asked: &Asked) -> Vec<Ran<'_>> {
    asked
        .hosts
        .iter()
        .map(|a| {
            let finished = a.ran.as_ref().and_then(|r| r.as_ref().ok());
            Ran {
                host: &a.host,
                address: a.address.as_deref(),
                exit_code: finished.and_then(|f| f.code),
                output: finished
                    .map_or(Vec::new(), |f| f.tail.iter().map(String::as_str).collect()),
                stdout: finished.map_or("", |f| f.stdout.as_str()),
                error: a.unreachable.as_deref().or(a
                    .ran
                    .as_ref()
                    .and_then(|r| r.as_ref().err())
                    .map(String::as_str)),
            }
        })
        .collect()
}
