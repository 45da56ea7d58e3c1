//! The lab proves the commands around deployments: `exec` on many hosts, `generations`,
//! `rollback --to N`.

use crate::support::lab::Lab;

#[test]
fn exec_runs_one_command_on_many_hosts_at_once_over_one_login_each() {
    let lab = Lab::new();
    let before = (lab.logins("lab5"), lab.logins("lab6"));
    // Words go as words: the `;` and the spaces reach printf, not a shell.
    let run = lab
        .fleet(&[
            "exec",
            "lab5",
            "lab6",
            "--keep-connections",
            "0",
            "--json",
            "--",
            "printf",
            "%s|%s\\n",
            "a b; touch /tmp/fleet-exec-pwned",
            "$(hostname)",
        ])
        .status(0);
    let json = run.json();
    for (i, host) in ["lab5", "lab6"].iter().enumerate() {
        assert_eq!(json[i]["host"], *host, "{json}");
        assert_eq!(json[i]["exit_code"], 0, "{json}");
        assert_eq!(
            json[i]["output"][0], "a b; touch /tmp/fleet-exec-pwned|$(hostname)",
            "{json}"
        );
    }
    assert!(!std::path::Path::new("/tmp/fleet-exec-pwned").exists());
    assert_eq!(
        (lab.logins("lab5"), lab.logins("lab6")),
        (before.0 + 1, before.1 + 1),
        "one login per host"
    );
    // Grouped per host, exit codes in the summary, and the run fails when one host does.
    let run = lab
        .fleet(&[
            "exec",
            "lab5",
            "lab6",
            "--",
            "sh",
            "-c",
            "echo on $(hostname); [ $(hostname) = lab5 ]",
        ])
        .status(1);
    assert!(
        run.stdout.contains("── lab5 (exit 0)\non lab5\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("── lab6 (exit 1)\non lab6\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("lab6  exit 1"), "{}", run.stdout);
    // Followed: each line as it comes, prefixed with its host.
    let run = lab
        .fleet(&["exec", "lab5", "lab6", "--follow", "--", "hostname"])
        .status(0);
    assert!(run.stdout.contains("lab5 | lab5\n"), "{}", run.stdout);
    assert!(run.stdout.contains("lab6 | lab6\n"), "{}", run.stdout);
    // As root, through sudo for a non-root deploy user.
    let inventory = lab.inventory_with_user("lab6", "fleetops");
    let run = lab
        .fleet(&[
            "-i", &inventory, "exec", "lab6", "--root", "--json", "--", "id", "-u",
        ])
        .status(0);
    assert_eq!(run.json()[0]["stdout"], "0\n");
    let run = lab
        .fleet(&[
            "-i", &inventory, "exec", "lab6", "--json", "--", "id", "-un",
        ])
        .status(0);
    assert_eq!(run.json()[0]["stdout"], "fleetops\n");
}

#[test]
fn generations_lists_what_fleet_deployed_and_rollback_goes_to_any_of_them() {
    let lab = Lab::new();
    let first = lab.running("razer");
    for _ in 0..2 {
        lab.bump("razer");
        lab.fleet(&["deploy", "razer"]).status(0);
    }
    let third = lab.running("razer");
    let run = lab.fleet(&["generations", "razer", "--json"]).status(0);
    let json = run.json();
    let gens = json[0]["generations"].as_array().expect("generations");
    assert_eq!(gens.len(), 3, "{json}");
    assert_eq!(gens[0]["system"], first.as_str());
    assert_eq!(gens[0]["booted"], true, "{json}");
    assert_eq!(gens[0]["deployed"], serde_json::Value::Null);
    assert_eq!(gens[2]["system"], third.as_str());
    assert_eq!(
        (&gens[2]["current"], &gens[2]["running"]),
        (&true.into(), &true.into())
    );
    assert_eq!(gens[2]["deployed"]["command"], "deploy", "{json}");
    assert!(gens[2]["deployed"]["run"].is_string(), "{json}");
    let text = lab
        .fleet(&["generations", "razer"])
        .status(0)
        .stdout
        .clone();
    assert!(text.contains("current, running"), "{text}");
    assert!(text.contains("deploy by "), "{text}");

    // To the first generation, past the second: what `switch --rollback` cannot.
    lab.fleet(&["rollback", "razer", "--to", "1"]).status(0);
    assert_eq!(lab.running("razer"), first);
    assert_eq!(lab.generation("razer"), 1);
    let json = lab
        .fleet(&["generations", "razer", "--json"])
        .status(0)
        .json();
    assert_eq!(json[0]["generations"][0]["running"], true, "{json}");
    assert_eq!(json[0]["generations"][0]["deployed"]["command"], "rollback");

    // A generation that is not there: refused before anything starts (no lock, no watchdog,
    // no history entry), naming the generations there are.
    let recorded = |lab: &Lab| {
        lab.fleet(&["history", "razer", "--json"])
            .status(0)
            .json()
            .as_array()
            .map_or(0, Vec::len)
    };
    let before = recorded(&lab);
    let run = lab.fleet(&["rollback", "razer", "--to", "9"]).status(2);
    assert!(
        run.stderr
            .contains("--to 9: razer has no generation 9; it has 1, 2, 3; nothing was changed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("fleet generations HOST"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("watchdog"), "{}", run.stderr);
    assert_eq!(recorded(&lab), before);
    assert_eq!(lab.running("razer"), first);
    assert_eq!(lab.generation("razer"), 1);
}

#[test]
fn init_writes_an_inventory_from_the_flake_that_validate_checks_and_fleet_uses() {
    let lab = Lab::new();
    let flake = tempfile::tempdir().expect("temp dir");
    let copy = std::process::Command::new("cp")
        .arg("-r")
        .arg(lab.dir.join("flake/."))
        .arg(flake.path())
        .status()
        .expect("cp");
    assert!(copy.success());
    let ssh_config = lab.dir.join("ssh/config");
    let ssh_config = ssh_config.to_str().expect("path");
    let run = lab
        .fleet_at(flake.path(), &["init", "--ssh-config", ssh_config])
        .status(0);
    assert!(run.stdout.contains("10 hosts"), "{}", run.stdout);
    let inventory = flake.path().join("hosts.toml");
    let text = std::fs::read_to_string(&inventory).expect("hosts.toml");
    // p620 is an alias of the lab's ssh config: ssh -G said where it goes.
    assert!(
        text.contains("# ssh -G p620: reaches 10.213.1.10, port 22"),
        "{text}"
    );
    // Never over a hosts.toml that is there.
    lab.fleet_at(flake.path(), &["init"]).status(2);
    assert_eq!(
        std::fs::read_to_string(&inventory).expect("hosts.toml"),
        text
    );

    // The written inventory works as it is: validate evaluates every host, and fleet reaches
    // p620 through the alias.
    let run = lab.fleet_at(flake.path(), &["validate"]).status(0);
    assert!(run.stdout.contains("10 hosts evaluated"), "{}", run.stdout);
    let run = lab
        .fleet_at(flake.path(), &["exec", "p620", "--json", "--", "hostname"])
        .status(0);
    assert_eq!(run.json()[0]["stdout"], "p620\n");

    // A host without a configuration is an error, a configuration without a host a note.
    let edited = text.replace("[hosts.lab8]", "[hosts.ghost]");
    std::fs::write(&inventory, edited).expect("write hosts.toml");
    let run = lab.fleet_at(flake.path(), &["validate"]).status(1);
    assert!(
        run.stdout
            .contains("error: ghost: the flake has no nixosConfigurations.ghost"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("note: nixosConfigurations.lab8 has no host in"),
        "{}",
        run.stdout
    );
    // A line each: ghost's own error among the others' systems.
    assert!(
        run.stdout.contains("9 of 10 hosts evaluated"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "ghost    evaluation failed: the flake has no nixosConfigurations.ghost (it has: lab5,"
        ),
        "{}",
        run.stdout
    );
    // And a deployment of it names the host and the configurations there are.
    let run = lab
        .fleet_at(flake.path(), &["deploy", "ghost", "--json"])
        .status(1);
    let failure = &run.json()["hosts"][0]["failure"];
    assert!(
        failure["message"]
            .to_string()
            .contains("the flake has no nixosConfigurations.ghost (it has: lab5,"),
        "{failure}"
    );
}

#[test]
fn preview_shows_what_a_deployment_would_change_and_activates_nothing() {
    let lab = Lab::new();
    let first = lab.running("samsung");
    lab.bump("samsung");
    lab.set("samsung", "kernel", "6.7.0".into());
    // samsung is built on p620 and fetches from p620's cache.
    let run = lab
        .fleet(&["deploy", "samsung", "--preview", "--json"])
        .status(0);
    let host = &run.json()["hosts"][0];
    assert_eq!(host["outcome"], "previewed", "{host}");
    let preview = &host["preview"];
    Lab::assert_kernel_change_previewed(preview);
    // What samsung lacked (at least the new system), fetched from p620's cache.
    assert!(preview["fetch"]["download"].is_string(), "{preview}");
    assert!(
        preview["copied"].to_string().contains("cache p620"),
        "{preview}"
    );
    // Nothing was activated: only the dry run of the switch ran, and the closure is there.
    assert_eq!(lab.running("samsung"), first);
    assert_eq!(lab.generation("samsung"), 1);
    let events: Vec<String> = lab
        .activations("samsung")
        .iter()
        .map(|a| a.event.clone())
        .collect();
    assert_eq!(
        events,
        ["start-dry-activate", "end-dry-activate"],
        "{events:?}"
    );
    assert!(lab.has_path("samsung", &lab.evaluated("samsung")));
    // The text: a line per host, every package one flag away.
    let text = lab
        .fleet(&["deploy", "samsung", "--preview", "--all-packages"])
        .status(0)
        .stdout
        .clone();
    assert!(text.contains("reboot needed (kernel)"), "{text}");
    assert!(text.contains("restart lab-app.service"), "{text}");
    assert!(text.contains("linux 6.6.1 → 6.7.0"), "{text}");
}

#[test]
fn quick_all_shows_each_changed_hosts_preview_before_asking_and_none_for_the_rest() {
    let lab = Lab::new();
    lab.bump("razer");
    let run = lab
        .fleet(&["quick-all", "razer", "lab5", "--yes", "--json"])
        .status(0);
    assert!(
        run.stderr.contains("restart lab-app.service"),
        "the question shows the preview: {}",
        run.stderr
    );
    let json = run.json();
    let hosts = json["hosts"].as_array().expect("hosts");
    let razer = hosts.iter().find(|h| h["host"] == "razer").expect("razer");
    let lab5 = hosts.iter().find(|h| h["host"] == "lab5").expect("lab5");
    assert_eq!(razer["outcome"], "deployed");
    assert!(razer["preview"]["units"]["restart"].is_array(), "{razer}");
    // An unchanged host pays nothing for the preview: no step of it ran there.
    assert_eq!(lab5["outcome"], "unchanged");
    assert!(lab5.get("preview").is_none(), "{lab5}");
    assert!(!lab.saw("lab5", "start-dry-activate"));
    assert_eq!(lab.running("razer"), lab.evaluated("razer"));
}
