//! `hale deploy --canary` on the test cluster's real node (scripts/kube-node.sh), judged by a
//! private Prometheus that scrapes the pods by their IPs on the `hale0` bridge: a good build
//! promoted under `hale load` without one failed request, a faulty build rolled back at the first
//! step, "no data" and an unreachable Prometheus, promote/abort from a second process, a killed
//! run resumed; and `hale deploy status --watch` ending on SIGINT/SIGTERM.
//!
//! Debian's Prometheus is built without Kubernetes service discovery, so the test does the pod
//! discovery itself: a thread lists the namespace's Running pods every second and writes their
//! `podIP:8080` (only addresses in 10.244.0.0/24) with `namespace` and `pod` labels to a
//! `file_sd_configs` file, which is what `kubernetes_sd_configs` (role pod) plus the operator's
//! relabelling would give.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use crate::common;
use crate::kube_node::{assert_nothing_left, cluster_ip, get_ok, pods, stderr, Namespace, Service};

/// A Prometheus of the test's own on a free loopback port, scraping every second.
pub(crate) struct PrivatePrometheus {
    child: Child,
    pub(crate) url: String,
    _dir: tempfile::TempDir,
    stop: Arc<AtomicBool>,
    /// While set, discovery writes no targets (the pods are not scraped yet).
    paused: Arc<AtomicBool>,
    discovery: Option<JoinHandle<()>>,
}

impl PrivatePrometheus {
    /// Start it; with `ns`, discover that namespace's pods (else it scrapes nothing).
    pub(crate) fn start(ns: Option<&Namespace>) -> PrivatePrometheus {
        Self::start_discovering(ns, false)
    }

    /// Start it with discovery paused until [`PrivatePrometheus::resume_discovery`].
    fn start_paused(ns: &Namespace) -> PrivatePrometheus {
        Self::start_discovering(Some(ns), true)
    }

    fn resume_discovery(&self) {
        self.paused.store(false, Ordering::Relaxed);
    }

    fn start_discovering(ns: Option<&Namespace>, paused: bool) -> PrivatePrometheus {
        let dir = common::tempdir();
        let port = common::free_port();
        let targets = dir.path().join("targets.json");
        std::fs::write(&targets, "[]").unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
                 - job_name: pods\n    file_sd_configs:\n      - files: ['{}']\n        \
                 refresh_interval: 1s\n    relabel_configs:\n      - source_labels: \
                 [__address__]\n        regex: '10\\.244\\.0\\.[0-9]+:[0-9]+'\n        action: keep\n",
                targets.display()
            ),
        )
        .unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus");
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::blocking::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !client
            .get(format!("{url}/-/ready"))
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "prometheus did not get ready");
            std::thread::sleep(Duration::from_millis(200));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(paused));
        let discovery = ns.map(|ns| {
            let (kubectl, kubeconfig, name) =
                (ns.kubectl.clone(), ns.kubeconfig.clone(), ns.name.clone());
            let (stop, paused) = (stop.clone(), paused.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if !paused.load(Ordering::Relaxed) {
                        discover(&kubectl, &kubeconfig, &name, &targets);
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            })
        });
        PrivatePrometheus {
            child,
            url,
            _dir: dir,
            stop,
            paused,
            discovery,
        }
    }
}

/// One round of pod discovery into the file_sd file (written through a rename).
fn discover(kubectl: &str, kubeconfig: &str, ns: &str, targets: &std::path::Path) {
    let Ok(out) = Command::new(kubectl)
        .args([
            "--kubeconfig",
            kubeconfig,
            "-n",
            ns,
            "get",
            "pods",
            "-o",
            "json",
        ])
        .output()
    else {
        return;
    };
    let Ok(list) = serde_json::from_slice::<Value>(&out.stdout) else {
        return;
    };
    let groups: Vec<Value> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["status"]["phase"] == "Running")
        .filter_map(|p| {
            let ip = p["status"]["podIP"].as_str()?;
            ip.starts_with("10.244.0.").then(|| {
                serde_json::json!({
                    "targets": [format!("{ip}:8080")],
                    "labels": {"namespace": ns, "pod": p["metadata"]["name"]},
                })
            })
        })
        .collect();
    let tmp = targets.with_extension("tmp");
    if std::fs::write(&tmp, serde_json::to_vec(&groups).unwrap()).is_ok() {
        let _ = std::fs::rename(&tmp, targets);
    }
}

