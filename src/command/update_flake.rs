//! `update-flake`: update the flake's inputs (all, or the named ones), then say which moved.

use std::path::Path;

use crate::app::{write_json, write_stdout, Session};
use crate::error::Error;
use crate::{flake, plan, ui};

pub fn run(s: &Session, inputs: &[String]) -> Result<u8, Error> {
    let plan = plan::update_flake(&s.inv, inputs)?;
    if let Some(code) = s.dry_run(&plan)? {
        return Ok(code);
    }
    let lock_path = Path::new(&plan.flake).join("flake.lock");
    let before = std::fs::read_to_string(&lock_path).unwrap_or_default();
    let (executed, code) = s.execute(&plan)?;
    if s.global.json {
        write_json(&executed.report)?;
    } else {
        let after = std::fs::read_to_string(&lock_path).unwrap_or_default();
        write_stdout(&ui::commands::moved(&flake::moved(&before, &after)))?;
    }
    Ok(code)
}
