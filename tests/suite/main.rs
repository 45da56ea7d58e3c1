//! fleet's one test binary: the command line (`cli`, no process started on any host), and
//! the lab (`lab`, `health`: real sshd, real nix, assertions on host state; `systemd`: the
//! lab's systemd hosts on Nix 2.26 and 2.34; `operate`: exec, generations, rollback to a
//! generation, init, the preview). One `Run` harness serves both (`support`).

mod cli;
mod evaluation;
mod health;
mod hostile;
mod lab;
mod nixos;
mod operate;
mod progress;
mod retry;
mod support;
mod systemd;
