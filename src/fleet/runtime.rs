//! Where instances run: the [`Runtime`] trait every fleet operation goes through, the
//! [`FleetRuntime`] a fleet's state picks, and what one instance needs to start.
use std::future::Future;
use std::path::{Path, PathBuf};

use super::{docker, io, FleetError, FleetState, Handle, ProcessRuntime, STATE_DIR};
use crate::discovery::RegistryUrl;

pub(super) fn docker_runtime(
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

/// A free TCP port on 127.0.0.1 for an instance to listen on; the check's listener is closed
/// right away and the instance binds it a moment later. It is taken below the kernel's
/// ephemeral range where there is room (`net.ipv4.ip_local_port_range`), so that in between it
/// cannot become the source port of an outgoing connection or another process's `bind(0)`
/// (a busy machine does both all the time); else the kernel picks one.
pub fn free_port() -> Result<u16, FleetError> {
    use rand::Rng as _;
    if let Some(range) = below_ephemeral() {
        let mut rng = rand::thread_rng();
        for _ in 0..64 {
            let port = rng.gen_range(range.clone());
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(io("finding a free port"))
}

/// Ports from 10000 up to the start of the ephemeral range, when that leaves at least 1000.
fn below_ephemeral() -> Option<std::ops::Range<u16>> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let low: u16 = text.split_whitespace().next()?.parse().ok()?;
    (low >= 11_000).then_some(10_000..low)
}

pub(super) fn spec_for(
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
