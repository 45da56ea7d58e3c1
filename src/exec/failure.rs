//! What a failed step means for the person who has to fix it: the message, the command, its
//! last output, and the next thing to try, in one voice for every step.

use super::log::Log;
use super::run::Finished;
use super::transport::RunError;
use crate::plan::{HostPlan, Machine, Step, StepKind};
use crate::report::Failure;

pub(super) fn prepare_failure(
    step: &Step,
    outcome: Result<Finished, RunError>,
    log: &Log,
) -> String {
    let mut text = format!("{} failed", step.title);
    let missing = outcome.as_ref().is_err_and(RunError::program_missing);
    match outcome {
        Ok(f) => {
            text.push_str(&format!(
                " (exit {})\n  command: {}\n",
                f.code.map_or("-".into(), |c| c.to_string()),
                f.shown
            ));
            for line in &f.tail {
                text.push_str(&format!("    | {line}\n"));
            }
        }
        Err(e) => text.push_str(&format!(": {e}\n")),
    }
    let next = match &step.kind {
        _ if missing => {
            "install Nix on this machine (fleet runs `nix` here to evaluate and copy), or put it on PATH"
        }
        StepKind::Evaluate(_) => {
            "fix the evaluation error above (try `fleet validate`); nothing was built or deployed"
        }
        StepKind::CheckFlake => "fix what `nix flake check` reports",
        StepKind::UpdateFlake => {
            "check the inputs' URLs and your network; flake.lock is unchanged if the update failed"
        }
        _ => "see the log",
    };
    if log.is_open() {
        text.push_str(&format!("  log: {}\n", log.path.display()));
    }
    text.push_str(&format!("  next: {next}"));
    text
}

/// How a command that ran ended, in a few words.
fn how_it_ended(f: &Finished) -> String {
    match (f.code, f.quiet_for) {
        (_, Some(secs)) => {
            format!("it printed nothing for {secs} s and was stopped (the inactivity timeout)")
        }
        (Some(c), None) => format!("exited with code {c}"),
        (None, None) => "the command was cut off (the connection dropped, or it was killed)".into(),
    }
}

/// A failed step, described for the person who has to fix it.
pub(super) fn failure(
    hp: &HostPlan,
    step: &Step,
    outcome: Result<Finished, RunError>,
    drv: Option<&str>,
) -> Failure {
    let on = match &step.run.on {
        Machine::Local => "this machine".to_string(),
        Machine::Host(h) => h.clone(),
    };
    let cause = Cause::of(&outcome, &hp.host);
    let (command, exit_code, output, mut message) = match outcome {
        Ok(f) => (
            Some(f.shown.clone()),
            f.code,
            f.tail.clone(),
            how_it_ended(&f),
        ),
        Err(e) => (None, None, Vec::new(), e.to_string()),
    };
    let full = matches!(cause, Cause::StoreFull);
    let unreachable = match &cause {
        Cause::Down(down) => Some(down.clone()),
        Cause::Unreachable => Some(hp.host.clone()),
        _ => None,
    };
    let next = match cause {
        Cause::Quiet => format!(
            "if it was working without a word (one long build), raise `inactivity_timeout` in [fleet] of hosts.toml or pass --inactivity-timeout SECS (0: no limit); else see what hung on {on}"
        ),
        Cause::StoreFull => {
            // Where the store filled up: the machine the command wrote to.
            let full_on = match &step.kind {
                StepKind::CopyClosure | StepKind::SetProfile => hp.host.clone(),
                _ => on.clone(),
            };
            message = format!("the Nix store on {full_on} is full (No space left on device)");
            format!(
                "free space on {full_on}: `fleet gc {full_on}` deletes its old generations and collects garbage (`fleet gc {full_on} --dry-run` shows what would go); then deploy again"
            )
        }
        Cause::SudoRefused(refused) => sudo_refused_next(&refused, &hp.host),
        Cause::SudoWantsPassword => {
            message = format!("sudo on {on} wants a password, and fleet was not asked to give one");
            format!(
                "pass --ask-sudo-password (or set `sudo_password = true` for {on} in hosts.toml) to type it once for the run; or allow the deploy user passwordless sudo on {on} (security.sudo.wheelNeedsPassword = false), or deploy as root"
            )
        }
        Cause::Down(down) => format!(
            "start {down} (or wake it), or build elsewhere: --fallback target (on {}) or --fallback local, or `fallback = \"target\"` for {} in hosts.toml",
            hp.host, hp.host
        ),
        Cause::Unreachable => {
            format!("check that {on} is up and reachable at one of its addresses, then run fleet again")
        }
        Cause::Step => {
            next_for_step(hp, step, &on, drv)
        }
    };
    Failure {
        step: step.title.clone(),
        command,
        exit_code,
        message,
        output,
        next,
        unreachable,
        fatal: full,
        refused: false,
    }
}

/// The units a switch reports failed ("the following units failed: a.service, b.service",
/// as NixOS's switch-to-configuration says), from its last output lines.
pub(super) fn failed_units(output: &[String]) -> Vec<String> {
    output
        .iter()
        .filter_map(|l| l.split_once("units failed:").map(|(_, units)| units))
        .flat_map(|units| units.split([',', ' ']))
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(String::from)
        .collect()
}

