//! What a deployment would change on a host, known without activating it (`--preview`, and
//! quick-all's question): what the host must fetch, which packages change version (from the
//! two closures, the way nvd does), whether it needs a reboot, and which units its switch
//! would stop, restart and start (`switch-to-configuration dry-activate`). Pure: the
//! executor runs the preview steps and hands their output here.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// One host's preview.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Preview {
    /// What the host lacked of the new closure before it was copied, as Nix reckoned it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetch: Option<Fetch>,
    /// How the closure got there: the way of the plan's copy step that did it (which cache
    /// tier, or the builder's store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copied: Option<String>,
    /// Packages whose versions change, or that come or go, by name.
    pub packages: Vec<Change>,
    /// What differs from the booted system among the kernel, initrd and kernel modules: a
    /// reboot is needed to run the new one whole.
    pub reboot: Vec<String>,
    /// The switch-inhibitors change (`systemd: systemd-257.9 -> systemd-258.1`): NixOS refuses a live
    /// switch, so a switch installs the system for the next boot (a reboot runs it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inhibited: Option<String>,
    /// The units the switch would stop, restart, start and reload.
    pub units: Units,
    /// Parts that could not be known, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
}

/// What a host must fetch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Fetch {
    /// Store paths to fetch from its caches.
    pub paths: usize,
    /// `12.3 MiB`, as Nix says it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unpacked: Option<String>,
    /// Paths none of the host's caches has, as its Nix reckons: derivations it would build,
    /// and paths it does not know how to get at all (`don't know how to build these paths`:
    /// they come from the builder's store, or from a cache the host's Nix was not asked).
    pub not_in_caches: usize,
}

impl Fetch {
    /// How much, as fleet says sizes: the download when the cache gave one, else the
    /// unpacked size (nix-serve gives no download sizes, so Nix's download is 0): `3.4 MiB`,
    /// `1.0 MiB unpacked`.
    pub fn size(&self) -> Option<String> {
        let bytes = |said: &Option<String>| -> Option<u64> {
            let mib: f64 = said.as_deref()?.strip_suffix(" MiB")?.trim().parse().ok()?;
            Some((mib * f64::from(1u32 << 20)) as u64)
        };
        match (bytes(&self.download), bytes(&self.unpacked)) {
            (Some(d), _) if d > 0 => Some(crate::nix::progress::mib(d)),
            (_, Some(u)) => Some(format!("{} unpacked", crate::nix::progress::mib(u))),
            (Some(d), None) => Some(crate::nix::progress::mib(d)),
            (None, None) => None,
        }
    }
}

/// A package whose versions differ between the running closure and the new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub name: String,
    /// Its versions in the running system's closure (empty: added).
    pub from: Vec<String>,
    /// Its versions in the new one's (empty: removed).
    pub to: Vec<String>,
}

/// The units a switch would touch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Units {
    pub stop: Vec<String>,
    pub restart: Vec<String>,
    pub start: Vec<String>,
    pub reload: Vec<String>,
}

/// `nix-store --realise --dry-run`'s words (Nix 2.8 to 2.34): `these 12 paths will be fetched
/// (3.4 MiB download, 12.1 MiB unpacked):` or `this path will be fetched (...)`, and `these 2
/// derivations will be built:`.
pub fn fetch(lines: &[String]) -> Fetch {
    let mut fetch = Fetch::default();
    // Under `don't know how to build these paths:`, one indented path a line.
    let mut unknown_paths = false;
    for raw in lines {
        let line = raw.trim();
        if unknown_paths && raw.starts_with(char::is_whitespace) && line.starts_with("/nix/store/")
        {
            fetch.not_in_caches += 1;
            continue;
        }
        unknown_paths = false;
        let count = || {
            if line.starts_with("this ") {
                Some(1)
            } else {
                line.split_whitespace().nth(1)?.parse().ok()
            }
        };
        if line.contains("will be fetched") {
            fetch.paths = count().unwrap_or(0);
            if let Some(sizes) = line.split_once('(').and_then(|(_, r)| r.split_once(')')) {
                for part in sizes.0.split(',').map(str::trim) {
                    if let Some(size) = part.strip_suffix(" download") {
                        fetch.download = Some(size.to_string());
                    } else if let Some(size) = part.strip_suffix(" unpacked") {
                        fetch.unpacked = Some(size.to_string());
                    }
                }
            }
        } else if line.contains("will be built") {
            fetch.not_in_caches += count().unwrap_or(0);
        } else if line.starts_with("don't know how to build") {
            unknown_paths = true;
        }
    }
    fetch
}

