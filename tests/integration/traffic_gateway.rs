//! `hale deploy --canary` with Gateway API weights, on the test cluster's real node with a real
//! Gateway API controller: Traefik (built from its Go module by scripts/test-env.d/gateway.sh)
//! runs on the host as a process of the test, its kubernetesGateway provider watching the
//! test's namespace through the admin kubeconfig, its entrypoint on 127.0.0.1, routing to the
//! pods' IPs on the `hale0` bridge. The Gateway API's standard CRDs are applied by the tests.
//!
//! A good build promoted through 25 % and 50 % with the canary answering about its weight of
//! the requests sent through Traefik and `hale load` through Traefik seeing no failed request;
//! a faulty build rolled back with the route's backendRefs back as they were and the canary's
//! Service gone; a route that its Gateway does not accept: `--traffic gateway` refused in
//! one line, `auto` on the replica ratio saying why; a gRPC service behind a GRPCRoute weighted
//! at each step with `hale load --grpc` through Traefik seeing no failed call; and a user that may
//! list HTTPRoutes but not GRPCRoutes told so in the traffic line, its HTTPRoute still weighted.
//!
//! The module is named so that it runs late in the suite: on a cold machine Traefik may still
//! be building in the background (scripts/test-env.sh), and the first test here waits for it.
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hale::canary::gateway::route::RouteKind;
use hale::canary::traffic::{detect, TrafficRequest};
use serde_json::{json, Value};

use crate::canary::{
    canary, deployment_names, first_deployed_second_built, show, start_load_at, start_load_with,
    status, stop_load, PrivatePrometheus, FAST,
};
use crate::common;
use crate::grpc_node::{grpc_service, load_grpc, wait_for_a_call, METHOD, PROTO};
use crate::kube_node::{pods, stderr, Namespace, Service};

/// The longest a test waits for the background build of Traefik (scripts/test-env.sh starts it
/// under nice; about 9 minutes of 2 idle cores cold, longer beside the rest of a cold run).
const TRAEFIK_BUILD_PATIENCE: Duration = Duration::from_secs(40 * 60);

/// Traefik's binary, waiting for the background build while it runs; a failed build fails the
/// test with its log.
fn traefik_binary(path: &str) -> String {
    let state = std::env::var("HALE_TEST_STATE").unwrap_or_else(|_| "/tmp/hale-test-env".into());
    let pid_file = Path::new(&state).join("gateway-build.pid");
    let log = Path::new(&state).join("gateway-build.log");
    let deadline = Instant::now() + TRAEFIK_BUILD_PATIENCE;
    let mut said = false;
    while !Path::new(path).is_file() {
        let building = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        let tail = || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(20)..].join("\n")
        };
        assert!(
            building,
            "no Traefik at {path} and no build of it running ({}):\n{}",
            log.display(),
            tail()
        );
        assert!(
            Instant::now() < deadline,
            "Traefik was still building after {TRAEFIK_BUILD_PATIENCE:?} ({}):\n{}",
            log.display(),
            tail()
        );
        if !said {
            eprintln!(
                "waiting for the background build of Traefik ({})",
                log.display()
            );
            said = true;
        }
        std::thread::sleep(Duration::from_secs(5));
    }
    path.to_string()
}

/// `kubectl apply --server-side` of one object (JSON) in the namespace.
fn apply(ns: &Namespace, object: &Value) {
    let mut child = Command::new(&ns.kubectl)
        .args(["--kubeconfig", &ns.kubeconfig, "-n", &ns.name])
        .args([
            "apply",
            "--server-side",
            "--field-manager",
            "hale-test",
            "-f",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), object).unwrap();
    let out = child.wait_with_output().unwrap();
    common::assert_success(&out, &format!("kubectl apply {object}"));
}

/// The Gateway API's standard CRDs, applied (idempotent: every test may do it) and established.
fn gateway_crds(ns: &Namespace, dir: &str) {
    let out = Command::new(&ns.kubectl)
        .args(["--kubeconfig", &ns.kubeconfig])
        .args([
            "apply",
            "--server-side",
            "--field-manager",
            "hale-test-env",
            "-f",
            dir,
        ])
        .output()
        .unwrap();
    common::assert_success(&out, "kubectl apply the Gateway API CRDs");
    let out = Command::new(&ns.kubectl)
        .args(["--kubeconfig", &ns.kubeconfig])
        .args(["wait", "--for", "condition=Established", "--timeout", "60s"])
        .args([
            "crd/gatewayclasses.gateway.networking.k8s.io",
            "crd/gateways.gateway.networking.k8s.io",
            "crd/httproutes.gateway.networking.k8s.io",
            "crd/grpcroutes.gateway.networking.k8s.io",
        ])
        .output()
        .unwrap();
    common::assert_success(&out, "kubectl wait for the Gateway API CRDs");
}

