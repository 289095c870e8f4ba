//! Container images of Go services. The native path builds without any daemon, as ko does: the
//! host's Go toolchain cross-compiles a static binary per platform, and the OCI image is
//! assembled here, reproducibly (hand-made tar headers, fixed gzip, sorted JSON), on hale's own
//! base layer or a base read from an OCI layout. Outputs: an OCI layout folder, a
//! docker-archive, an SPDX SBOM per platform, and a load into a Docker Engine.
pub mod auth;
pub mod base;
pub mod build;
pub mod context;
pub mod distribution;
pub mod dockerignore;
pub mod engine_build;
pub mod gobuild;
pub mod layer;
pub mod layout;
pub mod oci;
pub mod platform;
pub mod pull;
pub mod push;
pub mod reference;
pub mod report;
pub mod request;
pub mod sbom;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use oci_spec::image::Descriptor;
use serde::{Deserialize, Serialize};

use crate::progress::Progress;
use crate::stop::Stop;
use layer::Entry;
use oci::{BlobStore, LayerRef, PlatformImage, RunConfig};
use platform::Platform;

/// Where the binary sits in every native image.
pub const APP_DIR: &str = "/app";

/// What went wrong while building an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("no Go toolchain: `go` is not on PATH (install Go, or build through a Docker Engine)")]
    NoGo,
    #[error("go build for {platform} failed:\n{output}")]
    GoBuild { platform: String, output: String },
    #[error("go version -m failed: {0}")]
    GoVersion(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not an OCI image layout (no oci-layout file) and not empty", .0.display())]
    NotALayout(PathBuf),
    #[error("base image {base}: {reason}")]
    Base { base: String, reason: String },
    #[error("base image {base}: {cause}")]
    BasePull {
        base: String,
        cause: pull::PullError,
    },
    #[error("blob {0} is missing from the image being built")]
    MissingBlob(String),
    #[error("layer: {0}")]
    Layer(String),
    #[error("image JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("OCI document: {0}")]
    Spec(#[from] oci_spec::OciSpecError),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error("interrupted")]
    Interrupted,
}

/// The base of a native image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseSource {
    /// hale's own static base layer (CA certificates, passwd/group, /tmp).
    Hale,
    /// An OCI image layout folder.
    Layout(PathBuf),
    /// An image in a registry.
    Registry(reference::Reference),
}

impl std::fmt::Display for BaseSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BaseSource::Hale => f.write_str("hale-static"),
            BaseSource::Layout(p) => write!(f, "oci-layout:{}", p.display()),
            BaseSource::Registry(r) => write!(f, "{r}"),
        }
    }
}

/// Everything a native build needs, resolved by the command layer.
#[derive(Debug, Clone)]
pub struct NativeOptions {
    /// The Go module folder.
    pub dir: PathBuf,
    /// The service name (binary name, `./cmd/<name>`).
    pub name: String,
    /// The main package to build.
    pub package: String,
    pub platforms: Vec<Platform>,
    pub version: String,
    pub revision: String,
    /// The source repository URL for the `org.opencontainers.image.source` label.
    pub source: Option<String>,
    /// Seconds since the epoch: image `created`, every tar mtime, SBOM creation time.
    pub epoch: u64,
    /// The port the service listens on (ExposedPorts, PORT).
    pub port: u16,
    pub base: BaseSource,
    /// How registries are reached (a `--base` from a registry).
    pub registry: distribution::RegistryOptions,
    /// The Docker config's credentials (for a base in a registry).
    pub keychain: auth::Keychain,
    /// hale's build cache (`.hale/image/bin`): the last binary per platform, so `go build` of
    /// unchanged sources skips the link, and the compressed binary layers (`layers/`, by the
    /// digest of their tar).
    pub work_dir: PathBuf,
}

/// One platform's built image, for the report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlatformReport {
    pub platform: String,
    pub digest: String,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub layers: usize,
    pub binary_size: u64,
    pub sbom: String,
}

