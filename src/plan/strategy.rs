//! The strategies: where each host's system is built, how it reaches the host, how it is
//! activated. Pure functions of the inventory, the request and a small `Context`.

use crate::error::Error;
use crate::inventory::{names, Host, Inventory};
use crate::nix;
use crate::vocab::NixVersion;

use super::settings::{self, Context, HostSettings, Overrides};

use super::{
    Action, ActivationFlags, Arg, Awaited, BuilderDown, CommandKind, FallbackTo, Follow, Gate,
    HostPlan, Invocation, Machine, Milestone, Plan, PreviewPart, Step, StepKind, Sudo,
};

/// A request to deploy (or only build, then deploy) systems.
#[derive(Debug, Clone)]
pub struct DeployRequest<'a> {
    pub command: CommandKind,
    pub hosts: Vec<&'a Host>,
    /// `--via`: build every selected host here (overrides each host's `via`).
    pub via: Option<&'a str>,
    pub action: Action,
    /// Compare with the running system first; deploy only what changed.
    pub only_changed: bool,
    pub gate: Gate,
    pub max_parallel: Option<usize>,
    /// `--fallback`: where to build when the builder is down (overrides each host's).
    pub fallback: Option<FallbackTo>,
    /// Magic rollback: seconds the host waits for confirmation after a switch (`None`: off).
    pub confirm_timeout: Option<u64>,
    /// `--no-wait`: fail at once on a host another run holds, instead of waiting for it.
    pub no_wait: bool,
    /// Activate, or stop before: after the preview (`--preview`), or comparing the closures
    /// (`diff`).
    pub mode: Mode,
    /// `--force-switch`, `--install-bootloader`.
    pub flags: ActivationFlags,
    /// `--reboot`: reboot each host once it is activated, and wait for it.
    pub reboot: bool,
    /// `--specialisation NAME`: activate it (overrides each host's `specialisation`).
    pub specialisation: Option<&'a str>,
}

/// How far a deployment goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Build, copy, activate.
    Activate,
    /// Build, put the system on its host, and show what activating would change there.
    Preview,
    /// Build, put the system on its host, and compare it there with what runs
    /// (`nix store diff-closures`): `diff`.
    Diff,
}

impl<'a> DeployRequest<'a> {
    /// `command` for `hosts`: a switch, built where each host's `via` says, no gate, no
    /// magic rollback, waiting for another run's lock, the inventory's parallelism.
    pub fn new(command: CommandKind, hosts: Vec<&'a Host>) -> DeployRequest<'a> {
        DeployRequest {
            command,
            hosts,
            via: None,
            action: Action::Switch,
            only_changed: false,
            gate: Gate::None,
            max_parallel: None,
            fallback: None,
            confirm_timeout: None,
            no_wait: false,
            mode: Mode::Activate,
            flags: ActivationFlags::default(),
            reboot: false,
            specialisation: None,
        }
    }

    /// `diff`: like a quick deploy up to the copy (the new closure lands on the target, as a
    /// deploy would put it there), then `nix store diff-closures` on the target, where both
    /// closures are. Nothing is activated.
    pub fn diff(hosts: Vec<&'a Host>, via: Option<&'a str>) -> DeployRequest<'a> {
        DeployRequest {
            via,
            only_changed: true,
            mode: Mode::Diff,
            ..DeployRequest::new(CommandKind::Diff, hosts)
        }
    }
}

impl DeployRequest<'_> {
    /// What the command line says of the settings `settings::resolve` decides.
    fn overrides(&self) -> Overrides<'_> {
        Overrides {
            builder: self.via.map(|b| (b, "--via")),
            fallback: self.fallback,
            max_parallel: self.max_parallel,
            confirm_timeout: self.confirm_timeout,
            no_wait: self.no_wait,
        }
    }
}

/// A request to build systems without activating them.
#[derive(Debug, Clone)]
pub struct BuildRequest<'a> {
    pub command: CommandKind,
    pub hosts: Vec<&'a Host>,
    /// `--via`: build every selected host here (overrides where deploy would build).
    pub via: Option<&'a str>,
    pub max_parallel: Option<usize>,
    pub fallback: Option<FallbackTo>,
    /// `--out-link PATH`: a `result`-style link `PATH-HOST` for each system built here.
    pub out_link: Option<&'a str>,
}

