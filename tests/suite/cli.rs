//! The binary's command line, without any host: dry runs, refusals, help, completions.
//! Each dry run and refusal also proves that fleet started no process.

use crate::support::Test;

#[test]
fn dry_run_prints_the_plan_and_starts_nothing() {
    let run = Test::example()
        .args(["--dry-run", "deploy", "samsung"])
        .run()
        .status(0)
        .started_nothing();
    insta::assert_snapshot!("dry_run_deploy_samsung", run.stdout_normalized());
}

#[test]
fn dry_run_of_every_command_starts_nothing() {
    for args in [
        &["deploy", "razer", "--action", "boot"][..],
        &["deploy-via", "p620", "razer", "p510"],
        &["build", "razer", "--on", "p620"],
        &["quick-deploy", "@laptop"],
        &["deploy-all-parallel", "-j", "2"],
        &["build-all-parallel"],
        &["quick-all", "--action", "test"],
        &["validate", "--full"],
        &["diff", "samsung"],
        &["status"],
        &["doctor", "@laptop"],
        &["cache", "status"],
        &["cache", "push", "samsung", "--to", "file:///srv/cache"],
        &["generations", "@laptop"],
        &["rollback", "razer", "--to", "3"],
        &[
            "exec",
            "@laptop",
            "--root",
            "--",
            "loginctl",
            "terminate-user",
            "olaf",
        ],
    ] {
        Test::example()
            .args(["-n"])
            .args(args.iter().copied())
            .run()
            .status(0)
            .stdout_has("Dry run: nothing was run.")
            .started_nothing();
    }
    Test::example()
        .args(["-n", "update-flake", "nixpkgs"])
        .run()
        .status(0)
        .stdout_has("Dry run: nothing was run.")
        .started_nothing_but_asked_nix_its_version();
}

/// An input the flake does not have is an error naming those it has (Nix would only warn,
/// and "no input moved" would read as success), with or without --dry-run.
#[test]
fn update_flake_refuses_an_input_the_flake_does_not_have() {
    for dry in [true, false] {
        let lock = r#"{"nodes": {"root": {"inputs": {"nixpkgs": "nixpkgs", "home-manager": "home-manager"}}}, "root": "root", "version": 7}"#;
        let mut test = Test::example().file("flake.lock", lock);
        if dry {
            test = test.args(["-n"]);
        }
        test.args(["update-flake", "nixpgks", "home-manager"])
            .run()
            .status(2)
            .stderr_has(
                "error: the flake has no input nixpgks; its inputs are nixpkgs, home-manager",
            )
            .stderr_has("tab completes them")
            .started_nothing_but_asked_nix_its_version();
    }
}

#[test]
fn nix_config_is_ready_to_paste() {
    let run = Test::example()
        .args(["cache", "nix-config", "samsung"])
        .run()
        .status(0)
        .started_nothing();
    insta::assert_snapshot!("nix_config_samsung", run.stdout_normalized());
    // p620 serves its own cache: it does not list itself.
    Test::example()
        .args(["cache", "nix-config", "p620"])
        .run()
        .status(0)
        .stdout_has("\"https://cache.nixos.org\"")
        .started_nothing();
    let run = Test::example().args(["cache", "nix-config", "p620"]).run();
    assert!(!run.stdout.contains("p620.lan:5000"), "{}", run.stdout);
}

#[test]
fn quick_all_dry_run_shows_the_gate() {
    let run = Test::example()
        .args(["-n", "quick-all"])
        .run()
        .status(0)
        .started_nothing();
    insta::assert_snapshot!("dry_run_quick_all", run.stdout_normalized());
}

#[test]
fn dry_run_json_is_the_plan() {
    let run = Test::example()
        .args(["--dry-run", "--json", "deploy-via", "p620", "razer"])
        .run()
        .status(0)
        .started_nothing();
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(plan["command"], "deploy-via");
    assert_eq!(plan["hosts"][0]["host"], "razer");
    assert_eq!(plan["hosts"][0]["build_on"]["host"], "p620");
    // The evaluation cache's key, then each host's own evaluation.
    assert_eq!(plan["prepare"][0]["kind"], "read-flake-hash");
    assert_eq!(plan["prepare"][1]["kind"], "evaluate");
    assert_eq!(plan["prepare"][1]["what"], "razer");
}

#[test]
fn a_sudo_password_with_no_terminal_to_ask_on_is_refused_before_anything_runs() {
    Test::example()
        .args(["deploy", "samsung", "--ask-sudo-password"])
        .no_terminal()
        .run()
        .status(2)
        .stderr_has("sudo on samsung wants a password, and there is no terminal to ask for it on")
        .started_nothing();
    // The dry run shows where it would go, and asks nothing.
    Test::example()
        .args(["deploy", "samsung", "--ask-sudo-password", "--dry-run"])
        .no_terminal()
        .run()
        .status(0)
        .stdout_has("sudo -k -S -p '' -- ")
        .started_nothing();
}

