//! Builds through a Docker Engine with bollard: the service's Dockerfile and its
//! `.dockerignore`-filtered context go to BuildKit (a session, `BuilderVersion::BuilderBuildKit`)
//! or, on an engine without BuildKit, to the classic builder. BuildKit's vertexes, statuses and
//! logs become [`Progress`] events; a failed step is named with its last output lines. The image
//! the engine made is then read back with `GET /images/{name}/get` (a docker-archive) and turned
//! into the same in-memory OCI image as a native build, so the OCI layout, `--archive`,
//! `--push` and `.hale/build.json` work the same on both paths.
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use bollard::models::{BuildInfo, BuildInfoAux};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, BuilderVersion, RemoveImageOptionsBuilder, TagImageOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt as _;
use oci_spec::image::{ImageManifestBuilder, MediaType};

use super::layer;
use super::oci::{self, BlobStore, PlatformImage};
use super::platform::Platform;
use super::{ImageError, NativeImage};
use crate::engine::{self, EngineHost};
use crate::progress::Progress;
use crate::stop::Stop;

/// How many output lines of a failed step are shown.
pub const FAILED_STEP_LINES: usize = 20;

/// Why an engine build failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineBuildError {
    #[error(transparent)]
    Unreachable(#[from] engine::EngineError),
    #[error("step `{step}` failed: {error}{}", lines_block(.lines))]
    StepFailed {
        step: String,
        error: String,
        lines: Vec<String>,
    },
    #[error("the build failed: {0}")]
    Failed(String),
    #[error(
        "the Docker Engine at {host} went away during the build ({reason}); no image was tagged"
    )]
    EngineGone { host: String, reason: String },
    #[error("the Docker Engine at {host}: {message}")]
    Engine { host: String, message: String },
    #[error("reading the built image back from the engine: {0}")]
    Export(String),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("interrupted")]
    Interrupted,
}

fn lines_block(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("\n{}", lines.join("\n"))
    }
}

/// Which builder of the engine ran the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builder {
    BuildKit,
    Classic,
}

/// A connected engine.
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
    pub host: EngineHost,
}

/// What to build; resolved and validated by the command layer.
#[derive(Debug, Clone)]
pub struct EngineBuildOptions {
    /// The build context (see [`super::context`]).
    pub context: Vec<u8>,
    /// Every tag to give the image; the first is set by the build itself.
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub platform: Option<Platform>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// The RUN steps' network mode (`none`, `host`, `default`).
    pub network: Option<String>,
    /// Values never shown: every engine line is scrubbed of them before it is displayed.
    pub secrets: Vec<String>,
}

fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s.as_str(), "***");
    }
    out
}

/// The engine's own words for a bollard error.
fn message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

/// Does this error mean the connection to the engine broke (rather than the engine answering)?
fn is_transport(e: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as E;
    match e {
        // The engine's own words: it is there.
        E::DockerResponseServerError { .. } | E::DockerStreamError { .. } => false,
        E::HyperResponseError { .. }
        | E::IOError { .. }
        | E::RequestTimeoutError
        | E::SocketNotFoundError(_) => true,
        other => {
            let text = format!("{other:?}").to_ascii_lowercase();
            text.contains("connection") || text.contains("broken pipe") || text.contains("eof")
        }
    }
}

/// `repo:tag` split at the tag's colon (a registry port's colon comes before a `/`).
fn split_tag(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    }
}

impl Engine {
    /// Connect to the engine at `host`; one line naming the host when nothing answers.
    pub async fn connect(host: &EngineHost) -> Result<Engine, EngineBuildError> {
        engine::ping(host).await?;
        let unreachable = |reason: String| {
            EngineBuildError::Unreachable(engine::EngineError::Unreachable {
                host: host.to_string(),
                reason,
            })
        };
        // Builds stream for as long as they run; the timeout covers waiting for an answer.
        let timeout = REQUEST_TIMEOUT.as_secs();
        let docker = match host {
            EngineHost::Unix(p) => Docker::connect_with_unix(
                &p.display().to_string(),
                timeout,
                bollard::API_DEFAULT_VERSION,
            ),
            EngineHost::Tcp { addr, tls: None } => Docker::connect_with_http(
                &format!("tcp://{addr}"),
                timeout,
                bollard::API_DEFAULT_VERSION,
            ),
            EngineHost::Tcp {
                addr,
                tls: Some(files),
            } => Docker::connect_with_ssl(
                &format!("tcp://{addr}"),
                &files.key,
                &files.cert,
                &files.ca,
                timeout,
                bollard::API_DEFAULT_VERSION,
            ),
        }
        .map_err(|e| unreachable(e.to_string()))?
        .negotiate_version()
        .await
        .map_err(|e| unreachable(message(&e)))?;
        Ok(Engine {
            docker,
            host: host.clone(),
        })
    }

