//! Nix's own progress, as its builds, copies and fetches report it with `--log-format
//! internal-json` (Nix 2.8 to 2.34, and Lix): one `@nix {…}` line per event on standard error.
//! `Activities` follows one command's events and says where it stands (`Report`): derivations
//! built of how many and the one building now, paths and bytes fetched or copied of how many,
//! and the rate. Its messages and build log lines are handed back as the plain lines Nix would
//! have printed, for the log and for errors. Pure: time comes in with each line.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;

/// The prefix of each of Nix's internal-json lines.
pub const PREFIX: &str = "@nix ";

// Nix's activity types (`ActivityType` in Nix's logging.hh; the same numbers since 2.4).
const COPY_PATH: u64 = 100;
const FILE_TRANSFER: u64 = 101;
const COPY_PATHS: u64 = 103;
const BUILDS: u64 = 104;
const BUILD: u64 = 105;
const SUBSTITUTE: u64 = 108;
// Its result types (`ResultType`).
const BUILD_LOG_LINE: u64 = 101;
const PROGRESS: u64 = 105;
const SET_EXPECTED: u64 = 106;
const POST_BUILD_LOG_LINE: u64 = 107;
/// The verbosity of Nix's `info` messages: what it prints without `-v`.
const INFO: u64 = 3;

/// What one of the command's lines was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A line as Nix would have printed it (a message, a build's output): for the log.
    Text(String),
    /// Progress only: nothing to print.
    Quiet,
}

#[derive(Debug, Default)]
struct Activity {
    kind: u64,
    done: u64,
    expected: u64,
    running: u64,
    /// What it expects of other kinds of activity (`SET_EXPECTED`): bytes, paths.
    expects: HashMap<u64, u64>,
    /// A build's derivation name, a copy's destination.
    name: String,
    machine: String,
    started: Option<Instant>,
    /// Its bytes are part of the paths' (not a `.narinfo`'s download).
    counted: bool,
}

/// What a command's Nix has reported so far.
#[derive(Debug, Default)]
pub struct Activities {
    live: HashMap<u64, Activity>,
    /// What finished activities did, by kind: (done, expected).
    finished: HashMap<u64, (u64, u64)>,
    /// Paths a copy said it would copy (`copying 2 paths`), and the paths copied: Nix 2.8's
    /// `nix copy` reports no counts of its own.
    paths_said: u64,
    paths_copied: u64,
    /// The last event was a message (`printMissing`'s list is still coming).
    after_message: bool,
    /// Bytes done, as last shown, with when: for the rate.
    samples: VecDeque<(Instant, u64)>,
    /// The copies go to another store (over SSH), not into this one.
    copying_out: bool,
    /// What Nix said it would do before starting (`these 3 derivations will be built`).
    missing: Missing,
    /// The size note was handed out.
    sized: bool,
}

/// What Nix says it will do before it starts: `nix-store --realise` prints it first (as
/// `--dry-run` does), in the words `preview::fetch` reads.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Missing {
    said: bool,
    lines: Vec<String>,
}

