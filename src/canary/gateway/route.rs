//! The route edits of a gateway canary, on the route's JSON and nothing else (no I/O): which
//! rules send to the service, each rule's backendRefs at a step's weight, the rules put back as
//! they were, and whether an accepted Gateway programs the route (its `status.parents`). An
//! HTTPRoute and a GRPCRoute are edited alike: their rules' `backendRefs` have the same shape
//! (group, kind, name, namespace, port, weight, filters) and their `status.parents` the same
//! conditions; only the rules' matches differ, and hale leaves those alone.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The Gateway API's group.
pub const GROUP: &str = "gateway.networking.k8s.io";
/// The largest backendRef weight the Gateway API accepts.
pub const MAX_WEIGHT: u64 = 1_000_000;
/// Weights are percentages: every original weight is multiplied by this, so it must stay below
/// `MAX_WEIGHT / PERCENT`.
const PERCENT: u64 = 100;

/// The kinds of route hale weights, in the order it reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub enum RouteKind {
    /// The kind of a route recorded before hale weighted GRPCRoutes (a state without `kind`).
    #[default]
    #[serde(rename = "HTTPRoute")]
    Http,
    #[serde(rename = "GRPCRoute")]
    Grpc,
}

impl RouteKind {
    pub const ALL: [RouteKind; 2] = [RouteKind::Http, RouteKind::Grpc];

    /// `HTTPRoute`, `GRPCRoute`: the API's kind.
    pub fn kind(self) -> &'static str {
        match self {
            RouteKind::Http => "HTTPRoute",
            RouteKind::Grpc => "GRPCRoute",
        }
    }

    /// `httproutes`, `grpcroutes`: the API's resource.
    pub fn plural(self) -> &'static str {
        match self {
            RouteKind::Http => "httproutes",
            RouteKind::Grpc => "grpcroutes",
        }
    }

    /// `httproute/orders`: one route, as kubectl names it.
    pub fn named(self, name: &str) -> String {
        format!("{}/{name}", self.kind().to_ascii_lowercase())
    }
}

impl std::fmt::Display for RouteKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

/// `HTTPRoute`, `HTTPRoute or GRPCRoute`: the kinds, joined with `word`.
pub fn kinds_joined(kinds: impl IntoIterator<Item = RouteKind>, word: &str) -> String {
    kinds
        .into_iter()
        .map(RouteKind::kind)
        .collect::<Vec<_>>()
        .join(&format!(" {word} "))
}

/// One rule hale splits: its index in `spec.rules` and its backendRefs as they were before the
/// canary (as the API server returned them, defaults included), which is what is put back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleRefs {
    pub rule: usize,
    pub backend_refs: Vec<Value>,
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Whether a backendRef sends to the Service `service` of the route's own namespace (group
/// `""` and kind `Service` are the defaults; a Service in another namespace is not this one).
pub fn sends_to(reference: &Value, route_namespace: &str, service: &str) -> bool {
    text(reference, "group").unwrap_or("").is_empty()
        && text(reference, "kind").unwrap_or("Service") == "Service"
        && text(reference, "namespace").unwrap_or(route_namespace) == route_namespace
        && text(reference, "name") == Some(service)
}

/// The rules of `route` that send to `service`, with their backendRefs as they are now.
pub fn rules_sending_to(route: &Value, route_namespace: &str, service: &str) -> Vec<RuleRefs> {
    route
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(rule, r)| {
            let refs = r.get("backendRefs").and_then(Value::as_array)?;
            refs.iter()
                .any(|b| sends_to(b, route_namespace, service))
                .then(|| RuleRefs {
                    rule,
                    backend_refs: refs.clone(),
                })
        })
        .collect()
}

fn weight_of(reference: &Value) -> u64 {
    reference.get("weight").and_then(Value::as_u64).unwrap_or(1)
}

/// Why the rules' weights cannot be split in percent (a weight so large that 100 times it is
/// above what the Gateway API accepts), if they cannot. `route` is as kubectl names it
/// ([`RouteKind::named`]).
pub fn unsplittable(route: &str, rules: &[RuleRefs]) -> Option<String> {
    rules.iter().find_map(|r| {
        let w = r.backend_refs.iter().map(weight_of).max().unwrap_or(1);
        (w.saturating_mul(PERCENT) > MAX_WEIGHT).then(|| {
            format!(
                "{route} rule {} has a backendRef of weight {w}: hale splits weights in percent \
                 and needs them at most {}",
                r.rule,
                MAX_WEIGHT / PERCENT
            )
        })
    })
}

