//! fleet against the lab: real sshd, real nix, real stores. Every assertion is on host state
//! (profiles, /run/current-system, stores, activation logs, sshd logins, bytes on the wire),
//! never on fleet's printed words alone.

use crate::support::lab::{wait_until, Lab};
use serde_json::json;

#[test]
fn deploy_via_the_builder_never_passes_the_closure_through_here() {
    let lab = Lab::new();
    lab.bump("samsung");
    lab.new_payload("samsung", 2048);
    let new = lab.evaluated("samsung");
    let bytes_before = lab.bytes_here();

    lab.fleet(&["deploy", "samsung", "--via", "p620"]).status(0);

    let moved = lab.bytes_here() - bytes_before;
    assert_eq!(lab.running("samsung"), new);
    assert_eq!(lab.profile("samsung"), new);
    assert_eq!(lab.generation("samsung"), 2);
    assert!(lab.has_path("p620", &new), "built on p620");
    assert!(
        !lab.here_has_path(&new),
        "the closure came through this machine"
    );
    assert!(
        moved < 200 * 1024,
        "{moved} bytes passed through this machine for a 2 MiB closure"
    );
}

#[test]
fn deploy_without_a_builder_builds_on_the_target() {
    let lab = Lab::new();
    lab.bump("razer");
    let new = lab.evaluated("razer");
    // `-L`: the build's own output, as it comes, on razer's lines.
    let run = lab.fleet(&["deploy", "razer", "-L"]).status(0);
    assert!(
        run.stderr
            .contains("[razer] | lab: building the system of razer"),
        "{}",
        run.stderr
    );
    assert_eq!(lab.running("razer"), new);
    assert!(
        !lab.has_path("p620", &new),
        "razer's system was built on p620"
    );
    assert!(!lab.here_has_path(&new), "razer's system was built here");
    // Built there, it is a GC root there, as a builder's builds are (until it is the
    // profile, and after, replaced by the next build).
    assert_eq!(
        lab.ssh(
            "10.213.1.12",
            "readlink /root/.local/state/fleet/gcroots/razer"
        )
        .trim(),
        new
    );
    // Without it, the build's output is in razer's log only.
    lab.bump("razer");
    let run = lab.fleet(&["deploy", "razer"]).status(0);
    assert!(!run.stderr.contains("lab: building"), "{}", run.stderr);
}

#[test]
fn build_on_a_builder_activates_nothing() {
    let lab = Lab::new();
    let first = lab.running("razer");
    lab.bump("razer");
    let new = lab.evaluated("razer");
    lab.fleet(&["build", "razer", "--on", "p620"]).status(0);
    assert!(lab.has_path("p620", &new));
    assert!(!lab.has_path("razer", &new));
    assert_eq!(lab.running("razer"), first);
    assert_eq!(lab.generation("razer"), 1);
    assert!(lab.activations("razer").is_empty());
}

/// A system built on the builder is a GC root there (one per host, replaced by the next
/// build): the builder's garbage collection does not take it before its target fetches it.
/// `fleet build` says each out path and where it is kept.
#[test]
fn builds_on_the_builder_survive_its_garbage_collection() {
    let lab = Lab::new();
    lab.bump("razer");
    let first = lab.evaluated("razer");
    let run = lab.fleet(&["build", "razer", "--via", "p620"]).status(0);
    assert!(
        run.stdout.contains(&format!(
            "razer  {first}  on p620, kept there at ~/.local/state/fleet/gcroots/razer"
        )),
        "{}",
        run.stdout
    );
    let root = lab
        .host_dir("p620")
        .join("root/.local/state/fleet/gcroots/razer");
    assert_eq!(
        std::fs::read_link(&root)
            .map(|p| p.display().to_string())
            .ok(),
        Some(first.clone())
    );
    lab.ssh("10.213.1.10", "nix-store --gc > /dev/null 2>&1");
    assert!(
        lab.has_path("p620", &first),
        "collected before razer had it"
    );

    lab.bump("razer");
    let second = lab.evaluated("razer");
    lab.fleet(&["build", "razer", "--via", "p620"]).status(0);
    lab.ssh("10.213.1.10", "nix-store --gc > /dev/null 2>&1");
    assert!(lab.has_path("p620", &second));
    assert!(
        !lab.has_path("p620", &first),
        "the previous build's root was not replaced"
    );
}

#[test]
fn quick_deploy_of_an_unchanged_host_does_nothing_over_one_login() {
    let lab = Lab::new();
    let (samsung, p620) = (lab.logins("samsung"), lab.logins("p620"));
    let run = lab.fleet(&["quick-deploy", "samsung", "--json"]).status(0);
    assert_eq!(run.json()["hosts"][0]["outcome"], "unchanged");
    assert_eq!(
        lab.logins("samsung") - samsung,
        1,
        "one SSH login to samsung"
    );
    assert_eq!(lab.logins("p620") - p620, 0, "nothing was built on p620");
    assert!(lab.activations("samsung").is_empty());
    assert_eq!(lab.generation("samsung"), 1);
}

#[test]
fn one_login_per_host_for_a_whole_deployment() {
    let lab = Lab::new();
    lab.bump("samsung");
    let (samsung, p620) = (lab.logins("samsung"), lab.logins("p620"));
    lab.fleet(&["deploy", "samsung", "--no-rollback"]).status(0);
    assert_eq!(lab.logins("samsung") - samsung, 1);
    assert_eq!(
        lab.logins("p620") - p620,
        1,
        "derivations copied and built over one login"
    );
    // With magic rollback, the confirmation is a login of its own, by design: it proves that
    // someone can still log in after the switch. The deployment itself rides the master the
    // first run kept open.
    lab.bump("samsung");
    let samsung = lab.logins("samsung");
    lab.fleet(&["deploy", "samsung"]).status(0);
    assert_eq!(lab.logins("samsung") - samsung, 1);
}

#[test]
fn deploy_all_parallel_activates_hosts_at_the_same_time() {
    let lab = Lab::new();
    let hosts = ["samsung", "razer", "p510", "lab5"];
    for h in hosts {
        lab.bump(h);
        lab.set(h, "activation_sleep", json!(3));
    }
    lab.fleet(&[
        "deploy-all-parallel",
        "samsung",
        "razer",
        "p510",
        "lab5",
        "-j",
        "4",
    ])
    .status(0);
    let spans: Vec<(f64, f64)> = hosts
        .iter()
        .map(|h| {
            let a = lab.activations(h);
            let start = a.iter().find(|x| x.event == "start-switch").map(|x| x.at);
            let end = a.iter().find(|x| x.event == "end-switch").map(|x| x.at);
            (start.expect("started"), end.expect("ended"))
        })
        .collect();
    // All four 3 s activations were under way together: the last start precedes the first end.
    let last_start = spans.iter().map(|s| s.0).fold(f64::MIN, f64::max);
    let first_end = spans.iter().map(|s| s.1).fold(f64::MAX, f64::min);
    assert!(
        last_start < first_end,
        "activations did not overlap: {spans:?}"
    );
    for h in hosts {
        assert_eq!(lab.running(h), lab.evaluated(h));
    }
}

#[test]
fn quick_all_deploys_exactly_the_changed_hosts() {
    let lab = Lab::new();
    lab.bump("razer");
    lab.bump("lab6");
    let run = lab.fleet(&["quick-all", "--yes", "--json"]).status(0);
    let report = run.json();
    for h in report["hosts"].as_array().expect("hosts") {
        let name = h["host"].as_str().unwrap_or_default();
        let expected = if name == "razer" || name == "lab6" {
            "deployed"
        } else {
            "unchanged"
        };
        assert_eq!(h["outcome"], expected, "{name}");
    }
    assert_eq!(lab.running("razer"), lab.evaluated("razer"));
    assert_eq!(lab.running("lab6"), lab.evaluated("lab6"));
    for h in ["p620", "samsung", "p510", "lab5", "lab7", "lab8"] {
        assert!(lab.activations(h).is_empty(), "{h} was activated");
        assert_eq!(lab.generation(h), 1);
    }
    assert!(
        run.stderr.contains("2 hosts changed and will be deployed"),
        "{}",
        run.stderr
    );
}

/// After `--action test` the host runs the new system but boots the old one: for quick
/// deployments that is not "unchanged" for a switch (the profile and boot entry are still to
/// set), and it is for a test.
#[test]
fn unchanged_means_unchanged_for_the_action() {
    let lab = Lab::new();
    lab.bump("razer");
    let new = lab.evaluated("razer");
    lab.fleet(&["deploy", "razer", "--action", "test"])
        .status(0);
    assert_eq!(lab.running("razer"), new);
    assert_eq!(lab.generation("razer"), 1);

    let run = lab
        .fleet(&["quick-deploy", "razer", "--action", "test", "--json"])
        .status(0);
    assert_eq!(run.json()["hosts"][0]["outcome"], "unchanged");

    let run = lab.fleet(&["quick-deploy", "razer", "--json"]).status(0);
    assert_eq!(run.json()["hosts"][0]["outcome"], "deployed");
    assert_eq!(lab.generation("razer"), 2);
    assert_eq!(lab.profile("razer"), new);
    assert_eq!(lab.boot_entry("razer"), new);

    let switches = lab.activations("razer").len();
    let run = lab.fleet(&["quick-all", "--yes", "--json"]).status(0);
    let razer = run.json()["hosts"]
        .as_array()
        .and_then(|hosts| hosts.iter().find(|h| h["host"] == "razer").cloned())
        .expect("razer");
    assert_eq!(razer["outcome"], "unchanged");
    assert_eq!(razer["after"]["profile"], serde_json::json!(new));
    assert_eq!(
        lab.activations("razer").len(),
        switches,
        "razer was activated"
    );
}

