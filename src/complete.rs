//! Shell completion. The scripts are small shims that call `fleet` at TAB time, so host names
//! and @tags come from the inventory found from the shell's current directory (or
//! `$FLEET_INVENTORY`). Completion never prints errors: a broken inventory completes nothing.

use std::io::Write;

use clap_complete::env::Shells;
use clap_complete::CompletionCandidate;

use crate::inventory::{self, Inventory};

/// The environment variable the shims set to ask for completions.
pub const ENV: &str = "COMPLETE";

/// Answers a completion request if this process is one; returns normally otherwise.
/// `command` builds the command line to complete (`cli::command`).
pub fn handle_request(command: fn() -> clap::Command) {
    clap_complete::CompleteEnv::with_factory(command)
        .var(ENV)
        .completer("fleet")
        .complete();
}

/// The registration script for `shell`, exactly as `COMPLETE=<shell> fleet` prints it.
pub fn script(shell: &str, out: &mut dyn Write) -> std::io::Result<()> {
    let shells = Shells::builtins();
    let completer = shells
        .completer(shell)
        .ok_or_else(|| std::io::Error::other(format!("no completion support for {shell}")))?;
    completer.write_registration(ENV, "fleet", "fleet", "fleet", out)
}

/// The inventory the command line being completed would use: its `-i`/`--inventory`, else
/// `$FLEET_INVENTORY`, else the nearest `hosts.toml`.
fn inventory() -> Option<Inventory> {
    let cwd = std::env::current_dir().ok()?;
    let words: Vec<String> = std::env::args().collect();
    let flag = words.windows(2).find_map(|w| match w[0].as_str() {
        "-i" | "--inventory" => Some(w[1].clone()),
        _ => None,
    });
    let joined = words.iter().find_map(|w| {
        w.strip_prefix("--inventory=")
            .or_else(|| w.strip_prefix("-i").filter(|p| !p.is_empty()))
            .map(String::from)
    });
    let given = flag.or(joined).map(std::path::PathBuf::from);
    let env = std::env::var_os(inventory::ENV_VAR).map(std::path::PathBuf::from);
    let path = inventory::discover(given.as_deref(), env.as_deref(), &cwd).ok()?;
    Inventory::load(&path).ok()
}

/// Caches `cache push` may push to.
pub fn writable_caches() -> Vec<CompletionCandidate> {
    inventory()
        .map(|inv| {
            inv.caches
                .iter()
                .filter(|c| c.writable)
                .map(|c| CompletionCandidate::new(&c.name).help(Some(c.url.clone().into())))
                .collect()
        })
        .unwrap_or_default()
}

/// The flake's inputs, from its lock file (`update-flake`).
pub fn flake_inputs() -> Vec<CompletionCandidate> {
    let Some(inv) = inventory() else {
        return Vec::new();
    };
    let lock = std::path::Path::new(&inv.flake).join("flake.lock");
    let Ok(text) = std::fs::read_to_string(lock) else {
        return Vec::new();
    };
    crate::flake::root_inputs(&text)
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

/// Host names, then @tags.
pub fn hosts_and_tags() -> Vec<CompletionCandidate> {
    let Some(inv) = inventory() else {
        return Vec::new();
    };
    let hosts = inv.hosts.iter().map(|h| {
        CompletionCandidate::new(&h.name).help(Some(
            format!("{} ({})", h.role(), h.addresses.join(", ")).into(),
        ))
    });
    let tags = inv.tags().into_iter().map(|t| {
        let members: Vec<&str> = inv
            .hosts
            .iter()
            .filter(|h| h.tags.iter().any(|x| x == t))
            .map(|h| h.name.as_str())
            .collect();
        CompletionCandidate::new(format!("@{t}")).help(Some(members.join(", ").into()))
    });
    hosts.chain(tags.collect::<Vec<_>>()).collect()
}

/// Hosts that may build for others.
/// `--eval-on`: `local`, then the builders (the machines strong enough to evaluate), then
/// the other hosts.
pub fn evaluators() -> Vec<CompletionCandidate> {
    let mut hosts: Vec<&crate::inventory::Host> = Vec::new();
    let inv = inventory();
    if let Some(inv) = &inv {
        hosts.extend(inv.hosts.iter().filter(|h| h.builder));
        hosts.extend(inv.hosts.iter().filter(|h| !h.builder));
    }
    std::iter::once(CompletionCandidate::new("local").help(Some("evaluate here".into())))
        .chain(hosts.into_iter().map(|h| CompletionCandidate::new(&h.name)))
        .collect()
}

pub fn builders() -> Vec<CompletionCandidate> {
    inventory()
        .map(|inv| {
            inv.hosts
                .iter()
                .filter(|h| h.builder)
                .map(|h| CompletionCandidate::new(&h.name))
                .collect()
        })
        .unwrap_or_default()
}