/// Traefik on the host, programming the Gateway API objects of one namespace, with a
/// GatewayClass of the test's own (deleted again at the end).
struct Traefik {
    child: Child,
    /// The entrypoint the Gateway's listener is bound to.
    url: String,
    port: u16,
    /// Traefik's own API (the configuration it runs).
    api: String,
    class: String,
    kubectl: String,
    kubeconfig: String,
    dir: tempfile::TempDir,
}

impl Traefik {
    fn start(binary: &str, ns: &Namespace) -> Traefik {
        let dir = common::tempdir();
        let (port, api_port) = (common::free_port(), common::free_port());
        let log = std::fs::File::create(dir.path().join("traefik.log")).unwrap();
        let child = Command::new(binary)
            .arg(format!("--entryPoints.web.address=127.0.0.1:{port}"))
            .arg(format!(
                "--entryPoints.traefik.address=127.0.0.1:{api_port}"
            ))
            .arg("--api.insecure=true")
            .arg("--providers.kubernetesGateway=true")
            .arg(format!(
                "--providers.kubernetesGateway.namespaces={}",
                ns.name
            ))
            .arg("--providers.providersThrottleDuration=500ms")
            .arg("--global.checkNewVersion=false")
            .arg("--global.sendAnonymousUsage=false")
            .arg("--log.level=INFO")
            .arg("--log.noColor=true")
            .env("KUBECONFIG", &ns.kubeconfig)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("traefik");
        let class = format!("hale-test-{}", ns.name);
        let traefik = Traefik {
            child,
            url: format!("http://127.0.0.1:{port}"),
            port,
            api: format!("http://127.0.0.1:{api_port}"),
            class: class.clone(),
            kubectl: ns.kubectl.clone(),
            kubeconfig: ns.kubeconfig.clone(),
            dir,
        };
        apply(
            ns,
            &json!({
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "GatewayClass",
                "metadata": {"name": class},
                "spec": {"controllerName": "traefik.io/gateway-controller"},
            }),
        );
        traefik
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("traefik.log")).unwrap_or_default()
    }

    /// A Gateway `edge` of the test's class, listening on Traefik's entrypoint; with `hostname`,
    /// only for that host.
    fn gateway(&self, ns: &Namespace, hostname: Option<&str>) {
        let mut listener = json!({"name": "web", "port": self.port, "protocol": "HTTP"});
        if let Some(h) = hostname {
            listener["hostname"] = json!(h);
        }
        apply(
            ns,
            &json!({
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "Gateway",
                "metadata": {"name": "edge"},
                "spec": {"gatewayClassName": self.class, "listeners": [listener]},
            }),
        );
    }

    /// The weights of the canary and of the stable Service in the configuration Traefik runs
    /// (its API), once it has a weighted service naming the canary's Service.
    fn canary_weights(&self) -> Option<(u64, u64)> {
        let services: Value = reqwest::blocking::get(format!("{}/api/http/services", self.api))
            .ok()?
            .json()
            .ok()?;
        services.as_array()?.iter().find_map(|s| {
            let refs = s.pointer("/weighted/services")?.as_array()?;
            let weight = |canary: bool| {
                refs.iter()
                    .find(|r| {
                        r["name"]
                            .as_str()
                            .is_some_and(|n| n.contains("-orders-canary-") == canary)
                    })
                    .and_then(|r| r["weight"].as_u64())
            };
            Some((weight(true)?, weight(false)?))
        })
    }
}

impl Drop for Traefik {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new(&self.kubectl)
            .args(["--kubeconfig", &self.kubeconfig])
            .args(["delete", "gatewayclass", &self.class, "--wait=false"])
            .arg("--ignore-not-found")
            .output();
    }
}

/// The route `orders` of `kind` sending everything to the Service `orders` through the Gateway
/// `edge` (for `hostname`'s requests only, when given).
fn route(ns: &Namespace, kind: RouteKind, hostname: Option<&str>) {
    let mut spec = json!({
        "parentRefs": [{"name": "edge"}],
        "rules": [{"backendRefs": [{"name": "orders", "port": 8080}]}],
    });
    if let Some(h) = hostname {
        spec["hostnames"] = json!([h]);
    }
    apply(
        ns,
        &json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": kind.kind(),
            "metadata": {"name": "orders"},
            "spec": spec,
        }),
    );
}

/// The route `orders` of `kind`, as the API server has it.
fn get_route(ns: &Namespace, kind: RouteKind) -> Value {
    ns.get(&["get", &kind.named("orders")])
}

/// The route's Accepted condition from its Gateway's controller, once it has written one.
fn route_accepted(ns: &Namespace, kind: RouteKind) -> Option<String> {
    let r = get_route(ns, kind);
    r.pointer("/status/parents/0/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Accepted")
        .and_then(|c| c["status"].as_str().map(str::to_string))
}

