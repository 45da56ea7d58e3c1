//! The lab's systemd hosts: Debian roots booted with systemd-nspawn, systemd as PID 1, sshd
//! and nix-daemon as units. trixie runs Nix 2.26, sid Nix 2.34. What every NixOS host does
//! and the namespace hosts cannot show: activation and the watchdog in transient units, the
//! switch's units started, restarted and failed, sshd restarted by the switch, systemd's own
//! health check, and fleet's own nix commands on a modern Nix.

use crate::support::lab::{wait_until, Lab};
use serde_json::json;

const SYSTEMD_HOSTS: [&str; 2] = ["trixie", "sid"];

/// The host's journal since the test began, messages only.
fn journal(lab: &Lab, host: &str) -> String {
    let since = format!("@{}", lab.began);
    lab.in_host(
        host,
        &["journalctl", "--no-pager", "-o", "cat", "--since", &since],
    )
}

/// systemd ran fleet's scripts as written: it expands `${...}` in a unit's command line, and
/// says so when a name there is not a variable.
fn assert_scripts_ran_as_written(lab: &Lab, host: &str) {
    let journal = journal(lab, host);
    assert!(
        !journal.contains("Invalid environment variable"),
        "{host}: systemd rewrote a script fleet ran:\n{journal}"
    );
}

fn assert_consistent(lab: &Lab, host: &str) {
    crate::lab::assert_consistent(lab, &[host]);
}

fn unit_property(lab: &Lab, host: &str, unit: &str, property: &str) -> String {
    lab.in_host(
        host,
        &["systemctl", "show", "--value", "-p", property, unit],
    )
    .trim()
    .to_string()
}

/// On both Nix versions: the switch runs in a transient unit (`fleet-activate-…`) and so does
/// the watchdog; the system's units follow the switch (the changed one restarted); the host
/// ends on the new generation, confirmed.
#[test]
fn a_systemd_host_switches_in_a_transient_unit_and_its_units_follow() {
    let lab = Lab::new();
    let versions: Vec<String> = SYSTEMD_HOSTS.iter().map(|h| lab.bump(h)).collect();
    lab.fleet(&["deploy", "trixie", "sid"]).status(0);
    for (host, version) in SYSTEMD_HOSTS.iter().copied().zip(versions) {
        assert_eq!(lab.running(host), lab.evaluated(host));
        assert_consistent(&lab, host);
        assert_eq!(lab.generation(host), 2);
        let journal = journal(&lab, host);
        assert!(
            journal.contains("Started fleet-activate-"),
            "{host}:\n{journal}"
        );
        assert!(
            journal.contains("Started fleet-watchdog-"),
            "{host}:\n{journal}"
        );
        assert!(
            lab.saw(host, "restarted:lab-app.service"),
            "{host}: {:?}",
            lab.activations(host)
        );
        assert_eq!(
            unit_property(&lab, host, "lab-app.service", "ActiveState"),
            "active"
        );
        assert!(unit_property(&lab, host, "lab-app.service", "Description")
            .ends_with(&format!("version {version}")));
        assert_scripts_ran_as_written(&lab, host);
    }
}

/// NixOS restarts sshd when its config changed: the switch, in its own unit, survives it, and
/// the confirmation login after it gets in. A switch that ends every login (as a network
/// restart does) is followed to its end over a new connection.
#[test]
fn a_switch_survives_the_sshd_restart_and_the_lost_logins_it_causes() {
    let lab = Lab::new();
    lab.bump("trixie");
    lab.set("trixie", "restarts_sshd", json!(true));
    lab.bump("sid");
    lab.set("sid", "drops_logins", json!(true));
    lab.set("sid", "activation_sleep", json!(1));
    let run = lab.fleet(&["deploy", "trixie", "sid", "--json"]).status(0);
    for host in SYSTEMD_HOSTS {
        assert_eq!(lab.running(host), lab.evaluated(host), "{}", run.stderr);
        assert_consistent(&lab, host);
        assert!(lab.saw(host, "end-switch"), "{host}");
    }
    assert!(lab.saw("trixie", "restarted:ssh.service"));
    assert!(lab.saw("sid", "dropped-logins"));
    assert_scripts_ran_as_written(&lab, "sid");
}

/// A generation that locks the deployer out: no confirmation can come, and the watchdog, a
/// transient unit, switches the host back by itself and deletes the generation it rejected.
#[test]
fn the_watchdog_unit_rolls_back_a_lockout() {
    let lab = Lab::new();
    let first = lab.running("sid");
    let generation = lab.generation("sid");
    lab.bump("sid");
    lab.set("sid", "lockout", json!(true));
    let run = lab
        .fleet(&["deploy", "sid", "--confirm-timeout", "5", "--json"])
        .status(1);
    assert_eq!(
        run.json()["hosts"][0]["outcome"],
        "rolled-back",
        "{}",
        run.stdout
    );
    assert_eq!(lab.running("sid"), first);
    assert_consistent(&lab, "sid");
    // The rejected generation is gone: neither rollback nor the boot menu offers it.
    assert_eq!(lab.generation("sid"), generation);
    assert!(!lab.has_generation("sid", generation + 1));
    assert!(
        run.stdout.contains("removed from its profile"),
        "{}",
        run.stdout
    );
    let journal = journal(&lab, "sid");
    assert!(journal.contains("Started fleet-watchdog-"), "{journal}");
    assert_scripts_ran_as_written(&lab, "sid");
}

