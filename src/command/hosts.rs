//! `hosts`: the inventory's hosts, their addresses, roles, builders, users and tags.

use crate::app::{write_json, write_stdout, Session};
use crate::error::{exit, Error};
use crate::select::{select, WhenEmpty};
use crate::ui;

pub fn run(s: &Session, selectors: &[String]) -> Result<u8, Error> {
    let hosts = select(&s.inv, selectors, WhenEmpty::All)?;
    if s.global.json {
        write_json(&hosts)?;
    } else {
        write_stdout(&ui::commands::hosts(&s.ctx, &hosts))?;
    }
    Ok(exit::OK)
}
