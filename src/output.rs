//! The one printer every command writes through: results to stdout, status to stderr,
//! `--output json` as one stable document, progress only on a terminal.
use std::io::{self, IsTerminal, Write};

use serde::Serialize;

use crate::progress;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum OutputFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON document on stdout, its schema documented in docs/json/.
    Json,
}

/// When to use colour on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ColorChoice {
    /// Colour on a terminal, unless NO_COLOR is set.
    #[default]
    Auto,
    Always,
    Never,
}

/// Writes results, status lines, warnings and errors; decides whether progress may be drawn.
#[derive(Debug, Clone)]
pub struct Printer {
    format: OutputFormat,
    quiet: bool,
    verbose: u8,
    color: bool,
    stderr_tty: bool,
}

impl Printer {
    pub fn new(format: OutputFormat, quiet: bool, verbose: u8, color: ColorChoice) -> Self {
        let stderr_tty =
            crate::ci::terminal_stderr(io::stderr().is_terminal(), &crate::ci::process_env);
        let color = color_enabled(color, stderr_tty, &|k| std::env::var_os(k));
        Printer {
            format,
            quiet,
            verbose,
            color,
            stderr_tty,
        }
    }

    /// A printer for tests and library callers: text, no colour, no terminal.
    pub fn plain() -> Self {
        Printer {
            format: OutputFormat::Text,
            quiet: false,
            verbose: 0,
            color: false,
            stderr_tty: false,
        }
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }

    pub fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Whether status lines are coloured.
    pub fn color(&self) -> bool {
        self.color
    }

    /// How the progress renderer draws for this printer.
    pub fn progress_mode(&self) -> progress::Mode {
        if self.quiet || self.is_json() {
            progress::Mode::Hidden
        } else if self.stderr_tty {
            progress::Mode::Terminal
        } else {
            progress::Mode::Lines
        }
    }

    /// Start the one progress renderer for a long-running command: producers get the
    /// [`progress::Progress`] handle, the command calls [`progress::Renderer::finish`] before
    /// printing its result. Must be called inside the runtime.
    pub fn progress(&self) -> (progress::Progress, progress::Renderer) {
        progress::Renderer::start(self.progress_mode(), self.color)
    }

    /// A status line on stderr (`   Created orders/`), cargo style. Silent under -q or JSON.
    pub fn status(&self, verb: &str, message: impl std::fmt::Display) {
        if self.quiet || self.is_json() {
            return;
        }
        let line = progress::status_line(verb, &message.to_string(), self.color);
        let _ = writeln!(io::stderr().lock(), "{line}");
    }

    /// A plain note on stderr, silent under -q or JSON.
    pub fn note(&self, message: impl std::fmt::Display) {
        if self.quiet || self.is_json() {
            return;
        }
        let _ = writeln!(io::stderr().lock(), "{message}");
    }

    /// A warning on stderr; shown even in JSON mode (stdout stays one document), not under -q.
    pub fn warn(&self, message: impl std::fmt::Display) {
        if self.quiet {
            return;
        }
        let line = progress::warning_line(&message.to_string(), self.color);
        let _ = writeln!(io::stderr().lock(), "{line}");
    }

    /// Detail shown with -v.
    pub fn debug(&self, message: impl std::fmt::Display) {
        if self.verbose == 0 {
            return;
        }
        let _ = writeln!(io::stderr().lock(), "debug: {message}");
    }

    /// The one-line error report: the whole cause chain, `error: a: b: c`.
    pub fn error(&self, err: &anyhow::Error) {
        let prefix = if self.color {
            "\x1b[1;31merror\x1b[0m"
        } else {
            "error"
        };
        let _ = writeln!(io::stderr().lock(), "{prefix}: {}", error_line(err));
    }

    /// Print a command's result: `doc` as JSON under `--output json`, otherwise the text that
    /// `text` writes. Both go to stdout.
    pub fn emit<T: Serialize>(
        &self,
        doc: &T,
        text: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        let stdout = io::stdout();
        let mut out = stdout.lock();
        match self.format {
            OutputFormat::Json => {
                serde_json::to_writer_pretty(&mut out, doc).map_err(json_io_error)?;
                writeln!(out)?;
            }
            OutputFormat::Text => text(&mut out)?,
        }
        out.flush()
    }

