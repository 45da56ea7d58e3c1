//! `fleet generations`: each host's system generations, from what the host answers (the
//! profile's generations, their systems, what runs and what boots) and this machine's
//! history (which of them fleet deployed, in which run).

use serde::Serialize;

use crate::exec::{Answers, Asked};
use crate::facts;
use crate::history::Entry;
use crate::plan::Probe;

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
            let deployed = history
                .iter()
                .rev()
                .find(|e| {
                    e.host == a.host
                        && e.to_generation == Some(g.number)
                        && (system.is_none() || e.to_system == system)
                })
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
