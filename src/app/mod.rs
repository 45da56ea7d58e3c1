//! What each command does: load the inventory, select hosts, plan, then print or run the plan.
//! The only place that reads this machine's state (hostname, uid, working directory).

mod health;

use std::io::{IsTerminal, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::cli::{Cli, Color, Command, Global};
use crate::error::{exit, Error};
use crate::inventory::{self, names, Inventory};
use crate::plan::{self, BuildRequest, Context, DeployRequest, Gate, Plan};
use crate::select::{select, WhenEmpty};
use crate::ui::progress::Progress;
use crate::{complete, exec, ui};

/// Overrides the hostname fleet uses to recognise the machine it runs on.
pub const HOSTNAME_ENV: &str = "FLEET_HOSTNAME";

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> Result<u8, Error> {
    let g = &cli.global;
    ui::set_color(match g.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    });
    if let Command::Completions { shell } = &cli.command {
        let mut out = std::io::stdout().lock();
        complete::script(shell.name(), &mut out).context("writing the completion script")?;
        return Ok(exit::OK);
    }
    let inv = load_inventory(g)?;
    // Magic rollback's window, or `None` when it is off.
    let confirm_timeout = (!g.no_rollback).then_some(g.confirm_timeout);
    let ctx = detect_context();
    let plan = match &cli.command {
        Command::Completions { .. } => return Ok(exit::OK),
        Command::Status { hosts } => {
            return health::status(&inv, &ctx, &select(&inv, &hosts.hosts, WhenEmpty::All)?, g)
        }
        Command::Doctor { hosts } => {
            return health::doctor(&inv, &ctx, &select(&inv, &hosts.hosts, WhenEmpty::All)?, g)
        }
        Command::Cache { command } => return health::cache(&inv, &ctx, command, g),
        Command::Gc { hosts, older_than } => {
            let hosts = select(&inv, &hosts.hosts, WhenEmpty::Refuse)?;
            return health::gc(&inv, &ctx, &hosts, *older_than, g);
        }
        Command::History { host } => return print_history(host.as_deref(), g.json),
        Command::Hosts { hosts } => {
            let hosts = select(&inv, &hosts.hosts, WhenEmpty::All)?;
            return print_hosts(&ctx, &hosts, g.json);
        }
        Command::Deploy { hosts, via, action } => deploy_plan(
            &inv,
            &ctx,
            plan::Command::Deploy,
            &hosts.hosts,
            WhenEmpty::Refuse,
            via.via.as_deref(),
            action.action,
            false,
            Gate::None,
            None,
            g.fallback,
            confirm_timeout,
        )?,
        Command::DeployVia {
            builder,
            hosts,
            action,
        } => deploy_plan(
            &inv,
            &ctx,
            plan::Command::DeployVia,
            &hosts.hosts,
            WhenEmpty::Refuse,
            Some(builder),
            action.action,
            false,
            Gate::None,
            None,
            g.fallback,
            confirm_timeout,
        )?,
        Command::QuickDeploy { hosts, via, action } => deploy_plan(
            &inv,
            &ctx,
            plan::Command::QuickDeploy,
            &hosts.hosts,
            WhenEmpty::Refuse,
            via.via.as_deref(),
            action.action,
            true,
            Gate::None,
            None,
            g.fallback,
            confirm_timeout,
        )?,
        Command::DeployAllParallel {
            hosts,
            via,
            action,
            parallel,
        } => deploy_plan(
            &inv,
            &ctx,
            plan::Command::DeployAllParallel,
            &hosts.hosts,
            WhenEmpty::All,
            via.via.as_deref(),
            action.action,
            false,
            Gate::None,
            parallel.max_parallel,
            g.fallback,
            confirm_timeout,
        )?,
        Command::QuickAll {
            hosts,
            action,
            parallel,
        } => deploy_plan(
            &inv,
            &ctx,
            plan::Command::QuickAll,
            &hosts.hosts,
            WhenEmpty::All,
            None,
            action.action,
            true,
            Gate::AllBuiltThenConfirm,
            parallel.max_parallel,
            g.fallback,
            confirm_timeout,
        )?,
        Command::Build { hosts, on } => plan::build(
            &inv,
            &ctx,
            &BuildRequest {
                command: plan::Command::Build,
                hosts: select(&inv, &hosts.hosts, WhenEmpty::Refuse)?,
                on: on.as_deref(),
                max_parallel: None,
                fallback: g.fallback,
            },
        )?,
        Command::BuildAllParallel {
            hosts,
            on,
            parallel,
        } => plan::build(
            &inv,
            &ctx,
            &BuildRequest {
                command: plan::Command::BuildAllParallel,
                hosts: select(&inv, &hosts.hosts, WhenEmpty::All)?,
                on: on.as_deref(),
                max_parallel: parallel.max_parallel.map(usize::from),
                fallback: g.fallback,
            },
        )?,
        Command::Diff { hosts, via } => plan::diff(
            &inv,
            &ctx,
            select(&inv, &hosts.hosts, WhenEmpty::Refuse)?,
            via.via.as_deref(),
        )?,
        Command::Validate { hosts, full } => {
            plan::validate(&inv, &select(&inv, &hosts.hosts, WhenEmpty::All)?, *full)
        }
        Command::UpdateFlake { inputs } => plan::update_flake(&inv, inputs)?,
        Command::Wake { hosts } => {
            plan::wake(&inv, &ctx, &select(&inv, &hosts.hosts, WhenEmpty::Refuse)?)?
        }
        Command::Rollback { hosts } => {
            plan::rollback(&inv, &ctx, &select(&inv, &hosts.hosts, WhenEmpty::Refuse)?)
        }
    };
    if g.dry_run {
        return print_plan(&plan, g.json);
    }
    execute_plan(&plan, &inv, g)
}

