//! Inventory errors: every problem names the file, line, column and key, shows the line,
//! and says how to fix it.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// A problem found in `hosts.toml`, before it is placed in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Byte range in the file, when known.
    pub span: Option<Range<usize>>,
    /// Dotted key path, like `hosts.samsung.via`.
    pub key: String,
    pub message: String,
    pub help: Option<String>,
}

impl Problem {
    pub fn new(span: Range<usize>, key: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            span: Some(span),
            key: key.into(),
            message: message.into(),
            help: None,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// A problem placed in the file, ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub line: usize,
    pub column: usize,
    pub source_line: String,
    pub width: usize,
    pub problem: Problem,
}

/// Why the inventory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("no inventory found: no hosts.toml in {} or any parent directory\n  help: run `fleet init` in your flake's directory to write one from its nixosConfigurations, or pass --inventory PATH or set FLEET_INVENTORY (docs/inventory.md describes the file)", .start.display())]
    NotFound { start: PathBuf },
    #[error("cannot read the inventory {}: {source}\n  help: check the path given with --inventory or FLEET_INVENTORY", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render(.path, .problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Located>,
    },
}

impl InventoryError {
    /// Places each problem in `source` (the file's text) and builds the error.
    pub fn invalid(path: PathBuf, source: &str, problems: Vec<Problem>) -> Self {
        let problems = problems.into_iter().map(|p| locate(source, p)).collect();
        InventoryError::Invalid { path, problems }
    }
}

fn locate(source: &str, problem: Problem) -> Located {
    let span = problem.span.clone().unwrap_or(0..0);
    let start = span.start.min(source.len());
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..]
        .find('\n')
        .map_or(source.len(), |i| start + i);
    let line = source[..start].matches('\n').count() + 1;
    let column = source[line_start..start].chars().count() + 1;
    let source_line = source[line_start..line_end]
        .trim_end_matches('\r')
        .to_string();
    let width = source[start..span.end.clamp(start, line_end)]
        .chars()
        .count()
        .max(1);
    Located {
        line,
        column,
        source_line,
        width,
        problem,
    }
}

fn render(path: &std::path::Path, problems: &[Located]) -> String {
    let count = problems.len();
    let mut out = String::new();
    for (i, l) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&l.to_string_for(path));
    }
    if count > 1 {
        out.push_str(&format!(
            "\n{count} problems in {}; nothing was run",
            path.display()
        ));
    }
    out
}

impl Located {
    fn to_string_for(&self, path: &std::path::Path) -> String {
        let gutter = self.line.to_string().len();
        let pad = " ".repeat(gutter);
        let key = if self.problem.key.is_empty() {
            String::new()
        } else {
            format!("{}: ", self.problem.key)
        };
        let mut s = format!(
            "{}:{}:{}: {key}{}\n{pad} |\n{} | {}\n{pad} | {}{}",
            path.display(),
            self.line,
            self.column,
            self.problem.message,
            self.line,
            self.source_line,
            " ".repeat(self.column.saturating_sub(1)),
            "^".repeat(self.width),
        );
        if let Some(help) = &self.problem.help {
            s.push_str(&format!("\n{pad} = help: {help}"));
        }
        s
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.problem.message)
    }
}

/// The dotted key whose value starts at `offset`, found from the line's `key =` and the
/// nearest table header above it. Used for errors that serde reports with a span only.
pub fn key_at(source: &str, offset: usize) -> String {
    let offset = offset.min(source.len());
    let line_start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = &source[line_start..];
    let line = line.split('\n').next().unwrap_or("");
    let trimmed = line.trim_start();
    let header = |l: &str| {
        let l = l.trim();
        (l.starts_with('[') && l.ends_with(']'))
            .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
    };
    if let Some(h) = header(trimmed) {
        return h;
    }
    let table = source[..line_start].lines().rev().find_map(header);
    let key = trimmed
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.contains(char::is_whitespace));
    match (table, key) {
        (Some(t), Some(k)) => format!("{t}.{k}"),
        (None, Some(k)) => k,
        (Some(t), None) => t,
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_line_and_column() {
        let src = "[hosts.a]\nvia = \"p62\"\n";
        let at = src.find("\"p62\"").unwrap_or(0);
        let l = locate(src, Problem::new(at..at + 5, "hosts.a.via", "bad"));
        assert_eq!((l.line, l.column, l.width), (2, 7, 5));
        assert_eq!(l.source_line, "via = \"p62\"");
    }

    #[test]
    fn finds_keys() {
        let src = "[fleet]\nflake = \".\"\n[hosts.samsung]\nbuilder = \"yes\"\n";
        let at = src.find("\"yes\"").unwrap_or(0);
        assert_eq!(key_at(src, at), "hosts.samsung.builder");
        assert_eq!(key_at(src, 0), "fleet");
    }
}
