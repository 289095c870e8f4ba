//! What `hale load` does to a running fleet: kill and restore one instance (under the fleet
//! lock) and set or read an instance's injected faults through its admin API.
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::runtime::spec_for;
use super::{io, FleetError, FleetLock, FleetState, Runtime};
use crate::discovery::file::now_unix_ms;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{RuntimeKind, STATE_DIR};

    /// A path under the fleet's own `.hale/`, as `hale up` writes them.
    fn own(dir: &Path, rel: &str) -> std::path::PathBuf {
        dir.join(STATE_DIR).join(rel)
    }

    #[test]
    fn killing_an_instance_refuses_while_another_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let state = FleetState {
            version: 1,
            service: "orders".into(),
            registry: "file:///tmp/r.json".into(),
            binary: own(dir, "bin/orders"),
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
}
