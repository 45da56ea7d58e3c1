//! `fleet doctor`: the troubleshooting guide as checks. Each is pass, warn or fail, names the
//! host, and says the fix in one line. Pure: it judges what was measured.

use serde::Serialize;

use super::{cache_view, TierCheck};
use crate::exec::{Answers, Asked};
use crate::facts;
use crate::inventory::Inventory;
use crate::plan::Probe;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    /// Not made, because what it needs failed first (a cache that does not answer cannot
    /// show whether its signatures verify); the detail names that cause.
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The host it is about; `None` for checks made from here about a cache.
    pub host: Option<String>,
    pub check: String,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(
    host: Option<&str>,
    name: &str,
    status: Status,
    detail: String,
    fix: Option<String>,
) -> Check {
    Check {
        host: host.map(String::from),
        check: name.into(),
        status,
        detail,
        fix,
    }
}

/// Reachability of one host address from here, on its SSH port.
pub struct AddressCheck {
    pub host: String,
    /// The address as hosts.toml gives it, with what ssh resolves it to when that differs.
    pub address: String,
    pub reach: Reach,
}

/// Whether a host's SSH port answers at an address.
pub enum Reach {
    /// In that many milliseconds.
    Answered(u128),
    /// Why not.
    Failed(String),
    /// ssh goes through this jump host: not checked directly (the SSH login check is).
    Through(String),
}

/// Every check, in a stable order: caches from here, then each host.
pub fn checks(
    inv: &Inventory,
    tiers: &[TierCheck],
    addresses: &[AddressCheck],
    asked: &Asked,
) -> Vec<Check> {
    let mut out = Vec::new();
    for t in tiers {
        out.push(match &t.from_here {
            Ok((ms, _)) => check(None, &format!("cache {} answers", t.cache), Status::Pass, format!("{} in {ms} ms", t.url), None),
            Err(e) => {
                let served = inv.cache(&t.cache).and_then(|c| c.host.clone());
                let status = if served.is_some() { Status::Fail } else { Status::Warn };
                let fix = match served {
                    Some(h) => format!("start the cache service on {h} (services.nix-serve.enable) and open its port in the firewall"),
                    None => "check this machine's network; hosts may still reach it".to_string(),
                };
                check(None, &format!("cache {} answers", t.cache), status, format!("{} is unreachable from here: {e}", t.url), Some(fix))
            }
        });
        for (addr, r) in &t.addresses {
            out.push(match r {
                Ok(ms) => check(None, &format!("cache {} over {addr}", t.cache), Status::Pass, format!("nix-cache-info in {ms} ms"), None),
                Err(e) => check(
                    None,
                    &format!("cache {} over {addr}", t.cache),
                    Status::Fail,
                    format!("the cache is unreachable on {addr}: {e}"),
                    Some(format!("check that the cache listens on {addr} and the firewall allows its port there")),
                ),
            });
        }
    }
    for a in addresses {
        let (host, addr) = (a.host.as_str(), a.address.as_str());
        let name = format!("reachable at {addr}");
        out.push(match &a.reach {
            Reach::Answered(ms) => check(Some(host), &name, Status::Pass, format!("SSH port answers in {ms} ms"), None),
            Reach::Through(jump) => check(Some(host), &name, Status::Pass, format!("through ProxyJump {jump}: checked by the SSH login, not directly"), None),
            Reach::Failed(e) => check(
                Some(host),
                &name,
                Status::Warn,
                e.clone(),
                Some(format!("fine if {host} is away from that network; otherwise check it is up and the address is right")),
            ),
        });
    }
    let mut versions: Vec<String> = Vec::new();
    for a in &asked.hosts {
        out.extend(host_checks(inv, a));
        if let Some(v) = a.ok(&Probe::NixVersion).and_then(facts::nix_version) {
            if !versions.contains(&v) {
                versions.push(v);
            }
        }
    }
    if versions.len() > 1 {
        out.push(check(
            None,
            "nix versions",
            Status::Warn,
            format!("hosts run different nix versions: {}", versions.join(", ")),
            Some("update the lagging hosts; a builder's nix should be at least as new as its targets'".into()),
        ));
    }
    out
}

