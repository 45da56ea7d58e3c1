//! Each host's evaluation: up to `eval_jobs` `nix eval` processes at once, one host each, so
//! a host's error is its own, no process holds more than one host's evaluation, and a host
//! goes on to build as soon as its own system is known, not when the slowest host's is.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use futures_util::future::join_all;
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::evaluations::{EvalError, System};
use super::events::Events;
use super::interrupt::{Interrupts, Stop};
use super::log::Log;
use super::run::{Finished, Runner};
use super::transport::RunError;
use super::transport::Transport;
use crate::plan::{Invocation, Machine, Plan, Step, StepKind};

/// What one host's evaluation printed (see `nix::eval_system`).
#[derive(Deserialize)]
struct Evaluated {
    drv: Option<String>,
    out: Option<String>,
    /// The configurations the flake has.
    names: Vec<String>,
}

/// Runs the plan's evaluations, `opts.eval_jobs` at once, each host's result told to the
/// runner's `known.evaluations` as it ends. Ctrl-C ends the ones under way and starts no
/// other; their hosts are told so. A host the cache (`opts.eval_cache`, keyed by the flake's
/// hash the prepare steps read) answers for is not evaluated; what is evaluated is remembered.
///
/// With another machine evaluating (`eval_on`), it is asked first how much it can evaluate at
/// once and which cached derivations it still has; the flake is sent to it only when a host
/// is left to evaluate; when it cannot be reached, the hosts are evaluated here and the run
/// says so.
pub async fn run<T: Transport>(
    plan: &Plan,
    runner: &Runner<'_, T>,
    opts: &super::Options,
    log: &Log,
    interrupts: &Interrupts,
) {
    let into = &runner.known.evaluations;
    let cache = match (&opts.eval_cache, &runner.known.flake_hash) {
        (Some(path), Some(hash)) => Some(Cache::load(path, hash)),
        _ => None,
    };
    let steps: Vec<(&str, &Step)> = plan
        .prepare
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Evaluate(host) => Some((host.as_str(), s)),
            _ => None,
        })
        .collect();
    let find = |kind: StepKind| plan.prepare.iter().find(|s| s.kind == kind);
    let mut hits: HashMap<&str, Hit> = steps
        .iter()
        .filter_map(|(host, step)| Some((*host, cache.as_ref()?.get(step)?)))
        .collect();
    let (mut jobs, mut here_instead) = match find(StepKind::ReadEvaluator) {
        Some(read) => ask_evaluator(read, runner, opts, log, &mut hits).await,
        None => (opts.eval_jobs, None),
    };
    let left: Vec<(&str, &Step)> = steps
        .into_iter()
        .filter(|(host, _)| !hits.contains_key(host))
        .collect();
    // Answered from the cache.
    for (host, hit) in hits {
        runner
            .events
            .step(Some(host), &format!("evaluate {host} (cached)"));
        log.line(&format!(
            "--- {host}: evaluated from the cache: {}",
            hit.system.out
        ));
        if let Some(on) = hit.on {
            into.evaluated_elsewhere(host, &on);
        }
        let _ = into.configurations.set(hit.names);
        into.end(host, Ok(hit.system));
    }
    // The flake goes to the machine that evaluates, once, when there is anything to evaluate.
    if let (Some(archive), false, None) =
        (find(StepKind::ArchiveFlake), left.is_empty(), &here_instead)
    {
        here_instead = send_flake(archive, runner, log).await.err();
    }
    if let (Some(why), false) = (&here_instead, left.is_empty()) {
        let note = format!("{why}: evaluating here instead");
        log.line(&format!("--- {note}"));
        runner.events.note(None, &note);
        jobs = opts.eval_jobs;
    }
    let slots = Semaphore::new(jobs.max(1));
    let (cache_ref, slots, here_instead) = (&cache, &slots, here_instead.is_some());
    join_all(left.into_iter().map(|(host, step)| async move {
        let result = tokio::select! {
            r = one(runner, host, step, here_instead, slots, log) => r,
            () = interrupts.until(Stop::Winding) => Err(EvalError {
                message: "interrupted (Ctrl-C) before it was evaluated".into(),
                command: None,
                output: Vec::new(),
                interrupted: true,
                no_nix: false,
            }),
        };
        if let (Some(cache), Ok((system, run))) = (cache_ref, &result) {
            cache.put(run, system, into.configurations());
        }
        into.end(host, result.map(|(system, _)| system));
    }))
    .await;
    if let Some(cache) = cache {
        cache.save();
    }
}

