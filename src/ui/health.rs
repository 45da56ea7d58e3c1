//! The health commands' tables: cache tiers, hosts × caches, status, doctor.

use crate::exec::Asked;
use crate::facts;
use crate::health::doctor::{Check, Status};
use crate::health::{cache_view, StatusLine, TierCheck};
use crate::inventory::Inventory;
use crate::vocab::short;

use super::table;

/// `fleet cache status`, first part: the tiers from here.
pub fn tiers(tiers: &[TierCheck]) -> String {
    let rows: Vec<Vec<String>> = tiers
        .iter()
        .map(|t| {
            let (reach, latency, info) = match &t.from_here {
                Ok((ms, info)) => (
                    "yes".to_string(),
                    format!("{ms} ms"),
                    format!(
                        "StoreDir {}, Priority {}, WantMassQuery {}",
                        info.store_dir.as_deref().unwrap_or("?"),
                        info.priority.map_or("?".into(), |p| p.to_string()),
                        info.want_mass_query
                            .map_or("?", |w| if w { "yes" } else { "no" })
                    ),
                ),
                Err(e) => ("no".to_string(), "-".to_string(), e.clone()),
            };
            let over = t
                .addresses
                .iter()
                .map(|(a, r)| format!("{a} {}", if r.is_ok() { "ok" } else { "down" }))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                t.cache.clone(),
                t.url.clone(),
                reach,
                latency,
                if over.is_empty() { "-".into() } else { over },
                info,
            ]
        })
        .collect();
    table::render(
        &[
            "CACHE",
            "URL",
            "FROM HERE",
            "LATENCY",
            "OVER ADDRESSES",
            "INFO",
        ],
        &rows,
    )
}

/// `fleet cache status`, second part: hosts × caches.
pub fn matrix(inv: &Inventory, asked: &Asked) -> String {
    let mut headers = vec!["HOST".to_string()];
    headers.extend(inv.caches.iter().map(|c| c.name.clone()));
    let rows: Vec<Vec<String>> = asked
        .hosts
        .iter()
        .map(|a| {
            let mut row = vec![a.host.clone()];
            let host = inv.host(&a.host);
            for c in &inv.caches {
                let cell = if let Some(why) = &a.unreachable {
                    let _ = why;
                    "host unreachable".to_string()
                } else if c.host.as_deref() == Some(a.host.as_str()) {
                    "serves it".to_string()
                } else if host.is_some_and(|h| !h.caches.contains(&c.name)) {
                    "not used".to_string()
                } else {
                    let v = cache_view(c, a);
                    let mut missing = Vec::new();
                    if v.listed == Some(false) {
                        missing.push("not listed");
                    }
                    if v.trusted == Some(false) {
                        missing.push("key not trusted");
                    }
                    if v.reaches == Some(false) {
                        missing.push("unreachable");
                    }
                    if missing.is_empty() {
                        "ok".to_string()
                    } else {
                        missing.join(", ")
                    }
                };
                row.push(cell);
            }
            row
        })
        .collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    table::render(&headers, &rows)
}

/// `fleet status`: one row a host, then what could not be known (drift, when the flake did
/// not evaluate).
pub fn status(lines: &[StatusLine], missed: &[String]) -> String {
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            if l.unreachable.is_some() {
                return vec![
                    l.host.clone(),
                    "unreachable".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                ];
            }
            vec![
                l.host.clone(),
                l.address.clone().unwrap_or_else(|| "here".into()),
                l.generation
                    .as_ref()
                    .map_or("?".into(), |g| format!("{} ({})", g.number, g.date)),
                match (l.up_to_date, &l.specialisation) {
                    (Some(true), Some(s)) => format!("yes (specialisation {s})"),
                    (Some(true), None) => "yes".into(),
                    (Some(false), _) => format!(
                        "no: runs {}",
                        l.running.as_deref().map(short).unwrap_or_default()
                    ),
                    (None, _) => "?".into(),
                },
                l.nix_used_kib.map_or("?".into(), facts::kib),
                l.nix_free_kib.map_or("?".into(), facts::kib),
                l.uptime_secs.map_or("?".into(), facts::duration),
            ]
        })
        .collect();
    let mut out = table::render(
        &[
            "HOST",
            "REACHED AT",
            "GENERATION",
            "UP TO DATE",
            "USED ON /nix",
            "FREE ON /nix",
            "UPTIME",
        ],
        &rows,
    );
    let pending: Vec<(&str, &crate::runs::Pending)> = lines
        .iter()
        .filter_map(|l| Some((l.host.as_str(), l.pending.as_ref()?)))
        .collect();
    out.push_str(&super::pending(&pending));
    for l in lines.iter().filter(|l| l.profile_differs) {
        let (runs, boots) = (
            l.running.as_deref().map(short).unwrap_or_default(),
            l.profile.as_deref().map(short).unwrap_or_default(),
        );
        out.push_str(&format!(
            "\n{host} runs {runs} but boots {boots} (its profile): a reboot would change what it runs\n  fix: `fleet deploy {host}` to run and boot what the flake says, or `fleet rollback {host}`\n",
            host = l.host
        ));
    }
    for l in &lines
        .iter()
        .filter(|l| l.lock.is_some())
        .collect::<Vec<_>>()
    {
        if let Some(holder) = &l.lock {
            out.push_str(&format!(
                "\n{host}'s deploy lock is held: {}\n  a run that deploys {host} waits for it; if that run is gone and no watchdog keeps it, `fleet unlock {host}` breaks it\n",
                crate::vocab::visible(&holder.to_string()),
                host = l.host
            ));
        }
    }
    for why in missed {
        let first = why.lines().next().unwrap_or_default();
        out.push_str(&format!(
            "\nUP TO DATE is unknown: {first}\n  `fleet validate` shows why the flake does not evaluate\n"
        ));
    }
    out
}

/// The checks as a table, then the fixes of what did not pass.
pub fn doctor(checks: &[Check]) -> String {
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            vec![
                match c.status {
                    Status::Pass => "pass",
                    Status::Warn => "WARN",
                    Status::Fail => "FAIL",
                    Status::Skip => "skip",
                }
                .to_string(),
                c.host.clone().unwrap_or_else(|| "-".into()),
                c.check.clone(),
                c.detail.clone(),
            ]
        })
        .collect();
    let mut out = table::render(&["STATUS", "HOST", "CHECK", "DETAIL"], &rows);
    // One line a fix, each the same shape: `- HOST, CHECK: FIX` (`- CHECK: FIX` for checks
    // made from here).
    let fixes: Vec<String> = checks
        .iter()
        .filter(|c| matches!(c.status, Status::Warn | Status::Fail))
        .filter_map(|c| {
            let fix = c.fix.as_ref()?;
            Some(match &c.host {
                Some(h) => format!("  - {h}, {}: {fix}\n", c.check),
                None => format!("  - {}: {fix}\n", c.check),
            })
        })
        .collect();
    if !fixes.is_empty() {
        out.push_str("\nTo fix:\n");
        out.push_str(&fixes.concat());
    }
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    let skipped = match count(Status::Skip) {
        0 => String::new(),
        n => format!(", {n} skipped (what they need failed first)"),
    };
    out.push_str(&format!(
        "\n{} checks: {} failed, {} warnings{skipped}\n",
        checks.len(),
        count(Status::Fail),
        count(Status::Warn)
    ));
    out
}
