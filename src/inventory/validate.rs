//! From the raw file to an `Inventory`: every rule of the contract, every problem collected,
//! so one run shows the user everything to fix.

use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use toml::Spanned;

use super::error::{key_at, InventoryError, Problem};
use super::names::{self, is_identifier};
use super::raw::{HostOrTable, RawCache, RawFleet, RawHost, RawInventory, RawNix};
use super::{Cache, Host, Inventory};
use crate::vocab::{FailedUnits, NixOptions};

const DEFAULT_MAX_PARALLEL: usize = 4;
/// How long a host's SSH master stays open after a run, for the next one (seconds).
pub const DEFAULT_KEEP_CONNECTIONS: u64 = 300;
/// What one NixOS configuration's evaluation takes, with room (a desktop's is about 1 GB,
/// NixOS/nix#8621).
pub const DEFAULT_EVAL_MAX_MEMORY: u64 = 2048;
/// An hour: Nix prints a line as each derivation starts, so only one derivation that builds
/// silently for longer (or a hung command) meets it.
pub const DEFAULT_INACTIVITY_TIMEOUT: u64 = 3600;

pub fn parse(text: &str, path: &Path) -> Result<Inventory, InventoryError> {
    parse_with(text, path, false)
}

/// `parse`, and with `files`, the local files the inventory names must exist (the flake's
/// directory, the ssh config).
pub fn parse_with(text: &str, path: &Path, files: bool) -> Result<Inventory, InventoryError> {
    let mut problems = Vec::new();
    // Every problem in one go: the values the reader refused are left out (and named in
    // `refused`), and the rest is checked as a whole (names, via, addresses...), except what
    // only follows from a value left out.
    let mut refused = Vec::new();
    let raw = read_tables(text, &mut problems, &mut refused).ok_or_else(|| {
        let mut problems = std::mem::take(&mut problems);
        problems.sort_by_key(|p| p.span.as_ref().map_or(0, |s| s.start));
        InventoryError::invalid(path.to_path_buf(), text, problems)
    })?;
    if files {
        check_files(&raw, path, &mut problems);
    }
    let read = problems.len();
    let inventory = resolve(raw, path, &mut problems);
    let checked = problems.split_off(read);
    problems.extend(checked.into_iter().filter(|p| {
        !refused
            .iter()
            .any(|r| p.key == *r || p.key.starts_with(&format!("{r}.")))
    }));
    if problems.is_empty() {
        Ok(inventory)
    } else {
        problems.sort_by_key(|p| p.span.as_ref().map_or(0, |s| s.start));
        Err(InventoryError::invalid(path.to_path_buf(), text, problems))
    }
}

/// The file's tables, each read on its own, so that every unknown key and wrongly typed value
/// is reported in one go (serde stops at the first); a table with such a key is read without
/// it, the key's dotted path added to `refused`. `None` when the file is not TOML at all, or
/// a table could not be read even so.
fn read_tables(
    text: &str,
    problems: &mut Vec<Problem>,
    refused: &mut Vec<String>,
) -> Option<RawInventory> {
    use toml::de::{DeTable, DeValue};

    let root = match DeTable::parse(text) {
        Ok(root) => root.into_inner(),
        Err(e) => {
            problems.push(serde_problem(text, &e));
            return None;
        }
    };
    let mut whole_failed = false;
    let mut raw = RawInventory {
        fleet: Default::default(),
        caches: Default::default(),
        hosts: Default::default(),
    };
    for (key, value) in root {
        let name = key.get_ref().as_ref().to_string();
        match name.as_str() {
            "fleet" => match read_one::<RawFleet>(text, value, problems, "fleet", refused) {
                Some(f) => raw.fleet = f,
                None => whole_failed = true,
            },
            "caches" | "hosts" => {
                let span = value.span();
                let DeValue::Table(entries) = value.into_inner() else {
                    problems.push(
                        Problem::new(
                            span,
                            name.clone(),
                            format!("`{name}` must be a table of tables"),
                        )
                        .help(format!("write [{name}.NAME] sections")),
                    );
                    whole_failed = true;
                    continue;
                };
                for (entry, value) in entries {
                    let entry = Spanned::new(entry.span(), entry.get_ref().as_ref().to_string());
                    let at = format!("{name}.{}", entry.get_ref());
                    if name == "caches" {
                        match read_one::<RawCache>(text, value, problems, &at, refused) {
                            Some(c) => {
                                raw.caches.insert(entry, c);
                            }
                            None => whole_failed = true,
                        }
                    } else {
                        match read_one::<RawHost>(text, value, problems, &at, refused) {
                            Some(h) => {
                                raw.hosts.insert(entry, h);
                            }
                            None => whole_failed = true,
                        }
                    }
                }
            }
            other => {
                let help = match names::closest(other, ["fleet", "caches", "hosts"]) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "the tables are [fleet], [caches.NAME] and [hosts.NAME]".to_string(),
                };
                problems.push(
                    Problem::new(
                        key.span(),
                        other.to_string(),
                        format!(
                            "unknown field `{other}`, expected one of `fleet`, `caches`, `hosts`"
                        ),
                    )
                    .help(help),
                );
            }
        }
    }
    (!whole_failed).then_some(raw)
}

