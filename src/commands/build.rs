//! `hale build`: resolve flags, hale.toml and the checkout's commit into image options, build
//! natively or through the Docker Engine (docs/commands/build.md), write the outputs and
//! `.hale/build.json`, report.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::image::auth::Credentials;
use crate::image::distribution::{check_ca_file, Client, RegistryOptions};
use crate::image::engine::{self, EngineHost};
use crate::image::engine_build::{Builder, Engine, EngineBuildError, EngineBuildOptions};
use crate::image::platform::Platform;
use crate::image::reference::{self, Reference};
use crate::image::{self, BaseSource, BuildRecord, ImageError, NativeOptions, PlatformReport};
use crate::output::Printer;
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
    #[arg(long, value_name = "DIR")]
    pub oci_layout: Option<PathBuf>,
    /// Also write a docker-archive tar (what `docker load -i` reads).
    #[arg(long, value_name = "FILE")]
    pub archive: Option<PathBuf>,
    /// Load the image into the Docker Engine at DOCKER_HOST (the host's platform of an index).
    #[arg(long)]
    pub load: bool,
    /// Push the image (and its SBOM as a referrer) to HOST[:PORT]/REPOSITORY[:TAG].
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
    /// A registry (HOST[:PORT]) reached over plain http although it is not on loopback.
    #[arg(long, value_name = "HOST")]
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

/// `--output json` document and `.hale/build.json` (docs/json/build.md).
type BuildDocument = BuildRecord;

