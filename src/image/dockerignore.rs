//! `.dockerignore` as the Docker CLI reads it: one pattern a line (`#` comments, blank lines
//! skipped), Go `filepath.Match` syntax plus `**` for any number of folders, `!` re-including
//! what an earlier line excluded, the last matching line winning, and a pattern that matches a
//! folder covering everything below it. So hale's allowlist (`*` then `!cmd/` …) sends exactly
//! what `docker build` would.
use globset::{Glob, GlobBuilder, GlobMatcher};

/// One line of the file.
#[derive(Debug, Clone)]
struct Rule {
    matcher: GlobMatcher,
    /// A `!` line: re-include what matches.
    include: bool,
}

/// The parsed file; [`Ignore::excludes`] says whether a context path stays out.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    rules: Vec<Rule>,
}

/// A line that is not a pattern.
#[derive(Debug, thiserror::Error)]
#[error(".dockerignore line {line}: {pattern:?} is not a valid pattern: {reason}")]
pub struct PatternError {
    pub line: usize,
    pub pattern: String,
    pub reason: String,
}

/// A pattern as the CLI cleans it: no leading `/` or `./`, no trailing `/`, `//` collapsed.
fn clean(pattern: &str) -> String {
    let parts: Vec<&str> = pattern
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    parts.join("/")
}

impl Ignore {
    pub fn parse(text: &str) -> Result<Ignore, PatternError> {
        let mut rules = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (include, pat) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let pat = clean(pat);
            if pat.is_empty() {
                continue;
            }
            let glob: Glob = GlobBuilder::new(&pat)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| PatternError {
                    line: i + 1,
                    pattern: raw.to_string(),
                    reason: e.kind().to_string(),
                })?;
            rules.push(Rule {
                matcher: glob.compile_matcher(),
                include,
            });
        }
        Ok(Ignore { rules })
    }

    /// Does `path` (relative, `/`-separated) stay out of the context? A rule matching the path
    /// or any folder above it applies; the last rule that applies decides.
    pub fn excludes(&self, path: &str) -> bool {
        let mut excluded = false;
        for rule in &self.rules {
            let mut applies = false;
            let mut end = 0;
            // Each ancestor (`a`, `a/b`) and finally the path itself.
            loop {
                let next = path[end..].find('/').map(|i| end + i);
                let prefix = match next {
                    Some(i) => &path[..i],
                    None => path,
                };
                if rule.matcher.is_match(prefix) {
                    applies = true;
                    break;
                }
                match next {
                    Some(i) => end = i + 1,
                    None => break,
                }
            }
            if applies {
                excluded = !rule.include;
            }
        }
        excluded
    }

    /// Has the file any `!` line? Without one, an excluded folder can be skipped unread.
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.include)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWLIST: &str = include_str!("../../templates/service/.dockerignore");

    #[test]
    fn the_generated_allowlist_sends_sources_only() {
        let ig = Ignore::parse(ALLOWLIST).unwrap();
        for kept in [
            "go.mod",
            "go.sum",
            "cmd/orders/main.go",
            "internal/server/server.go",
            "vendor/modules.txt",
        ] {
            assert!(!ig.excludes(kept), "{kept} should be sent");
        }
        for out in [
            ".env",
            ".env.local",
            "hale.toml",
            ".git/config",
            ".hale/build.json",
            "internal/server.key",
            "internal/server/.env",
            "cmd/orders/main_test.go",
            "internal/x/testdata/a.json",
            "README.md",
        ] {
            assert!(ig.excludes(out), "{out} should stay out");
        }
    }

    #[test]
    fn last_matching_rule_wins_and_folders_cover_their_contents() {
        let ig = Ignore::parse("# c\n\nlogs/\n!logs/keep.txt\n/tmp/*.log\n./a//b\n").unwrap();
        assert!(ig.excludes("logs/x.txt"));
        assert!(!ig.excludes("logs/keep.txt"));
        assert!(ig.excludes("tmp/x.log"));
        assert!(!ig.excludes("tmp/x.txt"));
        assert!(ig.excludes("a/b/c"));
        assert!(!ig.excludes("main.go"));
    }

    #[test]
    fn double_star_spans_any_number_of_folders() {
        let ig = Ignore::parse("**/*.pem\ndocs/**/draft*\n").unwrap();
        assert!(ig.excludes("k.pem"));
        assert!(ig.excludes("a/b/c/k.pem"));
        assert!(ig.excludes("docs/draft1.md"));
        assert!(ig.excludes("docs/x/y/draft.md"));
        assert!(!ig.excludes("docs/x/final.md"));
    }

    #[test]
    fn a_broken_pattern_names_its_line() {
        let e = Ignore::parse("ok\n[z-a\n").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
