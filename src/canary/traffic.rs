//! How a canary gets its share of the traffic, and the canary's objects. Two methods:
//! - the replica ratio (as Argo Rollouts does without a traffic router): the canary Deployment
//!   carries the Service's selector labels plus `track: canary`, so the one Service sends it
//!   traffic, and the stable Deployment is scaled so that the ratio of pods matches the weight;
//! - Gateway API weights ([`super::gateway`]): the canary's pods are kept out of the Service
//!   (their `app.kubernetes.io/instance` is `<name>-canary`) and get a Service of their own,
//!   `<name>-canary`, which the programmed HTTPRoutes and GRPCRoutes weight beside `<name>`; the
//!   stable Deployment keeps its replicas.
//!
//! Gateway API weights are detected, never assumed: `auto` uses them only where an HTTPRoute or
//! a GRPCRoute sends to the service and an accepted Gateway programs it, and says why not
//! otherwise.
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use serde::Serialize;
use serde_json::{json, Value};

use super::gateway::{self, Found, GatewayTraffic};
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
    /// `replicas` or `gateway`.
    pub method: &'static str,
    pub why: String,
    /// What carries the split, as the traffic line names it: `replica ratio`, `HTTPRoute
    /// weights`, `GRPCRoute weights`, ...
    #[serde(skip)]
    pub name: String,
}

pub const REPLICAS: &str = "replicas";
pub const GATEWAY: &str = "gateway";

impl TrafficMethod {
    pub fn replicas(why: String) -> TrafficMethod {
        TrafficMethod {
            method: REPLICAS,
            why,
            name: "replica ratio".into(),
        }
    }

    /// The weights of `traffic`'s routes.
    pub fn gateway(traffic: &GatewayTraffic, why: String) -> TrafficMethod {
        TrafficMethod {
            method: GATEWAY,
            why,
            name: traffic.weights(),
        }
    }

    /// The one line said before the first step: the method and why.
    pub fn line(&self) -> String {
        format!("{}: {}", self.name, self.why)
    }
}

/// The method chosen, with the routes to weight when it is the Gateway API's.
#[derive(Debug, Clone)]
pub struct Detected {
    pub method: TrafficMethod,
    pub gateway: Option<GatewayTraffic>,
}

