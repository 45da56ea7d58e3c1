//! `cache status`, `cache push` and `cache nix-config`: the cache tiers seen from here and from
//! each host, pushing built systems to a cache, and the nix settings that use the tiers.

use crate::app::{write_json, write_stdout, Session};
use clap_complete::engine::ArgValueCandidates;

use crate::cli::{Global, OptionalHosts, RequiredHosts};
use crate::complete;
use crate::error::{exit, Error};
use crate::health;
use crate::inventory::Inventory;
use crate::plan::{self, PushTo};
use crate::select::{select, WhenEmpty};
use crate::ui;

/// Binary caches: status from here and from each host, pushing systems, nix settings
#[derive(Debug, clap::Args)]
pub struct Cache {
    #[command(subcommand)]
    command: CacheCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CacheCommand {
    /// Every cache tier from here (over each address of the host serving it), then hosts ×
    /// caches: listed as a substituter, key trusted, reachable from the host
    Status {
        #[command(flatten)]
        hosts: OptionalHosts,
    },
    /// Put hosts' systems into a cache, built where deploy would build them
    Push {
        #[command(flatten)]
        hosts: RequiredHosts,
        /// A [caches] name or a Nix store URL (file://, ssh://, s3://...) [default: the
        /// inventory's Cachix cache]
        #[arg(long, value_name = "CACHE", add = ArgValueCandidates::new(complete::writable_caches))]
        to: Option<String>,
    },
    /// The nix.settings a host should have (substituters and keys in tier order), to paste
    /// into its NixOS configuration
    NixConfig {
        /// The host [default: every cache, for any host]
        #[arg(value_name = "HOST", add = ArgValueCandidates::new(complete::hosts_and_tags))]
        host: Option<String>,
    },
}

impl super::Run for Cache {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let s = &Session::open(g)?;
        let (inv, ctx, g) = (&s.inv, &s.ctx, s.global);
        match &self.command {
            CacheCommand::NixConfig { host } => {
                let text = match host {
                    None => health::nix_config(inv, None),
                    // One snippet per host of a tag, each headed by its name.
                    Some(h) => {
                        let hosts = select(inv, std::slice::from_ref(h), WhenEmpty::Refuse)?;
                        let one = hosts.len() == 1;
                        hosts
                            .iter()
                            .map(|host| {
                                let config = health::nix_config(inv, Some(host));
                                if one {
                                    config
                                } else {
                                    format!("# {}\n{config}", host.name)
                                }
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    }
                };
                write_stdout(&text)?;
                Ok(exit::OK)
            }
            CacheCommand::Status { hosts } => {
                let hosts = select(inv, &hosts.hosts, WhenEmpty::All)?;
                let plan = plan::cache_status(inv, ctx, &hosts);
                if let Some(code) = s.dry_run(&plan)? {
                    return Ok(code);
                }
                let tiers = health::check_tiers(inv);
                let asked = s.ask(&plan)?;
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
                    write_json(&serde_json::json!({ "tiers": tiers, "hosts": matrix }))?;
                } else {
                    let mut text = ui::health::tiers(&tiers);
                    text.push('\n');
                    text.push_str(&ui::health::matrix(inv, &asked));
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
                if let Some(code) = s.dry_run(&plan)? {
                    return Ok(code);
                }
                s.execute_and_summarise(&plan)
            }
        }
    }
}

/// `--to`: a cache of the inventory marked `writable`, or a store URL that is not one of its
/// read-only caches; by default the first writable cache. A Cachix cache is pushed with
/// `cachix`.
fn push_target(inv: &Inventory, to: Option<&str>) -> Result<PushTo, Error> {
    let writable: Vec<&str> = inv
        .caches
        .iter()
        .filter(|c| c.writable)
        .map(|c| c.name.as_str())
        .collect();
    let read_only = |name: &str| {
        Error::usage(
            format!("cache {name} is not marked writable in hosts.toml"),
            format!(
                "add writable = true to [caches.{name}] if this machine may push there; writable caches: {}",
                if writable.is_empty() { "none".to_string() } else { writable.join(", ") }
            ),
        )
    };
    let url = match to {
        Some(name) => match inv.cache(name).or_else(|| inv.caches.iter().find(|c| c.url == name)) {
            Some(c) if c.writable => c.url.clone(),
            Some(c) => return Err(read_only(&c.name)),
            None => store_url(inv, name)?,
        },
        None => match inv.caches.iter().find(|c| c.writable) {
            Some(c) => c.url.clone(),
            None => {
                return Err(Error::usage(
                    "no cache to push to: none is marked writable in hosts.toml",
                    "add writable = true to the [caches.NAME] this machine may push to, or pass --to URL (like file:///srv/cache)",
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

/// `--to` that names no cache of the inventory: a store URL, checked.
fn store_url(inv: &Inventory, to: &str) -> Result<String, Error> {
    if !to.contains("://") {
        let caches: Vec<&str> = inv.caches.iter().map(|c| c.name.as_str()).collect();
        return Err(Error::usage(
            format!("--to {to}: not a cache of the inventory, nor a store URL"),
            format!("caches: {}", caches.join(", ")),
        ));
    }
    if let Some(why) =
        crate::inventory::names::cache_url_problem(to.split('?').next().unwrap_or(to))
    {
        return Err(Error::usage(
            format!("--to {to}: {why}"),
            "give a [caches] name or a Nix store URL",
        ));
    }
    Ok(to.to_string())
}

/// `https://NAME.cachix.org` → NAME.
fn cachix_name(url: &str) -> Option<String> {
    let host = url.strip_prefix("https://")?.split('/').next()?;
    host.strip_suffix(".cachix.org").map(String::from)
}