fn host_checks(inv: &Inventory, a: &Answers) -> Vec<Check> {
    let h = a.host.as_str();
    let mut out = Vec::new();
    if let Some(why) = &a.unreachable {
        out.push(check(Some(h), "SSH login", Status::Fail, why.clone(), Some(format!("check that {h} is on and on the network, and that your key is in its authorized_keys"))));
        return out;
    }
    out.push(check(
        Some(h),
        "SSH login",
        Status::Pass,
        format!(
            "logged in at {}",
            a.address.as_deref().unwrap_or("this machine")
        ),
        None,
    ));
    if let Some(v) = a.ok(&Probe::NixVersion).and_then(facts::nix_version) {
        out.push(check(Some(h), "nix version", Status::Pass, v, None));
    }
    out.extend(space_checks(h, a));
    out.extend(profile_check(h, a));
    let Some(host) = inv.host(h) else {
        return out;
    };
    out.extend(cache_service_check(inv, h, a));
    out.extend(helper_checks(host, a));
    for c in host
        .caches
        .iter()
        .filter_map(|c| inv.cache(c))
        .filter(|c| c.host.as_deref() != Some(h))
    {
        out.extend(cache_checks(h, c, a));
    }
    out
}

/// A builder's helpers (`build_machines`): its root, as the nix-daemon's build hook, must log
/// in to each without a prompt, and find a Nix that takes its builds.
fn helper_checks(host: &crate::inventory::Host, a: &Answers) -> Vec<Check> {
    let h = host.name.as_str();
    host.build_machines
        .iter()
        .filter_map(|m| {
            let name = format!("build helper {}", m.host);
            let f = a.answers.get(&Probe::Helper(m.host.clone()))?;
            Some(if f.success() {
                check(
                    Some(h),
                    &name,
                    Status::Pass,
                    format!("{h}'s root reaches {} over ssh-ng, as Nix's build hook will", m.host),
                    None,
                )
            } else {
                check(
                    Some(h),
                    &name,
                    Status::Fail,
                    format!(
                        "{h}'s root cannot reach {} over ssh-ng: {}",
                        m.host,
                        f.tail.last().cloned().unwrap_or_default()
                    ),
                    Some(format!(
                        "give {h}'s root an SSH key {} accepts and {}'s host key (programs.ssh.knownHosts), and make that login a trusted user of {}'s Nix (nix.settings.trusted-users)",
                        m.host, m.host, m.host
                    )),
                )
            })
        })
        .collect()
}

/// The cache this host serves: its service must run.
fn cache_service_check(inv: &Inventory, h: &str, a: &Answers) -> Option<Check> {
    inv.cache_served_by(h)?;
    let systemd = a.answers.get(&Probe::Systemd).map(|f| f.success());
    let unit = Probe::UnitActive("nix-serve.service".into());
    match (systemd, a.answers.get(&unit)) {
        (Some(true), Some(f)) if f.success() => Some(check(
            Some(h),
            "cache service",
            Status::Pass,
            "nix-serve.service is active".into(),
            None,
        )),
        (Some(true), _) => Some(check(
            Some(h),
            "cache service",
            Status::Fail,
            "nix-serve.service is not active".into(),
            Some(format!(
                "on {h}: systemctl start nix-serve, and enable services.nix-serve"
            )),
        )),
        // Without systemd, whether the cache answers (checked from here) is the test.
        _ => None,
    }
}

/// Whether a path the builder signed verifies on `h`: skipped, with why, when the cache did
/// not answer (the key is not the fix then).
fn verify_check(
    h: &str,
    c: &crate::inventory::Cache,
    a: &Answers,
    v: &super::CacheView,
    config: &str,
) -> Option<Check> {
    let probe = Probe::CacheVerify(c.name.clone());
    match (a.answers.get(&probe), a.unasked.get(&probe)) {
        (Some(f), _) if f.success() => Some(check(Some(h), &format!("verifies cache {}", c.name), Status::Pass, "a path signed by the builder verifies".into(), None)),
        // The cache did not answer: whether its paths verify cannot be known, and the
        // key is not the fix (the reach check above says what is).
        (Some(f), _) if v.reaches == Some(false) || unanswered(&f.tail) => Some(check(
            Some(h),
            &format!("verifies cache {}", c.name),
            Status::Skip,
            format!(
                "not checked: {h} got no answer from {} ({})",
                c.name,
                f.tail.last().cloned().unwrap_or_default().trim()
            ),
            None,
        )),
        (Some(f), _) => Some(check(
            Some(h),
            &format!("verifies cache {}", c.name),
            Status::Fail,
            format!("a path from {} does not verify on {h}: {}", c.name, f.tail.last().cloned().unwrap_or_default()),
            Some(format!("trust the builder's key on {h} (see `{config}`), and check the builder signs (secret-key-files)")),
        )),
        (None, Some(why)) => Some(check(Some(h), &format!("verifies cache {}", c.name), Status::Warn, format!("not checked: {why}"), None)),
        (None, None) => None,
    }
}

