//! `unlock`: break hosts' deploy locks, each host saying whose lock it was. For a run that
//! died and left its lock to a lease that will not run out (a host clock stepped back), or
//! that a person knows is gone.

use crate::cli::Global;
use crate::cli::RequiredHosts;
use serde::Serialize;

use crate::app::{write_json, write_stdout, Session};
use crate::error::{exit, Error};
use crate::exec::Asked;
use crate::facts::{self, LockHolder};
use crate::select::{select, WhenEmpty};
use crate::{plan, ui};

/// One host's result, for `--json` and the text alike.
#[derive(Serialize)]
struct Unlocked {
    host: String,
    /// Whose lock was broken (`null`: no run held one).
    broke: Option<LockHolder>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Break hosts' deploy locks, saying whose each was: for a run that is gone, whose lock
/// `fleet status` still shows (a live run's lock keeps others from deploying at once)
#[derive(Debug, clap::Args)]
pub struct Unlock {
    #[command(flatten)]
    hosts: RequiredHosts,
}

impl super::Run for Unlock {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let s = &Session::open(g)?;
        let selectors = &self.hosts.hosts;
        let hosts = select(&s.inv, selectors, WhenEmpty::Refuse)?;
        let plan = plan::unlock(&s.inv, &s.ctx, &hosts);
        if let Some(code) = s.dry_run(&plan)? {
            return Ok(code);
        }
        let asked = s.ask(&plan)?;
        let results = unlocked(&asked);
        if s.global.json {
            write_json(&results)?;
        } else {
            let mut text = String::new();
            for r in &results {
                let line = match (&r.error, &r.broke) {
                    (Some(why), _) => format!("{}: not unlocked: {why}", r.host),
                    (None, Some(holder)) => {
                        format!("{}: broke the deploy lock of {holder}", r.host)
                    }
                    (None, None) => format!("{}: no run held its deploy lock", r.host),
                };
                text.push_str(&ui::visible(&line));
                text.push('\n');
            }
            write_stdout(&text)?;
        }
        Ok(if results.iter().all(|r| r.error.is_none()) {
            exit::OK
        } else {
            exit::HOST_FAILED
        })
    }
}

fn unlocked(asked: &Asked) -> Vec<Unlocked> {
    asked
        .hosts
        .iter()
        .map(|a| {
            let (broke, error) = match (&a.unreachable, &a.ran) {
                (Some(why), _) => (None, Some(why.clone())),
                (None, Some(Ok(f))) if f.success() => {
                    let none = f.stdout.trim() == "none";
                    ((!none).then(|| facts::lock_holder(&f.stdout)), None)
                }
                (None, Some(Ok(f))) => (
                    None,
                    Some(format!(
                        "exited with {}: {}",
                        f.code.map_or("no code".into(), |c| c.to_string()),
                        f.tail.join(" ")
                    )),
                ),
                (None, Some(Err(why))) => (None, Some(why.clone())),
                (None, None) => (None, Some("not run".into())),
            };
            Unlocked {
                host: a.host.clone(),
                broke,
                error,
            }
        })
        .collect()
}
