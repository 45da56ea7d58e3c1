//! `update-flake`: update the flake's inputs (all, or the named ones), then say which moved.

use std::path::Path;

use crate::app::Session;
use crate::error::Error;
use crate::{flake, plan, ui};

pub fn run(s: &Session, inputs: &[String]) -> Result<u8, Error> {
    let plan = plan::update_flake(&s.ctx, inputs, crate::app::local_nix_version())?;
    if let Some(code) = s.dry_run(&plan)? {
        return Ok(code);
    }
    let lock_path = Path::new(&plan.flake).join("flake.lock");
    let before = std::fs::read_to_string(&lock_path).unwrap_or_default();
    s.execute_and_show(&plan, |_| {
        let after = std::fs::read_to_string(&lock_path).unwrap_or_default();
        ui::commands::moved(&flake::moved(&before, &after))
    })
}
