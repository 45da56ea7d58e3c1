//! fleet's one test binary: the command line (`cli`, no process started on any host), and
//! the lab (`lab`, `health`: real sshd, real nix, assertions on host state; `systemd`: the
//! lab's systemd hosts on Nix 2.26 and 2.34). One `Run`
//! harness serves both (`support`).

mod cli;
mod health;
mod lab;
mod support;
mod systemd;
