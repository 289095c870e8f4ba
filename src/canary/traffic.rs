//! How a canary gets its share of the traffic. Without a mesh or a programmed Gateway, by the
//! ratio of ready canary and stable pods behind the one Service (as Argo Rollouts does without a
//! traffic router): the canary Deployment carries the Service's selector labels plus
//! `track: canary`, and the stable Deployment is scaled so that the ratio matches the weight.
//! Gateway API weights are detected, never assumed.
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde::Serialize;
use serde_json::{json, Value};

use super::{canary_name, state::FIELD_MANAGER, CanaryError, TRACK_CANARY, TRACK_LABEL};
use crate::kube::{Cluster, KubeError};

/// What the user asked for with `--traffic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrafficRequest {
    /// Gateway API weights where a controller programs them, else the replica ratio.
    #[default]
    Auto,
    Replicas,
    Gateway,
}

/// How the traffic is split, and why: said in one line before the first step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrafficMethod {
    /// `replicas`.
    pub method: &'static str,
    pub why: String,
}

const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// Whether the cluster serves the Gateway API and has a GatewayClass a controller accepted.
async fn accepted_gateway_class(cluster: &Cluster) -> Result<Option<String>, KubeError> {
    let groups = cluster
        .client
        .list_api_groups()
        .await
        .map_err(|e| cluster.error("listing API groups", e))?;
    let Some(group) = groups.groups.iter().find(|g| g.name == GATEWAY_GROUP) else {
        return Ok(None);
    };
    let version = group
        .preferred_version
        .as_ref()
        .map(|v| v.version.clone())
        .unwrap_or_else(|| "v1".into());
    let gvk = GroupVersionKind::gvk(GATEWAY_GROUP, &version, "GatewayClass");
    let api: Api<DynamicObject> = Api::all_with(
        cluster.client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk, "gatewayclasses"),
    );
    let classes = api
        .list(&ListParams::default())
        .await
        .map_err(|e| cluster.error("listing GatewayClasses", e))?;
    Ok(classes.items.into_iter().find_map(|c| {
        let accepted = c
            .data
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|cond| cond["type"] == "Accepted" && cond["status"] == "True");
        accepted.then(|| c.metadata.name.unwrap_or_default())
    }))
}

/// Decide how to split the traffic. `--traffic gateway` where no controller programs the
/// Gateway API is the user's mistake; HTTPRoute weights themselves are not built yet.
pub async fn detect(
    cluster: &Cluster,
    request: TrafficRequest,
) -> Result<TrafficMethod, CanaryError> {
    let replicas = |why: String| TrafficMethod {
        method: "replicas",
        why,
    };
    if request == TrafficRequest::Replicas {
        return Ok(replicas("asked for with --traffic replicas".into()));
    }
    let class = accepted_gateway_class(cluster).await?;
    match (request, class) {
        (TrafficRequest::Gateway, None) => Err(CanaryError::BadInput(format!(
            "--traffic gateway: the cluster has no GatewayClass accepted by a controller \
             ({GATEWAY_GROUP} is not served, or no controller programs it); use --traffic \
             replicas"
        ))),
        (TrafficRequest::Gateway, Some(_)) => Err(CanaryError::BadInput(
            "--traffic gateway (HTTPRoute weights) is not implemented yet; use --traffic \
             replicas"
                .into(),
        )),
        (_, Some(class)) => Ok(replicas(format!(
            "GatewayClass {class} is accepted, but hale does not program HTTPRoute weights yet"
        ))),
        (_, None) => Ok(replicas(format!(
            "the cluster has no Gateway API ({GATEWAY_GROUP} with an accepted GatewayClass)"
        ))),
    }
}

fn kind_of(o: &DynamicObject) -> &str {
    o.types.as_ref().map(|t| t.kind.as_str()).unwrap_or("")
}

/// The rendered set split for a canary: the stable Deployment and ConfigMap as rendered (what
/// promotion applies), their canary copies, and everything else (applied at the start).
#[derive(Debug, Clone)]
pub struct CanarySet {
    pub stable: Vec<DynamicObject>,
    pub canary: Vec<DynamicObject>,
    pub others: Vec<DynamicObject>,
}

