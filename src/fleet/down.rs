//! `hale down`: stop every instance gracefully (then kill), check the registry let them go,
//! and remove the fleet's state.
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::{io, FleetError, FleetInstance, FleetLock, FleetState, Runtime, LOCK_FILE, STATE_DIR};
use crate::discovery::{Layout, Registry, RegistryUrl};

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
    for (id, how) in &outcome {
        tracing::debug!(%id, ?how, "instance stopped");
    }
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
    if FleetState::path(&dir).exists() {
        // A state file that cannot be trusted is refused before anything is created or taken.
        FleetState::load(&dir)?;
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
