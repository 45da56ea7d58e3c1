//! The words every layer shares: actions, machines, typed argv with run-time placeholders,
//! privilege, probes, and how argv reads as a shell line. Imports nothing else from fleet.

use std::fmt;

use serde::Serialize;

/// Where runs keep their state on hosts.
pub const RUN_DIR: &str = "/run/fleet";

/// What `switch-to-configuration` is asked to do, as in `nixos-rebuild ACTION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Make it the boot default and activate it now.
    Switch,
    /// Make it the boot default; activate at next boot.
    Boot,
    /// Activate now; the boot default stays as it is.
    Test,
    /// Show what activating would change; change nothing.
    DryActivate,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Switch => "switch",
            Action::Boot => "boot",
            Action::Test => "test",
            Action::DryActivate => "dry-activate",
        }
    }

    /// Whether a host in `state` has nothing left to do for this action with system `new`,
    /// activating its `specialisation` if one is named: a switch needs both, boot the profile,
    /// test the running system. (After `--action test`, a switch still has the profile to
    /// set.) A specialisation runs when the host runs that specialisation of `new`, which it
    /// can tell only once `new` is its profile; the whole system runs when no specialisation
    /// does.
    pub fn already_done(
        self,
        state: &crate::report::SystemState,
        new: &str,
        specialisation: Option<&str>,
    ) -> bool {
        let boots = state.profile.as_deref() == Some(new);
        let runs = match specialisation.filter(|_| self != Action::Boot) {
            Some(name) => boots && state.specialisation.as_deref() == Some(name),
            None => state.system.as_deref() == Some(new),
        };
        match self {
            Action::Switch => runs && boots,
            Action::Boot => boots,
            Action::Test | Action::DryActivate => runs,
        }
    }

    /// Switch and boot make the new system the profile's current generation; test and
    /// dry-activate leave the profile alone, as on NixOS.
    pub fn sets_profile(self) -> bool {
        matches!(self, Action::Switch | Action::Boot)
    }
}

/// How an activation is asked for beyond its action (see the `pre` script).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActivationFlags {
    /// `--force-switch`: `NIXOS_NO_CHECK=1`, no pre-switch checks, no switch-inhibitors.
    pub force_switch: bool,
    /// `--install-bootloader`: `NIXOS_INSTALL_BOOTLOADER=1`.
    pub install_bootloader: bool,
}

impl ActivationFlags {
    /// The `pre` script's FLAGS for `action`: a switch the switch-inhibitors refuse becomes a
    /// boot (the host then needs a reboot), unless forced.
    pub fn word(self, action: Action) -> String {
        let words: Vec<&str> = [
            (self.force_switch, "force"),
            (self.install_bootloader, "install-bootloader"),
            (action == Action::Switch, "boot-if-inhibited"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, w)| *w)
        .collect();
        if words.is_empty() {
            "-".to_string()
        } else {
            words.join(",")
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where to build when a host's builder cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FallbackTo {
    /// Build on the target itself.
    Target,
    /// Build on the machine fleet runs on.
    Local,
}

/// Where a command runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Machine {
    /// The machine fleet runs on; no SSH.
    Local,
    /// An inventory host, over its SSH connection.
    Host(String),
}

impl Machine {
    /// Where, as a sentence says it: "here", "on p620".
    pub fn place(&self) -> String {
        match self {
            Machine::Local => "here".into(),
            Machine::Host(h) => format!("on {h}"),
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Machine::Local => f.write_str("here"),
            Machine::Host(h) => f.write_str(h),
        }
    }
}

/// One argument of a command. Values known only at run time are typed placeholders, never
/// text pasted into a string, so nothing from a flake or the network can become syntax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Arg {
    Lit(String),
    /// The host's system derivation (`.drv`) path, from the evaluation.
    Drv {
        drv: String,
    },
    /// The host's system out path, from the evaluation, followed by `suffix`.
    Out {
        out: String,
        suffix: String,
    },
    /// `ssh-ng://[user@]ADDRESS` for the host, with the address that answered.
    Store {
        store: String,
    },
    /// The system the host runs now, as the plan's `read-running-of` step read it.
    Running {
        running: String,
    },
    /// This run's state directory on the host (`/run/fleet/RUN-HOST`), followed by `file`.
    RunDir {
        run_dir: String,
        file: String,
    },
    /// What is left, when the command starts, of a wait of at most this many seconds: a
    /// follow-up command run again after a dropped connection waits only for the rest.
    SecondsLeft {
        seconds_left: u64,
    },
    /// The flake as `nix flake archive` sent it to the machine that evaluates
    /// (`path:/nix/store/...-source`), followed by this.
    Archived {
        archived: String,
    },
    /// Where the host's system derivations are, as a store URL for `nix copy --from`: the
    /// machine that evaluated it (`ssh-ng://...`), or this machine's store (`auto`).
    Evaluated {
        evaluated: String,
    },
    /// The `.drv` paths the evaluation cache holds for this machine (any number of words),
    /// to ask it which it still has.
    Cached {
        cached: String,
    },
}