#[test]
fn quick_all_with_a_failed_build_deploys_nothing() {
    let lab = Lab::new();
    lab.bump("razer");
    lab.bump("samsung");
    lab.set("samsung", "build_fail", json!(true));
    let run = lab.fleet(&["quick-all", "--yes"]).status(1);
    assert!(
        lab.activations("razer").is_empty(),
        "razer was deployed despite samsung's failed build"
    );
    assert_eq!(lab.generation("razer"), 1);
    assert!(
        run.stdout.contains("samsung failed at: build on p620"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "not deployed: samsung failed, and quick-all deploys only when every host built"
        ),
        "{}",
        run.stdout
    );
    // The rest: razer (changed, built) skipped; the unchanged hosts unchanged, built nowhere.
    let json = lab
        .fleet(&["quick-all", "--yes", "--json"])
        .status(1)
        .json();
    let of = |name: &str| {
        json["hosts"]
            .as_array()
            .and_then(|hs| hs.iter().find(|h| h["host"] == name))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(of("razer")["outcome"], "skipped", "{json}");
    assert_eq!(
        (&of("p510")["outcome"], &of("p510")["built_on"]),
        (&json!("unchanged"), &json!("-")),
        "{json}"
    );
}

#[test]
fn quick_all_without_a_terminal_or_yes_refuses_before_doing_anything() {
    let lab = Lab::new();
    lab.bump("razer");
    let logins = lab.logins("razer");
    lab.fleet(&["quick-all"]).status(2);
    assert_eq!(lab.logins("razer"), logins);
}

#[test]
fn every_action_leaves_the_host_as_nixos_would() {
    let lab = Lab::new();
    let first = lab.running("razer");

    lab.bump("razer");
    let dry = lab.evaluated("razer");
    let run = lab
        .fleet(&["deploy", "razer", "--action", "dry-activate"])
        .status(0);
    // Its result is what it would do, said per host.
    assert!(
        run.stdout.contains("razer  dry-activated"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("What activating would do on razer (nothing was changed):"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("| would restart the following units: lab-app.service"),
        "{}",
        run.stdout
    );
    let json = lab
        .fleet(&["deploy", "razer", "--action", "dry-activate", "--json"])
        .status(0)
        .json();
    assert_eq!(json["hosts"][0]["outcome"], "dry-activated", "{json}");
    assert!(
        json["hosts"][0]["output"]
            .as_str()
            .is_some_and(|o| o.contains("lab-app.service")),
        "{json}"
    );
    assert_eq!(
        (
            lab.running("razer"),
            lab.generation("razer"),
            lab.boot_entry("razer")
        ),
        (first.clone(), 1, first.clone())
    );

    lab.fleet(&["deploy", "razer", "--action", "test"])
        .status(0);
    assert_eq!(lab.running("razer"), dry, "test activates now");
    assert_eq!(
        (lab.generation("razer"), lab.boot_entry("razer")),
        (1, first.clone()),
        "test leaves profile and boot entry"
    );

    lab.bump("razer");
    let booted = lab.evaluated("razer");
    lab.fleet(&["deploy", "razer", "--action", "boot"])
        .status(0);
    assert_eq!(lab.running("razer"), dry, "boot does not activate now");
    assert_eq!(
        (
            lab.generation("razer"),
            lab.profile("razer"),
            lab.boot_entry("razer")
        ),
        (2, booted.clone(), booted.clone())
    );

    lab.bump("razer");
    let switched = lab.evaluated("razer");
    lab.fleet(&["deploy", "razer", "--action", "switch"])
        .status(0);
    assert_eq!(lab.running("razer"), switched);
    assert_eq!(
        (
            lab.generation("razer"),
            lab.profile("razer"),
            lab.boot_entry("razer")
        ),
        (3, switched.clone(), switched)
    );
}

#[test]
fn a_failed_activation_reports_its_code_and_end_state() {
    let lab = Lab::new();
    lab.bump("p510");
    lab.set("p510", "activation_exit", json!(1));
    let new = lab.evaluated("p510");
    let run = lab
        .fleet(&["deploy", "p510", "--no-rollback", "--json"])
        .status(1);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "failed");
    assert_eq!(host["failure"]["exit_code"], 1);
    assert!(
        host["failure"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("p510 now runs the new system"),
        "{host}"
    );
    assert!(
        host["failure"]["output"]
            .to_string()
            .contains("lab-broken.service"),
        "{host}"
    );
    assert_eq!(host["after"]["system"], new.as_str());
    assert_eq!(lab.running("p510"), new);
}

/// NixOS's switch exits 4 when it switched but units failed (p510's stale sessions): the
/// switch is kept, as nixos-rebuild keeps it, once the confirmation login and the health
/// checks pass; it is reported as what it is, with the units named, and fleet exits 1.
#[test]
fn a_switch_that_leaves_units_failed_is_kept_and_reported() {
    let lab = Lab::new();
    lab.bump("p510");
    lab.set("p510", "activation_exit", json!(4));
    let new = lab.evaluated("p510");
    let run = lab.fleet(&["deploy", "p510", "--json"]).status(1);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "units-failed", "{host}");
    assert_eq!(host["failure"]["exit_code"], 4);
    assert_eq!(
        host["failure"]["message"],
        "p510 switched to the new system, but these units failed: lab-broken.service"
    );
    assert_eq!(lab.running("p510"), new);
    assert_eq!(lab.profile("p510"), new);
    assert_eq!(lab.generation("p510"), 2);
    // Confirmed: the watchdog stood down, and the host stays on the new system.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(lab.running("p510"), new);
    let run = lab.fleet(&["deploy", "p510"]).status(1);
    assert!(
        run.stdout
            .contains("p510 kept the switch, with failed units"),
        "{}",
        run.stdout
    );
}

/// `failed_units = "rollback"`: such a switch is rolled back like any failed activation.
#[test]
fn failed_units_roll_back_when_the_host_says_so() {
    let lab = Lab::new();
    let first = lab.running("p510");
    lab.bump("p510");
    lab.set("p510", "activation_exit", json!(4));
    let inventory = lab.inventory_with("p510", "failed_units = \"rollback\"");
    let run = lab
        .fleet(&["-i", &inventory, "deploy", "p510", "--json"])
        .status(1);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "rolled-back", "{host}");
    assert!(
        host["failure"]["message"]
            .to_string()
            .contains("hosts.toml says failed_units = \\\"rollback\\\""),
        "{host}"
    );
    assert_eq!(lab.running("p510"), first);
    assert_eq!(lab.profile("p510"), first);
}

/// `pre_activate` commands run as root on the host once its new system is there, before
/// anything changes; one that fails stops the deployment with nothing changed.
#[test]
fn pre_activation_commands_run_first_and_a_failing_one_changes_nothing() {
    let lab = Lab::new();
    let first = lab.running("p510");
    lab.bump("p510");
    let new = lab.evaluated("p510");
    let marker = lab.host_dir("p510").join("run/sessions-cleared");
    let _ = std::fs::remove_file(&marker);
    let inventory = lab.inventory_with(
        "p510",
        "pre_activate = [[\"touch\", \"/run/sessions-cleared\"]]",
    );
    lab.fleet(&["-i", &inventory, "deploy", "p510"]).status(0);
    assert_eq!(lab.running("p510"), new);
    let cleared = std::fs::metadata(&marker).and_then(|m| m.modified());
    let switched = lab.activations("p510")[0].at;
    let cleared = cleared
        .expect("the pre-activation command ran")
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    assert!(cleared <= switched, "it ran after the switch started");

    lab.bump("p510");
    let inventory = lab.inventory_with("p510", "pre_activate = [[\"false\"]]");
    let run = lab
        .fleet(&["-i", &inventory, "deploy", "p510", "--json"])
        .status(1);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "failed");
    assert_eq!(host["failure"]["step"], "before activating: false");
    assert_eq!(lab.running("p510"), new);
    assert_eq!(lab.generation("p510"), 2);
    let _ = first;
}

#[test]
fn an_unreachable_host_fails_alone() {
    let lab = Lab::new();
    lab.bump("lab7");
    lab.bump("lab8");
    lab.stop_host("lab8");
    let run = lab
        .fleet(&["deploy-all-parallel", "lab7", "lab8", "--json"])
        .status(1);
    let report = run.json();
    assert_eq!(report["hosts"][0]["outcome"], "deployed");
    assert_eq!(report["hosts"][1]["outcome"], "failed");
    let msg = report["hosts"][1]["failure"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("lab8 is unreachable")
            && msg.contains("10.213.1.17")
            && msg.contains("10.213.2.17"),
        "{msg}"
    );
    assert_eq!(lab.running("lab7"), lab.evaluated("lab7"));
}

#[test]
fn off_the_lan_a_host_is_reached_over_tailscale_and_the_closure_relayed() {
    let lab = Lab::new();
    lab.bump("razer");
    let new = lab.evaluated("razer");
    // razer off the LAN: only its second address answers, and it cannot reach the LAN cache.
    let link = |state: &str| {
        std::process::Command::new("ip")
            .args(["-n", "fleetlab-razer", "link", "set", "eth0", state])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    assert!(link("down"), "could not take razer's LAN link down");
    let run = lab.fleet(&["deploy", "razer", "--via", "p620", "--json"]);
    assert!(link("up"));
    let run = run.status(0);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["address"], "10.213.2.12");
    assert!(
        host["notes"]
            .to_string()
            .contains("relay it through this machine"),
        "the relay fallback should be named: {host}"
    );
    assert!(
        run.stderr
            .contains("razer fetches the system from cache p620 failed"),
        "{}",
        run.stderr
    );
    assert_eq!(lab.running("razer"), new);
    assert!(lab.has_path("p620", &new), "built on p620");
}