/// Plans a deployment: evaluate once, then per host check (if asked), build, copy, and
/// activate (or stop before, as `req.mode` says).
pub fn deploy(inv: &Inventory, ctx: &Context, req: &DeployRequest) -> Result<Plan, Error> {
    let settings = settings::resolve(inv, ctx, &req.hosts, &req.overrides())?;
    if let Some(here) = settings
        .hosts
        .iter()
        .find(|hs| req.reboot && hs.target == Machine::Local)
    {
        return Err(Error::usage(
            format!(
                "--reboot: {} is the machine fleet runs on, which cannot wait for its own reboot",
                here.host.name
            ),
            "deploy it without --reboot and reboot it yourself",
        ));
    }
    let hosts = settings
        .hosts
        .iter()
        .map(|hs| {
            let copy = copy_steps(inv, hs.host, &hs.build_on, &hs.target);
            // quick-all shows the preview before its question; `--preview` stops after it.
            let preview = match req.mode {
                Mode::Preview => {
                    preview_steps(hs, &copy, builder_cache(inv, hs.host, &hs.build_on))
                }
                Mode::Activate if req.gate == Gate::AllBuiltThenConfirm => {
                    preview_steps(hs, &copy, builder_cache(inv, hs.host, &hs.build_on))
                }
                Mode::Activate | Mode::Diff => Vec::new(),
            };
            let deploy = match req.mode {
                Mode::Preview => Vec::new(),
                Mode::Activate => copy
                    .into_iter()
                    .chain(activate_steps(
                        hs,
                        req.action,
                        req.flags,
                        req.specialisation.or(hs.host.specialisation.as_deref()),
                    ))
                    .chain(req.reboot.then(|| reboot_step(hs)))
                    .collect(),
                Mode::Diff => copy
                    .into_iter()
                    .chain([step(
                        StepKind::DiffClosures,
                        &format!(
                            "compare the running system with the new one on {}",
                            hs.host.name
                        ),
                        hs.target.clone(),
                        nix::diff_closures(&hs.host.name),
                    )])
                    .collect(),
            };
            HostPlan {
                preview,
                inspect: inspect_steps(hs.host, &hs.target),
                build: build_steps(inv, ctx, hs.host, &hs.build_on, None),
                deploy,
                if_builder_down: builder_down(inv, ctx, hs, true),
                on_failed_units: hs.host.failed_units,
                ..HostPlan::new(hs.host, hs.build_on.clone(), hs.target.clone())
            }
        })
        .collect();
    // Nothing is activated in a diff: no host waits for another.
    let hosts = match req.mode {
        Mode::Diff => hosts,
        Mode::Activate | Mode::Preview => in_safe_order(hosts),
    };
    Ok(Plan {
        action: (req.mode != Mode::Diff).then_some(req.action),
        gate: req.gate,
        only_changed: req.only_changed,
        preview_only: req.mode == Mode::Preview,
        prepare: evaluate(inv, ctx, &req.hosts),
        ..Plan::new(req.command, &ctx.run.flake, settings.max_parallel, hosts)
    })
}

/// What deploying would change on a host, known without activating: what it lacks of the
/// new closure (asked before `copy` puts it there), then the reboot and package changes, and
/// the units its switch would touch (`dry-activate`, as root).
/// With `cache`, the builder's cache the copy fetches from, the host's Nix is asked about that
/// cache too, as the copy will use it.
fn preview_steps(
    hs: &HostSettings,
    copy: &[Step],
    cache: Option<&crate::inventory::Cache>,
) -> Vec<Step> {
    let host = hs.host.name.as_str();
    let on = |argv| Invocation::new(hs.target.clone(), argv);
    let mut steps = vec![Step::new(
        StepKind::Preview(PreviewPart::Fetch),
        &format!("ask what {host} lacks of its new system"),
        on(nix::preview_fetch(
            Arg::out(host),
            cache.map(|c| c.url.as_str()),
        )),
    )];
    steps.extend(copy.iter().cloned());
    steps.push(Step::new(
        StepKind::Preview(PreviewPart::Changes),
        "compare the new system with the running one",
        on(nix::preview_changes(Arg::out(host))),
    ));
    steps.push(Step::new(
        StepKind::Preview(PreviewPart::Units),
        "ask the switch which units it would touch (dry-activate)",
        on(nix::switch_to_configuration(
            Arg::out(host),
            Action::DryActivate,
        ))
        .with_sudo(hs.sudo),
    ));
    steps
}

/// Which hosts each host activates after: a host whose store or cache others in the run get
/// their system from (a builder: its switch may restart nix-serve) waits until they have it;
/// the machine fleet runs on goes last, when every other host is done.
fn in_safe_order(mut hosts: Vec<HostPlan>) -> Vec<HostPlan> {
    // Each host, where it may be built (its builder, then those of its `via` chain), and
    // where it is activated.
    let machines: Vec<(String, Vec<Machine>, Machine)> = hosts
        .iter()
        .map(|h| {
            let builds_on = std::iter::once(&h.build_on)
                .chain(h.if_builder_down.iter().map(|a| &a.build_on))
                .cloned()
                .collect();
            (h.host.clone(), builds_on, h.target.clone())
        })
        .collect();
    for hp in &mut hosts {
        hp.activate_after = machines
            .iter()
            .filter(|(other, _, target)| *other != hp.host && *target != hp.target)
            .filter_map(|(other, builds_on, _)| {
                let until = if hp.target == Machine::Local {
                    Milestone::Done
                } else if builds_on.contains(&hp.target) {
                    Milestone::HasClosure
                } else {
                    return None;
                };
                Some(Awaited {
                    host: other.clone(),
                    until,
                })
            })
            .collect();
    }
    hosts
}

