//! The lab from tests: bring it up once, reset it before each test, run the real fleet against
//! it, and read each host's state from its own directory (no SSH, so login counts stay exact).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::Run;

static UP: Once = Once::new();
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub struct Lab {
    pub dir: PathBuf,
    root: PathBuf,
    pub env: Vec<(String, String)>,
    state: tempfile::TempDir,
    /// When the test began (after the reset), in seconds since the epoch.
    pub began: u64,
    _turn: MutexGuard<'static, ()>,
    /// Held while the test runs: other test processes on this machine share the lab.
    _lock: std::fs::File,
}

/// The test's kept SSH masters end with it.
impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.fleet(&["disconnect"]);
    }
}

/// One line of a host's activation log.
#[derive(Debug, Clone)]
pub struct Activation {
    pub at: f64,
    pub event: String,
    pub system: String,
}

fn script(root: &Path, args: &[&str]) -> String {
    let out = Command::new(root.join("scripts/lab"))
        .args(args)
        .output()
        .expect("run scripts/lab");
    assert!(
        out.status.success(),
        "scripts/lab {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Lab {
    /// The lab, up and reset to every host's first generation, for this test alone.
    pub fn new() -> Lab {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let lock = std::fs::File::create("/run/fleet-lab-tests.lock").expect("lab test lock");
        lock.lock().expect("waiting for the lab");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        UP.call_once(|| {
            script(&root, &["up"]);
        });
        script(&root, &["reset"]);
        let env: Vec<(String, String)> = script(&root, &["env"])
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), unquote(v)))
            .collect();
        let dir = env
            .iter()
            .find(|(k, _)| k == "FLEET_LAB_DIR")
            .map(|(_, v)| PathBuf::from(v))
            .expect("lab dir");
        Lab {
            dir,
            root,
            env,
            state: tempfile::tempdir().expect("state dir"),
            began: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
            _turn: turn,
            _lock: lock,
        }
    }

    /// Where this test's fleet keeps its logs and history.
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    pub fn host_dir(&self, host: &str) -> PathBuf {
        self.dir.join("hosts").join(host)
    }

    /// The systemd hosts (systemd-nspawn, Debian's Nix): trixie (2.26) and sid (2.34).
    pub fn is_systemd_host(host: &str) -> bool {
        matches!(host, "trixie" | "sid")
    }

    /// The host's filesystem as seen from here: its `nix`, `run` and `root` are the host's
    /// `/nix`, `/run` and `/root`. A namespace host keeps them in its directory; a systemd
    /// host's are its running root, seen through its PID 1.
    pub fn host_root(&self, host: &str) -> PathBuf {
        if !Self::is_systemd_host(host) {
            return self.host_dir(host);
        }
        PathBuf::from(format!("/proc/{}/root", self.leader(host)))
    }

    /// A systemd host's PID 1 (its systemd), as this machine sees it: systemd-nspawn's child.
    fn leader(&self, host: &str) -> String {
        let nspawn = std::fs::read_to_string(self.host_dir(host).join("nspawn.pid"))
            .unwrap_or_else(|e| panic!("{host} is not running: {e}"));
        let out = Command::new("ps")
            .args(["-o", "pid=", "--ppid", nspawn.trim()])
            .output()
            .expect("ps");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("{host} has no PID 1"))
            .to_string()
    }

    /// Runs fleet inside a systemd host, as a user logged in there would: with that host's Nix
    /// (trixie 2.26, sid 2.34), its systemd, and the lab's inventory, flake and SSH key at the
    /// same paths as here (copied in first).
    pub fn fleet_in(&self, host: &str, args: &[&str]) -> Run {
        self.copy_lab_into(host);
        self.fleet_in_as_is(host, args)
    }

    /// The lab's inventory, flake and SSH config and key, and the fleet binary, copied into a
    /// systemd host at the same paths.
    pub fn copy_lab_into(&self, host: &str) {
        let root = self.host_dir(host).join("root");
        let inside = |p: &Path| root.join(p.strip_prefix("/").unwrap_or(p));
        std::fs::create_dir_all(inside(&self.dir)).expect("the lab's directory in the host");
        for dir in ["ssh", "flake"] {
            let to = inside(&self.dir.join(dir));
            let _ = std::fs::remove_dir_all(&to);
            let status = Command::new("cp")
                .arg("-a")
                .arg(self.dir.join(dir))
                .arg(&to)
                .status()
                .expect("cp");
            assert!(status.success(), "copying the lab's {dir} into {host}");
        }
        std::fs::copy(
            self.dir.join("hosts.toml"),
            inside(&self.dir.join("hosts.toml")),
        )
        .expect("copy the inventory");
        std::fs::copy(
            env!("CARGO_BIN_EXE_fleet"),
            root.join("usr/local/bin/fleet"),
        )
        .expect("copy fleet");
    }

    /// `fleet_in`, with what was copied in before left as it is.
    pub fn fleet_in_as_is(&self, host: &str, args: &[&str]) -> Run {
        let pid = self.leader(host);
        let inventory = self.dir.join("hosts.toml").display().to_string();
        let out = Command::new("nsenter")
            .args(["-t", &pid, "-a", "--", "env", "-i"])
            .args([
                "PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME=/root",
                "FLEET_STATE_DIR=/root/fleet-state",
                "/usr/local/bin/fleet",
                "-i",
                &inventory,
            ])
            .args(args)
            .output()
            .expect("run fleet in a systemd host");
        Run::from_output(&out)
    }

    /// Runs `argv` inside a systemd host (all its namespaces); returns its output.
    pub fn in_host(&self, host: &str, argv: &[&str]) -> String {
        let mut args = vec!["in-host", host];
        args.extend_from_slice(argv);
        script(&self.root, &args)
    }

    fn settings_path(&self) -> PathBuf {
        self.dir.join("flake/hosts.json")
    }

    /// Sets one fixture setting of a host (see lab/flake/flake.nix).
    pub fn set(&self, host: &str, key: &str, value: Value) {
        let path = self.settings_path();
        let text = std::fs::read_to_string(&path).expect("hosts.json");
        let mut v: Value = serde_json::from_str(&text).expect("hosts.json is JSON");
        v["hosts"][host][key] = value;
        std::fs::write(&path, v.to_string()).expect("write hosts.json");
    }

    /// Gives the host a new system version no run has built before; returns it.
    pub fn bump(&self, host: &str) -> String {
        let version = unique();
        self.set(host, "version", Value::String(version.clone()));
        version
    }

    /// A new payload of `kib` KiB for the host: a store path no host has yet.
    pub fn new_payload(&self, host: &str, kib: u64) {
        self.set(host, "payload_kib", Value::from(kib));
        self.set(host, "payload_seed", Value::String(unique()));
    }

    /// The host's system is built from `n` new parts (derivations no run has built before)
    /// of `kib` KiB, each taking `secs` seconds to build.
    pub fn new_parts(&self, host: &str, n: u64, kib: u64, secs: u64) {
        self.set(host, "parts", Value::from(n));
        self.set(host, "part_kib", Value::from(kib));
        self.set(host, "part_sleep", Value::from(secs));
        self.set(host, "parts_seed", Value::String(unique()));
    }

    /// Runs the real fleet binary against the lab. A fleet that hangs is killed after five
    /// minutes (exit 124), so a hang fails the test instead of stopping the suite.
    pub fn fleet(&self, args: &[&str]) -> Run {
        let out = self.fleet_command(args).output().expect("run fleet");
        Run::from_output(&out)
    }

    /// fleet as a user runs it in `dir`: the inventory is the one found from there.
    pub fn fleet_at(&self, dir: &Path, args: &[&str]) -> Run {
        let mut cmd = self.fleet_command(args);
        cmd.current_dir(dir).env_remove("FLEET_INVENTORY");
        Run::from_output(&cmd.output().expect("run fleet"))
    }

    /// fleet with `vars` set (over the lab's), like a `PATH` with a recording `nix` first.
    pub fn fleet_env(&self, vars: &[(&str, &str)], args: &[&str]) -> Run {
        let mut cmd = self.fleet_command(args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        Run::from_output(&cmd.output().expect("run fleet"))
    }

    /// Sets one fixture setting of the whole fleet (see lab/flake/flake.nix).
    pub fn set_fleet(&self, key: &str, value: Value) {
        let path = self.settings_path();
        let text = std::fs::read_to_string(&path).expect("hosts.json");
        let mut v: Value = serde_json::from_str(&text).expect("hosts.json is JSON");
        v[key] = value;
        std::fs::write(&path, v.to_string()).expect("write hosts.json");
    }

    /// fleet as `fleet`, under `wrapper` (like `/usr/bin/time -f %M -o FILE`).
    pub fn fleet_with_wrapper(&self, wrapper: &[&str], args: &[&str]) -> Run {
        let mut cmd = self.fleet_command(args);
        let mut wrapped = Command::new(wrapper[0]);
        wrapped
            .args(&wrapper[1..])
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => wrapped.env(k, v),
                None => wrapped.env_remove(k),
            };
        }
        cmd = wrapped;
        Run::from_output(&cmd.output().expect("run fleet"))
    }

    fn fleet_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.args(["300", env!("CARGO_BIN_EXE_fleet")]).args(args);
        self.with_lab_env(&mut cmd);
        cmd
    }

    /// fleet run by `tests/support/terminal.py` (with its `helper` options) on a terminal of
    /// its own, in the lab's environment; what is typed goes to the helper's standard input.
    fn terminal_command(&self, helper: &[&std::ffi::OsStr], args: &[&str]) -> Command {
        let pty = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/terminal.py");
        let mut cmd = Command::new("python3");
        cmd.arg(pty)
            .args(helper)
            .args(["timeout", "300", env!("CARGO_BIN_EXE_fleet")])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        self.with_lab_env(&mut cmd);
        cmd
    }

    /// What every fleet a test runs is given: its own state, the lab's settings.
    fn with_lab_env(&self, cmd: &mut Command) {
        cmd.env("FLEET_STATE_DIR", self.state.path())
            // Kept connections are the test's own: one test's warm masters never serve another.
            .env("XDG_RUNTIME_DIR", self.state.path())
            .env("FLEET_HOSTNAME", "test-runner")
            .env_remove("FLEET_INVENTORY")
            // Not the checkout, whose example hosts.toml is not the lab's (fleet would warn).
            .current_dir(self.state.path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
    }

    /// The lab's password for `fleetpw`, whose sudo wants one.
    pub fn fleetpw_password(&self) -> String {
        std::fs::read_to_string(self.dir.join("fleetpw.password"))
            .expect("the lab's fleetpw.password")
            .trim_end()
            .to_string()
    }

    /// Runs fleet on a terminal of its own (`tests/support/terminal.py`), typing `typed`'s lines at
    /// its password prompts (given on the helper's standard input, never in an argv), and
    /// calling `meanwhile` every 50 ms until it ends.
    pub fn fleet_at_terminal(&self, args: &[&str], typed: &str, meanwhile: impl Fn()) -> Run {
        self.on_terminal(args, typed, false, meanwhile)
    }

    /// Runs fleet on a terminal of its own with `answers` typed ahead, one a line, for its
    /// questions (`[y/N]`), which it asks on stderr.
    pub fn fleet_on_terminal(&self, args: &[&str], answers: &[&str]) -> Run {
        let typed: String = answers.iter().map(|a| format!("{a}\n")).collect();
        self.on_terminal(args, &typed, true, || {})
    }

    /// Runs fleet with its whole output on a terminal of its own (`TERM=xterm`), answering its
    /// questions and prompts with `answers`, one a line, as they come; `stdout` is the screen's
    /// bytes, as the terminal got them.
    pub fn fleet_on_tty(&self, args: &[&str], answers: &[&str]) -> Run {
        let mut cmd = self.terminal_command(&[], args);
        cmd.env("TERM", "xterm").env_remove("NO_COLOR");
        let typed: String = answers.iter().map(|a| format!("{a}\n")).collect();
        let child = typing(cmd, &typed);
        let out = child.wait_with_output().expect("fleet on a terminal");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::new(),
            sandbox: None,
        }
    }

    fn on_terminal(&self, args: &[&str], typed: &str, ahead: bool, meanwhile: impl Fn()) -> Run {
        let out = tempfile::NamedTempFile::new().expect("stdout file");
        let err = tempfile::NamedTempFile::new().expect("stderr file");
        let mut helper = vec![
            "--stdout".as_ref(),
            out.path().as_os_str(),
            "--stderr".as_ref(),
            err.path().as_os_str(),
        ];
        if ahead {
            helper.push("--ahead".as_ref());
        }
        let mut child = typing(self.terminal_command(&helper, args), typed);
        let status = loop {
            meanwhile();
            if let Some(status) = child.try_wait().expect("wait for fleet") {
                break status;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let terminal = child
            .wait_with_output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let read =
            |f: &tempfile::NamedTempFile| std::fs::read_to_string(f.path()).unwrap_or_default();
        Run {
            code: status.code().unwrap_or(-1),
            stdout: read(&out),
            stderr: format!("{}{terminal}", read(&err)),
            sandbox: None,
        }
    }

    /// Runs fleet as a shell runs a job (a process group of its own) and, once `when` holds,
    /// presses Ctrl-C `presses` times: SIGINT to the whole group, as a terminal sends it, so
    /// fleet's children get it too. Returns when fleet ends (killed after five minutes) and
    /// the moment of the first press.
    pub fn fleet_interrupted(
        &self,
        args: &[&str],
        presses: usize,
        when: impl Fn() -> bool,
    ) -> (Run, SystemTime) {
        self.fleet_signalled(args, "INT", presses, when)
    }

    /// `fleet_interrupted` with another signal (`KILL`: fleet dies on the spot, as when the
    /// laptop running it loses power).
    pub fn fleet_signalled(
        &self,
        args: &[&str],
        signal: &str,
        presses: usize,
        when: impl Fn() -> bool,
    ) -> (Run, SystemTime) {
        use std::os::unix::process::CommandExt;
        let out = tempfile::NamedTempFile::new().expect("stdout file");
        let err = tempfile::NamedTempFile::new().expect("stderr file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fleet"));
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .stdout(out.reopen().expect("stdout"))
            .stderr(err.reopen().expect("stderr"))
            .process_group(0);
        self.with_lab_env(&mut cmd);
        let mut child = cmd.spawn().expect("run fleet");
        let started = std::time::Instant::now();
        while !when() {
            assert!(
                started.elapsed().as_secs() < 120,
                "the moment to press Ctrl-C never came"
            );
            assert!(
                child.try_wait().expect("fleet").is_none(),
                "fleet ended before the moment to press Ctrl-C"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let pressed = SystemTime::now();
        let group = format!("-{}", child.id());
        for _ in 0..presses {
            let sent = Command::new("kill")
                .args([&format!("-{signal}"), "--", &group])
                .status()
                .expect("kill");
            assert!(sent.success(), "could not signal fleet's process group");
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        let status = loop {
            if let Some(status) = child.try_wait().expect("fleet") {
                break status;
            }
            if started.elapsed().as_secs() > 300 {
                let _ = child.kill();
                break child.wait().expect("fleet");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        let read =
            |f: &tempfile::NamedTempFile| std::fs::read_to_string(f.path()).unwrap_or_default();
        let run = Run {
            code: status.code().unwrap_or(-1),
            stdout: read(&out),
            stderr: read(&err),
            sandbox: None,
        };
        (run, pressed)
    }

    /// Runs fleet on a lab host, inside its namespaces (its store, its /run, its hostname),
    /// as a user logged in there would.
    pub fn fleet_on(&self, host: &str, args: &[&str]) -> Run {
        let pid = std::fs::read_to_string(self.host_dir(host).join("sshd.pid")).expect("sshd.pid");
        // The host has its own /tmp, where the build tree may be: give it its own copy.
        std::fs::copy(
            env!("CARGO_BIN_EXE_fleet"),
            self.host_dir(host).join("tmp/fleet"),
        )
        .expect("copy fleet to the host");
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", pid.trim(), "-m", "-n", "-u", "--", "/tmp/fleet"])
            .args(["-i", &format!("{}/hosts.toml", self.dir.display())])
            .args(args)
            // The host's own /tmp: the test's state directory is not visible in there.
            .env("FLEET_STATE_DIR", "/tmp/fleet-state")
            .env_remove("FLEET_HOSTNAME")
            .env_remove("FLEET_INVENTORY");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run fleet on a lab host");
        Run::from_output(&out)
    }

    /// A copy of the lab's inventory in which `host` logs in as `user`; returns its path.
    pub fn inventory_with_user(&self, host: &str, user: &str) -> String {
        self.inventory_with(host, &format!("user = \"{user}\""))
    }

    /// The SSH masters running now whose command line names `dir` (ssh's `-S` socket).
    pub fn masters_in(&self, dir: &Path) -> usize {
        let ps = Command::new("ps")
            .args(["-eo", "args"])
            .output()
            .expect("ps");
        let dir = dir.display().to_string();
        String::from_utf8_lossy(&ps.stdout)
            .lines()
            .filter(|l| l.starts_with("ssh ") && l.contains(" -M ") && l.contains(dir.as_str()))
            .count()
    }

    /// A copy of the lab's inventory with `lines` added to `[hosts.HOST]`; returns its path.
    pub fn inventory_with(&self, host: &str, lines: &str) -> String {
        let header = format!("[hosts.{host}]\n");
        self.inventory_edited("hosts.toml", &format!("hosts-{host}"), |text| {
            assert!(text.contains(&header), "no {header} in the lab inventory");
            text.replace(&header, &format!("{header}{lines}\n"))
        })
    }

    /// A copy of the lab's inventory in which samsung's `via` is the list `["p620", "p510"]`
    /// (p510 made a builder), with `extra` right after it; returns its path.
    pub fn samsung_via_p620_then_p510(&self, extra: &str) -> String {
        self.inventory_edited("hosts.toml", "hosts-via-list", |text| {
            let samsung = text.find("[hosts.samsung]").expect("samsung");
            let at = samsung
                + text[samsung..]
                    .find("via = \"p620\"")
                    .expect("samsung's via");
            format!(
                "{}via = [\"p620\", \"p510\"]{extra}{}",
                &text[..at],
                &text[at + "via = \"p620\"".len()..]
            )
            .replacen("[hosts.p510]\n", "[hosts.p510]\nbuilder = true\n", 1)
        })
    }

    /// The lab's second inventory, where the systemd host trixie is a builder with its cache
    /// and sid builds via it.
    pub fn systemd_builder_inventory(&self) -> String {
        self.dir
            .join("hosts-systemd-builder.toml")
            .display()
            .to_string()
    }

    /// A copy of the lab's inventory `base` (`hosts.toml`, or another the lab writes) as
    /// `edit` makes it; returns its path.
    pub fn inventory_edited(
        &self,
        base: &str,
        name: &str,
        edit: impl Fn(String) -> String,
    ) -> String {
        let text = std::fs::read_to_string(self.dir.join(base)).expect("the lab's inventory");
        let n = std::fs::read_dir(&self.dir).map_or(0, |d| d.count());
        let path = self.dir.join(format!("{name}-{n}.toml"));
        std::fs::write(&path, edit(text)).expect("write inventory");
        path.display().to_string()
    }

    /// Deploys `host` with its switch made to say it worked and do nothing (the fixture's
    /// `fake_success`): asserts the host failed, saying so, was asked to switch, and runs what
    /// it ran (in the report's `after` too).
    pub fn assert_a_faked_switch_fails(&self, host: &str) {
        let old = self.running(host);
        self.bump(host);
        self.set(host, "fake_success", true.into());
        let run = self.fleet(&["deploy", host, "--json"]);
        assert_eq!(run.code, 1, "{host}: {}", run.stderr);
        let report = run.json();
        let h = &report["hosts"][0];
        assert_eq!(h["outcome"], "failed", "{h}");
        assert!(
            h["failure"]["message"].to_string().contains(&format!(
                "the switch reported success, but {host} still runs"
            )),
            "{h}"
        );
        assert_eq!(h["after"]["system"], old.as_str(), "{h}");
        assert!(
            self.saw(host, "start-switch"),
            "{host} was not asked to switch"
        );
        assert_eq!(self.running(host), old);
    }

    /// Leaves on `host` the deploy lock of run `run` (olaf@gone, a run that is over), its
    /// lease renewed an hour in the future, as after the host's clock went back.
    pub fn leave_lock_in_the_future(&self, host: &str, run: &str) {
        let lock = self.host_root(host).join("run/fleet/lock");
        std::fs::create_dir_all(&lock).expect("the lock directory");
        std::fs::write(
            lock.join("owner"),
            format!("run=/run/fleet/{run}\nwho=olaf@gone\nsince=2026-12-04T10:00:00Z\n"),
        )
        .expect("the lock's owner");
        std::fs::write(lock.join("lease"), "").expect("the lock's lease");
        touch(&lock.join("lease"), "+1 hour");
    }

    /// Leaves on `host` `n` run directories of earlier runs, confirmed, two days old, named
    /// `2026-01-01T…-HOST`.
    pub fn leave_old_run_dirs(&self, host: &str, n: usize) {
        let runs = self.host_root(host).join("run/fleet");
        for i in 0..n {
            let dir = runs.join(format!("2026-01-01T00-00-{i:02}Z-1-{host}"));
            std::fs::create_dir_all(&dir).expect("a run directory");
            std::fs::write(dir.join("watchdog"), "confirmed\n").expect("its watchdog");
            touch(&dir, "2 days ago");
        }
    }

    /// How many of `leave_old_run_dirs`' directories are still on `host`.
    pub fn old_run_dirs_left(&self, host: &str) -> usize {
        std::fs::read_dir(self.host_root(host).join("run/fleet"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("2026-01-01T"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// What the fixture's `kernel = "6.7.0"` setting makes a preview say (from the default
    /// 6.6.1): the kernel package changes, a reboot is needed, the switch restarts lab-app,
    /// and the host lacked at least its new system.
    pub fn assert_kernel_change_previewed(preview: &Value) {
        assert!(
            preview["packages"].as_array().expect("packages").contains(
                &serde_json::json!({"name": "linux", "from": ["6.6.1"], "to": ["6.7.0"]})
            ),
            "{preview}"
        );
        assert_eq!(
            preview["reboot"],
            serde_json::json!(["kernel"]),
            "{preview}"
        );
        assert_eq!(
            preview["units"]["restart"],
            serde_json::json!(["lab-app.service"]),
            "{preview}"
        );
        assert!(preview["fetch"]["paths"].as_u64() >= Some(1), "{preview}");
    }

    /// The part a system of the fixture's `helper_feature` links as `helper-part`, read on
    /// `host` (which runs or has `system`), and the host that built it, as the part recorded,
    /// read from `store`'s store.
    pub fn helper_part(&self, host: &str, system: &str, store: &str) -> (String, String) {
        let part = std::fs::read_link(
            self.host_root(host)
                .join(system.trim_start_matches('/'))
                .join("helper-part"),
        )
        .unwrap_or_else(|e| panic!("{system} on {host} links no helper-built part: {e}"))
        .display()
        .to_string();
        let built_on = std::fs::read_to_string(
            self.host_root(store)
                .join(part.trim_start_matches('/'))
                .join("built-on"),
        )
        .unwrap_or_else(|e| panic!("{part} is not in {store}'s store: {e}"));
        (part, built_on.trim().to_string())
    }

    /// The out path the flake now gives the host, from an evaluation of the test's own.
    pub fn evaluated(&self, host: &str) -> String {
        let mut cmd = Command::new("nix");
        cmd.args([
            "--extra-experimental-features",
            "nix-command flakes",
            "eval",
            "--raw",
            &format!(
                "{}/flake#nixosConfigurations.{host}.config.system.build.toplevel.outPath",
                self.dir.display()
            ),
        ]);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("nix eval");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn link(&self, path: PathBuf) -> String {
        std::fs::read_link(&path)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|e| panic!("readlink {}: {e}", path.display()))
    }

    /// What `/run/current-system` points at on the host.
    pub fn running(&self, host: &str) -> String {
        self.link(self.host_root(host).join("run/current-system"))
    }

    /// Whether the host's system profile has generation `n` (its `system-N-link`).
    pub fn has_generation(&self, host: &str, n: u32) -> bool {
        self.host_root(host)
            .join(format!("nix/var/nix/profiles/system-{n}-link"))
            .symlink_metadata()
            .is_ok()
    }

    /// The system profile's generation number on the host.
    pub fn generation(&self, host: &str) -> u32 {
        let link = self.link(self.host_root(host).join("nix/var/nix/profiles/system"));
        link.trim_start_matches("system-")
            .trim_end_matches("-link")
            .parse()
            .unwrap_or_else(|_| panic!("odd profile link {link}"))
    }

    /// The system the profile's current generation is.
    pub fn profile(&self, host: &str) -> String {
        let gen = self.generation(host);
        self.link(
            self.host_root(host)
                .join(format!("nix/var/nix/profiles/system-{gen}-link")),
        )
    }

    /// The system the boot entry points at.
    pub fn boot_entry(&self, host: &str) -> String {
        self.link(self.host_root(host).join("nix/var/lab/boot/default"))
    }

    pub fn activations(&self, host: &str) -> Vec<Activation> {
        std::fs::read_to_string(self.host_root(host).join("nix/var/lab/activations.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut parts = l.split(' ');
                let at = parts.next()?.parse().ok()?;
                let event = parts.next()?.to_string();
                let system = parts.next_back()?.to_string();
                Some(Activation { at, event, system })
            })
            .collect()
    }

    /// Whether the host's activation log has an `event` line ("start-switch", "end-switch").
    pub fn saw(&self, host: &str, event: &str) -> bool {
        self.activations(host).iter().any(|a| a.event == event)
    }

    /// SSH logins the host's sshd has accepted so far.
    pub fn logins(&self, host: &str) -> usize {
        let log = if Self::is_systemd_host(host) {
            self.host_root(host).join("var/log/lab-sshd.log")
        } else {
            self.host_dir(host).join("sshd.log")
        };
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .matches("Accepted publickey")
            .count()
    }

    /// Whether the host's own store holds `path`.
    pub fn has_path(&self, host: &str, path: &str) -> bool {
        let base = path.trim_start_matches("/nix/store/");
        self.host_root(host).join("nix/store").join(base).exists()
    }

    /// Whether the store of the machine running fleet holds `path`.
    pub fn here_has_path(&self, path: &str) -> bool {
        Path::new(path).exists()
    }

    /// Bytes in and out of this machine on the lab's networks (the bridges count only traffic
    /// to and from this machine, not traffic they switch between hosts).
    pub fn bytes_here(&self) -> u64 {
        ["fleetlan0", "fleetts0"]
            .iter()
            .flat_map(|br| {
                ["rx_bytes", "tx_bytes"].map(|c| format!("/sys/class/net/{br}/statistics/{c}"))
            })
            .map(|p| {
                std::fs::read_to_string(p)
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .unwrap_or(0)
            })
            .sum()
    }

    /// Runs a lab command (`stop-cache`, `start-cache`...).
    pub fn lab(&self, args: &[&str]) {
        script(&self.root, args);
    }

    /// Edits a host's nix.conf (the next reset writes it anew).
    pub fn edit_nix_conf(&self, host: &str, edit: impl Fn(String) -> String) {
        let path = if Self::is_systemd_host(host) {
            self.host_dir(host).join("root/etc/nix/nix.conf")
        } else {
            self.host_dir(host).join("etc-nix/nix.conf")
        };
        let text = std::fs::read_to_string(&path).expect("nix.conf");
        std::fs::write(&path, edit(text)).expect("write nix.conf");
    }

    /// Runs a command on a host as root over SSH (counts as a login).
    pub fn ssh(&self, host_ip: &str, command: &str) -> String {
        let out = Command::new("ssh")
            .args([
                "-F",
                &format!("{}/ssh/config", self.dir.display()),
                host_ip,
                command,
            ])
            .output()
            .expect("ssh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Kills a host's sshd session processes (not its listener), as a network drop would end
    /// them; returns how many.
    pub fn kill_ssh_sessions(&self, host: &str) -> usize {
        self.signal_ssh_sessions(host, "KILL")
    }

    /// Sends `signal` to a host's sshd session processes (`STOP`: the host's end of every
    /// connection hangs, as a host that went to sleep); returns how many.
    pub fn signal_ssh_sessions(&self, host: &str, signal: &str) -> usize {
        let out = Command::new("ip")
            .args(["netns", "pids", &format!("fleetlab-{host}")])
            .output()
            .expect("ip netns pids");
        let mut killed = 0;
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).starts_with("sshd: root") {
                let ok = Command::new("kill")
                    .args([&format!("-{signal}"), pid])
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                killed += usize::from(ok);
            }
        }
        killed
    }

    /// Listens for wake-on-LAN magic packets on the LAN, inside `host`'s namespace (a stand-in
    /// for a sleeping machine's network card): every MAC woken is in `WakeListener::macs`.
    pub fn wake_listener(&self, host: &str) -> WakeListener {
        let dir = tempfile::tempdir().expect("listener dir");
        let out = dir.path().join("macs");
        let ready = dir.path().join("ready");
        let script = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.bind(("0.0.0.0", 9))
open(sys.argv[2], "w").close()
while True:
    data, _ = s.recvfrom(1024)
    if len(data) == 102 and data[:6] == bytes([255]) * 6 and data[6:] == data[6:12] * 16:
        with open(sys.argv[1], "a") as f:
            f.write(":".join("%02x" % b for b in data[6:12]) + "\n")
"#;
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &format!("fleetlab-{host}"),
                "python3",
                "-c",
                script,
            ])
            .arg(&out)
            .arg(&ready)
            .spawn()
            .expect("start the wake listener");
        let started = std::time::Instant::now();
        while !ready.exists() {
            assert!(
                started.elapsed().as_secs() < 10,
                "the wake listener did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        WakeListener {
            child,
            out,
            _dir: dir,
        }
    }

    /// Takes a host off the network (its processes stopped, its namespace gone).
    pub fn stop_host(&self, host: &str) {
        script(&self.root, &["stop-host", host]);
    }
}

/// Sets `path`'s modification time as `touch -d WHEN` reads it.
fn touch(path: &Path, when: &str) {
    let ok = Command::new("touch")
        .args(["-d", when])
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "touch -d '{when}' {}", path.display());
}

fn unique() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("t{nanos}")
}

fn unquote(v: &str) -> String {
    // `printf %q` output: $'..' with escapes, or a plain word.
    if let Some(inner) = v.strip_prefix("$'").and_then(|s| s.strip_suffix('\'')) {
        inner
            .replace("\\n", "\n")
            .replace("\\'", "'")
            .replace("\\\\", "\\")
    } else {
        v.replace('\\', "")
    }
}

/// A magic-packet listener on the lab's LAN; stopped when dropped.
pub struct WakeListener {
    child: std::process::Child,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl WakeListener {
    /// The MACs of the magic packets heard so far.
    pub fn macs(&self) -> Vec<String> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }
}

impl Drop for WakeListener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` until it holds; fails the test, saying `what` did not happen, after `secs`.
pub fn wait_until(secs: u64, what: &str, cond: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !cond() {
        assert!(started.elapsed().as_secs() < secs, "{what} within {secs} s");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Starts `cmd` (the terminal helper) and types `typed` on its standard input.
fn typing(mut cmd: Command, typed: &str) -> std::process::Child {
    use std::io::Write;
    let mut child = cmd.spawn().expect("run fleet on a terminal");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(typed.as_bytes()).expect("type");
    }
    child
}
