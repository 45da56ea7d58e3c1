//! The executor's decisions, proven through a scripted transport: the fallback chain, the
//! quick-all gate, each step of the Ctrl-C ladder, and magic rollback. The lab proves the real
//! transport; here every reply is chosen by the test, and every command fleet ran is recorded.

use std::path::Path;
use std::sync::Mutex;

use super::events::Silent;
use super::interrupt::Interrupts;
use super::transport::connect::ConnectError;
use super::transport::RunError;
use super::transport::{How, Output, Reached, Transport};
use super::{execute_with, Executed, Options};
use crate::inventory::Inventory;
use crate::plan::settings::RunSettings;
use crate::plan::{self, Action, CommandKind, Context, DeployRequest, Gate, Machine, Plan};
use crate::report::{HostReport, Outcome};

/// What the fake says to one command.
enum Reply {
    /// Exits with this code, printing nothing.
    Exit(i32),
    /// Prints this, then exits 0.
    Print(String),
    /// The host cannot be reached.
    Unreachable,
    /// Never ends (a long build, a host that never answers).
    Pending,
    /// Fails as a command that ran out of disk does.
    Full,
    /// Prints these lines on stderr, then exits 1.
    Fail(Vec<String>),
}

/// A command as the fake saw it: `machine$ argv`, with `(new login)` for a fresh one.
type Script<'a> = Box<dyn Fn(&str) -> Option<Reply> + 'a>;

struct Fake<'a> {
    /// The test's replies; `None` falls back to `usual`.
    script: Script<'a>,
    calls: Mutex<Vec<String>>,
    /// Per machine, the last `switch-to-configuration` action it was given: what its state
    /// reads back afterwards, as a real host's would.
    activated: Mutex<std::collections::HashMap<String, String>>,
}

impl<'a> Fake<'a> {
    fn new(script: impl Fn(&str) -> Option<Reply> + 'a) -> Fake<'a> {
        Fake {
            script: Box::new(script),
            calls: Mutex::new(Vec::new()),
            activated: Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Calls that contain `needle`, in order.
    fn calls_with(&self, needle: &str) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.contains(needle))
            .collect()
    }

    async fn reply(
        &self,
        call: String,
        host: &str,
        output: &Output<'_>,
    ) -> Result<Option<i32>, RunError> {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call.clone());
        }
        // The activation scripts (detached, or here) take the action and then their flags as
        // their last arguments; a dry activation runs switch-to-configuration itself.
        let action = if call.contains("pre \"$system\"") {
            call.split_whitespace().rev().nth(1)
        } else {
            call.split_once("switch-to-configuration ")
                .and_then(|(_, rest)| rest.split_whitespace().next())
        };
        if let (Some(action), Ok(mut activated)) = (action, self.activated.lock()) {
            activated.insert(host.to_string(), action.to_string());
        }
        // Waiting for the watchdog's rollback: the host is back where it was.
        if call.contains("/rollback-exit") {
            if let Ok(mut activated) = self.activated.lock() {
                activated.remove(host);
            }
        }
        let reply = match (self.script)(&call) {
            Some(reply) => reply,
            None => self.usual(&call, host),
        };
        match reply {
            Reply::Exit(code) => Ok(Some(code)),
            Reply::Print(text) => {
                text.lines().for_each(|l| output.stdout(l));
                Ok(Some(0))
            }
            Reply::Unreachable => Err(RunError::Connect(ConnectError {
                host: host.into(),
                attempts: vec![(format!("{host}.lan"), "timed out".into())],
            })),
            Reply::Pending => std::future::pending().await,
            Reply::Full => {
                output.stderr("error: writing to file: No space left on device");
                Ok(Some(1))
            }
            Reply::Fail(lines) => {
                lines.iter().for_each(|l| output.stderr(l));
                Ok(Some(1))
            }
        }
    }
}

/// What `nix::read_state` prints on a host.
fn state(running: &str, generation: &str, profile: &str) -> Reply {
    Reply::Print(format!(
        "running={running}\ngeneration={generation}\nprofile={profile}"
    ))
}

impl Fake<'_> {
    /// `usual`, with the state a host reads back after its activation: the new system
    /// running after a switch or test, in its profile after a switch or boot.
    fn usual(&self, call: &str, host: &str) -> Reply {
        let action = self
            .activated
            .lock()
            .ok()
            .and_then(|a| a.get(host).cloned());
        if !call.contains("fleet-state") {
            return usual(call);
        }
        let new = format!("/nix/store/new-{host}");
        match action.as_deref() {
            Some("switch") => state(&new, "system-2-link", &new),
            Some("test") => state(&new, "system-1-link", ""),
            Some("boot") => state("/nix/store/old-system", "system-2-link", &new),
            _ => usual(call),
        }
    }
}

