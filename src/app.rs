//! What every command shares: the inventory and this machine read once (`Session`), running a
//! plan and recording it, printing. The only place that reads this machine's state (hostname,
//! uid, working directory); each subcommand's own steps are in `command/`.

use std::io::{IsTerminal, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::cli::Global;
use crate::error::{exit, Error};
use crate::exec::{self, Executed};
use crate::inventory::{names, Inventory};
use crate::plan::settings::{RunOverrides, RunSettings};
use crate::plan::{Context, Gate, Plan};
use crate::ui::progress::{Progress, View};
use crate::vocab::NixOptions;
use crate::{history, ui};

/// Overrides the hostname fleet uses to recognise the machine it runs on.
pub const HOSTNAME_ENV: &str = "FLEET_HOSTNAME";

/// What a command works with: the inventory, this machine, and the options every command takes.
pub struct Session<'a> {
    pub inv: Inventory,
    pub ctx: Context,
    pub global: &'a Global,
    /// How output looks (commands may add to it, as deployments do `--all-packages`).
    pub look: ui::Look,
}

impl<'a> Session<'a> {
    /// Finds and loads the inventory, and reads this machine's name and uid.
    pub fn open(global: &'a Global) -> Result<Session<'a>, Error> {
        let cwd = std::env::current_dir().context("reading the current directory")?;
        let path = crate::inventory::discover(global.inventory.as_deref(), None, &cwd)?;
        say_which_inventory(global, &path, &cwd);
        let inv = Inventory::load(&path)?;
        let run = RunSettings::resolve(&inv, &run_overrides(global, &cwd)?)?;
        Ok(Session {
            inv,
            ctx: Context {
                ask_sudo_password: global.ask_sudo_password,
                run,
                ..detect_context()
            },
            global,
            look: ui::Look {
                color: global.color.enabled(),
                all_packages: false,
            },
        })
    }

    /// The executor's options for this command line and `plan`; the sudo password asked on
    /// the terminal, once, when the plan has hosts that want it.
    fn options(&self, plan: &Plan) -> Result<exec::Options, Error> {
        Ok(exec::Options {
            sudo_password: self.sudo_password(plan)?,
            yes: self.global.yes,
            log_root: state_dir().join("logs"),
            verbose: self.global.verbose,
            print_build_logs: self.ctx.run.nix.print_build_logs,
            answer_within: plan.command.answer_within(),
            quiet_limit: self.ctx.run.quiet_limit(),
            keep_connections: self.ctx.run.keep_connections,
            eval_jobs: self.ctx.run.local_eval_jobs(),
            eval_max_memory: self
                .ctx
                .run
                .eval_jobs
                .is_none()
                .then_some(self.ctx.run.eval_max_memory),
            eval_cache: Some(state_dir().join(crate::exec::evaluate::CACHE_FILE)),
            before_change: plan
                .command
                .records_history()
                .then(|| record_start(plan, self.ctx.who.clone())),
        })
    }

    /// Asks for the sudo password when `plan` has hosts whose sudo wants it; fails, changing
    /// nothing, when there is no terminal to ask on.
    fn sudo_password(&self, plan: &Plan) -> Result<Option<crate::secret::Secret>, Error> {
        let hosts = plan.sudo_password_hosts();
        if hosts.is_empty() {
            return Ok(None);
        }
        let who: Vec<String> = hosts
            .iter()
            .map(|h| match self.inv.host(h).and_then(|h| h.user.as_deref()) {
                Some(user) => format!("{user}@{h}"),
                None => h.to_string(),
            })
            .collect();
        let prompt = format!("[fleet] sudo password for {}: ", who.join(", "));
        match ui::read_secret(&prompt) {
            Some(secret) => Ok(Some(secret)),
            None => Err(Error::usage(
                format!(
                    "sudo on {} wants a password, and there is no terminal to ask for it on (or none was typed)",
                    hosts.join(", ")
                ),
                "run fleet from a terminal to type it once for the run, or allow the deploy user passwordless sudo there",
            )),
        }
    }

    /// Runs a plan with the progress view, records it in the history if its command does;
    /// returns what it did and the exit code its report means.
    pub fn execute(&self, plan: &Plan) -> Result<(Executed, u8), Error> {
        if plan.gate == Gate::AllBuiltThenConfirm
            && !self.global.yes
            && !std::io::stdin().is_terminal()
        {
            return Err(Error::usage(
                format!(
                    "`fleet {}` asks before deploying, and there is no terminal to ask",
                    plan.command
                ),
                "pass --yes to deploy the changed hosts without asking",
            ));
        }
        let options = self.options(plan)?;
        let hosts: Vec<String> = plan.hosts.iter().map(|h| h.host.clone()).collect();
        let view = if self.global.json {
            View::Json
        } else if std::io::stderr().is_terminal() {
            View::Bars
        } else {
            View::Lines
        };
        let progress = Progress::new(&hosts, view, self.look);
        let executed = runtime()?.block_on(exec::execute(plan, &self.inv, &options, &progress));
        drop(progress);
        let executed = executed?;
        let report = &executed.report;
        if plan.command.records_history() {
            let entries = history::entries(report, &self.ctx.who);
            if let Err(e) = history::append(&state_dir(), &entries) {
                eprintln!(
                    "warning: could not record this deployment in {}: {e}",
                    state_dir().join(history::FILE_NAME).display()
                );
            }
        }
        if plan.command.retryable() && !self.global.argv.is_empty() {
            let cwd = std::env::current_dir().ok();
            let record = crate::runs::RunRecord::of(
                report,
                &self.global.argv,
                cwd.as_deref(),
                &self.inv.source,
            );
            if let Err(e) = crate::runs::append(&state_dir(), &record) {
                eprintln!(
                    "warning: could not record this run for `fleet retry` in {}: {e}",
                    state_dir().join(crate::runs::FILE_NAME).display()
                );
            }
        }
        let code = if report.interrupted {
            exit::INTERRUPTED
        } else if report.success() {
            exit::OK
        } else {
            exit::HOST_FAILED
        };
        Ok((executed, code))
    }

    /// Runs a plan and prints its summary (or the report as JSON).
    pub fn execute_and_summarise(&self, plan: &Plan) -> Result<u8, Error> {
        self.execute_and_show(plan, |executed| {
            ui::summary::render(&executed.report, self.look.all_packages)
        })
    }

    /// Runs a plan and prints what `text` makes of it (or the report as JSON).
    pub fn execute_and_show(
        &self,
        plan: &Plan,
        text: impl FnOnce(&Executed) -> String,
    ) -> Result<u8, Error> {
        let (executed, code) = self.execute(plan)?;
        if self.global.json {
            write_json(&executed.report)?;
        } else {
            write_stdout(&text(&executed))?;
        }
        Ok(code)
    }

    /// Asks the hosts of a question-only plan; only `-v` shows progress, so the table is what
    /// one reads.
    pub fn ask(&self, plan: &Plan) -> Result<exec::Asked, Error> {
        let options = self.options(plan)?;
        let progress = if self.global.verbose > 0 {
            let hosts: Vec<String> = plan.hosts.iter().map(|h| h.host.clone()).collect();
            Progress::new(&hosts, View::Lines, self.look)
        } else {
            Progress::quiet()
        };
        let asked = runtime()?.block_on(exec::ask(plan, &self.inv, &options, &progress));
        drop(progress);
        asked
    }

    /// Asks the hosts of a plan, printing each host's command output as it comes, each line
    /// prefixed with its host (`exec --follow`).
    pub fn ask_following(&self, plan: &Plan) -> Result<exec::Asked, Error> {
        let mut options = self.options(plan)?;
        options.verbose = options.verbose.max(2);
        let hosts: Vec<&str> = plan.hosts.iter().map(|h| h.host.as_str()).collect();
        let lines = ui::progress::Prefixed::new(&hosts);
        runtime()?.block_on(exec::ask(plan, &self.inv, &options, &lines))
    }

    /// With `--dry-run`, prints the plan (as JSON with `--json`) and says so.
    pub fn dry_run(&self, plan: &Plan) -> Result<Option<u8>, Error> {
        if !self.global.dry_run {
            return Ok(None);
        }
        let text = if self.global.json {
            serde_json::to_string_pretty(plan).context("rendering the plan as JSON")? + "\n"
        } else {
            ui::plan::render(plan)
        };
        write_stdout(&text)?;
        Ok(Some(exit::OK))
    }
}

/// Which inventory is used is never a guess: `-v` says it, and a `hosts.toml` in this directory
/// that is not the one used (`-i` or `$FLEET_INVENTORY` won) is warned of.
fn say_which_inventory(global: &Global, path: &Path, cwd: &Path) {
    let from = match (&global.inventory, std::env::var_os("FLEET_INVENTORY")) {
        (Some(given), Some(env)) if given.as_os_str() == env => " (from $FLEET_INVENTORY)",
        (Some(_), _) => " (from --inventory)",
        (None, _) => "",
    };
    let here = cwd.join(crate::inventory::FILE_NAME);
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if here.is_file() && !same(path, &here) {
        ui::say(&format!(
            "warning: using the inventory {}{from}, not {} in this directory",
            path.display(),
            here.display()
        ));
    } else if global.verbose > 0 {
        ui::say(&format!("inventory: {}{from}", path.display()));
    }
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
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?)
}

