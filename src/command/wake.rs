//! `wake`: reach each host as any run does, waking it (wake-on-LAN) when it does not answer.

use crate::app::Session;
use crate::error::Error;
use crate::plan;
use crate::select::{select, WhenEmpty};

pub fn run(s: &Session, selectors: &[String]) -> Result<u8, Error> {
    let hosts = select(&s.inv, selectors, WhenEmpty::Refuse)?;
    let plan = plan::wake(&s.inv, &s.ctx, &hosts)?;
    if let Some(code) = s.dry_run(&plan)? {
        return Ok(code);
    }
    s.execute_and_summarise(&plan)
}
