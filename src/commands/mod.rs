//! One file per subcommand: the clap argument type and a `run` that resolves settings and calls
//! the library. No business logic lives here.
pub mod build;
pub mod completions;
pub mod deploy;
pub mod deregister;
pub mod discover;
pub mod down;
pub mod load;
pub mod man;
pub mod new;
pub mod ps;
pub mod register;
pub mod templates;
pub mod up;

use crate::cli::{Cli, Command};
use crate::output::Printer;

/// Run the parsed command line.
pub async fn dispatch(cli: Cli, printer: &Printer) -> anyhow::Result<()> {
    match cli.command {
        Command::New(args) => new::run(args, printer).await,
        Command::Templates(args) => templates::run(args, printer),
        Command::Build(args) => build::run(args, printer).await,
        Command::Deploy(args) => deploy::run(args, printer),
        Command::Up(args) => up::run(args, printer).await,
        Command::Ps(args) => ps::run(args, printer).await,
        Command::Down(args) => down::run(args, printer).await,
        Command::Register(args) => register::run(args, printer).await,
        Command::Deregister(args) => deregister::run(args, printer).await,
        Command::Discover(args) => discover::run(args, printer).await,
        Command::Load(args) => load::run(*args, printer).await,
        Command::Completions(args) => completions::run(args, printer),
        Command::Man(args) => man::run(args, printer),
    }
}
