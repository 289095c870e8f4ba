//! The GitHub Actions step summary: Markdown appended to the file `$GITHUB_STEP_SUMMARY`
//! names, shown on the run's page. GitHub takes at most 1 MiB per step; hale keeps its part
//! under that, cutting at a line and saying so.
use std::io::Write as _;
use std::path::PathBuf;

use super::Env;

/// GitHub's limit for one step's summary.
pub const LIMIT: usize = 1024 * 1024;

/// Where this step's summary goes: `$GITHUB_STEP_SUMMARY` under GitHub Actions, else nowhere.
pub fn file(env: Env<'_>) -> Option<PathBuf> {
    if !super::is_github_actions(env) {
        return None;
    }
    env("GITHUB_STEP_SUMMARY")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `markdown`, cut at the last whole line under [`LIMIT`] (less what the file holds already)
/// with a closing note when it had to be cut.
pub fn fit(markdown: &str, already: usize) -> String {
    let room = LIMIT.saturating_sub(already);
    if markdown.len() <= room {
        return markdown.to_string();
    }
    let note =
        "\n_(cut here: the step summary is limited to 1 MiB; the full report is in the job log)_\n";
    let budget = room.saturating_sub(note.len());
    let mut end = markdown[..budget.min(markdown.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    while !markdown.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{note}", &markdown[..end])
}

/// Append `markdown` to the step summary when there is one.
pub fn append(env: Env<'_>, markdown: &str) -> std::io::Result<()> {
    let Some(path) = file(env) else {
        return Ok(());
    };
    let already = std::fs::metadata(&path).map_or(0, |m| m.len() as usize);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    f.write_all(fit(markdown, already).as_bytes())
}

/// A Markdown table cell: pipes and line breaks would break the table.
pub fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::tests::env;

    #[test]
    fn a_summary_past_the_limit_is_cut_at_a_line_with_a_note() {
        let line = "| a | b |\n";
        let big = line.repeat(LIMIT / line.len() + 10);
        let cut = fit(&big, 0);
        assert!(cut.len() <= LIMIT);
        assert!(cut.ends_with("in the job log)_\n"));
        assert!(cut.starts_with(line));
        assert_eq!(fit("small\n", 10), "small\n");
    }

    #[test]
    fn only_github_actions_gets_a_summary() {
        assert_eq!(file(&env(&[("GITHUB_STEP_SUMMARY", "/tmp/s")])), None);
        assert_eq!(
            file(&env(&[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_STEP_SUMMARY", "/tmp/s")
            ])),
            Some(PathBuf::from("/tmp/s"))
        );
    }
}