/// Where a command stands: what `Events::progress` shows and `--json` streams.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// Derivations built, of how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub builds: Option<Count>,
    /// The derivation building now (the newest, when several are), without its hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub building: Option<Building>,
    /// Store paths fetched or copied, of how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paths: Option<Count>,
    /// `fetch` (into the store the command runs on) or `copy` (to another store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moving: Option<&'static str>,
    /// Bytes of those paths, done of how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<Bytes>,
    /// Bytes a second, over the last seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<u64>,
    /// The command has ended: this is what it did.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub finished: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Count {
    pub done: u64,
    pub expected: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Building {
    pub name: String,
    /// Another machine builds it (Nix's distributed builds), as its store URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
    /// Seconds it has been building.
    pub seconds: u64,
    /// Other builds running beside it.
    #[serde(skip_serializing_if = "is_zero")]
    pub beside: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Bytes {
    pub done: u64,
    pub expected: u64,
    /// The sizes are of the unpacked paths (NAR sizes): the cache gave no download sizes
    /// (nix-serve gives none), or nothing is downloaded (a copy between stores).
    pub unpacked: bool,
}

impl Activities {
    /// Takes one line of the command's output (already known to be one of Nix's: after
    /// `PREFIX`). A line that is not what Nix writes is kept as text.
    pub fn feed(&mut self, json: &str, now: Instant) -> Line {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(json) else {
            return Line::Text(format!("{PREFIX}{json}"));
        };
        let id = event["id"].as_u64().unwrap_or(0);
        let kind = event["type"].as_u64().unwrap_or(0);
        let fields = event["fields"].as_array();
        let field = |i: usize| fields.and_then(|f| f.get(i));
        let number = |i: usize| field(i).and_then(serde_json::Value::as_u64).unwrap_or(0);
        let text = |i: usize| field(i).and_then(|v| v.as_str()).unwrap_or("").to_string();
        self.after_message = event["action"].as_str() == Some("msg");
        match event["action"].as_str() {
            Some("msg") => {
                let msg = plain(event["msg"].as_str().unwrap_or(""));
                self.missing_line(&msg);
                Line::Text(msg)
            }
            Some("start") => {
                let mut activity = Activity {
                    kind,
                    started: Some(now),
                    counted: true,
                    ..Activity::default()
                };
                let shown = event["text"].as_str().unwrap_or("");
                match kind {
                    BUILD => {
                        activity.name = derivation_name(&text(0));
                        activity.machine = text(1);
                    }
                    COPY_PATH => {
                        let to = text(2);
                        if to.starts_with("ssh") {
                            self.copying_out = true;
                        }
                        activity.name = to;
                    }
                    COPY_PATHS => {
                        // `copying 2 paths`
                        if let Some(n) = shown
                            .split_whitespace()
                            .nth(1)
                            .and_then(|n| n.parse::<u64>().ok())
                        {
                            self.paths_said += n;
                        }
                    }
                    FILE_TRANSFER => {
                        let uri = text(0);
                        activity.counted =
                            !uri.ends_with(".narinfo") && !uri.ends_with("nix-cache-info");
                    }
                    _ => {}
                }
                self.live.insert(id, activity);
                match event["level"].as_u64() {
                    Some(level) if level <= INFO && !shown.is_empty() => Line::Text(plain(shown)),
                    _ => Line::Quiet,
                }
            }
            Some("stop") => {
                if let Some(a) = self.live.remove(&id).filter(|a| a.counted) {
                    if a.kind == COPY_PATH {
                        self.paths_copied += 1;
                    }
                    let kept = self.finished.entry(a.kind).or_default();
                    kept.0 += a.done;
                    kept.1 += a.expected.max(a.done);
                }
                Line::Quiet
            }
            Some("result") => match kind {
                BUILD_LOG_LINE | POST_BUILD_LOG_LINE => Line::Text(plain(&text(0))),
                PROGRESS => {
                    if let Some(a) = self.live.get_mut(&id) {
                        a.done = number(0);
                        a.expected = number(1);
                        a.running = number(2);
                    }
                    Line::Quiet
                }
                SET_EXPECTED => {
                    if let Some(a) = self.live.get_mut(&id) {
                        a.expects.insert(number(0), number(1));
                    }
                    Line::Quiet
                }
                _ => Line::Quiet,
            },
            _ => Line::Quiet,
        }
    }

    /// `printMissing`'s lines: `these 3 derivations will be built:`, one path a line, `these
    /// 2 paths will be fetched (…):`. They come before anything starts.
    fn missing_line(&mut self, msg: &str) {
        if self.missing.said {
            return;
        }
        if msg.contains(" will be built") || msg.contains(" will be fetched") {
            self.missing.lines.push(msg.to_string());
        }
    }

    /// Once, as the work starts: what Nix said `who` (the machine it runs on) would build and
    /// fetch, in a sentence ("p620 builds 3 derivations and fetches 2 paths (1.2 MiB) from its
    /// caches"); `None` when it said nothing (all there already) or it was handed out.
    pub fn size_note(&mut self, who: &str) -> Option<String> {
        if self.sized || self.missing.lines.is_empty() || self.after_message {
            return None;
        }
        self.sized = true;
        self.missing.said = true;
        let fetch = crate::preview::fetch(&self.missing.lines);
        let builds = (fetch.not_in_caches > 0).then(|| {
            format!(
                "builds {}",
                counted(fetch.not_in_caches as u64, "derivation")
            )
        });
        let fetches = (fetch.paths > 0).then(|| {
            format!(
                "fetches {}{} from its caches",
                counted(fetch.paths as u64, "path"),
                fetch.size().map(|s| format!(" ({s})")).unwrap_or_default()
            )
        });
        match (builds, fetches) {
            (Some(b), Some(f)) => Some(format!("{who} {b} and {f}")),
            (Some(one), None) | (None, Some(one)) => Some(format!("{who} {one}")),
            (None, None) => None,
        }
    }

    /// Where the command stands now.
    pub fn report(&mut self, now: Instant) -> Report {
        let sum = |kind: u64| -> (u64, u64) {
            let (mut done, mut expected) = self.finished.get(&kind).copied().unwrap_or_default();
            for a in self.live.values().filter(|a| a.kind == kind && a.counted) {
                done += a.done;
                expected += a.expected;
            }
            (done, expected)
        };
        // What a parent (the realisation, the copy) said the whole will be.
        let expects = |kind: u64| {
            self.live
                .values()
                .filter_map(|a| a.expects.get(&kind))
                .copied()
                .max()
                .unwrap_or(0)
        };
        let mut report = Report::default();
        let (done, mut expected) = sum(BUILDS);
        // What Nix said it would build, before its scheduler has found all of it.
        if self.sized {
            let said = crate::preview::fetch(&self.missing.lines).not_in_caches as u64;
            expected = expected.max(said);
        }
        if expected > 0 {
            report.builds = Some(Count { done, expected });
        }
        let mut building: Vec<&Activity> = self.live.values().filter(|a| a.kind == BUILD).collect();
        building.sort_by_key(|a| a.started);
        if let Some(newest) = building.last() {
            report.building = Some(Building {
                name: newest.name.clone(),
                on: (!newest.machine.is_empty()).then(|| newest.machine.clone()),
                seconds: newest
                    .started
                    .map_or(0, |s| now.saturating_duration_since(s).as_secs()),
                beside: building.len() as u64 - 1,
            });
        }
        let (mut done, mut expected) = sum(COPY_PATHS);
        if expected == 0 && self.paths_said > 0 {
            (done, expected) = (self.paths_copied.min(self.paths_said), self.paths_said);
        }
        if expected > 0 {
            report.paths = Some(Count { done, expected });
            let substituting = self.live.values().any(|a| a.kind == SUBSTITUTE)
                || self.finished.contains_key(&SUBSTITUTE);
            report.moving = Some(if self.copying_out && !substituting {
                "copy"
            } else {
                "fetch"
            });
        }
        let download = expects(FILE_TRANSFER);
        let bytes = if download > 0 {
            let (done, _) = sum(FILE_TRANSFER);
            Some(Bytes {
                done: done.min(download),
                expected: download,
                unpacked: false,
            })
        } else {
            let (done, expected) = sum(COPY_PATH);
            let expected = expected.max(expects(COPY_PATH));
            if expected > 0 {
                Some(Bytes {
                    done: done.min(expected),
                    expected,
                    unpacked: true,
                })
            } else {
                // Nix 2.8's `nix copy` reports only its downloads, each's size as it starts.
                let (done, _) = sum(FILE_TRANSFER);
                (done > 0).then_some(Bytes {
                    done,
                    expected: 0,
                    unpacked: false,
                })
            }
        };
        if let Some(b) = bytes {
            report.bytes = Some(b);
            report.rate = self.rate(now, b.done);
        }
        report
    }

    /// Bytes a second over about the last five seconds (`None` before there is a second).
    fn rate(&mut self, now: Instant, done: u64) -> Option<u64> {
        const WINDOW: Duration = Duration::from_secs(5);
        if self.samples.back().is_none_or(|(_, d)| *d != done) {
            self.samples.push_back((now, done));
        }
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|(t, _)| now.saturating_duration_since(*t) > WINDOW)
        {
            self.samples.pop_front();
        }
        let (since, from) = *self.samples.front()?;
        let secs = now.saturating_duration_since(since).as_secs_f64();
        (secs >= 1.0 && done >= from).then(|| ((done - from) as f64 / secs) as u64)
    }
}