/// Facts about the checkout: commit, commit time, exact tag, origin URL.
#[derive(Debug, Default)]
struct Checkout {
    revision: Option<String>,
    commit_time: Option<u64>,
    exact_tag: Option<String>,
    origin: Option<String>,
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn checkout(dir: &Path) -> Checkout {
    Checkout {
        revision: git(dir, &["rev-parse", "HEAD"]),
        commit_time: git(dir, &["log", "-1", "--format=%ct"]).and_then(|t| t.parse().ok()),
        exact_tag: git(dir, &["describe", "--tags", "--exact-match"]),
        origin: git(dir, &["config", "--get", "remote.origin.url"]).map(|u| without_secrets(&u)),
    }
}

/// A remote URL with any user name and password removed: labels are public.
fn without_secrets(remote: &str) -> String {
    match url::Url::parse(remote) {
        Ok(mut u) if u.has_host() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        // scp-like `git@host:path` carries a user name but never a secret.
        _ => remote.to_string(),
    }
}

fn parse_base(base: Option<&str>) -> anyhow::Result<BaseSource> {
    let Some(b) = base else {
        return Ok(BaseSource::Hale);
    };
    let dir = PathBuf::from(b.strip_prefix("oci-layout:").unwrap_or(b));
    if dir.join("oci-layout").is_file() {
        return Ok(BaseSource::Layout(dir));
    }
    if b.starts_with("oci-layout:") {
        return Err(usage!(
            "--base {b}: {} is not an OCI image layout folder (no oci-layout file)",
            dir.display()
        ));
    }
    let r: Reference = b.parse().map_err(|e| usage!("--base: {e}"))?;
    if r.registry.is_none() {
        return Err(usage!(
            "--base {b}: name the registry (e.g. 127.0.0.1:5000/{}) or give an OCI layout folder",
            r.repository
        ));
    }
    Ok(BaseSource::Registry(r))
}

/// Repositories of `registry` that may hold blobs of this build already, to mount them from:
/// the last push recorded in `.hale/build.json`, and the base when it lives there too.
fn mount_sources(service_dir: &Path, registry: &str, base: &BaseSource) -> Vec<String> {
    let mut from = Vec::new();
    let last: Option<BuildRecord> = std::fs::read(service_dir.join(image::BUILD_RECORD))
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

fn epoch(commit_time: Option<u64>) -> anyhow::Result<u64> {
    match settings::process_env("SOURCE_DATE_EPOCH").filter(|v| !v.is_empty()) {
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| usage!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds since 1970")),
        None => Ok(commit_time.unwrap_or(0)),
    }
}

pub async fn run(args: BuildArgs, printer: &Printer) -> anyhow::Result<()> {
    if !args.path.is_dir() {
        return Err(usage!(
            "{} is not a folder: pass the service folder made by `hale new`",
            args.path.display()
        ));
    }
    let settings = settings::resolve(&args.path, Overrides::default(), &settings::process_env)?;
    let name = settings.name.clone().ok_or_else(|| {
        usage!(
            "no service name: {} has no hale.toml with `name` (run `hale build` in a folder made by `hale new`)",
            args.path.display()
        )
    })?;
    let mut platforms = Vec::new();
    for p in &args.platform {
        let p: Platform = p.parse().map_err(|e| usage!("--platform: {e}"))?;
        if !platforms.contains(&p) {
            platforms.push(p);
        }
    }
    if platforms.is_empty() {
        platforms.push(Platform::host());
    }
    let repository = settings.image.repository.clone().unwrap_or(name.clone());
    repository
        .parse::<Reference>()
        .ok()
        .filter(|r| r.tag.is_none() && r.digest.is_none())
        .ok_or_else(|| usage!("hale.toml [image] repository {repository:?} is not an image name (lowercase path, no tag)"))?;
    let facts = checkout(&args.path);
    let version = args
        .image_version
        .clone()
        .or(settings.image.tag.clone())
        .or(facts
            .exact_tag
            .clone()
            .map(|t| t.trim_start_matches('v').to_string()))
        .unwrap_or_else(|| "dev".to_string());
    if !reference::tag_ok(&version) {
        return Err(usage!(
            "version {version:?} is not a valid image tag (letters, digits, `_`, `.`, `-`; at most 128)"
        ));
    }
    let revision = facts
        .revision
        .clone()
        .unwrap_or_else(|| "unknown".to_string());
    let mut tags = vec![format!("{repository}:{version}")];
    if let Some(rev) = &facts.revision {
        tags.push(format!("{repository}:{}", &rev[..rev.len().min(12)]));
    }
    for t in &args.tag {
        let full = if t.contains(':') || t.contains('/') {
            t.clone()
        } else {
            format!("{repository}:{t}")
        };
        let r: Reference = full.parse().map_err(|e| usage!("--tag: {e}"))?;
        if r.tag.is_none() {
            return Err(usage!("--tag {t:?} has no tag part: use NAME:TAG or TAG"));
        }
        if !tags.contains(&full) {
            tags.push(full);
        }
    }
    let push_ref = match &args.push {
        Some(p) => {
            let r: Reference = p.parse().map_err(|e| usage!("--push: {e}"))?;
            if r.registry.is_none() {
                return Err(usage!(
                    "--push {p}: name the registry, e.g. 127.0.0.1:5000/{}",
                    r.repository
                ));
            }
            if r.digest.is_some() {
                return Err(usage!(
                    "--push {p}: push to a tag or a bare repository, not a digest"
                ));
            }
            Some(r)
        }
        None => None,
    };
    let base = parse_base(args.base.as_deref())?;
    let RegistrySetup {
        opts: registry_opts,
        pusher,
        base_credentials,
    } = registry_setup(&args, push_ref.as_ref(), &base).await?;
    let epoch = epoch(facts.commit_time)?;
    let docker_host = settings::process_env("DOCKER_HOST");
    let engine_host = EngineHost::parse(docker_host.as_deref()).map_err(|e| usage!("{e}"))?;
    // Absolute: `go build -o` runs in the service folder, so a relative PATH would land twice.
    let out_dir = std::path::absolute(args.path.join(".hale").join("image"))
        .with_context(|| format!("resolving {}", args.path.display()))?;
    let oci_dir = args
        .oci_layout
        .clone()
        .unwrap_or_else(|| out_dir.join("oci"));
    if args.load && args.archive.as_ref().is_some_and(|a| a.is_dir()) {
        return Err(usage!("--archive names a folder: give a file path"));
    }

    let build_args = parse_build_args(&args.build_arg)?;
    if let Some(t) = &args.target {
        if !stage_name_ok(t) {
            return Err(usage!(
                "--target {t:?} is not a Dockerfile stage name (letters, digits, `_`, `.`, `-`)"
            ));
        }
    }
    if let Some(n) = &args.network {
        if !["default", "none", "host"].contains(&n.as_str()) {
            return Err(usage!("--network {n:?}: give default, none or host"));
        }
    }
    let engine_only_flags =
        !build_args.is_empty() || args.target.is_some() || args.no_cache || args.network.is_some();
    if args.engine == EngineChoice::Native && engine_only_flags {
        return Err(usage!(
            "--build-arg, --target, --network and --no-cache are for the Dockerfile build: use --engine docker (or auto)"
        ));
    }
    if args.engine == EngineChoice::Docker {
        if platforms.len() > 1 {
            return Err(usage!(
                "--engine docker builds one platform (the engine's image store holds one per image): use --engine native for a multi-platform index"
            ));
        }
        if args.base.is_some() {
            return Err(usage!(
                "--base is for the native build: on the engine path the Dockerfile names its base (the generated one takes --build-arg RUNTIME_IMAGE=…)"
            ));
        }
    }
    let dockerfile = args.path.join(image::context::DOCKERFILE);
    if args.write_dockerfile {
        write_dockerfile(&args.path, &name, printer)?;
    } else if args.engine == EngineChoice::Docker && !dockerfile.is_file() {
        return Err(usage!(
            "{} has no Dockerfile: `hale build --write-dockerfile` writes the one `hale new` makes (and a .dockerignore if there is none), or build without one: --engine native",
            args.path.display()
        ));
    }

    let stop = Stop::on_signals();
    // Why `auto` would build natively even with an engine answering.
    let native_reason = if platforms.len() > 1 {
        Some("several platforms make an index".to_string())
    } else if args.base.is_some() {
        Some("--base is for the native build".to_string())
    } else if !dockerfile.is_file() {
        Some(format!("{} has no Dockerfile", args.path.display()))
    } else {
        None
    };
    let engine = pick_engine(args.engine, &engine_host, native_reason, printer).await?;
    if engine.is_none() && engine_only_flags {
        printer.note(
            "--build-arg, --target, --network and --no-cache are not used by the native build",
        );
    }
    let created = image::rfc3339(epoch);
    let (which, built) = match &engine {
        Some((engine, builder)) => {
            let mut all_args = BTreeMap::from([
                ("VERSION".to_string(), version.clone()),
                ("REVISION".to_string(), revision.clone()),
                ("CREATED".to_string(), created.clone()),
                ("SOURCE_DATE_EPOCH".to_string(), epoch.to_string()),
            ]);
            if let Some(src) = &facts.origin {
                all_args.insert("SOURCE".to_string(), src.clone());
            }
            let mut secrets = Vec::new();
            for (k, v) in &build_args {
                if looks_secret(k) {
                    printer.warn(format!(
                        "build arg {k} looks like a secret: build args stay in the image's history; use a BuildKit secret mount (RUN --mount=type=secret) instead. Its value is never shown"
                    ));
                    secrets.push(v.clone());
                }
                all_args.insert(k.clone(), v.clone());
            }
            let context = image::context::build(&args.path, epoch)
                .map_err(|e| match e {
                    image::context::ContextError::Pattern(p) => {
                        usage!("{}: {p}", args.path.display())
                    }
                    other => anyhow::Error::new(other),
                })
                .with_context(|| format!("packing the build context of {}", args.path.display()))?;
            let opts = EngineBuildOptions {
                context: context.tar,
                tags: tags.clone(),
                build_args: all_args,
                labels: image::oci_labels(
                    &name,
                    &version,
                    &revision,
                    facts.origin.as_deref(),
                    &created,
                ),
                platform: args.platform.first().map(|_| platforms[0].clone()),
                target: args.target.clone(),
                no_cache: args.no_cache,
                network: args.network.clone(),
                secrets,
            };
            let (progress, renderer) = printer.progress();
            let result = engine.build(&opts, *builder, &progress, &stop).await;
            drop(progress);
            renderer.finish().await;
            let exported = match result {
                Ok(_) => {
                    engine
                        .export(
                            &tags[0],
                            &out_dir.join("bin"),
                            Some((name.as_str(), version.as_str(), created.as_str())),
                            &stop,
                        )
                        .await
                }
                Err(e) => Err(e),
            };
            let built = match exported {
                Ok(b) => b,
                Err(EngineBuildError::Interrupted) => {
                    engine.untag(tags.iter().map(String::as_str)).await;
                    return Err(crate::exit::Interrupted.into());
                }
                Err(e @ EngineBuildError::Export(_)) => {
                    engine.untag(tags.iter().map(String::as_str)).await;
                    return Err(anyhow::Error::new(e).context(format!("building {name}")));
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e).context(format!(
                        "building {name} through the Docker Engine at {engine_host}"
                    )))
                }
            };
            ("docker", built)
        }
        None => {
            let opts = NativeOptions {
                dir: args.path.clone(),
                name: name.clone(),
                package: format!("./cmd/{name}"),
                platforms: platforms.clone(),
                version: version.clone(),
                revision: revision.clone(),
                source: facts.origin.clone(),
                epoch,
                port: settings.port,
                base: base.clone(),
                registry: registry_opts.clone(),
                base_credentials,
                work_dir: out_dir.join("bin"),
            };
            let (progress, renderer) = printer.progress();
            let built = image::build_native(&opts, &progress, &stop).await;
            drop(progress);
            renderer.finish().await;
            let built = match built {
                Err(ImageError::Interrupted) => return Err(crate::exit::Interrupted.into()),
                Err(ImageError::NoGo) => {
                    let engine_state = match engine::ping(&engine_host).await {
                        Ok(()) => "",
                        Err(_) => " and no Docker Engine answers",
                    };
                    anyhow::bail!("cannot build {name}: no Go toolchain (`go` is not on PATH){engine_state}; install Go or start a Docker Engine")
                }
                other => other.with_context(|| format!("building {name}"))?,
            };
            ("native", built)
        }
    };
    let on_engine = engine.is_some();

