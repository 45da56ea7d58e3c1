//! The sudo password (`--ask-sudo-password`, `sudo_password = true`): asked once per run on the
//! terminal, held only in memory that is wiped when it is dropped, and given to sudo on a
//! host's standard input over the connection the run already has (see `nix::TIE`), never in
//! argv, the environment, a log or the report.
//!
//! Each host tries a password once: the first command that needs it asks the host's sudo
//! whether it wants one at all (`sudo -n -k true`, no secret written); only where it does is
//! the password written, and checked with `sudo -k -S -- true`. One password serves the
//! fleet, so a host that never needs it must never see it: a compromised one would collect
//! every other host's. Every other command on that host waits for that answer. A host
//! that refuses the run's password gets one question of its own (where someone can answer);
//! refused again, its commands fail at once, so PAM's faillock never counts a third try.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Mutex;

use crate::secret::Secret;

/// Why a host's sudo would not take a password.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refused {
    /// No password was asked for this run (a plan that needed one was run without).
    #[error("sudo on {host} wants the run's password, and none was given")]
    NoneGiven { host: String },
    /// sudo said the password was wrong (once, or twice with the host's own question).
    #[error("sudo on {host} refused the password{}", if *.asked_again { " (twice: the run's, then the one asked for it)" } else { "" })]
    Wrong { host: String, asked_again: bool },
    /// sudo refused for another reason (the user may not use sudo there), in its words.
    #[error("sudo on {host} refused: {said}")]
    Other { host: String, said: String },
}

/// What a host made of a password: the one its sudo takes, or `None` where its sudo wants
/// none (NOPASSWD), and then no password is ever written to it.
pub type Standing = Result<Option<Secret>, Refused>;

/// The run's password, and what each host made of it.
#[derive(Default)]
pub struct Passwords {
    shared: Option<Secret>,
    /// Per host: checked yet, and with what result. The lock is held while one is checked.
    hosts: Mutex<HashMap<String, Arc<Mutex<Option<Standing>>>>>,
    /// Held while a host's own question is on the terminal: one question at a time.
    asking: Mutex<()>,
}

/// How a check of a password went, as sudo's exit and words tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    Accepted,
    Wrong,
    Other(String),
}

impl Checked {
    /// Reads a check command's result: exit 0 is accepted; sudo's "incorrect password"
    /// (or "Sorry, try again") is a wrong one; anything else is in sudo's words.
    pub fn from(code: Option<i32>, tail: &[String]) -> Checked {
        if code == Some(0) {
            return Checked::Accepted;
        }
        let said = |needle: &str| tail.iter().any(|l| l.contains(needle));
        if said("incorrect password") || said("Sorry, try again") {
            Checked::Wrong
        } else {
            let said: Vec<&str> = tail
                .iter()
                .map(|l| l.trim())
                .filter(|l| !l.is_empty())
                .collect();
            Checked::Other(if said.is_empty() {
                format!(
                    "it exited with {}",
                    code.map_or("no code".into(), |c| c.to_string())
                )
            } else {
                said.join(" ")
            })
        }
    }
}

impl Passwords {
    pub fn new(shared: Option<Secret>) -> Passwords {
        Passwords {
            shared,
            ..Passwords::default()
        }
    }

    /// The password `host` takes: `wants` tells, without any secret, whether its sudo wants
    /// one; only then is one checked, once, by `check`, with `ask` putting the host's own
    /// question when the run's password is refused (`None`: no one to ask).
    pub async fn for_host<W, C, A>(&self, host: &str, wants: W, check: C, ask: A) -> Standing
    where
        W: AsyncFn() -> bool,
        C: AsyncFn(&Secret) -> Checked,
        A: AsyncFn() -> Option<Secret>,
    {
        let slot = {
            let mut hosts = self.hosts.lock().await;
            hosts.entry(host.to_string()).or_default().clone()
        };
        let mut standing = slot.lock().await;
        if let Some(known) = standing.as_ref() {
            return known.clone();
        }
        let known = if wants().await {
            self.decide(host, check, ask).await.map(Some)
        } else {
            Ok(None)
        };
        *standing = Some(known.clone());
        known
    }

