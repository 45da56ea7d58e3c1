//! Inventory validation: the example loads, and every rule's error names file, line, key and fix.

use std::path::Path;

use super::*;

const PATH: &str = "/home/olaf/nixos/hosts.toml";

fn load(text: &str) -> Result<Inventory, InventoryError> {
    Inventory::parse(text, Path::new(PATH))
}

/// The rendered error for `text`, which must be refused.
fn refused(text: &str) -> String {
    match load(text) {
        Ok(inv) => panic!("accepted: {inv:#?}"),
        Err(e) => e.to_string(),
    }
}

const BASE: &str = r#"
[hosts.p620]
addresses = ["p620.lan"]
builder = true
"#;

#[test]
fn example_inventory_loads_with_defaults_resolved() {
    let text = include_str!("../../hosts.toml");
    let inv = load(text).expect("example hosts.toml is valid");
    assert_eq!(inv.flake, "/home/olaf/nixos");
    assert_eq!(inv.max_parallel, 4);
    assert_eq!(inv.keep_connections, 300);
    assert_eq!(inv.inactivity_timeout, 3600);
    let caches: Vec<&str> = inv.caches.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        caches,
        ["p620", "nixos", "nix-community"],
        "tiers keep their order"
    );
    assert_eq!(
        inv.cache_served_by("p620").map(|c| c.name.as_str()),
        Some("p620")
    );
    let samsung = inv.host("samsung").expect("samsung");
    assert_eq!(samsung.via, ["p620"]);
    assert_eq!(samsung.user.as_deref(), Some("olaf"));
    assert!(samsung.sudo);
    assert_eq!(
        samsung.addresses,
        ["samsung.lan", "samsung.tail1234.ts.net"]
    );
    let p620 = inv.host("p620").expect("p620");
    assert!(p620.builder && !p620.sudo && p620.user.is_none());
    assert_eq!(p620.attribute, "p620");
    assert_eq!(inv.tags(), ["workstation", "laptop"]);
}

#[test]
fn defaults_for_a_minimal_host() {
    let inv = load("[hosts.box]\n").expect("valid");
    let h = &inv.hosts[0];
    assert_eq!(h.addresses, ["box"]);
    assert_eq!(h.attribute, "box");
    assert!(!h.builder && !h.local && !h.sudo);
    assert_eq!(inv.flake, "/home/olaf/nixos");
}

#[test]
fn relative_paths_resolve_against_the_inventory() {
    let inv = load("[fleet]\nflake = \"../flake\"\nssh_config = \"ssh/config\"\n[hosts.a]\n")
        .expect("valid");
    assert_eq!(inv.flake, "/home/olaf/flake");
    assert_eq!(
        inv.ssh_config.as_deref(),
        Some(Path::new("/home/olaf/nixos/ssh/config"))
    );
    let inv = load("[fleet]\nflake = \"github:olaf/nixos\"\n[hosts.a]\n").expect("valid");
    assert_eq!(inv.flake, "github:olaf/nixos");
}

#[test]
fn unknown_key_names_line_and_suggests() {
    let e = refused("[hosts.samsung]\nadresses = [\"samsung.lan\"]\n");
    assert!(
        e.starts_with(&format!(
            "{PATH}:2:1: hosts.samsung.adresses: unknown field `adresses`"
        )),
        "{e}"
    );
    assert!(e.contains("help: did you mean `addresses`?"), "{e}");
    assert!(e.contains("2 | adresses = [\"samsung.lan\"]"), "{e}");
}

#[test]
fn unknown_top_level_table() {
    let e = refused("[host.samsung]\n");
    assert!(e.contains("unknown field `host`"), "{e}");
    assert!(e.contains("did you mean `hosts`?"), "{e}");
}

#[test]
fn wrong_type_names_key() {
    let e = refused("[hosts.p620]\nbuilder = \"yes\"\n");
    assert!(
        e.starts_with(&format!(
            "{PATH}:2:11: hosts.p620.builder: invalid type: string \"yes\", expected a boolean"
        )),
        "{e}"
    );
    assert!(e.contains("help: fix the value's type"), "{e}");
}

#[test]
fn syntax_error_is_located() {
    let e = refused("[hosts.p620\nbuilder = true\n");
    assert!(e.starts_with(&format!("{PATH}:1:")), "{e}");
    assert!(e.contains("help: this is not valid TOML"), "{e}");
}

