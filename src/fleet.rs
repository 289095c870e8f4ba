//! A local fleet: N instances of a generated service run as processes, state in `.hale/`.
//!
//! `hale up` builds the service once (`go build -o .hale/bin/<name> ./cmd/<name>`), starts each
//! instance on a free 127.0.0.1 port in its own process group with its log in
//! `.hale/logs/<id>.log`, waits for `/readyz`, and records everything in `.hale/fleet.json`
//! (written to a temporary file and renamed). Instances register themselves through the
//! service's own registry code (the REGISTRY variable); hale only checks they showed up.
//! The [`Runtime`] trait is the seam for running instances elsewhere (containers through the
//! Docker Engine with host networking); only [`ProcessRuntime`] exists today.
//!
//! `hale load` uses [`FleetState::load`], [`kill_instance`], [`restore_instance`] and
//! [`set_faults`] to inject failures into a running fleet.
use std::io::{Read as _, Seek as _};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::discovery::file::now_unix_ms;
use crate::discovery::{Registry, RegistryUrl};

/// The folder, inside the service, where hale keeps a fleet's state.
pub const STATE_DIR: &str = ".hale";

/// `.hale/fleet.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FleetState {
    pub version: u32,
    pub service: String,
    pub registry: String,
    pub binary: PathBuf,
    pub instances: Vec<FleetInstance>,
}

/// One instance of a fleet.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FleetInstance {
    pub id: String,
    pub pid: u32,
    pub address: String,
    pub port: u16,
    pub log: PathBuf,
    pub started_unix_ms: u64,
}

impl FleetInstance {
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(
            self.address.parse().unwrap_or([127, 0, 0, 1].into()),
            self.port,
        )
    }
}

