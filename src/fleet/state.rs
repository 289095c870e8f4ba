//! The state file `.hale/fleet.json`: what runs, where, and on which runtime.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::runtime::{docker_runtime, FleetRuntime};
use super::{io, FleetError, ProcessRuntime, STATE_DIR};

/// The fleet state format this hale reads and writes.
const FORMAT: u64 = 1;

/// `.hale/fleet.json`. Fields are only ever added (older files stay readable).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FleetState {
    pub version: u32,
    pub service: String,
    pub registry: String,
    pub binary: PathBuf,
    /// Where the instances run; absent in files written before containers existed.
    #[serde(default)]
    pub runtime: RuntimeKind,
    /// The engine a container fleet runs on (`unix:///…` or `tcp://…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// The image a container fleet runs: the reference asked for (`orders:0.1.0`)...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// ...and the engine's id of it (`sha256:…`), which every container (restored ones too)
    /// runs, so a moved tag changes nothing in a running fleet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    pub instances: Vec<FleetInstance>,
}

/// Which [`Runtime`] a fleet's instances run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// Local processes of the built binary.
    #[default]
    Process,
    /// Containers of the built image, through the Docker Engine.
    Docker,
}

impl RuntimeKind {
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::Process => "process",
            RuntimeKind::Docker => "docker",
        }
    }
}

/// One instance of a fleet.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FleetInstance {
    pub id: String,
    /// The process id (the [`Handle`] of a process instance; a container's main process, as
    /// the engine reported it when it started).
    pub pid: u32,
    pub address: String,
    pub port: u16,
    pub log: PathBuf,
    pub started_unix_ms: u64,
    /// Port of the instance's admin listener (ADMIN_ADDR on `address`); absent in fleets
    /// started before the admin API had its own listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_port: Option<u16>,
    /// The container id (the [`Handle`] of a container instance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

impl FleetInstance {
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(
            self.address.parse().unwrap_or([127, 0, 0, 1].into()),
            self.port,
        )
    }

    /// Where the instance's admin API listens (the traffic address for older fleets).
    pub fn admin_addr(&self) -> SocketAddr {
        let mut addr = self.socket_addr();
        if let Some(port) = self.admin_port {
            addr.set_port(port);
        }
        addr
    }

    /// How the runtime addresses this instance.
    pub fn handle(&self) -> Handle {
        match &self.container {
            Some(id) => Handle::Container {
                id: id.clone(),
                pid: self.pid,
            },
            None => Handle::Pid(self.pid),
        }
    }

    /// Record a new handle (after a start).
    pub(super) fn set_handle(&mut self, handle: Handle) {
        match handle {
            Handle::Pid(pid) => {
                self.pid = pid;
                self.container = None;
            }
            Handle::Container { id, pid } => {
                self.pid = pid;
                self.container = Some(id);
            }
        }
    }
}

/// A runtime-specific handle on a running instance: a pid for processes, a container id (and
/// its main process, for display) for containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handle {
    Pid(u32),
    Container { id: String, pid: u32 },
}

impl std::fmt::Display for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Handle::Pid(pid) => write!(f, "pid {pid}"),
            Handle::Container { id, .. } => write!(f, "container {}", &id[..id.len().min(12)]),
        }
    }
}

