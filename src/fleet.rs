//! A local fleet: N instances of a generated service, state in `.hale/`.
//!
//! `hale up` builds the service once (`go build -o .hale/bin/<name> ./cmd/<name>`), starts each
//! instance on a free 127.0.0.1 port with its log in `.hale/logs/<id>.log`, waits for `/readyz`,
//! and records everything in `.hale/fleet.json` (written to a temporary file and renamed).
//! Instances register themselves through the service's own registry code (the REGISTRY
//! variable); hale only checks they showed up.
//!
//! Everything that touches an instance goes through the [`Runtime`] trait, addressed by the
//! instance's [`Handle`]: [`ProcessRuntime`] runs processes (a pid), [`docker::DockerRuntime`]
//! containers of the image `hale build` made (a container id), chosen by the fleet state's
//! [`RuntimeKind`]. `up`, [`status`], [`down`], [`kill_instance`] and [`restore_instance`] all
//! take the runtime from the fleet's state. `hale load` uses the last two and [`set_faults`]
//! to inject failures; they hold the fleet lock as `up` and `down` do.
pub mod docker;
pub mod report;

use std::future::Future;
use std::io::{Read as _, Seek as _};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::discovery::file::now_unix_ms;
use crate::discovery::{Layout, Registry, RegistryError, RegistryUrl};
use crate::progress::Progress;
use crate::stop::Stop;

/// The folder, inside the service, where hale keeps a fleet's state.
pub const STATE_DIR: &str = ".hale";

/// What went wrong with a fleet.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("no fleet in {dir} (reading {path}): start one with `hale up`")]
    NoFleet {
        dir: PathBuf,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a hale fleet state file")]
    BadState {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("no instance {id:?} in the {service} fleet (it has {known})")]
    NoInstance {
        id: String,
        service: String,
        known: String,
    },
    #[error(
        "the running fleet uses {running} (not {asked}): run `hale down` first to change registry"
    )]
    RegistryChanged { running: String, asked: String },
    #[error("the running fleet is {running:?} (not {asked:?}): run `hale down` first")]
    ServiceChanged { running: String, asked: String },
    #[error("{0} does not exist: run `hale up` in a service made by `hale new` (or fix `name` in hale.toml)")]
    NotAService(PathBuf),
    #[error("running `go build` (is Go installed and on PATH?)")]
    GoMissing(#[source] std::io::Error),
    #[error("`go build ./cmd/{name}` failed: {tail}")]
    BuildFailed { name: String, tail: String },
    #[error("instance {id} exited before it was ready; log tail ({log}): {tail}")]
    ExitedBeforeReady {
        id: String,
        log: PathBuf,
        tail: String,
    },
    #[error("instance {id} did not answer 200 on http://{addr}/readyz within {}; log tail ({}): {tail}", humantime::format_duration(*within), log.display())]
    NotReady {
        id: String,
        addr: SocketAddr,
        within: Duration,
        log: PathBuf,
        tail: String,
    },
    #[error("{id} ({handle}) still runs 5 s after SIGKILL")]
    StillRunning { id: String, handle: Handle },
    #[error("sending {signal} to {handle}")]
    Signal {
        signal: Signal,
        handle: Handle,
        #[source]
        source: nix::Error,
    },
    #[error("error rate {0} is outside 0..1")]
    BadErrorRate(f64),
    #[error("setting faults on {addr}")]
    FaultsUnreachable {
        addr: SocketAddr,
        #[source]
        source: reqwest::Error,
    },
    #[error("setting faults on {addr}: HTTP {status} (is ADMIN_ENABLED=true?)")]
    FaultsRefused { addr: SocketAddr, status: u16 },
    #[error("cannot set up the HTTP client for probes: {0}")]
    Client(#[source] reqwest::Error),
    #[error("the fleet stopped, but checking that {id} left the registry failed")]
    CheckDeregistered {
        id: String,
        #[source]
        source: RegistryError,
    },
    #[error("{ids} still listed in {url} after stopping")]
    StillListed { ids: String, url: String },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{action}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
    /// The stop signal arrived: what had started was stopped again.
    #[error("stopped before the fleet was ready")]
    Stopped,
    #[error(
        "the running fleet runs as {running} (not {asked}): run `hale down` first to change runtime"
    )]
    RuntimeChanged { running: String, asked: String },
    #[error(transparent)]
    Docker(#[from] docker::DockerError),
    #[error("another hale{} is changing the fleet in {}: let it finish and run this again (lock {})", holder.map(|p| format!(" (pid {p})")).unwrap_or_default(), dir.display(), lock.display())]
    Locked {
        dir: PathBuf,
        lock: PathBuf,
        holder: Option<u32>,
    },
}

/// The lock file that `hale up` and `hale down` hold while they change a fleet.
pub const LOCK_FILE: &str = "fleet.lock";

/// An exclusive `flock` on `.hale/fleet.lock`, held while a command changes the fleet: a second
/// `hale up` or `hale down` in the same folder refuses (it does not wait). The holder writes its
/// pid into the file, for the refusal to name it. Released when dropped (or the process exits).
#[derive(Debug)]
pub struct FleetLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl FleetLock {
    /// Take the lock of the fleet in `dir` (absolute), creating `.hale/` if needed.
    pub fn take(dir: &Path) -> Result<FleetLock, FleetError> {
        let state_dir = dir.join(STATE_DIR);
        std::fs::create_dir_all(&state_dir)
            .map_err(io(format!("creating {}", state_dir.display())))?;
        let mut lock = Self::lock(dir, true)?;
        lock.announce(dir)?;
        Ok(lock)
    }

