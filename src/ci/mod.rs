//! CI-native output: what hale tells a CI system besides its exit code — GitHub workflow
//! annotations, the step summary and step outputs, JUnit and SARIF report files — and whether it
//! runs in CI at all (no colour, no progress bars there).
//!
//! Commands call these after they have their result; nothing here decides a result.
use std::ffi::OsString;

pub mod annotations;
pub mod deploy_check;
pub mod junit;
pub mod load;
pub mod outputs;
pub mod reports;
pub mod summary;

pub use reports::{ReportFormat, ReportTarget};

/// The process environment, as the functions here read it (a closure in tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The real environment.
pub fn process_env(key: &str) -> Option<OsString> {
    std::env::var_os(key)
}

fn set(env: Env<'_>, key: &str) -> bool {
    env(key).is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Whether hale runs under a CI system: `CI` is set (GitHub Actions, GitLab CI, Jenkins' plugins,
/// Buildkite, CircleCI and most others set `CI=true`), and not to `0` or `false`.
pub fn is_ci(env: Env<'_>) -> bool {
    set(env, "CI")
}

/// Whether hale runs as a GitHub Actions step (`GITHUB_ACTIONS=true`).
pub fn is_github_actions(env: Env<'_>) -> bool {
    env("GITHUB_ACTIONS").is_some_and(|v| v == "true")
}

/// Whether stderr may be drawn on as a terminal (progress bars, colour under `--color auto`):
/// it is one, and no CI system runs us (CI logs are often attached to a pseudo-terminal, but a
/// log page shows every redraw).
pub fn terminal_stderr(is_tty: bool, env: Env<'_>) -> bool {
    is_tty && !is_ci(env)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn env(
        vars: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<OsString> {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.into())
    }

    #[test]
    fn ci_turns_the_terminal_into_plain_lines() {
        assert!(terminal_stderr(true, &env(&[])));
        assert!(!terminal_stderr(true, &env(&[("CI", "true")])));
        assert!(terminal_stderr(true, &env(&[("CI", "false")])));
        assert!(terminal_stderr(true, &env(&[("CI", "")])));
        assert!(!terminal_stderr(false, &env(&[])));
    }

    #[test]
    fn github_actions_needs_the_exact_value() {
        assert!(is_github_actions(&env(&[("GITHUB_ACTIONS", "true")])));
        assert!(!is_github_actions(&env(&[("GITHUB_ACTIONS", "1")])));
        assert!(!is_github_actions(&env(&[])));
    }
}
