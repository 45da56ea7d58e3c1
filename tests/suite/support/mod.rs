//! A small harness in the spirit of just's `Test`: an inventory in a temp directory, a command
//! line, and what came out. Every run puts recording stand-ins for nix, ssh and sudo first on
//! PATH, so a test can prove that nothing was started.

pub mod lab;

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use tempfile::TempDir;

/// The programs fleet could start on this machine; each stand-in records its call.
const WATCHED: [&str; 7] = [
    "nix",
    "nix-store",
    "nix-env",
    "ssh",
    "sudo",
    "nix-copy-closure",
    "readlink",
];

pub struct Test {
    dir: TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
    /// Run in a session of its own (`setsid`): no terminal to ask on, even when the tests
    /// run from one.
    no_terminal: bool,
}

/// What one run of fleet did: its exit code and output, and for a `Test` its sandbox (the
/// stand-ins' call log and the test directory, removed when the run is dropped).
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub(crate) sandbox: Option<Sandbox>,
}

pub(crate) struct Sandbox {
    calls: PathBuf,
    dir: PathBuf,
}

impl Test {
    pub fn new() -> Test {
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = dir.path().join("watch-bin");
        std::fs::create_dir(&bin).expect("mkdir");
        for prog in WATCHED {
            let script = format!(
                "#!/bin/sh\necho \"{prog} $*\" >> '{}/calls.log'\nexit 97\n",
                dir.path().display()
            );
            let path = bin.join(prog);
            std::fs::write(&path, script).expect("write stand-in");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        Test {
            dir,
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            no_terminal: false,
        }
    }

    /// The example inventory from the repository, as `hosts.toml` in the test directory.
    pub fn example() -> Test {
        Test::new().inventory(include_str!("../../../hosts.toml"))
    }

    pub fn inventory(self, text: &str) -> Test {
        self.file("hosts.toml", text)
    }

    pub fn file(self, name: &str, text: &str) -> Test {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write file");
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Test {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Test {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Run from this directory, relative to the test directory.
    pub fn cwd(mut self, sub: &str) -> Test {
        let p = self.dir.path().join(sub);
        std::fs::create_dir_all(&p).expect("mkdir");
        self.cwd = Some(p);
        self
    }

    /// Run without a controlling terminal, as cron or CI runs fleet.
    pub fn no_terminal(mut self) -> Test {
        self.no_terminal = true;
        self
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn run(self) -> Run {
        let mut cmd = if self.no_terminal {
            let mut cmd = Command::new("setsid");
            cmd.arg("--wait").arg(env!("CARGO_BIN_EXE_fleet"));
            cmd
        } else {
            Command::cargo_bin("fleet").expect("fleet binary")
        };
        let path = format!(
            "{}:{}",
            self.dir.path().join("watch-bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", self.dir.path())
            .env("XDG_RUNTIME_DIR", self.dir.path())
            .env("FLEET_HOSTNAME", "thinkpad")
            .current_dir(self.cwd.as_deref().unwrap_or(self.dir.path()))
            .args(&self.args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let output = cmd.output().expect("run fleet");
        let dir = self.dir.path().to_path_buf();
        // Keep the directory alive until the Run is dropped.
        let calls = dir.join("calls.log");
        std::mem::forget(self.dir);
        let mut run = Run::from_output(&output);
        run.sandbox = Some(Sandbox { calls, dir });
        run
    }
}

impl Run {
    /// What a finished fleet process left.
    pub fn from_output(output: &Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            sandbox: None,
        }
    }

    /// Asserts the exit code, showing what fleet printed when it differs.
    #[track_caller]
    pub fn status(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// The table row of `host` on stdout (its line that starts with the name and a space), or
    /// an empty string.
    pub fn row(&self, host: &str) -> String {
        let start = format!("{host} ");
        self.stdout
            .lines()
            .find(|l| l.starts_with(&start))
            .unwrap_or_default()
            .to_string()
    }

    /// stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }

    /// Asserts stdout is exactly `expected`, showing both when it is not.
    #[track_caller]
    pub fn stdout_is(self, expected: &str) -> Run {
        assert!(
            self.stdout == expected,
            "stdout differs\n--- expected\n{expected}\n--- got\n{}",
            self.stdout
        );
        self
    }

    /// Asserts stderr is exactly `expected`, showing both when it is not.
    #[track_caller]
    pub fn stderr_is(self, expected: &str) -> Run {
        assert!(
            self.stderr == expected,
            "stderr differs\n--- expected\n{expected}\n--- got\n{}",
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(self, needle: &str) -> Run {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}:\n{}",
            self.stdout
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(self, needle: &str) -> Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    /// Asserts that fleet started none of the watched programs.
    #[track_caller]
    pub fn started_nothing(self) -> Run {
        let calls = self.calls();
        assert!(calls.is_empty(), "fleet started processes:\n{calls}");
        self
    }

    /// The processes fleet started, one line each (the sandbox's stand-ins log them).
    fn calls(&self) -> String {
        self.sandbox
            .as_ref()
            .and_then(|s| std::fs::read_to_string(&s.calls).ok())
            .unwrap_or_default()
    }

    /// Nothing started but `nix --version` here: the one question a dry run may ask, so that
    /// it prints the form of a command that this Nix takes.
    #[track_caller]
    pub fn started_nothing_but_asked_nix_its_version(self) -> Run {
        let calls = self.calls();
        assert!(
            calls.lines().all(|c| c == "nix --version"),
            "fleet started processes:\n{calls}"
        );
        self
    }

    /// stdout with the test directory replaced by `[DIR]`, for snapshots.
    pub fn stdout_normalized(&self) -> String {
        match &self.sandbox {
            Some(s) => self.stdout.replace(&s.dir.display().to_string(), "[DIR]"),
            None => self.stdout.clone(),
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(s) = &self.sandbox {
            let _ = std::fs::remove_dir_all(&s.dir);
        }
    }
}