    /// BuildKit runs in every Linux engine since API 1.39 (Docker 18.09); Windows engines and
    /// older ones have only the classic builder.
    pub async fn builder(&self) -> Result<Builder, EngineBuildError> {
        let v = self
            .docker
            .version()
            .await
            .map_err(|e| self.engine_error(&e))?;
        let api = v.api_version.unwrap_or_default();
        let (major, minor) = api.split_once('.').unwrap_or(("0", "0"));
        let api_ok = (
            major.parse::<u32>().unwrap_or(0),
            minor.parse::<u32>().unwrap_or(0),
        ) >= (1, 39);
        let linux = v.os.as_deref().unwrap_or("linux") == "linux";
        Ok(if api_ok && linux {
            Builder::BuildKit
        } else {
            Builder::Classic
        })
    }

    fn engine_error(&self, e: &bollard::errors::Error) -> EngineBuildError {
        if is_transport(e) {
            EngineBuildError::EngineGone {
                host: self.host.to_string(),
                reason: message(e),
            }
        } else {
            EngineBuildError::Engine {
                host: self.host.to_string(),
                message: message(e),
            }
        }
    }

    /// Build, tag every tag, and return the image ID. Nothing is tagged unless the whole build
    /// succeeded; should tagging fail midway, the tags already made are removed again.
    pub async fn build(
        &self,
        opts: &EngineBuildOptions,
        builder: Builder,
        progress: &Progress,
        stop: &Stop,
    ) -> Result<String, EngineBuildError> {
        let first = opts
            .tags
            .first()
            .ok_or_else(|| EngineBuildError::Failed("no tag to build".into()))?;
        let buildargs: HashMap<String, String> = opts.build_args.clone().into_iter().collect();
        let labels: HashMap<String, String> = opts.labels.clone().into_iter().collect();
        let mut b = BuildImageOptionsBuilder::default()
            .dockerfile(super::context::DOCKERFILE)
            .t(first)
            .rm(true)
            .forcerm(true)
            .nocache(opts.no_cache)
            .buildargs(&buildargs)
            .labels(&labels);
        if let Some(p) = &opts.platform {
            b = b.platform(&p.to_string());
        }
        if let Some(t) = &opts.target {
            b = b.target(t);
        }
        if let Some(n) = &opts.network {
            b = b.networkmode(n);
        }
        b = match builder {
            Builder::BuildKit => {
                let session = format!("hale-{:016x}", rand::random::<u64>());
                b.version(BuilderVersion::BuilderBuildKit).session(&session)
            }
            Builder::Classic => b.version(BuilderVersion::BuilderV1),
        };
        let body = bollard::body_full(opts.context.clone().into());
        let mut stream = self.docker.build_image(b.build(), None, Some(body));
        let mut steps = Steps::new(progress, &opts.secrets);
        let mut image_id: Option<String> = None;
        loop {
            let item = tokio::select! {
                item = stream.next() => item,
                _ = stop.stopped() => return Err(EngineBuildError::Interrupted),
            };
            let Some(item) = item else { break };
            match item {
                Ok(info) => {
                    if let Some(id) = steps.take(info) {
                        image_id = Some(id);
                    }
                }
                Err(e) => {
                    return Err(match steps.failure(&message(&e)) {
                        Some(failed) => failed,
                        None if is_transport(&e) => EngineBuildError::EngineGone {
                            host: self.host.to_string(),
                            reason: message(&e),
                        },
                        None => EngineBuildError::Failed(scrub(&message(&e), &opts.secrets)),
                    });
                }
            }
        }
        drop(stream);
        steps.close();
        // The stream can end without an error when the engine dies; only an image that the
        // engine now shows under the first tag counts.
        let inspect =
            self.docker
                .inspect_image(first)
                .await
                .map_err(|e| match self.engine_error(&e) {
                    EngineBuildError::Engine { .. } => EngineBuildError::EngineGone {
                        host: self.host.to_string(),
                        reason: "the build ended without an image".into(),
                    },
                    other => other,
                })?;
        let id = inspect.id.unwrap_or_default();
        if let Some(expected) = image_id.filter(|i| !i.is_empty()) {
            if expected != id {
                return Err(EngineBuildError::EngineGone {
                    host: self.host.to_string(),
                    reason: format!("the build ended without tagging {first}"),
                });
            }
        }
        let mut made: Vec<&str> = Vec::new();
        for tag in opts.tags.iter().skip(1) {
            let (repo, t) = split_tag(tag);
            let res = self
                .docker
                .tag_image(
                    &id,
                    Some(TagImageOptionsBuilder::default().repo(repo).tag(t).build()),
                )
                .await;
            if let Err(e) = res {
                let err = self.engine_error(&e);
                self.untag(opts.tags.iter().take(1).map(String::as_str).chain(made))
                    .await;
                return Err(err);
            }
            made.push(tag);
        }
        Ok(id)
    }