/// `[fleet] flake`, resolved against the inventory's directory, and checked.
fn flake(given: Option<&Spanned<String>>, base: &Path, problems: &mut Vec<Problem>) -> String {
    let flake = match given {
        None => normalize(base).display().to_string(),
        Some(f) => match names::flake_problem(f.get_ref()) {
            Some(why) => {
                problems.push(Problem::new(span(f), "fleet.flake", why));
                String::new()
            }
            None => resolve_flake(f.get_ref(), base),
        },
    };

    // A path Nix cannot take as a flake reference is refused now, not when `nix` fails.
    if flake.contains(char::is_whitespace) {
        problems.push(
            Problem::new(
                given.map_or(0..0, span),
                "fleet.flake",
                format!("the flake's path `{flake}` holds a space, which Nix cannot take in a flake reference"),
            )
            .help("move the checkout to a path without spaces, or use a reference like git+file:///path"),
        );
    }

    flake
}

/// The flake's directory (a local path) and the ssh config must exist: found now, not when a
/// command fails half-way.
fn check_files(raw: &RawInventory, path: &Path, problems: &mut Vec<Problem>) {
    let base = path.parent().unwrap_or(Path::new("."));
    let flake = raw.fleet.flake.as_ref();
    let flake_dir = flake.map_or_else(|| base.to_path_buf(), |f| base.join(f.get_ref()));
    // A flake that is not even a valid reference is reported as that, once.
    let local = flake
        .is_none_or(|f| !f.get_ref().contains(':') && names::flake_problem(f.get_ref()).is_none());
    if local && !flake_dir.is_dir() {
        problems.push(
            Problem::new(
                flake.map_or(0..0, span),
                "fleet.flake",
                format!("{} is not a directory", normalize(&flake_dir).display()),
            )
            .help("point flake at the checkout with your flake.nix (relative to hosts.toml), or a flake reference like github:owner/repo"),
        );
    }
    if let Some(cfg) = &raw.fleet.ssh_config {
        let file = base.join(cfg.get_ref());
        let valid = !cfg.get_ref().is_empty() && !cfg.get_ref().chars().any(char::is_control);
        if valid && !file.is_file() {
            problems.push(
                Problem::new(
                    span(cfg),
                    "fleet.ssh_config",
                    format!("{} is not a file", normalize(&file).display()),
                )
                .help("point ssh_config at your ssh config (relative to hosts.toml), or remove it to use ~/.ssh/config"),
            );
        }
    }
}

/// `[fleet]`'s `eval_on`: a host of the inventory (`None`: here, also for `local`).
fn eval_on(
    fleet: &super::raw::RawFleet,
    host_names: &[&str],
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let h = fleet.eval_on.as_ref()?;
    match h.get_ref().as_str() {
        "local" => None,
        name if host_names.contains(&name) => Some(name.to_string()),
        _ => {
            problems.push(unknown_host(h, "fleet.eval_on", host_names));
            None
        }
    }
}

/// `[fleet]`'s `eval_jobs` (`None`: sized at run time) and `eval_max_memory`.
fn evaluation_settings(
    fleet: &super::raw::RawFleet,
    problems: &mut Vec<Problem>,
) -> (Option<usize>, u64) {
    let eval_jobs = fleet.eval_jobs.as_ref().and_then(|n| {
        match usize::try_from(*n.get_ref())
            .ok()
            .filter(|j| (1..=256).contains(j))
        {
            Some(jobs) => Some(jobs),
            None => {
                problems.push(
                    Problem::new(
                        span(n),
                        "fleet.eval_jobs",
                        "eval_jobs must be between 1 and 256",
                    )
                    .help("leave it out to size it from the cores and the free memory"),
                );
                None
            }
        }
    });
    let eval_max_memory = match &fleet.eval_max_memory {
        None => DEFAULT_EVAL_MAX_MEMORY,
        Some(n) if (64..=1_048_576).contains(n.get_ref()) => *n.get_ref() as u64,
        Some(n) => {
            problems.push(
                Problem::new(
                    span(n),
                    "fleet.eval_max_memory",
                    "eval_max_memory must be between 64 and 1048576 MiB",
                )
                .help("2048 allows each host's evaluation 2 GiB when sizing eval_jobs"),
            );
            DEFAULT_EVAL_MAX_MEMORY
        }
    };
    (eval_jobs, eval_max_memory)
}