/// A finished native build held in memory.
#[derive(Debug)]
pub struct NativeImage {
    pub store: BlobStore,
    /// The manifest (one platform) or index (several).
    pub top: Descriptor,
    pub images: Vec<PlatformImage>,
    /// The SBOM of each platform, in the order of `images`.
    pub sboms: Vec<serde_json::Value>,
    pub binary_sizes: Vec<u64>,
    pub user: String,
}

/// RFC 3339 (UTC, seconds) of an epoch second.
pub fn rfc3339(epoch: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(epoch)).to_string()
}

/// The OCI labels every hale image carries. Nothing secret: only what the flags and the commit say.
pub fn oci_labels(
    name: &str,
    version: &str,
    revision: &str,
    source: Option<&str>,
    created: &str,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (
            "org.opencontainers.image.title".to_string(),
            name.to_string(),
        ),
        (
            "org.opencontainers.image.version".to_string(),
            version.to_string(),
        ),
        (
            "org.opencontainers.image.revision".to_string(),
            revision.to_string(),
        ),
        (
            "org.opencontainers.image.created".to_string(),
            created.to_string(),
        ),
    ]);
    if let Some(s) = source {
        labels.insert("org.opencontainers.image.source".to_string(), s.to_string());
    }
    labels
}

/// Build the image for every platform, without any daemon.
pub async fn build_native(
    opts: &NativeOptions,
    progress: &Progress,
    stop: &Stop,
) -> Result<NativeImage, ImageError> {
    if !gobuild::available().await {
        return Err(ImageError::NoGo);
    }
    let created = rfc3339(opts.epoch);
    let mut store = BlobStore::default();
    let base_layer = match &opts.base {
        BaseSource::Hale => Some(LayerRef::store(
            &mut store,
            base::layer(opts.epoch),
            "hale base: CA certificates, passwd/group (nonroot 65532), /tmp",
        )?),
        BaseSource::Layout(_) | BaseSource::Registry(_) => None,
    };
    let mut base_client = match &opts.base {
        BaseSource::Registry(r) => Some(
            distribution::Client::connect(r, &opts.registry, opts.keychain.clone())
                .await
                .map_err(|e| ImageError::BasePull {
                    base: r.to_string(),
                    cause: e.into(),
                })?,
        ),
        _ => None,
    };
    let made = crate::userfile::create_dir_all_undoable(&opts.work_dir).map_err(|source| {
        ImageError::Io {
            path: opts.work_dir.clone(),
            source,
        }
    })?;
    let spec = gobuild::GoBuild {
        dir: &opts.dir,
        package: &opts.package,
        version: &opts.version,
        revision: &opts.revision,
    };
    let mut layers = layer::LayerCache::new(opts.work_dir.join("layers"));
    let mut user = format!("{0}:{0}", base::NONROOT_UID);
    let entry = format!("{APP_DIR}/{}", opts.name);
    let mut images = Vec::new();
    let mut sboms = Vec::new();
    let mut binary_sizes = Vec::new();
    for platform in &opts.platforms {
        if stop.is_stopped() {
            return Err(ImageError::Interrupted);
        }
        // The base first: a base without this platform fails before the Go build.
        let base_image = match &opts.base {
            BaseSource::Hale => None,
            BaseSource::Layout(dir) => Some(layout::read_base(dir, platform, &mut store)?),
            BaseSource::Registry(r) => {
                let client = base_client
                    .as_mut()
                    .unwrap_or_else(|| unreachable!("connected above"));
                let task = format!("base-{}", platform.slug());
                progress.start(task.clone(), format!("base {r} {platform}"), None);
                let pulled = tokio::select! {
                    pulled = pull::read_base(client, r, platform, &mut store) => pulled,
                    _ = stop.stopped() => return Err(ImageError::Interrupted),
                };
                let (b, digest) = pulled.map_err(|cause| ImageError::BasePull {
                    base: r.to_string(),
                    cause,
                })?;
                progress.finish(task, format!("{digest}, {} layers", b.layers.len()));
                Some(b)
            }
        };
        let task = format!("go-{}", platform.slug());
        progress.start(task.clone(), format!("go build {platform}"), None);
        let bin = opts
            .work_dir
            .join(format!("{}-{}", opts.name, platform.slug()));
        gobuild::build(&spec, platform, &bin, stop).await?;
        let data = std::fs::read(&bin).map_err(|source| ImageError::Io {
            path: bin.clone(),
            source,
        })?;
        progress.finish(task, format!("{} KiB", data.len() / 1024));
        let info = gobuild::build_info(&bin).await?;
        let binary_digest = layer::sha256(&data);
        binary_sizes.push(data.len() as u64);
        sboms.push(sbom::document(
            &opts.name,
            &opts.version,
            &platform.to_string(),
            &info,
            &binary_digest,
            &created,
        ));
        let (app, cached) = layers
            .build(
                vec![
                    Entry::Dir {
                        path: APP_DIR.trim_start_matches('/').into(),
                        mode: 0o555,
                    },
                    Entry::File {
                        path: entry.trim_start_matches('/').into(),
                        mode: 0o555,
                        data,
                    },
                ],
                opts.epoch,
            )
            .map_err(|e| ImageError::Layer(e.to_string()))?;
        if cached {
            progress.status(
                "reused",
                format!("the compressed layer of {entry} ({platform})"),
            );
        }
        let app = LayerRef::store(&mut store, app, &format!("hale build: {entry}"))?;

        let mut env = vec![format!("PORT={}", opts.port)];
        let (mut layers, working_dir) = match base_image {
            None => {
                env.push(format!("SSL_CERT_FILE={}", base::CA_BUNDLE));
                (base_layer.clone().into_iter().collect::<Vec<_>>(), None)
            }
            Some(b) => {
                let cfg = b.config.config().clone().unwrap_or_default();
                // The base's environment first, so PORT set here wins on a clash.
                let mut base_env: Vec<String> = cfg.env().clone().unwrap_or_default();
                base_env.retain(|e| !e.starts_with("PORT="));
                base_env.append(&mut env);
                env = base_env;
                let (u, was_root) = user_on_base(cfg.user().as_deref());
                if was_root {
                    progress.warn(format!(
                        "base {} runs as root; the image runs as {u} (hale images never run as root)",
                        opts.base
                    ));
                }
                user = u;
                (b.layers, cfg.working_dir().clone())
            }
        };
        layers.push(app);
        let run = RunConfig {
            user: user.clone(),
            entrypoint: vec![entry.clone()],
            env,
            exposed_ports: vec![format!("{}/tcp", opts.port)],
            labels: oci_labels(
                &opts.name,
                &opts.version,
                &opts.revision,
                opts.source.as_deref(),
                &created,
            ),
            working_dir,
        };
        images.push(oci::assemble(
            &mut store, platform, &layers, &run, &created,
        )?);
        // The binary stays: with it in place, the next `go build` of unchanged sources skips
        // the link (Go compares the output's build ID), the slowest part of a warm build.
    }
    layers.prune();
    made.keep();
    let top = if images.len() == 1 {
        let mut d = images[0].manifest.clone();
        d.set_platform(None);
        d
    } else {
        oci::index(&mut store, &images)?
    };
    Ok(NativeImage {
        store,
        top,
        images,
        sboms,
        binary_sizes,
        user,
    })
}