impl Arg {
    pub fn drv(host: &str) -> Arg {
        Arg::Drv { drv: host.into() }
    }
    pub fn out(host: &str) -> Arg {
        Arg::out_with(host, "")
    }
    pub fn out_with(host: &str, suffix: &str) -> Arg {
        Arg::Out {
            out: host.into(),
            suffix: suffix.into(),
        }
    }
    /// A path below this one: `OUT/bin/...`, `/nix/var/nix/profiles/system/bin/...`.
    /// Only literal paths, out paths and run directories have paths below them.
    pub fn with_suffix(self, more: &str) -> Arg {
        match self {
            Arg::Lit(s) => Arg::Lit(s + more),
            Arg::Out { out, suffix } => Arg::Out {
                out,
                suffix: suffix + more,
            },
            Arg::RunDir { run_dir, file } => Arg::RunDir {
                run_dir,
                file: file + more,
            },
            other => {
                debug_assert!(false, "{other:?} has no paths below it");
                other
            }
        }
    }
    pub fn store(host: &str) -> Arg {
        Arg::Store { store: host.into() }
    }
    pub fn run_dir(host: &str) -> Arg {
        Arg::run_dir_file(host, "")
    }
    pub fn run_dir_file(host: &str, file: &str) -> Arg {
        Arg::RunDir {
            run_dir: host.into(),
            file: file.into(),
        }
    }
    pub fn seconds_left(limit: u64) -> Arg {
        Arg::SecondsLeft {
            seconds_left: limit,
        }
    }
    pub fn running(host: &str) -> Arg {
        Arg::Running {
            running: host.into(),
        }
    }
    pub fn archived(suffix: &str) -> Arg {
        Arg::Archived {
            archived: suffix.into(),
        }
    }
    pub fn evaluated(host: &str) -> Arg {
        Arg::Evaluated {
            evaluated: host.into(),
        }
    }
    pub fn cached(machine: &str) -> Arg {
        Arg::Cached {
            cached: machine.into(),
        }
    }
}

impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Lit(s.into())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::Lit(s)
    }
}

/// What to do with a host whose switch happened but left units failed
/// (`switch-to-configuration` exits 4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailedUnits {
    /// Keep the new system, as nixos-rebuild does, when the confirmation login and the health
    /// checks pass; report the failed units.
    #[default]
    Keep,
    /// Roll the host back, as for any failed activation.
    Rollback,
}

/// A Nix's version, as `nix --version` says it (`nix (Nix) 2.26.3`). Lix (`nix (Lix, like Nix)
/// 2.93.0`) counts on from 2.90, but it forked from Nix 2.18 and its command line is that
/// Nix's: it is read as the Nix it is like (2.18), its own version kept beside, so every check
/// of what a Nix takes asks the right question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct NixVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    /// Lix's own version, when it is Lix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lix: Option<[u32; 3]>,
}

