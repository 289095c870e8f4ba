//! `hale load --on-cluster` on the test cluster's real node (scripts/kube-node.sh): a generated
//! service deployed, the load sent by shards that run as an Indexed Job of hale's own image
//! (built from this test's hale binary and pushed to the test registry), merged into one report;
//! nothing of the run left in the cluster afterwards.
//!
//! Traffic goes only to the pod addresses of the test bridge (from the shards, and from here
//! for the service's own /metrics), and from the shards to servers this test runs on the
//! bridge's gateway address (the node's address, which pods reach the host at).
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hale::load::report::Percentiles;
use serde_json::Value;

use crate::common;

/// A namespace of its own per test, deleted at the end.
struct Namespace {
    name: String,
    kubectl: String,
    kubeconfig: String,
}

impl Namespace {
    fn new(kubeconfig: &str, tag: &str) -> Namespace {
        Namespace {
            name: format!("hale-lc-{}-{tag}", std::process::id()),
            kubectl: std::env::var("HALE_TEST_KUBECTL").expect("HALE_TEST_KUBECTL"),
            kubeconfig: kubeconfig.to_string(),
        }
    }

    fn get(&self, args: &[&str]) -> Value {
        let out = Command::new(&self.kubectl)
            .args(["--kubeconfig", &self.kubeconfig, "-n", &self.name])
            .args(args)
            .args(["-o", "json"])
            .output()
            .unwrap();
        common::assert_success(&out, &format!("kubectl {args:?}"));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Jobs, pods and ConfigMaps of `hale load` runs left in the namespace.
    fn leftovers(&self) -> Vec<String> {
        let doc = self.get(&[
            "get",
            "jobs,pods,configmaps",
            "-l",
            "app.kubernetes.io/name=hale-load",
        ]);
        doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| format!("{}/{}", o["kind"], o["metadata"]["name"]))
            .collect()
    }

    /// The Service's Ready pods: (name, IP).
    fn service_pods(&self) -> Vec<(String, String)> {
        self.get(&["get", "pods", "-l", "app.kubernetes.io/name=orders"])["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .map(|p| {
                (
                    p["metadata"]["name"].as_str().unwrap().to_string(),
                    p["status"]["podIP"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new(&self.kubectl)
            .args(["--kubeconfig", &self.kubeconfig])
            .args(["delete", "namespace", &self.name, "--wait=false"])
            .arg("--ignore-not-found")
            .output();
    }
}

/// A generated service, built, pushed and deployed in `ns`.
struct Deployed {
    tmp: tempfile::TempDir,
    dir: PathBuf,
    registry: String,
}

impl Deployed {
    fn new(ns: &Namespace, registry: &str) -> Deployed {
        let tmp = common::tempdir();
        let dir = tmp.path().join("orders");
        common::scaffold(tmp.path(), "orders", &dir);
        let d = Deployed {
            tmp,
            dir,
            registry: registry.to_string(),
        };
        let repository = format!("{registry}/{}/orders", ns.name);
        let out = d
            .hale()
            .args(["build", "--engine", "native", "--push", &repository])
            .output()
            .unwrap();
        common::assert_success(&out, "hale build --push");
        d.deploy(ns);
        d
    }

    /// `hale deploy` of the project as it is now (again: a rollout of the changed pods).
    fn deploy(&self, ns: &Namespace) {
        let out = self
            .hale()
            .args([
                "deploy",
                "--kubeconfig",
                &ns.kubeconfig,
                "--context",
                "hale-test",
            ])
            .args(["-n", &ns.name, "--create-namespace", "--timeout", "240s"])
            .output()
            .unwrap();
        common::assert_success(&out, "hale deploy");
    }

    /// The namespace alone, nothing deployed in it: for targets outside the cluster.
    fn nothing(ns: &Namespace, registry: &str) -> Deployed {
        let out = Command::new(&ns.kubectl)
            .args(["--kubeconfig", &ns.kubeconfig])
            .args(["create", "namespace", &ns.name])
            .output()
            .unwrap();
        common::assert_success(&out, "kubectl create namespace");
        let tmp = common::tempdir();
        let dir = tmp.path().to_path_buf();
        Deployed {
            tmp,
            dir,
            registry: registry.to_string(),
        }
    }

    fn hale(&self) -> Command {
        let mut cmd = common::hale(self.tmp.path());
        cmd.current_dir(&self.dir);
        cmd.env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("load-cluster-cache"),
        );
        cmd
    }

    /// `hale load orders --on-cluster ARGS --output json`. The first run of the test binary
    /// builds and pushes the shard image; the others wait for it and reuse it.
    fn load(&self, ns: &Namespace, args: &[&str]) -> Output {
        self.load_to(ns, &["orders"], args)
    }

    /// `hale load TARGET --on-cluster ARGS --output json`, TARGET a SERVICE or `--url URL`.
    fn load_to(&self, ns: &Namespace, target: &[&str], args: &[&str]) -> Output {
        static FIRST: Mutex<bool> = Mutex::new(false);
        let mut first = Some(FIRST.lock().unwrap_or_else(|e| e.into_inner()));
        if first.as_deref() == Some(&true) {
            first = None;
        }
        let out = self
            .hale()
            .arg("load")
            .args(target)
            .arg("--on-cluster")
            .args([
                "--shard-registry",
                &format!("{}/hale-load-shard", self.registry),
            ])
            .args(["--kubeconfig", &ns.kubeconfig, "--context", "hale-test"])
            .args(["--namespace", &ns.name, "--output", "json"])
            .args(args)
            .output()
            .unwrap();
        if let Some(mut held) = first {
            *held = true;
        }
        out
    }
}

/// The service's own count of `GET /` over its pods, from each pod's /metrics.
fn served_by_pods(pods: &[(String, String)]) -> u64 {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut total = 0.0;
    for (name, ip) in pods {
        let text = client
            .get(format!("http://{ip}:8080/metrics"))
            .send()
            .and_then(|r| r.text())
            .unwrap_or_else(|e| panic!("/metrics of {name}: {e}"));
        for line in text.lines() {
            if line.starts_with("http_requests_total{") && line.contains(r#"route="GET /{$}""#) {
                let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
                total += value;
            }
        }
    }
    total as u64
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON document ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn histogram(b64: &str) -> hdrhistogram::Histogram<u64> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .unwrap()
}

#[test]
fn two_shards_merge_into_one_report_that_the_service_and_the_raw_histograms_agree_with() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "merge");
    let svc = Deployed::new(&ns, &registry);
    let pods = svc_pods_ready(&ns);

