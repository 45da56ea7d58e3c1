//! Planning, for every command and strategy: where each host builds, how its system travels,
//! how it is activated, and that evaluation happens once.

use std::path::Path;

use super::health::gc_collect;
use super::*;
use crate::inventory::Inventory;
use crate::plan::settings::RunSettings;
use crate::ui::plan::brief;
use crate::ui::show_argv;
use crate::vocab::{NixVersion, Sudo};

fn inv() -> Inventory {
    Inventory::parse(
        include_str!("../../hosts.toml"),
        Path::new("/home/olaf/nixos/hosts.toml"),
    )
    .expect("example inventory")
}

/// Running on a laptop that is not in the inventory, as a normal user.
fn laptop() -> Context {
    Context {
        hostname: Some("thinkpad".into()),
        is_root: false,
        who: "olaf@thinkpad".into(),
        ask_sudo_password: false,
        run: RunSettings::of(&inv()),
    }
}

fn on(host: &str, is_root: bool) -> Context {
    Context {
        hostname: Some(host.into()),
        is_root,
        who: "olaf@thinkpad".into(),
        ask_sudo_password: false,
        run: RunSettings::of(&inv()),
    }
}

fn deploy_req<'a>(
    inv: &'a Inventory,
    hosts: &[&str],
    via: Option<&'a str>,
    action: Action,
) -> DeployRequest<'a> {
    let hosts = hosts.iter().map(|h| inv.host(h).expect("host")).collect();
    DeployRequest {
        via,
        action,
        ..DeployRequest::new(CommandKind::Deploy, hosts)
    }
}

fn plan_deploy(ctx: &Context, hosts: &[&str], via: Option<&str>, action: Action) -> Plan {
    let inv = inv();
    deploy(&inv, ctx, &deploy_req(&inv, hosts, via, action)).expect("plan")
}

/// Each step of a host as `kind on: argv`, fallbacks indented.
fn lines(plan: &Plan, host: &str) -> Vec<String> {
    let h = plan
        .hosts
        .iter()
        .find(|h| h.host == host)
        .expect("host in plan");
    let mut out = Vec::new();
    for s in h.build.iter().chain(&h.deploy) {
        out.push(format!("{}$ {}", s.run.on, brief(&s.run.full_argv())));
        for f in &s.fallbacks {
            out.push(format!(
                "  else {}$ {}",
                f.run.on,
                brief(&f.run.full_argv())
            ));
        }
    }
    out
}

const NIX: &str = "nix --extra-experimental-features 'nix-command flakes'";

#[test]
fn deploy_via_builder_fetches_from_the_builders_cache() {
    let plan = plan_deploy(&laptop(), &["samsung"], None, Action::Switch);
    assert_eq!(
        lines(&plan, "samsung"),
        [
            format!("here$ {NIX} copy --derivation --to ssh-ng://{{p620}} {{samsung.drv}}"),
            "p620$ nix-store --realise --log-format internal-json --add-root .local/state/fleet/gcroots/samsung --indirect {samsung.drv}".into(),
            format!("samsung$ {NIX} copy --log-format internal-json --option narinfo-cache-negative-ttl 0 --from http://p620.lan:5000 {{samsung.out}}"),
            format!("  else p620$ {NIX} copy --log-format internal-json --no-check-sigs --substitute-on-destination --to ssh-ng://{{samsung}} {{samsung.out}}"),
            format!("  else here$ {NIX} copy --log-format internal-json --no-check-sigs --substitute-on-destination --from ssh-ng://{{p620}} --to ssh-ng://{{samsung}} {{samsung.out}}"),
            "samsung$ sudo -n -- sh -c <script> fleet-lock /run/fleet/lock take /run/fleet/{run}-samsung olaf@thinkpad 30".into(),
            "samsung$ sudo -n -- nix-env -p /nix/var/nix/profiles/system --set {samsung.out}".into(),
            "samsung$ sudo -n -- sh -c <script> fleet-activate /run/fleet/{run}-samsung {samsung.out} switch boot-if-inhibited".into(),
        ]
    );
    let h = &plan.hosts[0];
    assert_eq!(
        (h.build_on.clone(), h.target.clone()),
        (
            Machine::Host("p620".into()),
            Machine::Host("samsung".into())
        )
    );
    insta::assert_json_snapshot!("deploy_samsung_via_p620", plan);
}

#[test]
fn no_builder_builds_on_the_target() {
    let plan = plan_deploy(&laptop(), &["razer"], None, Action::Switch);
    assert_eq!(
        lines(&plan, "razer"),
        [
            format!("here$ {NIX} copy --derivation --to ssh-ng://{{razer}} {{razer.drv}}"),
            "razer$ nix-store --realise --log-format internal-json --add-root .local/state/fleet/gcroots/razer --indirect {razer.drv}".into(),
            "razer$ sudo -n -- sh -c <script> fleet-lock /run/fleet/lock take /run/fleet/{run}-razer olaf@thinkpad 30".into(),
            "razer$ sudo -n -- nix-env -p /nix/var/nix/profiles/system --set {razer.out}".into(),
            "razer$ sudo -n -- sh -c <script> fleet-activate /run/fleet/{run}-razer {razer.out} switch boot-if-inhibited".into(),
        ]
    );
}

#[test]
fn via_on_the_command_line_overrides_the_host() {
    let plan = plan_deploy(&laptop(), &["razer"], Some("p620"), Action::Switch);
    assert_eq!(plan.hosts[0].build_on, Machine::Host("p620".into()));
    assert_eq!(
        lines(&plan, "razer")[1],
        "p620$ nix-store --realise --log-format internal-json --add-root .local/state/fleet/gcroots/razer --indirect {razer.drv}"
    );
}

#[test]
fn root_targets_need_no_sudo_and_a_builder_builds_for_itself() {
    let plan = plan_deploy(&laptop(), &["p620"], None, Action::Switch);
    assert_eq!(
        lines(&plan, "p620"),
        [
            format!("here$ {NIX} copy --derivation --to ssh-ng://{{p620}} {{p620.drv}}"),
            "p620$ nix-store --realise --log-format internal-json --add-root .local/state/fleet/gcroots/p620 --indirect {p620.drv}".into(),
            "p620$ sh -c <script> fleet-lock /run/fleet/lock take /run/fleet/{run}-p620 olaf@thinkpad 30".into(),
            "p620$ nix-env -p /nix/var/nix/profiles/system --set {p620.out}".into(),
            "p620$ sh -c <script> fleet-activate /run/fleet/{run}-p620 {p620.out} switch boot-if-inhibited".into(),
        ]
    );
    // `--via p620` for p620 itself is the same thing.
    assert_eq!(
        plan_deploy(&laptop(), &["p620"], Some("p620"), Action::Switch).hosts,
        plan.hosts
    );
}