#[test]
fn unknown_via_suggests_closest_host() {
    let e = refused(&format!("{BASE}\n[hosts.samsung]\nvia = \"p62\"\n"));
    assert!(
        e.starts_with(&format!(
            "{PATH}:7:7: hosts.samsung.via: `p62` is not a host in this inventory"
        )),
        "{e}"
    );
    assert!(e.contains("help: did you mean `p620`?"), "{e}");
}

#[test]
fn via_must_be_a_builder() {
    let e = refused("[hosts.p510]\n[hosts.samsung]\nvia = \"p510\"\n");
    assert!(
        e.contains("hosts.samsung.via: `p510` is not a builder"),
        "{e}"
    );
    assert!(
        e.contains("help: add `builder = true` to [hosts.p510]"),
        "{e}"
    );
}

#[test]
fn unknown_cache_reference() {
    let e = refused("[caches.nixos]\nurl = \"https://cache.nixos.org\"\n[hosts.a]\ncaches = [\"nixso\", \"zzzzzzzz\"]\n");
    assert!(
        e.contains("hosts.a.caches: `nixso` is not a cache in this inventory"),
        "{e}"
    );
    assert!(e.contains("did you mean `nixos`?"), "{e}");
    assert!(e.contains("`zzzzzzzz` is not a cache"), "{e}");
    assert!(
        e.contains("2 problems in"),
        "all problems are reported at once: {e}"
    );
}

#[test]
fn cache_host_must_exist() {
    let e = refused("[caches.lan]\nurl = \"http://x:5000\"\nhost = \"p620\"\n");
    assert!(
        e.contains("caches.lan.host: `p620` is not a host in this inventory"),
        "{e}"
    );
    assert!(e.contains("(none defined)"), "{e}");
}

#[test]
fn hostile_names_are_refused() {
    let e = refused("[hosts.\"a;rm -rf\"]\n");
    assert!(
        e.contains("`a;rm -rf` is not a valid host name: a host name cannot hold `;`"),
        "{e}"
    );
    let e = refused("[hosts.a]\ntags = [\"$(reboot)\"]\n");
    assert!(
        e.contains("hosts.a.tags: `$(reboot)` is not a valid tag name: a tag name cannot hold `$`"),
        "{e}"
    );
    let e = refused("[hosts.a]\nattribute = \"x\\ny\"\n");
    assert!(e.contains("hosts.a.attribute: `x\\ny` is not a valid attribute name: an attribute name cannot hold a newline"), "{e}");
    let e = refused("[hosts.a]\nuser = \"-oProxyCommand=x\"\n");
    assert!(e.contains("hosts.a.user"), "{e}");
    assert!(e.contains("must start with a letter or digit"), "{e}");
    let e = refused("[hosts.\"-x\"]\n");
    assert!(e.contains("must start with a letter or digit"), "{e}");
}

#[test]
fn hostile_addresses_are_refused() {
    for (addr, why) in [
        ("-oProxyCommand=touch /tmp/pwned", "cannot start with `-`"),
        ("a b", "not a space"),
        ("host;reboot", "not `;`"),
        ("`id`", "not a backtick"),
        ("$(id)", "not `$`"),
        ("a\\nb", "not a newline"),
    ] {
        let e = refused(&format!(
            "[hosts.a]\naddresses = [\"ok.lan\", \"{addr}\"]\n"
        ));
        assert!(e.contains("hosts.a.addresses: an address"), "{addr}: {e}");
        assert!(e.contains(why), "{addr}: {e}");
        assert!(
            e.contains("help: write a plain host name or IP address"),
            "{e}"
        );
    }
}

#[test]
fn bad_cache_values() {
    let e = refused("[caches.c]\nurl = \"p620:5000\"\npublic_key = \"nokey\"\n");
    assert!(
        e.contains("caches.c.url: a cache URL needs a scheme"),
        "{e}"
    );
    assert!(
        e.contains("caches.c.public_key: a public key looks like `name:base64`"),
        "{e}"
    );
    let e = refused("[caches.c]\npublic_key = \"a:b\"\n");
    assert!(e.contains("missing field `url`"), "{e}");
    assert!(e.contains("help: add the key to that table"), "{e}");
}