#[test]
fn diff_compares_on_the_target_and_activates_nothing() {
    let lab = Lab::new();
    let first = lab.running("samsung");
    lab.bump("samsung");
    lab.new_payload("samsung", 128);
    let new = lab.evaluated("samsung");
    let run = lab.fleet(&["diff", "samsung", "razer"]).status(0);
    assert!(
        lab.has_path("samsung", &new),
        "the new closure is on samsung, where the diff ran"
    );
    assert!(!lab.here_has_path(&new));
    assert_eq!(
        (lab.running("samsung"), lab.generation("samsung")),
        (first, 1)
    );
    assert!(lab.activations("samsung").is_empty());
    // The old payload goes, a new one of 128 KiB comes: what diff-closures says of them.
    assert!(
        run.stdout.contains("lab-payload-samsung: 1 → ∅, -64"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("+128"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("razer: runs the evaluated system already"),
        "{}",
        run.stdout
    );
}

#[test]
fn this_machine_is_deployed_and_builds_without_ssh_to_itself() {
    let lab = Lab::new();
    lab.bump("p620");
    lab.bump("samsung");
    let (p620, samsung) = (lab.logins("p620"), lab.logins("samsung"));
    // fleet running on p620 itself: p620 is deployed locally and builds samsung locally.
    let run = lab
        .fleet_on("p620", &["deploy", "p620", "samsung", "--json"])
        .status(0);
    let report = run.json();
    assert_eq!(report["hosts"][0]["built_on"], "here");
    assert_eq!(report["hosts"][1]["built_on"], "here");
    assert_eq!(lab.running("p620"), lab.evaluated("p620"));
    assert_eq!(lab.generation("p620"), 2);
    assert_eq!(lab.running("samsung"), lab.evaluated("samsung"));
    assert_eq!(
        lab.logins("p620") - p620,
        0,
        "fleet logged in to the machine it runs on"
    );
    // One login for the deployment, one for magic rollback's confirmation (this machine's
    // own switch is not guarded: there is no login to lose).
    assert_eq!(lab.logins("samsung") - samsung, 2);
}

/// The builder's switch restarts its cache service (nix-serve), as NixOS does when the unit
/// changed. With the builder in the run, it switches only once the hosts fetching from its
/// cache have their systems: they fetch from the cache, with no fallback, and the switch
/// comes after.
#[test]
fn the_builder_switches_after_the_hosts_that_fetch_from_its_cache() {
    let lab = Lab::new();
    for h in ["p620", "samsung", "p510"] {
        lab.bump(h);
    }
    lab.set("p620", "restarts_cache", json!(3));
    let run = lab
        .fleet(&[
            "deploy-all-parallel",
            "p620",
            "samsung",
            "p510",
            "-j",
            "1",
            "--json",
        ])
        .status(0);
    let report = run.json();
    for h in report["hosts"].as_array().expect("hosts") {
        assert_eq!(h["outcome"], "deployed", "{h}");
        assert!(
            !h["notes"].to_string().contains("fallback"),
            "{} did not fetch from the cache: {h}",
            h["host"]
        );
    }
    let switched = lab
        .activations("p620")
        .iter()
        .find(|a| a.event == "cache-down")
        .map(|a| a.at)
        .expect("p620's switch restarted its cache");
    for h in ["samsung", "p510"] {
        let new = lab.evaluated(h);
        let json = lab.ssh(
            if h == "samsung" {
                "10.213.1.11"
            } else {
                "10.213.1.13"
            },
            &format!("nix --extra-experimental-features nix-command path-info --json {new}"),
        );
        let v: serde_json::Value = serde_json::from_str(&json).expect("path-info JSON");
        let registered = v[0]["registrationTime"].as_f64().expect("registrationTime");
        assert!(
            registered <= switched,
            "{h} got its system at {registered}, after p620's cache went down at {switched}"
        );
    }
}

/// fleet running on p620 deploys p620 itself last: its own switch (a builder's may restart
/// sshd or the network) comes when every other host is done.
#[test]
fn the_machine_fleet_runs_on_activates_last() {
    let lab = Lab::new();
    lab.bump("p620");
    lab.bump("razer");
    lab.fleet_on("p620", &["deploy-all-parallel", "p620", "razer", "-j", "2"])
        .status(0);
    let p620 = lab.activations("p620");
    let razer = lab.activations("razer");
    let p620_start = p620
        .iter()
        .find(|a| a.event == "start-switch")
        .map(|a| a.at);
    let razer_end = razer.iter().find(|a| a.event == "end-switch").map(|a| a.at);
    assert!(
        razer_end.expect("razer switched") <= p620_start.expect("p620 switched"),
        "p620 switched before razer was done: {p620:?} {razer:?}"
    );
    assert_eq!(lab.running("p620"), lab.evaluated("p620"));
    assert_eq!(lab.running("razer"), lab.evaluated("razer"));
}

#[test]
fn a_non_root_user_activates_through_sudo() {
    let lab = Lab::new();
    lab.bump("lab6");
    let inventory = lab.inventory_with_user("lab6", "fleetops");
    lab.fleet(&["-i", &inventory, "deploy", "lab6"]).status(0);
    assert_eq!(lab.running("lab6"), lab.evaluated("lab6"));
    assert_eq!(lab.generation("lab6"), 2);
    let log = std::fs::read_to_string(lab.dir.join("hosts/lab6/sshd.log")).unwrap_or_default();
    assert!(
        log.contains("Accepted publickey for fleetops"),
        "fleet did not log in as fleetops"
    );
}

#[test]
fn sudo_that_wants_a_password_fails_at_once_and_changes_nothing() {
    let lab = Lab::new();
    let first = lab.running("lab7");
    lab.bump("lab7");
    let inventory = lab.inventory_with_user("lab7", "fleetpw");
    let run = lab
        .fleet(&["-i", &inventory, "deploy", "lab7", "--json"])
        .status(1);
    let failure = &run.json()["hosts"][0]["failure"];
    assert!(
        failure["message"]
            .to_string()
            .contains("sudo on lab7 wants a password"),
        "{failure}"
    );
    assert!(
        failure["next"].to_string().contains("passwordless sudo"),
        "{failure}"
    );
    assert_eq!((lab.running("lab7"), lab.generation("lab7")), (first, 1));
    assert!(lab.activations("lab7").is_empty());
}

/// The processes on this machine (the namespace hosts share its process table) whose argv or
/// environment holds `needle`.
fn processes_holding(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        for file in ["cmdline", "environ"] {
            let bytes = std::fs::read(entry.path().join(file)).unwrap_or_default();
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(format!("{}/{file}", entry.path().display()));
            }
        }
    }
    found
}

/// The files under `dir` that hold `needle`.
fn files_holding(dir: &std::path::Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_symlink() {
            continue;
        }
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if std::fs::read(&path)
            .unwrap_or_default()
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
        {
            found.push(path.display().to_string());
        }
    }
    found
}

#[test]
fn the_sudo_password_is_asked_once_and_travels_only_on_sudos_input() {
    let lab = Lab::new();
    let password = lab.fleetpw_password();
    lab.bump("lab7");
    lab.set("lab7", "activation_sleep", 2.into());
    let inventory = lab.inventory_with(
        "lab7",
        "user = \"fleetpw\"\nsudo_password = true\nhealth_checks = [[\"true\"]]",
    );
    let leaks = std::sync::Mutex::new(Vec::new());
    let watch = || {
        let found = processes_holding(&password);
        if !found.is_empty() {
            if let Ok(mut leaks) = leaks.lock() {
                leaks.extend(found);
            }
        }
    };
    let run = lab.fleet_at_terminal(
        &["-i", &inventory, "deploy", "lab7", "--json"],
        &format!("{password}\n"),
        watch,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("sudo password for fleetpw@lab7").count(),
        1,
        "asked once: {}",
        run.stderr
    );
    assert_eq!(lab.running("lab7"), lab.evaluated("lab7"));
    assert_eq!(lab.generation("lab7"), 2);
    let report = run.json();
    assert_eq!(report["hosts"][0]["outcome"], "deployed", "{report}");
    // Deployed with magic rollback on: the detached switch, the watchdog, the health check
    // and the confirmation (a new login) all went through sudo with the password. Then
    // `fleet rollback`, through it too.
    let back = lab.fleet_at_terminal(
        &["-i", &inventory, "rollback", "lab7"],
        &format!("{password}\n"),
        watch,
    );
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert_eq!(lab.generation("lab7"), 1);
    // `fleet exec --root`, through it as well.
    let ran = lab.fleet_at_terminal(
        &[
            "-i", &inventory, "exec", "lab7", "--root", "--json", "--", "id", "-u",
        ],
        &format!("{password}\n"),
        watch,
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.json()[0]["stdout"], "0\n");
    // Nowhere but sudo's input: no argv or environment here or on the host while it ran, no
    // file fleet wrote here (logs, history), none on the host (its run directories, sshd's log).
    let leaks = leaks.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(leaks.is_empty(), "the password was in {leaks:?}");
    assert!(!run.stdout.contains(&password) && !run.stderr.contains(&password));
    let mut files = files_holding(lab.state_dir(), &password);
    files.extend(files_holding(&lab.dir.join("hosts/lab7"), &password));
    assert!(files.is_empty(), "the password was written to {files:?}");
}

