//! Gateway API weights for a canary (`--traffic gateway`, and `auto` where they can be trusted):
//! the HTTPRoutes and GRPCRoutes of the namespace whose rules send to the service's Service,
//! programmed by an accepted Gateway, get a weighted backendRef to the Service `<name>-canary`
//! (the canary's pods only) beside the one to `<name>` (the stable pods only) at each step, and
//! their backendRefs back exactly as they were at the end. What is changed is recorded in the
//! canary's state before it is changed ([`GatewayTraffic`]), so any process can step, promote,
//! abort or resume.
pub mod route;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResource;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{state::FIELD_MANAGER, CanaryError};
use crate::kube::{Cluster, KubeError};
use route::{GatewayInfo, Programmers, RouteKind, RuleRefs, GROUP};

/// The route edits of one canary, as recorded in its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayTraffic {
    /// The API version the routes are read and written with (`gateway.networking.k8s.io/v1`).
    pub api_version: String,
    /// The Service hale creates for the canary's pods, named in the routes' weighted refs.
    pub canary_service: String,
    /// Every route hale weights, with the rules it splits as they were.
    pub routes: Vec<RouteEdit>,
}

/// One route (in the canary's namespace) and the rules hale splits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteEdit {
    /// `HTTPRoute` or `GRPCRoute`; a state written before hale weighted GRPCRoutes has none and
    /// means an HTTPRoute.
    #[serde(default)]
    pub kind: RouteKind,
    pub name: String,
    /// The Gateway that programs it (`namespace/name`).
    pub gateway: String,
    pub rules: Vec<RuleRefs>,
}

impl RouteEdit {
    /// `httproute/orders`, `grpcroute/orders`.
    pub fn named(&self) -> String {
        self.kind.named(&self.name)
    }
}

