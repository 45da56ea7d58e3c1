//! `doctor`: every check of the fleet's health: SSH, nix, disk space, and each cache tier
//! from here and from each host (listed, trusted, reachable, verifying).

use crate::app::{write_json, write_stdout, Session};
use crate::cli::Global;
use crate::cli::OptionalHosts;
use crate::error::{exit, Error};
use std::path::Path;

use crate::exec::transport::{net, ssh_config};
use crate::health::{self, doctor};
use crate::inventory::Host;
use crate::plan::{self, Machine};
use crate::select::{select, WhenEmpty};
use crate::ui;

/// Check caches and hosts: pass, warn or fail, each with its fix; exit 1 when any fails
#[derive(Debug, clap::Args)]
pub struct Doctor {
    #[command(flatten)]
    hosts: OptionalHosts,
}

impl super::Run for Doctor {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let s = &Session::open(g)?;
        let selectors = &self.hosts.hosts;
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
                h.addresses
                    .iter()
                    .map(move |a| address_check(s.inv.ssh_config.as_deref(), h, a))
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
}

/// Whether `host`'s SSH port answers at `address`, reached as ssh reaches it (an alias of the
/// ssh config resolves to its HostName and Port; a ProxyJump is not checked directly).
fn address_check(config: Option<&Path>, host: &Host, address: &str) -> doctor::AddressCheck {
    let view = ssh_config::view(config, host, address);
    let shown = if view.hostname == address {
        address.to_string()
    } else {
        format!("{} ({address})", view.hostname)
    };
    let reach = match view.proxy_jump {
        Some(jump) => doctor::Reach::Through(jump),
        None => match net::tcp_check(&view.hostname, view.port) {
            Ok(d) => doctor::Reach::Answered(d.as_millis()),
            Err(e) => doctor::Reach::Failed(e),
        },
    };
    doctor::AddressCheck {
        host: host.name.clone(),
        address: shown,
        reach,
    }
}
