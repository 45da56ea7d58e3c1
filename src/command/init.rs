//! `init`: from the justfile to fleet in five minutes. Run in the flake's directory, it asks
//! nix for the flake's `nixosConfigurations` and ssh (`ssh -G`) how it reaches each name, and
//! writes a commented hosts.toml there for the user to edit. It needs no inventory, and
//! contacts no host.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::app::write_stdout;
use crate::cli::Global;
use crate::error::{exit, Error};
use crate::exec::transport::ssh_config;
use crate::inventory::init::{hosts_toml, Found, Reach};
use crate::inventory::Inventory;

/// Write a commented hosts.toml in this flake's directory: a host per nixosConfigurations
/// name, with what `ssh -G` says about it (--dry-run prints it instead)
#[derive(Debug, clap::Args)]
pub struct Init {
    /// Replace a hosts.toml that is there already
    #[arg(long)]
    force: bool,
    /// Ask ssh with this config file (-F), and write it as [fleet] ssh_config
    #[arg(long, value_name = "PATH")]
    ssh_config: Option<PathBuf>,
}

impl super::Run for Init {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let (force, ssh_config) = (self.force, self.ssh_config.as_deref());
        let dir = std::env::current_dir().context("reading the current directory")?;
        if !dir.join("flake.nix").is_file() {
            return Err(Error::usage(
                format!("there is no flake.nix in {}", dir.display()),
                "run `fleet init` in the directory of the flake with your nixosConfigurations",
            ));
        }
        // Here, beside flake.nix, so `flake = "."` is right (never where -i or $FLEET_INVENTORY
        // point).
        let path = dir.join("hosts.toml");
        if path.exists() && !force && !g.dry_run {
            return Err(Error::usage(
                format!("{} is there already", path.display()),
                "`fleet validate` checks it against the flake; `fleet init --force` writes it anew",
            ));
        }
        let ssh_config =
            match ssh_config {
                Some(p) if !p.is_file() => return Err(Error::usage(
                    format!("--ssh-config {}: no such file", p.display()),
                    "name the ssh config that reaches your hosts, or leave it out for ssh's own",
                )),
                Some(p) => Some(std::path::absolute(p).context("reading the current directory")?),
                None => None,
            };
        let names = configurations(&dir, g.accept_flake_config)?;
        let found: Vec<Found> = names
            .into_iter()
            .map(|name| {
                let view = ssh_config::view_for(
                    ssh_config.as_deref(),
                    ssh_config::Login::default(),
                    &name,
                );
                Found {
                    ssh: Some(Reach {
                        hostname: view.hostname,
                        port: view.port,
                        user: view.user,
                        proxy_jump: view.proxy_jump,
                    }),
                    name,
                }
            })
            .collect();
        let text = hosts_toml(&found, ssh_config.as_deref());
        // What is written must load: a check of this code, never of the user's flake.
        Inventory::parse(&text, &path).map_err(|e| {
            anyhow::anyhow!(
                "fleet init wrote an inventory that does not load (a bug in fleet): {e}"
            )
        })?;
        if g.dry_run {
            write_stdout(&format!(
                "{text}\n# Dry run: {} was not written.\n",
                path.display()
            ))?;
            return Ok(exit::OK);
        }
        write(&path, &text, force)?;
        let hosts: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
        write_stdout(&format!(
            "wrote {}: {} host{} ({})\nnext: give each host its addresses (LAN first, then Tailscale), mark the builder, then\n  fleet validate   # hosts.toml against the flake\n  fleet status     # what every host runs\n",
            path.display(),
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" },
            hosts.join(", ")
        ))?;
        Ok(exit::OK)
    }
}

/// The flake's `nixosConfigurations` names, from one `nix eval` that builds nothing.
fn configurations(dir: &Path, accept_flake_config: bool) -> Result<Vec<String>, Error> {
    let mut cmd = std::process::Command::new("nix");
    cmd.args([
        "--extra-experimental-features",
        "nix-command flakes",
        "eval",
        "--json",
    ]);
    if accept_flake_config {
        cmd.arg("--accept-flake-config");
    }
    cmd.args([".#nixosConfigurations", "--apply", "builtins.attrNames"])
        .current_dir(dir)
        .stdin(std::process::Stdio::null());
    let out = cmd.output().context("running nix (is it installed?)")?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = said
            .lines()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(Error::usage(
            format!(
                "nix could not list the flake's nixosConfigurations:\n{}",
                tail.join("\n")
            ),
            "fix the flake (`nix flake show` shows what it has), then run `fleet init` again",
        ));
    }
    serde_json::from_slice(&out.stdout)
        .context("reading the names nix listed")
        .map_err(Error::from)
}

/// Writes `text` at `path`: a new file, or (`force`) one put in place of the old whole.
fn write(path: &Path, text: &str, force: bool) -> Result<(), Error> {
    let tmp = path.with_extension("toml.fleet-init");
    let mut file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    let placed = if force {
        std::fs::rename(&tmp, path)
    } else {
        // A hosts.toml made meanwhile is never replaced without --force.
        std::fs::hard_link(&tmp, path).and_then(|()| std::fs::remove_file(&tmp))
    };
    if placed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    placed.with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