    let out = svc.load(
        &ns,
        &["--shards", "2", "-c", "4", "-d", "3s", "--path", "/"],
    );
    common::assert_success(&out, "hale load --on-cluster");
    let doc = report(&out);
    let shards = doc["shards"].as_array().expect("shards");
    assert_eq!(shards.len(), 2, "{doc}");
    let requests = doc["requests"].as_u64().unwrap();
    let by_shard: u64 = shards.iter().map(|s| s["requests"].as_u64().unwrap()).sum();
    assert!(requests > 100, "{doc}");
    assert_eq!(requests, by_shard, "merged = sum of the shards");
    assert_eq!(
        requests,
        served_by_pods(&pods),
        "merged = what the service itself counted"
    );

    let mut union = hale::load::stats::latency_histogram();
    for s in shards {
        union
            .add(histogram(s["latency_histogram"].as_str().unwrap()))
            .unwrap();
    }
    let expected = Percentiles::of(&union);
    let merged = &doc["latency"]["corrected"];
    assert_eq!(merged["p50"].as_f64().unwrap(), expected.p50, "{merged}");
    assert_eq!(merged["p99"].as_f64().unwrap(), expected.p99, "{merged}");
    assert_eq!(union.len(), requests);

    let instances: Vec<&str> = doc["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    for (pod, _) in &pods {
        assert!(instances.contains(&pod.as_str()), "{pod} in {instances:?}");
    }
    assert!(ns.leftovers().is_empty(), "{:?}", ns.leftovers());
}

/// The Service's pods once both are Ready and have an address.
fn svc_pods_ready(ns: &Namespace) -> Vec<(String, String)> {
    let pods = ns.service_pods();
    assert_eq!(pods.len(), 2, "{pods:?}");
    assert!(pods.iter().all(|(_, ip)| !ip.is_empty()), "{pods:?}");
    pods
}

