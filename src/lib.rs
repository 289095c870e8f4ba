//! hale: scaffold, register, run and load-test Go microservices.
//!
//! The binary is thin (`main.rs` → [`main_entry`]); each subcommand in [`commands`] turns its
//! flags into settings and calls a domain module: [`scaffold`], [`registry`], [`fleet`],
//! [`balance`], [`breaker`], [`load`]. See docs/ARCHITECTURE.md.
pub mod balance;
pub mod breaker;
pub mod cli;
pub mod commands;
pub mod exit;
pub mod fleet;
pub mod load;
pub mod manifests;
pub mod output;
pub mod progress;
pub mod registry;
pub mod scaffold;
pub mod settings;
pub mod stop;

use std::process::ExitCode;

use clap::Parser as _;

use crate::exit::Exit;
use crate::output::Printer;

/// Parse the process arguments, run the command, and map the outcome to an exit code.
pub fn main_entry() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return report_clap_error(err),
    };
    let printer = Printer::new(
        cli.global.output,
        cli.global.quiet,
        cli.global.verbose,
        cli.global.color,
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            printer.error(&anyhow::Error::new(e).context("starting the async runtime"));
            return Exit::Failed.into();
        }
    };
    let result = runtime.block_on(commands::dispatch(cli, &printer));
    // Background tasks (watchers, keep-alives) must not hold the process open.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => Exit::Ok.into(),
        Err(err) => {
            let code = exit::classify(&err);
            if code != Exit::Ok {
                printer.error(&err);
            }
            code.into()
        }
    }
}

/// clap's own errors are several lines; hale prints one: the message and where to get help.
fn report_clap_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            return Exit::Ok.into();
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            return Exit::Usage.into();
        }
        _ => {}
    }
    let rendered = err.render().to_string();
    let message = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments")
        .trim()
        .trim_start_matches("error: ")
        .to_string();
    let tip = rendered
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("tip: "))
        .map(|t| format!("; {t}"))
        .unwrap_or_default();
    let command = command_path(std::env::args().skip(1));
    eprintln!("error: {message}{tip} (see '{command} --help')");
    Exit::Usage.into()
}

/// The subcommand path the arguments name (`hale templates export`), for pointing at its help.
fn command_path(args: impl Iterator<Item = String>) -> String {
    use clap::CommandFactory as _;
    let mut cmd = cli::Cli::command();
    let mut path = vec!["hale".to_string()];
    for arg in args {
        if arg.starts_with('-') {
            continue;
        }
        let Some(sub) = cmd.find_subcommand(&arg).cloned() else {
            break;
        };
        path.push(sub.get_name().to_string());
        cmd = sub;
    }
    path.join(" ")
}
