//! fleet: deploy a NixOS fleet from one inventory.
//!
//! Data flows one way: `hosts.toml` → [`inventory::Inventory`] → [`plan::Plan`] → executor → report.
//! `cli` holds the clap types, `command` has each subcommand (with what they share in `app`),
//! `ui` renders everything people read.

pub mod app;
pub mod cli;
pub mod command;
pub mod complete;
pub mod error;
pub mod exec;
pub mod facts;
pub mod flake;
pub mod health;
pub mod history;
pub mod inventory;
pub mod nix;
pub mod plan;
pub mod preview;
pub mod report;
pub mod secret;
pub mod select;
pub mod time;
pub mod ui;
pub mod vocab;