/// A healthy fleet: the evaluation, what hosts run, detached activations that exit 0.
fn usual(call: &str) -> Reply {
    if call.contains(" eval --json ") {
        // Each host's own evaluation names it as `c ? "HOST"`.
        let host = ["p620", "p510", "razer", "samsung"]
            .into_iter()
            .find(|h| call.contains(&format!("c ? \"{h}\"")))
            .unwrap_or("unknown");
        Reply::Print(format!(
            r#"{{"names": ["p510", "p620", "razer", "samsung"], "drv": "/nix/store/d-{host}.drv", "out": "/nix/store/new-{host}"}}"#
        ))
    } else if call.contains("fleet-state") {
        state("/nix/store/old-system", "system-1-link", "")
    } else if call.contains("fleet-await") {
        Reply::Print("0".into())
    } else {
        Reply::Exit(0)
    }
}

impl Transport for Fake<'_> {
    async fn run(
        &self,
        on: &Machine,
        argv: &[String],
        how: How,
        output: &Output<'_>,
    ) -> Result<Option<i32>, RunError> {
        let host = on.to_string();
        let login = if how.new_login { "(new login) " } else { "" };
        self.reply(format!("{on}$ {login}{}", argv.join(" ")), &host, output)
            .await
    }

    async fn reconnect(&self, _: &str) -> Result<(), ConnectError> {
        Ok(())
    }

    async fn warm(&self, _: &str) {}

    async fn store_url(&self, host: &str, _: &Machine) -> Result<String, ConnectError> {
        Ok(format!("ssh-ng://{host}.lan"))
    }

    fn reached(&self, host: &str) -> Option<Reached> {
        Some(Reached {
            address: format!("{host}.lan"),
            woken: None,
        })
    }
}

fn inventory() -> Inventory {
    Inventory::parse(
        include_str!("../../hosts.toml"),
        Path::new("/tmp/fleet-test/hosts.toml"),
    )
    .expect("example inventory")
}

fn deploy_plan(command: CommandKind, hosts: &[&str], rollback: bool, max_parallel: usize) -> Plan {
    let inv = inventory();
    let ctx = Context {
        hostname: Some("thinkpad".into()),
        is_root: false,
        who: "olaf@thinkpad".into(),
        ask_sudo_password: false,
        run: RunSettings::of(&inventory()),
    };
    let quick = command == CommandKind::QuickAll;
    plan::deploy(
        &inv,
        &ctx,
        &DeployRequest {
            only_changed: quick,
            gate: if quick {
                Gate::AllBuiltThenConfirm
            } else {
                Gate::None
            },
            max_parallel: Some(max_parallel),
            confirm_timeout: rollback.then_some(30),
            ..DeployRequest::new(command, hosts.iter().filter_map(|h| inv.host(h)).collect())
        },
    )
    .expect("plan")
}

fn run(plan: &Plan, fake: &Fake, interrupts: &Interrupts, yes: bool) -> Executed {
    run_quiet_limited(plan, fake, interrupts, yes, None)
}

fn run_quiet_limited(
    plan: &Plan,
    fake: &Fake,
    interrupts: &Interrupts,
    yes: bool,
    quiet_limit: Option<std::time::Duration>,
) -> Executed {
    let logs = tempfile::tempdir().expect("temp dir");
    let opts = Options {
        yes,
        log_root: logs.path().to_path_buf(),
        verbose: 0,
        print_build_logs: false,
        answer_within: None,
        before_change: None,
        sudo_password: None,
        quiet_limit,
        keep_connections: 0,
        eval_jobs: 2,
        eval_max_memory: None,
        eval_cache: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime
        .block_on(execute_with(plan, fake, &opts, &Silent, interrupts))
        .unwrap_or_else(|e| panic!("the run failed as a whole: {e}"))
}

#[track_caller]
fn host<'r>(executed: &'r Executed, name: &str) -> &'r HostReport {
    executed
        .report
        .hosts
        .iter()
        .find(|h| h.host == name)
        .unwrap_or_else(|| panic!("{name} is not in the report"))
}

