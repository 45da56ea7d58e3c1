//! What fleet shows people: plans, tables, errors. Nothing here runs anything.

pub mod plan;
pub mod progress;
pub mod summary;
pub mod table;

use crate::plan::Arg;

/// `s` as a POSIX shell word: unchanged when it is plain, else single-quoted.
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// An argument as a person reads it; run-time values are shown as `{host.drv}`, `{host.out}`
/// and `ssh-ng://{host}`.
pub fn show_arg(arg: &Arg) -> String {
    match arg {
        Arg::Lit(s) => quote(s),
        Arg::Drv { drv } => format!("{{{drv}.drv}}"),
        Arg::Out { out, suffix } => format!("{{{out}.out}}{suffix}"),
        Arg::Store { store } => format!("ssh-ng://{{{store}}}"),
        Arg::Running { running } => format!("{{{running}.running}}"),
        Arg::RunDir { run_dir, file } => format!("{}/{{run}}-{run_dir}{file}", crate::nix::RUN_DIR),
    }
}

/// `text` without ANSI escape sequences (Nix colours some output even into a pipe).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte in @..~.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Resolved argv as one shell-readable line.
pub fn quote_argv(argv: &[String]) -> String {
    argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

/// A whole argv as one readable line.
pub fn show_argv(argv: &[Arg]) -> String {
    argv.iter().map(show_arg).collect::<Vec<_>>().join(" ")
}

static COLOR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether output may use colour (decided once from `--color`, the terminal and `NO_COLOR`).
pub fn color() -> bool {
    COLOR.load(std::sync::atomic::Ordering::Relaxed)
}

pub fn set_color(on: bool) {
    COLOR.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// The one place errors are printed.
pub fn print_error(e: &crate::error::Error) {
    let label = if color() {
        "\x1b[1;31merror\x1b[0m"
    } else {
        "error"
    };
    eprintln!("{label}: {e}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("nix-store"), "nix-store");
        assert_eq!(
            quote("/nix/var/nix/profiles/system"),
            "/nix/var/nix/profiles/system"
        );
        assert_eq!(quote("nix-command flakes"), "'nix-command flakes'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$(reboot)"), "'$(reboot)'");
    }

    #[test]
    fn strips_ansi() {
        assert_eq!(
            strip_ansi("a: 1 → 2, \x1b[31;1m+64.0 KiB\x1b[0m"),
            "a: 1 → 2, +64.0 KiB"
        );
        assert_eq!(strip_ansi("plain"), "plain");
    }

    #[test]
    fn placeholders() {
        let argv = vec![
            Arg::from("nix"),
            Arg::store("p620"),
            Arg::drv("samsung"),
            Arg::out_with("samsung", "/bin/x"),
        ];
        assert_eq!(
            show_argv(&argv),
            "nix ssh-ng://{p620} {samsung.drv} {samsung.out}/bin/x"
        );
    }
}