impl NixVersion {
    /// The oldest Nix fleet knows (Debian bookworm's), assumed when none could be asked.
    pub const OLDEST: NixVersion = NixVersion {
        major: 2,
        minor: 8,
        patch: 0,
        lix: None,
    };

    /// The Nix every Lix is like: the one it forked from.
    const LIX_IS_LIKE: (u32, u32) = (2, 18);

    /// The version in `nix --version`'s answer: its last word that reads as one.
    pub fn parse(text: &str) -> Option<NixVersion> {
        let numbers = text.split_whitespace().rev().find_map(|word| {
            let mut parts = word.split(['.', '-', '+', 'p']).map(str::parse::<u32>);
            let major = parts.next()?.ok()?;
            let minor = parts.next()?.ok()?;
            let patch = parts.next().and_then(Result::ok).unwrap_or(0);
            Some([major, minor, patch])
        })?;
        if text.contains("Lix") {
            let (major, minor) = Self::LIX_IS_LIKE;
            return Some(NixVersion {
                major,
                minor,
                patch: 0,
                lix: Some(numbers),
            });
        }
        let [major, minor, patch] = numbers;
        Some(NixVersion {
            major,
            minor,
            patch,
            lix: None,
        })
    }

    fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// Nix 2.19 made `nix flake update` take input names (the flake goes in `--flake`) and
    /// deprecated `nix flake lock --update-input` (which Lix, like 2.18, keeps).
    pub fn flake_update_takes_inputs(&self) -> bool {
        self.at_least(2, 19)
    }
}

impl std::fmt::Display for NixVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.lix {
            Some([a, b, c]) => write!(
                f,
                "Lix {a}.{b}.{c} (like Nix {}.{})",
                self.major, self.minor
            ),
            None => write!(f, "{}.{}.{}", self.major, self.minor, self.patch),
        }
    }
}

/// Options for Nix itself, from `[fleet.nix]` and the command line, each passed where Nix
/// accepts it: the evaluation, builds, flake checks and updates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NixOptions {
    /// `--accept-flake-config`: use the flake's `nixConfig` (its extra caches and keys).
    pub accept_flake_config: bool,
    /// `--show-trace`: the whole evaluation trace on an error.
    pub show_trace: bool,
    /// `-L`: build logs in full, not their last lines.
    pub print_build_logs: bool,
    /// `--impure`: an evaluation that may read the environment and files outside the flake.
    pub impure: bool,
    /// `--keep-going`: build what can be built when something fails.
    pub keep_going: bool,
    /// `--option NAME VALUE`, in order.
    pub options: Vec<(String, String)>,
}

impl NixOptions {
    /// These options, then `more`'s on top: flags set in either are set; `more`'s options
    /// come last, so Nix takes them over the same option set here.
    pub fn with(&self, more: &NixOptions) -> NixOptions {
        NixOptions {
            accept_flake_config: self.accept_flake_config || more.accept_flake_config,
            show_trace: self.show_trace || more.show_trace,
            print_build_logs: self.print_build_logs || more.print_build_logs,
            impure: self.impure || more.impure,
            keep_going: self.keep_going || more.keep_going,
            options: self.options.iter().chain(&more.options).cloned().collect(),
        }
    }

