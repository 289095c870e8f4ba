//! The [`FaultActuator`] over a local fleet started by `hale up`: kill and restore instances
//! (processes or containers) through [`crate::fleet`], which holds the fleet lock for each so
//! a fault never races `hale up`/`down`; faults through each instance's admin API.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures::future::BoxFuture;

use super::faults::{FaultActuator, FaultError};
use crate::fleet::{self, FleetState};

/// Acts on the fleet in `dir` (the service folder holding .hale/fleet.json).
#[derive(Debug)]
pub struct FleetActuator {
    dir: PathBuf,
    state: FleetState,
}

impl FleetActuator {
    /// Read the fleet.
    pub fn open(dir: PathBuf) -> Result<FleetActuator, FaultError> {
        let state = FleetState::load(&dir)?;
        Ok(FleetActuator { dir, state })
    }

    /// Faults are set on the instance's admin listener, apart from its traffic port.
    fn admin_addr(&self, id: &str) -> Result<SocketAddr, fleet::FleetError> {
        Ok(self.state.instance(id)?.admin_addr())
    }
}

impl FaultActuator for FleetActuator {
    fn kill<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), FaultError>> {
        Box::pin(async move { Ok(fleet::kill_instance(&self.dir, instance).await?) })
    }

    fn restore<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), FaultError>> {
        Box::pin(async move { Ok(fleet::restore_instance(&self.dir, instance).await?) })
    }

    fn set_faults<'a>(
        &'a self,
        instance: &'a str,
        error_rate: f64,
        latency: Duration,
    ) -> BoxFuture<'a, Result<(), FaultError>> {
        Box::pin(async move {
            let faults = fleet::Faults {
                error_rate,
                latency,
            };
            Ok(fleet::set_faults(self.admin_addr(instance)?, &faults).await?)
        })
    }

    fn instances(&self) -> Vec<String> {
        self.state.instances.iter().map(|i| i.id.clone()).collect()
    }
}
