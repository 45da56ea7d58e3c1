//! Caches and fleet health against the lab: cache status, doctor, cache push, status, gc.
//! Assertions are on what the hosts really are (their nix.conf, stores, profiles).

use crate::support::lab::Lab;
use crate::support::Run;
use serde_json::Value;

fn checks(run: &Run) -> Vec<Value> {
    run.json().as_array().cloned().unwrap_or_default()
}

fn failed<'a>(checks: &'a [Value], host: Option<&str>) -> Vec<&'a Value> {
    checks
        .iter()
        .filter(|c| c["status"] == "fail" && host.is_none_or(|h| c["host"] == h))
        .collect()
}

#[test]
fn a_healthy_lab_passes_and_shows_every_cache_and_host() {
    let lab = Lab::new();
    let run = lab.fleet(&["doctor", "--json"]).status(0);
    let checks = checks(&run);
    assert!(failed(&checks, None).is_empty(), "{checks:#?}");
    for host in [
        "p620", "samsung", "razer", "p510", "lab5", "lab6", "lab7", "lab8",
    ] {
        assert!(
            checks
                .iter()
                .any(|c| c["host"] == host && c["check"] == "SSH login" && c["status"] == "pass"),
            "{host}"
        );
    }
    assert!(checks.iter().any(|c| c["host"] == "samsung"
        && c["check"] == "verifies cache p620"
        && c["status"] == "pass"));

    let run = lab.fleet(&["cache", "status", "--json"]).status(0);
    let status = run.json();
    assert_eq!(status["tiers"][0]["cache"], "p620");
    // Answered from here: its latency and info, not Rust's `{"Ok": ...}`.
    assert!(
        status["tiers"][0]["from_here"]["latency_ms"].is_number(),
        "{status}"
    );
    assert!(
        status["tiers"][0]["from_here"].get("Ok").is_none(),
        "{status}"
    );
    let hosts = status["hosts"].as_array().cloned().unwrap_or_default();
    assert_eq!(hosts.len(), 10, "8 namespace hosts and 2 systemd hosts");
    let samsung = hosts
        .iter()
        .find(|h| h["host"] == "samsung")
        .expect("samsung");
    assert_eq!(
        samsung["caches"]["p620"],
        serde_json::json!({"listed": true, "trusted": true, "reaches": true})
    );
}