    /// Take the lock of a fleet that exists: nothing is created, so acting on a fleet that
    /// `hale down` just removed fails with [`FleetError::NoFleet`] and leaves nothing behind
    /// (`hale down` removes fleet.json before it lets go of the lock, so the caller's read of
    /// fleet.json under this lock says so). Two system calls: a kill fault sends its signal
    /// right after, and [`FleetLock::announce`] can follow it.
    pub fn take_existing(dir: &Path) -> Result<FleetLock, FleetError> {
        Self::lock(dir, false)
    }

    /// Write this process's pid into the lock file, for a refused `hale up`/`down` to name.
    pub fn announce(&mut self, dir: &Path) -> Result<(), FleetError> {
        use std::os::unix::fs::FileExt as _;
        let path = dir.join(STATE_DIR).join(LOCK_FILE);
        let text = format!("{}\n", std::process::id());
        let write = |f: &std::fs::File| -> std::io::Result<()> {
            f.write_all_at(text.as_bytes(), 0)?;
            f.set_len(text.len() as u64)
        };
        write(&self._lock).map_err(io(format!("writing {}", path.display())))
    }

    fn lock(dir: &Path, create: bool) -> Result<FleetLock, FleetError> {
        use std::io::Read as _;
        let path = dir.join(STATE_DIR).join(LOCK_FILE);
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(&path)
        {
            Ok(f) => f,
            Err(source) if !create && source.kind() == std::io::ErrorKind::NotFound => {
                // A fleet started before the lock existed has fleet.json and no lock file.
                if FleetState::path(dir).exists() {
                    return Self::lock(dir, true);
                }
                return Err(FleetError::NoFleet {
                    dir: dir.to_path_buf(),
                    path: FleetState::path(dir),
                    source,
                });
            }
            Err(e) => return Err(io(format!("opening {}", path.display()))(e)),
        };
        let lock = match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        {
            Ok(lock) => lock,
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(FleetError::Locked {
                    dir: dir.to_path_buf(),
                    lock: path,
                    holder: text.trim().parse().ok(),
                });
            }
            Err((_, errno)) => {
                return Err(FleetError::Io {
                    action: format!("locking {}", path.display()),
                    source: errno.into(),
                })
            }
        };
        Ok(FleetLock { _lock: lock })
    }
}

fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> FleetError {
    let action = action.into();
    move |source| FleetError::Io { action, source }
}

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
    fn set_handle(&mut self, handle: Handle) {
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
        let path = Self::path(dir);
        let text = std::fs::read(&path).map_err(|source| FleetError::NoFleet {
            dir: dir.to_path_buf(),
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|source| FleetError::BadState { path, source })
    }

    /// Write the state atomically: a temporary file renamed over the old one.
    pub fn save(&self, dir: &Path) -> Result<(), FleetError> {
        let parent = dir.join(STATE_DIR);
        let path = Self::path(dir);
        std::fs::create_dir_all(&parent).map_err(io(format!("creating {}", parent.display())))?;
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

fn docker_runtime(
    host: crate::engine::EngineHost,
    image_id: String,
    service: &str,
    dir: &Path,
    registry: &str,
) -> docker::DockerRuntime {
    let mounts = match RegistryUrl::parse(registry) {
        Ok(RegistryUrl::File { path }) => {
            path.parent().map(Path::to_path_buf).into_iter().collect()
        }
        _ => Vec::new(),
    };
    docker::DockerRuntime {
        engine: docker::Engine::new(host),
        image: image_id,
        service: service.to_string(),
        fleet_key: docker::fleet_key(dir),
        mounts,
    }
}

/// What an instance needs to start.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    pub id: String,
    pub port: u16,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
    pub workdir: PathBuf,
}

/// Where instances run, addressed by their [`Handle`]. Every fleet operation goes through it.
pub trait Runtime {
    /// Start an instance detached from hale.
    fn start(&self, spec: &InstanceSpec)
        -> impl Future<Output = Result<Handle, FleetError>> + Send;
    /// Whether the instance still runs (a zombie or a reused pid does not).
    fn is_running(&self, handle: &Handle) -> impl Future<Output = bool> + Send;
    /// Ask the instance to shut down gracefully (SIGTERM: unready, deregister, drain, exit).
    fn terminate(&self, handle: &Handle) -> impl Future<Output = Result<(), FleetError>> + Send;
    /// End the instance at once, as a crash would (SIGKILL: no deregistration).
    fn kill(&self, handle: &Handle) -> impl Future<Output = Result<(), FleetError>> + Send;
    /// Release what a stopped instance still holds (a container; nothing for a process).
    fn remove(&self, handle: &Handle) -> impl Future<Output = Result<(), FleetError>> + Send;
    /// Bring the instance's output into its log file (a container's; a process writes there).
    fn save_log(
        &self,
        handle: &Handle,
        log: &Path,
    ) -> impl Future<Output = Result<(), FleetError>> + Send;
}

/// The runtime of a fleet, chosen by its state's [`RuntimeKind`].
#[derive(Debug, Clone)]
pub enum FleetRuntime {
    Process(ProcessRuntime),
    Docker(docker::DockerRuntime),
}

impl FleetRuntime {
    /// Whether the runtime can be reached at all (the engine answers), so a fleet whose
    /// engine is gone is said to be so, not listed as dead.
    pub async fn check(&self) -> Result<(), FleetError> {
        match self {
            FleetRuntime::Process(_) => Ok(()),
            FleetRuntime::Docker(d) => Ok(d.engine.ping().await?),
        }
    }

    /// Remove whatever this fleet left in its runtime, also what fleet.json does not list (the
    /// containers a killed `hale up` started); how many there were.
    pub async fn remove_all(&self) -> Result<usize, FleetError> {
        match self {
            FleetRuntime::Process(_) => Ok(0),
            FleetRuntime::Docker(d) => d.remove_all().await,
        }
    }
}

impl Runtime for FleetRuntime {
    async fn start(&self, spec: &InstanceSpec) -> Result<Handle, FleetError> {
        match self {
            FleetRuntime::Process(p) => p.start(spec).await,
            FleetRuntime::Docker(d) => d.start(spec).await,
        }
    }

    async fn is_running(&self, handle: &Handle) -> bool {
        match self {
            FleetRuntime::Process(p) => p.is_running(handle).await,
            FleetRuntime::Docker(d) => d.is_running(handle).await,
        }
    }

    async fn terminate(&self, handle: &Handle) -> Result<(), FleetError> {
        match self {
            FleetRuntime::Process(p) => p.terminate(handle).await,
            FleetRuntime::Docker(d) => d.terminate(handle).await,
        }
    }

    async fn kill(&self, handle: &Handle) -> Result<(), FleetError> {
        match self {
            FleetRuntime::Process(p) => p.kill(handle).await,
            FleetRuntime::Docker(d) => d.kill(handle).await,
        }
    }

    async fn remove(&self, handle: &Handle) -> Result<(), FleetError> {
        match self {
            FleetRuntime::Process(p) => p.remove(handle).await,
            FleetRuntime::Docker(d) => d.remove(handle).await,
        }
    }

    async fn save_log(&self, handle: &Handle, log: &Path) -> Result<(), FleetError> {
        match self {
            FleetRuntime::Process(p) => p.save_log(handle, log).await,
            FleetRuntime::Docker(d) => d.save_log(handle, log).await,
        }
    }
}

/// Instances as local processes of the built binary, each in its own process group.
#[derive(Debug, Clone)]
pub struct ProcessRuntime {
    pub binary: PathBuf,
}

impl Runtime for ProcessRuntime {
    async fn start(&self, spec: &InstanceSpec) -> Result<Handle, FleetError> {
        if let Some(parent) = spec.log.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io(format!("creating {}", parent.display())))?;
        }
        let opening = || format!("opening {}", spec.log.display());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log)
            .map_err(io(opening()))?;
        let mut cmd = std::process::Command::new(&self.binary);
        cmd.current_dir(&spec.workdir)
            .env_clear()
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().map_err(io(opening()))?)
            .stderr(log)
            // Its own process group: Ctrl-C in hale's terminal does not reach the fleet, and
            // `hale down` signals the instance with everything it started.
            .process_group(0);
        for key in ["PATH", "HOME", "TMPDIR", "TZ"] {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
        let child = cmd.spawn().map_err(io(format!(
            "starting {} for {}",
            self.binary.display(),
            spec.id
        )))?;
        Ok(Handle::Pid(child.id()))
    }

    async fn is_running(&self, handle: &Handle) -> bool {
        let Handle::Pid(pid) = *handle else {
            return false;
        };
        reap(pid);
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        if matches!(state, Some('Z' | 'X') | None) {
            return false;
        }
        // A pid reused by another program is not our instance.
        match std::fs::read_link(format!("/proc/{pid}/exe")) {
            Ok(exe) => {
                let exe = exe.to_string_lossy();
                let binary = self.binary.to_string_lossy();
                exe == binary || exe.strip_suffix(" (deleted)") == Some(&binary)
            }
            Err(_) => true,
        }
    }

    async fn terminate(&self, handle: &Handle) -> Result<(), FleetError> {
        signal_group(handle, Signal::SIGTERM)
    }

    async fn kill(&self, handle: &Handle) -> Result<(), FleetError> {
        signal_group(handle, Signal::SIGKILL)
    }

    async fn remove(&self, _: &Handle) -> Result<(), FleetError> {
        Ok(())
    }

    async fn save_log(&self, _: &Handle, _: &Path) -> Result<(), FleetError> {
        Ok(())
    }
}

/// Send a signal to the process group an instance leads (or the process, if it no longer does).
fn signal_group(handle: &Handle, signal: Signal) -> Result<(), FleetError> {
    let Handle::Pid(pid) = *handle else {
        return Ok(());
    };
    let failed = |source| FleetError::Signal {
        signal,
        handle: handle.clone(),
        source,
    };
    let pgid = Pid::from_raw(pid as i32);
    match nix::sys::signal::killpg(pgid, signal) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::ESRCH) => match nix::sys::signal::kill(pgid, signal) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
            Err(e) => Err(failed(e)),
        },
        Err(e) => Err(failed(e)),
    }
}

/// Collect the exit status if `pid` is our child (restored by this process), so it does not
/// linger as a zombie that looks alive.
fn reap(pid: u32) {
    use nix::sys::wait::{waitpid, WaitPidFlag};
    let _ = waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG));
}

