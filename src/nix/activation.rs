//! The small shell scripts fleet runs on a host around `switch-to-configuration`: a detached
//! launch that survives a dropped connection, and magic rollback's watchdog. Each script is a
//! constant; every value reaches it as a positional argument, never pasted into its text.
//!
//! A run keeps its state for a host in `/run/fleet/RUN-HOST` (root's, mode 0700, gone at
//! reboot): `started`, then `log` and `exit` from the activation; `previous` (the generation to
//! return to), `watchdog` (armed, confirmed, rolling-back, rolled-back), `confirmed`,
//! `rollback` and `rollback-exit` from the watchdog.

use super::lits;
use crate::vocab::{Action, Arg};

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
const LAUNCH: &str = r#"d=$1; system=$2; action=$3
umask 077
if [ ! -x "$system/bin/switch-to-configuration" ]; then
  echo "fleet: $system/bin/switch-to-configuration is missing or not executable" >&2
  exit 127
fi
mkdir -p "$d" && rm -f "$d/exit" "$d/log" && : > "$d/started" || exit 1
run='"$2/bin/switch-to-configuration" "$3" > "$1/log" 2>&1; echo $? > "$1/exit.new" && mv "$1/exit.new" "$1/exit"'
if [ -d /run/systemd/system ] && command -v systemd-run > /dev/null; then
  systemd-run --quiet --collect --setenv=PATH="$PATH" --unit="fleet-activate-${d##*/}" \
    /bin/sh -c "$run" fleet-activate "$d" "$system" "$action" && exit 0
  # Not launched: say so where the activation's end is awaited, so nothing waits for it.
  code=$?; echo "$code" > "$d/exit"; exit "$code"
fi
setsid /bin/sh -c "$run" fleet-activate "$d" "$system" "$action" < /dev/null > /dev/null 2>&1 &"#;

/// Magic rollback's watchdog. Armed before the system profile changes, it records the
/// generation to return to, then waits: for the activation to start, for it to end, then
/// SECS for fleet's confirmation. Without it, or as soon as `rollback` appears, the profile
/// goes back to that generation and its system is switched to, by the host itself, so it
/// acts even when no one can log in any more. An activation under way is always waited for:
/// two switch-to-configuration at once would break the host. Arguments: DIR SECS
/// START_LIMIT ACTIVATION_LIMIT.
const WATCHDOG: &str = r#"d=$1; secs=$2; start_limit=$3; activation_limit=$4
umask 077
profile=/nix/var/nix/profiles/system
link=$(readlink "$profile") || {
  echo "fleet: $profile is not a profile link, so there is nothing to roll back to" >&2; exit 1; }
gen=${link##*/}; gen=${gen#system-}; gen=${gen%-link}
case $gen in
  ''|*[!0-9]*) echo "fleet: cannot tell the generation of $profile ($link)" >&2; exit 1 ;;
esac
mkdir -p "$d" && rm -f "$d/started" "$d/exit" "$d/confirmed" "$d/rollback" "$d/rollback-exit" || exit 1
echo "$gen" > "$d/previous" && echo armed > "$d/watchdog" || exit 1
watch='d=$1; secs=$2; start_limit=$3; activation_limit=$4; gen=$5
profile=/nix/var/nix/profiles/system
wait_for() {
  i=0
  while [ ! -e "$2" ] && [ "$i" -lt "$1" ]; do
    if [ "${3:-}" = or-rollback ] && [ -e "$d/rollback" ]; then return; fi
    sleep 1; i=$((i + 1))
  done
}
wait_for "$start_limit" "$d/started" or-rollback
[ -e "$d/started" ] && wait_for "$activation_limit" "$d/exit"
[ -e "$d/exit" ] && wait_for "$secs" "$d/confirmed" or-rollback
if [ -e "$d/confirmed" ] && [ ! -e "$d/rollback" ]; then echo confirmed > "$d/watchdog"; exit 0; fi
echo rolling-back > "$d/watchdog"
now=$(readlink "$profile")
if [ "${now##*/}" = "system-$gen-link" ] && [ "$(readlink -f /run/current-system)" = "$(readlink -f "$profile")" ]; then
  echo "nothing to undo: generation $gen is the profile and runs" > "$d/rollback.log"; code=0
