//! The deployment history: every deployment fleet made, one JSON line per host, appended to
//! `history.jsonl` in the state directory. One `write` per line on an append-only file,
//! then fsync: a crash can at worst leave a torn last line, which reading skips. A host's
//! line is written before fleet changes it (`started`) and again when it is done, so a run
//! that died half-way still shows. Reading is lenient (any bytes) and bounded (the last
//! `READ_LIMIT` bytes of a regular file).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::report::{Outcome, RunReport};

pub const FILE_NAME: &str = "history.jsonl";
/// How much of the history is read: its most recent lines (years of a household's runs).
pub const READ_LIMIT: u64 = 16 << 20;
/// The result of a host's line written before it changed; its end replaces it.
pub const STARTED: &str = "started";

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
    /// The run this line belongs to: a host's `started` line and its end share it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub run: Option<String>,
}

impl Entry {
    /// The line written just before fleet changes `host` in run `run`.
    pub fn started(run: &str, host: &str, command: &str, action: Option<&str>, who: &str) -> Entry {
        Entry {
            time: crate::time::iso_now(),
            host: host.to_string(),
            command: command.to_string(),
            action: action.map(String::from),
            result: STARTED.to_string(),
            from_generation: None,
            from_system: None,
            to_generation: None,
            to_system: None,
            who: who.to_string(),
            seconds: 0.0,
            error: None,
            run: Some(run.to_string()),
        }
    }
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
                Outcome::Deployed
                    | Outcome::DryActivated
                    | Outcome::NeedsReboot
                    | Outcome::Reverted
                    | Outcome::Failed
                    | Outcome::UnitsFailed
                    | Outcome::RolledBack
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
            // Where it went: for a boot, the system it boots next (it runs the old one).
            to_system: h
                .after
                .as_ref()
                .and_then(|a| match report.action.as_deref() {
                    _ if h.outcome == Outcome::NeedsReboot => {
                        a.profile.clone().or_else(|| a.system.clone())
                    }
                    Some("boot") => a.profile.clone().or_else(|| a.system.clone()),
                    _ => a.system.clone(),
                })
                .or_else(|| h.system.clone()),
            who: who.to_string(),
            seconds: h.seconds,
            error: h
                .failure
                .as_ref()
                .map(|f| format!("{}: {}", f.step, f.message)),
            run: Some(report.run.clone()),
        })
        .collect()
}

/// Appends entries to the history in `dir`, each line whole, then syncs.
pub fn append(dir: &Path, entries: &[Entry]) -> std::io::Result<()> {
    append_lines(&dir.join(FILE_NAME), entries)
}

/// Appends `items` to the JSON-lines file at `path` (made with its directory), each line whole
/// (one `write` each), then syncs; a torn last line is ended first.
pub fn append_lines<T: Serialize>(path: &Path, items: &[T]) -> std::io::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if path.symlink_metadata().is_ok_and(|m| !m.is_file()) {
        return Err(std::io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)?;
    // After a torn write, start on a line of our own.
    let mut last = [0u8; 1];
    let torn = file.seek(SeekFrom::End(-1)).is_ok()
        && file.read_exact(&mut last).is_ok()
        && last[0] != b'\n';
    if torn {
        file.write_all(b"\n")?;
    }
    for item in items {
        let mut line = serde_json::to_string(item).map_err(std::io::Error::other)?;
        line.push('\n');
        file.write_all(line.as_bytes())?;
    }
    file.sync_all()
}

/// Every readable line of the JSON-lines file at `path`, oldest first: torn or foreign lines
/// skipped, bytes that are not UTF-8 replaced. Only a regular file is read, and only its last
/// `READ_LIMIT` bytes.
pub fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    let Ok(mut file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let Ok(meta) = file.metadata() else {
        return Vec::new();
    };
    if !meta.is_file() {
        return Vec::new();
    }
    let skip = meta.len().saturating_sub(READ_LIMIT);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(skip)).is_err()
        || file.take(READ_LIMIT).read_to_end(&mut bytes).is_err()
    {
        return Vec::new();
    }
    bytes
        .split(|b| *b == b'\n')
        // After a cut, the first line may be a part of one.
        .skip(usize::from(skip > 0))
        .filter_map(|l| serde_json::from_str(&String::from_utf8_lossy(l)).ok())
        .collect()
}

/// Every readable entry, oldest first (as `read_lines` reads them), a host's `started` line
/// replaced by its end when there is one.
pub fn read(dir: &Path) -> Vec<Entry> {
    let mut entries: Vec<Entry> = read_lines(&dir.join(FILE_NAME));
    // A host's end replaces its `started` line of the same run, in the started line's place.
    let mut ended: Vec<usize> = Vec::new();
    for i in 0..entries.len() {
        if entries[i].result == STARTED {
            continue;
        }
        let start = entries[..i].iter().position(|s| {
            s.result == STARTED
                && s.run.is_some()
                && s.run == entries[i].run
                && s.host == entries[i].host
        });
        if let Some(start) = start {
            entries[start] = entries[i].clone();
            ended.push(i);
        }
    }
    let mut i = 0;
    entries.retain(|_| {
        i += 1;
        !ended.contains(&(i - 1))
    });
    entries
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
            run: None,
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

    #[test]
    fn odd_bytes_do_not_hide_the_history_and_an_end_replaces_its_start() {
        let dir = std::env::temp_dir().join(format!("fleet-history-odd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let started = Entry::started("R1", "razer", "deploy", Some("switch"), "olaf@t");
        append(&dir, &[started, entry("samsung")]).expect("append");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join(FILE_NAME))
            .expect("open");
        f.write_all(b"\xff\xfe not a line of ours\n")
            .expect("odd bytes");
        drop(f);
        let hosts: Vec<(String, String)> =
            read(&dir).into_iter().map(|e| (e.host, e.result)).collect();
        assert_eq!(
            hosts,
            [
                ("razer".into(), "started".into()),
                ("samsung".into(), "deployed".into())
            ]
        );
        let done = Entry {
            run: Some("R1".into()),
            ..entry("razer")
        };
        append(&dir, &[done]).expect("append");
        let hosts: Vec<(String, String)> =
            read(&dir).into_iter().map(|e| (e.host, e.result)).collect();
        assert_eq!(
            hosts,
            [
                ("razer".into(), "deployed".into()),
                ("samsung".into(), "deployed".into())
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_special_file_is_neither_read_nor_written() {
        let dir = std::env::temp_dir().join(format!("fleet-history-dev-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::os::unix::fs::symlink("/dev/zero", dir.join(FILE_NAME)).expect("link");
        assert!(read(&dir).is_empty());
        assert!(append(&dir, &[entry("razer")]).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
