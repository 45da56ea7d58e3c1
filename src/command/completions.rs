//! `completions`: the shell's registration script. The script calls fleet back at TAB time
//! (see `complete`), so it needs no inventory.

use anyhow::Context as _;

use clap::ValueEnum;

use crate::cli::Global;
use crate::complete;
use crate::error::{exit, Error};

/// Print the shell completion script (host names and @tags complete from the inventory)
#[derive(Debug, clap::Args)]
pub struct Completions {
    #[arg(value_enum)]
    shell: Shell,
}

impl super::Run for Completions {
    fn run(&self, _: &Global) -> Result<u8, Error> {
        let mut out = std::io::stdout().lock();
        complete::script(self.shell.name(), &mut out).context("writing the completion script")?;
        Ok(exit::OK)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

impl Shell {
    pub fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
            Shell::Elvish => "elvish",
            Shell::Powershell => "powershell",
        }
    }
}