/// The environment of one instance (docs/contracts.md, "Local fleet").
pub fn instance_env(service: &str, id: &str, port: u16, registry: &str) -> Vec<(String, String)> {
    [
        ("PORT", port.to_string()),
        ("HOST", "127.0.0.1".into()),
        ("ADVERTISE_ADDR", "127.0.0.1".into()),
        ("SERVICE_NAME", service.into()),
        ("INSTANCE_ID", id.into()),
        ("REGISTRY", registry.into()),
        ("FAULT_INJECTION", "true".into()),
        ("ADMIN_ENABLED", "true".into()),
        ("DRAIN_DELAY", "1s".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A free TCP port on 127.0.0.1 (the kernel picks it; the listener is closed right away).
pub fn free_port() -> Result<u16, FleetError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(io("finding a free port"))
}

/// The last `lines` lines of a log, joined on one line for an error message.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return "(no log)".into();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(std::io::SeekFrom::Start(len.saturating_sub(8192)));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &all[all.len().saturating_sub(lines)..];
    if tail.is_empty() {
        "(empty log)".into()
    } else {
        tail.join(" | ")
    }
}

fn spec_for(
    dir: &Path,
    state: &FleetState,
    id: &str,
    port: u16,
    admin_port: Option<u16>,
) -> InstanceSpec {
    let mut env = instance_env(&state.service, id, port, &state.registry);
    if let Some(admin) = admin_port {
        env.push(("ADMIN_ADDR".into(), format!("127.0.0.1:{admin}")));
    }
    InstanceSpec {
        id: id.to_string(),
        port,
        env,
        log: dir.join(STATE_DIR).join("logs").join(format!("{id}.log")),
        workdir: dir.to_path_buf(),
    }
}

/// Kill one instance (no graceful shutdown, no deregistration: a crash). The entry stays in
/// fleet.json so [`restore_instance`] can bring it back. Returns once the instance is really
/// gone, so callers (tests, `hale load`'s fault timeline) see it dead from then on.
///
/// Holds the fleet lock, as `up` and `down` do: a kill never races a `hale down` (or an `up`
/// that is changing the fleet); it refuses with [`FleetError::Locked`] instead.
pub async fn kill_instance(dir: &Path, id: &str) -> Result<(), FleetError> {
    let dir = std::path::absolute(dir).map_err(io("resolving the service folder"))?;
    let mut lock = FleetLock::take_existing(&dir)?;
    let state = FleetState::load(&dir)?;
    let handle = state.instance(id)?.handle();
    let runtime = state.runtime(&dir)?;
    if runtime.is_running(&handle).await {
        runtime.kill(&handle).await?;
        // After the signal: a kill fault's moment is what `hale load` measures from.
        lock.announce(&dir)?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while runtime.is_running(&handle).await {
            if tokio::time::Instant::now() >= deadline {
                return Err(FleetError::StillRunning {
                    id: id.to_string(),
                    handle,
                });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // What the crashed container printed stays readable after a restore replaces it.
        let _ = runtime.save_log(&handle, &state.instance(id)?.log).await;
    }
    Ok(())
}

/// Start an instance again with the same id, port and environment; fleet.json gets its new
/// handle. A no-op if it still runs. Does not wait for readiness: callers watch it recover.
/// Holds the fleet lock, as [`kill_instance`] does.
pub async fn restore_instance(dir: &Path, id: &str) -> Result<(), FleetError> {
    let dir = std::path::absolute(dir).map_err(io("resolving the service folder"))?;
    let dir = dir.as_path();
    let mut lock = FleetLock::take_existing(dir)?;
    lock.announce(dir)?;
    let mut state = FleetState::load(dir)?;
    let runtime = state.runtime(dir)?;
    let instance = state.instance(id)?.clone();
    if runtime.is_running(&instance.handle()).await {
        return Ok(());
    }
    let handle = runtime
        .start(&spec_for(
            dir,
            &state,
            id,
            instance.port,
            instance.admin_port,
        ))
        .await?;
    if let Some(entry) = state.instances.iter_mut().find(|i| i.id == id) {
        entry.set_handle(handle);
        entry.started_unix_ms = now_unix_ms();
    }
    state.save(dir)
}

/// Faults injected into one instance through its admin API.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// Share of requests answered 503, 0..=1.
    pub error_rate: f64,
    /// Delay added before every request.
    pub latency: Duration,
}

/// `PUT /admin/faults` on the instance at `addr` (it turns injection on).
pub async fn set_faults(addr: SocketAddr, faults: &Faults) -> Result<(), FleetError> {
    if !(0.0..=1.0).contains(&faults.error_rate) {
        return Err(FleetError::BadErrorRate(faults.error_rate));
    }
    let resp = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(FleetError::Client)?
        .put(format!("http://{addr}/admin/faults"))
        .json(&serde_json::json!({
            "error_rate": faults.error_rate,
            "latency_ms": faults.latency.as_millis() as u64,
        }))
        .send()
        .await
        .map_err(|source| FleetError::FaultsUnreachable { addr, source })?;
    if !resp.status().is_success() {
        return Err(FleetError::FaultsRefused {
            addr,
            status: resp.status().as_u16(),
        });
    }
    Ok(())
}

/// What `hale up` is asked to do.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// The service folder (holds hale.toml, go.mod, cmd/<name>).
    pub dir: PathBuf,
    pub name: String,
    pub replicas: u32,
    pub registry: RegistryUrl,
    /// How long every instance together may take to answer /readyz.
    pub ready_timeout: Duration,
    /// How long to wait for the instances to show up in the registry.
    pub registry_timeout: Duration,
    pub runtime: RuntimeChoice,
}

/// Where `hale up` runs the instances.
#[derive(Debug, Clone)]
pub enum RuntimeChoice {
    /// Processes of the binary built from the service folder.
    Process,
    /// Containers on the engine at `engine`, of `image` (else the one `.hale/build.json` names).
    Docker {
        engine: crate::engine::EngineHost,
        image: Option<String>,
    },
}

impl RuntimeChoice {
    pub fn kind(&self) -> RuntimeKind {
        match self {
            RuntimeChoice::Process => RuntimeKind::Process,
            RuntimeChoice::Docker { .. } => RuntimeKind::Docker,
        }
    }
}

/// The outcome of `hale up`.
#[derive(Debug, Clone, Serialize)]
pub struct UpReport {
    /// The service folder (absolute).
    pub dir: PathBuf,
    pub state: FleetState,
    pub started: Vec<String>,
    pub stopped: Vec<String>,
    pub kept: Vec<String>,
    pub built: bool,
    pub registered: Vec<String>,
}

/// Build and start the fleet, or adjust a running fleet to `replicas`: running instances are
/// kept, dead ones restarted on their port, missing ones started, extra ones stopped.
///
/// Steps are reported on `progress`. On `stop` (during the build or the readiness wait) the
/// instances this call started are stopped again and [`FleetError::Stopped`] is returned.
pub async fn up(
    opts: &UpOptions,
    progress: &Progress,
    stop: &Stop,
) -> Result<UpReport, FleetError> {
    let dir = std::path::absolute(&opts.dir).map_err(io("resolving the service folder"))?;
    let lock = FleetLock::take(&dir)?;
    let result = up_locked(opts, dir.clone(), progress, stop).await;
    if result.is_err() && !FleetState::path(&dir).exists() {
        // Nothing runs: the refusal leaves no lock file (nor an empty .hale/) behind.
        let _ = std::fs::remove_file(dir.join(STATE_DIR).join(LOCK_FILE));
        let _ = std::fs::remove_dir(dir.join(STATE_DIR));
    }
    drop(lock);
    result
}

async fn up_locked(
    opts: &UpOptions,
    dir: PathBuf,
    progress: &Progress,
    stop: &Stop,
) -> Result<UpReport, FleetError> {
    let state_dir = dir.join(STATE_DIR);
    let binary = state_dir.join("bin").join(&opts.name);
    let previous = if FleetState::path(&dir).exists() {
        Some(FleetState::load(&dir)?)
    } else {
        None
    };
    let mut running: Vec<FleetInstance> = Vec::new();
    if let Some(prev) = &previous {
        let prev_runtime = prev.runtime(&dir)?;
        for i in &prev.instances {
            if prev_runtime.is_running(&i.handle()).await {
                running.push(i.clone());
            }
        }
        if !running.is_empty() {
            if prev.runtime != opts.runtime.kind() {
                return Err(FleetError::RuntimeChanged {
                    running: prev.runtime.name().to_string(),
                    asked: opts.runtime.kind().name().to_string(),
                });
            }
            if prev.registry != opts.registry.to_string() {
                return Err(FleetError::RegistryChanged {
                    running: prev.registry.clone(),
                    asked: opts.registry.to_string(),
                });
            }
            if prev.service != opts.name {
                return Err(FleetError::ServiceChanged {
                    running: prev.service.clone(),
                    asked: opts.name.clone(),
                });
            }
        } else {
            // Nothing runs: what a previous fleet left in its runtime (stopped containers)
            // goes, whichever runtime this one uses.
            prev_runtime.remove_all().await?;
        }
    }

    let mut state = FleetState {
        version: 1,
        service: opts.name.clone(),
        registry: opts.registry.to_string(),
        binary: binary.clone(),
        runtime: opts.runtime.kind(),
        engine: None,
        image: None,
        image_id: None,
        instances: Vec::new(),
    };
    // Instances of one fleet run the same build: rebuild (or look the image up again) only
    // when nothing runs. A running binary cannot be overwritten anyway (ETXTBSY).
    let built = running.is_empty();
    let runtime = match &opts.runtime {
        RuntimeChoice::Process => {
            if built {
                progress.status("Building", binary.display().to_string());
                tokio::select! {
                    result = build(&dir, &opts.name, &binary) => result?,
                    () = stop.stopped() => return Err(FleetError::Stopped),
                }
            } else {
                progress.status(
                    "Reusing",
                    "the running fleet's binary (`hale down` first to rebuild)",
                );
            }
            FleetRuntime::Process(ProcessRuntime {
                binary: binary.clone(),
            })
        }
        RuntimeChoice::Docker { engine, image } => {
            let (reference, image_id) = match previous.as_ref().filter(|_| !built) {
                Some(prev) => {
                    progress.status(
                        "Reusing",
                        "the running fleet's image (`hale down` first to change it)",
                    );
                    (
                        prev.image.clone(),
                        prev.image_id.clone().unwrap_or_default(),
                    )
                }
                None => {
                    let reference = match image {
                        Some(r) => {
                            docker::validate_reference(r)?;
                            r.clone()
                        }
                        None => docker::built_image(&dir)?,
                    };
                    if let RegistryUrl::File { path } = &opts.registry {
                        docker::check_registry_folder(path)?;
                    }
                    let client = docker::Engine::new(engine.clone());
                    client.ping().await?;
                    let id = client.image_id(&reference).await?;
                    progress.status(
                        "Using",
                        format!("image {reference} ({})", &id[..id.len().min(19)]),
                    );
                    (Some(reference), id)
                }
            };
            state.engine = Some(engine.to_string());
            state.image = reference;
            state.image_id = Some(image_id.clone());
            FleetRuntime::Docker(docker_runtime(
                engine.clone(),
                image_id,
                &opts.name,
                &dir,
                &state.registry,
            ))
        }
    };

    let wanted: Vec<String> = (1..=opts.replicas)
        .map(|n| format!("{}-{n}", opts.name))
        .collect();
    let mut stopped = Vec::new();
    let mut kept = Vec::new();
    let mut started = Vec::new();
    // Extras first, so their ports are free before anything new starts.
    let extras: Vec<FleetInstance> = running
        .iter()
        .filter(|i| !wanted.contains(&i.id))
        .cloned()
        .collect();
    if !extras.is_empty() {
        stop_instances(&runtime, &extras, Duration::from_secs(30)).await?;
        let registry = Registry::new(&opts.registry, Layout::Hale)?;
        for extra in &extras {
            runtime.remove(&extra.handle()).await?;
            let _ = registry.deregister(&opts.name, &extra.id).await;
            let _ = std::fs::remove_file(&extra.log);
            progress.status("Stopped", extra.id.clone());
            stopped.push(extra.id.clone());
        }
    }
    // A start that fails (an engine that refuses a container) is handled as a readiness
    // failure: what this run started is stopped again.
    let mut start_failed = None;
    for id in &wanted {
        if let Some(alive) = running.iter().find(|i| &i.id == id) {
            kept.push(id.clone());
            state.instances.push(alive.clone());
            continue;
        }
        // A dead instance comes back on its old port, so clients that knew it find it again.
        let old_port = previous
            .iter()
            .flat_map(|s| s.instances.iter())
            .find(|i| &i.id == id)
            .map(|i| i.port);
        let port = match old_port {
            Some(p) if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() => p,
            _ => free_port()?,
        };
        let admin_port = loop {
            let p = free_port()?;
            if p != port {
                break p;
            }
        };
        let spec = spec_for(&dir, &state, id, port, Some(admin_port));
        let handle = match runtime.start(&spec).await {
            Ok(h) => h,
            Err(e) => {
                start_failed = Some(e);
                break;
            }
        };
        progress.status("Started", format!("{id} on 127.0.0.1:{port} ({handle})"));
        let mut instance = FleetInstance {
            id: id.clone(),
            pid: 0,
            address: "127.0.0.1".into(),
            port,
            log: spec.log.clone(),
            started_unix_ms: now_unix_ms(),
            admin_port: Some(admin_port),
            container: None,
        };
        instance.set_handle(handle);
        state.instances.push(instance);
        started.push(id.clone());
    }
    // Record what runs before waiting, so `hale down` can clean up even if hale is killed.
    state.save(&dir)?;

    let ready = match start_failed {
        Some(e) => Err(e),
        None => tokio::select! {
            result = wait_ready(&runtime, &state, &started, opts.ready_timeout, progress) => result,
            () = stop.stopped() => Err(FleetError::Stopped),
        },
    };
    if let Err(e) = ready {
        let failed: Vec<FleetInstance> = state
            .instances
            .iter()
            .filter(|i| started.contains(&i.id))
            .cloned()
            .collect();
        if let Ok(outcome) = stop_instances(&runtime, &failed, Duration::from_secs(5)).await {
            for (id, _) in outcome {
                progress.status("Stopped", id);
            }
        }
        for i in &failed {
            let _ = runtime.remove(&i.handle()).await;
        }
        state.instances.retain(|i| !started.contains(&i.id));
        if state.instances.is_empty() {
            let _ = std::fs::remove_file(FleetState::path(&dir));
            let _ = std::fs::remove_dir_all(state_dir.join("bin"));
        } else {
            let _ = state.save(&dir);
        }
        return Err(e);
    }

    let registered = tokio::select! {
        seen = wait_registered(opts, &state, progress) => seen,
        // The fleet is up and recorded: stopping here only skips the registry check.
        () = stop.stopped() => Vec::new(),
    };
    Ok(UpReport {
        dir,
        state,
        started,
        stopped,
        kept,
        built,
        registered,
    })
}

async fn build(dir: &Path, name: &str, binary: &Path) -> Result<(), FleetError> {
    let main = dir.join("cmd").join(name);
    if !main.is_dir() {
        return Err(FleetError::NotAService(main));
    }
    let out = tokio::process::Command::new("go")
        .args(["build", "-o"])
        .arg(binary)
        .arg(format!("./cmd/{name}"))
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        // A stop drops this future: the build must not outlive it.
        .kill_on_drop(true)
        .output()
        .await
        .map_err(FleetError::GoMissing)?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        return Err(FleetError::BuildFailed {
            name: name.to_string(),
            tail: lines[lines.len().saturating_sub(5)..].join(" | "),
        });
    }
    Ok(())
}

