//! The deployment history: every deployment fleet made, one JSON line per host, appended to
//! `history.jsonl` in the state directory. One `write` per line on an append-only file,
//! then fsync: a crash can at worst leave a torn last line, which reading skips.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::report::{Outcome, RunReport};

pub const FILE_NAME: &str = "history.jsonl";

/// One host's deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// UTC, ISO 8601.
    pub time: String,
    pub host: String,
    pub command: String,
    pub action: Option<String>,
    pub result: String,
    pub from_generation: Option<u32>,
    pub from_system: Option<String>,
    pub to_generation: Option<u32>,
    pub to_system: Option<String>,
    /// `user@machine` that ran fleet.
    pub who: String,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// The entries a run adds: hosts that were deployed, rolled back, or failed trying; not hosts
/// that were unchanged, skipped, only built or compared.
pub fn entries(report: &RunReport, who: &str) -> Vec<Entry> {
    let time = crate::time::iso_now();
    report
        .hosts
        .iter()
        .filter(|h| {
            matches!(
                h.outcome,
                Outcome::Deployed | Outcome::Failed | Outcome::UnitsFailed | Outcome::RolledBack
            )
        })
        .map(|h| Entry {
            time: time.clone(),
            host: h.host.clone(),
            command: report.command.clone(),
            action: report.action.clone(),
            result: h.outcome.as_str().to_string(),
            from_generation: h.before.as_ref().and_then(|b| b.generation),
            from_system: h.before.as_ref().and_then(|b| b.system.clone()),
            to_generation: h.after.as_ref().and_then(|a| a.generation),
            to_system: h
                .after
                .as_ref()
                .and_then(|a| a.system.clone())
                .or_else(|| h.system.clone()),
            who: who.to_string(),
            seconds: h.seconds,
            error: h
                .failure
                .as_ref()
                .map(|f| format!("{}: {}", f.step, f.message)),
        })
        .collect()
}

/// Appends entries to the history in `dir`, each line whole, then syncs.
pub fn append(dir: &Path, entries: &[Entry]) -> std::io::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    let path = dir.join(FILE_NAME);
    // After a torn write, start on a line of our own.
    let torn = std::fs::read(&path)
        .map(|b| b.last().is_some_and(|c| *c != b'\n'))
        .unwrap_or(false);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    if torn {
        file.write_all(b"\n")?;
    }
    for e in entries {
        let mut line = serde_json::to_string(e).map_err(std::io::Error::other)?;
        line.push('\n');
        file.write_all(line.as_bytes())?;
    }
    file.sync_all()
}

/// Every readable entry, oldest first; torn or foreign lines are skipped.
pub fn read(dir: &Path) -> Vec<Entry> {
    std::fs::read_to_string(dir.join(FILE_NAME))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(host: &str) -> Entry {
        Entry {
            time: "2026-11-24T18:00:00Z".into(),
            host: host.into(),
            command: "deploy".into(),
            action: Some("switch".into()),
            result: "deployed".into(),
            from_generation: Some(1),
            from_system: None,
            to_generation: Some(2),
            to_system: None,
            who: "olaf@thinkpad".into(),
            seconds: 1.0,
            error: None,
        }
    }

    #[test]
    fn appends_and_survives_a_torn_line() {
        let dir = std::env::temp_dir().join(format!("fleet-history-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        append(&dir, &[entry("samsung")]).expect("append");
        // A crash in the middle of a write leaves half a line.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join(FILE_NAME))
            .expect("open");
        f.write_all(b"{\"time\":\"2026-11-24T18:0")
            .expect("torn write");
        drop(f);
        assert_eq!(read(&dir).len(), 1);
        // The next run's line starts after the torn one and is read back.
        append(&dir, &[entry("razer")]).expect("append");
        let hosts: Vec<String> = read(&dir).into_iter().map(|e| e.host).collect();
        assert_eq!(hosts, ["samsung", "razer"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