#[test]
fn a_failed_copy_tries_each_fallback_in_order_and_reports_the_one_that_worked() {
    let plan = deploy_plan(CommandKind::Deploy, &["samsung"], false, 1);
    let fake = Fake::new(|call| {
        let copy = call.contains(" copy ") && !call.contains("--derivation");
        // The cache fetch on samsung and p620's push fail; the relay through here works.
        (copy && !call.starts_with("here$")).then_some(Reply::Exit(1))
    });
    let executed = run(&plan, &fake, &Interrupts::default(), false);
    let samsung = host(&executed, "samsung");
    assert_eq!(samsung.outcome, Outcome::Deployed, "{samsung:?}");
    assert_eq!(
        samsung.notes,
        ["used fallback: relay it through this machine (the closure passes through here)"]
    );
    let copies: Vec<String> = fake
        .calls_with(" copy ")
        .into_iter()
        .filter(|c| !c.contains("--derivation"))
        .map(|c| c.split(' ').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        copies,
        ["samsung$", "p620$", "here$"],
        "{:#?}",
        fake.calls()
    );
    // Only after the closure got there was the profile set.
    assert_eq!(fake.calls_with("--set /nix/store/new-samsung").len(), 1);
}

#[test]
fn when_every_way_fails_the_step_fails_with_the_last_error_and_nothing_is_activated() {
    let plan = deploy_plan(CommandKind::Deploy, &["samsung"], false, 1);
    let fake = Fake::new(|call| {
        (call.contains(" copy ") && !call.contains("--derivation")).then_some(Reply::Exit(1))
    });
    let executed = run(&plan, &fake, &Interrupts::default(), false);
    let samsung = host(&executed, "samsung");
    assert_eq!(samsung.outcome, Outcome::Failed);
    let failure = samsung.failure.as_ref().expect("a failure");
    assert!(
        failure.step.contains("fetches the system from cache p620"),
        "{failure:?}"
    );
    assert!(
        failure
            .command
            .as_deref()
            .unwrap_or_default()
            .starts_with("here$"),
        "{failure:?}"
    );
    assert!(fake.calls_with("--set").is_empty(), "the profile was set");
    assert!(
        fake.calls_with("fleet-activate").is_empty(),
        "it was activated"
    );
}

#[test]
fn the_gate_deploys_nothing_when_any_build_fails() {
    let plan = deploy_plan(CommandKind::QuickAll, &["samsung", "razer"], false, 4);
    let fake = Fake::new(|call| {
        call.starts_with("razer$ nix-store --realise")
            .then_some(Reply::Exit(1))
    });
    let executed = run(&plan, &fake, &Interrupts::default(), true);
    assert_eq!(host(&executed, "razer").outcome, Outcome::Failed);
    let samsung = host(&executed, "samsung");
    assert_eq!(samsung.outcome, Outcome::Skipped);
    assert_eq!(
        samsung.notes,
        ["not deployed: razer failed, and quick-all deploys only when every host built"]
    );
    assert!(fake.calls_with("--set").is_empty());
    assert!(fake.calls_with("fleet-activate").is_empty());
}

#[test]
fn the_gate_deploys_the_changed_hosts_on_yes_and_nothing_on_no() {
    let plan = deploy_plan(CommandKind::QuickAll, &["samsung", "razer"], false, 4);
    // razer runs and boots the new system already: unchanged, never asked about.
    let running = |call: &str| {
        (call.starts_with("razer$ ") && call.contains("fleet-state")).then(|| {
            state(
                "/nix/store/new-razer",
                "system-2-link",
                "/nix/store/new-razer",
            )
        })
    };
    let no = Fake::new(running);
    let executed = run(&plan, &no, &Interrupts::default(), false);
    assert_eq!(host(&executed, "razer").outcome, Outcome::Unchanged);
    assert_eq!(host(&executed, "samsung").outcome, Outcome::Skipped);
    assert_eq!(host(&executed, "samsung").notes, ["not confirmed"]);
    assert!(no.calls_with("fleet-activate").is_empty());

    let yes = Fake::new(running);
    let executed = run(&plan, &yes, &Interrupts::default(), true);
    assert_eq!(host(&executed, "samsung").outcome, Outcome::Deployed);
    assert_eq!(host(&executed, "razer").outcome, Outcome::Unchanged);
    assert_eq!(yes.calls_with("fleet-activate").len(), 1);
    assert!(
        yes.calls_with("razer$ nix-store --realise").is_empty(),
        "an unchanged host was built"
    );
}

#[test]
fn first_ctrl_c_finishes_the_deployment_under_way_and_starts_no_other() {
    let plan = deploy_plan(
        CommandKind::DeployAllParallel,
        &["samsung", "razer"],
        false,
        1,
    );
    let interrupts = Interrupts::default();
    let fake = Fake::new(|call| {
        if call.starts_with("samsung$") && call.contains("fleet-activate") {
            interrupts.press(&Silent);
        }
        None
    });
    let executed = run(&plan, &fake, &interrupts, false);
    assert!(executed.report.interrupted);
    assert_eq!(host(&executed, "samsung").outcome, Outcome::Deployed);
    let razer = host(&executed, "razer");
    assert_eq!(razer.outcome, Outcome::Skipped);
    assert_eq!(razer.notes, ["interrupted (Ctrl-C) before it started"]);
    assert!(fake.calls_with("razer$").is_empty(), "{:#?}", fake.calls());
}