#[test]
fn a_wrong_sudo_password_fails_the_host_at_once_after_one_more_question() {
    let lab = Lab::new();
    let first = lab.running("lab7");
    lab.bump("lab7");
    let inventory = lab.inventory_with("lab7", "user = \"fleetpw\"");
    let run = lab.fleet_at_terminal(
        &[
            "-i",
            &inventory,
            "deploy",
            "lab7",
            "--ask-sudo-password",
            "--json",
        ],
        "not-the-password\nstill-not-it\n",
        || {},
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("sudo on lab7 refused that password"),
        "{}",
        run.stderr
    );
    let failure = &run.json()["hosts"][0]["failure"];
    assert!(
        failure["message"]
            .to_string()
            .contains("refused the password (twice"),
        "{failure}"
    );
    assert!(
        failure["next"].to_string().contains("faillock"),
        "{failure}"
    );
    assert_eq!((lab.running("lab7"), lab.generation("lab7")), (first, 1));
    assert!(lab.activations("lab7").is_empty());
    // Two tries in all, the run's password and the host's own: never a third.
    let log_dir = lab.state_dir().join("logs");
    let checks: usize = files_holding(&log_dir, "checking the sudo password")
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .matches("checking the sudo password")
                .count()
        })
        .sum();
    assert_eq!(checks, 2);
}

#[test]
fn an_unknown_host_key_is_refused_never_accepted() {
    let lab = Lab::new();
    lab.bump("razer");
    // The user's ssh config with an empty known_hosts file and no word on host-key checking.
    let config = std::fs::read_to_string(lab.dir.join("ssh/config")).expect("ssh config");
    let known = lab.dir.join("ssh/known_hosts.empty");
    std::fs::write(&known, "").expect("write known_hosts");
    let config = config
        .lines()
        .filter(|l| !l.contains("StrictHostKeyChecking"))
        .map(|l| {
            if l.contains("UserKnownHostsFile") {
                format!("  UserKnownHostsFile {}", known.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(lab.dir.join("ssh/config.unknown-keys"), config).expect("write config");
    let inventory = std::fs::read_to_string(lab.dir.join("hosts.toml"))
        .expect("hosts.toml")
        .replace(
            "ssh_config = \"ssh/config\"",
            "ssh_config = \"ssh/config.unknown-keys\"",
        );
    let path = lab.dir.join("hosts-unknown-keys.toml");
    std::fs::write(&path, inventory).expect("write inventory");

    let run = lab
        .fleet(&[
            "-i",
            &path.display().to_string(),
            "deploy",
            "razer",
            "--json",
        ])
        .status(1);
    let message = run.json()["hosts"][0]["failure"]["message"].to_string();
    assert!(message.contains("host key"), "{message}");
    assert_eq!(
        std::fs::read_to_string(&known).unwrap_or_default(),
        "",
        "a host key was accepted"
    );
    assert_eq!(lab.generation("razer"), 1);
}

#[test]
fn rollback_returns_to_the_previous_generation_and_history_records_both() {
    let lab = Lab::new();
    let first = lab.running("razer");
    lab.bump("razer");
    lab.fleet(&["deploy", "razer"]).status(0);
    let second = lab.running("razer");
    assert_ne!(first, second);

    lab.fleet(&["rollback", "razer"]).status(0);
    assert_eq!(lab.running("razer"), first);
    assert_eq!(lab.profile("razer"), first);
    assert_eq!(lab.generation("razer"), 1);

    let run = lab.fleet(&["history", "razer", "--json"]).status(0);
    let entries = run.json().as_array().cloned().unwrap_or_default();
    let summary: Vec<(String, String, u64, u64)> = entries
        .iter()
        .map(|e| {
            (
                e["command"].as_str().unwrap_or_default().to_string(),
                e["result"].as_str().unwrap_or_default().to_string(),
                e["from_generation"].as_u64().unwrap_or(0),
                e["to_generation"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("deploy".to_string(), "deployed".to_string(), 1, 2),
            ("rollback".to_string(), "reverted".to_string(), 2, 1),
        ]
    );
    assert!(
        entries[1]["to_system"] == first.as_str() && entries[0]["who"].to_string().contains('@')
    );
}

#[test]
fn a_builder_that_is_down_fails_fast_unless_a_fallback_is_chosen() {
    let lab = Lab::new();
    let first = lab.running("samsung");
    lab.bump("samsung");
    let new = lab.evaluated("samsung");
    lab.stop_host("p620");

    let run = lab.fleet(&["deploy", "samsung", "--json"]).status(1);
    let failure = &run.json()["hosts"][0]["failure"];
    assert!(
        failure["message"]
            .to_string()
            .contains("p620 is unreachable"),
        "{failure}"
    );
    assert!(
        failure["next"].to_string().contains("--fallback target"),
        "{failure}"
    );
    assert_eq!(lab.running("samsung"), first);

    let run = lab
        .fleet(&["deploy", "samsung", "--fallback", "target", "--json"])
        .status(0);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["built_on"], "samsung");
    assert!(
        host["notes"]
            .to_string()
            .contains("p620 is down: built on samsung instead"),
        "{host}"
    );
    assert_eq!(lab.running("samsung"), new);
    assert!(!lab.has_path("p620", &new));
}

#[test]
fn a_failed_activation_is_rolled_back_by_default() {
    let lab = Lab::new();
    let first = lab.running("p510");
    lab.bump("p510");
    lab.set("p510", "activation_exit", json!(1));
    let run = lab.fleet(&["deploy", "p510", "--json"]).status(1);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "rolled-back", "{host}");
    assert_eq!(host["failure"]["exit_code"], 1);
    assert_eq!(lab.running("p510"), first);
    assert_eq!(lab.profile("p510"), first);
}

#[test]
fn a_configuration_that_locks_the_deployer_out_is_rolled_back_by_the_host() {
    let lab = Lab::new();
    let first = lab.running("razer");
    lab.bump("razer");
    lab.set("razer", "lockout", json!(true));
    let run = lab
        .fleet(&["deploy", "razer", "--confirm-timeout", "10", "--json"])
        .status(1);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "rolled-back", "{host}");
    assert!(
        host["failure"]["message"]
            .to_string()
            .contains("could not log in to razer again"),
        "{host}"
    );
    assert_eq!(lab.running("razer"), first);
    assert_eq!(lab.profile("razer"), first);
    // Reachable again on its previous system, by a new login.
    assert_eq!(
        lab.ssh("10.213.1.12", "readlink -f /run/current-system")
            .trim(),
        first
    );
}

#[test]
fn a_connection_dropped_during_activation_is_reopened_and_the_result_read() {
    let lab = Lab::new();
    lab.bump("samsung");
    lab.set("samsung", "activation_sleep", json!(4));
    let new = lab.evaluated("samsung");
    let run = std::thread::scope(|s| {
        let handle = s.spawn(|| lab.fleet(&["deploy", "samsung", "--no-rollback", "--json"]));
        // Once the activation has started, cut fleet's connection: kill samsung's sshd session
        // processes (the listener stays, so fleet can log in again).
        wait_until(60, "the activation started", || {
            lab.saw("samsung", "start-switch")
        });
        assert!(
            lab.kill_ssh_sessions("samsung") > 0,
            "no sshd session to kill"
        );
        handle.join().expect("fleet thread")
    });
    let run = run.status(0);
    assert_eq!(run.json()["hosts"][0]["outcome"], "deployed");
    assert!(run.stderr.contains("reconnecting"), "{}", run.stderr);
    assert_eq!(lab.running("samsung"), new);
    let events: Vec<String> = lab
        .activations("samsung")
        .iter()
        .map(|a| a.event.clone())
        .collect();
    assert!(
        events.contains(&"end-switch".to_string()),
        "the activation did not finish: {events:?}"
    );
}

#[test]
fn a_failing_health_check_rolls_the_host_back() {
    let lab = Lab::new();
    let first = lab.running("lab5");
    let inventory = lab.inventory_with(
        "lab5",
        r#"health_checks = [["grep", "-qx", "ok", "/run/current-system/health"]]"#,
    );
    lab.bump("lab5");
    lab.set("lab5", "healthy", json!(false));
    let run = lab
        .fleet(&["-i", &inventory, "deploy", "lab5", "--json"])
        .status(1);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "rolled-back", "{host}");
    assert_eq!(
        host["failure"]["step"],
        "health check: grep -qx ok /run/current-system/health"
    );
    assert!(
        host["failure"]["message"]
            .to_string()
            .contains("lab5 rolled itself back to generation 1"),
        "{host}"
    );
    assert_eq!(lab.running("lab5"), first);
    assert_eq!(lab.profile("lab5"), first);
    // The same check passes on a healthy system, which stays.
    lab.bump("lab5");
    lab.set("lab5", "healthy", json!(true));
    let new = lab.evaluated("lab5");
    lab.fleet(&["-i", &inventory, "deploy", "lab5"]).status(0);
    assert_eq!(lab.running("lab5"), new);
    // Without rollback, a failed check is a failed activation, reported with its end state.
    lab.bump("lab5");
    lab.set("lab5", "healthy", json!(false));
    let broken = lab.evaluated("lab5");
    let run = lab
        .fleet(&[
            "-i",
            &inventory,
            "deploy",
            "lab5",
            "--no-rollback",
            "--json",
        ])
        .status(1);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "failed", "{host}");
    assert!(
        host["failure"]["message"]
            .to_string()
            .contains("lab5 now runs the new system"),
        "{host}"
    );
    assert_eq!(lab.running("lab5"), broken);
}

/// After a run, every host's system profile and running system agree: nothing half-switched.
pub(crate) fn assert_consistent(lab: &Lab, hosts: &[&str]) {
    for h in hosts {
        assert_eq!(
            lab.profile(h),
            lab.running(h),
            "{h}: its profile and its running system disagree"
        );
    }
}

/// Seconds since the epoch, as the hosts' activation logs write them.
fn epoch(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

#[test]
fn ctrl_c_starts_no_new_host_and_lets_running_activations_finish() {
    let lab = Lab::new();
    let hosts = ["lab5", "lab6", "lab7", "lab8"];
    for h in hosts {
        lab.bump(h);
        lab.set(h, "activation_sleep", json!(3));
    }
    let started = |h: &&str| lab.saw(h, "start-switch");
    let (run, pressed) = lab.fleet_interrupted(
        &["deploy-all-parallel", "-j", "2", "--json"]
            .into_iter()
            .chain(hosts)
            .collect::<Vec<_>>(),
        1,
        || hosts.iter().filter(|h| started(h)).count() >= 2,
    );
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(
        run.stderr.contains("interrupted: no new host starts"),
        "{}",
        run.stderr
    );
    let report = run.json();
    assert_eq!(report["interrupted"], true);
    let mut deployed = 0;
    for (i, h) in hosts.iter().enumerate() {
        let outcome = report["hosts"][i]["outcome"].as_str().unwrap_or_default();
        let switched: Vec<f64> = lab
            .activations(h)
            .iter()
            .filter(|a| a.event == "start-switch")
            .map(|a| a.at)
            .collect();
        match outcome {
            // Its activation was under way: it ran to its end and was confirmed.
            "deployed" => {
                deployed += 1;
                assert_eq!(lab.running(h), lab.evaluated(h), "{h}");
            }
            // Not started, or stopped before it was changed: as it was.
            "skipped" => {
                assert!(switched.is_empty(), "{h} was switched after all");
                assert_eq!(lab.generation(h), 1, "{h}");
            }
            other => panic!("{h}: {other}\n{}", run.stderr),
        }
        assert!(
            switched.iter().all(|at| *at < epoch(pressed)),
            "{h}: an activation started after Ctrl-C"
        );
    }
    assert!(deployed >= 2, "the activations under way did not finish");
    assert_consistent(&lab, &hosts);
    // The summary was printed (as JSON here), every host in it.
    assert_eq!(report["hosts"].as_array().map(Vec::len), Some(4));
}

#[test]
fn ctrl_c_three_times_leaves_hosts_that_roll_themselves_back() {
    let lab = Lab::new();
    let hosts = ["lab5", "lab6"];
    let first: Vec<String> = hosts.iter().map(|h| lab.running(h)).collect();
    for h in hosts {
        lab.bump(h);
        lab.set(h, "activation_sleep", json!(4));
    }
    // Second and third presses while both activate: fleet stops following them and ends.
    let (run, _) = lab.fleet_interrupted(
        &["deploy", "lab5", "lab6", "--confirm-timeout", "5", "--json"],
        3,
        || hosts.iter().all(|h| lab.saw(h, "start-switch")),
    );
    assert_eq!(run.code, 130, "{}", run.stderr);
    let report = run.json();
    for i in 0..2 {
        let host = &report["hosts"][i];
        assert_ne!(host["outcome"], "deployed", "{host}");
    }
    // The hosts finish their activations, are not confirmed, and roll themselves back: each
    // ends on its first system, profile and running system agreeing.
    wait_until(60, "the hosts rolled themselves back", || {
        hosts
            .iter()
            .zip(&first)
            .all(|(h, f)| lab.running(h) == *f && lab.profile(h) == *f)
    });
    assert_consistent(&lab, &hosts);
}

#[test]
fn a_sleeping_builder_is_woken_by_wake_on_lan_and_waited_for() {
    let lab = Lab::new();
    let mac = "52:54:00:fe:62:0a";
    let inventory = lab.inventory_with(
        "p620",
        &format!("mac = \"{mac}\"\nwake_address = \"10.213.1.255\"\nwake = true"),
    );
    lab.bump("samsung");
    let new = lab.evaluated("samsung");
    lab.stop_host("p620");
    // p620's network card, as it were: on the LAN, hearing broadcasts while p620 sleeps.
    let nic = lab.wake_listener("samsung");
    let run = std::thread::scope(|s| {
        let fleet = s.spawn(|| {
            lab.fleet(&[
                "-i", &inventory, "deploy", "samsung", "--via", "p620", "--json",
            ])
        });
        // p620 boots when its magic packet arrives, and not before.
        wait_until(60, "a magic packet for p620 came", || {
            nic.macs().contains(&mac.to_string())
        });
        lab.lab(&["start-host", "p620"]);
        fleet.join().expect("fleet thread")
    });
    let run = run.status(0);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "deployed", "{host}");
    assert_eq!(host["built_on"], "p620");
    assert!(
        host["notes"]
            .to_string()
            .contains("p620 woken by wake-on-LAN"),
        "{host}"
    );
    assert!(
        run.stderr
            .contains("magic packet for 52:54:00:fe:62:0a sent to 10.213.1.255:9"),
        "{}",
        run.stderr
    );
    assert_eq!(lab.running("samsung"), new);
    // `fleet wake` on a host that is up: awake at once, the packet sent only when needed.
    let heard = nic.macs().len();
    let run = lab
        .fleet(&["-i", &inventory, "wake", "p620", "--json"])
        .status(0);
    assert_eq!(run.json()["hosts"][0]["outcome"], "awake");
    assert_eq!(nic.macs().len(), heard);
    // Without `wake = true`, a deployment does not wake a sleeping builder; it fails fast.
    lab.stop_host("p620");
    lab.bump("samsung");
    let run = lab.fleet(&["deploy", "samsung", "--json"]).status(1);
    assert!(
        run.json()["hosts"][0]["failure"]["message"]
            .to_string()
            .contains("p620 is unreachable"),
        "{}",
        run.stdout
    );
    assert_eq!(nic.macs().len(), heard, "woken without being asked to");
}

#[test]
fn a_switch_nobody_confirms_is_rolled_back_by_the_host_alone() {
    let lab = Lab::new();
    let first = lab.running("lab6");
    lab.bump("lab6");
    lab.set("lab6", "activation_sleep", json!(2));
    let new = lab.evaluated("lab6");
    // fleet dies mid-activation (SIGKILL: no goodbye, no rollback request).
    let (run, _) = lab.fleet_signalled(
        &["deploy", "lab6", "--confirm-timeout", "5"],
        "KILL",
        1,
        || lab.saw("lab6", "start-switch"),
    );
    assert_eq!(run.code, -1, "fleet was killed");
    // The activation goes on without fleet and ends on the new system...
    wait_until(15, "the activation ended", || lab.saw("lab6", "end-switch"));
    // ...then, unconfirmed, the host switches itself back within the timeout (plus its poll).
    wait_until(15, "the host rolled itself back", || {
        lab.running("lab6") == first && lab.profile("lab6") == first
    });
    let events: Vec<String> = lab
        .activations("lab6")
        .iter()
        .map(|a| format!("{} {}", a.event, a.system))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("start-switch") && e.ends_with(&new)),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("start-switch") && e.ends_with(&first)),
        "the previous system was not switched to again: {events:?}"
    );
    assert_consistent(&lab, &["lab6"]);
    // The history shows the deployment fleet died in: its line was written before the change.
    let history = lab.fleet(&["history", "lab6", "--json"]).status(0).json();
    assert_eq!(history[0]["result"], "started", "{history}");
}

