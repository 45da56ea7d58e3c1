//! Running one planned invocation: its typed arguments resolved, sudo's words put first, run
//! through the transport, with every output line logged and the last ones kept for errors.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::evaluations::System;
use super::events::Events;
use super::log::Log;
use super::transport::{How, Output, RunError, Transport, TAIL_LINES};
use crate::plan::{Arg, Invocation, Machine};
use crate::vocab::{quote_argv, Sudo};

/// What the plan's `prepare` steps learnt, for placeholders to resolve to.
#[derive(Debug, Default)]
pub struct Known {
    /// Each host's system (or why there is none), set as its evaluation ends.
    pub evaluations: super::evaluations::Evaluations,
    /// What hosts run, as `read-running-of` steps read it.
    pub running: HashMap<String, String>,
    /// Why best-effort steps told nothing, for what needed them to say it is unknown.
    pub missed: Vec<String>,
    /// The flake's locked hash (`ReadFlakeHash`), which keys the evaluation cache.
    pub flake_hash: Option<String>,
    /// The flake's store path on the machine that evaluates (`ArchiveFlake`).
    pub archived: OnceLock<String>,
    /// The `.drv` paths the evaluation cache holds, per machine that has them, to ask it
    /// which it still has (`Arg::Cached`).
    pub cached: Mutex<HashMap<String, Vec<String>>>,
}

impl Known {
    /// The out path the evaluation gave `host`.
    pub fn out(&self, host: &str) -> Option<&str> {
        self.evaluations.system(host).map(|s| s.out.as_str())
    }

    /// The derivation the evaluation gave `host`.
    pub fn drv(&self, host: &str) -> Option<&str> {
        self.evaluations.system(host).map(|s| s.drv.as_str())
    }
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
    /// It printed nothing for this many seconds and was stopped (the inactivity timeout).
    pub quiet_for: Option<u64>,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// It ended with no exit code and fleet did not stop it: its connection dropped, or it
    /// was killed where it ran.
    pub fn cut_off(&self) -> bool {
        self.code.is_none() && self.quiet_for.is_none()
    }
}

/// Everything an invocation may need at run time.
pub struct Runner<'a, T> {
    pub transport: &'a T,
    pub known: &'a Known,
    /// `-v`: show commands; `-vv`: and their output.
    pub verbose: u8,
    pub events: &'a dyn Events,
    /// Names this run's state directories on hosts.
    pub run_id: &'a str,
    /// A command that may run long (a build, a copy, an activation, anything not bounded by
    /// its own limit) is stopped after printing nothing for this long (`None`: never).
    pub quiet_limit: Option<std::time::Duration>,
    /// `-L`: builds' output is shown as it comes, each line with its host, as `-vv` shows
    /// every command's.
    pub print_build_logs: bool,
}

