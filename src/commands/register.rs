//! `hale register`: register one instance and keep it alive until Ctrl-C or SIGTERM
//! (docs/commands/register.md).
use std::path::Path;
use std::time::Duration;

use clap::Args;

use crate::commands::RegistryArgs;
use crate::discovery::report::RegisterReport;
use crate::discovery::{
    self, Instance, InstanceRequest, KeeperOutcome, Layout, Registry, RegistryUrl,
};
use crate::exit::Interrupted;
use crate::output::Printer;
use crate::stop::Stop;

#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Service name.
    #[arg(long)]
    pub name: String,
    /// Where the instance answers, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", value_parser = crate::values::host_port)]
    pub address: String,
    /// HTTP health path the registry checks (Consul runs it every 5 s).
    #[arg(long, value_name = "PATH", default_value = "/healthz")]
    pub check: String,
    /// How long the entry lives without a heartbeat; heartbeats go every TTL/3.
    #[arg(long, default_value = "10s", value_parser = crate::values::positive_duration)]
    pub ttl: Duration,
    /// Instance id, a DNS-1123 label [default: <name>-<host>-<port> with '.' and ':' as '-'].
    #[arg(long)]
    pub id: Option<String>,
    /// A tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Metadata KEY=VALUE (repeatable), e.g. version=1.2.0 or weight=3.
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    pub meta: Vec<String>,
    /// Take over an id another live instance holds.
    #[arg(long)]
    pub replace: bool,
    /// Register and exit, leaving the entry to expire after its TTL (no heartbeat).
    #[arg(long)]
    pub once: bool,
}

pub async fn run(args: RegisterArgs, printer: &Printer, stop: &Stop) -> anyhow::Result<()> {
    let mut instance = Instance::checked(InstanceRequest {
        name: args.name.clone(),
        address: args.address.clone(),
        check: args.check.clone(),
        ttl: args.ttl,
        id: args.id.clone(),
        tags: args.tags.clone(),
        meta: args.meta.clone(),
    })?;
    let layout = args.registry.layout;
    let url = args.registry.url.resolve(Path::new("."))?;
    let registry = Registry::new(&url, layout)?;

    if args.once {
        let lease = registry.register(&instance, args.replace).await?;
        instance.id = discovery::registered_id(&instance, &lease);
        printer.status(
            "Registered",
            format!("{} {} in {url}", instance.id, instance.endpoint()),
        );
        return emit(printer, &url, layout, &instance, true, false);
    }

    let (progress, renderer) = printer.progress();
    let outcome =
        discovery::keep_registered(&registry, &instance, args.replace, stop, &progress).await;
    drop(progress);
    renderer.finish().await;
    match outcome? {
        KeeperOutcome::Deregistered => {
            emit(printer, &url, layout, &instance, false, true)?;
            Err(Interrupted.into())
        }
        KeeperOutcome::DeregisterFailed(why) => Err(anyhow::anyhow!(
            "stopped, but could not deregister {} ({why}); the entry expires after its TTL",
            instance.id
        )),
    }
}

fn emit(
    printer: &Printer,
    url: &RegistryUrl,
    layout: Layout,
    instance: &Instance,
    once: bool,
    deregistered: bool,
) -> anyhow::Result<()> {
    let doc = RegisterReport::new(url, layout, instance, once, deregistered);
    printer.emit(&doc, |out| doc.write_text(out))?;
    Ok(())
}
