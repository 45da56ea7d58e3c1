//! The real transport: processes on this machine, and commands over each host's SSH master
//! (`connect`). The lab proves it; unit tests replace it with a scripted fake.

use std::process::Stdio;

use super::connect::{ConnectError, Connection, Connections};
use super::run::RunError;
use super::transport::{pump, Output, Reached, Transport};
use crate::nix::TIE;
use crate::vocab::Machine;

/// This machine and the inventory's hosts, as one run reaches them.
pub struct Machines<'e> {
    pub connections: Connections<'e>,
}

impl Machines<'_> {
    /// A command here, in a process group of its own: a Ctrl-C at the terminal is fleet's to
    /// act on (see `interrupt`), not a signal that kills a build or copy half-way. Nix's own
    /// ssh (for `ssh-ng://` stores) rides the run's masters through `NIX_SSHOPTS`.
    async fn run_here(
        &self,
        argv: &[String],
        output: &Output<'_>,
    ) -> Result<Option<i32>, RunError> {
        let (program, args) = split(argv)?;
        let user_opts = std::env::var("NIX_SSHOPTS").unwrap_or_default();
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .env(
                "NIX_SSHOPTS",
                format!("{user_opts} {}", self.connections.nix_sshopts()).trim(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let spawn_error = |e: std::io::Error| RunError::Spawn {
            program: program.clone(),
            machine: "this machine".into(),
            reason: e.to_string(),
        };
        let mut child = cmd.spawn().map_err(spawn_error)?;
        pump(child.stdout.take(), child.stderr.take(), output).await;
        let status = child.wait().await.map_err(spawn_error)?;
        Ok(status.code())
    }

    /// A command over `conn`; `arg` shell-quotes each argument for the remote shell. The
    /// command is tied to this run (`TIE`): its standard input, held open here until it ends,
    /// is how the host learns that fleet died, and then the command is ended there too.
    async fn run_over(
        conn: &Connection,
        argv: &[String],
        output: &Output<'_>,
        tied: bool,
    ) -> Result<Option<i32>, RunError> {
        let (program, args) = split(argv)?;
        let mut cmd = if tied {
            let mut cmd = conn.session().command("sh");
            cmd.arg("-c").arg(TIE).arg("fleet-tie").args(argv);
            cmd
        } else {
            let mut cmd = conn.session().command(program.as_str());
            cmd.args(args);
            cmd
        };
        cmd.stdin(openssh::Stdio::piped())
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped());
        let mut child = cmd.spawn().await.map_err(|e| RunError::Spawn {
            program: program.clone(),
            machine: conn.host.clone(),
            reason: e.to_string(),
        })?;
        let tie = child.stdin().take();
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

    /// Closes every master.
    pub async fn close(self) {
        self.connections.close().await;
    }
}

fn split(argv: &[String]) -> Result<(&String, &[String]), RunError> {
    argv.split_first()
        .ok_or_else(|| RunError::Resolve("empty command".into()))
}

impl Machines<'_> {
    /// A command here, or over `on`'s shared connection, tied to the run there or not.
    async fn run_on(
        &self,
        on: &Machine,
        argv: &[String],
        output: &Output<'_>,
        tied: bool,
    ) -> Result<Option<i32>, RunError> {
        match on {
            Machine::Local => self.run_here(argv, output).await,
            Machine::Host(host) => {
                let conn = self.connections.get(host).await?;
                Self::run_over(&conn, argv, output, tied).await
            }
        }
    }
}

impl Transport for Machines<'_> {
    async fn run(
        &self,
        on: &Machine,
        argv: &[String],
        output: &Output<'_>,
    ) -> Result<Option<i32>, RunError> {
        self.run_on(on, argv, output, true).await
    }

    async fn run_instant(
        &self,
        on: &Machine,
        argv: &[String],
        output: &Output<'_>,
    ) -> Result<Option<i32>, RunError> {
        self.run_on(on, argv, output, false).await
    }

    async fn run_on_new_login(
        &self,
        host: &str,
        argv: &[String],
        output: &Output<'_>,
    ) -> Result<Option<i32>, RunError> {
        let conn = self.connections.fresh(host).await?;
        let result = Self::run_over(&conn, argv, output, true).await;
        conn.release().await;
        result
    }

    async fn reconnect(&self, host: &str) -> Result<(), ConnectError> {
        self.connections.reconnect(host).await.map(|_| ())
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