impl PrivatePrometheus {
    /// The first value of an instant query's vector; `None` when the vector is empty.
    pub(crate) fn value(&self, promql: &str) -> Option<f64> {
        let answer: Value = reqwest::blocking::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", promql)])
            .send()
            .and_then(|r| r.json())
            .unwrap_or_else(|e| panic!("query {promql}: {e}"));
        assert_eq!(answer["status"], "success", "{promql}: {answer}");
        let first = answer["data"]["result"].get(0)?;
        first["value"][1].as_str()?.parse().ok()
    }

    /// What it scrapes, for a failing test's message.
    pub(crate) fn targets(&self) -> String {
        let sd = std::fs::read_to_string(self._dir.path().join("targets.json")).unwrap_or_default();
        let api = reqwest::blocking::get(format!("{}/api/v1/targets", self.url))
            .and_then(|r| r.text())
            .unwrap_or_default();
        let client = reqwest::blocking::Client::new();
        let seen = client
            .get(format!("{}/api/v1/query", self.url))
            .query(&[(
                "query",
                "count_over_time(http_requests_total{pod=~\".*canary.*\"}[5m])",
            )])
            .send()
            .and_then(|r| r.text())
            .unwrap_or_default();
        format!("file_sd: {sd}\ntargets: {api}\ncanary series: {seen}")
    }
}

impl Drop for PrivatePrometheus {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.discovery.take() {
            let _ = t.join();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Short steps for tests: 25 % then 50 %, a check every 4 s over 6 s.
pub(crate) const FAST: &[&str] = &[
    "--canary",
    "--canary-step-weight",
    "25",
    "--canary-max-weight",
    "50",
    "--canary-interval",
    "4s",
    "--canary-window",
    "6s",
];

pub(crate) fn canary(svc: &Service, ns: &Namespace, prometheus: &str, extra: &[&str]) -> Command {
    let mut cmd = svc.hale();
    cmd.env("HALE_CANARY_SHORT_INTERVALS", "1")
        .args([
            "deploy",
            "--kubeconfig",
            &ns.kubeconfig,
            "--context",
            "hale-test",
        ])
        .args([
            "-n",
            &ns.name,
            "--timeout",
            "120s",
            "--prometheus",
            prometheus,
        ])
        .args(extra);
    cmd
}

pub(crate) fn deploy_cmd(svc: &Service, ns: &Namespace, action: &str) -> Command {
    let mut cmd = svc.hale();
    cmd.args([
        "deploy",
        action,
        "--kubeconfig",
        &ns.kubeconfig,
        "--context",
        "hale-test",
    ])
    .args(["-n", &ns.name]);
    cmd
}

/// `hale load` against the Service's root route, over and over in runs of 2 s until stopped.
/// Each run opens new connections: kube-proxy picks a pod per connection, so a load that kept
/// its first keep-alive connections would never reach pods that started after it (the canary's).
pub(crate) struct LoadLoop {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(u64, u64, Vec<Value>)>,
}

fn start_load(svc: &Service, ip: &str) -> LoadLoop {
    start_load_at(svc, &format!("http://{ip}:8080/"))
}

/// The same load loop against any URL (a Gateway's).
pub(crate) fn start_load_at(svc: &Service, url: &str) -> LoadLoop {
    start_load_with(svc, &["--url", url])
}

/// The same load loop with any target arguments (`--url URL --grpc METHOD --proto FILE`).
pub(crate) fn start_load_with(svc: &Service, target: &[&str]) -> LoadLoop {
    let stop = Arc::new(AtomicBool::new(false));
    let mut cmd = svc.hale();
    cmd.arg("load")
        .args(target)
        .args(["--duration", "2s", "-c", "4", "--output", "json"]);
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let (mut requests, mut errors, mut failed) = (0, 0, Vec::new());
        while !flag.load(Ordering::Relaxed) {
            let out = cmd.output().unwrap();
            let report: Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("load report ({e}): {}", stderr(&out)));
            requests += report["requests"].as_u64().unwrap_or(0);
            let e = report["errors"].as_u64().unwrap_or(0);
            errors += e;
            if e > 0 {
                failed.push(report["errors_by_kind"].clone());
            }
        }
        (requests, errors, failed)
    });
    LoadLoop { stop, thread }
}

