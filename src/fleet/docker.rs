//! The container [`Runtime`](super::Runtime): each instance of a fleet is a container of the
//! image `hale build` made, run through the Docker Engine API (the engine [`crate::engine`]
//! resolves from the environment), over its `round_trip`.
//!
//! Every container runs with host networking (it listens on 127.0.0.1 like a process would),
//! a read-only root file system, no capabilities, `no-new-privileges`, as uid 65532, with a
//! small tmpfs on /tmp. A file registry's folder is mounted at the same path, so the
//! instance's REGISTRY value means the same inside and out. Containers carry hale's labels
//! (`dev.hale.fleet`, `dev.hale.service`, `dev.hale.instance`) and are named
//! `hale-<instance>-<fleet key>`, so `hale down` finds and removes every one of them.
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use serde::Deserialize;
use sha2::Digest as _;

use super::{FleetError, Handle, InstanceSpec};
use crate::engine::EngineHost;

/// The user every container runs as (the image's nonroot user).
pub const CONTAINER_USER: &str = "65532:65532";
const CONTAINER_UID: u32 = 65532;

/// Label keys on every container of a fleet.
pub const LABEL_FLEET: &str = "dev.hale.fleet";
pub const LABEL_SERVICE: &str = "dev.hale.service";
pub const LABEL_INSTANCE: &str = "dev.hale.instance";

/// What went wrong talking to the engine.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "no Docker Engine answers at {host}: {reason} (is it running? DOCKER_HOST names another)"
    )]
    Unreachable { host: String, reason: String },
    #[error("the Docker Engine at {host} refused {what}: HTTP {status}: {message}")]
    Refused {
        host: String,
        what: String,
        status: u16,
        message: String,
    },
    #[error("image {image} is not in the Docker Engine at {host}: build it with `hale build --load` (or pass --image REF of an image the engine has)")]
    ImageMissing { image: String, host: String },
    #[error("{0:?} is not an image reference (name[:tag][@sha256:digest])")]
    BadReference(String),
    #[error("no image to run: {record} does not exist; run `hale build --load` first or pass --image REF")]
    NoBuild { record: PathBuf },
    #[error("{record} names no image; run `hale build --load` again or pass --image REF")]
    BadBuildRecord {
        record: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the file registry folder {dir} does not exist or is not writable by the containers' user 65532: pass --registry consul://HOST:PORT or etcd://HOST:PORT, or a file:// registry in a folder that user may write (for example `chown 65532:65532 {dir}`)")]
    RegistryNotWritable { dir: PathBuf },
}

impl DockerError {
    /// Whether the user can fix it by changing what they asked for (exit 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            DockerError::ImageMissing { .. }
                | DockerError::BadReference(_)
                | DockerError::NoBuild { .. }
                | DockerError::BadBuildRecord { .. }
                | DockerError::RegistryNotWritable { .. }
        )
    }
}

/// An image reference as the engine takes it; only the characters references are made of, so
/// nothing else reaches a request path.
pub fn validate_reference(reference: &str) -> Result<(), DockerError> {
    let ok = !reference.is_empty()
        && reference.len() <= 512
        && reference
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@'));
    if ok {
        Ok(())
    } else {
        Err(DockerError::BadReference(reference.to_string()))
    }
}

/// The image `hale build` recorded in `<dir>/.hale/build.json`: its first tag.
pub fn built_image(dir: &Path) -> Result<String, DockerError> {
    #[derive(Deserialize)]
    struct Record {
        reference: String,
    }
    let record = dir.join(crate::image::BUILD_RECORD);
    let text = std::fs::read(&record).map_err(|_| DockerError::NoBuild {
        record: record.clone(),
    })?;
    let parsed: Record = serde_json::from_slice(&text)
        .map_err(|source| DockerError::BadBuildRecord { record, source })?;
    validate_reference(&parsed.reference)?;
    Ok(parsed.reference)
}