#[test]
fn numbers_in_range() {
    let e = refused("[fleet]\nmax_parallel = 0\n");
    assert!(
        e.contains("fleet.max_parallel: max_parallel must be between 1 and 256"),
        "{e}"
    );
    let e = refused("[fleet]\nkeep_connections = -1\n[hosts.a]\n");
    assert!(
        e.contains("fleet.keep_connections: keep_connections must be between 0 and 86400 seconds"),
        "{e}"
    );
    let e = refused("[fleet]\ninactivity_timeout = 604801\n[hosts.a]\n");
    assert!(
        e.contains(
            "fleet.inactivity_timeout: inactivity_timeout must be between 0 and 604800 seconds"
        ),
        "{e}"
    );
    let e = refused("[hosts.a]\nport = 70000\n");
    assert!(
        e.contains("hosts.a.port: port must be between 1 and 65535"),
        "{e}"
    );
}

#[test]
fn empty_addresses_and_two_local_hosts() {
    let e = refused("[hosts.a]\naddresses = []\n");
    assert!(e.contains("hosts.a.addresses: `addresses` is empty"), "{e}");
    let e = refused("[hosts.a]\nlocal = true\n[hosts.b]\nlocal = true\n");
    assert!(
        e.contains("hosts.b.local: more than one host says `local = true`"),
        "{e}"
    );
}

#[test]
fn hostile_flake_is_refused() {
    let e = refused("[fleet]\nflake = \"--impure\"\n");
    assert!(
        e.contains("fleet.flake: a flake reference cannot start with `-`"),
        "{e}"
    );
    let e = refused("[fleet]\nflake = \"\"\n");
    assert!(e.contains("the flake cannot be empty"), "{e}");
}

#[test]
fn discovery_order() {
    let dir = std::env::temp_dir().join(format!("fleet-discover-{}", std::process::id()));
    let nested = dir.join("a/b");
    std::fs::create_dir_all(&nested).expect("mkdir");
    std::fs::write(dir.join(FILE_NAME), "").expect("write");
    assert_eq!(
        discover(None, None, &nested).ok(),
        Some(dir.join(FILE_NAME))
    );
    assert_eq!(
        discover(
            Some(Path::new("x.toml")),
            Some(Path::new("/env.toml")),
            &nested
        )
        .ok(),
        Some(nested.join("x.toml")),
        "--inventory wins over the environment"
    );
    assert_eq!(
        discover(None, Some(Path::new("/env.toml")), &nested).ok(),
        Some("/env.toml".into())
    );
    let _ = std::fs::remove_dir_all(&dir);
    let e = discover(None, None, Path::new("/nonexistent/x")).expect_err("none");
    assert!(
        e.to_string()
            .contains("help: run `fleet init` in your flake's directory"),
        "{e}"
    );
}

#[test]
fn health_checks_are_argv_and_hostile_words_are_refused() {
    let inv = load(
        "[hosts.a]\nhealth_checks = [[\"systemctl\", \"is-system-running\", \"--wait\"], [\"curl\", \"-fsS\", \"http://localhost:8080/health\"]]\n",
    )
    .expect("valid");
    assert_eq!(
        inv.hosts[0].health_checks,
        [
            vec!["systemctl", "is-system-running", "--wait"],
            vec!["curl", "-fsS", "http://localhost:8080/health"]
        ]
    );
    assert!(load("[hosts.a]\n").expect("valid").hosts[0]
        .health_checks
        .is_empty());
    for (word, why) in [
        ("true; reboot", "cannot hold `;`"),
        ("$(reboot)", "cannot hold `$`"),
        ("`id`", "cannot hold a backtick"),
        ("a\\nb", "cannot hold a newline"),
        ("x | sh", "cannot hold `|`"),
    ] {
        let e = refused(&format!(
            "[hosts.a]\nhealth_checks = [[\"test\", \"{word}\"]]\n"
        ));
        assert!(e.contains("hosts.a.health_checks"), "{e}");
        assert!(e.contains(why), "{word}: {e}");
    }
    let e = refused("[hosts.a]\nhealth_checks = [[\"-oops\"]]\n");
    assert!(e.contains("program cannot start with `-`"), "{e}");
    let e = refused("[hosts.a]\nhealth_checks = [[]]\n");
    assert!(e.contains("a health check is empty"), "{e}");
    let e = refused("[hosts.a]\nhealth_checks = \"systemctl is-system-running\"\n");
    assert!(e.contains("health_checks"), "{e}");
}