/// The history survives odd bytes, keeps rolled-back deployments, and a history file that is
/// not a file (here /dev/zero) costs a warning, not the run.
#[test]
fn the_history_is_read_leniently_and_within_bounds() {
    let lab = Lab::new();
    lab.bump("lab5");
    lab.set("lab5", "activation_exit", json!(1));
    lab.fleet(&["deploy", "lab5"]).status(1);
    let file = lab.state_dir().join("history.jsonl");
    let mut bytes = std::fs::read(&file).expect("history");
    bytes.extend_from_slice(b"\xff\xfe odd bytes from some other tool\n");
    std::fs::write(&file, bytes).expect("write");
    let history = lab.fleet(&["history", "--json"]).status(0).json();
    let results: Vec<&str> = history
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["result"].as_str())
        .collect();
    assert_eq!(results, ["rolled back"], "{history}");

    std::fs::remove_file(&file).expect("rm");
    std::os::unix::fs::symlink("/dev/zero", &file).expect("link");
    lab.set("lab5", "activation_exit", json!(0));
    lab.bump("lab5");
    let run = lab.fleet(&["deploy", "lab5"]).status(0);
    assert!(
        run.stderr.contains("is not a regular file"),
        "{}",
        run.stderr
    );
    assert_eq!(lab.running("lab5"), lab.evaluated("lab5"));
    lab.fleet(&["history"]).status(0);
}

/// A laptop asleep does not hold back quick-all: it is skipped, named, and the other changed
/// hosts are deployed.
#[test]
fn quick_all_skips_a_sleeping_host_and_deploys_the_rest() {
    let lab = Lab::new();
    lab.bump("lab5");
    lab.bump("lab6");
    lab.stop_host("lab6");
    let run = lab.fleet(&["quick-all", "--yes", "--json"]).status(1);
    let report = run.json();
    let outcome = |name: &str| {
        report["hosts"]
            .as_array()
            .and_then(|hosts| hosts.iter().find(|h| h["host"] == name).cloned())
            .unwrap_or_default()
    };
    assert_eq!(outcome("lab5")["outcome"], "deployed");
    assert_eq!(lab.running("lab5"), lab.evaluated("lab5"));
    let lab6 = outcome("lab6");
    assert_eq!(lab6["outcome"], "skipped", "{lab6}");
    assert!(
        lab6["notes"].to_string().contains("lab6 is unreachable"),
        "{lab6}"
    );
    assert!(
        run.stderr.contains("not reachable, skipped: lab6"),
        "{}",
        run.stderr
    );
    assert_eq!(outcome("razer")["outcome"], "unchanged");
}

