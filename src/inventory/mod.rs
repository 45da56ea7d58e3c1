//! The inventory: `hosts.toml` found, parsed, checked and resolved into plain data.
//! Nothing downstream sees the raw file; every default is applied here, once.

mod error;
pub mod init;
pub mod names;
mod raw;
mod validate;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use error::InventoryError;

/// The file name looked for when no path is given.
pub const FILE_NAME: &str = "hosts.toml";
/// The environment variable that names the inventory.
pub const ENV_VAR: &str = "FLEET_INVENTORY";

/// A checked inventory. Hosts and caches keep the order they are written in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// The `hosts.toml` this came from.
    pub source: PathBuf,
    /// Flake reference with `nixosConfigurations`; a relative path is already resolved.
    pub flake: String,
    pub max_parallel: usize,
    /// Seconds each host's SSH master stays open after a run, for the next (0: not kept).
    pub keep_connections: u64,
    /// Seconds a build, copy or activation may print nothing before it is stopped (0: never).
    pub inactivity_timeout: u64,
    /// Hosts evaluated at once (`None`: from the cores and the free memory).
    pub eval_jobs: Option<usize>,
    /// MiB one host's evaluation is allowed for when sizing `eval_jobs`.
    pub eval_max_memory: u64,
    /// The host that evaluates the flake (`None`: this machine).
    pub eval_on: Option<String>,
    /// Passed to ssh as `-F` when set; already resolved against the inventory's directory.
    pub ssh_config: Option<PathBuf>,
    /// `[fleet.nix]`: options for Nix on every run (the command line adds to them).
    pub nix: crate::vocab::NixOptions,
    /// Cache tiers, in the order users want them tried.
    pub caches: Vec<Cache>,
    pub hosts: Vec<Host>,
}

/// One binary cache tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cache {
    pub name: String,
    pub url: String,
    pub public_key: Option<String>,
    /// The inventory host that serves this cache (like p620's nix-serve), if any.
    pub host: Option<String>,
    /// `fleet cache push` may push to it (a read-only nix-serve or cache.nixos.org may not).
    pub writable: bool,
}

/// One machine of the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Host {
    pub name: String,
    /// Tried in order: LAN first, then Tailscale.
    pub addresses: Vec<String>,
    /// SSH user; `None` leaves it to the ssh config.
    pub user: Option<String>,
    pub port: Option<u16>,
    /// May build for other hosts.
    pub builder: bool,
    /// Builders for this host's system, in order: the first that answers builds, the others
    /// are its fallbacks (empty: the host builds its own).
    pub via: Vec<String>,
    /// Helpers this builder hands to Nix's own distributed builds when it builds (`--builders`).
    pub build_machines: Vec<BuildMachine>,
    /// `nixosConfigurations.<attribute>`.
    pub attribute: String,
    pub tags: Vec<String>,
    /// This is the machine fleet runs on: no SSH to it.
    pub local: bool,
    /// Whether activation goes through `sudo`.
    pub sudo: bool,
    /// sudo there wants a password, which fleet asks for once per run (`sudo_password`).
    pub sudo_password: bool,
    /// Names of the cache tiers this host uses, in order.
    pub caches: Vec<String>,
    /// Where to build when its builder is down (`None`: fail, and say so).
    pub fallback: Option<crate::vocab::FallbackTo>,
    /// Wake-on-LAN, when the inventory gives the host's MAC address.
    pub wake: Option<Wake>,
    /// Commands run on the host, as its deploy user, after a switch or test: a failure is a
    /// failed activation (rolled back when magic rollback is on).
    pub health_checks: Vec<Vec<String>>,
    /// Commands run on the host, as root, after the new system is on it and before anything
    /// changes (like ending stale sessions): a failure stops the deployment there.
    pub pre_activate: Vec<Vec<String>>,
    /// A switch that left units failed: keep it (the default) or roll back.
    pub failed_units: crate::vocab::FailedUnits,
    /// The specialisation its switches and tests activate (`specialisation = "NAME"`), as
    /// `nixos-rebuild --specialisation` does; `--specialisation` overrides it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub specialisation: Option<String>,
}