/// `preview.sh`'s `inhibited KEY: OLD -> NEW[; ...]` line, if it said one.
pub fn inhibited(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("inhibited "))
        .map(|s| s.trim().to_string())
}

/// `preview.sh`'s lines: `reboot FILE`, `- PATH` (only the running closure has it), `+ PATH`
/// (only the new one). Returns what needs a reboot and the package changes.
pub fn changes(text: &str) -> (Vec<String>, Vec<Change>) {
    let mut reboot = Vec::new();
    let mut old: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut new: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines() {
        if let Some(file) = line.strip_prefix("reboot ") {
            reboot.push(file.trim().to_string());
        } else if let Some(path) = line.strip_prefix("- ") {
            add(&mut old, path);
        } else if let Some(path) = line.strip_prefix("+ ") {
            add(&mut new, path);
        }
    }
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let empty = BTreeSet::new();
    let packages = names
        .into_iter()
        .filter_map(|name| {
            let (from, to) = (
                old.get(name).unwrap_or(&empty),
                new.get(name).unwrap_or(&empty),
            );
            // A rebuild at the same version (a dependency changed) is not a change of version.
            (from != to).then(|| Change {
                name: name.clone(),
                from: from.iter().cloned().collect(),
                to: to.iter().cloned().collect(),
            })
        })
        .collect();
    (reboot, packages)
}

fn add(map: &mut BTreeMap<String, BTreeSet<String>>, path: &str) {
    match name_version(path.trim()) {
        // The system itself changes every time; its parts are what is worth listing.
        Some((name, _)) if name.starts_with("nixos-system-") => {}
        Some((name, version)) => {
            map.entry(name).or_default().insert(version);
        }
        None => {}
    }
}

/// Outputs that name a part of a package, not another version of it.
const OUTPUT_SUFFIXES: &[&str] = &[
    "-bin", "-dev", "-doc", "-info", "-lib", "-man", "-out", "-devdoc", "-debug", "-data",
    "-modules",
];

/// A store path's package name and version, as Nix's `parseDrvName` splits them (the
/// version starts at the first `-` followed by a digit), with the output suffix dropped;
/// `None` for a path without a version (a system's own files, units, `etc`).
pub fn name_version(path: &str) -> Option<(String, String)> {
    let base = path.strip_prefix("/nix/store/").unwrap_or(path);
    let (_hash, name) = base.split_once('-')?;
    let name = name.strip_suffix(".drv").unwrap_or(name);
    let bytes = name.as_bytes();
    let at = (0..bytes.len().saturating_sub(1))
        .find(|&i| bytes[i] == b'-' && bytes[i + 1].is_ascii_digit())?;
    let mut version = &name[at + 1..];
    for suffix in OUTPUT_SUFFIXES {
        if let Some(v) = version.strip_suffix(suffix) {
            version = v;
            break;
        }
    }
    Some((name[..at].to_string(), version.to_string()))
}

/// `switch-to-configuration dry-activate`'s lines: `would stop the following units: a, b`,
/// and the same for restart, start and reload.
pub fn units(text: &str) -> Units {
    let mut units = Units::default();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("would ") else {
            continue;
        };
        let Some((verb, list)) = rest.split_once(" the following units: ") else {
            continue;
        };
        let names = list
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(String::from);
        match verb {
            "stop" => units.stop.extend(names),
            "restart" => units.restart.extend(names),
            "start" => units.start.extend(names),
            "reload" => units.reload.extend(names),
            _ => {}
        }
    }
    units
}