#[test]
fn an_open_model_over_two_shards_keeps_the_rate_without_a_double_burst() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "open");
    let svc = Deployed::new(&ns, &registry);
    svc_pods_ready(&ns);

    let out = svc.load(
        &ns,
        &["--shards", "2", "-r", "200", "-d", "3s", "--path", "/"],
    );
    common::assert_success(&out, "hale load --on-cluster --rate");
    let doc = report(&out);
    let requests = doc["requests"].as_u64().unwrap() as f64;
    assert!(
        (requests - 600.0).abs() <= 12.0,
        "600 ± 2 % arrivals: {requests}"
    );
    let rps = doc["rps"].as_f64().unwrap();
    assert!((rps - 200.0).abs() <= 4.0, "200 req/s ± 2 %: {rps}");
    // 250 ms ticks at 200 req/s: 50 each; two shards starting their own full schedules would
    // send 100 in the first.
    let series = doc["series"].as_array().unwrap();
    let first = series[0]["requests"].as_u64().unwrap();
    assert!(
        first <= 55,
        "no double burst at the start: {first} in the first tick"
    );
    // Each shard sends every other arrival of the one schedule.
    let parts: Vec<u64> = doc["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .collect();
    assert_eq!(parts.iter().sum::<u64>() as f64, requests, "{parts:?}");
    assert!(parts[0].abs_diff(parts[1]) <= 1, "{parts:?}");
    assert!(ns.leftovers().is_empty(), "{:?}", ns.leftovers());
}

/// The shards follow the Service's EndpointSlices: a killed pod drops out of every shard's
/// targets and gets nothing from then on; the pod the Deployment starts in its place joins and
/// takes traffic, as its own /metrics count. (A pod deleted with its grace period is marked
/// not ready at once and keeps serving through its drain, so on the test node it leaves the
/// shards' targets before a request to it fails: no breaker need open, and none is asserted.)
#[test]
fn a_killed_pod_drops_out_of_the_targets_and_its_replacement_takes_traffic() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "follow");
    let svc = Deployed::new(&ns, &registry);
    let pods = svc_pods_ready(&ns);
    let victim = pods[0].0.clone();

    let fault = format!("at=2s,kill={victim}");
    let out = svc.load(
        &ns,
        &[
            "--shards",
            "2",
            "-r",
            "100",
            // Long enough for a slow machine to start the replacement pod and make it Ready.
            "-d",
            "40s",
            "-s",
            "round-robin",
            "--path",
            "/",
            "--fault",
            &fault,
            "--timeout",
            "300ms",
        ],
    );
    common::assert_success(&out, "hale load --on-cluster --fault kill= (following)");
    let doc = report(&out);
    let timeline = doc["timeline"].as_array().unwrap();
    let kill_ms = timeline
        .iter()
        .find(|e| e["kind"] == "fault" && e["instance"] == victim.as_str())
        .unwrap_or_else(|| panic!("the kill in the timeline: {timeline:?}"))["t_ms"]
        .as_f64()
        .unwrap();
    // Each shard records the removal from its own targets; the later one counts.
    let removed_ms = timeline
        .iter()
        .filter(|e| e["kind"] == "removed" && e["instance"] == victim.as_str())
        .map(|e| e["last_ms"].as_f64().unwrap())
        .fold(None, |a: Option<f64>, t| Some(a.map_or(t, |a| a.max(t))))
        .unwrap_or_else(|| panic!("{victim} removed in the timeline: {timeline:?}"));
    let replacement = timeline
        .iter()
        .find(|e| {
            e["kind"] == "added"
                && !e["detail"].as_str().unwrap().ends_with("(initial)")
                && !pods.iter().any(|(p, _)| e["instance"] == p.as_str())
        })
        .unwrap_or_else(|| panic!("a replacement pod added in the timeline: {timeline:?}"));
    let replacement = replacement["instance"].as_str().unwrap().to_string();
    assert!(removed_ms >= kill_ms, "{timeline:?}");

    let instances = doc["instances"].as_array().unwrap();
    let slot = |id: &str| {
        instances
            .iter()
            .position(|i| i["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {instances:?}"))
    };
    let (victim_slot, new_slot) = (slot(&victim), slot(&replacement));
    assert!(
        instances[new_slot]["ok"].as_u64().unwrap() > 0,
        "{instances:?}"
    );
    // From a second after the last shard dropped the victim (a tick, the requests still in
    // flight then, the shards' start skew), no tick has an attempt to it.
    let series = doc["series"].as_array().unwrap();
    let after: Vec<&Value> = series
        .iter()
        .filter(|p| p["t_ms"].as_f64().unwrap() > removed_ms + 1000.0)
        .collect();
    assert!(!after.is_empty(), "ticks after the removal: {removed_ms}");
    for p in &after {
        assert_eq!(
            p["per_instance"][victim_slot], 0,
            "{victim} sent to after it dropped out at {removed_ms} ms: {p}"
        );
    }
    let to_new: u64 = after
        .iter()
        .map(|p| p["per_instance"][new_slot].as_u64().unwrap())
        .sum();
    assert!(to_new > 0, "{replacement} took traffic after the kill");
    // The replacement's own count of what it served.
    let now = ns.service_pods();
    let ip = now
        .iter()
        .find(|(p, _)| *p == replacement)
        .unwrap_or_else(|| panic!("{replacement} among {now:?}"))
        .1
        .clone();
    let served = served_by_pods(&[(replacement.clone(), ip)]);
    assert_eq!(
        served,
        instances[new_slot]["requests"].as_u64().unwrap(),
        "{replacement}: what it served = what the shards sent it"
    );
    assert!(ns.leftovers().is_empty(), "{:?}", ns.leftovers());
}

