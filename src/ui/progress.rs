//! Progress while a plan runs. On a terminal: one line per host with its current step, how
//! its Nix command stands (derivations built, paths and bytes fetched) and elapsed time.
//! Elsewhere: whole `[host] step` lines, never interleaved mid-line, with a host's progress at
//! most every few seconds while something moves. With `--json`: one JSON event a line.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;

use crate::exec::events::{DeployQuestion, Events};
use crate::exec::interrupt::Stop;
use crate::nix::progress::Report;
use crate::secret::Secret;

pub struct Progress {
    bars: Option<(MultiProgress, HashMap<String, ProgressBar>)>,
    started: Instant,
    lock: Mutex<()>,
    quiet: bool,
    json: bool,
    look: super::Look,
    /// Each host's current step, which its progress is shown after.
    steps: Mutex<HashMap<String, String>>,
    /// When each host's progress was last printed (plain lines, JSON), and what it said.
    shown: Mutex<HashMap<String, (Instant, Report)>>,
}

/// How a run's progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Live lines, one per host (stderr is a terminal).
    Bars,
    /// Whole lines, for a log.
    Lines,
    /// One JSON event a line (`--json`), for scripts and CI.
    Json,
}

/// How often a host's progress is printed at most as a line of its own (a log), and as a JSON
/// event.
const LINE_EVERY: Duration = Duration::from_secs(3);
const JSON_EVERY: Duration = Duration::from_secs(1);

