//! fleet: deploy a NixOS fleet from one inventory.
//!
//! Data flows one way: `hosts.toml` → [`inventory::Inventory`] → [`plan::Plan`] → executor → report.

pub mod inventory;
