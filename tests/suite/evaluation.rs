//! Evaluation as real flakes need it, on the lab's fixture whose hosts cost CPU, memory or an
//! error to evaluate: each host in a `nix eval` of its own (its error its own), several at
//! once, and a flake that did not change not evaluated again.

use std::path::{Path, PathBuf};

use crate::support::lab::Lab;

/// A `nix` first on PATH that records each call (`start TIME ARGS`, `end TIME`) and runs the
/// real one.
struct RecordingNix {
    dir: tempfile::TempDir,
}

impl RecordingNix {
    fn new() -> RecordingNix {
        use std::os::unix::fs::PermissionsExt;
        let real = which::which("nix").expect("nix on PATH");
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("calls");
        let script = format!(
            "#!/bin/sh\necho \"start $(date +%s.%N) $$ $*\" >> '{log}'\n'{real}' \"$@\"\nrc=$?\necho \"end $(date +%s.%N) $$\" >> '{log}'\nexit $rc\n",
            log = log.display(),
            real = real.display()
        );
        let nix = dir.path().join("nix");
        std::fs::write(&nix, script).expect("write nix");
        std::fs::set_permissions(&nix, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        RecordingNix { dir }
    }

    fn path_var(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    /// How many `nix eval` calls were made.
    fn evaluations(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.starts_with("start ") && c.contains(" eval "))
            .count()
    }

    /// The most `nix eval` processes that ran at once.
    fn most_at_once(&self) -> usize {
        let mut evals = std::collections::HashSet::new();
        let (mut now, mut most) = (0usize, 0usize);
        for call in self.calls() {
            let words: Vec<&str> = call.split_whitespace().collect();
            match words.as_slice() {
                ["start", _, pid, rest @ ..] if rest.contains(&"eval") => {
                    evals.insert(pid.to_string());
                    now += 1;
                    most = most.max(now);
                }
                ["end", _, pid] if evals.contains(*pid) => now -= 1,
                _ => {}
            }
        }
        most
    }

    fn clear(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("calls"));
    }
}

fn no_fleet_expression(text: &str) -> bool {
    !text.contains("--apply") && !text.contains("builtins.attrNames") && !text.contains("«string»")
}