/// `systemctl is-system-running --wait` as the health check: a healthy switch passes it; a
/// switch that leaves a unit failed (exit 4) makes the system degraded, the check fails, and
/// the host is rolled back at once (fleet asks the watchdog; it does not wait out the window).
/// Without a health check, the same switch is kept, as nixos-rebuild keeps it, and the failed
/// unit is named.
#[test]
fn systemds_own_health_check_passes_a_healthy_switch_and_fails_a_failed_unit() {
    let lab = Lab::new();
    let inventory = lab.inventory_with(
        "trixie",
        r#"health_checks = [["systemctl", "is-system-running", "--wait"]]"#,
    );
    lab.bump("trixie");
    lab.fleet(&["-i", &inventory, "deploy", "trixie"]).status(0);
    let healthy = lab.running("trixie");
    assert_eq!(healthy, lab.evaluated("trixie"));

    lab.bump("trixie");
    lab.set("trixie", "activation_exit", json!(4));
    let started = std::time::Instant::now();
    let run = lab
        .fleet(&[
            "-i",
            &inventory,
            "deploy",
            "trixie",
            "--confirm-timeout",
            "120",
            "--json",
        ])
        .status(1);
    assert!(
        started.elapsed().as_secs() < 60,
        "the rollback waited out the window"
    );
    assert_eq!(
        run.json()["hosts"][0]["outcome"],
        "rolled-back",
        "{}",
        run.stdout
    );
    assert_eq!(lab.running("trixie"), healthy);
    assert_consistent(&lab, "trixie");
    assert_eq!(
        unit_property(&lab, "trixie", "lab-broken.service", "LoadState"),
        "not-found",
        "the failed generation's unit is gone with it"
    );

    let run = lab.fleet(&["deploy", "trixie", "--json"]).status(1);
    let report = run.json();
    assert_eq!(report["hosts"][0]["outcome"], "units-failed", "{report:#}");
    assert!(
        report.to_string().contains("lab-broken.service"),
        "{report:#}"
    );
    assert_eq!(lab.running("trixie"), lab.evaluated("trixie"));
    assert_scripts_ran_as_written(&lab, "trixie");
}

/// A run killed during a switch on a systemd host: the switch finishes in its unit, the
/// watchdog unit rolls it back unconfirmed, and a re-run deploys and stays deployed.
#[test]
fn a_killed_run_on_a_systemd_host_is_undone_and_a_rerun_stays() {
    let lab = Lab::new();
    let first = lab.running("trixie");
    lab.bump("trixie");
    lab.set("trixie", "activation_sleep", json!(2));
    let new = lab.evaluated("trixie");
    let (run, _) = lab.fleet_signalled(
        &["deploy", "trixie", "--confirm-timeout", "5"],
        "KILL",
        1,
        || lab.saw("trixie", "start-switch"),
    );
    assert_eq!(run.code, -1, "fleet was killed");
    wait_until(30, "the watchdog rolled trixie back", || {
        lab.running("trixie") == first && lab.profile("trixie") == first
    });
    lab.fleet(&["deploy", "trixie", "--confirm-timeout", "5"])
        .status(0);
    std::thread::sleep(std::time::Duration::from_secs(8));
    assert_eq!(lab.running("trixie"), new);
    assert_consistent(&lab, "trixie");
    assert_scripts_ran_as_written(&lab, "trixie");
}

/// status and doctor on the systemd hosts: their Nix versions, their agreement, their caches.
#[test]
fn status_and_doctor_read_the_systemd_hosts() {
    let lab = Lab::new();
    lab.fleet(&["status", "trixie", "sid"]).status(0);
    let run = lab.fleet(&["doctor", "trixie", "sid", "--json"]).status(0);
    let checks = run.json();
    let version = |host: &str| {
        checks
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["host"] == host && c["check"] == "nix version")
            .map(|c| c["detail"].to_string())
            .unwrap_or_default()
    };
    assert!(version("trixie").contains("2.26"), "{checks:#}");
    assert!(version("sid").contains("2.34"), "{checks:#}");
    // Their settings were read in the form their Nix takes: no deprecated alias.
    for host in SYSTEMD_HOSTS {
        let log: String = std::fs::read_dir(lab.state_dir().join("logs"))
            .expect("logs")
            .flatten()
            .map(|run| {
                std::fs::read_to_string(run.path().join(format!("{host}.log"))).unwrap_or_default()
            })
            .collect();
        assert!(
            log.contains("substituters"),
            "{host}: no settings read:\n{log}"
        );
        assert!(
            !log.contains("is a deprecated alias"),
            "{host}: Nix warned of a deprecated form"
        );
    }
}