impl FleetState {
    /// The path of the state file of the service in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_DIR).join("fleet.json")
    }

    /// Read `dir/.hale/fleet.json`.
    pub fn load(dir: &Path) -> Result<FleetState, FleetError> {
        let dir = &std::path::absolute(dir).map_err(io("resolving the service folder"))?;
        let path = Self::path(dir);
        let text =
            crate::userfile::read(&path, crate::userfile::Limit::STATE).map_err(|source| {
                FleetError::NoFleet {
                    dir: dir.to_path_buf(),
                    path: path.clone(),
                    source,
                }
            })?;
        if let Some(found) = crate::values::declared_format(&text).filter(|v| *v > FORMAT) {
            return Err(FleetError::NewerState(crate::values::newer_format(
                &path,
                "fleet state",
                found,
                FORMAT,
            )));
        }
        let state: FleetState =
            serde_json::from_slice(&text).map_err(|source| FleetError::BadState {
                path: path.clone(),
                source,
            })?;
        // `hale down` removes the binary and the logs the state names, and signals processes
        // running that binary: none of them may lie outside this service's `.hale/`.
        let own = dir.join(STATE_DIR);
        crate::confine::within(&own, &state.binary, &path)?;
        for i in &state.instances {
            crate::confine::within(&own, &i.log, &path)?;
        }
        Ok(state)
    }

    /// Write the state atomically: a temporary file renamed over the old one.
    pub fn save(&self, dir: &Path) -> Result<(), FleetError> {
        let parent = dir.join(STATE_DIR);
        let path = Self::path(dir);
        crate::userfile::create_dir_all(&parent)
            .map_err(io(format!("creating {}", parent.display())))?;
        let tmp = parent.join(format!("fleet.json.tmp.{}", std::process::id()));
        let mut text = serde_json::to_vec_pretty(self).map_err(|source| FleetError::BadState {
            path: path.clone(),
            source,
        })?;
        text.push(b'\n');
        std::fs::write(&tmp, text).map_err(io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(io(format!("writing {}", path.display())))?;
        Ok(())
    }

    pub fn instance(&self, id: &str) -> Result<&FleetInstance, FleetError> {
        self.instances
            .iter()
            .find(|i| i.id == id)
            .ok_or_else(|| FleetError::NoInstance {
                id: id.to_string(),
                service: self.service.clone(),
                known: self
                    .instances
                    .iter()
                    .map(|i| i.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The runtime the instances of this fleet (in the absolute folder `dir`) run on.
    pub fn runtime(&self, dir: &Path) -> Result<FleetRuntime, FleetError> {
        match self.runtime {
            RuntimeKind::Process => Ok(FleetRuntime::Process(ProcessRuntime {
                binary: self.binary.clone(),
            })),
            RuntimeKind::Docker => {
                let host = crate::engine::EngineHost::recorded(
                    self.engine.as_deref(),
                    &crate::settings::process_env,
                )
                .map_err(|e| FleetError::Io {
                    action: format!("reading {}", Self::path(dir).display()),
                    source: std::io::Error::other(e),
                })?;
                Ok(FleetRuntime::Docker(docker_runtime(
                    host,
                    self.image_id.clone().unwrap_or_default(),
                    &self.service,
                    dir,
                    &self.registry,
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path under the fleet's own `.hale/`, as `hale up` writes them.
    fn own(dir: &Path, rel: &str) -> PathBuf {
        dir.join(STATE_DIR).join(rel)
    }

    #[test]
    fn fleet_state_round_trips_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let state = FleetState {
            version: 1,
            service: "orders".into(),
            registry: "file:///tmp/r.json".into(),
            binary: own(dir.path(), "bin/orders"),
            runtime: RuntimeKind::Process,
            engine: None,
            image: None,
            image_id: None,
            instances: vec![FleetInstance {
                id: "orders-1".into(),
                pid: 1,
                address: "127.0.0.1".into(),
                port: 41001,
                log: own(dir.path(), "logs/orders-1.log"),
                started_unix_ms: 5,
                admin_port: Some(41002),
                container: None,
            }],
        };
        state.save(dir.path()).unwrap();
        assert_eq!(FleetState::load(dir.path()).unwrap(), state);
        let names: Vec<_> = std::fs::read_dir(dir.path().join(STATE_DIR))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("fleet.json")]);
    }

    #[test]
    fn a_state_file_naming_files_outside_its_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = FleetState {
            version: 1,
            service: "orders".into(),
            registry: "file:///tmp/r.json".into(),
            binary: "/usr/bin/sshd".into(),
            runtime: RuntimeKind::Process,
            engine: None,
            image: None,
            image_id: None,
            instances: Vec::new(),
        };
        state.save(dir.path()).unwrap();
        let err = FleetState::load(dir.path()).unwrap_err();
        assert!(matches!(err, FleetError::Escape(_)), "{err}");
        state.binary = own(dir.path(), "bin/../../../victim");
        state.save(dir.path()).unwrap();
        assert!(matches!(
            FleetState::load(dir.path()),
            Err(FleetError::Escape(_))
        ));
        state.binary = own(dir.path(), "bin/orders");
        state.instances.push(FleetInstance {
            id: "orders-1".into(),
            pid: 1,
            address: "127.0.0.1".into(),
            port: 41001,
            log: dir.path().join("victim.txt"),
            started_unix_ms: 5,
            admin_port: None,
            container: None,
        });
        state.save(dir.path()).unwrap();
        assert!(matches!(
            FleetState::load(dir.path()),
            Err(FleetError::Escape(_))
        ));
    }

    #[test]
    fn a_state_file_without_a_runtime_runs_processes() {
        let dir = tempfile::tempdir().unwrap();
        let path = FleetState::path(dir.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            format!(
                r#"{{"version":1,"service":"orders","registry":"file:///r.json","binary":{:?},"instances":[]}}"#,
                own(dir.path(), "bin/orders")
            ),
        )
        .unwrap();
        let state = FleetState::load(dir.path()).unwrap();
        assert_eq!(state.runtime, RuntimeKind::Process);
        assert!(matches!(
            state.runtime(dir.path()),
            Ok(FleetRuntime::Process(_))
        ));
    }

    #[test]
    fn a_container_fleet_round_trips_its_engine_image_and_handles() {
        let dir = tempfile::tempdir().unwrap();
        let state = FleetState {
            version: 1,
            service: "orders".into(),
            registry: "file:///srv/reg/r.json".into(),
            binary: own(dir.path(), "bin/orders"),
            runtime: RuntimeKind::Docker,
            engine: Some("unix:///run/d.sock".into()),
            image: Some("orders:0.1.0".into()),
            image_id: Some("sha256:00".into()),
            instances: vec![FleetInstance {
                id: "orders-1".into(),
                pid: 7,
                address: "127.0.0.1".into(),
                port: 41001,
                log: own(dir.path(), "logs/orders-1.log"),
                started_unix_ms: 5,
                admin_port: Some(41002),
                container: Some("abc".into()),
            }],
        };
        state.save(dir.path()).unwrap();
        let back = FleetState::load(dir.path()).unwrap();
        assert_eq!(back, state);
        assert_eq!(
            back.instances[0].handle(),
            Handle::Container {
                id: "abc".into(),
                pid: 7
            }
        );
        let Ok(FleetRuntime::Docker(d)) = back.runtime(dir.path()) else {
            panic!("a docker fleet runs on the docker runtime");
        };
        assert_eq!(d.mounts, vec![PathBuf::from("/srv/reg")]);
        assert_eq!(d.image, "sha256:00");
    }
}
