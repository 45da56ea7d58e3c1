//! `disconnect`: ends the SSH masters fleet keeps open between runs (`[fleet]
//! keep_connections`), every one or the selected hosts'.

use crate::app::{write_json, write_stdout, Session};
use crate::error::{exit, Error};
use crate::exec::master;
use crate::select::{select, WhenEmpty};

pub fn run(s: &Session, selectors: &[String]) -> Result<u8, Error> {
    let chosen: Option<Vec<String>> = if selectors.is_empty() {
        None
    } else {
        Some(
            select(&s.inv, selectors, WhenEmpty::Refuse)?
                .iter()
                .map(|h| h.name.clone())
                .collect(),
        )
    };
    let kept = master::kept_dir()
        .map(|dir| master::list_kept(&dir))
        .unwrap_or_default();
    let closing: Vec<master::Kept> = kept
        .into_iter()
        .filter(|k| chosen.as_ref().is_none_or(|c| c.contains(&k.host)))
        .collect();
    if !s.global.dry_run {
        for k in &closing {
            master::close_kept(k);
        }
    }
    if s.global.json {
        write_json(&closing)?;
        return Ok(exit::OK);
    }
    let verb = if s.global.dry_run {
        "would close"
    } else {
        "closed"
    };
    // One line per host and address; two ssh configs for one address are two masters.
    let mut lines: Vec<(String, usize)> = Vec::new();
    for k in &closing {
        let line = format!("{} ({})", k.host, k.address);
        match lines.iter_mut().find(|(l, _)| *l == line) {
            Some((_, n)) => *n += 1,
            None => lines.push((line, 1)),
        }
    }
    let text = if lines.is_empty() {
        "no connection is kept open\n".to_string()
    } else {
        lines
            .iter()
            .map(|(line, n)| match n {
                1 => format!("{verb} the connection to {line}\n"),
                n => format!("{verb} {n} connections to {line}\n"),
            })
            .collect()
    };
    write_stdout(&text)?;
    Ok(exit::OK)
}
