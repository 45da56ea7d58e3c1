//! The small shell scripts fleet runs on a host around `switch-to-configuration`: a detached
//! launch that survives a dropped connection, and magic rollback's watchdog. Each script is a
//! constant; every value reaches it as a positional argument, never pasted into its text.
//!
//! A run keeps its state for a host in `/run/fleet/RUN-HOST` (root's, mode 0700, gone at
//! reboot): `started`, then `log` and `exit` from the activation; `previous` (the generation to
//! return to), `watchdog` (armed, confirmed, rolling-back, rolled-back), `confirmed`,
//! `rollback` and `rollback-exit` from the watchdog.

use super::lits;
use crate::vocab::{Action, ActivationFlags, Arg};

pub use crate::vocab::RUN_DIR;
/// How long an armed watchdog waits for the activation to be launched (the system profile is
/// set in between) before it undoes whatever was done: fleet died or lost the host.
pub const WATCHDOG_START_LIMIT: u64 = 300;
/// How long an activation may run; fleet follows it that long, and so does the watchdog.
pub const ACTIVATION_LIMIT: u64 = 3600;
/// How long a host may take to switch back to its previous system, beyond its watchdog's wait.
pub const ROLLBACK_SLACK: u64 = 300;

/// Starts `SYSTEM/bin/switch-to-configuration ACTION` detached from the SSH session, so a
/// dropped connection does not kill it: under systemd-run where the host runs systemd (as
/// nixos-rebuild does), else in a new session. `/bin/sh` and the caller's PATH because a
/// transient unit on NixOS has neither on its own PATH. Arguments: DIR SYSTEM ACTION.
const LAUNCH: &str = concat!(
    include_str!("scripts/inhibitors.sh"),
    include_str!("scripts/pre.sh"),
    include_str!("scripts/launch.sh")
);

/// Magic rollback's watchdog. Armed before the system profile changes, it records the
/// generation to return to, then waits: for the activation to start, for it to end, then
/// SECS for fleet's confirmation. Without it, or as soon as `rollback` appears, the profile
/// goes back to that generation and its system is switched to, by the host itself, so it
/// acts even when no one can log in any more. An activation under way is always waited for:
/// two switch-to-configuration at once would break the host. Arguments: DIR SECS
/// START_LIMIT ACTIVATION_LIMIT.
const WATCHDOG: &str = include_str!("scripts/watchdog.sh");

/// Confirms a deployment and waits (a second or so) for the watchdog to acknowledge it: a
/// confirmation that comes as the watchdog's time runs out must not count. Arguments: DIR.
const CONFIRM: &str = include_str!("scripts/confirm.sh");

/// Waits until FILE is not empty and prints it; exits 2 after LIMIT seconds, and 3 at once
/// when MARKER (if given) is missing: whatever would write FILE was never started here.
/// Arguments: FILE LIMIT [MARKER].
const AWAIT: &str = include_str!("scripts/await.sh");

/// A host's deploy lock: taken before fleet first changes the host, renewed while the run
/// (or its watchdog) works, released at the end; a lock whose lease was not renewed for
/// `LOCK_LEASE` seconds lost its holder and is taken over. Arguments: LOCK MODE RUN WHO LEASE.
const LOCK: &str = include_str!("scripts/lock.sh");

/// The system profile back to the generation before the one that runs. No arguments.
const BACK: &str = include_str!("scripts/back.sh");
const FREE: &str = include_str!("scripts/free.sh");
const HERE: &str = concat!(
    include_str!("scripts/inhibitors.sh"),
    include_str!("scripts/pre.sh"),
    include_str!("scripts/here.sh")
);
const SETTINGS: &str = include_str!("scripts/settings.sh");
const PREVIEW: &str = concat!(
    include_str!("scripts/inhibitors.sh"),
    include_str!("scripts/preview.sh")
);

/// The host's nix settings as JSON, in the form its Nix takes (`nix config show` from 2.20).
pub fn read_settings() -> Vec<Arg> {
    script(SETTINGS, "fleet-settings", Vec::new())
}

