//! `fleet retry`: a run's command again for the hosts it left undone (asleep, failed,
//! interrupted), with the same options; hosts pending in `status` and `hosts`; and `--wait`,
//! which deploys a host that was asleep as soon as it answers. Proven on host state.

use crate::support::lab::Lab;
use serde_json::json;

fn switches(lab: &Lab, host: &str) -> usize {
    lab.activations(host)
        .iter()
        .filter(|a| a.event == "start-switch")
        .count()
}

/// p510 asleep during a deploy-all-parallel: the summary says how to retry; `hosts` and
/// `status` mark it pending; once it is up, `fleet retry` deploys p510 with the same options
/// and activates nothing else.
#[test]
fn retry_deploys_the_host_that_slept_and_nothing_else() {
    let lab = Lab::new();
    lab.bump("razer");
    lab.bump("p510");
    lab.stop_host("p510");
    let run = lab
        .fleet(&["deploy-all-parallel", "-j", "2", "razer", "p510"])
        .status(1);
    assert!(run.stdout.contains("fleet retry"), "{}", run.stdout);
    assert!(run.stdout.contains("p510 asleep"), "{}", run.stdout);
    assert_eq!(lab.running("razer"), lab.evaluated("razer"));
    let hosts = lab.fleet(&["hosts"]).status(0);
    assert!(
        hosts.stdout.contains("p510: asleep in run "),
        "{}",
        hosts.stdout
    );
    assert!(!hosts.stdout.contains("razer: "), "{}", hosts.stdout);
    let razer_switches = switches(&lab, "razer");

    lab.lab(&["start-host", "p510"]);
    let status = lab.fleet(&["status", "p510", "--json"]);
    assert_eq!(
        status.json()[0]["pending"]["left"],
        "asleep",
        "{}",
        status.stdout
    );
    let dry = lab.fleet(&["retry", "--dry-run"]).status(0);
    assert!(
        dry.stderr.contains("Retrying run ") && dry.stderr.contains("p510 (asleep)"),
        "{}",
        dry.stderr
    );
    assert!(!dry.stdout.contains("razer"), "{}", dry.stdout);
    let retried = lab.fleet(&["retry", "--json"]).status(0);
    let report = retried.json();
    assert_eq!(report["command"], "deploy-all-parallel", "{report:#}");
    let hosts = report["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 1, "{report:#}");
    assert_eq!(hosts[0]["host"], "p510");
    assert_eq!(hosts[0]["outcome"], "deployed");
    assert_eq!(lab.running("p510"), lab.evaluated("p510"));
    assert_eq!(
        switches(&lab, "razer"),
        razer_switches,
        "razer activated again"
    );
    // Nothing left: a clear message, exit 0; p510 no longer pending.
    let again = lab.fleet(&["retry"]).status(0);
    assert!(
        again.stderr.contains("Nothing to retry"),
        "{}",
        again.stderr
    );
    let hosts = lab.fleet(&["hosts"]).status(0);
    assert!(!hosts.stdout.contains("Pending"), "{}", hosts.stdout);
    // A run named by the start of its id: the retry's own, which left nothing undone.
    let retry_run = report["run"].as_str().expect("run id").to_string();
    let named = lab
        .fleet(&["retry", "--from", &retry_run[..retry_run.len() - 2]])
        .status(0);
    assert!(named.stderr.contains(&retry_run), "{}", named.stderr);
}

/// Nothing recorded yet: retry says so and changes nothing (exit 2, as any refusal).
#[test]
fn retry_with_no_run_recorded_says_so() {
    let lab = Lab::new();
    let run = lab.fleet(&["retry"]);
    assert!(
        run.stderr.contains("no run to retry"),
        "{}{}",
        run.stdout,
        run.stderr
    );
}

/// A retry that starts while p510 is down waits for it (a line per waiting host) and deploys
/// it once its sshd is back.
#[test]
fn retry_wait_deploys_a_host_once_it_answers() {
    let lab = Lab::new();
    lab.bump("p510");
    lab.stop_host("p510");
    lab.fleet(&["deploy", "p510"]).status(1);
    let run = std::thread::scope(|s| {
        let fleet = s.spawn(|| lab.fleet(&["retry", "--wait", "3m"]));
        std::thread::sleep(std::time::Duration::from_secs(8));
        lab.lab(&["start-host", "p510"]);
        fleet.join().expect("fleet thread")
    });
    let run = run.status(0);
    assert!(
        run.stderr.contains("[p510] waiting for it to answer"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("[p510] answers"), "{}", run.stderr);
    assert_eq!(lab.running("p510"), lab.evaluated("p510"));
}

/// Ctrl-C during a deploy-all-parallel: the hosts it did not deploy are retried, the deployed
/// ones are not activated again.
#[test]
fn retry_after_ctrl_c_finishes_the_run() {
    let lab = Lab::new();
    let hosts = ["lab5", "lab6", "lab7", "lab8"];
    for h in hosts {
        lab.bump(h);
        lab.set(h, "activation_sleep", json!(2));
    }
    let (run, _) = lab.fleet_interrupted(
        &["deploy-all-parallel", "-j", "1"]
            .into_iter()
            .chain(hosts)
            .collect::<Vec<_>>(),
        1,
        || lab.saw("lab5", "start-switch"),
    );
    assert_eq!(run.code, 130, "{}", run.stderr);
    let before: Vec<usize> = hosts.iter().map(|h| switches(&lab, h)).collect();
    let undone: Vec<&str> = hosts
        .iter()
        .copied()
        .filter(|h| lab.running(h) != lab.evaluated(h))
        .collect();
    assert!(!undone.is_empty(), "{}", run.stderr);
    let retried = lab.fleet(&["retry", "--json"]).status(0);
    let report = retried.json();
    let retried_hosts: Vec<&str> = report["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h["host"].as_str())
        .collect();
    assert_eq!(retried_hosts, undone, "{report:#}");
    for (i, h) in hosts.iter().enumerate() {
        assert_eq!(lab.running(h), lab.evaluated(h), "{h}");
        if !undone.contains(h) {
            assert_eq!(switches(&lab, h), before[i], "{h} activated again");
        }
    }
}

/// A retry runs where its run was typed and with the inventory that run used, whatever the
/// directory and `$FLEET_INVENTORY` are now.
#[test]
fn a_retry_uses_the_inventory_its_run_used() {
    let lab = Lab::new();
    lab.bump("p510");
    lab.stop_host("p510");
    // The inventory found from the directory, as a user in their flake's directory has it.
    lab.fleet_at(&lab.dir, &["deploy", "p510"]).status(1);
    lab.lab(&["start-host", "p510"]);
    let retried = lab
        .fleet_env(
            &[("FLEET_INVENTORY", "/nonexistent/hosts.toml")],
            &["retry", "--json"],
        )
        .status(0);
    assert!(
        retried
            .stderr
            .contains(&format!("(in {})", lab.dir.display())),
        "{}",
        retried.stderr
    );
    assert_eq!(retried.json()["hosts"][0]["outcome"], "deployed");
    assert_eq!(lab.running("p510"), lab.evaluated("p510"));
}