impl Preview {
    /// One line: packages, fetch, reboot, units.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        let changed: Vec<&Change> = self
            .packages
            .iter()
            .filter(|c| !c.from.is_empty() && !c.to.is_empty())
            .collect();
        let added = self.packages.iter().filter(|c| c.from.is_empty()).count();
        let removed = self.packages.iter().filter(|c| c.to.is_empty()).count();
        if changed.is_empty() && added == 0 && removed == 0 {
            parts.push("no package changes version".to_string());
        } else {
            let mut text = format!("{} changed", changed.len());
            let shown: Vec<String> = changed.iter().take(3).map(|c| c.brief()).collect();
            if !shown.is_empty() {
                let more = if changed.len() > 3 { ", ..." } else { "" };
                text.push_str(&format!(" ({}{more})", shown.join(", ")));
            }
            text.push_str(&format!(", {added} added, {removed} removed"));
            parts.push(text);
        }
        if let Some(f) = &self.fetch {
            let paths = |n: usize| crate::nix::progress::counted(n as u64, "path");
            parts.push(match (f.size(), f.paths, f.not_in_caches) {
                (_, 0, 0) => "nothing to fetch".to_string(),
                (Some(size), n, 0) => format!("fetch {}, {size}", paths(n)),
                (None, n, 0) => format!("fetch {}", paths(n)),
                (_, 0, m) => format!("{} not in its caches", paths(m)),
                (_, n, m) => format!("fetch {}, {m} not in its caches", paths(n)),
            });
        }
        if let Some(way) = &self.copied {
            parts.push(way.clone());
        }
        if let Some(change) = &self.inhibited {
            parts.push(format!(
                "switch inhibited ({change}): a switch installs it for the next boot, and it needs a reboot"
            ));
        }
        if !self.reboot.is_empty() {
            parts.push(format!("reboot needed ({})", self.reboot.join(", ")));
        }
        let u = &self.units;
        let units: Vec<String> = [
            ("restart", &u.restart),
            ("start", &u.start),
            ("stop", &u.stop),
            ("reload", &u.reload),
        ]
        .iter()
        .filter(|(_, l)| !l.is_empty())
        .map(|(verb, l)| format!("{verb} {}", l.join(" ")))
        .collect();
        if !units.is_empty() {
            // A switch NixOS inhibits touches no unit until the reboot: only a forced one does.
            let forced = if self.inhibited.is_some() {
                "--force-switch would "
            } else {
                ""
            };
            parts.push(format!("{forced}{}", units.join(", ")));
        }
        if !self.unknown.is_empty() {
            parts.push(format!("{} part(s) unknown", self.unknown.len()));
        }
        parts.join("; ")
    }
}

