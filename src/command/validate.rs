//! `validate`: evaluate every selected host once (and `nix flake check` with `--full`).

use crate::app::Session;
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
    s.execute_and_show(&plan, |executed| ui::commands::evaluated(&executed.systems))
}
