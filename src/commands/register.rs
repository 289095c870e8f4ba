//! `hale register`: register one instance and keep it alive until Ctrl-C or SIGTERM
//! (docs/commands/register.md).
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::commands::RegistryArgs;
use crate::discovery::{self, Instance, KeeperOutcome, Layout, Registry, RegistryUrl};
use crate::exit::Interrupted;
use crate::names;
use crate::output::Printer;
use crate::settings;
use crate::stop::Stop;
use crate::usage;

#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Service name.
    #[arg(long)]
    pub name: String,
    /// Where the instance answers, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub address: String,
    /// HTTP health path the registry checks (Consul runs it every 5 s).
    #[arg(long, value_name = "PATH", default_value = "/healthz")]
    pub check: String,
    /// How long the entry lives without a heartbeat; heartbeats go every TTL/3.
    #[arg(long, default_value = "10s", value_parser = settings::parse_duration)]
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

/// `--output json` document (docs/json/register.md).
#[derive(Debug, Serialize)]
struct RegisterReport<'a> {
    schema: &'static str,
    registry: String,
    layout: Layout,
    instance: &'a Instance,
    once: bool,
    deregistered: bool,
}

/// Validate the flags into an instance; everything here is a usage error (exit 2).
pub(crate) fn instance_from_args(args: &RegisterArgs) -> anyhow::Result<Instance> {
    names::validate_service_name(&args.name)?;
    let (address, port) = discovery::split_host_port(&args.address)
        .filter(|(host, port)| !host.is_empty() && *port != 0)
        .ok_or_else(|| {
            usage!(
                "bad --address {:?}: expected HOST:PORT, e.g. 127.0.0.1:8080",
                args.address
            )
        })?;
    let id = match &args.id {
        Some(id) => id.clone(),
        None => names::default_instance_id(&args.name, &address, port),
    };
    names::validate_instance_id(&id)?;
    if !args.check.starts_with('/') || args.check.contains(char::is_whitespace) {
        return Err(usage!(
            "bad --check {:?}: expected an HTTP path such as /healthz",
            args.check
        ));
    }
    if args.ttl < Duration::from_secs(1) {
        return Err(usage!(
            "bad --ttl {:?}: registries count TTLs in seconds, use at least 1s",
            humantime::format_duration(args.ttl).to_string()
        ));
    }
    let mut meta = BTreeMap::new();
    for pair in &args.meta {
        let (k, v) = pair
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| usage!("bad --meta {pair:?}: expected KEY=VALUE, e.g. version=1.2.0"))?;
        meta.insert(k.to_string(), v.to_string());
    }
    if let Some(w) = meta.get("weight") {
        if w.parse::<u32>().ok().filter(|w| *w > 0).is_none() {
            return Err(usage!(
                "bad --meta weight={w:?}: the weight is a positive integer"
            ));
        }
    }
    Ok(Instance {
        name: args.name.clone(),
        id,
        address,
        port,
        tags: args.tags.clone(),
        meta,
        check: Some(args.check.clone()),
        ttl: args.ttl,
    })
}

pub async fn run(args: RegisterArgs, printer: &Printer, stop: &Stop) -> anyhow::Result<()> {
    let mut instance = instance_from_args(&args)?;
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
    let doc = RegisterReport {
        schema: "hale.register/v1",
        registry: url.to_string(),
        layout,
        instance,
        once,
        deregistered,
    };
    printer.emit(&doc, |out| {
        if once {
            writeln!(out, "{}", instance.id)
        } else {
            Ok(())
        }
    })?;
    Ok(())
}
