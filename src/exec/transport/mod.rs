//! The seam under the executor: what it needs of the machines it runs commands on. The real
//! transport (`machines`) runs processes here and commands over each host's SSH master; unit
//! tests put a scripted fake in its place to check the executor's decisions.

use std::collections::VecDeque;
use std::sync::Mutex;

pub mod connect;
pub mod machines;
pub mod master;
pub mod net;
pub mod ssh_config;
pub mod sudo;
pub mod wake;

use connect::ConnectError;

use super::events::Events;
use super::log::Log;
use crate::vocab::Machine;

/// How many output lines an error shows.
pub const TAIL_LINES: usize = 15;

/// Why a command could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("{0}")]
    Resolve(String),
    #[error(transparent)]
    Sudo(#[from] sudo::Refused),
    #[error("could not start `{program}` on {machine}: {reason}")]
    Spawn {
        program: String,
        machine: String,
        reason: String,
    },
}

impl RunError {
    /// The program is not on this machine (or that host) at all: `nix` not installed, say.
    pub fn program_missing(&self) -> bool {
        matches!(self, RunError::Spawn { reason, .. } if reason.contains("No such file"))
    }
}

/// How a command is run where it runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct How {
    /// Over a login of its own, closed after, not the host's shared connection: magic
    /// rollback's confirmation, which proves that someone can still log in.
    pub new_login: bool,
    /// A read that answers at once: the real transport does not tie it to the run on the host
    /// (see `nix::TIE`).
    pub instant: bool,
    /// It goes through sudo with the run's password, which the real transport writes on its
    /// standard input (see `Sudo::Password`).
    pub sudo_password: bool,
}

/// Runs resolved commands where they belong.
// A run's futures are joined on one task, never spawned, so no `Send` bound is needed.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// Runs `argv` on `on` as `how` says (over the host's shared connection, opened on first
    /// use, unless a new login is asked for), its lines going to `output`. The exit code, or
    /// `None` when it was killed or cut off.
    async fn run(
        &self,
        on: &Machine,
        argv: &[String],
        how: How,
        output: &Output<'_>,
    ) -> Result<Option<i32>, RunError>;

    /// Opens `host`'s shared connection again (after it dropped).
    async fn reconnect(&self, host: &str) -> Result<(), ConnectError>;

    /// Opens `host`'s shared connection now, if it is not open, so its login happens while
    /// something else (the evaluation) runs; what fails is said when a step uses it.
    async fn warm(&self, host: &str);

    /// `ssh-ng://[user@]ADDRESS` for `host`, with the address that answered, for a command
    /// that runs on `from`: elsewhere than here, the address as ssh resolves it here (an
    /// alias of this machine's ssh config means nothing there).
    async fn store_url(&self, host: &str, from: &Machine) -> Result<String, ConnectError>;

    /// How `host` was reached in this run, if it was (never opens a connection).
    fn reached(&self, host: &str) -> Option<Reached>;
}

/// How a host was reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reached {
    /// The address that answered.
    pub address: String,
    /// How it was woken to answer, if it was.
    pub woken: Option<String>,
}

/// Where a running command's lines go: the log, the terminal with `-vv`, the last lines kept
/// for errors, and stdout kept for the executor to read. What is kept in memory is bounded:
/// a host that prints without end costs the log's limit on disk and these limits here.
pub struct Output<'a> {
    log: &'a Log,
    echo: Option<&'a dyn Events>,
    kept: Mutex<Kept>,
    /// How many of the last lines are kept for errors (or, for `exec`, for the user).
    keep: usize,
    /// When the command last printed anything (for the inactivity timeout).
    last_heard: Mutex<std::time::Instant>,
    /// Nix's progress lines, followed for a host's progress (see `following_nix`).
    nix: Option<Follow<'a>>,
}