/// fleet on a systemd host with a modern Nix, deploying that host itself: its own `nix eval`
/// and `nix-store --realise` there (2.26 on trixie, 2.34 on sid), and the switch in a
/// transient unit, as nixos-rebuild runs it, its output and exit code passed back.
#[test]
fn fleet_on_a_modern_nix_deploys_its_own_machine_through_systemd_run() {
    let lab = Lab::new();
    for host in SYSTEMD_HOSTS {
        lab.bump(host);
        let run = lab.fleet_in(host, &["deploy", host, "--json"]).status(0);
        let report = run.json();
        assert_eq!(report["hosts"][0]["outcome"], "deployed", "{report:#}");
        assert_eq!(report["hosts"][0]["built_on"], "here", "{report:#}");
        assert_eq!(lab.running(host), lab.evaluated(host));
        assert_consistent(&lab, host);
        let journal = journal(&lab, host);
        assert!(
            journal.contains("fleet-switch-to-configuration"),
            "{host}: the switch did not run in a unit of its own:\n{journal}"
        );
        assert!(lab.saw(host, "restarted:lab-app.service"));
    }
}

/// `fleet update-flake` on Nix 2.26 and 2.34, which read `nix flake update PATH` as an input
/// name: every input, then one by name, in the forms those versions take.
#[test]
fn update_flake_works_on_every_nix_version() {
    let lab = Lab::new();
    for host in SYSTEMD_HOSTS {
        let root = lab.host_dir(host).join("root");
        let dep = root.join("root/dep");
        let _ = std::fs::remove_dir_all(&dep);
        std::fs::create_dir_all(&dep).expect("dep dir");
        std::fs::write(dep.join("flake.nix"), "{ outputs = { self }: { }; }\n").expect("dep");
        lab.copy_lab_into(host);
        // The lab's flake, given an input (inside the host only).
        let flake = root.join(lab.dir.join("flake").strip_prefix("/").expect("absolute"));
        let text = std::fs::read_to_string(flake.join("flake.nix")).expect("flake.nix");
        let text = text.replacen("{\n", "{\n  inputs.dep.url = \"path:/root/dep\";\n", 1);
        std::fs::write(flake.join("flake.nix"), text).expect("flake.nix");
        let run = update_in(&lab, host, &[]);
        let lock = std::fs::read_to_string(flake.join("flake.lock")).expect("a lock file");
        assert!(lock.contains("\"dep\""), "{host}: {}\n{lock}", run.stderr);
        std::fs::write(dep.join("more"), format!("moved at {}\n", lab.began)).expect("dep");
        let run = update_in(&lab, host, &["dep"]);
        assert!(
            run.stdout.contains("dep"),
            "{host}: {}{}",
            run.stdout,
            run.stderr
        );
        assert_ne!(
            std::fs::read_to_string(flake.join("flake.lock")).expect("lock"),
            lock,
            "{host}: the input did not move"
        );
    }
}

/// update-flake inside `host` without copying the lab's flake over the one the test edited.
fn update_in(lab: &Lab, host: &str, inputs: &[&str]) -> crate::support::Run {
    let mut args = vec!["update-flake"];
    args.extend_from_slice(inputs);
    lab.fleet_in_as_is(host, &args).status(0)
}

/// The scenarios that matter, on each Nix: deploy via the builder (the target, on 2.26 or
/// 2.34, fetches from the builder's cache and checks its signature), diff, and quick-all
/// deploying exactly the changed host.
#[test]
fn every_nix_version_fetches_from_the_builder_diffs_and_takes_part_in_quick_all() {
    let lab = Lab::new();
    for host in SYSTEMD_HOSTS {
        let first = lab.running(host);
        lab.bump(host);
        lab.new_payload(host, 256);
        let run = lab.fleet(&["diff", host, "--via", "p620"]).status(0);
        assert!(run.stdout.contains("lab-payload"), "{host}: {}", run.stdout);
        assert_eq!(lab.running(host), first, "diff activated {host}");
        let run = lab
            .fleet(&["deploy", host, "--via", "p620", "--json"])
            .status(0);
        let report = run.json();
        assert_eq!(report["hosts"][0]["built_on"], "p620", "{report:#}");
        assert!(
            !report.to_string().contains("used fallback"),
            "{host} did not fetch from the cache: {report:#}"
        );
        assert_eq!(lab.running(host), lab.evaluated(host));
        assert_consistent(&lab, host);
    }
    lab.bump("trixie");
    let run = lab
        .fleet(&["quick-all", "--yes", "trixie", "sid", "--json"])
        .status(0);
    let report = run.json();
    let outcome = |i: usize| report["hosts"][i]["outcome"].clone();
    assert_eq!(
        (outcome(0), outcome(1)),
        (json!("deployed"), json!("unchanged")),
        "{report:#}"
    );
    assert_eq!(lab.running("trixie"), lab.evaluated("trixie"));
}

