//! Gateway API weights for a canary (`--traffic gateway`, and `auto` where they can be trusted):
//! the HTTPRoutes of the namespace whose rules send to the service's Service, programmed by an
//! accepted Gateway, get a weighted backendRef to the Service `<name>-canary` (the canary's pods
//! only) beside the one to `<name>` (the stable pods only) at each step, and their backendRefs
//! back exactly as they were at the end. What is changed is recorded in the canary's state
//! before it is changed ([`GatewayTraffic`]), so any process can step, promote, abort or resume.
pub mod route;

use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{state::FIELD_MANAGER, CanaryError};
use crate::kube::{Cluster, KubeError};
use route::{GatewayInfo, Programmers, RuleRefs, GROUP};

/// The HTTPRoute edits of one canary, as recorded in its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayTraffic {
    /// The API version the routes are read and written with (`gateway.networking.k8s.io/v1`).
    pub api_version: String,
    /// The Service hale creates for the canary's pods, named in the routes' weighted refs.
    pub canary_service: String,
    /// Every route hale weights, with the rules it splits as they were.
    pub routes: Vec<RouteEdit>,
}

/// One HTTPRoute (in the canary's namespace) and the rules hale splits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteEdit {
    pub name: String,
    /// The Gateway that programs it (`namespace/name`).
    pub gateway: String,
    pub rules: Vec<RuleRefs>,
}

