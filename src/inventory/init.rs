//! `fleet init`'s hosts.toml: one host per `nixosConfigurations` name, with what `ssh -G`
//! says about the name, every other setting a comment to uncomment. Pure: the command asks
//! nix and ssh, this writes the text.

use super::names::is_identifier;

/// A configuration of the flake, and how ssh would reach a host of that name.
#[derive(Debug, Clone)]
pub struct Found {
    pub name: String,
    /// What `ssh -G NAME` says (`None`: ssh could not say).
    pub ssh: Option<Reach>,
}

/// How ssh reaches a name, as `ssh -G` says it (the command asks; this only writes).
#[derive(Debug, Clone, Default)]
pub struct Reach {
    /// The host name or address ssh connects to.
    pub hostname: String,
    pub port: u16,
    pub user: Option<String>,
    /// The jump host(s) ssh goes through, if any.
    pub proxy_jump: Option<String>,
}

/// The commented hosts.toml for `found`, in the flake's order; `ssh_config`, the config ssh
/// was asked with, if not its own.
pub fn hosts_toml(found: &[Found], ssh_config: Option<&std::path::Path>) -> String {
    let mut out = String::from(HEADER);
    if let Some(config) = ssh_config {
        out = out.replace(
            "# ssh_config = \"ssh/config\"   # an ssh config of its own, passed as -F",
            &format!(
                "ssh_config = {}   # passed to ssh as -F",
                toml::Value::String(config.display().to_string())
            ),
        );
    }
    for f in found {
        out.push('\n');
        if !is_identifier(&f.name) {
            out.push_str(&format!(
                "# nixosConfigurations.\"{}\" is not a name fleet takes for a host ([A-Za-z0-9._-]);\n# give it one, with `attribute` naming the configuration:\n# [hosts.NAME]\n# attribute = ...\n",
                f.name.escape_default()
            ));
            continue;
        }
        out.push_str(&host(f));
    }
    out
}

fn host(f: &Found) -> String {
    let name = &f.name;
    let mut out = format!("[hosts.{name}]\n");
    match &f.ssh {
        Some(ssh) => {
            let via = match &ssh.proxy_jump {
                Some(jump) => format!(", through {jump}"),
                None => String::new(),
            };
            out.push_str(&format!(
                "# ssh -G {name}: reaches {}, port {}{via}\n",
                ssh.hostname, ssh.port
            ));
        }
        None => out.push_str(&format!(
            "# ssh -G {name} said nothing: check the address\n"
        )),
    }
    out.push_str(&format!(
        "addresses = [\"{name}\"]   # tried in order: LAN first, then Tailscale, like [\"{name}.lan\", \"{name}.tailnet.ts.net\"]\n"
    ));
    match f.ssh.as_ref().and_then(|s| s.user.as_deref()) {
        Some("root") => out.push_str("user = \"root\"\n"),
        Some(user) if is_identifier(user) => out.push_str(&format!(
            "user = \"{user}\"   # not root: activation goes through sudo\n# sudo_password = true   # if its sudo wants a password: fleet asks once per run\n"
        )),
        _ => out.push_str("# user = \"root\"\n"),
    }
    out.push_str(&format!(
        "# builder = true   # may build for other hosts (and serves a cache: see [caches] above)\n# via = \"BUILDER\"   # build {name}'s system on that builder, not on {name} (or [\"B1\", \"B2\"]: the first that answers)\n# tags = [\"laptop\"]   # for @laptop on the command line\n# wake = true   # with mac = \"aa:bb:cc:dd:ee:ff\": wake-on-LAN when it sleeps\n"
    ));
    out
}

const HEADER: &str = r#"# hosts.toml: the machines fleet deploys. Written by `fleet init` from this flake's
# nixosConfigurations and what `ssh -G` says about each name; edit it. Every setting is in
# fleet's docs/inventory.md; `fleet validate` checks this file against the flake, and
# `fleet hosts` lists it.

[fleet]
flake = "."   # the flake with nixosConfigurations, relative to this file
# max_parallel = 4   # hosts worked on at once
# ssh_config = "ssh/config"   # an ssh config of its own, passed as -F

# Binary caches, in the order hosts try them. A builder's nix-serve first:
# [caches.p620]
# url = "http://p620.lan:5000"
# public_key = "p620-nix-serve:..."   # `cat /etc/nix/signing-key.pub` there
# [caches.nixos]
# url = "https://cache.nixos.org"
# public_key = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;
    use std::path::Path;

    fn view(hostname: &str, user: &str) -> Option<Reach> {
        Some(Reach {
            hostname: hostname.into(),
            port: 22,
            user: Some(user.into()),
            proxy_jump: None,
        })
    }

    #[test]
    fn the_written_inventory_loads_and_deploys_as_ssh_would_log_in() {
        let found = [
            Found {
                name: "p620".into(),
                ssh: view("192.168.1.20", "root"),
            },
            Found {
                name: "samsung".into(),
                ssh: view("samsung.lan", "olaf"),
            },
            Found {
                name: "razer".into(),
                ssh: None,
            },
            Found {
                name: "bad name".into(),
                ssh: None,
            },
        ];
        let text = hosts_toml(&found, Some(Path::new("/home/olaf/.ssh/fleet")));
        let inv = Inventory::parse(&text, Path::new("/home/olaf/nixos/hosts.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let names: Vec<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["p620", "samsung", "razer"]);
        let samsung = inv.host("samsung").expect("samsung");
        assert_eq!(samsung.user.as_deref(), Some("olaf"));
        assert!(samsung.sudo);
        assert_eq!(samsung.addresses, ["samsung"]);
        assert!(!inv.host("p620").expect("p620").sudo);
        assert!(text.contains("# ssh -G p620: reaches 192.168.1.20, port 22"));
        assert!(text.contains("nixosConfigurations.\"bad name\" is not a name"));
        assert_eq!(inv.flake, "/home/olaf/nixos");
        assert_eq!(
            inv.ssh_config.as_deref(),
            Some(Path::new("/home/olaf/.ssh/fleet"))
        );
    }
}