/// Whether a command's last lines say a cache did not answer at all (down, refused, no
/// route), as Nix says it from 2.8 to 2.34.
fn unanswered(tail: &[String]) -> bool {
    tail.iter().any(|l| {
        let l = l.to_ascii_lowercase();
        [
            "couldn't connect",
            "connection refused",
            "could not resolve",
            "couldn't resolve",
            "timeout was reached",
            "no route to host",
        ]
        .iter()
        .any(|w| l.contains(w))
    })
}

/// Whether `h` uses, trusts, reaches and (for a builder's cache) verifies cache `c`.
fn cache_checks(h: &str, c: &crate::inventory::Cache, a: &Answers) -> Vec<Check> {
    let mut out = Vec::new();
    let v = cache_view(c, a);
    let builder_cache = c.host.is_some();
    let needed = if builder_cache {
        Status::Fail
    } else {
        Status::Warn
    };
    let config = format!("fleet cache nix-config {h}");
    if v.listed == Some(true) {
        out.push(check(
            Some(h),
            &format!("uses cache {}", c.name),
            Status::Pass,
            "listed in substituters".into(),
            None,
        ));
    }
    if v.trusted == Some(true) {
        out.push(check(
            Some(h),
            &format!("trusts cache {}", c.name),
            Status::Pass,
            "its key is trusted".into(),
            None,
        ));
    }
    if v.listed == Some(false) {
        out.push(check(
            Some(h),
            &format!("uses cache {}", c.name),
            needed,
            format!("{} is not in {h}'s substituters", c.url),
            Some(format!(
                "add it to nix.settings.substituters (see `{config}`)"
            )),
        ));
    }
    if v.trusted == Some(false) {
        out.push(check(
            Some(h),
            &format!("trusts cache {}", c.name),
            needed,
            format!(
                "{h} does not trust {}",
                c.public_key.as_deref().unwrap_or("its key")
            ),
            Some(format!(
                "add the key to nix.settings.trusted-public-keys (see `{config}`)"
            )),
        ));
    }
    match v.reaches {
        Some(true) => out.push(check(
            Some(h),
            &format!("reaches cache {}", c.name),
            Status::Pass,
            c.url.clone(),
            None,
        )),
        Some(false) => {
            let said = a
                .answers
                .get(&crate::plan::Probe::CacheReach(c.name.clone()))
                .and_then(|f| f.tail.last().cloned())
                .unwrap_or_default();
            out.push(check(
                Some(h),
                &format!("reaches cache {}", c.name),
                needed,
                format!("{h} cannot reach {}: {said}", c.url),
                Some(format!(
                    "check {h}'s network route and the firewall in front of the cache"
                )),
            ));
        }
        None => {}
    }
    if builder_cache {
        out.extend(verify_check(h, c, a, &v, &config));
    }
    out
}

/// The running system and the profile agree: a host that runs one and boots another changes
/// at its next reboot (after `--action test`, or a switch or rollback cut short).
fn profile_check(h: &str, a: &Answers) -> Option<Check> {
    let running = a.ok(&Probe::Running)?.trim();
    let profile = a.ok(&Probe::Profile)?.trim();
    Some(if running == profile {
        check(
            Some(h),
            "profile and running system",
            Status::Pass,
            "they agree".into(),
            None,
        )
    } else {
        check(
            Some(h),
            "profile and running system",
            Status::Fail,
            format!("{h} runs {running} but boots {profile}"),
            Some(format!(
                "`fleet deploy {h}` to run and boot what the flake says, or `fleet rollback {h}`"
            )),
        )
    })
}

