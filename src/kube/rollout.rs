//! Waiting for a Deployment's rollout exactly as `kubectl rollout status` does (kubectl
//! `pkg/polymorphichelpers/rollout_status.go`), on a watch so the event that completes it is
//! the one seen, and undoing a failed one to the previous ReplicaSet's revision.
//!
//! kube-runtime's `is_deployment_completed` only looks for Progressing/NewReplicaSetAvailable:
//! right after an apply it can still see the previous rollout's condition and pass, and it never
//! sees the progress deadline. The checks below are kubectl's, in kubectl's order.
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::{watcher, WatchStreamExt as _};
use serde::Serialize;
use serde_json::Value;

use super::{Cluster, KubeError, FIELD_MANAGER};
use crate::progress::Progress;
use crate::stop::Stop;

/// The annotation the Deployment controller numbers revisions with.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// The replica counts a rollout moves through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Replicas {
    /// `spec.replicas` (1 when unset, as the API defaults it).
    pub desired: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    /// `status.replicas`: old and new pods together.
    pub total: i32,
}

impl Replicas {
    pub fn of(d: &Deployment) -> Replicas {
        let status = d.status.clone().unwrap_or_default();
        Replicas {
            desired: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            updated: status.updated_replicas.unwrap_or(0),
            ready: status.ready_replicas.unwrap_or(0),
            available: status.available_replicas.unwrap_or(0),
            total: status.replicas.unwrap_or(0),
        }
    }
}

impl std::fmt::Display for Replicas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "updated {u}/{d}, ready {r}/{d}, available {a}/{d}",
            u = self.updated,
            r = self.ready,
            a = self.available,
            d = self.desired
        )
    }
}

/// Where a rollout stands, by kubectl's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutState {
    /// The controller has not yet seen the latest spec (`generation > observedGeneration`).
    Unobserved,
    /// Still going; the text is kubectl's waiting message.
    Progressing(String),
    /// Every replica updated, old ones gone, all updated ones available.
    Complete,
    /// Progressing=False with reason ProgressDeadlineExceeded.
    DeadlineExceeded(String),
}

/// kubectl's `DeploymentStatusViewer.Status`, step for step.
pub fn rollout_state(d: &Deployment) -> RolloutState {
    let generation = d.metadata.generation.unwrap_or(0);
    let status = d.status.clone().unwrap_or_default();
    if generation > status.observed_generation.unwrap_or(0) {
        return RolloutState::Unobserved;
    }
    let name = d.metadata.name.as_deref().unwrap_or("");
    if let Some(cond) = status
        .conditions
        .as_ref()
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Progressing"))
    {
        if cond.reason.as_deref() == Some("ProgressDeadlineExceeded") {
            return RolloutState::DeadlineExceeded(format!(
                "deployment {name:?} exceeded its progress deadline"
            ));
        }
    }
    let r = Replicas::of(d);
    let spec_replicas = d.spec.as_ref().and_then(|s| s.replicas);
    if let Some(desired) = spec_replicas {
        if r.updated < desired {
            return RolloutState::Progressing(format!(
                "{} out of {desired} new replicas have been updated",
                r.updated
            ));
        }
    }
    if r.total > r.updated {
        return RolloutState::Progressing(format!(
            "{} old replicas are pending termination",
            r.total - r.updated
        ));
    }
    if r.available < r.updated {
        return RolloutState::Progressing(format!(
            "{} of {} updated replicas are available",
            r.available, r.updated
        ));
    }
    RolloutState::Complete
}

/// How a wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutOutcome {
    Complete(Replicas),
    /// The Deployment exceeded its progressDeadlineSeconds.
    DeadlineExceeded {
        message: String,
        replicas: Replicas,
    },
    /// `--timeout` passed first; `last` is the last waiting message.
    TimedOut {
        last: String,
        replicas: Replicas,
    },
    /// The Deployment was deleted while waiting.
    Deleted,
    /// The stop signal fired.
    Stopped {
        replicas: Replicas,
    },
}

impl RolloutOutcome {
    pub fn is_complete(&self) -> bool {
        matches!(self, RolloutOutcome::Complete(_))
    }
}

