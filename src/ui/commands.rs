//! The plain-text output of commands whose output is not the summary table alone: diff,
//! validate, update-flake, history, hosts, and gc's dry run.

use std::path::Path;

use crate::exec::transport::master::Kept;
use crate::exec::Asked;
use crate::flake::Moved;
use crate::health::gc::Decision;
use crate::history::Entry;
use crate::inventory::Host;
use crate::plan::{Context, Probe};
use crate::report::{Outcome, RunReport};

use super::{summary, table};

/// `diff`: each host's package changes, then the summary.
pub fn diff(report: &RunReport) -> String {
    let mut text = String::new();
    for h in &report.hosts {
        match (&h.output, h.outcome) {
            (Some(d), _) if d.trim().is_empty() => text.push_str(&format!(
                "{}: the closures differ only in paths, not in packages\n",
                h.host
            )),
            (Some(d), _) => {
                text.push_str(&format!("{}:\n", h.host));
                for line in d.lines() {
                    text.push_str(&crate::vocab::visible(line));
                    text.push('\n');
                }
                text.push('\n');
            }
            (None, Outcome::Unchanged) => text.push_str(&format!(
                "{}: runs the evaluated system already; nothing would change\n",
                h.host
            )),
            _ => {}
        }
    }
    text.push('\n');
    text.push_str(&summary::render(report, false));
    text
}

/// `build`: the summary, then each built system, where it is, and what keeps it.
pub fn built(report: &RunReport, out_link: Option<&str>) -> String {
    let mut text = summary::render(report, false);
    let built: Vec<_> = report
        .hosts
        .iter()
        .filter(|h| h.outcome == Outcome::Built)
        .collect();
    if built.is_empty() {
        return text;
    }
    text.push('\n');
    for h in built {
        let system = h.system.as_deref().unwrap_or("?");
        let kept = match (h.built_on.as_str(), out_link) {
            ("here", Some(link)) => format!("here, linked at {link}-{}", h.host),
            ("here", None) => "here (no link: pass --out-link to keep it)".to_string(),
            (builder, _) => format!(
                "on {builder}, kept there at ~/{}",
                crate::nix::gc_root(&h.host)
            ),
        };
        text.push_str(&format!("{}  {system}  {kept}\n", h.host));
    }
    text
}

/// `validate`: each host's evaluated system.
pub fn evaluated(
    report: &RunReport,
    check: Option<&crate::flake::CrossCheck>,
    inventory: &Path,
) -> String {
    let mut text = String::new();
    let width = report.hosts.iter().map(|h| h.host.len()).max().unwrap_or(0);
    for h in &report.hosts {
        let what = match (&h.system, &h.failure) {
            (Some(out), _) if h.outcome == Outcome::Evaluated => out.clone(),
            (_, Some(f)) => crate::vocab::visible(&f.message).into_owned(),
            _ => h.outcome.as_str().to_string(),
        };
        text.push_str(&format!("{:<width$}  {what}\n", h.host));
    }
    // What to do, once for all hosts it is said for.
    let mut nexts: Vec<&str> = Vec::new();
    for f in report.hosts.iter().filter_map(|h| h.failure.as_ref()) {
        if !nexts.contains(&f.next.as_str()) {
            nexts.push(&f.next);
        }
    }
    for next in nexts {
        text.push_str(&format!("  next: {next}\n"));
    }
    let n = report
        .hosts
        .iter()
        .filter(|h| h.outcome == Outcome::Evaluated)
        .count();
    text.push_str(&format!(
        "{n} of {} host{} evaluated\n",
        report.hosts.len(),
        if report.hosts.len() == 1 { "" } else { "s" }
    ));
    let Some(check) = check else {
        return text;
    };
    for (host, attribute) in &check.without_configuration {
        text.push_str(&format!(
            "error: {host}: the flake has no nixosConfigurations.{attribute}\n  fix: set `attribute` for {host} in {}, or add the configuration to the flake\n",
            inventory.display()
        ));
    }
    for configuration in &check.without_host {
        text.push_str(&format!(
            "note: nixosConfigurations.{configuration} has no host in {}; add [hosts.{configuration}] to deploy it\n",
            inventory.display()
        ));
    }
    text
}

