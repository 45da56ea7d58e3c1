//! `history`: the deployments recorded here, oldest first, all or one host's.

use crate::app::{state_dir, write_json, write_stdout, Session};
use crate::error::{exit, Error};
use crate::{history, ui};

pub fn run(s: &Session, host: Option<&str>) -> Result<u8, Error> {
    let entries: Vec<history::Entry> = history::read(&state_dir())
        .into_iter()
        .filter(|e| host.is_none_or(|h| e.host == h))
        .collect();
    if s.global.json {
        write_json(&entries)?;
    } else {
        write_stdout(&ui::commands::history(&entries, &state_dir()))?;
    }
    Ok(exit::OK)
}