    /// Remove tags (best effort: used when a later step fails, so no tag points at an image
    /// whose build did not finish).
    pub async fn untag<'a>(&self, tags: impl IntoIterator<Item = &'a str>) {
        for tag in tags {
            let _ = self
                .docker
                .remove_image(
                    tag,
                    Some(RemoveImageOptionsBuilder::default().noprune(true).build()),
                    None,
                )
                .await;
        }
    }

    /// Read the image back (`GET /images/{name}/get`) as an in-memory OCI image.
    pub async fn export(
        &self,
        name: &str,
        work_dir: &Path,
        sbom_for: Option<(&str, &str, &str)>,
        stop: &Stop,
    ) -> Result<NativeImage, EngineBuildError> {
        let mut stream = self.docker.export_image(name);
        let mut archive = Vec::new();
        loop {
            let chunk = tokio::select! {
                c = stream.next() => c,
                _ = stop.stopped() => return Err(EngineBuildError::Interrupted),
            };
            match chunk {
                Some(Ok(bytes)) => archive.extend_from_slice(&bytes),
                Some(Err(e)) => return Err(self.engine_error(&e)),
                None => break,
            }
        }
        let image = from_docker_archive(&archive)?;
        let mut sboms = Vec::new();
        if let (Some((title, version, created)), Some(bin)) = (sbom_for, &image.entrypoint_file) {
            if super::gobuild::available().await {
                crate::userfile::create_dir_all(work_dir).map_err(|source| ImageError::Io {
                    path: work_dir.to_path_buf(),
                    source,
                })?;
                let path = work_dir.join(format!("{title}-engine"));
                std::fs::write(&path, bin).map_err(|source| ImageError::Io {
                    path: path.clone(),
                    source,
                })?;
                let info = super::gobuild::build_info(&path).await;
                let _ = std::fs::remove_file(&path);
                // Not a Go binary (or no build info): no SBOM, said in the report.
                if let Ok(info) = info {
                    sboms.push(super::sbom::document(
                        title,
                        version,
                        &image.platform.platform.to_string(),
                        &info,
                        &layer::sha256(bin),
                        created,
                    ));
                }
            }
        }
        let mut top = image.platform.manifest.clone();
        top.set_platform(None);
        Ok(NativeImage {
            store: image.store,
            top,
            binary_sizes: vec![image.entrypoint_file.as_ref().map_or(0, |b| b.len() as u64)],
            images: vec![image.platform],
            sboms,
            user: image.user,
        })
    }
}

/// One build's steps as progress tasks, with the last output lines of each kept for the
/// report of a failed step.
struct Steps<'a> {
    progress: &'a Progress,
    secrets: &'a [String],
    names: HashMap<String, String>,
    started: std::collections::HashSet<String>,
    done: std::collections::HashSet<String>,
    logs: HashMap<String, VecDeque<String>>,
    failed: Option<(String, String)>,
    /// The classic builder's current `Step n/m : …`.
    classic_step: Option<String>,
}

