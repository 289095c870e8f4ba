//! `--report FORMAT=PATH`: the report files a command writes for CI besides its output.
use std::path::PathBuf;
use std::str::FromStr;

/// A report file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// The self-contained HTML page (`hale load`).
    Html,
    /// JUnit XML: one test case per assertion or rule.
    Junit,
    /// SARIF 2.1.0 (`hale deploy --check`), for code scanning.
    Sarif,
}

impl ReportFormat {
    pub fn name(self) -> &'static str {
        match self {
            ReportFormat::Html => "html",
            ReportFormat::Junit => "junit",
            ReportFormat::Sarif => "sarif",
        }
    }
}

/// One `--report` value: `junit=PATH`, `sarif=PATH`, `html=PATH`, or a bare `PATH` (HTML,
/// as `hale load --report FILE.html` has always meant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportTarget {
    pub format: ReportFormat,
    pub path: PathBuf,
}

impl FromStr for ReportTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let formats = [
            ("html", ReportFormat::Html),
            ("junit", ReportFormat::Junit),
            ("sarif", ReportFormat::Sarif),
        ];
        let (format, path) = match s.split_once('=') {
            Some((name, path)) => {
                let format = formats
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, f)| *f)
                    .ok_or_else(|| {
                        format!("unknown report format {name:?}: use junit=PATH, sarif=PATH or html=PATH")
                    })?;
                (format, path)
            }
            None => (ReportFormat::Html, s),
        };
        if path.is_empty() {
            return Err(format!(
                "--report {s:?} names no file: use FORMAT=PATH, such as junit=report.xml"
            ));
        }
        Ok(ReportTarget {
            format,
            path: PathBuf::from(path),
        })
    }
}

/// Refuse a format the command does not write, in one line naming the ones it does.
pub fn only(
    targets: &[ReportTarget],
    allowed: &[ReportFormat],
    command: &str,
) -> Result<(), String> {
    for t in targets {
        if !allowed.contains(&t.format) {
            let names: Vec<String> = allowed
                .iter()
                .map(|f| format!("{}=PATH", f.name()))
                .collect();
            return Err(format!(
                "--report {}=…: {command} writes {}",
                t.format.name(),
                names.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_targets_parse_with_html_as_the_bare_default() {
        let t: ReportTarget = "junit=out/report.xml".parse().unwrap();
        assert_eq!(
            (t.format, t.path),
            (ReportFormat::Junit, PathBuf::from("out/report.xml"))
        );
        let t: ReportTarget = "run.html".parse().unwrap();
        assert_eq!(t.format, ReportFormat::Html);
        assert!("xml=a"
            .parse::<ReportTarget>()
            .unwrap_err()
            .contains("junit=PATH"));
        assert!("junit=".parse::<ReportTarget>().is_err());
        let sarif = vec!["sarif=a".parse().unwrap()];
        assert!(only(&sarif, &[ReportFormat::Junit], "hale load")
            .unwrap_err()
            .contains("junit=PATH"));
    }
}