/// `--url` with `--on-cluster`: every shard sends to one address as the pods see it (here the
/// Service's cluster IP: the test node runs no cluster DNS), the cluster balancing behind it;
/// what the shards sent is what the pods served.
#[test]
fn a_url_inside_the_cluster_is_loaded_from_the_shards() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "url");
    let svc = Deployed::new(&ns, &registry);
    let pods = svc_pods_ready(&ns);
    let service = ns.get(&["get", "service", "orders"]);
    let ip = service["spec"]["clusterIP"].as_str().unwrap();
    let port = service["spec"]["ports"][0]["port"].as_u64().unwrap();
    let url = format!("http://{ip}:{port}/");

    let out = svc.load_to(
        &ns,
        &["--url", &url],
        &["--shards", "2", "-c", "2", "-d", "3s"],
    );
    common::assert_success(&out, "hale load --url --on-cluster");
    let doc = report(&out);
    assert_eq!(doc["target"]["kind"], "url", "{}", doc["target"]);
    let requests = doc["requests"].as_u64().unwrap();
    assert!(requests > 0, "{doc}");
    assert_eq!(doc["errors"].as_u64(), Some(0), "{doc}");
    let shards = doc["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 2, "{doc}");
    assert!(
        shards.iter().all(|s| s["requests"].as_u64() > Some(0)),
        "{doc}"
    );
    let instances = doc["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1, "{instances:?}");
    assert_eq!(instances[0]["id"], format!("{ip}:{port}").as_str());
    assert_eq!(requests, served_by_pods(&pods), "what the pods served");
    assert!(ns.leftovers().is_empty(), "{:?}", ns.leftovers());
}

/// A restore= of a pod the plan kills is refused before anything is built or any cluster is
/// contacted (the kubeconfig here does not even exist), in one line, exit 2: its Deployment
/// replaces a killed pod.
#[test]
fn restoring_a_killed_pod_is_refused_on_the_cluster_in_one_line() {
    let tmp = common::tempdir();
    let out = common::hale(tmp.path())
        .args(["load", "orders", "--on-cluster", "--shard-image", "hale:1"])
        .arg("--kubeconfig")
        .arg(tmp.path().join("no-such-kubeconfig"))
        .args(["-d", "4s", "--fault", "at=1s,kill=orders-1"])
        .args(["--fault", "at=2s,restore=orders-1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains("at=2s,restore=orders-1"), "{err}");
    assert!(err.contains("replaced by its Deployment"), "{err}");
    assert!(out.stdout.is_empty());
}

/// error-rate= and latency= on the cluster go to each pod's own admin API on its loopback,
/// through the API server's port-forward, as locally; they are reset at the end. Pods deployed
/// without the template's fault switch are refused in one line before anything is created.
#[test]
fn error_rate_and_latency_faults_reach_the_pods_through_port_forward_and_are_reset() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "faults");
    let svc = Deployed::new(&ns, &registry);
    let pods = svc_pods_ready(&ns);
    let slow = pods[0].0.clone();

    // Deployed as hale deploy leaves it: no admin listener in the pods.
    let latency = format!("at=1s,latency={slow}:300ms");
    let out = svc.load(&ns, &["-d", "3s", "--path", "/", "--fault", &latency]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(last.contains(&latency), "{err}");
    assert!(last.contains("ADMIN_ENABLED"), "{err}");
    assert!(last.contains("FAULT_INJECTION"), "{err}");
    assert!(ns.leftovers().is_empty(), "{:?}", ns.leftovers());

    // The fault switch on, as the template documents it.
    let toml = svc.dir.join("hale.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str("\n[deploy.env]\nADMIN_ENABLED = \"true\"\nFAULT_INJECTION = \"true\"\n");
    std::fs::write(&toml, text).unwrap();
    svc.deploy(&ns);
    let pods = ready_pods_after_rollout(&ns, &pods);
    let (slow, failing) = (pods[0].0.clone(), pods[1].0.clone());
    let latency = format!("at=1s,latency={slow}:300ms");
    let errors = format!("at=1s,error-rate={failing}:1");
    let out = svc.load(
        &ns,
        &[
            "-c",
            "4",
            "-d",
            "6s",
            "--path",
            "/",
            "-s",
            "round-robin",
            "--breaker",
            "off",
            "--fault",
            &latency,
            "--fault",
            &errors,
        ],
    );
    common::assert_success(&out, "hale load --on-cluster with error-rate= and latency=");
    let doc = report(&out);
    let timeline = doc["timeline"].as_array().unwrap();
    for fault in [&latency, &errors] {
        assert!(
            timeline
                .iter()
                .any(|e| e["kind"] == "fault" && e["detail"] == fault.as_str()),
            "{fault} carried out: {timeline:?}"
        );
    }
    let instance = |id: &str| {
        doc["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {doc}"))
            .clone()
    };
    let failed = instance(&failing);
    assert!(failed["errors"]["5xx"].as_u64().unwrap() > 0, "{failed}");
    let delayed = instance(&slow);
    assert!(
        delayed["latency"]["p99"].as_f64().unwrap() >= 300.0,
        "{slow} slowed by 300 ms: {delayed}"
    );
    assert!(ns.leftovers().is_empty(), "{:?}", ns.leftovers());

    // Reset at the end (the "Reset faults on POD" lines are for a terminal, not --output
    // json): a run without faults sees neither.
    let out = svc.load(
        &ns,
        &["-c", "2", "-d", "2s", "--path", "/", "-s", "round-robin"],
    );
    common::assert_success(&out, "hale load --on-cluster after the reset");
    let doc = report(&out);
    assert_eq!(doc["errors"].as_u64(), Some(0), "{doc}");
    assert!(
        doc["latency"]["corrected"]["p99"].as_f64().unwrap() < 300.0,
        "no latency fault left: {doc}"
    );
}

/// The Service's two pods once a rollout replaced `before`.
fn ready_pods_after_rollout(ns: &Namespace, before: &[(String, String)]) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let now = ns.service_pods();
        if now.len() == 2
            && now
                .iter()
                .all(|(p, ip)| !ip.is_empty() && !before.iter().any(|(b, _)| b == p))
        {
            return now;
        }
        assert!(Instant::now() < deadline, "rollout: {before:?} -> {now:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The address pods reach the host at: the node's InternalIP, the bridge's gateway
/// (scripts/kube-node.sh).
fn pod_gateway(ns: &Namespace) -> std::net::IpAddr {
    let node = std::env::var("HALE_TEST_KUBE_NODE").expect("HALE_TEST_KUBE_NODE");
    let doc = ns.get(&["get", "node", &node]);
    doc["status"]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "InternalIP")
        .unwrap_or_else(|| panic!("no InternalIP: {doc}"))["address"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// What `run` returns, and the `hale load` ConfigMaps seen in the namespace while it ran
/// (listed every 250 ms), each once by name.
fn config_maps_during<T>(ns: &Namespace, run: impl FnOnce() -> T) -> (T, Vec<Value>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let seen = scope.spawn(|| {
            let mut seen: Vec<Value> = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let doc = ns.get(&[
                    "get",
                    "configmaps",
                    "-l",
                    "app.kubernetes.io/name=hale-load",
                ]);
                for cm in doc["items"].as_array().unwrap() {
                    if !seen
                        .iter()
                        .any(|s| s["metadata"]["name"] == cm["metadata"]["name"])
                    {
                        seen.push(cm.clone());
                    }
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            seen
        });
        let out = run();
        done.store(true, Ordering::Relaxed);
        (out, seen.join().unwrap())
    })
}

/// The one ConfigMap a run shipped: named after its Job, owned by it; the certificates in it.
fn shipped_certificates(seen: &[Value]) -> usize {
    assert_eq!(seen.len(), 1, "one ConfigMap: {seen:?}");
    let cm = &seen[0];
    let name = cm["metadata"]["name"].as_str().unwrap();
    let owner = &cm["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "Job", "{cm}");
    assert_eq!(
        format!("{}-ca", owner["name"].as_str().unwrap()),
        name,
        "{cm}"
    );
    assert!(name.starts_with("hale-load-"), "{name}");
    let pem = cm["data"]["ca.pem"].as_str().unwrap();
    assert!(!pem.contains("PRIVATE KEY"));
    pem.matches("-----BEGIN CERTIFICATE-----").count()
}

/// An https:// `--url` from the shards: with `--cacert`, the shards trust exactly that
/// certificate (shipped in the run's ConfigMap) and every request succeeds over TLS; without
/// it they get this machine's system roots, which do not know the test's certificate, so they
/// run and every request fails its handshake (not a shard failing to start: the roots were
/// there); `--insecure` ships nothing and succeeds. The ConfigMap is gone after each run.
#[test]
fn an_https_url_is_loaded_from_the_shards_trusting_what_the_cli_ships() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    let ns = Namespace::new(&kubeconfig, "tls");
    let runner = Deployed::nothing(&ns, &registry);
    let server = common::tls_server::TlsTestServer::on(pod_gateway(&ns));
    let ca = server.trust_file(runner.tmp.path());
    let url = server.url();
    let target = ["--url", url.as_str()];

    let (out, seen) = config_maps_during(&ns, || {
        runner.load_to(
            &ns,
            &target,
            &[
                "--shards",
                "2",
                "-c",
                "2",
                "-d",
                "3s",
                "--cacert",
                ca.to_str().unwrap(),
            ],
        )
    });
    common::assert_success(&out, "hale load https --cacert --on-cluster");
    let doc = report(&out);
    let requests = doc["requests"].as_u64().unwrap();
    assert!(requests > 0, "{doc}");
    assert_eq!(doc["errors"].as_u64(), Some(0), "{doc}");
    assert_eq!(
        requests,
        server.served.load(std::sync::atomic::Ordering::Relaxed),
        "what the server answered"
    );
    let shards = doc["shards"].as_array().unwrap();
    assert!(
        shards.iter().all(|s| s["requests"].as_u64() > Some(0)),
        "{doc}"
    );
    assert!(doc["tls"]["handshake"]["count"].as_u64() > Some(0), "{doc}");
    assert_eq!(shipped_certificates(&seen), 1, "the --cacert certificate");
    assert!(ns.leftovers().is_empty(), "{:?}", ns.leftovers());

    // The system roots: shipped (the shards run), but they do not sign the test's certificate.
    let before = server.served.load(std::sync::atomic::Ordering::Relaxed);
    let (out, seen) = config_maps_during(&ns, || {
        runner.load_to(&ns, &target, &["-c", "1", "-d", "2s"])
    });
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let doc = report(&out);
    assert!(
        doc["errors_by_kind"]["tls"].as_u64() > Some(0),
        "handshakes refused: {doc}"
    );
    assert_eq!(doc["shards"][0]["state"], "finished", "{doc}");
    assert!(shipped_certificates(&seen) > 1, "this machine's roots");
    assert_eq!(
        server.served.load(std::sync::atomic::Ordering::Relaxed),
        before,
        "nothing answered"
    );
    assert!(ns.leftovers().is_empty(), "{:?}", ns.leftovers());

    // --insecure: no ConfigMap, any certificate accepted.
    let (out, seen) = config_maps_during(&ns, || {
        runner.load_to(&ns, &target, &["-c", "1", "-d", "2s", "--insecure"])
    });
    common::assert_success(&out, "hale load https --insecure --on-cluster");
    let doc = report(&out);
    assert_eq!(doc["errors"].as_u64(), Some(0), "{doc}");
    assert!(doc["requests"].as_u64() > Some(0), "{doc}");
    assert!(seen.is_empty(), "{seen:?}");
    assert!(ns.leftovers().is_empty(), "{:?}", ns.leftovers());
}

/// Ctrl-C while an https run's shards run: the Job, its pods and its ConfigMap are gone when
/// hale exits 130.
#[test]
fn sigint_during_an_https_run_deletes_the_config_map_with_the_job() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    let ns = Namespace::new(&kubeconfig, "tlsint");
    let runner = Deployed::nothing(&ns, &registry);
    let server = common::tls_server::TlsTestServer::on(pod_gateway(&ns));
    let ca = server.trust_file(runner.tmp.path());
    // The shard image exists once one ordinary run has finished (the first run builds it).
    let warm = runner.load_to(
        &ns,
        &["--url", &server.url()],
        &["-d", "1s", "-c", "1", "--cacert", ca.to_str().unwrap()],
    );
    common::assert_success(&warm, "hale load https --on-cluster (warm-up)");
    let child = runner
        .hale()
        .args(["load", "--url", &server.url(), "--on-cluster"])
        .args([
            "--shard-registry",
            &format!("{}/hale-load-shard", runner.registry),
        ])
        .args(["--kubeconfig", &ns.kubeconfig, "--context", "hale-test"])
        .args(["--namespace", &ns.name, "-d", "10m", "-c", "1"])
        .arg("--cacert")
        .arg(&ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupted once the shard sends (its requests reach the server).
    let deadline = Instant::now() + Duration::from_secs(180);
    let before = server.served.load(std::sync::atomic::Ordering::Relaxed);
    while server.served.load(std::sync::atomic::Ordering::Relaxed) == before {
        assert!(Instant::now() < deadline, "the shard not sending in 180s");
        std::thread::sleep(Duration::from_millis(200));
    }
    let running = ns.leftovers();
    assert!(
        running.iter().any(|o| o.contains("ConfigMap")),
        "the ConfigMap while it runs: {running:?}"
    );
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(ns.leftovers().is_empty(), "{:?}", ns.leftovers());
}

/// What `--url` or a registry cannot do on the cluster is refused before anything is built or
/// any cluster is contacted: one line, exit 2. A loopback registry is each pod's own loopback,
/// a file:// registry a file the pods cannot read.
#[test]
fn what_cannot_work_on_the_cluster_is_refused_in_one_line() {
    let tmp = common::tempdir();
    let no_ca = tmp.path().join("empty.pem");
    std::fs::write(&no_ca, "no certificate here\n").unwrap();
    for (args, says) in [
        (
            &["--url", "ftp://orders.shop.svc:21/"][..],
            "use http:// or https://",
        ),
        (
            &["--url", "http://orders.shop.svc:8080/", "--insecure"][..],
            "are for an https:// --url",
        ),
        (
            &["orders", "--cacert", no_ca.to_str().unwrap()][..],
            "--cacert with a SERVICE and --on-cluster",
        ),
        (
            &[
                "--url",
                "https://orders.shop.svc:8443/",
                "--cacert",
                no_ca.to_str().unwrap(),
            ][..],
            "no PEM certificate in it",
        ),
        (
            &[
                "--url",
                "http://orders.shop.svc:8080/",
                "--fault",
                "at=1s,kill=orders-1",
            ][..],
            "give the SERVICE name instead of --url",
        ),
        (
            &["orders", "--registry", "consul://127.0.0.1:8500"][..],
            "127.0.0.1 is each shard pod's own loopback",
        ),
        (
            &["orders", "--registry", "etcd://localhost:2379"][..],
            "localhost is each shard pod's own loopback",
        ),
        (
            &["orders", "--registry", "file:///tmp/registry.json"][..],
            "cannot read a file on this machine",
        ),
        (
            &[
                "--url",
                "http://orders.shop.svc:8080/",
                "--registry",
                "consul://10.0.0.5:8500",
            ][..],
            "give SERVICE with --registry, or --url alone",
        ),
        (
            &[
                "orders",
                "--registry",
                "consul://10.0.0.5:8500",
                "--fault",
                "at=1s,kill=orders-1",
            ][..],
            "give the SERVICE without --registry",
        ),
    ] {
        let out = common::hale(tmp.path())
            .args(["load", "--on-cluster", "--shard-image", "hale:1"])
            .arg("--kubeconfig")
            .arg(tmp.path().join("no-such-kubeconfig"))
            .args(["-d", "2s"])
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line: {err}"
        );
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_shard_image_that_cannot_be_pulled_fails_the_run_with_the_pods_reason_and_leaves_nothing() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "pull");
    let svc = Deployed::new(&ns, &registry);
    let missing = format!("{registry}/{}/no-such-hale:missing", ns.name);
    let out = svc
        .hale()
        .args(["load", "orders", "--on-cluster", "--shards", "2"])
        .args(["--shard-image", &missing])
        .args(["--kubeconfig", &ns.kubeconfig, "--context", "hale-test"])
        .args(["--namespace", &ns.name, "-d", "2s"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.contains("ErrImagePull") || last.contains("ImagePullBackOff"),
        "the pod's reason on the last line: {err}"
    );
    assert!(
        last.contains("shard 0") || last.contains("shard 1"),
        "{last}"
    );
    assert!(ns.leftovers().is_empty(), "{:?}", ns.leftovers());
}

/// Ctrl-C (SIGINT) while the shards run, and SIGTERM likewise: exit 130, and the Job and its
/// pods are gone when hale exits.
#[test]
fn sigint_and_sigterm_while_the_shards_run_delete_the_job_and_exit_130() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "signal");
    let svc = Deployed::new(&ns, &registry);
    // The shard image exists once one ordinary run has finished (the first run builds it).
    let warm = svc.load(&ns, &["-d", "1s", "-c", "2"]);
    common::assert_success(&warm, "hale load --on-cluster (warm-up)");
    for signal in ["-INT", "-TERM"] {
        let child = svc
            .hale()
            .args(["load", "orders", "--on-cluster", "--shards", "2"])
            .args([
                "--shard-registry",
                &format!("{}/hale-load-shard", svc.registry),
            ])
            .args(["--kubeconfig", &ns.kubeconfig, "--context", "hale-test"])
            .args(["--namespace", &ns.name, "-d", "10m", "-c", "2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let doc = ns.get(&["get", "pods", "-l", "app.kubernetes.io/name=hale-load"]);
            let running = doc["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["status"]["phase"] == "Running")
                .count();
            if running == 2 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{signal}: shards not running in 180s"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{signal}: {err}");
        assert!(ns.leftovers().is_empty(), "{signal}: {:?}", ns.leftovers());
    }
}

/// A TCP forwarder from `listen` (a free port) to `to`, one pair of threads per connection:
/// the test env's Consul listens on 127.0.0.1 only, which is each pod's own loopback; pods
/// reach it through this, on the bridge's gateway address.
fn forward(listen: std::net::IpAddr, to: String) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind((listen, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = std::net::TcpStream::connect(&to) else {
                continue;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut c1, mut s1) = (client, server);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c1, &mut s1);
                let _ = s1.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s2, &mut c2);
                let _ = c2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

/// Instances registered in the test env's Consul (no checks: passing), deregistered on drop.
struct ConsulInstances {
    consul: String,
    ids: Vec<String>,
}

impl ConsulInstances {
    fn register(consul: &str, service: &str, instances: &[(String, std::net::SocketAddr)]) -> Self {
        let client = reqwest::blocking::Client::new();
        for (id, addr) in instances {
            let body = serde_json::json!({
                "ID": id, "Name": service,
                "Address": addr.ip().to_string(), "Port": addr.port(),
            });
            let status = client
                .put(format!("http://{consul}/v1/agent/service/register"))
                .body(body.to_string())
                .send()
                .unwrap()
                .status();
            assert!(status.is_success(), "registering {id}: {status}");
        }
        ConsulInstances {
            consul: consul.to_string(),
            ids: instances.iter().map(|(id, _)| id.clone()).collect(),
        }
    }
}

impl Drop for ConsulInstances {
    fn drop(&mut self) {
        let client = reqwest::blocking::Client::new();
        for id in &self.ids {
            let _ = client
                .put(format!(
                    "http://{}/v1/agent/service/deregister/{id}",
                    self.consul
                ))
                .send();
        }
    }
}

/// SERVICE with `--registry consul://` and `--on-cluster`: each shard follows Consul itself (at
/// the address the pods reach it), so both registered instances take traffic from both shards;
/// what the shards sent is what the instances answered.
#[test]
fn a_registry_service_is_followed_by_the_shards_themselves() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    let consul = need!(Consul);
    let ns = Namespace::new(&kubeconfig, "consul");
    let runner = Deployed::nothing(&ns, &registry);
    let gateway = pod_gateway(&ns);
    let servers = [
        common::tls_server::TlsTestServer::plain_on(gateway),
        common::tls_server::TlsTestServer::plain_on(gateway),
    ];
    let service = format!("lc-{}", std::process::id());
    let ids: Vec<String> = (0..2).map(|i| format!("{service}-{i}")).collect();
    let _registered = ConsulInstances::register(
        &consul,
        &service,
        &[
            (ids[0].clone(), servers[0].addr),
            (ids[1].clone(), servers[1].addr),
        ],
    );
    let through = forward(gateway, consul.clone());
    let url = format!("consul://{through}");

    let out = runner.load_to(
        &ns,
        &[service.as_str(), "--registry", &url],
        &["--shards", "2", "-c", "4", "-d", "3s", "-s", "round-robin"],
    );
    common::assert_success(&out, "hale load SERVICE --registry consul:// --on-cluster");
    let doc = report(&out);
    assert_eq!(doc["target"]["kind"], "service", "{}", doc["target"]);
    assert_eq!(doc["target"]["registry"], url.as_str(), "{}", doc["target"]);
    assert_eq!(doc["errors"].as_u64(), Some(0), "{doc}");
    let requests = doc["requests"].as_u64().unwrap();
    let served: Vec<u64> = servers
        .iter()
        .map(|s| s.served.load(std::sync::atomic::Ordering::Relaxed))
        .collect();
    assert!(
        served.iter().all(|n| *n > 0),
        "both instances served: {served:?}"
    );
    assert_eq!(requests, served.iter().sum::<u64>(), "{served:?}");
    let instances: Vec<&str> = doc["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    for id in &ids {
        assert!(instances.contains(&id.as_str()), "{id} in {instances:?}");
    }
    let shards = doc["shards"].as_array().unwrap();
    assert!(
        shards.iter().all(|s| s["requests"].as_u64() > Some(0)),
        "{doc}"
    );
    assert!(ns.leftovers().is_empty(), "{:?}", ns.leftovers());
}
