//! Fleet health: `status`, `doctor`, `cache status|nix-config|push`, `gc`. Judging what hosts
//! answer is pure (tested without hosts); asking goes through `exec`.

pub mod doctor;
pub mod gc;

use serde::Serialize;

use crate::exec::{net, Answers, Asked};
use crate::facts;
use crate::inventory::{Cache, Host, Inventory};
use crate::plan::Probe;
use crate::ui::summary::short;
use crate::ui::table;

/// `fleet cache nix-config`: the `nix.settings` a host should have, tiers in order, ready to
/// paste into its NixOS configuration. A host does not list the cache it serves itself.
pub fn nix_config(inv: &Inventory, host: Option<&Host>) -> String {
    let caches: Vec<&Cache> = match host {
        Some(h) => h
            .caches
            .iter()
            .filter_map(|c| inv.cache(c))
            .filter(|c| c.host.as_deref() != Some(h.name.as_str()))
            .collect(),
        None => inv.caches.iter().collect(),
    };
    let who = host.map_or("every host".to_string(), |h| h.name.clone());
    let mut out = format!("# nix.settings for {who}, from {}\n", inv.source.display());
    out.push_str("nix.settings = {\n  substituters = [\n");
    for c in &caches {
        out.push_str(&format!("    \"{}\"\n", c.url));
    }
    out.push_str("  ];\n  trusted-public-keys = [\n");
    for c in caches.iter().filter_map(|c| c.public_key.as_deref()) {
        out.push_str(&format!("    \"{c}\"\n"));
    }
    out.push_str("  ];\n};\n");
    out
}

/// A cache tier as seen from this machine.
#[derive(Debug, Clone, Serialize)]
pub struct TierCheck {
    pub cache: String,
    pub url: String,
    /// Latency in milliseconds and the cache's info, or why it did not answer.
    pub from_here: Result<(u128, facts::CacheInfo), String>,
    /// For a cache served by an inventory host: its info over each of the host's addresses.
    pub addresses: Vec<(String, Result<u128, String>)>,
}

/// Checks every cache tier from here, and a host-served cache over each of its host's addresses.
pub fn check_tiers(inv: &Inventory) -> Vec<TierCheck> {
    inv.caches
        .iter()
        .map(|c| {
            let info_url = format!("{}/nix-cache-info", c.url.trim_end_matches('/'));
            let from_here =
                net::get(&info_url).map(|f| (f.latency.as_millis(), facts::cache_info(&f.body)));
            let addresses = match (
                c.host.as_deref().and_then(|h| inv.host(h)),
                net::host_port(&c.url),
            ) {
                (Some(host), Some((_, port))) if c.url.starts_with("http") => host
                    .addresses
                    .iter()
                    .map(|a| {
                        let scheme = c.url.split("://").next().unwrap_or("http");
                        let url = format!("{scheme}://{a}:{port}/nix-cache-info");
                        (a.clone(), net::get(&url).map(|f| f.latency.as_millis()))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            TierCheck {
                cache: c.name.clone(),
                url: c.url.clone(),
                from_here,
                addresses,
            }
        })
        .collect()
}

/// `fleet cache status`, first part: the tiers from here.
pub fn render_tiers(tiers: &[TierCheck]) -> String {
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

/// One host's view of one cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheView {
    pub listed: Option<bool>,
    pub trusted: Option<bool>,
    pub reaches: Option<bool>,
}

/// What `host` says about `cache` (`None` where it was not asked or not known).
pub fn cache_view(cache: &Cache, answers: &Answers) -> CacheView {
    let settings = answers.ok(&Probe::Settings).and_then(facts::nix_settings);
    let listed = settings.as_ref().map(|s| {
        s.substituters
            .iter()
            .any(|u| facts::same_url(u, &cache.url))
    });
    let trusted = match (&settings, &cache.public_key) {
        (Some(s), Some(k)) => Some(s.trusted_public_keys.iter().any(|t| t == k)),
        _ => None,
    };
    let reaches = answers
        .answers
        .get(&Probe::CacheReach(cache.name.clone()))
        .map(reached);
    CacheView {
        listed,
        trusted,
        reaches,
    }
}

/// Whether a reach probe got an answer from the cache: "not valid" is the cache saying it does
/// not have the probe path.
pub fn reached(f: &crate::exec::run::Finished) -> bool {
    f.success() || f.tail.iter().any(|l| l.contains("is not valid"))
}

/// `fleet cache status`, second part: hosts × caches.
pub fn render_matrix(inv: &Inventory, asked: &Asked) -> String {
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

/// One line of `fleet status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusLine {
    pub host: String,
    pub address: Option<String>,
    pub unreachable: Option<String>,
    pub generation: Option<facts::Generation>,
    pub running: Option<String>,
    /// Whether it runs what the flake now says.
    pub up_to_date: Option<bool>,
    pub store_kib: Option<u64>,
    pub nix_free_kib: Option<u64>,
    pub uptime_secs: Option<f64>,
}

pub fn status_lines(asked: &Asked) -> Vec<StatusLine> {
    asked
        .hosts
        .iter()
        .map(|a| {
            let running = a.ok(&Probe::Running).map(|s| s.trim().to_string());
            let evaluated = asked.systems.get(&a.host).map(|s| s.out.as_str());
            StatusLine {
                host: a.host.clone(),
                address: a.address.clone(),
                unreachable: a.unreachable.clone(),
                generation: a
                    .ok(&Probe::Generations)
                    .map(facts::generations)
                    .and_then(|g| g.into_iter().find(|g| g.current)),
                up_to_date: running.as_deref().zip(evaluated).map(|(r, e)| r == e),
                running,
                store_kib: a
                    .ok(&Probe::StoreSize)
                    .and_then(|s| s.split_whitespace().next()?.parse().ok()),
                nix_free_kib: a
                    .ok(&Probe::Space)
                    .map(facts::disk_space)
                    .and_then(|s| s.into_iter().next().map(|s| s.free_kib)),
                uptime_secs: a.ok(&Probe::Uptime).and_then(facts::uptime),
            }
        })
        .collect()
}

pub fn render_status(lines: &[StatusLine]) -> String {
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
                match l.up_to_date {
                    Some(true) => "yes".into(),
                    Some(false) => format!(
                        "no: runs {}",
                        l.running.as_deref().map(short).unwrap_or_default()
                    ),
                    None => "?".into(),
                },
                l.store_kib.map_or("?".into(), facts::kib),
                l.nix_free_kib.map_or("?".into(), facts::kib),
                l.uptime_secs.map_or("?".into(), facts::duration),
            ]
        })
        .collect();
    table::render(
        &[
            "HOST",
            "REACHED AT",
            "GENERATION",
            "UP TO DATE",
            "STORE",
            "FREE ON /nix",
            "UPTIME",
        ],
        &rows,
    )
}