#[test]
fn this_machine_is_deployed_without_ssh() {
    for (is_root, sudo) in [(true, ""), (false, "sudo -- ")] {
        let plan = plan_deploy(&on("p620", is_root), &["p620"], None, Action::Switch);
        assert_eq!(
            lines(&plan, "p620"),
            [
                "here$ nix-store --realise --log-format internal-json {p620.drv}".to_string(),
                format!("here$ {sudo}nix-env -p /nix/var/nix/profiles/system --set {{p620.out}}"),
                format!(
                    "here$ {sudo}sh -c <script> fleet-here {{p620.out}} switch boot-if-inhibited"
                ),
            ]
        );
    }
}

#[test]
fn local_flag_marks_this_machine_too() {
    let text = include_str!("../../hosts.toml")
        .replace("builder = true\n", "builder = true\nlocal = true\n");
    let inv = Inventory::parse(&text, Path::new("/x/hosts.toml")).expect("valid");
    let plan = deploy(
        &inv,
        &laptop(),
        &deploy_req(&inv, &["p620"], None, Action::Switch),
    )
    .expect("plan");
    assert_eq!(plan.hosts[0].target, Machine::Local);
}

#[test]
fn a_local_builder_builds_here_and_pushes() {
    let plan = plan_deploy(&on("p620", true), &["samsung"], None, Action::Switch);
    assert_eq!(
        lines(&plan, "samsung"),
        [
            "here$ nix-store --realise --log-format internal-json {samsung.drv}".to_string(),
            format!("here$ {NIX} copy --log-format internal-json --no-check-sigs --substitute-on-destination --to ssh-ng://{{samsung}} {{samsung.out}}"),
            "samsung$ sudo -n -- sh -c <script> fleet-lock /run/fleet/lock take /run/fleet/{run}-samsung olaf@thinkpad 30".into(),
            "samsung$ sudo -n -- nix-env -p /nix/var/nix/profiles/system --set {samsung.out}".into(),
            "samsung$ sudo -n -- sh -c <script> fleet-activate /run/fleet/{run}-samsung {samsung.out} switch boot-if-inhibited".into(),
        ]
    );
}

#[test]
fn a_local_target_fetches_from_the_builders_cache() {
    let plan = plan_deploy(&on("samsung", false), &["samsung"], None, Action::Switch);
    assert_eq!(
        lines(&plan, "samsung"),
        [
            format!("here$ {NIX} copy --derivation --to ssh-ng://{{p620}} {{samsung.drv}}"),
            "p620$ nix-store --realise --log-format internal-json --add-root .local/state/fleet/gcroots/samsung --indirect {samsung.drv}".into(),
            format!("here$ {NIX} copy --log-format internal-json --option narinfo-cache-negative-ttl 0 --from http://p620.lan:5000 {{samsung.out}}"),
            format!("  else here$ {NIX} copy --log-format internal-json --no-check-sigs --from ssh-ng://{{p620}} {{samsung.out}}"),
            "here$ sudo -- nix-env -p /nix/var/nix/profiles/system --set {samsung.out}".into(),
            "here$ sudo -- sh -c <script> fleet-here {samsung.out} switch boot-if-inhibited".into(),
        ]
    );
}

#[test]
fn without_a_builder_cache_the_builder_pushes_then_this_machine_relays() {
    let text = include_str!("../../hosts.toml").replace("[caches.p620]", "[caches.elsewhere]");
    let inv = Inventory::parse(&text, Path::new("/x/hosts.toml")).expect("valid");
    let plan = deploy(
        &inv,
        &laptop(),
        &deploy_req(&inv, &["samsung"], None, Action::Switch),
    )
    .expect("plan");
    let l = lines(&plan, "samsung");
    assert_eq!(l[2], format!("p620$ {NIX} copy --log-format internal-json --no-check-sigs --substitute-on-destination --to ssh-ng://{{samsung}} {{samsung.out}}"));
    assert!(l[3].starts_with("  else here$"), "{l:?}");
}

#[test]
fn a_host_that_does_not_use_the_builders_cache_is_pushed_to() {
    let text =
        include_str!("../../hosts.toml").replace("attribute = \"samsung\"", "caches = [\"nixos\"]");
    let inv = Inventory::parse(&text, Path::new("/x/hosts.toml")).expect("valid");
    let plan = deploy(
        &inv,
        &laptop(),
        &deploy_req(&inv, &["samsung"], None, Action::Switch),
    )
    .expect("plan");
    assert!(
        lines(&plan, "samsung")[2].starts_with("p620$"),
        "{:?}",
        lines(&plan, "samsung")
    );
}

#[test]
fn actions_set_the_profile_only_for_switch_and_boot() {
    for (action, sets) in [
        (Action::Switch, true),
        (Action::Boot, true),
        (Action::Test, false),
        (Action::DryActivate, false),
    ] {
        let plan = plan_deploy(&laptop(), &["razer"], None, action);
        let deploy = &plan.hosts[0].deploy;
        assert_eq!(
            deploy.iter().any(|s| s.kind == StepKind::SetProfile),
            sets,
            "{action}"
        );
        let last = deploy.last().expect("activation");
        assert_eq!(last.kind, StepKind::Activate(action));
        assert_eq!(
            last.run.argv.iter().rev().nth(1),
            Some(&Arg::from(action.as_str()))
        );
    }
}

#[test]
fn each_host_is_evaluated_on_its_own() {
    let inv = inv();
    let all: Vec<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
    let plan = plan_deploy(&laptop(), &all, None, Action::Switch);
    let evals: Vec<&Step> = plan
        .steps()
        .map(|(_, s)| s)
        .filter(|s| matches!(s.kind, StepKind::Evaluate(_)))
        .collect();
    assert_eq!(evals.len(), all.len());
    for (h, eval) in all.iter().zip(&evals) {
        assert_eq!(eval.kind, StepKind::Evaluate(h.to_string()));
        let apply = show_argv(&eval.run.argv);
        assert!(
            apply.contains(&format!(
                "if c ? \"{h}\" then (let t = c.\"{h}\".config.system.build.toplevel;"
            )),
            "{apply}"
        );
    }
    let apply = show_argv(&evals[0].run.argv);
    assert!(
        apply.contains("eval --json /home/olaf/nixos#nixosConfigurations --apply")
            || apply.contains("'/home/olaf/nixos#nixosConfigurations'"),
        "{apply}"
    );
}

