//! `gc`: ask each host which generations are old and what is dead, then delete those
//! generations (never the current or booted one) and collect garbage. `--dry-run` asks and
//! says what would go.

use crate::app::{write_stdout, Session};
use crate::error::{exit, Error};
use crate::health::gc;
use crate::plan::{self, HostPlan, Plan};
use crate::select::{select, WhenEmpty};
use crate::ui;

pub fn run(s: &Session, selectors: &[String], older_than: u64) -> Result<u8, Error> {
    let (inv, ctx, g) = (&s.inv, &s.ctx, s.global);
    let hosts = &select(inv, selectors, WhenEmpty::Refuse)?;
    let survey = plan::gc_survey(inv, ctx, hosts, g.dry_run);
    let asked = s.ask(&survey)?;
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
        write_stdout(&ui::commands::gc_dry_run(&asked, &decisions, older_than))?;
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
    let code = s.execute_and_summarise(&collect)?;
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