/// Plans `wake`: each host is reached as any run reaches it, woken (wake-on-LAN) when it does
/// not answer, and asked what it runs. Hosts without `mac`, and this machine, are refused.
pub fn wake(inv: &Inventory, ctx: &Context, hosts: &[&Host]) -> Result<Plan, Error> {
    let mut plans = Vec::new();
    for host in hosts {
        if host.wake.is_none() {
            return Err(Error::usage(
                format!("{} cannot be woken: hosts.toml gives no `mac` for it", host.name),
                format!(
                    "add mac = \"aa:bb:cc:dd:ee:ff\" (and wake_address, the LAN's broadcast address) to [hosts.{}]",
                    host.name
                ),
            ));
        }
        let target = ctx.machine(host);
        if target == Machine::Local {
            return Err(Error::usage(
                format!("{} is the machine fleet runs on: it is awake", host.name),
                "name the hosts to wake",
            ));
        }
        plans.push(own_steps(host, target, Vec::new()));
    }
    Ok(Plan::new(
        CommandKind::Wake,
        &ctx.run.flake,
        inv.max_parallel,
        plans,
    ))
}

/// A host plan with no build: what the host runs, then `deploy`, all on the host itself.
fn own_steps(host: &Host, target: Machine, deploy: Vec<Step>) -> HostPlan {
    HostPlan {
        inspect: inspect_steps(host, &target),
        deploy,
        ..HostPlan::new(host, target.clone(), target)
    }
}

/// Plans `reboot`: each host, under its deploy lock, rebooted and waited for until it answers
/// with a new boot id; what it booted is then read back (it must be its profile's system).
pub fn reboot(inv: &Inventory, ctx: &Context, hosts: &[&Host]) -> Result<Plan, Error> {
    let settings = settings::resolve(inv, ctx, hosts, &Overrides::default())?;
    let mut plans = Vec::new();
    for hs in &settings.hosts {
        if hs.target == Machine::Local {
            return Err(Error::usage(
                format!(
                    "{} is the machine fleet runs on: fleet cannot wait for its own reboot",
                    hs.host.name
                ),
                "reboot it yourself (`systemctl reboot`), or name the other hosts",
            ));
        }
        let lock = guarded(hs, Action::Boot, Vec::new())
            .into_iter()
            .filter(|s| s.kind == StepKind::Lock);
        let steps = lock.chain([reboot_step(hs)]).collect();
        plans.push(own_steps(hs.host, hs.target.clone(), steps));
    }
    Ok(Plan::new(
        CommandKind::Reboot,
        &ctx.run.flake,
        inv.max_parallel,
        plans,
    ))
}

/// The host rebooted, and waited for (see `Follow::Reboot`).
fn reboot_step(hs: &HostSettings) -> Step {
    let as_root = |argv: Vec<Arg>| Invocation::new(hs.target.clone(), argv).with_sudo(hs.sudo);
    Step::new(StepKind::Reboot, "reboot", as_root(nix::reboot())).followed_by(Follow::Reboot {
        read_boot_id: Invocation::new(hs.target.clone(), nix::read_boot_id()).instant(),
        limit: nix::REBOOT_LIMIT,
    })
}

/// Plans `rollback`: on each host, the system profile goes to the generation before the one
/// that runs (so a retry after a rollback cut short does not go one further) and that system
/// is switched to, guarded as a deployment is (lock, watchdog, confirmation). No evaluation
/// or build.
pub fn rollback(
    inv: &Inventory,
    ctx: &Context,
    hosts: &[&Host],
    to: Option<u32>,
    guard: &Overrides,
) -> Result<Plan, Error> {
    let settings = settings::resolve(inv, ctx, hosts, guard)?;
    let (title, set_profile) = match to {
        None => (
            "set the system profile to the generation before the one that runs".to_string(),
            nix::rollback_system_profile(),
        ),
        Some(n) => (
            format!("set the system profile to generation {n}"),
            nix::switch_system_generation(n),
        ),
    };
    let plans = settings
        .hosts
        .iter()
        .map(|hs| {
            let (host, target, sudo) = (hs.host, &hs.target, hs.sudo);
            let change = vec![
                Step::new(
                    StepKind::SetProfile,
                    &title,
                    Invocation::new(target.clone(), set_profile.clone()).with_sudo(sudo),
                ),
                activation(
                    "switch to the previous system",
                    target,
                    sudo,
                    host,
                    nix::SYSTEM_PROFILE.into(),
                    (Action::Switch, ActivationFlags::default()),
                ),
            ];
            own_steps(host, target.clone(), guarded(hs, Action::Switch, change))
        })
        .collect();
    Ok(Plan::new(
        CommandKind::Rollback,
        &ctx.run.flake,
        inv.max_parallel,
        plans,
    ))
}

