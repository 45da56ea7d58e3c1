//! SSH connections: one ControlMaster per host per run, opened on first use and shared by every
//! step (and every other host's steps) that needs that host. Local `nix copy` to `ssh-ng://`
//! rides the same master, so a run logs in to each host once, and not at all when an earlier
//! run's master is kept warm (`master`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use openssh::Session;
use tokio::sync::Mutex;

use super::master::{self, Dial, Master};
use crate::exec::events::Events;
use crate::inventory::{Host, Inventory};

/// Where each run's directory of SSH control sockets is made.
const CONTROL_ROOT: &str = "/tmp";

/// How long a woken host may take to boot and answer SSH.
pub const WAKE_WAIT: Duration = Duration::from_secs(180);

pub use crate::vocab::Waking;

/// An open connection to a host.
pub struct Connection {
    pub host: String,
    /// The address that answered.
    pub address: String,
    /// The user ssh logs in as (from the inventory, or the ssh config).
    pub user: Option<String>,
    /// The master and its keeper (`release` at the end of the run).
    master: Master,
    /// How the host was woken to answer, if it was.
    pub woken: Option<String>,
}

impl Connection {
    /// The session commands run over.
    pub fn session(&self) -> &Session {
        &self.master.session
    }

    /// Ends this run's use of the connection (see `Connections::close`).
    pub async fn release(self) {
        self.master.release().await;
    }

    /// The Nix store URL for this host, as seen from here.
    pub fn store_url(&self) -> String {
        crate::nix::ssh_ng_store(self.user.as_deref(), &self.address)
    }
}

/// Why a host could not be reached: each address tried, and what it said.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{host} is unreachable: {}", self.reasons())]
pub struct ConnectError {
    pub host: String,
    pub attempts: Vec<(String, String)>,
}

