//! An address as ssh itself would reach it: `ssh -G` applies the user's ssh config (`Host`
//! aliases, `HostName`, `Port`, `User`, `ProxyJump`, host-key policy) and connects nowhere.
//! Whatever fleet reaches without ssh (doctor's port checks, a builder's cache over each of
//! its addresses, a store URL used on another machine) goes through this, so a fleet known
//! only by `~/.ssh/config` aliases works everywhere, not only where ssh runs.

use std::path::Path;

use crate::inventory::Host;

/// What `ssh -G` says of an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshView {
    /// The host name or IP address ssh connects to (`HostName`, else the address itself).
    pub hostname: String,
    pub port: u16,
    pub user: Option<String>,
    /// The jump host(s) ssh goes through, if any: the address is not reached directly.
    pub proxy_jump: Option<String>,
    /// `StrictHostKeyChecking`, lowercased.
    pub strict_host_key_checking: String,
    /// A fingerprint of ssh's whole answer: another config, user, port or address (anything
    /// that changes how ssh connects) is another fingerprint.
    pub fingerprint: u64,
}

impl SshView {
    /// What ssh assumes when there is no config, or `ssh -G` cannot run.
    fn plain(login: Login<'_>, address: &str) -> SshView {
        SshView {
            hostname: address.to_string(),
            port: login.port.unwrap_or(22),
            user: login.user.map(String::from),
            proxy_jump: None,
            strict_host_key_checking: "ask".into(),
            fingerprint: fingerprint(&format!("{:?} {address}", (login.user, login.port))),
        }
    }
}

/// The user and port fleet asks ssh for (an inventory host's), over what the config says.
#[derive(Debug, Clone, Copy, Default)]
pub struct Login<'a> {
    pub user: Option<&'a str>,
    pub port: Option<u16>,
}

impl<'a> From<&'a Host> for Login<'a> {
    fn from(host: &'a Host) -> Login<'a> {
        Login {
            user: host.user.as_deref(),
            port: host.port,
        }
    }
}

/// The `ssh -G` command for `address`, logging in as `login` says.
fn argv(config: Option<&Path>, login: Login<'_>, address: &str) -> Vec<std::ffi::OsString> {
    let mut argv: Vec<std::ffi::OsString> = vec!["-G".into()];
    if let Some(cfg) = config {
        argv.extend(["-F".into(), cfg.as_os_str().to_owned()]);
    }
    if let Some(user) = login.user {
        argv.extend(["-l".into(), user.into()]);
    }
    if let Some(port) = login.port {
        argv.extend(["-p".into(), port.to_string().into()]);
    }
    argv.extend(["--".into(), address.into()]);
    argv
}

fn fingerprint(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// `ssh -G`'s output (`keyword value` lines, keywords lowercased) for `address`.
pub fn parse(text: &str, host: &Host, address: &str) -> SshView {
    parse_for(text, host.into(), address)
}

/// `parse`, for an address that may not be an inventory host's yet (`fleet init`).
pub fn parse_for(text: &str, login: Login<'_>, address: &str) -> SshView {
    let mut view = SshView::plain(login, address);
    view.fingerprint = fingerprint(&format!("{text}\0{address}"));
    for line in text.lines() {
        let Some((key, value)) = line.split_once(' ') else {
            continue;
        };
        let value = value.trim();
        match key {
            "hostname" if !value.is_empty() => view.hostname = value.to_string(),
            "port" => view.port = value.parse().unwrap_or(view.port),
            "user" if !value.is_empty() => view.user = Some(value.to_string()),
            "proxyjump" if !value.is_empty() && value != "none" => {
                view.proxy_jump = Some(value.to_string())
            }
            "stricthostkeychecking" => view.strict_host_key_checking = value.to_ascii_lowercase(),
            _ => {}
        }
    }
    view
}

/// How ssh reaches `address` of `host`, asked of `ssh -G`.
pub fn view(config: Option<&Path>, host: &Host, address: &str) -> SshView {
    view_for(config, host.into(), address)
}

/// `view`, for an address that may not be an inventory host's yet (`fleet init`).
pub fn view_for(config: Option<&Path>, login: Login<'_>, address: &str) -> SshView {
    match std::process::Command::new("ssh")
        .args(argv(config, login, address))
        .output()
    {
        Ok(out) if out.status.success() => {
            parse_for(&String::from_utf8_lossy(&out.stdout), login, address)
        }
        _ => SshView::plain(login, address),
    }
}

/// `view`, without blocking the run's other tasks.
pub async fn view_async(config: Option<&Path>, host: &Host, address: &str) -> SshView {
    match tokio::process::Command::new("ssh")
        .args(argv(config, host.into(), address))
        .output()
        .await
    {
        Ok(out) if out.status.success() => {
            parse(&String::from_utf8_lossy(&out.stdout), host, address)
        }
        _ => SshView::plain(host.into(), address),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        crate::inventory::Inventory::parse("[hosts.p620]\n", Path::new("/x/hosts.toml"))
            .expect("inventory")
            .hosts
            .remove(0)
    }

    #[test]
    fn an_alias_resolves_to_its_host_name_port_and_jump() {
        let text = "host p620\nhostname 192.168.1.97\nport 2222\nuser olaf\nproxyjump none\nstricthostkeychecking Accept-New\n";
        let v = parse(text, &host(), "p620");
        assert_eq!(v.hostname, "192.168.1.97");
        assert_eq!(v.port, 2222);
        assert_eq!(v.user.as_deref(), Some("olaf"));
        assert_eq!(v.proxy_jump, None);
        assert_eq!(v.strict_host_key_checking, "accept-new");
        let v = parse(
            "hostname 10.0.0.5\nproxyjump gate.example\n",
            &host(),
            "p620",
        );
        assert_eq!(v.proxy_jump.as_deref(), Some("gate.example"));
        assert_eq!(v.port, 22);
    }

    /// The real `ssh -G`, against a config of the test's own.
    #[test]
    fn ssh_itself_resolves_an_alias() {
        if which::which("ssh").is_err() {
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = dir.path().join("config");
        std::fs::write(&cfg, "Host p620\n  HostName 192.168.1.97\n  Port 2222\n").expect("write");
        let v = view(Some(&cfg), &host(), "p620");
        assert_eq!((v.hostname.as_str(), v.port), ("192.168.1.97", 2222));
        let v = view(Some(&cfg), &host(), "p510.lan");
        assert_eq!((v.hostname.as_str(), v.port), ("p510.lan", 22));
    }
}
