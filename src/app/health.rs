//! The health commands: `status`, `doctor`, `cache ...`, `gc`. Ask the hosts (through `exec`),
//! judge (through `health`), print.

use anyhow::Context as _;

use super::{execute_plan, print_plan, runtime, state_dir, write_stdout};
use crate::cli::{CacheCommand, Global};
use crate::error::{exit, Error};
use crate::exec::{self, net, Asked};
use crate::health::{self, doctor, gc};
use crate::inventory::{Host, Inventory};
use crate::plan::{self, Context, HostPlan, Plan, PushTo};
use crate::select::{select, WhenEmpty};
use crate::ui::progress::Progress;

fn ask(plan: &Plan, inv: &Inventory, g: &Global) -> Result<Asked, Error> {
    let hosts: Vec<String> = plan.hosts.iter().map(|h| h.host.clone()).collect();
    let progress = Progress::new(&hosts, false, crate::ui::color());
    let opts = exec::Options {
        yes: g.yes,
        log_root: state_dir().join("logs"),
        verbose: g.verbose,
    };
    // Questions are quick: plain lines only with -v, so the table is what one reads.
    let progress = if g.verbose > 0 {
        progress
    } else {
        Progress::quiet()
    };
    let asked = runtime()?.block_on(exec::ask(plan, inv, &opts, &progress));
    drop(progress);
    asked
}

fn json<T: serde::Serialize>(value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).context("rendering JSON")?;
    write_stdout(&(text + "\n"))
}

pub fn status(inv: &Inventory, ctx: &Context, hosts: &[&Host], g: &Global) -> Result<u8, Error> {
    let plan = plan::status(inv, ctx, hosts);
    if g.dry_run {
        return print_plan(&plan, g.json);
    }
    let asked = ask(&plan, inv, g)?;
    let lines = health::status_lines(&asked);
    if g.json {
        json(&lines)?;
    } else {
        write_stdout(&health::render_status(&lines))?;
    }
    Ok(if lines.iter().all(|l| l.unreachable.is_none()) {
        exit::OK
    } else {
        exit::HOST_FAILED
    })
}

pub fn doctor(inv: &Inventory, ctx: &Context, hosts: &[&Host], g: &Global) -> Result<u8, Error> {
    let plan = plan::doctor(inv, ctx, hosts);
    if g.dry_run {
        return print_plan(&plan, g.json);
    }
    let tiers = health::check_tiers(inv);
    let addresses: Vec<doctor::AddressCheck> = hosts
        .iter()
        .filter(|h| !matches!(ctx.machine(h), plan::Machine::Local))
        .flat_map(|h| {
            h.addresses.iter().map(move |a| {
                let port = h.port.unwrap_or(22);
                (
                    h.name.clone(),
                    a.clone(),
                    net::tcp_check(a, port).map(|d| d.as_millis()),
                )
            })
        })
        .collect();
    let asked = ask(&plan, inv, g)?;
    let checks = doctor::checks(inv, &tiers, &addresses, &asked);
    if g.json {
        json(&checks)?;
    } else {
        write_stdout(&doctor::render(&checks))?;
    }
    let failed = checks.iter().any(|c| c.status == doctor::Status::Fail);
    Ok(if failed { exit::HOST_FAILED } else { exit::OK })
}

pub fn cache(
    inv: &Inventory,
    ctx: &Context,
    command: &CacheCommand,
    g: &Global,
) -> Result<u8, Error> {
    match command {
        CacheCommand::NixConfig { host } => {
            let host = match host {
                Some(h) => Some(select(inv, std::slice::from_ref(h), WhenEmpty::Refuse)?[0]),
                None => None,
            };
            write_stdout(&health::nix_config(inv, host))?;
            Ok(exit::OK)
        }
        CacheCommand::Status { hosts } => {
            let hosts = select(inv, &hosts.hosts, WhenEmpty::All)?;
            let plan = plan::cache_status(inv, ctx, &hosts);
            if g.dry_run {
                return print_plan(&plan, g.json);
            }
            let tiers = health::check_tiers(inv);
            let asked = ask(&plan, inv, g)?;
            if g.json {
                let matrix: Vec<serde_json::Value> = asked
                    .hosts
                    .iter()
                    .map(|a| {
                        let views: serde_json::Map<String, serde_json::Value> = inv
                            .caches
                            .iter()
                            .map(|c| (c.name.clone(), serde_json::to_value(health::cache_view(c, a)).unwrap_or_default()))
                            .collect();
                        serde_json::json!({ "host": a.host, "unreachable": a.unreachable, "caches": views })
                    })
                    .collect();
                json(&serde_json::json!({ "tiers": tiers, "hosts": matrix }))?;
            } else {
                let mut text = health::render_tiers(&tiers);
                text.push('\n');
                text.push_str(&health::render_matrix(inv, &asked));
                write_stdout(&text)?;
            }
            let bad = tiers.iter().any(|t| t.from_here.is_err())
                || asked.hosts.iter().any(|a| a.unreachable.is_some());
            Ok(if bad { exit::HOST_FAILED } else { exit::OK })
        }
        CacheCommand::Push { hosts, to } => {
            let hosts = select(inv, &hosts.hosts, WhenEmpty::Refuse)?;
            let to = push_target(inv, to.as_deref())?;
            let plan = plan::cache_push(inv, ctx, hosts, &to)?;
            if g.dry_run {
                return print_plan(&plan, g.json);
            }
            execute_plan(&plan, inv, g)
        }
    }
}

