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
    Lab::new().assert_a_faked_switch_fails("razer");
}

/// A deploy lock left by a run that is gone, its lease renewed "in the future" (the host's
/// clock went back since): `status` names it, a deploy takes it over once nobody renewed it
/// for a lease's time (it once waited forever), and `unlock` breaks one at once, saying whose.
#[test]
fn a_lock_left_in_the_future_is_shown_taken_over_and_can_be_broken() {
    let lab = Lab::new();
    lab.leave_lock_in_the_future("lab8", "2026-12-04T10-00-00Z-1-lab8");
    lab.leave_lock_in_the_future("lab5", "2026-12-04T10-00-00Z-2-lab5");
    let status = lab.fleet(&["status", "lab8", "lab5"]);
    assert!(
        status
            .stdout
            .contains("lab8's deploy lock is held: run 2026-12-04T10-00-00Z-1-lab8, olaf@gone, since 2026-12-04T10:00:00Z"),
        "{}",
        status.stdout
    );
    let json = lab.fleet(&["status", "lab8", "--json"]).json();
    assert_eq!(json[0]["lock"]["who"], "olaf@gone", "{json}");
    // `unlock` breaks lab5's at once.
    let unlocked = lab.fleet(&["unlock", "lab5"]);
    assert_eq!(unlocked.code, 0, "{}", unlocked.stderr);
    assert!(
        unlocked
            .stdout
            .contains("lab5: broke the deploy lock of run 2026-12-04T10-00-00Z-2-lab5, olaf@gone"),
        "{}",
        unlocked.stdout
    );
    assert_eq!(
        lab.ssh(
            "10.213.1.14",
            "test -e /run/fleet/lock && echo held || echo free"
        )
        .trim(),
        "free"
    );
    // A deploy of lab8 waits (saying who holds it), then takes it over: nobody renewed it.
    lab.bump("lab8");
    let run = lab.fleet(&["deploy", "lab8", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "waiting: another run holds lab8's deploy lock (run 2026-12-04T10-00-00Z-1-lab8"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.json()["hosts"][0]["notes"]
            .to_string()
            .contains("took over a deploy lock its holder left"),
        "{}",
        run.stdout
    );
    assert_eq!(lab.running("lab8"), lab.evaluated("lab8"));
    // One line while it waited, not one a second (the seconds count in place on a
    // terminal only).
    let lines = run.stderr.matches("waiting: another run holds").count();
    assert_eq!(lines, 1, "{}", run.stderr);
    assert!(
        !run.stderr.contains("waiting for the deploy lock ("),
        "{}",
        run.stderr
    );
}

/// Runs fleet under GNU time; returns the run and its peak memory in KiB.
fn fleet_measured(lab: &Lab, args: &[&str]) -> (crate::support::Run, u64) {
    let report = tempfile::NamedTempFile::new().expect("time's report");
    let run = lab.fleet_with_wrapper(
        &[
            "/usr/bin/time",
            "-f",
            "%M",
            "-o",
            &report.path().display().to_string(),
        ],
        args,
    );
    let peak = std::fs::read_to_string(report.path())
        .unwrap_or_default()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(u64::MAX);
    (run, peak)
}

/// A host that prints without end (one 300 MB line, then 30 million short ones) costs fleet
/// bounded memory and a bounded log, and the run still ends as it should.
#[test]
fn a_host_that_prints_without_end_costs_bounded_memory_and_log() {
    let lab = Lab::new();
    for command in [
        &["head", "-c", "300000000", "/dev/zero"][..],
        &["seq", "30000000"],
    ] {
        let mut args = vec!["exec", "lab5", "--"];
        args.extend_from_slice(command);
        let (run, peak_kib) = fleet_measured(&lab, &args);
        assert_eq!(run.code, 0, "{command:?}: {}", run.stderr);
        assert!(
            peak_kib < 200 * 1024,
            "{command:?}: fleet's peak memory was {peak_kib} KiB"
        );
        assert!(
            run.stdout.len() < 40 << 20,
            "{command:?}: {} bytes shown",
            run.stdout.len()
        );
    }
    // Each log keeps 64 MiB of output and says what it cut.
    let logs = lab.state_dir().join("logs");
    let mut biggest = 0;
    let mut said_cut = false;
    for dir in std::fs::read_dir(&logs).expect("logs").flatten() {
        for file in std::fs::read_dir(dir.path()).expect("run logs").flatten() {
            biggest = biggest.max(file.metadata().map(|m| m.len()).unwrap_or(0));
            let text = std::fs::read(file.path()).unwrap_or_default();
            said_cut |= text.windows(26).any(|w| w == b"more output were not writt");
        }
    }
    assert!(
        biggest <= (64 << 20) + (1 << 20),
        "a log of {biggest} bytes"
    );
    assert!(said_cut, "no log says what it cut");
}

/// A build that prints nothing for longer than the inactivity timeout is stopped, reported
/// as such, and ended on the builder.
#[test]
fn a_silent_build_is_stopped_by_the_inactivity_timeout() {
    let lab = Lab::new();
    let marker = lab.dir.join("building-samsung.pid");
    let _ = std::fs::remove_file(&marker);
    let first = lab.running("samsung");
    lab.bump("samsung");
    lab.set("samsung", "build_sleep", 120.into());
    let run = lab.fleet(&["deploy", "samsung", "--inactivity-timeout", "3", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let failure = &run.json()["hosts"][0]["failure"];
    assert!(
        failure["message"]
            .to_string()
            .contains("printed nothing for 3 s and was stopped (the inactivity timeout)"),
        "{failure}"
    );
    assert!(
        failure["next"].to_string().contains("inactivity_timeout"),
        "{failure}"
    );
    let pid: u32 = std::fs::read_to_string(&marker)
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .expect("the build's process id");
    crate::support::lab::wait_until(10, "the builder ended the stopped build", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
    assert_eq!(lab.running("samsung"), first);
}

/// This machine's `nix eval` processes (the namespace hosts share its process table, and run
/// none).
fn local_evaluations() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let words: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            let nix = words.first()?.ends_with(b"nix");
            (nix && words.contains(&&b"eval"[..])).then_some(pid)
        })
        .collect()
}

/// A fleet killed (SIGKILL) while it evaluates leaves no `nix eval` running here: local
/// commands are tied to the run as remote ones are.
#[test]
fn a_killed_runs_local_evaluation_ends_with_it() {
    let lab = Lab::new();
    // About a minute of evaluation.
    lab.set_fleet("eval_cost", 60_000.into());
    lab.bump("razer");
    let (run, _) = lab.fleet_signalled(&["deploy", "razer"], "KILL", 1, || {
        !local_evaluations().is_empty()
    });
    assert_eq!(run.code, -1, "fleet was killed");
    // SIGTERM first; an evaluation deep in a loop that does not heed it gets SIGKILL 10 s on.
    crate::support::lab::wait_until(20, "the evaluation ended with the run", || {
        local_evaluations().is_empty()
    });
}

/// The target's connection drops while it fetches its system from the builder's cache: fleet
/// reconnects and fetches again, instead of trying a push and a relay that need the same host.
#[test]
fn a_target_that_drops_off_mid_fetch_is_reconnected_not_routed_around() {
    let lab = Lab::new();
    lab.bump("samsung");
    lab.new_payload("samsung", 200 * 1024);
    let new = lab.evaluated("samsung");
    // Built first, so the deploy's fetch is the slow part.
    lab.fleet(&["build", "samsung", "--via", "p620"]).status(0);
    let fetching = || {
        let out = Command::new("ip")
            .args(["netns", "pids", "fleetlab-samsung"])
            .output()
            .expect("ip netns pids");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .any(|pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let text = String::from_utf8_lossy(&cmdline);
                text.contains("copy") && text.contains("--from")
            })
    };
    let run = std::thread::scope(|s| {
        let run = s.spawn(|| lab.fleet(&["deploy", "samsung", "--via", "p620", "--json"]));
        crate::support::lab::wait_until(120, "samsung's fetch started", fetching);
        assert!(lab.kill_ssh_sessions("samsung") > 0);
        run.join().expect("the run")
    });
    assert_eq!(run.code, 0, "{}", run.stderr);
    let host = &run.json()["hosts"][0];
    let notes = host["notes"].to_string();
    assert!(notes.contains("reconnected to samsung"), "{host}");
    assert!(!notes.contains("used fallback"), "{host}");
    assert_eq!(lab.running("samsung"), new);
}