impl Change {
    /// `firefox 121.0 → 122.0`, `+htop 3.3.0`, `-nano 8.0`.
    pub fn brief(&self) -> String {
        match (self.from.is_empty(), self.to.is_empty()) {
            (true, _) => format!("+{} {}", self.name, self.to.join(", ")),
            (_, true) => format!("-{} {}", self.name, self.from.join(", ")),
            _ => format!(
                "{} {} → {}",
                self.name,
                self.from.join(", "),
                self.to.join(", ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions_split_as_nix_splits_them() {
        let nv = |p: &str| name_version(p).map(|(n, v)| format!("{n} {v}"));
        assert_eq!(
            nv("/nix/store/abc-firefox-121.0.1"),
            Some("firefox 121.0.1".into())
        );
        assert_eq!(
            nv("/nix/store/abc-linux-6.6.1-modules"),
            Some("linux 6.6.1".into())
        );
        assert_eq!(
            nv("/nix/store/abc-util-linux-2.39-bin"),
            Some("util-linux 2.39".into())
        );
        assert_eq!(nv("/nix/store/abc-etc"), None);
        assert_eq!(nv("/nix/store/abc-unit-sshd.service"), None);
    }

    #[test]
    fn the_closure_difference_becomes_package_changes() {
        let text = "reboot kernel\n\
            - /nix/store/a1-firefox-121.0\n\
            + /nix/store/b1-firefox-122.0\n\
            - /nix/store/a2-nano-8.0\n\
            + /nix/store/b2-htop-3.3.0\n\
            - /nix/store/a3-glibc-2.39\n\
            + /nix/store/b3-glibc-2.39\n\
            - /nix/store/a4-etc\n\
            + /nix/store/b4-etc\n\
            - /nix/store/a5-nixos-system-samsung-24.11.1\n\
            + /nix/store/b5-nixos-system-samsung-24.11.2\n";
        let (reboot, packages) = changes(text);
        assert_eq!(reboot, ["kernel"]);
        let briefs: Vec<String> = packages.iter().map(Change::brief).collect();
        assert_eq!(
            briefs,
            ["firefox 121.0 → 122.0", "+htop 3.3.0", "-nano 8.0"]
        );
        let preview = Preview {
            packages,
            reboot,
            fetch: Some(fetch(&[
                "these 12 paths will be fetched (3.4 MiB download, 12.1 MiB unpacked):".into(),
                "  /nix/store/...".into(),
            ])),
            units: units(
                "would stop the following units: old.service\nwould restart the following units: sshd.service, nix-daemon.service\n",
            ),
            unknown: Vec::new(),
            copied: None,
            inhibited: inhibited("inhibited systemd: systemd-257.9 -> systemd-258.1\n- /nix/store/x\n"),
        };
        assert_eq!(
            preview.summary(),
            "1 changed (firefox 121.0 → 122.0), 1 added, 1 removed; fetch 12 paths, 3.4 MiB; switch inhibited (systemd: systemd-257.9 -> systemd-258.1): a switch installs it for the next boot, and it needs a reboot; reboot needed (kernel); --force-switch would restart sshd.service nix-daemon.service, stop old.service"
        );
    }

    #[test]
    fn newer_nix_words_for_one_path_and_builds() {
        let f = fetch(&[
            "this path will be fetched (0.01 MiB download, 0.04 MiB unpacked):".into(),
            "these 2 derivations will be built:".into(),
        ]);
        assert_eq!((f.paths, f.not_in_caches), (1, 2));
        assert_eq!(f.download.as_deref(), Some("0.01 MiB"));
    }

    /// What Nix 2.8 to 2.34 say of a path none of the host's caches has and that it has no
    /// derivation for: it is not "nothing to fetch".
    #[test]
    fn paths_nix_does_not_know_how_to_get_are_not_in_its_caches() {
        let f = fetch(&[
            "don't know how to build these paths:".into(),
            "  /nix/store/gj5w248vgczbj5s27prsaq03hvpyws13-nixos-system-sid-2".into(),
            "  /nix/store/aj5w248vgczbj5s27prsaq03hvpyws13-lab-payload".into(),
            "these 2 paths will be fetched (0.02 MiB download, 0.05 MiB unpacked):".into(),
            "  /nix/store/bj5w248vgczbj5s27prsaq03hvpyws13-linux-6.7.0".into(),
        ]);
        assert_eq!((f.paths, f.not_in_caches), (2, 2));
        let preview = Preview {
            fetch: Some(Fetch {
                not_in_caches: 1,
                ..Fetch::default()
            }),
            ..Preview::default()
        };
        assert_eq!(
            preview.summary(),
            "no package changes version; 1 path not in its caches"
        );
    }

    /// nix-serve gives no download sizes, so Nix's download is 0.00 MiB: the unpacked size is
    /// what is said, and one path is one path.
    #[test]
    fn a_fetch_from_nix_serve_says_its_unpacked_size() {
        let f =
            fetch(&["this path will be fetched (0.00 MiB download, 1.03 MiB unpacked):".into()]);
        assert_eq!(f.size().as_deref(), Some("1.0 MiB unpacked"));
        let preview = Preview {
            fetch: Some(f),
            ..Preview::default()
        };
        assert_eq!(
            preview.summary(),
            "no package changes version; fetch 1 path, 1.0 MiB unpacked"
        );
        let f = fetch(&[
            "these 12 paths will be fetched (3.40 MiB download, 12.10 MiB unpacked):".into(),
        ]);
        assert_eq!(f.size().as_deref(), Some("3.4 MiB"));
    }
}