    /// One JSON line on stdout, for streams (`discover --watch --output json`).
    pub fn json_line<T: Serialize>(&self, doc: &T) -> io::Result<()> {
        let stdout = io::stdout();
        let mut out = stdout.lock();
        serde_json::to_writer(&mut out, doc).map_err(json_io_error)?;
        writeln!(out)?;
        out.flush()
    }

    /// One text line on stdout.
    pub fn line(&self, text: impl std::fmt::Display) -> io::Result<()> {
        let stdout = io::stdout();
        let mut out = stdout.lock();
        writeln!(out, "{text}")?;
        out.flush()
    }
}

/// Whether to colour stderr: `--color always|never` decide; under `auto`, a non-empty
/// `NO_COLOR` turns colour off, a non-empty `CLICOLOR_FORCE` or `FORCE_COLOR` (other than `0`)
/// turns it on even off a terminal, and otherwise colour follows whether stderr is a terminal.
fn color_enabled(
    choice: ColorChoice,
    stderr_tty: bool,
    env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
) -> bool {
    let set = |k: &str| env(k).is_some_and(|v| !v.is_empty() && v != "0");
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if set("NO_COLOR") => false,
        ColorChoice::Auto if set("CLICOLOR_FORCE") || set("FORCE_COLOR") => true,
        ColorChoice::Auto => stderr_tty,
    }
}

/// Keep the kind of an I/O failure inside a serde_json error, so a broken pipe stays a broken
/// pipe (which hale treats as success) instead of becoming an opaque "other" error.
fn json_io_error(e: serde_json::Error) -> io::Error {
    match e.io_error_kind() {
        Some(kind) => io::Error::from(kind),
        None => io::Error::other(e),
    }
}

/// An error chain as the one line hale prints: each cause once (a message that already ends
/// with its source's text — `reading x: x is not UTF-8 text` over that same io error — does
/// not repeat it), a multi-line message folded onto one line, control characters escaped.
pub fn error_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() || line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    escape_controls(&line)
}

/// Control characters (a terminal escape sequence in an address or a tag, a NUL) as `\u{1b}`,
/// so what another program registered cannot drive the user's terminal.
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_line_prints_each_cause_once_on_one_line_with_controls_escaped() {
        #[derive(Debug, thiserror::Error)]
        #[error("reading x: {source}")]
        struct Reading {
            source: std::io::Error,
        }
        let io = std::io::Error::other("x is not UTF-8 text");
        let err = anyhow::Error::new(Reading { source: io }).context("deploy");
        assert_eq!(error_line(&err), "deploy: reading x: x is not UTF-8 text");
        let err = anyhow::anyhow!("line one\n  line two\x1b[31m");
        assert_eq!(error_line(&err), "line one line two\\u{1b}[31m");
    }

    fn env(
        vars: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<std::ffi::OsString> {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.into())
    }

    #[test]
    fn no_color_beats_force_and_force_colours_a_pipe() {
        assert!(!color_enabled(
            ColorChoice::Auto,
            true,
            &env(&[("NO_COLOR", "1"), ("FORCE_COLOR", "1")])
        ));
        assert!(color_enabled(
            ColorChoice::Auto,
            false,
            &env(&[("CLICOLOR_FORCE", "1")])
        ));
        assert!(color_enabled(
            ColorChoice::Auto,
            false,
            &env(&[("FORCE_COLOR", "3")])
        ));
        assert!(!color_enabled(
            ColorChoice::Auto,
            false,
            &env(&[("FORCE_COLOR", "0")])
        ));
        assert!(color_enabled(ColorChoice::Auto, true, &env(&[])));
        assert!(!color_enabled(
            ColorChoice::Never,
            true,
            &env(&[("FORCE_COLOR", "1")])
        ));
        assert!(color_enabled(
            ColorChoice::Always,
            false,
            &env(&[("NO_COLOR", "1")])
        ));
    }
}
