//! Running one invocation: its typed arguments resolved, on this machine or over the host's
//! master connection, with every output line logged and the last ones kept for errors.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::connect::{ConnectError, Connections};
use crate::plan::{Arg, Invocation, Machine};

/// How many output lines an error shows.
pub const TAIL_LINES: usize = 15;

/// A host's system, from the evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct System {
    pub drv: String,
    pub out: String,
}

/// What a finished command left behind.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The exit code; `None` when it was killed by a signal or the connection dropped.
    pub code: Option<i32>,
    pub stdout: String,
    /// The last lines of stdout and stderr, interleaved as they came.
    pub tail: Vec<String>,
    /// The command as run, for messages.
    pub shown: String,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Why a command could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("{0}")]
    Resolve(String),
    #[error("could not start `{program}` on {machine}: {reason}")]
    Spawn {
        program: String,
        machine: String,
        reason: String,
    },
}

/// A log file that several tasks append whole lines to.
#[derive(Clone)]
pub struct Log {
    file: Arc<Mutex<Option<std::fs::File>>>,
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
            .and_then(|_| std::fs::File::create(&path).ok());
        Log {
            file: Arc::new(Mutex::new(file)),
            path,
            label: label.map(String::from),
        }
    }

    pub fn line(&self, text: &str) {
        if let Ok(mut guard) = self.file.lock() {
            if let Some(f) = guard.as_mut() {
                let _ = writeln!(f, "{text}");
            }
        }
    }
}

/// Everything an invocation may need at run time.
pub struct Runner<'a> {
    pub connections: &'a Connections<'a>,
    pub systems: &'a HashMap<String, System>,
    /// Where `-v` shows commands (and `-vv` their output).
    pub echo: Echo<'a>,
    /// Names this run's state directories on hosts.
    pub run_id: &'a str,
}

/// What of a command is shown as it runs: nothing, the command (`-v`), or its output too (`-vv`).
#[derive(Clone, Copy)]
pub struct Echo<'a> {
    pub level: u8,
    pub progress: &'a crate::ui::progress::Progress,
}