    fn flags(&self, which: &[(&'static str, bool)]) -> Vec<String> {
        let mut argv: Vec<String> = which
            .iter()
            .filter(|(_, on)| *on)
            .map(|(flag, _)| flag.to_string())
            .collect();
        for (name, value) in &self.options {
            argv.extend(["--option".into(), name.clone(), value.clone()]);
        }
        argv
    }

    /// For `nix eval` of the flake (which builds what import-from-derivation needs).
    pub fn for_evaluation(&self) -> Vec<String> {
        self.flags(&[
            ("--accept-flake-config", self.accept_flake_config),
            ("--show-trace", self.show_trace),
            ("--print-build-logs", self.print_build_logs),
            ("--impure", self.impure),
        ])
    }

    /// For `nix-store --realise`, which takes no flake or evaluation flags (and prints build
    /// logs in full anyway).
    pub fn for_build(&self) -> Vec<String> {
        self.flags(&[("--keep-going", self.keep_going)])
    }

    /// For `nix flake check`, which evaluates and builds.
    pub fn for_flake_check(&self) -> Vec<String> {
        self.flags(&[
            ("--accept-flake-config", self.accept_flake_config),
            ("--show-trace", self.show_trace),
            ("--print-build-logs", self.print_build_logs),
            ("--impure", self.impure),
            ("--keep-going", self.keep_going),
        ])
    }

    /// For `nix flake update` and `nix flake lock`.
    pub fn for_flake_lock(&self) -> Vec<String> {
        self.flags(&[("--accept-flake-config", self.accept_flake_config)])
    }
}

/// Which hosts that answer on none of their addresses a run wakes (wake-on-LAN) and waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Waking {
    /// None: a host asleep is reported unreachable (status, doctor).
    Never,
    /// Those with `wake = true` in hosts.toml (deployments, builds).
    OnDemand,
    /// Every host with a `mac` (`fleet wake`).
    Always,
}

/// How a command gets root on its machine: data on an invocation, turned into `sudo` words
/// only when it runs, so nothing reads argv back to learn it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sudo {
    /// `sudo -n --`: over SSH there is no terminal to ask a password on, so fail at once.
    NonInteractive,
    /// `sudo --`: on this machine, where sudo may ask on the terminal.
    Interactive,
    /// `sudo -k -S -p '' --` over SSH: the password fleet asked for once (`--ask-sudo-password`,
    /// or `sudo_password = true`) is written on sudo's standard input over the host's
    /// connection, never in argv or the environment (see `nix::TIE`). `-k`: sudo always asks,
    /// so it always reads it.
    Password,
}

impl Sudo {
    /// The words put before the command.
    pub fn prefix(self) -> &'static [&'static str] {
        match self {
            Sudo::NonInteractive => &["sudo", "-n", "--"],
            Sudo::Interactive => &["sudo", "--"],
            Sudo::Password => &["sudo", "-k", "-S", "-p", "", "--"],
        }
    }
}

/// A read-only question to a host; each has one command (see `nix::probe`) and one parser (in
/// `facts`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Probe {
    /// `readlink -f /run/current-system`.
    Running,
    /// `readlink -f /run/booted-system`.
    Booted,
    /// `readlink -f /nix/var/nix/profiles/system`: what the host boots next.
    Profile,
    /// The profile's system's specialisations, each with the system it is: `NAME PATH` lines.
    Specialisations,
    /// The system profile's generations, with dates.
    Generations,
    /// `nix config show --json` (`nix show-config --json` before 2.20): substituters and trusted keys.
    Settings,
    /// Free space on /nix and /boot.
    Space,
    Uptime,
    NixVersion,
    /// Whether the host runs systemd.
    Systemd,
    /// Whether a systemd unit is active (the builder's cache service).
    UnitActive(String),
    /// Whether the host reaches a cache (by name).
    CacheReach(String),
    /// Whether a path signed by a cache verifies against the host's trusted keys.
    CacheVerify(String),
    /// What garbage collection would delete.
    Dead,
    /// The host's local time, to age its generations.
    Now,
    /// Who holds the host's deploy lock, if a run does (its owner and how long ago its lease
    /// was renewed).
    Lock,
    /// Each generation's link and the system it points at.
    GenerationLinks,
    /// Whether this builder, as root (the user its nix-daemon's build hook logs in as),
    /// reaches a helper of its `build_machines` as Nix's distributed builds will (by name).
    Helper(String),
}

