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

/// `view`, without blocking the run's other tasks, and with `remembered`, remembered between
/// runs: a run reusing its kept masters spawns no `ssh -G` while nothing ssh reads has
/// changed.
pub async fn view_async(
    config: Option<&Path>,
    host: &Host,
    address: &str,
    remembered: Option<&Remembered>,
) -> SshView {
    let argv = argv(config, host.into(), address);
    let path = remembered.map(|r| r.path(&argv));
    if let Some(text) = path.as_deref().and_then(remembered::read) {
        return parse(&text, host, address);
    }
    match tokio::process::Command::new("ssh")
        .args(&argv)
        .output()
        .await
    {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            if let Some(path) = &path {
                remembered::write(path, &text);
            }
            parse(&text, host, address)
        }
        _ => SshView::plain(host.into(), address),
    }
}

pub use remembered::Remembered;

/// `ssh -G`'s answers, remembered in the user's private runtime directory (where kept masters
/// live) under a key made of everything that answer depends on: its arguments, the user, home
/// and host name, the ssh binary, and every config file ssh reads (each `Include`d one too)
/// by path, size, inode and modification time. A config ssh would read differently from one
/// run to the next is never remembered: `Match exec` (a command's verdict), `Match
/// localnetwork` (the network) and `CanonicalizeHostname` (DNS).
mod remembered {
    use std::ffi::OsString;
    use std::hash::{Hash, Hasher};
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};

    /// How long an unused answer is kept.
    const KEEP: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
    /// The most config files followed through `Include` (ssh's own limit is a depth of 16).
    const MAX_FILES: usize = 256;

    /// Where one run remembers `ssh -G`'s answers for one ssh config: the private directory,
    /// and the part of the key that is the same for every address (read once a run).
    pub struct Remembered {
        dir: PathBuf,
        key: u64,
    }

    impl Remembered {
        /// For `config` (the inventory's, or the user's default files); `None` when answers
        /// cannot be remembered (no private directory, or a config ssh reads differently
        /// each time).
        pub fn new(config: Option<&Path>) -> Option<Remembered> {
            Some(Remembered {
                key: key(config)?,
                dir: super::super::master::kept_dir().ok()?,
            })
        }

        /// Where `ssh -G ARGV`'s answer is kept.
        pub fn path(&self, argv: &[OsString]) -> PathBuf {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            self.key.hash(&mut h);
            argv.hash(&mut h);
            self.dir.join(format!("ssh-G-{:016x}", h.finish()))
        }
    }

    /// The answer kept at `path`, if any.
    pub fn read(path: &Path) -> Option<String> {
        let text = std::fs::read_to_string(path).ok()?;
        // Touched, so that pruning keeps what is in use.
        let _ = std::fs::File::options()
            .append(true)
            .open(path)
            .and_then(|f| f.set_modified(std::time::SystemTime::now()));
        (!text.is_empty()).then_some(text)
    }

    /// Best effort: written whole (a temporary file renamed), and answers unused for a day
    /// removed.
    pub fn write(path: &Path, text: &str) {
        let Some(dir) = path.parent() else {
            return;
        };
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > KEEP);
            if old && e.file_name().to_string_lossy().starts_with("ssh-G-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// What every `ssh -G` answer under `config` depends on besides its arguments, as a
    /// key, or `None` when an answer may change with nothing here changing.
    fn key(config: Option<&Path>) -> Option<u64> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for var in ["HOME", "USER", "LOGNAME"] {
            std::env::var_os(var).hash(&mut h);
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .hash(&mut h);
        let ssh = which::which("ssh").ok()?;
        stamp(&ssh).hash(&mut h);
        // With -F, that file alone; else the user's, then the system's.
        let user_dir = home.as_ref().map(|d| d.join(".ssh"));
        let mut files: Vec<(PathBuf, Option<PathBuf>)> = match config {
            Some(cfg) => vec![(cfg.to_path_buf(), user_dir.clone())],
            None => vec![
                (user_dir.as_ref()?.join("config"), user_dir.clone()),
                (
                    PathBuf::from("/etc/ssh/ssh_config"),
                    Some(PathBuf::from("/etc/ssh")),
                ),
            ],
        };
        let mut seen = 0;
        while let Some((file, base)) = files.pop() {
            seen += 1;
            if seen > MAX_FILES {
                return None;
            }
            file.hash(&mut h);
            stamp(&file).hash(&mut h);
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            for line in text.lines() {
                let mut words = line
                    .trim()
                    .split(|c: char| c.is_whitespace() || c == '=')
                    .filter(|w| !w.is_empty())
                    .map(|w| w.trim_matches('"'));
                let Some(keyword) = words.next().map(str::to_ascii_lowercase) else {
                    continue;
                };
                let varies = match keyword.as_str() {
                    "match" => words.clone().any(|w| {
                        let w = w.to_ascii_lowercase();
                        w == "exec" || w == "localnetwork"
                    }),
                    "canonicalizehostname" => words
                        .clone()
                        .next()
                        .is_some_and(|v| !v.eq_ignore_ascii_case("no")),
                    _ => false,
                };
                if varies {
                    return None;
                }
                match keyword.as_str() {
                    k if k.starts_with('#') => {}
                    "include" => {
                        for pattern in words {
                            let matched = expand(pattern, base.as_deref(), home.as_deref())?;
                            // The directory's own stamp: a file added or removed there.
                            matched.dir.hash(&mut h);
                            stamp(&matched.dir).hash(&mut h);
                            files.extend(matched.files.into_iter().map(|f| (f, base.clone())));
                        }
                    }
                    _ => {}
                }
            }
        }
        Some(h.finish())
    }

    /// What identifies a file's contents without reading it: size, inode, modification time;
    /// `None` for a file that is not there.
    fn stamp(path: &Path) -> Option<(u64, u64, i64, i64)> {
        let m = std::fs::metadata(path).ok()?;
        Some((m.len(), m.ino(), m.mtime(), m.mtime_nsec()))
    }

    struct Matched {
        dir: PathBuf,
        files: Vec<PathBuf>,
    }

    /// An `Include` pattern's files, as ssh finds them: `~/` is the home, a relative path is
    /// below `base` (`~/.ssh` for the user's config, `/etc/ssh` for the system's), and the
    /// last component may hold `*` and `?`. `None` for a pattern this does not follow.
    fn expand(pattern: &str, base: Option<&Path>, home: Option<&Path>) -> Option<Matched> {
        let path = if let Some(rest) = pattern.strip_prefix("~/") {
            home?.join(rest)
        } else if pattern.starts_with('/') {
            PathBuf::from(pattern)
        } else {
            base?.join(pattern)
        };
        let dir = path.parent()?.to_path_buf();
        let name = path.file_name()?.to_string_lossy().into_owned();
        if dir.to_string_lossy().contains(['*', '?', '[']) || name.contains('[') {
            return None;
        }
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .flatten()
                .filter(|e| wildcard(&name, &e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        Some(Matched { dir, files })
    }

    /// `name` against a pattern of `*` (any run) and `?` (any one character).
    fn wildcard(pattern: &str, name: &str) -> bool {
        let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
        let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
        while ni < n.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
                pi += 1;
                ni += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some(pi);
                mark = ni;
                pi += 1;
            } else if let Some(s) = star {
                pi = s + 1;
                mark += 1;
                ni = mark;
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == '*')
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn wildcards_match_as_ssh_globs_do() {
            assert!(wildcard("*.conf", "a.conf"));
            assert!(wildcard("*", "anything"));
            assert!(wildcard("h?st", "host"));
            assert!(!wildcard("*.conf", "a.conf~"));
            assert!(!wildcard("h?st", "hoost"));
        }

        #[test]
        fn the_key_follows_every_file_ssh_reads_and_refuses_what_varies() {
            let dir = tempfile::tempdir().expect("temp dir");
            let cfg = dir.path().join("config");
            let inc = dir.path().join("conf.d");
            std::fs::create_dir(&inc).expect("dir");
            std::fs::write(
                &cfg,
                format!(
                    "Include {}/*.conf\nHost p620\n  HostName 10.0.0.1\n",
                    inc.display()
                ),
            )
            .expect("write");
            let argv: Vec<OsString> = vec!["-G".into(), "p620".into()];
            let Some(first) = key(Some(&cfg)) else {
                return; // no ssh on this machine
            };
            assert_eq!(key(Some(&cfg)), Some(first), "stable");
            let remembered = Remembered {
                dir: dir.path().into(),
                key: first,
            };
            let other: Vec<OsString> = vec!["-G".into(), "p510".into()];
            assert_ne!(
                remembered.path(&other),
                remembered.path(&argv),
                "the arguments count"
            );

            // A file appears where the Include looks: another key.
            std::fs::write(inc.join("a.conf"), "Host p620\n  Port 2222\n").expect("write");
            let with_a = key(Some(&cfg));
            assert_ne!(with_a, Some(first));
            // That file changes: another key again.
            std::fs::write(inc.join("a.conf"), "Host p620\n  Port 2223\n  User x\n")
                .expect("write");
            assert_ne!(key(Some(&cfg)), with_a);

            // What ssh decides anew each time is never remembered.
            for varying in [
                "Match exec \"test -e /tmp/x\"\n",
                "Match host p620 localnetwork 10.0.0.0/8\n",
                "CanonicalizeHostname yes\n",
            ] {
                std::fs::write(inc.join("b.conf"), varying).expect("write");
                assert_eq!(key(Some(&cfg)), None, "{varying}");
            }
        }
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
