//! What hosts say about themselves, parsed: generations, disk space, nix settings, uptime,
//! cache info, garbage collection results. Pure functions over command output.

use serde::Serialize;

use crate::report::SystemState;

/// `text` as a store path, if it is one: `/nix/store/HASH-NAME`, one file name of the
/// characters Nix allows in store paths. A host's answer is bytes from a machine that may be
/// broken or hostile: anything else is no store path, never a panic or a string that later
/// code slices by bytes.
pub fn store_path(text: &str) -> Option<String> {
    let base = text.trim().strip_prefix("/nix/store/")?;
    let ok = matches!(base.split_once('-'), Some((hash, name)) if !hash.is_empty() && !name.is_empty())
        && base.len() <= 255
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-._?=".contains(c));
    ok.then(|| format!("/nix/store/{base}"))
}

/// A host's state in one answer (`nix::read_state`): `running=`, `generation=`, `profile=`,
/// `booted=` and `specialisation=` lines. What is missing or odd is `None`.
pub fn system_state(text: &str) -> SystemState {
    let mut state = SystemState::default();
    for line in text.lines() {
        match line.trim().split_once('=') {
            Some(("running", v)) => state.system = store_path(v),
            Some(("generation", v)) => state.generation = profile_generation(v),
            Some(("profile", v)) => state.profile = store_path(v),
            Some(("booted", v)) => state.booted = store_path(v),
            Some(("specialisation", v)) if crate::inventory::names::is_identifier(v) => {
                state.specialisation = Some(v.to_string());
            }
            _ => {}
        }
    }
    state
}

/// `system-14-link` (or a path ending in it) → 14.
pub fn profile_generation(link: &str) -> Option<u32> {
    link.rsplit('/')
        .next()?
        .strip_prefix("system-")?
        .strip_suffix("-link")?
        .parse()
        .ok()
}

/// One system generation, from `nix-env --list-generations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Generation {
    pub number: u32,
    /// `2026-11-24 18:08:00`, the host's local time.
    pub date: String,
    pub current: bool,
}

/// `nix-env -p PROFILE --list-generations`: `   2   2026-11-24 18:40:50   (current)`.
pub fn generations(text: &str) -> Vec<Generation> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let number = words.next()?.parse().ok()?;
            let date = format!("{} {}", words.next()?, words.next()?);
            let current = words.next() == Some("(current)");
            Some(Generation {
                number,
                date,
                current,
            })
        })
        .collect()
}

/// What `nix-store --gc` says it did, from its last lines: `18 store paths deleted, 0.11 MiB
/// freed` (on stderr, where Nix talks of itself).
pub fn gc_freed(lines: &[String]) -> Option<String> {
    lines
        .iter()
        .rev()
        .map(|l| console::strip_ansi_codes(l).trim().to_string())
        .find(|l| l.contains("store paths deleted") && l.ends_with("freed"))
}

/// Each `system-N-link` and its system, from `find ... -printf '%f %l\n'`.
pub fn generation_links(text: &str) -> Vec<(u32, String)> {
    text.lines()
        .filter_map(|l| {
            let (name, target) = l.split_once(' ')?;
            let n = name
                .strip_prefix("system-")?
                .strip_suffix("-link")?
                .parse()
                .ok()?;
            Some((n, target.trim().to_string()))
        })
        .collect()
}

/// Space on one file system, from `df -Pk`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Space {
    pub mount: String,
    pub size_kib: u64,
    pub used_kib: u64,
    pub free_kib: u64,
}

impl Space {
    pub fn used_percent(&self) -> u64 {
        (self.used_kib.saturating_mul(100))
            .checked_div(self.size_kib)
            .unwrap_or(0)
    }
}

/// `df -Pk PATH...`: one line per path after the header; the mount point is the last column.
pub fn disk_space(text: &str) -> Vec<Space> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 6 {
                return None;
            }
            Some(Space {
                size_kib: cols[1].parse().ok()?,
                used_kib: cols[2].parse().ok()?,
                free_kib: cols[3].parse().ok()?,
                mount: cols[5..].join(" "),
            })
        })
        .collect()
}

/// The nix settings fleet cares about, from `nix config show --json` (or `show-config`: the same JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NixSettings {
    pub substituters: Vec<String>,
    pub trusted_public_keys: Vec<String>,
}

