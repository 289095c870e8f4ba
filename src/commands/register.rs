//! `hale register`: register one instance and keep it alive until Ctrl-C or SIGTERM
//! (docs/commands/register.md).
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::discovery::{self, Instance, KeeperEvent, KeeperOutcome, Layout, Registry, RegistryUrl};
use crate::output::Printer;
use crate::settings::{self, Overrides};
use crate::usage;

#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Registry URL: consul://host:port, etcd://host:port or file://PATH
    /// [default: HALE_REGISTRY, hale.toml, then the embedded file registry].
    #[arg(long, value_name = "URL")]
    pub registry: Option<String>,
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
    /// Instance id [default: <name>-<host>-<port>, sanitized].
    #[arg(long)]
    pub id: Option<String>,
    /// A tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Metadata KEY=VALUE (repeatable), e.g. version=1.2.0 or weight=3.
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    pub meta: Vec<String>,
    /// etcd key layout: hale, go-zero or kratos.
    #[arg(long, default_value = "hale", value_parser = ["hale", "go-zero", "kratos"])]
    pub layout: String,
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
    discovery::validate_name(&args.name)?;
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
        None => discovery::default_id(&args.name, &address, port),
    };
    discovery::validate_id(&id)?;
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

/// The registry URL through settings: flag > HALE_REGISTRY > hale.toml (in the current folder)
/// > the embedded file registry.
pub(crate) fn resolve_registry(flag: Option<String>) -> anyhow::Result<RegistryUrl> {
    let settings = settings::resolve(
        Path::new("."),
        Overrides {
            registry: flag,
            ..Default::default()
        },
        &settings::process_env,
    )?;
    Ok(RegistryUrl::parse(&settings.registry)?)
}

/// Resolves when SIGINT or SIGTERM arrives.
pub(crate) async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

pub async fn run(args: RegisterArgs, printer: &Printer) -> anyhow::Result<()> {
    let mut instance = instance_from_args(&args)?;
    let layout = Layout::parse(&args.layout)?;
    let url = resolve_registry(args.registry.clone())?;
    let registry = Registry::new(&url, layout).map_err(discovery::into_command_error)?;

    if args.once {
        let lease = registry
            .register(&instance, args.replace)
            .await
            .map_err(discovery::into_command_error)?;
        instance.id = discovery::registered_id(&instance, &lease);
        printer.status(
            "Registered",
            format!("{} {} in {url}", instance.id, instance.endpoint()),
        );
        return emit(printer, &url, layout, &instance, true, false);
    }

    let ttl = instance.ttl;
    let shown = instance.clone();
    let outage = std::cell::Cell::new(false);
    let outcome =
        discovery::keep_registered(&registry, &instance, args.replace, stop_signal(), |event| {
            match event {
                KeeperEvent::Registered { id } => printer.status(
                    "Registered",
                    format!(
                        "{id} {} in {url} (ttl {}; Ctrl-C to deregister)",
                        shown.endpoint(),
                        humantime::format_duration(ttl)
                    ),
                ),
                KeeperEvent::Lost { error, retry_in } => {
                    let message = format!(
                        "{error:#}; retrying in {} (until it answers)",
                        humantime::format_duration(Duration::from_millis(
                            retry_in.as_millis() as u64
                        ))
                    );
                    // One warning per outage; the retries themselves only with -v.
                    if outage.replace(true) {
                        printer.debug(message);
                    } else {
                        printer.warn(message);
                    }
                }
                KeeperEvent::Reregistered { id } => {
                    outage.set(false);
                    printer.status("Registered", format!("{id} again"))
                }
                KeeperEvent::Deregistered { id } => printer.status("Deregistered", id),
            }
        })
        .await
        .map_err(discovery::into_command_error)?;
    match outcome {
        KeeperOutcome::Deregistered => emit(printer, &url, layout, &instance, false, true),
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
