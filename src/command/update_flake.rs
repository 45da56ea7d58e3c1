//! `update-flake`: update the flake's inputs (all, or the named ones), then say which moved.

use crate::cli::Global;
use crate::complete;
use clap_complete::engine::ArgValueCandidates;
use std::path::Path;

use crate::app::Session;
use crate::error::Error;
use crate::{flake, plan, ui};

/// Update the flake's inputs (all, or the named ones) and say which moved
#[derive(Debug, clap::Args)]
pub struct UpdateFlake {
    /// Inputs to update [default: all]
    #[arg(value_name = "INPUT", add = ArgValueCandidates::new(complete::flake_inputs))]
    inputs: Vec<String>,
}

impl super::Run for UpdateFlake {
    fn run(&self, g: &Global) -> Result<u8, Error> {
        let s = &Session::open(g)?;
        let inputs = &self.inputs;
        let plan = plan::update_flake(&s.ctx, inputs, crate::app::local_nix_version())?;
        let lock_path = Path::new(&plan.flake).join("flake.lock");
        let before = std::fs::read_to_string(&lock_path).unwrap_or_default();
        refuse_unknown_inputs(inputs, &before)?;
        if let Some(code) = s.dry_run(&plan)? {
            return Ok(code);
        }
        s.execute_and_show(&plan, |_| {
            let after = std::fs::read_to_string(&lock_path).unwrap_or_default();
            ui::commands::moved(&flake::moved(&before, &after))
        })
    }
}

/// Named inputs must be the flake's: Nix only warns of one it does not have ("does not match
/// any input") and updates nothing, which would read as "no input moved". Without a lock file
/// (or one fleet cannot read), there is nothing to check against.
fn refuse_unknown_inputs(inputs: &[String], lock: &str) -> Result<(), Error> {
    let Some(known) = flake::read_root_inputs(lock) else {
        return Ok(());
    };
    let unknown: Vec<&str> = inputs
        .iter()
        .filter(|i| !known.contains(i))
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(Error::usage(
        format!(
            "the flake has no input {}; its inputs are {}",
            unknown.join(", "),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ),
        "name inputs as flake.lock has them (tab completes them), or none to update all",
    ))
}