/// A helper of a builder, in the terms of a line of Nix's `builders` (`nix.buildMachines`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildMachine {
    /// The helper: a host of the inventory, reached at its first address as its user.
    pub host: String,
    /// Builds it runs at once (Nix's default: 1).
    pub jobs: Option<u32>,
    /// Nix prefers faster machines (Nix's default: 1).
    pub speed: Option<u32>,
    /// Its system features (like `big-parallel`, `kvm`): derivations that need them go there.
    pub features: Vec<String>,
    /// Its platforms (Nix's default: the builder's own).
    pub systems: Vec<String>,
}

/// How to wake a host that sleeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Wake {
    /// Its MAC address, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// Where the magic packet goes (UDP port 9): the LAN's broadcast address.
    pub address: std::net::Ipv4Addr,
    /// Woken whenever a run needs it and it does not answer; otherwise only by `fleet wake`.
    pub on_demand: bool,
}

/// How many hosts a machine evaluates at once: as many as it has cores and, with
/// `max_memory` MiB for each, memory free (at least one). Each host is evaluated in a process
/// of its own, so memory grows with this, not with the host count.
pub fn eval_jobs_for(cores: usize, free_kib: Option<u64>, max_memory: u64) -> usize {
    let by_memory = free_kib.map_or(usize::MAX, |kib| {
        usize::try_from(kib / 1024 / max_memory.max(1)).unwrap_or(usize::MAX)
    });
    cores.min(by_memory).max(1)
}

/// The largest inventory fleet reads (a household's is a few KiB).
pub const MAX_SIZE: u64 = 1 << 20;

impl Inventory {
    /// Reads and checks the inventory at `path`.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let refuse = |why: &str| InventoryError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::other(why.to_string()),
        };
        // A FIFO would block the read for ever, /dev/zero fill memory, a link loop fail late.
        let meta = std::fs::metadata(path).map_err(|source| InventoryError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if !meta.is_file() {
            return Err(refuse("it is not a regular file"));
        }
        if meta.len() > MAX_SIZE {
            return Err(refuse(&format!(
                "it is {} bytes; an inventory is at most {MAX_SIZE}",
                meta.len()
            )));
        }
        let bytes = std::fs::read(path).map_err(|source| InventoryError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|_| refuse("it is not UTF-8 text"))?;
        validate::parse_with(&text, path, true)
    }

    /// Checks `text` as if read from `path` (which resolves relative paths and names the file
    /// in errors). Pure: touches no file.
    pub fn parse(text: &str, path: &Path) -> Result<Inventory, InventoryError> {
        validate::parse(text, path)
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    pub fn cache(&self, name: &str) -> Option<&Cache> {
        self.caches.iter().find(|c| c.name == name)
    }

    /// The cache that `host` serves (a builder's nix-serve), if the inventory has one.
    pub fn cache_served_by(&self, host: &str) -> Option<&Cache> {
        self.caches.iter().find(|c| c.host.as_deref() == Some(host))
    }

    /// Every tag, once, in the order first seen.
    pub fn tags(&self) -> Vec<&str> {
        let mut tags: Vec<&str> = Vec::new();
        for t in self.hosts.iter().flat_map(|h| &h.tags) {
            if !tags.contains(&t.as_str()) {
                tags.push(t);
            }
        }
        tags
    }
}

impl Host {
    /// How `fleet hosts` describes this host.
    pub fn role(&self) -> &'static str {
        match (self.builder, self.local) {
            (true, true) => "builder, local",
            (true, false) => "builder",
            (false, true) => "local",
            (false, false) => "target",
        }
    }
}

/// Where the inventory is: `explicit` (from `--inventory`), else `$FLEET_INVENTORY`, else
/// `hosts.toml` in `cwd` or the nearest parent directory that has one.
pub fn discover(
    explicit: Option<&Path>,
    env: Option<&Path>,
    cwd: &Path,
) -> Result<PathBuf, InventoryError> {
    if let Some(p) = explicit.or(env) {
        return Ok(cwd.join(p));
    }
    // The nearest hosts.toml that exists at all: a broken link or a link loop is that
    // directory's inventory, refused when loaded, never passed over for a parent's.
    cwd.ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|candidate| candidate.symlink_metadata().is_ok())
        .ok_or_else(|| InventoryError::NotFound {
            start: cwd.to_path_buf(),
        })
}

#[cfg(test)]
mod tests;
