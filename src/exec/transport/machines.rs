//! The real transport: processes on this machine, and commands over each host's SSH master
//! (`connect`). The lab proves it; unit tests replace it with a scripted fake.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use super::connect::{ConnectError, Connection, Connections};
use super::sudo::{Checked, Passwords, Standing};
use super::RunError;
use super::{pump, How, Output, Reached, Transport};
use crate::exec::events::Events;
use crate::exec::log::Log;
use crate::nix::TIE;
use crate::secret::Secret;
use crate::vocab::{Machine, Sudo};

/// This machine and the inventory's hosts, as one run reaches them.
pub struct Machines<'e> {
    pub connections: Connections<'e>,
    /// The run's sudo password, and what each host made of it.
    pub passwords: Passwords,
    /// Who a host's own password question goes to.
    pub events: &'e dyn Events,
}

impl Machines<'_> {
    /// A command here, in a process group of its own: a Ctrl-C at the terminal is fleet's to
    /// act on (see `interrupt`), not a signal that kills a build or copy half-way. Nix's own
    /// ssh (for `ssh-ng://` stores) rides the run's masters through `NIX_SSHOPTS`. Tied to
    /// the run as a host's commands are (`TIE`, its input a pipe held here): a fleet that is
    /// killed, even by SIGKILL, leaves no evaluation or copy running behind it.
    async fn run_here(
        &self,
        argv: &[String],
        output: &Output<'_>,
    ) -> Result<Option<i32>, RunError> {
        let (program, _) = split(argv)?;
        let spawn_error = |e: std::io::Error| RunError::Spawn {
            program: program.clone(),
            machine: "this machine".into(),
            reason: e.to_string(),
        };
        // The shell would say "not found" with exit 127; a missing program is said as such.
        if !program.contains('/') && which::which(program).is_err() {
            // ENOENT: as the spawn itself would have said it.
            return Err(spawn_error(std::io::Error::from_raw_os_error(2)));
        }
        let user_opts = std::env::var("NIX_SSHOPTS").unwrap_or_default();
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(TIE.as_str())
            .arg("fleet-tie")
            .args(argv)
            .env(
                "NIX_SSHOPTS",
                format!("{user_opts} {}", self.connections.nix_sshopts()).trim(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let mut child = cmd.spawn().map_err(spawn_error)?;
        let tie = child.stdin.take();
        pump(child.stdout.take(), child.stderr.take(), output).await;
        let status = child.wait().await.map_err(spawn_error)?;
        drop(tie);
        Ok(status.code())
    }

    /// A command over `conn`; `arg` shell-quotes each argument for the remote shell. A tied
    /// command (`TIE`) has its standard input held open here until it ends: that is how the
    /// host learns that fleet died, and then the command is ended there too. `password` is
    /// written first on that input, for sudo (`TIE -S`).
    async fn run_over(
        conn: &Connection,
        argv: &[String],
        output: &Output<'_>,
        tied: bool,
        password: Option<&Secret>,
    ) -> Result<Option<i32>, RunError> {
        let (program, args) = split(argv)?;
        let mut cmd = if tied || password.is_some() {
            let mut cmd = conn.session().command("sh");
            cmd.arg("-c").arg(TIE.as_str()).arg("fleet-tie");
            if password.is_some() {
                cmd.arg("-S");
            }
            cmd.args(argv);
            cmd
        } else {
            let mut cmd = conn.session().command(program.as_str());
            cmd.args(args);
            cmd
        };
        cmd.stdin(openssh::Stdio::piped())
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped());
        let spawn_error = |reason: String| RunError::Spawn {
            program: program.clone(),
            machine: conn.host.clone(),
            reason,
        };
        let mut child = cmd.spawn().await.map_err(|e| spawn_error(e.to_string()))?;
        let mut tie = child.stdin().take();
        if let (Some(secret), Some(stdin)) = (password, tie.as_mut()) {
            let line = secret.line();
            let given = match stdin.write_all(&line).await {
                Ok(()) => stdin.flush().await,
                Err(e) => Err(e),
            };
            given.map_err(|e| spawn_error(format!("giving sudo its password: {e}")))?;
        }
        pump(child.stdout().take(), child.stderr().take(), output).await;
        let ended = child.wait().await;
        drop(tie);
        Ok(match ended {
            Ok(status) => status.code(),
            Err(e) => {
                output.stderr(&format!("--- connection: {e}"));
                None
            }
        })
    }

    /// A command over `conn`, with the run's sudo password when `how` says it wants it.
    async fn run_with(
        &self,
        conn: &Connection,
        argv: &[String],
        how: How,
        output: &Output<'_>,
    ) -> Result<Option<i32>, RunError> {
        let password = match how.sudo_password {
            true => self.password_for(conn, output.log()).await?,
            false => None,
        };
        Self::run_over(conn, argv, output, !how.instant, password.as_ref()).await
    }

    /// The password the sudo of `conn`'s host takes (`None`: it wants none, and is never
    /// given it), learnt over `conn` the first time (see `sudo`).
    async fn password_for(&self, conn: &Connection, log: &Log) -> Result<Option<Secret>, RunError> {
        let host = conn.host.as_str();
        let wants = async || {
            // `-k`: as the commands' own `sudo -k -S`, cached credentials do not count.
            let argv: Vec<String> = ["sudo", "-n", "-k", "true"].map(String::from).to_vec();
            log.line(&format!(
                "--- {host}$ (does sudo want a password?) sudo -n -k true"
            ));
            let output = Output::new(log, None);
            let code = Self::run_over(conn, &argv, &output, false, None)
                .await
                .unwrap_or(None);
            code != Some(0)
        };
        let check = async |secret: &Secret| {
            let argv: Vec<String> = Sudo::Password
                .prefix()
                .iter()
                .chain(&["true"])
                .map(|s| s.to_string())
                .collect();
            log.line(&format!(
                "--- {host}$ (checking the sudo password) sudo -k -S -- true"
            ));
            let output = Output::new(log, None);
            let code = Self::run_over(conn, &argv, &output, false, Some(secret))
                .await
                .unwrap_or(None);
            let (_, tail) = output.into_parts();
            Checked::from(code, &tail)
        };
        let who = match &conn.user {
            Some(user) => format!("{user}@{host}"),
            None => host.to_string(),
        };
        let ask = async || {
            let prompt =
                format!("[fleet] sudo on {host} refused that password; sudo password for {who}: ");
            self.events.ask_secret(&prompt).await.ok().flatten()
        };
        let standing: Standing = self.passwords.for_host(host, wants, check, ask).await;
        standing.map_err(RunError::Sudo)
    }

    /// Closes every master.
    pub async fn close(self) {
        self.connections.close().await;
    }
}