/// `fleet rollback` on a systemd host: guarded as a deploy (watchdog unit, confirmation), the
/// previous generation's units come back with it.
#[test]
fn rollback_on_a_systemd_host_brings_back_the_previous_generations_units() {
    let lab = Lab::new();
    let first = lab.running("trixie");
    lab.bump("trixie");
    lab.set("trixie", "activation_exit", json!(4));
    lab.set("trixie", "healthy", json!(true));
    lab.fleet(&["deploy", "trixie"]).status(1);
    assert_eq!(
        unit_property(&lab, "trixie", "lab-broken.service", "ActiveState"),
        "failed"
    );
    lab.fleet(&["rollback", "trixie"]).status(0);
    assert_eq!(lab.running("trixie"), first);
    assert_consistent(&lab, "trixie");
    assert_eq!(
        unit_property(&lab, "trixie", "lab-broken.service", "LoadState"),
        "not-found"
    );
    assert!(unit_property(&lab, "trixie", "lab-app.service", "Description").ends_with("version 1"));
    let journal = journal(&lab, "trixie");
    assert!(journal.contains("Started fleet-watchdog-"), "{journal}");
    assert_scripts_ran_as_written(&lab, "trixie");
}

/// Ctrl-C during a switch on a systemd host: the switch, in its own unit, goes on to its end,
/// fleet follows it and confirms it (the first press starts nothing new, stops nothing).
#[test]
fn ctrl_c_during_a_switch_on_a_systemd_host_lets_it_finish() {
    let lab = Lab::new();
    lab.bump("sid");
    lab.set("sid", "activation_sleep", json!(3));
    let (run, _) = lab.fleet_interrupted(&["deploy", "sid", "--json"], 1, || {
        lab.saw("sid", "start-switch")
    });
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert_eq!(
        run.json()["hosts"][0]["outcome"],
        "deployed",
        "{}",
        run.stdout
    );
    assert_eq!(lab.running("sid"), lab.evaluated("sid"));
    assert_consistent(&lab, "sid");
    assert!(lab.saw("sid", "end-switch"));
}

/// fleet on Nix 2.34 deploying a host on Nix 2.8: its `nix copy` to an older daemon, and a
/// validation and a diff run with that Nix.
#[test]
fn fleet_on_a_modern_nix_deploys_a_host_on_an_old_one() {
    let lab = Lab::new();
    lab.bump("lab5");
    lab.new_payload("lab5", 128);
    lab.fleet_in("sid", &["validate"]).status(0);
    let run = lab.fleet_in_as_is("sid", &["diff", "lab5"]).status(0);
    assert!(run.stdout.contains("lab-payload"), "{}", run.stdout);
    let run = lab
        .fleet_in_as_is("sid", &["deploy", "lab5", "--json"])
        .status(0);
    assert_eq!(
        run.json()["hosts"][0]["outcome"],
        "deployed",
        "{}",
        run.stdout
    );
    assert_eq!(lab.running("lab5"), lab.evaluated("lab5"));
}

/// A builder that is a systemd host (`hosts-systemd-builder.toml`: trixie builds for sid and
/// serves its cache as `nix-serve.service`, a unit of its own system). Deployed in one run with
/// the host that fetches from it: sid gets its system from trixie's cache, and trixie's switch
/// restarts the cache service only once sid has it. doctor reads the unit's state from systemd.
#[test]
fn a_systemd_builders_cache_is_a_unit_its_own_switch_restarts() {
    let lab = Lab::new();
    let inventory = lab.systemd_builder_inventory();
    lab.bump("trixie");
    lab.bump("sid");
    let run = lab
        .fleet(&["-i", &inventory, "deploy", "trixie", "sid", "--json"])
        .status(0);
    let report = run.json();
    let sid = &report["hosts"][1];
    assert_eq!(sid["built_on"], "trixie", "{report:#}");
    assert!(!report.to_string().contains("used fallback"), "{report:#}");
    for host in SYSTEMD_HOSTS {
        assert_eq!(lab.running(host), lab.evaluated(host));
        assert_consistent(&lab, host);
    }
    assert!(lab.saw("trixie", "restarted:nix-serve.service"));
    // sid fetched its system from trixie's cache (before trixie's switch restarted it: no
    // fallback was needed).
    let cache_log = std::fs::read_to_string(lab.host_root("trixie").join("var/log/lab-cache.log"))
        .unwrap_or_default();
    let sid_system = lab.evaluated("sid");
    let hash = sid_system
        .trim_start_matches("/nix/store/")
        .split('-')
        .next()
        .unwrap_or_default();
    assert!(
        cache_log.contains(&format!("GET /{hash}.narinfo")),
        "sid did not fetch from trixie's cache:\n{cache_log}"
    );
    assert_eq!(
        unit_property(&lab, "trixie", "nix-serve.service", "ActiveState"),
        "active"
    );

    let checks = lab
        .fleet(&["-i", &inventory, "doctor", "trixie", "--json"])
        .status(0)
        .json();
    let service = |checks: &serde_json::Value| {
        checks
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["check"] == "cache service")
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(service(&checks)["status"], "pass", "{checks:#}");
    lab.in_host("trixie", &["systemctl", "stop", "nix-serve.service"]);
    let checks = lab
        .fleet(&["-i", &inventory, "doctor", "trixie", "--json"])
        .status(1)
        .json();
    assert_eq!(service(&checks)["status"], "fail", "{checks:#}");
    assert!(
        service(&checks)["detail"]
            .to_string()
            .contains("nix-serve.service is not active"),
        "{checks:#}"
    );
}

