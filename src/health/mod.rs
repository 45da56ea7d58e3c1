//! Fleet health: `status`, `doctor`, `cache status|nix-config|push`, `gc`. Judging what hosts
//! answer is pure (tested without hosts); asking goes through `exec`.

pub mod doctor;
pub mod gc;
pub mod generations;

use serde::Serialize;

use crate::exec::transport::{net, ssh_config};
use crate::exec::{Answers, Asked};
use crate::facts;
use crate::inventory::{Cache, Host, Inventory};
use crate::plan::Probe;

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
#[derive(Debug, Clone)]
pub struct TierCheck {
    pub cache: String,
    pub url: String,
    /// Latency in milliseconds and the cache's info, or why it did not answer.
    pub from_here: Result<(u128, facts::CacheInfo), String>,
    /// For a cache served by an inventory host: its info over each of the host's addresses.
    pub addresses: Vec<(String, Result<u128, String>)>,
}

/// As JSON: `from_here` is `{latency_ms, info}` or `{error}`, and each address
/// `{address, latency_ms}` or `{address, error}`.
impl Serialize for TierCheck {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde_json::json;
        let from_here = match &self.from_here {
            Ok((ms, info)) => json!({ "latency_ms": ms, "info": info }),
            Err(e) => json!({ "error": e }),
        };
        let addresses: Vec<serde_json::Value> = self
            .addresses
            .iter()
            .map(|(address, r)| match r {
                Ok(ms) => json!({ "address": address, "latency_ms": ms }),
                Err(e) => json!({ "address": address, "error": e }),
            })
            .collect();
        json!({
            "cache": self.cache,
            "url": self.url,
            "from_here": from_here,
            "addresses": addresses,
        })
        .serialize(serializer)
    }
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
                // Each address as ssh resolves it: hosts known by ssh-config aliases only.
                (Some(host), Some((_, port))) if c.url.starts_with("http") => host
                    .addresses
                    .iter()
                    .map(|a| {
                        let view = ssh_config::view(inv.ssh_config.as_deref(), host, a);
                        let scheme = c.url.split("://").next().unwrap_or("http");
                        let url = format!("{scheme}://{}:{port}/nix-cache-info", view.hostname);
                        let shown = if view.hostname == *a {
                            a.clone()
                        } else {
                            format!("{} ({a})", view.hostname)
                        };
                        (shown, net::get(&url).map(|f| f.latency.as_millis()))
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

/// One line of `fleet status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusLine {
    pub host: String,
    pub address: Option<String>,
    pub unreachable: Option<String>,
    pub generation: Option<facts::Generation>,
    pub running: Option<String>,
    /// The system its profile points at: what it boots next.
    pub profile: Option<String>,
    /// It runs one system and boots another (after `--action test`, or a switch or rollback
    /// cut short): `fleet deploy` (or `fleet rollback`) makes them one.
    pub profile_differs: bool,
    /// Whether it runs what the flake now says.
    pub up_to_date: Option<bool>,
    /// The run that holds its deploy lock, if one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<facts::LockHolder>,
    /// Used and free on the filesystem that holds /nix, from `df` (walking a builder's store
    /// with `du` takes minutes).
    pub nix_used_kib: Option<u64>,
    pub nix_free_kib: Option<u64>,
    pub uptime_secs: Option<f64>,
    /// Its last deployment from this machine did not happen (asleep, failed): which run, how,
    /// and what it still ran then (`fleet retry` deploys it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<crate::runs::Pending>,
    /// The specialisation of its profile's system it runs, if it runs one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub specialisation: Option<String>,
}

pub fn status_lines(asked: &Asked) -> Vec<StatusLine> {
    asked
        .hosts
        .iter()
        .map(|a| {
            let running = a.ok(&Probe::Running).map(|s| s.trim().to_string());
            let profile = a.ok(&Probe::Profile).map(|s| s.trim().to_string());
            let evaluated = asked.systems.get(&a.host).map(|s| s.out.as_str());
            // `NAME PATH` lines: the one the host runs, if any.
            let specialisation = a.ok(&Probe::Specialisations).and_then(|text| {
                text.lines().find_map(|l| {
                    let (name, path) = l.split_once(' ')?;
                    (Some(path.trim()) == running.as_deref()).then(|| name.to_string())
                })
            });
            let nix_space = a
                .ok(&Probe::Space)
                .and_then(|s| facts::disk_space(s).into_iter().next());
            StatusLine {
                host: a.host.clone(),
                address: a.address.clone(),
                unreachable: a.unreachable.clone(),
                generation: a
                    .ok(&Probe::Generations)
                    .map(facts::generations)
                    .and_then(|g| g.into_iter().find(|g| g.current)),
                // A specialisation of the evaluated system is it, as nixos-rebuild switched it.
                up_to_date: running.as_deref().zip(evaluated).map(|(r, e)| {
                    r == e || (specialisation.is_some() && profile.as_deref() == Some(e))
                }),
                // Running a specialisation of the profile's system is running it.
                profile_differs: profile.is_some()
                    && running.is_some()
                    && profile != running
                    && specialisation.is_none(),
                pending: None,
                specialisation,
                running,
                profile,
                nix_used_kib: nix_space.as_ref().map(|s| s.used_kib),
                nix_free_kib: nix_space.as_ref().map(|s| s.free_kib),
                uptime_secs: a.ok(&Probe::Uptime).and_then(facts::uptime),
                lock: a.ok(&Probe::Lock).map(facts::lock_holder),
            }
        })
        .collect()
}