/// The annotation on the canary Deployment holding the stable objects as rendered, so any
/// process can promote the canary without rendering again.
pub const RENDERED_ANNOTATION: &str = "canary.hale.dev/promote-to";

/// Split the rendered objects of `service` into stable, canary and the rest.
pub fn canary_set(service: &str, objects: Vec<DynamicObject>) -> Result<CanarySet, CanaryError> {
    let mut set = CanarySet {
        stable: Vec::new(),
        canary: Vec::new(),
        others: Vec::new(),
    };
    for o in objects {
        match kind_of(&o) {
            "Deployment" | "ConfigMap" => set.stable.push(o),
            "HorizontalPodAutoscaler" => {
                return Err(CanaryError::BadInput(
                    "--canary scales the stable Deployment itself: it cannot run beside a \
                     HorizontalPodAutoscaler (drop --max-replicas / deploy.max_replicas)"
                        .into(),
                ))
            }
            _ => set.others.push(o),
        }
    }
    let deployment = set
        .stable
        .iter()
        .find(|o| kind_of(o) == "Deployment" && o.metadata.name.as_deref() == Some(service))
        .ok_or_else(|| {
            CanaryError::BadInput(format!("the rendered set has no deployment/{service}"))
        })?;
    let config_map = set.stable.iter().find(|o| kind_of(o) == "ConfigMap");
    let cm_name = config_map.and_then(|c| c.metadata.name.clone());
    let stable_json = serde_json::to_string(&set.stable).map_err(|e| {
        CanaryError::BadInput(format!("the rendered set cannot be serialized: {e}"))
    })?;
    let mut canary_deployment = deployment.clone();
    canary_deployment.metadata.name = Some(canary_name(service));
    canary_deployment
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(RENDERED_ANNOTATION.into(), stable_json);
    canary_deployment
        .metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(TRACK_LABEL.into(), TRACK_CANARY.into());
    let data = &mut canary_deployment.data;
    // The canary's replicas are the canary's own to scale, never the applied object's.
    if let Some(spec) = data.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("replicas");
    }
    for path in [
        "/spec/selector/matchLabels",
        "/spec/template/metadata/labels",
    ] {
        if let Some(labels) = data.pointer_mut(path).and_then(Value::as_object_mut) {
            labels.insert(TRACK_LABEL.into(), json!(TRACK_CANARY));
        }
    }
    if let (Some(cm), Some(containers)) = (
        &cm_name,
        data.pointer_mut("/spec/template/spec/containers")
            .and_then(Value::as_array_mut),
    ) {
        for c in containers {
            for from in c
                .get_mut("envFrom")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if from.pointer("/configMapRef/name").and_then(Value::as_str) == Some(cm) {
                    from["configMapRef"]["name"] = json!(canary_name(cm));
                }
            }
        }
    }
    if let Some(cm) = config_map {
        let mut canary_cm = cm.clone();
        canary_cm.metadata.name = cm_name.as_deref().map(canary_name);
        set.canary.push(canary_cm);
    }
    set.canary.push(canary_deployment);
    Ok(set)
}

/// The stable objects as rendered, from the canary Deployment's annotation.
pub async fn rendered_stable(
    cluster: &Cluster,
    service: &str,
) -> Result<Option<Vec<DynamicObject>>, KubeError> {
    let name = canary_name(service);
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let Some(d) = api
        .get_opt(&name)
        .await
        .map_err(|e| cluster.error(format!("deployment/{name}"), e))?
    else {
        return Ok(None);
    };
    let Some(text) = d
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(RENDERED_ANNOTATION))
    else {
        return Ok(None);
    };
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| KubeError::BadObject {
            object: format!("deployment/{name}"),
            reason: format!("its annotation {RENDERED_ANNOTATION} is not a set of objects: {e}"),
        })
}

/// Set a Deployment's replicas.
pub async fn scale(cluster: &Cluster, name: &str, replicas: i32) -> Result<(), KubeError> {
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    api.patch(
        name,
        &PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        },
        &Patch::Merge(json!({ "spec": { "replicas": replicas } })),
    )
    .await
    .map_err(|e| cluster.error(format!("scaling deployment/{name}"), e))?;
    Ok(())
}