impl<T: Transport> Runner<'_, T> {
    /// Runs `inv`, logging to `log`. A non-zero exit is a `Finished` with that code.
    pub async fn run(&self, inv: &Invocation, log: &Log) -> Result<Finished, RunError> {
        self.run_with(inv, log, false, TAIL_LINES, false).await
    }

    /// `run` for a build: its output shown as it comes with `-L`.
    pub async fn run_build(&self, inv: &Invocation, log: &Log) -> Result<Finished, RunError> {
        self.run_with(inv, log, false, TAIL_LINES, self.print_build_logs)
            .await
    }

    /// `run`, keeping all its output (up to `EXEC_LINES`) in `tail`: `exec`'s command, whose
    /// output is what the user asked for.
    pub async fn run_keeping_output(
        &self,
        inv: &Invocation,
        log: &Log,
    ) -> Result<Finished, RunError> {
        self.run_with(inv, log, false, super::transport::EXEC_LINES, false)
            .await
    }

    /// Runs `inv` on its host over a login of its own, not the shared connection.
    pub async fn run_on_new_login(
        &self,
        inv: &Invocation,
        log: &Log,
    ) -> Result<Finished, RunError> {
        self.run_with(inv, log, true, TAIL_LINES, false).await
    }

    async fn run_with(
        &self,
        inv: &Invocation,
        log: &Log,
        new_login: bool,
        keep: usize,
        show_output: bool,
    ) -> Result<Finished, RunError> {
        let argv = self.resolve_on(&inv.full_argv(), &inv.on).await?;
        let shown = format!("{}$ {}", inv.on, quote_argv(&argv));
        log.line(&format!("--- {shown}"));
        if self.verbose >= 1 {
            self.events.note(log.label.as_deref(), &shown);
        }
        let shown_to = (self.verbose >= 2 || show_output).then_some(self.events);
        let mut output = Output::keeping(log, shown_to, keep);
        // Nix's progress is followed for a host's commands; `exec`'s output (all kept) is the
        // user's own, shown as it came.
        if let (Some(host), true) = (log.label.as_deref(), keep <= TAIL_LINES) {
            let who = match &inv.on {
                Machine::Host(h) => h.clone(),
                Machine::Local => "this machine".to_string(),
            };
            output = output.following_nix(self.events, host, who);
        }
        let how = How {
            new_login,
            instant: inv.instant,
            sudo_password: inv.sudo == Some(Sudo::Password),
        };
        let running = self.transport.run(&inv.on, &argv, how, &output);
        let limit = self
            .quiet_limit
            .filter(|_| !inv.instant && inv.wait_limit().is_none());
        let (code, quiet_for) = match limit {
            None => (running.await?, None),
            Some(limit) => {
                // Dropping the command ends it: here its process (kill_on_drop), on a host
                // its channel, and the tie there ends the command.
                let watch = async {
                    loop {
                        let quiet = output.quiet_for();
                        if quiet >= limit {
                            return quiet.as_secs();
                        }
                        tokio::time::sleep((limit - quiet).max(Duration::from_millis(50))).await;
                    }
                };
                tokio::select! {
                    code = running => (code?, None),
                    secs = watch => (None, Some(secs)),
                }
            }
        };
        match quiet_for {
            Some(secs) => log.line(&format!(
                "--- stopped: no output for {secs} s (the inactivity timeout)"
            )),
            None => log.line(&format!(
                "--- exit {}",
                code.map_or("(none)".to_string(), |c| c.to_string())
            )),
        }
        let (stdout, tail) = output.into_parts();
        Ok(Finished {
            code,
            stdout,
            tail,
            shown,
            quiet_for,
        })
    }

    /// Turns typed arguments into strings, for a command that runs here (messages).
    pub async fn resolve(&self, argv: &[Arg]) -> Result<Vec<String>, RunError> {
        self.resolve_on(argv, &Machine::Local).await
    }

    /// Turns typed arguments into strings for a command that runs on `on`: store paths from
    /// the evaluation, store URLs from the connection that answered.
    async fn resolve_on(&self, argv: &[Arg], on: &Machine) -> Result<Vec<String>, RunError> {
        let mut out = Vec::with_capacity(argv.len());
        for arg in argv {
            out.push(match arg {
                Arg::Lit(s) => s.clone(),
                Arg::Drv { drv } => self.system(drv)?.drv.clone(),
                Arg::Out { out, suffix } => format!("{}{suffix}", self.system(out)?.out),
                Arg::Store { store } => self.transport.store_url(store, on).await?,
                Arg::Running { running } => {
                    self.known.running.get(running).cloned().ok_or_else(|| {
                        RunError::Resolve(format!("what {running} runs could not be read"))
                    })?
                }
                Arg::RunDir { run_dir, file } => {
                    format!(
                        "{}/{}{file}",
                        crate::nix::RUN_DIR,
                        run_dir_name(self.run_id, run_dir)
                    )
                }
                Arg::SecondsLeft { seconds_left } => seconds_left.to_string(),
                Arg::Archived { archived } => {
                    let path = self.known.archived.get().ok_or_else(|| {
                        RunError::Resolve("the flake was not sent to where it is evaluated".into())
                    })?;
                    format!("path:{path}{archived}")
                }
                Arg::Evaluated { evaluated } => {
                    match self.known.evaluations.evaluated_on(evaluated) {
                        Some(m) => self.transport.store_url(&m, on).await?,
                        None => "auto".to_string(),
                    }
                }
                Arg::Cached { cached } => {
                    let paths = self
                        .known
                        .cached
                        .lock()
                        .ok()
                        .and_then(|c| c.get(cached).cloned())
                        .unwrap_or_default();
                    out.extend(paths);
                    continue;
                }
            });
        }
        Ok(out)
    }

    pub fn system(&self, host: &str) -> Result<&System, RunError> {
        self.known
            .evaluations
            .system(host)
            .ok_or_else(|| RunError::Resolve(format!("the evaluation gave no system for {host}")))
    }
}

/// The name of a run's state directory for `host` on it: `RUN-HOST`, with a long host name
/// cut and a hash of it added, so the name (and the systemd unit names made from it) stays
/// far below the file system's 255 bytes whatever the inventory calls the host.
pub fn run_dir_name(run_id: &str, host: &str) -> String {
    const KEEP: usize = 48;
    if host.len() <= KEEP {
        return format!("{run_id}-{host}");
    }
    // FNV-1a: stable across runs and machines, which the name must be within one run only.
    let hash = host.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let cut: String = host.chars().take(KEEP).collect();
    format!("{run_id}-{cut}-{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_directory_names_stay_short() {
        assert_eq!(run_dir_name("R", "razer"), "R-razer");
        let long = "h".repeat(240);
        let name = run_dir_name("2026-11-25T16-00-00Z-123", &long);
        assert!(name.len() < 100, "{name}");
        assert_ne!(
            name,
            run_dir_name("2026-11-25T16-00-00Z-123", &"h".repeat(239))
        );
    }
}