/// A `[fleet]` setting in seconds, `(key, most, default)`: the default when it is missing
/// or out of range (and then a problem, with `help`).
fn seconds(
    value: Option<&Spanned<i64>>,
    (key, most, default): (&str, u64, u64),
    help: &str,
    problems: &mut Vec<Problem>,
) -> u64 {
    match value {
        None => default,
        Some(n) if u64::try_from(*n.get_ref()).is_ok_and(|v| v <= most) => *n.get_ref() as u64,
        Some(n) => {
            problems.push(
                Problem::new(
                    span(n),
                    format!("fleet.{key}"),
                    format!("{key} must be between 0 and {most} seconds"),
                )
                .help(help),
            );
            default
        }
    }
}

/// One table of the file read as `T`; its problems recorded when it cannot be: each key is
/// tried on its own, so every unknown key and wrong type in it is named, not only the first.
/// One table (`at`, its dotted path), each of whose refused keys is a problem of its own; the
/// table is then read without them (their paths added to `refused`), so what it has right
/// is still checked. `None` when it cannot be read even so.
fn read_one<'i, T: serde::Deserialize<'i>>(
    text: &str,
    value: Spanned<toml::de::DeValue<'i>>,
    problems: &mut Vec<Problem>,
    at: &str,
    refused: &mut Vec<String>,
) -> Option<T> {
    use toml::de::{DeTable, DeValue, ValueDeserializer};
    let whole = match T::deserialize(ValueDeserializer::from(value.clone())) {
        Ok(t) => return Some(t),
        Err(e) => e,
    };
    let span = value.span();
    let mut each = Vec::new();
    let mut rest = DeTable::new();
    if let DeValue::Table(table) = value.into_inner() {
        for (key, v) in table {
            let mut one = DeTable::new();
            let name = key.get_ref().to_string();
            one.insert(key.clone(), v.clone());
            let one = Spanned::new(span.clone(), DeValue::Table(one));
            // A key alone lacks the table's required keys: that is not its problem.
            match T::deserialize(ValueDeserializer::from(one)) {
                Err(e) if !e.message().starts_with("missing field") => {
                    each.push(serde_problem(text, &e));
                    refused.push(format!("{at}.{name}"));
                }
                _ => {
                    rest.insert(key, v);
                }
            }
        }
    }
    if each.is_empty() {
        problems.push(serde_problem(text, &whole));
        return None;
    }
    problems.extend(each);
    T::deserialize(ValueDeserializer::from(Spanned::new(
        span,
        DeValue::Table(rest),
    )))
    .ok()
}

/// A syntax or type error from the TOML reader, with the key it is about and a fix.
fn serde_problem(text: &str, e: &toml::de::Error) -> Problem {
    let span = e.span().unwrap_or(0..0);
    // Rust's type names mean nothing in hosts.toml.
    let message = e
        .message()
        .trim()
        .replace("expected i64", "expected a whole number")
        .replace("expected u16", "expected a whole number");
    let key = key_at(text, span.start);
    let mut problem = Problem::new(span, key, message.clone());
    if let Some(rest) = message.strip_prefix("unknown field `") {
        // serde says: unknown field `x`, expected one of `a`, `b`
        let words: Vec<&str> = rest.split('`').step_by(2).collect();
        let (unknown, expected) = (
            words.first().copied().unwrap_or(""),
            &words[1.min(words.len())..],
        );
        problem = match names::closest(unknown, expected.iter().copied()) {
            Some(s) => problem.help(format!("did you mean `{s}`?")),
            None => problem.help("remove the key, or see docs/inventory.md in fleet's source for the keys fleet knows"),
        };
    } else if message.starts_with("invalid type") {
        problem = problem.help("fix the value's type (strings are quoted, lists are [\"a\", \"b\"], booleans are true/false)");
    } else if message.starts_with("unknown variant") {
        problem = problem.help("use one of the values listed");
    } else if message.starts_with("missing field") {
        problem = problem.help("add the key to that table");
    } else {
        problem = problem.help("this is not valid TOML; see https://toml.io for the syntax");
    }
    problem
}