    let sboms = image::write_sboms(&out_dir, &name, &built)?;
    image::layout::write_oci_layout(&oci_dir, &built.store, &built.top, &tags[0])
        .with_context(|| format!("writing the OCI layout {}", oci_dir.display()))?;
    let host = Platform::host();
    let needs_archive = args.archive.is_some() || (args.load && !on_engine);
    let archive = if needs_archive {
        let img = built.for_host(&host).ok_or_else(|| {
            usage!(
                "--archive/--load need an image for this machine ({host}): add --platform {host}"
            )
        })?;
        Some(image::layout::docker_archive(
            &built.store,
            &img.manifest,
            &tags,
        )?)
    } else {
        None
    };
    if let (Some(path), Some(data)) = (&args.archive, &archive) {
        image::layout::write_atomic(path, data)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.load && !on_engine {
        if let Some(data) = archive {
            engine::load(&engine_host, data)
                .await
                .with_context(|| format!("loading {} into the Docker Engine", tags[0]))?;
        }
    }

    let push = match (&push_ref, pusher) {
        (Some(r), Some(mut pusher)) => {
            Some(push_image(r, &mut pusher, &built, &sboms, printer, &stop).await?)
        }
        _ => None,
    };

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
    let record = BuildDocument {
        schema: image::BUILD_SCHEMA.to_string(),
        reference: tags[0].clone(),
        digest: built.top.digest().to_string(),
        tags: tags.clone(),
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
            base.to_string()
        },
        user: built.user.clone(),
        sbom: sboms.iter().map(|p| p.display().to_string()).collect(),
        oci_layout: Some(oci_dir.display().to_string()),
        archive: args.archive.as_ref().map(|p| p.display().to_string()),
        loaded: args.load || on_engine,
        pushed: push.as_ref().map(|p| p.reference.clone()),
        push,
        created,
        revision,
        version,
    };
    image::write_record(&args.path, &record)?;
    let image = record.pushed.as_deref().unwrap_or(&record.reference);
    crate::ci::outputs::set(
        &crate::ci::process_env,
        &[("digest", &record.digest), ("image", image)],
    )
    .context("writing the step outputs to $GITHUB_OUTPUT")?;
    printer.emit(&record, |out| text_report(out, &record))?;
    Ok(())
}

