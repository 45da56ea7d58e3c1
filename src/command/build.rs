//! `build` and `build-all-parallel`: build where deploy would (or `--via`), activate nothing;
//! then say where each system is (and, with `--out-link`, link the ones built here).

use crate::app::Session;
use crate::error::Error;
use crate::inventory::Host;
use crate::plan::{self, BuildRequest, CommandKind};
use crate::select::{select, WhenEmpty};
use crate::ui;
use crate::vocab::FallbackTo;

/// `fleet build HOST... [--via BUILDER] [-o PATH] [--fallback WHERE]`.
pub fn run(s: &Session, selectors: &[String], place: Where) -> Result<u8, Error> {
    let hosts = select(&s.inv, selectors, WhenEmpty::Refuse)?;
    build(s, CommandKind::Build, hosts, place, None)
}

/// `fleet build-all-parallel [HOST...] [--via BUILDER] [-o PATH] [--fallback WHERE] [-j N]`.
pub fn run_all(
    s: &Session,
    selectors: &[String],
    place: Where,
    max_parallel: Option<u16>,
) -> Result<u8, Error> {
    let hosts = select(&s.inv, selectors, WhenEmpty::All)?;
    build(s, CommandKind::BuildAllParallel, hosts, place, max_parallel)
}

/// Where to build, the link to leave, and where to build when the builder is down.
pub type Where<'a> = (Option<&'a str>, Option<&'a str>, Option<FallbackTo>);

fn build(
    s: &Session,
    command: CommandKind,
    hosts: Vec<&Host>,
    (via, out_link, fallback): Where,
    max_parallel: Option<u16>,
) -> Result<u8, Error> {
    if let Some(link) = out_link.filter(|l| l.is_empty() || l.chars().any(char::is_control)) {
        return Err(Error::usage(
            format!("--out-link {}: not a path", link.escape_debug()),
            "give a path like ./result; each system built here is linked at PATH-HOST",
        ));
    }
    let plan = plan::build(
        &s.inv,
        &s.ctx,
        &BuildRequest {
            command,
            hosts,
            via,
            max_parallel: max_parallel.map(usize::from),
            fallback,
            out_link,
        },
    )?;
    if let Some(code) = s.dry_run(&plan)? {
        return Ok(code);
    }
    s.execute_and_show(&plan, |executed| {
        ui::commands::built(&executed.report, out_link)
    })
}