/// `--via` means the same on quick-all and build as on deploy (`--on` is its alias).
#[test]
fn via_works_on_quick_all_and_build() {
    let lab = Lab::new();
    lab.bump("razer");
    let new = lab.evaluated("razer");
    lab.fleet(&["build", "razer", "--via", "p620"]).status(0);
    assert!(lab.has_path("p620", &new));
    assert!(!lab.has_path("razer", &new));
    lab.bump("razer");
    let new = lab.evaluated("razer");
    lab.fleet(&["quick-all", "razer", "--via", "p620", "--yes"])
        .status(0);
    assert!(lab.has_path("p620", &new), "built on p620");
    assert_eq!(lab.running("razer"), new);
}

/// A host name far longer than a file name may be: its run directory on the host (and the
/// units named after it) stay short, so nothing fails half-way after the profile is set.
#[test]
fn a_long_host_name_deploys_whole() {
    let lab = Lab::new();
    lab.bump("lab7");
    let new = lab.evaluated("lab7");
    let long = format!("lab7-{}", "x".repeat(250));
    let text = std::fs::read_to_string(lab.dir.join("hosts.toml")).expect("hosts.toml");
    let text = text.replace(
        "[hosts.lab7]\n",
        &format!("[hosts.{long}]\nattribute = \"lab7\"\n"),
    );
    let inventory = lab.dir.join("hosts-long-name.toml");
    std::fs::write(&inventory, text).expect("write inventory");
    let inventory = inventory.display().to_string();
    lab.fleet(&["-i", &inventory, "deploy", &long, "--no-rollback"])
        .status(0);
    assert_eq!(lab.running("lab7"), new);
    assert_eq!(lab.profile("lab7"), new);
    lab.bump("lab7");
    let newer = lab.evaluated("lab7");
    lab.fleet(&["-i", &inventory, "deploy", &long]).status(0);
    assert_eq!(lab.running("lab7"), newer);
    assert_eq!(lab.generation("lab7"), 3);
}

/// Output that is not UTF-8 is read to its end, decoded leniently: a build that prints an odd
/// byte and then plenty more does not stall (its writer blocked on a pipe no one reads), and an
/// activation's failed units after such a byte are still named.
#[test]
fn output_that_is_not_utf8_is_read_to_its_end() {
    let lab = Lab::new();
    lab.bump("samsung");
    lab.set("samsung", "odd_output", json!(true));
    let new = lab.evaluated("samsung");
    lab.fleet(&["deploy", "samsung", "--via", "p620"]).status(0);
    assert_eq!(lab.running("samsung"), new);

    lab.bump("p510");
    lab.set("p510", "odd_output", json!(true));
    lab.set("p510", "activation_exit", json!(4));
    let run = lab.fleet(&["deploy", "p510", "--json"]).status(1);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "units-failed", "{host}");
    assert_eq!(
        host["failure"]["message"],
        "p510 switched to the new system, but these units failed: lab-broken.service"
    );
    let log = std::fs::read(host["log"].as_str().expect("log")).expect("read log");
    let log = String::from_utf8_lossy(&log);
    assert!(log.contains("an odd byte \u{fffd} in a file name"), "{log}");
}

/// fleet dies during a switch and the user runs it again: the re-run waits while the dead
/// run's watchdog holds the host (it rolls the unconfirmed switch back, then lets go), then
/// deploys and confirms; nothing undoes that success later.
#[test]
fn a_dead_runs_watchdog_never_undoes_a_later_success() {
    let lab = Lab::new();
    lab.bump("lab6");
    lab.set("lab6", "activation_sleep", json!(2));
    let new = lab.evaluated("lab6");
    let (run, _) = lab.fleet_signalled(
        &["deploy", "lab6", "--confirm-timeout", "5"],
        "KILL",
        1,
        || lab.saw("lab6", "start-switch"),
    );
    assert_eq!(run.code, -1, "fleet was killed");
    let run = lab
        .fleet(&["deploy", "lab6", "--confirm-timeout", "5", "--json"])
        .status(0);
    assert!(
        run.stderr
            .contains("waiting: another run holds lab6's deploy lock"),
        "{}",
        run.stderr
    );
    let switched = lab
        .activations("lab6")
        .iter()
        .filter(|a| a.event == "start-switch")
        .map(|a| a.at)
        .fold(0.0, f64::max);
    // Longer than any earlier run's window and activation: it would have acted by now.
    std::thread::sleep(std::time::Duration::from_secs(12));
    assert_eq!(lab.running("lab6"), new);
    assert_eq!(lab.profile("lab6"), new);
    let after: Vec<String> = lab
        .activations("lab6")
        .iter()
        .filter(|a| a.at > switched)
        .map(|a| format!("{} {}", a.event, a.system))
        .collect();
    assert!(
        after.iter().all(|e| !e.starts_with("start-switch")),
        "something switched lab6 after the re-run: {after:?}"
    );
}

/// A watchdog that outlived its lock (a lock taken over, a run killed between arming and
/// switching) is retired by the next run that arms one, and that run says so.
#[test]
fn arming_a_watchdog_retires_an_older_one_still_waiting() {
    let lab = Lab::new();
    lab.bump("lab6");
    let new = lab.evaluated("lab6");
    // An older run's watchdog, armed and waiting for an activation that never starts.
    let stale = "/run/fleet/2026-01-01T00-00-00Z-1-lab6";
    lab.ssh(
        "10.213.1.15",
        &format!("mkdir -p {stale} && echo armed > {stale}/watchdog && echo 1 > {stale}/previous"),
    );
    let run = lab
        .fleet(&["deploy", "lab6", "--confirm-timeout", "5", "--json"])
        .status(0);
    let host = &run.json()["hosts"][0];
    assert!(
        host["notes"]
            .to_string()
            .contains("retired the watchdog of an earlier run (2026-01-01T00-00-00Z-1-lab6)"),
        "{host}"
    );
    let retired = lab.ssh(
        "10.213.1.15",
        &format!("test -e {stale}/retired && echo yes"),
    );
    assert_eq!(retired.trim(), "yes");
    assert_eq!(lab.running("lab6"), new);
}

/// Two runs at once on one host: the second waits for the first's deploy lock, naming its
/// holder, and switches only when the first is done, so the host ends with its profile and
/// its running system one. With `--no-wait`, it fails at once and changes nothing.
#[test]
fn two_runs_on_one_host_take_turns() {
    let lab = Lab::new();
    lab.bump("lab5");
    lab.set("lab5", "activation_sleep", json!(4));
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(|| lab.fleet(&["deploy", "lab5", "--json"]));
        wait_until(60, "the first run's activation started", || {
            lab.saw("lab5", "start-switch")
        });
        let busy = lab
            .fleet(&["deploy", "lab5", "--no-wait", "--json"])
            .status(1);
        let host = &busy.json()["hosts"][0];
        let message = host["failure"]["message"].to_string();
        assert!(
            message.contains("another run holds lab5's deploy lock (run "),
            "{host}"
        );
        assert!(message.contains("since "), "{host}");
        // Who holds it is what a person needs, never the lock script's body.
        assert!(host["failure"]["command"].is_null(), "{host}");
        let second = s.spawn(|| lab.fleet(&["deploy", "lab5", "--json"]));
        (
            first.join().expect("first run"),
            second.join().expect("second run"),
        )
    });
    first.status(0);
    let second = second.status(0);
    assert!(
        second
            .stderr
            .contains("waiting: another run holds lab5's deploy lock"),
        "{}",
        second.stderr
    );
    let a = lab.activations("lab5");
    let ends: Vec<f64> = a
        .iter()
        .filter(|x| x.event == "end-switch")
        .map(|x| x.at)
        .collect();
    let starts: Vec<f64> = a
        .iter()
        .filter(|x| x.event == "start-switch")
        .map(|x| x.at)
        .collect();
    assert_eq!((starts.len(), ends.len()), (2, 2), "{a:?}");
    assert!(ends[0] <= starts[1], "the switches overlapped: {a:?}");
    // What lab5 ran before the second run changed it is read once the lock is taken: the
    // first run's generation, not the one it ran when the second run began.
    let before = &second.json()["hosts"][0]["before"];
    assert_eq!(before["generation"], 2, "{before}");
    assert_consistent(&lab, &["lab5"]);
    assert_eq!(lab.running("lab5"), lab.evaluated("lab5"));
}

/// A run killed while it held a host's lock (no watchdog to keep it: --no-rollback) leaves
/// it behind; the next run takes it over once its lease ran out, and says so.
#[test]
fn a_lock_whose_holder_died_is_taken_over() {
    let lab = Lab::new();
    lab.bump("lab8");
    lab.set("lab8", "activation_sleep", json!(2));
    let (run, _) = lab.fleet_signalled(&["deploy", "lab8", "--no-rollback"], "KILL", 1, || {
        lab.saw("lab8", "start-switch")
    });
    assert_eq!(run.code, -1, "fleet was killed");
    let run = lab.fleet(&["deploy", "lab8", "--json"]).status(0);
    assert!(
        run.stderr
            .contains("took over a deploy lock its holder left"),
        "{}",
        run.stderr
    );
    assert_eq!(lab.running("lab8"), lab.evaluated("lab8"));
    assert_consistent(&lab, &["lab8"]);
}