/// `s` as a POSIX shell word: unchanged when it is plain, else single-quoted. Hand-written
/// because `shell-escape` also quotes `:`, `@` and `%`, which makes every store URL and
/// `user@host` in a shown command line harder to read, for no safety gained.
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// An argument as a person reads it; run-time values are shown as `{host.drv}`, `{host.out}`
/// and `ssh-ng://{host}`.
pub fn show_arg(arg: &Arg) -> String {
    match arg {
        Arg::Lit(s) => quote(s),
        Arg::Drv { drv } => format!("{{{drv}.drv}}"),
        Arg::Out { out, suffix } => format!("{{{out}.out}}{suffix}"),
        Arg::Store { store } => format!("ssh-ng://{{{store}}}"),
        Arg::Running { running } => format!("{{{running}.running}}"),
        Arg::RunDir { run_dir, file } => format!("{RUN_DIR}/{{run}}-{run_dir}{file}"),
        Arg::SecondsLeft { seconds_left } => format!("{{{seconds_left}s-left}}"),
        Arg::Archived { archived } => format!("path:{{archived-flake}}{archived}"),
        Arg::Evaluated { evaluated } => format!("{{where-{evaluated}-was-evaluated}}"),
        Arg::Cached { cached } => format!("{{drvs-cached-for-{cached}...}}"),
    }
}