#[test]
fn the_attribute_is_evaluated_under_the_host_name() {
    let text = include_str!("../../hosts.toml")
        .replace("attribute = \"samsung\"", "attribute = \"galaxy-book\"");
    let inv = Inventory::parse(&text, Path::new("/x/hosts.toml")).expect("valid");
    let plan = deploy(
        &inv,
        &laptop(),
        &deploy_req(&inv, &["samsung"], None, Action::Switch),
    )
    .expect("plan");
    let eval = show_argv(&plan.prepare[1].run.argv);
    assert!(
        eval.contains("if c ? \"galaxy-book\" then (let t = c.\"galaxy-book\".config"),
        "{eval}"
    );
}

#[test]
fn quick_deploy_compares_first_and_quick_all_waits_for_every_build() {
    let inv = inv();
    let mut req = deploy_req(&inv, &["samsung", "razer"], None, Action::Switch);
    req.only_changed = true;
    let plan = deploy(&inv, &laptop(), &req).expect("plan");
    assert!(plan.only_changed);
    for h in &plan.hosts {
        let [read] = h.inspect.as_slice() else {
            panic!("one read: {:#?}", h.inspect);
        };
        assert_eq!(read.kind, StepKind::ReadState);
        assert_eq!(read.run.on, Machine::Host(h.host.clone()));
        assert!(read.run.instant);
        let argv = show_argv(&read.run.argv);
        assert!(
            argv.ends_with(
                "fleet-state /run/current-system /nix/var/nix/profiles/system /run/booted-system"
            ),
            "{argv}"
        );
    }
    req.gate = Gate::AllBuiltThenConfirm;
    req.max_parallel = Some(2);
    let plan = deploy(&inv, &laptop(), &req).expect("plan");
    assert_eq!(
        (plan.gate, plan.max_parallel),
        (Gate::AllBuiltThenConfirm, 2)
    );
    assert_eq!(
        plan_deploy(&laptop(), &["razer"], None, Action::Switch).max_parallel,
        4,
        "inventory default"
    );
}

#[test]
fn build_only_activates_nothing() {
    let inv = inv();
    let req = |via| BuildRequest {
        command: CommandKind::Build,
        hosts: vec![
            inv.host("razer").expect("razer"),
            inv.host("samsung").expect("samsung"),
        ],
        via,
        max_parallel: None,
        fallback: None,
        out_link: None,
    };
    let plan = build(&inv, &laptop(), &req(Some("p620"))).expect("plan");
    assert!(plan
        .hosts
        .iter()
        .all(|h| h.deploy.is_empty() && h.inspect.is_empty()));
    assert_eq!(
        lines(&plan, "razer")[1],
        "p620$ nix-store --realise --log-format internal-json --add-root .local/state/fleet/gcroots/razer --indirect {razer.drv}"
    );
    assert_eq!(plan.action, None);
    // Without --on: where deploy would build.
    let plan = build(&inv, &laptop(), &req(None)).expect("plan");
    assert_eq!(
        lines(&plan, "razer")[1],
        "razer$ nix-store --realise --log-format internal-json --add-root .local/state/fleet/gcroots/razer --indirect {razer.drv}"
    );
    assert_eq!(
        lines(&plan, "samsung")[1],
        "p620$ nix-store --realise --log-format internal-json --add-root .local/state/fleet/gcroots/samsung --indirect {samsung.drv}"
    );
}

#[test]
fn builders_on_the_command_line_are_checked() {
    let inv = inv();
    let e = deploy(
        &inv,
        &laptop(),
        &deploy_req(&inv, &["razer"], Some("p510"), Action::Switch),
    )
    .expect_err("p510 is no builder");
    let msg = e.to_string();
    assert!(msg.contains("--via p510: `p510` is not a builder"), "{msg}");
    assert!(
        msg.contains("add `builder = true` to [hosts.p510]") && msg.contains("pick one of: p620"),
        "{msg}"
    );
    assert_eq!(e.exit_code(), 2);
    let e = deploy(
        &inv,
        &laptop(),
        &deploy_req(&inv, &["razer"], Some("p6200"), Action::Switch),
    )
    .expect_err("unknown");
    assert!(e.to_string().contains("did you mean `p620`?"), "{e}");
    let req = BuildRequest {
        command: CommandKind::Build,
        hosts: vec![],
        via: Some("razer"),
        max_parallel: None,
        fallback: None,
        out_link: None,
    };
    // `--via` has one meaning for every command (`--on` is its alias).
    assert!(build(&inv, &laptop(), &req)
        .expect_err("no builder")
        .to_string()
        .contains("--via razer"));
}

/// `eval_on = "p620"`: the flake goes to p620, p620 is asked what it can do, and each host is
/// evaluated there, with this machine as the fallback; a host built on p620 gets no copy of
/// its derivations (the executor skips it), one built elsewhere gets them from p620. With
/// `--impure`, or fleet running on p620, the evaluation is here.
#[test]
fn eval_on_evaluates_on_the_builder() {
    let inv = inv();
    let mut ctx = laptop();
    ctx.run.eval_on = Some("p620".into());
    let req = deploy_req(&inv, &["samsung", "razer"], None, Action::Switch);
    let plan = deploy(&inv, &ctx, &req).expect("plan");
    let kinds: Vec<&StepKind> = plan.prepare.iter().map(|s| &s.kind).collect();
    assert_eq!(
        kinds[..3],
        [
            &StepKind::ReadFlakeHash,
            &StepKind::ArchiveFlake,
            &StepKind::ReadEvaluator
        ]
    );
    assert_eq!(
        brief(&plan.prepare[1].run.argv),
        format!("{NIX} flake archive --json --to ssh-ng://{{p620}} /home/olaf/nixos")
    );
    assert_eq!(plan.prepare[2].run.on, Machine::Host("p620".into()));
    for s in &plan.prepare[3..] {
        assert!(matches!(s.kind, StepKind::Evaluate(_)));
        assert_eq!(s.run.on, Machine::Host("p620".into()));
        assert!(
            brief(&s.run.argv).contains("eval --json path:{archived-flake}#nixosConfigurations")
        );
        assert_eq!(s.fallbacks.len(), 1);
        assert_eq!(s.fallbacks[0].run.on, Machine::Local);
        assert!(brief(&s.fallbacks[0].run.argv).contains("/home/olaf/nixos#nixosConfigurations"));
    }
    let razer = lines(&plan, "razer");
    assert!(
        razer.iter().any(|l| l.starts_with(&format!(
            "here$ {NIX} copy --derivation --from {{where-razer-was-evaluated}} --to ssh-ng://{{razer}}"
        ))),
        "{razer:#?}"
    );
    // Impure, or run on p620 itself: evaluated here, as before.
    let mut impure = ctx.clone();
    impure.run.nix.impure = true;
    let mut on_p620 = on("p620", true);
    on_p620.run.eval_on = Some("p620".into());
    for ctx in [impure, on_p620] {
        let plan = deploy(
            &inv,
            &ctx,
            &deploy_req(&inv, &["samsung"], None, Action::Switch),
        )
        .expect("plan");
        assert!(plan
            .prepare
            .iter()
            .all(|s| s.run.on == Machine::Local && s.fallbacks.is_empty()));
        assert!(!lines(&plan, "samsung")
            .iter()
            .any(|l| l.contains("--from {where-")));
    }
}