/// Decide how to split the traffic. `--traffic gateway` where no accepted Gateway programs an
/// HTTPRoute or a GRPCRoute to the service is the user's mistake (one line, exit 2); `auto` then
/// falls back to the replica ratio and says why.
pub async fn detect(
    cluster: &Cluster,
    service: &str,
    request: TrafficRequest,
) -> Result<Detected, CanaryError> {
    let replicas = |why: String| Detected {
        method: TrafficMethod::replicas(why),
        gateway: None,
    };
    if request == TrafficRequest::Replicas {
        return Ok(replicas("asked for with --traffic replicas".into()));
    }
    let found = match gateway::find(cluster, service, &canary_name(service)).await {
        Ok(found) => found,
        // A namespace's user may not read GatewayClasses: that is an answer for `auto`.
        Err(KubeError::Forbidden { message }) if request == TrafficRequest::Auto => {
            Found::Unusable(format!("the Gateway API cannot be read: {message}"))
        }
        Err(e) => return Err(e.into()),
    };
    match (request, found) {
        (_, Found::Usable { traffic, why }) => Ok(Detected {
            method: TrafficMethod::gateway(&traffic, why),
            gateway: Some(traffic),
        }),
        (TrafficRequest::Gateway, Found::Unusable(why)) => Err(CanaryError::BadInput(format!(
            "--traffic gateway: {why}; use --traffic replicas"
        ))),
        (_, Found::Unusable(why)) => Ok(replicas(why)),
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

/// The stable objects for a promotion's rollout: as rendered, but the Deployment replaces all
/// its pods at once (`maxSurge: 100%`). The canary's pods already serve the new build, so there
/// is nothing to learn from replacing the stable pods one by one; `maxUnavailable` stays as
/// rendered, so an old pod goes only when a new one is ready, and where the cluster has no room
/// for every new pod at once the rollout goes on as old pods make room. Also returns the
/// Deployment as rendered, to apply again once the rollout is done (the strategy is not part of
/// the pod template, so that second apply starts no rollout).
pub fn surge_all(
    stable: Vec<DynamicObject>,
    service: &str,
) -> (Vec<DynamicObject>, Option<DynamicObject>) {
    let mut rendered = None;
    let surged = stable
        .into_iter()
        .map(|mut o| {
            if kind_of(&o) == "Deployment" && o.metadata.name.as_deref() == Some(service) {
                rendered = Some(o.clone());
                if let Some(spec) = o.data.get_mut("spec").and_then(Value::as_object_mut) {
                    let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
                    if let Some(strategy) = strategy.as_object_mut() {
                        strategy.insert("type".into(), json!("RollingUpdate"));
                        let rolling = strategy.entry("rollingUpdate").or_insert_with(|| json!({}));
                        if let Some(rolling) = rolling.as_object_mut() {
                            rolling.insert("maxSurge".into(), json!("100%"));
                            rolling.entry("maxUnavailable").or_insert(json!(0));
                        }
                    }
                }
            }
            o
        })
        .collect();
    (surged, rendered)
}

/// The annotation on the canary Deployment holding the stable objects as rendered, so any
/// process can promote the canary without rendering again.
pub const RENDERED_ANNOTATION: &str = "canary.hale.dev/promote-to";

/// The pod label the Service selects on that the canary's pods change under Gateway API
/// weights, so that the Service `<name>` sends to the stable pods only.
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";

/// Split the rendered objects of `service` into stable, canary and the rest; the canary's pods
/// share the stable Service (the replica ratio) until [`CanarySet::give_own_service`].
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

impl CanarySet {
    /// For Gateway API weights: keep the canary's pods out of the Service `service` and give
    /// them a Service (and NetworkPolicy) of their own.
    pub fn give_own_service(&mut self, service: &str) -> Result<(), CanaryError> {
        let deployment = self
            .canary
            .iter_mut()
            .find(|o| kind_of(o) == "Deployment")
            .ok_or_else(|| {
                CanaryError::BadInput(format!("the rendered set has no deployment/{service}"))
            })?;
        let own = own_service(service, &self.others, deployment)?;
        // Before the Deployment, so its pods have their Service when they become ready.
        let at = self.canary.len() - 1;
        for (i, o) in own.into_iter().enumerate() {
            self.canary.insert(at + i, o);
        }
        Ok(())
    }
}

/// A copy of one of the rendered objects named `service`, renamed for the canary and labelled
/// `track: canary`.
fn canary_copy(o: &DynamicObject, service: &str) -> DynamicObject {
    let mut copy = o.clone();
    copy.metadata.name = Some(canary_name(service));
    copy.metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(TRACK_LABEL.into(), TRACK_CANARY.into());
    copy
}

/// Keep the canary's pods out of the Service `service` (their instance label becomes the
/// canary's name) and give them their own: the Service `<name>-canary`, a copy selecting them
/// only (its labels stay the Service's, so the ServiceMonitor scrapes the canary's pods through
/// it), and a copy of the NetworkPolicy selecting them, so they are held to the same policy.
fn own_service(
    service: &str,
    others: &[DynamicObject],
    canary_deployment: &mut DynamicObject,
) -> Result<Vec<DynamicObject>, CanaryError> {
    let named = |kind: &str| {
        others
            .iter()
            .find(|o| kind_of(o) == kind && o.metadata.name.as_deref() == Some(service))
    };
    let stable_service = named("Service").ok_or_else(|| {
        CanaryError::BadInput(format!(
            "--traffic gateway: the rendered set has no service/{service} for the routes to send \
             to"
        ))
    })?;
    if stable_service
        .data
        .pointer("/spec/selector")
        .and_then(|s| s.get(INSTANCE_LABEL))
        .is_none()
    {
        return Err(CanaryError::BadInput(format!(
            "--traffic gateway: service/{service} does not select by {INSTANCE_LABEL}, so the \
             canary's pods cannot be kept out of it; use --traffic replicas"
        )));
    }
    let instance = json!(canary_name(service));
    let data = &mut canary_deployment.data;
    for path in [
        "/spec/selector/matchLabels",
        "/spec/template/metadata/labels",
    ] {
        if let Some(labels) = data.pointer_mut(path).and_then(Value::as_object_mut) {
            labels.insert(INSTANCE_LABEL.into(), instance.clone());
        }
    }
    let pods = data
        .pointer("/spec/selector/matchLabels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut objects = Vec::new();
    let mut own = canary_copy(stable_service, service);
    own.data["spec"]["selector"] = pods.clone();
    objects.push(own);
    if let Some(policy) = named("NetworkPolicy") {
        let mut copy = canary_copy(policy, service);
        copy.data["spec"]["podSelector"] = json!({ "matchLabels": pods });
        objects.push(copy);
    }
    Ok(objects)
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

/// Delete the canary Deployment, ConfigMap, Service and NetworkPolicy (gone already is fine).
/// Background propagation: the Deployment is gone at once, its pods leave the Service's
/// endpoints at once and terminate gracefully afterwards (preStop, drain), as in any scale-down.
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
    // The canary's own Service and NetworkPolicy (Gateway API weights; absent otherwise).
    let services: Api<Service> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    gone(
        services
            .delete(&name, &DeleteParams::background())
            .await
            .map(|_| ()),
        format!("service/{name}"),
    )?;
    let policies: Api<NetworkPolicy> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    gone(
        policies
            .delete(&name, &DeleteParams::background())
            .await
            .map(|_| ()),
        format!("networkpolicy/{name}"),
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

    fn rendered() -> Vec<DynamicObject> {
        let selector =
            json!({"app.kubernetes.io/name": "orders", "app.kubernetes.io/instance": "orders"});
        let labels = json!({"app.kubernetes.io/name": "orders", "app.kubernetes.io/instance": "orders", "app.kubernetes.io/managed-by": "hale"});
        vec![
            object(
                json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"orders","labels":labels},
                "spec":{"replicas":2,"selector":{"matchLabels":selector},
                "template":{"metadata":{"labels":labels},"spec":{"containers":[{"name":"orders","image":"x"}]}}}}),
            ),
            object(
                json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"orders","labels":labels},
                "spec":{"type":"ClusterIP","selector":selector,"ports":[{"name":"http","port":8080,"targetPort":"http"}]}}),
            ),
            object(
                json!({"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"orders","labels":labels},
                "spec":{"podSelector":{"matchLabels":selector},"policyTypes":["Ingress","Egress"]}}),
            ),
        ]
    }

    /// Whether `selector` (a Service's, or matchLabels) selects pods with `labels`.
    fn selects(selector: &Value, labels: &Value) -> bool {
        selector
            .as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
    }

    #[test]
    fn under_gateway_weights_the_canary_pods_leave_the_stable_service_for_their_own() {
        let mut set = canary_set("orders", rendered()).unwrap();
        set.give_own_service("orders").unwrap();
        let find = |kind: &str| {
            set.canary
                .iter()
                .find(|o| kind_of(o) == kind)
                .unwrap()
                .clone()
        };
        let deployment = find("Deployment");
        let pods = deployment
            .data
            .pointer("/spec/template/metadata/labels")
            .unwrap();
        assert_eq!(pods["app.kubernetes.io/instance"], json!("orders-canary"));
        assert_eq!(pods["track"], json!("canary"));
        let stable_service = &set.others[0];
        assert!(
            !selects(&stable_service.data["spec"]["selector"], pods),
            "service/orders no longer selects the canary's pods"
        );
        let stable_pods = rendered()[0].data["spec"]["template"]["metadata"]["labels"].clone();
        assert!(!selects(
            deployment
                .data
                .pointer("/spec/selector/matchLabels")
                .unwrap(),
            &stable_pods
        ));

        let own = find("Service");
        assert_eq!(own.metadata.name.as_deref(), Some("orders-canary"));
        assert!(selects(&own.data["spec"]["selector"], pods));
        assert!(!selects(&own.data["spec"]["selector"], &stable_pods));
        assert_eq!(
            own.data["spec"]["ports"],
            stable_service.data["spec"]["ports"]
        );
        let own_labels = own.metadata.labels.as_ref().unwrap();
        assert_eq!(
            own_labels
                .get("app.kubernetes.io/instance")
                .map(String::as_str),
            Some("orders"),
            "the ServiceMonitor (which selects the Service's labels) scrapes the canary through it"
        );
        assert_eq!(own_labels.get("track").map(String::as_str), Some("canary"));

        let policy = find("NetworkPolicy");
        assert_eq!(policy.metadata.name.as_deref(), Some("orders-canary"));
        assert!(selects(
            &policy.data["spec"]["podSelector"]["matchLabels"],
            pods
        ));
        assert_eq!(
            kind_of(set.canary.last().unwrap()),
            "Deployment",
            "the pods come last, after their Service"
        );
    }

    #[test]
    fn a_service_that_does_not_select_by_instance_cannot_shed_the_canary() {
        let mut objects = rendered();
        objects[1].data["spec"]["selector"] = json!({"app.kubernetes.io/name": "orders"});
        let mut set = canary_set("orders", objects).unwrap();
        let err = set.give_own_service("orders").unwrap_err();
        assert!(err.is_bad_input());
        assert!(err.to_string().contains("--traffic replicas"), "{err}");
    }

    #[test]
    fn a_promotion_surges_every_stable_pod_and_keeps_the_rendered_deployment_to_restore() {
        let deployment = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"orders"},
            "spec":{"replicas":3,"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}}});
        let objects = vec![
            object(
                json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"orders-config"},"data":{"A":"1"}}),
            ),
            object(deployment.clone()),
        ];
        let (surged, rendered) = surge_all(objects.clone(), "orders");
        assert_eq!(surged.len(), 2);
        assert_eq!(
            surged[0].data, objects[0].data,
            "the ConfigMap is applied as rendered"
        );
        let d = &surged[1];
        assert_eq!(
            d.data.pointer("/spec/strategy/rollingUpdate/maxSurge"),
            Some(&json!("100%"))
        );
        assert_eq!(
            d.data
                .pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
            Some(&json!(0))
        );
        assert_eq!(d.data.pointer("/spec/replicas"), Some(&json!(3)));
        let rendered = rendered.expect("the rendered Deployment");
        assert_eq!(serde_json::to_value(&rendered).unwrap(), deployment);

        // A Deployment rendered without a strategy still surges; another service's is left alone.
        let bare = object(
            json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"orders"},"spec":{}}),
        );
        let other = object(
            json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"billing"},"spec":{}}),
        );
        let (surged, rendered) = surge_all(vec![bare, other.clone()], "orders");
        assert_eq!(
            surged[0].data.pointer("/spec/strategy/type"),
            Some(&json!("RollingUpdate"))
        );
        assert_eq!(
            surged[0]
                .data
                .pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
            Some(&json!(0))
        );
        assert_eq!(surged[1].data, other.data);
        assert!(rendered.is_some());
    }
}