/// A rule's backendRefs with `weight` percent of the service's share going to `canary`: each
/// ref to `service` of weight W becomes itself at W×(100−weight) followed by a copy naming
/// `canary` at W×weight; every other backend's weight is multiplied by 100, so the rule's
/// other backends keep the share they had.
pub fn split(
    original: &[Value],
    route_namespace: &str,
    service: &str,
    canary: &str,
    weight: u32,
) -> Vec<Value> {
    let weight = u64::from(weight.min(100));
    let mut refs = Vec::with_capacity(original.len() + 1);
    for r in original {
        let w = weight_of(r);
        let mut kept = r.clone();
        if sends_to(r, route_namespace, service) {
            kept["weight"] = json!(w * (PERCENT - weight));
            let mut to_canary = r.clone();
            to_canary["name"] = json!(canary);
            to_canary["weight"] = json!(w * weight);
            refs.push(kept);
            refs.push(to_canary);
        } else {
            kept["weight"] = json!(w * PERCENT);
            refs.push(kept);
        }
    }
    refs
}

/// Whether any of a rule's backendRefs sends to `canary`: the rule carries a split of hale's.
pub fn sends_to_canary(refs: &Value, route_namespace: &str, canary: &str) -> bool {
    refs.as_array()
        .into_iter()
        .flatten()
        .any(|b| sends_to(b, route_namespace, canary))
}

/// The route's `spec.rules` with each recorded rule's backendRefs replaced by `refs(rule)`.
/// `Err` names a recorded rule the route no longer has.
pub fn replace_refs(
    rules: &Value,
    edits: &[RuleRefs],
    refs: impl Fn(&RuleRefs) -> Vec<Value>,
) -> Result<Value, usize> {
    let mut rules = rules.clone();
    for e in edits {
        let rule = rules.get_mut(e.rule).ok_or(e.rule)?;
        rule["backendRefs"] = Value::Array(refs(e));
    }
    Ok(rules)
}

/// The route's `spec.rules` put back as they were: every recorded rule that still carries
/// hale's split gets its original backendRefs; a rule without one (restored already, or
/// rewritten by its owner meanwhile) and a rule the route no longer has are left alone.
pub fn restored(rules: &Value, edits: &[RuleRefs], route_namespace: &str, canary: &str) -> Value {
    let mut rules = rules.clone();
    for e in edits {
        if let Some(rule) = rules.get_mut(e.rule) {
            if sends_to_canary(&rule["backendRefs"], route_namespace, canary) {
                rule["backendRefs"] = Value::Array(e.backend_refs.clone());
            }
        }
    }
    rules
}

/// What the cluster's Gateway API objects say, as far as programming a route goes.
#[derive(Debug, Clone, Default)]
pub struct Programmers {
    /// Accepted GatewayClasses: name → the controllerName of the controller that accepted it.
    pub classes: BTreeMap<String, String>,
    /// Gateways by (namespace, name): their class and whether they are Programmed.
    pub gateways: BTreeMap<(String, String), GatewayInfo>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GatewayInfo {
    pub class: String,
    pub programmed: bool,
}

/// Whether `conditions` hold `kind` with status True, for the object's current generation when
/// the condition says which one it observed.
pub fn condition_true(conditions: Option<&Value>, kind: &str, generation: Option<i64>) -> bool {
    conditions
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c["type"] == kind
                && c["status"] == "True"
                && match (
                    c.get("observedGeneration").and_then(Value::as_i64),
                    generation,
                ) {
                    (Some(seen), Some(current)) => seen >= current,
                    _ => true,
                }
        })
}

/// A route's Gateway parents, as (namespace, name) per `status.parents[]` entry that names one.
pub fn gateway_parents<'a>(
    route: &'a Value,
    route_namespace: &str,
) -> Vec<((String, String), &'a Value)> {
    route
        .pointer("/status/parents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let r = p.get("parentRef")?;
            let is_gateway = text(r, "group").unwrap_or(GROUP) == GROUP
                && text(r, "kind").unwrap_or("Gateway") == "Gateway";
            is_gateway.then(|| {
                (
                    (
                        text(r, "namespace").unwrap_or(route_namespace).to_string(),
                        text(r, "name").unwrap_or("").to_string(),
                    ),
                    p,
                )
            })
        })
        .collect()
}