fn span<T>(s: &Spanned<T>) -> Range<usize> {
    s.span()
}

fn resolve(raw: RawInventory, path: &Path, problems: &mut Vec<Problem>) -> Inventory {
    let base = path.parent().unwrap_or(Path::new("."));
    let host_names: Vec<&str> = raw.hosts.keys().map(|k| k.get_ref().as_str()).collect();
    let cache_names: Vec<&str> = raw.caches.keys().map(|k| k.get_ref().as_str()).collect();

    let flake = flake(raw.fleet.flake.as_ref(), base, problems);

    let max_parallel = match &raw.fleet.max_parallel {
        None => DEFAULT_MAX_PARALLEL,
        Some(n) if (1..=256).contains(n.get_ref()) => *n.get_ref() as usize,
        Some(n) => {
            problems.push(
                Problem::new(
                    span(n),
                    "fleet.max_parallel",
                    "max_parallel must be between 1 and 256",
                )
                .help("4 suits a household fleet; 1 deploys one host at a time"),
            );
            DEFAULT_MAX_PARALLEL
        }
    };

    let keep_connections = seconds(
        raw.fleet.keep_connections.as_ref(),
        ("keep_connections", 86_400, DEFAULT_KEEP_CONNECTIONS),
        "300 keeps each host's connection 5 minutes after a run; 0 closes it at the end",
        problems,
    );
    let inactivity_timeout = seconds(
        raw.fleet.inactivity_timeout.as_ref(),
        ("inactivity_timeout", 604_800, DEFAULT_INACTIVITY_TIMEOUT),
        "3600 stops a build, copy or activation that printed nothing for an hour; 0 never stops one",
        problems,
    );

    let (eval_jobs, eval_max_memory) = evaluation_settings(&raw.fleet, problems);
    let ssh_config = raw.fleet.ssh_config.as_ref().and_then(|p| {
        let value = p.get_ref();
        if value.is_empty() || value.chars().any(|c| c.is_control()) {
            problems.push(Problem::new(
                span(p),
                "fleet.ssh_config",
                "ssh_config must be a file path",
            ));
            None
        } else {
            Some(normalize(&base.join(value)))
        }
    });

    let nix = raw
        .fleet
        .nix
        .as_ref()
        .map(|n| nix_options(n, problems))
        .unwrap_or_default();

    let caches = raw
        .caches
        .iter()
        .map(|(name, cache)| resolve_cache(name, cache, &host_names, problems))
        .collect();

    let hosts: Vec<Host> = raw
        .hosts
        .iter()
        .map(|(name, host)| resolve_host(name, host, &raw, &host_names, &cache_names, problems))
        .collect();

    if hosts.is_empty() {
        problems.push(
            Problem::new(0..0, "hosts", "the inventory defines no hosts")
                .help("add a [hosts.NAME] section for each machine, with its addresses"),
        );
    }
    for (name, _) in raw.hosts.iter().filter(|(n, _)| n.get_ref() == "here") {
        problems.push(
            Problem::new(span(name), "hosts.here", "`here` is fleet's word for the machine it runs on")
                .help("name the host as its hostname says, like p620; set `local = true` if fleet runs on it"),
        );
    }
    if hosts.iter().filter(|h| h.local).count() > 1 {
        let mut locals = raw.hosts.iter().filter(|(_, h)| h.local).map(|(n, _)| n);
        if let (Some(_), Some(second)) = (locals.next(), locals.next()) {
            problems.push(
                Problem::new(
                    span(second),
                    format!("hosts.{}.local", second.get_ref()),
                    "more than one host says `local = true`",
                )
                .help("only the machine fleet runs on is local; remove `local` from the others"),
            );
        }
    }

    Inventory {
        source: path.to_path_buf(),
        flake,
        max_parallel,
        keep_connections,
        inactivity_timeout,
        eval_jobs,
        eval_max_memory,
        eval_on: eval_on(&raw.fleet, &host_names, problems),
        ssh_config,
        nix,
        caches,
        hosts,
    }
}