#[test]
fn validate_and_update_flake() {
    let inv = inv();
    let hosts: Vec<&crate::inventory::Host> = inv.hosts.iter().collect();
    let plan = validate(&inv, &laptop(), &hosts, false);
    // The flake's hash (the evaluation cache's key), then an evaluation, and a row, for
    // each host.
    assert_eq!(plan.prepare[0].kind, StepKind::ReadFlakeHash);
    assert_eq!(plan.prepare.len(), hosts.len() + 1);
    assert_eq!(plan.hosts.len(), hosts.len());
    assert!(plan
        .hosts
        .iter()
        .all(|h| h.build.is_empty() && h.deploy.is_empty()));
    let plan = validate(&inv, &laptop(), &hosts, true);
    assert_eq!(
        show_argv(&plan.prepare[hosts.len() + 1].run.argv),
        format!("{NIX} flake check /home/olaf/nixos")
    );

    // Nix before 2.19 (and Lix, which is like 2.18): the flake is the positional argument;
    // inputs go to `flake lock`.
    let two = ["nixpkgs".to_string(), "home-manager".to_string()];
    for old in ["nix (Nix) 2.8.0", "nix (Lix, like Nix) 2.93.0"] {
        let old = NixVersion::parse(old).expect("version");
        let plan = update_flake(&laptop(), &[], old).expect("plan");
        assert_eq!(
            show_argv(&plan.prepare[0].run.argv),
            format!("{NIX} flake update /home/olaf/nixos")
        );
        let plan = update_flake(&laptop(), &two, old).expect("plan");
        assert_eq!(
            show_argv(&plan.prepare[0].run.argv),
            format!(
                "{NIX} flake lock /home/olaf/nixos --update-input nixpkgs --update-input home-manager"
            )
        );
    }
    let old = NixVersion::OLDEST;
    // From 2.19: input names are the positional arguments, the flake is --flake.
    for new in ["nix (Nix) 2.26.3", "nix (Nix) 2.34.8"] {
        let new = NixVersion::parse(new).expect("version");
        let plan = update_flake(&laptop(), &[], new).expect("plan");
        assert_eq!(
            show_argv(&plan.prepare[0].run.argv),
            format!("{NIX} flake update --flake /home/olaf/nixos")
        );
        let plan = update_flake(&laptop(), &two, new).expect("plan");
        assert_eq!(
            show_argv(&plan.prepare[0].run.argv),
            format!("{NIX} flake update nixpkgs home-manager --flake /home/olaf/nixos")
        );
    }
    let e = update_flake(&laptop(), &["--override-input".into()], old).expect_err("hostile");
    assert!(e.to_string().contains("is not a flake input name"), "{e}");
    let mut remote = laptop();
    remote.run.flake = "github:olaf/nixos".into();
    let e = update_flake(&remote, &[], old).expect_err("remote");
    assert!(e.to_string().contains("it is not a local flake"), "{e}");
}

#[test]
fn diff_copies_like_deploy_then_compares_on_the_target_without_activating() {
    let inv = inv();
    let plan = deploy(
        &inv,
        &laptop(),
        &DeployRequest::diff(vec![inv.host("samsung").expect("samsung")], None),
    )
    .expect("plan");
    assert!(plan.only_changed && plan.action.is_none());
    let l = lines(&plan, "samsung");
    assert_eq!(l[1], "p620$ nix-store --realise --log-format internal-json --add-root .local/state/fleet/gcroots/samsung --indirect {samsung.drv}");
    assert!(
        l[2].starts_with("samsung$ ")
            && l[2].contains(
                "copy --log-format internal-json --option narinfo-cache-negative-ttl 0 --from"
            ),
        "{l:?}"
    );
    assert_eq!(
        l.last().map(String::as_str),
        Some(
            format!("samsung$ {NIX} store diff-closures /run/current-system {{samsung.out}}")
                .as_str()
        )
    );
    assert!(plan.hosts[0].deploy.iter().all(|s| !s.kind.is_activation()));
}

#[test]
fn cache_push_runs_where_the_closure_is() {
    let inv = inv();
    let samsung = inv.host("samsung").expect("samsung");
    let plan = cache_push(
        &inv,
        &laptop(),
        vec![samsung],
        &PushTo::Store("file:///srv/cache".into()),
    )
    .expect("plan");
    // A `file://` store is a directory here: the closure comes from p620's store to it.
    let l = lines(&plan, "samsung");
    assert_eq!(
        l.last().map(String::as_str),
        Some(format!("here$ {NIX} copy --log-format internal-json --no-check-sigs --substitute-on-destination --from ssh-ng://{{p620}} --to file:///srv/cache {{samsung.out}}").as_str())
    );
    let push = plan.hosts[0].deploy.last().expect("push");
    assert!(push.title.contains("from p620"), "{}", push.title);
    // Any other store is pushed to from where the closure is.
    let plan = cache_push(
        &inv,
        &laptop(),
        vec![samsung],
        &PushTo::Store("s3://bucket".into()),
    )
    .expect("plan");
    let l = lines(&plan, "samsung");
    assert_eq!(
        l.last().map(String::as_str),
        Some(
            format!("p620$ {NIX} copy --log-format internal-json --to s3://bucket {{samsung.out}}")
                .as_str()
        )
    );
    let plan = cache_push(
        &inv,
        &laptop(),
        vec![samsung],
        &PushTo::Cachix("olaf".into()),
    )
    .expect("plan");
    let l = lines(&plan, "samsung");
    assert_eq!(
        l[l.len() - 2],
        format!("here$ {NIX} copy --log-format internal-json --no-check-sigs --from ssh-ng://{{p620}} {{samsung.out}}")
    );
    assert_eq!(l[l.len() - 1], "here$ cachix push olaf {samsung.out}");
}

