//! `hale deregister`: remove one instance from a registry (docs/commands/deregister.md).
use std::path::Path;

use clap::Args;
use serde::Serialize;

use crate::commands::RegistryArgs;
use crate::discovery::Registry;
use crate::names;
use crate::output::Printer;

#[derive(Debug, Args)]
pub struct DeregisterArgs {
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Service name.
    #[arg(long)]
    pub name: String,
    /// Instance id (for the go-zero layout: the lease id).
    #[arg(long)]
    pub id: String,
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
    names::validate_service_name(&args.name)?;
    names::validate_instance_id(&args.id)?;
    let url = args.registry.url.resolve(Path::new("."))?;
    let registry = Registry::new(&url, args.registry.layout)?;
    let removed = registry.deregister(&args.name, &args.id).await?;
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