fn resolve_cache(
    name: &Spanned<String>,
    cache: &RawCache,
    host_names: &[&str],
    problems: &mut Vec<Problem>,
) -> Cache {
    let n = name.get_ref();
    if !is_identifier(n) {
        problems.push(name_problem(name, &format!("caches.{n}"), "cache"));
    }
    if let Some(why) = names::cache_url_problem(cache.url.get_ref()) {
        problems.push(Problem::new(
            span(&cache.url),
            format!("caches.{n}.url"),
            why,
        ));
    }
    if let Some(key) = &cache.public_key {
        if let Some(why) = names::public_key_problem(key.get_ref()) {
            problems.push(Problem::new(
                span(key),
                format!("caches.{n}.public_key"),
                why,
            ));
        }
    }
    let host = match &cache.host {
        Some(h) if !host_names.contains(&h.get_ref().as_str()) => {
            problems.push(unknown_host(h, &format!("caches.{n}.host"), host_names));
            None
        }
        Some(h) => Some(h.get_ref().clone()),
        // A cache named like a host is that host's cache, as in `[caches.p620]`.
        None => host_names.contains(&n.as_str()).then(|| n.clone()),
    };
    Cache {
        name: n.clone(),
        url: cache.url.get_ref().clone(),
        public_key: cache.public_key.as_ref().map(|k| k.get_ref().clone()),
        host,
        writable: cache.writable,
    }
}

fn resolve_host(
    name: &Spanned<String>,
    host: &RawHost,
    raw: &RawInventory,
    host_names: &[&str],
    cache_names: &[&str],
    problems: &mut Vec<Problem>,
) -> Host {
    let n = name.get_ref();
    let key = |k: &str| format!("hosts.{n}.{k}");
    if !is_identifier(n) {
        problems.push(name_problem(name, &format!("hosts.{n}"), "host"));
    }

    let addresses = addresses(name, host, problems);

    let user = host.user.as_ref().and_then(|u| {
        if is_identifier(u.get_ref()) {
            Some(u.get_ref().clone())
        } else {
            problems.push(name_problem(u, &key("user"), "user"));
            None
        }
    });

    let port = host
        .port
        .as_ref()
        .and_then(|p| match u16::try_from(*p.get_ref()) {
            Ok(port) if port > 0 => Some(port),
            _ => {
                problems.push(Problem::new(
                    span(p),
                    key("port"),
                    "port must be between 1 and 65535",
                ));
                None
            }
        });

    let via = via(n, host, raw, host_names, problems);
    let build_machines = build_machines(n, host, raw, host_names, problems);

    let attribute = match &host.attribute {
        None => n.clone(),
        Some(a) if is_identifier(a.get_ref()) => a.get_ref().clone(),
        Some(a) => {
            problems.push(name_problem(a, &key("attribute"), "attribute"));
            String::new()
        }
    };

    let tags = host
        .tags
        .iter()
        .filter_map(|t| {
            if is_identifier(t.get_ref()) {
                Some(t.get_ref().clone())
            } else {
                problems.push(name_problem(t, &key("tags"), "tag"));
                None
            }
        })
        .collect();

    let caches = caches(n, host, cache_names, problems);

    let wake = wake(n, host, problems);

    let health_checks = commands(
        n,
        "health_checks",
        "a health check",
        host.health_checks.as_ref(),
        problems,
    );
    let pre_activate = commands(
        n,
        "pre_activate",
        "a pre-activation command",
        host.pre_activate.as_ref(),
        problems,
    );
    let failed_units = failed_units(n, host, problems);
    let specialisation = specialisation(n, host, problems);

    let sudo = host
        .sudo
        .unwrap_or_else(|| host.sudo_password || user.as_deref().is_some_and(|u| u != "root"));

    Host {
        name: n.clone(),
        addresses,
        user,
        port,
        builder: host.builder,
        via,
        build_machines,
        attribute,
        tags,
        local: host.local,
        sudo,
        sudo_password: host.sudo_password && sudo,
        caches,
        fallback: host.fallback,
        wake,
        health_checks,
        pre_activate,
        failed_units,
        specialisation,
    }
}

fn addresses(name: &Spanned<String>, host: &RawHost, problems: &mut Vec<Problem>) -> Vec<String> {
    let n = name.get_ref();
    let key = |k: &str| format!("hosts.{n}.{k}");
    match &host.addresses {
        None => vec![n.clone()],
        Some(list) if list.is_empty() => {
            problems.push(
                Problem::new(span(name), key("addresses"), "`addresses` is empty")
                    .help("list at least one address, or remove the key to use the host's name"),
            );
            Vec::new()
        }
        Some(list) => list
            .iter()
            .filter_map(|a| match names::address_problem(a.get_ref()) {
                Some(why) => {
                    let help = match a.get_ref().split_once('@') {
                        Some((user, address)) => format!(
                            "write the user apart: user = \"{user}\" in [hosts.{n}], and \"{address}\" here"
                        ),
                        None => "write a plain host name or IP address; ssh options belong in the ssh config".to_string(),
                    };
                    problems.push(Problem::new(span(a), key("addresses"), why).help(help));
                    None
                }
                None => Some(a.get_ref().clone()),
            })
            .collect(),
    }
}

