//! The generated gRPC service (`hale new --grpc`) on the test cluster's real node: built with
//! the daemonless engine and pushed to the test registry, deployed, Ready through the kubelet's
//! gRPC probe, answering
//! `hale load --grpc` through its Service's ClusterIP without one failed call, deleted without
//! leftovers; and a second build rolled out with `hale deploy --canary` under `hale load --grpc`,
//! judged by the gates on the canary pods' gRPC series and promoted. Namespaces and the service
//! helpers are kube_node.rs's, the private Prometheus and the canary helpers canary.rs's.
//!
//! Traffic goes only to 127.0.0.1 and to the Service address on the test bridge.
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::canary::{
    canary, deployment_names, first_deployed_second_built, show, start_load_with, status,
    stop_load, PrivatePrometheus, FAST,
};
use crate::common;
use crate::grpc::generate;
use crate::kube_node::{cluster_ip, pods, stderr, Namespace, Service};

/// The unary method every load calls, and the proto it is described by.
pub(crate) const METHOD: &str = "orders.v1.OrderService/Info";
pub(crate) const PROTO: &str = "api/orders/v1/orders.proto";

/// `hale new orders --grpc`, pushed to `registry` under a repository of its own (`tag`).
pub(crate) fn grpc_service(registry: &str, tag: &str) -> Service {
    let tmp = common::tempdir();
    let dir = generate(tmp.path(), "orders");
    Service {
        repository: format!("{registry}/hale-node-{}-{tag}/orders", std::process::id()),
        tmp,
        dir,
    }
}

/// `hale load --grpc` at `url` with `extra` arguments, its JSON report on stdout.
pub(crate) fn load_grpc(svc: &Service, url: &str, extra: &[&str]) -> Output {
    svc.hale()
        .args(["load", "--url", url, "--grpc", METHOD, "--proto", PROTO])
        .args(["--output", "json"])
        .args(extra)
        .output()
        .unwrap()
}

/// Wait for one call through `url` to pass: the first ones may meet a rule kube-proxy has not
/// programmed yet.
pub(crate) fn wait_for_a_call(svc: &Service, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !load_grpc(svc, url, &["-n", "1", "--timeout", "2s"])
        .status
        .success()
    {
        assert!(
            Instant::now() < deadline,
            "no gRPC call through {url} within 60s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn the_grpc_service_deploys_ready_on_the_real_node_and_answers_load_grpc() {
    let node = need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "grpc");
    let svc = grpc_service(&registry, "grpc");
    let pushed = svc.build_and_push();
    let out = svc.deploy(&ns, &["--output", "json"]);
    common::assert_success(&out, "hale deploy (gRPC service)");
    // Ready through the kubelet's gRPC probe (grpc.health.v1 on the shared port), alive
    // through GET /healthz.
    let deployment = ns.get(&["get", "deployment", "orders"]);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["readinessProbe"]["grpc"]["port"], 8080,
        "a gRPC readiness probe: {container}"
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    let running = pods(&ns);
    assert!(!running.is_empty(), "no pods: {}", stderr(&out));
    for (name, on, ready, image) in &running {
        assert_eq!(on, &node, "{name} runs on the real node");
        assert!(ready, "{name} is Ready");
        assert_eq!(image, &pushed, "{name} runs the pushed image");
    }

    // Unary calls through the ClusterIP (kube-proxy spreads the HTTP/2 connections over the
    // pods), once a first one has passed.
    let url = format!("http://{}:8080", cluster_ip(&ns));
    wait_for_a_call(&svc, &url);
    let out = load_grpc(&svc, &url, &["-c", "4", "-d", "5s"]);
    common::assert_success(&out, "hale load --grpc through the ClusterIP");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["target"]["method"], "gRPC", "{report}");
    assert!(report["requests"].as_u64().unwrap() > 50, "{report}");
    assert_eq!(report["errors"], 0, "{}", report["errors_by_kind"]);

    svc.delete_leaving_nothing(&ns);
}