fn wait_route_status(ns: &Namespace, kind: RouteKind, traefik: &Traefik) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(s) = route_accepted(ns, kind) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "Traefik wrote no status on {}:\n{}",
            kind.named("orders"),
            traefik.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn backend_refs(ns: &Namespace, kind: RouteKind) -> Value {
    get_route(ns, kind)["spec"]["rules"][0]["backendRefs"].clone()
}

/// GET through Traefik until the stable pods answer (Traefik has the route programmed).
fn wait_serving(traefik: &Traefik) {
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ok = client
            .get(format!("{}/readyz", traefik.url))
            .send()
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Traefik does not serve orders:\n{}",
            traefik.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// One sample of requests through Traefik at a step: the canary's weight in Traefik's
/// configuration, requests sent, and how many the canary's pods answered (by X-Instance-ID:
/// the pod's name).
#[derive(Debug, Clone, Copy)]
struct Sample {
    weight: u64,
    sent: u64,
    canary: u64,
    failed: u64,
}

/// Send `n` requests through Traefik and count who answered.
fn sample(url: &str, weight: u64, n: u64) -> Sample {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut s = Sample {
        weight,
        sent: n,
        canary: 0,
        failed: 0,
    };
    for _ in 0..n {
        match client.get(format!("{url}/")).send() {
            Ok(r) if r.status().is_success() => {
                let id = r
                    .headers()
                    .get("x-instance-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if id.starts_with("orders-canary-") {
                    s.canary += 1;
                }
            }
            _ => s.failed += 1,
        }
    }
    s
}

/// While the canary runs: at each weight Traefik's configuration shows, one sample.
fn sample_each_step(traefik: &Traefik, done: &AtomicBool) -> Vec<Sample> {
    let mut samples: Vec<Sample> = Vec::new();
    while !done.load(Ordering::Relaxed) {
        if let Some((canary, stable)) = traefik.canary_weights() {
            let new = canary > 0 && !samples.iter().any(|s| s.weight == canary);
            if new && canary + stable == 100 {
                samples.push(sample(&traefik.url, canary, 400));
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    samples
}

/// While the canary runs: each split of the route's first rule, read from the cluster, in the
/// order they came; and the canary's and stable Service's weights in the configuration Traefik
/// ran meanwhile, in the order they came.
fn splits_each_step(
    ns: &Namespace,
    kind: RouteKind,
    traefik: &Traefik,
    done: &AtomicBool,
) -> (Vec<Value>, Vec<(u64, u64)>) {
    let (mut splits, mut programmed): (Vec<Value>, Vec<(u64, u64)>) = (Vec::new(), Vec::new());
    while !done.load(Ordering::Relaxed) {
        let refs = backend_refs(ns, kind);
        if refs.as_array().is_some_and(|r| r.len() == 2) && splits.last() != Some(&refs) {
            splits.push(refs);
        }
        if let Some(weights) = traefik.canary_weights() {
            if programmed.last() != Some(&weights) {
                programmed.push(weights);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    (splits, programmed)
}

/// The backendRefs of a rule that sent to service/orders alone (`before`) at a step of `weight`:
/// the stable Service at 100 − weight, and the same ref to the canary's Service at weight.
fn split_at(before: &Value, weight: u64) -> Value {
    let mut stable = before[0].clone();
    stable["weight"] = json!(100 - weight);
    let mut canary = before[0].clone();
    canary["name"] = json!("orders-canary");
    canary["weight"] = json!(weight);
    json!([stable, canary])
}

#[test]
fn gateway_weights_promote_a_good_build_with_the_canary_at_its_weight_through_traefik() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let crds = need!(GatewayCrds);
    let binary = traefik_binary(&need!(Traefik));
    let ns = Namespace::new(&kubeconfig, "gw-good");
    let svc = Service::new(&registry, "gw-good");
    let (_, second) = first_deployed_second_built(&svc, &ns);
    gateway_crds(&ns, &crds);
    let traefik = Traefik::start(&binary, &ns);
    traefik.gateway(&ns, None);
    route(&ns, RouteKind::Http, None);
    assert_eq!(wait_route_status(&ns, RouteKind::Http, &traefik), "True");
    wait_serving(&traefik);
    let before = backend_refs(&ns, RouteKind::Http);
    let prometheus = PrivatePrometheus::start(Some(&ns));
    let load = start_load_at(&svc, &format!("{}/", traefik.url));

    let done = AtomicBool::new(false);
    let (out, samples) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| sample_each_step(&traefik, &done));
        let out = canary(
            &svc,
            &ns,
            &prometheus.url,
            &[
                "--canary",
                "--traffic",
                "gateway",
                "--canary-step-weight",
                "25",
                "--canary-max-weight",
                "50",
                "--canary-interval",
                "6s",
                "--canary-window",
                "6s",
                "--output",
                "json",
            ],
        )
        .output()
        .unwrap();
        done.store(true, Ordering::Relaxed);
        (out, sampler.join().unwrap())
    });
    let (requests, errors, kinds) = stop_load(load);
    show("hale deploy --canary --traffic gateway (good build)", &out);
    common::assert_success(&out, "hale deploy --canary --traffic gateway");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["decision"], "promoted", "{doc}");
    assert_eq!(doc["traffic"]["method"], "gateway", "{doc}");
    let why = doc["traffic"]["why"].as_str().unwrap();
    assert!(
        why.starts_with(&format!(
            "httproute/orders sends to service/orders and is programmed by gateway {}/edge",
            ns.name
        )),
        "{why}"
    );
    assert_eq!(doc["canary"]["traffic"], "gateway", "{doc}");
    let recorded = &doc["canary"]["gateway"];
    assert_eq!(recorded["canary_service"], "orders-canary", "{doc}");
    assert_eq!(recorded["routes"][0]["name"], "orders", "{doc}");
    assert_eq!(
        recorded["routes"][0]["rules"][0]["backend_refs"], before,
        "the state records the route's backendRefs as they were: {doc}"
    );
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
        assert_eq!(
            s["stable_replicas"], 2,
            "the stable Deployment keeps its replicas: {s}"
        );
        assert_eq!(s["canary_replicas"], 1, "{s}");
        assert_eq!(
            s["checks"].as_array().unwrap().last().unwrap()["outcome"],
            "pass"
        );
    }

    // Through Traefik the canary answered about its weight of the requests: a weighted split
    // of 400 requests, within four standard deviations of a random one (Traefik's weighted
    // round robin is closer still).
    eprintln!("requests through Traefik at each step: {samples:?}");
    assert_eq!(
        samples.iter().map(|s| s.weight).collect::<Vec<_>>(),
        vec![25, 50],
        "one sample at each step's weight: {samples:?}"
    );
    for s in &samples {
        assert_eq!(s.failed, 0, "{s:?}");
        let p = s.weight as f64 / 100.0;
        let share = s.canary as f64 / s.sent as f64;
        let tolerance = 4.0 * (p * (1.0 - p) / s.sent as f64).sqrt();
        assert!(
            (share - p).abs() <= tolerance,
            "the canary answered {:.1}% of the requests at weight {}% (tolerance {:.1} points): {s:?}",
            share * 100.0,
            s.weight,
            tolerance * 100.0
        );
    }

    assert!(requests > 100, "{requests} requests through the gateway");
    assert_eq!(
        errors, 0,
        "no request through the gateway failed during the canary: {kinds:?}"
    );
    assert_eq!(
        backend_refs(&ns, RouteKind::Http),
        before,
        "the route is back as it was (to service/orders alone)"
    );
    assert_eq!(deployment_names(&ns), vec!["orders".to_string()]);
    let services = ns.get(&["get", "services"]);
    assert!(
        !services["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["metadata"]["name"] == "orders-canary"),
        "service/orders-canary is gone: {services}"
    );
    let running = pods(&ns);
    assert_eq!(running.len(), 2, "{running:?}");
    assert!(
        running
            .iter()
            .all(|(_, _, ready, image)| *ready && image == &second),
        "{running:?}"
    );
    let st = status(&svc, &ns);
    assert_eq!(st["canary"]["phase"], "promoted", "{st}");
    // Traefik sends everything to the stable Service again.
    let after = sample(&traefik.url, 0, 50);
    assert_eq!((after.failed, after.canary), (0, 0), "{after:?}");
}

#[test]
fn gateway_weights_roll_a_faulty_build_back_and_put_the_route_back_as_it_was() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let crds = need!(GatewayCrds);
    let binary = traefik_binary(&need!(Traefik));
    let ns = Namespace::new(&kubeconfig, "gw-bad");
    let svc = Service::new(&registry, "gw-bad");
    let first = svc.build_and_push();
    common::assert_success(&svc.deploy(&ns, &[]), "hale deploy (first version)");
    let toml = svc.dir.join("hale.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str("\n[deploy.env]\nFAULT_INJECTION = \"true\"\nFAULT_ERROR_RATE = \"0.2\"\n");
    std::fs::write(&toml, text).unwrap();
    svc.edit("faulty build");
    let bad = svc.build_and_push();
    gateway_crds(&ns, &crds);
    let traefik = Traefik::start(&binary, &ns);
    traefik.gateway(&ns, None);
    route(&ns, RouteKind::Http, None);
    assert_eq!(wait_route_status(&ns, RouteKind::Http, &traefik), "True");
    wait_serving(&traefik);
    let before = backend_refs(&ns, RouteKind::Http);
    let prometheus = PrivatePrometheus::start(Some(&ns));
    let load = start_load_at(&svc, &format!("{}/", traefik.url));

    let mut run = canary(&svc, &ns, &prometheus.url, FAST);
    let mut child = run
        .args(["--traffic", "gateway"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // While the first step runs, the route sends a quarter to the canary's Service.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let mut split = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        let stepped = line.contains("Step");
        seen.push(line);
        if stepped {
            let deadline = Instant::now() + Duration::from_secs(120);
            while split.is_none() && Instant::now() < deadline {
                let refs = backend_refs(&ns, RouteKind::Http);
                if refs.as_array().is_some_and(|r| r.len() == 2) {
                    split = Some(refs);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            break;
        }
    }
    seen.extend(lines.map_while(Result::ok));
    let status_code = child.wait().unwrap();
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    stop_load(load);
    let err = seen.join("\n");
    eprintln!("--- hale deploy --canary --traffic gateway (faulty build)\n{stdout}{err}");
    eprintln!("{}", prometheus.targets());

    let split = split.expect("the route was split at the first step");
    assert_eq!(split[0]["name"], "orders", "{split}");
    assert_eq!(split[0]["weight"], 75, "{split}");
    assert_eq!(split[1]["name"], "orders-canary", "{split}");
    assert_eq!(split[1]["weight"], 25, "{split}");
    assert_eq!(status_code.code(), Some(1), "{err}");
    let last = err.trim_end().lines().last().unwrap();
    assert!(
        last.contains("canary rolled back: gate failed at step 1/2 (25%)")
            && last.contains("success-rate"),
        "{last}"
    );
    assert!(stdout.contains(&format!("runs {first} again")), "{stdout}");
    assert_eq!(
        backend_refs(&ns, RouteKind::Http),
        before,
        "the route's backendRefs are back exactly as they were"
    );
    assert_eq!(deployment_names(&ns), vec!["orders".to_string()]);
    let services = ns.get(&["get", "services"]);
    assert!(
        !services["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["metadata"]["name"] == "orders-canary"),
        "service/orders-canary is gone: {services}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running = pods(&ns);
        if running.len() == 2 && running.iter().all(|(_, _, r, image)| *r && image == &first) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "stable serves alone again: {running:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(!pods(&ns).iter().any(|(_, _, _, image)| image == &bad));
    let after = sample(&traefik.url, 0, 50);
    assert_eq!((after.failed, after.canary), (0, 0), "{after:?}");
    let st = status(&svc, &ns);
    assert_eq!(st["canary"]["phase"], "rolled-back", "{st}");
}

#[test]
fn a_route_its_gateway_does_not_accept_is_refused_for_gateway_and_auto_uses_the_replica_ratio() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let crds = need!(GatewayCrds);
    let binary = traefik_binary(&need!(Traefik));
    let ns = Namespace::new(&kubeconfig, "gw-auto");
    let svc = Service::new(&registry, "gw-auto");
    let (first, _) = first_deployed_second_built(&svc, &ns);
    gateway_crds(&ns, &crds);
    // An accepted GatewayClass and a programmed Gateway, but the route asks for a host the
    // Gateway's listener does not serve: its controller writes Accepted: False.
    let traefik = Traefik::start(&binary, &ns);
    traefik.gateway(&ns, Some("gateway.test"));
    route(&ns, RouteKind::Http, Some("orders.test"));
    assert_eq!(wait_route_status(&ns, RouteKind::Http, &traefik), "False");
    let before = backend_refs(&ns, RouteKind::Http);

    let prometheus = PrivatePrometheus::start(None);
    let out = canary(
        &svc,
        &ns,
        &prometheus.url,
        &["--canary", "--traffic", "gateway"],
    )
    .output()
    .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("--traffic gateway: httproute/orders sends to service/orders, but no accepted Gateway programs it")
            && err.contains("has not accepted it")
            && err.contains("use --traffic replicas"),
        "{err}"
    );
    assert_eq!(
        deployment_names(&ns),
        vec!["orders".to_string()],
        "nothing was started"
    );
    assert!(
        status(&svc, &ns)["canary"].is_null(),
        "no canary state was written"
    );

    // `auto` says why it does not trust the route, and splits by the replica ratio: with a
    // Prometheus that scrapes nothing it ends with "no data", the route untouched.
    let out = canary(
        &svc,
        &ns,
        &prometheus.url,
        &[
            "--canary",
            "--canary-step-weight",
            "50",
            "--canary-interval",
            "1s",
        ],
    )
    .output()
    .unwrap();
    show("hale deploy --canary (auto, route not accepted)", &out);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let said = format!(
        "Traffic replica ratio: httproute/orders sends to service/orders, but no accepted Gateway \
         programs it: gateway {}/edge's controller has not accepted it",
        ns.name
    );
    assert!(err.contains(&said), "{err}");
    let st = status(&svc, &ns)["canary"].clone();
    assert_eq!(st["traffic"], "replicas", "{st}");
    assert!(st["gateway"].is_null(), "{st}");
    assert_eq!(
        st["steps"][0]["stable_replicas"], 1,
        "the replica ratio scaled stable to match 50%: {st}"
    );
    assert_eq!(
        backend_refs(&ns, RouteKind::Http),
        before,
        "the route is not touched"
    );
    assert_eq!(deployment_names(&ns), vec!["orders".to_string()]);
    assert!(pods(&ns).iter().all(|(_, _, _, image)| image == &first));
}

/// Ctrl-C leaves the route split at the step's weights, recorded in the canary's state; `hale
/// deploy status` shows it, a second run resumes it with the same routes, and `hale deploy
/// abort` from another process puts the route back.
#[test]
fn an_interrupted_gateway_canary_keeps_its_split_and_abort_from_another_process_restores_the_route()
{
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let crds = need!(GatewayCrds);
    let binary = traefik_binary(&need!(Traefik));
    let ns = Namespace::new(&kubeconfig, "gw-ctl");
    let svc = Service::new(&registry, "gw-ctl");
    let (first, _) = first_deployed_second_built(&svc, &ns);
    gateway_crds(&ns, &crds);
    let traefik = Traefik::start(&binary, &ns);
    traefik.gateway(&ns, None);
    route(&ns, RouteKind::Http, None);
    assert_eq!(wait_route_status(&ns, RouteKind::Http, &traefik), "True");
    wait_serving(&traefik);
    let before = backend_refs(&ns, RouteKind::Http);
    let prometheus = PrivatePrometheus::start(Some(&ns));

    let run = canary(
        &svc,
        &ns,
        &prometheus.url,
        &[
            "--canary",
            "--traffic",
            "gateway",
            "--canary-interval",
            "60s",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let split = loop {
        let refs = backend_refs(&ns, RouteKind::Http);
        if refs.as_array().is_some_and(|r| r.len() == 2) {
            break refs;
        }
        assert!(
            Instant::now() < deadline,
            "the route was never split: {refs}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(split[1]["name"], "orders-canary", "{split}");
    assert_eq!(split[1]["weight"], 10, "Flagger's first step: {split}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(run.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = run.wait_with_output().unwrap();
    show("the gateway canary interrupted with SIGINT", &out);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stays at step 1/5"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        backend_refs(&ns, RouteKind::Http),
        split,
        "Ctrl-C leaves the route as the step set it"
    );

    let st = status(&svc, &ns)["canary"].clone();
    assert_eq!(st["phase"], "progressing", "{st}");
    assert_eq!(
        st["gateway"]["routes"][0]["rules"][0]["backend_refs"], before,
        "{st}"
    );
    let text = crate::canary::deploy_cmd(&svc, &ns, "status")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&text.stdout);
    assert!(
        shown.contains(
            "traffic: HTTPRoute weights on httproute/orders (service/orders and service/orders-canary)"
        ),
        "{shown}"
    );

    // Resumed (even when asked for the replica ratio, it keeps the routes it started with),
    // then aborted from another process while it waits for its check.
    let mut resumed = canary(
        &svc,
        &ns,
        &prometheus.url,
        &[
            "--canary",
            "--traffic",
            "replicas",
            "--canary-interval",
            "60s",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(resumed.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("Step")) {
        match lines.next() {
            Some(Ok(l)) => seen.push(l),
            _ => break,
        }
    }
    assert!(
        seen.iter().any(|l| l.contains(
            "Traffic HTTPRoute weights: the canary in progress weights httproute/orders (as it started)"
        )),
        "{seen:?}"
    );
    assert!(seen.iter().any(|l| l.contains("Resuming")), "{seen:?}");
    let out = crate::canary::deploy_cmd(&svc, &ns, "abort")
        .output()
        .unwrap();
    show("hale deploy abort", &out);
    common::assert_success(&out, "hale deploy abort");
    seen.extend(lines.map_while(Result::ok));
    let code = resumed.wait().unwrap();
    assert_eq!(code.code(), Some(1), "{seen:?}");
    assert!(
        seen.iter()
            .any(|l| l.contains("canary rolled back: aborted by `hale deploy abort`")),
        "{seen:?}"
    );
    assert_eq!(
        backend_refs(&ns, RouteKind::Http),
        before,
        "abort puts the route back as it was"
    );
    assert_eq!(deployment_names(&ns), vec!["orders".to_string()]);
    let services = ns.get(&["get", "services"]);
    assert!(
        !services["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["metadata"]["name"] == "orders-canary"),
        "service/orders-canary is gone: {services}"
    );
    assert!(pods(&ns).iter().all(|(_, _, _, image)| image == &first));
    assert_eq!(status(&svc, &ns)["canary"]["phase"], "rolled-back");
}

/// A gRPC service (`hale new --grpc`) behind a GRPCRoute: Traefik's HTTP entrypoint serves h2c
/// and its kubernetesGateway provider programs the GRPCRoute on the Gateway's HTTP listener,
/// sending to the pods' IPs over h2c (the Service's port has no appProtocol). The route's rule
/// carries each step's weights, read from the cluster while the canary runs (and Traefik runs
/// them), `hale load --grpc` through Traefik sees no failed call, and after the promotion the
/// route is as it was and the canary's Service gone.
#[test]
fn a_grpcroute_is_weighted_at_each_step_through_traefik_and_put_back_after_the_promotion() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let crds = need!(GatewayCrds);
    let binary = traefik_binary(&need!(Traefik));
    let ns = Namespace::new(&kubeconfig, "gw-grpc");
    let svc = grpc_service(&registry, "gw-grpc");
    let (_, second) = first_deployed_second_built(&svc, &ns);
    gateway_crds(&ns, &crds);
    let traefik = Traefik::start(&binary, &ns);
    traefik.gateway(&ns, None);
    route(&ns, RouteKind::Grpc, None);
    assert_eq!(
        wait_route_status(&ns, RouteKind::Grpc, &traefik),
        "True",
        "{}",
        get_route(&ns, RouteKind::Grpc)
    );
    wait_for_a_call(&svc, &traefik.url);
    let before = backend_refs(&ns, RouteKind::Grpc);
    let prometheus = PrivatePrometheus::start(Some(&ns));
    let load = start_load_with(
        &svc,
        &["--url", &traefik.url, "--grpc", METHOD, "--proto", PROTO],
    );

    let done = AtomicBool::new(false);
    let (out, (splits, programmed)) = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| splits_each_step(&ns, RouteKind::Grpc, &traefik, &done));
        let out = canary(
            &svc,
            &ns,
            &prometheus.url,
            &[
                "--canary",
                "--traffic",
                "gateway",
                "--canary-step-weight",
                "25",
                "--canary-max-weight",
                "50",
                "--canary-interval",
                "6s",
                "--canary-window",
                "6s",
                "--output",
                "json",
            ],
        )
        .output()
        .unwrap();
        done.store(true, Ordering::Relaxed);
        (out, watcher.join().unwrap())
    });
    let (calls, failed, kinds) = stop_load(load);
    show("hale deploy --canary --traffic gateway (GRPCRoute)", &out);
    common::assert_success(&out, "hale deploy --canary --traffic gateway (GRPCRoute)");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["decision"], "promoted", "{doc}");
    assert_eq!(doc["traffic"]["method"], "gateway", "{doc}");
    let why = doc["traffic"]["why"].as_str().unwrap();
    assert_eq!(
        why,
        format!(
            "grpcroute/orders sends to service/orders and is programmed by gateway {}/edge \
             (GatewayClass {})",
            ns.name, traefik.class
        ),
    );
    let recorded = &doc["canary"]["gateway"]["routes"][0];
    assert_eq!(recorded["kind"], "GRPCRoute", "{doc}");
    assert_eq!(recorded["name"], "orders", "{doc}");
    assert_eq!(
        recorded["rules"][0]["backend_refs"], before,
        "the state records the route's backendRefs as they were: {doc}"
    );
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
    }

    // At each step the GRPCRoute carried the step's weights, and Traefik ran them.
    eprintln!("the route's splits: {splits:?}\nTraefik's weights (canary, stable): {programmed:?}");
    assert_eq!(
        splits,
        vec![split_at(&before, 25), split_at(&before, 50)],
        "the rule's backendRefs at each step"
    );
    let ran: Vec<(u64, u64)> = programmed.into_iter().filter(|(c, _)| *c > 0).collect();
    assert_eq!(
        ran,
        vec![(25, 75), (50, 50)],
        "Traefik's weights at each step"
    );

    assert!(calls > 100, "{calls} calls through the gateway");
    assert_eq!(
        failed, 0,
        "no call through the gateway failed during the canary: {kinds:?}"
    );
    assert_eq!(
        backend_refs(&ns, RouteKind::Grpc),
        before,
        "the route is back as it was (to service/orders alone)"
    );
    assert_eq!(deployment_names(&ns), vec!["orders".to_string()]);
    let services = ns.get(&["get", "services"]);
    assert!(
        !services["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["metadata"]["name"] == "orders-canary"),
        "service/orders-canary is gone: {services}"
    );
    let running = pods(&ns);
    assert_eq!(running.len(), 2, "{running:?}");
    assert!(
        running
            .iter()
            .all(|(_, _, ready, image)| *ready && image == &second),
        "{running:?}"
    );
    assert_eq!(status(&svc, &ns)["canary"]["phase"], "promoted");
    let text = crate::canary::deploy_cmd(&svc, &ns, "status")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&text.stdout);
    assert!(
        shown.contains(
            "traffic: GRPCRoute weights on grpcroute/orders (service/orders and \
             service/orders-canary)"
        ),
        "{shown}"
    );
    // Traefik sends every call to the stable Service again.
    let after = load_grpc(&svc, &traefik.url, &["-n", "50"]);
    common::assert_success(
        &after,
        "hale load --grpc through Traefik after the promotion",
    );
    let report: Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_eq!(report["errors"], 0, "{report}");
}

/// The user `hale-test-nobody` (scripts/kube-env.sh's user without bindings) given what the
/// detection of Gateway API weights reads, but for GRPCRoutes: listing GatewayClasses, and in
/// the namespace getting Gateways and listing HTTPRoutes. The cluster-wide part is deleted again
/// at the end.
struct AllButGrpcRoutes {
    name: String,
    kubectl: String,
    kubeconfig: String,
}

impl AllButGrpcRoutes {
    const USER: &'static str = "hale-test-nobody";

    fn grant(ns: &Namespace) -> AllButGrpcRoutes {
        let name = format!("hale-test-{}-no-grpcroutes", ns.name);
        let subjects =
            json!([{"kind": "User", "name": Self::USER, "apiGroup": "rbac.authorization.k8s.io"}]);
        let group = "gateway.networking.k8s.io";
        let granted = AllButGrpcRoutes {
            name: name.clone(),
            kubectl: ns.kubectl.clone(),
            kubeconfig: ns.kubeconfig.clone(),
        };
        for (kind, binding, rules) in [
            (
                "ClusterRole",
                "ClusterRoleBinding",
                json!([{"apiGroups": [group], "resources": ["gatewayclasses"], "verbs": ["get", "list"]}]),
            ),
            (
                "Role",
                "RoleBinding",
                json!([
                    {"apiGroups": [group], "resources": ["gateways"], "verbs": ["get"]},
                    {"apiGroups": [group], "resources": ["httproutes"], "verbs": ["get", "list", "patch"]},
                ]),
            ),
        ] {
            let mut role = json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                "metadata": {"name": name}, "rules": rules,
            });
            let mut bound = json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": binding,
                "metadata": {"name": name}, "subjects": subjects,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
            });
            if kind == "Role" {
                role["metadata"]["namespace"] = json!(ns.name);
                bound["metadata"]["namespace"] = json!(ns.name);
            }
            apply(ns, &role);
            apply(ns, &bound);
        }
        granted
    }
}

