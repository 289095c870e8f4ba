//! One file per subcommand: the clap argument type and a `run` that resolves settings and calls
//! the library. No business logic lives here.
pub mod build;
pub mod completions;
pub mod deploy;
pub mod deploy_canary;
pub mod deploy_kube;
pub mod deploy_render;
pub mod deploy_status;
pub mod deregister;
pub mod discover;
pub mod down;
pub mod load;
pub mod load_output;
pub mod load_settings;
pub mod man;
pub mod new;
pub mod ps;
pub mod register;
pub mod templates;
pub mod up;
pub mod upgrade;

use std::path::Path;

use clap::Args;

use crate::cli::{Cli, Command};
use crate::discovery::{Layout, RegistryUrl};
use crate::output::Printer;
use crate::settings::{self, Overrides};
use crate::stop::Stop;

/// `--registry`, shared by every command that talks to a registry.
#[derive(Debug, Clone, Args)]
pub struct RegistryUrlArgs {
    /// Registry URL: consul://host:port, etcd://host:port or file://PATH
    /// [default: HALE_REGISTRY, hale.toml, then the embedded file registry].
    #[arg(long, value_name = "URL", value_parser = crate::values::registry_url)]
    pub registry: Option<String>,
}

impl RegistryUrlArgs {
    /// The registry URL through settings: flag > HALE_REGISTRY > hale.toml (in `dir`) > the
    /// embedded file registry.
    pub fn resolve(&self, dir: &Path) -> anyhow::Result<RegistryUrl> {
        let settings = settings::resolve(
            dir,
            Overrides {
                registry: self.registry.clone(),
                ..Default::default()
            },
            &settings::process_env,
        )?;
        Ok(RegistryUrl::parse(&settings.registry)?)
    }
}

/// `--registry` and `--layout`, for the commands that read or write registry entries.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    #[command(flatten)]
    pub url: RegistryUrlArgs,
    /// etcd key layout: hale's own, or the one go-zero or kratos services read.
    #[arg(long, value_enum, default_value_t = Layout::Hale)]
    pub layout: Layout,
}

/// Run the parsed command line. The one stop signal (SIGINT, SIGTERM) is created here and
/// handed to every long-running command.
pub async fn dispatch(cli: Cli, printer: &Printer) -> anyhow::Result<()> {
    let stop = Stop::on_signals();
    let stop = &stop;
    match cli.command {
        Command::New(args) => new::run(args, printer).await,
        Command::Upgrade(args) => upgrade::run(args, printer),
        Command::Templates(args) => templates::run(args, printer),
        Command::Build(args) => build::run(args, printer, stop).await,
        Command::Deploy(args) => deploy::run(*args, printer, stop).await,
        Command::Up(args) => up::run(args, printer, stop).await,
        Command::Ps(args) => ps::run(args, printer).await,
        Command::Down(args) => down::run(args, printer).await,
        Command::Register(args) => register::run(args, printer, stop).await,
        Command::Deregister(args) => deregister::run(args, printer).await,
        Command::Discover(args) => discover::run(args, printer, stop).await,
        Command::Load(args) => load::run(*args, printer, stop).await,
        Command::Completions(args) => completions::run(args, printer),
        Command::Man(args) => man::run(args, printer),
    }
}