/// A rollback cut short after it set the profile (fleet killed) leaves the host running one
/// system and booting the one before: a retry finishes that rollback, to the same generation,
/// rather than going one further (or failing, as `nix-env --rollback` would at the oldest).
#[test]
fn a_rollback_cut_short_is_finished_by_a_retry_not_taken_further() {
    let lab = Lab::new();
    lab.bump("razer");
    lab.fleet(&["deploy", "razer"]).status(0);
    let second = lab.running("razer");
    lab.bump("razer");
    lab.fleet(&["deploy", "razer"]).status(0);
    let third = lab.running("razer");
    // The first half of a rollback, as one killed between its two steps leaves it.
    lab.ssh(
        "10.213.1.12",
        "nix-env -p /nix/var/nix/profiles/system --rollback",
    );
    assert_eq!(lab.generation("razer"), 2);
    assert_eq!(lab.running("razer"), third);
    lab.fleet(&["status", "razer"]).status(1);
    lab.fleet(&["rollback", "razer"]).status(0);
    assert_eq!(lab.running("razer"), second);
    assert_eq!(lab.profile("razer"), second);
    assert_eq!(lab.generation("razer"), 2);
    lab.fleet(&["status", "razer"]).status(0);
}

/// This machine's run directories (`/tmp/fleet-PID-*`) whose fleet is gone.
fn dead_run_dirs() -> Vec<std::path::PathBuf> {
    std::fs::read_dir("/tmp")
        .expect("/tmp")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.display()
                .to_string()
                .strip_prefix("/tmp/fleet-")
                .and_then(|rest| rest.split_once('-'))
                .is_some_and(|(pid, _)| {
                    pid.parse::<u32>().is_ok()
                        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
                })
        })
        .collect()
}

/// Every SSH master has a finite life. A killed run's own masters (connections not kept)
/// end on their own moments later, or at once with the next run, which removes its directory;
/// a kept master ends once its window has passed with no run using it.
#[test]
fn a_killed_runs_ssh_masters_end_on_their_own() {
    let lab = Lab::new();
    lab.bump("lab7");
    lab.set("lab7", "activation_sleep", json!(2));
    let (run, _) = lab.fleet_signalled(
        &["deploy", "lab7", "--no-rollback", "--keep-connections", "0"],
        "KILL",
        1,
        || lab.saw("lab7", "start-switch"),
    );
    assert_eq!(run.code, -1, "fleet was killed");
    let dead = dead_run_dirs();
    let masters = || dead.iter().map(|d| lab.masters_in(d)).sum::<usize>();
    assert!(masters() > 0, "no master outlived the run in {dead:?}");
    wait_until(30, "the killed run's masters ended", || masters() == 0);
    wait_until(15, "the activation ended", || lab.saw("lab7", "end-switch"));
    lab.fleet(&["status", "lab7", "--keep-connections", "0"])
        .status(0);
    assert!(dead.iter().all(|d| !d.exists()), "{dead:?}");

    // Or the next run ends them at once, without waiting for their linger.
    lab.bump("lab7");
    let switches = || {
        lab.activations("lab7")
            .iter()
            .filter(|a| a.event == "start-switch")
            .count()
    };
    let before = switches();
    let (run, _) = lab.fleet_signalled(
        &["deploy", "lab7", "--no-rollback", "--keep-connections", "0"],
        "KILL",
        1,
        || switches() > before,
    );
    assert_eq!(run.code, -1, "fleet was killed");
    let dead = dead_run_dirs();
    let masters = || dead.iter().map(|d| lab.masters_in(d)).sum::<usize>();
    assert!(masters() > 0, "no master outlived the run in {dead:?}");
    wait_until(15, "the activation ended", || {
        switches() == before + 1 && lab.saw("lab7", "end-switch")
    });
    lab.fleet(&["status", "lab5", "--keep-connections", "0"])
        .status(0);
    assert_eq!(
        masters(),
        0,
        "the next run left the killed run's masters running"
    );

    // A kept master of a killed run lives out its window (here 3 s), then ends.
    lab.bump("lab7");
    let before = switches();
    let (run, _) = lab.fleet_signalled(
        &["deploy", "lab7", "--no-rollback", "--keep-connections", "3"],
        "KILL",
        1,
        || switches() > before,
    );
    assert_eq!(run.code, -1, "fleet was killed");
    let kept = lab.state_dir().join("fleet");
    assert_eq!(lab.masters_in(&kept), 1, "the kept master");
    wait_until(20, "the kept master ended after its window", || {
        lab.masters_in(&kept) == 0
    });
}

/// A run keeps each host's SSH master open for the next (`keep_connections`), which then
/// logs in nowhere. The confirmation of magic rollback is still a new login; a master whose
/// host stopped answering, or whose ssh config changed, is not reused; `fleet disconnect`
/// ends them; 0 keeps none.
#[test]
fn a_warm_connection_serves_the_next_run_without_a_login() {
    let lab = Lab::new();
    let before = lab.logins("lab5");
    let logins = || lab.logins("lab5") - before;
    lab.fleet(&["status", "lab5"]).status(0);
    assert_eq!(logins(), 1);
    lab.fleet(&["status", "lab5"]).status(0);
    lab.fleet(&["quick-deploy", "lab5"]).status(0);
    assert_eq!(logins(), 1, "the kept master served both runs");
    lab.bump("lab5");
    lab.fleet(&["deploy", "lab5"]).status(0);
    assert_eq!(logins(), 2, "the confirmation is a login of its own");
    assert_eq!(lab.running("lab5"), lab.evaluated("lab5"));

    // The host's end hangs (asleep, say): the kept master is not trusted, a new login is made.
    assert!(lab.signal_ssh_sessions("lab5", "STOP") > 0);
    lab.fleet(&["status", "lab5"]).status(0);
    assert_eq!(logins(), 3);
    lab.kill_ssh_sessions("lab5");

    // Another ssh config is another master.
    lab.fleet(&["status", "lab5"]).status(0);
    assert_eq!(logins(), 4);
    let config = std::fs::read_to_string(lab.dir.join("ssh/config")).expect("ssh config");
    std::fs::write(
        lab.dir.join("ssh/config-changed"),
        format!("{config}\nHost *\n  ServerAliveCountMax 7\n"),
    )
    .expect("write ssh config");
    let inventory = lab.dir.join("hosts-changed-config.toml");
    std::fs::write(
        &inventory,
        std::fs::read_to_string(lab.dir.join("hosts.toml"))
            .expect("hosts.toml")
            .replace(
                "ssh_config = \"ssh/config\"",
                "ssh_config = \"ssh/config-changed\"",
            ),
    )
    .expect("write inventory");
    let inventory = inventory.display().to_string();
    lab.fleet(&["-i", &inventory, "status", "lab5"]).status(0);
    assert_eq!(logins(), 5);
    // The same file edited in place (same size, only its time tells): another master too,
    // though what ssh -G answered is remembered between runs.
    std::fs::write(
        lab.dir.join("ssh/config-changed"),
        format!("{config}\nHost *\n  ServerAliveCountMax 8\n"),
    )
    .expect("edit ssh config");
    lab.fleet(&["-i", &inventory, "status", "lab5"]).status(0);
    assert_eq!(logins(), 6, "an edited ssh config is another master");
    lab.fleet(&["-i", &inventory, "status", "lab5"]).status(0);
    assert_eq!(logins(), 6, "which the next run reuses");

    // `fleet disconnect` ends them; with keep_connections 0 nothing is kept.
    lab.fleet(&["disconnect", "lab5"])
        .status(0)
        .stdout_is("closed 3 connections to lab5 (10.213.1.14)\n");
    lab.fleet(&["status", "lab5", "--keep-connections", "0"])
        .status(0);
    lab.fleet(&["status", "lab5"]).status(0);
    assert_eq!(logins(), 8);
    assert_eq!(lab.masters_in(&lab.state_dir().join("fleet")), 1);
}