#[test]
fn a_broken_inventory_is_refused_before_anything_runs() {
    Test::new()
        .inventory(
            "[hosts.samsung]\nvia = \"p620\"\naddresses = [\"-oProxyCommand=touch /tmp/x\"]\n",
        )
        .args(["deploy", "samsung"])
        .run()
        .status(2)
        .stderr_has("hosts.toml:2:7: hosts.samsung.via: `p620` is not a host in this inventory")
        .stderr_has("hosts.samsung.addresses: an address cannot start with `-`")
        .stderr_has("2 problems in")
        .started_nothing();
}

/// Hostile values in every field of the inventory: each is named, and no process starts.
#[test]
fn a_hostile_inventory_is_refused_whole_before_any_process_starts() {
    let run = Test::new()
        .inventory(concat!(
            "[fleet]\nflake = \"-x\"\n",
            "[caches.c]\nurl = \"http://x;reboot\"\n",
            "[hosts.samsung]\n",
            "addresses = [\"$(reboot)\", \"-oProxyCommand=touch /tmp/x\"]\n",
            "user = \"olaf`id`\"\n",
            "attribute = \"a\\nb\"\n",
            "tags = [\"x;y\"]\n",
            "health_checks = [[\"true\", \"$(reboot)\"], [\"-x\"]]\n",
        ))
        .args(["deploy", "samsung"])
        .run()
        .status(2)
        .started_nothing();
    for key in [
        "fleet.flake",
        "caches.c.url",
        "hosts.samsung.addresses",
        "hosts.samsung.user",
        "hosts.samsung.attribute",
        "hosts.samsung.tags",
        "hosts.samsung.health_checks",
    ] {
        assert!(run.stderr.contains(key), "{key} not named:\n{}", run.stderr);
    }
    assert!(run.stderr.contains("9 problems in"), "{}", run.stderr);
    // An ssh:// cache whose host is an option, and an address with a `%` token.
    let run = Test::new()
        .inventory(concat!(
            "[caches.c]\nurl = \"ssh://-oProxyCommand=touch${IFS}x\"\n",
            "[hosts.samsung]\naddresses = [\"samsung%d\"]\n",
        ))
        .args(["deploy", "samsung"])
        .run()
        .status(2)
        .started_nothing();
    for key in ["caches.c.url", "hosts.samsung.addresses"] {
        assert!(run.stderr.contains(key), "{key} not named:\n{}", run.stderr);
    }
}

#[test]
fn hostile_names_on_the_command_line_are_refused() {
    for bad in ["$(reboot)", "-oProxyCommand=x", "samsung;reboot", "a\nb"] {
        Test::example()
            .args(["deploy", "--", bad])
            .run()
            .status(2)
            .stderr_has("is not a host name or @tag")
            .started_nothing();
    }
}

#[test]
fn unknown_hosts_tags_and_builders() {
    Test::example()
        .args(["deploy", "samsng"])
        .run()
        .status(2)
        .stderr_has("did you mean `samsung`?")
        .started_nothing();
    Test::example()
        .args(["deploy", "@phones"])
        .run()
        .status(2)
        .stderr_has("no host has the tag `@phones`");
    Test::example()
        .args(["deploy", "razer", "--via", "p510"])
        .run()
        .status(2)
        .stderr_has("`p510` is not a builder")
        .started_nothing();
    Test::example()
        .args(["deploy", "razer", "--eval-on", "p602"])
        .run()
        .status(2)
        .stderr_has("--eval-on `p602`: no such host in the inventory")
        .stderr_has("did you mean `p620`?")
        .started_nothing();
    Test::example()
        .args(["deploy"])
        .run()
        .status(2)
        .stderr_has("HOST");
}

#[test]
fn no_inventory_says_where_it_looked() {
    Test::new()
        .args(["hosts"])
        .run()
        .status(2)
        .stderr_has("no inventory found")
        .stderr_has("run `fleet init` in your flake's directory")
        .stderr_has("--inventory PATH");
}

#[test]
fn inventory_is_found_in_parent_directories_and_by_flag_and_env() {
    Test::example()
        .cwd("sub/dir")
        .args(["hosts"])
        .run()
        .status(0)
        .stdout_has("samsung");
    Test::new()
        .file("elsewhere/fleet.toml", "[hosts.only-me]\n")
        .args(["-i", "elsewhere/fleet.toml", "hosts"])
        .run()
        .status(0)
        .stdout_has("only-me");
    let t = Test::new().file("x/fleet.toml", "[hosts.from-env]\n");
    let path = t.dir().join("x/fleet.toml").display().to_string();
    t.env("FLEET_INVENTORY", &path)
        .args(["hosts"])
        .run()
        .status(0)
        .stdout_has("from-env");
}

