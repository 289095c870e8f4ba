//! `hale build` from a checked [`BuildPlan`]: pick the engine or the native path, build, write
//! the SBOMs, the OCI layout, `--archive`, `--load`, `--push`, and `.hale/build.json`; the
//! [`BuildRecord`] is the command's result. Notes and progress go to a [`Reporter`] (the
//! command's printer); nothing here prints.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::auth::Keychain;
use super::context::ContextError;
use super::distribution::{Client, RegistryError};
use super::engine_build::{Builder, Engine, EngineBuildError, EngineBuildOptions};
use super::platform::Platform;
use super::push::{PushError, PushReport, Pusher};
use super::reference::Reference;
use super::request::{looks_secret, BuildPlan, EngineChoice};
use super::{BaseSource, BuildRecord, ImageError, NativeImage, NativeOptions, PlatformReport};
use crate::engine::{EngineError, EngineHost};
use crate::progress::{Progress, Renderer};
use crate::stop::Stop;

/// Why a build failed; [`BuildError::is_bad_input`] says which are the user's to fix.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    BadInput(String),
    #[error("interrupted")]
    Interrupted,
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build {name}: no Go toolchain (`go` is not on PATH){engine_state}; install Go or start a Docker Engine")]
    NoGo {
        name: String,
        engine_state: &'static str,
    },
    #[error("building {name}")]
    Native {
        name: String,
        #[source]
        source: Box<ImageError>,
    },
    #[error("packing the build context of {}", dir.display())]
    Context {
        dir: PathBuf,
        #[source]
        source: ContextError,
    },
    #[error("building {name}")]
    EngineExport {
        name: String,
        #[source]
        source: Box<EngineBuildError>,
    },
    #[error("building {name} through the Docker Engine at {host}")]
    EngineBuild {
        name: String,
        host: String,
        #[source]
        source: Box<EngineBuildError>,
    },
    #[error(transparent)]
    Engine(Box<EngineBuildError>),
    #[error("writing the OCI layout {}", dir.display())]
    Layout {
        dir: PathBuf,
        #[source]
        source: Box<ImageError>,
    },
    #[error("writing {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: Box<ImageError>,
    },
    #[error("loading {tag} into the Docker Engine")]
    Load {
        tag: String,
        #[source]
        source: EngineError,
    },
    #[error("pushing to {reference}")]
    Connect {
        reference: String,
        #[source]
        source: RegistryError,
    },
    #[error("pushing to {reference}")]
    Push {
        reference: String,
        #[source]
        source: PushError,
    },
    #[error(transparent)]
    Image(Box<ImageError>),
    #[error("the built-in templates hold no Dockerfile")]
    NoDockerfileTemplate,
    #[error(transparent)]
    Scaffold(#[from] crate::scaffold::ScaffoldError),
}

impl BuildError {
    /// Whether the user can fix it by changing what they asked for (exit 2).
    pub fn is_bad_input(&self) -> bool {
        match self {
            BuildError::BadInput(_) => true,
            BuildError::Scaffold(e) => e.is_bad_input(),
            _ => false,
        }
    }
}

impl From<ImageError> for BuildError {
    fn from(e: ImageError) -> Self {
        BuildError::Image(Box::new(e))
    }
}

impl From<EngineBuildError> for BuildError {
    fn from(e: EngineBuildError) -> Self {
        BuildError::Engine(Box::new(e))
    }
}

/// Where a build's notes, warnings and progress go.
pub trait Reporter {
    /// A plain note (silent under `-q` and JSON).
    fn note(&self, message: &str);
    /// A warning (shown in every mode but `-q`).
    fn warn(&self, message: &str);
    /// Start a progress display for one phase (the build, the push).
    fn progress(&self) -> (Progress, Renderer);
}

