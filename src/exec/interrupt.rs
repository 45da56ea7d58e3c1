//! Ctrl-C during a run, in three steps, so that no host is left with its system profile and
//! its running system disagreeing:
//! 1. no host starts, and none starts deploying; deployments under way finish;
//! 2. builds, copies and anything not yet changing a host are aborted; activations already
//!    launched are still followed (they cannot be stopped half-way safely);
//! 3. fleet stops following them and prints the summary: the hosts finish on their own, and a
//!    host whose switch fleet did not confirm rolls itself back.

use std::convert::Infallible;

use tokio::sync::watch;

use super::events::Events;
pub use super::events::Stop;

/// How many times Ctrl-C was pressed, for every task of the run to see.
pub struct Interrupts {
    count: watch::Sender<u8>,
}

impl Default for Interrupts {
    fn default() -> Self {
        Interrupts {
            count: watch::channel(0).0,
        }
    }
}

impl Interrupts {
    /// Whether the user has asked for at least `stop`.
    pub fn at(&self, stop: Stop) -> bool {
        *self.count.borrow() >= stop as u8
    }

    /// Resolves once the user has asked for at least `stop` (never, if they do not).
    pub async fn until(&self, stop: Stop) {
        let mut rx = self.count.subscribe();
        if rx.wait_for(|n| *n >= stop as u8).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Counts Ctrl-Cs for as long as it is polled (run it beside the run itself), saying
    /// each time what happens now. Installing it means Ctrl-C no longer kills fleet outright.
    pub async fn listen(&self, events: &dyn Events) -> Infallible {
        loop {
            if tokio::signal::ctrl_c().await.is_err() {
                // No signal handling here: Ctrl-C keeps its default meaning.
                return std::future::pending().await;
            }
            self.press(events);
        }
    }

    /// One Ctrl-C (also what tests call); `events` is told how far the run now stops.
    pub fn press(&self, events: &dyn Events) {
        self.count.send_modify(|n| *n = n.saturating_add(1));
        let stop = match *self.count.borrow() {
            1 => Stop::Winding,
            2 => Stop::Aborting,
            _ => Stop::Leaving,
        };
        events.interrupted(stop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_press_goes_one_step_further() {
        let i = Interrupts::default();
        let progress = crate::exec::events::Silent;
        assert!(!i.at(Stop::Winding));
        i.press(&progress);
        assert!(i.at(Stop::Winding) && !i.at(Stop::Aborting));
        // A waiter for a step already reached returns at once; one further on waits.
        i.until(Stop::Winding).await;
        let later = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            i.until(Stop::Aborting),
        )
        .await;
        assert!(later.is_err());
        i.press(&progress);
        i.press(&progress);
        assert!(i.at(Stop::Leaving));
        i.until(Stop::Leaving).await;
    }
}
