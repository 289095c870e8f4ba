//! GitHub Actions workflow commands that become annotations on the run and on the files
//! (`::error file=F,line=L,title=T::message`).
//!
//! GitHub shows at most 10 annotations of each level per step (and 50 per job): hale prints
//! the most severe first, at most [`PER_LEVEL`] of each level, and says in one more line how
//! many it left out and where the full list is.
use std::fmt::Write as _;

/// Annotations of one level GitHub shows per step.
pub const PER_LEVEL: usize = 10;

/// An annotation's level, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

impl Level {
    fn command(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Level::Error => "errors",
            Level::Warning => "warnings",
            Level::Notice => "notices",
        }
    }
}

/// One annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub level: Level,
    /// Relative to the repository root, `/`-separated.
    pub file: Option<String>,
    pub line: Option<usize>,
    pub title: Option<String>,
    pub message: String,
}

/// A workflow command's message: `%`, CR and LF escaped as the runner expects.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: the message escapes plus `:` and `,`.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

impl Annotation {
    /// The workflow command line, without its newline.
    pub fn command(&self) -> String {
        let mut props = Vec::new();
        if let Some(file) = &self.file {
            props.push(format!("file={}", escape_property(file)));
            if let Some(line) = self.line {
                props.push(format!("line={line}"));
            }
        }
        if let Some(title) = &self.title {
            props.push(format!("title={}", escape_property(title)));
        }
        let props = if props.is_empty() {
            String::new()
        } else {
            format!(" {}", props.join(","))
        };
        format!(
            "::{}{props}::{}",
            self.level.command(),
            escape_data(&self.message)
        )
    }
}

/// The lines to print for `annotations`: most severe first (the given order kept within a
/// level), at most [`PER_LEVEL`] per level, then a notice naming how many of each level were
/// left out and `full_report` (where to read them all). Empty when there is nothing to say.
pub fn render(annotations: &[Annotation], full_report: &str) -> String {
    let mut sorted: Vec<&Annotation> = annotations.iter().collect();
    sorted.sort_by_key(|a| a.level);
    let mut out = String::new();
    let mut left_out = Vec::new();
    for level in [Level::Error, Level::Warning, Level::Notice] {
        let of_level: Vec<&&Annotation> = sorted.iter().filter(|a| a.level == level).collect();
        for a in of_level.iter().take(PER_LEVEL) {
            let _ = writeln!(out, "{}", a.command());
        }
        if of_level.len() > PER_LEVEL {
            left_out.push(format!("{} {}", of_level.len() - PER_LEVEL, level.plural()));
        }
    }
    if !left_out.is_empty() {
        let note = Annotation {
            level: Level::Notice,
            file: None,
            line: None,
            title: Some("hale: annotations left out".into()),
            message: format!(
                "{} not annotated (GitHub shows {PER_LEVEL} of each level per step); {full_report}",
                left_out.join(" and ")
            ),
        };
        let _ = writeln!(out, "{}", note.command());
    }
    out
}

/// Print rendered annotations: on stdout (where the runner reads workflow commands), or on
/// stderr under `--output json`, so stdout stays one JSON document (the runner reads commands
/// from both streams).
pub fn print(printer: &crate::output::Printer, rendered: &str) -> std::io::Result<()> {
    if rendered.is_empty() {
        return Ok(());
    }
    if printer.is_json() {
        let mut err = std::io::stderr().lock();
        std::io::Write::write_all(&mut err, rendered.as_bytes())
    } else {
        printer.line(rendered.trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(level: Level, n: usize) -> Annotation {
        Annotation {
            level,
            file: Some("deploy/base/deployment.yaml".into()),
            line: Some(n),
            title: None,
            message: format!("finding {n}"),
        }
    }

    #[test]
    fn properties_and_messages_are_escaped() {
        let ann = Annotation {
            level: Level::Error,
            file: Some("a,b:c.yaml".into()),
            line: Some(7),
            title: Some("latest-tag: image".into()),
            message: "100% bad\nsecond line".into(),
        };
        assert_eq!(
            ann.command(),
            "::error file=a%2Cb%3Ac.yaml,line=7,title=latest-tag%3A image::100%25 bad%0Asecond line"
        );
    }

    #[test]
    fn errors_come_first_capped_at_ten_per_level_and_the_rest_is_counted() {
        let mut list: Vec<Annotation> = (1..=3).map(|n| a(Level::Warning, n)).collect();
        list.extend((1..=12).map(|n| a(Level::Error, 100 + n)));
        let text = render(&list, "see the report above");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 10 + 3 + 1, "{text}");
        assert!(
            lines[..10].iter().all(|l| l.starts_with("::error ")),
            "{text}"
        );
        assert!(lines[0].contains("line=101"), "{text}");
        assert!(lines[10].starts_with("::warning "), "{text}");
        assert!(
            lines[13]
                .starts_with("::notice title=hale%3A annotations left out::2 errors not annotated"),
            "{text}"
        );
        assert!(render(&[], "x").is_empty());
    }
}