/// Nix's distributed builds on the systemd hosts' Nix: trixie (Nix 2.26, a builder with its
/// cache) hands sid (Nix 2.34) the part of sid's system that needs sid's system feature; its
/// nix-daemon, a unit running as root, logs in to sid over ssh-ng. sid then fetches all of it
/// from trixie's cache. doctor's helper check passes from trixie.
#[test]
fn a_systemd_builder_hands_a_part_to_its_helper_on_newer_nix() {
    let lab = Lab::new();
    let helper = "build_machines = [{ host = \"sid\", features = [\"lab-helper\"] }]";
    let inventory = lab.inventory_edited(
        "hosts-systemd-builder.toml",
        "hosts-systemd-helper",
        |text| {
            text.replacen(
                "[hosts.trixie]\n",
                &format!("[hosts.trixie]\n{helper}\n"),
                1,
            )
        },
    );
    lab.bump("sid");
    lab.set("sid", "helper_feature", serde_json::json!("lab-helper"));
    let new = lab.evaluated("sid");
    let run = lab
        .fleet(&["-i", &inventory, "deploy", "sid", "--json"])
        .status(0);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["built_on"], "trixie", "{host}");
    assert!(!host.to_string().contains("used fallback"), "{host}");
    assert_eq!(lab.running("sid"), new);
    assert_consistent(&lab, "sid");
    let (part, built_on) = lab.helper_part("sid", &new, "sid");
    assert_eq!(built_on, "sid", "where the part was built");
    assert!(lab.has_path("trixie", &part), "trixie took the part back");
    assert!(
        lab.has_path("trixie", &new),
        "the system was built on trixie"
    );

    let checks = lab
        .fleet(&["-i", &inventory, "doctor", "trixie", "--json"])
        .json();
    let helper = checks
        .as_array()
        .and_then(|c| c.iter().find(|c| c["check"] == "build helper sid"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(helper["status"], "pass", "{checks:#}");
}

/// The preview, generations and `rollback --to` on the systemd hosts' Nix (2.34 here, built
/// and fetched from trixie's 2.26): what the host lacks as its own Nix quotes it, the package
/// and kernel changes, the units its switch would touch; then the generations after two
/// deploys, and a rollback past one of them, in the host's own units.
#[test]
fn preview_generations_and_rollback_to_on_a_systemd_host() {
    let lab = Lab::new();
    let inventory = lab.systemd_builder_inventory();
    let first = lab.running("sid");
    lab.bump("sid");
    lab.set("sid", "kernel", "6.7.0".into());
    let run = lab
        .fleet(&["-i", &inventory, "deploy", "sid", "--preview", "--json"])
        .status(0);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "previewed", "{host}");
    let preview = &host["preview"];
    assert!(
        preview["unknown"].as_array().is_none_or(|u| u.is_empty()),
        "every part is known on Nix 2.34: {preview}"
    );
    Lab::assert_kernel_change_previewed(preview);
    assert!(
        preview["copied"].to_string().contains("cache trixie"),
        "{preview}"
    );
    assert_eq!(lab.running("sid"), first, "a preview activates nothing");
    assert_consistent(&lab, "sid");

    lab.fleet(&["-i", &inventory, "deploy", "sid"]).status(0);
    lab.bump("sid");
    lab.fleet(&["-i", &inventory, "deploy", "sid"]).status(0);
    let third = lab.running("sid");
    let json = lab
        .fleet(&["-i", &inventory, "generations", "sid", "--json"])
        .status(0)
        .json();
    let gens = json[0]["generations"].as_array().expect("generations");
    assert_eq!(gens.len(), 3, "{json}");
    assert_eq!(gens[0]["system"], first.as_str());
    assert_eq!(gens[2]["system"], third.as_str());
    assert_eq!(gens[2]["deployed"]["command"], "deploy", "{json}");

    lab.fleet(&["-i", &inventory, "rollback", "sid", "--to", "1"])
        .status(0);
    assert_eq!(lab.running("sid"), first);
    assert_eq!(lab.generation("sid"), 1);
    assert_consistent(&lab, "sid");
}