/// The user of an image on a base: the base's own when it names one that is not root, else
/// nonroot 65532. The flag says the base asked for root (and did not get it).
pub fn user_on_base(base_user: Option<&str>) -> (String, bool) {
    let default = format!("{0}:{0}", base::NONROOT_UID);
    let Some(u) = base_user.map(str::trim).filter(|u| !u.is_empty()) else {
        return (default, false);
    };
    let name = u.split(':').next().unwrap_or_default();
    if name == "0" || name == "root" {
        return (default, true);
    }
    (u.to_string(), false)
}

impl NativeImage {
    /// The platform image to load into an engine on `host`: the only one, or the host's.
    pub fn for_host(&self, host: &Platform) -> Option<&PlatformImage> {
        if self.images.len() == 1 {
            return self.images.first();
        }
        self.images
            .iter()
            .find(|i| i.platform.os == host.os && i.platform.arch == host.arch)
    }
}

/// Write each SBOM as `<dir>/<name>-<platform>.spdx.json`; returns the paths in order.
pub fn write_sboms(
    dir: &Path,
    name: &str,
    image: &NativeImage,
) -> Result<Vec<PathBuf>, ImageError> {
    let mut paths = Vec::new();
    for (img, doc) in image.images.iter().zip(&image.sboms) {
        let p = dir.join(format!("{name}-{}.spdx.json", img.platform.slug()));
        let mut text = serde_json::to_vec_pretty(doc)?;
        text.push(b'\n');
        layout::write_atomic(&p, &text)?;
        paths.push(p);
    }
    Ok(paths)
}