#[test]
fn hosts_table_and_json() {
    let run = Test::example()
        .args(["hosts"])
        .run()
        .status(0)
        .started_nothing();
    insta::assert_snapshot!("hosts_table", run.stdout);
    let run = Test::example()
        .args(["hosts", "@laptop", "--json"])
        .run()
        .status(0);
    let hosts: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(hosts.as_array().map(Vec::len), Some(2));
    assert_eq!(hosts[0]["name"], "razer");
    Test::example()
        .env("FLEET_HOSTNAME", "p620")
        .args(["hosts", "p620"])
        .run()
        .stdout_has("builder, this machine");
}

#[test]
fn flake_override() {
    Test::example()
        .args(["-n", "--flake", "github:olaf/nixos", "deploy", "razer"])
        .run()
        .status(0)
        .stdout_has("flake: github:olaf/nixos")
        .stdout_has("'github:olaf/nixos#nixosConfigurations'");
    Test::example()
        .args(["-n", "--flake", "--x", "deploy", "razer"])
        .run()
        .status(2);
}

#[test]
fn help_documents_exit_codes() {
    Test::new()
        .args(["--help"])
        .run()
        .status(0)
        .stdout_has("Exit codes:")
        .stdout_has("2  bad command line or inventory")
        .stdout_has("130  interrupted (Ctrl-C)");
    Test::new().args(["--bogus"]).run().status(2);
}

#[test]
fn checked_in_completions_match_the_binary() {
    for shell in ["bash", "zsh", "fish"] {
        let run = Test::new().args(["completions", shell]).run().status(0);
        let path = format!("{}/completions/fleet.{shell}", env!("CARGO_MANIFEST_DIR"));
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            checked_in, run.stdout,
            "{path} is stale: run `cargo run -q -- completions {shell} > completions/fleet.{shell}`"
        );
    }
}