/// Wait for the rollout of Deployment `name` in `namespace` on a watch (resumed when it
/// breaks), reporting updated/ready/available through `progress`, until it completes, fails,
/// `timeout` passes or `stop` fires.
pub async fn wait(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    timeout: Duration,
    stop: &Stop,
    progress: &Progress,
) -> Result<RolloutOutcome, KubeError> {
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), namespace);
    let task = format!("rollout/{namespace}/{name}");
    progress.start(&task, format!("deployment/{name}"), None);
    // The server ends each watch before the network deadline (kube::connect sets it as the
    // read timeout), so a quiet rollout is not mistaken for a silent server; the watcher resumes.
    let watch_secs = crate::network::deadline()
        .as_secs()
        .saturating_sub(1)
        .clamp(1, 290) as u32;
    let config = watcher::Config::default()
        .fields(&format!("metadata.name={name}"))
        .timeout(watch_secs);
    let mut events = watcher(api, config).default_backoff().boxed();
    let mut replicas = Replicas::default();
    let mut last = "waiting for the deployment to be observed".to_string();
    let mut seen = false;
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let outcome = loop {
        let event = tokio::select! {
            () = &mut deadline => break RolloutOutcome::TimedOut { last, replicas },
            () = stop.stopped() => break RolloutOutcome::Stopped { replicas },
            event = events.next() => event,
        };
        let deployment = match event {
            None => break RolloutOutcome::Deleted,
            Some(Ok(watcher::Event::Apply(d) | watcher::Event::InitApply(d))) => {
                seen = true;
                d
            }
            Some(Ok(watcher::Event::Delete(_))) => break RolloutOutcome::Deleted,
            Some(Ok(watcher::Event::InitDone)) if !seen => break RolloutOutcome::Deleted,
            Some(Ok(watcher::Event::Init)) => {
                seen = false;
                continue;
            }
            Some(Ok(watcher::Event::InitDone)) => continue,
            // The watcher resumes by itself (with backoff); only refusals are final.
            Some(Err(err)) => {
                if let Some(fatal) = fatal_watch_error(cluster, &err) {
                    progress.finish(&task, "failed");
                    return Err(fatal);
                }
                continue;
            }
        };
        replicas = Replicas::of(&deployment);
        match rollout_state(&deployment) {
            RolloutState::Complete => break RolloutOutcome::Complete(replicas),
            RolloutState::DeadlineExceeded(message) => {
                break RolloutOutcome::DeadlineExceeded { message, replicas }
            }
            RolloutState::Unobserved => {
                last = "waiting for the deployment spec update to be observed".into();
            }
            RolloutState::Progressing(msg) => last = msg,
        }
        progress.message(&task, replicas.to_string());
    };
    let how = match &outcome {
        RolloutOutcome::Complete(r) => format!("available ({r})"),
        RolloutOutcome::DeadlineExceeded { .. } => "progress deadline exceeded".into(),
        RolloutOutcome::TimedOut { .. } => "timed out".into(),
        RolloutOutcome::Deleted => "deleted".into(),
        RolloutOutcome::Stopped { .. } => "interrupted".into(),
    };
    progress.finish(&task, how);
    Ok(outcome)
}