/// `system`'s activation on the machine fleet runs on, after the `pre` checks: in a transient
/// unit where systemd runs, as current nixos-rebuild does; else directly.
pub fn activate_here(system: Arg, action: Action, flags: ActivationFlags) -> Vec<Arg> {
    script(
        HERE,
        "fleet-here",
        vec![system, action.as_str().into(), flags.word(action).into()],
    )
}

/// After a step failed because the store is full: delete what it left half-written there.
pub fn free_half_written() -> Vec<Arg> {
    script(FREE, "fleet-free", Vec::new())
}

/// What switching to `system` (on the host already) would change: a reboot, the closure's
/// difference from the running system's (see `PREVIEW`).
pub fn preview_changes(system: Arg) -> Vec<Arg> {
    script(PREVIEW, "fleet-preview", vec![system])
}

/// What the host lacks of `system`'s closure, and what fetching it costs, as Nix reckons it
/// from the host's substituters: `nix-store --realise --dry-run`. With `cache` (the one the
/// copy will fetch from, which the host's nix.conf may not name), that cache too, asked
/// afresh as the copy asks it; a Nix that does not trust the user with it says so and goes
/// on without it.
pub fn preview_fetch(system: Arg, cache: Option<&str>) -> Vec<Arg> {
    let mut argv = lits(&["nix-store", "--realise", "--dry-run"]);
    if let Some(url) = cache {
        argv.extend(lits(&[
            "--option",
            "extra-substituters",
            url,
            "--option",
            "narinfo-cache-negative-ttl",
            "0",
        ]));
    }
    argv.push(system);
    argv
}

/// Every command over SSH runs inside this: `sh -c TIE fleet-tie ARGV...` ends the command
/// when its standard input (held open by fleet) ends, so a killed run leaves nothing running.
/// Sent compacted, as every script is (see `compact`).
pub static TIE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| compact(TIE_SOURCE));
const TIE_SOURCE: &str = include_str!("scripts/tie.sh");

/// A script as it is sent: without its comment lines, blank lines and indentation, which are
/// for readers here and would otherwise cross the network with every command (the tie alone
/// goes with each). The scripts hold no here-document and no quoted text spanning lines
/// whose indentation or `#` lines matter; `scripts_are_valid_shell` checks both forms.
pub fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Where a host's deploy lock lives.
pub const LOCK_DIR: &str = "/run/fleet/lock";
/// How long a lock outlives its last renewal (fleet renews it every third of that).
pub const LOCK_LEASE: u64 = 30;
/// The exit code of a lock another run holds (the holder on stdout).
pub const LOCK_BUSY: i32 = 75;

/// What the lock script is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Take it (or wait for it: exit `LOCK_BUSY` says who holds it).
    Take,
    /// Renew this run's lease.
    Renew,
    /// Release it, if this run holds it.
    Release,
}

impl LockMode {
    /// The word lock.sh reads.
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Take => "take",
            LockMode::Renew => "renew",
            LockMode::Release => "release",
        }
    }
}

/// `switch-to-configuration`'s exit code when it switched but units failed to start (NixOS:
/// the system runs, some services do not).
pub const UNITS_FAILED: i32 = 4;

/// confirm.sh's exit codes (0: confirmed).
pub mod confirm_exit {
    /// The watchdog's time was up: the host is rolling itself back.
    pub const TOO_LATE: i32 = 5;
    /// The watchdog did not answer within the script's wait.
    pub const NO_ANSWER: i32 = 6;
    /// A later run has taken over the host (this run's watchdog was retired).
    pub const TAKEN_OVER: i32 = 7;
    /// Every code above: the confirmation did not happen, for a reason of its own.
    pub const ALL: [i32; 3] = [TOO_LATE, NO_ANSWER, TAKEN_OVER];
}

/// What fleet's scripts say to the run (a lock taken over, a watchdog retired, half-written
/// paths freed) start their line with this; the rest of the line is for the user.
pub const SAYS: &str = "fleet: ";

fn script(text: &str, name: &str, args: Vec<Arg>) -> Vec<Arg> {
    let mut argv = lits(&["sh", "-c", &compact(text), name]);
    argv.extend(args);
    argv
}

