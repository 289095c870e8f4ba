//! What hale applied for a service, found by hale's labels: its rollout state, replicas and
//! recent events (`hale deploy status`), and deleting exactly those objects (`hale deploy
//! delete`). Objects without hale's labels are never seen here.
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use serde::Serialize;

use super::diagnose::{event_line, EventLine};
use super::rollout::{rollout_state, Replicas, RolloutState, REVISION};
use super::{service_selector, Cluster, Kinds, KubeError, SERVICE_KINDS};

/// One object hale applied.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectRef {
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

/// A Deployment's rollout, as `hale deploy status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentStatus {
    pub name: String,
    /// `complete`, `progressing`, `failed` or `unobserved`.
    pub state: &'static str,
    /// kubectl's words for where it stands.
    pub message: String,
    pub revision: i64,
    pub generation: i64,
    pub observed_generation: i64,
    pub images: Vec<String>,
    pub replicas: Replicas,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    pub namespace: String,
    pub deployments: Vec<DeploymentStatus>,
    pub objects: Vec<ObjectRef>,
    pub events: Vec<EventLine>,
}

/// Every object with hale's labels for `service` in the cluster's namespace, of the kinds hale
/// renders that the server serves.
pub async fn objects(cluster: &Cluster, service: &str) -> Result<Vec<ObjectRef>, KubeError> {
    Ok(listed(cluster, service)
        .await?
        .into_iter()
        .map(|(r, _)| r)
        .collect())
}

async fn listed(
    cluster: &Cluster,
    service: &str,
) -> Result<Vec<(ObjectRef, Api<DynamicObject>)>, KubeError> {
    let selector = service_selector(service);
    let mut kinds = Kinds::default();
    let mut out = Vec::new();
    for (group, version, kind) in SERVICE_KINDS {
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let Some(served) = kinds.find(cluster, &gvk).await? else {
            continue;
        };
        let api: Api<DynamicObject> =
            Api::namespaced_with(cluster.client.clone(), &cluster.namespace, &served.resource);
        let list = match api.list(&ListParams::default().labels(&selector)).await {
            Ok(list) => list,
            // Its CRD went away since discovery.
            Err(kube::Error::Api(s)) if s.code == 404 => continue,
            Err(e) => return Err(cluster.error(format!("listing {kind}"), e)),
        };
        for o in list.items {
            out.push((
                ObjectRef {
                    kind: kind.to_string(),
                    name: o.metadata.name.unwrap_or_default(),
                    namespace: cluster.namespace.clone(),
                },
                api.clone(),
            ));
        }
    }
    Ok(out)
}

/// The rollout state, replicas and recent events of what hale applied for `service`.
pub async fn status(cluster: &Cluster, service: &str) -> Result<ServiceStatus, KubeError> {
    let objects = objects(cluster, service).await?;
    let deployments_api: Api<Deployment> =
        Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let deployments = deployments_api
        .list(&ListParams::default().labels(&service_selector(service)))
        .await
        .map_err(|e| cluster.error("listing Deployments", e))?
        .items;
    let mut rollouts = Vec::new();
    for d in &deployments {
        let (state, message) = match rollout_state(d) {
            RolloutState::Complete => ("complete", "successfully rolled out".to_string()),
            RolloutState::Progressing(m) => ("progressing", m),
            RolloutState::DeadlineExceeded(m) => ("failed", m),
            RolloutState::Unobserved => (
                "unobserved",
                "waiting for the deployment spec update to be observed".to_string(),
            ),
        };
        rollouts.push(DeploymentStatus {
            name: d.metadata.name.clone().unwrap_or_default(),
            state,
            message,
            revision: d
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(REVISION))
                .and_then(|r| r.parse().ok())
                .unwrap_or(0),
            generation: d.metadata.generation.unwrap_or(0),
            observed_generation: d
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0),
            images: d
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref())
                .map(|p| {
                    p.containers
                        .iter()
                        .filter_map(|c| c.image.clone())
                        .collect()
                })
                .unwrap_or_default(),
            replicas: Replicas::of(d),
        });
    }
    let names: Vec<&str> = objects.iter().map(|o| o.name.as_str()).collect();
    let events_api: Api<Event> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let mut events: Vec<Event> = events_api
        .list(&ListParams::default())
        .await
        .map_err(|e| cluster.error("listing events", e))?
        .items
        .into_iter()
        .filter(|e| {
            let n = e.involved_object.name.as_deref().unwrap_or("");
            // The service's own objects, and the ReplicaSets and pods named after its
            // Deployments (`orders-5d9c…`, `orders-5d9c…-x2x4q`).
            names.contains(&n)
                || deployments.iter().any(|d| {
                    d.metadata
                        .name
                        .as_deref()
                        .is_some_and(|dn| n.starts_with(&format!("{dn}-")))
                })
        })
        .collect();
    events.sort_by_key(|e| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
            .unwrap_or_default()
    });
    let skip = events.len().saturating_sub(10);
    Ok(ServiceStatus {
        service: service.to_string(),
        namespace: cluster.namespace.clone(),
        deployments: rollouts,
        objects,
        events: events.iter().skip(skip).map(event_line).collect(),
    })
}

/// Delete everything hale applied for `service` in the cluster's namespace (never the
/// namespace itself); returns what was deleted.
pub async fn delete(cluster: &Cluster, service: &str) -> Result<Vec<ObjectRef>, KubeError> {
    let mut deleted = Vec::new();
    for (object, api) in listed(cluster, service).await? {
        match api.delete(&object.name, &DeleteParams::background()).await {
            Ok(_) => deleted.push(object),
            // Gone between the list and the delete (a garbage collector was faster).
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(cluster.error(format!("{}/{}", object.kind, object.name), e)),
        }
    }
    Ok(deleted)
}
