//! `doctor`: every check of the fleet's health: SSH, nix, disk space, and each cache tier
//! from here and from each host (listed, trusted, reachable, verifying).

use crate::app::{write_json, write_stdout, Session};
use crate::error::{exit, Error};
use crate::exec::net;
use crate::health::{self, doctor};
use crate::plan::{self, Machine};
use crate::select::{select, WhenEmpty};
use crate::ui;

pub fn run(s: &Session, selectors: &[String]) -> Result<u8, Error> {
    let hosts = select(&s.inv, selectors, WhenEmpty::All)?;
    let plan = plan::doctor(&s.inv, &s.ctx, &hosts);
    if let Some(code) = s.dry_run(&plan)? {
        return Ok(code);
    }
    let tiers = health::check_tiers(&s.inv);
    let addresses: Vec<doctor::AddressCheck> = hosts
        .iter()
        .filter(|h| !matches!(s.ctx.machine(h), Machine::Local))
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
    let asked = s.ask(&plan)?;
    let checks = doctor::checks(&s.inv, &tiers, &addresses, &asked);
    if s.global.json {
        write_json(&checks)?;
    } else {
        write_stdout(&ui::health::doctor(&checks))?;
    }
    let failed = checks.iter().any(|c| c.status == doctor::Status::Fail);
    Ok(if failed { exit::HOST_FAILED } else { exit::OK })
}