/// What the shell completion offers for `words` (the last one being completed), as bash asks.
fn completions(test: Test, words: &[&str]) -> Vec<String> {
    test.env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", &words.len().to_string())
        .env("_CLAP_IFS", "\n")
        .args(["--", "fleet"])
        .args(words.iter().copied())
        .run()
        .status(0)
        .started_nothing()
        .stdout
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn completion_offers_hosts_tags_and_builders_from_the_inventory() {
    let complete = |words: &[&str]| completions(Test::example(), words);
    let offered = complete(&["deploy", ""]);
    for want in [
        "samsung",
        "razer",
        "p620",
        "p510",
        "@laptop",
        "@workstation",
    ] {
        assert!(
            offered.contains(&want.to_string()),
            "{want} not in {offered:?}"
        );
    }
    assert_eq!(complete(&["deploy", "sa"]), ["samsung"]);
    // Builders only; clap may add flags to an empty word, which are not host names.
    let values = |v: Vec<String>| {
        v.into_iter()
            .filter(|c| !c.starts_with('-'))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        values(complete(&["deploy", "samsung", "--via", ""])),
        ["p620"]
    );
    assert_eq!(values(complete(&["deploy-via", ""])), ["p620"]);
}

#[test]
fn completion_in_a_real_bash() {
    let Ok(bash) = which::which("bash") else {
        return;
    };
    let fleet = assert_cmd::cargo::cargo_bin("fleet");
    let bin_dir = fleet.parent().expect("bin dir").display().to_string();
    let t = Test::example();
    let script = concat!(
        "source <(fleet completions bash)\n",
        "COMP_WORDS=(fleet deploy '@'); COMP_CWORD=2; COMP_TYPE=9\n",
        "_clap_complete_fleet fleet '@' deploy\n",
        "printf '%s\\n' \"${COMPREPLY[@]}\"\n",
    );
    let out = std::process::Command::new(bash)
        .arg("-c")
        .arg(script)
        .current_dir(t.dir())
        .env(
            "PATH",
            format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default()),
        )
        .output()
        .expect("bash");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["@workstation", "@laptop"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn refusals_say_exactly_what_is_wrong_and_what_to_do() {
    // Each names the inventory it looked in.
    let test = Test::example();
    let inventory = test.dir().join("hosts.toml").display().to_string();
    test.args(["deploy", "samsnug"])
        .run()
        .status(2)
        .stderr_is(&format!(
            "error: host `samsnug`: no such host in the inventory ({inventory})\n  help: did you mean `samsung`? Hosts: p620, p510, razer, samsung\n",
        ))
        .started_nothing();
    let test = Test::example();
    let inventory = test.dir().join("hosts.toml").display().to_string();
    test.args(["deploy", "@lapto"])
        .run()
        .status(2)
        .stderr_is(&format!(
            "error: no host has the tag `@lapto` in the inventory ({inventory})\n  help: did you mean `@laptop`?\n"
        ))
        .started_nothing();
    Test::example()
        .args(["quick-all"])
        .run()
        .status(2)
        .stderr_is(
            "error: `fleet quick-all` asks before deploying, and there is no terminal to ask\n  help: pass --yes to deploy the changed hosts without asking\n",
        )
        .stdout_is("")
        .started_nothing();
}

#[test]
fn nix_options_from_hosts_toml_and_the_command_line_reach_evaluation_and_builds() {
    let inventory = format!(
        "{}\n[fleet.nix]\naccept_flake_config = true\noptions = {{ cores = \"8\" }}\n",
        include_str!("../../hosts.toml")
    );
    let run = Test::new()
        .inventory(&inventory)
        .args([
            "--dry-run",
            "--json",
            "deploy",
            "samsung",
            "--show-trace",
            "-L",
            "--impure",
            "--keep-going",
            "--option",
            "max-jobs",
            "4",
        ])
        .run()
        .status(0)
        .started_nothing();
    let plan = run.json();
    let argv = |step: &serde_json::Value| -> Vec<String> {
        step["run"]["argv"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(String::from))
            .collect()
    };
    let eval = argv(&plan["prepare"][0]);
    for flag in [
        "--accept-flake-config",
        "--show-trace",
        "--print-build-logs",
        "--impure",
    ] {
        assert!(eval.contains(&flag.to_string()), "{flag}: {eval:?}");
    }
    let options = |argv: &[String]| -> Vec<String> {
        argv.windows(3)
            .filter(|w| w[0] == "--option")
            .map(|w| format!("{}={}", w[1], w[2]))
            .collect()
    };
    assert_eq!(options(&eval), ["cores=8", "max-jobs=4"]);
    let build = plan["hosts"][0]["build"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["kind"] == "build"))
        .map(argv)
        .expect("the build step");
    assert_eq!(
        build[..5],
        [
            "nix-store",
            "--realise",
            "--log-format",
            "internal-json",
            "--keep-going"
        ]
    );
    assert_eq!(options(&build), ["cores=8", "max-jobs=4"]);
    assert!(!build.contains(&"--impure".to_string()), "{build:?}");
}

#[test]
fn bad_nix_options_are_refused_before_anything_runs() {
    Test::example()
        .args(["deploy", "samsung", "--option", "max jobs", "4"])
        .run()
        .status(2)
        .stderr_is("error: --option max jobs: `max jobs` is not a nix setting's name (letters, digits and `-`, like max-jobs)\n  help: write --option NAME VALUE, like --option max-jobs 4\n")
        .started_nothing();
    let run = Test::new()
        .inventory("[fleet.nix]\noptions = { \"-oops\" = \"1\" }\n[hosts.a]\n")
        .args(["deploy", "a"])
        .run()
        .status(2)
        .started_nothing();
    assert!(
        run.stderr.contains("fleet.nix.options.-oops"),
        "{}",
        run.stderr
    );
    let run = Test::new()
        .inventory("[fleet.nix]\nshow_trace = \"yes\"\n[hosts.a]\n")
        .args(["deploy", "a"])
        .run()
        .status(2)
        .started_nothing();
    assert!(run.stderr.contains("show_trace"), "{}", run.stderr);
}

#[test]
fn completion_follows_dash_i_and_completes_caches_and_flake_inputs() {
    let complete = |test: Test, words: &[&str]| {
        completions(test, words)
            .into_iter()
            .filter(|c| !c.starts_with('-'))
            .collect::<Vec<_>>()
    };
    let other = || {
        Test::example().file(
            "other/hosts.toml",
            "[caches.attic]\nurl = \"https://attic.example/main\"\nwritable = true\n[caches.ro]\nurl = \"http://ro.lan:5000\"\n[hosts.zephyr]\n",
        )
    };
    assert_eq!(
        complete(other(), &["-i", "other/hosts.toml", "deploy", ""]),
        ["zephyr"]
    );
    assert_eq!(
        complete(
            other(),
            &[
                "--inventory",
                "other/hosts.toml",
                "cache",
                "push",
                "zephyr",
                "--to",
                ""
            ]
        ),
        ["attic"]
    );
    let with_lock = Test::example().file(
        "flake.lock",
        r#"{"nodes": {"root": {"inputs": {"nixpkgs": "nixpkgs", "home-manager": "home-manager"}}}, "root": "root", "version": 7}"#,
    );
    assert_eq!(
        complete(with_lock, &["update-flake", ""]),
        ["nixpkgs", "home-manager"]
    );
}

/// On a terminal, deploy-all-parallel asks before changing every host, as the justfile's
/// "Are you sure?" did; a no changes nothing and starts nothing.
#[test]
fn deploy_all_parallel_asks_on_a_terminal() {
    let test = Test::example();
    let dir = test.dir().to_path_buf();
    let fleet = assert_cmd::cargo::cargo_bin("fleet");
    let out = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{} deploy-all-parallel", fleet.display()),
            "/dev/null",
        ])
        .current_dir(&dir)
        .env("FLEET_HOSTNAME", "thinkpad")
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", dir.join("watch-bin").display()),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            if let Some(stdin) = child.stdin.as_mut() {
                stdin.write_all(b"n\n")?;
            }
            child.wait_with_output()
        })
        .expect("run fleet under script");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Deploy 4 hosts (switch): p620, p510, razer, samsung? [y/N]"),
        "{text}"
    );
    assert!(
        text.contains("Not deployed: nothing was changed."),
        "{text}"
    );
    assert!(out.status.success(), "{text}");
    assert!(
        !dir.join("calls.log").exists(),
        "processes were started: {:?}",
        std::fs::read_to_string(dir.join("calls.log"))
    );
}