impl Progress {
    pub fn new(hosts: &[String], view: View, look: super::Look) -> Progress {
        let bars = (view == View::Bars).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let width = hosts.iter().map(String::len).max().unwrap_or(4);
            let template = if look.color {
                format!("{{spinner:.cyan}} {{prefix:<{width}.bold}} {{elapsed:>4}}  {{wide_msg}}")
            } else {
                format!("{{spinner}} {{prefix:<{width}}} {{elapsed:>4}}  {{wide_msg}}")
            };
            let style = ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bars = hosts
                .iter()
                .map(|h| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(style.clone());
                    bar.set_prefix(h.clone());
                    bar.set_message("waiting");
                    bar.enable_steady_tick(Duration::from_millis(120));
                    (h.clone(), bar)
                })
                .collect();
            (multi, bars)
        });
        Progress {
            bars,
            started: Instant::now(),
            lock: Mutex::new(()),
            quiet: false,
            json: view == View::Json,
            look,
            steps: Mutex::default(),
            shown: Mutex::default(),
        }
    }

    /// Shows nothing (for commands whose table is all one reads).
    pub fn quiet() -> Progress {
        let mut progress = Progress::new(&[], View::Lines, super::Look::default());
        progress.quiet = true;
        progress
    }

    /// The host's current step (`None`: fleet itself, like the evaluation).
    pub fn step(&self, host: Option<&str>, text: &str) {
        let text = &*crate::vocab::visible(text);
        if let (Some(h), Ok(mut steps)) = (host, self.steps.lock()) {
            steps.insert(h.to_string(), text.to_string());
        }
        if self.json {
            return self.event("step", host, text, None);
        }
        match (&self.bars, host) {
            (Some((_, bars)), Some(h)) => {
                if let Some(bar) = bars.get(h) {
                    bar.set_message(text.to_string());
                }
            }
            // Fleet's own steps, like the evaluation: a line above the bars.
            (Some(_), None) => self.note(None, text),
            (None, _) => self.line(host, text),
        }
    }

    /// Something worth a line of its own, even among the bars.
    pub fn note(&self, host: Option<&str>, text: &str) {
        let text = &*crate::vocab::visible(text);
        if self.json {
            return self.event("note", host, text, None);
        }
        match &self.bars {
            Some((multi, _)) => {
                let _ = multi.println(format!("[{}] {text}", host.unwrap_or("fleet")));
            }
            None => self.line(host, text),
        }
    }

    /// The host is done.
    pub fn finish(&self, host: &str, text: &str) {
        let text = &*crate::vocab::visible(text);
        if self.json {
            return self.event("done", Some(host), text, None);
        }
        match &self.bars {
            Some((_, bars)) => {
                if let Some(bar) = bars.get(host) {
                    bar.finish_with_message(text.to_string());
                }
            }
            None => self.line(Some(host), text),
        }
    }

    /// Stops drawing, so a prompt or the summary can use the terminal.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bars {
            Some((multi, _)) => multi.suspend(f),
            None => f(),
        }
    }

    /// Stops drawing until `resume`, for a prompt that waits for an answer while the run's
    /// tasks go on (a Ctrl-C must still be seen).
    /// The bars are cleared first, so the prompt and its answer stand alone on the screen
    /// and no bar is left in the scrollback above them.
    pub fn pause(&self) {
        if let Some((multi, _)) = &self.bars {
            let _ = multi.clear();
            multi.set_draw_target(ProgressDrawTarget::hidden());
        }
    }

    pub fn resume(&self) {
        if let Some((multi, _)) = &self.bars {
            multi.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    /// How `host`'s Nix command stands: in place on its line (after its step); as a line of
    /// its own at most every few seconds, and only when it moved, in a log; as a JSON event.
    pub fn progress(&self, host: &str, report: &Report) {
        if self.quiet {
            return;
        }
        let step = self
            .steps
            .lock()
            .ok()
            .and_then(|s| s.get(host).cloned())
            .unwrap_or_default();
        let text = report.line();
        if let Some((_, bars)) = &self.bars {
            if let (Some(bar), false) = (bars.get(host), report.finished) {
                bar.set_message(format!("{step} · {text}"));
            }
            return;
        }
        // What moved: the counts and bytes, not the clock.
        let mut moved = report.clone();
        moved.rate = None;
        if let Some(b) = &mut moved.building {
            b.seconds = 0;
        }
        let every = if self.json { JSON_EVERY } else { LINE_EVERY };
        {
            let Ok(mut shown) = self.shown.lock() else {
                return;
            };
            let now = Instant::now();
            if let (Some((at, last)), false) = (shown.get(host), report.finished) {
                if now.duration_since(*at) < every || *last == moved {
                    return;
                }
            }
            shown.insert(host.to_string(), (now, moved));
        }
        if self.json {
            self.event("progress", Some(host), &text, Some((&step, report)));
        } else {
            self.line(Some(host), &format!("{step}: {text}"));
        }
    }

    /// One JSON event on stderr: `{"event":…,"host":…,"text":…,"elapsed":…}`, and for
    /// progress the step and Nix's counts.
    fn event(
        &self,
        event: &str,
        host: Option<&str>,
        text: &str,
        progress: Option<(&str, &Report)>,
    ) {
        let mut value = serde_json::json!({
            "event": event,
            "host": host,
            "text": text,
            "elapsed": (self.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        });
        if let (Some((step, report)), Some(map)) = (progress, value.as_object_mut()) {
            map.insert("step".into(), step.into());
            if let Ok(serde_json::Value::Object(counts)) = serde_json::to_value(report) {
                map.extend(counts);
            }
        }
        let _guard = self.lock.lock();
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{value}");
    }

    fn line(&self, host: Option<&str>, text: &str) {
        if self.quiet {
            return;
        }
        let secs = self.started.elapsed().as_secs_f64();
        let _guard = self.lock.lock();
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "[{}] {text} ({secs:.1}s)", host.unwrap_or("fleet"));
    }
}

/// The executor's events, shown as this view shows them; its question asked on the terminal.
impl Events for Progress {
    fn step(&self, host: Option<&str>, text: &str) {
        Progress::step(self, host, text);
    }

    fn note(&self, host: Option<&str>, text: &str) {
        Progress::note(self, host, text);
    }

    fn progress(&self, host: &str, report: &Report) {
        Progress::progress(self, host, report);
    }

    fn tick(&self, host: &str, text: &str) {
        // A step's line in place, where there are bars; nothing in plain mode.
        if self.bars.is_some() {
            Progress::step(self, Some(host), text);
        }
    }

    fn finish(&self, host: &str, outcome: &str) {
        Progress::finish(self, host, outcome);
    }

    fn interrupted(&self, stop: Stop) {
        if self.json {
            return self.event("interrupted", None, super::interrupted(stop), None);
        }
        self.note(None, super::interrupted(stop));
    }

    fn ask_to_deploy(&self, question: &DeployQuestion) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        let text = super::deploy_question(question, self.look);
        if question.answered_yes && self.json {
            self.event(
                "deploying",
                None,
                &format!("{text}Deploying (--yes)."),
                None,
            );
            let _ = tx.send(true);
            return rx;
        }
        if question.answered_yes {
            self.suspend(|| eprintln!("{text}Deploying (--yes)."));
            let _ = tx.send(true);
            return rx;
        }
        // Drawing stops before the question is printed, so no bar is drawn below it while
        // the answer is awaited; the answer is read on a thread of its own, so a Ctrl-C (a
        // "no") is seen meanwhile.
        self.pause();
        eprint!("{text}Deploy them? [y/N] ");
        std::thread::spawn(move || {
            let mut answer = String::new();
            let yes = std::io::stdin().read_line(&mut answer).is_ok()
                && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
            let _ = tx.send(yes);
        });
        rx
    }

    fn ask_secret(&self, prompt: &str) -> oneshot::Receiver<Option<Secret>> {
        let (tx, rx) = oneshot::channel();
        // Read on a thread of its own, as the deploy question is; drawing stops meanwhile.
        self.pause();
        let bars = self.bars.as_ref().map(|(multi, _)| multi.clone());
        let prompt = prompt.to_string();
        std::thread::spawn(move || {
            let _ = tx.send(super::read_secret(&prompt));
            if let Some(multi) = bars {
                multi.set_draw_target(ProgressDrawTarget::stderr());
            }
        });
        rx
    }

    fn question_settled(&self, answered: bool) {
        if !answered {
            eprintln!();
        }
        self.resume();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some((multi, bars)) = &self.bars {
            for bar in bars.values() {
                if !bar.is_finished() {
                    bar.abandon();
                }
            }
            let _ = multi.clear();
        }
    }
}

/// Command output line by line as it comes, each line prefixed with its host and nothing
/// else shown (`exec --follow`): lines of one host stay in order, hosts interleave.
pub struct Prefixed {
    width: usize,
    lock: std::sync::Mutex<()>,
}

impl Prefixed {
    pub fn new(hosts: &[&str]) -> Prefixed {
        Prefixed {
            width: hosts.iter().map(|h| h.len()).max().unwrap_or(0),
            lock: std::sync::Mutex::new(()),
        }
    }
}

impl Events for Prefixed {
    fn step(&self, _: Option<&str>, _: &str) {}

    fn note(&self, host: Option<&str>, text: &str) {
        // Output lines come as `| LINE` (see `exec::transport::Output`).
        let Some(line) = text.strip_prefix("| ") else {
            return;
        };
        let _guard = self.lock.lock();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{:<width$} | {line}",
            host.unwrap_or("fleet"),
            width = self.width
        );
    }

    fn finish(&self, _: &str, _: &str) {}

    fn interrupted(&self, stop: Stop) {
        eprintln!("{}", super::interrupted(stop));
    }

    fn ask_to_deploy(&self, _: &DeployQuestion) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(false);
        rx
    }

    fn question_settled(&self, _: bool) {}
}
