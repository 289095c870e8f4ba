//! The command-line definition: global flags and one subcommand per file under `commands/`.
use clap::{Args, Parser, Subcommand};

use crate::commands;
use crate::output::{ColorChoice, OutputFormat};

/// Scaffold, register, run and load-test Go microservices.
#[derive(Debug, Parser)]
#[command(
    name = "hale",
    version,
    propagate_version = true,
    arg_required_else_help = true,
    max_term_width = 100,
    after_help = "Docs: docs/commands/<command>.md. Exit codes: 0 ok, 1 failed, 2 usage or bad input, 130 interrupted."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand accepts.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Output format: human text, or one stable JSON document on stdout.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text, env = "HALE_OUTPUT")]
    pub output: OutputFormat,
    /// Print only results and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Colour on stderr. NO_COLOR in the environment turns `auto` off.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine
    /// to connect and to answer each request.
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s",
          env = "HALE_NETWORK_TIMEOUT", value_parser = crate::values::positive_duration)]
    pub network_timeout: std::time::Duration,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scaffold a production-grade Go microservice.
    New(commands::new::NewArgs),
    /// Bring a service made by `hale new` up to the current templates, keeping your changes.
    Upgrade(commands::upgrade::UpgradeArgs),
    /// Work with the service templates (export the built-in set to customise it).
    Templates(commands::templates::TemplatesArgs),
    /// Build a minimal, non-root container image of a service.
    Build(commands::build::BuildArgs),
    /// Render Kubernetes and Prometheus manifests, apply them and wait for the rollout.
    Deploy(Box<commands::deploy::DeployArgs>),
    /// Build a service and run N instances of it locally, each self-registering.
    Up(commands::up::UpArgs),
    /// List the local instances `hale up` started, with their health.
    Ps(commands::ps::PsArgs),
    /// Stop the local instances gracefully and remove their state.
    Down(commands::down::DownArgs),
    /// Register an instance in a registry and keep it alive until stopped.
    Register(commands::register::RegisterArgs),
    /// Remove an instance from a registry.
    Deregister(commands::deregister::DeregisterArgs),
    /// List the healthy instances of a service, or follow them with --watch.
    Discover(commands::discover::DiscoverArgs),
    /// Load-test a fleet through client-side balancing and circuit breakers.
    Load(Box<commands::load::LoadArgs>),
    /// Print a shell completion script.
    Completions(commands::completions::CompletionsArgs),
    /// Write the man page.
    Man(commands::man::ManArgs),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