/// The key that ties a fleet's containers to its folder: 12 hex digits of the folder's path.
pub fn fleet_key(dir: &Path) -> String {
    // The canonical path: `hale up ../orders` and `hale down .` mean the same fleet.
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let digest = sha2::Sha256::digest(dir.as_os_str().as_encoded_bytes());
    hex::encode(&digest[..6])
}

/// The container's name: `hale-<instance id>-<fleet key>` (instance ids are DNS labels).
pub fn container_name(fleet_key: &str, id: &str) -> String {
    format!("hale-{id}-{fleet_key}")
}

/// A file registry's folder must take new files from uid 65532 (the registry writes a
/// temporary file and renames it, under a lock file it may have to open for writing).
pub fn check_registry_folder(registry_file: &Path) -> Result<(), DockerError> {
    use std::os::unix::fs::MetadataExt as _;
    let dir = registry_file
        .parent()
        .unwrap_or(Path::new("/"))
        .to_path_buf();
    let writable = |path: &Path, need_dir: bool| match std::fs::metadata(path) {
        Ok(m) if !need_dir || m.is_dir() => {
            let mode = m.mode();
            let sticky_blocks = need_dir && mode & 0o1000 != 0 && m.uid() != CONTAINER_UID;
            let may = (m.uid() == CONTAINER_UID && mode & 0o200 != 0)
                || (m.gid() == CONTAINER_UID && mode & 0o020 != 0)
                || mode & 0o002 != 0;
            Some(may && !sticky_blocks)
        }
        Ok(_) => Some(false),
        Err(_) => None,
    };
    if writable(&dir, true) != Some(true) {
        return Err(DockerError::RegistryNotWritable { dir });
    }
    let mut lock = registry_file.as_os_str().to_owned();
    lock.push(".lock");
    if writable(Path::new(&lock), false) == Some(false) {
        return Err(DockerError::RegistryNotWritable { dir });
    }
    Ok(())
}

/// A client of one engine.
#[derive(Debug, Clone)]
pub struct Engine {
    host: EngineHost,
}

/// What `GET /containers/{id}/json` tells.
#[derive(Debug, Deserialize)]
struct Inspect {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "State")]
    state: InspectState,
}

#[derive(Debug, Deserialize)]
struct InspectState {
    #[serde(rename = "Running", default)]
    running: bool,
    #[serde(rename = "Pid", default)]
    pid: u32,
}

#[derive(Debug, Deserialize)]
struct Listed {
    #[serde(rename = "Id")]
    id: String,
}

/// Each control call (create, start, kill, inspect, remove, list, logs): the network deadline.
fn control() -> Duration {
    crate::network::deadline()
}

impl Engine {
    pub fn new(host: EngineHost) -> Engine {
        Engine { host }
    }

    pub fn host(&self) -> &EngineHost {
        &self.host
    }

    async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(http::StatusCode, Bytes), DockerError> {
        let unreachable = |reason: String| DockerError::Unreachable {
            host: self.host.to_string(),
            reason,
        };
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("Host", "docker");
        let bytes = match body {
            Some(v) => {
                req = req.header("Content-Type", "application/json");
                Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(bytes))
            .map_err(|e| unreachable(e.to_string()))?;
        crate::engine::round_trip(&self.host, req, control())
            .await
            .map_err(unreachable)
    }

    fn refused(
        &self,
        what: impl Into<String>,
        status: http::StatusCode,
        body: &[u8],
    ) -> DockerError {
        let message = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
        DockerError::Refused {
            host: self.host.to_string(),
            what: what.into(),
            status: status.as_u16(),
            message,
        }
    }

    /// Does the engine answer?
    pub async fn ping(&self) -> Result<(), DockerError> {
        let (status, body) = self.call(http::Method::GET, "/_ping", None).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(self.refused("/_ping", status, &body))
        }
    }