fn fatal_watch_error(cluster: &Cluster, err: &watcher::Error) -> Option<KubeError> {
    let source = match err {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => e,
        _ => return None,
    };
    match source {
        kube::Error::Api(status) if matches!(status.code, 401 | 403) => {
            Some(cluster.error("watching the deployment", kube::Error::Api(status.clone())))
        }
        _ => None,
    }
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rollback {
    pub deployment: String,
    /// The revision that failed.
    pub from_revision: i64,
    /// The revision whose pod template was restored.
    pub to_revision: i64,
}

/// Undo to the previous revision as `kubectl rollout undo` does: find the newest ReplicaSet
/// of this Deployment older than the current revision and put its pod template back. The
/// template goes back through server-side apply of the object hale applied (`applied`), with
/// field manager `hale`, so the next `hale deploy` owns the same fields and applies without
/// a conflict.
pub async fn rollback(
    cluster: &Cluster,
    applied: &DynamicObject,
    force_conflicts: bool,
) -> Result<Rollback, KubeError> {
    let name = applied.metadata.name.clone().unwrap_or_default();
    let namespace = applied
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| cluster.namespace.clone());
    let what = format!("Deployment/{name}");
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &namespace);
    let live = deployments
        .get(&name)
        .await
        .map_err(|e| cluster.error(what.clone(), e))?;
    let current = revision(live.metadata.annotations.as_ref());
    let uid = live.metadata.uid.clone().unwrap_or_default();
    let sets: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), &namespace);
    let list = sets
        .list(&ListParams::default())
        .await
        .map_err(|e| cluster.error(format!("listing the ReplicaSets of {what}"), e))?;
    let previous = list
        .items
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .as_ref()
                .is_some_and(|refs| refs.iter().any(|o| o.uid == uid))
        })
        .map(|rs| (revision(rs.metadata.annotations.as_ref()), rs))
        .filter(|(rev, _)| *rev < current && *rev > 0)
        .max_by_key(|(rev, _)| *rev);
    let Some((to_revision, rs)) = previous else {
        return Err(KubeError::NoPreviousRevision { name });
    };
    let mut template = rs
        .spec
        .and_then(|s| s.template)
        .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove("pod-template-hash");
    }
    let mut object = applied.clone();
    object.metadata.namespace = Some(namespace.clone());
    object.metadata.managed_fields = None;
    object.metadata.resource_version = None;
    if let Some(spec) = object.data.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("template".into(), template);
    }
    let api: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        &namespace,
        &kube::core::ApiResource::erase::<Deployment>(&()),
    );
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.force = force_conflicts;
    api.patch(&name, &params, &Patch::Apply(&object))
        .await
        .map_err(|e| cluster.error(what, e))?;
    Ok(Rollback {
        deployment: name,
        from_revision: current,
        to_revision,
    })
}

fn revision(annotations: Option<&std::collections::BTreeMap<String, String>>) -> i64 {
    annotations
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(v: Value) -> Deployment {
        serde_json::from_value(v).unwrap()
    }

    fn with(generation: i64, status: Value) -> Deployment {
        deployment(json!({
            "metadata": {"name": "orders", "generation": generation},
            "spec": {"replicas": 3, "selector": {}, "template": {}},
            "status": status,
        }))
    }

    #[test]
    fn a_spec_not_yet_observed_is_not_done_even_if_the_old_status_looks_complete() {
        // Right after an apply: generation 2, the status still describes generation 1's
        // completed rollout. kube-runtime's check would pass here.
        let d = with(
            2,
            json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3,
                   "availableReplicas": 3, "conditions": [{"type": "Progressing",
                   "status": "True", "reason": "NewReplicaSetAvailable"}]}),
        );
        assert_eq!(rollout_state(&d), RolloutState::Unobserved);
    }

    #[test]
    fn the_progress_deadline_fails_the_rollout() {
        let d = with(
            2,
            json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 1,
                   "conditions": [{"type": "Progressing", "status": "False",
                   "reason": "ProgressDeadlineExceeded"}]}),
        );
        assert!(matches!(
            rollout_state(&d),
            RolloutState::DeadlineExceeded(_)
        ));
    }

    #[test]
    fn kubectls_three_waits_in_order() {
        let updating = with(
            2,
            json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 1}),
        );
        assert_eq!(
            rollout_state(&updating),
            RolloutState::Progressing("1 out of 3 new replicas have been updated".into())
        );
        let terminating = with(
            2,
            json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3}),
        );
        assert_eq!(
            rollout_state(&terminating),
            RolloutState::Progressing("1 old replicas are pending termination".into())
        );
        let unavailable = with(
            2,
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3,
                   "availableReplicas": 2}),
        );
        assert_eq!(
            rollout_state(&unavailable),
            RolloutState::Progressing("2 of 3 updated replicas are available".into())
        );
        let done = with(
            2,
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3,
                   "availableReplicas": 3}),
        );
        assert_eq!(rollout_state(&done), RolloutState::Complete);
    }

    #[test]
    fn revisions_read_from_the_annotation() {
        let a = std::collections::BTreeMap::from([(REVISION.to_string(), "7".to_string())]);
        assert_eq!(revision(Some(&a)), 7);
        assert_eq!(revision(None), 0);
    }
}
