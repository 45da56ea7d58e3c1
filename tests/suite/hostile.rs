//! Hosts that answer as a compromised, broken or odd host would, values that try to become
//! commands, and runs that are killed: each test reproduces the fault on the lab and asserts
//! on host state and on what ran on this machine.

use std::path::PathBuf;
use std::process::Command;

use crate::support::lab::Lab;

/// A login shell that records every command it is given (`sh -c COMMAND`) before running it,
/// put in place for `user` while it lives: what a compromised host sees of fleet's commands.
struct RecordingShell {
    user: String,
    dir: tempfile::TempDir,
}

impl RecordingShell {
    fn for_user(lab: &Lab, user: &str) -> RecordingShell {
        use std::os::unix::fs::PermissionsExt;
        // In the lab's directory, which the hosts see at the same path (their /tmp is their own).
        let dir = tempfile::Builder::new()
            .prefix("recording-")
            .tempdir_in(&lab.dir)
            .expect("temp dir");
        let log = dir.path().join("commands");
        std::fs::write(&log, "").expect("command log");
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let shell = dir.path().join("sh");
        std::fs::write(
            &shell,
            format!(
                "#!/bin/sh\nprintf '%s\\n--\\n' \"$2\" >> '{}'\nexec /bin/sh \"$@\"\n",
                log.display()
            ),
        )
        .expect("write shell");
        std::fs::set_permissions(&shell, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        usermod_shell(user, &shell);
        RecordingShell {
            user: user.into(),
            dir,
        }
    }

    /// Every command the host was given, as its shell received it.
    fn commands(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("commands"))
            .unwrap_or_default()
            .split("\n--\n")
            .filter(|c| !c.trim().is_empty())
            .map(String::from)
            .collect()
    }
}

impl Drop for RecordingShell {
    fn drop(&mut self) {
        usermod_shell(&self.user, &PathBuf::from("/bin/sh"));
    }
}

fn usermod_shell(user: &str, shell: &std::path::Path) {
    let ok = Command::new("usermod")
        .arg("-s")
        .arg(shell)
        .arg(user)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "usermod -s {} {user}", shell.display());
}

#[test]
fn the_sudo_password_reaches_only_the_hosts_whose_sudo_wants_it() {
    let lab = Lab::new();
    let password = lab.fleetpw_password();
    lab.bump("lab6");
    lab.bump("lab7");
    // lab6's deploy user has passwordless sudo; lab7's sudo wants the password.
    let inventory = lab.inventory_edited("hosts.toml", "hosts-sudo-mixed", |text| {
        text.replace("[hosts.lab6]\n", "[hosts.lab6]\nuser = \"fleetops\"\n")
            .replace("[hosts.lab7]\n", "[hosts.lab7]\nuser = \"fleetpw\"\n")
    });
    let recorded = RecordingShell::for_user(&lab, "fleetops");
    let run = lab.fleet_at_terminal(
        &[
            "-i",
            &inventory,
            "deploy",
            "lab6",
            "lab7",
            "--ask-sudo-password",
            "--json",
        ],
        &format!("{password}\n"),
        || {},
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, run.stdout);
    for host in ["lab6", "lab7"] {
        assert_eq!(lab.running(host), lab.evaluated(host), "{host}");
        assert_eq!(lab.generation(host), 2, "{host}");
    }
    // lab6 ran fleet's commands through sudo, and not one of them was handed the password
    // (`fleet-tie -S` is the only way fleet writes it).
    let commands = recorded.commands();
    assert!(
        commands.iter().any(|c| c.contains("sudo")),
        "lab6 ran nothing through sudo: {commands:?}"
    );
    let given: Vec<&String> = commands
        .iter()
        .filter(|c| c.contains("fleet-tie -S") || c.contains("fleet-tie' -S"))
        .collect();
    assert!(given.is_empty(), "lab6 was given the password: {given:?}");
}