/// Where `cache push` puts systems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushTo {
    /// Any Nix store URL: `nix copy --to URL`, run where the closure is.
    Store(String),
    /// A Cachix cache: `cachix push NAME`, run here (where cachix is installed).
    Cachix(String),
}

/// Plans `cache push`: build where deploy would, then push from the store that holds the
/// closure (the builder's, not this machine's, where it can be avoided).
pub fn cache_push(
    inv: &Inventory,
    ctx: &Context,
    hosts: Vec<&Host>,
    to: &PushTo,
) -> Result<Plan, Error> {
    let mut plan = build(
        inv,
        ctx,
        &BuildRequest {
            command: CommandKind::CachePush,
            hosts,
            via: None,
            max_parallel: None,
            fallback: None,
            out_link: None,
        },
    )?;
    for hp in &mut plan.hosts {
        let out = || Arg::out(&hp.host);
        let from = match &hp.build_on {
            Machine::Host(b) => b.clone(),
            Machine::Local => "this machine".to_string(),
        };
        match to {
            // A `file://` store is a directory of the machine fleet runs on: the closure goes
            // there from the builder's store, through here.
            PushTo::Store(url) if url.starts_with("file://") => {
                let argv = match &hp.build_on {
                    Machine::Host(b) => {
                        nix::copy_between(Arg::store(b), url.as_str().into(), out())
                    }
                    Machine::Local => nix::copy_to_cache(url, out()),
                };
                hp.deploy.push(step(
                    StepKind::PushToCache,
                    &format!("push the system from {from} to {url} (a directory here)"),
                    Machine::Local,
                    argv,
                ));
            }
            PushTo::Store(url) => hp.deploy.push(step(
                StepKind::PushToCache,
                &format!("push the system from {from} to {url}"),
                hp.build_on.clone(),
                nix::copy_to_cache(url, out()),
            )),
            PushTo::Cachix(name) => {
                if let Machine::Host(b) = &hp.build_on {
                    hp.deploy.push(step(
                        StepKind::CopyClosure,
                        &format!("fetch the system from {b} (cachix runs here)"),
                        Machine::Local,
                        nix::copy_from_store(Arg::store(b), out()),
                    ));
                }
                hp.deploy.push(step(
                    StepKind::PushToCache,
                    &format!("push the system from this machine to cachix {name}"),
                    Machine::Local,
                    nix::cachix_push(name, out()),
                ));
            }
        }
    }
    Ok(plan)
}

/// Plans a build: evaluate once, then per host build where asked (or where deploy would).
pub fn build(inv: &Inventory, ctx: &Context, req: &BuildRequest) -> Result<Plan, Error> {
    let overrides = Overrides {
        builder: req.via.map(|b| (b, "--via")),
        fallback: req.fallback,
        max_parallel: req.max_parallel,
        confirm_timeout: None,
        no_wait: false,
    };
    let settings = settings::resolve(inv, ctx, &req.hosts, &overrides)?;
    let hosts = settings
        .hosts
        .iter()
        .map(|hs| HostPlan {
            build: build_steps(inv, ctx, hs.host, &hs.build_on, req.out_link),
            if_builder_down: builder_down(inv, ctx, hs, false),
            ..HostPlan::new(hs.host, hs.build_on.clone(), hs.target.clone())
        })
        .collect();
    Ok(Plan {
        prepare: evaluate(inv, ctx, &req.hosts),
        ..Plan::new(req.command, &ctx.run.flake, settings.max_parallel, hosts)
    })
}

/// Plans `validate`: one evaluation of every selected host, and `nix flake check` if `full`.
pub fn validate(inv: &Inventory, ctx: &Context, hosts: &[&Host], full: bool) -> Plan {
    let mut prepare = evaluate(inv, ctx, hosts);
    if full {
        prepare.push(step(
            StepKind::CheckFlake,
            "check the flake (nix flake check)",
            Machine::Local,
            nix::flake_check(&ctx.run.flake, &ctx.run.nix),
        ));
    }
    // A row each: evaluated, or its own error.
    let rows = hosts
        .iter()
        .map(|h| HostPlan::new(h, Machine::Local, Machine::Local))
        .collect();
    Plan {
        prepare,
        ..Plan::new(
            CommandKind::Validate,
            &ctx.run.flake,
            inv.max_parallel,
            rows,
        )
    }
}