/// Asks the machine that evaluates (`read`'s) how many hosts it evaluates at once and which of
/// the derivations the cache answers with it still has (those it lost are evaluated again);
/// when it does not answer, why the hosts are evaluated here instead.
async fn ask_evaluator<T: Transport>(
    read: &Step,
    runner: &Runner<'_, T>,
    opts: &super::Options,
    log: &Log,
    hits: &mut HashMap<&str, Hit>,
) -> (usize, Option<String>) {
    let machine = read.run.on.to_string();
    let there = |h: &Hit| h.on.as_deref() == Some(machine.as_str());
    if let Ok(mut cached) = runner.known.cached.lock() {
        let drvs = hits
            .values()
            .filter(|h| there(h))
            .map(|h| h.system.drv.clone())
            .collect();
        cached.insert(machine.clone(), drvs);
    }
    runner.events.step(None, &read.title);
    let said = match runner.run(&read.run, log).await {
        Ok(f) if f.success() => crate::facts::evaluator(&f.stdout),
        _ => None,
    };
    let Some(e) = said else {
        hits.retain(|_, h| !there(h));
        return (opts.eval_jobs, Some(format!("{machine} cannot be reached")));
    };
    hits.retain(|_, h| !there(h) || !e.missing.contains(&h.system.drv));
    let jobs = opts.eval_max_memory.map_or(opts.eval_jobs, |max| {
        crate::inventory::eval_jobs_for(e.cores, e.free_kib, max)
    });
    log.line(&format!(
        "--- {machine} evaluates {jobs} hosts at once ({} cores, {} free)",
        e.cores,
        e.free_kib.map_or("? KiB".into(), crate::facts::kib)
    ));
    (jobs, None)
}

/// Sends the flake to the machine that evaluates (`archive`'s step); `Err` says why not.
async fn send_flake<T: Transport>(
    archive: &Step,
    runner: &Runner<'_, T>,
    log: &Log,
) -> Result<(), String> {
    runner.events.step(None, &archive.title);
    let sent = match runner.run(&archive.run, log).await {
        Ok(f) if f.success() => archived_path(&f.stdout),
        _ => None,
    };
    match sent {
        Some(path) => {
            let _ = runner.known.archived.set(path);
            Ok(())
        }
        None => Err(format!("{} failed", archive.title)),
    }
}

/// `nix flake archive --json`'s store path of the flake's source.
fn archived_path(json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
    let path = v.get("path")?.as_str()?;
    crate::facts::store_path(path).filter(|p| p == path)
}

/// Where `Cache` keeps its answers, in fleet's state directory.
pub const CACHE_FILE: &str = "eval-cache.json";

/// How many answers the cache keeps: a fleet's hosts, many times over.
const CACHE_ENTRIES: usize = 1024;

/// Evaluations remembered between runs. An answer's key is the flake's locked hash (every
/// byte of its source and its lock file) and the evaluation's whole command (the flake, the
/// host's attribute, every option that changes an evaluation), so a changed source, input,
/// attribute or option is a new key; and it stands only while its `.drv` is in this
/// machine's store (a garbage collection may have taken it).
struct Cache {
    path: std::path::PathBuf,
    hash: String,
    entries: std::sync::Mutex<CacheFile>,
}

#[derive(Default, serde::Serialize, Deserialize)]
struct CacheFile {
    /// Oldest first.
    entries: Vec<CacheEntry>,
}

#[derive(Clone, serde::Serialize, Deserialize)]
struct CacheEntry {
    key: String,
    drv: String,
    out: String,
    names: Vec<String>,
    /// The machine whose store has `drv`, when not this one (`eval_on`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on: Option<String>,
}