/// A Deployment's current `spec.replicas` and first container image.
pub async fn deployment_info(
    cluster: &Cluster,
    name: &str,
) -> Result<Option<(i32, String)>, KubeError> {
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let d = api
        .get_opt(name)
        .await
        .map_err(|e| cluster.error(format!("deployment/{name}"), e))?;
    Ok(d.map(|d| {
        let spec = d.spec.unwrap_or_default();
        let image = spec
            .template
            .spec
            .and_then(|p| p.containers.into_iter().next())
            .and_then(|c| c.image)
            .unwrap_or_default();
        (spec.replicas.unwrap_or(1), image)
    }))
}

/// Delete the canary Deployment and ConfigMap (gone already is fine). Background propagation:
/// the Deployment is gone at once, its pods leave the Service's endpoints at once and terminate
/// gracefully afterwards (preStop, drain), as in any scale-down.
pub async fn delete_canary(cluster: &Cluster, service: &str) -> Result<(), KubeError> {
    let name = canary_name(service);
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let gone = |r: Result<_, kube::Error>, what: String| match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(cluster.error(what, e)),
    };
    gone(
        deployments
            .delete(&name, &DeleteParams::background())
            .await
            .map(|_| ()),
        format!("deployment/{name}"),
    )?;
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let cms = maps
        .list(&ListParams::default().labels(&crate::kube::service_selector(service)))
        .await
        .map_err(|e| cluster.error("listing ConfigMaps", e))?;
    for cm in cms.items {
        let cm_name = cm.metadata.name.unwrap_or_default();
        if cm_name.ends_with("-canary") {
            gone(
                maps.delete(&cm_name, &DeleteParams::background())
                    .await
                    .map(|_| ()),
                format!("configmap/{cm_name}"),
            )?;
        }
    }
    Ok(())
}

/// Whether the canary Deployment still exists (its pods may still be terminating).
pub async fn canary_exists(cluster: &Cluster, service: &str) -> Result<bool, KubeError> {
    let name = canary_name(service);
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    Ok(api
        .get_opt(&name)
        .await
        .map_err(|e| cluster.error(format!("deployment/{name}"), e))?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(v: Value) -> DynamicObject {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_set_with_an_hpa_is_refused_as_bad_input_naming_the_flag() {
        let objects = vec![
            object(
                json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"orders"}}),
            ),
            object(
                json!({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"orders"}}),
            ),
        ];
        let err = canary_set("orders", objects).unwrap_err();
        assert!(err.is_bad_input(), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("--max-replicas") && !text.contains('\n'),
            "{text}"
        );
    }

    #[test]
    fn the_canary_copies_the_deployment_with_track_canary_and_its_own_config() {
        let objects = vec![
            object(
                json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"orders-config"},"data":{"A":"1"}}),
            ),
            object(
                json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"orders","labels":{"app.kubernetes.io/name":"orders"}},
                "spec":{"replicas":2,"selector":{"matchLabels":{"app.kubernetes.io/name":"orders"}},
                "template":{"metadata":{"labels":{"app.kubernetes.io/name":"orders"}},
                "spec":{"containers":[{"name":"orders","image":"x","envFrom":[{"configMapRef":{"name":"orders-config"}}]}]}}}}),
            ),
            object(json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"orders"}})),
        ];
        let set = canary_set("orders", objects).unwrap();
        assert_eq!(set.others.len(), 1);
        assert_eq!(set.stable.len(), 2);
        let d = set
            .canary
            .iter()
            .find(|o| kind_of(o) == "Deployment")
            .unwrap();
        assert_eq!(d.metadata.name.as_deref(), Some("orders-canary"));
        assert!(d.data.pointer("/spec/replicas").is_none());
        assert_eq!(
            d.data.pointer("/spec/selector/matchLabels/track"),
            Some(&json!("canary"))
        );
        assert_eq!(
            d.data
                .pointer("/spec/template/metadata/labels/app.kubernetes.io~1name"),
            Some(&json!("orders")),
            "the Service's selector labels stay"
        );
        assert_eq!(
            d.data
                .pointer("/spec/template/spec/containers/0/envFrom/0/configMapRef/name"),
            Some(&json!("orders-config-canary"))
        );
        let cm = set
            .canary
            .iter()
            .find(|o| kind_of(o) == "ConfigMap")
            .unwrap();
        assert_eq!(cm.metadata.name.as_deref(), Some("orders-config-canary"));
    }
}
