//! `hale up`: build a service and run N local instances, each self-registering
//! (docs/commands/up.md).
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::commands::RegistryUrlArgs;
use crate::exit::Interrupted;
use crate::fleet::{self, FleetError, FleetState, UpOptions};
use crate::names;
use crate::output::Printer;
use crate::settings::{self, Overrides};
use crate::stop::Stop;
use crate::usage;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// The service folder (with hale.toml and cmd/<name>).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// How many instances to run. On a running fleet, starts or stops instances to match.
    #[arg(long, default_value_t = 1)]
    pub replicas: u32,
    #[command(flatten)]
    pub registry: RegistryUrlArgs,
    /// How long the instances may take to answer 200 on /readyz.
    #[arg(long, default_value = "60s", value_parser = settings::parse_duration)]
    pub ready_timeout: Duration,
}

/// `--output json` document (docs/json/up.md).
#[derive(Debug, Serialize)]
struct UpDocument<'a> {
    schema: &'static str,
    service: &'a str,
    registry: &'a str,
    dir: String,
    built: bool,
    started: &'a [String],
    stopped: &'a [String],
    kept: &'a [String],
    instances: Vec<UpInstance<'a>>,
}

#[derive(Debug, Serialize)]
struct UpInstance<'a> {
    id: &'a str,
    pid: u32,
    address: &'a str,
    port: u16,
    registered: bool,
    log: String,
}

pub async fn run(args: UpArgs, printer: &Printer, stop: &Stop) -> anyhow::Result<()> {
    if !(1..=64).contains(&args.replicas) {
        return Err(usage!(
            "--replicas {} is out of range: use 1 to 64 (`hale down` stops a fleet)",
            args.replicas
        ));
    }
    if !args.path.is_dir() {
        return Err(usage!(
            "{} is not a folder: pass the service folder made by `hale new`",
            args.path.display()
        ));
    }
    let settings = settings::resolve(
        &args.path,
        Overrides {
            registry: args.registry.registry.clone(),
            ..Default::default()
        },
        &settings::process_env,
    )?;
    let name = settings.name.clone().ok_or_else(|| {
        usage!(
            "no service name: {} has no hale.toml with `name` (run `hale up` in a folder made by `hale new`)",
            args.path.display()
        )
    })?;
    names::validate_service_name(&name)?;
    let url = crate::discovery::RegistryUrl::parse(&settings.registry)?;
    let opts = UpOptions {
        dir: args.path.clone(),
        name: name.clone(),
        replicas: args.replicas,
        registry: url,
        ready_timeout: args.ready_timeout,
        registry_timeout: Duration::from_secs(20),
    };
    let (progress, renderer) = printer.progress();
    let report = fleet::up(&opts, &progress, stop).await;
    drop(progress);
    renderer.finish().await;
    let report = match report {
        Err(FleetError::Stopped) => {
            printer.note("stopped: the instances this run started were stopped again");
            return Err(Interrupted.into());
        }
        other => other?,
    };
    emit(printer, &report.state, &report)?;
    printer.note(format!(
        "the instances keep running: `hale ps {0}` to check them, `hale down {0}` to stop them",
        args.path.display()
    ));
    Ok(())
}

fn emit(printer: &Printer, state: &FleetState, report: &fleet::UpReport) -> anyhow::Result<()> {
    let doc = UpDocument {
        schema: "hale.up/v1",
        service: &state.service,
        registry: &state.registry,
        dir: state
            .binary
            .parent()
            .and_then(|p| p.parent())
            .and_then(|p| p.parent())
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        built: report.built,
        started: &report.started,
        stopped: &report.stopped,
        kept: &report.kept,
        instances: state
            .instances
            .iter()
            .map(|i| UpInstance {
                id: &i.id,
                pid: i.pid,
                address: &i.address,
                port: i.port,
                registered: report.registered.contains(&i.id),
                log: i.log.display().to_string(),
            })
            .collect(),
    };
    printer.emit(&doc, |out| {
        writeln!(
            out,
            "{:<20} {:>8}  {:<21} REGISTERED",
            "ID", "PID", "ADDRESS"
        )?;
        for i in &doc.instances {
            writeln!(
                out,
                "{:<20} {:>8}  {:<21} {}",
                i.id,
                i.pid,
                format!("{}:{}", i.address, i.port),
                if i.registered { "yes" } else { "no" }
            )?;
        }
        writeln!(out, "registry: {}", doc.registry)
    })?;
    Ok(())
}
