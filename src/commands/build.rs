//! `hale build`: resolve flags, hale.toml and the checkout's commit into image options, build
//! natively (docs/commands/build.md), write the outputs and `.hale/build.json`, report.
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::exit::NotImplemented;
use crate::image::auth::Credentials;
use crate::image::distribution::{check_ca_file, Client, RegistryOptions};
use crate::image::engine::{self, EngineHost};
use crate::image::platform::Platform;
use crate::image::reference::{self, Reference};
use crate::image::{self, BaseSource, BuildRecord, ImageError, NativeOptions, PlatformReport};
use crate::output::Printer;
use crate::settings::{self, Overrides};
use crate::stop::Stop;
use crate::usage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineChoice {
    /// The Docker Engine when one answers, otherwise native.
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
    let out_dir = args.path.join(".hale").join("image");
    let oci_dir = args
        .oci_layout
        .clone()
        .unwrap_or_else(|| out_dir.join("oci"));
    if args.load && args.archive.as_ref().is_some_and(|a| a.is_dir()) {
        return Err(usage!("--archive names a folder: give a file path"));
    }

    let (progress, renderer) = printer.progress();
    let stop = Stop::on_signals();
    let which = match args.engine {
        EngineChoice::Native => "native",
        EngineChoice::Docker => return Err(NotImplemented("build --engine docker").into()),
        EngineChoice::Auto => {
            match engine::ping(&engine_host).await {
                // The engine path is not built yet: say so once, build natively.
                Ok(()) => printer.note(format!(
                    "building natively: the Docker Engine path of `hale build` is not implemented yet (engine at {engine_host} not used)"
                )),
                Err(e) => printer.note(format!("{e}; building natively with the host's Go toolchain")),
            }
            "native"
        }
    };
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

    let sboms = image::write_sboms(&out_dir, &name, &built)?;
    image::layout::write_oci_layout(&oci_dir, &built.store, &built.top, &tags[0])
        .with_context(|| format!("writing the OCI layout {}", oci_dir.display()))?;
    let host = Platform::host();
    let needs_archive = args.archive.is_some() || args.load;
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
    if args.load {
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
        .zip(&sboms)
        .map(|((img, bin), sbom)| PlatformReport {
            platform: img.platform.to_string(),
            digest: img.manifest.digest().to_string(),
            compressed_size: img.compressed_size,
            uncompressed_size: img.uncompressed_size,
            layers: img.layers,
            binary_size: *bin,
            sbom: sbom.display().to_string(),
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
        base: base.to_string(),
        user: built.user.clone(),
        sbom: sboms.iter().map(|p| p.display().to_string()).collect(),
        oci_layout: Some(oci_dir.display().to_string()),
        archive: args.archive.as_ref().map(|p| p.display().to_string()),
        loaded: args.load,
        pushed: push.as_ref().map(|p| p.reference.clone()),
        push,
        created: image::rfc3339(epoch),
        revision,
        version,
    };
    image::write_record(&args.path, &record)?;
    printer.emit(&record, |out| text_report(out, &record))?;
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
