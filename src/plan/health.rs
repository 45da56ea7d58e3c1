//! Plans that only ask: `status`, `doctor`, `cache status`, `generations`, and `gc` (whose
//! deletions are planned from what the hosts answer); and `exec`, whose one command per host
//! runs the same way. Each host's questions are `inspect` steps.

use crate::inventory::{Host, Inventory};
use crate::nix;

use super::settings::Context;
use super::{Arg, CommandKind, HostPlan, Invocation, Machine, Plan, Probe, Step, StepKind, Sudo};

fn probe_step(target: &Machine, probe: Probe, inv: &Inventory, signed: Option<Arg>) -> Step {
    let helper = match &probe {
        Probe::Helper(h) => super::helper_store(inv, h),
        _ => None,
    };
    let url = match &probe {
        Probe::CacheReach(c) | Probe::CacheVerify(c) => inv.cache(c).map(|c| c.url.as_str()),
        Probe::Helper(_) => helper.as_deref(),
        _ => None,
    };
    let title = match &probe {
        Probe::Running => "read the running system".to_string(),
        Probe::Booted => "read the booted system".to_string(),
        Probe::Profile => "read the system the profile boots".to_string(),
        Probe::Specialisations => "read the profile's specialisations".to_string(),
        Probe::Generations => "list the system generations".to_string(),
        Probe::Settings => "read the nix settings".to_string(),
        Probe::Space => "read free space on /nix and /boot".to_string(),
        Probe::Uptime => "read the uptime".to_string(),
        Probe::NixVersion => "read the nix version".to_string(),
        Probe::Systemd => "check for systemd".to_string(),
        Probe::UnitActive(u) => format!("check that {u} is active"),
        Probe::CacheReach(c) => format!("reach cache {c}"),
        Probe::CacheVerify(c) => format!("verify a path signed by cache {c}"),
        Probe::Dead => "list what garbage collection would delete".to_string(),
        Probe::Now => "read the host's time".to_string(),
        Probe::Lock => "read who holds the deploy lock".to_string(),
        Probe::GenerationLinks => "read each generation's system".to_string(),
        Probe::Helper(h) => format!("reach build helper {h} as root, as Nix's build hook will"),
    };
    let run = Invocation::new(target.clone(), nix::probe(&probe, url, signed));
    // The quick reads are not tied to the run; the cache probes and the garbage survey may
    // take a while, and are.
    let run = match probe {
        Probe::CacheReach(_) | Probe::CacheVerify(_) | Probe::Dead | Probe::Helper(_) => run,
        _ => run.instant(),
    };
    Step::new(StepKind::Probe(probe), &title, run)
}

fn asking(
    inv: &Inventory,
    ctx: &Context,
    command: CommandKind,
    hosts: &[&Host],
    evaluate: bool,
    questions: impl Fn(&Host, &Machine) -> Vec<Step>,
) -> Plan {
    let plans = hosts
        .iter()
        .map(|h| {
            let target = ctx.machine(h);
            HostPlan {
                inspect: questions(h, &target),
                ..HostPlan::new(h, target.clone(), target)
            }
        })
        .collect();
    Plan {
        // What the flake says is for the drift column only: what hosts run is worth showing
        // even when the flake does not evaluate.
        prepare: if evaluate {
            super::strategy::evaluate(inv, ctx, hosts)
                .into_iter()
                .map(Step::best_effort)
                .collect()
        } else {
            Vec::new()
        },
        // Questions are cheap: ask every host at once.
        ..Plan::new(command, &ctx.run.flake, hosts.len().max(1), plans)
    }
}

/// `status`: what each host runs and whether it is what the flake says, generation, disk, uptime.
pub fn status(inv: &Inventory, ctx: &Context, hosts: &[&Host]) -> Plan {
    asking(inv, ctx, CommandKind::Status, hosts, true, |_, t| {
        [
            Probe::Running,
            Probe::Profile,
            Probe::Specialisations,
            Probe::Generations,
            Probe::Space,
            Probe::Uptime,
            Probe::Lock,
        ]
        .into_iter()
        .map(|p| probe_step(t, p, inv, None))
        .collect()
    })
}