fn space_checks(h: &str, a: &Answers) -> Vec<Check> {
    let Some(spaces) = a.ok(&Probe::Space).map(facts::disk_space) else {
        return Vec::new();
    };
    const GIB: u64 = 1024 * 1024;
    let mut out = Vec::new();
    if let Some(nix) = spaces.first() {
        let (status, fix) = if nix.free_kib < GIB || nix.used_percent() >= 97 {
            (
                Status::Fail,
                Some(format!(
                    "free space: `fleet gc {h}`, or remove old generations"
                )),
            )
        } else if nix.free_kib < 5 * GIB || nix.used_percent() >= 90 {
            (
                Status::Warn,
                Some(format!("`fleet gc {h}` before the next deployments")),
            )
        } else {
            (Status::Pass, None)
        };
        out.push(check(
            Some(h),
            "free space on /nix",
            status,
            format!(
                "{} free ({}% used)",
                facts::kib(nix.free_kib),
                nix.used_percent()
            ),
            fix,
        ));
    }
    // /boot only counts when it is its own file system (an ESP): a full one breaks a switch.
    if let Some(boot) = spaces.iter().skip(1).find(|s| s.mount == "/boot") {
        let (status, fix) = if boot.free_kib < 20 * 1024 {
            (Status::Fail, Some(format!("the next switch on {h} will fail to install its boot entry: delete old generations (`fleet gc {h}`)")))
        } else if boot.free_kib < 100 * 1024 || boot.used_percent() >= 80 {
            (Status::Warn, Some(format!("delete old generations on {h} (`fleet gc {h}`) or limit boot.loader.*.configurationLimit")))
        } else {
            (Status::Pass, None)
        };
        out.push(check(
            Some(h),
            "free space on /boot",
            status,
            format!(
                "{} free ({}% used)",
                facts::kib(boot.free_kib),
                boot.used_percent()
            ),
            fix,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::run::Finished;
    use std::collections::HashMap;

    fn with_df(df: &str) -> Answers {
        let mut answers = HashMap::new();
        answers.insert(
            Probe::Space,
            Finished {
                code: Some(0),
                stdout: df.into(),
                tail: Vec::new(),
                shown: String::new(),
                quiet_for: None,
            },
        );
        Answers {
            host: "razer".into(),
            address: None,
            unreachable: None,
            answers,
            unasked: HashMap::new(),
            ran: None,
        }
    }

    const HEAD: &str = "Filesystem 1024-blocks Used Available Capacity Mounted on\n";

    /// A path from a cache that did not answer cannot show whether it verifies: skipped with
    /// the cause, not a failure whose fix (trust the key) is wrong; a real mismatch still fails.
    #[test]
    fn a_verification_the_cache_could_not_answer_is_skipped() {
        let cache = crate::inventory::Cache {
            name: "p620".into(),
            url: "http://p620:5000".into(),
            public_key: Some("p620-1:abc".into()),
            host: Some("p620".into()),
            writable: false,
        };
        let said = |line: &str| {
            let mut a = with_df("");
            a.answers.insert(
                Probe::CacheVerify("p620".into()),
                Finished {
                    code: Some(1),
                    stdout: String::new(),
                    tail: vec![line.to_string()],
                    shown: String::new(),
                    quiet_for: None,
                },
            );
            a
        };
        let view = super::super::CacheView {
            listed: None,
            trusted: None,
            reaches: None,
        };
        let down = said("error: unable to download 'http://p620:5000/nix-cache-info': Couldn't connect to server (7)");
        let check = verify_check("razer", &cache, &down, &view, "c").expect("a check");
        assert_eq!(check.status, Status::Skip, "{check:?}");
        assert!(check.detail.contains("not checked"), "{check:?}");
        assert_eq!(check.fix, None);
        let untrusted = said("path '/nix/store/x' is untrusted");
        let check = verify_check("razer", &cache, &untrusted, &view, "c").expect("a check");
        assert_eq!(check.status, Status::Fail);
    }

    #[test]
    fn a_nearly_full_esp_warns_before_it_breaks_a_switch() {
        let a = with_df(&format!("{HEAD}/dev/a 100000000 10000000 90000000 10% /nix\n/dev/b 524288 450000 74288 86% /boot\n"));
        let checks = space_checks("razer", &a);
        let boot = checks
            .iter()
            .find(|c| c.check == "free space on /boot")
            .expect("boot checked");
        assert_eq!(boot.status, Status::Warn);
        assert!(boot
            .fix
            .as_deref()
            .unwrap_or_default()
            .contains("fleet gc razer"));
        let a = with_df(&format!("{HEAD}/dev/a 100000000 10000000 90000000 10% /nix\n/dev/b 524288 514288 10000 98% /boot\n"));
        assert_eq!(space_checks("razer", &a)[1].status, Status::Fail);
    }

    #[test]
    fn boot_on_the_root_file_system_is_not_an_esp() {
        let a = with_df(&format!("{HEAD}/dev/a 100000000 10000000 90000000 10% /nix\n/dev/a 100000000 10000000 90000000 10% /\n"));
        let checks = space_checks("razer", &a);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].status, Status::Pass);
    }

    #[test]
    fn a_full_store_fails() {
        let a = with_df(&format!("{HEAD}/dev/a 10000000 9900000 100000 99% /nix\n"));
        assert_eq!(space_checks("razer", &a)[0].status, Status::Fail);
    }
}