/// `nix config show --json`: `{ "substituters": { "value": [...] }, ... }`.
pub fn nix_settings(json: &str) -> Option<NixSettings> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let list = |key: &str| -> Vec<String> {
        v.get(key)
            .and_then(|s| s.get("value"))
            .and_then(|s| s.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(NixSettings {
        substituters: list("substituters"),
        trusted_public_keys: list("trusted-public-keys"),
    })
}

/// Whether two cache URLs name the same cache (`https://cache.nixos.org/` = `https://cache.nixos.org`).
pub fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Seconds since boot, from `/proc/uptime`.
pub fn uptime(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// `nix (Nix) 2.8.0` → `2.8.0`.
pub fn nix_version(text: &str) -> Option<String> {
    crate::vocab::NixVersion::parse(text).map(|v| v.to_string())
}

/// A binary cache's `nix-cache-info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CacheInfo {
    pub store_dir: Option<String>,
    pub priority: Option<u32>,
    pub want_mass_query: Option<bool>,
}

pub fn cache_info(text: &str) -> CacheInfo {
    let mut info = CacheInfo::default();
    for line in text.lines() {
        match line.split_once(':').map(|(k, v)| (k.trim(), v.trim())) {
            Some(("StoreDir", v)) => info.store_dir = Some(v.to_string()),
            Some(("Priority", v)) => info.priority = v.parse().ok(),
            Some(("WantMassQuery", v)) => info.want_mass_query = Some(v == "1"),
            _ => {}
        }
    }
    info
}

/// Who holds a host's deploy lock, from the lock script's answer (`nix::lock`): its owner
/// file's `run=`, `who=` and `since=` lines, then how long ago its lease was renewed and the
/// state of its run's watchdog (`armed` while it keeps the lock for a run that may be gone).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LockHolder {
    /// The run, as its state directory on the host names it (`/run/fleet/RUN-HOST`).
    pub run: Option<String>,
    pub who: Option<String>,
    pub since: Option<String>,
    pub renewed_secs_ago: Option<i64>,
    pub watchdog: Option<String>,
}

pub fn lock_holder(text: &str) -> LockHolder {
    let mut holder = LockHolder::default();
    let value = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    for line in text.lines() {
        match line.split_once('=') {
            Some(("run", v)) => holder.run = value(v.rsplit('/').next().unwrap_or(v)),
            Some(("who", v)) => holder.who = value(v),
            Some(("since", v)) => holder.since = value(v),
            Some(("renewed_ago", v)) => holder.renewed_secs_ago = v.trim().parse().ok(),
            Some(("watchdog", v)) => holder.watchdog = value(v),
            _ => {}
        }
    }
    holder
}

impl std::fmt::Display for LockHolder {
    /// `run R, olaf@laptop, since 2026-12-04T16:40:02Z; kept by its watchdog (armed), renewed
    /// 1 s ago, held until nobody renews it for 30 s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let or_unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
        write!(
            f,
            "run {}, {}, since {}",
            or_unknown(&self.run),
            or_unknown(&self.who),
            or_unknown(&self.since)
        )?;
        if let Some(state) = self.watchdog.as_deref().filter(|s| *s == "armed") {
            write!(
                f,
                "; kept by that run's watchdog ({state}) until it is confirmed or rolls back"
            )?;
        }
        if let Some(ago) = self.renewed_secs_ago {
            write!(
                f,
                "; renewed {ago} s ago, alive until nobody renews it for {} s",
                crate::nix::LOCK_LEASE
            )?;
        }
        Ok(())
    }
}

/// Every parser of a host's answer, run over `text`, its results shown as the screens show
/// them: what the fuzz target `host_answers` and the unit tests feed odd bytes to.
pub fn host_answers(text: &str) {
    let _ = system_state(text);
    let _ = store_path(text).map(|p| crate::vocab::short(&p));
    let _ = crate::vocab::short(text);
    let _ = generations(text);
    let _ = generation_links(text);
    for space in disk_space(text) {
        let _ = (space.used_percent(), kib(space.free_kib));
    }
    let _ = nix_settings(text);
    let _ = uptime(text).map(duration);
    let _ = nix_version(text);
    let _ = crate::vocab::NixVersion::parse(text);
    let _ = cache_info(text);
    let lines: Vec<String> = text.lines().map(String::from).collect();
    let _ = crate::preview::fetch(&lines);
    let _ = crate::preview::changes(text);
    let _ = crate::preview::units(text);
    let _ = crate::preview::name_version(text);
    let _ = lock_holder(text).to_string();
    let _ = evaluator(text);
}

/// The lines in which fleet's own scripts speak to the run (`nix::SAYS`), without the prefix.
pub fn fleet_says(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(crate::nix::SAYS))
}

/// What the machine that evaluates said (`nix::read_evaluator`): its cores, its free memory
/// (KiB), and the `.drv` paths asked about that it no longer has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluator {
    pub cores: usize,
    pub free_kib: Option<u64>,
    pub missing: Vec<String>,
}

pub fn evaluator(text: &str) -> Option<Evaluator> {
    let mut lines = text.lines().map(str::trim);
    let cores = lines.next()?.parse::<usize>().ok().filter(|c| *c > 0)?;
    let free_kib = lines.next().and_then(|l| l.parse::<u64>().ok());
    let missing = lines.filter_map(store_path).collect();
    Some(Evaluator {
        cores,
        free_kib,
        missing,
    })
}