/// A run killed while its builder builds does not leave the build running there: every
/// command over SSH is tied to the run, so the builder ends the build once fleet is gone, and
/// a retry finds no stray build holding the store's locks.
#[test]
fn a_killed_runs_build_on_the_builder_is_ended_there() {
    let lab = Lab::new();
    let marker = lab.dir.join("building-samsung.pid");
    let _ = std::fs::remove_file(&marker);
    lab.bump("samsung");
    lab.set("samsung", "build_sleep", json!(120));
    let building = || {
        std::fs::read_to_string(&marker)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
    };
    let (run, _) = lab.fleet_signalled(&["deploy", "samsung"], "KILL", 1, || building().is_some());
    assert_eq!(run.code, -1, "fleet was killed");
    let pid = building().expect("the build's process id");
    wait_until(10, "the builder ended the dead run's build", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
    lab.set("samsung", "build_sleep", json!(0));
    lab.fleet(&["deploy", "samsung"]).status(0);
    assert_eq!(lab.running("samsung"), lab.evaluated("samsung"));
    assert_consistent(&lab, &["samsung"]);
}

/// A full store on the target (lab8's /nix is a filesystem of its own, filled here):
/// the copy from the builder's cache fails, no other way is tried (each would fail the same),
/// the report says the store is full and points at `fleet gc`, and nothing changed on the
/// host. Once there is room, the same deploy goes through.
#[test]
fn a_full_store_on_the_target_fails_at_once_and_points_at_gc() {
    let lab = Lab::new();
    let store = lab.host_dir("lab8").join("nix");
    let free = || -> u64 {
        let out = std::process::Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(&store)
            .output()
            .expect("df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df's answer")
    };
    let filler = store.join("var/lab/filler");
    let leave = 512 * 1024;
    let status = std::process::Command::new("fallocate")
        .args(["-l", &(free() - leave).to_string()])
        .arg(&filler)
        .status()
        .expect("fallocate");
    assert!(status.success(), "could not fill lab8's store");
    lab.new_payload("lab8", 4096);
    lab.bump("lab8");
    let first = lab.running("lab8");
    let run = lab
        .fleet(&["deploy", "lab8", "--via", "p620", "--json"])
        .status(1);
    let report = run.json();
    let failure = &report["hosts"][0]["failure"];
    assert_eq!(
        failure["message"], "the Nix store on lab8 is full (No space left on device)",
        "{report:#}"
    );
    let next = failure["next"].to_string();
    assert!(next.contains("`fleet gc lab8`"), "{report:#}");
    assert!(
        next.contains("deleted 1 half-written store path(s)"),
        "{report:#}"
    );
    // One way was tried: the target fetching from the builder's cache. Neither the builder's
    // push nor the relay through this machine ran.
    let log = std::fs::read_dir(lab.state_dir().join("logs"))
        .expect("logs")
        .flatten()
        .map(|run| std::fs::read_to_string(run.path().join("lab8.log")).unwrap_or_default())
        .collect::<String>();
    let copies = log
        .lines()
        .filter(|l| l.starts_with("--- ") && l.contains(" copy ") && !l.contains("--derivation"))
        .count();
    assert_eq!(copies, 1, "another way was tried:\n{log}");
    assert_eq!(lab.running("lab8"), first);
    assert_eq!(lab.generation("lab8"), 1);
    // What the failed copy left does not keep the store full.
    assert!(
        free() >= leave / 2,
        "only {} bytes free after the failed copy",
        free()
    );
    std::fs::remove_file(&filler).expect("remove the filler");
    lab.fleet(&["deploy", "lab8", "--via", "p620"]).status(0);
    assert_eq!(lab.running("lab8"), lab.evaluated("lab8"));
}

/// fleet killed (SIGKILL) in the middle of `fleet rollback`'s switch: the host finishes the
/// switch on its own, and since no one confirmed it, its watchdog returns it wholly to the
/// generation it ran, profile and running system alike. `status` then finds it consistent, and
/// a retry rolls back as asked.
#[test]
fn a_rollback_killed_mid_switch_leaves_the_host_whole() {
    let lab = Lab::new();
    lab.bump("razer");
    lab.set("razer", "activation_sleep", json!(3));
    lab.fleet(&["deploy", "razer"]).status(0);
    let second = lab.running("razer");
    lab.bump("razer");
    lab.set("razer", "activation_sleep", json!(0));
    lab.fleet(&["deploy", "razer"]).status(0);
    let third = lab.running("razer");
    let switches = || {
        lab.activations("razer")
            .iter()
            .filter(|a| a.event == "start-switch")
            .count()
    };
    let before = switches();
    let (run, _) = lab.fleet_signalled(
        &["rollback", "razer", "--confirm-timeout", "5"],
        "KILL",
        1,
        || switches() > before,
    );
    assert_eq!(run.code, -1, "fleet was killed: {}", run.stderr);
    assert_eq!(
        lab.profile("razer"),
        second,
        "killed after the profile was set"
    );
    wait_until(20, "the host returned to the generation it ran", || {
        lab.saw("razer", "end-switch")
            && lab.running("razer") == third
            && lab.profile("razer") == third
    });
    assert_consistent(&lab, &["razer"]);
    lab.fleet(&["status", "razer"]).status(0);
    lab.fleet(&["rollback", "razer"]).status(0);
    assert_eq!(lab.running("razer"), second);
    assert_eq!(lab.profile("razer"), second);
}

/// A builder's helper, through Nix's own distributed builds: samsung's system has a part that
/// only p510 can build (it requires p510's system feature). p620's Nix, given p510 as a
/// `build_machines` helper, builds that part there and the rest itself; samsung fetches all
/// of it from p620's cache, as before.
#[test]
fn a_builder_hands_what_its_helper_must_build_to_nix_distributed_builds() {
    let lab = Lab::new();
    lab.bump("samsung");
    lab.set("samsung", "helper_feature", json!("lab-helper"));
    let new = lab.evaluated("samsung");
    let inventory = lab.inventory_with(
        "p620",
        "build_machines = [{ host = \"p510\", features = [\"lab-helper\"] }]",
    );
    let p510_logins = lab.logins("p510");

    let run = lab
        .fleet(&["-i", &inventory, "quick-all", "--yes", "samsung", "--json"])
        .status(0);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "deployed", "{host}");
    assert_eq!(host["built_on"], "p620", "{host}");
    assert!(!host["notes"].to_string().contains("fallback"), "{host}");
    assert_eq!(lab.running("samsung"), new);

    let (part, built_on) = lab.helper_part("samsung", &new, "p510");
    assert_eq!(built_on, "p510", "where the part was built");
    assert!(
        lab.has_path("p620", &part),
        "p620's Nix took the part back from its helper"
    );
    assert!(
        !lab.has_path("p510", &new),
        "the system itself was built on p620"
    );
    assert!(lab.has_path("p620", &new));
    assert_eq!(
        lab.logins("p510"),
        p510_logins + 1,
        "p620's build hook logged in to p510 once"
    );
    let hash = &part["/nix/store/".len().."/nix/store/".len() + 32];
    let cache_log =
        std::fs::read_to_string(lab.host_dir("p620").join("cache.log")).expect("p620's cache log");
    assert!(
        cache_log.contains(&format!("GET /{hash}.narinfo")),
        "samsung did not fetch the part from p620's cache:\n{cache_log}"
    );
}

/// `via` as a list: the first builder that answers builds. p620 is down, so p510 (the next in
/// samsung's list) builds and copies the system to samsung; with both down, the host's own
/// fallback builds.
#[test]
fn a_via_list_builds_on_the_first_builder_that_answers() {
    let lab = Lab::new();
    let inventory = lab.samsung_via_p620_then_p510("\nfallback = \"target\"");

    lab.bump("samsung");
    let new = lab.evaluated("samsung");
    lab.stop_host("p620");
    let run = lab
        .fleet(&["-i", &inventory, "deploy", "samsung", "--json"])
        .status(0);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["built_on"], "p510", "{host}");
    assert!(
        host["notes"]
            .to_string()
            .contains("p620 is down: built on p510 instead"),
        "{host}"
    );
    assert_eq!(lab.running("samsung"), new);
    assert!(lab.has_path("p510", &new), "built on p510");
    assert!(!lab.has_path("p620", &new));

    lab.bump("samsung");
    let newer = lab.evaluated("samsung");
    lab.stop_host("p510");
    let run = lab
        .fleet(&["-i", &inventory, "deploy", "samsung", "--json"])
        .status(0);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["built_on"], "samsung", "{host}");
    assert!(
        host["notes"]
            .to_string()
            .contains("p510 is down: built on samsung instead"),
        "{host}"
    );
    assert_eq!(lab.running("samsung"), newer);
}

/// The summary says what each host went through: a preview of a host that runs the new system
/// already is "unchanged" and builds nothing; a deploy onto the same system says it
/// re-activated it; a rollback and an unreachable host built nothing, so BUILT ON is "-".
#[test]
fn the_summary_says_what_each_host_went_through() {
    let lab = Lab::new();
    let first = lab.running("razer");
    let run = lab
        .fleet(&["deploy", "razer", "--preview", "--json"])
        .status(0);
    let h = &run.json()["hosts"][0];
    assert_eq!(h["outcome"], "unchanged", "{h}");
    assert_eq!(h["built_on"], "-", "{h}");
    assert!(
        h["notes"]
            .to_string()
            .contains("runs the new system already; nothing would change"),
        "{h}"
    );
    let run = lab
        .fleet(&["deploy-all-parallel", "razer", "--json"])
        .status(0);
    let h = &run.json()["hosts"][0];
    assert_eq!(h["outcome"], "deployed", "{h}");
    assert!(
        h["notes"].to_string().contains("re-activated, unchanged"),
        "{h}"
    );
    assert_eq!(lab.running("razer"), first);

    lab.bump("razer");
    lab.fleet(&["deploy", "razer"]).status(0);
    let run = lab.fleet(&["rollback", "razer"]).status(0);
    let row = run.row("razer");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells.get(1..3),
        Some(&["reverted", "-"][..]),
        "{}",
        run.stdout
    );
    assert_eq!(lab.running("razer"), first);

    lab.stop_host("lab8");
    let run = lab.fleet(&["deploy", "lab8", "--json"]).status(1);
    assert_eq!(run.json()["hosts"][0]["built_on"], "-", "{}", run.stdout);
}

/// quick-all's question on a terminal stands alone: the hosts' progress lines are cleared
/// before it is asked and not drawn again until it is answered, so they do not stay in the
/// scrollback around it.
#[test]
fn quick_alls_question_stands_alone_on_the_terminal() {
    let lab = Lab::new();
    lab.bump("razer");
    let run = lab.fleet_on_tty(&["quick-all", "razer", "p510"], &["n"]);
    let screen = &run.stdout;
    let question = "Deploy them? [y/N] ";
    let asked = screen.find(question).unwrap_or_else(|| panic!("{screen}"));
    let after = &screen[asked + question.len()..];
    let answered = after.find("n\r\n").unwrap_or_else(|| panic!("{screen:?}"));
    let meanwhile = &after[..answered];
    assert!(
        !meanwhile.contains("razer") && !meanwhile.contains("p510"),
        "drawn while the question waited: {meanwhile:?}"
    );
    // Before it, the bars were cleared: the question follows no bar line.
    let before = &screen[..asked];
    let last_line = before.rsplit('\n').next().unwrap_or_default();
    assert!(!last_line.contains("p510"), "{last_line:?}");
    assert_eq!(lab.generation("razer"), 1, "deployed on a no");
}
