//! `validate`: evaluate every selected host once (and `nix flake check` with `--full`), and
//! check hosts.toml against the flake: a host with no configuration is an error, a
//! configuration with no host a note.

use crate::app::{write_json, write_stdout, Session};
use crate::cli::Global;
use crate::cli::OptionalHosts;
use crate::error::{exit, Error};
use crate::flake::CrossCheck;
use crate::plan;
use crate::select::{select, WhenEmpty};
use crate::ui;

/// Evaluate every host's system without building it
#[derive(Debug, clap::Args)]
pub struct Validate {
    #[command(flatten)]
    hosts: OptionalHosts,
    /// Also run `nix flake check`
    #[arg(long)]
    full: bool,
}

impl super::Run for Validate {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let s = &Session::open(g)?;
        let (selectors, full) = (&self.hosts.hosts, self.full);
        let hosts = select(&s.inv, selectors, WhenEmpty::All)?;
        let plan = plan::validate(&s.inv, &s.ctx, &hosts, full);
        if let Some(code) = s.dry_run(&plan)? {
            return Ok(code);
        }
        let (executed, code) = s.execute(&plan)?;
        let check = executed
            .configurations
            .as_deref()
            .map(|c| CrossCheck::new(&s.inv, &hosts, c));
        if s.global.json {
            // The run's report, as every command's, with the flake's configurations and the
            // cross-check beside it.
            let mut json = serde_json::to_value(&executed.report)
                .map_err(|e| anyhow::anyhow!("rendering JSON: {e}"))?;
            if let Some(object) = json.as_object_mut() {
                object.insert(
                    "configurations".into(),
                    serde_json::json!(executed.configurations),
                );
                object.insert("cross_check".into(), serde_json::json!(check));
            }
            write_json(&json)?;
        } else {
            write_stdout(&ui::commands::evaluated(
                &executed.report,
                check.as_ref(),
                &s.inv.source,
            ))?;
        }
        let failed = check
            .as_ref()
            .is_some_and(|c| !c.without_configuration.is_empty());
        Ok(if failed && code == exit::OK {
            exit::HOST_FAILED
        } else {
            code
        })
    }
}