/// Stop the load loop: (requests, errors, the error kinds of the runs that had errors).
pub(crate) fn stop_load(load: LoadLoop) -> (u64, u64, Vec<Value>) {
    load.stop.store(true, Ordering::Relaxed);
    load.thread.join().unwrap()
}

pub(crate) fn deployment_names(ns: &Namespace) -> Vec<String> {
    ns.get(&["get", "deployments"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

pub(crate) fn status(svc: &Service, ns: &Namespace) -> Value {
    let out = deploy_cmd(svc, ns, "status")
        .args(["--output", "json"])
        .output()
        .unwrap();
    common::assert_success(&out, "hale deploy status");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The first version deployed and a second one built, pushed and returned.
pub(crate) fn first_deployed_second_built(svc: &Service, ns: &Namespace) -> (String, String) {
    let first = svc.build_and_push();
    let out = svc.deploy(ns, &[]);
    common::assert_success(&out, "hale deploy (first version)");
    svc.edit("second build");
    let second = svc.build_and_push();
    assert_ne!(first, second);
    (first, second)
}

/// The first version deployed, and a second one built and pushed with the template's fault
/// switches on (`FAULT_ERROR_RATE=rate`): (first, second).
fn first_deployed_second_faulty(svc: &Service, ns: &Namespace, rate: &str) -> (String, String) {
    let first = svc.build_and_push();
    common::assert_success(&svc.deploy(ns, &[]), "hale deploy (first version)");
    let toml = svc.dir.join("hale.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(&format!(
        "\n[deploy.env]\nFAULT_INJECTION = \"true\"\nFAULT_ERROR_RATE = \"{rate}\"\n"
    ));
    std::fs::write(&toml, text).unwrap();
    svc.edit(&format!("a build with FAULT_ERROR_RATE={rate}"));
    let second = svc.build_and_push();
    (first, second)
}

pub(crate) fn show(what: &str, out: &Output) {
    eprintln!(
        "--- {what} (exit {:?})\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

#[test]
fn a_good_build_is_promoted_step_by_step_under_load_without_failed_requests() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "canary-good");
    let svc = Service::new(&registry, "canary-good");
    let (_, second) = first_deployed_second_built(&svc, &ns);
    let prometheus = PrivatePrometheus::start(Some(&ns));
    let ip = cluster_ip(&ns);
    get_ok(&format!("http://{ip}:8080/readyz"));
    let load = start_load(&svc, &ip);

    let out = canary(&svc, &ns, &prometheus.url, FAST)
        .args(["--output", "json"])
        .output()
        .unwrap();
    let report = stop_load(load);
    show("hale deploy --canary (good build)", &out);
    common::assert_success(&out, "hale deploy --canary");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema"], "hale.deploy.canary/v1", "{doc}");
    assert_eq!(doc["decision"], "promoted", "{doc}");
    assert_eq!(doc["traffic"]["method"], "replicas", "{doc}");
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
        let rate = &last["gates"][0];
        assert_eq!(rate["gate"], "success-rate");
        assert!(rate["value"].as_f64().unwrap() >= 99.0, "{rate}");
    }
    assert!(
        stderr(&out).is_empty() || !stderr(&out).contains("error"),
        "{}",
        stderr(&out)
    );

    let (requests, errors, kinds) = report;
    assert!(requests > 100, "{requests} requests");
    assert_eq!(errors, 0, "no request failed during the canary: {kinds:?}");
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
    // The promotion replaced every stable pod at once, then put the rendered strategy back.
    let deployment = ns.get(&["get", "deployment", "orders"]);
    assert_eq!(
        deployment["spec"]["strategy"]["rollingUpdate"],
        serde_json::json!({"maxSurge": 1, "maxUnavailable": 0}),
        "{deployment}"
    );
    let st = status(&svc, &ns);
    assert_eq!(st["canary"]["phase"], "promoted", "{st}");
}

#[test]
fn a_faulty_build_is_rolled_back_at_the_first_step_naming_the_gate_and_value() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "canary-bad");
    let svc = Service::new(&registry, "canary-bad");
    // The template's fault switches: one request in five answers 503.
    let (first, bad) = first_deployed_second_faulty(&svc, &ns, "0.2");
    let prometheus = PrivatePrometheus::start(Some(&ns));
    let ip = cluster_ip(&ns);
    get_ok(&format!("http://{ip}:8080/readyz"));
    let load = start_load(&svc, &ip);

    let out = canary(&svc, &ns, &prometheus.url, FAST).output().unwrap();
    stop_load(load);
    show("hale deploy --canary (faulty build)", &out);
    eprintln!("{}", prometheus.targets());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.trim_end().lines().last().unwrap();
    assert!(
        last.contains("canary rolled back: gate failed at step 1/2 (25%)"),
        "{last}"
    );
    assert!(
        last.contains("success-rate") && last.contains("(>= 99%)"),
        "{last}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("runs {first} again")), "{stdout}");

    assert_eq!(deployment_names(&ns), vec!["orders".to_string()]);
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
    assert!(get_ok(&format!("http://{ip}:8080/readyz")).contains("ready"));
    let st = status(&svc, &ns);
    assert_eq!(st["canary"]["phase"], "rolled-back", "{st}");
}

/// `--canary-load` without any Prometheus: hale drives load at every pod itself and judges the
/// canary's pods beside the stable ones from its own per-instance attribution.
#[test]
fn canary_load_alone_rolls_back_a_faulty_build_comparing_canary_and_stable_pods() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "canary-load");
    let svc = Service::new(&registry, "canary-load");
    let (first, _) = first_deployed_second_faulty(&svc, &ns, "0.2");

    let mut cmd = svc.hale();
    let out = cmd
        .env("HALE_CANARY_SHORT_INTERVALS", "1")
        .args([
            "deploy",
            "--kubeconfig",
            &ns.kubeconfig,
            "--context",
            "hale-test",
        ])
        .args(["-n", &ns.name, "--timeout", "120s", "--canary-load"])
        .args(FAST)
        .output()
        .unwrap();
    show("hale deploy --canary --canary-load (faulty build)", &out);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.trim_end().lines().last().unwrap();
    assert!(
        last.contains("gate failed at step 1/2 (25%): load-success-rate"),
        "{last}"
    );
    assert!(
        last.contains("stable 100.00%"),
        "the stable pods beside it: {last}"
    );
    assert_eq!(deployment_names(&ns), vec!["orders".to_string()]);
    assert!(pods(&ns).iter().all(|(_, _, _, image)| image == &first));
}

