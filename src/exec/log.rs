//! A run's log files: one per host and one for fleet's own steps, appended to whole lines at a
//! time by every task, with the commands' output bounded.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// How much of the commands' output one log file keeps: a host that prints without end
/// must not fill this machine's disk. fleet's own lines (the commands, their exits) are
/// always written.
pub const LOG_OUTPUT_LIMIT: u64 = 64 << 20;

/// A log file and how much output it has taken.
struct LogFile {
    file: std::fs::File,
    /// Bytes of command output written.
    output: u64,
    /// Bytes of command output not written, past `LOG_OUTPUT_LIMIT`.
    cut: u64,
}

/// A log file that several tasks append whole lines to.
#[derive(Clone)]
pub struct Log {
    file: Arc<Mutex<Option<LogFile>>>,
    pub path: std::path::PathBuf,
    /// The host this log is about (`None`: fleet's own steps).
    pub label: Option<String>,
}

impl Log {
    pub fn create(path: std::path::PathBuf, label: Option<&str>) -> Log {
        let file = path
            .parent()
            .map(std::fs::create_dir_all)
            .and_then(|r| r.ok())
            .and_then(|_| std::fs::File::create(&path).ok())
            .map(|file| LogFile {
                file,
                output: 0,
                cut: 0,
            });
        Log {
            file: Arc::new(Mutex::new(file)),
            path,
            label: label.map(String::from),
        }
    }

    /// Whether the log file could be made (a log that could not is never named to the user).
    pub fn is_open(&self) -> bool {
        self.file.lock().is_ok_and(|f| f.is_some())
    }

    /// One of fleet's own lines: always written.
    pub fn line(&self, text: &str) {
        if let Ok(mut guard) = self.file.lock() {
            if let Some(f) = guard.as_mut() {
                if f.cut > 0 {
                    let _ = writeln!(
                        f.file,
                        "--- fleet: {} KiB more output were not written here (a log keeps {} MiB of output)",
                        f.cut.div_ceil(1024),
                        LOG_OUTPUT_LIMIT >> 20
                    );
                    f.cut = 0;
                }
                let _ = writeln!(f.file, "{text}");
            }
        }
    }

    /// A line of a command's output: written while the log has room for output; past it,
    /// counted, and the count written before fleet's next own line.
    pub fn output(&self, text: &str) {
        if let Ok(mut guard) = self.file.lock() {
            if let Some(f) = guard.as_mut() {
                let size = text.len() as u64 + 1;
                if f.output + size > LOG_OUTPUT_LIMIT {
                    f.cut += size;
                } else {
                    f.output += size;
                    let _ = writeln!(f.file, "{text}");
                }
            }
        }
    }
}