#[test]
fn a_host_that_does_not_trust_the_builders_key_fails_the_doctor() {
    let lab = Lab::new();
    lab.edit_nix_conf("samsung", |t| {
        t.lines()
            .map(|l| {
                if l.starts_with("trusted-public-keys") {
                    "trusted-public-keys ="
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let run = lab.fleet(&["doctor", "--json"]).status(1);
    let checks = checks(&run);
    let key = std::fs::read_to_string(lab.dir.join("cache/key.pub"))
        .expect("key")
        .trim()
        .to_string();
    let samsung = failed(&checks, Some("samsung"));
    assert!(
        samsung
            .iter()
            .any(|c| c["check"] == "trusts cache p620" && c["detail"].to_string().contains(&key)),
        "{samsung:#?}"
    );
    assert!(
        samsung.iter().any(|c| c["check"] == "verifies cache p620"),
        "{samsung:#?}"
    );
    assert!(
        failed(&checks, Some("razer")).is_empty(),
        "only samsung is broken"
    );
}

#[test]
fn a_stopped_cache_is_named_with_each_address() {
    let lab = Lab::new();
    lab.lab(&["stop-cache"]);
    let run = lab.fleet(&["doctor", "--json"]);
    let text = lab.fleet(&["doctor"]);
    lab.lab(&["start-cache"]);
    // With its cache down, p620's paths are never a failure whose fix (trust the key) is
    // wrong: they verify from what samsung's Nix remembers of them, or the check is skipped
    // with why (unit-tested in health::doctor).
    let all = checks(&run);
    let verify = all
        .iter()
        .find(|c| c["host"] == "samsung" && c["check"] == "verifies cache p620")
        .unwrap_or_else(|| panic!("{all:#?}"));
    assert_ne!(verify["status"], "fail", "{verify}");
    assert!(
        !text.stdout.contains("samsung, verifies cache p620"),
        "{}",
        text.stdout
    );
    // One format for every fix: `  - WHO, CHECK: FIX`.
    let fixes: Vec<&str> = text
        .stdout
        .split("To fix:\n")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(!fixes.is_empty(), "{}", text.stdout);
    assert!(fixes.iter().all(|l| l.starts_with("  - ")), "{fixes:#?}");
    let checks = checks(&run.status(1));
    let from_here: Vec<String> = failed(&checks, None)
        .iter()
        .filter(|c| c["host"].is_null())
        .map(|c| format!("{} {}", c["check"], c["detail"]))
        .collect();
    assert!(
        from_here
            .iter()
            .any(|c| c.contains("cache p620 answers") && c.contains("unreachable")),
        "{from_here:?}"
    );
    assert!(
        from_here.iter().any(|c| c.contains("over 10.213.1.10")),
        "{from_here:?}"
    );
    assert!(
        from_here.iter().any(|c| c.contains("over 10.213.2.10")),
        "{from_here:?}"
    );
    assert!(failed(&checks, Some("samsung"))
        .iter()
        .any(|c| c["check"] == "reaches cache p620"));
}

#[test]
fn a_host_down_is_named_and_the_rest_still_checked() {
    let lab = Lab::new();
    lab.stop_host("lab8");
    let run = lab.fleet(&["doctor", "--json"]).status(1);
    let checks = checks(&run);
    let lab8 = failed(&checks, Some("lab8"));
    assert!(
        lab8.iter().any(|c| c["check"] == "SSH login"
            // What each address said, without "lab8 is unreachable" beside lab8's name.
            && c["detail"].to_string().contains("10.213.1.17: ")
            && !c["detail"].to_string().contains("lab8 is unreachable")),
        "{lab8:#?}"
    );
    assert!(checks.iter().any(|c| c["host"] == "lab7"
        && c["check"] == "reaches cache p620"
        && c["status"] == "pass"));
}

#[test]
fn cache_push_leaves_a_signed_narinfo_in_the_cache() {
    let lab = Lab::new();
    lab.bump("samsung");
    let new = lab.evaluated("samsung");
    let dir = lab.dir.join(format!("pushed-{}", std::process::id()));
    let url = format!("file://{}", dir.display());
    let run = lab
        .fleet(&["cache", "push", "samsung", "--to", &url, "--json"])
        .status(0);
    assert_eq!(run.json()["hosts"][0]["outcome"], "pushed");
    let hash = &new.trim_start_matches("/nix/store/")[..32];
    let narinfo =
        std::fs::read_to_string(dir.join(format!("{hash}.narinfo"))).expect("narinfo in the cache");
    assert!(narinfo.contains(&format!("StorePath: {new}")), "{narinfo}");
    assert!(
        narinfo.contains("Sig: p620-lab-1:"),
        "signed by the builder: {narinfo}"
    );
    assert!(
        !lab.here_has_path(&new),
        "pushed from the builder, not through here"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn status_shows_every_host_and_spots_one_not_running_the_flake() {
    let lab = Lab::new();
    lab.bump("samsung");
    let run = lab.fleet(&["status", "--json"]).status(0);
    let lines = run.json().as_array().cloned().unwrap_or_default();
    assert_eq!(lines.len(), 10, "8 namespace hosts and 2 systemd hosts");
    for l in &lines {
        let expected = l["host"] != "samsung";
        assert_eq!(l["up_to_date"], expected, "{l}");
        assert_eq!(l["generation"]["number"], 1);
    }
}

/// The ping-hosts replacement works when the flake does not: every host's facts, drift
/// unknown, and no walk of the store (`du` on a builder takes minutes).
#[test]
fn status_shows_every_host_when_one_does_not_evaluate() {
    let lab = Lab::new();
    lab.set("samsung", "version", serde_json::Value::Null);
    let run = lab.fleet(&["status", "--json"]).status(0);
    let lines = run.json().as_array().cloned().unwrap_or_default();
    assert_eq!(lines.len(), 10, "8 namespace hosts and 2 systemd hosts");
    for l in &lines {
        assert!(l["unreachable"].is_null(), "{l}");
        // Only samsung's evaluation fails: every other host's drift is known.
        if l["host"] == "samsung" {
            assert!(l["up_to_date"].is_null(), "{l}");
        } else {
            assert_eq!(l["up_to_date"], true, "{l}");
        }
        assert_eq!(l["generation"]["number"], 1, "{l}");
        assert!(l["nix_used_kib"].as_u64().is_some(), "{l}");
    }
    let run = lab.fleet(&["status", "-v"]).status(0);
    assert!(
        run.stdout.contains("UP TO DATE is unknown: samsung: "),
        "{}",
        run.stdout
    );
    assert!(!run.stderr.contains("du -sk"), "{}", run.stderr);
}

#[test]
fn gc_removes_dead_paths_and_keeps_the_running_and_booted_systems() {
    let lab = Lab::new();
    let booted = lab.running("razer");
    lab.bump("razer");
    lab.fleet(&["deploy", "razer"]).status(0);
    let second = lab.running("razer");
    lab.bump("razer");
    lab.fleet(&["deploy", "razer"]).status(0);
    let third = lab.running("razer");
    // A path nothing refers to.
    let dead = lab.ssh(
        "10.213.1.12",
        "echo garbage > /tmp/garbage && nix-store --add /tmp/garbage",
    );
    let dead = dead.trim();
    assert!(lab.has_path("razer", dead), "{dead}");

    let run = lab
        .fleet(&["--dry-run", "gc", "razer", "--older-than", "0d"])
        .status(0);
    assert!(
        run.stdout.contains("would delete generations [2]"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("1 (booted)"), "{}", run.stdout);
    assert!(
        lab.has_path("razer", &second) && lab.has_path("razer", dead),
        "dry run deleted something"
    );

    // Without a terminal to ask on, gc refuses unless --yes; nothing goes.
    let run = lab.fleet(&["gc", "razer", "--older-than", "0d"]).status(2);
    assert!(run.stderr.contains("pass --yes"), "{}", run.stderr);
    assert!(lab.has_path("razer", dead), "deleted without asking");

    // Asked on a terminal, "n" deletes nothing; the question lists what would go.
    let run = lab.fleet_on_terminal(&["gc", "razer", "--older-than", "0d"], &["n"]);
    assert!(
        run.stderr.contains("would delete generations [2]")
            && run
                .stderr
                .contains("Delete these generations and collect garbage on 1 host?")
            && run.stderr.contains("Nothing was deleted."),
        "{}",
        run.stderr
    );
    assert!(lab.has_path("razer", dead) && lab.has_path("razer", &second));

    let run = lab
        .fleet(&["gc", "razer", "--older-than", "0d", "--yes"])
        .status(0);
    // Each host's line says what went.
    let row = run.row("razer");
    assert!(
        row.contains("collected") && row.contains("deleted generations 2"),
        "{}",
        run.stdout
    );
    assert!(row.contains("store paths deleted"), "{}", run.stdout);
    assert!(row.contains("freed"), "{}", run.stdout);
    let run = lab
        .fleet(&["gc", "razer", "--older-than", "0d", "--json", "--yes"])
        .status(0);
    assert_eq!(run.json()["hosts"][0]["outcome"], "collected");
    assert!(!lab.has_path("razer", dead), "the dead path is still there");
    assert!(
        !lab.has_path("razer", &second),
        "generation 2's system is still there"
    );
    assert!(lab.has_path("razer", &third) && lab.has_path("razer", &booted));
    assert_eq!(lab.running("razer"), third);
    assert_eq!(lab.generation("razer"), 3);
}

/// A host that runs one system and boots another (here after `--action test`; after a switch
/// or rollback cut short too) is named by status and doctor, with the fix, and exit 1.
#[test]
fn status_and_doctor_name_a_host_that_runs_one_system_and_boots_another() {
    let lab = Lab::new();
    lab.bump("razer");
    let new = lab.evaluated("razer");
    lab.fleet(&["deploy", "razer", "--action", "test"])
        .status(0);
    assert_eq!(lab.running("razer"), new);
    let run = lab.fleet(&["status", "razer", "--json"]).status(1);
    let line = &run.json()[0];
    assert_eq!(line["profile_differs"], true, "{line}");
    assert_eq!(line["running"], new.as_str());
    let run = lab.fleet(&["status"]).status(1);
    assert!(
        run.stdout
            .contains("fix: `fleet deploy razer` to run and boot what the flake says"),
        "{}",
        run.stdout
    );
    let run = lab.fleet(&["doctor", "razer", "--json"]).status(1);
    let checks = checks(&run);
    assert!(
        failed(&checks, Some("razer"))
            .iter()
            .any(|c| c["check"] == "profile and running system"),
        "{checks:#?}"
    );
    // Made one again: both agree, and status is clean.
    lab.fleet(&["deploy", "razer"]).status(0);
    lab.fleet(&["status", "razer"]).status(0);
}

/// A builder's helpers are checked as its nix-daemon will reach them: as root, over ssh-ng,
/// with no prompt. p620's root reaches p510, whose root accepts its key; razer's does not,
/// and the check names why and what to set up.
#[test]
fn doctor_checks_that_a_builder_reaches_its_helpers_as_root() {
    let lab = Lab::new();
    let inventory = lab.inventory_with("p620", "build_machines = [\"p510\", \"razer\"]");
    let run = lab
        .fleet(&["-i", &inventory, "doctor", "p620", "--json"])
        .status(1);
    let checks = checks(&run);
    let helper = |name: &str| {
        checks
            .iter()
            .find(|c| c["host"] == "p620" && c["check"] == format!("build helper {name}"))
            .unwrap_or_else(|| panic!("no check of {name}: {checks:#?}"))
            .clone()
    };
    assert_eq!(helper("p510")["status"], "pass", "{:#}", helper("p510"));
    let razer = helper("razer");
    assert_eq!(razer["status"], "fail", "{razer:#}");
    assert!(
        razer["detail"]
            .to_string()
            .contains("p620's root cannot reach razer"),
        "{razer:#}"
    );
    assert!(
        razer["fix"].to_string().contains("trusted-users"),
        "{razer:#}"
    );
}
