//! `retry`: the last run's command again (or an older run's, `--from`), with the same options,
//! for exactly the hosts it left undone: failed, asleep, interrupted, or held back by another's
//! failure. With `--wait`, asleep hosts are waited for (and woken, those with a `mac`) and each
//! is deployed as soon as it answers.

use std::time::{Duration, Instant};

use clap::Parser;

use crate::app::{state_dir, Session};
use crate::cli::Global;
use crate::error::{exit, Error};
use crate::report::Left;
use crate::runs::{self, RunRecord};

/// Run the last deployment or build again for the hosts it left undone (failed, asleep,
/// interrupted), with the same options
#[derive(Debug, clap::Args)]
pub struct Retry {
    /// Retry this run instead of the last (its id, as a summary's logs directory and
    /// `fleet history --json` name it; a unique start of it is enough)
    #[arg(long, value_name = "RUN")]
    from: Option<String>,
    /// Wait up to this long (`90s`, `10m`, `2h`) for hosts that were asleep to answer, waking
    /// those with a `mac`, and deploy each as soon as it does
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    wait: Option<Duration>,
}

/// How often hosts that are still asleep are asked again.
const POLL: Duration = Duration::from_secs(5);

impl super::Run for Retry {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let records = runs::read(&state_dir());
        let record = self.pick(&records)?;
        let left = record.left();
        if left.is_empty() {
            eprintln!(
                "Nothing to retry: run {} (`{}`) left no host undone.",
                record.run,
                record.command_line()
            );
            return Ok(exit::OK);
        }
        let said: Vec<String> = left
            .iter()
            .map(|h| format!("{} ({})", h.host, h.left.map_or("", Left::as_str)))
            .collect();
        // Where it was typed, when that is not here: the retry runs there.
        let there = record
            .cwd
            .as_ref()
            .filter(|dir| std::env::current_dir().ok().as_ref() != Some(*dir))
            .map(|dir| format!(" (in {})", dir.display()))
            .unwrap_or_default();
        eprintln!(
            "Retrying run {}: `{}`{there}, for {}.",
            record.run,
            record.command_line(),
            said.join(", ")
        );
        let asleep: Vec<String> = left
            .iter()
            .filter(|h| h.left == Some(Left::Asleep))
            .map(|h| h.host.clone())
            .collect();
        let now: Vec<String> = left
            .iter()
            .filter(|h| h.left != Some(Left::Asleep))
            .map(|h| h.host.clone())
            .collect();
        match self.wait {
            // Every host at once: asleep ones are tried (and woken) as any run tries them.
            None => run_for(g, record, left.iter().map(|h| h.host.clone()).collect()),
            Some(limit) => wait_and_run(g, record, now, asleep, limit),
        }
    }
}