fn via(
    n: &str,
    host: &RawHost,
    raw: &RawInventory,
    host_names: &[&str],
    problems: &mut Vec<Problem>,
) -> Vec<String> {
    let key = |k: &str| format!("hosts.{n}.{k}");
    let Some(v) = host.via.as_ref() else {
        return Vec::new();
    };
    let names = v.get_ref().names();
    if names.is_empty() {
        problems.push(
            Problem::new(span(v), key("via"), "`via` is an empty list")
                .help("name a builder, or remove the key to build on the host itself"),
        );
    }
    let mut chain: Vec<String> = Vec::new();
    for (i, target) in names.iter().enumerate() {
        let target = *target;
        match raw.hosts.iter().find(|(k, _)| k.get_ref() == target) {
            None => problems.push(unknown_host(
                &Spanned::new(span(v), target.to_string()),
                &key("via"),
                host_names,
            )),
            Some((_, h)) if !h.builder && target != n => problems.push(
                Problem::new(span(v), key("via"), format!("`{target}` is not a builder")).help(
                    format!("add `builder = true` to [hosts.{target}], or build elsewhere"),
                ),
            ),
            Some(_) if names[..i].contains(&target) => problems.push(
                Problem::new(span(v), key("via"), format!("`{target}` is named twice"))
                    .help("list each builder once, in the order to try them"),
            ),
            Some(_) => chain.push(target.to_string()),
        }
    }
    chain
}

/// A builder's helpers for Nix's distributed builds, each a host of the inventory reached as
/// Nix's `ssh-ng://` machines are: its first address, its user, the default SSH port.
fn build_machines(
    n: &str,
    host: &RawHost,
    raw: &RawInventory,
    host_names: &[&str],
    problems: &mut Vec<Problem>,
) -> Vec<crate::inventory::BuildMachine> {
    let key = format!("hosts.{n}.build_machines");
    let Some(list) = host.build_machines.as_ref() else {
        return Vec::new();
    };
    let at = span(list);
    if !host.builder {
        problems.push(
            Problem::new(at.clone(), key.clone(), format!("{n} is not a builder")).help(format!(
                "add `builder = true` to [hosts.{n}]: only a builder hands builds to helpers"
            )),
        );
    }
    let mut machines = Vec::new();
    for (i, HostOrTable(m)) in list.get_ref().iter().enumerate() {
        let problem = |why: String| Problem::new(at.clone(), key.clone(), why);
        let helper = m.host.as_str();
        let Some((_, h)) = raw.hosts.iter().find(|(k, _)| k.get_ref() == helper) else {
            problems.push(unknown_host(
                &Spanned::new(at.clone(), helper.to_string()),
                &key,
                host_names,
            ));
            continue;
        };
        if helper == n {
            problems.push(
                problem(format!("{n} cannot be its own helper"))
                    .help("name other machines; Nix builds on the builder itself as well"),
            );
            continue;
        }
        if list.get_ref()[..i].iter().any(|o| o.0.host == helper) {
            problems.push(problem(format!("`{helper}` is named twice")));
            continue;
        }
        if h.local {
            problems.push(problem(format!("`{helper}` is this machine (local = true)")).help(
                "a helper is reached from the builder over SSH; name a machine it can log in to",
            ));
            continue;
        }
        if h.port.is_some() {
            problems.push(
                problem(format!("`{helper}` has a port of its own, which Nix's ssh-ng:// machines cannot name"))
                    .help(format!("give {helper}'s port in the builder's root ssh config (Host ... Port ...), and drop it here")),
            );
            continue;
        }
        let mut count = |v: Option<i64>, what: &str, max: i64| -> Option<u32> {
            let v = v?;
            if (1..=max).contains(&v) {
                u32::try_from(v).ok()
            } else {
                problems.push(problem(format!(
                    "{helper}'s {what} must be between 1 and {max}"
                )));
                None
            }
        };
        let jobs = count(m.jobs, "jobs", 1024);
        let speed = count(m.speed, "speed", 1000);
        let words = |list: &[String], what: &str, problems: &mut Vec<Problem>| -> Vec<String> {
            list.iter()
                .filter(|w| {
                    // A field of Nix's machine line: `-` alone there means "the default".
                    let ok = is_identifier(w);
                    if !ok {
                        problems.push(problem(format!(
                            "`{}` is not a {what}: a letter or digit, then letters, digits, `-`, `_` and `.`",
                            w.escape_debug()
                        )));
                    }
                    ok
                })
                .cloned()
                .collect()
        };
        let features = words(&m.features, "system feature", problems);
        let systems = words(&m.systems, "system (like x86_64-linux)", problems);
        machines.push(crate::inventory::BuildMachine {
            host: helper.to_string(),
            jobs,
            speed,
            features,
            systems,
        });
    }
    machines
}