#[test]
fn wake_on_lan_needs_a_mac_and_takes_a_broadcast_address() {
    let inv = load(
        "[hosts.p620]\nmac = \"3C-7C-3F-1E-22-AF\"\nwake_address = \"192.168.1.255\"\nwake = true\n[hosts.b]\nmac = \"3c:7c:3f:1e:22:b0\"\n",
    )
    .expect("valid");
    let wake = inv.hosts[0].wake.as_ref().expect("wake");
    assert_eq!(wake.mac, "3c:7c:3f:1e:22:af", "normalised");
    assert_eq!(wake.address.to_string(), "192.168.1.255");
    assert!(wake.on_demand);
    let wake = inv.hosts[1].wake.as_ref().expect("wake");
    assert_eq!(wake.address, std::net::Ipv4Addr::BROADCAST);
    assert!(!wake.on_demand, "only `fleet wake` wakes it");
    assert!(load("[hosts.a]\n").expect("valid").hosts[0].wake.is_none());

    let e = refused("[hosts.a]\nmac = \"3c:7c:3f:1e:22\"\n");
    assert!(
        e.contains("hosts.a.mac: `3c:7c:3f:1e:22` is not a MAC address"),
        "{e}"
    );
    let e = refused("[hosts.a]\nmac = \"3c:7c:3f:1e:22:af\"\nwake_address = \"p620.lan;x\"\n");
    assert!(e.contains("hosts.a.wake_address"), "{e}");
    let e = refused("[hosts.a]\nwake = true\n");
    assert!(
        e.contains("hosts.a.wake: `wake` needs the host's `mac`"),
        "{e}"
    );
}

#[test]
fn pre_activation_commands_and_the_failed_units_policy() {
    let inv = load(
        "[hosts.p510]\npre_activate = [[\"loginctl\", \"terminate-user\", \"olaf\"]]\nfailed_units = \"rollback\"\n[hosts.razer]\n",
    )
    .expect("valid");
    assert_eq!(
        inv.hosts[0].pre_activate,
        [vec!["loginctl", "terminate-user", "olaf"]]
    );
    assert_eq!(
        inv.hosts[0].failed_units,
        crate::vocab::FailedUnits::Rollback
    );
    assert!(inv.hosts[1].pre_activate.is_empty());
    assert_eq!(inv.hosts[1].failed_units, crate::vocab::FailedUnits::Keep);

    let e = refused("[hosts.a]\npre_activate = [[\"pkill\", \"-u\", \"$(whoami)\"]]\n");
    assert!(e.contains("hosts.a.pre_activate"), "{e}");
    assert!(e.contains("a pre-activation command cannot hold"), "{e}");
    let e = refused("[hosts.a]\nfailed_units = \"ignore\"\n");
    assert!(
        e.contains("`ignore` is not what to do with failed units"),
        "{e}"
    );
    assert!(e.contains("\"keep\""), "{e}");
}

#[test]
fn every_unknown_key_and_wrong_type_at_once() {
    let e = refused(
        "[fleet]\nmax_parallel = \"4\"\n[hosts.a]\nfallback = \"p620\"\nadresses = [\"x\"]\n[hosts.b]\nport = \"22\"\nbogus = 1\n",
    );
    assert!(e.contains("5 problems"), "{e}");
    assert!(
        e.contains("fleet.max_parallel: invalid type: string \"4\", expected a whole number"),
        "{e}"
    );
    assert!(
        e.contains("hosts.a.fallback: unknown variant `p620`, expected `target` or `local`"),
        "{e}"
    );
    assert!(!e.contains("not valid TOML"), "{e}");
    assert!(e.contains("hosts.a.adresses: unknown field"), "{e}");
    assert!(e.contains("hosts.b.port"), "{e}");
    assert!(e.contains("hosts.b.bogus"), "{e}");
    assert!(!e.contains("i64"), "{e}");
}

#[test]
fn no_hosts_a_host_named_here_and_user_at_host_are_refused() {
    let e = refused("[fleet]\nflake = \".\"\n");
    assert!(e.contains("the inventory defines no hosts"), "{e}");
    let e = refused("[hosts.here]\n");
    assert!(
        e.contains("`here` is fleet's word for the machine it runs on"),
        "{e}"
    );
    let e = refused("[hosts.razer]\naddresses = [\"olaf@razer.lan\"]\n");
    assert!(
        e.contains("user = \"olaf\" in [hosts.razer], and \"razer.lan\" here"),
        "{e}"
    );
}