fn split(argv: &[String]) -> Result<(&String, &[String]), RunError> {
    argv.split_first()
        .ok_or_else(|| RunError::Resolve("empty command".into()))
}

impl Transport for Machines<'_> {
    async fn run(
        &self,
        on: &Machine,
        argv: &[String],
        how: How,
        output: &Output<'_>,
    ) -> Result<Option<i32>, RunError> {
        let Machine::Host(host) = on else {
            return self.run_here(argv, output).await;
        };
        if how.new_login {
            let conn = self.connections.fresh(host).await?;
            let result = self.run_with(&conn, argv, how, output).await;
            conn.release().await;
            result
        } else {
            let conn = self.connections.get(host).await?;
            self.run_with(&conn, argv, how, output).await
        }
    }

    async fn reconnect(&self, host: &str) -> Result<(), ConnectError> {
        self.connections.reconnect(host).await.map(|_| ())
    }

    async fn warm(&self, host: &str) {
        let _ = self.connections.get(host).await;
    }

    async fn store_url(&self, host: &str, from: &Machine) -> Result<String, ConnectError> {
        match from {
            Machine::Local => Ok(self.connections.get(host).await?.store_url()),
            Machine::Host(_) => self.connections.store_url_elsewhere(host).await,
        }
    }

    fn reached(&self, host: &str) -> Option<Reached> {
        self.connections.opened(host).map(|c| Reached {
            address: c.address.clone(),
            woken: c.woken.clone(),
        })
    }
}
