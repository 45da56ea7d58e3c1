//! What fleet shows people: plans, tables, errors. Nothing here runs anything.

pub mod commands;
pub mod health;
pub mod plan;
pub mod progress;
pub mod summary;
pub mod table;

pub use crate::vocab::{show_argv, visible};

/// What a Ctrl-C means at each step of the ladder (see `exec::interrupt`).
pub fn interrupted(stop: crate::exec::interrupt::Stop) -> &'static str {
    use crate::exec::interrupt::Stop;
    match stop {
        Stop::Winding => "interrupted: no new host starts and none starts deploying; deployments under way finish (Ctrl-C again to abort builds and copies)",
        Stop::Aborting => "aborting builds and copies; activations under way are followed to their end, as stopping them half-way could break a host (Ctrl-C again to stop following them)",
        Stop::Leaving => "no longer following activations: they finish on their hosts, and a switch fleet did not confirm rolls itself back",
    }
}

/// quick-all's question: the changed hosts, each from what it runs to what it would run.
pub fn deploy_question(q: &crate::exec::events::DeployQuestion, look: Look) -> String {
    let n = q.hosts.len();
    let mut text = format!(
        "{n} host{} changed and will be deployed ({}):\n",
        if n == 1 { "" } else { "s" },
        q.action
    );
    for h in &q.hosts {
        let from = h.from.as_deref().map_or_else(|| "?".into(), summary::short);
        let to = h.to.as_deref().map(summary::short).unwrap_or_default();
        text.push_str(&format!("  {:<12} {from} -> {to}\n", h.host));
        if let Some(p) = &h.preview {
            text.push_str(&preview_lines(p, "               ", look.all_packages));
        }
    }
    if !q.unreachable.is_empty() {
        text.push_str(&format!(
            "not reachable, skipped: {}\n",
            q.unreachable.join(", ")
        ));
    }
    text
}

/// A host's preview: its summary line, then (`--all-packages`) every package change and
/// what could not be known, each line after `indent`.
pub fn preview_lines(p: &crate::preview::Preview, indent: &str, all_packages: bool) -> String {
    let mut text = format!("{indent}{}\n", p.summary());
    if all_packages {
        for c in &p.packages {
            text.push_str(&format!("{indent}  {}\n", c.brief()));
        }
    }
    for why in &p.unknown {
        text.push_str(&format!("{indent}  unknown: {why}\n"));
    }
    text
}

/// How output looks for this run: decided once from the command line and the terminal, and
/// handed to what renders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Look {
    /// Colour (`--color`, the terminal, `NO_COLOR`).
    pub color: bool,
    /// `--all-packages`: previews list every package change, not a line per host.
    pub all_packages: bool,
}

/// Asks `question` on the terminal; only "y" or "yes" is a yes.
pub fn ask_yes_no(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok()
        && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Reads a password on the terminal (`/dev/tty`), without echo, after `prompt`; `None` when
/// there is no terminal to ask on, or no answer (an empty line).
pub fn read_secret(prompt: &str) -> Option<crate::secret::Secret> {
    let text = zeroize::Zeroizing::new(rpassword::prompt_password(prompt).ok()?);
    (!text.is_empty()).then(|| crate::secret::Secret::new(text))
}

/// A line for the person at the terminal, beside the command's output.
pub fn say(text: &str) {
    eprintln!("{text}");
}

/// The one place errors are printed.
pub fn print_error(e: &crate::error::Error, color: bool) {
    let label = if color {
        "\x1b[1;31merror\x1b[0m"
    } else {
        "error"
    };
    // An error may quote a host's words: each line made visible, the lines kept.
    let text: Vec<String> = e
        .to_string()
        .lines()
        .map(|l| crate::vocab::visible(l).into_owned())
        .collect();
    eprintln!("{label}: {}", text.join("\n"));
}

/// Hosts whose last deployment from this machine did not happen, under `status`'s and
/// `hosts`' tables: which run, how, what they still ran, and the command that retries them.
pub fn pending(pending: &[(&str, &crate::runs::Pending)]) -> String {
    if pending.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nPending (the last run from here left them undone):\n");
    for (host, p) in pending {
        out.push_str(&format!(
            "  {host}: {} in run {} (`fleet {}`){}\n",
            p.left.as_str(),
            p.run,
            p.command,
            p.running
                .as_deref()
                .map(|r| format!(", still runs {}", crate::vocab::short(r)))
                .unwrap_or_default()
        ));
    }
    out.push_str("  `fleet retry` deploys them (`--wait 10m` waits for those asleep).\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::quote;
    use crate::vocab::Arg;

    #[test]
    fn quoting() {
        assert_eq!(quote("nix-store"), "nix-store");
        assert_eq!(
            quote("/nix/var/nix/profiles/system"),
            "/nix/var/nix/profiles/system"
        );
        assert_eq!(quote("nix-command flakes"), "'nix-command flakes'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$(reboot)"), "'$(reboot)'");
    }

    #[test]
    fn placeholders() {
        let argv = vec![
            Arg::from("nix"),
            Arg::store("p620"),
            Arg::drv("samsung"),
            Arg::out_with("samsung", "/bin/x"),
        ];
        assert_eq!(
            show_argv(&argv),
            "nix ssh-ng://{p620} {samsung.drv} {samsung.out}/bin/x"
        );
    }
}
