//! How far each host of a run has got, for hosts that must not change before others have
//! (a builder's switch waits for the hosts fetching from it; this machine goes last).

use std::collections::HashMap;

use tokio::sync::watch;

use crate::plan::{Awaited, Milestone, Plan};

/// Every host's progress: nothing yet (0), then each `Milestone` in order.
pub struct Milestones {
    hosts: HashMap<String, watch::Sender<u8>>,
}

fn level(m: Milestone) -> u8 {
    match m {
        Milestone::HasClosure => 1,
        Milestone::Done => 2,
    }
}

impl Milestones {
    pub fn new(plan: &Plan) -> Milestones {
        Milestones {
            hosts: plan
                .hosts
                .iter()
                .map(|h| (h.host.clone(), watch::channel(0).0))
                .collect(),
        }
    }

    /// `host` has got as far as `m` (it never goes back).
    pub fn reached(&self, host: &str, m: Milestone) {
        if let Some(tx) = self.hosts.get(host) {
            tx.send_if_modified(|now| {
                let was = *now;
                *now = was.max(level(m));
                *now != was
            });
        }
    }

    /// Resolves once every awaited host has got as far as it must.
    pub async fn all(&self, awaited: &[Awaited]) {
        for a in awaited {
            let Some(tx) = self.hosts.get(&a.host) else {
                continue;
            };
            let mut rx = tx.subscribe();
            let _ = rx.wait_for(|n| *n >= level(a.until)).await;
        }
    }
}
