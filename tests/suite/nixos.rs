//! What real NixOS hosts do that a plain switch does not: switch inhibitors (NixOS 25.11
//! refuses a live switch when systemd changes), pre-switch checks, the boot loader flag, and
//! the generation magic rollback rejected. Proven on host state, on namespace hosts (Nix 2.8)
//! and the systemd hosts.

use crate::support::lab::Lab;
use serde_json::json;

fn events(lab: &Lab, host: &str) -> Vec<String> {
    lab.activations(host).into_iter().map(|a| a.event).collect()
}

/// The new system's switch-inhibitors differ (systemd 257 -> 258): the preview says so; the
/// switch installs it for the next boot, reports "needs a reboot" (exit 0, in the history),
/// and is not rolled back; `--force-switch` then switches (NIXOS_NO_CHECK=1).
#[test]
fn a_switch_the_inhibitors_refuse_is_installed_for_the_next_boot() {
    let lab = Lab::new();
    let first = lab.running("samsung");
    lab.bump("samsung");
    lab.set("samsung", "inhibitors", json!("systemd 258"));
    let preview = lab.fleet(&["deploy", "samsung", "--preview"]).status(0);
    assert!(
        preview
            .stdout
            .contains("switch inhibited (systemd: systemd 257 -> systemd 258)"),
        "{}",
        preview.stdout
    );
    let run = lab
        .fleet(&["deploy", "samsung", "--confirm-timeout", "5", "--json"])
        .status(0);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "needs-reboot", "{host}");
    assert!(
        host["notes"]
            .to_string()
            .contains("needs a reboot: switch inhibited (systemd: systemd 257 -> systemd 258)"),
        "{host}"
    );
    let new = lab.evaluated("samsung");
    assert_eq!(lab.running("samsung"), first, "switched live");
    assert_eq!(lab.profile("samsung"), new);
    assert_eq!(lab.boot_entry("samsung"), new);
    let seen = events(&lab, "samsung");
    assert!(seen.contains(&"start-boot".to_string()), "{seen:?}");
    assert!(!seen.iter().any(|e| e.contains("switch")), "{seen:?}");
    // Confirmed, not rolled back: past the confirmation window the profile stays.
    std::thread::sleep(std::time::Duration::from_secs(7));
    assert_eq!(lab.profile("samsung"), new);
    let history = lab.fleet(&["history", "samsung", "--json"]).status(0);
    let last = history.json().as_array().and_then(|a| a.last().cloned());
    assert_eq!(
        last.as_ref().map(|e| e["result"].clone()),
        Some(json!("needs a reboot")),
        "{}",
        history.stdout
    );
    // The summary says it as a result of its own.
    let text = lab.fleet(&["deploy", "samsung"]).status(0);
    assert!(text.stdout.contains("needs a reboot"), "{}", text.stdout);
    assert!(
        text.stdout.contains("`fleet reboot samsung`"),
        "{}",
        text.stdout
    );
    // --force-switch: switched live.
    let forced = lab
        .fleet(&["deploy", "samsung", "--force-switch", "--json"])
        .status(0);
    assert_eq!(forced.json()["hosts"][0]["outcome"], "deployed");
    assert_eq!(lab.running("samsung"), new);
}

/// As NixOS decides it: only a key both systems' switch-inhibitors have can change; one the
/// new system adds (as a NixOS release adds `dbus-implementation`) is no reason to wait for a
/// reboot, and the switch is live. A boot over changed inhibitors is a plain boot.
#[test]
fn a_key_only_the_new_system_has_is_no_inhibitor_change() {
    let lab = Lab::new();
    lab.bump("lab5");
    lab.set(
        "lab5",
        "inhibitors",
        json!({"systemd": "systemd 257", "dbus-implementation": "broker"}),
    );
    let preview = lab.fleet(&["deploy", "lab5", "--preview"]).status(0);
    assert!(!preview.stdout.contains("inhibited"), "{}", preview.stdout);
    let run = lab.fleet(&["deploy", "lab5", "--json"]).status(0);
    assert_eq!(
        run.json()["hosts"][0]["outcome"],
        "deployed",
        "{}",
        run.stdout
    );
    assert_eq!(lab.running("lab5"), lab.evaluated("lab5"));
    // The pre-switch checks ran once, before the switch, which did not run them again.
    let seen = events(&lab, "lab5");
    assert!(seen.contains(&"checks-check".to_string()), "{seen:?}");
    assert!(!seen.contains(&"checks-switch".to_string()), "{seen:?}");
    // Now a key both have changes: a boot is not inhibited, and boots it next time.
    let running = lab.running("lab5");
    lab.bump("lab5");
    lab.set(
        "lab5",
        "inhibitors",
        json!({"systemd": "systemd 257", "dbus-implementation": "dbus"}),
    );
    let run = lab
        .fleet(&["deploy", "lab5", "--action", "boot", "--json"])
        .status(0);
    assert_eq!(
        run.json()["hosts"][0]["outcome"],
        "deployed",
        "{}",
        run.stdout
    );
    assert_eq!(lab.running("lab5"), running);
    assert_eq!(lab.boot_entry("lab5"), lab.evaluated("lab5"));
}