/// Plans `update-flake`: all inputs, or the named ones. The flake must be a local path,
/// since the lock file is written where the flake lives.
/// `update-flake`, in the form `nix` here takes (`version`, asked once by the caller).
pub fn update_flake(ctx: &Context, inputs: &[String], version: NixVersion) -> Result<Plan, Error> {
    let run = &ctx.run;
    if run.flake.contains(':') {
        return Err(Error::usage(
            format!("cannot update `{}`: it is not a local flake", run.flake),
            "point [fleet] flake (or --flake) at the checkout whose flake.lock should change",
        ));
    }
    if let Some(bad) = inputs.iter().find(|i| !names::is_identifier(i)) {
        return Err(Error::usage(
            format!("`{}` is not a flake input name", bad.escape_debug()),
            "input names are plain identifiers, like nixpkgs or home-manager",
        ));
    }
    let what = if inputs.is_empty() {
        "update every flake input".to_string()
    } else {
        format!("update flake inputs {}", inputs.join(", "))
    };
    Ok(Plan {
        prepare: vec![step(
            StepKind::UpdateFlake,
            &what,
            Machine::Local,
            nix::flake_update(&run.flake, inputs, &run.nix, version),
        )],
        ..Plan::new(CommandKind::UpdateFlake, &run.flake, 1, Vec::new())
    })
}

/// Each host's evaluation, a step of its own (see `nix::eval_system`): the executor runs up
/// to `eval_jobs` of them at once, and each host goes on as soon as its own is done.
/// With `--impure` the evaluation may read anything, so no cache answers for it.
///
/// With `eval_on` another machine evaluates: the flake's source and locked inputs are sent
/// there first (`nix flake archive`), it is asked how much it can evaluate at once and which
/// cached evaluations it still has, and each host's evaluation runs there, with an evaluation
/// here as the fallback when it cannot be reached. `--impure` evaluates here: an impure
/// evaluation reads this machine's files and environment.
pub(super) fn evaluate(inv: &Inventory, ctx: &Context, hosts: &[&Host]) -> Vec<Step> {
    if hosts.is_empty() {
        return Vec::new();
    }
    let run = &ctx.run;
    let mut steps = Vec::new();
    if !run.nix.impure {
        steps.push(
            step(
                StepKind::ReadFlakeHash,
                "read the flake's locked hash (the evaluation cache's key)",
                Machine::Local,
                nix::flake_metadata(&run.flake),
            )
            .best_effort(),
        );
    }
    let here = |h: &Host| {
        nix::eval_system(
            Arg::from(format!("{}#nixosConfigurations", run.flake)),
            &h.attribute,
            &run.nix,
        )
    };
    let Some(evaluator) = eval_machine(inv, ctx) else {
        steps.extend(hosts.iter().map(|h| {
            step(
                StepKind::Evaluate(h.name.clone()),
                &format!("evaluate {}", h.name),
                Machine::Local,
                here(h),
            )
        }));
        return steps;
    };
    let on = Machine::Host(evaluator.to_string());
    steps.push(
        step(
            StepKind::ArchiveFlake,
            &format!("send the flake and its inputs to {evaluator}"),
            Machine::Local,
            nix::flake_archive(Arg::store(evaluator), &run.flake),
        )
        .best_effort(),
    );
    steps.push(
        Step::new(
            StepKind::ReadEvaluator,
            &format!("ask {evaluator} how much it can evaluate at once"),
            Invocation::new(on.clone(), nix::read_evaluator(Arg::cached(evaluator))).instant(),
        )
        .best_effort(),
    );
    steps.extend(hosts.iter().map(|h| {
        step(
            StepKind::Evaluate(h.name.clone()),
            &format!("evaluate {} on {evaluator}", h.name),
            on.clone(),
            nix::eval_system(
                Arg::archived("#nixosConfigurations"),
                &h.attribute,
                &run.nix,
            ),
        )
        .or_else(
            format!("evaluate {} here ({evaluator} cannot be reached)", h.name),
            Invocation::new(Machine::Local, here(h)),
        )
    }));
    steps
}

/// The host that evaluates, when it is not this machine (`eval_on`; never with `--impure`).
fn eval_machine<'a>(inv: &'a Inventory, ctx: &Context) -> Option<&'a str> {
    let host = inv.host(ctx.run.eval_on.as_deref()?)?;
    (!ctx.run.nix.impure && ctx.machine(host) != Machine::Local).then_some(host.name.as_str())
}

fn inspect_steps(host: &Host, target: &Machine) -> Vec<Step> {
    vec![Step::new(
        StepKind::ReadState,
        &format!("read the system {} runs and its profile", host.name),
        Invocation::new(target.clone(), nix::read_state()).instant(),
    )]
}