#[test]
fn a_build_that_says_nothing_past_the_inactivity_timeout_is_stopped() {
    let plan = deploy_plan(CommandKind::Deploy, &["razer"], true, 1);
    let fake = Fake::new(|call| {
        call.starts_with("razer$ nix-store --realise")
            .then_some(Reply::Pending)
    });
    let limit = Some(std::time::Duration::from_millis(300));
    let executed = run_quiet_limited(&plan, &fake, &Interrupts::default(), false, limit);
    let razer = host(&executed, "razer");
    assert_eq!(razer.outcome, Outcome::Failed);
    let failure = razer.failure.as_ref().expect("a failure");
    assert_eq!(
        failure.message,
        "it printed nothing for 0 s and was stopped (the inactivity timeout)"
    );
    assert!(fake.calls_with("--set").is_empty());
}

#[test]
fn second_ctrl_c_aborts_a_build_and_changes_nothing() {
    let plan = deploy_plan(CommandKind::Deploy, &["razer"], true, 1);
    let interrupts = Interrupts::default();
    let fake = Fake::new(|call| {
        call.starts_with("razer$ nix-store --realise").then(|| {
            interrupts.press(&Silent);
            interrupts.press(&Silent);
            Reply::Pending
        })
    });
    let executed = run(&plan, &fake, &interrupts, false);
    let razer = host(&executed, "razer");
    assert_eq!(razer.outcome, Outcome::Skipped);
    assert_eq!(
        razer.notes,
        ["aborted (Ctrl-C) while inspecting or building; nothing was changed on it"]
    );
    assert!(fake.calls_with("fleet-watchdog").is_empty());
    assert!(fake.calls_with("--set").is_empty());
}

#[test]
fn second_ctrl_c_does_not_stop_an_activation_under_way() {
    let plan = deploy_plan(CommandKind::Deploy, &["razer"], true, 1);
    let interrupts = Interrupts::default();
    let fake = Fake::new(|call| {
        if call.contains("fleet-activate") {
            interrupts.press(&Silent);
            interrupts.press(&Silent);
        }
        None
    });
    let executed = run(&plan, &fake, &interrupts, false);
    assert_eq!(host(&executed, "razer").outcome, Outcome::Deployed);
    assert_eq!(fake.calls_with("(new login)").len(), 1, "confirmed");
}

#[test]
fn third_ctrl_c_stops_following_and_leaves_the_host_to_its_watchdog() {
    let plan = deploy_plan(CommandKind::Deploy, &["razer"], true, 1);
    let interrupts = Interrupts::default();
    let fake = Fake::new(|call| {
        call.contains("fleet-await").then(|| {
            for _ in 0..3 {
                interrupts.press(&Silent);
            }
            Reply::Pending
        })
    });
    let executed = run(&plan, &fake, &interrupts, false);
    let razer = host(&executed, "razer");
    assert_eq!(razer.outcome, Outcome::Failed);
    let message = &razer.failure.as_ref().expect("a failure").message;
    assert!(message.contains("no longer followed (Ctrl-C)"), "{message}");
    assert!(
        fake.calls_with("(new login)").is_empty(),
        "it was confirmed"
    );
}

#[test]
fn a_failed_health_check_makes_the_host_roll_back_to_where_it_was() {
    let plan = deploy_plan(CommandKind::Deploy, &["p510"], true, 1);
    let fake = Fake::new(|call| {
        if call.starts_with("p510$ systemctl is-system-running") {
            Some(Reply::Exit(1))
        } else if call.contains("/rollback-exit") {
            Some(Reply::Print("0".into()))
        } else {
            None
        }
    });
    let executed = run(&plan, &fake, &Interrupts::default(), false);
    let p510 = host(&executed, "p510");
    assert_eq!(p510.outcome, Outcome::RolledBack, "{p510:?}");
    let message = &p510.failure.as_ref().expect("a failure").message;
    assert!(
        message.contains("p510 rolled itself back to generation 1"),
        "{message}"
    );
    // Asked to roll back now, then waited for; never confirmed.
    let after_check: Vec<String> = fake
        .calls()
        .into_iter()
        .skip_while(|c| !c.contains("systemctl"))
        .skip(1)
        .take(2)
        .collect();
    assert!(
        after_check[0].starts_with("p510$ touch /run/fleet/"),
        "{after_check:?}"
    );
    assert!(
        after_check[0].ends_with("-p510/rollback"),
        "{after_check:?}"
    );
    assert!(
        after_check[1].contains("fleet-await") && after_check[1].contains("/rollback-exit"),
        "{after_check:?}"
    );
    assert!(
        fake.calls_with("(new login)").is_empty(),
        "it was confirmed"
    );
}

