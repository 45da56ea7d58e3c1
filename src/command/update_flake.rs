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
}
