//! `validate`: evaluate every selected host once (and `nix flake check` with `--full`).

use crate::app::{write_json, write_stdout, Session};
use crate::error::Error;
use crate::plan;
use crate::select::{select, WhenEmpty};
use crate::ui;

pub fn run(s: &Session, selectors: &[String], full: bool) -> Result<u8, Error> {
    let hosts = select(&s.inv, selectors, WhenEmpty::All)?;
    let plan = plan::validate(&s.inv, &hosts, full);
    if let Some(code) = s.dry_run(&plan)? {
        return Ok(code);
    }
    let (executed, code) = s.execute(&plan)?;
    if s.global.json {
        write_json(&executed.report)?;
    } else {
        write_stdout(&ui::commands::evaluated(&executed.systems))?;
    }
    Ok(code)
}