/// Human sizes: 1536 KiB → `1.5 MiB`.
pub fn kib(k: u64) -> String {
    let units = ["KiB", "MiB", "GiB", "TiB"];
    let mut value = k as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{k} KiB")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// `93784` seconds → `1d 2h`.
pub fn duration(secs: f64) -> String {
    let s = secs as u64;
    match (s / 86_400, s % 86_400 / 3600, s % 3600 / 60) {
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_generations() {
        let g =
            generations("   1   2026-11-24 18:39:40   \n   2   2026-11-24 18:40:50   (current)\n");
        assert_eq!(g.len(), 2);
        assert_eq!(
            (g[1].number, g[1].date.as_str(), g[1].current),
            (2, "2026-11-24 18:40:50", true)
        );
        assert!(!g[0].current);
        assert!(generations("error: no profile\n").is_empty());
    }

    #[test]
    fn parses_df() {
        let s = disk_space(
            "Filesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/vda 1000 900 100 90% /nix\n/dev/vdb 200 50 150 25% /boot\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].mount.as_str(), s[0].free_kib, s[0].used_percent()),
            ("/nix", 100, 90)
        );
        assert_eq!(s[1].mount, "/boot");
    }

    #[test]
    fn parses_settings_and_info() {
        let s = nix_settings(r#"{"substituters":{"value":["http://x:5000"]},"trusted-public-keys":{"value":["k:1"]}}"#)
            .expect("settings");
        assert_eq!(s.substituters, ["http://x:5000"]);
        assert_eq!(s.trusted_public_keys, ["k:1"]);
        assert!(nix_settings("not json").is_none());
        let info = cache_info("StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n");
        assert_eq!(
            (
                info.store_dir.as_deref(),
                info.priority,
                info.want_mass_query
            ),
            (Some("/nix/store"), Some(30), Some(true))
        );
        assert!(same_url(
            "https://cache.nixos.org/",
            "https://cache.nixos.org"
        ));
    }

    #[test]
    fn store_paths_and_the_state_answer() {
        let p = "/nix/store/clnfmyvw2fh195vzphzdj2rbi72m2xv6-nixos-system-lab6-t1";
        assert_eq!(store_path(&format!("{p}\n")).as_deref(), Some(p));
        for odd in [
            "/nix/store/ééééé-x",
            "/nix/store/abc",
            "/nix/store/abc-x/bin",
            "/nix/store/abc-\u{1b}]0;x\u{7}",
            "/etc/passwd",
            "",
        ] {
            assert_eq!(store_path(odd), None, "{odd:?}");
        }
        let state = system_state(&format!(
            "running=/nix/store/ééééé-x\ngeneration=/nix/var/nix/profiles/system-14-link\nprofile={p}\n"
        ));
        assert_eq!(state.system, None);
        assert_eq!(state.generation, Some(14));
        assert_eq!(state.profile.as_deref(), Some(p));
        // The specialisation's name is a name, or nothing.
        for (said, read) in [
            ("gaming", Some("gaming")),
            ("", None),
            ("../x", None),
            ("a b", None),
        ] {
            let state = system_state(&format!("specialisation={said}\n"));
            assert_eq!(state.specialisation.as_deref(), read, "{said:?}");
        }
    }

    /// Every parser of a host's answer, over bytes a broken or hostile host could send: none
    /// may panic (the fuzz target `host_answers` runs the same over generated bytes).
    #[test]
    fn no_host_answer_panics_a_parser() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet: Vec<char> = "é€\u{1b}\u{7}\n \t-=:/%0123456789abcrunigpofesystem()"
            .chars()
            .collect();
        let mut samples: Vec<String> = vec![
            "running=/nix/store/ééééé-x".into(),
            "Filesystem 1 2 3 4 5\n/dev/x 18446744073709551615 18446744073709551615 1 1% /nix"
                .into(),
            "   99999999999999999999   2026-11-24 18:40:50   (current)".into(),
            "inf nan".into(),
        ];
        for _ in 0..2000 {
            let len = (next() % 60) as usize;
            samples.push(
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect(),
            );
        }
        for text in &samples {
            host_answers(text);
        }
    }

    #[test]
    fn small_parsers() {
        assert_eq!(uptime("2059.42 3569.29\n"), Some(2059.42));
        assert_eq!(nix_version("nix (Nix) 2.8.0\n").as_deref(), Some("2.8.0"));
        assert_eq!(kib(512), "512 KiB");
        assert_eq!(kib(1536), "1.5 MiB");
        assert_eq!(duration(93_784.0), "1d 2h");
        assert_eq!(duration(300.0), "5m");
    }

    #[test]
    fn what_the_machine_that_evaluates_says() {
        let said = evaluator("32\n123456\n/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x.drv\n");
        assert_eq!(
            said,
            Some(Evaluator {
                cores: 32,
                free_kib: Some(123_456),
                missing: vec!["/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x.drv".into()],
            })
        );
        assert_eq!(evaluator("0\n1\n"), None);
        assert_eq!(evaluator("x"), None);
        assert_eq!(evaluator("4\n").map(|e| e.free_kib), Some(None));
        assert_eq!(crate::inventory::eval_jobs_for(32, Some(8 << 20), 2048), 4);
        assert_eq!(crate::inventory::eval_jobs_for(2, None, 2048), 2);
        assert_eq!(crate::inventory::eval_jobs_for(8, Some(100), 2048), 1);
    }
}