/// A command's Nix progress, followed for one host.
struct Follow<'a> {
    events: &'a dyn Events,
    host: String,
    /// The machine the command runs on, as a sentence names it ("p620", "this machine").
    who: String,
    state: Mutex<(crate::nix::progress::Activities, Option<std::time::Instant>)>,
}

/// How often a host's progress is sent at most.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

#[derive(Default)]
struct Kept {
    stdout: String,
    /// Bytes of stdout not kept, past `STDOUT_LIMIT`.
    stdout_cut: usize,
    tail: VecDeque<String>,
    tail_bytes: usize,
    /// Lines seen, of both streams.
    seen: usize,
    /// The first `error:` line (Nix's own message, which `--show-trace` follows with a long
    /// trace) and the lines after it, up to `ERROR_LINES`, and where it came.
    first_error: Vec<String>,
    first_error_at: Option<usize>,
    /// The line after the last one kept of it.
    first_error_end: usize,
}

/// How many lines of the first error (its message) are kept, whatever the tail drops.
const ERROR_LINES: usize = 4;

/// The most lines of a command's output `exec` keeps to show (the log has them all).
pub const EXEC_LINES: usize = 100_000;
/// The most of a command's standard output kept for the executor to read: every answer it
/// parses (an evaluation's JSON, a host's state) is far smaller.
pub const STDOUT_LIMIT: usize = 32 << 20;
/// The longest line the last output keeps (the log has the whole line).
const TAIL_LINE_LIMIT: usize = 64 << 10;
/// The most bytes the last output keeps, whatever its number of lines.
const TAIL_BYTES_LIMIT: usize = 16 << 20;