#[test]
fn health_plans_only_ask() {
    let inv = inv();
    let hosts: Vec<&crate::inventory::Host> = inv.hosts.iter().collect();
    for plan in [
        status(&inv, &laptop(), &hosts),
        doctor(&inv, &laptop(), &hosts),
        cache_status(&inv, &laptop(), &hosts),
        gc_survey(&inv, &laptop(), &hosts, true),
    ] {
        for h in &plan.hosts {
            assert!(
                h.build.is_empty() && h.deploy.is_empty(),
                "{}",
                plan.command
            );
            assert!(
                h.inspect
                    .iter()
                    .all(|s| matches!(s.kind, StepKind::Probe(_))),
                "{}",
                plan.command
            );
        }
    }
    let doctor = doctor(&inv, &laptop(), &hosts);
    let samsung = doctor
        .hosts
        .iter()
        .find(|h| h.host == "samsung")
        .expect("samsung");
    let shown: Vec<String> = samsung
        .inspect
        .iter()
        .map(|s| show_argv(&s.run.argv))
        .collect();
    assert!(
        shown.iter().any(
            |s| s.ends_with("--store http://p620.lan:5000 {p620.running}")
                && s.contains("store verify")
        ),
        "{shown:#?}"
    );
    let p620 = doctor
        .hosts
        .iter()
        .find(|h| h.host == "p620")
        .expect("p620");
    assert!(p620
        .inspect
        .iter()
        .any(|s| s.kind == StepKind::Probe(Probe::UnitActive("nix-serve.service".into()))));
    assert!(
        !p620
            .inspect
            .iter()
            .any(|s| matches!(&s.kind, StepKind::Probe(Probe::CacheVerify(_)))),
        "a builder does not check its own cache"
    );
}

#[test]
fn gc_deletes_through_sudo_for_non_root_users() {
    let inv = inv();
    let samsung = inv.host("samsung").expect("samsung");
    let steps = gc_collect(
        samsung,
        &Machine::Host("samsung".into()),
        &[2, 3],
        Some(Sudo::NonInteractive),
    );
    let shown: Vec<String> = steps
        .iter()
        .map(|s| show_argv(&s.run.full_argv()))
        .collect();
    assert_eq!(
        shown,
        [
            "sudo -n -- nix-env -p /nix/var/nix/profiles/system --delete-generations 2 3",
            "sudo -n -- nix-store --gc",
        ]
    );
    assert_eq!(
        gc_collect(samsung, &Machine::Host("samsung".into()), &[], None).len(),
        1,
        "nothing to delete: only collect"
    );
}

#[test]
fn a_fallback_builds_on_the_target_without_the_down_builders_cache() {
    let inv = inv();
    let mut req = deploy_req(&inv, &["samsung", "razer"], None, Action::Switch);
    assert!(
        deploy(&inv, &laptop(), &req)
            .expect("plan")
            .hosts
            .iter()
            .all(|h| h.if_builder_down.is_empty()),
        "no fallback unless chosen"
    );
    req.fallback = Some(FallbackTo::Target);
    let plan = deploy(&inv, &laptop(), &req).expect("plan");
    let [alt] = plan.hosts[0].if_builder_down.as_slice() else {
        panic!(
            "samsung has one builder to lose: {:#?}",
            plan.hosts[0].if_builder_down
        );
    };
    assert_eq!(
        (alt.builder.as_str(), &alt.build_on),
        ("p620", &Machine::Host("samsung".into()))
    );
    assert_eq!(
        show_argv(&alt.build[1].run.argv),
        "nix-store --realise --log-format internal-json --add-root .local/state/fleet/gcroots/samsung --indirect {samsung.drv} --option substituters 'https://cache.nixos.org https://nix-community.cachix.org'"
    );
    assert!(alt.copy.is_empty(), "built on the target: nothing to copy");
    assert!(
        plan.hosts[1].if_builder_down.is_empty(),
        "razer builds on itself anyway"
    );
    req.fallback = Some(FallbackTo::Local);
    let plan = deploy(&inv, &laptop(), &req).expect("plan");
    let alt = plan.hosts[0].if_builder_down.first().expect("alt");
    assert_eq!(alt.build_on, Machine::Local);
    assert_eq!(alt.copy.len(), 1);
}

#[test]
fn a_remote_switch_is_detached_and_guarded_by_magic_rollback() {
    let inv = inv();
    let mut req = deploy_req(&inv, &["razer"], None, Action::Switch);
    req.confirm_timeout = Some(30);
    let plan = deploy(&inv, &laptop(), &req).expect("plan");
    let kinds: Vec<&StepKind> = plan.hosts[0].deploy.iter().map(|s| &s.kind).collect();
    assert_eq!(
        kinds,
        [
            &StepKind::Lock,
            &StepKind::ArmWatchdog(30),
            &StepKind::SetProfile,
            &StepKind::Activate(Action::Switch),
            &StepKind::Confirm
        ]
    );
    let watchdog = show_argv(&plan.hosts[0].deploy[1].run.full_argv());
    assert!(watchdog.starts_with("sudo -n -- sh -c "), "{watchdog}");
    assert!(
        watchdog.ends_with("fleet-watchdog /run/fleet/{run}-razer 30 300 3600"),
        "{watchdog}"
    );
    let activate = show_argv(&plan.hosts[0].deploy[3].run.full_argv());
    assert!(
        activate.ends_with(
            "fleet-activate /run/fleet/{run}-razer {razer.out} switch boot-if-inhibited"
        ),
        "{activate}"
    );
    // The scripts are constants: no inventory value is pasted into them.
    assert!(
        !watchdog.contains("razer'") && !activate.contains("'razer"),
        "{activate}"
    );
    // Only switch is guarded; test, boot and dry-activate are not.
    for action in [Action::Boot, Action::Test, Action::DryActivate] {
        let mut req = deploy_req(&inv, &["razer"], None, action);
        req.confirm_timeout = Some(30);
        let plan = deploy(&inv, &laptop(), &req).expect("plan");
        assert!(plan.hosts[0]
            .deploy
            .iter()
            .all(|s| !matches!(s.kind, StepKind::ArmWatchdog(_) | StepKind::Confirm)));
    }
    // This machine activates directly.
    let plan = deploy(&inv, &on("p620", true), &{
        let mut r = deploy_req(&inv, &["p620"], None, Action::Switch);
        r.confirm_timeout = Some(30);
        r
    })
    .expect("plan");
    assert!(plan.hosts[0]
        .deploy
        .iter()
        .all(|s| !matches!(s.kind, StepKind::ArmWatchdog(_))));
}

#[test]
fn health_checks_follow_the_activation_and_come_before_the_confirmation() {
    let inv = inv();
    let mut req = deploy_req(&inv, &["p510"], None, Action::Switch);
    req.confirm_timeout = Some(30);
    let plan = deploy(&inv, &laptop(), &req).expect("plan");
    assert_eq!(
        lines(&plan, "p510")[5..],
        [
            "p510$ sh -c <script> fleet-lock /run/fleet/lock take /run/fleet/{run}-p510 olaf@thinkpad 30".to_string(),
            "p510$ sh -c <script> fleet-watchdog /run/fleet/{run}-p510 30 300 3600".to_string(),
            "p510$ nix-env -p /nix/var/nix/profiles/system --set {p510.out}".into(),
            "p510$ sh -c <script> fleet-activate /run/fleet/{run}-p510 {p510.out} switch boot-if-inhibited".into(),
            "p510$ systemctl is-system-running --wait".into(),
            "p510$ sh -c <script> fleet-confirm /run/fleet/{run}-p510".into(),
        ]
    );
    // test runs them too; boot and dry-activate leave the running system alone, so not.
    let has_check = |action| {
        let plan =
            deploy(&inv, &laptop(), &deploy_req(&inv, &["p510"], None, action)).expect("plan");
        plan.hosts[0]
            .deploy
            .iter()
            .any(|s| s.kind == StepKind::HealthCheck)
    };
    assert!(has_check(Action::Test));
    assert!(!has_check(Action::Boot));
    assert!(!has_check(Action::DryActivate));
}

