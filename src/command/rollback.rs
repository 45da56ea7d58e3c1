//! `rollback`: back one generation on each host, as `nixos-rebuild switch --rollback` does,
//! or to a given one (`--to N`, which nixos-rebuild cannot), with the switch launched
//! detached and followed.

use crate::app::Session;
use crate::cli;
use crate::error::Error;
use crate::plan;
use crate::select::{select, WhenEmpty};

pub fn run(
    s: &Session,
    selectors: &[String],
    to: Option<u32>,
    guard: &cli::Guard,
) -> Result<u8, Error> {
    let hosts = select(&s.inv, selectors, WhenEmpty::Refuse)?;
    let overrides = plan::Overrides {
        confirm_timeout: guard.window(),
        no_wait: guard.no_wait,
        ..Default::default()
    };
    let plan = plan::rollback(&s.inv, &s.ctx, &hosts, to, &overrides)?;
    if let Some(code) = s.dry_run(&plan)? {
        return Ok(code);
    }
    s.execute_and_summarise(&plan)
}
