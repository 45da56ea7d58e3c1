//! The seam under the executor: what it needs of the machines it runs commands on. The real
//! transport (`machines`) runs processes here and commands over each host's SSH master; unit
//! tests put a scripted fake in its place to check the executor's decisions.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::connect::ConnectError;
use super::events::Events;
use super::run::{Log, RunError, TAIL_LINES};
use crate::vocab::Machine;

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
/// for errors, and stdout kept whole for the executor to read.
pub struct Output<'a> {
    log: &'a Log,
    echo: Option<&'a dyn Events>,
    kept: Mutex<(String, VecDeque<String>)>,
    /// How many of the last lines are kept for errors (or, for `exec`, for the user).
    keep: usize,
}

/// The most lines of a command's output `exec` keeps to show (the log has them all).
pub const EXEC_LINES: usize = 100_000;

impl<'a> Output<'a> {
    pub fn new(log: &'a Log, echo: Option<&'a dyn Events>) -> Output<'a> {
        Output::keeping(log, echo, TAIL_LINES)
    }

    /// Output that keeps the last `keep` lines of both streams, as they came.
    pub fn keeping(log: &'a Log, echo: Option<&'a dyn Events>, keep: usize) -> Output<'a> {
        Output {
            log,
            echo,
            kept: Mutex::new((String::new(), VecDeque::with_capacity(keep.min(TAIL_LINES)))),
            keep,
        }
    }

    /// The log these lines go to.
    pub fn log(&self) -> &Log {
        self.log
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
        self.log.line(line);
        let shown = crate::vocab::visible(line);
        if let Some(events) = self.echo {
            events.note(self.log.label.as_deref(), &format!("| {shown}"));
        }
        if let Ok(mut kept) = self.kept.lock() {
            let (stdout, tail) = &mut *kept;
            if keep_whole {
                stdout.push_str(line);
                stdout.push('\n');
            }
            if tail.len() >= self.keep {
                tail.pop_front();
            }
            tail.push_back(shown.into_owned());
        }
    }

    /// Standard output whole, and the last lines of both streams as they came.
    pub fn into_parts(self) -> (String, Vec<String>) {
        let (stdout, tail) = self.kept.into_inner().unwrap_or_default();
        (stdout, Vec::from(tail))
    }
}

/// Reads a child's stdout and stderr to their ends into `output`, as bytes: a line that is
/// not UTF-8 is shown with replacement characters, never stops the reading (a child blocked
/// on a full pipe would hang the run).
pub async fn pump<O, E>(stdout: Option<O>, stderr: Option<E>, output: &Output<'_>)
where
    O: tokio::io::AsyncRead + Unpin,
    E: tokio::io::AsyncRead + Unpin,
{
    async fn lines<R: tokio::io::AsyncRead + Unpin>(stream: Option<R>, each: impl Fn(&str)) {
        use tokio::io::AsyncBufReadExt;
        let Some(stream) = stream else { return };
        let mut reader = tokio::io::BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    each(line.trim_end_matches(['\n', '\r']));
                }
            }
        }
    }
    tokio::join!(
        lines(stdout, |l| output.stdout(l)),
        lines(stderr, |l| output.stderr(l))
    );
}