/// The builder goes down in the middle of a build: the run goes on to the next builder of the
/// host's via list at once (not only the next run), and says so, never pointing at `nix log`
/// on the builder that is gone.
#[test]
fn a_builder_that_dies_mid_build_hands_over_to_the_next_in_the_via_list() {
    let lab = Lab::new();
    let inventory = lab.samsung_via_p620_then_p510("");
    let marker = lab.dir.join("building-samsung.pid");
    let _ = std::fs::remove_file(&marker);
    lab.bump("samsung");
    lab.set("samsung", "build_sleep", 15.into());
    let new = lab.evaluated("samsung");
    let run = std::thread::scope(|s| {
        let run = s.spawn(|| lab.fleet(&["-i", &inventory, "deploy", "samsung", "--json"]));
        crate::support::lab::wait_until(120, "the build on p620 started", || marker.exists());
        lab.stop_host("p620");
        run.join().expect("the run")
    });
    assert_eq!(run.code, 0, "{}", run.stderr);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["built_on"], "p510", "{host}");
    assert!(
        host["notes"]
            .to_string()
            .contains("p620 is down: built on p510 instead"),
        "{host}"
    );
    assert!(!run.stdout.contains("nix log"), "{}", run.stdout);
    assert_eq!(lab.running("samsung"), new);
    assert!(lab.has_path("p510", &new), "built on p510");
}