#[test]
fn a_host_whose_evaluation_fails_fails_alone_in_nix_s_words() {
    let plan = deploy_plan(
        CommandKind::DeployAllParallel,
        &["samsung", "razer"],
        true,
        2,
    );
    let fake = Fake::new(|call| {
        (call.contains(" eval --json ") && call.contains("c ? \"razer\"")).then(|| {
            Reply::Fail(vec![
                "error: undefined variable 'pkgs'".into(),
                "       at «string»:1:40:".into(),
                "            1| c: { names = builtins.attrNames c; }".into(),
            ])
        })
    });
    let executed = run(&plan, &fake, &Interrupts::default(), false);
    assert_eq!(host(&executed, "samsung").outcome, Outcome::Deployed);
    let razer = host(&executed, "razer");
    assert_eq!(razer.outcome, Outcome::Failed);
    let failure = razer.failure.as_ref().expect("a failure");
    assert_eq!(failure.step, "evaluate razer");
    assert_eq!(
        failure.message,
        "evaluation failed: undefined variable 'pkgs'"
    );
    assert!(fake.calls_with("razer$").is_empty(), "razer was touched");
}

#[test]
fn an_unreachable_host_fails_alone() {
    let plan = deploy_plan(
        CommandKind::DeployAllParallel,
        &["samsung", "razer"],
        true,
        2,
    );
    let fake = Fake::new(|call| call.starts_with("razer$").then_some(Reply::Unreachable));
    let executed = run(&plan, &fake, &Interrupts::default(), false);
    assert_eq!(host(&executed, "samsung").outcome, Outcome::Deployed);
    let razer = host(&executed, "razer");
    assert_eq!(razer.outcome, Outcome::Failed);
    assert_eq!(
        razer
            .failure
            .as_ref()
            .and_then(|f| f.unreachable.as_deref()),
        Some("razer")
    );
}

#[test]
fn sudo_is_put_before_root_commands_as_they_run() {
    let plan = deploy_plan(CommandKind::Deploy, &["samsung"], true, 1);
    let fake = Fake::new(|_| None);
    run(&plan, &fake, &Interrupts::default(), false);
    for what in [
        "--set",
        "fleet-watchdog",
        "fleet-activate",
        "fleet-await",
        "fleet-confirm",
    ] {
        for call in fake.calls_with(what) {
            assert!(
                call.contains("$ sudo -n -- ") || call.contains("(new login) sudo -n -- "),
                "{call}"
            );
        }
    }
}

#[test]
fn a_switch_that_reports_success_but_did_not_happen_fails() {
    let plan = deploy_plan(CommandKind::Deploy, &["samsung"], true, 1);
    // The activation's exit file says 0; what samsung runs stays the old system.
    let fake = Fake::new(|call| {
        call.contains("fleet-state").then(|| {
            state(
                "/nix/store/old-system",
                "system-2-link",
                "/nix/store/new-samsung",
            )
        })
    });
    let executed = run(&plan, &fake, &Interrupts::default(), false);
    let samsung = host(&executed, "samsung");
    assert_eq!(samsung.outcome, Outcome::Failed, "{samsung:?}");
    let message = &samsung.failure.as_ref().expect("a failure").message;
    assert_eq!(
        message,
        "the switch reported success, but samsung still runs old-system"
    );
}

#[test]
fn unchanged_means_unchanged_for_the_action() {
    // After `deploy --action test`: samsung runs the new system, its profile is the old one.
    // Its first read; what it reads back after an activation is the fake's own.
    let tested = || {
        let reads = std::cell::Cell::new(0);
        move |call: &str| {
            let read = call.starts_with("samsung$ ") && call.contains("fleet-state");
            reads.set(reads.get() + usize::from(read));
            (read && reads.get() == 1).then(|| {
                state(
                    "/nix/store/new-samsung",
                    "system-1-link",
                    "/nix/store/old-system",
                )
            })
        }
    };
    let quick = |action| {
        let inv = inventory();
        let ctx = Context {
            hostname: Some("thinkpad".into()),
            is_root: false,
            who: "olaf@thinkpad".into(),
            ask_sudo_password: false,
            run: RunSettings::of(&inventory()),
        };
        plan::deploy(
            &inv,
            &ctx,
            &DeployRequest {
                action,
                only_changed: true,
                ..DeployRequest::new(
                    CommandKind::QuickDeploy,
                    inv.host("samsung").into_iter().collect(),
                )
            },
        )
        .expect("plan")
    };
    for (action, outcome) in [
        (Action::Switch, Outcome::Deployed),
        (Action::Boot, Outcome::Deployed),
        (Action::Test, Outcome::Unchanged),
    ] {
        let fake = Fake::new(tested());
        let executed = run(&quick(action), &fake, &Interrupts::default(), false);
        assert_eq!(host(&executed, "samsung").outcome, outcome, "{action}");
        let set = fake.calls_with("--set /nix/store/new-samsung").len();
        assert_eq!(set, usize::from(outcome == Outcome::Deployed), "{action}");
    }
}

