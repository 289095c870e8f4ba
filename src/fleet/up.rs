//! `hale up`: build (or resolve the image) once, start the missing instances, stop the extra
//! ones, record the fleet, wait for readiness and registration.
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::health::{wait_ready, wait_registered};
use super::process::build;
use super::runtime::{docker_runtime, spec_for};
use super::{
    docker, free_port, io, stop_instances, FleetError, FleetInstance, FleetLock, FleetRuntime,
    FleetState, ProcessRuntime, Runtime, RuntimeKind, LOCK_FILE, STATE_DIR,
};
use crate::discovery::file::now_unix_ms;
use crate::discovery::{Layout, Registry, RegistryUrl};
use crate::progress::Progress;
use crate::stop::Stop;

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
                build(&dir, &opts.name, &binary, stop).await?;
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
    let mut taken_ports: Vec<u16> = Vec::new();
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
        // Ports handed out in this run are not handed out again: an instance started a moment
        // ago may not have bound its ports yet.
        let fresh_port = |taken: &mut Vec<u16>| -> Result<u16, FleetError> {
            loop {
                let p = free_port()?;
                if !taken.contains(&p) {
                    taken.push(p);
                    return Ok(p);
                }
            }
        };
        let port = match old_port {
            Some(p) if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() => {
                taken_ports.push(p);
                p
            }
            _ => fresh_port(&mut taken_ports)?,
        };
        let admin_port = fresh_port(&mut taken_ports)?;
        let spec = spec_for(&dir, &state, id, port, Some(admin_port));
        let handle = match runtime.start(&spec).await {
            Ok(h) => h,
            Err(e) => {
                start_failed = Some(e);
                break;
            }
        };
        tracing::debug!(%id, port, admin_port, %handle, log = %spec.log.display(), "instance started");
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