/// `.hale/build.json`: the last build, read by `hale deploy --render`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BuildRecord {
    pub schema: String,
    pub reference: String,
    pub digest: String,
    pub tags: Vec<String>,
    pub engine: String,
    pub platforms: Vec<PlatformReport>,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub layers: usize,
    pub base: String,
    pub user: String,
    pub sbom: Vec<String>,
    pub oci_layout: Option<String>,
    pub archive: Option<String>,
    pub loaded: bool,
    /// `host/repo@sha256:…` after `--push`.
    pub pushed: Option<String>,
    /// What the push uploaded and skipped.
    pub push: Option<push::PushReport>,
    pub created: String,
    pub revision: String,
    pub version: String,
}

pub const BUILD_RECORD: &str = ".hale/build.json";
pub const BUILD_SCHEMA: &str = "hale.build/v1";

/// Record the last build in `<service>/.hale/build.json`.
pub fn write_record(service_dir: &Path, record: &BuildRecord) -> Result<PathBuf, ImageError> {
    let p = service_dir.join(BUILD_RECORD);
    let mut text = serde_json::to_vec_pretty(record)?;
    text.push(b'\n');
    layout::write_atomic(&p, &text)?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_keeps_its_non_root_user_and_never_makes_the_image_root() {
        assert_eq!(user_on_base(None), ("65532:65532".into(), false));
        assert_eq!(user_on_base(Some("")), ("65532:65532".into(), false));
        assert_eq!(user_on_base(Some("1000:1000")), ("1000:1000".into(), false));
        assert_eq!(user_on_base(Some("nonroot")), ("nonroot".into(), false));
        assert_eq!(user_on_base(Some("root")), ("65532:65532".into(), true));
        assert_eq!(user_on_base(Some("0:0")), ("65532:65532".into(), true));
    }

    #[test]
    fn epoch_formats_as_rfc3339_seconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn labels_carry_the_oci_keys_and_no_more() {
        let l = oci_labels("o", "1.0.0", "abc", Some("https://git.example/o"), "t");
        assert_eq!(l.len(), 5);
        assert_eq!(l["org.opencontainers.image.revision"], "abc");
    }

    #[test]
    fn a_hale_base_image_assembles_to_a_stable_manifest() {
        let mut a = BlobStore::default();
        let base = LayerRef::store(&mut a, base::layer(0), "base").unwrap();
        let run = RunConfig {
            user: "65532:65532".into(),
            entrypoint: vec!["/app/o".into()],
            env: vec!["PORT=8080".into()],
            exposed_ports: vec!["8080/tcp".into()],
            labels: oci_labels("o", "1", "r", None, "t"),
            working_dir: None,
        };
        let p: Platform = "linux/arm64".parse().unwrap();
        let one = oci::assemble(&mut a, &p, std::slice::from_ref(&base), &run, "t").unwrap();
        let two = oci::assemble(&mut a, &p, &[base], &run, "t").unwrap();
        assert_eq!(one.manifest.digest(), two.manifest.digest());
        let config: serde_json::Value =
            serde_json::from_slice(a.get(&one.config_digest).unwrap()).unwrap();
        assert_eq!(config["config"]["User"], "65532:65532");
        assert_eq!(config["architecture"], "arm64");
        assert!(config["config"]["ExposedPorts"]["8080/tcp"].is_object());
    }
}