/// NixOS stops its pre-switch checks at the first that fails: over changed inhibitors, a check
/// after them (by name) has not run when the switch becomes a boot. The boot runs it, and it
/// fails: a refusal (switch-to-configuration's own words), nothing installed for the next
/// boot, the host runs what it ran, the generation made for it gone.
#[test]
fn a_check_after_the_inhibitors_still_runs_for_the_boot() {
    let lab = Lab::new();
    let first = lab.running("lab6");
    let entry = lab.boot_entry("lab6");
    lab.bump("lab6");
    lab.set("lab6", "inhibitors", json!("systemd 258"));
    lab.set("lab6", "precheck", json!("the ESP is too small"));
    let run = lab.fleet(&["deploy", "lab6", "--json"]).status(1);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "failed", "{host}");
    let failure = host["failure"].to_string();
    assert!(failure.contains("the ESP is too small"), "{failure}");
    assert!(
        failure.contains("refused the activation before it began"),
        "{failure}"
    );
    assert_eq!(lab.running("lab6"), first);
    assert_eq!(lab.boot_entry("lab6"), entry);
    assert!(!lab.has_generation("lab6", 2));
    let seen = events(&lab, "lab6");
    assert!(seen.contains(&"checks-boot".to_string()), "{seen:?}");
    assert!(!seen.contains(&"start-boot".to_string()), "{seen:?}");
}

/// `--action test` over changed inhibitors: refused before anything began; nothing changed.
#[test]
fn a_test_the_inhibitors_refuse_changes_nothing() {
    let lab = Lab::new();
    let first = lab.running("razer");
    let generation = lab.generation("razer");
    lab.bump("razer");
    lab.set("razer", "inhibitors", json!("systemd 258"));
    let run = lab
        .fleet(&["deploy", "razer", "--action", "test", "--json"])
        .status(1);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "failed", "{host}");
    let failure = host["failure"].to_string();
    assert!(
        failure.contains("refused the activation before it began"),
        "{failure}"
    );
    assert!(
        failure.contains("switch inhibited (systemd: systemd 257 -> systemd 258)"),
        "{failure}"
    );
    assert!(failure.contains("--force-switch"), "{failure}");
    assert_eq!(lab.running("razer"), first);
    assert_eq!(lab.generation("razer"), generation);
    assert!(
        !lab.saw("razer", "start-test"),
        "{:?}",
        events(&lab, "razer")
    );
}

/// The system's own pre-switch checks (`switch-to-configuration check`) fail: the switch is
/// refused before it began, reported as such (not a rollback), and the profile is back where
/// it was with the generation made for it gone.
#[test]
fn failed_pre_switch_checks_refuse_the_switch_and_change_nothing() {
    let lab = Lab::new();
    let first = lab.running("p510");
    let generation = lab.generation("p510");
    lab.bump("p510");
    lab.set("p510", "precheck", json!("the ESP is too small"));
    let run = lab.fleet(&["deploy", "p510", "--json"]).status(1);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "failed", "{host}");
    let failure = host["failure"].to_string();
    assert!(failure.contains("pre-switch checks failed"), "{failure}");
    assert!(failure.contains("the ESP is too small"), "{failure}");
    assert!(failure.contains("nothing was changed on p510"), "{failure}");
    assert_eq!(lab.running("p510"), first);
    assert_eq!(lab.generation("p510"), generation);
    assert!(!lab.has_generation("p510", generation + 1));
    assert!(!lab.saw("p510", "start-switch"));
    // --force-switch skips them.
    lab.fleet(&["deploy", "p510", "--force-switch"]).status(0);
    assert_eq!(lab.running("p510"), lab.evaluated("p510"));
}

/// A generation magic rollback rejected leaves the profile: a later `fleet rollback` goes to
/// the one before the running system, not into the rejected one.
#[test]
fn a_rejected_generation_is_removed_and_rollback_skips_it() {
    let lab = Lab::new();
    let start = lab.generation("lab5");
    lab.bump("lab5");
    lab.fleet(&["deploy", "lab5"]).status(0);
    let good = lab.running("lab5");
    lab.bump("lab5");
    lab.set("lab5", "lockout", json!(true));
    let run = lab
        .fleet(&["deploy", "lab5", "--confirm-timeout", "5", "--json"])
        .status(1);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "rolled-back", "{host}");
    assert!(
        host["failure"]["message"]
            .to_string()
            .contains("the generation it rejected is removed"),
        "{host}"
    );
    assert_eq!(lab.running("lab5"), good);
    assert_eq!(lab.generation("lab5"), start + 1);
    assert!(
        !lab.has_generation("lab5", start + 2),
        "the rejected generation is still in the profile"
    );
    let generations = lab.fleet(&["generations", "lab5", "--json"]).status(0);
    assert!(
        !generations
            .stdout
            .contains(&format!("\"number\": {}", start + 2)),
        "{}",
        generations.stdout
    );
    lab.set("lab5", "lockout", json!(false));
    lab.fleet(&["rollback", "lab5"]).status(0);
    assert_eq!(lab.generation("lab5"), start);
    assert_ne!(lab.running("lab5"), good);
}