    /// The engine's id of the image `reference` (`sha256:…`), so every container of a fleet,
    /// restored ones too, runs exactly that image even if the tag moves.
    pub async fn image_id(&self, reference: &str) -> Result<String, DockerError> {
        validate_reference(reference)?;
        let (status, body) = self
            .call(
                http::Method::GET,
                &format!("/images/{reference}/json"),
                None,
            )
            .await?;
        if status == http::StatusCode::NOT_FOUND {
            return Err(DockerError::ImageMissing {
                image: reference.to_string(),
                host: self.host.to_string(),
            });
        }
        if !status.is_success() {
            return Err(self.refused(format!("inspecting image {reference}"), status, &body));
        }
        #[derive(Deserialize)]
        struct Image {
            #[serde(rename = "Id")]
            id: String,
        }
        serde_json::from_slice::<Image>(&body)
            .map(|i| i.id)
            .map_err(|e| {
                self.refused(
                    format!("inspecting image {reference}"),
                    status,
                    e.to_string().as_bytes(),
                )
            })
    }

    async fn inspect(&self, id: &str) -> Result<Option<Inspect>, DockerError> {
        let (status, body) = self
            .call(http::Method::GET, &format!("/containers/{id}/json"), None)
            .await?;
        if status == http::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(self.refused(format!("inspecting container {id}"), status, &body));
        }
        serde_json::from_slice(&body).map(Some).map_err(|e| {
            self.refused(
                format!("inspecting container {id}"),
                status,
                e.to_string().as_bytes(),
            )
        })
    }

    /// Remove a container, running or not; a container that is already gone is fine.
    pub async fn remove(&self, id: &str) -> Result<(), DockerError> {
        let (status, body) = self
            .call(
                http::Method::DELETE,
                &format!("/containers/{id}?force=true&v=true"),
                None,
            )
            .await?;
        if status.is_success() || status == http::StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(self.refused(format!("removing container {id}"), status, &body))
        }
    }

    /// Send a signal to the container's main process; a container that no longer runs is fine.
    async fn signal(&self, id: &str, signal: &str) -> Result<(), DockerError> {
        let (status, body) = self
            .call(
                http::Method::POST,
                &format!("/containers/{id}/kill?signal={signal}"),
                None,
            )
            .await?;
        // 409: not running; 404: gone. Either way there is nothing left to signal.
        if status.is_success()
            || status == http::StatusCode::CONFLICT
            || status == http::StatusCode::NOT_FOUND
        {
            Ok(())
        } else {
            Err(self.refused(format!("sending {signal} to container {id}"), status, &body))
        }
    }

    /// The ids of every container (running or not) labelled `label=value`.
    pub async fn labelled(&self, label: &str, value: &str) -> Result<Vec<String>, DockerError> {
        let filters = serde_json::json!({ "label": [format!("{label}={value}")] }).to_string();
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("all", "true")
            .append_pair("filters", &filters)
            .finish();
        let (status, body) = self
            .call(
                http::Method::GET,
                &format!("/containers/json?{query}"),
                None,
            )
            .await?;
        if !status.is_success() {
            return Err(self.refused("listing containers", status, &body));
        }
        let listed: Vec<Listed> = serde_json::from_slice(&body)
            .map_err(|e| self.refused("listing containers", status, e.to_string().as_bytes()))?;
        Ok(listed.into_iter().map(|c| c.id).collect())
    }

    /// The container's output (stdout and stderr, in order), demultiplexed.
    async fn logs(&self, id: &str) -> Result<Vec<u8>, DockerError> {
        let (status, body) = self
            .call(
                http::Method::GET,
                &format!("/containers/{id}/logs?stdout=true&stderr=true&tail=2000"),
                None,
            )
            .await?;
        if !status.is_success() {
            return Err(self.refused(format!("reading the logs of container {id}"), status, &body));
        }
        Ok(demultiplex(&body))
    }
}