/// The canary of a gRPC service is judged on its calls: `hale load --grpc` runs through the
/// Service during the rollout (new connections every 2 s, so kube-proxy also sends some to the
/// canary's pod), the gates read the canary pod's `grpc_server_*` series — its HTTP side serves
/// only probes and /metrics, so a measured success rate can only come from the gRPC calls —
/// and the good build is promoted without one failed call.
#[test]
fn a_grpc_services_canary_is_gated_on_its_grpc_calls_and_promoted_without_failed_calls() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "grpc-canary");
    let svc = grpc_service(&registry, "grpc-canary");
    let (_, second) = first_deployed_second_built(&svc, &ns);
    let prometheus = PrivatePrometheus::start(Some(&ns));
    let url = format!("http://{}:8080", cluster_ip(&ns));
    wait_for_a_call(&svc, &url);
    let load = start_load_with(&svc, &["--url", &url, "--grpc", METHOD, "--proto", PROTO]);

    let out = canary(&svc, &ns, &prometheus.url, FAST)
        .args(["--output", "json"])
        .output()
        .unwrap();
    let (calls, failed, kinds) = stop_load(load);
    show("hale deploy --canary (gRPC service)", &out);
    common::assert_success(&out, "hale deploy --canary (gRPC service)");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["decision"], "promoted", "{doc}");
    let steps = doc["canary"]["steps"].as_array().unwrap();
    assert_eq!(
        steps
            .iter()
            .map(|s| s["weight"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![25, 50],
        "{doc}"
    );
    for s in steps {
        let last = s["checks"].as_array().unwrap().last().unwrap();
        assert_eq!(last["outcome"], "pass", "{s}");
        let gates = last["gates"].as_array().unwrap();
        let gate = |name: &str| {
            gates
                .iter()
                .find(|g| g["gate"] == name)
                .unwrap_or_else(|| panic!("no {name} gate: {s}"))
        };
        let rate = gate("success-rate");
        assert!(
            rate["value"].as_f64().is_some_and(|v| v >= 99.0),
            "a success rate measured over the canary's calls: {rate}"
        );
        let p99 = gate("p99");
        assert!(
            p99["value"].as_f64().is_some(),
            "a p99 measured from the canary's gRPC histogram: {p99}"
        );
    }

    // What the gates read, asked of Prometheus itself: the canary pod answered gRPC calls of
    // the service's own method, and no user request over HTTP.
    let canary_pod = format!(r#"namespace="{}",pod=~"orders-canary-.+""#, ns.name);
    let grpc_calls = prometheus.value(&format!(
        "sum(max_over_time(grpc_server_handled_total{{{canary_pod},\
         grpc_service=\"orders.v1.OrderService\"}}[15m]))"
    ));
    assert!(
        grpc_calls.is_some_and(|n| n > 0.0),
        "gRPC calls on the canary pod: {grpc_calls:?}\n{}",
        prometheus.targets()
    );
    let http_requests = prometheus.value(&format!(
        "sum(max_over_time(http_requests_total{{{canary_pod},\
         route!~\"GET /(healthz|readyz|metrics)\"}}[15m]))"
    ));
    assert!(
        http_requests.unwrap_or(0.0) == 0.0,
        "no user HTTP request on the canary pod: {http_requests:?}"
    );

    assert!(calls > 100, "{calls} calls");
    assert_eq!(failed, 0, "no call failed during the canary: {kinds:?}");
    assert_eq!(deployment_names(&ns), vec!["orders".to_string()]);
    let running = pods(&ns);
    assert!(
        running
            .iter()
            .all(|(_, _, ready, image)| *ready && image == &second),
        "{running:?}"
    );
    assert_eq!(
        running.len(),
        2,
        "the stable replicas are back: {running:?}"
    );
    assert_eq!(status(&svc, &ns)["canary"]["phase"], "promoted");
}