/// How a host's system is built where `build_on` says. On a host (a builder or the target
/// itself) it is kept as a GC root there (one per host, replaced by the next build); here,
/// only when `out_link` asks for a `result`-style link (`PATH-HOST`).
fn build_steps(
    inv: &Inventory,
    ctx: &Context,
    host: &Host,
    build_on: &Machine,
    out_link: Option<&str>,
) -> Vec<Step> {
    let name = host.name.as_str();
    // The evaluation wrote the derivations here already; a builder gets them first, and keeps
    // what it builds for another machine as a GC root.
    // With `eval_on`, the derivations are where they were evaluated (the executor skips a
    // copy to that machine itself).
    let from = eval_machine(inv, ctx).map(|_| Arg::evaluated(name));
    let (mut steps, title, root) = match build_on {
        Machine::Local => (
            from.map(|from| {
                step(
                    StepKind::CopyDerivations(None),
                    "fetch the derivations from where they were evaluated",
                    Machine::Local,
                    nix::copy_derivation(Some(from), "auto".into(), Arg::drv(name)),
                )
            })
            .into_iter()
            .collect(),
            "build here".to_string(),
            out_link.map(|p| format!("{p}-{name}")),
        ),
        Machine::Host(b) => (
            vec![step(
                StepKind::CopyDerivations(Some(b.clone())),
                &if from.is_some() {
                    format!("copy the derivations to {b} (unless {b} evaluated them)")
                } else {
                    format!("copy the derivations to {b}")
                },
                Machine::Local,
                nix::copy_derivation(from, Arg::store(b), Arg::drv(name)),
            )],
            format!("build on {b}"),
            // Kept as a GC root there (one per host, replaced by its next build): on a
            // builder until the target fetches it, on the target until it is the profile
            // (and after, as the profile's own root is).
            Some(nix::gc_root(name)),
        ),
    };
    let mut argv = nix::realise(Arg::drv(name), &ctx.run.nix, root);
    argv.extend(helpers(inv, ctx, build_on));
    let build = step(StepKind::Build, &title, build_on.clone(), argv);
    steps.extend(freeing(vec![build], build_on));
    steps
}

/// Where to build instead when a builder is down, and how the system then travels: the next
/// builder of the host's `via`, and after the last, the fallback the user chose (if any). A
/// builder that is the target itself, or this machine, ends the chain: it is never "down".
fn builder_down(
    inv: &Inventory,
    ctx: &Context,
    hs: &HostSettings,
    deploying: bool,
) -> Vec<BuilderDown> {
    let (host, target) = (hs.host, &hs.target);
    let fallback = hs.fallback.map(|f| match f {
        FallbackTo::Target => target.clone(),
        FallbackTo::Local => Machine::Local,
    });
    let chain: Vec<&Machine> = std::iter::once(&hs.build_on)
        .chain(&hs.then_build_on)
        .chain(fallback.as_ref())
        .collect();
    let mut down: Vec<&str> = Vec::new();
    let mut plans = Vec::new();
    for pair in chain.windows(2) {
        let (Machine::Host(builder), alt) = (pair[0], pair[1]) else {
            break;
        };
        if pair[0] == target || alt == pair[0] {
            break;
        }
        down.push(builder);
        // A builder's cache is down with it, and Nix 2.8 fails a build whose substituter
        // does not answer: build with the host's other tiers only.
        let others: Vec<&str> = host
            .caches
            .iter()
            .filter_map(|c| inv.cache(c))
            .filter(|c| !c.host.as_deref().is_some_and(|h| down.contains(&h)))
            .map(|c| c.url.as_str())
            .collect();
        let mut build = build_steps(inv, ctx, host, alt, None);
        for s in build.iter_mut().filter(|s| s.kind == StepKind::Build) {
            let verb = if down.len() == 1 { "is" } else { "are" };
            s.title = format!("{} ({} {verb} down)", s.title, down.join(", "));
            s.run.argv.extend([
                "--option".into(),
                "substituters".into(),
                others.join(" ").into(),
            ]);
        }
        plans.push(BuilderDown {
            builder: builder.clone(),
            copy: if deploying {
                copy_steps(inv, host, alt, target)
            } else {
                Vec::new()
            },
            build_on: alt.clone(),
            build,
        });
    }
    plans
}

/// The options that hand a builder's helpers (`build_machines`) to Nix's own distributed
/// builds when it builds: each helper at its first address, as its user.
fn helpers(inv: &Inventory, ctx: &Context, build_on: &Machine) -> Vec<Arg> {
    let Some(builder) = inv
        .hosts
        .iter()
        .find(|h| h.builder && ctx.machine(h) == *build_on)
    else {
        return Vec::new();
    };
    let lines: Vec<String> = builder
        .build_machines
        .iter()
        .filter_map(|m| Some(nix::build_machine(&super::helper_store(inv, &m.host)?, m)))
        .collect();
    nix::builders(&lines)
}

