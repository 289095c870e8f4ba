//! The generated gRPC service (`hale new --grpc`) on the test cluster's real node: built with
//! the daemonless engine and pushed to the test registry, deployed, Ready through the kubelet's
//! gRPC probe, answering
//! `hale load --grpc` through its Service's ClusterIP without one failed call, deleted without
//! leftovers. Namespaces and the service helpers are kube_node.rs's.
//!
//! Traffic goes only to 127.0.0.1 and to the Service address on the test bridge.
use serde_json::Value;

use crate::common;
use crate::grpc::generate;
use crate::kube_node::{cluster_ip, pods, stderr, Namespace, Service};

#[test]
fn the_grpc_service_deploys_ready_on_the_real_node_and_answers_load_grpc() {
    let node = need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "grpc");
    let tmp = common::tempdir();
    let dir = generate(tmp.path(), "orders");
    let svc = Service {
        repository: format!("{registry}/hale-node-{}-grpc/orders", std::process::id()),
        tmp,
        dir,
    };
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
    // pods); the first ones may meet a rule kube-proxy has not programmed yet, so a short run
    // first waits for one call to pass.
    let ip = cluster_ip(&ns);
    let url = format!("http://{ip}:8080");
    let load = |extra: &[&str]| {
        svc.hale()
            .args([
                "load",
                "--url",
                &url,
                "--grpc",
                "orders.v1.OrderService/Info",
            ])
            .args(["--proto", "api/orders/v1/orders.proto", "--output", "json"])
            .args(extra)
            .output()
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !load(&["-n", "1", "--timeout", "2s"]).status.success() {
        assert!(
            std::time::Instant::now() < deadline,
            "no gRPC call through {url} within 60s"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let out = load(&["-c", "4", "-d", "5s"]);
    common::assert_success(&out, "hale load --grpc through the ClusterIP");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["target"]["method"], "gRPC", "{report}");
    assert!(report["requests"].as_u64().unwrap() > 50, "{report}");
    assert_eq!(report["errors"], 0, "{}", report["errors_by_kind"]);

    svc.delete_leaving_nothing(&ns);
}
