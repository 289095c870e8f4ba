//! JUnit XML, the report format GitLab, Jenkins and most CI systems read: one `<testsuite>`
//! per report, one `<testcase>` per assertion or rule, `<failure>` for those that failed.
use std::fmt::Write as _;

/// One test case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The group it belongs to (`hale.load`, `hale.deploy.check.<rule>`).
    pub classname: String,
    pub name: String,
    /// Seconds; 0 when the case has no duration of its own.
    pub time: f64,
    /// `Some((message, type, details))` when it failed.
    pub failure: Option<Failure>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub kind: String,
    pub text: String,
}

/// One suite.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    pub name: String,
    pub time: f64,
    pub cases: Vec<Case>,
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot hold at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

impl Suite {
    pub fn failures(&self) -> usize {
        self.cases.iter().filter(|c| c.failure.is_some()).count()
    }

    /// The document: `<testsuites>` holding this one suite.
    pub fn to_xml(&self) -> String {
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let (tests, failures) = (self.cases.len(), self.failures());
        let _ = writeln!(
            x,
            "<testsuites name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">",
            escape(&self.name),
            self.time
        );
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{:.3}\">",
            escape(&self.name),
            self.time
        );
        for case in &self.cases {
            let head = format!(
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                escape(&case.classname),
                escape(&case.name),
                case.time
            );
            match &case.failure {
                None => {
                    let _ = writeln!(x, "{head}/>");
                }
                Some(f) => {
                    let _ = writeln!(x, "{head}>");
                    let _ = writeln!(
                        x,
                        "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                        escape(&f.message),
                        escape(&f.kind),
                        escape(&f.text)
                    );
                    let _ = writeln!(x, "    </testcase>");
                }
            }
        }
        x.push_str("  </testsuite>\n</testsuites>\n");
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suite_counts_its_failures_and_escapes_text() {
        let suite = Suite {
            name: "hale load".into(),
            time: 1.5,
            cases: vec![
                Case {
                    classname: "hale.load".into(),
                    name: "p99<250ms".into(),
                    time: 0.0,
                    failure: Some(Failure {
                        message: "p99 was 312 ms".into(),
                        kind: "assertion".into(),
                        text: "a & b".into(),
                    }),
                },
                Case {
                    classname: "hale.load".into(),
                    name: "errors<1%".into(),
                    time: 0.0,
                    failure: None,
                },
            ],
        };
        let xml = suite.to_xml();
        assert!(
            xml.contains("<testsuite name=\"hale load\" tests=\"2\" failures=\"1\""),
            "{xml}"
        );
        assert!(xml.contains("name=\"p99&lt;250ms\""), "{xml}");
        assert!(
            xml.contains(
                "<failure message=\"p99 was 312 ms\" type=\"assertion\">a &amp; b</failure>"
            ),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<testcase classname=\"hale.load\" name=\"errors&lt;1%\" time=\"0.000\"/>"
            ),
            "{xml}"
        );
    }
}