else
  { nix-env -p "$profile" --switch-generation "$gen" && "$profile/bin/switch-to-configuration" switch; } > "$d/rollback.log" 2>&1
  code=$?
fi
echo rolled-back > "$d/watchdog"
echo "$code" > "$d/rollback-exit.new" && mv "$d/rollback-exit.new" "$d/rollback-exit"'
if [ -d /run/systemd/system ] && command -v systemd-run > /dev/null; then
  exec systemd-run --quiet --collect --setenv=PATH="$PATH" --unit="fleet-watchdog-${d##*/}" \
    /bin/sh -c "$watch" fleet-watchdog "$d" "$secs" "$start_limit" "$activation_limit" "$gen"
fi
setsid /bin/sh -c "$watch" fleet-watchdog "$d" "$secs" "$start_limit" "$activation_limit" "$gen" < /dev/null > /dev/null 2>&1 &"#;

/// Confirms a deployment and waits (a second or so) for the watchdog to acknowledge it: a
/// confirmation that comes as the watchdog's time runs out must not count. Arguments: DIR.
const CONFIRM: &str = r#"d=$1
: > "$d/confirmed" || exit 1
i=0
while [ "$i" -lt 50 ]; do
  case $(cat "$d/watchdog" 2>/dev/null) in
    confirmed) echo confirmed; exit 0 ;;
    rolling-back|rolled-back) echo "fleet: too late, the host is rolling itself back" >&2; exit 5 ;;
  esac
  sleep 0.2; i=$((i + 1))
done
echo "fleet: the rollback watchdog did not answer" >&2
exit 6"#;

/// Waits until FILE is not empty and prints it; exits 2 after LIMIT seconds, and 3 at once
/// when MARKER (if given) is missing: whatever would write FILE was never started here.
/// Arguments: FILE LIMIT [MARKER].
const AWAIT: &str = r#"f=$1; ticks=$(($2 * 5)); i=0
while [ ! -s "$f" ]; do
  if [ -n "${3:-}" ] && [ ! -e "$3" ]; then echo "fleet: nothing was started here ($3 is missing)" >&2; exit 3; fi
  if [ "$i" -ge "$ticks" ]; then echo "fleet: gave up waiting for $f after $2 s" >&2; exit 2; fi
  sleep 0.2; i=$((i + 1))
done
cat "$f""#;

fn script(text: &str, name: &str, args: Vec<Arg>) -> Vec<Arg> {
    let mut argv = lits(&["sh", "-c", text, name]);
    argv.extend(args);
    argv
}

/// Launch `system`'s activation detached (see `LAUNCH`); `system` is the new system's out
/// path, or the system profile for a rollback.
pub fn launch_activation(host: &str, system: Arg, action: Action) -> Vec<Arg> {
    script(
        LAUNCH,
        "fleet-activate",
        vec![Arg::run_dir(host), system, action.as_str().into()],
    )
}

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

    /// The scripts parse as POSIX shell (`sh -n`), so a typo fails here, not on a host.
    #[test]
    fn scripts_are_valid_shell() {
        for (name, text) in [
            ("launch", LAUNCH),
            ("watchdog", WATCHDOG),
            ("confirm", CONFIRM),
            ("await", AWAIT),
        ] {
            let status = std::process::Command::new("sh")
                .args(["-n", "-c", text])
                .status()
                .expect("sh");
            assert!(status.success(), "{name} is not valid shell");
        }
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
        let status = std::process::Command::new("sh")
            .args(["-n", "-c", inner])
            .status()
            .expect("sh");
        assert!(
            status.success(),
            "the watchdog's inner script is not valid shell"
        );
    }
}
