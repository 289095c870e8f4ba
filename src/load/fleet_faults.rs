//! The [`FaultActuator`] over a local fleet started by `hale up`: kill and restore processes
//! through [`crate::fleet`], faults through each instance's admin API.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::faults::FaultActuator;
use crate::fleet::{self, FleetState};

/// Acts on the fleet in `dir` (the service folder holding .hale/fleet.json).
#[derive(Debug)]
pub struct FleetActuator {
    dir: PathBuf,
    state: FleetState,
    runtime: tokio::runtime::Handle,
}

impl FleetActuator {
    /// Read the fleet; must be called inside the async runtime (faults set through the admin
    /// API are sent on it).
    pub fn open(dir: PathBuf) -> anyhow::Result<FleetActuator> {
        let state = FleetState::load(&dir)?;
        Ok(FleetActuator {
            dir,
            state,
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// Faults are set on the instance's admin listener, apart from its traffic port.
    fn admin_addr(&self, id: &str) -> anyhow::Result<SocketAddr> {
        Ok(self.state.instance(id)?.admin_addr())
    }
}

impl FaultActuator for FleetActuator {
    fn kill(&self, instance: &str) -> anyhow::Result<()> {
        fleet::kill_instance(&self.dir, instance)
    }

    fn restore(&self, instance: &str) -> anyhow::Result<()> {
        fleet::restore_instance(&self.dir, instance)
    }

    fn set_faults(&self, instance: &str, error_rate: f64, latency: Duration) -> anyhow::Result<()> {
        let addr = self.admin_addr(instance)?;
        // Called from a blocking thread (the engine runs actuators off the async workers).
        self.runtime.block_on(fleet::set_faults(
            addr,
            &fleet::Faults {
                error_rate,
                latency,
            },
        ))
    }

    fn instances(&self) -> Vec<String> {
        self.state.instances.iter().map(|i| i.id.clone()).collect()
    }
}
