//! SSH masters: where they live, how long, and whether one left by an earlier run may serve
//! this one.
//!
//! - **Kept masters** (`[fleet] keep_connections`, default 300 s) live in the user's private
//!   runtime directory (`$XDG_RUNTIME_DIR/fleet`, else `/tmp/fleet-connections-UID`; mode 0700,
//!   owned by the user, or fleet keeps none). Each is named by a fingerprint of everything ssh
//!   would do to reach the address (`ssh -G`, with the inventory's user, port and config): a
//!   changed ssh config or address is another name, so a stale master is never reused.
//! - A master of this run's own (keeping off, or a confirmation login) lives in the run's
//!   directory and is stopped when the run ends.
//! - Every master has a finite lifetime: `ControlPersist` ends it once no session has used it
//!   for the window. While a run uses a host, a **keeper** session (a `cat` on the host,
//!   reading from fleet) holds its master open; when fleet ends, or dies, the keeper ends,
//!   and the window starts.
//! - A master found on disk is reused only after the keeper's first line came back over it
//!   within a few seconds: a host that went away (asleep, off the network) is not reused.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use openssh::Session;
use tokio::io::AsyncBufReadExt;

/// How long one address may take to answer before the next is tried.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a master of the run's own lingers after a run that was killed (its keeper gone):
/// long enough for the run (its keeper holds it), short once the run is gone.
pub const OWN_LINGER: Duration = Duration::from_secs(10);
/// How long a kept master has to answer through its keeper before it counts as gone.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the first session over a new login may take to start: on a systemd host the
/// first login of a user starts their user manager (`user@UID.service`) first.
const FIRST_SESSION_TIMEOUT: Duration = Duration::from_secs(15);
/// What the keeper says once it runs on the host.
const READY: &str = "fleet-keeper-ready";
/// The keeper, on the host: one line, then it waits for fleet's end of the channel.
const KEEPER: &str = "echo fleet-keeper-ready && exec cat >/dev/null";

/// How fleet reaches one address, as ssh would: the master's options and its fingerprint.
#[derive(Debug, Clone)]
pub struct Dial {
    pub address: String,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub config: Option<PathBuf>,
    /// `StrictHostKeyChecking` to pass: `yes`, `accept-new` or `no`.
    pub host_keys: &'static str,
    /// A fingerprint of `ssh -G`'s whole answer for this address.
    pub fingerprint: u64,
}

impl Dial {
    /// The master's socket name: the fingerprint, and fleet's version (another fleet may
    /// speak to its masters differently).
    pub fn socket_name(&self) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        env!("CARGO_PKG_VERSION").hash(&mut h);
        self.fingerprint.hash(&mut h);
        format!("{:016x}", h.finish())
    }

    fn ssh_options(&self, cmd: &mut tokio::process::Command) {
        if let Some(cfg) = &self.config {
            cmd.arg("-F").arg(cfg);
        }
        if let Some(user) = &self.user {
            cmd.arg("-l").arg(user);
        }
        if let Some(port) = self.port {
            cmd.arg("-p").arg(port.to_string());
        }
    }
}

/// The user's private directory for kept masters, made if need be: `Err` says why none can
/// be used (then masters are the run's own).
pub fn kept_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .map_err(|e| format!("reading this process's user: {e}"))?;
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(runtime) if runtime.is_absolute() && runtime.is_dir() => runtime.join("fleet"),
        _ => PathBuf::from(format!("/tmp/fleet-connections-{uid}")),
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("creating {}: {e}", dir.display())),
    }
    let meta = std::fs::symlink_metadata(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() || meta.uid() != uid {
        return Err(format!(
            "{} is not a directory of yours: connections are not kept",
            dir.display()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("making {} private: {e}", dir.display()))?;
    }
    Ok(dir)
}

/// The keeper's session on the host.
type Keeper = openssh::Child<Arc<Session>>;

/// A master in use by this run: its session, and the keeper that holds it open.
pub struct Master {
    pub session: Arc<Session>,
    keeper: Option<Keeper>,
    /// Whether it outlives the run (kept) or is stopped at its end.
    kept: bool,
}

impl Master {
    /// Ends the keeper; a kept master then lives out its window, another one is stopped.
    pub async fn release(mut self) {
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.disconnect().await;
        }
        if !self.kept {
            if let Ok(session) = Arc::try_unwrap(self.session) {
                let _ = session.close().await;
            }
        }
    }
}

/// The master for `dial` at `socket`: the one there if it answers (`reuse`), else a new
/// login. `persist` is its window once idle; with `keep_open`, a keeper holds it open.
pub async fn open(
    dial: &Dial,
    socket: &Path,
    persist: Duration,
    reuse: bool,
    keep_open: bool,
) -> Result<Master, String> {
    let _lock = if reuse { lock(socket).await } else { None };
    if reuse && socket.exists() {
        let session = Arc::new(Session::resume_mux(socket.into(), None));
        match start_keeper(&session, PROBE_TIMEOUT).await {
            Ok(keeper) => {
                return Ok(Master {
                    session,
                    keeper: Some(keeper),
                    kept: true,
                })
            }
            Err(_) => {
                stop(socket).await;
                let _ = std::fs::remove_file(socket);
            }
        }
    }
    launch(dial, socket, persist).await?;
    let session = Arc::new(Session::resume_mux(
        socket.into(),
        Some(log_path(socket).into()),
    ));
    let keeper = if keep_open {
        match start_keeper(&session, FIRST_SESSION_TIMEOUT).await {
            Ok(keeper) => Some(keeper),
            Err(e) => {
                stop(socket).await;
                return Err(format!("logged in, but the session failed: {e}"));
            }
        }
    } else {
        None
    };
    Ok(Master {
        session,
        keeper,
        kept: reuse,
    })
}