/// A switch that exits 4 (switched, units failed): kept when the confirmation and health
/// checks pass, reported as such; rolled back when the host's settings say so.
#[test]
fn a_switch_with_failed_units_is_kept_or_rolled_back_as_the_host_says() {
    let units_failed = |call: &str| {
        if call.contains("/exit") && call.contains("fleet-await") {
            Some(Reply::Print("4".into()))
        } else if call.contains("cat /run/fleet/") {
            Some(Reply::Print(
                "warning: the following units failed: user@1000.service".into(),
            ))
        } else if call.contains("/rollback-exit") {
            Some(Reply::Print("0".into()))
        } else {
            None
        }
    };
    let plan = deploy_plan(CommandKind::Deploy, &["p510"], true, 1);
    let fake = Fake::new(units_failed);
    let executed = run(&plan, &fake, &Interrupts::default(), false);
    let p510 = host(&executed, "p510");
    assert_eq!(p510.outcome, Outcome::UnitsFailed, "{p510:?}");
    let failure = p510.failure.as_ref().expect("the units, reported");
    assert_eq!(
        failure.message,
        "p510 switched to the new system, but these units failed: user@1000.service"
    );
    assert_eq!(failure.exit_code, Some(4));
    assert!(!executed.report.success());
    assert_eq!(fake.calls_with("systemctl is-system-running").len(), 1);
    assert_eq!(fake.calls_with("(new login)").len(), 1, "confirmed");
    assert!(
        fake.calls_with("$ touch /run/fleet/").is_empty(),
        "rolled back"
    );

    let mut plan = deploy_plan(CommandKind::Deploy, &["p510"], true, 1);
    plan.hosts[0].on_failed_units = crate::vocab::FailedUnits::Rollback;
    let fake = Fake::new(units_failed);
    let executed = run(&plan, &fake, &Interrupts::default(), false);
    assert_eq!(host(&executed, "p510").outcome, Outcome::RolledBack);
    assert!(fake.calls_with("(new login)").is_empty(), "confirmed");
}

#[test]
fn pre_activation_commands_run_as_root_before_anything_changes() {
    let mut inv = inventory();
    if let Some(h) = inv.hosts.iter_mut().find(|h| h.name == "samsung") {
        h.pre_activate = vec![vec![
            "loginctl".into(),
            "terminate-user".into(),
            "olaf".into(),
        ]];
    }
    let ctx = Context {
        hostname: Some("thinkpad".into()),
        is_root: false,
        who: "olaf@thinkpad".into(),
        ask_sudo_password: false,
        run: RunSettings::of(&inventory()),
    };
    let plan = deploy_samsung(&inv, &ctx);
    let fake = Fake::new(|_| None);
    run(&plan, &fake, &Interrupts::default(), false);
    let calls = fake.calls_with("samsung$");
    let first_change = calls
        .iter()
        .position(|c| c.contains("fleet-watchdog") || c.contains("--set"))
        .expect("a change");
    let cleared = calls
        .iter()
        .position(|c| c == "samsung$ sudo -n -- loginctl terminate-user olaf")
        .expect("the command, as root");
    assert!(cleared < first_change, "{calls:#?}");

    let fake = Fake::new(|call| call.contains("loginctl").then_some(Reply::Exit(1)));
    let executed = run(&plan, &fake, &Interrupts::default(), false);
    let samsung = host(&executed, "samsung");
    assert_eq!(samsung.outcome, Outcome::Failed);
    assert!(fake.calls_with("fleet-watchdog").is_empty());
    assert!(fake.calls_with("--set").is_empty());
}

#[test]
fn the_gate_skips_an_unreachable_host_and_deploys_the_rest() {
    let plan = deploy_plan(CommandKind::QuickAll, &["samsung", "razer"], false, 4);
    let fake = Fake::new(|call| call.starts_with("razer$").then_some(Reply::Unreachable));
    let executed = run(&plan, &fake, &Interrupts::default(), true);
    assert_eq!(host(&executed, "samsung").outcome, Outcome::Deployed);
    let razer = host(&executed, "razer");
    assert_eq!(razer.outcome, Outcome::Skipped);
    assert!(razer.failure.is_none());
    assert_eq!(
        razer.notes,
        ["skipped: razer is unreachable: razer.lan: timed out"]
    );
    assert!(
        !executed.report.success(),
        "a skipped host is not a success"
    );
}