/// `disconnect`: a line per host and address (two ssh configs for one address are two masters).
pub fn disconnected(closing: &[Kept], dry_run: bool) -> String {
    let verb = if dry_run { "would close" } else { "closed" };
    let mut lines: Vec<(String, usize)> = Vec::new();
    for k in closing {
        let line = format!("{} ({})", k.host, k.address);
        match lines.iter_mut().find(|(l, _)| *l == line) {
            Some((_, n)) => *n += 1,
            None => lines.push((line, 1)),
        }
    }
    if lines.is_empty() {
        return "no connection is kept open\n".to_string();
    }
    lines
        .iter()
        .map(|(line, n)| match n {
            1 => format!("{verb} the connection to {line}\n"),
            n => format!("{verb} {n} connections to {line}\n"),
        })
        .collect()
}

/// `update-flake`: the inputs that moved, from which revision to which.
pub fn moved(moved: &[Moved]) -> String {
    if moved.is_empty() {
        return "no input moved\n".into();
    }
    let short = |r: &Option<String>| {
        r.as_deref()
            .map_or("(none)".to_string(), |r| r.chars().take(12).collect())
    };
    moved
        .iter()
        .map(|m| format!("{}: {} -> {}\n", m.input, short(&m.from), short(&m.to)))
        .collect()
}

/// `history`: one row a deployment, or where none were found.
pub fn history(entries: &[Entry], state_dir: &Path) -> String {
    if entries.is_empty() {
        return format!("no deployments recorded in {}\n", state_dir.display());
    }
    let gen = |g: Option<u32>, s: &Option<String>| match (g, s) {
        (Some(g), _) => format!("gen {g}"),
        (None, Some(s)) => summary::short(s),
        (None, None) => "-".into(),
    };
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.time.clone(),
                e.host.clone(),
                format!("{} {}", e.command, e.action.as_deref().unwrap_or(""))
                    .trim()
                    .to_string(),
                if e.result == crate::history::STARTED {
                    "started, no end recorded (fleet died?)".to_string()
                } else {
                    e.result.clone()
                },
                gen(e.from_generation, &e.from_system),
                gen(e.to_generation, &e.to_system),
                e.who.clone(),
                e.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table::render(
        &[
            "TIME", "HOST", "COMMAND", "RESULT", "FROM", "TO", "WHO", "ERROR",
        ],
        &rows,
    )
}

