//! hale's services on the test cluster's real node (scripts/kube-node.sh: kubelet, containerd,
//! kube-proxy, the `hale0` bridge): built and pushed to the test registry, deployed, serving
//! through their Service's ClusterIP from the host, rolled out under load, diagnosed and rolled
//! back when a build never becomes ready, deleted without leftovers.
//!
//! Traffic goes only to 127.0.0.1 and to the pod and Service addresses of the test bridge.
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common;

/// Everything here runs in a namespace of its own, deleted when the test ends.
pub(crate) struct Namespace {
    pub(crate) name: String,
    pub(crate) kubectl: String,
    pub(crate) kubeconfig: String,
}

impl Namespace {
    pub(crate) fn new(kubeconfig: &str, tag: &str) -> Namespace {
        Namespace {
            name: format!("hale-node-{}-{tag}", std::process::id()),
            kubectl: std::env::var("HALE_TEST_KUBECTL").expect("HALE_TEST_KUBECTL"),
            kubeconfig: kubeconfig.to_string(),
        }
    }

    /// `kubectl -n <ns> ARGS -o json`, parsed.
    pub(crate) fn get(&self, args: &[&str]) -> Value {
        let out = Command::new(&self.kubectl)
            .args(["--kubeconfig", &self.kubeconfig, "-n", &self.name])
            .args(args)
            .args(["-o", "json"])
            .output()
            .unwrap();
        common::assert_success(&out, &format!("kubectl get {args:?}"));
        serde_json::from_slice(&out.stdout).unwrap()
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

/// A generated service, built with the daemonless engine and pushed to the test registry.
pub(crate) struct Service {
    pub(crate) tmp: tempfile::TempDir,
    pub(crate) dir: PathBuf,
    pub(crate) repository: String,
}

impl Service {
    pub(crate) fn new(registry: &str, tag: &str) -> Service {
        let tmp = common::tempdir();
        let dir = tmp.path().join("orders");
        common::scaffold(tmp.path(), "orders", &dir);
        let repository = format!("{registry}/hale-node-{}-{tag}/orders", std::process::id());
        Service {
            tmp,
            dir,
            repository,
        }
    }

    pub(crate) fn hale(&self) -> Command {
        let mut cmd = common::hale(self.tmp.path());
        cmd.current_dir(&self.dir);
        cmd
    }

    /// `hale build --push`; returns the pushed `registry/repo@sha256:…`.
    pub(crate) fn build_and_push(&self) -> String {
        let out = self
            .hale()
            .args(["build", "--engine", "native", "--push", &self.repository])
            .args(["--output", "json"])
            .output()
            .unwrap();
        common::assert_success(&out, "hale build --push");
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["pushed"].as_str().expect("pushed").to_string()
    }

    /// A change to the code, so that the next build is another image.
    pub(crate) fn edit(&self, line: &str) {
        let main = self.dir.join("cmd/orders/main.go");
        let mut text = std::fs::read_to_string(&main).unwrap();
        text.push_str(&format!("\n// {line}\n"));
        std::fs::write(main, text).unwrap();
    }

    /// `hale deploy delete`, then nothing hale applied is left in the namespace.
    pub(crate) fn delete_leaving_nothing(&self, ns: &Namespace) {
        let out = self
            .hale()
            .args([
                "deploy",
                "delete",
                "--kubeconfig",
                &ns.kubeconfig,
                "--context",
                "hale-test",
            ])
            .args(["-n", &ns.name])
            .output()
            .unwrap();
        common::assert_success(&out, "hale deploy delete");
        assert_nothing_left(ns);
    }

    pub(crate) fn deploy(&self, ns: &Namespace, extra: &[&str]) -> Output {
        self.hale()
            .args([
                "deploy",
                "--kubeconfig",
                &ns.kubeconfig,
                "--context",
                "hale-test",
            ])
            .args(["-n", &ns.name, "--create-namespace"])
            .args(if extra.contains(&"--timeout") {
                &[][..]
            } else {
                &["--timeout", "240s"][..]
            })
            .args(extra)
            .output()
            .unwrap()
    }
}

/// Nothing hale applied (its labels) is left in the namespace.
pub(crate) fn assert_nothing_left(ns: &Namespace) {
    let left = ns.get(&[
        "get",
        "deployments,replicasets,services,configmaps,serviceaccounts,poddisruptionbudgets",
        "-l",
        "app.kubernetes.io/managed-by=hale",
    ]);
    assert_eq!(left["items"].as_array().unwrap().len(), 0, "{left}");
}

/// The Deployment's pods, with the node each runs on and whether it is Ready.
pub(crate) fn pods(ns: &Namespace) -> Vec<(String, String, bool, String)> {
    ns.get(&["get", "pods", "-l", "app.kubernetes.io/name=orders"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| {
            let ready = p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            (
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                p["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                ready,
                p["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

pub(crate) fn cluster_ip(ns: &Namespace) -> String {
    ns.get(&["get", "service", "orders"])["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .to_string()
}

/// GET through the Service's ClusterIP, retried until it answers 200 (kube-proxy programs the
/// rule a moment after the Service exists).
pub(crate) fn get_ok(url: &str) -> String {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client.get(url).send() {
            Ok(r) if r.status().is_success() => return r.text().unwrap(),
            other if Instant::now() > deadline => panic!("{url}: {other:?}"),
            _ => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The scenario a user runs: new → build --push → deploy → the pods run on the real node and
/// answer through the ClusterIP → a second build rolled out while `hale load` drives the
/// Service, without one failed request → delete leaves nothing.
#[test]
fn a_generated_service_runs_on_the_real_node_and_rolls_out_under_load_without_errors() {
    let node = need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "e2e");
    let svc = Service::new(&registry, "e2e");

    let first = svc.build_and_push();
    assert!(
        first.starts_with(&format!("{}@sha256:", svc.repository)),
        "{first}"
    );
    let out = svc.deploy(&ns, &["--output", "json"]);
    common::assert_success(&out, "hale deploy");
    let running = pods(&ns);
    assert_eq!(running.len(), 2, "{running:?}");
    for (name, on, ready, image) in &running {
        assert_eq!(on, &node, "{name} runs on the real node");
        assert!(ready, "{name} is Ready");
        assert_eq!(image, &first, "{name} runs the pushed image");
    }

    let deployment = ns.get(&["get", "deployment", "orders"]);
    let sc = &deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true, "restricted by default: {sc}");

    // Again: nothing changes; `status` reports what runs.
    let again = svc.deploy(&ns, &["--output", "json"]);
    common::assert_success(&again, "hale deploy (again)");
    let doc: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(doc["schema"], "hale.deploy.apply/v1", "{doc}");
    let objects = doc["objects"].as_array().expect("objects");
    assert!(!objects.is_empty(), "{doc}");
    assert!(
        objects
            .iter()
            .all(|o| o["change"] == "unchanged" || o["change"] == "skipped"),
        "re-applying changes nothing: {doc}"
    );
    let status = svc
        .hale()
        .args([
            "deploy",
            "status",
            "--kubeconfig",
            &ns.kubeconfig,
            "--context",
            "hale-test",
        ])
        .args(["-n", &ns.name, "--output", "json"])
        .output()
        .unwrap();
    common::assert_success(&status, "hale deploy status");
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["schema"], "hale.deploy.status/v1", "{status}");
    assert!(
        status.to_string().contains(&first),
        "status shows the image: {status}"
    );

    let ip = cluster_ip(&ns);
    assert!(get_ok(&format!("http://{ip}:8080/readyz")).contains("ready"));
    let metrics = get_ok(&format!("http://{ip}:8080/metrics"));
    assert!(
        metrics.contains("# TYPE"),
        "Prometheus exposition: {metrics}"
    );

    svc.edit("second build");
    let second = svc.build_and_push();
    assert_ne!(second, first);
    let load = svc
        .hale()
        // A business route, as users' traffic is: /readyz turns 503 on purpose when the drain
        // starts, so a request that reaches a stopping pod just then is answered "not ready".
        .args(["load", "--url", &format!("http://{ip}:8080/v1/orders")])
        .args(["--duration", "40s", "-c", "4", "--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let out = svc.deploy(&ns, &[]);
    common::assert_success(&out, "hale deploy (second build)");
    let load = load.wait_with_output().unwrap();
    common::assert_success(&load, "hale load");
    let report: Value = serde_json::from_slice(&load.stdout).unwrap();
    assert!(report["requests"].as_u64().unwrap() > 100, "{report}");
    assert_eq!(
        report["errors"], 0,
        "no request failed during the rollout: {}",
        report["errors_by_kind"]
    );
    let running = pods(&ns);
    assert!(
        running
            .iter()
            .all(|(_, _, ready, image)| *ready && image == &second),
        "{running:?}"
    );

    svc.delete_leaving_nothing(&ns);
}

/// A build whose pods never become ready: `hale deploy` exits 1 with the pods' events and last
/// log lines, and `--rollback-on-failure` brings the previous ReplicaSet back, serving.
#[test]
fn a_build_that_never_gets_ready_is_diagnosed_and_rolled_back_to_serving_pods() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "rollback");
    let svc = Service::new(&registry, "rollback");
    let good = svc.build_and_push();
    let out = svc.deploy(&ns, &[]);
    common::assert_success(&out, "hale deploy (good build)");
    // Deploy bug 7: in text mode each object is listed once (stdout), not again as progress.
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    for object in [
        "Deployment/orders",
        "Service/orders",
        "ConfigMap/orders-config",
    ] {
        assert_eq!(all.matches(object).count(), 1, "{object} once: {all}");
    }

    // The broken build says why on stderr and exits: it never becomes ready.
    let main = svc.dir.join("cmd/orders/main.go");
    let text = std::fs::read_to_string(&main).unwrap();
    let broken = text.replacen(
        "func main() {",
        "func main() {\n\tprintln(\"boom: refusing to start on purpose\")\n\tos.Exit(3)",
        1,
    );
    assert_ne!(broken, text, "main.go has a main function");
    let broken = if broken.contains("\"os\"") {
        broken
    } else {
        broken.replacen("import (", "import (\n\t\"os\"", 1)
    };
    std::fs::write(&main, broken).unwrap();
    let bad = svc.build_and_push();
    assert_ne!(bad, good);

    let out = svc.deploy(&ns, &["--rollback-on-failure", "--timeout", "60s"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("boom: refusing to start on purpose"),
        "last log lines: {err}"
    );
    assert!(
        err.contains("BackOff") || err.contains("CrashLoopBackOff"),
        "events: {err}"
    );
    assert!(err.contains("rolled back to revision 1"), "{err}");

    let running = pods(&ns);
    assert!(
        running
            .iter()
            .any(|(_, _, ready, image)| *ready && image == &good),
        "{running:?}"
    );
    let ip = cluster_ip(&ns);
    assert!(get_ok(&format!("http://{ip}:8080/readyz")).contains("ready"));
}

/// Deploy bug 1: a build that was not pushed is refused for a cluster whose nodes cannot pull
/// it, with one line, exit 2, before anything is applied.
#[test]
fn an_unpushed_build_is_refused_for_a_remote_cluster() {
    let kubeconfig = need!(Kube);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "unpushed");
    let tmp = common::tempdir();
    let dir = tmp.path().join("orders");
    common::scaffold(tmp.path(), "orders", &dir);
    std::fs::create_dir_all(dir.join(".hale")).unwrap();
    std::fs::write(
        dir.join(".hale/build.json"),
        format!(
            "{{\"reference\":\"orders:dev\",\"digest\":\"sha256:{}\"}}",
            "a".repeat(64)
        ),
    )
    .unwrap();
    let out = common::hale(tmp.path())
        .current_dir(&dir)
        .args([
            "deploy",
            "--kubeconfig",
            &kubeconfig,
            "--context",
            "hale-test",
        ])
        .args(["-n", &ns.name, "--create-namespace"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("was not pushed"), "{err}");
    assert!(err.contains("hale build --push"), "{err}");
    let namespaces = Command::new(&ns.kubectl)
        .args(["--kubeconfig", &kubeconfig, "get", "namespace", &ns.name])
        .output()
        .unwrap();
    assert!(!namespaces.status.success(), "nothing was applied");
}

/// `hale deploy`'s rollout wait stops on SIGINT and on SIGTERM: exit 130 with the interruption
/// as its last line. The image does not exist in the test registry, so the pods stay
/// in ErrImagePull/ImagePullBackOff and the wait would otherwise last until `--timeout`.
#[test]
fn sigint_and_sigterm_stop_the_rollout_wait_with_130() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "signal");
    let svc = Service::new(&registry, "signal");
    let absent = format!("{}:absent", svc.repository);
    for signal in ["-INT", "-TERM"] {
        let child = svc
            .hale()
            .args([
                "deploy",
                "--kubeconfig",
                &kubeconfig,
                "--context",
                "hale-test",
            ])
            .args(["-n", &ns.name, "--create-namespace", "--timeout", "10m"])
            .args(["--image", &absent])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The wait has begun once the API server holds the Deployment with the absent image and
        // a pod of it exists (the apply came before the wait).
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let pods = Command::new(&ns.kubectl)
                .args(["--kubeconfig", &kubeconfig, "-n", &ns.name, "get", "pods"])
                .args(["-o", "jsonpath={.items[*].spec.containers[0].image}"])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&pods.stdout).contains(&absent) {
                break;
            }
            assert!(Instant::now() < deadline, "no pod of {absent} within 120s");
            std::thread::sleep(Duration::from_millis(200));
        }
        std::thread::sleep(Duration::from_millis(500));
        let pid = child.id();
        Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(130), "{signal}: {err}");
        let last = err
            .trim_end()
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        assert!(last.contains("interrupted"), "{signal}: {err}");
    }
}
