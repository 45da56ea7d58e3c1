//! Progress during long work, as Nix itself reports it (`--log-format internal-json`): a
//! system built from many parts on the builder and fetched by its target, followed in a log,
//! as JSON events, and on a terminal; and sizes that are true on a cache with no download
//! sizes (the lab's stand-in for nix-serve).

use crate::support::lab::Lab;

/// The MiB a line says were fetched: `fetched 6 paths, 2.1 MiB`.
fn fetched_mib(line: &str) -> f64 {
    line.rsplit(", ")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no size in {line:?}"))
}

/// A plain-mode run (a log, CI): what p620 will build, derivations built of how many while it
/// builds, and what samsung fetched from p620's cache, each a whole line of its own; the full
/// build log stays in the host's log file.
#[test]
fn a_log_shows_builds_counted_on_the_builder_and_mib_fetched_by_the_target() {
    let lab = Lab::new();
    lab.bump("samsung");
    lab.new_parts("samsung", 4, 512, 1);
    let run = lab.fleet(&["deploy", "samsung", "--via", "p620"]).status(0);
    assert_eq!(lab.running("samsung"), lab.evaluated("samsung"));
    let lines: Vec<&str> = run.stderr.lines().collect();
    let said = lines
        .iter()
        .find(|l| l.starts_with("[samsung] p620 builds "))
        .unwrap_or_else(|| panic!("the size before the build:\n{}", run.stderr));
    assert!(said.contains(" derivations"), "{said}");
    // While it builds: `building k/n`, k of the parts done, at least once between 0 and n.
    let counted = lines.iter().any(|l| {
        l.split("build on p620: building ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|k_n| k_n.split_once('/'))
            .and_then(|(k, n)| Some((k.parse::<u32>().ok()?, n.parse::<u32>().ok()?)))
            .is_some_and(|(k, n)| k > 0 && k < n && n >= 5)
    });
    assert!(counted, "no count of derivations built:\n{}", run.stderr);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[samsung] build on p620: built ")),
        "{}",
        run.stderr
    );
    let fetched = lines
        .iter()
        .find(|l| l.contains("fetches the system from cache p620: fetched "))
        .unwrap_or_else(|| panic!("what samsung fetched:\n{}", run.stderr));
    // Four parts of 512 KiB at least.
    assert!(fetched_mib(fetched) >= 2.0, "{fetched}");
    // Lines are whole: each starts with a host in brackets.
    assert!(lines.iter().all(|l| l.starts_with('[')), "{}", run.stderr);
    // The build log is whole in samsung's log file, as Nix printed it.
    let logs = run
        .stdout
        .split("logs in ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .expect("the summary names the logs");
    let log = std::fs::read_to_string(std::path::Path::new(logs).join("samsung.log"))
        .expect("samsung's log");
    for i in 0..4 {
        assert!(
            log.contains(&format!("lab: building part {i} of the system of samsung")),
            "{log}"
        );
    }
    assert!(log.contains("these "), "printMissing's words: {log}");
    assert!(!log.contains("@nix {"), "Nix's JSON is not the log's text");
}

/// `--json`: the report on stdout, and one JSON event a line on stderr while it runs, with
/// the host, its step and Nix's counts.
#[test]
fn json_streams_progress_events_on_stderr() {
    let lab = Lab::new();
    lab.bump("samsung");
    lab.new_parts("samsung", 3, 256, 1);
    let run = lab
        .fleet(&["deploy", "samsung", "--via", "p620", "--json"])
        .status(0);
    assert_eq!(run.json()["hosts"][0]["outcome"], "deployed");
    let events: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let progress: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["event"] == "progress").collect();
    let building = progress
        .iter()
        .find(|e| e["builds"]["expected"].as_u64().unwrap_or(0) >= 4)
        .unwrap_or_else(|| panic!("no count of builds: {}", run.stderr));
    assert_eq!(building["host"], "samsung");
    assert_eq!(building["step"], "build on p620");
    let fetched = progress
        .iter()
        .find(|e| e["finished"] == true && e["paths"]["done"].as_u64().unwrap_or(0) >= 4)
        .unwrap_or_else(|| panic!("no fetch counted: {}", run.stderr));
    assert!(
        fetched["bytes"]["done"].as_u64().unwrap_or(0) >= 3 * 256 * 1024,
        "{fetched}"
    );
    assert!(events
        .iter()
        .any(|e| e["event"] == "done" && e["host"] == "samsung" && e["text"] == "deployed"));
}

/// On a terminal, samsung's own line shows the build as it goes.
#[test]
fn a_terminal_shows_the_build_on_the_hosts_line() {
    let lab = Lab::new();
    lab.bump("samsung");
    lab.new_parts("samsung", 3, 64, 1);
    let run = lab.fleet_on_tty(&["deploy", "samsung", "--via", "p620"], &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("build on p620 · building "),
        "{:?}",
        run.stdout
    );
    assert!(run.stdout.contains("lab-part-samsung-"), "{:?}", run.stdout);
}

/// The preview of a fetch from the lab's cache, which gives no download sizes (as nix-serve):
/// its unpacked size, not "0.00 MiB".
#[test]
fn a_preview_of_a_fetch_from_nix_serve_says_its_real_size() {
    let lab = Lab::new();
    lab.bump("samsung");
    lab.new_payload("samsung", 1024);
    let run = lab.fleet(&["deploy", "samsung", "--preview"]).status(0);
    assert!(
        run.stdout.contains(" MiB unpacked"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    assert!(!run.stdout.contains("0.00 MiB"), "{}", run.stdout);
}
