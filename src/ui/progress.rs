//! Progress while a plan runs. On a terminal: one line per host with its current step and
//! elapsed time. Elsewhere: whole `[host] step` lines, never interleaved mid-line.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;

use crate::exec::events::{DeployQuestion, Events};
use crate::exec::interrupt::Stop;
use crate::secret::Secret;

pub struct Progress {
    bars: Option<(MultiProgress, HashMap<String, ProgressBar>)>,
    started: Instant,
    lock: Mutex<()>,
    quiet: bool,
    look: super::Look,
}

impl Progress {
    /// `fancy`: draw live bars (stderr is a terminal); otherwise plain lines.
    pub fn new(hosts: &[String], fancy: bool, look: super::Look) -> Progress {
        let bars = fancy.then(|| {
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
            look,
        }
    }

    /// Shows nothing (for commands whose table is all one reads).
    pub fn quiet() -> Progress {
        Progress {
            bars: None,
            started: Instant::now(),
            lock: Mutex::new(()),
            quiet: true,
            look: super::Look::default(),
        }
    }

    /// The host's current step (`None`: fleet itself, like the evaluation).
    pub fn step(&self, host: Option<&str>, text: &str) {
        let text = &*crate::vocab::visible(text);
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
        self.note(None, super::interrupted(stop));
    }

    fn ask_to_deploy(&self, question: &DeployQuestion) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        let text = super::deploy_question(question, self.look);
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