impl GatewayTraffic {
    /// `httproute/a, httproute/b`.
    pub fn route_names(&self) -> String {
        self.routes
            .iter()
            .map(|r| format!("httproute/{}", r.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Whether Gateway API weights can be trusted for a service, and why (not).
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    Usable {
        traffic: GatewayTraffic,
        why: String,
    },
    Unusable(String),
}

fn resource(version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, version, kind), plural)
}

/// The version of the Gateway API the cluster prefers, if it serves the group.
async fn served_version(cluster: &Cluster) -> Result<Option<String>, KubeError> {
    let groups = cluster
        .client
        .list_api_groups()
        .await
        .map_err(|e| cluster.error("listing API groups", e))?;
    Ok(groups.groups.iter().find(|g| g.name == GROUP).map(|g| {
        g.preferred_version
            .as_ref()
            .map(|v| v.version.clone())
            .unwrap_or_else(|| "v1".into())
    }))
}

/// The accepted GatewayClasses: name → the controllerName that accepted it.
async fn accepted_classes(
    cluster: &Cluster,
    version: &str,
) -> Result<std::collections::BTreeMap<String, String>, KubeError> {
    let api: Api<DynamicObject> = Api::all_with(
        cluster.client.clone(),
        &resource(version, "GatewayClass", "gatewayclasses"),
    );
    let classes = api
        .list(&ListParams::default())
        .await
        .map_err(|e| cluster.error("listing GatewayClasses", e))?;
    Ok(classes
        .items
        .into_iter()
        .filter(|c| {
            route::condition_true(
                c.data.pointer("/status/conditions"),
                "Accepted",
                c.metadata.generation,
            )
        })
        .map(|c| {
            let controller = c.data["spec"]["controllerName"]
                .as_str()
                .unwrap_or("")
                .to_string();
            (c.metadata.name.unwrap_or_default(), controller)
        })
        .collect())
}

/// The Gateways the routes name as parents, looked up one by one (a namespace's user may not
/// list Gateways cluster-wide).
async fn parent_gateways(
    cluster: &Cluster,
    version: &str,
    routes: &[DynamicObject],
) -> Result<std::collections::BTreeMap<(String, String), GatewayInfo>, KubeError> {
    let mut gateways = std::collections::BTreeMap::new();
    let ar = resource(version, "Gateway", "gateways");
    for r in routes {
        let value = serde_json::to_value(r).unwrap_or_default();
        for ((ns, name), _) in route::gateway_parents(&value, &cluster.namespace) {
            if gateways.contains_key(&(ns.clone(), name.clone())) || name.is_empty() {
                continue;
            }
            let api: Api<DynamicObject> = Api::namespaced_with(cluster.client.clone(), &ns, &ar);
            let got = api
                .get_opt(&name)
                .await
                .map_err(|e| cluster.error(format!("gateway {ns}/{name}"), e))?;
            if let Some(g) = got {
                let info = GatewayInfo {
                    class: g.data["spec"]["gatewayClassName"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    programmed: route::condition_true(
                        g.data.pointer("/status/conditions"),
                        "Programmed",
                        g.metadata.generation,
                    ),
                };
                gateways.insert((ns, name), info);
            }
        }
    }
    Ok(gateways)
}

/// Find the programmed HTTPRoutes of the namespace that send to `service`, or say why Gateway
/// API weights cannot be trusted for it.
pub async fn find(cluster: &Cluster, service: &str, canary: &str) -> Result<Found, KubeError> {
    let ns = cluster.namespace.as_str();
    let Some(version) = served_version(cluster).await? else {
        return Ok(Found::Unusable(format!(
            "the cluster has no Gateway API ({GROUP} is not served)"
        )));
    };
    let classes = accepted_classes(cluster, &version).await?;
    if classes.is_empty() {
        return Ok(Found::Unusable(
            "no GatewayClass is accepted by a controller".into(),
        ));
    }
    let api: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        ns,
        &resource(&version, "HTTPRoute", "httproutes"),
    );
    let routes: Vec<DynamicObject> = api
        .list(&ListParams::default())
        .await
        .map_err(|e| cluster.error("listing HTTPRoutes", e))?
        .items
        .into_iter()
        .filter(|r| {
            let v = serde_json::to_value(r).unwrap_or_default();
            !route::rules_sending_to(&v, ns, service).is_empty()
        })
        .collect();
    if routes.is_empty() {
        return Ok(Found::Unusable(format!(
            "GatewayClass {} is accepted, but no HTTPRoute in namespace {ns} sends to service/{service}",
            classes.keys().next().map(String::as_str).unwrap_or("")
        )));
    }
    let known = Programmers {
        gateways: parent_gateways(cluster, &version, &routes).await?,
        classes,
    };
    let mut edits = Vec::new();
    let mut untrusted = Vec::new();
    for r in &routes {
        let name = r.metadata.name.clone().unwrap_or_default();
        let value = serde_json::to_value(r).unwrap_or_default();
        match route::programmed_by(&value, ns, &known) {
            Ok(gateway) => {
                let rules = route::rules_sending_to(&value, ns, service);
                if let Some(why) = route::unsplittable(&name, &rules) {
                    return Ok(Found::Unusable(why));
                }
                edits.push(RouteEdit {
                    name,
                    gateway,
                    rules,
                });
            }
            Err(why) => untrusted.push(format!(
                "httproute/{name} sends to service/{service}, but no accepted Gateway programs \
                 it: {why}"
            )),
        }
    }
    if edits.is_empty() {
        return Ok(Found::Unusable(untrusted.join("; ")));
    }
    let traffic = GatewayTraffic {
        api_version: format!("{GROUP}/{version}"),
        canary_service: canary.to_string(),
        routes: edits,
    };
    let gateways: Vec<String> = traffic
        .routes
        .iter()
        .map(|r| {
            let class = known
                .gateways
                .iter()
                .find(|((n, g), _)| format!("{n}/{g}") == r.gateway)
                .map(|(_, i)| i.class.clone())
                .unwrap_or_default();
            format!("gateway {} (GatewayClass {class})", r.gateway)
        })
        .collect();
    let why = format!(
        "{} sends to service/{service} and is programmed by {}",
        traffic.route_names(),
        gateways.join(", ")
    );
    Ok(Found::Usable { traffic, why })
}

fn routes_api(cluster: &Cluster, gw: &GatewayTraffic) -> Api<DynamicObject> {
    let version = gw.api_version.rsplit('/').next().unwrap_or("v1");
    Api::namespaced_with(
        cluster.client.clone(),
        &cluster.namespace,
        &resource(version, "HTTPRoute", "httproutes"),
    )
}

/// Read a route, change its `spec.rules` with `change`, and write them back conditionally on
/// the route's resourceVersion (read again and retried when someone wrote in between). `None`
/// when the route is gone.
async fn rewrite_rules(
    cluster: &Cluster,
    api: &Api<DynamicObject>,
    name: &str,
    change: impl Fn(&Value) -> Result<Value, CanaryError>,
) -> Result<Option<()>, CanaryError> {
    loop {
        let Some(r) = api
            .get_opt(name)
            .await
            .map_err(|e| cluster.error(format!("httproute/{name}"), e))?
        else {
            return Ok(None);
        };
        let rules = r.data.pointer("/spec/rules").cloned().unwrap_or(json!([]));
        let new = change(&rules)?;
        if new == rules {
            return Ok(Some(()));
        }
        let patch = json!({
            "metadata": { "resourceVersion": r.metadata.resource_version },
            "spec": { "rules": new },
        });
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        match api.patch(name, &params, &Patch::Merge(&patch)).await {
            Ok(_) => return Ok(Some(())),
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(cluster.error(format!("httproute/{name}"), e).into()),
        }
    }
}

/// Give the canary `weight` percent of each split rule's share of the service.
pub async fn set_weight(
    cluster: &Cluster,
    gw: &GatewayTraffic,
    service: &str,
    weight: u32,
) -> Result<(), CanaryError> {
    let api = routes_api(cluster, gw);
    let ns = cluster.namespace.as_str();
    for edit in &gw.routes {
        let split = |rules: &Value| {
            route::replace_refs(rules, &edit.rules, |e| {
                route::split(&e.backend_refs, ns, service, &gw.canary_service, weight)
            })
            .map_err(|rule| {
                CanaryError::Lost(format!(
                    "httproute/{} lost its rule {rule} while the canary ran: end the canary with \
                     `hale deploy abort`",
                    edit.name
                ))
            })
        };
        if rewrite_rules(cluster, &api, &edit.name, split)
            .await?
            .is_none()
        {
            return Err(CanaryError::Lost(format!(
                "httproute/{} was deleted while the canary ran: end the canary with `hale deploy \
                 abort`",
                edit.name
            )));
        }
    }
    Ok(())
}

/// Put every split rule's backendRefs back as they were before the canary (a route that is gone
/// has nothing to put back).
pub async fn restore(cluster: &Cluster, gw: &GatewayTraffic) -> Result<(), CanaryError> {
    let api = routes_api(cluster, gw);
    let ns = cluster.namespace.as_str();
    for edit in &gw.routes {
        rewrite_rules(cluster, &api, &edit.name, |rules| {
            Ok(route::restored(rules, &edit.rules, ns, &gw.canary_service))
        })
        .await?;
    }
    Ok(())
}