impl<'a> Output<'a> {
    pub fn new(log: &'a Log, echo: Option<&'a dyn Events>) -> Output<'a> {
        Output::keeping(log, echo, TAIL_LINES)
    }

    /// Output that keeps the last `keep` lines of both streams, as they came.
    pub fn keeping(log: &'a Log, echo: Option<&'a dyn Events>, keep: usize) -> Output<'a> {
        Output {
            log,
            echo,
            kept: Mutex::new(Kept {
                tail: VecDeque::with_capacity(keep.min(TAIL_LINES)),
                ..Kept::default()
            }),
            keep,
            last_heard: Mutex::new(std::time::Instant::now()),
            nix: None,
        }
    }

    /// The same output, reading Nix's progress lines (`--log-format internal-json`) of the
    /// command: their messages and build output become the lines Nix would have printed, and
    /// where the command stands goes to `events` as `host`'s progress (`who`: the machine it
    /// runs on).
    pub fn following_nix(mut self, events: &'a dyn Events, host: &str, who: String) -> Self {
        self.nix = Some(Follow {
            events,
            host: host.to_string(),
            who,
            state: Mutex::default(),
        });
        self
    }

    /// The log these lines go to.
    pub fn log(&self) -> &Log {
        self.log
    }

    /// How long the command has printed nothing.
    pub fn quiet_for(&self) -> std::time::Duration {
        self.last_heard
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }

    /// A line the command printed on its standard output.
    pub fn stdout(&self, line: &str) {
        self.line(line, true);
    }

    /// A line the command printed on its standard error.
    pub fn stderr(&self, line: &str) {
        self.line(line, false);
    }

    /// The log has the line as it came; what may reach a terminal (the echo, and the tail
    /// that errors and `exec` show) has its control characters made visible.
    fn line(&self, line: &str, keep_whole: bool) {
        let now = std::time::Instant::now();
        if let Ok(mut heard) = self.last_heard.lock() {
            *heard = now;
        }
        let decoded;
        let line = match (&self.nix, line.strip_prefix(crate::nix::progress::PREFIX)) {
            (Some(follow), Some(json)) => match follow.feed(json, now) {
                Some(text) => {
                    decoded = text;
                    decoded.as_str()
                }
                None => return,
            },
            _ => line,
        };
        self.log.output(line);
        let shown = crate::vocab::visible(line);
        if let Some(events) = self.echo {
            events.note(self.log.label.as_deref(), &format!("| {shown}"));
        }
        let Ok(mut kept) = self.kept.lock() else {
            return;
        };
        let kept = &mut *kept;
        if keep_whole {
            if kept.stdout.len() + line.len() < STDOUT_LIMIT {
                kept.stdout.push_str(line);
                kept.stdout.push('\n');
            } else {
                kept.stdout_cut += line.len() + 1;
            }
        }
        if kept.tail.len() >= self.keep {
            if let Some(old) = kept.tail.pop_front() {
                kept.tail_bytes -= old.len();
            }
        }
        let mut shown = shown.into_owned();
        if shown.len() > TAIL_LINE_LIMIT {
            let at = (0..=TAIL_LINE_LIMIT)
                .rev()
                .find(|&i| shown.is_char_boundary(i))
                .unwrap_or(0);
            let more = shown.len() - at;
            shown.truncate(at);
            shown.push_str(&format!(" [fleet: {more} more bytes in the log]"));
        }
        match kept.first_error_at {
            None if shown.trim_start().starts_with("error:") => {
                kept.first_error_at = Some(kept.seen);
                kept.first_error.push(shown.clone());
                kept.first_error_end = kept.seen + 1;
            }
            Some(_) if kept.first_error.len() < ERROR_LINES => {
                kept.first_error.push(shown.clone());
                kept.first_error_end = kept.seen + 1;
            }
            _ => {}
        }
        kept.seen += 1;
        kept.tail_bytes += shown.len();
        kept.tail.push_back(shown);
        while kept.tail_bytes > TAIL_BYTES_LIMIT && kept.tail.len() > 1 {
            if let Some(old) = kept.tail.pop_front() {
                kept.tail_bytes -= old.len();
            }
        }
    }

    /// Standard output (with a last line that says what was cut, if any), and the last
    /// lines of both streams as they came (after the first error's, when they are far apart).
    pub fn into_parts(self) -> (String, Vec<String>) {
        if let Some(follow) = &self.nix {
            follow.finished();
        }
        let kept = self.kept.into_inner().unwrap_or_default();
        let mut stdout = kept.stdout;
        if kept.stdout_cut > 0 {
            stdout.push_str(&format!(
                "[fleet: {} more bytes of standard output were not kept]\n",
                kept.stdout_cut
            ));
        }
        // The first error's message, when the tail no longer has it (a long trace after it).
        let tail_from = kept.seen - kept.tail.len();
        let mut tail = Vec::from(kept.tail);
        if kept.first_error_at.is_some() && kept.first_error_end <= tail_from {
            let between = tail_from - kept.first_error_end;
            let mut lines = kept.first_error;
            if between > 0 {
                lines.push(format!("[fleet: … {between} more lines, in the log …]"));
            }
            lines.extend(tail);
            tail = lines;
        }
        (stdout, tail)
    }
}

impl Follow<'_> {
    /// The command ended: what it did, if it built or moved anything.
    fn finished(&self) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let mut report = state.0.report(std::time::Instant::now());
        report.finished = true;
        report.rate = None;
        report.building = None;
        let moved =
            report.builds.is_some_and(|c| c.done > 0) || report.paths.is_some_and(|c| c.done > 0);
        if moved {
            self.events.progress(&self.host, &report);
        }
    }

    /// One of Nix's lines: its text, if it has one to print; the progress sent on.
    fn feed(&self, json: &str, now: std::time::Instant) -> Option<String> {
        use crate::nix::progress::Line;
        let Ok(mut state) = self.state.lock() else {
            return None;
        };
        let (activities, sent) = &mut *state;
        let line = activities.feed(json, now);
        if let Some(size) = activities.size_note(&self.who) {
            self.events.note(Some(&self.host), &size);
        }
        if sent.is_none_or(|t| now.saturating_duration_since(t) >= PROGRESS_EVERY) {
            let report = activities.report(now);
            if !report.is_empty() {
                *sent = Some(now);
                self.events.progress(&self.host, &report);
            }
        }
        match line {
            Line::Text(text) => Some(text),
            Line::Quiet => None,
        }
    }
}

