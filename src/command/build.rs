//! `build` and `build-all-parallel`: build where deploy would (or `--via`), activate nothing.

use crate::app::Session;
use crate::error::Error;
use crate::plan::{self, BuildRequest, Command};
use crate::select::{select, WhenEmpty};

/// `fleet build HOST... [--via BUILDER]`.
pub fn run(s: &Session, selectors: &[String], via: Option<&str>) -> Result<u8, Error> {
    let hosts = select(&s.inv, selectors, WhenEmpty::Refuse)?;
    build(s, Command::Build, hosts, via, None)
}

/// `fleet build-all-parallel [HOST...] [--via BUILDER] [-j N]`.
pub fn run_all(
    s: &Session,
    selectors: &[String],
    via: Option<&str>,
    max_parallel: Option<u16>,
) -> Result<u8, Error> {
    let hosts = select(&s.inv, selectors, WhenEmpty::All)?;
    build(s, Command::BuildAllParallel, hosts, via, max_parallel)
}

fn build(
    s: &Session,
    command: Command,
    hosts: Vec<&crate::inventory::Host>,
    via: Option<&str>,
    max_parallel: Option<u16>,
) -> Result<u8, Error> {
    let plan = plan::build(
        &s.inv,
        &s.ctx,
        &BuildRequest {
            command,
            hosts,
            via,
            max_parallel: max_parallel.map(usize::from),
            fallback: s.global.fallback,
        },
    )?;
    if let Some(code) = s.dry_run(&plan)? {
        return Ok(code);
    }
    s.execute_and_summarise(&plan)
}
