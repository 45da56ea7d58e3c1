//! `build` and `build-all-parallel`: build where deploy would (or `--via`), activate nothing;
//! then say where each system is (and, with `--out-link`, link the ones built here).

use crate::app::Session;
use crate::cli::{Fallback, Global, OptionalHosts, Parallel, RequiredHosts, Via};
use crate::error::Error;
use crate::inventory::Host;
use crate::plan::{self, BuildRequest, CommandKind};
use crate::select::{select, WhenEmpty};
use crate::ui;
use crate::vocab::FallbackTo;

/// Build hosts' systems without activating them
#[derive(Debug, clap::Args)]
pub struct Build {
    #[command(flatten)]
    pub(super) hosts: RequiredHosts,
    #[command(flatten)]
    via: Via,
    /// Leave a `result`-style link PATH-HOST to each system built here (systems built on a
    /// builder are kept there, as a GC root, for their targets)
    #[arg(short = 'o', long, value_name = "PATH")]
    out_link: Option<String>,
    #[command(flatten)]
    fallback: Fallback,
}

impl super::Run for Build {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let s = &Session::open(g)?;
        let hosts = select(&s.inv, &self.hosts.hosts, WhenEmpty::Refuse)?;
        let place = (
            self.via.via.as_deref(),
            self.out_link.as_deref(),
            self.fallback.fallback,
        );
        build(s, CommandKind::Build, hosts, place, None)
    }
}

/// Build every host's system (or the selected ones') in parallel
#[derive(Debug, clap::Args)]
pub struct BuildAllParallel {
    #[command(flatten)]
    pub(super) hosts: OptionalHosts,
    #[command(flatten)]
    via: Via,
    /// Leave a `result`-style link PATH-HOST to each system built here (systems built on a
    /// builder are kept there, as a GC root, for their targets)
    #[arg(short = 'o', long, value_name = "PATH")]
    out_link: Option<String>,
    #[command(flatten)]
    parallel: Parallel,
    #[command(flatten)]
    fallback: Fallback,
}

impl super::Run for BuildAllParallel {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let s = &Session::open(g)?;
        let hosts = select(&s.inv, &self.hosts.hosts, WhenEmpty::All)?;
        let place = (
            self.via.via.as_deref(),
            self.out_link.as_deref(),
            self.fallback.fallback,
        );
        build(
            s,
            CommandKind::BuildAllParallel,
            hosts,
            place,
            self.parallel.max_parallel,
        )
    }
}

/// Where to build, the link to leave, and where to build when the builder is down.
type Where<'a> = (Option<&'a str>, Option<&'a str>, Option<FallbackTo>);

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