/// Garbage collection, `exec` and a kept master on a systemd host's Nix 2.34: gc deletes a
/// dead path and an old generation's system and keeps the running and booted ones; exec
/// runs a command there over the one login a kept master then serves again.
#[test]
fn gc_exec_and_a_kept_master_on_a_systemd_host() {
    let lab = Lab::new();
    let booted = lab.running("sid");
    for _ in 0..2 {
        lab.bump("sid");
        lab.fleet(&["deploy", "sid"]).status(0);
    }
    let third = lab.running("sid");
    let second = lab
        .fleet(&["generations", "sid", "--json"])
        .status(0)
        .json()[0]["generations"][1]["system"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(lab.has_path("sid", &second), "{second}");
    let dead = lab.in_host(
        "sid",
        &[
            "/bin/sh",
            "-c",
            "echo garbage > /tmp/garbage && nix-store --add /tmp/garbage",
        ],
    );
    let dead = dead.trim().to_string();
    assert!(lab.has_path("sid", &dead), "{dead}");

    let run = lab
        .fleet(&["gc", "sid", "--older-than", "0d", "--json", "--yes"])
        .status(0);
    assert_eq!(
        run.json()["hosts"][0]["outcome"],
        "collected",
        "{}",
        run.stdout
    );
    assert!(!lab.has_path("sid", &dead), "the dead path is still there");
    assert!(
        !lab.has_path("sid", &second),
        "generation 2's system is still there"
    );
    assert!(lab.has_path("sid", &third) && lab.has_path("sid", &booted));
    assert_eq!(lab.running("sid"), third);
    assert_consistent(&lab, "sid");

    lab.fleet(&["disconnect"]).status(0);
    let before = lab.logins("sid");
    let run = lab
        .fleet(&["exec", "sid", "--json", "--", "nix", "--version"])
        .status(0);
    let out = run.json()[0]["stdout"].to_string();
    assert!(out.contains("2.34"), "{out}");
    lab.fleet(&["status", "sid"]).status(0);
    assert_eq!(
        lab.logins("sid") - before,
        1,
        "exec logged in once; the kept master served status"
    );
}

/// A `via` list's failover onto a systemd host's Nix 2.34: sid builds on p620, else p510.
/// With p620 stopped, p510 (Nix 2.8, no signing key) builds, and its unsigned closure is
/// relayed to sid, whose Nix takes it from a trusted login (`--no-check-sigs`).
#[test]
fn a_via_list_fails_over_and_relays_unsigned_to_a_systemd_host() {
    let lab = Lab::new();
    let inventory = lab.inventory_edited("hosts.toml", "hosts-sid-via-list", |text| {
        text.replacen(
            "[hosts.sid]\n",
            "[hosts.sid]\nvia = [\"p620\", \"p510\"]\n",
            1,
        )
        .replacen("[hosts.p510]\n", "[hosts.p510]\nbuilder = true\n", 1)
    });
    lab.bump("sid");
    let new = lab.evaluated("sid");
    lab.stop_host("p620");
    let run = lab
        .fleet(&["-i", &inventory, "deploy", "sid", "--json"])
        .status(0);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["built_on"], "p510", "{host}");
    assert!(
        host["notes"]
            .to_string()
            .contains("p620 is down: built on p510 instead"),
        "{host}"
    );
    assert!(
        host["notes"]
            .to_string()
            .contains("relay it through this machine"),
        "p510 has no key sid accepts: {host}"
    );
    assert_eq!(lab.running("sid"), new);
    assert_consistent(&lab, "sid");
    assert!(lab.has_path("p510", &new), "built on p510");
    assert!(!lab.has_path("p620", &new));
}

/// Per-host evaluation on the newer Nix of the systemd hosts (fleet run inside trixie, 2.26,
/// and sid, 2.34, as a user logged in there would): a broken host's error in Nix's own words
/// (newer Nix prints its frames first and the message last), the others evaluated, and the
/// second validate of the same flake answered from the evaluation cache.
#[test]
fn per_host_evaluation_and_its_cache_on_newer_nix() {
    let lab = Lab::new();
    lab.set("razer", "eval_error", "undefined variable 'pkgs'".into());
    for host in SYSTEMD_HOSTS {
        let run = lab.fleet_in(host, &["validate", "samsung", "razer"]);
        assert_eq!(run.code, 1, "{host}: {}", run.stderr);
        assert!(
            run.stdout
                .contains("razer    evaluation failed: undefined variable 'pkgs'"),
            "{host}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("samsung  /nix/store/"),
            "{host}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("1 of 2 hosts evaluated"),
            "{host}: {}",
            run.stdout
        );
        let again = lab.fleet_in(host, &["validate", "samsung"]);
        assert_eq!(again.code, 0, "{host}: {}", again.stderr);
        assert!(
            again.stderr.contains("evaluate samsung (cached)"),
            "{host}: {}",
            again.stderr
        );
    }
}