impl GatewayTraffic {
    /// `httproute/a, grpcroute/b`.
    pub fn route_names(&self) -> String {
        self.routes
            .iter()
            .map(RouteEdit::named)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What carries the split, as the traffic line names it: `HTTPRoute weights`, `GRPCRoute
    /// weights`, `HTTPRoute and GRPCRoute weights`.
    pub fn weights(&self) -> String {
        let kinds: std::collections::BTreeSet<RouteKind> =
            self.routes.iter().map(|r| r.kind).collect();
        format!("{} weights", route::kinds_joined(kinds, "and"))
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

fn routes_resource(version: &str, kind: RouteKind) -> ApiResource {
    resource(version, kind.kind(), kind.plural())
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

/// The route kinds among a group version's resources (its discovery document).
fn served_kinds(resources: &[APIResource]) -> Vec<RouteKind> {
    RouteKind::ALL
        .into_iter()
        .filter(|k| resources.iter().any(|r| r.name == k.plural()))
        .collect()
}

/// The route kinds the cluster serves in the Gateway API's `version` (a Gateway API before v1.1
/// serves no GRPCRoute in `v1`).
async fn route_kinds_served(cluster: &Cluster, version: &str) -> Result<Vec<RouteKind>, KubeError> {
    let list = cluster
        .client
        .list_api_group_resources(&format!("{GROUP}/{version}"))
        .await
        .map_err(|e| cluster.error(format!("discovering {GROUP}/{version}"), e))?;
    Ok(served_kinds(&list.resources))
}

/// The accepted GatewayClasses: name → the controllerName that accepted it.
async fn accepted_classes(
    cluster: &Cluster,
    version: &str,
) -> Result<BTreeMap<String, String>, KubeError> {
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

/// What [`find`] read of one route kind in the namespace.
#[derive(Debug, Clone, PartialEq)]
enum Listed {
    /// The routes that send to the service, as the API server returned them.
    Routes(Vec<Value>),
    /// The Gateway API version the cluster prefers does not serve the kind.
    NotServed,
    /// Listing the kind is forbidden (RBAC): the API server's message.
    Forbidden(String),
}

impl Listed {
    /// The routes read (none when the kind could not be read).
    fn routes(&self) -> &[Value] {
        match self {
            Listed::Routes(routes) => routes,
            _ => &[],
        }
    }
}

/// The routes of `kind` in the namespace that send to `service`, or why they cannot be read.
async fn list_routes(
    cluster: &Cluster,
    version: &str,
    served: &[RouteKind],
    kind: RouteKind,
    service: &str,
) -> Result<Listed, KubeError> {
    if !served.contains(&kind) {
        return Ok(Listed::NotServed);
    }
    let ns = cluster.namespace.as_str();
    let api: Api<DynamicObject> =
        Api::namespaced_with(cluster.client.clone(), ns, &routes_resource(version, kind));
    let routes = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(e) => match cluster.error(format!("listing {kind}s"), e) {
            KubeError::Forbidden { message } => return Ok(Listed::Forbidden(message)),
            e => return Err(e),
        },
    };
    Ok(Listed::Routes(
        routes
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or_default())
            .filter(|v| !route::rules_sending_to(v, ns, service).is_empty())
            .collect(),
    ))
}

/// The Gateways the routes name as parents, looked up one by one (a namespace's user may not
/// list Gateways cluster-wide).
async fn parent_gateways<'a>(
    cluster: &Cluster,
    version: &str,
    routes: impl Iterator<Item = &'a Value>,
) -> Result<BTreeMap<(String, String), GatewayInfo>, KubeError> {
    let mut gateways = BTreeMap::new();
    let ar = resource(version, "Gateway", "gateways");
    for r in routes {
        for ((ns, name), _) in route::gateway_parents(r, &cluster.namespace) {
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

/// Find the programmed HTTPRoutes and GRPCRoutes of the namespace that send to `service`, or say
/// why Gateway API weights cannot be trusted for it.
pub async fn find(cluster: &Cluster, service: &str, canary: &str) -> Result<Found, KubeError> {
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
    let served = route_kinds_served(cluster, &version).await?;
    let mut listed = Vec::new();
    for kind in RouteKind::ALL {
        listed.push((
            kind,
            list_routes(cluster, &version, &served, kind, service).await?,
        ));
    }
    let routes = listed.iter().flat_map(|(_, l)| l.routes());
    let known = Programmers {
        gateways: parent_gateways(cluster, &version, routes).await?,
        classes,
    };
    let target = Target {
        namespace: &cluster.namespace,
        service,
        canary,
        version: &version,
    };
    decide(&target, &listed, &known)
}

/// The service a canary weights routes for, and the API version they are read with.
struct Target<'a> {
    namespace: &'a str,
    service: &'a str,
    canary: &'a str,
    version: &'a str,
}

/// Why the kinds that could not be read were not (`GRPCRoutes could not be read: ...`), said
/// with every answer so that a route hale cannot see is never passed over in silence.
fn unread(target: &Target, listed: &[(RouteKind, Listed)]) -> Vec<String> {
    listed
        .iter()
        .filter_map(|(kind, l)| match l {
            Listed::Routes(_) => None,
            Listed::NotServed => Some(format!(
                "{kind}s could not be read: the cluster serves {GROUP}/{} without {kind}",
                target.version
            )),
            Listed::Forbidden(message) => Some(format!(
                "{kind}s could not be read: listing them is forbidden by the API server (RBAC): \
                 {message}"
            )),
        })
        .collect()
}

/// The decision on what [`find`] read: every route that sends to the service and that an
/// accepted Gateway programs, or why there is none. When no kind could be read at all and one
/// was forbidden, that is the answer (as for any other Gateway API object hale cannot read).
fn decide(
    target: &Target,
    listed: &[(RouteKind, Listed)],
    known: &Programmers,
) -> Result<Found, KubeError> {
    let Target {
        namespace: ns,
        service,
        ..
    } = *target;
    let notes = unread(target, listed);
    let said = |why: String| {
        std::iter::once(why)
            .chain(notes.iter().cloned())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let read: Vec<RouteKind> = listed
        .iter()
        .filter(|(_, l)| matches!(l, Listed::Routes(_)))
        .map(|(k, _)| *k)
        .collect();
    if read.is_empty() {
        if let Some(message) = listed.iter().find_map(|(_, l)| match l {
            Listed::Forbidden(m) => Some(m.clone()),
            _ => None,
        }) {
            return Err(KubeError::Forbidden { message });
        }
        return Ok(Found::Unusable(notes.join("; ")));
    }
    let routes: Vec<(RouteKind, &Value)> = listed
        .iter()
        .flat_map(|(kind, l)| l.routes().iter().map(|r| (*kind, r)))
        .collect();
    if routes.is_empty() {
        return Ok(Found::Unusable(said(format!(
            "GatewayClass {} is accepted, but no {} in namespace {ns} sends to service/{service}",
            known
                .classes
                .keys()
                .next()
                .map(String::as_str)
                .unwrap_or(""),
            route::kinds_joined(read, "or"),
        ))));
    }
    let mut edits = Vec::new();
    let mut untrusted = Vec::new();
    for (kind, r) in routes {
        let name = r
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match route::programmed_by(r, ns, known) {
            Ok(gateway) => {
                let rules = route::rules_sending_to(r, ns, service);
                if let Some(why) = route::unsplittable(&kind.named(&name), &rules) {
                    return Ok(Found::Unusable(said(why)));
                }
                edits.push(RouteEdit {
                    kind,
                    name,
                    gateway,
                    rules,
                });
            }
            Err(why) => untrusted.push(format!(
                "{} sends to service/{service}, but no accepted Gateway programs it: {why}",
                kind.named(&name)
            )),
        }
    }
    if edits.is_empty() {
        return Ok(Found::Unusable(said(untrusted.join("; "))));
    }
    let traffic = GatewayTraffic {
        api_version: format!("{GROUP}/{}", target.version),
        canary_service: target.canary.to_string(),
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
    let why = said(format!(
        "{} sends to service/{service} and is programmed by {}",
        traffic.route_names(),
        gateways.join(", ")
    ));
    Ok(Found::Usable { traffic, why })
}

fn routes_api(cluster: &Cluster, gw: &GatewayTraffic, kind: RouteKind) -> Api<DynamicObject> {
    let version = gw.api_version.rsplit('/').next().unwrap_or("v1");
    Api::namespaced_with(
        cluster.client.clone(),
        &cluster.namespace,
        &routes_resource(version, kind),
    )
}

/// Read a route, change its `spec.rules` with `change`, and write them back conditionally on
/// the route's resourceVersion (read again and retried when someone wrote in between). `None`
/// when the route is gone.
async fn rewrite_rules(
    cluster: &Cluster,
    gw: &GatewayTraffic,
    edit: &RouteEdit,
    change: impl Fn(&Value) -> Result<Value, CanaryError>,
) -> Result<Option<()>, CanaryError> {
    let api = routes_api(cluster, gw, edit.kind);
    let name = edit.name.as_str();
    loop {
        let Some(r) = api
            .get_opt(name)
            .await
            .map_err(|e| cluster.error(edit.named(), e))?
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
            Err(e) => return Err(cluster.error(edit.named(), e).into()),
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
    let ns = cluster.namespace.as_str();
    for edit in &gw.routes {
        let split = |rules: &Value| {
            route::replace_refs(rules, &edit.rules, |e| {
                route::split(&e.backend_refs, ns, service, &gw.canary_service, weight)
            })
            .map_err(|rule| {
                CanaryError::Lost(format!(
                    "{} lost its rule {rule} while the canary ran: end the canary with `hale \
                     deploy abort`",
                    edit.named()
                ))
            })
        };
        if rewrite_rules(cluster, gw, edit, split).await?.is_none() {
            return Err(CanaryError::Lost(format!(
                "{} was deleted while the canary ran: end the canary with `hale deploy abort`",
                edit.named()
            )));
        }
    }
    Ok(())
}

/// Put every split rule's backendRefs back as they were before the canary (a route that is gone
/// has nothing to put back).
pub async fn restore(cluster: &Cluster, gw: &GatewayTraffic) -> Result<(), CanaryError> {
    let ns = cluster.namespace.as_str();
    for edit in &gw.routes {
        rewrite_rules(cluster, gw, edit, |rules| {
            Ok(route::restored(rules, &edit.rules, ns, &gw.canary_service))
        })
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: Target = Target {
        namespace: "shop",
        service: "orders",
        canary: "orders-canary",
        version: "v1",
    };

    /// A route of `kind` sending everything to service/orders, accepted by Traefik through the
    /// programmed Gateway shop/edge.
    fn route(kind: RouteKind, name: &str) -> Value {
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": kind.kind(),
            "metadata": {"name": name, "namespace": "shop", "generation": 1},
            "spec": {"rules": [{"backendRefs": [{"group": "", "kind": "Service", "name": "orders", "port": 8080, "weight": 1}]}]},
            "status": {"parents": [{
                "parentRef": {"group": GROUP, "kind": "Gateway", "name": "edge"},
                "controllerName": "traefik.io/gateway-controller",
                "conditions": [{"type": "Accepted", "status": "True", "observedGeneration": 1}],
            }]},
        })
    }

    fn known() -> Programmers {
        Programmers {
            classes: BTreeMap::from([("traefik".into(), "traefik.io/gateway-controller".into())]),
            gateways: BTreeMap::from([(
                ("shop".into(), "edge".into()),
                GatewayInfo {
                    class: "traefik".into(),
                    programmed: true,
                },
            )]),
        }
    }

    fn usable(found: Found) -> (GatewayTraffic, String) {
        match found {
            Found::Usable { traffic, why } => (traffic, why),
            Found::Unusable(why) => panic!("unusable: {why}"),
        }
    }

    fn unusable(found: Found) -> String {
        match found {
            Found::Unusable(why) => why,
            Found::Usable { why, .. } => panic!("usable: {why}"),
        }
    }

    #[test]
    fn a_grpcroute_to_the_service_is_weighted_like_an_httproute_and_named_by_its_kind() {
        let listed = [
            (RouteKind::Http, Listed::Routes(vec![])),
            (
                RouteKind::Grpc,
                Listed::Routes(vec![route(RouteKind::Grpc, "orders")]),
            ),
        ];
        let (traffic, why) = usable(decide(&TARGET, &listed, &known()).unwrap());
        assert_eq!(
            why,
            "grpcroute/orders sends to service/orders and is programmed by gateway shop/edge \
             (GatewayClass traefik)"
        );
        assert_eq!(traffic.api_version, "gateway.networking.k8s.io/v1");
        assert_eq!(traffic.routes.len(), 1);
        assert_eq!(traffic.routes[0].kind, RouteKind::Grpc);
        assert_eq!(traffic.routes[0].rules[0].rule, 0);
        assert_eq!(traffic.weights(), "GRPCRoute weights");

        let both = [
            (
                RouteKind::Http,
                Listed::Routes(vec![route(RouteKind::Http, "web")]),
            ),
            (
                RouteKind::Grpc,
                Listed::Routes(vec![route(RouteKind::Grpc, "orders")]),
            ),
        ];
        let (traffic, why) = usable(decide(&TARGET, &both, &known()).unwrap());
        assert_eq!(traffic.route_names(), "httproute/web, grpcroute/orders");
        assert_eq!(traffic.weights(), "HTTPRoute and GRPCRoute weights");
        assert!(
            why.starts_with("httproute/web, grpcroute/orders sends to service/orders"),
            "{why}"
        );
    }

    #[test]
    fn grpcroutes_that_cannot_be_read_are_said_beside_the_httproutes_weighted() {
        let forbidden = [
            (
                RouteKind::Http,
                Listed::Routes(vec![route(RouteKind::Http, "orders")]),
            ),
            (
                RouteKind::Grpc,
                Listed::Forbidden("grpcroutes.gateway.networking.k8s.io is forbidden".into()),
            ),
        ];
        let (traffic, why) = usable(decide(&TARGET, &forbidden, &known()).unwrap());
        assert_eq!(traffic.route_names(), "httproute/orders");
        assert_eq!(traffic.weights(), "HTTPRoute weights");
        assert!(
            why.starts_with("httproute/orders sends to service/orders and is programmed by")
                && why.ends_with(
                    "; GRPCRoutes could not be read: listing them is forbidden by the API \
                     server (RBAC): grpcroutes.gateway.networking.k8s.io is forbidden"
                ),
            "{why}"
        );

        let not_served = [
            (RouteKind::Http, Listed::Routes(vec![])),
            (RouteKind::Grpc, Listed::NotServed),
        ];
        let why = unusable(decide(&TARGET, &not_served, &known()).unwrap());
        assert_eq!(
            why,
            "GatewayClass traefik is accepted, but no HTTPRoute in namespace shop sends to \
             service/orders; GRPCRoutes could not be read: the cluster serves \
             gateway.networking.k8s.io/v1 without GRPCRoute"
        );
    }

    #[test]
    fn no_route_kind_read_is_the_forbidden_answer_or_says_why() {
        let forbidden = [
            (RouteKind::Http, Listed::Forbidden("httproutes: no".into())),
            (RouteKind::Grpc, Listed::NotServed),
        ];
        match decide(&TARGET, &forbidden, &known()) {
            Err(KubeError::Forbidden { message }) => assert_eq!(message, "httproutes: no"),
            other => panic!("{other:?}"),
        }
        let none = [
            (RouteKind::Http, Listed::NotServed),
            (RouteKind::Grpc, Listed::NotServed),
        ];
        let why = unusable(decide(&TARGET, &none, &known()).unwrap());
        assert!(
            why.starts_with("HTTPRoutes could not be read") && why.contains("; GRPCRoutes"),
            "{why}"
        );
    }

    #[test]
    fn an_untrusted_grpcroute_is_named_by_its_kind() {
        let mut refused = route(RouteKind::Grpc, "orders");
        refused["status"]["parents"][0]["conditions"][0]["status"] = json!("False");
        let listed = [
            (RouteKind::Http, Listed::Routes(vec![])),
            (RouteKind::Grpc, Listed::Routes(vec![refused])),
        ];
        let why = unusable(decide(&TARGET, &listed, &known()).unwrap());
        assert!(
            why.starts_with(
                "grpcroute/orders sends to service/orders, but no accepted Gateway programs it"
            ),
            "{why}"
        );
        let mut heavy = route(RouteKind::Grpc, "orders");
        heavy["spec"]["rules"][0]["backendRefs"][0]["weight"] = json!(20000);
        let listed = [(RouteKind::Grpc, Listed::Routes(vec![heavy]))];
        let why = unusable(decide(&TARGET, &listed, &known()).unwrap());
        assert!(why.starts_with("grpcroute/orders rule 0"), "{why}");
    }

    #[test]
    fn the_served_route_kinds_come_from_the_group_versions_resources() {
        let resource = |name: &str| APIResource {
            name: name.into(),
            ..APIResource::default()
        };
        let old = [
            resource("gateways"),
            resource("httproutes"),
            resource("httproutes/status"),
        ];
        assert_eq!(served_kinds(&old), vec![RouteKind::Http]);
        let new = [resource("grpcroutes"), resource("httproutes")];
        assert_eq!(served_kinds(&new), vec![RouteKind::Http, RouteKind::Grpc]);
    }

    #[test]
    fn a_state_recorded_without_a_kind_is_an_httproute_and_the_kind_is_recorded() {
        let old = json!({
            "api_version": "gateway.networking.k8s.io/v1",
            "canary_service": "orders-canary",
            "routes": [{"name": "orders", "gateway": "shop/edge",
                        "rules": [{"rule": 0, "backend_refs": [{"name": "orders"}]}]}],
        });
        let traffic: GatewayTraffic = serde_json::from_value(old).unwrap();
        assert_eq!(traffic.routes[0].kind, RouteKind::Http);
        assert_eq!(traffic.route_names(), "httproute/orders");
        assert_eq!(traffic.weights(), "HTTPRoute weights");

        let mut grpc = traffic;
        grpc.routes[0].kind = RouteKind::Grpc;
        let written = serde_json::to_value(&grpc).unwrap();
        assert_eq!(written["routes"][0]["kind"], "GRPCRoute");
        let read: GatewayTraffic = serde_json::from_value(written).unwrap();
        assert_eq!(read, grpc);
        assert_eq!(read.route_names(), "grpcroute/orders");
    }
}