#[test]
fn the_smaller_refusals_say_what_to_write() {
    Test::example()
        .args(["deploy", "razer", "--flake", ".#razer"])
        .run()
        .status(2)
        .stderr_is("error: --flake .#razer: name the flake only, without `#`: fleet picks each host's nixosConfigurations.HOST itself\n  help: pass --flake . and name the host as an argument: `fleet deploy razer --flake .`\n")
        .started_nothing();
    Test::example()
        .args(["deploy", "laptop"])
        .run()
        .status(2)
        .stderr_has("did you mean `@laptop`? (a tag; hosts: p620, p510, razer, samsung)")
        .started_nothing();
    let run = Test::new()
        .inventory("[fleet]\nflake = \"../nowhere\"\nssh_config = \"ssh/missing\"\n[hosts.a]\n")
        .args(["hosts"])
        .run()
        .status(2)
        .started_nothing();
    assert!(run.stderr.contains("fleet.flake: "), "{}", run.stderr);
    assert!(
        run.stderr.contains("nowhere is not a directory"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("fleet.ssh_config: "), "{}", run.stderr);
    assert!(
        run.stderr.contains("ssh/missing is not a file"),
        "{}",
        run.stderr
    );
    // Deployment-only flags belong to deployments.
    let run = Test::example().args(["status", "--help"]).run().status(0);
    assert!(!run.stdout.contains("--no-rollback"), "{}", run.stdout);
    assert!(!run.stdout.contains("--confirm-timeout"), "{}", run.stdout);
    let run = Test::example().args(["deploy", "--help"]).run().status(0);
    assert!(run.stdout.contains("--no-rollback"), "{}", run.stdout);
}

#[test]
fn history_and_nix_config_take_tags_and_refuse_unknown_names() {
    let history = r#"{"time":"2026-11-01T10:00:00Z","host":"razer","command":"deploy","action":"switch","result":"deployed","who":"olaf@t","seconds":1.0}
{"time":"2026-11-01T10:00:00Z","host":"p620","command":"deploy","action":"switch","result":"deployed","who":"olaf@t","seconds":1.0}
{"time":"2026-11-01T10:00:00Z","host":"oldbox","command":"deploy","action":"switch","result":"deployed","who":"olaf@t","seconds":1.0}
"#;
    let state = tempfile::tempdir().expect("state dir");
    std::fs::write(state.path().join("history.jsonl"), history).expect("history");
    let state_dir = state.path().display().to_string();
    let with_history = || Test::example().env("FLEET_STATE_DIR", &state_dir);
    let run = with_history()
        .args(["history", "@laptop", "--json"])
        .run()
        .status(0);
    let hosts: Vec<String> = run
        .json()
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["host"].as_str().map(String::from))
        .collect();
    assert_eq!(hosts, ["razer"]);
    with_history()
        .args(["history", "nosuchhost"])
        .run()
        .status(2)
        .stderr_has("no such host in the inventory");
    // A host no longer in the inventory still shows what was recorded.
    let run = with_history()
        .args(["history", "oldbox", "--json"])
        .run()
        .status(0);
    assert_eq!(run.json().as_array().map(Vec::len), Some(1));

    let run = Test::example()
        .args(["cache", "nix-config", "@laptop"])
        .run()
        .status(0);
    assert!(run.stdout.contains("# razer\n"), "{}", run.stdout);
    assert!(run.stdout.contains("# samsung\n"), "{}", run.stdout);
}

