//! `rollback`: back one generation on each host, as `nixos-rebuild switch --rollback` does,
//! with the switch launched detached and followed.

use crate::app::Session;
use crate::error::Error;
use crate::plan;
use crate::select::{select, WhenEmpty};

pub fn run(s: &Session, selectors: &[String]) -> Result<u8, Error> {
    let hosts = select(&s.inv, selectors, WhenEmpty::Refuse)?;
    let plan = plan::rollback(&s.inv, &s.ctx, &hosts);
    if let Some(code) = s.dry_run(&plan)? {
        return Ok(code);
    }
    s.execute_and_summarise(&plan)
}