impl Retry {
    /// The run to retry: `--from`'s (a unique start of its id), else the last.
    fn pick<'r>(&self, records: &'r [RunRecord]) -> Result<&'r RunRecord, Error> {
        let path = state_dir().join(runs::FILE_NAME);
        let Some(from) = &self.from else {
            return records.last().ok_or_else(|| {
                Error::usage(
                    format!("no run to retry: none is recorded in {}", path.display()),
                    "deployments and builds are recorded as they end; run one first",
                )
            });
        };
        let matching: Vec<&RunRecord> = records
            .iter()
            .filter(|r| r.run.starts_with(from.as_str()))
            .collect();
        match matching.as_slice() {
            [one] => Ok(one),
            [] => Err(Error::usage(
                format!("no run {from} is recorded in {}", path.display()),
                format!(
                    "the last runs: {}",
                    records
                        .iter()
                        .rev()
                        .take(5)
                        .map(|r| r.run.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            _ => Err(Error::usage(
                format!("{from} starts {} recorded runs", matching.len()),
                "give more of the run's id",
            )),
        }
    }
}

/// Runs `record`'s command line again for `hosts`, with the retry's own `--dry-run`, `--json`,
/// `--yes` and `-v` added.
fn run_for(g: &Global, record: &RunRecord, hosts: Vec<String>) -> Result<u8, Error> {
    let mut cli = parsed(record)?;
    if !cli.command.retarget(hosts) {
        return Err(Error::usage(
            format!("`fleet {}` cannot be retried", record.command),
            "retry deployments and builds",
        ));
    }
    cli.global.dry_run |= g.dry_run;
    cli.global.json |= g.json;
    cli.global.yes |= g.yes;
    cli.global.verbose = cli.global.verbose.max(g.verbose);
    cli.command.run(&cli.global)
}

/// `record`'s command line, parsed again as it was typed, where it was typed, with the
/// inventory it used.
fn parsed(record: &RunRecord) -> Result<super::Cli, Error> {
    if let Some(cwd) = &record.cwd {
        std::env::set_current_dir(cwd).map_err(|e| {
            Error::usage(
                format!(
                    "run {} was typed in {}, which cannot be entered now: {e}",
                    record.run,
                    cwd.display()
                ),
                format!("run it again by hand: {}", record.command_line()),
            )
        })?;
    }
    let argv = std::iter::once("fleet".to_string()).chain(record.argv.iter().cloned());
    let mut cli = super::Cli::try_parse_from(argv).map_err(|e| {
        Error::usage(
            format!(
                "run {}'s command line no longer parses: {}",
                record.run,
                e.kind()
            ),
            format!("run it again by hand: {}", record.command_line()),
        )
    })?;
    cli.global.argv = record.argv.clone();
    if let Some(inventory) = &record.inventory {
        cli.global.inventory = Some(inventory.clone());
    }
    Ok(cli)
}

/// `--wait`: the hosts that did not sleep at once, with those asleep that answer; then, until
/// `limit`, each asleep host as soon as it answers. Hosts still asleep at the end are recorded
/// as left undone again, so a later `fleet retry` finds them.
fn wait_and_run(
    g: &Global,
    record: &RunRecord,
    mut now: Vec<String>,
    mut waiting: Vec<String>,
    limit: Duration,
) -> Result<u8, Error> {
    // The inventory the retried command line names (its `-i`), to reach its hosts.
    let retried = parsed(record)?;
    let s = Session::open(&retried.global)?;
    let started = Instant::now();
    let mut code = exit::OK;
    loop {
        if !waiting.is_empty() && !g.dry_run {
            let answers = crate::app::runtime()?.block_on(crate::exec::reach(
                &s.inv,
                &waiting,
                s.ctx.run.keep_connections,
            ))?;
            for (host, answer) in answers {
                match answer {
                    Ok(()) => {
                        eprintln!("[{host}] answers: retrying it");
                        now.push(host.clone());
                        waiting.retain(|h| *h != host);
                    }
                    Err(why) => eprintln!(
                        "[{host}] waiting for it to answer ({} of {}): {why}",
                        clock(started.elapsed()),
                        clock(limit)
                    ),
                }
            }
        } else if g.dry_run {
            now.append(&mut waiting);
        }
        if !now.is_empty() {
            code = code.max(run_for(g, record, std::mem::take(&mut now))?);
        }
        if waiting.is_empty() {
            return Ok(code);
        }
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(POLL.min(left));
    }
    eprintln!(
        "{} did not answer within {}; `fleet retry` tries again later.",
        waiting.join(", "),
        clock(limit)
    );
    let still = RunRecord {
        run: format!("{}-waited", record.run),
        time: crate::time::iso_now(),
        hosts: record
            .hosts
            .iter()
            .filter(|h| waiting.contains(&h.host))
            .cloned()
            .collect(),
        ..record.clone()
    };
    if let Err(e) = runs::append(&state_dir(), &still) {
        eprintln!("warning: could not record the hosts still asleep: {e}");
    }
    Ok(code.max(exit::HOST_FAILED))
}

/// `1:05`, `10:00`, `1:00:00`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// `90`, `90s`, `10m`, `2h`: a duration of at most a day.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 10m or 2h"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("{text:?}: the unit is s, m or h")),
    };
    if secs == 0 || secs > 86_400 {
        return Err(format!("{text:?}: wait between 1 s and a day"));
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("3d").is_err());
        assert!(parse_duration("soon").is_err());
        assert_eq!(clock(Duration::from_secs(65)), "1:05");
    }
}