#[test]
fn via_takes_a_list_of_builders_tried_in_order() {
    let inv = load(&format!(
        "{BASE}\n[hosts.p510]\nbuilder = true\n[hosts.samsung]\nvia = [\"p620\", \"p510\"]\n"
    ))
    .expect("valid");
    assert_eq!(inv.host("samsung").expect("samsung").via, ["p620", "p510"]);

    let e = refused(&format!(
        "{BASE}\n[hosts.p510]\n[hosts.samsung]\nvia = [\"p620\", \"p510\", \"p620\", \"p62\"]\n"
    ));
    assert!(
        e.contains("hosts.samsung.via: `p510` is not a builder"),
        "{e}"
    );
    assert!(
        e.contains("hosts.samsung.via: `p620` is named twice"),
        "{e}"
    );
    assert!(e.contains("`p62` is not a host in this inventory"), "{e}");
    assert!(e.contains("did you mean `p620`?"), "{e}");

    let e = refused(&format!("{BASE}\n[hosts.samsung]\nvia = []\n"));
    assert!(
        e.contains("hosts.samsung.via: `via` is an empty list"),
        "{e}"
    );
    let e = refused(&format!("{BASE}\n[hosts.samsung]\nvia = 3\n"));
    assert!(e.contains("a host name, or a list of host names"), "{e}");
}

#[test]
fn build_machines_are_hosts_of_the_inventory_with_nix_machine_fields() {
    let inv = load(
        "[hosts.p620]\nbuilder = true\nbuild_machines = [\"p510\", { host = \"razer\", jobs = 8, features = [\"big-parallel\"] }]\n\
         [hosts.p510]\n[hosts.razer]\n"
    )
    .expect("valid");
    let m = &inv.host("p620").expect("p620").build_machines;
    assert_eq!(m.len(), 2);
    assert_eq!((m[0].host.as_str(), m[0].jobs), ("p510", None));
    assert_eq!((m[1].host.as_str(), m[1].jobs), ("razer", Some(8)));
    assert_eq!(m[1].features, ["big-parallel"]);

    let e = refused(
        "[hosts.p620]\nbuild_machines = [\"p62\", \"p620\", { host = \"p510\", jobs = 0, features = [\"a b\", \"-\"] }]\n\
         [hosts.p510]\n[hosts.razer]\nport = 2222\n",
    );
    for want in [
        "hosts.p620.build_machines: p620 is not a builder",
        "help: add `builder = true` to [hosts.p620]",
        "`p62` is not a host in this inventory",
        "p620 cannot be its own helper",
        "p510's jobs must be between 1 and 1024",
        "`a b` is not a system feature",
        "`-` is not a system feature",
    ] {
        assert!(e.contains(want), "no {want:?} in {e}");
    }
    let e = refused(
        "[hosts.p620]\nbuilder = true\nbuild_machines = [\"razer\"]\n[hosts.razer]\nport = 2222\n",
    );
    assert!(e.contains("`razer` has a port of its own"), "{e}");
    let e = refused(
        "[hosts.p620]\nbuilder = true\nbuild_machines = [{ host = \"razer\", cores = 3 }]\n[hosts.razer]\n",
    );
    assert!(e.contains("unknown field `cores`"), "{e}");
}

#[test]
fn eval_on_names_a_host_or_local() {
    let inv = load("[fleet]\neval_on = \"p620\"\n[hosts.p620]\nbuilder = true\n").expect("valid");
    assert_eq!(inv.eval_on.as_deref(), Some("p620"));
    let inv = load("[fleet]\neval_on = \"local\"\n[hosts.p620]\n").expect("valid");
    assert_eq!(inv.eval_on, None);
    let e = refused("[fleet]\neval_on = \"p602\"\n[hosts.p620]\n");
    assert!(
        e.starts_with(&format!(
            "{PATH}:2:11: fleet.eval_on: `p602` is not a host in this inventory"
        )),
        "{e}"
    );
    assert!(e.contains("did you mean `p620`?"), "{e}");
}