#[test]
fn rollback_launches_the_profiles_previous_system_detached() {
    let inv = inv();
    let razer = inv.host("razer").expect("razer");
    let plan = rollback(&inv, &laptop(), &[razer], None, &Overrides::default()).expect("plan");
    assert_eq!(
        lines(&plan, "razer"),
        [
            "razer$ sudo -n -- sh -c <script> fleet-lock /run/fleet/lock take /run/fleet/{run}-razer olaf@thinkpad 30",
            "razer$ sudo -n -- sh -c <script> fleet-back",
            "razer$ sudo -n -- sh -c <script> fleet-activate /run/fleet/{run}-razer /nix/var/nix/profiles/system switch boot-if-inhibited",
        ]
    );
    // Guarded as a deployment is: a watchdog, and a confirmation over a new login.
    let guard = Overrides {
        confirm_timeout: Some(30),
        ..Overrides::default()
    };
    let plan = rollback(&inv, &laptop(), &[razer], None, &guard).expect("plan");
    let kinds: Vec<&StepKind> = plan.hosts[0].deploy.iter().map(|s| &s.kind).collect();
    assert_eq!(
        kinds,
        [
            &StepKind::Lock,
            &StepKind::ArmWatchdog(30),
            &StepKind::SetProfile,
            &StepKind::Activate(Action::Switch),
            &StepKind::Confirm
        ]
    );
    // To a given generation: nix-env's own switch, which refuses one that is not there.
    let plan = rollback(&inv, &laptop(), &[razer], Some(3), &Overrides::default()).expect("plan");
    assert_eq!(
        lines(&plan, "razer")[1],
        "razer$ sudo -n -- nix-env -p /nix/var/nix/profiles/system --switch-generation 3"
    );
}

#[test]
fn exec_runs_its_words_as_they_are_as_the_user_or_as_root() {
    let inv = inv();
    let hosts = [
        inv.host("samsung").expect("samsung"),
        inv.host("p620").expect("p620"),
    ];
    let argv: Vec<String> = ["systemctl", "--failed", "a b;c"].map(String::from).into();
    let plan = exec(&inv, &laptop(), &hosts, &argv, false).expect("plan");
    assert_eq!(plan.max_parallel, 2, "all at once");
    let step = &plan.hosts[0].inspect[0];
    assert_eq!(step.kind, StepKind::Exec);
    assert_eq!(step.run.sudo, None);
    assert_eq!(step.run.full_argv().len(), 3, "words stay words");
    let as_root = exec(&inv, &laptop(), &hosts, &argv, true).expect("plan");
    assert_eq!(
        as_root.hosts[0].inspect[0].run.sudo,
        Some(Sudo::NonInteractive)
    );
    // p620's user is root: no sudo.
    assert_eq!(as_root.hosts[1].inspect[0].run.sudo, None);
    // No way to root: refused, not run as the user.
    let no_sudo = Inventory::parse(
        "[hosts.p510]\nuser = \"olaf\"\nsudo = false\n",
        Path::new("hosts.toml"),
    )
    .expect("inventory");
    let p510 = no_sudo.host("p510").expect("p510");
    let refused = exec(&no_sudo, &laptop(), &[p510], &argv, true).err();
    assert!(
        refused.is_some_and(|e| e.to_string().contains("no way to root")),
        "exec --root ran as olaf"
    );
}

#[test]
fn wake_asks_each_host_what_it_runs_and_refuses_hosts_without_a_mac() {
    let inv = Inventory::parse(
        "[hosts.p620]\nmac = \"3c:7c:3f:1e:22:af\"\n[hosts.razer]\n",
        Path::new("/home/olaf/nixos/hosts.toml"),
    )
    .expect("inventory");
    let p620 = inv.host("p620").expect("p620");
    let plan = wake(&inv, &laptop(), &[p620]).expect("plan");
    assert_eq!(plan.command, CommandKind::Wake);
    let h = &plan.hosts[0];
    assert!(h.build.is_empty() && h.deploy.is_empty());
    assert_eq!(h.inspect[0].kind, StepKind::ReadState);
    let razer = inv.host("razer").expect("razer");
    let e = wake(&inv, &laptop(), &[razer]).expect_err("no mac");
    assert!(e.to_string().contains("hosts.toml gives no `mac`"), "{e}");
    let e = wake(&inv, &on("p620", true), &[p620]).expect_err("this machine");
    assert!(e.to_string().contains("the machine fleet runs on"), "{e}");
}

#[test]
fn doctor_reads_what_the_builder_runs_as_a_planned_step() {
    let inv = inv();
    let hosts: Vec<&crate::inventory::Host> = inv.hosts.iter().collect();
    let plan = doctor(&inv, &laptop(), &hosts);
    let reads: Vec<(&StepKind, String)> = plan
        .prepare
        .iter()
        .map(|s| (&s.kind, format!("{}$ {}", s.run.on, show_argv(&s.run.argv))))
        .collect();
    assert_eq!(
        reads,
        [(
            &StepKind::ReadRunningOf("p620".into()),
            "p620$ readlink -f /run/current-system".to_string()
        )]
    );
}

