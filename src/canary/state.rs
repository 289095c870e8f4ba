//! A canary's state, kept in an annotation on the stable Deployment so that any hale process
//! can show, resume, promote or abort it, and a killed process loses nothing. Every write is
//! conditional on the Deployment's resourceVersion, so two processes never both act on one
//! state.
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use serde::{Deserialize, Serialize};

use super::gates::GateResult;
use crate::kube::{Cluster, KubeError};

/// The annotation on the stable Deployment.
pub const STATE_ANNOTATION: &str = "canary.hale.dev/state";
/// The field manager of the canary's own writes (scaling, state).
pub const FIELD_MANAGER: &str = "hale-canary";

/// Where a canary is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Stepping through the weights.
    Progressing,
    /// Being promoted (by the run, or by `hale deploy promote`).
    Promoting,
    /// The new build is the stable version; the canary is gone.
    Promoted,
    /// Being rolled back (a failed gate, no data, or `hale deploy abort`).
    Aborting,
    /// Stable serves everything again; the canary is gone.
    RolledBack,
}

impl Phase {
    pub fn is_final(self) -> bool {
        matches!(self, Phase::Promoted | Phase::RolledBack)
    }
}

/// How one check came out: every gate passed, one failed, or nothing could be measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckOutcome {
    Pass,
    Fail,
    Error,
}

/// One check of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub at_unix_ms: u64,
    pub outcome: CheckOutcome,
    pub gates: Vec<GateResult>,
}

/// One step: its weight, the pods that carry it, and its checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The weight asked for, in percent.
    pub weight: u32,
    /// The weight the replica ratio gives, in percent (the route's weight with `gateway`).
    pub actual_weight: f64,
    pub canary_replicas: i32,
    pub stable_replicas: i32,
    pub checks: Vec<Check>,
}

/// The whole state of one canary run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryState {
    /// This run's id (the start time and process id).
    pub run: String,
    pub service: String,
    /// The image the canary runs.
    pub image: String,
    /// The image the stable Deployment ran when the canary started.
    pub stable_image: String,
    pub phase: Phase,
    /// The weights of the steps, in percent.
    pub weights: Vec<u32>,
    /// The stable Deployment's replicas before the canary (restored at the end).
    pub stable_replicas: i32,
    pub failed_checks: u32,
    pub consecutive_errors: u32,
    /// `replicas` (the replica ratio behind the Service) or `gateway` (HTTPRoute and GRPCRoute weights).
    pub traffic: String,
    /// With `gateway`: the routes hale weights, their rules as they were, and the canary's
    /// Service, recorded before anything is changed so any process can restore them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<super::gateway::GatewayTraffic>,
    /// The analysis as it was started (resumed runs keep it).
    pub analysis: serde_json::Value,
    /// The Prometheus the gates query (absent when only `--canary-load` judges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<String>,
    pub steps: Vec<Step>,
    /// Why it ended: the failing gate and its value, "no data", or who promoted or aborted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub started_unix_ms: u64,
    pub updated_unix_ms: u64,
}

impl CanaryState {
    /// The step being run (the last one started), if any.
    pub fn current(&self) -> Option<&Step> {
        self.steps.last()
    }
}

/// The state on the stable Deployment `name`, with the Deployment's resourceVersion; `None`
/// when there is no Deployment or no canary was ever run.
pub async fn read(
    cluster: &Cluster,
    name: &str,
) -> Result<Option<(CanaryState, Deployment)>, KubeError> {
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let Some(d) = api
        .get_opt(name)
        .await
        .map_err(|e| cluster.error(format!("deployment/{name}"), e))?
    else {
        return Ok(None);
    };
    let Some(text) = d
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(STATE_ANNOTATION))
    else {
        return Ok(None);
    };
    let state = serde_json::from_str(text).map_err(|e| KubeError::BadObject {
        object: format!("deployment/{name}"),
        reason: format!("its annotation {STATE_ANNOTATION} is not a canary state: {e}"),
    })?;
    Ok(Some((state, d)))
}

/// The stable Deployment's resourceVersion (empty when it is gone: the write then fails).
pub async fn resource_version(cluster: &Cluster, name: &str) -> Result<String, KubeError> {
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let d = api
        .get(name)
        .await
        .map_err(|e| cluster.error(format!("deployment/{name}"), e))?;
    Ok(d.metadata.resource_version.unwrap_or_default())
}

/// Write `state` if the Deployment is still at `resource_version`; `Ok(false)` when another
/// process wrote first (read again and decide again).
pub async fn write(
    cluster: &Cluster,
    name: &str,
    state: &CanaryState,
    resource_version: &str,
) -> Result<bool, KubeError> {
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let text = serde_json::to_string(state).map_err(|e| KubeError::BadObject {
        object: format!("deployment/{name}"),
        reason: format!("the canary state cannot be serialized: {e}"),
    })?;
    let patch = serde_json::json!({
        "metadata": {
            "resourceVersion": resource_version,
            "annotations": { STATE_ANNOTATION: text },
        }
    });
    match api
        .patch(
            name,
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..PatchParams::default()
            },
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(cluster.error(format!("deployment/{name}"), e)),
    }
}

/// Now, in Unix milliseconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
