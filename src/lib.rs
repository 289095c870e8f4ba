//! hale: scaffold, register, run and load-test Go microservices.
//!
//! The binary is thin (`main.rs` → [`main_entry`]); each subcommand in [`commands`] turns its
//! flags into settings and calls a domain module: [`scaffold`], [`discovery`], [`fleet`],
//! [`balance`], [`breaker`], [`load`]. See docs/ARCHITECTURE.md.
pub mod balance;
pub mod breaker;
pub mod canary;
pub mod ci;
pub mod cli;
pub mod commands;
pub mod confine;
pub mod deploy;
pub mod discovery;
pub mod engine;
pub mod exit;
pub mod fleet;
pub mod gotool;
pub mod image;
pub mod kube;
pub mod load;
pub mod manifests;
pub mod names;
pub mod network;
pub mod output;
pub mod progress;
pub mod scaffold;
pub mod service_contract;
pub mod settings;
pub mod stop;
pub mod userfile;
pub mod values;

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
    init_logging(cli.global.verbose);
    network::set_deadline(cli.global.network_timeout);
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

/// `-v`: hale's own debug events (`tracing`) on stderr; `-vv`: hale's trace events and the
/// libraries' debug events too. Without `-v` no subscriber is installed and events cost nothing.
fn init_logging(verbose: u8) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = match verbose {
        0 => return,
        1 => Targets::new().with_target("hale", LevelFilter::DEBUG),
        _ => Targets::new()
            .with_target("hale", LevelFilter::TRACE)
            .with_default(LevelFilter::DEBUG),
    };
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .without_time(),
        )
        .with(filter)
        .try_init();
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
    let command = command_path(std::env::args().skip(1));
    eprintln!(
        "error: {} (see '{command} --help')",
        one_line(&err.render().to_string())
    );
    Exit::Usage.into()
}

/// clap's multi-line error as one line that keeps its details: the message with what follows
/// it up to the first blank line (the missing `<NAME>`, the `[possible values: ...]`), then any
/// tip.
fn one_line(rendered: &str) -> String {
    let mut lines = rendered.lines().map(str::trim);
    let mut parts: Vec<&str> = lines
        .by_ref()
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty() && !l.starts_with("Usage:"))
        .collect();
    if let Some(first) = parts.first_mut() {
        *first = first.trim_start_matches("error: ");
    }
    let mut message = if parts.is_empty() {
        "invalid arguments".to_string()
    } else {
        parts.join(" ")
    };
    if let Some(tip) = lines.find_map(|l| l.strip_prefix("tip: ")) {
        message.push_str("; ");
        message.push_str(tip);
    }
    message
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

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn a_missing_argument_is_named_on_the_one_line() {
        let rendered = "error: the following required arguments were not provided:\n  <NAME>\n\nUsage: hale new <NAME>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(rendered),
            "the following required arguments were not provided: <NAME>"
        );
    }

    #[test]
    fn a_wrong_value_lists_the_allowed_ones_and_keeps_the_tip() {
        let rendered = "error: invalid value 'bogus' for '<SHELL>'\n  [possible values: bash, zsh]\n\n  tip: a similar value exists: 'bash'\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(rendered),
            "invalid value 'bogus' for '<SHELL>' [possible values: bash, zsh]; a similar value exists: 'bash'"
        );
    }
}