fn caches(
    n: &str,
    host: &RawHost,
    cache_names: &[&str],
    problems: &mut Vec<Problem>,
) -> Vec<String> {
    let key = |k: &str| format!("hosts.{n}.{k}");
    match &host.caches {
        None => cache_names.iter().map(|c| c.to_string()).collect(),
        Some(list) => list
            .iter()
            .filter_map(|c| {
                if cache_names.contains(&c.get_ref().as_str()) {
                    Some(c.get_ref().clone())
                } else {
                    let mut p = Problem::new(
                        span(c),
                        key("caches"),
                        format!("`{}` is not a cache in this inventory", c.get_ref()),
                    );
                    p = match names::closest(c.get_ref(), cache_names.iter().copied()) {
                        Some(s) => p.help(format!("did you mean `{s}`?")),
                        None => p.help(format!(
                            "add [caches.{}] or use one of: {}",
                            c.get_ref(),
                            list_or_none(cache_names)
                        )),
                    };
                    problems.push(p);
                    None
                }
            })
            .collect(),
    }
}

fn wake(n: &str, host: &RawHost, problems: &mut Vec<Problem>) -> Option<crate::inventory::Wake> {
    let key = |k: &str| format!("hosts.{n}.{k}");
    let mac = host
        .mac
        .as_ref()
        .and_then(|m| match names::parse_mac(m.get_ref()) {
            Some(bytes) => Some(
                bytes
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":"),
            ),
            None => {
                problems.push(
                    Problem::new(
                        span(m),
                        key("mac"),
                        format!("`{}` is not a MAC address", m.get_ref().escape_debug()),
                    )
                    .help("write six hexadecimal pairs, like \"3c:7c:3f:1e:22:af\""),
                );
                None
            }
        });
    let address = match &host.wake_address {
        None => Some(std::net::Ipv4Addr::BROADCAST),
        Some(a) => match a.get_ref().parse::<std::net::Ipv4Addr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                problems.push(
                    Problem::new(
                        span(a),
                        key("wake_address"),
                        format!("`{}` is not an IPv4 address", a.get_ref().escape_debug()),
                    )
                    .help("write the broadcast address of the host's LAN, like \"192.168.1.255\""),
                );
                None
            }
        },
    };
    let on_demand = host.wake.as_ref().is_some_and(|w| *w.get_ref());
    if host.mac.is_none() {
        for (k, s) in [
            ("wake", host.wake.as_ref().map(span)),
            ("wake_address", host.wake_address.as_ref().map(span)),
        ] {
            if let Some(s) = s {
                problems.push(
                    Problem::new(s, key(k), format!("`{k}` needs the host's `mac`"))
                        .help("add mac = \"aa:bb:cc:dd:ee:ff\" (the address of the network card that wakes it)"),
                );
            }
        }
    }
    match (mac, address) {
        (Some(mac), Some(address)) => Some(crate::inventory::Wake {
            mac,
            address,
            on_demand,
        }),
        _ => None,
    }
}

/// `[fleet.nix]`, checked: every option's name and value.
fn nix_options(raw: &RawNix, problems: &mut Vec<Problem>) -> NixOptions {
    let mut options = Vec::new();
    for (name, value) in &raw.options {
        let key = format!("fleet.nix.options.{}", name.get_ref());
        let problem = names::nix_option_name_problem(name.get_ref())
            .map(|why| (span(name), why))
            .or_else(|| {
                names::nix_option_value_problem(value.get_ref()).map(|why| (span(value), why))
            });
        match problem {
            Some((at, why)) => problems.push(
                Problem::new(at, key, why)
                    .help("write options as NAME = \"VALUE\", like max-jobs = \"4\""),
            ),
            None => options.push((name.get_ref().clone(), value.get_ref().clone())),
        }
    }
    NixOptions {
        accept_flake_config: raw.accept_flake_config,
        show_trace: raw.show_trace,
        print_build_logs: raw.print_build_logs,
        impure: raw.impure,
        keep_going: raw.keep_going,
        options,
    }
}