/// `generations`: each host's system generations, with what runs and what boots.
pub fn generations(inv: &Inventory, ctx: &Context, hosts: &[&Host]) -> Plan {
    asking(inv, ctx, CommandKind::Generations, hosts, false, |_, t| {
        [
            Probe::Generations,
            Probe::GenerationLinks,
            Probe::Running,
            Probe::Booted,
        ]
        .into_iter()
        .map(|p| probe_step(t, p, inv, None))
        .collect()
    })
}

/// `exec`: `argv` on each host, all at once, as its deploy user or (`root`) as root, through
/// sudo as deployments get it. Its words go as they are: quoted for the host's shell, never
/// through one here.
pub fn exec(
    inv: &Inventory,
    ctx: &Context,
    hosts: &[&Host],
    argv: &[String],
    root: bool,
) -> Result<Plan, crate::error::Error> {
    // As root where fleet has no way to it (a non-root user, sudo turned off): refused, not
    // run as that user unsaid.
    if let Some(h) = hosts.iter().find(|h| {
        root && matches!(ctx.machine(h), Machine::Host(_))
            && !h.sudo
            && h.user.as_deref().is_some_and(|u| u != "root")
    }) {
        return Err(crate::error::Error::usage(
            format!(
                "exec --root: {} logs in as {} with `sudo = false`, so fleet has no way to root there",
                h.name,
                h.user.as_deref().unwrap_or_default()
            ),
            format!(
                "drop --root, or set `sudo = true` for {} in {}",
                h.name,
                inv.source.display()
            ),
        ));
    }
    Ok(asking(inv, ctx, CommandKind::Exec, hosts, false, |h, t| {
        let run = Invocation::new(
            t.clone(),
            argv.iter().map(|w| Arg::from(w.as_str())).collect(),
        );
        let sudo = if root { ctx.sudo(h) } else { None };
        let title = format!("run {}", crate::vocab::quote_argv(argv));
        vec![Step::new(StepKind::Exec, &title, run.with_sudo(sudo))]
    }))
}

/// `unlock`: each host's deploy lock broken, as root, its holder said.
pub fn unlock(inv: &Inventory, ctx: &Context, hosts: &[&Host]) -> Plan {
    asking(inv, ctx, CommandKind::Unlock, hosts, false, |h, t| {
        let run = Invocation::new(t.clone(), nix::unlock()).instant();
        vec![Step::new(
            StepKind::Exec,
            "break the deploy lock",
            run.with_sudo(ctx.sudo(h)),
        )]
    })
}

/// The cache a builder serves, and the caches a host should use, in tier order.
fn host_caches<'a>(inv: &'a Inventory, host: &Host) -> Vec<&'a crate::inventory::Cache> {
    host.caches
        .iter()
        .filter_map(|c| inv.cache(c))
        .filter(|c| c.host.as_deref() != Some(host.name.as_str()))
        .collect()
}

/// `cache status`: each host's nix settings, and whether it reaches each of its caches.
pub fn cache_status(inv: &Inventory, ctx: &Context, hosts: &[&Host]) -> Plan {
    asking(inv, ctx, CommandKind::CacheStatus, hosts, false, |h, t| {
        let mut steps = vec![probe_step(t, Probe::Settings, inv, None)];
        steps.extend(
            host_caches(inv, h)
                .into_iter()
                .map(|c| probe_step(t, Probe::CacheReach(c.name.clone()), inv, None)),
        );
        steps
    })
}

