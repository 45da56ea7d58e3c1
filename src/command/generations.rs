//! `generations`: each host's system generations (number, date, current, running, booted)
//! and which fleet deployed, from which run; `fleet rollback HOST --to N` goes to one.

use crate::app::{state_dir, write_json, write_stdout, Session};
use crate::error::{exit, Error};
use crate::health::generations;
use crate::select::{select, WhenEmpty};
use crate::{history, plan, ui};

pub fn run(s: &Session, selectors: &[String]) -> Result<u8, Error> {
    let hosts = select(&s.inv, selectors, WhenEmpty::All)?;
    let plan = plan::generations(&s.inv, &s.ctx, &hosts);
    if let Some(code) = s.dry_run(&plan)? {
        return Ok(code);
    }
    let asked = s.ask(&plan)?;
    let all = generations::generations(&asked, &history::read(&state_dir()));
    if s.global.json {
        write_json(&all)?;
    } else {
        write_stdout(&ui::commands::generations(&all))?;
    }
    Ok(
        if all
            .iter()
            .all(|h| h.unreachable.is_none() && h.unread.is_none())
        {
            exit::OK
        } else {
            exit::HOST_FAILED
        },
    )
}