#[test]
fn one_host_s_evaluation_error_is_its_own() {
    let lab = Lab::new();
    for h in ["samsung", "razer", "p510"] {
        lab.bump(h);
    }
    lab.set("razer", "eval_error", "undefined variable 'pkgs'".into());
    let razer_before = lab.running("razer");
    let run = lab.fleet(&["deploy", "samsung", "razer", "p510", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    for h in ["samsung", "p510"] {
        assert_eq!(lab.running(h), lab.evaluated(h), "{h} was not deployed");
    }
    assert_eq!(lab.running("razer"), razer_before);
    let report = run.json();
    let razer = report["hosts"]
        .as_array()
        .and_then(|hs| hs.iter().find(|h| h["host"] == "razer"))
        .expect("razer's row")
        .clone();
    assert_eq!(razer["outcome"], "failed", "{razer}");
    assert_eq!(razer["failure"]["step"], "evaluate razer", "{razer}");
    assert_eq!(
        razer["failure"]["message"], "evaluation failed: undefined variable 'pkgs'",
        "{razer}"
    );
    // With --show-trace and a deep error, Nix's message leads, before the trace's frames.
    lab.set("razer", "eval_error_depth", 30.into());
    let traced = lab.fleet(&["deploy", "razer", "--show-trace", "--json"]);
    assert_eq!(traced.code, 1, "{}", traced.stderr);
    let failure = &traced.json()["hosts"][0]["failure"];
    assert_eq!(
        failure["message"], "evaluation failed: undefined variable 'pkgs'",
        "{failure}"
    );
    assert_eq!(
        failure["output"][0], "error: undefined variable 'pkgs'",
        "{failure}"
    );
    lab.set("razer", "eval_error_depth", 0.into());
    // The text: razer's error in Nix's words, never fleet's expression.
    let text = lab.fleet(&["build", "samsung", "razer"]);
    assert_eq!(text.code, 1);
    assert!(
        text.stdout.contains(
            "razer failed at: evaluate razer\n  evaluation failed: undefined variable 'pkgs'"
        ),
        "{}",
        text.stdout
    );
    assert!(no_fleet_expression(&text.stdout), "{}", text.stdout);
    // validate: a line each.
    let validated = lab.fleet(&["validate", "samsung", "razer"]);
    assert_eq!(validated.code, 1, "{}", validated.stderr);
    assert!(
        validated
            .stdout
            .contains(&format!("samsung  {}", lab.evaluated("samsung"))),
        "{}",
        validated.stdout
    );
    assert!(
        validated
            .stdout
            .contains("razer    evaluation failed: undefined variable 'pkgs'"),
        "{}",
        validated.stdout
    );
    // quick-all's gate still stops everything, and names razer.
    lab.bump("samsung");
    let gated = lab.fleet(&["quick-all", "--yes", "--json"]);
    assert_eq!(gated.code, 1, "{}", gated.stderr);
    assert_ne!(
        lab.running("samsung"),
        lab.evaluated("samsung"),
        "deployed past the gate"
    );
    assert!(gated.stdout.contains("razer failed"), "{}", gated.stdout);
}

#[test]
fn hosts_evaluate_side_by_side_within_the_bound() {
    let lab = Lab::new();
    let hosts = ["samsung", "razer", "p510", "lab5"];
    let nix = RecordingNix::new();
    let path = nix.path_var();
    let mut timed = Vec::new();
    for jobs in ["1", "2"] {
        // A new source each time: nothing answers from the evaluation cache.
        for h in hosts {
            lab.bump(h);
            lab.set(h, "eval_ms", 1200.into());
        }
        nix.clear();
        let mut args = vec!["validate", "--eval-jobs", jobs];
        args.extend(hosts);
        let started = std::time::Instant::now();
        let run = lab.fleet_env(&[("PATH", &path)], &args);
        timed.push(started.elapsed().as_secs_f64());
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(nix.evaluations(), 4, "{:?}", nix.calls());
        assert_eq!(
            nix.most_at_once(),
            jobs.parse::<usize>().unwrap_or(0),
            "{:?}",
            nix.calls()
        );
    }
    let ratio = timed[1] / timed[0];
    assert!(
        ratio <= 0.7,
        "two at once took {:.2} s, one at a time {:.2} s ({ratio:.2}x)",
        timed[1],
        timed[0]
    );
}

#[test]
fn an_unchanged_flake_is_not_evaluated_again() {
    let lab = Lab::new();
    lab.bump("samsung");
    let nix = RecordingNix::new();
    let path = nix.path_var();
    lab.fleet_env(&[("PATH", &path)], &["deploy", "samsung"])
        .status(0);
    assert_eq!(nix.evaluations(), 1);
    // A no-op check, status and validate of the same flake: no evaluation at all.
    nix.clear();
    let quick = lab.fleet_env(&[("PATH", &path)], &["quick-deploy", "samsung", "--json"]);
    assert_eq!(quick.code, 0, "{}", quick.stderr);
    assert_eq!(quick.json()["hosts"][0]["outcome"], "unchanged");
    lab.fleet_env(&[("PATH", &path)], &["status", "samsung"])
        .status(0);
    lab.fleet_env(&[("PATH", &path)], &["validate", "samsung"])
        .status(0);
    assert_eq!(nix.evaluations(), 0, "{:?}", nix.calls());
    // A changed source is evaluated again; so is every host with --impure.
    lab.bump("samsung");
    nix.clear();
    lab.fleet_env(&[("PATH", &path)], &["validate", "samsung"])
        .status(0);
    lab.fleet_env(&[("PATH", &path)], &["validate", "samsung", "--impure"])
        .status(0);
    assert_eq!(nix.evaluations(), 2, "{:?}", nix.calls());
    // A system whose .drv is gone from the store (this one was never built, so nothing keeps
    // it) is evaluated again.
    let drv = cached_drv(lab.state_dir()).expect("a cached .drv");
    let deleted = std::process::Command::new("nix-store")
        .args(["--delete", &drv.display().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(deleted, "could not delete {}", drv.display());
    nix.clear();
    lab.fleet_env(&[("PATH", &path)], &["validate", "samsung"])
        .status(0);
    assert_eq!(nix.evaluations(), 1, "{:?}", nix.calls());
}

/// The newest `.drv` the evaluation cache names.
fn cached_drv(state: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(state.join("eval-cache.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["entries"]
        .as_array()?
        .last()?
        .get("drv")?
        .as_str()
        .map(PathBuf::from)
}

/// Arming the watchdog costs the same on a host deployed a hundred times since boot as on a
/// new one: run directories older than a day are removed, and the rest are read without a
/// process each. A run directory that is recent, and armed, is still retired.
#[test]
fn arming_the_watchdog_prunes_old_run_directories() {
    let lab = Lab::new();
    lab.leave_old_run_dirs("lab6", 90);
    let recent = "2026-12-01T00-00-00Z-2-lab6";
    lab.ssh(
        "10.213.1.15",
        &format!("mkdir -p /run/fleet/{recent} && echo armed > /run/fleet/{recent}/watchdog"),
    );
    lab.bump("lab6");
    lab.fleet(&["deploy", "lab6", "--confirm-timeout", "5"])
        .status(0);
    assert_eq!(lab.old_run_dirs_left("lab6"), 0);
    let retired = lab.ssh(
        "10.213.1.15",
        &format!("test -e /run/fleet/{recent}/retired && echo retired"),
    );
    assert_eq!(retired.trim(), "retired");
    assert_eq!(lab.running("lab6"), lab.evaluated("lab6"));
}

/// While the evaluation runs, the run opens its connections: with a slow evaluation, the
/// target's SSH master starts before its evaluation ends (a recording `ssh` and `nix` first
/// on PATH tell when each started and ended).
#[test]
fn connections_open_while_the_evaluation_runs() {
    use std::os::unix::fs::PermissionsExt;
    let lab = Lab::new();
    lab.bump("razer");
    lab.set("razer", "eval_ms", 3000.into());
    let nix = RecordingNix::new();
    let real = which::which("ssh").expect("ssh on PATH");
    let ssh = nix.dir.path().join("ssh");
    std::fs::write(
        &ssh,
        format!(
            "#!/bin/sh\necho \"ssh $(date +%s.%N) $*\" >> '{}'\nexec '{}' \"$@\"\n",
            nix.dir.path().join("calls").display(),
            real.display()
        ),
    )
    .expect("write ssh");
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = nix.path_var();
    let run = lab.fleet_env(
        &[("PATH", &path)],
        &["deploy", "razer", "--keep-connections", "0"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let calls = nix.calls();
    let time = |line: &str| -> f64 {
        line.split_whitespace()
            .nth(1)
            .and_then(|t| t.parse().ok())
            .unwrap_or(f64::MAX)
    };
    let master = calls
        .iter()
        .find(|c| c.starts_with("ssh ") && c.contains(" -M "))
        .map(|c| time(c))
        .expect("a master started");
    let eval_pid = calls
        .iter()
        .find(|c| c.starts_with("start ") && c.contains(" eval "))
        .and_then(|c| c.split_whitespace().nth(2))
        .expect("an evaluation")
        .to_string();
    let eval_end = calls
        .iter()
        .find(|c| c.starts_with("end ") && c.ends_with(&format!(" {eval_pid}")))
        .map(|c| time(c))
        .expect("the evaluation ended");
    assert!(
        master < eval_end,
        "the master started after the evaluation: {calls:#?}"
    );
}

/// The evaluation cache's entries: each `.drv`, out path and the machine that has the `.drv`.
fn cache_entries(state: &Path) -> Vec<(String, String, Option<String>)> {
    let text = std::fs::read_to_string(state.join("eval-cache.json")).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    v["entries"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    (
                        e["drv"].as_str().unwrap_or_default().to_string(),
                        e["out"].as_str().unwrap_or_default().to_string(),
                        e["on"].as_str().map(String::from),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `--eval-on p620`: the flake goes to p620 once, every host is evaluated there, and this
/// machine runs no `nix eval` and never holds a system's derivations. Hosts built on p620 use
/// the derivations where they are; razer, which builds itself, gets them from p620. A second
/// run of the same flake evaluates nothing anywhere and sends nothing.
#[test]
fn evaluating_on_the_builder_evaluates_nothing_here() {
    let lab = Lab::new();
    let hosts = ["samsung", "razer", "p510"];
    for h in hosts {
        lab.bump(h);
        lab.set(h, "eval_mb", 64.into());
    }
    let nix = RecordingNix::new();
    let path = nix.path_var();
    let mut args = vec!["deploy", "--eval-on", "p620", "--json"];
    args.extend(hosts);
    let run = lab.fleet_env(&[("PATH", &path)], &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(nix.evaluations(), 0, "{:?}", nix.calls());
    let archives = nix
        .calls()
        .iter()
        .filter(|c| c.starts_with("start ") && c.contains(" flake archive "))
        .count();
    assert_eq!(archives, 1, "{:?}", nix.calls());
    let entries = cache_entries(lab.state_dir());
    assert_eq!(entries.len(), 3, "{entries:?}");
    for (drv, out, on) in &entries {
        assert_eq!(on.as_deref(), Some("p620"), "{entries:?}");
        assert!(!lab.here_has_path(drv), "{drv} is here");
        assert!(lab.has_path("p620", drv), "{drv} is not on p620");
        assert!(!lab.here_has_path(out), "{out} is here");
    }
    let report = run.json();
    for (i, h) in hosts.iter().enumerate() {
        let host = &report["hosts"][i];
        assert_eq!(host["outcome"], "deployed", "{host}");
        let built_on = if *h == "razer" { "razer" } else { "p620" };
        assert_eq!(host["built_on"], built_on, "{host}");
        assert_eq!(
            Some(lab.running(h).as_str()),
            host["system"].as_str(),
            "{host}"
        );
    }
    // The same flake again: answered from the cache, p620 asked only what it still has.
    nix.clear();
    let mut again = vec!["quick-deploy", "--eval-on", "p620", "--json"];
    again.extend(hosts);
    let quick = lab.fleet_env(&[("PATH", &path)], &again);
    assert_eq!(quick.code, 0, "{}", quick.stderr);
    for i in 0..hosts.len() {
        assert_eq!(quick.json()["hosts"][i]["outcome"], "unchanged");
    }
    let sent_or_evaluated = nix
        .calls()
        .into_iter()
        .filter(|c| c.contains(" eval ") || c.contains(" flake archive "))
        .collect::<Vec<_>>();
    assert!(sent_or_evaluated.is_empty(), "{sent_or_evaluated:?}");
    for h in hosts {
        assert_eq!(lab.running(h), lab.evaluated(h));
    }
}

/// With p620 down, `--eval-on p620` evaluates here and says so; the hosts are evaluated.
#[test]
fn a_builder_that_cannot_be_reached_evaluates_here_instead() {
    let lab = Lab::new();
    lab.bump("samsung");
    lab.bump("razer");
    lab.stop_host("p620");
    let nix = RecordingNix::new();
    let path = nix.path_var();
    let run = lab.fleet_env(
        &[("PATH", &path)],
        &[
            "validate",
            "samsung",
            "razer",
            "--eval-on",
            "p620",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("p620 cannot be reached: evaluating here instead"),
        "{}",
        run.stderr
    );
    assert_eq!(nix.evaluations(), 2, "{:?}", nix.calls());
    let report = run.json();
    for (i, h) in ["samsung", "razer"].iter().enumerate() {
        assert_eq!(report["hosts"][i]["outcome"], "evaluated");
        assert_eq!(
            report["hosts"][i]["system"].as_str(),
            Some(lab.evaluated(h).as_str())
        );
    }
}

/// A git flake with uncommitted changes is evaluated on p620 as it is here: the dirty tree
/// is what `nix flake archive` sends.
#[test]
fn a_dirty_git_tree_is_evaluated_on_the_builder_as_it_is_here() {
    let lab = Lab::new();
    let repo = tempfile::tempdir_in(&lab.dir).expect("temp dir");
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(repo.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "git {args:?}");
    };
    for f in [
        "flake.nix",
        "hosts.json",
        "build-system.sh",
        "switch-to-configuration.sh",
    ] {
        std::fs::copy(lab.dir.join("flake").join(f), repo.path().join(f)).expect("copy");
    }
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "fixture"]);
    // Uncommitted: a new version of samsung.
    let settings = repo.path().join("hosts.json");
    let text = std::fs::read_to_string(&settings).expect("hosts.json");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["hosts"]["samsung"]["version"] = "dirty".into();
    std::fs::write(&settings, v.to_string()).expect("write");
    let flake = format!("git+file://{}", repo.path().display());
    let nix = RecordingNix::new();
    let path = nix.path_var();
    let run = lab.fleet_env(
        &[("PATH", &path)],
        &[
            "validate",
            "samsung",
            "--flake",
            &flake,
            "--eval-on",
            "p620",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(nix.evaluations(), 0, "{:?}", nix.calls());
    let system = run.json()["hosts"][0]["system"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(system.ends_with("-nixos-system-samsung-dirty"), "{system}");
    let here = std::process::Command::new("nix")
        .args([
            "--extra-experimental-features",
            "nix-command flakes",
            "eval",
            "--raw",
            &format!("{flake}#nixosConfigurations.samsung.config.system.build.toplevel.outPath"),
        ])
        .envs(lab.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("nix eval");
    assert_eq!(String::from_utf8_lossy(&here.stdout).trim(), system);
}