/// What the cache answers for a host: its system, the flake's configurations, and the
/// machine that has its derivations when not this one (to be asked whether it still has).
struct Hit {
    system: System,
    names: Vec<String>,
    on: Option<String>,
}

impl Cache {
    fn load(path: &Path, hash: &str) -> Cache {
        let entries = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        Cache {
            path: path.to_path_buf(),
            hash: hash.to_string(),
            entries: std::sync::Mutex::new(entries),
        }
    }

    /// An evaluation's key: the flake's hash, where it runs and its whole command.
    fn key(&self, run: &Invocation) -> String {
        let argv: Vec<String> = run.argv.iter().map(crate::vocab::show_arg).collect();
        match &run.on {
            Machine::Local => format!("{}\n{}", self.hash, argv.join(" ")),
            Machine::Host(h) => format!("{}\non {h}\n{}", self.hash, argv.join(" ")),
        }
    }

    /// The answer for the step's command, else for its fallback's (evaluated here when the
    /// machine that evaluates could not be reached). An answer here stands while its `.drv`
    /// is in this machine's store; one elsewhere is the caller's to check there.
    fn get(&self, step: &Step) -> Option<Hit> {
        let entries = self.entries.lock().ok()?;
        std::iter::once(&step.run)
            .chain(step.fallbacks.iter().map(|f| &f.run))
            .find_map(|run| {
                let key = self.key(run);
                let e = entries.entries.iter().rev().find(|e| e.key == key)?;
                let on = match &run.on {
                    Machine::Local => None,
                    Machine::Host(h) => Some(h.clone()),
                };
                // Its recipe is still here: what it says can be built (or fetched) again.
                (on.is_some() || Path::new(&e.drv).exists()).then(|| Hit {
                    system: System {
                        drv: e.drv.clone(),
                        out: e.out.clone(),
                    },
                    names: e.names.clone(),
                    on,
                })
            })
    }

    fn put(&self, run: &Invocation, system: &System, names: Option<&Vec<String>>) {
        let key = self.key(run);
        if let Ok(mut entries) = self.entries.lock() {
            entries.entries.retain(|e| e.key != key);
            entries.entries.push(CacheEntry {
                key,
                drv: system.drv.clone(),
                out: system.out.clone(),
                names: names.cloned().unwrap_or_default(),
                on: match &run.on {
                    Machine::Local => None,
                    Machine::Host(h) => Some(h.clone()),
                },
            });
            let over = entries.entries.len().saturating_sub(CACHE_ENTRIES);
            entries.entries.drain(..over);
        }
    }

    /// Written whole to a new file, then renamed over the old: a killed run leaves the old.
    fn save(self) {
        let Ok(entries) = self.entries.into_inner() else {
            return;
        };
        let Ok(text) = serde_json::to_string(&entries) else {
            return;
        };
        let tmp = self
            .path
            .with_extension(format!("json.{}", std::process::id()));
        let written = self
            .path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, text))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// `nix flake metadata --json`'s `locked.narHash`, if it has one.
pub fn locked_hash(json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v.get("locked")?
        .get("narHash")?
        .as_str()
        .map(String::from)
        .filter(|h| h.starts_with("sha256-"))
}

/// Evaluates `host` where its step says, or here (its fallback) when that machine cannot
/// be reached; returns its system and the command that gave it (which keys the cache).
async fn one<'s, T: Transport>(
    runner: &Runner<'_, T>,
    host: &str,
    step: &'s Step,
    here_instead: bool,
    slots: &Semaphore,
    log: &Log,
) -> Result<(System, &'s Invocation), EvalError> {
    let events: &dyn Events = runner.events;
    let configurations = &runner.known.evaluations.configurations;
    let _slot = slots.acquire().await.ok();
    let fallback = step.fallbacks.first();
    let (mut run, mut title) = match fallback {
        Some(f) if here_instead => (&f.run, &f.title),
        _ => (&step.run, &step.title),
    };
    events.step(Some(host), title);
    let mut ran = runner.run(run, log).await;
    if let (Err(RunError::Connect(e)), Some(f), false) = (&ran, fallback, here_instead) {
        log.line(&format!("--- {host}: {e}; evaluating here instead"));
        (run, title) = (&f.run, &f.title);
        events.step(Some(host), title);
        ran = runner.run(run, log).await;
    }
    let result = read(host, ran, configurations);
    match &result {
        Err(e) => log.line(&format!("--- {host}'s evaluation failed: {}", e.message)),
        Ok(_) => {
            if let Machine::Host(on) = &run.on {
                runner.known.evaluations.evaluated_elsewhere(host, on);
            }
        }
    }
    result.map(|system| (system, run))
}

