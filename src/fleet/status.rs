//! `hale ps`: each instance of the fleet, whether it runs and what its probes answer.
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::health::{probe, probe_client};
use super::{get_faults, io, ActiveFaults, FleetError, FleetState, Runtime};

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