impl ConnectError {
    /// What each address said, for a line that names the host already.
    pub fn reasons(&self) -> String {
        self.attempts
            .iter()
            .map(|(a, e)| format!("{a}: {e}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A host's connection: not tried yet, open, or why it could not be opened.
type Slot = Mutex<Option<Result<Arc<Connection>, ConnectError>>>;

/// The run's connections, by host name.
pub struct Connections<'p> {
    ssh_config: Option<PathBuf>,
    waking: Waking,
    /// Where a wake and the wait for it are told.
    events: Option<&'p dyn Events>,
    /// The run's own directory: per address, a link to its master's socket for
    /// `NIX_SSHOPTS`; and the masters that are not kept.
    control_dir: tempfile::TempDir,
    /// Where masters are kept between runs, and for how long once idle (`None`: not kept).
    kept: Option<(PathBuf, Duration)>,
    /// Where `ssh -G`'s answers are remembered between runs, if they can be.
    remembered: Option<super::ssh_config::Remembered>,
    /// Names the confirmation logins' sockets apart.
    fresh: std::sync::atomic::AtomicUsize,
    hosts: HashMap<String, Host>,
    cells: HashMap<String, Slot>,
}

impl<'p> Connections<'p> {
    pub fn new(
        inv: &Inventory,
        keep_connections: u64,
        waking: Waking,
        events: Option<&'p dyn Events>,
    ) -> std::io::Result<Connections<'p>> {
        reap_dead_runs(Path::new(CONTROL_ROOT));
        // Short path: ssh refuses control sockets with paths over ~100 bytes. The process id
        // in the name lets a later run tell a directory whose run died (see `reap_dead_runs`).
        let control_dir = tempfile::Builder::new()
            .prefix(&format!("fleet-{}-", std::process::id()))
            .tempdir_in(CONTROL_ROOT)?;
        let kept = match keep_connections {
            0 => None,
            secs => match master::kept_dir() {
                Ok(dir) => Some((dir, Duration::from_secs(secs))),
                Err(why) => {
                    if let Some(e) = events {
                        e.note(None, &why);
                    }
                    None
                }
            },
        };
        if let Some(cfg) = &inv.ssh_config {
            link_ssh_config(control_dir.path(), cfg)?;
        }
        Ok(Connections {
            remembered: super::ssh_config::Remembered::new(inv.ssh_config.as_deref()),
            ssh_config: inv.ssh_config.clone(),
            waking,
            events,
            control_dir,
            kept,
            fresh: std::sync::atomic::AtomicUsize::new(0),
            hosts: inv
                .hosts
                .iter()
                .map(|h| (h.name.clone(), h.clone()))
                .collect(),
            cells: inv
                .hosts
                .iter()
                .map(|h| (h.name.clone(), Mutex::new(None)))
                .collect(),
        })
    }

    fn lookup(&self, host: &str) -> Result<(&Slot, &Host), ConnectError> {
        match (self.cells.get(host), self.hosts.get(host)) {
            (Some(cell), Some(h)) => Ok((cell, h)),
            _ => Err(ConnectError {
                host: host.into(),
                attempts: vec![("-".into(), "not in the inventory".into())],
            }),
        }
    }

    /// The connection to `host`, opened on first use (and only once: a host that could not be
    /// reached is not tried again in the same run). Only here is a sleeping host woken: a
    /// reconnection or a confirmation login finds a host that was up a moment ago.
    pub async fn get(&self, host: &str) -> Result<Arc<Connection>, ConnectError> {
        let (cell, h) = self.lookup(host)?;
        let mut slot = cell.lock().await;
        if let Some(r) = slot.as_ref() {
            return r.clone();
        }
        let r = match self.connect(h, true).await {
            Err(failed) => self.wake_and_wait(h, failed).await,
            opened => opened,
        }
        .map(Arc::new);
        *slot = Some(r.clone());
        r
    }

    /// Replaces the connection to `host` with a new one (after it dropped).
    pub async fn reconnect(&self, host: &str) -> Result<Arc<Connection>, ConnectError> {
        let (cell, h) = self.lookup(host)?;
        let mut slot = cell.lock().await;
        let r = self.connect(h, true).await.map(Arc::new);
        *slot = Some(r.clone());
        r
    }

    /// A connection of its own, not shared: a new login, as magic rollback's confirmation
    /// needs (proof that someone can still log in). Close it after use.
    pub async fn fresh(&self, host: &str) -> Result<Connection, ConnectError> {
        let (_, h) = self.lookup(host)?;
        self.connect(h, false).await
    }

    /// The connection if it was opened already (never opens one).
    pub fn opened(&self, host: &str) -> Option<Arc<Connection>> {
        let cell = self.cells.get(host)?;
        let slot = cell.try_lock().ok()?;
        slot.as_ref()?.as_ref().ok().cloned()
    }

    async fn connect(&self, host: &Host, shared: bool) -> Result<Connection, ConnectError> {
        self.try_addresses(host, shared)
            .await
            .map_err(|attempts| ConnectError {
                host: host.name.clone(),
                attempts,
            })
    }

    /// `host` answered on none of its addresses (`failed`): if it looks asleep and this run
    /// may wake it, its magic packet goes out and fleet waits for it to answer.
    async fn wake_and_wait(
        &self,
        host: &Host,
        failed: ConnectError,
    ) -> Result<Connection, ConnectError> {
        let mut attempts = failed.attempts;
        // Only a host that looks down is woken: a refused key or an unknown host key is
        // reported at once, not after a wait.
        let down = attempts.iter().all(|(_, e)| e.ends_with(LOOKS_DOWN));
        let wake = host.wake.as_ref().filter(|w| {
            down && match self.waking {
                Waking::Never => false,
                Waking::OnDemand => w.on_demand,
                Waking::Always => true,
            }
        });
        if let Some(wake) = wake {
            match super::wake::send(wake).await {
                Ok(sent) => {
                    let note = |text: &str| {
                        if let Some(p) = self.events {
                            p.note(Some(&host.name), text);
                        }
                    };
                    note(&format!(
                        "asleep: {sent}; waiting up to {} s for it to answer",
                        WAKE_WAIT.as_secs()
                    ));
                    let started = std::time::Instant::now();
                    while started.elapsed() < WAKE_WAIT {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        if let Ok(mut conn) = self.try_addresses(host, true).await {
                            let woken = format!(
                                "woken by wake-on-LAN; answered after {} s",
                                started.elapsed().as_secs()
                            );
                            note(&woken);
                            conn.woken = Some(woken);
                            return Ok(conn);
                        }
                    }
                    attempts.push((
                        "wake-on-LAN".into(),
                        format!(
                            "{sent}, but it did not answer within {} s",
                            WAKE_WAIT.as_secs()
                        ),
                    ));
                }
                Err(e) => attempts.push(("wake-on-LAN".into(), e)),
            }
        }
        Err(ConnectError {
            host: host.name.clone(),
            attempts,
        })
    }

    /// Each address in order; the first that answers, or what each said.
    async fn try_addresses(
        &self,
        host: &Host,
        shared: bool,
    ) -> Result<Connection, Vec<(String, String)>> {
        let mut attempts = Vec::new();
        for address in &host.addresses {
            match self.connect_address(host, address, shared).await {
                Ok(conn) => return Ok(conn),
                Err(e) => attempts.push((address.clone(), e)),
            }
        }
        Err(attempts)
    }

    async fn connect_address(
        &self,
        host: &Host,
        address: &str,
        shared: bool,
    ) -> Result<Connection, String> {
        let dial = self.dial(host, address).await;
        let (socket, persist, reuse) = match (&self.kept, shared) {
            (Some((dir, persist)), true) => (dir.join(dial.socket_name()), *persist, true),
            (_, true) => (
                self.control_dir.path().join(dial.socket_name()),
                master::OWN_LINGER,
                false,
            ),
            (_, false) => {
                let n = self
                    .fresh
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                (
                    self.control_dir.path().join(format!("login-{n}")),
                    master::OWN_LINGER,
                    false,
                )
            }
        };
        let opened = master::open(&dial, &socket, persist, reuse, shared)
            .await
            .map_err(|said| describe_ssh_error(&said))?;
        if reuse {
            master::label(&socket, &host.name, address);
        }
        if shared {
            let link = self.control_dir.path().join(address);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&socket, &link)
                .map_err(|e| format!("linking the control socket: {e}"))?;
        }
        Ok(Connection {
            host: host.name.clone(),
            address: address.into(),
            user: host.user.clone(),
            master: opened,
            woken: None,
        })
    }

    /// How ssh reaches `address` of `host`: `ssh -G` with the inventory's user, port and
    /// config. "ask" becomes strict: there is no one to ask. Only a config that says so
    /// accepts new or changed keys.
    async fn dial(&self, host: &Host, address: &str) -> Dial {
        let view = super::ssh_config::view_async(
            self.ssh_config.as_deref(),
            host,
            address,
            self.remembered.as_ref(),
        )
        .await;
        Dial {
            address: address.to_string(),
            user: host.user.clone(),
            port: host.port,
            config: self.ssh_config.clone(),
            host_keys: match view.strict_host_key_checking.as_str() {
                "accept-new" => "accept-new",
                "no" | "off" | "false" => "no",
                _ => "yes",
            },
            fingerprint: view.fingerprint,
        }
    }

    /// `host`'s store URL for a command that runs on another machine, where this machine's ssh
    /// config (and its aliases) does not apply: the host name ssh resolves here, with the
    /// inventory's user (the other machine's ssh picks its own otherwise, as before).
    pub async fn store_url_elsewhere(&self, host: &str) -> Result<String, ConnectError> {
        let conn = self.get(host).await?;
        let (_, h) = self.lookup(host)?;
        let view = super::ssh_config::view_async(
            self.ssh_config.as_deref(),
            h,
            &conn.address,
            self.remembered.as_ref(),
        )
        .await;
        Ok(crate::nix::ssh_ng_store(
            conn.user.as_deref(),
            &view.hostname,
        ))
    }

    /// `NIX_SSHOPTS` that make nix's own ssh reuse the masters: `%n` is the address as given,
    /// which names the link to that address's master socket. Nix splits `NIX_SSHOPTS` on
    /// white space (2.8) or as a shell would (newer), so the ssh config is named by its link
    /// in the run's own directory (see `link_ssh_config`), whose path holds neither: the
    /// user's path, whatever it holds, never becomes words of its own.
    pub fn nix_sshopts(&self) -> String {
        let mut opts = Vec::new();
        if self.ssh_config.is_some() {
            opts.push(format!(
                "-F {}",
                self.control_dir.path().join(SSH_CONFIG_LINK).display()
            ));
        }
        opts.push(format!(
            "-o ControlMaster=no -o ControlPath={}/%n -o BatchMode=yes",
            self.control_dir.path().display()
        ));
        opts.join(" ")
    }

    /// Ends the run's use of every master: a kept one lives out its window, the run's own
    /// are stopped.
    pub async fn close(self) {
        for (_, cell) in self.cells {
            if let Some(Ok(conn)) = cell.into_inner() {
                if let Ok(conn) = Arc::try_unwrap(conn) {
                    conn.release().await;
                }
            }
        }
    }
}

/// The name of the link to the inventory's ssh config in a run's directory: `=` is in no
/// address, so no master's link can take the name.
const SSH_CONFIG_LINK: &str = "=ssh_config";

/// Links `cfg` (made absolute) into the run's directory as `SSH_CONFIG_LINK`.
fn link_ssh_config(dir: &Path, cfg: &Path) -> std::io::Result<()> {
    let target = std::path::absolute(cfg)?;
    std::os::unix::fs::symlink(target, dir.join(SSH_CONFIG_LINK))
}

/// A run killed before it could close its masters leaves them running (`ControlPersist`) and
/// its directory behind: for each `fleet-PID-*` directory of this user whose process is gone,
/// every master in it is told to exit, and the directory is removed.
fn reap_dead_runs(root: &Path) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("fleet-")
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        let ours = entry
            .metadata()
            .is_ok_and(|m| Some(m.uid()) == me && m.is_dir());
        if !ours || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        // The masters' sockets are in the directory itself (beside the links for NIX_SSHOPTS,
        // which are not sockets).
        let sockets = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_socket()));
        for socket in sockets {
            let _ = master::exit_command(&socket.path()).status();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// How an error that says the host is not there (asleep, off, elsewhere) ends.
const LOOKS_DOWN: &str = " (is the host up and on this network?)";

/// What ssh said when it could not log in, with what to do about it.
fn describe_ssh_error(said: &str) -> String {
    let hint = if said.contains("Host key verification failed") {
        " (the host key is unknown or changed: check it, then add it to known_hosts)"
    } else if said.contains("Permission denied") {
        " (the key was refused: is your key in the host's authorized_keys?)"
    } else if said.contains("timed out") || said.contains("No route") || said.contains("refused") {
        LOOKS_DOWN
    } else {
        ""
    };
    format!("{said}{hint}")
}
