//! The end of a run: a table of hosts, then what went wrong where and what to do next.

use std::fmt::Write;

use crate::report::{HostReport, Outcome, RunReport, SystemState};

use super::table;
pub use crate::vocab::short;

/// The summary table and failure details; previews with every package change when
/// `all_packages`.
pub fn render(report: &RunReport, all_packages: bool) -> String {
    let rows: Vec<Vec<String>> = report
        .hosts
        .iter()
        .map(|h| {
            vec![
                h.host.clone(),
                h.outcome.as_str().to_string(),
                h.built_on.clone(),
                state(h.before.as_ref()),
                state(h.after.as_ref()),
                format!("{:.1}s", h.seconds),
                h.notes.join("; "),
            ]
        })
        .collect();
    let mut out = table::render(
        &[
            "HOST", "RESULT", "BUILT ON", "BEFORE", "AFTER", "TIME", "NOTES",
        ],
        &rows,
    );
    let previews: Vec<_> = report
        .hosts
        .iter()
        .filter(|h| h.outcome == crate::report::Outcome::Previewed)
        .filter_map(|h| Some((&h.host, h.preview.as_ref()?)))
        .collect();
    if !previews.is_empty() {
        out.push_str("\nWhat deploying would change (nothing was activated):\n");
        for (host, p) in previews {
            out.push_str(&format!("  {host}\n"));
            out.push_str(&super::preview_lines(p, "    ", all_packages));
        }
    }
    // A dry activation's result is what it said it would do.
    for h in report
        .hosts
        .iter()
        .filter(|h| h.outcome == Outcome::DryActivated)
    {
        let said = h.output.as_deref().unwrap_or_default().trim();
        out.push_str(&format!(
            "\nWhat activating would do on {} (nothing was changed):\n",
            h.host
        ));
        if said.is_empty() {
            out.push_str("  (it said nothing: nothing would be started, stopped or restarted)\n");
        }
        for line in said.lines() {
            out.push_str(&format!("  | {}\n", crate::vocab::visible(line)));
        }
    }
    for h in report.hosts.iter().filter(|h| h.failure.is_some()) {
        out.push('\n');
        out.push_str(&failure(h));
    }
    out.push_str(&what_is_left(report));
    let failed = report
        .hosts
        .iter()
        .filter(|h| !h.outcome.is_success())
        .count();
    let _ = writeln!(
        out,
        "\n{} of {} host{} succeeded in {:.1}s{}{}",
        report.hosts.len() - failed,
        report.hosts.len(),
        if report.hosts.len() == 1 { "" } else { "s" },
        report.seconds,
        report
            .log_dir
            .as_ref()
            .map(|d| format!("; logs in {}", d.display()))
            .unwrap_or_default(),
        report
            .inventory
            .as_ref()
            .map(|i| format!("; inventory {}", i.display()))
            .unwrap_or_default()
    );
    out
}

/// What the run leaves to do: reboots (a new kernel, a switch NixOS made wait), and the
/// hosts it left undone, each with the command that finishes it.
fn what_is_left(report: &RunReport) -> String {
    let mut out = String::new();
    // Hosts that run the new system but not its new kernel (the preview said so), and those
    // NixOS made wait for a reboot: the command that finishes them.
    let to_reboot: Vec<&str> = report
        .hosts
        .iter()
        .filter(|h| {
            h.outcome == Outcome::NeedsReboot
                || (h.outcome == Outcome::Deployed
                    && h.preview.as_ref().is_some_and(|p| !p.reboot.is_empty()))
        })
        .map(|h| h.host.as_str())
        .collect();
    if !to_reboot.is_empty() {
        let _ = writeln!(
            out,
            "\n{} to run the new system whole: `fleet reboot {}`.",
            if to_reboot.len() == 1 {
                "A reboot is needed"
            } else {
                "Reboots are needed"
            },
            to_reboot.join(" ")
        );
    }
    let left = report.hosts.iter().filter(|h| h.left.is_some()).count();
    if left > 0 {
        let _ = writeln!(
            out,
            "\n{} left undone ({}): `fleet retry` runs this again for {}, with the same options (--wait DURATION waits for hosts asleep).",
            if left == 1 { "1 host".to_string() } else { format!("{left} hosts") },
            report
                .hosts
                .iter()
                .filter_map(|h| Some(format!("{} {}", h.host, h.left?.as_str())))
                .collect::<Vec<_>>()
                .join(", "),
            if left == 1 { "it" } else { "them" },
        );
    }
    out
}

fn state(s: Option<&SystemState>) -> String {
    match s {
        None => "-".into(),
        Some(s) => match (s.generation, &s.system) {
            (Some(g), _) => format!("gen {g}"),
            (None, Some(sys)) => short(sys),
            (None, None) => "?".into(),
        },
    }
}

fn failure(h: &HostReport) -> String {
    use crate::vocab::visible;
    let Some(f) = &h.failure else {
        return String::new();
    };
    let message = visible(&f.message);
    let mut out = match h.outcome {
        Outcome::UnitsFailed => format!(
            "{} kept the switch, with failed units\n  {}\n",
            h.host, message
        ),
        _ => format!("{} failed at: {}\n  {}\n", h.host, f.step, message),
    };
    if let Some(cmd) = &f.command {
        let _ = writeln!(out, "  command: {}", visible(cmd));
    }
    if !f.output.is_empty() {
        let _ = writeln!(out, "  last output:");
        for line in &f.output {
            let _ = writeln!(out, "    | {}", visible(line));
        }
    }
    if let Some(log) = &h.log {
        let _ = writeln!(out, "  log: {}", log.display());
    }
    let _ = writeln!(out, "  next: {}", f.next);
    out
}