/// Build as `plan` says; the record is written to `.hale/build.json` and returned.
pub async fn run(
    plan: &BuildPlan,
    out: &dyn Reporter,
    stop: &Stop,
) -> Result<BuildRecord, BuildError> {
    let keychain = Keychain::new(plan.docker_config.clone());
    let mut pusher = tokio::select! {
        pusher = registry_setup(plan, &keychain) => pusher?,
        _ = stop.stopped() => return Err(BuildError::Interrupted),
    };
    if plan.write_dockerfile {
        write_dockerfile(&plan.dir, &plan.name, out)?;
    }
    let engine = pick_engine(plan, out).await?;
    if engine.is_none() && plan.engine_only_flags() {
        out.note(
            "--build-arg, --target, --network and --no-cache are not used by the native build",
        );
    }
    let created = super::rfc3339(plan.epoch);
    let (which, built) = match &engine {
        Some((engine, builder)) => (
            "docker",
            engine_build(plan, engine, *builder, &created, out, stop).await?,
        ),
        None => ("native", native_build(plan, keychain, out, stop).await?),
    };
    let on_engine = engine.is_some();
    // A stop that came after the last step that watches it: nothing more is written.
    if stop.is_stopped() {
        return Err(BuildError::Interrupted);
    }
    let sboms = super::write_sboms(&plan.out_dir, &plan.name, &built)?;
    super::layout::write_oci_layout(&plan.oci_dir, &built.store, &built.top, &plan.tags[0])
        .map_err(|source| BuildError::Layout {
            dir: plan.oci_dir.clone(),
            source: Box::new(source),
        })?;
    write_archive_and_load(plan, &built, on_engine, stop).await?;
    let push = match (&plan.push, pusher.as_mut()) {
        (Some(r), Some(pusher)) => Some(push(r, pusher, &built, &sboms, out, stop).await?),
        _ => None,
    };
    if stop.is_stopped() {
        return Err(BuildError::Interrupted);
    }
    let record = record(plan, &built, &sboms, which, push, created);
    super::write_record(&plan.dir, &record)?;
    Ok(record)
}

/// The engine to build with, or None for native; every fallback said in one line.
async fn pick_engine(
    plan: &BuildPlan,
    out: &dyn Reporter,
) -> Result<Option<(Engine, Builder)>, BuildError> {
    let host = &plan.engine_host;
    let native = |why: String| {
        out.note(&format!(
            "{why}; building natively with the host's Go toolchain"
        ));
        None
    };
    match plan.engine {
        EngineChoice::Native => Ok(None),
        EngineChoice::Docker => {
            let engine = Engine::connect(host).await?;
            let builder = engine.builder().await?;
            if builder == Builder::Classic {
                out.note(&format!(
                    "the Docker Engine at {host} has no BuildKit: building with its classic builder (cache mounts and --platform need BuildKit)"
                ));
            }
            Ok(Some((engine, builder)))
        }
        EngineChoice::Auto => {
            // Why `auto` would build natively even with an engine answering.
            if plan.platforms.len() > 1 {
                return Ok(native("several platforms make an index".to_string()));
            } else if plan.base_given {
                return Ok(native("--base is for the native build".to_string()));
            } else if !plan.dockerfile().is_file() {
                return Ok(native(format!("{} has no Dockerfile", plan.dir.display())));
            }
            let engine = match Engine::connect(host).await {
                Ok(e) => e,
                Err(e) => return Ok(native(e.to_string())),
            };
            Ok(match engine.builder().await {
                Ok(Builder::BuildKit) => {
                    out.note(&format!(
                        "building with BuildKit through the Docker Engine at {host}"
                    ));
                    Some((engine, Builder::BuildKit))
                }
                Ok(Builder::Classic) => {
                    native(format!("the Docker Engine at {host} has no BuildKit"))
                }
                Err(e) => native(e.to_string()),
            })
        }
    }
}