/// The Gateway (`namespace/name`) that programs `route`: a `status.parents[]` entry with
/// `Accepted: True` for the route's generation, written by the controller that accepted the
/// Gateway's class, for a Gateway that is `Programmed`. `Err` says why none does.
pub fn programmed_by(
    route: &Value,
    route_namespace: &str,
    known: &Programmers,
) -> Result<String, String> {
    let generation = route
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let parents = gateway_parents(route, route_namespace);
    let mut why = None;
    for ((ns, name), p) in &parents {
        let gateway = format!("{ns}/{name}");
        let Some(info) = known.gateways.get(&(ns.clone(), name.clone())) else {
            why.get_or_insert(format!("its parent gateway {gateway} does not exist"));
            continue;
        };
        let Some(controller) = known.classes.get(&info.class) else {
            why.get_or_insert(format!(
                "gateway {gateway} is of GatewayClass {}, which no controller accepted",
                info.class
            ));
            continue;
        };
        if text(p, "controllerName") != Some(controller.as_str()) {
            why.get_or_insert(format!(
                "its status for gateway {gateway} is not from {controller}, the controller of \
                 GatewayClass {}",
                info.class
            ));
            continue;
        }
        if !condition_true(p.get("conditions"), "Accepted", generation) {
            why.get_or_insert(format!(
                "gateway {gateway}'s controller has not accepted it (no Accepted: True for its \
                 generation in status.parents)"
            ));
            continue;
        }
        if !info.programmed {
            why.get_or_insert(format!("gateway {gateway} is not Programmed"));
            continue;
        }
        return Ok(gateway);
    }
    Err(why.unwrap_or_else(|| "no Gateway controller has written its status.parents".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(v: Value) -> Vec<Value> {
        v.as_array().unwrap().clone()
    }

    /// A route as the API server returns it: defaults filled in.
    fn route() -> Value {
        json!({
            "metadata": {"name": "orders", "namespace": "shop", "generation": 3},
            "spec": {"rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
                 "backendRefs": [{"group": "", "kind": "Service", "name": "admin", "port": 8080, "weight": 1}]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                 "backendRefs": [{"group": "", "kind": "Service", "name": "orders", "port": 8080, "weight": 1}]},
            ]},
            "status": {"parents": [{
                "parentRef": {"group": GROUP, "kind": "Gateway", "name": "edge"},
                "controllerName": "traefik.io/gateway-controller",
                "conditions": [{"type": "Accepted", "status": "True", "observedGeneration": 3}],
            }]},
        })
    }

    fn programmers() -> Programmers {
        Programmers {
            classes: BTreeMap::from([(
                "traefik".to_string(),
                "traefik.io/gateway-controller".to_string(),
            )]),
            gateways: BTreeMap::from([(
                ("shop".to_string(), "edge".to_string()),
                GatewayInfo {
                    class: "traefik".into(),
                    programmed: true,
                },
            )]),
        }
    }

    /// A GRPCRoute as the API server returns it: its rules match gRPC methods, and their
    /// backendRefs have an HTTPRoute's shape.
    fn grpc_route() -> Value {
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
            "metadata": {"name": "orders", "namespace": "shop", "generation": 2},
            "spec": {"parentRefs": [{"name": "edge"}], "rules": [
                {"matches": [{"method": {"type": "Exact", "service": "grpc.health.v1.Health"}}],
                 "backendRefs": [{"group": "", "kind": "Service", "name": "health", "port": 8080, "weight": 1}]},
                {"matches": [{"method": {"type": "Exact", "service": "orders.v1.OrderService"}}],
                 "backendRefs": [{"group": "", "kind": "Service", "name": "orders", "port": 8080, "weight": 2},
                                 {"group": "", "kind": "Service", "name": "legacy", "port": 9090, "weight": 1}]},
            ]},
            "status": {"parents": [{
                "parentRef": {"group": GROUP, "kind": "Gateway", "name": "edge"},
                "controllerName": "traefik.io/gateway-controller",
                "conditions": [
                    {"type": "Accepted", "status": "True", "observedGeneration": 2},
                    {"type": "ResolvedRefs", "status": "True", "observedGeneration": 2},
                ],
            }]},
        })
    }

    #[test]
    fn route_kinds_name_their_resources_and_read_an_old_state_as_an_httproute() {
        assert_eq!(RouteKind::Grpc.kind(), "GRPCRoute");
        assert_eq!(RouteKind::Grpc.plural(), "grpcroutes");
        assert_eq!(RouteKind::Http.plural(), "httproutes");
        assert_eq!(RouteKind::Grpc.named("orders"), "grpcroute/orders");
        assert_eq!(RouteKind::Http.named("orders"), "httproute/orders");
        assert_eq!(
            serde_json::to_value(RouteKind::Grpc).unwrap(),
            json!("GRPCRoute")
        );
        assert_eq!(
            serde_json::from_value::<RouteKind>(json!("HTTPRoute")).unwrap(),
            RouteKind::Http
        );
        assert_eq!(RouteKind::default(), RouteKind::Http);
        assert_eq!(kinds_joined(RouteKind::ALL, "or"), "HTTPRoute or GRPCRoute");
        assert_eq!(kinds_joined([RouteKind::Grpc], "and"), "GRPCRoute");
    }

    #[test]
    fn a_grpcroutes_rules_are_split_by_weight_and_given_back_exactly() {
        let r = grpc_route();
        let before = r["spec"]["rules"].clone();
        let edits = rules_sending_to(&r, "shop", "orders");
        assert_eq!(edits.len(), 1);
        assert_eq!(edits[0].rule, 1);
        let rules = replace_refs(&before, &edits, |e| {
            split(&e.backend_refs, "shop", "orders", "orders-canary", 25)
        })
        .unwrap();
        assert_eq!(
            rules[1]["backendRefs"],
            json!([
                {"group": "", "kind": "Service", "name": "orders", "port": 8080, "weight": 150},
                {"group": "", "kind": "Service", "name": "orders-canary", "port": 8080, "weight": 50},
                {"group": "", "kind": "Service", "name": "legacy", "port": 9090, "weight": 100},
            ])
        );
        assert_eq!(
            rules[1]["matches"], before[1]["matches"],
            "methods untouched"
        );
        assert_eq!(rules[0], before[0]);
        assert_eq!(restored(&rules, &edits, "shop", "orders-canary"), before);
        assert_eq!(
            programmed_by(&r, "shop", &programmers()),
            Ok("shop/edge".into())
        );
        let mut stale = r;
        stale["metadata"]["generation"] = json!(3);
        let why = programmed_by(&stale, "shop", &programmers()).unwrap_err();
        assert!(why.contains("has not accepted it"), "{why}");
    }

    #[test]
    fn only_rules_sending_to_the_service_in_the_routes_namespace_are_split() {
        let r = route();
        let rules = rules_sending_to(&r, "shop", "orders");
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].rule, 1);
        assert!(rules_sending_to(&r, "shop", "payments").is_empty());
        let elsewhere = json!({"name": "orders", "namespace": "other"});
        assert!(!sends_to(&elsewhere, "shop", "orders"));
        let not_a_service = json!({"group": "example.com", "kind": "Bucket", "name": "orders"});
        assert!(!sends_to(&not_a_service, "shop", "orders"));
        assert!(sends_to(&json!({"name": "orders"}), "shop", "orders"));
    }

    #[test]
    fn a_step_weights_stable_and_canary_in_percent_and_keeps_other_backends_shares() {
        let original = refs(json!([
            {"group": "", "kind": "Service", "name": "orders", "port": 8080, "weight": 1,
             "filters": [{"type": "RequestHeaderModifier"}]},
            {"group": "", "kind": "Service", "name": "legacy", "port": 80, "weight": 3},
        ]));
        let at25 = split(&original, "shop", "orders", "orders-canary", 25);
        assert_eq!(
            at25,
            refs(json!([
                {"group": "", "kind": "Service", "name": "orders", "port": 8080, "weight": 75,
                 "filters": [{"type": "RequestHeaderModifier"}]},
                {"group": "", "kind": "Service", "name": "orders-canary", "port": 8080, "weight": 25,
                 "filters": [{"type": "RequestHeaderModifier"}]},
                {"group": "", "kind": "Service", "name": "legacy", "port": 80, "weight": 300},
            ]))
        );
        // Without a weight (the default 1) the split is the plain percentages.
        let bare = split(
            &refs(json!([{"name": "orders", "port": 8080}])),
            "shop",
            "orders",
            "orders-canary",
            10,
        );
        assert_eq!(
            bare,
            refs(json!([
                {"name": "orders", "port": 8080, "weight": 90},
                {"name": "orders-canary", "port": 8080, "weight": 10},
            ]))
        );
    }

    #[test]
    fn weights_too_large_to_split_in_percent_are_named() {
        let rules = vec![RuleRefs {
            rule: 0,
            backend_refs: refs(json!([{"name": "orders", "weight": 20000}])),
        }];
        let why = unsplittable("grpcroute/orders", &rules).unwrap();
        assert!(
            why.starts_with("grpcroute/orders rule 0")
                && why.contains("weight 20000")
                && why.contains("10000"),
            "{why}"
        );
        let fine = vec![RuleRefs {
            rule: 0,
            backend_refs: refs(json!([{"name": "orders", "weight": 10000}])),
        }];
        assert_eq!(unsplittable("httproute/orders", &fine), None);
    }

    #[test]
    fn steps_then_restore_give_back_the_rules_exactly() {
        let r = route();
        let before = r["spec"]["rules"].clone();
        let edits = rules_sending_to(&r, "shop", "orders");
        let mut rules = before.clone();
        for w in [10, 25, 50] {
            rules = replace_refs(&rules, &edits, |e| {
                split(&e.backend_refs, "shop", "orders", "orders-canary", w)
            })
            .unwrap();
            assert_eq!(rules[1]["backendRefs"][0]["weight"], json!(100 - w));
            assert_eq!(rules[1]["backendRefs"][1]["weight"], json!(w));
            assert_eq!(rules[0], before[0], "other rules are untouched");
            assert_eq!(rules[1]["matches"], before[1]["matches"]);
        }
        let back = restored(&rules, &edits, "shop", "orders-canary");
        assert_eq!(back, before);
        // Restoring twice (another process, a retry) changes nothing more.
        assert_eq!(restored(&back, &edits, "shop", "orders-canary"), before);
    }

    #[test]
    fn restore_leaves_a_rule_its_owner_rewrote_and_a_missing_rule_fails_a_step() {
        let r = route();
        let edits = rules_sending_to(&r, "shop", "orders");
        let mut rules = r["spec"]["rules"].clone();
        rules[1]["backendRefs"] = json!([{"name": "orders-v2", "port": 8080}]);
        assert_eq!(restored(&rules, &edits, "shop", "orders-canary"), rules);
        let shorter = json!([r["spec"]["rules"][0].clone()]);
        assert_eq!(
            replace_refs(&shorter, &edits, |e| e.backend_refs.clone()),
            Err(1)
        );
        assert_eq!(restored(&shorter, &edits, "shop", "orders-canary"), shorter);
    }

    #[test]
    fn a_route_is_trusted_only_when_an_accepted_gateways_controller_accepted_it() {
        let known = programmers();
        assert_eq!(
            programmed_by(&route(), "shop", &known),
            Ok("shop/edge".into())
        );

        let mut no_status = route();
        no_status["status"] = json!({});
        let why = programmed_by(&no_status, "shop", &known).unwrap_err();
        assert!(why.contains("no Gateway controller"), "{why}");

        let mut refused = route();
        refused["status"]["parents"][0]["conditions"][0]["status"] = json!("False");
        let why = programmed_by(&refused, "shop", &known).unwrap_err();
        assert!(why.contains("has not accepted it"), "{why}");

        let mut stale = route();
        stale["metadata"]["generation"] = json!(4);
        assert!(
            programmed_by(&stale, "shop", &known).is_err(),
            "status of an older generation"
        );

        let mut other_controller = route();
        other_controller["status"]["parents"][0]["controllerName"] = json!("example.com/other");
        let why = programmed_by(&other_controller, "shop", &known).unwrap_err();
        assert!(
            why.contains("not from traefik.io/gateway-controller"),
            "{why}"
        );

        let mut unaccepted_class = known.clone();
        unaccepted_class.classes.clear();
        let why = programmed_by(&route(), "shop", &unaccepted_class).unwrap_err();
        assert!(why.contains("which no controller accepted"), "{why}");

        let mut not_programmed = known.clone();
        not_programmed
            .gateways
            .values_mut()
            .for_each(|g| g.programmed = false);
        let why = programmed_by(&route(), "shop", &not_programmed).unwrap_err();
        assert!(why.contains("is not Programmed"), "{why}");

        let mut missing = known;
        missing.gateways.clear();
        let why = programmed_by(&route(), "shop", &missing).unwrap_err();
        assert!(why.contains("does not exist"), "{why}");
    }
}