impl<'a> Steps<'a> {
    fn new(progress: &'a Progress, secrets: &'a [String]) -> Self {
        Steps {
            progress,
            secrets,
            names: HashMap::new(),
            started: Default::default(),
            done: Default::default(),
            logs: HashMap::new(),
            failed: None,
            classic_step: None,
        }
    }

    fn log(&mut self, id: &str, text: &str) {
        let buf = self.logs.entry(id.to_string()).or_default();
        for line in text.lines() {
            let line = scrub(line.trim_end(), self.secrets);
            if line.is_empty() {
                continue;
            }
            self.progress.message(id.to_string(), line.clone());
            buf.push_back(line);
            if buf.len() > FAILED_STEP_LINES {
                buf.pop_front();
            }
        }
    }

    /// Take one message of the build stream; returns the image ID when this message gives it.
    fn take(&mut self, info: BuildInfo) -> Option<String> {
        match info.aux {
            Some(BuildInfoAux::BuildKit(status)) => {
                for v in status.vertexes {
                    // A RUN's continuation lines arrive as runs of spaces: one line reads better.
                    let name = scrub(
                        &v.name.split_whitespace().collect::<Vec<_>>().join(" "),
                        self.secrets,
                    );
                    self.names.insert(v.digest.clone(), name.clone());
                    if (v.started.is_some() || v.cached) && self.started.insert(v.digest.clone()) {
                        self.progress
                            .start(v.digest.clone(), shortened(&name), None);
                    }
                    if !v.error.is_empty() && self.failed.is_none() {
                        self.failed = Some((v.digest.clone(), scrub(&v.error, self.secrets)));
                    }
                    if (v.completed.is_some() || v.cached) && self.done.insert(v.digest.clone()) {
                        let how = if !v.error.is_empty() {
                            "failed"
                        } else if v.cached {
                            "cached"
                        } else {
                            "done"
                        };
                        self.progress.finish(v.digest.clone(), how);
                    }
                }
                for s in status.statuses {
                    if s.total > 0 {
                        self.progress.message(
                            s.vertex.clone(),
                            format!("{} {}/{}", scrub(&s.id, self.secrets), s.current, s.total),
                        );
                    }
                }
                for l in status.logs {
                    let text = String::from_utf8_lossy(&l.msg).into_owned();
                    self.log(&l.vertex, &text);
                }
                None
            }
            Some(BuildInfoAux::Default(id)) => id.id,
            None => {
                if let Some(text) = info.stream {
                    for line in text.lines() {
                        if line.starts_with("Step ") {
                            if let Some(prev) = self.classic_step.take() {
                                if self.done.insert(prev.clone()) {
                                    self.progress.finish(prev, "done");
                                }
                            }
                            let step = scrub(line.trim(), self.secrets);
                            self.progress.start(step.clone(), step.clone(), None);
                            self.done.remove(&step);
                            self.names.insert(step.clone(), step.clone());
                            self.classic_step = Some(step);
                        } else if let Some(step) = self.classic_step.clone() {
                            // The builder's own bookkeeping is not the step's output.
                            let own = line.starts_with(" ---> ")
                                || line.starts_with("Removing intermediate container")
                                || line.starts_with("Successfully built")
                                || line.starts_with("Successfully tagged");
                            if !own {
                                self.log(&step, line);
                            }
                        }
                    }
                }
                None
            }
        }
    }

    /// The failed step, if the stream said which one, for an error message from the engine.
    fn failure(&mut self, engine_message: &str) -> Option<EngineBuildError> {
        let (id, error) = match self.failed.take() {
            Some(f) => f,
            None => {
                let step = self.classic_step.clone()?;
                (step, scrub(engine_message, self.secrets))
            }
        };
        if self.done.insert(id.clone()) {
            self.progress.finish(id.clone(), "failed");
        }
        Some(EngineBuildError::StepFailed {
            step: self.names.get(&id).cloned().unwrap_or_else(|| id.clone()),
            error,
            lines: self
                .logs
                .get(&id)
                .map(|b| b.iter().cloned().collect())
                .unwrap_or_default(),
        })
    }