impl Runner<'_> {
    /// Runs `inv`, logging to `log`. A non-zero exit is a `Finished` with that code.
    pub async fn run(&self, inv: &Invocation, log: &Log) -> Result<Finished, RunError> {
        self.run_with(inv, log, None).await
    }

    /// Runs `inv` over `conn` instead of the host's shared connection.
    pub async fn run_over(
        &self,
        conn: &super::connect::Connection,
        inv: &Invocation,
        log: &Log,
    ) -> Result<Finished, RunError> {
        self.run_with(inv, log, Some(conn)).await
    }

    async fn run_with(
        &self,
        inv: &Invocation,
        log: &Log,
        over: Option<&super::connect::Connection>,
    ) -> Result<Finished, RunError> {
        let argv = self.resolve(&inv.argv).await?;
        let shown = format!("{}$ {}", inv.on, crate::ui::quote_argv(&argv));
        log.line(&format!("--- {shown}"));
        if self.echo.level >= 1 {
            self.echo.progress.note(log.label.as_deref(), &shown);
        }
        let echo = (self.echo.level >= 2).then_some((self.echo.progress, log.label.as_deref()));
        let Some((program, args)) = argv.split_first() else {
            return Err(RunError::Resolve("empty command".into()));
        };
        let finished = match &inv.on {
            Machine::Local => {
                let mut cmd = tokio::process::Command::new(program);
                cmd.args(args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .kill_on_drop(true)
                    // A group of its own: a Ctrl-C at the terminal is fleet's to act on (see
                    // `interrupt`), not a signal that kills a build or copy half-way.
                    .process_group(0);
                if argv
                    .iter()
                    .any(|a| a.starts_with("ssh-ng://") || a.starts_with("ssh://"))
                {
                    let user_opts = std::env::var("NIX_SSHOPTS").unwrap_or_default();
                    cmd.env(
                        "NIX_SSHOPTS",
                        format!("{user_opts} {}", self.connections.nix_sshopts()).trim(),
                    );
                }
                let mut child = cmd.spawn().map_err(|e| RunError::Spawn {
                    program: program.clone(),
                    machine: "this machine".into(),
                    reason: e.to_string(),
                })?;
                let (stdout, tail) =
                    pump(child.stdout.take(), child.stderr.take(), log, echo).await;
                let status = child.wait().await.map_err(|e| RunError::Spawn {
                    program: program.clone(),
                    machine: "this machine".into(),
                    reason: e.to_string(),
                })?;
                Finished {
                    code: status.code(),
                    stdout,
                    tail,
                    shown,
                }
            }
            Machine::Host(host) => {
                let shared;
                let conn = match over {
                    Some(c) => c,
                    None => {
                        shared = self.connections.get(host).await?;
                        &shared
                    }
                };
                let mut cmd = conn.session.command(program.as_str());
                // `arg` shell-quotes each argument for the remote shell.
                cmd.args(args)
                    .stdin(openssh::Stdio::null())
                    .stdout(openssh::Stdio::piped())
                    .stderr(openssh::Stdio::piped());
                let mut child = cmd.spawn().await.map_err(|e| RunError::Spawn {
                    program: program.clone(),
                    machine: host.clone(),
                    reason: e.to_string(),
                })?;
                let (stdout, tail) =
                    pump(child.stdout().take(), child.stderr().take(), log, echo).await;
                let code = match child.wait().await {
                    Ok(status) => status.code(),
                    Err(e) => {
                        log.line(&format!("--- connection: {e}"));
                        None
                    }
                };
                Finished {
                    code,
                    stdout,
                    tail,
                    shown,
                }
            }
        };
        log.line(&format!(
            "--- exit {}",
            finished
                .code
                .map_or("(none)".to_string(), |c| c.to_string())
        ));
        Ok(finished)
    }

    /// Turns typed arguments into strings: store paths from the evaluation, store URLs from
    /// the connection that answered.
    async fn resolve(&self, argv: &[Arg]) -> Result<Vec<String>, RunError> {
        let mut out = Vec::with_capacity(argv.len());
        for arg in argv {
            out.push(match arg {
                Arg::Lit(s) => s.clone(),
                Arg::Drv { drv } => self.system(drv)?.drv.clone(),
                Arg::Out { out, suffix } => format!("{}{suffix}", self.system(out)?.out),
                Arg::Store { store } => self.connections.get(store).await?.store_url(),
                Arg::Running { running } => self.running_system(running).await?,
                Arg::RunDir { run_dir, file } => {
                    format!("{}/{}-{run_dir}{file}", crate::nix::RUN_DIR, self.run_id)
                }
            });
        }
        Ok(out)
    }

    /// What `host` runs now (`readlink -f /run/current-system` over its connection).
    async fn running_system(&self, host: &str) -> Result<String, RunError> {
        let conn = self.connections.get(host).await?;
        let out = conn
            .session
            .command("readlink")
            .args(["-f", crate::nix::CURRENT_SYSTEM])
            .output()
            .await
            .map_err(|e| RunError::Resolve(format!("reading what {host} runs: {e}")))?;
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if path.starts_with("/nix/store/") && !path.contains(char::is_whitespace) {
            Ok(path)
        } else {
            Err(RunError::Resolve(format!(
                "{host} does not say what it runs"
            )))
        }
    }

    fn system(&self, host: &str) -> Result<&System, RunError> {
        self.systems
            .get(host)
            .ok_or_else(|| RunError::Resolve(format!("the evaluation gave no system for {host}")))
    }
}

/// Reads stdout and stderr to their ends, logging each line; returns stdout and the last lines.
async fn pump<O, E>(
    stdout: Option<O>,
    stderr: Option<E>,
    log: &Log,
    echo: Option<(&crate::ui::progress::Progress, Option<&str>)>,
) -> (String, Vec<String>)
where
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    let tail = Mutex::new(VecDeque::with_capacity(TAIL_LINES));
    let keep = |line: &str| {
        log.line(line);
        if let Some((progress, label)) = echo {
            progress.note(label, &format!("| {line}"));
        }
        if let Ok(mut t) = tail.lock() {
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(line.to_string());
        }
    };
    let read_out = async {
        let mut text = String::new();
        if let Some(s) = stdout {
            let mut lines = BufReader::new(s).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                keep(&line);
                text.push_str(&line);
                text.push('\n');
            }
        }
        text
    };
    let read_err = async {
        if let Some(s) = stderr {
            let mut lines = BufReader::new(s).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                keep(&line);
            }
        }
    };
    let (text, ()) = tokio::join!(read_out, read_err);
    let tail = tail.into_inner().map(Vec::from).unwrap_or_default();
    (text, tail)
}