impl FleetState {
    /// The path of the state file of the service in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_DIR).join("fleet.json")
    }

    /// Read `dir/.hale/fleet.json`.
    pub fn load(dir: &Path) -> anyhow::Result<FleetState> {
        let path = Self::path(dir);
        let text = std::fs::read(&path).with_context(|| {
            format!(
                "no fleet in {} (reading {}): start one with `hale up`",
                dir.display(),
                path.display()
            )
        })?;
        serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a hale fleet state file", path.display()))
    }

    /// Write the state atomically: a temporary file renamed over the old one.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let path = Self::path(dir);
        let parent = path.parent().expect("fleet.json has a parent");
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let tmp = parent.join(format!("fleet.json.tmp.{}", std::process::id()));
        let mut text = serde_json::to_vec_pretty(self)?;
        text.push(b'\n');
        std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    pub fn instance(&self, id: &str) -> anyhow::Result<&FleetInstance> {
        self.instances.iter().find(|i| i.id == id).with_context(|| {
            let ids: Vec<&str> = self.instances.iter().map(|i| i.id.as_str()).collect();
            format!(
                "no instance {id:?} in the {} fleet (it has {})",
                self.service,
                ids.join(", ")
            )
        })
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

/// Where instances run. Only processes today; containers (Docker Engine, `--network host`)
/// slot in here later without touching the commands.
pub trait Runtime {
    /// Start an instance detached from hale; returns its pid.
    fn start(&self, spec: &InstanceSpec) -> anyhow::Result<u32>;
    /// Whether the instance is still running (a zombie or a reused pid is not).
    fn is_running(&self, pid: u32) -> bool;
    /// Send a signal to the instance's whole process group.
    fn signal(&self, pid: u32, signal: Signal) -> anyhow::Result<()>;
}

/// Instances as local processes of the built binary.
#[derive(Debug, Clone)]
pub struct ProcessRuntime {
    pub binary: PathBuf,
}

impl Runtime for ProcessRuntime {
    fn start(&self, spec: &InstanceSpec) -> anyhow::Result<u32> {
        if let Some(parent) = spec.log.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log)
            .with_context(|| format!("opening {}", spec.log.display()))?;
        let mut cmd = std::process::Command::new(&self.binary);
        cmd.current_dir(&spec.workdir)
            .env_clear()
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
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
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {} for {}", self.binary.display(), spec.id))?;
        Ok(child.id())
    }

    fn is_running(&self, pid: u32) -> bool {
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

    fn signal(&self, pid: u32, signal: Signal) -> anyhow::Result<()> {
        let pgid = Pid::from_raw(pid as i32);
        match nix::sys::signal::killpg(pgid, signal) {
            Ok(()) => Ok(()),
            Err(nix::errno::Errno::ESRCH) => {
                // Not a group leader any more (or gone): try the process itself.
                match nix::sys::signal::kill(pgid, signal) {
                    Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
                    Err(e) => Err(e).with_context(|| format!("sending {signal} to pid {pid}")),
                }
            }
            Err(e) => Err(e).with_context(|| format!("sending {signal} to pid {pid}")),
        }
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
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
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

fn spec_for(dir: &Path, state: &FleetState, id: &str, port: u16) -> InstanceSpec {
    InstanceSpec {
        id: id.to_string(),
        port,
        env: instance_env(&state.service, id, port, &state.registry),
        log: dir.join(STATE_DIR).join("logs").join(format!("{id}.log")),
        workdir: dir.to_path_buf(),
    }
}

fn runtime_of(state: &FleetState) -> ProcessRuntime {
    ProcessRuntime {
        binary: state.binary.clone(),
    }
}

/// SIGKILL one instance (no graceful shutdown, no deregistration: a crash). The entry stays in
/// fleet.json so [`restore_instance`] can bring it back.
pub fn kill_instance(dir: &Path, id: &str) -> anyhow::Result<()> {
    let state = FleetState::load(dir)?;
    let instance = state.instance(id)?;
    let runtime = runtime_of(&state);
    if runtime.is_running(instance.pid) {
        runtime.signal(instance.pid, Signal::SIGKILL)?;
        // SIGKILL is delivered asynchronously; return once the process is really gone so that
        // callers (tests, `hale load`'s fault timeline) see the instance dead from here on.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while runtime.is_running(instance.pid) {
            if std::time::Instant::now() >= deadline {
                anyhow::bail!("{id} (pid {}) still runs 5 s after SIGKILL", instance.pid);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(())
}

/// Start an instance again with the same id, port and environment; fleet.json gets the new pid.
/// A no-op if it is still running. Does not wait for readiness: callers watch it recover.
pub fn restore_instance(dir: &Path, id: &str) -> anyhow::Result<()> {
    let mut state = FleetState::load(dir)?;
    let runtime = runtime_of(&state);
    let instance = state.instance(id)?.clone();
    if runtime.is_running(instance.pid) {
        return Ok(());
    }
    let pid = runtime.start(&spec_for(dir, &state, id, instance.port))?;
    if let Some(entry) = state.instances.iter_mut().find(|i| i.id == id) {
        entry.pid = pid;
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
pub async fn set_faults(addr: SocketAddr, faults: &Faults) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&faults.error_rate) {
        bail!("error rate {} is outside 0..1", faults.error_rate);
    }
    let url = format!("http://{addr}/admin/faults");
    let resp = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()?
        .put(&url)
        .json(&serde_json::json!({
            "error_rate": faults.error_rate,
            "latency_ms": faults.latency.as_millis() as u64,
        }))
        .send()
        .await
        .with_context(|| format!("setting faults on {addr}"))?;
    if !resp.status().is_success() {
        bail!(
            "setting faults on {addr}: HTTP {} (is ADMIN_ENABLED=true?)",
            resp.status()
        );
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
}

/// Progress of `hale up`, for the command's renderer.
#[derive(Debug, Clone)]
pub enum UpEvent {
    Building {
        binary: PathBuf,
    },
    ReusingBinary,
    Started {
        id: String,
        port: u16,
        pid: u32,
    },
    Ready {
        id: String,
    },
    Stopped {
        id: String,
    },
    /// Started and ready, but not (yet) visible in the registry.
    NotRegistered {
        ids: Vec<String>,
    },
}

/// The outcome of `hale up`.
#[derive(Debug, Clone, Serialize)]
pub struct UpReport {
    pub state: FleetState,
    pub started: Vec<String>,
    pub stopped: Vec<String>,
    pub kept: Vec<String>,
    pub built: bool,
    pub registered: Vec<String>,
}

/// Build and start the fleet, or adjust a running fleet to `replicas`: running instances are
/// kept, dead ones restarted on their port, missing ones started, extra ones stopped.
pub async fn up(opts: &UpOptions, events: impl Fn(UpEvent)) -> anyhow::Result<UpReport> {
    let dir = std::path::absolute(&opts.dir)?;
    let state_dir = dir.join(STATE_DIR);
    let binary = state_dir.join("bin").join(&opts.name);
    let previous = if FleetState::path(&dir).exists() {
        Some(FleetState::load(&dir)?)
    } else {
        None
    };
    let runtime = ProcessRuntime {
        binary: binary.clone(),
    };
    let running: Vec<FleetInstance> = previous
        .iter()
        .flat_map(|s| s.instances.iter())
        .filter(|i| runtime.is_running(i.pid))
        .cloned()
        .collect();
    if let Some(prev) = &previous {
        if !running.is_empty() {
            if prev.registry != opts.registry.to_string() {
                return Err(crate::usage!(
                    "the running fleet uses {} (not {}): run `hale down` first to change registry",
                    prev.registry,
                    opts.registry
                ));
            }
            if prev.service != opts.name {
                return Err(crate::usage!(
                    "the running fleet is {:?} (not {:?}): run `hale down` first",
                    prev.service,
                    opts.name
                ));
            }
        }
    }

    // A running binary cannot be overwritten (ETXTBSY), and instances of one fleet should run
    // the same build: rebuild only when nothing runs.
    let built = running.is_empty();
    if built {
        events(UpEvent::Building {
            binary: binary.clone(),
        });
        build(&dir, &opts.name, &binary).await?;
    } else {
        events(UpEvent::ReusingBinary);
    }

    let mut state = FleetState {
        version: 1,
        service: opts.name.clone(),
        registry: opts.registry.to_string(),
        binary: binary.clone(),
        instances: Vec::new(),
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
        let registry = Registry::new(&opts.registry, crate::discovery::Layout::Hale)?;
        for extra in &extras {
            let _ = registry.deregister(&opts.name, &extra.id).await;
            let _ = std::fs::remove_file(&extra.log);
            events(UpEvent::Stopped {
                id: extra.id.clone(),
            });
            stopped.push(extra.id.clone());
        }
    }
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
        let spec = spec_for(&dir, &state, id, port);
        let pid = runtime.start(&spec)?;
        events(UpEvent::Started {
            id: id.clone(),
            port,
            pid,
        });
        state.instances.push(FleetInstance {
            id: id.clone(),
            pid,
            address: "127.0.0.1".into(),
            port,
            log: spec.log.clone(),
            started_unix_ms: now_unix_ms(),
        });
        started.push(id.clone());
    }
    // Record what runs before waiting, so `hale down` can clean up even if hale is interrupted.
    state.save(&dir)?;

    if let Err(e) = wait_ready(&runtime, &state, &started, opts.ready_timeout, &events).await {
        let failed: Vec<FleetInstance> = state
            .instances
            .iter()
            .filter(|i| started.contains(&i.id))
            .cloned()
            .collect();
        let _ = stop_instances(&runtime, &failed, Duration::from_secs(5)).await;
        state.instances.retain(|i| !started.contains(&i.id));
        if state.instances.is_empty() {
            let _ = std::fs::remove_file(FleetState::path(&dir));
            let _ = std::fs::remove_dir_all(state_dir.join("bin"));
        } else {
            let _ = state.save(&dir);
        }
        return Err(e);
    }

    let registered = wait_registered(opts, &state, &events).await;
    Ok(UpReport {
        state,
        started,
        stopped,
        kept,
        built,
        registered,
    })
}

async fn build(dir: &Path, name: &str, binary: &Path) -> anyhow::Result<()> {
    let main = dir.join("cmd").join(name);
    if !main.is_dir() {
        return Err(crate::usage!(
            "{} does not exist: run `hale up` in a service made by `hale new` (or fix `name` in hale.toml)",
            main.display()
        ));
    }
    let out = tokio::process::Command::new("go")
        .args(["build", "-o"])
        .arg(binary)
        .arg(format!("./cmd/{name}"))
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .context("running `go build` (is Go installed and on PATH?)")?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        bail!(
            "`go build ./cmd/{name}` failed: {}",
            lines[lines.len().saturating_sub(5)..].join(" | ")
        );
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

fn probe_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_millis(500))
        .build()
        .expect("plain HTTP client builds")
}

async fn wait_ready(
    runtime: &ProcessRuntime,
    state: &FleetState,
    ids: &[String],
    timeout: Duration,
    events: &impl Fn(UpEvent),
) -> anyhow::Result<()> {
    let client = probe_client();
    let deadline = tokio::time::Instant::now() + timeout;
    for id in ids {
        let instance = state.instance(id)?;
        loop {
            if !runtime.is_running(instance.pid) {
                bail!(
                    "instance {id} exited before it was ready; log tail ({}): {}",
                    instance.log.display(),
                    log_tail(&instance.log, 5)
                );
            }
            if probe(&client, instance.socket_addr(), "/readyz").await == Some(200) {
                events(UpEvent::Ready { id: id.clone() });
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "instance {id} did not answer 200 on http://{}/readyz within {}; log tail ({}): {}",
                    instance.socket_addr(),
                    humantime::format_duration(timeout),
                    instance.log.display(),
                    log_tail(&instance.log, 5)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Wait (bounded) until every instance is visible in the registry; returns those that are.
async fn wait_registered(
    opts: &UpOptions,
    state: &FleetState,
    events: &impl Fn(UpEvent),
) -> Vec<String> {
    let ids: Vec<String> = state.instances.iter().map(|i| i.id.clone()).collect();
    let Ok(registry) = Registry::new(&opts.registry, crate::discovery::Layout::Hale) else {
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
                events(UpEvent::NotRegistered { ids: missing });
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

/// SIGTERM every running instance at once, wait up to `grace` for each to exit, SIGKILL the rest.
pub async fn stop_instances(
    runtime: &ProcessRuntime,
    instances: &[FleetInstance],
    grace: Duration,
) -> anyhow::Result<Vec<(String, StopMethod)>> {
    let mut outcome = Vec::new();
    let mut waiting = Vec::new();
    for i in instances {
        if runtime.is_running(i.pid) {
            runtime.signal(i.pid, Signal::SIGTERM)?;
            waiting.push(i);
        } else {
            outcome.push((i.id.clone(), StopMethod::Gone));
        }
    }
    let deadline = tokio::time::Instant::now() + grace;
    while waiting.iter().any(|i| runtime.is_running(i.pid))
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for i in waiting {
        if runtime.is_running(i.pid) {
            runtime.signal(i.pid, Signal::SIGKILL)?;
            let until = tokio::time::Instant::now() + Duration::from_secs(5);
            while runtime.is_running(i.pid) && tokio::time::Instant::now() < until {
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
}

/// The fleet in `dir` and the state of each instance (process alive, /healthz, /readyz).
pub async fn status(dir: &Path) -> anyhow::Result<(FleetState, Vec<InstanceStatus>)> {
    let state = FleetState::load(dir)?;
    let runtime = runtime_of(&state);
    let client = probe_client();
    let mut rows = Vec::new();
    for i in &state.instances {
        let alive = runtime.is_running(i.pid);
        let (healthz, readyz) = if alive {
            (
                probe(&client, i.socket_addr(), "/healthz").await,
                probe(&client, i.socket_addr(), "/readyz").await,
            )
        } else {
            (None, None)
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

/// Stop the fleet in `dir` gracefully (SIGTERM, `grace`, then SIGKILL), make sure it left the
/// registry, and remove `.hale/` (fleet.json, bin/, logs/). `Ok(None)` when there is no fleet.
pub async fn down(dir: &Path, grace: Duration) -> anyhow::Result<Option<DownReport>> {
    let dir = std::path::absolute(dir)?;
    if !FleetState::path(&dir).exists() {
        // A failed `hale up` keeps its logs for reading; `hale down` clears them too.
        let hale_dir = dir.join(STATE_DIR);
        let _ = std::fs::remove_dir_all(hale_dir.join("logs"));
        let _ = std::fs::remove_dir_all(hale_dir.join("bin"));
        let _ = std::fs::remove_dir(&hale_dir);
        return Ok(None);
    }
    let state = FleetState::load(&dir)?;
    let runtime = runtime_of(&state);
    let stopped = stop_instances(&runtime, &state.instances, grace).await?;

    // Graceful instances deregister themselves; killed ones leave entries behind (Consul
    // keeps even critical ones until DeregisterCriticalServiceAfter). Remove what is left.
    let mut deregistered_by_hale = Vec::new();
    if let Ok(url) = RegistryUrl::parse(&state.registry) {
        let registry = Registry::new(&url, crate::discovery::Layout::Hale)?;
        for i in &state.instances {
            match registry.deregister(&state.service, &i.id).await {
                Ok(true) => deregistered_by_hale.push(i.id.clone()),
                Ok(false) => {}
                Err(e) => {
                    return Err(anyhow::Error::new(e).context(format!(
                        "the fleet stopped, but checking that {} left the registry failed",
                        i.id
                    )))
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
            bail!("{} still listed in {url} after stopping", left.join(", "));
        }
    }

    let hale_dir = dir.join(STATE_DIR);
    for i in &state.instances {
        let _ = std::fs::remove_file(&i.log);
    }
    let _ = std::fs::remove_dir(hale_dir.join("logs"));
    let _ = std::fs::remove_file(&state.binary);
    let _ = std::fs::remove_dir(hale_dir.join("bin"));
    std::fs::remove_file(FleetState::path(&dir))
        .with_context(|| format!("removing {}", FleetState::path(&dir).display()))?;
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
            instances: vec![FleetInstance {
                id: "orders-1".into(),
                pid: 1,
                address: "127.0.0.1".into(),
                port: 41001,
                log: "/x/orders-1.log".into(),
                started_unix_ms: 5,
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
    fn log_tail_keeps_the_last_lines_on_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("x.log");
        std::fs::write(&log, "a\nb\n\nc\nd\n").unwrap();
        assert_eq!(log_tail(&log, 2), "c | d");
    }
}
