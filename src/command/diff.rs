//! `diff`: copy the new closure to each host as a deploy would, then compare it there with
//! what the host runs (`nix store diff-closures`). Nothing is activated.

use crate::app::Session;
use crate::error::Error;
use crate::plan;
use crate::select::{select, WhenEmpty};
use crate::ui;

pub fn run(s: &Session, selectors: &[String], via: Option<&str>) -> Result<u8, Error> {
    let hosts = select(&s.inv, selectors, WhenEmpty::Refuse)?;
    let plan = plan::deploy(&s.inv, &s.ctx, &plan::DeployRequest::diff(hosts, via))?;
    if let Some(code) = s.dry_run(&plan)? {
        return Ok(code);
    }
    s.execute_and_show(&plan, |executed| ui::commands::diff(&executed.report))
}