/// Resolved argv as one shell-readable line.
pub fn quote_argv(argv: &[String]) -> String {
    argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

/// A whole argv as one readable line.
pub fn show_argv(argv: &[Arg]) -> String {
    argv.iter().map(show_arg).collect::<Vec<_>>().join(" ")
}

/// Text from a host (or any text a host could have shaped), safe to print on a terminal:
/// Nix's colours (SGR sequences, `ESC [ ... m`) are dropped, and every other control
/// character, and the bidirectional overrides that make text read backwards, is shown as an
/// escape (`\e`, `\a`, `\r`, `\x7f`, `\u{202e}`), so a host's answer cannot clear the
/// screen, set the window title or the clipboard (OSC 52), or forge lines. One line: a
/// newline is shown as `\n` too. Tabs stay.
pub fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    let odd = |c: char| {
        (c.is_control() && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(odd) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            // A colour: ESC [ digits and separators, ending in `m`. Anything else is shown.
            let rest: String = chars
                .clone()
                .skip(1)
                .take_while(|c| c.is_ascii_digit() || *c == ';' || *c == ':')
                .collect();
            let mut ahead = chars.clone().skip(1 + rest.chars().count());
            if ahead.next() == Some('m') {
                for _ in 0..rest.chars().count() + 2 {
                    chars.next();
                }
                continue;
            }
        }
        match c {
            '\u{1b}' => out.push_str("\\e"),
            '\u{7}' => out.push_str("\\a"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c if odd(c) && (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if odd(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A store path as people read it: `/nix/store/abcdefg…-nixos-system-x`.
pub fn short(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    // By characters: a host's answer may hold any (`/nix/store/ééééé-x` once panicked here).
    // Shown, never parsed: made visible, as a host may have put anything in it.
    let shown = match base.split_once('-') {
        Some((hash, name)) if hash.chars().count() > 7 => {
            format!("{}…-{name}", hash.chars().take(7).collect::<String>())
        }
        _ => base.to_string(),
    };
    visible(&shown).into_owned()
}

#[cfg(test)]
mod visible_tests {
    use super::visible;

    #[test]
    fn host_text_cannot_drive_the_terminal() {
        assert_eq!(visible("plain\ttext é"), "plain\ttext é");
        assert_eq!(visible("\u{1b}[31;1m+64.0 KiB\u{1b}[0m"), "+64.0 KiB");
        assert_eq!(
            visible("/nix/store/x-\u{1b}]0;pwned\u{7}"),
            "/nix/store/x-\\e]0;pwned\\a"
        );
        assert_eq!(visible("\u{1b}[2J\u{1b}[H"), "\\e[2J\\e[H");
        assert_eq!(
            visible("\u{1b}]52;c;cm0gLXJmIH4=\u{7}"),
            "\\e]52;c;cm0gLXJmIH4=\\a"
        );
        assert_eq!(
            visible("a\rb\nc\u{7f}\u{9b}\u{202e}"),
            "a\\rb\\nc\\x7f\\x9b\\u{202e}"
        );
        assert_eq!(visible("\u{1b}"), "\\e");
        assert_eq!(visible("\u{1b}[31"), "\\e[31");
    }
}

#[cfg(test)]
mod nix_version_tests {
    use super::NixVersion;

    #[test]
    fn versions_as_each_nix_says_them() {
        let v = |t: &str| NixVersion::parse(t).map(|v| v.to_string());
        assert_eq!(v("nix (Nix) 2.8.0").as_deref(), Some("2.8.0"));
        assert_eq!(v("nix (Nix) 2.26.3\n").as_deref(), Some("2.26.3"));
        assert_eq!(v("nix (Nix) 2.34.8").as_deref(), Some("2.34.8"));
        // Lix, as its releases print it: read as the Nix it is like.
        assert_eq!(
            v("nix (Lix, like Nix) 2.93.0").as_deref(),
            Some("Lix 2.93.0 (like Nix 2.18)")
        );
        assert_eq!(
            v("nix (Lix, like Nix) 2.91.1\nSystem type: x86_64-linux\n").as_deref(),
            Some("Lix 2.91.1 (like Nix 2.18)")
        );
        let lix = NixVersion::parse("nix (Lix, like Nix) 2.93.0").unwrap_or(NixVersion::OLDEST);
        assert_eq!((lix.major, lix.minor, lix.lix), (2, 18, Some([2, 93, 0])));
        assert_eq!(
            v("nix (Nix) 2.24.10pre20241010_dirty").as_deref(),
            Some("2.24.10")
        );
        assert_eq!(v("command not found"), None);
        let parse = |t: &str| NixVersion::parse(t).unwrap_or(NixVersion::OLDEST);
        assert!(!parse("nix (Nix) 2.18.9").flake_update_takes_inputs());
        assert!(parse("nix (Nix) 2.19.0").flake_update_takes_inputs());
        // Lix keeps 2.18's `nix flake lock --update-input`.
        assert!(!parse("nix (Lix, like Nix) 2.93.0").flake_update_takes_inputs());
    }
}

#[cfg(test)]
mod action_tests {
    use super::Action;
    use crate::report::SystemState;

    /// What "nothing left to do" means with a specialisation: the host runs that
    /// specialisation of the new system, which is its profile; running the whole system (or
    /// another specialisation) leaves a switch to do, and without one named, running a
    /// specialisation is not running the system.
    #[test]
    fn a_specialisation_that_runs_is_done() {
        let state = |running: &str, specialisation: Option<&str>| SystemState {
            system: Some(running.into()),
            profile: Some("/nix/store/new".into()),
            specialisation: specialisation.map(str::to_string),
            ..SystemState::default()
        };
        let gaming = state("/nix/store/gaming", Some("gaming"));
        let whole = state("/nix/store/new", None);
        let new = "/nix/store/new";
        assert!(Action::Switch.already_done(&gaming, new, Some("gaming")));
        assert!(!Action::Switch.already_done(&gaming, new, Some("work")));
        assert!(!Action::Switch.already_done(&gaming, new, None));
        assert!(!Action::Switch.already_done(&whole, new, Some("gaming")));
        assert!(Action::Switch.already_done(&whole, new, None));
        // A boot boots the whole system, whatever runs.
        assert!(Action::Boot.already_done(&gaming, new, Some("gaming")));
        // Another profile: its specialisations say nothing of the new system's.
        let elsewhere = SystemState {
            profile: Some("/nix/store/old".into()),
            ..gaming.clone()
        };
        assert!(!Action::Switch.already_done(&elsewhere, new, Some("gaming")));
    }
}
