//! What each run of a deployment or build command left undone, for `fleet retry` and for the
//! pending mark of `status` and `hosts`: one JSON line per run in `runs.jsonl` in the state
//! directory, with the command line as typed (to run it again with the same options) and each
//! selected host's result. Written as the history is (whole lines, synced), read leniently.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::report::{Left, RunReport};

pub const FILE_NAME: &str = "runs.jsonl";

/// One run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run: String,
    /// UTC, ISO 8601.
    pub time: String,
    /// The command as typed (`deploy-all-parallel`).
    pub command: String,
    /// The arguments after `fleet`, as typed: what a retry parses again.
    pub argv: Vec<String>,
    /// Where it was typed: a retry runs there, so that what the command line says relative
    /// to it (`-i ../hosts.toml`, `--flake .`) means what it meant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// The inventory it used: a retry uses it again, whatever `$FLEET_INVENTORY` says now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<PathBuf>,
    pub hosts: Vec<RunHost>,
}

/// One host of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHost {
    pub host: String,
    pub result: String,
    /// What the run left undone on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<Left>,
    /// What it still runs (before the run, for a host left undone), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<String>,
}

impl RunRecord {
    /// The record of a finished run of `argv`, typed in `cwd`, which used `inventory`.
    pub fn of(
        report: &RunReport,
        argv: &[String],
        cwd: Option<&Path>,
        inventory: &Path,
    ) -> RunRecord {
        RunRecord {
            run: report.run.clone(),
            time: crate::time::iso_now(),
            command: report.command.clone(),
            argv: argv.to_vec(),
            cwd: cwd.map(Path::to_path_buf),
            inventory: Some(inventory.to_path_buf()),
            hosts: report
                .hosts
                .iter()
                .map(|h| RunHost {
                    host: h.host.clone(),
                    result: h.outcome.as_str().to_string(),
                    left: h.left,
                    running: h
                        .after
                        .as_ref()
                        .or(h.before.as_ref())
                        .and_then(|s| s.system.clone()),
                })
                .collect(),
        }
    }

    /// The hosts it left undone, in its order.
    pub fn left(&self) -> Vec<&RunHost> {
        self.hosts.iter().filter(|h| h.left.is_some()).collect()
    }

    /// The command line as typed, for messages: `fleet deploy-all-parallel -j 8`.
    pub fn command_line(&self) -> String {
        format!("fleet {}", crate::vocab::quote_argv(&self.argv))
    }
}

/// Appends a run's record.
pub fn append(dir: &Path, record: &RunRecord) -> std::io::Result<()> {
    crate::history::append_lines(&dir.join(FILE_NAME), std::slice::from_ref(record))
}

/// Every readable record, oldest first.
pub fn read(dir: &Path) -> Vec<RunRecord> {
    crate::history::read_lines(&dir.join(FILE_NAME))
}

/// A host whose last run from this machine left it undone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pending {
    pub run: String,
    /// The command as typed (`deploy-all-parallel`).
    pub command: String,
    pub left: Left,
    /// What it ran then, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<String>,
}

/// Hosts whose last run from this machine left them undone, by name.
pub fn pending(records: &[RunRecord]) -> HashMap<String, Pending> {
    let mut last: HashMap<String, Option<Pending>> = HashMap::new();
    for record in records {
        for h in &record.hosts {
            let pending = h.left.map(|left| Pending {
                run: record.run.clone(),
                command: record.command.clone(),
                left,
                running: h.running.clone(),
            });
            last.insert(h.host.clone(), pending);
        }
    }
    last.into_iter()
        .filter_map(|(host, p)| Some((host, p?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, left: Option<Left>) -> RunHost {
        RunHost {
            host: name.into(),
            result: if left.is_some() { "failed" } else { "deployed" }.into(),
            left,
            running: Some(format!("/nix/store/x-{name}")),
        }
    }

    fn record(run: &str, hosts: Vec<RunHost>) -> RunRecord {
        RunRecord {
            run: run.into(),
            time: "2026-12-05T09:00:00Z".into(),
            command: "deploy-all-parallel".into(),
            argv: vec!["deploy-all-parallel".into(), "-j".into(), "8".into()],
            cwd: Some("/home/olaf/nixos".into()),
            inventory: Some("/home/olaf/nixos/hosts.toml".into()),
            hosts,
        }
    }

    /// A host is pending while the last run that selected it left it undone.
    #[test]
    fn a_host_is_pending_until_a_later_run_deploys_it() {
        let runs = [
            record(
                "r1",
                vec![
                    host("p510", Some(Left::Asleep)),
                    host("razer", Some(Left::Failed)),
                ],
            ),
            record("r2", vec![host("razer", None)]),
        ];
        let pending = pending(&runs);
        assert_eq!(pending.len(), 1, "{pending:?}");
        let p510 = &pending["p510"];
        assert_eq!((p510.run.as_str(), p510.left), ("r1", Left::Asleep));
        assert_eq!(p510.running.as_deref(), Some("/nix/store/x-p510"));
        assert_eq!(runs[0].left().len(), 2);
        assert_eq!(runs[0].command_line(), "fleet deploy-all-parallel -j 8");
    }

    /// Records survive the file: written whole, read back, a torn line skipped.
    #[test]
    fn records_are_appended_and_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = record("r1", vec![host("p510", Some(Left::Asleep))]);
        append(dir.path(), &first).expect("append");
        std::fs::write(
            dir.path().join(FILE_NAME),
            format!(
                "{}{{\"run\":\"torn",
                std::fs::read_to_string(dir.path().join(FILE_NAME)).expect("read")
            ),
        )
        .expect("tear");
        let second = record("r2", vec![host("razer", None)]);
        append(dir.path(), &second).expect("append");
        assert_eq!(read(dir.path()), [first, second]);
    }
}