/// The Dockerfile build, read back as an image; its tags are removed again when interrupted.
async fn engine_build(
    plan: &BuildPlan,
    engine: &Engine,
    builder: Builder,
    created: &str,
    out: &dyn Reporter,
    stop: &Stop,
) -> Result<NativeImage, BuildError> {
    let (name, version) = (&plan.name, &plan.version);
    let mut all_args = BTreeMap::from([
        ("VERSION".to_string(), version.clone()),
        ("REVISION".to_string(), plan.revision.clone()),
        ("CREATED".to_string(), created.to_string()),
        ("SOURCE_DATE_EPOCH".to_string(), plan.epoch.to_string()),
    ]);
    if let Some(src) = &plan.facts.origin {
        all_args.insert("SOURCE".to_string(), src.clone());
    }
    let mut secrets = Vec::new();
    for (k, v) in &plan.build_args {
        if looks_secret(k) {
            out.warn(&format!(
                "build arg {k} looks like a secret: build args stay in the image's history; use a BuildKit secret mount (RUN --mount=type=secret) instead. Its value is never shown"
            ));
            secrets.push(v.clone());
        }
        all_args.insert(k.clone(), v.clone());
    }
    let context = super::context::build(&plan.dir, plan.epoch).map_err(|e| match e {
        ContextError::Pattern(p) => BuildError::BadInput(format!("{}: {p}", plan.dir.display())),
        source => BuildError::Context {
            dir: plan.dir.clone(),
            source,
        },
    })?;
    let opts = EngineBuildOptions {
        context: context.tar,
        tags: plan.tags.clone(),
        build_args: all_args,
        labels: super::oci_labels(
            name,
            version,
            &plan.revision,
            plan.facts.origin.as_deref(),
            created,
        ),
        platform: plan.platform_given.then(|| plan.platforms[0].clone()),
        target: plan.target.clone(),
        no_cache: plan.no_cache,
        network: plan.network.clone(),
        secrets,
    };
    let (progress, renderer) = out.progress();
    let result = engine.build(&opts, builder, &progress, stop).await;
    drop(progress);
    renderer.finish().await;
    let exported = match result {
        Ok(_) => {
            let sbom_for = Some((name.as_str(), version.as_str(), created));
            let work = plan.out_dir.join("bin");
            engine.export(&plan.tags[0], &work, sbom_for, stop).await
        }
        Err(e) => Err(e),
    };
    match exported {
        Ok(b) => Ok(b),
        Err(EngineBuildError::Interrupted) => {
            engine.untag(plan.tags.iter().map(String::as_str)).await;
            Err(BuildError::Interrupted)
        }
        Err(source @ EngineBuildError::Export(_)) => {
            engine.untag(plan.tags.iter().map(String::as_str)).await;
            Err(BuildError::EngineExport {
                name: name.clone(),
                source: Box::new(source),
            })
        }
        Err(source) => Err(BuildError::EngineBuild {
            name: name.clone(),
            host: plan.engine_host.to_string(),
            source: Box::new(source),
        }),
    }
}

async fn native_build(
    plan: &BuildPlan,
    keychain: Keychain,
    out: &dyn Reporter,
    stop: &Stop,
) -> Result<NativeImage, BuildError> {
    let opts = NativeOptions {
        dir: plan.dir.clone(),
        name: plan.name.clone(),
        package: format!("./cmd/{}", plan.name),
        platforms: plan.platforms.clone(),
        version: plan.version.clone(),
        revision: plan.revision.clone(),
        source: plan.facts.origin.clone(),
        epoch: plan.epoch,
        port: plan.port,
        base: plan.base.clone(),
        registry: plan.registry.clone(),
        keychain,
        work_dir: plan.out_dir.join("bin"),
    };
    let (progress, renderer) = out.progress();
    let built = super::build_native(&opts, &progress, stop).await;
    drop(progress);
    renderer.finish().await;
    match built {
        Ok(b) => Ok(b),
        Err(ImageError::Interrupted) => Err(BuildError::Interrupted),
        Err(ImageError::NoGo) => {
            let engine_state = match crate::engine::ping(&plan.engine_host).await {
                Ok(()) => "",
                Err(_) => " and no Docker Engine answers",
            };
            Err(BuildError::NoGo {
                name: plan.name.clone(),
                engine_state,
            })
        }
        Err(source) => Err(BuildError::Native {
            name: plan.name.clone(),
            source: Box::new(source),
        }),
    }
}