#[test]
fn cache_push_only_to_writable_caches() {
    Test::example()
        .args(["-n", "cache", "push", "samsung"])
        .run()
        .status(2)
        .stderr_has("no cache to push to: none is marked writable in hosts.toml")
        .started_nothing();
    for to in ["p620", "nixos", "https://cache.nixos.org"] {
        Test::example()
            .args(["-n", "cache", "push", "samsung", "--to", to])
            .run()
            .status(2)
            .stderr_has("is not marked writable in hosts.toml")
            .started_nothing();
    }
    let inventory = include_str!("../../hosts.toml").replace(
        "[caches.nix-community]",
        "[caches.attic]\nurl = \"s3://attic?region=eu\"\nwritable = true\n\n[caches.nix-community]",
    );
    Test::new()
        .inventory(&inventory)
        .args(["-n", "cache", "push", "samsung"])
        .run()
        .status(0)
        .stdout_has("push the system from p620 to s3://attic?region=eu")
        .started_nothing();
}

#[test]
fn hosts_json_says_local_as_the_table_does() {
    let run = Test::example()
        .env("FLEET_HOSTNAME", "p620")
        .args(["hosts", "p620", "razer", "--json"])
        .run()
        .status(0);
    let v = run.json();
    assert_eq!(v[0]["local"], true);
    assert_eq!(v[1]["local"], false);
}

#[test]
fn gc_dry_run_reports_unreachable_hosts_and_speaks_json() {
    // The stand-in ssh refuses every connection: each host is unreachable.
    let run = Test::example()
        .args(["-n", "gc", "razer", "--json"])
        .run()
        .status(1);
    let v = run.json();
    assert_eq!(v[0]["host"], "razer");
    assert!(v[0]["unreachable"].is_string(), "{v}");
}