/// A host's evaluation as its command ended: its system, or Nix's error.
fn read(
    host: &str,
    ran: Result<Finished, RunError>,
    configurations: &OnceLock<Vec<String>>,
) -> Result<System, EvalError> {
    let f = match ran {
        Ok(f) => f,
        Err(e) => {
            return Err(EvalError {
                message: e.to_string(),
                command: None,
                output: Vec::new(),
                interrupted: false,
                no_nix: e.program_missing(),
            });
        }
    };
    // The command is fleet's own expression: in the log, not in the report.
    let failed = |message: String, f: &Finished| EvalError {
        message,
        command: None,
        output: nix_output(&f.tail),
        interrupted: false,
        no_nix: false,
    };
    if !f.success() {
        return Err(failed(nix_error(&f.tail), &f));
    }
    let evaluated: Evaluated = serde_json::from_str(f.stdout.trim())
        .map_err(|_| failed("the evaluation did not print its system".into(), &f))?;
    let _ = configurations.set(evaluated.names.clone());
    match evaluated {
        Evaluated {
            drv: Some(drv),
            out: Some(out),
            ..
        } if plain(&drv) && plain(&out) => Ok(System { drv, out }),
        Evaluated {
            drv: None, names, ..
        } => Err(failed(
            format!(
                "the flake has no nixosConfigurations.{host} (it has: {}); fix `attribute` for {host} in hosts.toml, or add the configuration",
                names.join(", ")
            ),
            &f,
        )),
        _ => Err(failed(
            format!("the evaluation gave {host} a system that is not a plain store path"),
            &f,
        )),
    }
}

fn plain(p: &str) -> bool {
    crate::facts::store_path(p).is_some_and(|s| s == p)
}

/// An evaluation's output without what is fleet's own: the position in its `--apply`
/// expression (`at «string»:1:40:`) and the code lines under it, Nix's hint to pass
/// `--show-trace`, and what reached stdout before the error (a cut JSON object).
pub fn nix_output(tail: &[String]) -> Vec<String> {
    let mut kept = Vec::new();
    let mut in_ours = false;
    for line in tail {
        let t = line.trim();
        let code = t.starts_with('|')
            || t.split_once('|')
                .is_some_and(|(n, _)| n.trim().parse::<u32>().is_ok());
        if t.contains("«string»") {
            in_ours = true;
            continue;
        }
        if in_ours && (code || t.is_empty()) {
            continue;
        }
        in_ours = false;
        if t.starts_with("(use '--show-trace'") || t.starts_with('{') || t.starts_with('[') {
            continue;
        }
        kept.push(line.clone());
    }
    while kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    kept
}