impl Report {
    /// Nothing to say yet.
    pub fn is_empty(&self) -> bool {
        self.builds.is_none() && self.building.is_none() && self.paths.is_none()
    }

    /// As a progress line says it: `building 37/112 · linux-6.12.3 · 2:14`, `fetching 83/120
    /// paths · 412/850 MiB · 21 MiB/s`; both, the work still to do first, when both move.
    pub fn line(&self) -> String {
        if self.finished {
            return self.what_was_done();
        }
        let mut parts = Vec::new();
        let builds_left = self.builds.is_some_and(|c| c.done < c.expected);
        if builds_left || self.building.is_some() {
            let mut text = "building".to_string();
            if let Some(c) = self.builds {
                text.push_str(&format!(" {}/{}", c.done, c.expected));
            }
            parts.push(text);
            if let Some(b) = &self.building {
                let mut name = b.name.clone();
                if b.beside > 0 {
                    name.push_str(&format!(" (+{})", b.beside));
                }
                if let Some(on) = &b.on {
                    name.push_str(&format!(" on {}", on.trim_start_matches("ssh-ng://")));
                }
                parts.push(name);
                parts.push(clock(b.seconds));
            }
        }
        if let Some(c) = self.paths {
            if c.done < c.expected || !builds_left {
                let verb = match (self.moving, c.done < c.expected) {
                    (Some("copy"), true) => "copying",
                    (Some("copy"), false) => "copied",
                    (_, true) => "fetching",
                    (_, false) => "fetched",
                };
                parts.push(format!(
                    "{verb} {}/{} {}",
                    c.done,
                    c.expected,
                    if c.expected == 1 { "path" } else { "paths" }
                ));
                if let Some(b) = self.bytes {
                    let unpacked = if b.unpacked { " unpacked" } else { "" };
                    parts.push(if b.expected > 0 {
                        format!(
                            "{}/{}{unpacked}",
                            mib_number(b.done, b.expected),
                            mib(b.expected)
                        )
                    } else {
                        format!("{}{unpacked}", mib(b.done))
                    });
                }
                if let (Some(rate), true) = (self.rate, c.done < c.expected) {
                    parts.push(format!("{}/s", mib(rate)));
                }
            }
        }
        if parts.is_empty() {
            if let Some(c) = self.builds {
                parts.push(format!("built {}/{}", c.done, c.expected));
            }
        }
        parts.join(" · ")
    }
}