/// The deploy lock for `host`'s run: `take` it, `renew` its lease, or `release` it. The run
/// is named by its state directory on the host.
pub fn lock(host: &str, mode: LockMode, who: &str) -> Vec<Arg> {
    script(
        LOCK,
        "fleet-lock",
        vec![
            LOCK_DIR.into(),
            mode.as_str().into(),
            Arg::run_dir(host),
            who.into(),
            LOCK_LEASE.to_string().into(),
        ],
    )
}

/// Who holds the deploy lock: its owner file and how long ago its lease was renewed, as
/// the lock script says it to a run that waits; nothing (exit 1) when no run holds it.
/// Arguments: LOCK.
const LOCK_OWNER: &str = "l=$1\n[ -f \"$l/owner\" ] || exit 1\ncat \"$l/owner\"\necho \"renewed_ago=$(($(date +%s) - $(stat -c %Y \"$l/lease\" 2>/dev/null || date +%s)))\"";

/// Breaks the deploy lock: says whose it was (as `LOCK_OWNER`), then removes it; says
/// `none` when no run held it. Arguments: LOCK.
const UNLOCK: &str = "l=$1\nif [ ! -d \"$l\" ]; then echo none; exit 0; fi\ncat \"$l/owner\" 2>/dev/null\necho \"renewed_ago=$(($(date +%s) - $(stat -c %Y \"$l/lease\" 2>/dev/null || date +%s)))\"\nrm -rf \"$l\"";

/// See `LOCK_OWNER`.
pub fn read_lock() -> Vec<Arg> {
    script(LOCK_OWNER, "fleet-lock-owner", vec![LOCK_DIR.into()])
}

/// See `UNLOCK`.
pub fn unlock() -> Vec<Arg> {
    script(UNLOCK, "fleet-unlock", vec![LOCK_DIR.into()])
}

/// See `BACK`.
pub fn back() -> Vec<Arg> {
    script(BACK, "fleet-back", Vec::new())
}

/// Launch `system`'s activation detached (see `LAUNCH`); `system` is the new system's out
/// path, or the system profile for a rollback.
pub fn launch_activation(
    host: &str,
    system: Arg,
    action: Action,
    flags: ActivationFlags,
) -> Vec<Arg> {
    script(
        LAUNCH,
        "fleet-activate",
        vec![
            Arg::run_dir(host),
            system,
            action.as_str().into(),
            flags.word(action).into(),
        ],
    )
}

/// The last line NixOS's switch-to-configuration prints when its pre-switch checks fail (it
/// exits 1 then, having changed nothing).
pub const NIXOS_CHECKS_FAILED: &str = "Pre-switch checks failed";
/// The `pre` script's exit when the switch-inhibitors refuse a live activation (see `PRE`).
pub const INHIBITED: i32 = 8;
/// Its exit when the system's own pre-switch checks fail.
pub const CHECKS_FAILED: i32 = 9;

/// Arm the magic-rollback watchdog with `seconds` to confirm (see `WATCHDOG`).
pub fn arm_watchdog(host: &str, seconds: u64) -> Vec<Arg> {
    script(
        WATCHDOG,
        "fleet-watchdog",
        vec![
            Arg::run_dir(host),
            seconds.to_string().into(),
            WATCHDOG_START_LIMIT.to_string().into(),
            ACTIVATION_LIMIT.to_string().into(),
        ],
    )
}

/// Confirm the deployment; succeeds once the watchdog has stood down (see `CONFIRM`).
pub fn confirm(host: &str) -> Vec<Arg> {
    script(CONFIRM, "fleet-confirm", vec![Arg::run_dir(host)])
}

/// Wait (at most `seconds`, or what is left of them when run again) for the detached
/// activation's exit code, and print it.
pub fn await_activation(host: &str, seconds: u64) -> Vec<Arg> {
    script(
        AWAIT,
        "fleet-await",
        vec![
            Arg::run_dir_file(host, "/exit"),
            Arg::seconds_left(seconds),
            Arg::run_dir_file(host, "/started"),
        ],
    )
}

