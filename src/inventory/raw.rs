//! The shape of `hosts.toml` exactly as written, before any checking.
//! Values that later checks refer to keep their byte spans, so errors can point at the line.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

/// The whole file. Unknown keys are refused at every level.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInventory {
    #[serde(default)]
    pub fleet: RawFleet,
    #[serde(default)]
    pub caches: IndexMap<Spanned<String>, RawCache>,
    #[serde(default)]
    pub hosts: IndexMap<Spanned<String>, RawHost>,
}

/// `[fleet]`: settings for the whole inventory.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFleet {
    pub flake: Option<Spanned<String>>,
    pub max_parallel: Option<Spanned<i64>>,
    /// Seconds a host's SSH master stays open after a run (0: closed at the end).
    pub keep_connections: Option<Spanned<i64>>,
    /// Seconds a build, copy or activation may print nothing before it is stopped (0: never).
    pub inactivity_timeout: Option<Spanned<i64>>,
    /// Hosts evaluated at once (default: from the cores and the free memory).
    pub eval_jobs: Option<Spanned<i64>>,
    /// MiB one host's evaluation may take, to size the default `eval_jobs`.
    pub eval_max_memory: Option<Spanned<i64>>,
    /// The host that evaluates the flake (a builder, say), or `local` (the default).
    pub eval_on: Option<Spanned<String>>,
    pub ssh_config: Option<Spanned<String>>,
    /// `[fleet.nix]`: options for Nix on every run.
    pub nix: Option<RawNix>,
}

/// `[fleet.nix]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNix {
    #[serde(default)]
    pub accept_flake_config: bool,
    #[serde(default)]
    pub show_trace: bool,
    #[serde(default)]
    pub print_build_logs: bool,
    #[serde(default)]
    pub impure: bool,
    #[serde(default)]
    pub keep_going: bool,
    /// `--option NAME VALUE` for each entry, in order.
    #[serde(default)]
    pub options: IndexMap<Spanned<String>, Spanned<String>>,
}

/// `[caches.NAME]`: one binary cache tier.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    pub url: Spanned<String>,
    pub public_key: Option<Spanned<String>>,
    pub host: Option<Spanned<String>>,
    /// This machine may push to it (`fleet cache push`).
    #[serde(default)]
    pub writable: bool,
}

/// `[hosts.NAME]`: one machine.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    pub addresses: Option<Vec<Spanned<String>>>,
    pub user: Option<Spanned<String>>,
    pub port: Option<Spanned<i64>>,
    #[serde(default)]
    pub builder: bool,
    /// One builder, or a list: the first that answers builds, the rest are its fallbacks.
    pub via: Option<Spanned<OneOrMany>>,
    /// Helpers a builder hands to Nix's distributed builds when it builds.
    pub build_machines: Option<Spanned<Vec<HostOrTable>>>,
    pub attribute: Option<Spanned<String>>,
    #[serde(default)]
    pub tags: Vec<Spanned<String>>,
    #[serde(default)]
    pub local: bool,
    pub sudo: Option<bool>,
    /// sudo there wants a password: fleet asks for it once per run.
    #[serde(default)]
    pub sudo_password: bool,
    pub caches: Option<Vec<Spanned<String>>>,
    pub fallback: Option<crate::vocab::FallbackTo>,
    /// The host's MAC address, for wake-on-LAN.
    pub mac: Option<Spanned<String>>,
    /// Where its magic packet is sent (an IPv4 broadcast address).
    pub wake_address: Option<Spanned<String>>,
    /// Wake it when a run needs it and it does not answer.
    pub wake: Option<Spanned<bool>>,
    /// Commands (argv) run on the host after activation, each a list of words.
    pub health_checks: Option<Spanned<Vec<Vec<Spanned<String>>>>>,
    /// Commands (argv) run on the host, as root, before activation.
    pub pre_activate: Option<Spanned<Vec<Vec<Spanned<String>>>>>,
    /// "keep" or "rollback": a switch that left units failed.
    pub failed_units: Option<Spanned<String>>,
    /// The specialisation a switch or test activates (`$system/specialisation/NAME`).
    pub specialisation: Option<Spanned<String>>,
}

/// A name, or a list of names.
#[derive(Debug, Clone)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn names(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a host name, or a list of host names")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<OneOrMany, A::Error> {
                Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(OneOrMany::Many)
            }
        }
        d.deserialize_any(V)
    }
}

/// One of a builder's `build_machines` with Nix's machine fields, written as a table
/// (`{ host = "p510", jobs = 8 }`) or as the host's name alone (see `HostOrTable`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBuildMachine {
    pub host: String,
    pub jobs: Option<i64>,
    pub speed: Option<i64>,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub systems: Vec<String>,
}

/// A `RawBuildMachine`, or a host's name standing for one with Nix's defaults.
#[derive(Debug, Clone)]
pub struct HostOrTable(pub RawBuildMachine);

impl<'de> Deserialize<'de> for HostOrTable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = HostOrTable;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a host name, or a table like { host = \"p510\", jobs = 8 }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HostOrTable, E> {
                Ok(HostOrTable(RawBuildMachine {
                    host: v.to_string(),
                    ..RawBuildMachine::default()
                }))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<HostOrTable, A::Error> {
                RawBuildMachine::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(HostOrTable)
            }
        }
        d.deserialize_any(V)
    }
}