/// Writes a host's `started` history line just before fleet changes it, so a run that dies
/// half-way still shows in `fleet history`.
fn record_start(plan: &Plan, who: String) -> Box<exec::BeforeChange> {
    let command = plan.command.name();
    let action = plan.action.map(|a| a.as_str());
    Box::new(move |run, host| {
        let entry = history::Entry::started(run, host, command, action, &who);
        if let Err(e) = history::append(&state_dir(), &[entry]) {
            eprintln!(
                "warning: could not record the deployment of {host} in {}: {e}",
                state_dir().join(history::FILE_NAME).display()
            );
        }
    })
}

/// `user@machine`, read once per run into the context: the history and the deploy locks name it.
fn who() -> String {
    let user = user_name();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{user}@{}", host.trim())
}

/// The user fleet runs as: its uid's name in /etc/passwd (the system's word, whatever the
/// environment says), else `$USER` or `$LOGNAME` (a user known through NSS only), else the uid.
fn user_name() -> String {
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    let from_passwd = uid.and_then(|uid| {
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let id = fields.nth(1)?;
            (id.parse() == Ok(uid) && !name.is_empty()).then(|| name.to_string())
        })
    });
    from_passwd
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .or_else(|| std::env::var("LOGNAME").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| uid.map_or_else(|| "?".into(), |u| format!("uid {u}")))
}