#[test]
fn prometheus_unreachable_is_one_line_and_no_data_aborts_the_canary() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "canary-nodata");
    let svc = Service::new(&registry, "canary-nodata");
    let (first, _) = first_deployed_second_built(&svc, &ns);

    let closed = format!("http://127.0.0.1:{}", common::free_port());
    let out = canary(&svc, &ns, &closed, FAST).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("cannot query Prometheus at {closed}")),
        "{err}"
    );
    assert!(
        err.contains("Connection refused") || err.contains("connection refused"),
        "{err}"
    );
    assert_eq!(
        deployment_names(&ns),
        vec!["orders".to_string()],
        "nothing was started"
    );

    // A Prometheus that scrapes nothing: every check is empty, the fourth aborts.
    let prometheus = PrivatePrometheus::start(None);
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
    show("hale deploy --canary (no data)", &out);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.trim_end().lines().last().unwrap();
    assert!(
        last.contains("canary rolled back: no data: 4 consecutive checks"),
        "{last}"
    );
    assert_eq!(deployment_names(&ns), vec!["orders".to_string()]);
    assert!(pods(&ns).iter().all(|(_, _, _, image)| image == &first));
}

#[test]
fn data_that_comes_after_a_check_measured_nothing_is_checked_without_waiting_an_interval() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "canary-late");
    let svc = Service::new(&registry, "canary-late");
    first_deployed_second_built(&svc, &ns);
    // Nothing is scraped until the first check has come back empty.
    let prometheus = PrivatePrometheus::start_paused(&ns);
    let ip = cluster_ip(&ns);
    get_ok(&format!("http://{ip}:8080/readyz"));
    let load = start_load(&svc, &ip);
    const INTERVAL_MS: u64 = 40_000;
    let run = canary(
        &svc,
        &ns,
        &prometheus.url,
        &[
            "--canary",
            "--canary-step-weight",
            "50",
            "--canary-interval",
            "40s",
            "--canary-window",
            "10s",
            "--output",
            "json",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let st = status(&svc, &ns);
        let first = &st["canary"]["steps"][0]["checks"][0];
        if !first.is_null() {
            assert_eq!(first["outcome"], "error", "{st}");
            break;
        }
        assert!(Instant::now() < deadline, "no first check: {st}");
        std::thread::sleep(Duration::from_millis(500));
    }
    prometheus.resume_discovery();
    let out = run.wait_with_output().unwrap();
    stop_load(load);
    show("hale deploy --canary (data after the first check)", &out);
    common::assert_success(&out, "hale deploy --canary");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["decision"], "promoted", "{doc}");
    let checks = doc["canary"]["steps"][0]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2, "{doc}");
    assert_eq!(checks[0]["outcome"], "error", "{doc}");
    assert_eq!(checks[1]["outcome"], "pass", "{doc}");
    let apart =
        checks[1]["at_unix_ms"].as_u64().unwrap() - checks[0]["at_unix_ms"].as_u64().unwrap();
    // Before, the next check waited the whole interval; the data is there within seconds.
    assert!(
        apart < INTERVAL_MS / 2,
        "the check after the empty one came {apart} ms later, not before the next interval: {doc}\n{}",
        prometheus.targets()
    );
}