/// `status` shows every host even when the flake does not evaluate, and a host that hangs is
/// reported within the bound rather than holding the others up.
#[test]
fn status_answers_without_the_evaluation_and_bounds_each_host() {
    let inv = inventory();
    let ctx = Context {
        hostname: Some("thinkpad".into()),
        is_root: false,
        who: "olaf@thinkpad".into(),
        ask_sudo_password: false,
        run: RunSettings::of(&inventory()),
    };
    let hosts: Vec<&crate::inventory::Host> = ["samsung", "razer"]
        .iter()
        .filter_map(|h| inv.host(h))
        .collect();
    let plan = plan::status(&inv, &ctx, &hosts);
    let fake = Fake::new(|call| {
        if call.contains(" eval --json ") {
            Some(Reply::Exit(1))
        } else if call.starts_with("razer$ df") {
            Some(Reply::Pending)
        } else {
            None
        }
    });
    let logs = tempfile::tempdir().expect("temp dir");
    let opts = Options {
        yes: false,
        log_root: logs.path().to_path_buf(),
        verbose: 0,
        print_build_logs: false,
        answer_within: Some(std::time::Duration::from_secs(1)),
        before_change: None,
        sudo_password: None,
        quiet_limit: None,
        keep_connections: 0,
        eval_jobs: 2,
        eval_max_memory: None,
        eval_cache: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let asked = runtime
        .block_on(super::ask::ask_with(&plan, &fake, &opts, &Silent))
        .expect("asked, without the evaluation");
    // Each host's evaluation failed on its own.
    assert_eq!(asked.missed.len(), 2, "{:?}", asked.missed);
    let samsung = &asked.hosts[0];
    assert!(samsung.unreachable.is_none());
    assert!(samsung.ok(&crate::plan::Probe::Running).is_some());
    assert_eq!(
        asked.hosts[1].unreachable.as_deref(),
        Some("did not answer within 1 s")
    );
    assert!(fake.calls_with("du ").is_empty(), "the store was walked");
}

/// The position of the first call that satisfies `what`.
fn first(calls: &[String], what: impl Fn(&str) -> bool) -> usize {
    calls
        .iter()
        .position(|c| what(c))
        .unwrap_or_else(|| panic!("no such call in {calls:#?}"))
}

#[test]
fn a_builder_changes_only_after_the_hosts_it_serves_have_their_systems() {
    // p620 first and one host at a time: the order most likely to switch p620 too early.
    let plan = deploy_plan(
        CommandKind::DeployAllParallel,
        &["p620", "samsung", "p510"],
        true,
        1,
    );
    let fake = Fake::new(|_| None);
    let executed = run(&plan, &fake, &Interrupts::default(), false);
    for h in ["p620", "samsung", "p510"] {
        assert_eq!(host(&executed, h).outcome, Outcome::Deployed, "{h}");
    }
    let calls = fake.calls();
    let p620_changes = first(&calls, |c| {
        c.starts_with("p620$") && (c.contains("fleet-watchdog") || c.contains("--set"))
    });
    for target in ["samsung", "p510"] {
        let fetched = first(&calls, |c| {
            c.starts_with(&format!("{target}$"))
                && c.contains(" copy ")
                && c.contains("--from http://")
        });
        assert!(fetched < p620_changes, "{target}: {calls:#?}");
    }
}

#[test]
fn the_machine_fleet_runs_on_activates_last() {
    let inv = inventory();
    let ctx = Context {
        hostname: Some("p620".into()),
        is_root: true,
        who: "olaf@thinkpad".into(),
        ask_sudo_password: false,
        run: RunSettings::of(&inventory()),
    };
    let plan = plan::deploy(
        &inv,
        &ctx,
        &DeployRequest {
            max_parallel: Some(2),
            confirm_timeout: Some(30),
            ..DeployRequest::new(
                CommandKind::DeployAllParallel,
                ["p620", "razer"]
                    .iter()
                    .filter_map(|h| inv.host(h))
                    .collect(),
            )
        },
    )
    .expect("plan");
    let fake = Fake::new(|_| None);
    run(&plan, &fake, &Interrupts::default(), false);
    let calls = fake.calls();
    let here_switches = first(&calls, |c| {
        c.starts_with("here$") && c.contains("fleet-here") && c.contains(" switch ")
    });
    let razer_confirmed = first(&calls, |c| c.starts_with("razer$ (new login)"));
    assert!(razer_confirmed < here_switches, "{calls:#?}");
}

/// A full store is final: no fallback can put the closure there, so none is tried, and the
/// hint is to free space with `fleet gc`, not to check keys.
#[test]
fn a_full_store_tries_no_fallback_and_points_at_gc() {
    let plan = deploy_plan(CommandKind::Deploy, &["samsung"], false, 1);
    let full = Fake::new(|call| {
        (call.starts_with("samsung$") && call.contains(" copy ")).then_some(Reply::Full)
    });
    let executed = run(&plan, &full, &Interrupts::default(), false);
    let samsung = host(&executed, "samsung");
    assert_eq!(samsung.outcome, Outcome::Failed);
    let f = samsung.failure.as_ref().expect("a failure");
    assert_eq!(
        f.message,
        "the Nix store on samsung is full (No space left on device)"
    );
    assert!(f.next.contains("`fleet gc samsung`"), "{f:?}");
    let copies = full
        .calls_with(" copy ")
        .into_iter()
        .filter(|c| !c.contains("--derivation"))
        .count();
    assert_eq!(copies, 1, "a fallback was tried: {:#?}", full.calls());
}

/// When every way fails, the report says why each did.
#[test]
fn when_every_way_fails_each_says_why() {
    let plan = deploy_plan(CommandKind::Deploy, &["samsung"], false, 1);
    let fake = Fake::new(|call| {
        (call.contains(" copy ") && !call.contains("--derivation")).then_some(Reply::Exit(1))
    });
    let executed = run(&plan, &fake, &Interrupts::default(), false);
    let f = host(&executed, "samsung")
        .failure
        .clone()
        .expect("a failure");
    assert!(
        f.message.starts_with("exited with code 1 (tried first: samsung fetches the system from cache p620: exited with code 1; "),
        "{}",
        f.message
    );
    assert!(
        f.message
            .contains("p620 copies it to samsung: exited with code 1)"),
        "{}",
        f.message
    );
}

/// samsung builds on p620, else p510, else itself.
fn chain_plan() -> Plan {
    let inv = Inventory::parse(
        "[hosts.p620]\nbuilder = true\n[hosts.p510]\nbuilder = true\n\
         [hosts.samsung]\nvia = [\"p620\", \"p510\"]\nfallback = \"target\"\n",
        Path::new("/tmp/fleet-test/hosts.toml"),
    )
    .expect("inventory");
    let ctx = Context {
        hostname: Some("thinkpad".into()),
        is_root: true,
        who: "root@thinkpad".into(),
        ask_sudo_password: false,
        run: RunSettings::of(&inventory()),
    };
    deploy_samsung(&inv, &ctx)
}

/// `fleet deploy samsung` with magic rollback (30 s), as `ctx` runs it.
fn deploy_samsung(inv: &Inventory, ctx: &Context) -> Plan {
    let request = DeployRequest {
        confirm_timeout: Some(30),
        ..DeployRequest::new(
            CommandKind::Deploy,
            inv.host("samsung").into_iter().collect(),
        )
    };
    plan::deploy(inv, ctx, &request).expect("plan")
}

#[test]
fn a_via_list_builds_on_the_first_builder_that_answers() {
    let plan = chain_plan();
    let fake = Fake::new(|call| call.starts_with("p620$").then_some(Reply::Unreachable));
    let executed = run(&plan, &fake, &Interrupts::default(), false);
    let samsung = host(&executed, "samsung");
    assert_eq!(samsung.outcome, Outcome::Deployed, "{samsung:#?}");
    assert_eq!(samsung.built_on, "p510");
    assert!(
        samsung
            .notes
            .iter()
            .any(|n| n == "p620 is down: built on p510 instead"),
        "{:?}",
        samsung.notes
    );
    assert_eq!(fake.calls_with("p510$ nix-store --realise").len(), 1);
    assert!(
        fake.calls_with("p510$ nix --extra-experimental-features nix-command flakes copy")
            .iter()
            .any(|c| c.contains("--to ssh-ng://samsung.lan")),
        "p510 pushes what it built: {:#?}",
        fake.calls()
    );
    assert!(fake.calls_with("samsung$ nix-store --realise").is_empty());

    // Every builder down: the host's fallback, after each was tried once.
    let fake = Fake::new(|call| {
        (call.starts_with("p620$") || call.starts_with("p510$")).then_some(Reply::Unreachable)
    });
    let executed = run(&plan, &fake, &Interrupts::default(), false);
    let samsung = host(&executed, "samsung");
    assert_eq!(samsung.outcome, Outcome::Deployed, "{samsung:#?}");
    assert_eq!(samsung.built_on, "samsung");
    assert_eq!(
        samsung.notes,
        [
            "p620 is down: built on p510 instead",
            "p510 is down: built on samsung instead"
        ]
    );
    assert_eq!(fake.calls_with("$ nix-store --realise").len(), 3);
}