/// The command line's options for Nix, checked as hosts.toml's are.
fn nix_options(g: &Global) -> Result<NixOptions, Error> {
    let mut options = Vec::new();
    for pair in g.nix_option.chunks(2) {
        let [name, value] = pair else {
            return Err(Error::usage(
                "--option takes a name and a value",
                "write --option NAME VALUE, like --option max-jobs 4",
            ));
        };
        if let Some(why) =
            names::nix_option_name_problem(name).or_else(|| names::nix_option_value_problem(value))
        {
            return Err(Error::usage(
                format!("--option {}: {why}", name.escape_debug()),
                "write --option NAME VALUE, like --option max-jobs 4",
            ));
        }
        options.push((name.clone(), value.clone()));
    }
    Ok(NixOptions {
        accept_flake_config: g.accept_flake_config,
        show_trace: g.show_trace,
        print_build_logs: g.print_build_logs,
        impure: g.impure,
        keep_going: g.keep_going,
        options,
    })
}

/// What the command line says of the run's settings (`plan::settings::RunSettings` puts it
/// over hosts.toml's): `--flake` checked and resolved against `cwd`, the Nix options checked
/// as hosts.toml's are.
fn run_overrides(g: &Global, cwd: &Path) -> Result<RunOverrides, Error> {
    let flake = match &g.flake {
        None => None,
        Some(flake) => {
            if let Some(why) = names::flake_problem(flake) {
                let help = match flake.split_once('#') {
                    Some((flake, host)) => format!(
                        "pass --flake {} and name the host as an argument: `fleet deploy {host} --flake {}`",
                        if flake.is_empty() { "." } else { flake },
                        if flake.is_empty() { "." } else { flake },
                    ),
                    None => "pass a flake path or reference, like . or github:owner/repo".to_string(),
                };
                return Err(Error::usage(
                    format!("--flake {}: {why}", flake.escape_debug()),
                    help,
                ));
            }
            if !flake.contains(':') && !cwd.join(flake).is_dir() {
                return Err(Error::usage(
                    format!("--flake {}: {} is not a directory", flake.escape_debug(), cwd.join(flake).display()),
                    "pass the checkout with your flake.nix, or a flake reference like github:owner/repo",
                ));
            }
            Some(if flake.contains(':') {
                flake.clone()
            } else {
                cwd.join(flake).display().to_string()
            })
        }
    };
    Ok(RunOverrides {
        flake,
        nix: nix_options(g)?,
        eval_on: g.eval_on.clone(),
        eval_jobs: g.eval_jobs.and_then(|j| usize::try_from(j).ok()),
        keep_connections: g.keep_connections,
        inactivity_timeout: g.inactivity_timeout,
    })
}

/// This machine's name and whether fleet runs as root.
fn detect_context() -> Context {
    let hostname = std::env::var(HOSTNAME_ENV)
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().split('.').next().unwrap_or("").to_string())
        .filter(|h| !h.is_empty());
    let is_root = std::fs::metadata(Path::new("/proc/self")).is_ok_and(|m| m.uid() == 0);
    Context {
        hostname,
        is_root,
        who: who(),
        ask_sudo_password: false,
        run: RunSettings::default(),
    }
}

/// The version of `nix` here, asked once (`nix --version`) by the commands whose form depends
/// on it; the oldest Nix fleet knows when it cannot be asked.
pub fn local_nix_version() -> crate::vocab::NixVersion {
    std::process::Command::new("nix")
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .and_then(|o| crate::vocab::NixVersion::parse(&String::from_utf8_lossy(&o.stdout)))
        .unwrap_or(crate::vocab::NixVersion::OLDEST)
}

/// `value` as pretty JSON on stdout.
pub fn write_json<T: serde::Serialize>(value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).context("rendering JSON")?;
    write_stdout(&(text + "\n"))
}

pub fn write_stdout(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        // A closed pipe (`fleet hosts | head`) is not an error worth reporting.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other
            .context("writing to standard output")
            .map_err(Error::from),
    }
}