/// The engine's log stream of a container without a TTY: frames of an 8-byte header (stream,
/// 3 zero bytes, big-endian length) and the payload. Anything else is taken as plain text.
fn demultiplex(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while rest.len() >= 8 {
        if !matches!(rest[0], 0..=2) || rest[1..4] != [0, 0, 0] {
            return raw.to_vec();
        }
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let end = (8 + len).min(rest.len());
        out.extend_from_slice(&rest[8..end]);
        rest = &rest[end..];
    }
    out
}

/// Instances as containers of one image, on one engine.
#[derive(Debug, Clone)]
pub struct DockerRuntime {
    pub engine: Engine,
    /// The engine's image id (`sha256:…`).
    pub image: String,
    pub service: String,
    pub fleet_key: String,
    /// Host folders mounted at the same path (a file registry's folder).
    pub mounts: Vec<PathBuf>,
}

impl DockerRuntime {
    fn container_id(handle: &Handle) -> Option<&str> {
        match handle {
            Handle::Container { id, .. } => Some(id),
            Handle::Pid(_) => None,
        }
    }

    pub async fn start(&self, spec: &InstanceSpec) -> Result<Handle, FleetError> {
        let name = container_name(&self.fleet_key, &spec.id);
        // A previous container of this instance (killed, or left by a crashed run) goes first:
        // the name is the instance's.
        self.engine.remove(&name).await?;
        let env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let binds: Vec<String> = self
            .mounts
            .iter()
            .map(|p| format!("{0}:{0}", p.display()))
            .collect();
        let body = serde_json::json!({
            "Image": self.image,
            "Env": env,
            "User": CONTAINER_USER,
            "Labels": {
                LABEL_FLEET: self.fleet_key,
                LABEL_SERVICE: self.service,
                LABEL_INSTANCE: spec.id,
            },
            "HostConfig": {
                "NetworkMode": "host",
                "ReadonlyRootfs": true,
                "CapDrop": ["ALL"],
                "SecurityOpt": ["no-new-privileges"],
                "Tmpfs": { "/tmp": "rw,noexec,nosuid,size=16m" },
                "Binds": binds,
                "RestartPolicy": { "Name": "no" },
            },
        });
        let (status, resp) = self
            .engine
            .call(
                http::Method::POST,
                &format!("/containers/create?name={name}"),
                Some(body),
            )
            .await?;
        if status == http::StatusCode::NOT_FOUND {
            return Err(DockerError::ImageMissing {
                image: self.image.clone(),
                host: self.engine.host.to_string(),
            }
            .into());
        }
        if !status.is_success() {
            return Err(self
                .engine
                .refused(format!("creating container {name}"), status, &resp)
                .into());
        }
        #[derive(Deserialize)]
        struct Created {
            #[serde(rename = "Id")]
            id: String,
        }
        let created: Created = serde_json::from_slice(&resp).map_err(|e| {
            self.engine.refused(
                format!("creating container {name}"),
                status,
                e.to_string().as_bytes(),
            )
        })?;
        let (status, resp) = self
            .engine
            .call(
                http::Method::POST,
                &format!("/containers/{}/start", created.id),
                None,
            )
            .await?;
        if !status.is_success() && status != http::StatusCode::NOT_MODIFIED {
            let err = self
                .engine
                .refused(format!("starting container {name}"), status, &resp);
            let _ = self.engine.remove(&created.id).await;
            return Err(err.into());
        }
        let pid = match self.engine.inspect(&created.id).await? {
            Some(i) => i.state.pid,
            None => 0,
        };
        Ok(Handle::Container {
            id: created.id,
            pid,
        })
    }

    pub async fn is_running(&self, handle: &Handle) -> bool {
        let Some(id) = Self::container_id(handle) else {
            return false;
        };
        matches!(self.engine.inspect(id).await, Ok(Some(i)) if i.state.running && !i.id.is_empty())
    }