/// Where fleet keeps logs and history: `$FLEET_STATE_DIR`, else `$XDG_STATE_HOME/fleet`, else
/// `~/.local/state/fleet`.
pub fn state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FLEET_STATE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("fleet");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".local/state/fleet")
}

/// The async runtime the executor runs on: two workers suit the machines fleet runs on, and
/// its work is waiting on processes anyway.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?)
}

/// Runs a plan and prints its report; returns the exit code.
fn execute_plan(plan: &Plan, inv: &Inventory, g: &Global) -> Result<u8, Error> {
    if plan.gate == Gate::AllBuiltThenConfirm && !g.yes && !std::io::stdin().is_terminal() {
        return Err(Error::usage(
            format!(
                "`fleet {}` asks before deploying, and there is no terminal to ask",
                plan.command.name()
            ),
            "pass --yes to deploy the changed hosts without asking",
        ));
    }
    let lock_path = Path::new(&plan.flake).join("flake.lock");
    let lock_before = (plan.command == plan::Command::UpdateFlake)
        .then(|| std::fs::read_to_string(&lock_path).unwrap_or_default());
    let hosts: Vec<String> = plan.hosts.iter().map(|h| h.host.clone()).collect();
    let progress = Progress::new(&hosts, std::io::stderr().is_terminal(), ui::color());
    let runtime = runtime()?;
    let opts = exec::Options {
        yes: g.yes,
        log_root: state_dir().join("logs"),
        verbose: g.verbose,
    };
    let executed = runtime.block_on(exec::execute(plan, inv, &opts, &progress));
    drop(progress);
    let executed = executed?;
    let report = &executed.report;
    if plan.command.records_history() {
        let entries = crate::history::entries(report, &who());
        if let Err(e) = crate::history::append(&state_dir(), &entries) {
            eprintln!(
                "warning: could not record this deployment in {}: {e}",
                state_dir().join(crate::history::FILE_NAME).display()
            );
        }
    }
    if g.json {
        let text = serde_json::to_string_pretty(report).context("rendering the report as JSON")?;
        write_stdout(&(text + "\n"))?;
    } else if let Some(before) = lock_before {
        let after = std::fs::read_to_string(&lock_path).unwrap_or_default();
        write_stdout(&render_moved(&crate::flake::moved(&before, &after)))?;
    } else if plan.command == plan::Command::Validate {
        let mut names: Vec<&String> = executed.systems.keys().collect();
        names.sort();
        let mut text = String::new();
        for name in &names {
            text.push_str(&format!("{name}  {}\n", executed.systems[*name].out));
        }
        let n = names.len();
        text.push_str(&format!(
            "{n} host{} evaluated\n",
            if n == 1 { "" } else { "s" }
        ));
        write_stdout(&text)?;
    } else if plan.command == plan::Command::Diff {
        let mut text = String::new();
        for h in &report.hosts {
            match (&h.output, h.outcome) {
                (Some(d), _) if d.trim().is_empty() => text.push_str(&format!(
                    "{}: the closures differ only in paths, not in packages\n",
                    h.host
                )),
                (Some(d), _) => text.push_str(&format!("{}:\n{d}\n", h.host)),
                (None, crate::report::Outcome::Unchanged) => text.push_str(&format!(
                    "{}: runs the evaluated system already; nothing would change\n",
                    h.host
                )),
                _ => {}
            }
        }
        text.push('\n');
        text.push_str(&ui::summary::render(report));
        write_stdout(&text)?;
    } else {
        write_stdout(&ui::summary::render(report))?;
    }
    Ok(if report.interrupted {
        exit::INTERRUPTED
    } else if report.success() {
        exit::OK
    } else {
        exit::HOST_FAILED
    })
}

/// `user@machine`, for the history.
fn who() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "?".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{user}@{}", host.trim())
}

