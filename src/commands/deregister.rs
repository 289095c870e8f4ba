//! `hale deregister`: remove one instance from a registry (docs/commands/deregister.md).
use clap::Args;
use serde::Serialize;

use crate::commands::register::resolve_registry;
use crate::discovery::{self, Layout, Registry};
use crate::output::Printer;

#[derive(Debug, Args)]
pub struct DeregisterArgs {
    /// Registry URL: consul://host:port, etcd://host:port or file://PATH
    /// [default: HALE_REGISTRY, hale.toml, then the embedded file registry].
    #[arg(long, value_name = "URL")]
    pub registry: Option<String>,
    /// Service name.
    #[arg(long)]
    pub name: String,
    /// Instance id (for the go-zero layout: the lease id).
    #[arg(long)]
    pub id: String,
    /// etcd key layout: hale, go-zero or kratos.
    #[arg(long, default_value = "hale", value_parser = ["hale", "go-zero", "kratos"])]
    pub layout: String,
}

/// `--output json` document (docs/json/register.md#deregister).
#[derive(Debug, Serialize)]
struct DeregisterReport<'a> {
    schema: &'static str,
    registry: String,
    service: &'a str,
    id: &'a str,
    removed: bool,
}

pub async fn run(args: DeregisterArgs, printer: &Printer) -> anyhow::Result<()> {
    discovery::validate_name(&args.name)?;
    discovery::validate_id(&args.id)?;
    let layout = Layout::parse(&args.layout)?;
    let url = resolve_registry(args.registry)?;
    let registry = Registry::new(&url, layout).map_err(discovery::into_command_error)?;
    let removed = registry
        .deregister(&args.name, &args.id)
        .await
        .map_err(discovery::into_command_error)?;
    if removed {
        printer.status("Deregistered", format!("{} from {url}", args.id));
    } else {
        printer.warn(format!(
            "{} of {} was not registered in {url}",
            args.id, args.name
        ));
    }
    let doc = DeregisterReport {
        schema: "hale.deregister/v1",
        registry: url.to_string(),
        service: &args.name,
        id: &args.id,
        removed,
    };
    printer.emit(&doc, |_| Ok(()))?;
    Ok(())
}