    async fn decide<C, A>(&self, host: &str, check: C, ask: A) -> Result<Secret, Refused>
    where
        C: AsyncFn(&Secret) -> Checked,
        A: AsyncFn() -> Option<Secret>,
    {
        let Some(shared) = self.shared.clone() else {
            return Err(Refused::NoneGiven { host: host.into() });
        };
        let other = |said| Refused::Other {
            host: host.into(),
            said,
        };
        match check(&shared).await {
            Checked::Accepted => return Ok(shared),
            Checked::Other(said) => return Err(other(said)),
            Checked::Wrong => {}
        }
        let own = {
            let _one_at_a_time = self.asking.lock().await;
            ask().await
        };
        let Some(own) = own else {
            return Err(Refused::Wrong {
                host: host.into(),
                asked_again: false,
            });
        };
        match check(&own).await {
            Checked::Accepted => Ok(own),
            Checked::Wrong => Err(Refused::Wrong {
                host: host.into(),
                asked_again: true,
            }),
            Checked::Other(said) => Err(other(said)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn secret(s: &str) -> Secret {
        Secret::new(zeroize::Zeroizing::new(s.to_string()))
    }

    fn text(s: &Secret) -> String {
        String::from_utf8_lossy(&s.line()).trim_end().to_string()
    }

    #[test]
    fn a_secret_never_shows() {
        assert_eq!(format!("{:?}", secret("hunter2")), "<secret>");
        assert_eq!(&*secret("pw").line(), b"pw\n");
    }

    #[test]
    fn sudo_s_words_are_read() {
        let lines = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(Checked::from(Some(0), &[]), Checked::Accepted);
        assert_eq!(
            Checked::from(
                Some(1),
                &lines(&["Sorry, try again.", "sudo: 1 incorrect password attempt"])
            ),
            Checked::Wrong
        );
        assert_eq!(
            Checked::from(Some(1), &lines(&["olaf is not in the sudoers file.", "  "])),
            Checked::Other("olaf is not in the sudoers file.".into())
        );
    }

    async fn wanted() -> bool {
        true
    }

    #[tokio::test]
    async fn a_host_whose_sudo_wants_no_password_is_never_given_it() {
        let passwords = Passwords::new(Some(secret("fleet")));
        let asked_sudo = AtomicUsize::new(0);
        let wants = async || {
            asked_sudo.fetch_add(1, Ordering::SeqCst);
            false
        };
        let check = async |_: &Secret| -> Checked { panic!("the password was written") };
        let ask = async || -> Option<Secret> { panic!("a password was asked for") };
        for _ in 0..3 {
            let standing = passwords.for_host("lab6", &wants, &check, &ask).await;
            assert!(matches!(standing, Ok(None)), "{standing:?}");
        }
        assert_eq!(asked_sudo.load(Ordering::SeqCst), 1, "asked more than once");
    }

    #[tokio::test]
    async fn each_host_checks_once_and_asks_once_after_a_refusal() {
        let passwords = Passwords::new(Some(secret("fleet")));
        let checks = AtomicUsize::new(0);
        let asked = AtomicUsize::new(0);
        let check = async |s: &Secret| {
            checks.fetch_add(1, Ordering::SeqCst);
            if text(s) == "own" {
                Checked::Accepted
            } else {
                Checked::Wrong
            }
        };
        let ask = async || {
            asked.fetch_add(1, Ordering::SeqCst);
            Some(secret("own"))
        };
        let first = passwords.for_host("p510", wanted, &check, &ask).await;
        let again = passwords.for_host("p510", wanted, &check, &ask).await;
        let own = |s: &Standing| s.as_ref().ok().and_then(|s| s.as_ref()).map(text);
        assert_eq!(own(&first), Some("own".into()));
        assert_eq!(own(&again), Some("own".into()));
        assert_eq!(checks.load(Ordering::SeqCst), 2);
        assert_eq!(asked.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_refused_host_is_not_tried_again() {
        let passwords = Passwords::new(Some(secret("fleet")));
        let checks = AtomicUsize::new(0);
        let check = async |_: &Secret| {
            checks.fetch_add(1, Ordering::SeqCst);
            Checked::Wrong
        };
        let nobody = async || None;
        for _ in 0..3 {
            let refused = passwords.for_host("samsung", wanted, &check, &nobody).await;
            assert!(
                matches!(
                    refused,
                    Err(Refused::Wrong {
                        asked_again: false,
                        ..
                    })
                ),
                "{refused:?}"
            );
        }
        assert_eq!(checks.load(Ordering::SeqCst), 1, "tried more than once");
        let twice = Passwords::new(Some(secret("fleet")));
        let wrong_again = async || Some(secret("still wrong"));
        let refused = twice.for_host("razer", wanted, &check, &wrong_again).await;
        assert_eq!(
            refused.err().map(|e| e.to_string()),
            Some(
                "sudo on razer refused the password (twice: the run's, then the one asked for it)"
                    .into()
            )
        );
    }
}