fn print_history(host: Option<&str>, json: bool) -> Result<u8, Error> {
    let entries: Vec<crate::history::Entry> = crate::history::read(&state_dir())
        .into_iter()
        .filter(|e| host.is_none_or(|h| e.host == h))
        .collect();
    if json {
        let text = serde_json::to_string_pretty(&entries).context("rendering history as JSON")?;
        write_stdout(&(text + "\n"))?;
        return Ok(exit::OK);
    }
    let gen = |g: Option<u32>, s: &Option<String>| match (g, s) {
        (Some(g), _) => format!("gen {g}"),
        (None, Some(s)) => ui::summary::short(s),
        (None, None) => "-".into(),
    };
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.time.clone(),
                e.host.clone(),
                format!("{} {}", e.command, e.action.as_deref().unwrap_or(""))
                    .trim()
                    .to_string(),
                e.result.clone(),
                gen(e.from_generation, &e.from_system),
                gen(e.to_generation, &e.to_system),
                e.who.clone(),
                e.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    if rows.is_empty() {
        write_stdout(&format!(
            "no deployments recorded in {}\n",
            state_dir().display()
        ))?;
    } else {
        write_stdout(&ui::table::render(
            &[
                "TIME", "HOST", "COMMAND", "RESULT", "FROM", "TO", "WHO", "ERROR",
            ],
            &rows,
        ))?;
    }
    Ok(exit::OK)
}

fn render_moved(moved: &[crate::flake::Moved]) -> String {
    if moved.is_empty() {
        return "no input moved\n".into();
    }
    let short = |r: &Option<String>| {
        r.as_deref()
            .map_or("(none)".to_string(), |r| r.chars().take(12).collect())
    };
    moved
        .iter()
        .map(|m| format!("{}: {} -> {}\n", m.input, short(&m.from), short(&m.to)))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn deploy_plan(
    inv: &Inventory,
    ctx: &Context,
    command: plan::Command,
    selectors: &[String],
    when_empty: WhenEmpty,
    via: Option<&str>,
    action: plan::Action,
    only_changed: bool,
    gate: Gate,
    max_parallel: Option<u16>,
    fallback: Option<plan::FallbackTo>,
    confirm_timeout: Option<u64>,
) -> Result<Plan, Error> {
    plan::deploy(
        inv,
        ctx,
        &DeployRequest {
            command,
            hosts: select(inv, selectors, when_empty)?,
            via,
            action,
            only_changed,
            gate,
            max_parallel: max_parallel.map(usize::from),
            fallback,
            confirm_timeout,
        },
    )
}

/// Finds, loads and checks the inventory, then applies `--flake`.
fn load_inventory(g: &Global) -> Result<Inventory, Error> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let path = inventory::discover(g.inventory.as_deref(), None, &cwd)?;
    let mut inv = Inventory::load(&path)?;
    if let Some(flake) = &g.flake {
        if let Some(why) = names::flake_problem(flake) {
            return Err(Error::usage(
                format!("--flake {}: {why}", flake.escape_debug()),
                "pass a flake path or reference, like . or github:owner/repo",
            ));
        }
        inv.flake = if flake.contains(':') {
            flake.clone()
        } else {
            cwd.join(flake).display().to_string()
        };
    }
    Ok(inv)
}

/// This machine's name and whether fleet runs as root.
fn detect_context() -> Context {
    let hostname = std::env::var(HOSTNAME_ENV)
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().split('.').next().unwrap_or("").to_string())
        .filter(|h| !h.is_empty());
    let is_root = std::fs::metadata(Path::new("/proc/self")).is_ok_and(|m| m.uid() == 0);
    Context { hostname, is_root }
}

fn print_plan(plan: &Plan, json: bool) -> Result<u8, Error> {
    let text = if json {
        serde_json::to_string_pretty(plan).context("rendering the plan as JSON")? + "\n"
    } else {
        ui::plan::render(plan)
    };
    write_stdout(&text)?;
    Ok(exit::OK)
}

fn print_hosts(ctx: &Context, hosts: &[&inventory::Host], json: bool) -> Result<u8, Error> {
    let text = if json {
        serde_json::to_string_pretty(hosts).context("rendering hosts as JSON")? + "\n"
    } else {
        let rows: Vec<Vec<String>> = hosts
            .iter()
            .map(|h| {
                let local = h.local || ctx.hostname.as_deref() == Some(h.name.as_str());
                let role = match (h.builder, local) {
                    (true, true) => "builder, this machine",
                    (false, true) => "this machine",
                    _ => h.role(),
                };
                vec![
                    h.name.clone(),
                    h.addresses.join(", "),
                    role.to_string(),
                    h.via.clone().unwrap_or_else(|| "-".into()),
                    h.user.clone().unwrap_or_else(|| "-".into()),
                    h.tags
                        .iter()
                        .map(|t| format!("@{t}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                ]
            })
            .collect();
        ui::table::render(&["HOST", "ADDRESSES", "ROLE", "VIA", "USER", "TAGS"], &rows)
    };
    write_stdout(&text)?;
    Ok(exit::OK)
}

fn write_stdout(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        // A closed pipe (`fleet hosts | head`) is not an error worth reporting.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other
            .context("writing to standard output")
            .map_err(Error::from),
    }
}