impl Report {
    /// What an ended command did: `built 7 derivations`, `fetched 6 paths, 1.3 MiB unpacked`.
    fn what_was_done(&self) -> String {
        let of = |c: Count, what: &str| {
            if c.done == c.expected {
                counted(c.done, what)
            } else {
                format!("{}/{} {what}s", c.done, c.expected)
            }
        };
        let mut parts = Vec::new();
        if let Some(c) = self.builds {
            parts.push(format!("built {}", of(c, "derivation")));
        }
        if let Some(c) = self.paths {
            let verb = if self.moving == Some("copy") {
                "copied"
            } else {
                "fetched"
            };
            let mut text = format!("{verb} {}", of(c, "path"));
            if let Some(b) = self.bytes {
                let unpacked = if b.unpacked { " unpacked" } else { "" };
                text.push_str(&format!(", {}{unpacked}", mib(b.done)));
            }
            parts.push(text);
        }
        parts.join("; ")
    }
}

/// `3 derivations`, `1 path`.
pub fn counted(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A size as fleet says it: `850 MiB`, `1.0 MiB`, `0.06 MiB`, `1.2 GiB`.
pub fn mib(bytes: u64) -> String {
    let m = bytes as f64 / (1u64 << 20) as f64;
    if m >= 1024.0 {
        format!("{:.1} GiB", m / 1024.0)
    } else {
        format!("{} MiB", mib_digits(m))
    }
}

/// `done` in MiB, with as many decimals as `of` is said with (`412/850 MiB`, `0.4/1.0 MiB`).
fn mib_number(done: u64, of: u64) -> String {
    let m = done as f64 / (1u64 << 20) as f64;
    let of_m = of as f64 / (1u64 << 20) as f64;
    if of_m >= 1024.0 {
        return format!("{:.1} GiB", m / 1024.0);
    }
    let decimals = mib_digits(of_m).split('.').nth(1).map_or(0, str::len);
    format!("{m:.decimals$}")
}

fn mib_digits(m: f64) -> String {
    if m >= 100.0 {
        format!("{m:.0}")
    } else if m >= 0.1 || m == 0.0 {
        format!("{m:.1}")
    } else {
        format!("{m:.2}")
    }
}

/// `2:14`, `1:02:03`.
fn clock(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// `/nix/store/HASH-linux-6.12.3.drv` as people say it: `linux-6.12.3`.
fn derivation_name(drv: &str) -> String {
    let base = drv.rsplit('/').next().unwrap_or(drv);
    let base = base.strip_suffix(".drv").unwrap_or(base);
    match base.split_once('-') {
        Some((hash, name)) if hash.len() == 32 => name.to_string(),
        _ => base.to_string(),
    }
}

/// A message without the colours Nix's JSON logger leaves in it.
fn plain(text: &str) -> String {
    crate::vocab::visible(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(a: &mut Activities, lines: &[&str], now: Instant) -> Vec<String> {
        lines
            .iter()
            .filter_map(|l| match a.feed(l, now) {
                Line::Text(t) => Some(t),
                Line::Quiet => None,
            })
            .collect()
    }

    /// Nix 2.8's `nix-store --realise` of a system from three derivations, as it wrote it.
    #[test]
    fn a_build_is_counted_and_its_lines_kept() {
        let t0 = Instant::now();
        let mut a = Activities::default();
        let text = feed_all(
            &mut a,
            &[
                r#"{"action":"start","id":1,"level":6,"text":"querying info about missing paths","type":0}"#,
                r#"{"action":"stop","id":1}"#,
                r#"{"action":"msg","level":3,"msg":"these 3 derivations will be built:"}"#,
                r#"{"action":"msg","level":3,"msg":"  /nix/store/3ww7k8wk1cz3iicg2l4vv0jsw9rqw2ix-part-2.drv"}"#,
                r#"{"action":"msg","level":1,"msg":"\u001b[35;1mwarning:\u001b[0m unable to download"}"#,
                r#"{"action":"start","id":2,"level":0,"text":"","type":102}"#,
                r#"{"action":"start","id":3,"level":0,"text":"","type":104}"#,
                r#"{"action":"start","id":4,"level":0,"text":"","type":103}"#,
                r#"{"action":"result","fields":[0,3,0,0],"id":3,"type":105}"#,
                r#"{"action":"result","fields":[0,0,0,0],"id":4,"type":105}"#,
                r#"{"action":"start","fields":["/nix/store/p4kbp66n6ahfz500ai696mpjxk7bwvkn-linux-6.12.3.drv","",1,1],"id":5,"level":3,"text":"building '/nix/store/p4kbp66n6ahfz500ai696mpjxk7bwvkn-linux-6.12.3.drv'","type":105}"#,
                r#"{"action":"result","fields":[1,3,1,0],"id":3,"type":105}"#,
                r#"{"action":"result","fields":["building part 1"],"id":5,"type":101}"#,
            ],
            t0,
        );
        assert_eq!(
            text,
            [
                "these 3 derivations will be built:",
                "  /nix/store/3ww7k8wk1cz3iicg2l4vv0jsw9rqw2ix-part-2.drv",
                "warning: unable to download",
                "building '/nix/store/p4kbp66n6ahfz500ai696mpjxk7bwvkn-linux-6.12.3.drv'",
                "building part 1",
            ]
        );
        assert_eq!(
            a.size_note("p620").as_deref(),
            Some("p620 builds 3 derivations")
        );
        assert_eq!(a.size_note("p620"), None, "said once");
        let r = a.report(t0 + Duration::from_secs(134));
        assert_eq!(
            r.builds,
            Some(Count {
                done: 1,
                expected: 3
            })
        );
        assert_eq!(r.line(), "building 1/3 · linux-6.12.3 · 2:14");
        // A line that is not Nix's JSON is kept as it came.
        assert_eq!(a.feed("{not json", t0), Line::Text("@nix {not json".into()));
    }

    /// A fetch from nix-serve (no download sizes): paths counted, bytes unpacked, a rate.
    #[test]
    fn a_fetch_from_nix_serve_counts_unpacked_bytes() {
        let t0 = Instant::now();
        let mib = 1u64 << 20;
        let mut a = Activities::default();
        let lines = [
            r#"{"action":"start","id":10,"level":3,"text":"copying 2 paths","type":103}"#.to_string(),
            format!(r#"{{"action":"result","fields":[100,{}],"id":10,"type":106}}"#, 3 * mib),
            r#"{"action":"result","fields":[0,2,1,0],"id":10,"type":105}"#.to_string(),
            r#"{"action":"start","fields":["/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-payload","http://p620:5000","local"],"id":11,"level":3,"text":"copying path","type":100}"#.to_string(),
            format!(r#"{{"action":"result","fields":[{},{},0,0],"id":11,"type":105}}"#, mib, 2 * mib),
        ];
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        feed_all(&mut a, &refs, t0);
        let r = a.report(t0);
        assert_eq!(r.line(), "fetching 0/2 paths · 1.0/3.0 MiB unpacked");
        a.feed(
            &format!(
                r#"{{"action":"result","fields":[{},{},0,0],"id":11,"type":105}}"#,
                2 * mib,
                2 * mib
            ),
            t0,
        );
        a.feed(r#"{"action":"stop","id":11}"#, t0);
        a.feed(
            r#"{"action":"result","fields":[1,2,1,0],"id":10,"type":105}"#,
            t0,
        );
        let r = a.report(t0 + Duration::from_secs(2));
        assert_eq!(r.bytes.map(|b| b.done), Some(2 * mib));
        assert_eq!(
            r.line(),
            "fetching 1/2 paths · 2.0/3.0 MiB unpacked · 0.5 MiB/s"
        );
    }

    /// A copy to another store is said as a copy.
    #[test]
    fn a_copy_out_is_a_copy() {
        let t0 = Instant::now();
        let mut a = Activities::default();
        feed_all(
            &mut a,
            &[
                r#"{"action":"start","id":1,"level":3,"text":"copying 1 paths","type":103}"#,
                r#"{"action":"result","fields":[0,1,1,0],"id":1,"type":105}"#,
                r#"{"action":"start","fields":["/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x","local","ssh-ng://root@samsung"],"id":2,"level":3,"text":"copying path","type":100}"#,
                r#"{"action":"result","fields":[10,4194304,0,0],"id":2,"type":105}"#,
            ],
            t0,
        );
        assert_eq!(
            a.report(t0).line(),
            "copying 0/1 path · 0.0/4.0 MiB unpacked"
        );
    }

    /// Nix 2.8's `nix copy --from` the lab's nix-serve stand-in, as it wrote it: no counts of
    /// its own, only its downloads' bytes (whole NARs, nix-serve does not compress).
    #[test]
    fn nix_2_8_copy_is_counted_from_its_paths_and_downloads() {
        let t0 = Instant::now();
        let mut a = Activities::default();
        let capture = include_str!("testdata/nix-2.8-copy-from-nix-serve.jsonl");
        let mut text = Vec::new();
        for line in capture.lines() {
            if let Line::Text(t) = a.feed(line.strip_prefix(PREFIX).unwrap_or(line), t0) {
                text.push(t);
            }
        }
        assert_eq!(text[0], "copying 2 paths");
        assert!(text[1].starts_with("copying path '/nix/store/"), "{text:?}");
        let mut r = a.report(t0);
        r.finished = true;
        assert_eq!(
            r.paths,
            Some(Count {
                done: 2,
                expected: 2
            })
        );
        assert_eq!(
            r.bytes.map(|b| b.done),
            Some(262_256 + 8240),
            "narinfos not counted"
        );
        assert_eq!(r.line(), "fetched 2 paths, 0.3 MiB");
    }

    #[test]
    fn sizes_and_names_read_as_people_say_them() {
        assert_eq!(mib(850 << 20), "850 MiB");
        assert_eq!(mib(1 << 20), "1.0 MiB");
        assert_eq!(mib(64 << 10), "0.06 MiB");
        assert_eq!(mib(3 << 30), "3.0 GiB");
        assert_eq!(mib_number(412 << 20, 850 << 20), "412");
        assert_eq!(clock(3723), "1:02:03");
        assert_eq!(counted(1, "path"), "1 path");
        assert_eq!(
            derivation_name("/nix/store/p4kbp66n6ahfz500ai696mpjxk7bwvkn-linux-6.12.3.drv"),
            "linux-6.12.3"
        );
    }
}