/// The keys serde accepts in one table of hosts.toml, from its own "unknown field" error.
fn accepted_keys<T: serde::de::DeserializeOwned + std::fmt::Debug>(text: &str) -> Vec<String> {
    let e = toml::from_str::<T>(text).expect_err("an unknown key is refused");
    let message = e.to_string();
    let list = message
        .split_once("expected one of ")
        .map(|(_, l)| l)
        .unwrap_or_else(|| panic!("no key list in: {message}"));
    list.split(',')
        .filter_map(|k| k.split('`').nth(1).map(String::from))
        .collect()
}

/// docs/inventory.md documents every key hosts.toml takes, in the row of its table, and no
/// key that hosts.toml does not take.
#[test]
fn every_key_is_documented_and_nothing_else() {
    use super::raw::{RawBuildMachine, RawCache, RawFleet, RawHost, RawNix};
    let doc = include_str!("../../docs/inventory.md");
    let rows: Vec<(Vec<String>, String, String)> = doc
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").collect();
            let keys = cells
                .first()?
                .split(',')
                .filter_map(|k| k.split('`').nth(1).map(String::from))
                .collect();
            Some((keys, cells.get(1)?.trim().replace('`', ""), l.to_string()))
        })
        .collect();
    let documented = |table: &str| -> Vec<String> {
        rows.iter()
            .filter(|(_, t, _)| t.starts_with(table))
            .flat_map(|(k, _, _)| k.clone())
            .collect()
    };
    let tables = [
        ("[fleet]", accepted_keys::<RawFleet>("bogus = 1")),
        ("[fleet.nix]", accepted_keys::<RawNix>("bogus = 1")),
        ("[caches.NAME]", accepted_keys::<RawCache>("bogus = 1")),
        ("[hosts.NAME]", accepted_keys::<RawHost>("bogus = 1")),
    ];
    for (table, keys) in &tables {
        // `nix` in [fleet] is the [fleet.nix] table.
        let mut wanted: Vec<String> = keys.iter().filter(|k| *k != "nix").cloned().collect();
        wanted.sort();
        let mut have = documented(table);
        have.sort();
        assert_eq!(
            have, wanted,
            "{table}: documented keys vs keys hosts.toml takes"
        );
    }
    // build_machines' tables: each of their keys is named in its row.
    let row = rows
        .iter()
        .find(|(k, _, _)| k == &["build_machines"])
        .map(|(_, _, l)| l.clone())
        .expect("a build_machines row");
    for key in accepted_keys::<RawBuildMachine>("host = \"x\"\nbogus = 1") {
        assert!(
            row.contains(&format!("{key} =")),
            "build_machines' `{key}`: {row}"
        );
    }
}

/// Every problem of a file in one run: the reader's (types, unknown keys) and the checks' of
/// what it could read (names, via, addresses, users); nothing twice for a value left out.
#[test]
fn every_problem_of_the_file_at_once() {
    let e = refused(
        "[fleet]\nmax_parallel = \"4\"\n[hosts.a]\nfallback = \"p620\"\nadresses = [\"x\"]\nvia = \"nosuch\"\n[hosts.b]\nport = \"22\"\naddresses = [\"bad host!\"]\nuser = \"r o o t\"\n[hosts.\"c d\"]\n",
    );
    assert!(e.contains("8 problems"), "{e}");
    for said in [
        "fleet.max_parallel: invalid type",
        "hosts.a.fallback: unknown variant",
        "hosts.a.adresses: unknown field",
        "hosts.a.via: `nosuch` is not a host",
        "hosts.b.port: invalid type",
        "hosts.b.addresses: an address may hold only",
        "hosts.b.user: `r o o t` is not a valid user name",
        "`c d` is not a valid host name",
    ] {
        assert!(e.contains(said), "{said}: {e}");
    }
    // A refused value is not checked again: a wrongly typed `via` is one problem.
    let e = refused("[hosts.a]\nvia = 3\n[hosts.b]\n");
    assert_eq!(e.matches("hosts.a").count(), 1, "{e}");
}

#[test]
fn a_hosts_specialisation_is_a_name() {
    let inv = load("[hosts.razer]\nspecialisation = \"gaming\"\n[hosts.p510]\n").expect("valid");
    assert_eq!(inv.hosts[0].specialisation.as_deref(), Some("gaming"));
    assert_eq!(inv.hosts[1].specialisation, None);
    let e = refused("[hosts.a]\nspecialisation = \"../../etc\"\n");
    assert!(e.contains("hosts.a.specialisation"), "{e}");
    assert!(e.contains("is not a valid specialisation name"), "{e}");
}