/// `--to`: a [caches] name or a store URL; a Cachix cache is pushed with `cachix`.
fn push_target(inv: &Inventory, to: Option<&str>) -> Result<PushTo, Error> {
    let url = match to {
        Some(name) if inv.cache(name).is_some() => {
            inv.cache(name).map(|c| c.url.clone()).unwrap_or_default()
        }
        Some(url) if url.contains("://") => {
            if let Some(why) =
                crate::inventory::names::cache_url_problem(url.split('?').next().unwrap_or(url))
            {
                return Err(Error::usage(
                    format!("--to {url}: {why}"),
                    "give a [caches] name or a Nix store URL",
                ));
            }
            url.to_string()
        }
        Some(other) => {
            return Err(Error::usage(
                format!("--to {other}: not a cache of the inventory, nor a store URL"),
                format!(
                    "caches: {}",
                    inv.caches
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        }
        None => match inv.caches.iter().find(|c| cachix_name(&c.url).is_some()) {
            Some(c) => c.url.clone(),
            None => {
                return Err(Error::usage(
                    "no cache to push to",
                    "pass --to CACHE (a [caches] name, or a store URL like file:///srv/cache)",
                ))
            }
        },
    };
    match cachix_name(&url) {
        Some(name) => {
            which::which("cachix").map_err(|_| {
                Error::usage(
                    format!("{url} is a Cachix cache, and cachix is not installed here"),
                    "install cachix (nix profile install nixpkgs#cachix) and set CACHIX_AUTH_TOKEN",
                )
            })?;
            Ok(PushTo::Cachix(name))
        }
        None => Ok(PushTo::Store(url)),
    }
}

/// `https://NAME.cachix.org` → NAME.
fn cachix_name(url: &str) -> Option<String> {
    let host = url.strip_prefix("https://")?.split('/').next()?;
    host.strip_suffix(".cachix.org").map(String::from)
}

pub fn gc(
    inv: &Inventory,
    ctx: &Context,
    hosts: &[&Host],
    older_than: u64,
    g: &Global,
) -> Result<u8, Error> {
    let survey = plan::gc_survey(inv, ctx, hosts, g.dry_run);
    let asked = ask(&survey, inv, g)?;
    let decisions: Vec<(String, Option<String>, gc::Decision)> = asked
        .hosts
        .iter()
        .map(|a| {
            (
                a.host.clone(),
                a.unreachable.clone(),
                gc::decide(a, older_than),
            )
        })
        .collect();
    if g.dry_run {
        let mut text = String::new();
        for (a, (host, unreachable, d)) in asked.hosts.iter().zip(&decisions) {
            if let Some(why) = unreachable {
                text.push_str(&format!("{host}: {why}\n"));
                continue;
            }
            let dead = a
                .ok(&plan::Probe::Dead)
                .map(|s| s.lines().count())
                .unwrap_or(0);
            text.push_str(&format!(
                "{host}: would delete generations [{}] (older than {older_than}d){}; {dead} store paths are dead now\n",
                d.delete.iter().map(u32::to_string).collect::<Vec<_>>().join(" "),
                kept(d)
            ));
        }
        text.push_str("Dry run: nothing was deleted.\n");
        write_stdout(&text)?;
        return Ok(exit::OK);
    }
    let mut collect = Plan {
        command: plan::Command::Gc,
        flake: inv.flake.clone(),
        action: None,
        max_parallel: hosts.len().max(1),
        gate: plan::Gate::None,
        only_changed: false,
        prepare: Vec::new(),
        hosts: Vec::new(),
    };
    for (host, (_, unreachable, d)) in hosts.iter().zip(&decisions) {
        if unreachable.is_some() {
            continue;
        }
        let target = ctx.machine(host);
        let sudo = ctx.sudo(host);
        collect.hosts.push(HostPlan {
            host: host.name.clone(),
            attribute: host.attribute.clone(),
            build_on: target.clone(),
            deploy: plan::gc_collect(host, &target, &d.delete, sudo),
            target,
            inspect: Vec::new(),
            build: Vec::new(),
            if_builder_down: None,
        });
    }
    let code = execute_plan(&collect, inv, g)?;
    let unreachable: Vec<&str> = decisions
        .iter()
        .filter(|d| d.1.is_some())
        .map(|d| d.0.as_str())
        .collect();
    if !unreachable.is_empty() {
        eprintln!("not collected, unreachable: {}", unreachable.join(", "));
        return Ok(exit::HOST_FAILED);
    }
    Ok(code)
}

fn kept(d: &gc::Decision) -> String {
    if d.kept.is_empty() {
        return String::new();
    }
    let kept: Vec<String> = d
        .kept
        .iter()
        .map(|(n, why)| format!("{n} ({why})"))
        .collect();
    format!(", keeping {}", kept.join(", "))
}
