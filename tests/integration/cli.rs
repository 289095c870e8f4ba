//! The command line itself: help text, completions, man page, usage errors and exit codes.
use crate::common;

use std::process::Output;

use clap::CommandFactory;
use clap_complete::Shell;
use hale::cli::Cli;
use hale::commands::completions;

fn run(args: &[&str]) -> Output {
    let dir = common::tempdir();
    common::hale(dir.path())
        .args(args)
        .env("COLUMNS", "100")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every subcommand path, `hale`, `hale new`, `hale templates export`, ...
fn command_paths() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(prefix.clone());
        for sub in cmd.get_subcommands() {
            let mut p = prefix.clone();
            p.push(sub.get_name().to_string());
            walk(sub, p, out);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), Vec::new(), &mut out);
    out
}

#[test]
fn every_help_matches_its_snapshot() {
    for path in command_paths() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "hale {} --help", path.join(" "));
        let name = if path.is_empty() {
            "help-hale".to_string()
        } else {
            format!("help-hale-{}", path.join("-"))
        };
        let text = String::from_utf8(out.stdout).unwrap();
        let version = env!("CARGO_PKG_VERSION");
        insta::with_settings!({ filters => vec![(version, "[VERSION]")] }, {
            insta::assert_snapshot!(name, text);
        });
    }
}

#[test]
fn committed_completions_are_current() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let bless = std::env::var("HALE_BLESS").is_ok_and(|v| v == "1");
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::PowerShell,
        Shell::Elvish,
    ] {
        let path = root.join(completions::file_name(shell));
        let fresh = completions::script(shell);
        if bless {
            std::fs::write(&path, &fresh).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "{} is stale: regenerate with `HALE_BLESS=1 cargo test --test cli committed_completions_are_current`",
            path.display()
        );
    }
}

#[test]
fn completions_command_prints_the_committed_zsh_script() {
    let out = run(&["completions", "zsh"]);
    assert_eq!(out.status.code(), Some(0));
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/_hale"),
    )
    .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), committed);
}

#[test]
fn unknown_shell_is_a_usage_error_on_one_line() {
    let out = run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(
        err,
        "error: invalid value 'tcsh' for '<SHELL>' [possible values: bash, elvish, fish, powershell, zsh]; a similar value exists: 'zsh' (see 'hale completions --help')\n"
    );
}

#[test]
fn a_missing_argument_is_named_on_one_line() {
    let out = run(&["new"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: the following required arguments were not provided: <NAME> (see 'hale new --help')\n"
    );
}

#[test]
fn unknown_flag_exits_2_with_one_line() {
    let out = run(&["new", "orders", "--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: unexpected argument '--bogus'"),
        "{err}"
    );
}

#[test]
fn missing_subcommand_shows_help_and_exits_2() {
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn man_page_renders_roff() {
    let out = run(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq"),
        "{}",
        &page[..80.min(page.len())]
    );
    assert!(page.contains(".TH hale 1"));

    let dir = common::tempdir();
    let out = run(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(dir.path().join("hale.1").is_file());
    assert!(dir.path().join("hale-new.1").is_file());
}

#[test]
fn version_prints_the_crate_version() {
    let out = run(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("hale {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn malformed_hale_toml_names_file_line_and_column() {
    let dir = common::tempdir();
    std::fs::write(
        dir.path().join("hale.toml"),
        "name = \"orders\"\nport = [\n",
    )
    .unwrap();
    let out = common::hale(dir.path())
        .current_dir(dir.path())
        .args(["discover", "orders"])
        .output()
        .unwrap();
    // discover reads settings from the current folder; a broken file stops it before any I/O.
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("hale.toml:3:1") || err.contains("hale.toml:2:"),
        "{err}"
    );
}