/// `steps`, each with what to do when it fails because the store `on` writes to is full:
/// delete what it left half-written there.
fn freeing(steps: Vec<Step>, on: &Machine) -> Vec<Step> {
    let free = || Follow::FreeHalfWritten(Invocation::new(on.clone(), nix::free_half_written()));
    steps.into_iter().map(|s| s.followed_by(free())).collect()
}

/// How the built closure reaches the target: the target fetches it from the builder's cache
/// (signatures checked), else the builder pushes it, else it is relayed through here.
fn copy_steps(inv: &Inventory, host: &Host, build_on: &Machine, target: &Machine) -> Vec<Step> {
    freeing(ways_to_copy(inv, host, build_on, target), target)
}

/// The cache `build_on` serves, if it is a builder with one and the host uses it: the
/// target fetches its system from there.
fn builder_cache<'a>(
    inv: &'a Inventory,
    host: &Host,
    build_on: &Machine,
) -> Option<&'a crate::inventory::Cache> {
    let Machine::Host(b) = build_on else {
        return None;
    };
    inv.cache_served_by(b)
        .filter(|c| host.caches.contains(&c.name))
}

fn ways_to_copy(inv: &Inventory, host: &Host, build_on: &Machine, target: &Machine) -> Vec<Step> {
    let name = host.name.as_str();
    let out = || Arg::out(name);
    let copy = |title: &str, run| Step::new(StepKind::CopyClosure, title, run);
    match (build_on, target) {
        _ if build_on == target => Vec::new(),
        (Machine::Local, Machine::Host(t)) => vec![step(
            StepKind::CopyClosure,
            &format!("copy the system to {t}"),
            Machine::Local,
            nix::copy_to(Arg::store(t), out()),
        )],
        (Machine::Host(b), Machine::Local) => {
            let relay = Invocation::new(Machine::Local, nix::copy_from_store(Arg::store(b), out()));
            let step = match builder_cache(inv, host, build_on) {
                Some(cache) => copy(
                    &format!("fetch the system from cache {}", cache.name),
                    Invocation::new(Machine::Local, nix::copy_from_cache(&cache.url, out())),
                )
                .or_else(
                    format!(
                        "if cache {} cannot be used: copy from {b} over SSH",
                        cache.name
                    ),
                    relay,
                ),
                None => copy(&format!("copy the system from {b} over SSH"), relay),
            };
            vec![step]
        }
        (Machine::Host(b), Machine::Host(t)) => {
            let push_title = format!("{b} copies it to {t}");
            let push = Invocation::new(build_on.clone(), nix::copy_to(Arg::store(t), out()));
            let relay = Invocation::new(
                Machine::Local,
                nix::copy_between(Arg::store(b), Arg::store(t), out()),
            );
            let relay_title = "relay it through this machine (the closure passes through here)";
            let step = match builder_cache(inv, host, build_on) {
                Some(cache) => copy(
                    &format!("{t} fetches the system from cache {}", cache.name),
                    Invocation::new(target.clone(), nix::copy_from_cache(&cache.url, out())),
                )
                .or_else(
                    format!("if {t} cannot use cache {}: {push_title}", cache.name),
                    push,
                ),
                None => copy(&push_title, push),
            };
            vec![step.or_else(relay_title, relay)]
        }
        // Both local: handled by the first arm.
        (Machine::Local, Machine::Local) => Vec::new(),
    }
}

/// `system`'s `switch-to-configuration ACTION`: on a remote host launched detached (a dropped
/// connection does not stop it) and followed there, its exit code and output read back; here
/// run directly.
fn activation(
    title: &str,
    target: &Machine,
    sudo: Option<Sudo>,
    host: &Host,
    system: Arg,
    (action, flags): (Action, ActivationFlags),
) -> Step {
    let runs = nix::switch_to_configuration(system.clone(), action);
    let Machine::Host(_) = target else {
        return Step::new(
            StepKind::Activate(action),
            title,
            Invocation::new(Machine::Local, nix::activate_here(system, action, flags))
                .with_sudo(sudo),
        );
    };
    let on_host = |argv| Invocation::new(target.clone(), argv).with_sudo(sudo);
    Step::new(
        StepKind::Activate(action),
        title,
        on_host(nix::launch_activation(&host.name, system, action, flags)),
    )
    .followed_by(Follow::Activation {
        runs,
        await_exit: on_host(nix::await_activation(&host.name, nix::ACTIVATION_LIMIT)),
        read_log: on_host(nix::activation_log(&host.name)),
    })
}

