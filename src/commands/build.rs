//! `hale build`: the flags, the service's settings and the engine the environment names, then
//! one call into [`image::build`] (docs/commands/build.md); the record it returns is printed.
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::engine::EngineHost;
use crate::image::build::{BuildError, Reporter};
use crate::image::request::{self, BuildRequest};
use crate::image::{self, BuildRecord};
use crate::output::Printer;
use crate::progress::{Progress, Renderer};
use crate::settings::{self, Overrides};
use crate::stop::Stop;
use crate::usage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineChoice {
    /// The Docker Engine when one with BuildKit answers and there is a Dockerfile, else native.
    Auto,
    /// No daemon: the host's Go toolchain and an image assembled by hale.
    Native,
    /// The Docker Engine (BuildKit) with the service's Dockerfile.
    Docker,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The service folder (with hale.toml and cmd/<name>).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// How to build.
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,
    /// Target platform(s), repeatable or comma-separated; several make a multi-platform index
    /// [default: linux/<this machine's arch>].
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", value_delimiter = ',')]
    pub platform: Vec<String>,
    /// Base image for the native build: HOST[:PORT]/REPOSITORY[:TAG|@DIGEST] in a registry, or
    /// an OCI image layout folder (`oci-layout:DIR` or DIR)
    /// [default: hale's static base: CA certificates, nonroot 65532, /tmp].
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Extra tag(s) (`TAG` or `NAME:TAG`), besides `<name>:<version>` and `<name>:<short sha>`.
    #[arg(long, value_name = "TAG")]
    pub tag: Vec<String>,
    /// The image version [default: hale.toml `[image] tag`, the commit's exact git tag, `dev`].
    #[arg(long = "image-version", value_name = "VERSION")]
    pub image_version: Option<String>,
    /// The OCI image layout folder to write [default: <path>/.hale/image/oci].
    #[arg(long, value_name = "DIR", value_parser = crate::values::output_dir)]
    pub oci_layout: Option<PathBuf>,
    /// Also write a docker-archive tar (what `docker load -i` reads).
    #[arg(long, value_name = "FILE", value_parser = crate::values::output_file)]
    pub archive: Option<PathBuf>,
    /// Load the image into the Docker Engine at DOCKER_HOST (the host's platform of an index).
    #[arg(long)]
    pub load: bool,
    /// Push the image (and its SBOM as a referrer) to HOST[:PORT]/REPOSITORY[:TAG].
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
    /// A registry (HOST[:PORT]) reached over plain http although it is not on loopback.
    #[arg(long, value_name = "HOST", value_parser = crate::values::registry_host)]
    pub insecure_registry: Vec<String>,
    /// A Dockerfile build argument (engine path), repeatable. Build args stay in the image's
    /// history: pass secrets as BuildKit secret mounts, never here.
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_arg: Vec<String>,
    /// The Dockerfile stage to build (engine path) [default: the last one].
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// The network of the Dockerfile's RUN steps (engine path): `default`, `none` (an offline
    /// build, e.g. with a vendor/ folder) or `host`.
    #[arg(long, value_name = "MODE")]
    pub network: Option<String>,
    /// Build every Dockerfile step again, ignoring the engine's cache (engine path).
    #[arg(long)]
    pub no_cache: bool,
    /// Write the Dockerfile (and a .dockerignore when there is none) that `hale new` makes,
    /// when the folder has no Dockerfile; never overwrites.
    #[arg(long)]
    pub write_dockerfile: bool,
    /// A PEM file of CA certificates trusted for registries, besides the system's and
    /// /etc/docker/certs.d/<host[:port]>/*.crt.
    #[arg(long, value_name = "FILE")]
    pub registry_cacert: Option<PathBuf>,
}

impl From<EngineChoice> for request::EngineChoice {
    fn from(c: EngineChoice) -> Self {
        match c {
            EngineChoice::Auto => request::EngineChoice::Auto,
            EngineChoice::Native => request::EngineChoice::Native,
            EngineChoice::Docker => request::EngineChoice::Docker,
        }
    }
}

impl From<BuildArgs> for BuildRequest {
    fn from(a: BuildArgs) -> Self {
        BuildRequest {
            path: a.path,
            engine: a.engine.into(),
            platform: a.platform,
            base: a.base,
            tag: a.tag,
            image_version: a.image_version,
            oci_layout: a.oci_layout,
            archive: a.archive,
            load: a.load,
            push: a.push,
            insecure_registry: a.insecure_registry,
            build_arg: a.build_arg,
            target: a.target,
            network: a.network,
            no_cache: a.no_cache,
            write_dockerfile: a.write_dockerfile,
            registry_cacert: a.registry_cacert,
        }
    }
}

impl Reporter for Printer {
    fn note(&self, message: &str) {
        Printer::note(self, message);
    }

    fn warn(&self, message: &str) {
        Printer::warn(self, message);
    }

    fn progress(&self) -> (Progress, Renderer) {
        Printer::progress(self)
    }
}

pub async fn run(args: BuildArgs, printer: &Printer, stop: &Stop) -> anyhow::Result<()> {
    if !args.path.is_dir() {
        return Err(usage!(
            "{} is not a folder: pass the service folder made by `hale new`",
            args.path.display()
        ));
    }
    let settings = settings::resolve(&args.path, Overrides::default(), &settings::process_env)?;
    let request = BuildRequest::from(args);
    let engine = EngineHost::from_env(&settings::process_env)?;
    let plan = request::plan(&request, &settings, engine, &settings::process_env)?;
    let record: BuildRecord = match image::build::run(&plan, printer, stop).await {
        Err(BuildError::Interrupted) => return Err(crate::exit::Interrupted.into()),
        other => other?,
    };
    let image = record.pushed.as_deref().unwrap_or(&record.reference);
    crate::ci::outputs::set(
        &crate::ci::process_env,
        &[("digest", &record.digest), ("image", image)],
    )
    .map_err(|e| anyhow::Error::new(e).context("writing the step outputs to $GITHUB_OUTPUT"))?;
    printer.emit(&record, |out| image::report::write_text(out, &record))?;
    Ok(())
}