/// `--install-bootloader` reaches switch-to-configuration as NIXOS_INSTALL_BOOTLOADER=1.
#[test]
fn install_bootloader_reaches_the_switch() {
    let lab = Lab::new();
    lab.bump("lab6");
    lab.fleet(&["deploy", "lab6", "--install-bootloader"])
        .status(0);
    assert!(
        lab.saw("lab6", "install-bootloader"),
        "{:?}",
        events(&lab, "lab6")
    );
    lab.bump("lab6");
    lab.fleet(&["deploy", "lab6"]).status(0);
    let seen = events(&lab, "lab6");
    assert_eq!(
        seen.iter().filter(|e| *e == "install-bootloader").count(),
        1,
        "{seen:?}"
    );
}

/// A host without systemd cannot be rebooted by fleet: it says so, and nothing changes.
#[test]
fn reboot_without_systemd_fails_clearly() {
    let lab = Lab::new();
    let first = lab.running("lab7");
    let run = lab.fleet(&["reboot", "lab7", "--json"]).status(1);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "failed", "{host}");
    assert!(host["failure"].to_string().contains("systemctl"), "{host}");
    assert_eq!(lab.running("lab7"), first);
}

/// `--specialisation`: the specialisation's own system runs, the profile is the whole system,
/// the boot default stays it, and `status` says which specialisation runs (up to date). A
/// name the new system lacks fails before anything changes; hosts.toml's `specialisation`
/// does what the flag does.
#[test]
fn a_specialisation_is_switched_to_and_shown() {
    let lab = Lab::new();
    let first = lab.running("razer");
    let generation = lab.generation("razer");
    lab.bump("razer");
    lab.set("razer", "specialisations", json!(["gaming"]));
    let run = lab
        .fleet(&["deploy", "razer", "--specialisation", "nope", "--json"])
        .status(1);
    let failure = run.json()["hosts"][0]["failure"].to_string();
    assert!(
        failure.contains("no specialisation nope (it has: gaming"),
        "{failure}"
    );
    assert_eq!(lab.running("razer"), first);
    assert_eq!(lab.generation("razer"), generation);

    let run = lab
        .fleet(&["deploy", "razer", "--specialisation", "gaming", "--json"])
        .status(0);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "deployed", "{host}");
    let new = lab.evaluated("razer");
    let running = lab.running("razer");
    assert!(running.ends_with("-specialisation-gaming"), "{running}");
    assert_eq!(lab.profile("razer"), new);
    assert_eq!(lab.boot_entry("razer"), new);
    let status = lab.fleet(&["status", "razer", "--json"]).status(0);
    let line = &status.json()[0];
    assert_eq!(line["specialisation"], "gaming", "{line}");
    assert_eq!(line["up_to_date"], true, "{line}");
    assert_eq!(line["profile_differs"], false, "{line}");
    let text = lab.fleet(&["status", "razer"]).status(0);
    assert!(
        text.stdout.contains("yes (specialisation gaming)"),
        "{}",
        text.stdout
    );
    // hosts.toml's specialisation: the same, without the flag.
    lab.bump("razer");
    let inventory = lab.inventory_with("razer", "specialisation = \"gaming\"");
    lab.fleet(&["-i", &inventory, "deploy", "razer"]).status(0);
    assert!(lab.running("razer").ends_with("-specialisation-gaming"));
    assert_eq!(lab.profile("razer"), lab.evaluated("razer"));
    // quick-deploy knows the specialisation it would switch to runs already: nothing to do.
    let quick = lab
        .fleet(&["-i", &inventory, "quick-deploy", "razer", "--json"])
        .status(0);
    let host = &quick.json()["hosts"][0];
    assert_eq!(host["outcome"], "unchanged", "{host}");
    // Without the specialisation the whole system is to run: it is switched to.
    let quick = lab.fleet(&["quick-deploy", "razer", "--json"]).status(0);
    let host = &quick.json()["hosts"][0];
    assert_eq!(host["outcome"], "deployed", "{host}");
    assert_eq!(lab.running("razer"), lab.evaluated("razer"));
    // A boot takes no specialisation from the command line.
    let refused = lab.fleet(&[
        "deploy",
        "razer",
        "--action",
        "boot",
        "--specialisation",
        "gaming",
    ]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
}