#[test]
fn an_ssh_config_path_stays_one_word_for_nix_s_own_ssh() {
    let lab = Lab::new();
    let config = std::fs::read_to_string(lab.dir.join("ssh/config")).expect("ssh config");
    let here = tempfile::tempdir().expect("cwd");
    // An innocent path with a space, then one that would run a command here if any part of it
    // became an option of its own: each as the ssh config of a deploy whose derivation goes
    // to p620 over ssh-ng (Nix's own ssh, through NIX_SSHOPTS).
    std::fs::create_dir_all(lab.dir.join("my ssh")).expect("mkdir");
    std::fs::write(lab.dir.join("my ssh/config"), &config).expect("write config");
    let hostile = "x -oControlPath=none -oProxyCommand=touch${IFS}PWNED;nc${IFS}%h${IFS}%p";
    std::fs::write(lab.dir.join(hostile), &config).expect("write config");
    for path in ["my ssh/config", hostile] {
        lab.bump("samsung");
        let inventory = lab.inventory_edited("hosts.toml", "hosts-ssh-config", |text| {
            text.replace(
                "ssh_config = \"ssh/config\"",
                &format!("ssh_config = \"{path}\""),
            )
        });
        let run = lab.fleet_at(
            here.path(),
            &["-i", &inventory, "deploy", "samsung", "--via", "p620"],
        );
        assert_eq!(run.code, 0, "{path}: {}", run.stderr);
        assert_eq!(lab.running("samsung"), lab.evaluated("samsung"), "{path}");
    }
    assert!(
        !here.path().join("PWNED").exists() && !lab.dir.join("PWNED").exists(),
        "the ssh config's path ran a command"
    );
    let _ = std::fs::remove_dir_all(lab.dir.join("my ssh"));
    let _ = std::fs::remove_file(lab.dir.join(hostile));
}

/// Whether `text` holds a byte that drives a terminal (ESC or BEL).
fn drives_the_terminal(text: &str) -> bool {
    text.contains('\u{1b}') || text.contains('\u{7}')
}

#[test]
fn an_odd_answer_is_its_host_s_own_and_never_reaches_the_terminal_raw() {
    let lab = Lab::new();
    // samsung answers with a running system that is not ASCII and holds an escape sequence.
    let link = lab.host_root("samsung").join("run/current-system");
    std::fs::remove_file(&link).expect("remove samsung's /run/current-system");
    std::os::unix::fs::symlink("/nix/store/ééééé-x\u{1b}]0;pwned\u{7}", &link)
        .expect("link samsung's /run/current-system");
    let status = lab.fleet(&["status"]);
    assert_ne!(status.code, 101, "fleet panicked: {}", status.stderr);
    assert!(
        !drives_the_terminal(&status.stdout) && !drives_the_terminal(&status.stderr),
        "{:?}",
        status.stdout
    );
    assert!(status.stdout.contains("razer"), "{}", status.stdout);
    assert!(
        status.stdout.contains(r"\e]0;pwned\a"),
        "the odd answer is not shown as it is: {}",
        status.stdout
    );
    for args in [&["generations"][..], &["status", "--json"]] {
        let run = lab.fleet(args);
        assert_ne!(run.code, 101, "{args:?} panicked: {}", run.stderr);
    }
    // A deployment beside it goes on: razer is deployed whatever samsung answered.
    lab.bump("samsung");
    lab.bump("razer");
    let run = lab.fleet(&["deploy", "samsung", "razer"]);
    assert_ne!(run.code, 101, "fleet panicked: {}", run.stderr);
    assert!(!drives_the_terminal(&run.stdout) && !drives_the_terminal(&run.stderr));
    assert_eq!(lab.running("razer"), lab.evaluated("razer"));
    // An activation whose output holds escape sequences: its last output is shown, made
    // visible.
    lab.bump("p510");
    lab.set("p510", "activation_exit", 1.into());
    lab.set("p510", "escape_output", true.into());
    let run = lab.fleet(&["deploy", "p510"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        !drives_the_terminal(&run.stdout) && !drives_the_terminal(&run.stderr),
        "{:?}",
        run.stdout
    );
    assert!(
        run.stdout.contains(r"\e]0;pwned\a\e[2J\e]52;c;cHduZWQ=\a"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_switch_that_says_it_worked_but_did_not_is_a_failure() {
    let lab = Lab::new();
    let old = lab.running("razer");
    lab.bump("razer");
    lab.set("razer", "fake_success", true.into());
    let run = lab.fleet(&["deploy", "razer", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    let razer = &report["hosts"][0];
    assert_eq!(razer["outcome"], "failed", "{razer}");
    assert!(
        razer["failure"]["message"]
            .to_string()
            .contains("the switch reported success, but razer still runs"),
        "{razer}"
    );
    assert_eq!(razer["after"]["system"], old.as_str(), "{razer}");
    // The host was asked to switch (its own log says so) and still runs what it ran.
    assert!(lab.saw("razer", "start-switch"));
    assert_eq!(lab.running("razer"), old);
}