/// Wait (at most `seconds`, or what is left of them) for the watchdog's rollback to end, and
/// print its exit code.
pub fn await_rollback(host: &str, seconds: u64) -> Vec<Arg> {
    script(
        AWAIT,
        "fleet-await",
        vec![
            Arg::run_dir_file(host, "/rollback-exit"),
            Arg::seconds_left(seconds),
            Arg::run_dir_file(host, "/previous"),
        ],
    )
}

/// The detached activation's output.
pub fn activation_log(host: &str) -> Vec<Arg> {
    vec!["cat".into(), Arg::run_dir_file(host, "/log")]
}

/// Tell the watchdog to roll back now.
pub fn roll_back_now(host: &str) -> Vec<Arg> {
    vec!["touch".into(), Arg::run_dir_file(host, "/rollback")]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exit codes and words fleet reads are the ones the scripts use.
    #[test]
    fn the_scripts_protocol_is_the_one_fleet_reads() {
        let line = |text: &str, has: &str| -> String {
            text.lines()
                .find(|l| l.contains(has))
                .unwrap_or_else(|| panic!("no line with {has}"))
                .to_string()
        };
        assert!(line(CONFIRM, "too late").contains(&format!("exit {}", confirm_exit::TOO_LATE)));
        assert!(
            line(CONFIRM, "retired) echo").contains(&format!("exit {}", confirm_exit::TAKEN_OVER))
        );
        assert!(CONFIRM.ends_with(&format!("exit {}\n", confirm_exit::NO_ANSWER)));
        assert!(LOCK.contains(&format!("exit {LOCK_BUSY}")));
        for mode in [LockMode::Renew, LockMode::Release] {
            assert!(
                LOCK.contains(&format!("{}) if mine", mode.as_str())),
                "{mode:?}"
            );
        }
        for script in [CONFIRM, LOCK, WATCHDOG, FREE] {
            for said in script.lines().filter(|l| l.contains("echo \"fleet:")) {
                assert!(said.contains(&format!("echo \"{SAYS}")), "{said}");
            }
        }
    }

    /// The scripts parse as POSIX shell (`sh -n`), so a typo fails here, not on a host; and
    /// where shellcheck is installed, it finds nothing in them.
    #[test]
    fn scripts_are_valid_shell() {
        // The watchdog's inner script is a quoted string to the outer one: check it too.
        let inner = WATCHDOG
            .split_once("watch='")
            .and_then(|(_, rest)| rest.split_once("'\nif"))
            .map(|(inner, _)| inner)
            .expect("the watchdog's inner script");
        assert!(
            !inner.contains('\''),
            "the inner script cannot hold a quote"
        );
        let scripts = [
            ("launch", LAUNCH),
            ("watchdog", WATCHDOG),
            ("watchdog's inner script", inner),
            ("confirm", CONFIRM),
            ("lock", LOCK),
            ("back", BACK),
            ("await", AWAIT),
            ("tie", TIE_SOURCE),
            ("lock owner", LOCK_OWNER),
            ("unlock", UNLOCK),
            ("free", FREE),
            ("here", HERE),
            ("settings", SETTINGS),
            ("preview", PREVIEW),
        ];
        for (name, text) in scripts {
            for (form, text) in [("", text.to_string()), (" (compacted)", compact(text))] {
                let status = std::process::Command::new("sh")
                    .args(["-n", "-c", &text])
                    .status()
                    .expect("sh");
                assert!(status.success(), "{name}{form} is not valid shell");
            }
        }
        if which::which("shellcheck").is_err() {
            return;
        }
        for (name, text) in scripts {
            // SC2016: the inner scripts are single-quoted on purpose; they expand where they run.
            let mut child = std::process::Command::new("shellcheck")
                .args(["--shell=sh", "--exclude=SC2016", "-"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("shellcheck");
            if let Some(mut stdin) = child.stdin.take() {
                std::io::Write::write_all(&mut stdin, text.as_bytes()).expect("write");
            }
            let out = child.wait_with_output().expect("shellcheck");
            assert!(
                out.status.success(),
                "shellcheck on {name}:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
}