/// The log a master writes (ssh's `-E`), beside its socket.
fn log_path(socket: &Path) -> PathBuf {
    socket.with_extension("log")
}

/// One run at a time decides about a socket (reuse, or replace): two runs starting together
/// log in once. Waits at most a few seconds; then goes on without the lock.
async fn lock(socket: &Path) -> Option<std::fs::File> {
    let file = std::fs::File::create(socket.with_extension("lock")).ok()?;
    for _ in 0..200 {
        match file.try_lock() {
            Ok(()) => return Some(file),
            Err(std::fs::TryLockError::WouldBlock) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(std::fs::TryLockError::Error(_)) => return None,
        }
    }
    None
}

/// Logs in: a master in the background (`-f -N`) at `socket`, which exits once no session
/// has used it for `persist`.
async fn launch(dial: &Dial, socket: &Path, persist: Duration) -> Result<(), String> {
    let log = log_path(socket);
    let _ = std::fs::remove_file(&log);
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.arg("-E")
        .arg(&log)
        .arg("-S")
        .arg(socket)
        .args(["-M", "-f", "-N", "-o"])
        .arg(format!("ControlPersist={}s", persist.as_secs().max(1)))
        .args(["-o", "BatchMode=yes", "-o"])
        .arg(format!("StrictHostKeyChecking={}", dial.host_keys))
        .arg("-o")
        .arg(format!("ConnectTimeout={}", CONNECT_TIMEOUT.as_secs()))
        .args(["-o", "ServerAliveInterval=10"]);
    dial.ssh_options(&mut cmd);
    cmd.arg("--")
        .arg(&dial.address)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let status = cmd
        .status()
        .await
        .map_err(|e| format!("running ssh: {e}"))?;
    if status.success() {
        return Ok(());
    }
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    let said = said
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
        .collect::<Vec<_>>()
        .join("; ");
    Err(if said.is_empty() {
        format!("ssh exited with {status}")
    } else {
        said
    })
}

/// Starts the keeper over `session`: a session on the host whose first line proves the
/// master and the host answer, and which holds the master open until it is dropped. It goes
/// through the master alone (never a login of its own, as an `ssh` client could fall back to).
async fn start_keeper(session: &Arc<Session>, within: Duration) -> Result<Keeper, String> {
    let mut cmd = Session::to_command(Arc::clone(session), "sh");
    cmd.arg("-c")
        .arg(KEEPER)
        .stdin(openssh::Stdio::piped())
        .stdout(openssh::Stdio::piped())
        .stderr(openssh::Stdio::null());
    let mut child = match tokio::time::timeout(within, cmd.spawn()).await {
        Ok(Ok(child)) => child,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err(format!("no answer within {} s", within.as_secs())),
    };
    let Some(stdout) = child.stdout().take() else {
        return Err("the keeper has no output".into());
    };
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    match tokio::time::timeout(within, lines.next_line()).await {
        Ok(Ok(Some(line))) if line.trim() == READY => Ok(child),
        Ok(_) => Err("the connection closed".into()),
        Err(_) => Err(format!("no answer within {} s", within.as_secs())),
    }
}

/// `ssh -O exit` for the master at `socket`: it exits now.
pub fn exit_command(socket: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new("ssh");
    cmd.arg("-S")
        .arg(socket)
        .args(["-O", "exit", "fleet-master"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Tells the master at `socket` to exit now, without blocking the run's other tasks.
async fn stop(socket: &Path) {
    let _ = tokio::process::Command::from(exit_command(socket))
        .status()
        .await;
}

/// A kept master, as `fleet disconnect` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Kept {
    pub host: String,
    pub address: String,
    #[serde(skip)]
    pub socket: PathBuf,
}

/// Notes which host and address a kept socket serves (for `fleet disconnect`).
pub fn label(socket: &Path, host: &str, address: &str) {
    let _ = std::fs::write(
        socket.with_extension("host"),
        format!("{host}\n{address}\n"),
    );
}

/// The kept masters in `dir` whose socket is still there.
pub fn list_kept(dir: &Path) -> Vec<Kept> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut kept: Vec<Kept> = entries
        .flatten()
        .filter(|e| {
            use std::os::unix::fs::FileTypeExt;
            e.file_type().is_ok_and(|t| t.is_socket())
        })
        .map(|e| {
            let socket = e.path();
            let about = std::fs::read_to_string(socket.with_extension("host")).unwrap_or_default();
            let mut lines = about.lines();
            Kept {
                host: lines.next().unwrap_or("?").to_string(),
                address: lines.next().unwrap_or("?").to_string(),
                socket,
            }
        })
        .collect();
    kept.sort_by(|a, b| (&a.host, &a.address).cmp(&(&b.host, &b.address)));
    kept
}

/// Ends a kept master and removes its files.
pub fn close_kept(kept: &Kept) {
    let _ = exit_command(&kept.socket).status();
    for ext in ["host", "log", "lock"] {
        let _ = std::fs::remove_file(kept.socket.with_extension(ext));
    }
    let _ = std::fs::remove_file(&kept.socket);
}