#[test]
fn runs_in_the_same_second_keep_their_own_logs_and_a_missing_nix_is_named() {
    let state = tempfile::tempdir().expect("state dir");
    let state_dir = state.path().display().to_string();
    // Two runs at once (the stand-in nix fails them at once): one log directory each.
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let state_dir = state_dir.clone();
            std::thread::spawn(move || {
                Test::example()
                    .env("FLEET_STATE_DIR", &state_dir)
                    .args(["validate"])
                    .run()
                    .status(1);
            })
        })
        .collect();
    for r in runs {
        r.join().expect("run");
    }
    let logs = std::fs::read_dir(state.path().join("logs"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(logs, 2, "the runs shared a log directory");
    // No nix on PATH at all: the hint says to install it, not to fix the flake.
    let run = Test::example()
        .env("PATH", "/nonexistent")
        .env("FLEET_STATE_DIR", &state_dir)
        .args(["validate"])
        .run()
        .status(1);
    assert!(
        run.stdout.contains("next: install Nix on this machine"),
        "{}",
        run.stdout
    );
}

/// What is not a plain, small inventory file is refused at once: a FIFO would block the read,
/// /dev/zero fill memory, and a link loop must not fall back to a parent directory's file.
#[test]
fn odd_inventory_files_are_refused_at_once() {
    let test = Test::example();
    let fifo = test.dir().join("fifo.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    test.args(["-i", "fifo.toml", "hosts"])
        .run()
        .status(2)
        .stderr_has("it is not a regular file")
        .started_nothing();
    Test::example()
        .args(["-i", "/dev/zero", "hosts"])
        .run()
        .status(2)
        .stderr_has("it is not a regular file")
        .started_nothing();
    // hosts.toml in a subdirectory that links to itself; the parent's inventory is valid.
    let test = Test::example();
    let sub = test.dir().join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    std::os::unix::fs::symlink("hosts.toml", sub.join("hosts.toml")).expect("link");
    test.cwd("sub")
        .args(["hosts"])
        .run()
        .status(2)
        .stderr_has("sub/hosts.toml")
        .started_nothing();
}

#[test]
fn a_flake_path_with_a_space_and_logs_that_cannot_be_written_are_said_at_once() {
    let run = Test::example()
        .file("my nixos/hosts.toml", "[hosts.a]\n")
        .args(["-i", "my nixos/hosts.toml", "hosts"])
        .run()
        .status(2)
        .started_nothing();
    assert!(
        run.stderr.contains("holds a space, which Nix cannot take"),
        "{}",
        run.stderr
    );
    // The stand-in nix fails the evaluation; the logs could not be written anywhere.
    let run = Test::example()
        .env("FLEET_STATE_DIR", "/proc/fleet-cannot-write-here")
        .args(["validate"])
        .run()
        .status(1);
    assert!(
        run.stderr
            .contains("warning: cannot write logs in /proc/fleet-cannot-write-here"),
        "{}",
        run.stderr
    );
}

/// A nixpkgs that records what is asked of it: a package is its arguments.
const STAND_IN_NIXPKGS: &str = r#"{
  outputs = _: let
    drv = name: args: args // { type = "derivation"; inherit name; outPath = "/nix/store/00000000000000000000000000000000-${name}"; };
    pkgs = {
      lib = { licenses.mit = "MIT"; platforms.unix = [ "x86_64-linux" ]; };
      installShellFiles = "installShellFiles";
      rustPlatform.buildRustPackage = args: drv "${args.pname}-${args.version}" args;
      callPackage = f: extra: let fn = import f; in
        fn (builtins.intersectAttrs (builtins.functionArgs fn) (pkgs // extra));
      mkShell = args: drv "shell" args;
      cargo = "cargo"; rustc = "rustc"; clippy = "clippy"; rustfmt = "rustfmt";
      rust-analyzer = "rust-analyzer"; nix = "nix"; openssh = "openssh"; python3 = "python3";
    };
  in {
    legacyPackages = builtins.listToAttrs (map (s: { name = s; value = pkgs; })
      [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ]);
    inherit pkgs;
  };
}
"#;

/// fleet's own flake, evaluated against a stand-in nixpkgs that records what the package asks
/// of nixpkgs (nixpkgs itself cannot be fetched here): Rust's builder from Cargo.lock, the
/// version Cargo.toml says, the completions and the man page installed from files that are
/// in the repository; an app, an overlay and a dev shell.
#[test]
fn fleets_own_flake_evaluates_against_a_stand_in_nixpkgs() {
    let repo = env!("CARGO_MANIFEST_DIR");
    let stand_in = tempfile::tempdir().expect("temp dir");
    std::fs::write(stand_in.path().join("flake.nix"), STAND_IN_NIXPKGS).expect("stand-in flake");
    let eval = |attr: &str, apply: &str| -> serde_json::Value {
        let out = std::process::Command::new("nix")
            .args([
                "--extra-experimental-features",
                "nix-command flakes",
                "eval",
                "--json",
                "--no-write-lock-file",
                "--override-input",
                "nixpkgs",
                &format!("path:{}", stand_in.path().display()),
                &format!("{repo}#{attr}"),
                "--apply",
                apply,
            ])
            .output()
            .expect("nix eval");
        assert!(
            out.status.success(),
            "{attr}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let v = eval(
        "packages",
        "ps: let p = ps.x86_64-linux.default; in { \
         inherit (p) pname version doCheck postInstall nativeBuildInputs; \
         lock = toString p.cargoLock.lockFile; license = p.meta.license; \
         main = p.meta.mainProgram; systems = builtins.attrNames ps; }",
    );
    let app = eval("apps.x86_64-linux.default.program", "p: p");
    assert!(
        app.as_str().is_some_and(|p| p.ends_with("/bin/fleet")),
        "{app}"
    );
    let overlaid = eval(
        "overlays.default",
        "o: (o { callPackage = f: a: { pname = \"fleet\"; inherit (a) version; }; } { }).fleet",
    );
    assert_eq!(overlaid["pname"], "fleet");
    let shell = eval("devShells.x86_64-linux.default.packages", "p: p");
    assert!(shell.to_string().contains("cargo"), "{shell}");
    let cargo = std::fs::read_to_string(format!("{repo}/Cargo.toml")).expect("Cargo.toml");
    let version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("version = "))
        .map(|v| v.trim_matches('"'))
        .expect("version");
    assert_eq!(v["pname"], "fleet");
    assert_eq!(v["version"], version);
    assert_eq!(v["doCheck"], false);
    assert_eq!(v["license"], "MIT");
    assert_eq!(v["main"], "fleet");
    assert_eq!(
        v["nativeBuildInputs"],
        serde_json::json!(["installShellFiles"])
    );
    let lock = v["lock"].as_str().unwrap_or_default();
    assert!(lock.ends_with("/Cargo.lock"), "{v}");
    assert_eq!(
        std::fs::read(lock).ok(),
        std::fs::read(format!("{repo}/Cargo.lock")).ok(),
        "the lock file is the repository's"
    );
    assert_eq!(v["systems"].as_array().map(Vec::len), Some(4));
    // Every file the install step names is in the repository.
    let post = v["postInstall"].as_str().unwrap_or_default();
    for file in [
        "completions/fleet.bash",
        "completions/fleet.zsh",
        "completions/fleet.fish",
        "man/fleet.1",
    ] {
        assert!(post.contains(file), "{post}");
        assert!(
            std::path::Path::new(repo).join(file).is_file(),
            "{file} is not in the repository"
        );
    }
}

/// The checked-in man page and command reference are what the binary prints, as the
/// completions are (regenerate: `fleet man > man/fleet.1`, `fleet man --markdown > docs/cli.md`).
#[test]
fn the_man_page_and_the_command_reference_are_current() {
    let repo = env!("CARGO_MANIFEST_DIR");
    let page = Test::example().args(["man"]).run().status(0).stdout.clone();
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH OPTIONS",
        ".SH SUBCOMMANDS",
        ".SH \"EXIT STATUS\"",
        ".SH \"ENVIRONMENT\"",
        ".SH \"FILES\"",
    ] {
        assert!(page.contains(section), "{section} missing");
    }
    assert_eq!(
        std::fs::read_to_string(format!("{repo}/man/fleet.1")).unwrap_or_default(),
        page,
        "man/fleet.1 is stale: fleet man > man/fleet.1"
    );
    let reference = Test::example()
        .args(["man", "--markdown"])
        .run()
        .status(0)
        .stdout
        .clone();
    assert!(reference.contains("## `fleet deploy`"));
    assert_eq!(
        std::fs::read_to_string(format!("{repo}/docs/cli.md")).unwrap_or_default(),
        reference,
        "docs/cli.md is stale: fleet man --markdown > docs/cli.md"
    );
}

/// `fleet exec razer uptime`: without `--`, the command starts at the first word that is not a
/// host or @tag; hosts alone are "no command", a misspelt host is named as such.
#[test]
fn exec_takes_the_command_without_dashes() {
    let run = Test::example()
        .args([
            "-n",
            "--json",
            "exec",
            "razer",
            "@laptop",
            "systemctl",
            "status",
        ])
        .run()
        .status(0)
        .started_nothing();
    let plan = run.json();
    let hosts: Vec<&str> = plan["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h["host"].as_str())
        .collect();
    assert_eq!(hosts, ["razer", "samsung"], "{plan}");
    let text = plan.to_string();
    assert!(text.contains(r#""systemctl","status""#), "{text}");
    Test::example()
        .args(["exec", "razer", "p620"])
        .run()
        .status(2)
        .stderr_has("error: no command to run on razer, p620")
        .stderr_has("fleet exec HOST -- COMMAND")
        .started_nothing();
    Test::example()
        .args(["exec", "razr", "uptime"])
        .run()
        .status(2)
        .stderr_has("razer")
        .started_nothing();
}

/// A host that cannot be reached is said so once: its row names it, the reason follows.
#[test]
fn an_unreachable_host_is_not_named_twice() {
    // The stand-in ssh refuses every connection.
    let run = Test::example()
        .args(["exec", "razer", "--", "uptime"])
        .run()
        .status(1);
    let row = run.row("razer");
    assert!(row.contains("unreachable: "), "{}", run.stdout);
    assert!(!row.contains("razer is unreachable"), "{}", run.stdout);
}

/// Which inventory a run used is said: a hosts.toml here that another one (-i,
/// $FLEET_INVENTORY) overrode is warned of, `-v` names the one used, and the summary's last
/// line too.
#[test]
fn the_inventory_in_use_is_named() {
    let other = include_str!("../../hosts.toml");
    let test = Test::example().file("other/hosts.toml", other);
    let dir = test.dir().to_path_buf();
    let run = test
        .env(
            "FLEET_INVENTORY",
            &dir.join("other/hosts.toml").display().to_string(),
        )
        .args(["hosts"])
        .run()
        .status(0);
    assert!(
        run.stderr.contains(&format!(
            "warning: using the inventory {} (from $FLEET_INVENTORY), not {} in this directory",
            dir.join("other/hosts.toml").display(),
            dir.join("hosts.toml").display()
        )),
        "{}",
        run.stderr
    );
    // The one here, by -v; no warning.
    let test = Test::example();
    let dir = test.dir().to_path_buf();
    let run = test.args(["-v", "hosts"]).run().status(0);
    assert!(
        run.stderr
            .contains(&format!("inventory: {}", dir.join("hosts.toml").display())),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    // The summary's last line (the stand-in nix fails the evaluation).
    let test = Test::example();
    let dir = test.dir().to_path_buf();
    let run = test.args(["deploy", "razer"]).run().status(1);
    let last = run
        .stdout
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        last.ends_with(&format!("; inventory {}", dir.join("hosts.toml").display())),
        "{}",
        run.stdout
    );
}