    fn close(&mut self) {
        if let Some(step) = self.classic_step.take() {
            if self.done.insert(step.clone()) {
                self.progress.finish(step, "done");
            }
        }
    }
}

/// A step's name as a progress label: at most 100 characters (the error names it in full).
fn shortened(name: &str) -> String {
    if name.chars().count() <= 100 {
        name.to_string()
    } else {
        format!("{}…", name.chars().take(99).collect::<String>())
    }
}

/// An image read from a docker-archive.
struct Exported {
    store: BlobStore,
    platform: PlatformImage,
    user: String,
    /// The bytes of the entrypoint's file, when it is a plain file in a layer.
    entrypoint_file: Option<Vec<u8>>,
}

#[derive(serde::Deserialize)]
struct ArchiveManifest {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// Turn the first image of a docker-archive into OCI blobs: the config kept byte for byte
/// (so its digest is still the engine's image ID), each layer gzipped the way native layers
/// are (fixed level, no timestamp), an OCI manifest over them.
fn from_docker_archive(archive: &[u8]) -> Result<Exported, EngineBuildError> {
    let bad = |what: String| EngineBuildError::Export(what);
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    let mut tar = tar::Archive::new(archive);
    for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| bad(e.to_string()))?
            .display()
            .to_string();
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(|e| bad(e.to_string()))?;
        files.insert(path, data);
    }
    let manifest: Vec<ArchiveManifest> = serde_json::from_slice(
        files
            .get("manifest.json")
            .ok_or_else(|| bad("the archive has no manifest.json".into()))?,
    )
    .map_err(|e| bad(format!("manifest.json: {e}")))?;
    let first = manifest
        .first()
        .ok_or_else(|| bad("manifest.json lists no image".into()))?;
    let config_bytes = files
        .get(&first.config)
        .ok_or_else(|| bad(format!("{} is missing", first.config)))?
        .clone();
    let config: serde_json::Value =
        serde_json::from_slice(&config_bytes).map_err(|e| bad(format!("config: {e}")))?;
    let platform: Platform = {
        let os = config["os"].as_str().unwrap_or("linux");
        let arch = config["architecture"].as_str().unwrap_or("amd64");
        let text = match config["variant"].as_str() {
            Some(v) => format!("{os}/{arch}/{v}"),
            None => format!("{os}/{arch}"),
        };
        text.parse()
            .map_err(|e| bad(format!("platform {text}: {e}")))?
    };
    let user = config["config"]["User"].as_str().unwrap_or("").to_string();
    let entry = config["config"]["Entrypoint"][0]
        .as_str()
        .map(|p| p.trim_start_matches('/').to_string());
    let mut store = BlobStore::default();
    let mut layer_descs = Vec::new();
    let mut uncompressed_size = 0;
    let mut entrypoint_file = None;
    for path in &first.layers {
        let data = files
            .get(path)
            .ok_or_else(|| bad(format!("layer {path} is missing")))?;
        let (blob, tar_bytes) = if data.starts_with(&[0x1f, 0x8b]) {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(data.as_slice())
                .read_to_end(&mut plain)
                .map_err(|e| bad(format!("layer {path}: {e}")))?;
            (data.clone(), plain)
        } else {
            (layer::gzip(data), data.clone())
        };
        uncompressed_size += tar_bytes.len() as u64;
        if let Some(e) = &entry {
            if let Some(bin) = file_in_layer(&tar_bytes, e) {
                entrypoint_file = Some(bin);
            }
        }
        layer_descs.push(store.put(MediaType::ImageLayerGzip, blob)?);
    }
    let config_desc = store.put(MediaType::ImageConfig, config_bytes)?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config_desc.clone())
        .layers(layer_descs.clone())
        .build()
        .map_err(ImageError::from)?;
    let mut manifest_desc = store.put_json(MediaType::ImageManifest, &manifest)?;
    manifest_desc.set_platform(Some(oci::oci_platform(&platform)?));
    let compressed_size = config_desc.size()
        + manifest_desc.size()
        + layer_descs.iter().map(|d| d.size()).sum::<u64>();
    Ok(Exported {
        platform: PlatformImage {
            platform,
            manifest: manifest_desc,
            config_digest: config_desc.digest().to_string(),
            compressed_size,
            uncompressed_size,
            layers: layer_descs.len(),
        },
        store,
        user,
        entrypoint_file,
    })
}

