//! fleet's one error vocabulary, and the exit code each kind maps to.

use crate::inventory::InventoryError;

/// Exit codes, as documented in `fleet --help`.
pub mod exit {
    /// Every selected host succeeded.
    pub const OK: u8 = 0;
    /// At least one host failed; the summary says which and why.
    pub const HOST_FAILED: u8 = 1;
    /// Bad command line or inventory; nothing was run on any host.
    pub const USAGE: u8 = 2;
    /// Interrupted (Ctrl-C), as shells number SIGINT; the summary says where each host stands.
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The inventory is missing or invalid.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// The command line asks for something that cannot be (unknown host, not a builder...).
    #[error("{message}\n  help: {help}")]
    Usage { message: String, help: String },
    /// Hosts failed; what failed where has been reported already.
    #[error("{0}")]
    HostsFailed(String),
    /// Ctrl-C before any host was worked on.
    #[error("{0}")]
    Interrupted(String),
    /// Something around the hosts failed (writing output, reading this machine's state).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Error {
    pub fn usage(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Usage {
            message: message.into(),
            help: help.into(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Inventory(_) | Error::Usage { .. } => exit::USAGE,
            Error::HostsFailed(_) | Error::Other(_) => exit::HOST_FAILED,
            Error::Interrupted(_) => exit::INTERRUPTED,
        }
    }
}