/// Probe `http://addr/path` with a short timeout; the status code, or `None` if nothing answered.
pub async fn probe(client: &reqwest::Client, addr: SocketAddr, path: &str) -> Option<u16> {
    client
        .get(format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

fn probe_client() -> Result<reqwest::Client, FleetError> {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_millis(500))
        .build()
        .map_err(FleetError::Client)
}

async fn wait_ready(
    runtime: &impl Runtime,
    state: &FleetState,
    ids: &[String],
    timeout: Duration,
    progress: &Progress,
) -> Result<(), FleetError> {
    let client = probe_client()?;
    let deadline = tokio::time::Instant::now() + timeout;
    for id in ids {
        let instance = state.instance(id)?;
        loop {
            if !runtime.is_running(&instance.handle()).await {
                let _ = runtime.save_log(&instance.handle(), &instance.log).await;
                return Err(FleetError::ExitedBeforeReady {
                    id: id.clone(),
                    log: instance.log.clone(),
                    tail: log_tail(&instance.log, 5),
                });
            }
            if probe(&client, instance.socket_addr(), "/readyz").await == Some(200) {
                progress.status("Ready", id.clone());
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = runtime.save_log(&instance.handle(), &instance.log).await;
                return Err(FleetError::NotReady {
                    id: id.clone(),
                    addr: instance.socket_addr(),
                    within: timeout,
                    log: instance.log.clone(),
                    tail: log_tail(&instance.log, 5),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Wait (bounded) until every instance is visible in the registry; returns those that are.
async fn wait_registered(opts: &UpOptions, state: &FleetState, progress: &Progress) -> Vec<String> {
    let ids: Vec<String> = state.instances.iter().map(|i| i.id.clone()).collect();
    let Ok(registry) = Registry::new(&opts.registry, Layout::Hale) else {
        return Vec::new();
    };
    let deadline = tokio::time::Instant::now() + opts.registry_timeout;
    loop {
        let seen: Vec<String> = registry
            .discover(&opts.name)
            .await
            .map(|list| {
                list.into_iter()
                    .map(|i| i.id)
                    .filter(|id| ids.contains(id))
                    .collect()
            })
            .unwrap_or_default();
        if seen.len() == ids.len() || tokio::time::Instant::now() >= deadline {
            let missing: Vec<String> = ids.iter().filter(|i| !seen.contains(i)).cloned().collect();
            if !missing.is_empty() {
                progress.warn(format!(
                    "{} did not appear in {} within {}; check the logs in .hale/logs",
                    missing.join(", "),
                    opts.registry,
                    humantime::format_duration(opts.registry_timeout)
                ));
            }
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// How an instance was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StopMethod {
    /// It exited after SIGTERM (graceful shutdown).
    Sigterm,
    /// It outlived the grace period and was killed.
    Sigkill,
    /// It was not running.
    Gone,
}

/// Terminate every running instance at once, wait up to `grace` for each to exit, kill the rest.
pub async fn stop_instances(
    runtime: &impl Runtime,
    instances: &[FleetInstance],
    grace: Duration,
) -> Result<Vec<(String, StopMethod)>, FleetError> {
    let mut outcome = Vec::new();
    let mut waiting = Vec::new();
    for i in instances {
        if runtime.is_running(&i.handle()).await {
            runtime.terminate(&i.handle()).await?;
            waiting.push(i);
        } else {
            outcome.push((i.id.clone(), StopMethod::Gone));
        }
    }
    let deadline = tokio::time::Instant::now() + grace;
    while tokio::time::Instant::now() < deadline && any_running(runtime, &waiting).await {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for i in waiting {
        if runtime.is_running(&i.handle()).await {
            runtime.kill(&i.handle()).await?;
            let until = tokio::time::Instant::now() + Duration::from_secs(5);
            while runtime.is_running(&i.handle()).await && tokio::time::Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            outcome.push((i.id.clone(), StopMethod::Sigkill));
        } else {
            outcome.push((i.id.clone(), StopMethod::Sigterm));
        }
    }
    outcome.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(outcome)
}

async fn any_running(runtime: &impl Runtime, instances: &[&FleetInstance]) -> bool {
    for i in instances {
        if runtime.is_running(&i.handle()).await {
            return true;
        }
    }
    false
}

/// One row of `hale ps`.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceStatus {
    pub id: String,
    pub pid: u32,
    pub address: String,
    pub port: u16,
    pub alive: bool,
    /// HTTP status of /healthz, `null` if nothing answered.
    pub healthz: Option<u16>,
    /// HTTP status of /readyz, `null` if nothing answered.
    pub readyz: Option<u16>,
    pub log: PathBuf,
    /// The faults the instance injects now (GET /admin/faults), `null` if its admin API did
    /// not answer.
    pub faults: Option<ActiveFaults>,
    /// The container id (`--runtime docker`); absent for processes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// What `GET /admin/faults` answers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ActiveFaults {
    /// Whether fault injection is allowed (FAULT_INJECTION).
    pub enabled: bool,
    pub error_rate: f64,
    pub latency_ms: i64,
}

impl ActiveFaults {
    /// Whether any fault is on.
    pub fn any(&self) -> bool {
        self.error_rate > 0.0 || self.latency_ms > 0
    }
}

/// `GET /admin/faults` on the instance at `addr`; `None` if nothing answered it well.
pub async fn get_faults(client: &reqwest::Client, addr: SocketAddr) -> Option<ActiveFaults> {
    let resp = client
        .get(format!("http://{addr}/admin/faults"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json().await.ok()
}

/// The fleet in `dir` and the state of each instance (running, /healthz, /readyz).
pub async fn status(dir: &Path) -> Result<(FleetState, Vec<InstanceStatus>), FleetError> {
    let dir = std::path::absolute(dir).map_err(io("resolving the service folder"))?;
    let state = FleetState::load(&dir)?;
    let runtime = state.runtime(&dir)?;
    runtime.check().await?;
    let client = probe_client()?;
    let mut rows = Vec::new();
    for i in &state.instances {
        let alive = runtime.is_running(&i.handle()).await;
        // A container's output is the engine's: bring it to the log file `ps` names.
        let _ = runtime.save_log(&i.handle(), &i.log).await;
        let (healthz, readyz, faults) = if alive {
            (
                probe(&client, i.socket_addr(), "/healthz").await,
                probe(&client, i.socket_addr(), "/readyz").await,
                get_faults(&client, i.admin_addr()).await,
            )
        } else {
            (None, None, None)
        };
        rows.push(InstanceStatus {
            id: i.id.clone(),
            pid: i.pid,
            address: i.address.clone(),
            port: i.port,
            alive,
            healthz,
            readyz,
            log: i.log.clone(),
            faults,
            container: i.container.clone(),
        });
    }
    Ok((state, rows))
}

/// What `hale down` did.
#[derive(Debug, Clone, Serialize)]
pub struct DownReport {
    pub service: String,
    pub registry: String,
    pub stopped: Vec<StoppedInstance>,
    /// Instances the registry still listed after they stopped, removed by hale.
    pub deregistered_by_hale: Vec<String>,
}

/// One stopped instance.
#[derive(Debug, Clone, Serialize)]
pub struct StoppedInstance {
    pub id: String,
    pub how: StopMethod,
}

/// Stop the fleet in `dir` gracefully (terminate, `grace`, then kill), make sure it left the
/// registry, and remove `.hale/` (fleet.json, bin/, logs/). `Ok(None)` when there is no fleet.
pub async fn down(dir: &Path, grace: Duration) -> Result<Option<DownReport>, FleetError> {
    let dir = std::path::absolute(dir).map_err(io("resolving the service folder"))?;
    if !dir.join(STATE_DIR).is_dir() {
        return Ok(None);
    }
    let _lock = FleetLock::take(&dir)?;
    if !FleetState::path(&dir).exists() {
        // A failed `hale up` keeps its logs for reading; `hale down` clears them too.
        let hale_dir = dir.join(STATE_DIR);
        let _ = std::fs::remove_dir_all(hale_dir.join("logs"));
        let _ = std::fs::remove_dir_all(hale_dir.join("bin"));
        let _ = std::fs::remove_file(hale_dir.join(LOCK_FILE));
        let _ = std::fs::remove_dir(&hale_dir);
        return Ok(None);
    }
    let state = FleetState::load(&dir)?;
    let runtime = state.runtime(&dir)?;
    runtime.check().await?;
    let stopped = stop_instances(&runtime, &state.instances, grace).await?;
    // Stopped containers are removed, with any other of this fleet's (labelled) containers.
    runtime.remove_all().await?;

    // Graceful instances deregister themselves; killed ones leave entries behind (Consul
    // keeps even critical ones until DeregisterCriticalServiceAfter). Remove what is left.
    let mut deregistered_by_hale = Vec::new();
    if let Ok(url) = RegistryUrl::parse(&state.registry) {
        let registry = Registry::new(&url, Layout::Hale)?;
        for i in &state.instances {
            match registry.deregister(&state.service, &i.id).await {
                Ok(true) => deregistered_by_hale.push(i.id.clone()),
                Ok(false) => {}
                Err(source) => {
                    return Err(FleetError::CheckDeregistered {
                        id: i.id.clone(),
                        source,
                    })
                }
            }
        }
        let left: Vec<String> = registry
            .discover(&state.service)
            .await?
            .into_iter()
            .map(|i| i.id)
            .filter(|id| state.instances.iter().any(|i| &i.id == id))
            .collect();
        if !left.is_empty() {
            return Err(FleetError::StillListed {
                ids: left.join(", "),
                url: url.to_string(),
            });
        }
    }

    let hale_dir = dir.join(STATE_DIR);
    for i in &state.instances {
        let _ = std::fs::remove_file(&i.log);
    }
    let _ = std::fs::remove_dir(hale_dir.join("logs"));
    let _ = std::fs::remove_file(&state.binary);
    let _ = std::fs::remove_dir(hale_dir.join("bin"));
    let path = FleetState::path(&dir);
    std::fs::remove_file(&path).map_err(io(format!("removing {}", path.display())))?;
    // Unlinked while still held: a run that opened it now finds the fleet gone.
    let _ = std::fs::remove_file(hale_dir.join(LOCK_FILE));
    let _ = std::fs::remove_dir(&hale_dir);
    Ok(Some(DownReport {
        service: state.service.clone(),
        registry: state.registry.clone(),
        stopped: stopped
            .into_iter()
            .map(|(id, how)| StoppedInstance { id, how })
            .collect(),
        deregistered_by_hale,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_state_round_trips_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let state = FleetState {
            version: 1,
            service: "orders".into(),
            registry: "file:///tmp/r.json".into(),
            binary: "/x/orders".into(),
            runtime: RuntimeKind::Process,
            engine: None,
            image: None,
            image_id: None,
            instances: vec![FleetInstance {
                id: "orders-1".into(),
                pid: 1,
                address: "127.0.0.1".into(),
                port: 41001,
                log: "/x/orders-1.log".into(),
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
    fn a_state_file_without_a_runtime_runs_processes() {
        let dir = tempfile::tempdir().unwrap();
        let path = FleetState::path(dir.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            r#"{"version":1,"service":"orders","registry":"file:///r.json","binary":"/x/orders","instances":[]}"#,
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
            binary: "/x/orders".into(),
            runtime: RuntimeKind::Docker,
            engine: Some("unix:///run/d.sock".into()),
            image: Some("orders:0.1.0".into()),
            image_id: Some("sha256:00".into()),
            instances: vec![FleetInstance {
                id: "orders-1".into(),
                pid: 7,
                address: "127.0.0.1".into(),
                port: 41001,
                log: "/x/orders-1.log".into(),
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

    #[test]
    fn killing_an_instance_refuses_while_another_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let state = FleetState {
            version: 1,
            service: "orders".into(),
            registry: "file:///tmp/r.json".into(),
            binary: "/x/orders".into(),
            runtime: RuntimeKind::Process,
            engine: None,
            image: None,
            image_id: None,
            instances: Vec::new(),
        };
        state.save(dir).unwrap();
        let held = FleetLock::take(dir).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert!(matches!(
            rt.block_on(kill_instance(dir, "orders-1")),
            Err(FleetError::Locked { .. })
        ));
        assert!(matches!(
            rt.block_on(restore_instance(dir, "orders-1")),
            Err(FleetError::Locked { .. })
        ));
        drop(held);
        assert!(matches!(
            rt.block_on(kill_instance(dir, "orders-1")),
            Err(FleetError::NoInstance { .. })
        ));
    }

    #[test]
    fn acting_on_a_removed_fleet_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert!(matches!(
            rt.block_on(kill_instance(dir.path(), "orders-1")),
            Err(FleetError::NoFleet { .. })
        ));
        assert!(!dir.path().join(STATE_DIR).exists());
    }

    #[test]
    fn log_tail_keeps_the_last_lines_on_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("x.log");
        std::fs::write(&log, "a\nb\n\nc\nd\n").unwrap();
        assert_eq!(log_tail(&log, 2), "c | d");
    }
}