/// Every command fleet may run on a host is in the plan: what follows a detached activation
/// and what undoes a switch, each with the sudo it runs through.
#[test]
fn follow_up_commands_are_planned_with_their_privilege() {
    let inv = inv();
    let req = DeployRequest {
        confirm_timeout: Some(30),
        ..deploy_req(&inv, &["samsung"], Some("p620"), Action::Switch)
    };
    let plan = deploy(&inv, &laptop(), &req).expect("plan");
    let deploy = &plan.hosts[0].deploy;
    let follow = |kind: fn(&StepKind) -> bool| {
        deploy
            .iter()
            .find(|s| kind(&s.kind))
            .and_then(|s| s.follow.clone())
            .expect("a step with commands that follow it")
    };
    let Follow::Watchdog {
        roll_back_now,
        await_rollback,
    } = follow(|k| matches!(k, StepKind::ArmWatchdog(_)))
    else {
        panic!("the watchdog's follow-ups")
    };
    let Follow::Activation {
        runs,
        await_exit,
        read_log,
    } = follow(|k| matches!(k, StepKind::Activate(_)))
    else {
        panic!("the activation's follow-ups")
    };
    for run in [&roll_back_now, &await_rollback, &await_exit, &read_log] {
        assert_eq!(run.on, Machine::Host("samsung".into()));
        assert_eq!(run.sudo, Some(Sudo::NonInteractive), "{run:?}");
    }
    assert_eq!(
        show_argv(&roll_back_now.argv),
        "touch /run/fleet/{run}-samsung/rollback"
    );
    assert_eq!(
        show_argv(&read_log.argv),
        "cat /run/fleet/{run}-samsung/log"
    );
    assert_eq!(await_exit.wait_limit(), Some(crate::nix::ACTIVATION_LIMIT));
    assert_eq!(
        await_rollback.wait_limit(),
        Some(30 + crate::nix::ROLLBACK_SLACK)
    );
    assert_eq!(
        show_argv(&runs),
        "{samsung.out}/bin/switch-to-configuration switch"
    );
    // Nothing in any argv says sudo: privilege is the invocation's `sudo`, not words.
    for step in deploy {
        assert!(
            !step.run.argv.contains(&Arg::from("sudo")),
            "{}",
            step.title
        );
    }
}

#[test]
fn a_build_here_leaves_a_result_link_only_when_asked() {
    let inv = inv();
    let req = |out_link| BuildRequest {
        command: CommandKind::Build,
        hosts: vec![inv.host("p620").expect("p620")],
        via: None,
        max_parallel: None,
        fallback: None,
        out_link,
    };
    let ctx = on("p620", true);
    let plan = build(&inv, &ctx, &req(Some("result"))).expect("plan");
    assert_eq!(
        lines(&plan, "p620"),
        ["here$ nix-store --realise --log-format internal-json --add-root result-p620 --indirect {p620.drv}"]
    );
    let plan = build(&inv, &ctx, &req(None)).expect("plan");
    assert_eq!(
        lines(&plan, "p620"),
        ["here$ nix-store --realise --log-format internal-json {p620.drv}"]
    );
}

/// Reads that answer at once are not tied to the run on the host; everything that changes a
/// host, builds or copies is.
#[test]
fn only_instant_reads_are_untied() {
    let plan = plan_deploy(&laptop(), &["samsung"], None, Action::Switch);
    let hp = &plan.hosts[0];
    assert!(hp.inspect.iter().all(|s| s.run.instant), "{:?}", hp.inspect);
    assert!(hp.build.iter().chain(&hp.deploy).all(|s| !s.run.instant));
}