/// A list of commands, each a list of argv words (`health_checks`, `pre_activate`).
fn commands(
    n: &str,
    k: &str,
    what: &str,
    value: Option<&Spanned<Vec<Vec<Spanned<String>>>>>,
    problems: &mut Vec<Problem>,
) -> Vec<Vec<String>> {
    let key = format!("hosts.{n}.{k}");
    let mut commands = Vec::new();
    let Some(list) = value else {
        return commands;
    };
    if list.get_ref().iter().any(Vec::is_empty) {
        problems.push(
            Problem::new(span(list), key.clone(), format!("{what} is empty"))
                .help("write each command as a list of words, like [\"systemctl\", \"is-system-running\", \"--wait\"]"),
        );
    }
    for command in list.get_ref().iter().filter(|c| !c.is_empty()) {
        let mut ok = true;
        for (i, word) in command.iter().enumerate() {
            if let Some(why) = names::command_word_problem(what, word.get_ref(), i) {
                problems.push(
                    Problem::new(span(word), key.clone(), why)
                        .help("list the program and each argument as its own word; for shell syntax, put a script in the system and call it"),
                );
                ok = false;
            }
        }
        if ok {
            commands.push(command.iter().map(|w| w.get_ref().clone()).collect());
        }
    }
    commands
}

/// `specialisation`: a name, as a NixOS attribute name is.
fn specialisation(n: &str, host: &RawHost, problems: &mut Vec<Problem>) -> Option<String> {
    let v = host.specialisation.as_ref()?;
    if names::is_identifier(v.get_ref()) {
        return Some(v.get_ref().clone());
    }
    problems.push(name_problem(
        v,
        &format!("hosts.{n}.specialisation"),
        "specialisation",
    ));
    None
}

/// `failed_units`: "keep" (the default) or "rollback".
fn failed_units(n: &str, host: &RawHost, problems: &mut Vec<Problem>) -> FailedUnits {
    match host
        .failed_units
        .as_ref()
        .map(|v| (v, v.get_ref().as_str()))
    {
        None | Some((_, "keep")) => FailedUnits::Keep,
        Some((_, "rollback")) => FailedUnits::Rollback,
        Some((v, other)) => {
            problems.push(
                Problem::new(
                    span(v),
                    format!("hosts.{n}.failed_units"),
                    format!("`{}` is not what to do with failed units", other.escape_debug()),
                )
                .help("write \"keep\" (keep the switched system and report the units) or \"rollback\""),
            );
            FailedUnits::Keep
        }
    }
}

fn name_problem<T: AsRef<str>>(value: &Spanned<T>, key: &str, what: &str) -> Problem {
    let v = value.get_ref().as_ref();
    let article = if what == "attribute" { "an" } else { "a" };
    let bad = v
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')));
    let why = match (v.chars().next(), bad) {
        (None, _) => format!("{article} {what} name cannot be empty"),
        (Some('.' | '_' | '-'), _) => {
            format!("{article} {what} name must start with a letter or digit")
        }
        (_, Some(c)) => format!(
            "{article} {what} name cannot hold {}",
            names::describe_char(c)
        ),
        (_, None) => format!("{article} {what} name must start with a letter or digit"),
    };
    Problem::new(
        span(value),
        key,
        format!("`{}` is not a valid {what} name: {why}", v.escape_debug()),
    )
    .help("use letters, digits, `.`, `_` and `-`, starting with a letter or digit")
}

fn unknown_host(value: &Spanned<String>, key: &str, host_names: &[&str]) -> Problem {
    let v = value.get_ref();
    let p = Problem::new(
        span(value),
        key,
        format!("`{v}` is not a host in this inventory"),
    );
    match names::closest(v, host_names.iter().copied()) {
        Some(s) => p.help(format!("did you mean `{s}`?")),
        None => p.help(format!(
            "add [hosts.{v}] or use one of: {}",
            list_or_none(host_names)
        )),
    }
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "(none defined)".into()
    } else {
        names.join(", ")
    }
}

/// A flake reference with a scheme (`github:`, `git+https:`, `path:`) is kept as written;
/// anything else is a path, relative to the inventory's directory.
fn resolve_flake(flake: &str, base: &Path) -> String {
    if flake.contains(':') {
        flake.to_string()
    } else {
        normalize(&base.join(flake)).display().to_string()
    }
}

/// Drops `.` components and folds `..` lexically, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}