    pub async fn terminate(&self, handle: &Handle) -> Result<(), FleetError> {
        match Self::container_id(handle) {
            Some(id) => Ok(self.engine.signal(id, "SIGTERM").await?),
            None => Ok(()),
        }
    }

    pub async fn kill(&self, handle: &Handle) -> Result<(), FleetError> {
        match Self::container_id(handle) {
            Some(id) => Ok(self.engine.signal(id, "SIGKILL").await?),
            None => Ok(()),
        }
    }

    pub async fn remove(&self, handle: &Handle) -> Result<(), FleetError> {
        match Self::container_id(handle) {
            Some(id) => Ok(self.engine.remove(id).await?),
            None => Ok(()),
        }
    }

    /// Write the container's output to `path` (replacing what was there), so the instance's
    /// log file says what its container printed.
    pub async fn save_log(&self, handle: &Handle, path: &Path) -> Result<(), FleetError> {
        let Some(id) = Self::container_id(handle) else {
            return Ok(());
        };
        let text = match self.engine.logs(id).await {
            Ok(t) => t,
            // A removed container has no logs left; keep what the file holds.
            Err(DockerError::Refused { status: 404, .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if let Some(parent) = path.parent() {
            crate::userfile::create_dir_all(parent)
                .map_err(super::io(format!("creating {}", parent.display())))?;
        }
        let tmp = path.with_extension(format!("log.tmp.{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(super::io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, path).map_err(super::io(format!("writing {}", path.display())))
    }

    /// Remove every container of this fleet (running or not); returns how many there were.
    pub async fn remove_all(&self) -> Result<usize, FleetError> {
        let ids = self.engine.labelled(LABEL_FLEET, &self.fleet_key).await?;
        for id in &ids {
            self.engine.remove(id).await?;
        }
        Ok(ids.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_keep_to_their_characters() {
        for good in [
            "orders:0.1.0",
            "127.0.0.1:5000/a/orders@sha256:ab12",
            "sha256:00ff",
        ] {
            validate_reference(good).unwrap();
        }
        for bad in ["", "orders?all=1", "../x", "a b", ":x", "a#b"] {
            assert!(validate_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_log_stream_is_demultiplexed() {
        let mut raw = vec![1, 0, 0, 0, 0, 0, 0, 3];
        raw.extend_from_slice(b"ab\n");
        raw.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 2]);
        raw.extend_from_slice(b"c\n");
        assert_eq!(demultiplex(&raw), b"ab\nc\n");
        assert_eq!(demultiplex(b"plain text\n"), b"plain text\n");
    }

    #[test]
    fn names_tie_a_container_to_its_instance_and_folder() {
        let key = fleet_key(Path::new("/srv/orders"));
        assert_eq!(key.len(), 12);
        assert_ne!(key, fleet_key(Path::new("/srv/orders2")));
        assert_eq!(
            container_name(&key, "orders-1"),
            format!("hale-orders-1-{key}")
        );
    }

    #[test]
    fn a_missing_image_is_the_users_to_fix_an_absent_engine_is_a_failure() {
        use crate::exit::{classify, Exit};
        let missing = FleetError::Docker(DockerError::ImageMissing {
            image: "orders:0.1.0".into(),
            host: "unix:///d.sock".into(),
        });
        assert_eq!(classify(&anyhow::Error::new(missing)), Exit::Usage);
        let gone = FleetError::Docker(DockerError::Unreachable {
            host: "unix:///d.sock".into(),
            reason: "No such file or directory".into(),
        });
        assert_eq!(classify(&anyhow::Error::new(gone)), Exit::Failed);
    }

    #[test]
    fn a_registry_folder_only_root_may_write_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("reg");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(
            check_registry_folder(&sub.join("r.json")),
            Err(DockerError::RegistryNotWritable { .. })
        ));
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o777)).unwrap();
        check_registry_folder(&sub.join("r.json")).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(check_registry_folder(&sub.join("r.json")).is_err());
    }
}