/// A switch that happened and left units failed (exit 4), kept as the host's settings say:
/// reported as what it is, not as a failed activation.
pub(super) fn units_failed(hp: &HostPlan, mut f: Failure) -> Failure {
    let units = failed_units(&f.output);
    let host = &hp.host;
    f.message = if units.is_empty() {
        format!("{host} switched to the new system, but some units failed")
    } else {
        format!(
            "{host} switched to the new system, but these units failed: {}",
            units.join(", ")
        )
    };
    f.next = format!(
        "the new system is kept (failed_units = \"keep\"): see `systemctl --failed` and `journalctl -u UNIT` on {host}, fix and deploy again, or `fleet rollback {host}`; failed_units = \"rollback\" in hosts.toml rolls such a switch back"
    );
    f
}

/// What to do when sudo on a host would not take the run's password.
fn sudo_refused_next(refused: &super::transport::sudo::Refused, host: &str) -> String {
    use super::transport::sudo::Refused;
    match refused {
        Refused::Wrong { .. } => format!(
            "run again and type the deploy user's sudo password for {host} (fleet gives each host's sudo one try, and a second only with a password asked for that host, so PAM's faillock never locks the user out)"
        ),
        Refused::NoneGiven { .. } => format!(
            "run fleet from a terminal, so it can ask for {host}'s sudo password"
        ),
        Refused::Other { .. } => format!(
            "check that the deploy user may run commands as root through sudo on {host} (wheel, or security.sudo.extraRules)"
        ),
    }
}

/// Why a step failed, read from what the command returned (never from a message made of it):
/// the cause decides what the report tells the user to do next.
enum Cause {
    /// It printed nothing for too long and was stopped (`inactivity_timeout`).
    Quiet,
    /// The Nix store it wrote to is full.
    StoreFull,
    /// The host's sudo refused the run's password.
    SudoRefused(super::transport::sudo::Refused),
    /// The host's sudo wants a password, and the run was not given one.
    SudoWantsPassword,
    /// Another machine the step needs (a builder) could not be reached.
    Down(String),
    /// The host itself could not be reached.
    Unreachable,
    /// The step's command failed on its own terms.
    Step,
}

impl Cause {
    fn of(outcome: &Result<Finished, RunError>, host: &str) -> Cause {
        let said = |f: &Finished, needle: &str| f.tail.iter().any(|l| l.contains(needle));
        match outcome {
            Ok(f) if f.quiet_for.is_some() => Cause::Quiet,
            Ok(f) if said(f, "No space left on device") => Cause::StoreFull,
            Err(RunError::Sudo(refused)) => Cause::SudoRefused(refused.clone()),
            Ok(f) if said(f, "a password is required") || said(f, "a terminal is required") => {
                Cause::SudoWantsPassword
            }
            Err(RunError::Connect(e)) if e.host != host => Cause::Down(e.host.clone()),
            Err(RunError::Connect(_)) => Cause::Unreachable,
            _ => Cause::Step,
        }
    }
}

/// What to do next about a step whose command failed on its own terms.
fn next_for_step(hp: &HostPlan, step: &Step, on: &str, drv: Option<&str>) -> String {
    match &step.kind {
        StepKind::CopyDerivations(_) => format!(
            "check that this machine may write to {on}'s store over SSH (root, or a trusted user there)"
        ),
        StepKind::Build => match drv {
            Some(drv) => format!(
                "read the build error above; `nix log {drv}` on {on} prints the whole build log"
            ),
            None => format!("read the build error above; the full build log is on {on}"),
        },
        StepKind::CopyClosure => format!(
            "check that {} trusts the builder's key and reaches its cache (nix.settings.trusted-public-keys, substituters)",
            hp.host
        ),
        StepKind::SetProfile => format!("check that the deploy user on {on} may run nix-env on the system profile"),
        StepKind::PreActivate => format!(
            "nothing was activated on {on}: fix this pre_activate command (hosts.toml) or what it needs there, then deploy again"
        ),
        StepKind::Activate(_) => format!(
            "read switch-to-configuration's output above; on {on}, `journalctl -b` tells more"
        ),
        StepKind::ArmWatchdog(_) => format!(
            "nothing was changed on {on}; deploy with --no-rollback to go on without magic rollback"
        ),
        StepKind::HealthCheck => format!(
            "the new system failed this health check: read its output above, fix the configuration (or the check in hosts.toml) and deploy again; on {on}, `journalctl -b` tells more"
        ),
        StepKind::Confirm => format!(
            "check that {on} accepts a new SSH login after the switch (sshd, users, keys, firewall), then deploy again"
        ),
        _ => "see the log".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_units_are_read_from_the_switch_output() {
        let out = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        assert_eq!(
            failed_units(&out(&[
                "activating the configuration...",
                "warning: the following units failed: lab-broken.service, user@1000.service",
            ])),
            ["lab-broken.service", "user@1000.service"]
        );
        assert!(failed_units(&out(&["all fine"])).is_empty());
    }
}