/// Nix's error message from an evaluation's output (see `nix_output`): from its last
/// `error:` line that says something to the first blank line after more than one line, at
/// most four lines. Nix 2.8 prints `error: MESSAGE` first, then where; newer Nix prints a bare
/// `error:`, the trace's frames (`… while evaluating ...`), and `error: MESSAGE` last.
pub fn nix_error(tail: &[String]) -> String {
    let output = nix_output(tail);
    let says = |l: &String| {
        l.trim_start()
            .strip_prefix("error:")
            .is_some_and(|rest| !rest.trim().is_empty())
    };
    let Some(start) = output.iter().rposition(says) else {
        return output
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map_or_else(|| "nix eval failed".to_string(), |l| l.trim().to_string());
    };
    let mut lines: Vec<&str> = Vec::new();
    for line in &output[start..] {
        let t = line.trim();
        // A trace's frame (`--show-trace`) is not the message.
        if t.starts_with('…') {
            break;
        }
        if t.is_empty() {
            if lines.len() > 1 {
                break;
            }
            continue;
        }
        lines.push(t);
        if lines.len() >= 4 {
            break;
        }
    }
    lines
        .join(" ")
        .trim_start_matches("error:")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_key_is_the_locked_hash() {
        let json = r#"{"description":"x","lastModified":1,"locked":{"lastModified":1,"narHash":"sha256-AAAA","type":"path","path":"/x"},"path":"/nix/store/x-source"}"#;
        assert_eq!(locked_hash(json).as_deref(), Some("sha256-AAAA"));
        assert_eq!(locked_hash(r#"{"locked":{"type":"git"}}"#), None);
        assert_eq!(locked_hash("not json"), None);
    }

    #[test]
    fn the_cache_answers_only_for_the_same_source_and_command_while_the_drv_is_there() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(CACHE_FILE);
        let drv = dir.path().join("x-system.drv");
        std::fs::write(&drv, "").expect("drv");
        let step = |attribute: &str| {
            crate::plan::Step::new(
                StepKind::Evaluate("h".into()),
                "evaluate h",
                crate::plan::Invocation::new(
                    crate::plan::Machine::Local,
                    vec![
                        crate::plan::Arg::from("nix"),
                        crate::plan::Arg::from(attribute),
                    ],
                ),
            )
        };
        let system = System {
            drv: drv.display().to_string(),
            out: "/nix/store/x-system".into(),
        };
        let cache = Cache::load(&path, "sha256-A");
        cache.put(&step("a").run, &system, None);
        cache.save();
        let again = Cache::load(&path, "sha256-A");
        assert_eq!(
            again.get(&step("a")).map(|h| h.system),
            Some(system.clone())
        );
        assert!(again.get(&step("b")).is_none(), "another command");
        assert!(
            Cache::load(&path, "sha256-B").get(&step("a")).is_none(),
            "another source"
        );
        std::fs::remove_file(&drv).expect("rm drv");
        assert!(again.get(&step("a")).is_none(), "its .drv is gone");
    }

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn nix_s_error_without_fleet_s_expression() {
        let tail = lines(&[
            "error: undefined variable 'pkgs'",
            "",
            "       at /nix/store/abc-source/hosts/razer/configuration.nix:3:5:",
            "",
            "            2| {",
            "            3|   environment.systemPackages = [ pkgs.htop ];",
        ]);
        assert_eq!(
            nix_error(&tail),
            "undefined variable 'pkgs' at /nix/store/abc-source/hosts/razer/configuration.nix:3:5:"
        );
        let ours = lines(&[
            "error: attribute 'toplevel' missing",
            "       at «string»:1:40:",
            "            1| c: if c ? \"razer\" then (let t = c.\"razer\".config.system.build.toplevel; in",
            "             |                                        ^",
        ]);
        assert_eq!(nix_error(&ours), "attribute 'toplevel' missing");
        let noisy = lines(&[
            "error: undefined variable 'pkgs'",
            "(use '--show-trace' to show detailed location information)",
            "{\"drv\":}",
        ]);
        assert_eq!(nix_error(&noisy), "undefined variable 'pkgs'");
        assert_eq!(nix_output(&noisy), ["error: undefined variable 'pkgs'"]);
        let trace = lines(&[
            "       … while evaluating the attribute 'drvPath'",
            "error: cannot coerce an integer to a string",
        ]);
        assert_eq!(nix_error(&trace), "cannot coerce an integer to a string");
        // Nix 2.20 and later: a bare `error:`, the frames, then the message.
        let newer = lines(&[
            "error:",
            "       … while calling the 'throw' builtin",
            "         at /nix/store/x-source/flake.nix:36:12:",
            "",
            "       error: undefined variable 'pkgs'",
        ]);
        assert_eq!(nix_error(&newer), "undefined variable 'pkgs'");
    }
}