impl Drop for AllButGrpcRoutes {
    fn drop(&mut self) {
        for kind in ["clusterrolebinding", "clusterrole"] {
            let _ = Command::new(&self.kubectl)
                .args(["--kubeconfig", &self.kubeconfig])
                .args(["delete", kind, &self.name, "--ignore-not-found"])
                .output();
        }
    }
}

/// A user that may list HTTPRoutes but not GRPCRoutes: the HTTPRoute that Traefik programs is
/// still weighted (detection through hale's library, as that user against the real API server),
/// and the traffic line says that GRPCRoutes could not be read, with the API server's refusal.
#[test]
fn grpcroutes_that_rbac_forbids_listing_are_said_in_the_traffic_line_beside_the_httproute_weighted()
{
    let kubeconfig = need!(Kube);
    need!(Go);
    let crds = need!(GatewayCrds);
    let binary = traefik_binary(&need!(Traefik));
    let ns = Namespace::new(&kubeconfig, "gw-rbac");
    apply(
        &ns,
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns.name}}),
    );
    gateway_crds(&ns, &crds);
    let traefik = Traefik::start(&binary, &ns);
    traefik.gateway(&ns, None);
    route(&ns, RouteKind::Http, None);
    assert_eq!(wait_route_status(&ns, RouteKind::Http, &traefik), "True");
    let _granted = AllButGrpcRoutes::grant(&ns);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let detected = runtime.block_on(async {
        let cluster = hale::kube::connect(&hale::kube::Target {
            kubeconfig: Some(kubeconfig.clone().into()),
            context: Some(AllButGrpcRoutes::USER.into()),
            namespace: Some(ns.name.clone()),
        })
        .await
        .unwrap();
        // RBAC takes a moment to see new bindings: until then GatewayClasses are forbidden too.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match detect(&cluster, "orders", TrafficRequest::Gateway).await {
                Ok(d) => break d,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("not yet: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
    });
    let line = detected.method.line();
    eprintln!("{line}");
    let gateway = detected.gateway.expect("HTTPRoute weights");
    assert_eq!(gateway.route_names(), "httproute/orders");
    assert!(
        line.starts_with(&format!(
            "HTTPRoute weights: httproute/orders sends to service/orders and is programmed by \
             gateway {}/edge (GatewayClass {}); GRPCRoutes could not be read: listing them is \
             forbidden by the API server (RBAC): ",
            ns.name, traefik.class
        )) && line.contains(&format!(
            "User \"{}\" cannot list resource \"grpcroutes\"",
            AllButGrpcRoutes::USER
        )),
        "{line}"
    );
}