/// `hosts`: one row a host.
pub fn hosts(ctx: &Context, hosts: &[&Host]) -> String {
    let rows: Vec<Vec<String>> = hosts
        .iter()
        .map(|h| {
            let local = h.local || ctx.hostname.as_deref() == Some(h.name.as_str());
            let role = match (h.builder, local) {
                (true, true) => "builder, this machine",
                (false, true) => "this machine",
                _ => h.role(),
            };
            vec![
                h.name.clone(),
                h.addresses.join(", "),
                role.to_string(),
                if h.via.is_empty() {
                    "-".into()
                } else {
                    h.via.join(", ")
                },
                h.user.clone().unwrap_or_else(|| "-".into()),
                h.tags
                    .iter()
                    .map(|t| format!("@{t}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ]
        })
        .collect();
    table::render(&["HOST", "ADDRESSES", "ROLE", "VIA", "USER", "TAGS"], &rows)
}

/// `gc --dry-run`: per host, what would be deleted and what is kept.
pub fn gc_dry_run(
    asked: &Asked,
    decisions: &[(String, Option<String>, Decision)],
    older_than: u64,
) -> String {
    let mut text = gc_listing(asked, decisions, older_than);
    text.push_str("Dry run: nothing was deleted.\n");
    text
}

/// What `gc` would delete on each host (and why others are kept), as the dry run says it
/// and the question shows it.
pub fn gc_listing(
    asked: &Asked,
    decisions: &[(String, Option<String>, Decision)],
    older_than: u64,
) -> String {
    let mut text = String::new();
    for (a, (host, unreachable, d)) in asked.hosts.iter().zip(decisions) {
        if let Some(why) = unreachable {
            text.push_str(&format!("{host}: {why}\n"));
            continue;
        }
        let dead = a.ok(&Probe::Dead).map(|s| s.lines().count()).unwrap_or(0);
        text.push_str(&format!(
            "{host}: would delete generations [{}] (older than {older_than}d){}; {dead} store paths are dead now\n",
            d.delete.iter().map(u32::to_string).collect::<Vec<_>>().join(" "),
            kept(d)
        ));
    }
    text
}

fn kept(d: &Decision) -> String {
    if d.kept.is_empty() {
        return String::new();
    }
    let kept: Vec<String> = d
        .kept
        .iter()
        .map(|(n, why)| format!("{n} ({why})"))
        .collect();
    format!(", keeping {}", kept.join(", "))
}

/// `generations`: one table, a row per generation, oldest first per host.
pub fn generations(hosts: &[crate::health::generations::HostGenerations]) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut notes = String::new();
    for h in hosts {
        if let Some(why) = &h.unreachable {
            notes.push_str(&format!("{}: unreachable: {why}\n", h.host));
            continue;
        }
        if let Some(why) = &h.unread {
            notes.push_str(&format!("{}: generations not read: {why}\n", h.host));
            continue;
        }
        for g in &h.generations {
            let state: Vec<&str> = [
                (g.current, "current"),
                (g.running, "running"),
                (g.booted, "booted"),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, word)| *word)
            .collect();
            rows.push(vec![
                h.host.clone(),
                g.number.to_string(),
                g.date.clone(),
                state.join(", "),
                g.system.as_deref().map(summary::short).unwrap_or_default(),
                g.deployed.as_ref().map_or(String::new(), |d| {
                    format!("{} by {}, {}", d.command, d.who, d.time)
                }),
            ]);
        }
    }
    let mut out = if rows.is_empty() {
        String::new()
    } else {
        table::render(
            &[
                "HOST",
                "GEN",
                "DATE",
                "STATE",
                "SYSTEM",
                "FLEET DEPLOYED IT",
            ],
            &rows,
        )
    };
    out.push_str(&notes);
    if !rows.is_empty() {
        out.push_str("\ngo to one: fleet rollback HOST --to GEN\n");
    }
    out
}

/// `exec`: each host's output, grouped, then one line per host with how it ended.
pub fn exec(asked: &Asked, followed: bool) -> String {
    let mut out = String::new();
    let mut ended = Vec::new();
    for a in &asked.hosts {
        let how = match (&a.unreachable, &a.ran) {
            (Some(why), _) => format!("unreachable: {why}"),
            (None, Some(Ok(f))) => match f.code {
                Some(0) => "exit 0".to_string(),
                Some(c) => format!("exit {c}"),
                None => "cut off (the connection dropped, or it was killed)".to_string(),
            },
            (None, Some(Err(why))) => format!("not run: {why}"),
            (None, None) => "not run".to_string(),
        };
        if let (false, Some(Ok(f))) = (followed, &a.ran) {
            out.push_str(&format!("── {} ({how})\n", a.host));
            for line in &f.tail {
                out.push_str(line);
                out.push('\n');
            }
            if f.tail.len() >= crate::exec::transport::EXEC_LINES {
                out.push_str(&format!(
                    "(only the last {} lines; the log has them all)\n",
                    crate::exec::transport::EXEC_LINES
                ));
            }
        }
        ended.push(vec![a.host.clone(), how]);
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&table::render(&["HOST", "RESULT"], &ended));
    out
}