/// Activation as NixOS does it: the profile set (switch, boot), then `switch-to-configuration`,
/// guarded as every change of a host is (see `guarded`).
fn activate_steps(
    hs: &HostSettings,
    action: Action,
    flags: ActivationFlags,
    specialisation: Option<&str>,
) -> Vec<Step> {
    let (host, target, sudo) = (hs.host, &hs.target, hs.sudo);
    let as_root = |argv: Vec<Arg>| Invocation::new(target.clone(), argv).with_sudo(sudo);
    // As nixos-rebuild: a specialisation is switched to (or tested); the profile is the
    // whole system, and a boot boots it.
    let specialisation = specialisation.filter(|_| matches!(action, Action::Switch | Action::Test));
    let mut change = Vec::new();
    if action.sets_profile() {
        change.push(Step::new(
            StepKind::SetProfile,
            "set the system profile",
            as_root(nix::set_system_profile(Arg::out(&host.name))),
        ));
    }
    let title = match action {
        Action::Switch => "switch to the new system",
        Action::Boot => "make it the boot default",
        Action::Test => "activate it without changing the boot default",
        Action::DryActivate => "show what activation would change",
    };
    let system = match specialisation {
        Some(name) => Arg::out(&host.name).with_suffix(&format!("/specialisation/{name}")),
        None => Arg::out(&host.name),
    };
    change.push(activation(
        title,
        target,
        sudo,
        host,
        system,
        (action, flags),
    ));
    let find = specialisation.map(|name| {
        Step::new(
            StepKind::FindSpecialisation(name.to_string()),
            &format!("find the specialisation {name} in the new system"),
            Invocation::new(
                target.clone(),
                nix::find_specialisation(Arg::out(&host.name), name),
            )
            .instant(),
        )
    });
    find.into_iter()
        .chain(guarded(hs, action, change))
        .collect()
}

/// `change` (a new system set and activated, or the previous one), guarded: on a remote host
/// the deploy lock first; the host's `pre_activate` commands; for a switch, magic rollback's
/// watchdog armed before anything changes and confirmed over a new login once the health
/// checks passed on the new running system.
fn guarded(hs: &HostSettings, action: Action, change: Vec<Step>) -> Vec<Step> {
    let (host, target, sudo) = (hs.host, &hs.target, hs.sudo);
    let as_root = |argv: Vec<Arg>| Invocation::new(target.clone(), argv).with_sudo(sudo);
    let remote = matches!(target, Machine::Host(_));
    let watchdog = hs
        .confirm_timeout
        .filter(|_| remote && action == Action::Switch);
    let mut steps = Vec::new();
    if remote {
        steps.push(
            Step::new(
                StepKind::Lock,
                "take the host's deploy lock",
                as_root(nix::lock(&host.name, nix::LockMode::Take, &hs.who)),
            )
            .followed_by(Follow::Lock {
                renew: as_root(nix::lock(&host.name, nix::LockMode::Renew, &hs.who)),
                release: as_root(nix::lock(&host.name, nix::LockMode::Release, &hs.who)),
                wait: !hs.no_wait,
            }),
        );
    }
    steps.extend(host.pre_activate.iter().map(|command| {
        Step::new(
            StepKind::PreActivate,
            &format!("before activating: {}", command.join(" ")),
            as_root(command.iter().map(|w| Arg::from(w.as_str())).collect()),
        )
    }));
    if let Some(secs) = watchdog {
        steps.push(
            Step::new(
                StepKind::ArmWatchdog(secs),
                &format!("arm the rollback watchdog ({secs} s to confirm)"),
                as_root(nix::arm_watchdog(&host.name, secs)),
            )
            .followed_by(Follow::Watchdog {
                roll_back_now: as_root(nix::roll_back_now(&host.name)),
                await_rollback: as_root(nix::await_rollback(
                    &host.name,
                    secs + nix::ROLLBACK_SLACK,
                )),
            }),
        );
    }
    steps.extend(change);
    // Checks judge the running system: only switch and test make the new one run.
    if matches!(action, Action::Switch | Action::Test) {
        for check in &host.health_checks {
            steps.push(Step::new(
                StepKind::HealthCheck,
                &format!("health check: {}", check.join(" ")),
                Invocation::new(
                    target.clone(),
                    check.iter().map(|w| Arg::from(w.as_str())).collect(),
                ),
            ));
        }
    }
    if watchdog.is_some() {
        steps.push(Step::new(
            StepKind::Confirm,
            "confirm over a new SSH connection",
            as_root(nix::confirm(&host.name)),
        ));
    }
    steps
}

fn step(kind: StepKind, title: &str, on: Machine, argv: Vec<Arg>) -> Step {
    Step::new(kind, title, Invocation::new(on, argv))
}
