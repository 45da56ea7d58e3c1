//! `fleet generations`: each host's system generations, from what the host answers (the
//! profile's generations, their systems, what runs and what boots) and this machine's
//! history (which of them fleet deployed, in which run).

use serde::Serialize;

use crate::exec::{Answers, Asked};
use crate::facts;
use crate::history::Entry;
use crate::plan::Probe;
use crate::report::Outcome;

/// One system generation of a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Generation {
    pub number: u32,
    /// When it was made, the host's local time.
    pub date: String,
    /// Its system's store path, when its link could be read.
    pub system: Option<String>,
    /// The profile points at it: what the host boots next.
    pub current: bool,
    /// The host runs its system now.
    pub running: bool,
    /// The host booted its system.
    pub booted: bool,
    /// The fleet run that made it (or went to it), from this machine's history.
    pub deployed: Option<Deployed>,
}

/// A history entry that ended on a generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deployed {
    pub time: String,
    pub command: String,
    pub who: String,
    pub run: Option<String>,
}

/// One host's generations, oldest first, or why they could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostGenerations {
    pub host: String,
    pub generations: Vec<Generation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<String>,
    /// The host answered, but not with its generations (and what it said).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<String>,
}

/// Every host's generations, with `history` (this machine's, oldest first) telling which fleet
/// deployed: the newest entry that ended on that generation with that system.
pub fn generations(asked: &Asked, history: &[Entry]) -> Vec<HostGenerations> {
    asked.hosts.iter().map(|a| host(a, history)).collect()
}

fn host(a: &Answers, history: &[Entry]) -> HostGenerations {
    let mut out = HostGenerations {
        host: a.host.clone(),
        generations: Vec::new(),
        unreachable: a.unreachable.clone(),
        unread: None,
    };
    if a.unreachable.is_some() {
        return out;
    }
    let Some(listed) = a.ok(&Probe::Generations) else {
        out.unread = Some(
            a.answers
                .get(&Probe::Generations)
                .map(|f| f.tail.join(" "))
                .or_else(|| a.unasked.get(&Probe::Generations).cloned())
                .unwrap_or_else(|| "no answer".into()),
        );
        return out;
    };
    let links = facts::generation_links(a.ok(&Probe::GenerationLinks).unwrap_or_default());
    let running = a.ok(&Probe::Running).map(|s| s.trim().to_string());
    let booted = a.ok(&Probe::Booted).map(|s| s.trim().to_string());
    out.generations = facts::generations(listed)
        .into_iter()
        .map(|g| {
            let system = links
                .iter()
                .find(|(n, _)| *n == g.number)
                .map(|(_, t)| t.clone());
            let is = |other: &Option<String>| system.is_some() && *other == system;
            // The runs that ended on it: deployed there (or rolled back to it), not a dry
            // activation, a failure or a rolled-back switch; of those, the newest that brought
            // the host to this system from another (a later re-activation of the same system
            // does not hide the run that made it), else the newest.
            let ended_here = |e: &&Entry| {
                e.host == a.host
                    && e.to_generation == Some(g.number)
                    && (system.is_none() || e.to_system == system)
                    && [Outcome::Deployed, Outcome::UnitsFailed, Outcome::Reverted]
                        .iter()
                        .any(|o| e.result == o.as_str())
            };
            let deployed = history
                .iter()
                .rev()
                .filter(ended_here)
                .find(|e| e.from_system.is_none() || e.from_system != e.to_system)
                .or_else(|| history.iter().rev().find(ended_here))
                .map(|e| Deployed {
                    time: e.time.clone(),
                    command: e.command.clone(),
                    who: e.who.clone(),
                    run: e.run.clone(),
                });
            Generation {
                number: g.number,
                date: g.date,
                running: is(&running),
                booted: is(&booted),
                current: g.current,
                system,
                deployed,
            }
        })
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::run::Finished;

    fn answered(text: &str) -> Finished {
        Finished {
            code: Some(0),
            stdout: text.into(),
            tail: Vec::new(),
            shown: String::new(),
            quiet_for: None,
        }
    }

    fn entry(run: &str, result: &str, from: &str, to: &str, generation: u32) -> Entry {
        Entry {
            time: format!("2026-12-0{}T10:00:00Z", run.len()),
            host: "razer".into(),
            command: "deploy".into(),
            action: Some("switch".into()),
            result: result.into(),
            from_generation: None,
            from_system: Some(from.into()),
            to_generation: Some(generation),
            to_system: Some(to.into()),
            who: "olaf@thinkpad".into(),
            seconds: 1.0,
            error: None,
            run: Some(run.into()),
        }
    }

    /// Generation 2 was made by run r1; a later re-activation of the same system (r22) and a
    /// dry activation (r333) do not take its place.
    #[test]
    fn the_run_that_made_a_generation_is_the_one_shown() {
        let mut a = Answers::new("razer");
        a.answers.insert(
            Probe::Generations,
            answered("   1   2026-12-01 10:00:00\n   2   2026-12-02 10:00:00   (current)\n"),
        );
        a.answers.insert(
            Probe::GenerationLinks,
            answered("system-1-link /nix/store/a-sys\nsystem-2-link /nix/store/b-sys\n"),
        );
        let asked = Asked {
            hosts: vec![a],
            systems: Default::default(),
            missed: Vec::new(),
        };
        let history = [
            entry("r1", "deployed", "/nix/store/a-sys", "/nix/store/b-sys", 2),
            entry("r22", "deployed", "/nix/store/b-sys", "/nix/store/b-sys", 2),
            entry(
                "r333",
                "dry-activated",
                "/nix/store/b-sys",
                "/nix/store/b-sys",
                2,
            ),
        ];
        let gens = &generations(&asked, &history)[0].generations;
        assert_eq!(gens[0].deployed, None);
        assert_eq!(
            gens[1].deployed.as_ref().and_then(|d| d.run.as_deref()),
            Some("r1")
        );
        // With only the re-activation, that is the run shown.
        let gens = &generations(&asked, &history[1..])[0].generations;
        assert_eq!(
            gens[1].deployed.as_ref().and_then(|d| d.run.as_deref()),
            Some("r22")
        );
    }
}
