//! `fleet gc`: which system generations to delete on a host. Never the current one, the
//! running one, or the booted one; only those older than asked.

use serde::Serialize;

use crate::exec::Answers;
use crate::facts;
use crate::plan::Probe;

/// What gc will do (or, with --dry-run, would do) on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub delete: Vec<u32>,
    /// Generations kept although old enough, and why.
    pub kept: Vec<(u32, String)>,
}

/// Decides from a host's answers: generations, their links, running and booted systems, now.
pub fn decide(a: &Answers, older_than_days: u64) -> Decision {
    let gens = a
        .ok(&Probe::Generations)
        .map(facts::generations)
        .unwrap_or_default();
    let links = facts::generation_links(a.ok(&Probe::GenerationLinks).unwrap_or_default());
    let running = a.ok(&Probe::Running).map(|s| s.trim().to_string());
    let booted = a.ok(&Probe::Booted).map(|s| s.trim().to_string());
    let now = a.ok(&Probe::Now).and_then(crate::time::parse_datetime);
    let mut decision = Decision {
        delete: Vec::new(),
        kept: Vec::new(),
    };
    for g in gens {
        let target = links
            .iter()
            .find(|(n, _)| *n == g.number)
            .map(|(_, t)| t.as_str());
        let old_enough = match (now, crate::time::parse_datetime(&g.date)) {
            (Some(now), Some(then)) => now - then >= older_than_days as i64 * 86_400,
            // Without both times, age is unknown: keep.
            _ => false,
        };
        let why_keep = if g.current {
            Some("current")
        } else if target.is_some() && target == running.as_deref() {
            Some("running")
        } else if target.is_some() && target == booted.as_deref() {
            Some("booted")
        } else if target.is_none() {
            Some("its system is unknown")
        } else {
            None
        };
        match (old_enough, why_keep) {
            (false, _) => {}
            (true, Some(why)) => decision.kept.push((g.number, why.to_string())),
            (true, None) => decision.delete.push(g.number),
        }
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::run::Finished;
    use std::collections::HashMap;

    fn answers(pairs: &[(Probe, &str)]) -> Answers {
        let answers: HashMap<Probe, Finished> = pairs
            .iter()
            .map(|(p, out)| {
                (
                    p.clone(),
                    Finished {
                        code: Some(0),
                        stdout: out.to_string(),
                        tail: Vec::new(),
                        shown: String::new(),
                        quiet_for: None,
                    },
                )
            })
            .collect();
        Answers {
            host: "h".into(),
            address: None,
            unreachable: None,
            answers,
            unasked: HashMap::new(),
            ran: None,
        }
    }

    #[test]
    fn keeps_current_running_booted_and_young() {
        let a = answers(&[
            (
                Probe::Generations,
                "1 2026-11-01 10:00:00\n2 2026-11-02 10:00:00\n3 2026-11-03 10:00:00\n4 2026-11-04 10:00:00\n5 2026-11-20 10:00:00\n6 2026-11-21 10:00:00 (current)\n",
            ),
            (
                Probe::GenerationLinks,
                "system-1-link /nix/store/a-1\nsystem-2-link /nix/store/a-2\nsystem-3-link /nix/store/a-3\nsystem-4-link /nix/store/a-4\nsystem-5-link /nix/store/a-5\nsystem-6-link /nix/store/a-6\n",
            ),
            (Probe::Running, "/nix/store/a-3\n"),
            (Probe::Booted, "/nix/store/a-1\n"),
            (Probe::Now, "2026-11-24 10:00:00\n"),
        ]);
        let d = decide(&a, 7);
        assert_eq!(d.delete, [2, 4]);
        assert_eq!(
            d.kept,
            [(1, "booted".to_string()), (3, "running".to_string())]
        );
        assert_eq!(decide(&a, 0).delete, [2, 4, 5]);
        assert_eq!(decide(&a, 365).delete, Vec::<u32>::new());
    }

    #[test]
    fn unknown_times_delete_nothing() {
        let a = answers(&[(
            Probe::Generations,
            "1 2026-11-01 10:00:00\n2 2026-11-02 10:00:00 (current)\n",
        )]);
        assert!(decide(&a, 0).delete.is_empty());
    }
}