/// The bytes of the regular file `path` in a layer tar, if it is there.
fn file_in_layer(tar_bytes: &[u8], path: &str) -> Option<Vec<u8>> {
    let mut a = tar::Archive::new(tar_bytes);
    for entry in a.entries().ok()? {
        let mut entry = entry.ok()?;
        let p = entry.path().ok()?.display().to_string();
        if p.trim_start_matches("./") == path && entry.header().entry_type().is_file() {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).ok()?;
            return Some(data);
        }
    }
    None
}

/// How long `hale build` waits for an answer to each engine request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_after_a_registry_port() {
        assert_eq!(
            split_tag("127.0.0.1:5000/a/b:1.0"),
            ("127.0.0.1:5000/a/b", "1.0")
        );
        assert_eq!(split_tag("orders:dev"), ("orders", "dev"));
        assert_eq!(
            split_tag("127.0.0.1:5000/a"),
            ("127.0.0.1:5000/a", "latest")
        );
    }

    #[test]
    fn secrets_are_scrubbed_from_engine_lines() {
        let s = vec!["hunter2-token".to_string()];
        assert_eq!(scrub("curl -H hunter2-token x", &s), "curl -H *** x");
    }

    #[test]
    fn a_failed_vertex_is_named_with_its_last_lines_scrubbed() {
        use bollard::moby::buildkit::v1::{StatusResponse, Vertex, VertexLog};
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let progress = Progress::to_channel(tx);
        let secrets = vec!["s3cr3t-value".to_string()];
        let mut steps = Steps::new(&progress, &secrets);
        let text: String = (1..=25)
            .map(|i| format!("line {i} s3cr3t-value\n"))
            .collect();
        let status = StatusResponse {
            vertexes: vec![Vertex {
                digest: "sha256:d1".into(),
                name: "[build 6/6] RUN   go build \\\n    ./cmd/x".into(),
                error: "exit code: 1".into(),
                ..Default::default()
            }],
            logs: vec![VertexLog {
                vertex: "sha256:d1".into(),
                msg: text.into_bytes(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let info = BuildInfo {
            aux: Some(BuildInfoAux::BuildKit(status)),
            ..Default::default()
        };
        assert_eq!(steps.take(info), None);
        let Some(EngineBuildError::StepFailed { step, error, lines }) =
            steps.failure("executor failed")
        else {
            panic!("no failed step")
        };
        assert_eq!(step, "[build 6/6] RUN go build \\ ./cmd/x");
        assert_eq!(error, "exit code: 1");
        assert_eq!(lines.len(), FAILED_STEP_LINES);
        assert_eq!(lines.last().unwrap(), "line 25 ***");
    }

    #[test]
    fn a_docker_archive_becomes_an_oci_image_with_the_same_config() {
        let config = br#"{"architecture":"amd64","os":"linux","config":{"User":"65532:65532","Entrypoint":["/svc"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let mut layer_tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o555);
        layer_tar.append_data(&mut h, "svc", &b"bin"[..]).unwrap();
        let layer_tar = layer_tar.into_inner().unwrap();
        let manifest = br#"[{"Config":"c.json","RepoTags":["x:1"],"Layers":["l/layer.tar"]}]"#;
        let mut archive = tar::Builder::new(Vec::new());
        for (name, data) in [
            ("manifest.json", &manifest[..]),
            ("c.json", &config[..]),
            ("l/layer.tar", &layer_tar[..]),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            archive.append_data(&mut h, name, data).unwrap();
        }
        let img = from_docker_archive(&archive.into_inner().unwrap()).unwrap();
        assert_eq!(img.platform.config_digest, layer::sha256(config));
        assert_eq!(img.user, "65532:65532");
        assert_eq!(img.platform.layers, 1);
        assert_eq!(img.entrypoint_file.as_deref(), Some(&b"bin"[..]));
    }
}