#[test]
fn the_sudo_password_goes_where_it_is_asked_for_and_nowhere_else() {
    // samsung's user is olaf (sudo); p620 logs in as root (no sudo at all).
    let plain = plan_deploy(&laptop(), &["samsung", "p620"], None, Action::Switch);
    assert!(plain.sudo_password_hosts().is_empty());
    let asked = Context {
        ask_sudo_password: true,
        ..laptop()
    };
    let plan = plan_deploy(&asked, &["samsung", "p620"], None, Action::Switch);
    assert_eq!(plan.sudo_password_hosts(), ["samsung"]);
    let switch = plan.hosts[0]
        .deploy
        .iter()
        .find(|s| matches!(s.kind, StepKind::Activate(_)))
        .expect("samsung's switch");
    assert_eq!(switch.run.sudo, Some(Sudo::Password));
    assert!(
        show_argv(&switch.run.full_argv()).starts_with("sudo -k -S -p '' -- "),
        "{switch:?}"
    );
    // Per host, in hosts.toml.
    let inv = Inventory::parse(
        "[hosts.p510]\nuser = \"olaf\"\nsudo_password = true\n[hosts.razer]\nuser = \"olaf\"\n",
        Path::new("hosts.toml"),
    )
    .expect("inventory");
    let plan = deploy(
        &inv,
        &laptop(),
        &deploy_req(&inv, &["p510", "razer"], None, Action::Switch),
    )
    .expect("plan");
    assert_eq!(plan.sudo_password_hosts(), ["p510"]);
    let json = serde_json::to_string(&plan).expect("json");
    assert!(json.contains(r#""sudo":"password""#), "{json}");
}

const CHAIN: &str = r#"
[caches.p620]
url = "http://p620.lan:5000"
[caches.p510]
url = "http://p510.lan:5000"
[caches.nixos]
url = "https://cache.nixos.org"

[hosts.p620]
addresses = ["p620.lan"]
builder = true
build_machines = ["p510", { host = "razer", jobs = 4, speed = 2, features = ["big-parallel", "kvm"], systems = ["x86_64-linux", "i686-linux"] }]

[hosts.p510]
addresses = ["p510.lan"]
user = "nixremote"
builder = true

[hosts.razer]
addresses = ["razer.lan"]

[hosts.samsung]
addresses = ["samsung.lan"]
via = ["p620", "p510"]
"#;

fn chain_inv() -> Inventory {
    Inventory::parse(CHAIN, Path::new("/home/olaf/nixos/hosts.toml")).expect("inventory")
}

#[test]
fn a_via_list_falls_back_builder_by_builder_each_without_the_down_ones_caches() {
    let inv = chain_inv();
    let mut req = deploy_req(&inv, &["samsung"], None, Action::Switch);
    let plan = deploy(&inv, &laptop(), &req).expect("plan");
    let hp = &plan.hosts[0];
    assert_eq!(hp.build_on, Machine::Host("p620".into()));
    let chain: Vec<(&str, String)> = hp
        .if_builder_down
        .iter()
        .map(|a| (a.builder.as_str(), a.build_on.to_string()))
        .collect();
    assert_eq!(chain, [("p620", "p510".to_string())], "no fallback chosen");
    let alt = &hp.if_builder_down[0];
    let build = alt
        .build
        .iter()
        .find(|s| s.kind == StepKind::Build)
        .expect("build");
    assert_eq!(build.run.on, Machine::Host("p510".into()));
    assert!(build.title.ends_with("(p620 is down)"), "{}", build.title);
    assert!(
        show_argv(&build.run.argv)
            .ends_with("--option substituters 'http://p510.lan:5000 https://cache.nixos.org'"),
        "p620's cache is down with it: {}",
        show_argv(&build.run.argv)
    );
    assert_eq!(
        alt.copy[0].title, "samsung fetches the system from cache p510",
        "the closure travels from the builder that built it"
    );

    req.fallback = Some(FallbackTo::Target);
    let plan = deploy(&inv, &laptop(), &req).expect("plan");
    let chain: Vec<(&str, String)> = plan.hosts[0]
        .if_builder_down
        .iter()
        .map(|a| (a.builder.as_str(), a.build_on.to_string()))
        .collect();
    assert_eq!(
        chain,
        [
            ("p620", "p510".to_string()),
            ("p510", "samsung".to_string())
        ]
    );
    let last = &plan.hosts[0].if_builder_down[1];
    let build = last
        .build
        .iter()
        .find(|s| s.kind == StepKind::Build)
        .expect("build");
    assert!(
        build.title.ends_with("(p620, p510 are down)"),
        "{}",
        build.title
    );
    assert!(
        show_argv(&build.run.argv).ends_with("--option substituters https://cache.nixos.org"),
        "{}",
        show_argv(&build.run.argv)
    );
    assert!(last.copy.is_empty(), "built on the target");

    // --via names one builder: no chain.
    let req = deploy_req(&inv, &["samsung"], Some("p510"), Action::Switch);
    let plan = deploy(&inv, &laptop(), &req).expect("plan");
    assert_eq!(plan.hosts[0].build_on, Machine::Host("p510".into()));
    assert!(plan.hosts[0].if_builder_down.is_empty());
}

#[test]
fn a_builder_hands_its_builds_to_its_helpers_through_nix_builders() {
    let inv = chain_inv();
    let plan = deploy(
        &inv,
        &laptop(),
        &deploy_req(&inv, &["samsung", "razer"], None, Action::Switch),
    )
    .expect("plan");
    let build = |h: usize| {
        plan.hosts[h]
            .build
            .iter()
            .find(|s| s.kind == StepKind::Build)
            .map(|s| show_argv(&s.run.argv))
            .expect("build")
    };
    assert_eq!(
        build(0),
        "nix-store --realise --log-format internal-json --add-root .local/state/fleet/gcroots/samsung --indirect {samsung.drv} \
         --option builders 'ssh-ng://nixremote@p510.lan - - - - - - - ; \
         ssh-ng://razer.lan x86_64-linux,i686-linux - 4 2 big-parallel,kvm - -' \
         --option builders-use-substitutes true"
    );
    assert_eq!(
        build(1),
        "nix-store --realise --log-format internal-json --add-root .local/state/fleet/gcroots/razer --indirect {razer.drv}",
        "razer builds itself: no helpers"
    );
    // The fallback builder p510 has none.
    let alt = &plan.hosts[0].if_builder_down[0];
    let b = alt
        .build
        .iter()
        .find(|s| s.kind == StepKind::Build)
        .expect("build");
    assert!(!show_argv(&b.run.argv).contains("builders"));
}

#[test]
fn a_fallback_builder_in_the_run_waits_for_the_hosts_that_may_fetch_from_it() {
    let inv = chain_inv();
    let plan = deploy(
        &inv,
        &laptop(),
        &deploy_req(&inv, &["samsung", "p510", "p620"], None, Action::Switch),
    )
    .expect("plan");
    let after = |host: &str| -> Vec<String> {
        plan.hosts
            .iter()
            .find(|h| h.host == host)
            .expect("host")
            .activate_after
            .iter()
            .map(|a| a.host.clone())
            .collect()
    };
    assert_eq!(after("p620"), ["samsung"]);
    assert_eq!(after("p510"), ["samsung"], "samsung may fetch from p510");
}

#[test]
fn doctor_asks_a_builder_to_reach_each_helper_as_root() {
    let inv = chain_inv();
    let p620 = inv.host("p620").expect("p620");
    let plan = doctor(&inv, &laptop(), &[p620]);
    let helpers: Vec<String> = plan.hosts[0]
        .inspect
        .iter()
        .filter(|s| matches!(s.kind, StepKind::Probe(Probe::Helper(_))))
        .map(|s| show_argv(&s.run.full_argv()))
        .collect();
    assert_eq!(
        helpers,
        [
            "env 'NIX_SSHOPTS=-o BatchMode=yes -o ConnectTimeout=5' nix --extra-experimental-features nix-command store ping --store ssh-ng://nixremote@p510.lan",
            "env 'NIX_SSHOPTS=-o BatchMode=yes -o ConnectTimeout=5' nix --extra-experimental-features nix-command store ping --store ssh-ng://razer.lan",
        ],
        "p620 logs in as root: no sudo"
    );
}

/// A host's GC root is named after it, and a long name is cut (Nix writes a temporary link
/// beside the root, whose longer name must still fit), kept apart from others by a hash.
#[test]
fn gc_roots_fit_whatever_the_host_name() {
    assert_eq!(
        crate::nix::gc_root("razer"),
        ".local/state/fleet/gcroots/razer"
    );
    let long = format!("lab7-{}", "x".repeat(250));
    let other = format!("lab7-{}y", "x".repeat(249));
    let (a, b) = (crate::nix::gc_root(&long), crate::nix::gc_root(&other));
    let name = |p: &str| p.rsplit('/').next().unwrap_or_default().len();
    assert_eq!(name(&a), 100);
    assert_ne!(a, b);
    assert_eq!(a, crate::nix::gc_root(&long));
}

/// `--specialisation`: found in the new system before anything changes, then the
/// specialisation's own switch launched; the profile is the whole system. A boot boots the
/// whole system, so it takes none.
#[test]
fn a_specialisation_is_found_first_and_then_switched_to() {
    let inv = inv();
    let mut req = deploy_req(&inv, &["razer"], None, Action::Switch);
    req.specialisation = Some("gaming");
    let plan = deploy(&inv, &laptop(), &req).expect("plan");
    let deploy_steps = &plan.hosts[0].deploy;
    let find = deploy_steps
        .iter()
        .position(|s| s.kind == StepKind::FindSpecialisation("gaming".into()))
        .expect("the specialisation is looked for");
    let lock = deploy_steps
        .iter()
        .position(|s| s.kind == StepKind::Lock)
        .expect("lock");
    assert!(find < lock, "looked for before anything changes");
    let profile = deploy_steps
        .iter()
        .find(|s| s.kind == StepKind::SetProfile)
        .expect("profile");
    assert_eq!(
        show_argv(&profile.run.argv),
        "nix-env -p /nix/var/nix/profiles/system --set {razer.out}"
    );
    let launch = deploy_steps.last().expect("activation");
    assert!(
        show_argv(&launch.run.argv)
            .ends_with("{razer.out}/specialisation/gaming switch boot-if-inhibited"),
        "{}",
        show_argv(&launch.run.argv)
    );
    let mut req = deploy_req(&inv, &["razer"], None, Action::Boot);
    req.specialisation = Some("gaming");
    let plan = deploy(&inv, &laptop(), &req).expect("plan");
    assert!(plan.hosts[0]
        .deploy
        .iter()
        .all(|s| !matches!(s.kind, StepKind::FindSpecialisation(_))));
}
