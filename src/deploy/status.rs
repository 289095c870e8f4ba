//! `hale deploy status` (and `--watch`): what hale applied for a service, its rollout state
//! and its canary, read in one pass and rendered as the JSON document and the text.
use std::time::Duration;

use super::report::{self, StatusDocument};
use super::DeployError;
use crate::canary::CanaryState;
use crate::kube::inventory::{self, ServiceStatus};
use crate::kube::Cluster;
use crate::stop::Stop;

/// How often `--watch` reads the status again.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// One reading of a service's status.
#[derive(Debug)]
pub struct Snapshot {
    pub context: String,
    pub status: ServiceStatus,
    pub canary: Option<CanaryState>,
}

impl Snapshot {
    /// The `hale.deploy.status/v1` document (pretty or on one line).
    pub fn json(&self, pretty: bool) -> serde_json::Result<String> {
        let doc = StatusDocument {
            schema: "hale.deploy.status/v1",
            context: &self.context,
            status: &self.status,
            canary: self.canary.as_ref(),
        };
        if pretty {
            serde_json::to_string_pretty(&doc)
        } else {
            serde_json::to_string(&doc)
        }
    }

    /// The text `hale deploy status` prints.
    pub fn text(&self) -> String {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = report::write_status_text(&mut out, &self.status);
        if let Some(c) = &self.canary {
            let _ = crate::canary::report::write_status(&mut out, c);
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Read what hale applied for `service` and its canary state.
pub async fn read(cluster: &Cluster, service: &str) -> Result<Snapshot, DeployError> {
    let status = inventory::status(cluster, service).await?;
    let canary = crate::canary::state::read(cluster, service)
        .await?
        .map(|(s, _)| s);
    Ok(Snapshot {
        context: cluster.context.clone(),
        status,
        canary,
    })
}

/// Call `on_change` with each reading whose text differs from the last, every
/// [`WATCH_EVERY`], until `stop` (then `Ok(())`: the caller reports the interruption).
pub async fn watch(
    cluster: &Cluster,
    service: &str,
    stop: &Stop,
    mut on_change: impl FnMut(&Snapshot) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut last = String::new();
    loop {
        let snapshot = read(cluster, service).await?;
        let text = snapshot.text();
        if text != last {
            on_change(&snapshot)?;
            last = text;
        }
        tokio::select! {
            () = tokio::time::sleep(WATCH_EVERY) => {}
            () = stop.stopped() => return Ok(()),
        }
    }
}