/// Wait until `hale deploy status` shows the canary progressing with its canary pods ready.
fn wait_progressing(svc: &Service, ns: &Namespace) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let st = status(svc, ns);
        let ready = st["deployments"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["name"] == "orders-canary" && d["replicas"]["available"] == 1);
        if st["canary"]["phase"] == "progressing" && ready {
            return st;
        }
        assert!(Instant::now() < deadline, "no canary progressing: {st}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn abort_and_promote_from_a_second_process_and_a_killed_run_resumes() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "canary-ctl");
    let svc = Service::new(&registry, "canary-ctl");
    let (first, second) = first_deployed_second_built(&svc, &ns);
    let prometheus = PrivatePrometheus::start(Some(&ns));
    let slow = ["--canary", "--canary-interval", "60s"];

    // Abort from a second process while the first waits for its first check.
    let first_run = canary(&svc, &ns, &prometheus.url, &slow)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_progressing(&svc, &ns);
    let out = deploy_cmd(&svc, &ns, "abort").output().unwrap();
    show("hale deploy abort", &out);
    common::assert_success(&out, "hale deploy abort");
    let out = first_run.wait_with_output().unwrap();
    show("the first run, aborted", &out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("aborted by `hale deploy abort`"),
        "{}",
        stderr(&out)
    );
    assert_eq!(deployment_names(&ns), vec!["orders".to_string()]);
    assert!(pods(&ns).iter().all(|(_, _, _, image)| image == &first));

    // Ctrl-C leaves the canary where it is and says how to go on (exit 130).
    let interrupted = canary(&svc, &ns, &prometheus.url, &slow)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let before = wait_progressing(&svc, &ns);
    kill(Pid::from_raw(interrupted.id() as i32), Signal::SIGINT).unwrap();
    let out = interrupted.wait_with_output().unwrap();
    show("the run interrupted with SIGINT", &out);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stays at step 1/5: resume it with the same `hale deploy --canary`"),
        "{}",
        stderr(&out)
    );
    assert_eq!(status(&svc, &ns)["canary"]["phase"], "progressing");

    // Resumed, then killed in the middle: the next run resumes it again, and a promote ends it.
    let killed = canary(&svc, &ns, &prometheus.url, &slow)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    wait_progressing(&svc, &ns);
    kill(Pid::from_raw(killed.id() as i32), Signal::SIGKILL).unwrap();
    let _ = killed.wait_with_output();
    let mut resumed = canary(&svc, &ns, &prometheus.url, &slow)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(resumed.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("Step")) {
        assert!(Instant::now() < deadline, "{seen:?}");
        match lines.next() {
            Some(Ok(l)) => seen.push(l),
            _ => break,
        }
    }
    let run = before["canary"]["run"].as_str().unwrap();
    assert!(
        seen.iter()
            .any(|l| l.contains("Resuming") && l.contains(run)),
        "the same run is resumed: {seen:?}"
    );
    let out = deploy_cmd(&svc, &ns, "promote").output().unwrap();
    show("hale deploy promote", &out);
    common::assert_success(&out, "hale deploy promote");
    let status_code = resumed.wait().unwrap();
    assert_eq!(
        status_code.code(),
        Some(0),
        "the resumed run reports the promotion"
    );
    assert_eq!(deployment_names(&ns), vec!["orders".to_string()]);
    let running = pods(&ns);
    assert!(
        running
            .iter()
            .all(|(_, _, ready, image)| *ready && image == &second),
        "{running:?}"
    );
    let st = status(&svc, &ns);
    assert_eq!(st["canary"]["phase"], "promoted", "{st}");
    assert_eq!(st["canary"]["run"], run, "{st}");
}

