//! `hale up`: build a service and run N local instances, each self-registering
//! (docs/commands/up.md).
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::commands::RegistryUrlArgs;
use crate::engine::EngineHost;
use crate::exit::Interrupted;
use crate::fleet::report::UpDocument;
use crate::fleet::{self, FleetError, RuntimeChoice, UpOptions};
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
    #[arg(long, default_value = "60s", value_parser = crate::values::positive_duration)]
    pub ready_timeout: Duration,
    /// Where the instances run: processes, or containers of the built image.
    #[arg(long, value_enum, default_value_t = RuntimeArg::Process)]
    pub runtime: RuntimeArg,
    /// The image to run with `--runtime docker` [default: the one `.hale/build.json` names].
    #[arg(long, value_name = "REF", value_parser = crate::values::image_reference)]
    pub image: Option<String>,
}

/// Where the instances run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeArg {
    /// Local processes of the binary `go build` makes.
    Process,
    /// Containers of the image `hale build --load` made, through the Docker Engine
    /// (DOCKER_HOST or the default socket).
    Docker,
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
    let runtime = match args.runtime {
        RuntimeArg::Process => {
            if args.image.is_some() {
                return Err(usage!(
                    "--image runs a container image: add --runtime docker (or drop --image)"
                ));
            }
            RuntimeChoice::Process
        }
        RuntimeArg::Docker => RuntimeChoice::Docker {
            engine: EngineHost::from_env(&crate::settings::process_env)?,
            image: args.image.clone(),
        },
    };
    let opts = UpOptions {
        dir: args.path.clone(),
        name: name.clone(),
        replicas: args.replicas,
        registry: url,
        ready_timeout: args.ready_timeout,
        registry_timeout: Duration::from_secs(20),
        runtime,
    };
    let (progress, renderer) = printer.progress();
    let report = fleet::up(&opts, &progress, stop).await;
    drop(progress);
    renderer.finish().await;
    let report = match report {
        Err(FleetError::Stopped) => {
            printer.note("stopped: nothing this run started is left running");
            return Err(Interrupted.into());
        }
        other => other?,
    };
    let doc = UpDocument::new(&report);
    printer.emit(&doc, |out| doc.write_text(out))?;
    printer.note(format!(
        "the instances keep running: `hale ps {0}` to check them, `hale down {0}` to stop them",
        args.path.display()
    ));
    Ok(())
}