/// `--archive` (written atomically) and a native image's `--load`.
async fn write_archive_and_load(
    plan: &BuildPlan,
    built: &NativeImage,
    on_engine: bool,
    stop: &Stop,
) -> Result<(), BuildError> {
    if plan.archive.is_none() && (on_engine || !plan.load) {
        return Ok(());
    }
    let host = Platform::host();
    let img = built.for_host(&host).ok_or_else(|| {
        BuildError::BadInput(format!(
            "--archive/--load need an image for this machine ({host}): add --platform {host}"
        ))
    })?;
    let data = super::layout::docker_archive(&built.store, &img.manifest, &plan.tags)?;
    if let Some(path) = &plan.archive {
        super::layout::write_atomic(path, &data).map_err(|source| BuildError::Write {
            path: path.clone(),
            source: Box::new(source),
        })?;
    }
    if plan.load && !on_engine {
        // Dropping the upload on a stop closes the connection: the engine abandons the load.
        tokio::select! {
            loaded = load(&plan.engine_host, data, &plan.tags[0]) => loaded?,
            _ = stop.stopped() => return Err(BuildError::Interrupted),
        }
    }
    Ok(())
}

async fn load(host: &EngineHost, data: Vec<u8>, tag: &str) -> Result<(), BuildError> {
    crate::engine::load(host, data)
        .await
        .map_err(|source| BuildError::Load {
            tag: tag.to_string(),
            source,
        })
}

/// The `--push` registry, connected before anything is built: an unreachable or untrusted one
/// fails fast.
async fn registry_setup(
    plan: &BuildPlan,
    keychain: &Keychain,
) -> Result<Option<Pusher>, BuildError> {
    let Some(r) = &plan.push else {
        return Ok(None);
    };
    let host = r.registry.clone().unwrap_or_default();
    let client = Client::connect(r, &plan.registry, keychain.clone())
        .await
        .map_err(|source| BuildError::Connect {
            reference: r.to_string(),
            source,
        })?;
    let from = mount_sources(&plan.dir, &host, &plan.base);
    Ok(Some(Pusher::new(client, from)))
}

/// Repositories of `registry` that may hold blobs of this build already, to mount them from:
/// the last push recorded in `.hale/build.json`, and the base when it lives there too.
fn mount_sources(service_dir: &Path, registry: &str, base: &BaseSource) -> Vec<String> {
    let mut from = Vec::new();
    let last: Option<BuildRecord> = std::fs::read(service_dir.join(super::BUILD_RECORD))
        .ok()
        .and_then(|t| serde_json::from_slice(&t).ok());
    if let Some(r) = last
        .and_then(|r| r.pushed)
        .and_then(|p| p.parse::<Reference>().ok())
    {
        if r.registry.as_deref() == Some(registry) {
            from.push(r.repository);
        }
    }
    if let BaseSource::Registry(r) = base {
        if r.registry.as_deref() == Some(registry) && !from.contains(&r.repository) {
            from.push(r.repository.clone());
        }
    }
    from
}

/// Push the image and each platform's SBOM as its referrer.
async fn push(
    reference: &Reference,
    pusher: &mut Pusher,
    built: &NativeImage,
    sboms: &[PathBuf],
    out: &dyn Reporter,
    stop: &Stop,
) -> Result<PushReport, BuildError> {
    let mut attached = Vec::new();
    for (img, path) in built.images.iter().zip(sboms) {
        let data = std::fs::read(path).map_err(|source| BuildError::Io {
            action: "reading",
            path: path.clone(),
            source,
        })?;
        let mut subject = img.manifest.clone();
        subject.set_platform(None);
        attached.push((subject, data));
    }
    let (progress, renderer) = out.progress();
    let result = super::push::push(
        pusher,
        reference,
        &built.store,
        &built.top,
        &attached,
        &progress,
        stop,
    )
    .await;
    drop(progress);
    renderer.finish().await;
    match result {
        Err(PushError::Interrupted) => Err(BuildError::Interrupted),
        other => other.map_err(|source| BuildError::Push {
            reference: reference.to_string(),
            source,
        }),
    }
}