/// An abort from a second process while the run still waits for the canary's pods to become
/// ready (a build whose pods never do: the service refuses `FAULT_ERROR_RATE=2` at start) ends
/// the run with the abort, not with the wait's "did not become ready (deleted)".
#[test]
fn an_abort_while_the_run_waits_for_the_canarys_pods_ends_the_run_with_the_abort() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "canary-wait");
    let svc = Service::new(&registry, "canary-wait");
    let (first, _) = first_deployed_second_faulty(&svc, &ns, "2");
    let prometheus = PrivatePrometheus::start(Some(&ns));

    let run = canary(&svc, &ns, &prometheus.url, &["--canary"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let st = status(&svc, &ns);
        let waiting = st["deployments"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["name"] == "orders-canary");
        if st["canary"]["phase"] == "progressing" && waiting {
            assert_ne!(
                st["deployments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|d| d["name"] == "orders-canary")
                    .unwrap()["replicas"]["available"],
                1,
                "the canary's pod never gets ready: {st}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no canary progressing: {st}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = deploy_cmd(&svc, &ns, "abort").output().unwrap();
    show("hale deploy abort", &out);
    common::assert_success(&out, "hale deploy abort");
    let out = run.wait_with_output().unwrap();
    show("the run that waited for the canary's pods", &out);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("aborted by `hale deploy abort`"), "{err}");
    assert!(!err.contains("did not become ready"), "{err}");
    assert_eq!(deployment_names(&ns), vec!["orders".to_string()]);
    assert!(pods(&ns).iter().all(|(_, _, _, image)| image == &first));
    assert_eq!(status(&svc, &ns)["canary"]["phase"], "rolled-back");
}

/// `kubectl ARGS` as the test cluster's admin; the output, checked.
fn admin_kubectl(ns: &Namespace, args: &[&str]) -> String {
    let out = Command::new(&ns.kubectl)
        .args(["--kubeconfig", &ns.kubeconfig, "--context", "hale-test"])
        .args(args)
        .output()
        .unwrap();
    common::assert_success(&out, &format!("kubectl {args:?}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// docs/rbac/hale-deploy.yaml is all `hale deploy` needs in a namespace: applied as it stands,
/// a token of its ServiceAccount (in a kubeconfig of its own, no other binding) deploys, reports
/// the status, runs a canary to promotion and deletes; it cannot read the namespace's Secrets.
#[test]
fn a_service_account_bound_by_docs_rbac_deploys_runs_a_canary_and_deletes() {
    need!(KubeNode);
    let kubeconfig = need!(Kube);
    let registry = need!(OciRegistry);
    need!(Go);
    let ns = Namespace::new(&kubeconfig, "rbac");
    let svc = Service::new(&registry, "rbac");
    let rbac = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rbac/hale-deploy.yaml");
    admin_kubectl(&ns, &["create", "namespace", &ns.name]);
    admin_kubectl(
        &ns,
        &["apply", "-n", &ns.name, "-f", rbac.to_str().unwrap()],
    );
    let token = admin_kubectl(
        &ns,
        &[
            "create",
            "token",
            "hale-deploy",
            "-n",
            &ns.name,
            "--duration",
            "1h",
        ],
    );
    // The admin kubeconfig's cluster (server and CA), with the token as the only user.
    let config = svc.tmp.path().join("hale-deploy.kubeconfig");
    std::fs::copy(&ns.kubeconfig, &config).unwrap();
    let config = config.to_str().unwrap().to_string();
    for args in [
        vec![
            "config",
            "set-credentials",
            "hale-deploy",
            "--token",
            token.trim(),
        ],
        vec![
            "config",
            "set-context",
            "hale-deploy",
            "--cluster",
            "hale-test",
            "--user",
            "hale-deploy",
        ],
    ] {
        let out = Command::new(&ns.kubectl)
            .args(["--kubeconfig", &config])
            .args(&args)
            .output()
            .unwrap();
        common::assert_success(&out, "kubectl config");
    }
    let hale = |extra: &[&str]| {
        let mut cmd = svc.hale();
        cmd.env("HALE_CANARY_SHORT_INTERVALS", "1")
            .args(["deploy"])
            .args(extra)
            .args([
                "--kubeconfig",
                &config,
                "--context",
                "hale-deploy",
                "-n",
                &ns.name,
            ]);
        cmd.output().unwrap()
    };
    let secrets = Command::new(&ns.kubectl)
        .args([
            "--kubeconfig",
            &config,
            "--context",
            "hale-deploy",
            "-n",
            &ns.name,
        ])
        .args(["get", "secrets"])
        .output()
        .unwrap();
    assert!(
        !secrets.status.success() && stderr(&secrets).contains("forbidden"),
        "the Role grants nothing on Secrets: {}",
        stderr(&secrets)
    );

    let first = svc.build_and_push();
    let out = hale(&["--timeout", "240s"]);
    show("hale deploy as the ServiceAccount", &out);
    common::assert_success(&out, "hale deploy as the ServiceAccount");
    assert!(pods(&ns)
        .iter()
        .all(|(_, _, ready, image)| *ready && image == &first));
    svc.edit("second build");
    let second = svc.build_and_push();
    let mut canary_args = vec!["--timeout", "120s", "--canary-load"];
    canary_args.extend_from_slice(FAST);
    let out = hale(&canary_args);
    show(
        "hale deploy --canary --canary-load as the ServiceAccount",
        &out,
    );
    common::assert_success(&out, "the canary as the ServiceAccount");
    let running = pods(&ns);
    assert!(
        running
            .iter()
            .all(|(_, _, ready, image)| *ready && image == &second),
        "{running:?}"
    );
    let out = hale(&["status", "--output", "json"]);
    common::assert_success(&out, "hale deploy status as the ServiceAccount");
    let st: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["canary"]["phase"], "promoted", "{st}");

    let out = hale(&["delete"]);
    show("hale deploy delete as the ServiceAccount", &out);
    common::assert_success(&out, "hale deploy delete as the ServiceAccount");
    assert_nothing_left(&ns);
}

/// `hale deploy status --watch` prints the status and ends on SIGINT or SIGTERM with exit 130.
#[test]
fn status_watch_stops_on_sigint_and_sigterm_with_exit_130() {
    let kubeconfig = need!(Kube);
    let tmp = common::tempdir();
    std::fs::write(tmp.path().join("hale.toml"), "name = \"orders\"\n").unwrap();
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let ns = format!("hale-watch-{}-{}", std::process::id(), signal as i32);
        let mut child = common::hale(tmp.path())
            .current_dir(tmp.path())
            .args(["deploy", "status", "--watch", "--kubeconfig", &kubeconfig])
            .args(["--context", "hale-test", "-n", &ns])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        assert_eq!(
            first.trim_end(),
            format!("nothing deployed by hale for orders in namespace {ns}")
        );
        kill(Pid::from_raw(child.id() as i32), signal).unwrap();
        let done = child.wait_with_output().unwrap();
        assert_eq!(done.status.code(), Some(130), "{signal}: {}", stderr(&done));
    }
}