/// The engine to build with, or None for native; every fallback said in one line.
async fn pick_engine(
    choice: EngineChoice,
    host: &EngineHost,
    native_reason: Option<String>,
    printer: &Printer,
) -> anyhow::Result<Option<(Engine, Builder)>> {
    let native = |why: String| {
        printer.note(format!(
            "{why}; building natively with the host's Go toolchain"
        ));
        None
    };
    match choice {
        EngineChoice::Native => Ok(None),
        EngineChoice::Docker => {
            let engine = Engine::connect(host).await?;
            let builder = engine.builder().await?;
            if builder == Builder::Classic {
                printer.note(format!(
                    "the Docker Engine at {host} has no BuildKit: building with its classic builder (cache mounts and --platform need BuildKit)"
                ));
            }
            Ok(Some((engine, builder)))
        }
        EngineChoice::Auto => {
            if let Some(why) = native_reason {
                return Ok(native(why));
            }
            let engine = match Engine::connect(host).await {
                Ok(e) => e,
                Err(e) => return Ok(native(e.to_string())),
            };
            Ok(match engine.builder().await {
                Ok(Builder::BuildKit) => {
                    printer.note(format!(
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

/// `--build-arg KEY=VALUE` values, checked: the key is a Dockerfile ARG name.
fn parse_build_args(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for a in raw {
        let Some((k, v)) = a.split_once('=') else {
            return Err(usage!(
                "--build-arg {:?} has no `=`: give KEY=VALUE",
                a.chars().take(40).collect::<String>()
            ));
        };
        let key_ok = k
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !key_ok {
            // The key only: the value may be a secret.
            return Err(usage!(
                "--build-arg {k:?}=…: the name must be letters, digits and `_`, not starting with a digit"
            ));
        }
        if v.contains('\n') || v.contains('\0') {
            return Err(usage!("--build-arg {k}: the value holds a newline or NUL"));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// A Dockerfile stage name (`AS name`).
fn stage_name_ok(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Does a build arg's name say it holds a secret? Its value is then never shown.
fn looks_secret(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "PASS",
        "KEY",
        "CREDENTIAL",
        "AUTH",
        "PRIVATE",
        "CERT",
    ]
    .iter()
    .any(|w| k.contains(w))
}

/// `--write-dockerfile`: the Dockerfile `hale new` makes (and its .dockerignore when the folder
/// has none), rendered from the embedded templates. Never overwrites a Dockerfile.
fn write_dockerfile(dir: &Path, name: &str, printer: &Printer) -> anyhow::Result<()> {
    let target = dir.join(image::context::DOCKERFILE);
    if target.exists() {
        return Err(usage!(
            "{} already exists: --write-dockerfile never overwrites (remove it first, or drop the flag)",
            target.display()
        ));
    }
    crate::scaffold::validate_name(name).map_err(|e| usage!("hale.toml name: {e}"))?;
    let plan = crate::scaffold::plan(&crate::scaffold::NewOptions {
        name: name.to_string(),
        module: None,
        dir: None,
        force: false,
        templates: None,
        ci: crate::scaffold::CiSystem::None,
    })?;
    let file = |wanted: &str| {
        plan.files
            .iter()
            .find(|f| f.path == Path::new(wanted))
            .map(|f| f.contents.clone())
    };
    let ignore = dir.join(image::context::DOCKERIGNORE);
    if !ignore.exists() {
        if let Some(data) = file(image::context::DOCKERIGNORE) {
            image::layout::write_atomic(&ignore, &data)?;
            printer.note(format!(
                "wrote {} (an allowlist: go.mod, go.sum, cmd/, internal/, pkg/, vendor/)",
                ignore.display()
            ));
        }
    }
    let data = file(image::context::DOCKERFILE)
        .ok_or_else(|| anyhow::anyhow!("the built-in templates hold no Dockerfile"))?;
    image::layout::write_atomic(&target, &data)?;
    printer.note(format!(
        "wrote {} (hale new's multi-stage Dockerfile for {name})",
        target.display()
    ));
    Ok(())
}

/// The Docker config folder: DOCKER_CONFIG, else ~/.docker.
fn docker_config_dir() -> PathBuf {
    settings::process_env("DOCKER_CONFIG")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| settings::process_env("HOME").map(|h| PathBuf::from(h).join(".docker")))
        .unwrap_or_else(|| PathBuf::from(".docker"))
}

/// What `--push` and a registry `--base` need, resolved before building.
struct RegistrySetup {
    opts: RegistryOptions,
    /// Connected to the `--push` registry already: an unreachable or untrusted one fails fast.
    pusher: Option<image::push::Pusher>,
    base_credentials: Option<Credentials>,
}

async fn registry_setup(
    args: &BuildArgs,
    push_ref: Option<&Reference>,
    base: &BaseSource,
) -> anyhow::Result<RegistrySetup> {
    if let Some(ca) = &args.registry_cacert {
        check_ca_file(ca).map_err(|e| usage!("--registry-cacert {e}"))?;
    }
    let opts = RegistryOptions {
        insecure: args.insecure_registry.clone(),
        cacert: args.registry_cacert.clone(),
        certs_dirs: RegistryOptions::docker_certs_dirs(
            settings::process_env("HOME").as_deref(),
            settings::process_env("XDG_CONFIG_HOME").as_deref(),
        ),
    };
    let pusher = match push_ref {
        Some(r) => {
            let host = r.registry.clone().unwrap_or_default();
            let creds = image::auth::lookup(&docker_config_dir(), &host)?;
            let client = Client::connect(r, &opts, creds)
                .await
                .with_context(|| format!("pushing to {r}"))?;
            let from = mount_sources(&args.path, &host, base);
            Some(image::push::Pusher::new(client, from))
        }
        None => None,
    };
    let base_credentials = match base {
        BaseSource::Registry(r) => image::auth::lookup(
            &docker_config_dir(),
            r.registry.as_deref().unwrap_or_default(),
        )?,
        _ => None,
    };
    Ok(RegistrySetup {
        opts,
        pusher,
        base_credentials,
    })
}

async fn push_image(
    reference: &Reference,
    pusher: &mut image::push::Pusher,
    built: &image::NativeImage,
    sboms: &[PathBuf],
    printer: &Printer,
    stop: &Stop,
) -> anyhow::Result<image::push::PushReport> {
    let mut attached = Vec::new();
    for (img, path) in built.images.iter().zip(sboms) {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let mut subject = img.manifest.clone();
        subject.set_platform(None);
        attached.push((subject, data));
    }
    let (progress, renderer) = printer.progress();
    let result = image::push::push(
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
        Err(image::push::PushError::Interrupted) => Err(crate::exit::Interrupted.into()),
        other => Ok(other.with_context(|| format!("pushing to {reference}"))?),
    }
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.1} KiB", b / 1024.0)
    }
}

fn text_report(out: &mut dyn std::io::Write, r: &BuildRecord) -> std::io::Result<()> {
    let plats: Vec<&str> = r.platforms.iter().map(|p| p.platform.as_str()).collect();
    writeln!(
        out,
        "Built {} ({}, {})",
        r.reference,
        r.engine,
        plats.join(", ")
    )?;
    writeln!(out, "  digest      {}", r.digest)?;
    for p in &r.platforms {
        writeln!(
            out,
            "  {:<11} {} compressed, {} uncompressed, {} layers, binary {}",
            p.platform,
            human(p.compressed_size),
            human(p.uncompressed_size),
            p.layers,
            human(p.binary_size)
        )?;
    }
    writeln!(out, "  tags        {}", r.tags.join(", "))?;
    writeln!(out, "  base        {}", r.base)?;
    writeln!(out, "  user        {}", r.user)?;
    writeln!(out, "  sbom        {}", r.sbom.join(", "))?;
    if let Some(l) = &r.oci_layout {
        writeln!(out, "  oci layout  {l}")?;
    }
    if let Some(a) = &r.archive {
        writeln!(out, "  archive     {a}")?;
    }
    if let Some(p) = &r.push {
        writeln!(
            out,
            "  pushed      {} ({} blobs uploaded, {}; {} mounted; {} already there)",
            p.reference,
            p.uploaded_blobs,
            human(p.uploaded_bytes),
            p.mounted_blobs,
            p.existing_blobs
        )?;
    }
    if r.loaded {
        writeln!(
            out,
            "  loaded      into the Docker Engine as {}",
            r.tags.join(", ")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_lose_their_credentials() {
        assert_eq!(
            without_secrets("https://user:tok@git.example/acme/o.git"),
            "https://git.example/acme/o.git"
        );
        assert_eq!(
            without_secrets("git@git.example:acme/o.git"),
            "git@git.example:acme/o.git"
        );
    }
}