/// The longest line a command's output is read as: a host that prints one endless line is
/// cut there (and the rest of that line counted), not read into memory whole.
pub const LINE_LIMIT: usize = 16 << 20;

/// Reads a child's stdout and stderr to their ends into `output`, as bytes: a line that is
/// not UTF-8 is shown with replacement characters, never stops the reading (a child blocked
/// on a full pipe would hang the run); a line longer than `LINE_LIMIT` is cut.
pub async fn pump<O, E>(stdout: Option<O>, stderr: Option<E>, output: &Output<'_>)
where
    O: tokio::io::AsyncRead + Unpin,
    E: tokio::io::AsyncRead + Unpin,
{
    tokio::join!(
        lines(stdout, LINE_LIMIT, |l| output.stdout(l)),
        lines(stderr, LINE_LIMIT, |l| output.stderr(l))
    );
}

/// Each line of `stream`, at most `limit` bytes of it (a longer one ends with a note of how
/// much was cut), to `each`.
async fn lines<R: tokio::io::AsyncRead + Unpin>(
    stream: Option<R>,
    limit: usize,
    each: impl Fn(&str),
) {
    use tokio::io::AsyncBufReadExt;
    let Some(stream) = stream else { return };
    let mut reader = tokio::io::BufReader::new(stream);
    let mut line = Vec::new();
    let mut cut = 0usize;
    loop {
        let chunk = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        let (part, ended) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], true),
            None => (chunk, false),
        };
        let room = limit.saturating_sub(line.len());
        line.extend_from_slice(&part[..part.len().min(room)]);
        cut += part.len().saturating_sub(room);
        let used = part.len() + usize::from(ended);
        reader.consume(used);
        if ended {
            emit(&mut line, &mut cut, &each);
        }
    }
    if !line.is_empty() || cut > 0 {
        emit(&mut line, &mut cut, &each);
    }
}

fn emit(line: &mut Vec<u8>, cut: &mut usize, each: &impl Fn(&str)) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\n', '\r']);
    if *cut > 0 {
        each(&format!(
            "{text} [fleet: {} more bytes of this line cut]",
            *cut
        ));
    } else {
        each(text);
    }
    line.clear();
    *cut = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nix 2.8 with `--show-trace`: its message comes first, then a trace longer than the tail;
    /// the message is kept before the trace's last lines, with what was left out counted.
    #[test]
    fn the_first_error_survives_a_long_trace() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = crate::exec::log::Log::create(dir.path().join("h.log"), None);
        let output = Output::new(&log, None);
        output.stderr("error: cannot coerce an integer to a string");
        output.stderr("");
        output.stderr("       at /nix/store/x-source/flake.nix:12:3:");
        output.stderr("");
        for i in 0..100 {
            output.stderr(&format!("       … while evaluating frame {i}"));
        }
        let (_, tail) = output.into_parts();
        assert_eq!(tail[0], "error: cannot coerce an integer to a string");
        assert_eq!(tail[2], "       at /nix/store/x-source/flake.nix:12:3:");
        assert_eq!(
            tail[4], "[fleet: … 85 more lines, in the log …]",
            "{tail:#?}"
        );
        assert_eq!(
            crate::exec::evaluate::nix_error(&tail),
            "cannot coerce an integer to a string at /nix/store/x-source/flake.nix:12:3:"
        );
        assert_eq!(
            tail.last().map(String::as_str),
            Some("       … while evaluating frame 99")
        );
        assert_eq!(tail.len(), 5 + TAIL_LINES);
        // A short output is the tail as it came, nothing twice.
        let output = Output::new(&log, None);
        output.stderr("error: builder for x failed");
        output.stderr("last line");
        let (_, tail) = output.into_parts();
        assert_eq!(tail, ["error: builder for x failed", "last line"]);
    }
}