fn record(
    plan: &BuildPlan,
    built: &NativeImage,
    sboms: &[PathBuf],
    which: &str,
    push: Option<PushReport>,
    created: String,
) -> BuildRecord {
    let on_engine = which == "docker";
    let platforms: Vec<PlatformReport> = built
        .images
        .iter()
        .zip(&built.binary_sizes)
        .enumerate()
        .map(|(i, (img, bin))| PlatformReport {
            platform: img.platform.to_string(),
            digest: img.manifest.digest().to_string(),
            compressed_size: img.compressed_size,
            uncompressed_size: img.uncompressed_size,
            layers: img.layers,
            binary_size: *bin,
            sbom: sboms
                .get(i)
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        })
        .collect();
    BuildRecord {
        schema: super::BUILD_SCHEMA.to_string(),
        reference: plan.tags[0].clone(),
        digest: built.top.digest().to_string(),
        tags: plan.tags.clone(),
        engine: which.to_string(),
        compressed_size: platforms
            .iter()
            .map(|p| p.compressed_size)
            .max()
            .unwrap_or(0),
        uncompressed_size: platforms
            .iter()
            .map(|p| p.uncompressed_size)
            .max()
            .unwrap_or(0),
        layers: platforms.first().map(|p| p.layers).unwrap_or(0),
        platforms,
        base: if on_engine {
            "Dockerfile".to_string()
        } else {
            plan.base.to_string()
        },
        user: built.user.clone(),
        sbom: sboms.iter().map(|p| p.display().to_string()).collect(),
        oci_layout: Some(plan.oci_dir.display().to_string()),
        archive: plan.archive.as_ref().map(|p| p.display().to_string()),
        loaded: plan.load || on_engine,
        pushed: push.as_ref().map(|p| p.reference.clone()),
        push,
        created,
        revision: plan.revision.clone(),
        version: plan.version.clone(),
    }
}

/// `--write-dockerfile`: the Dockerfile `hale new` makes (and its .dockerignore when the folder
/// has none), rendered from the embedded templates. Never overwrites a Dockerfile.
fn write_dockerfile(dir: &Path, name: &str, out: &dyn Reporter) -> Result<(), BuildError> {
    let target = dir.join(super::context::DOCKERFILE);
    if target.exists() {
        return Err(BuildError::BadInput(format!(
            "{} already exists: --write-dockerfile never overwrites (remove it first, or drop the flag)",
            target.display()
        )));
    }
    crate::scaffold::validate_name(name)
        .map_err(|e| BuildError::BadInput(format!("hale.toml name: {e}")))?;
    let plan = crate::scaffold::plan(&crate::scaffold::NewOptions {
        name: name.to_string(),
        module: None,
        dir: None,
        force: false,
        templates: None,
        ci: crate::scaffold::CiSystem::None,
        hale_action: None,
        grpc: false,
    })?;
    let file = |wanted: &str| {
        plan.files
            .iter()
            .find(|f| f.path == Path::new(wanted))
            .map(|f| f.contents.clone())
    };
    let ignore = dir.join(super::context::DOCKERIGNORE);
    if !ignore.exists() {
        if let Some(data) = file(super::context::DOCKERIGNORE) {
            super::layout::write_atomic(&ignore, &data)?;
            out.note(&format!(
                "wrote {} (an allowlist: go.mod, go.sum, cmd/, internal/, pkg/, vendor/)",
                ignore.display()
            ));
        }
    }
    let data = file(super::context::DOCKERFILE).ok_or(BuildError::NoDockerfileTemplate)?;
    super::layout::write_atomic(&target, &data)?;
    out.note(&format!(
        "wrote {} (hale new's multi-stage Dockerfile for {name})",
        target.display()
    ));
    Ok(())
}