/// Evaluation on a builder of newer Nix: from here (Nix 2.8) on trixie (2.26), which builds
/// for itself and for sid; and from sid (2.34) on trixie. Nothing is evaluated where fleet
/// runs: the flake goes to trixie, and what it evaluated deploys.
#[test]
fn evaluation_on_a_systemd_builder_of_newer_nix() {
    let lab = Lab::new();
    let inventory = lab.systemd_builder_inventory();
    lab.bump("trixie");
    lab.bump("sid");
    let run = lab
        .fleet(&[
            "-i",
            &inventory,
            "deploy",
            "trixie",
            "sid",
            "--eval-on",
            "trixie",
            "-v",
            "--json",
        ])
        .status(0);
    assert!(
        run.stderr.contains("evaluate sid on trixie"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr
            .contains("here$ nix --extra-experimental-features 'nix-command flakes' eval"),
        "{}",
        run.stderr
    );
    for host in SYSTEMD_HOSTS {
        assert_eq!(lab.running(host), lab.evaluated(host));
        assert_consistent(&lab, host);
    }
    lab.bump("samsung");
    let from_sid = lab.fleet_in("sid", &["validate", "samsung", "--eval-on", "trixie", "-v"]);
    assert_eq!(from_sid.code, 0, "{}", from_sid.stderr);
    assert!(
        from_sid
            .stderr
            .contains("trixie$ nix --extra-experimental-features 'nix-command flakes' eval"),
        "{}",
        from_sid.stderr
    );
    assert!(
        from_sid
            .stdout
            .contains(&format!("samsung  {}", lab.evaluated("samsung"))),
        "{}",
        from_sid.stdout
    );
}

/// What issue 23 fixed, on the systemd hosts' own shells and tools (Debian trixie and sid
/// roots, Nix 2.26 and 2.34): a switch that says it worked and did nothing is a failure; a
/// lock left with its lease in the future is named by status, then taken over; arming the
/// watchdog removes old run directories; and an odd running system is shown made visible.
#[test]
fn hostile_host_fixes_hold_on_the_systemd_hosts() {
    let lab = Lab::new();
    lab.assert_a_faked_switch_fails("sid");
    // trixie: a lock renewed in the future, and 90 run directories two days old.
    lab.leave_lock_in_the_future("trixie", "2026-12-04T10-00-00Z-1-trixie");
    lab.leave_old_run_dirs("trixie", 90);
    let status = lab.fleet(&["status", "trixie"]);
    assert!(
        status
            .stdout
            .contains("trixie's deploy lock is held: run 2026-12-04T10-00-00Z-1-trixie, olaf@gone"),
        "{}",
        status.stdout
    );
    lab.bump("trixie");
    let run = lab.fleet(&["deploy", "trixie", "--confirm-timeout", "5", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.json()["hosts"][0]["notes"]
            .to_string()
            .contains("took over a deploy lock its holder left"),
        "{}",
        run.stdout
    );
    assert_eq!(lab.running("trixie"), lab.evaluated("trixie"));
    assert_eq!(lab.old_run_dirs_left("trixie"), 0);
    // sid: an odd running system, shown made visible.
    lab.in_host(
        "sid",
        &[
            "ln",
            "-sfn",
            "/nix/store/ééééé-x\u{1b}]0;pwned\u{7}",
            "/run/current-system",
        ],
    );
    let status = lab.fleet(&["status", "sid"]);
    assert_ne!(status.code, 101, "{}", status.stderr);
    assert!(!status.stdout.contains('\u{1b}'), "{:?}", status.stdout);
    assert!(status.stdout.contains(r"\e]0;pwned\a"), "{}", status.stdout);
}

/// Progress on the newer Nix versions: trixie (Nix 2.26) builds sid's parts and serves them
/// from its cache; sid (Nix 2.34) fetches them. A log shows the derivations counted on the
/// builder and what sid fetched, with its size.
#[test]
fn progress_is_read_from_nix_2_26_and_2_34() {
    let lab = Lab::new();
    let inventory = lab.systemd_builder_inventory();
    lab.bump("sid");
    lab.new_parts("sid", 4, 256, 1);
    let run = lab.fleet(&["-i", &inventory, "deploy", "sid"]).status(0);
    assert_eq!(lab.running("sid"), lab.evaluated("sid"));
    let err = &run.stderr;
    assert!(err.contains("[sid] trixie builds "), "{err}");
    assert!(err.contains("[sid] build on trixie: built "), "{err}");
    let fetched = err
        .lines()
        .find(|l| l.contains("fetches the system from cache trixie: fetched "))
        .unwrap_or_else(|| panic!("what sid fetched:\n{err}"));
    let mib: f64 = fetched
        .rsplit(", ")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{fetched}"));
    assert!(mib >= 1.0, "four parts of 256 KiB: {fetched}");
    assert!(!err.contains("@nix"), "{err}");
}

/// On the systemd hosts (the switch in a transient unit; Nix 2.26 and 2.34): a switch the
/// inhibitors refuse is installed for the next boot; `--force-switch` passes NIXOS_NO_CHECK=1
/// into the unit.
#[test]
fn switch_inhibitors_on_a_systemd_host() {
    let lab = Lab::new();
    for host in ["trixie", "sid"] {
        // Running a system whose inhibitors are the default ones (systemd 257).
        lab.bump(host);
        lab.fleet(&["deploy", host, "--force-switch"]).status(0);
        let first = lab.running(host);
        lab.bump(host);
        lab.set(host, "inhibitors", json!("systemd 258"));
        let run = lab.fleet(&["deploy", host, "--json"]).status(0);
        let report = &run.json()["hosts"][0];
        assert_eq!(report["outcome"], "needs-reboot", "{host}: {report}");
        assert!(
            report["notes"]
                .to_string()
                .contains("switch inhibited (systemd: systemd 257 -> systemd 258)"),
            "{host}: {report}"
        );
        assert_eq!(lab.running(host), first, "{host}");
        assert_eq!(lab.profile(host), lab.evaluated(host), "{host}");
        let forced = lab
            .fleet(&["deploy", host, "--force-switch", "--json"])
            .status(0);
        assert_eq!(forced.json()["hosts"][0]["outcome"], "deployed", "{host}");
        assert_eq!(lab.running(host), lab.evaluated(host), "{host}");
        assert_consistent(&lab, host);
    }
}

/// A systemd host that was down during a deploy (Nix 2.34): `fleet retry` deploys it once it
/// is back, after its boot.
#[test]
fn retry_deploys_a_systemd_host_that_was_down() {
    let lab = Lab::new();
    lab.bump("sid");
    lab.stop_host("sid");
    lab.fleet(&["deploy", "sid"]).status(1);
    lab.lab(&["start-host", "sid"]);
    let run = lab.fleet(&["retry", "--json"]).status(0);
    let report = &run.json()["hosts"][0];
    assert_eq!(report["outcome"], "deployed", "{report}");
    assert_eq!(lab.running("sid"), lab.evaluated("sid"));
    assert_consistent(&lab, "sid");
}

/// A switch NixOS inhibited leaves sid needing a reboot; `fleet reboot` reboots it (a real
/// reboot of its systemd: a new boot id), waits until it answers, and checks it booted its
/// profile's system. `deploy --action boot --reboot` does both in one run.
#[test]
fn reboot_brings_a_host_up_on_its_new_system() {
    let lab = Lab::new();
    // Running a system whose inhibitors are the default ones (systemd 257).
    lab.bump("sid");
    lab.fleet(&["deploy", "sid", "--force-switch"]).status(0);
    lab.bump("sid");
    lab.set("sid", "inhibitors", json!("systemd 258"));
    let run = lab.fleet(&["deploy", "sid", "--json"]).status(0);
    assert_eq!(run.json()["hosts"][0]["outcome"], "needs-reboot");
    let new = lab.evaluated("sid");
    let reboots = || {
        std::fs::read_to_string(lab.host_dir("sid").join("reboots.log"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    let before = reboots();
    let run = lab.fleet(&["reboot", "sid", "--json"]).status(0);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "rebooted", "{host}");
    assert_eq!(host["after"]["booted"], json!(new), "{host}");
    assert_eq!(reboots(), before + 1, "sid did not reboot");
    assert_eq!(lab.running("sid"), new);
    assert_consistent(&lab, "sid");

    lab.bump("sid");
    let run = lab
        .fleet(&["deploy", "sid", "--action", "boot", "--reboot", "--json"])
        .status(0);
    assert_eq!(
        run.json()["hosts"][0]["outcome"],
        "deployed",
        "{}",
        run.stdout
    );
    assert_eq!(reboots(), before + 2);
    assert_eq!(lab.running("sid"), lab.evaluated("sid"));
}

/// A specialisation on a systemd host (its switch in a transient unit, Nix 2.34).
#[test]
fn a_specialisation_on_a_systemd_host() {
    let lab = Lab::new();
    lab.bump("sid");
    lab.set("sid", "specialisations", json!(["gaming"]));
    let run = lab
        .fleet(&["deploy", "sid", "--specialisation", "gaming", "--json"])
        .status(0);
    assert_eq!(
        run.json()["hosts"][0]["outcome"],
        "deployed",
        "{}",
        run.stdout
    );
    assert!(lab.running("sid").ends_with("-specialisation-gaming"));
    assert_eq!(lab.profile("sid"), lab.evaluated("sid"));
    let status = lab.fleet(&["status", "sid", "--json"]).status(0);
    assert_eq!(status.json()[0]["specialisation"], "gaming");
}
