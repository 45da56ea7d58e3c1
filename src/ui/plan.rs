//! `--dry-run`: a plan as a person reads it. Every command is shown with the machine it runs
//! on, exactly as it would run but for the values only known at run time.

use std::fmt::Write;

use crate::plan::{Action, Arg, Gate, HostPlan, Milestone, Plan, Step, StepKind};

use super::show_argv;

/// The plan as text.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let hosts = plan.hosts.len();
    let mut head = format!("Plan for `fleet {}`", plan.command);
    if hosts > 0 {
        let _ = write!(head, ": {hosts} host{}", if hosts == 1 { "" } else { "s" });
        if let Some(action) = plan.action {
            let _ = write!(head, ", {action}");
        }
        if hosts > 1 {
            let _ = write!(head, ", at most {} at once", plan.max_parallel);
        }
    }
    let _ = writeln!(out, "{head}");
    let _ = writeln!(out, "flake: {}", plan.flake);
    let _ = writeln!(
        out,
        "{{h.drv}}, {{h.out}}: host h's system from the evaluation; {{h}}: h's first address that answers"
    );
    let scripts = plan.steps().any(|(_, s)| {
        s.run
            .argv
            .iter()
            .any(|a| matches!(a, Arg::Lit(t) if t.contains('\n')))
    });
    if scripts {
        let _ = writeln!(
            out,
            "<script>: one of fleet's fixed shell scripts; `--dry-run --json` shows them in full"
        );
    }

    let is_eval = |s: &&crate::plan::Step| matches!(s.kind, crate::plan::StepKind::Evaluate(_));
    let once: Vec<&crate::plan::Step> = plan.prepare.iter().filter(|s| !is_eval(s)).collect();
    let evals: Vec<&crate::plan::Step> = plan.prepare.iter().filter(is_eval).collect();
    if !once.is_empty() {
        let _ = writeln!(out, "\nfirst, once:");
        for (i, step) in once.iter().enumerate() {
            render_step(&mut out, i + 1, step);
        }
    }
    if !evals.is_empty() {
        let _ = writeln!(
            out,
            "\neach host's evaluation, eval_jobs at once (one the evaluation cache answers for is not\nrun); each host goes on as soon as its own is done:"
        );
        for (i, step) in evals.iter().enumerate() {
            render_step(&mut out, i + 1, step);
        }
    }
    if plan.gate == Gate::AllBuiltThenConfirm && hosts > 0 {
        let _ = writeln!(
            out,
            "\nthen every host is checked and built; only if all succeed, the changed hosts are\nlisted and you are asked (--yes answers) before they are deployed in parallel."
        );
    }
    for host in &plan.hosts {
        render_host(&mut out, host, plan.only_changed, plan.action);
    }
    let _ = writeln!(out, "\nDry run: nothing was run.");
    out
}

fn render_host(out: &mut String, host: &HostPlan, only_changed: bool, action: Option<Action>) {
    let mut what = Vec::new();
    if !host.build.is_empty() {
        what.push(format!("build {}", host.build_on.place()));
    }
    if host.deploy.iter().any(|s| s.kind.is_activation()) {
        what.push(format!("activate {}", host.target.place()));
    }
    if what.is_empty() && host.inspect.iter().any(|s| s.kind == StepKind::Exec) {
        what.push(format!("run a command {}", host.target.place()));
    } else if what.is_empty() {
        what.push(format!("ask {}", host.target.place()));
    }
    let _ = write!(out, "\n{}: {}", host.host, what.join(", "));
    if host.attribute != host.host {
        let _ = write!(out, " (nixosConfigurations.{})", host.attribute);
    }
    out.push('\n');
    let mut n = 1;
    for step in &host.inspect {
        render_step(out, n, step);
        n += 1;
    }
    if only_changed && !host.inspect.is_empty() {
        let has = match action {
            Some(Action::Switch) | None => "runs and boots",
            Some(Action::Boot) => "boots",
            Some(Action::Test | Action::DryActivate) => "runs",
        };
        let _ = writeln!(
            out,
            "     if {} {has} {{{}.out}} already: unchanged, nothing more is done",
            host.host, host.host
        );
    }
    for step in &host.build {
        render_step(out, n, step);
        n += 1;
    }
    if !host.preview.is_empty() {
        let _ = writeln!(
            out,
            "     if it changes, once every host is built: preview what deploying would change (a part that fails is shown unknown)"
        );
    }
    for step in &host.preview {
        render_step(out, n, step);
        n += 1;
    }
    if !host.activate_after.is_empty() {
        let names: Vec<&str> = host
            .activate_after
            .iter()
            .map(|a| a.host.as_str())
            .collect();
        let until = match host.activate_after[0].until {
            Milestone::HasClosure => "have their systems (they get them from it)",
            Milestone::Done => "are done (this machine goes last)",
        };
        let _ = writeln!(
            out,
            "     changes nothing until {} {until}",
            names.join(", ")
        );
    }
    for step in &host.deploy {
        render_step(out, n, step);
        n += 1;
    }
    for (i, alt) in host.if_builder_down.iter().enumerate() {
        let also = if i == 0 { "" } else { "then, " };
        let _ = writeln!(
            out,
            "  {also}if {} cannot be reached, instead of its steps: build {}",
            alt.builder,
            alt.build_on.place()
        );
        for step in alt.build.iter().chain(&alt.copy) {
            render_step(out, n, step);
            n += 1;
        }
    }
    if host.deploy.iter().any(|s| s.kind.is_activation()) && !host.inspect.is_empty() {
        let steps = match host.inspect.len() {
            1 => "step 1".to_string(),
            n => format!("steps 1-{n}"),
        };
        let _ = writeln!(out, "  then {steps} again, to report the end state");
    }
}

fn render_step(out: &mut String, n: usize, step: &Step) {
    let best_effort = if step.best_effort {
        " (if it fails, the run goes on without it)"
    } else {
        ""
    };
    let _ = writeln!(out, "  {n}. {}{best_effort}", step.title);
    let _ = writeln!(
        out,
        "       {}$ {}",
        step.run.on,
        brief(&step.run.full_argv())
    );
    for fallback in &step.fallbacks {
        let _ = writeln!(out, "     or else, {}", fallback.title);
        let _ = writeln!(
            out,
            "       {}$ {}",
            fallback.run.on,
            brief(&fallback.run.full_argv())
        );
    }
}

/// The argv as shown, with fleet's multi-line shell scripts as `<script>` (their text is
/// constant; `--dry-run --json` shows every byte).
pub(crate) fn brief(argv: &[Arg]) -> String {
    let shown: Vec<Arg> = argv
        .iter()
        .map(|a| match a {
            Arg::Lit(s) if s.contains('\n') => Arg::Lit("<script>".into()),
            other => other.clone(),
        })
        .collect();
    show_argv(&shown).replace("'<script>'", "<script>")
}
