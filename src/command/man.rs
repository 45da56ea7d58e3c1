//! `fleet man`: the manual page, generated from the command line's own definition (so it
//! cannot drift from `--help`), with the sections a man page has that clap does not know:
//! EXIT STATUS, ENVIRONMENT, FILES and SEE ALSO. `--markdown` prints the command reference
//! (docs/cli.md): every subcommand's `--help`. Both are checked in and tested for staleness.

use std::io::Write;

use anyhow::Context as _;

use crate::cli::Global;
use crate::error::Error;

/// The exit codes, as `error::exit` defines them.
const EXIT_STATUS: &[(&str, &str)] = &[
    (
        "0",
        "Every selected host succeeded (or, for a question, answered).",
    ),
    (
        "1",
        "At least one host failed; the summary says which, at which step, and what to do next.",
    ),
    (
        "2",
        "A bad command line or inventory: nothing was run on any host.",
    ),
    (
        "130",
        "Interrupted (Ctrl-C); the summary says where each host stands.",
    ),
];

const ENVIRONMENT: &[(&str, &str)] = &[
    ("FLEET_INVENTORY", "The inventory to use when -i/--inventory is not given."),
    ("FLEET_STATE_DIR", "Where fleet keeps its logs, history and evaluation cache (default: $XDG_STATE_HOME/fleet, else ~/.local/state/fleet)."),
    ("FLEET_HOSTNAME", "The name of the machine fleet runs on, as hosts.toml names it (default: its short hostname); that host is deployed without SSH."),
    ("XDG_RUNTIME_DIR", "Where SSH connections kept between runs (keep_connections) have their sockets."),
    ("NIX_SSHOPTS", "Extra ssh options for the Nix commands that reach a host over ssh-ng://; fleet adds its own connection's."),
    ("NO_COLOR", "When set, no colour (as --color never)."),
];

const FILES: &[(&str, &str)] = &[
    (
        "hosts.toml",
        "The inventory: in the current directory or the nearest parent's. See docs/inventory.md.",
    ),
    (
        "$FLEET_STATE_DIR/logs/RUN/",
        "A run's logs: fleet.log, and HOST.log per host.",
    ),
    (
        "$FLEET_STATE_DIR/history.jsonl",
        "Every deployment from this machine (fleet history).",
    ),
    (
        "$FLEET_STATE_DIR/runs.jsonl",
        "Each deployment and build run: its command line and what it left undone (fleet retry).",
    ),
    (
        "$FLEET_STATE_DIR/eval-cache.json",
        "Evaluations remembered between runs, keyed by the flake's locked hash.",
    ),
    (
        "/run/fleet/ (on each host)",
        "A run's state there: the deploy lock, detached activations, the rollback watchdog.",
    ),
];

/// Print fleet's manual page (roff: `fleet man > fleet.1`, or `man <(fleet man)`)
#[derive(Debug, clap::Args)]
pub struct Man {
    /// Print the command reference (every command's --help) as Markdown instead
    #[arg(long)]
    markdown: bool,
}

impl super::Run for Man {
    fn run(&self, _: &Global) -> Result<u8, Error> {
        let markdown = self.markdown;
        let text = if markdown { reference() } else { page()? };
        std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .context("writing the manual page")?;
        Ok(crate::error::exit::OK)
    }
}

/// The roff manual page `fleet(1)`.
pub fn page() -> Result<String, Error> {
    let cmd = super::clap_command();
    let man = clap_mangen::Man::new(cmd).date("2026-12");
    let mut out = Vec::new();
    let rendered = man
        .render_title(&mut out)
        .and_then(|()| man.render_name_section(&mut out))
        .and_then(|()| man.render_synopsis_section(&mut out))
        .and_then(|()| man.render_description_section(&mut out))
        .and_then(|()| man.render_options_section(&mut out))
        .and_then(|()| man.render_subcommands_section(&mut out));
    rendered.context("rendering the manual page")?;
    for (title, items) in [
        ("EXIT STATUS", EXIT_STATUS),
        ("ENVIRONMENT", ENVIRONMENT),
        ("FILES", FILES),
    ] {
        out.extend_from_slice(format!(".SH \"{title}\"\n").as_bytes());
        for (name, text) in items {
            out.extend_from_slice(
                format!(".TP\n\\fB{}\\fR\n{}\n", roff(name), roff(text)).as_bytes(),
            );
        }
    }
    out.extend_from_slice(
        b".SH \"SEE ALSO\"\nnix(1), ssh(1), ssh_config(5), nixos-rebuild(8); fleet's README.md and docs/ (inventory, commands, evaluation, deployment, safety, builders, output).\n",
    );
    man.render_version_section(&mut out)
        .context("rendering the manual page")?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Text as roff reads it: a backslash escaped, a leading dot or quote kept from being a request.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// docs/cli.md: `fleet --help` and every subcommand's `--help`, as they print.
pub fn reference() -> String {
    let mut cmd = super::clap_command().term_width(100);
    cmd.build();
    let mut out = String::from(
        "# Command reference\n\nEvery command's `--help`, generated by `fleet man --markdown` (a test checks that this\nfile is current). What the commands are for, and the recipes they replace, are in\n[commands.md](commands.md).\n",
    );
    let mut section = |path: &str, c: &mut clap::Command| {
        let help = c.render_long_help().to_string();
        out.push_str(&format!(
            "\n## `{path}`\n\n```text\n{}\n```\n",
            help.trim_end()
        ));
    };
    section("fleet", &mut cmd.clone());
    let subs: Vec<clap::Command> = cmd.get_subcommands().cloned().collect();
    for mut sub in subs {
        if sub.get_name() == "help" {
            continue;
        }
        let path = format!("fleet {}", sub.get_name());
        section(&path, &mut sub);
        let nested: Vec<clap::Command> = sub.get_subcommands().cloned().collect();
        for mut n in nested {
            if n.get_name() == "help" {
                continue;
            }
            section(&format!("{path} {}", n.get_name()), &mut n);
        }
    }
    out
}