/// `doctor`: everything `cache status` and `status` ask, plus the builders' cache services and
/// a signature check of each builder cache on each host that uses it.
pub fn doctor(inv: &Inventory, ctx: &Context, hosts: &[&Host]) -> Plan {
    let mut plan = asking(inv, ctx, CommandKind::Doctor, hosts, false, |h, t| {
        let mut probes = vec![
            Probe::NixVersion,
            Probe::Running,
            Probe::Profile,
            Probe::Space,
            Probe::Settings,
            Probe::Systemd,
        ];
        if inv.cache_served_by(&h.name).is_some() {
            probes.push(Probe::UnitActive("nix-serve.service".into()));
        }
        for c in host_caches(inv, h) {
            probes.push(Probe::CacheReach(c.name.clone()));
        }
        let mut steps: Vec<Step> = probes
            .into_iter()
            .map(|p| probe_step(t, p, inv, None))
            .collect();
        // A builder's helpers, reached as its nix-daemon (root) reaches them.
        for m in &h.build_machines {
            let mut step = probe_step(t, Probe::Helper(m.host.clone()), inv, None);
            step.run = step.run.with_sudo(ctx.sudo(h));
            steps.push(step);
        }
        // The builder's running system: its cache serves it, signed by the builder.
        for c in host_caches(inv, h).into_iter().filter(|c| c.host.is_some()) {
            let signed = c.host.as_deref().map(Arg::running);
            steps.push(probe_step(
                t,
                Probe::CacheVerify(c.name.clone()),
                inv,
                signed,
            ));
        }
        steps
    });
    // What each of those builders runs, read once before the hosts are asked.
    let mut builders: Vec<&Host> = hosts
        .iter()
        .flat_map(|h| host_caches(inv, h))
        .filter_map(|c| inv.host(c.host.as_deref()?))
        .collect();
    builders.sort_by(|a, b| a.name.cmp(&b.name));
    builders.dedup_by(|a, b| a.name == b.name);
    plan.prepare.extend(builders.into_iter().map(|b| {
        Step::new(
            StepKind::ReadRunningOf(b.name.clone()),
            &format!(
                "read the system {} runs (its cache serves it, signed)",
                b.name
            ),
            Invocation::new(ctx.machine(b), nix::read_current_system()).instant(),
        )
    }));
    plan
}

/// `gc`, first part: what each host has (generations, running and booted systems), and with
/// `dry_run`, what collection would delete.
pub fn gc_survey(inv: &Inventory, ctx: &Context, hosts: &[&Host], dry_run: bool) -> Plan {
    asking(inv, ctx, CommandKind::Gc, hosts, false, |_, t| {
        let mut probes = vec![
            Probe::Generations,
            Probe::GenerationLinks,
            Probe::Running,
            Probe::Booted,
            Probe::Now,
        ];
        if dry_run {
            probes.push(Probe::Dead);
        }
        probes
            .into_iter()
            .map(|p| probe_step(t, p, inv, None))
            .collect()
    })
}

/// `gc`, second part: on each host that answered the survey, delete the generations decided
/// on, then collect garbage.
pub fn gc_collect_all(ctx: &Context, deletions: &[(&Host, &[u32])]) -> Plan {
    let hosts = deletions
        .iter()
        .map(|&(host, generations)| {
            let target = ctx.machine(host);
            HostPlan {
                deploy: gc_collect(host, &target, generations, ctx.sudo(host)),
                ..HostPlan::new(host, target.clone(), target)
            }
        })
        .collect();
    Plan::new(
        CommandKind::Gc,
        &ctx.run.flake,
        deletions.len().max(1),
        hosts,
    )
}

/// `gc`, second part for one host: delete these generations, then collect garbage.
pub fn gc_collect(
    host: &Host,
    target: &Machine,
    generations: &[u32],
    sudo: Option<Sudo>,
) -> Vec<Step> {
    let as_root = |argv| Invocation::new(target.clone(), argv).with_sudo(sudo);
    let mut steps = Vec::new();
    if !generations.is_empty() {
        steps.push(Step::new(
            StepKind::DeleteGenerations,
            &format!("delete generations {} on {}", join(generations), host.name),
            as_root(nix::delete_generations(generations)),
        ));
    }
    steps.push(Step::new(
        StepKind::CollectGarbage,
        &format!("collect garbage on {}", host.name),
        as_root(nix::collect_garbage()),
    ));
    steps
}

fn join(numbers: &[u32]) -> String {
    numbers
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}
