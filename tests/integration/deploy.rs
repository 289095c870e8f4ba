//! `hale deploy --render` and `--check`: the rendered set as real tools see it — promtool,
//! kubernetes-validate's strict schemas, the Prometheus operator's Go types, kustomize — plus
//! snapshots, determinism, clobber protection and bad input.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{self, assert_success};

/// Every optional part on: HPA with memory, NetworkPolicy, Namespace, a downstream, two SLOs.
const FULL: &[&str] = &[
    "--render",
    "--slo",
    "availability=99.9,window=30d",
    "--slo",
    "latency=p99<250ms",
    "--max-replicas",
    "6",
    "--hpa-memory",
    "80",
    "--network-policy",
    "--create-namespace",
    "--downstream",
    "payments",
];

const DIGEST: &str = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945";

/// A service folder as `hale new` leaves it (hale.toml is all `--render` reads), plus the
/// record `hale build` writes.
fn service(tmp: &Path) -> PathBuf {
    let dir = tmp.join("orders");
    std::fs::create_dir_all(dir.join(".hale")).unwrap();
    std::fs::write(
        dir.join("hale.toml"),
        "name = \"orders\"\nport = 8080\nregistry = \"consul://consul.consul.svc:8500\"\n\n\
         [image]\nrepository = \"registry.local/orders\"\ntag = \"0.1.0\"\n\n\
         [deploy]\nnamespace = \"shop\"\nreplicas = 2\nenv = { LOG_LEVEL = \"info\" }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join(".hale/build.json"),
        format!("{{\"reference\":\"registry.local/orders:0.1.0\",\"digest\":\"{DIGEST}\"}}"),
    )
    .unwrap();
    dir
}

fn hale(tmp: &Path, dir: &Path, args: &[&str]) -> Output {
    common::hale(tmp)
        .arg("deploy")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

fn render_full(tmp: &Path) -> PathBuf {
    let dir = service(tmp);
    let out = hale(tmp, &dir, FULL);
    assert_success(&out, "hale deploy --render");
    dir.join("deploy")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} exited with {}:\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    out
}

/// The files of a rendered set (record excluded), relative and sorted, with their text.
fn files(root: &Path) -> Vec<(String, String)> {
    common::tree(root)
        .into_iter()
        .filter(|p| root.join(p).is_file() && !p.ends_with(".hale-render.json"))
        .map(|p| (p.display().to_string(), read(&root.join(&p))))
        .collect()
}

#[test]
fn rendered_set_matches_snapshot_and_is_byte_identical_on_rerun() {
    let tmp = common::tempdir();
    let deploy = render_full(tmp.path());
    let first = files(&deploy);
    let listing: Vec<&str> = first.iter().map(|(p, _)| p.as_str()).collect();
    insta::assert_snapshot!("deploy-render-files", listing.join("\n"));
    let mut whole = String::new();
    for (p, text) in &first {
        whole.push_str(&format!("=== {p}\n{text}"));
    }
    insta::assert_snapshot!("deploy-render-set", whole);

    let again = hale(tmp.path(), &tmp.path().join("orders"), FULL);
    assert_success(&again, "second render");
    assert_eq!(files(&deploy), first, "a second render changed bytes");
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(
        text.contains("(0 written, 26 unchanged, 0 removed)"),
        "{text}"
    );
    // The image is the digest `hale build` recorded, never a tag.
    assert!(read(&deploy.join("base/deployment.yaml"))
        .contains(&format!("image: registry.local/orders@{DIGEST}")));
}

#[test]
fn promtool_checks_rules_and_configs_and_every_alert_test_passes() {
    let promtool = need!(Promtool);
    let tmp = common::tempdir();
    let prom = render_full(tmp.path()).join("prometheus");
    let out = run(
        Command::new(&promtool)
            .args(["check", "rules", "rules.yml"])
            .current_dir(&prom),
        "promtool check rules",
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("SUCCESS: 30 rules found"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for config in [
        "prometheus-static.yml",
        "prometheus-kubernetes.yml",
        "prometheus-consul.yml",
    ] {
        let out = Command::new(&promtool)
            .args(["check", "config", config])
            .current_dir(&prom)
            .output()
            .unwrap();
        let err = stderr(&out) + &String::from_utf8_lossy(&out.stdout);
        // Debian's Prometheus is built without Consul and Kubernetes discovery, so its promtool
        // cannot parse those configs; any upstream build can.
        if config != "prometheus-static.yml" && err.contains("_sd_configs not found in type") {
            eprintln!("skipped: this promtool lacks that service discovery ({config} not checked)");
            continue;
        }
        assert!(
            out.status.success(),
            "promtool check config {config}: {err}"
        );
    }
    let out = run(
        Command::new(&promtool)
            .args(["test", "rules", "rules.test.yml"])
            .current_dir(&prom),
        "promtool test rules",
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS"));

    // The tests have teeth: a page threshold off by a little fails them.
    let rules = read(&prom.join("rules.yml"));
    assert!(rules.contains("> 0.0144"), "{rules}");
    std::fs::write(prom.join("rules.yml"), rules.replace("> 0.0144", "> 0.016")).unwrap();
    let broken = Command::new(&promtool)
        .args(["test", "rules", "rules.test.yml"])
        .current_dir(&prom)
        .output()
        .unwrap();
    assert!(
        !broken.status.success(),
        "a wrong threshold passed the rule tests"
    );

    // And the absent() alert's: a selector that no longer matches the job's series (so the
    // alert would fire while the service is scraped) fails them too.
    std::fs::write(
        prom.join("rules.yml"),
        rules.replace(
            r#"absent(up{job="orders"})"#,
            r#"absent(up{job="orders-x"})"#,
        ),
    )
    .unwrap();
    let broken = Command::new(&promtool)
        .args(["test", "rules", "rules.test.yml"])
        .current_dir(&prom)
        .output()
        .unwrap();
    assert!(
        !broken.status.success(),
        "an absent() alert on the wrong job passed the rule tests"
    );
}

/// `promtool check rules` on `file` in `dir`, which must pass.
fn check_rules(promtool: &str, dir: &Path, file: &str) -> String {
    let out = run(
        Command::new(promtool)
            .args(["check", "rules", file])
            .current_dir(dir),
        &format!("promtool check rules {file}"),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The rule groups of a rendered PrometheusRule (`spec.groups`), as a plain rules file.
fn plain_rules_of(object: &Path, into: &Path) {
    let rule: serde_json::Value = serde_norway::from_str(&read(object)).unwrap();
    std::fs::write(
        into,
        serde_norway::to_string(&serde_json::json!({ "groups": rule["spec"]["groups"] })).unwrap(),
    )
    .unwrap();
}

/// A `hale new --grpc` service: its SLIs count the gRPC calls beside the HTTP requests, every
/// rule file passes `promtool check rules`, and the rendered rule tests pass — server-fault codes
/// burn the budget, ResourceExhausted, the client's codes, health checks and reflection do not —
/// and fail when the rules count wrong. Every dashboard panel and canary gate query parses as
/// PromQL (promtool checks each as a recording rule).
#[test]
fn a_grpc_services_rules_pass_promtool_and_its_panel_and_gate_queries_parse() {
    let promtool = need!(Promtool);
    let tmp = common::tempdir();
    let dir = crate::grpc::generate(tmp.path(), "orders");
    let args = [
        "--render",
        "--slo",
        "availability=99.9",
        "--slo",
        "latency=p99<250ms",
    ];
    assert_success(
        &hale(tmp.path(), &dir, &args),
        "hale deploy --render (gRPC)",
    );
    let deploy = dir.join("deploy");
    let prom = deploy.join("prometheus");

    let rules = read(&prom.join("rules.yml"));
    let not_user = r#",grpc_service!~"grpc\\.health\\.v1\\.Health|grpc\\.reflection\\..+""#;
    for part in [
        "or rate(grpc_server_handled_total{job=\"orders\",grpc_code=~\"Unknown|DeadlineExceeded|Unimplemented|Internal|Unavailable|DataLoss\"",
        "or rate(grpc_server_handling_seconds_bucket{job=\"orders\",le=\"0.25\"",
        not_user,
    ] {
        assert!(rules.contains(part), "{part} not in\n{rules}");
    }
    // ResourceExhausted is no SLO error: it appears only beside the HTTP rejections, in the
    // rate-limit alert.
    for line in rules.lines().filter(|l| l.contains("ResourceExhausted")) {
        assert!(line.contains("http_rate_limited_total"), "{line}");
    }
    assert!(rules.contains("grpc_code=\"ResourceExhausted\""), "{rules}");
    let out = check_rules(&promtool, &prom, "rules.yml");
    assert!(out.contains("SUCCESS: 30 rules found"), "{out}");

    let tests = read(&prom.join("rules.test.yml"));
    for name in [
        "availability: grpc: a 15x burst of server faults",
        "availability: grpc: a 15x burst of ResourceExhausted",
        "availability: grpc: failing health checks and reflection calls never count",
        "latency: grpc: a 15x burst of slow calls",
        "latency: grpc: slow health checks and reflection calls never count",
        "grpc: health checks do not dilute",
    ] {
        assert!(tests.contains(name), "no test {name:?} in\n{tests}");
    }
    let test = || {
        Command::new(&promtool)
            .args(["test", "rules", "rules.test.yml"])
            .current_dir(&prom)
            .output()
            .unwrap()
    };
    let out = test();
    assert!(
        out.status.success(),
        "promtool test rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    // Teeth: rules that count the wrong calls fail the tests.
    for (what, from, to) in [
        ("a fault code left out", "|DataLoss\"", "\""),
        (
            "ResourceExhausted counted",
            "|DataLoss\"",
            "|DataLoss|ResourceExhausted\"",
        ),
        ("health checks and reflection counted", not_user, ""),
    ] {
        assert!(rules.contains(from), "{from} not in the rules");
        std::fs::write(prom.join("rules.yml"), rules.replace(from, to)).unwrap();
        assert!(
            !test().status.success(),
            "rules with {what} passed the tests"
        );
    }
    std::fs::write(prom.join("rules.yml"), &rules).unwrap();

    // The operator's objects (the base's and the dev overlay's looser objectives) too.
    for (object, plain) in [
        (
            "components/monitoring/prometheusrule.yaml",
            "operator-rules.yml",
        ),
        ("overlays/dev/prometheusrule-patch.yaml", "dev-rules.yml"),
    ] {
        plain_rules_of(&deploy.join(object), &tmp.path().join(plain));
        assert!(read(&tmp.path().join(plain)).contains("grpc_server_handled_total"));
        check_rules(&promtool, tmp.path(), plain);
    }

    // Every dashboard query, the gRPC panels by method among them, and both canary gates of a
    // gRPC service, as recording rules.
    let board: serde_json::Value =
        serde_json::from_str(&read(&deploy.join("grafana/dashboard.json"))).unwrap();
    let panels = board["panels"].as_array().unwrap();
    let titles: Vec<&str> = panels
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for t in [
        "gRPC calls per second by method",
        "gRPC server-fault ratio by method",
        "gRPC latency p99 by method",
    ] {
        assert!(titles.contains(&t), "no panel {t:?}: {titles:?}");
    }
    let mut queries: Vec<String> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    use hale::canary::gates::{p99_query, success_rate_query, CanaryPods};
    let pods = CanaryPods {
        namespace: "shop".into(),
        deployment: "orders-canary".into(),
        series: hale::manifests::sli::Series::of(true),
    };
    let window = std::time::Duration::from_secs(60);
    for q in [success_rate_query(&pods, window), p99_query(&pods, window)] {
        assert!(q.contains("grpc_server_"), "{q}");
        queries.push(q);
    }
    let records: Vec<serde_json::Value> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| serde_json::json!({ "record": format!("hale:query_{i}:value"), "expr": q }))
        .collect();
    std::fs::write(
        tmp.path().join("queries.yml"),
        serde_norway::to_string(&serde_json::json!({
            "groups": [{ "name": "queries", "rules": records }]
        }))
        .unwrap(),
    )
    .unwrap();
    let out = check_rules(&promtool, tmp.path(), "queries.yml");
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", queries.len())),
        "{out}"
    );

    // One port serves HTTP/1.1 and h2c gRPC: the Service names no appProtocol.
    let service = read(&deploy.join("base/service.yaml"));
    assert!(!service.contains("appProtocol"), "{service}");
}

/// The PrometheusRule's groups as a plain rules file, and hale's rule tests for them with the
/// labels the operator's scrapes carry (`namespace`).
fn operator_rules_and_tests(deploy: &Path, dir: &Path) {
    let rule: serde_json::Value = serde_norway::from_str(&read(
        &deploy.join("components/monitoring/prometheusrule.yaml"),
    ))
    .unwrap();
    std::fs::write(
        dir.join("operator-rules.yml"),
        serde_norway::to_string(&serde_json::json!({ "groups": rule["spec"]["groups"] })).unwrap(),
    )
    .unwrap();
    let slos: Vec<hale::manifests::Slo> = ["availability=99.9,window=30d", "latency=p99<250ms"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let ctx = hale::manifests::slo::AlertContext {
        namespace: Some("shop".into()),
        runbook_base: String::new(),
        series: Default::default(),
    };
    let tests = hale::manifests::slo::rule_tests("orders", &slos, "operator-rules.yml", &ctx);
    std::fs::write(
        dir.join("operator-rules.test.yml"),
        serde_norway::to_string(&tests).unwrap(),
    )
    .unwrap();
}

/// The ServiceMonitor not selected (or its Service gone) leaves Prometheus with no `up` series
/// of the job at all, and every other alert silent: the PrometheusRule's absent() alert pages
/// then, names the job and namespace the operator's scrapes would carry, and stays quiet while
/// they are there (or only down), and while the same job is scraped in another namespace only
/// if that is this service's.
#[test]
fn the_operator_rule_pages_when_the_service_is_absent_from_its_namespace() {
    let promtool = need!(Promtool);
    let tmp = common::tempdir();
    let deploy = render_full(tmp.path());
    let monitor = read(&deploy.join("components/monitoring/servicemonitor.yaml"));
    let rule = read(&deploy.join("components/monitoring/prometheusrule.yaml"));
    // What the operator makes of this ServiceMonitor: job = the Service's name (no jobLabel),
    // namespace = the Service's namespace, which the monitor selects.
    assert!(!monitor.contains("jobLabel"), "{monitor}");
    assert!(monitor.contains("matchNames:\n    - shop"), "{monitor}");
    assert!(
        read(&deploy.join("base/service.yaml")).contains("  name: orders\n  namespace: shop\n"),
        "the Service is orders in shop"
    );
    assert!(
        rule.contains(r#"expr: absent(up{job="orders",namespace="shop"})"#),
        "{rule}"
    );
    operator_rules_and_tests(&deploy, tmp.path());
    let test = |what: &str| {
        Command::new(&promtool)
            .args(["test", "rules", "operator-rules.test.yml"])
            .current_dir(tmp.path())
            .output()
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    };
    let out = test("promtool test rules");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    // Teeth: without the namespace matcher, the same job scraped in another namespace hides
    // this one's absence, and the tests say so.
    let rules = read(&tmp.path().join("operator-rules.yml"));
    std::fs::write(
        tmp.path().join("operator-rules.yml"),
        rules.replace(
            r#"absent(up{job="orders",namespace="shop"})"#,
            r#"absent(up{job="orders"})"#,
        ),
    )
    .unwrap();
    let out = test("promtool test rules (broken)");
    assert!(
        !out.status.success(),
        "an absent() alert blind to the namespace passed"
    );
}

/// GitHub's (and GitLab's) anchor of a Markdown heading: lower case, punctuation but `-` and
/// `_` dropped, spaces to `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every `runbook_url` of every rendered alert (PrometheusRule, the dev overlay's patch, the
/// plain rules file).
fn runbook_urls(deploy: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (file, groups) in [
        ("components/monitoring/prometheusrule.yaml", "/spec/groups"),
        ("overlays/dev/prometheusrule-patch.yaml", "/spec/groups"),
        ("prometheus/rules.yml", "/groups"),
    ] {
        let doc: serde_json::Value = serde_norway::from_str(&read(&deploy.join(file))).unwrap();
        for group in doc.pointer(groups).unwrap().as_array().unwrap() {
            for rule in group["rules"].as_array().unwrap() {
                if let Some(alert) = rule["alert"].as_str() {
                    let url = rule["annotations"]["runbook_url"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{file}: {alert} has no runbook_url"));
                    out.push((alert.to_string(), url.to_string()));
                }
            }
        }
    }
    out
}

#[test]
fn every_alert_links_a_section_of_the_generated_services_runbook() {
    let tmp = common::tempdir();
    let dir = tmp.path().join("orders");
    common::scaffold(tmp.path(), "orders", &dir);
    let args = [
        "--render",
        "--slo",
        "availability=99.9",
        "--slo",
        "latency=p99<250ms",
    ];
    assert_success(&hale(tmp.path(), &dir, &args), "hale deploy --render");
    let urls = runbook_urls(&dir.join("deploy"));
    let alerts: std::collections::BTreeSet<&str> = urls.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        alerts.len(),
        hale::manifests::slo::ALERTS.len(),
        "every kind of alert is rendered: {alerts:?}"
    );
    for (alert, url) in &urls {
        // Relative to the service's repository by default.
        let (file, fragment) = url
            .split_once('#')
            .unwrap_or_else(|| panic!("{alert}: {url} names no section"));
        let doc = read(&dir.join(file));
        let anchors: Vec<String> = doc
            .lines()
            .filter_map(|l| l.strip_prefix('#'))
            .map(|l| anchor(l.trim_start_matches('#')))
            .collect();
        assert!(
            anchors.iter().any(|a| a == fragment),
            "{alert}: {url} names no heading of the generated {file} ({anchors:?})"
        );
    }

    // hale.toml's [deploy] runbook_base_url makes them absolute, the section unchanged.
    let toml = read(&dir.join("hale.toml")).replace(
        "# runbook_base_url = \"https://github.com/acme/orders/blob/main\"",
        "runbook_base_url = \"https://git.example/acme/orders/-/blob/main/\"",
    );
    assert!(toml.contains("\nrunbook_base_url = "), "{toml}");
    std::fs::write(dir.join("hale.toml"), toml).unwrap();
    assert_success(&hale(tmp.path(), &dir, &args), "hale deploy --render");
    for ((alert, before), (_, after)) in urls.iter().zip(runbook_urls(&dir.join("deploy"))) {
        assert_eq!(
            after,
            format!("https://git.example/acme/orders/-/blob/main/{before}"),
            "{alert}"
        );
    }

    // A base that would break every link is refused in one line, exit 2.
    let toml = read(&dir.join("hale.toml")).replace(
        "runbook_base_url = \"https://git.example/acme/orders/-/blob/main/\"",
        "runbook_base_url = \"https://git.example/a b\"",
    );
    std::fs::write(dir.join("hale.toml"), toml).unwrap();
    let out = hale(tmp.path(), &dir, &args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("runbook_base_url") && stderr(&out).lines().count() == 1,
        "{}",
        stderr(&out)
    );
}

#[test]
fn kubernetes_objects_validate_strictly_against_the_schemas() {
    let validate = need!(KubernetesValidate);
    let tmp = common::tempdir();
    let base = render_full(tmp.path()).join("base");
    let objects: Vec<PathBuf> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            // CRDs (checked through the operator's types) and kustomize's own file are not in
            // the Kubernetes schemas.
            ![
                "servicemonitor.yaml",
                "prometheusrule.yaml",
                "kustomization.yaml",
            ]
            .contains(&name.as_ref())
        })
        .collect();
    assert_eq!(objects.len(), 9, "{objects:?}");
    let out = run(
        Command::new(&validate)
            .args(["--strict", "--kubernetes-version", "1.33.0"])
            .args(&objects),
        "kubernetes-validate --strict",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches(" passed for resource ").count(), 9, "{text}");

    // Strict means strict: an unknown field fails.
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        read(&base.join("service.yaml"))
            .replace("  type: ClusterIP", "  type: ClusterIP\n  tpye: x"),
    )
    .unwrap();
    let out = Command::new(&validate)
        .args(["--strict", "--kubernetes-version", "1.33.0"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "an unknown field passed strict validation"
    );
}

fn monitoring_checker(tmp: &Path, go: &str) -> PathBuf {
    let bin = tmp.join("monitoring-check");
    run(
        Command::new(go)
            .args(["build", "-o"])
            .arg(&bin)
            .arg(".")
            .current_dir(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/monitoring"),
            ),
        "building tests/integration/monitoring",
    );
    bin
}

#[test]
fn operator_types_decode_the_monitor_and_rules_refusing_unknown_fields() {
    let go = need!(Go);
    let tmp = common::tempdir();
    let base = render_full(tmp.path()).join("components/monitoring");
    let checker = monitoring_checker(tmp.path(), &go);
    let out = run(
        Command::new(&checker)
            .arg(base.join("servicemonitor.yaml"))
            .arg(base.join("prometheusrule.yaml"))
            .arg(
                tmp.path()
                    .join("orders/deploy/overlays/dev/prometheusrule-patch.yaml"),
            ),
        "operator types",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ServiceMonitor ok") && text.contains("PrometheusRule ok"),
        "{text}"
    );

    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        read(&base.join("servicemonitor.yaml")).replace("    path: /metrics", "    pth: /metrics"),
    )
    .unwrap();
    let out = Command::new(&checker).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("unknown field"), "{}", stderr(&out));
}

#[test]
fn overlays_build_with_kustomize_and_pass_the_check() {
    let kustomize = need!(Kustomize);
    let tmp = common::tempdir();
    let deploy = render_full(tmp.path());
    for (overlay, want) in [
        ("dev", ["minReplicas: 1", "cpu: 50m", "vector(0.99)"]),
        ("prod", ["minReplicas: 3", "cpu: 250m", "vector(0.999)"]),
    ] {
        let out = run(
            Command::new(&kustomize)
                .arg("build")
                .arg(deploy.join("overlays").join(overlay)),
            &format!("kustomize build overlays/{overlay}"),
        );
        let built = String::from_utf8_lossy(&out.stdout).into_owned();
        for w in want {
            assert!(built.contains(w), "overlays/{overlay} lacks {w}");
        }
        let dir = tmp.path().join(format!("built-{overlay}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("all.yaml"), &built).unwrap();
        let check = common::hale(tmp.path())
            .args(["deploy", "--check"])
            .arg(&dir)
            .output()
            .unwrap();
        assert_success(
            &check,
            &format!("hale deploy --check on overlays/{overlay}"),
        );
    }
}

#[test]
fn render_then_check_finds_nothing() {
    let tmp = common::tempdir();
    let dir = service(tmp.path());
    let mut args = FULL.to_vec();
    args.push("--check");
    let out = hale(tmp.path(), &dir, &args);
    assert_success(&out, "hale deploy --render --check");
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 errors, 0 warnings"));
}

#[test]
fn hand_edited_mistakes_are_found_as_text_json_and_sarif() {
    let tmp = common::tempdir();
    let deploy = render_full(tmp.path());
    let svc = deploy.join("base/service.yaml");
    let text = read(&svc);
    let at = text.rfind("app.kubernetes.io/name: orders").unwrap();
    let mut edited = text.clone();
    edited.replace_range(at..at + 30, "app.kubernetes.io/name: ordres");
    std::fs::write(&svc, edited).unwrap();
    let dep = deploy.join("base/deployment.yaml");
    let text = read(&dep);
    let start = text.find("        readinessProbe:").unwrap();
    let end = start + text[start..].find("        resources:").unwrap();
    let edited = format!("{}{}", &text[..start], &text[end..])
        .replace("          runAsUser: 65532", "          runAsUser: 0");
    std::fs::write(&dep, edited).unwrap();

    let out = common::hale(tmp.path())
        .args(["deploy", "--check"])
        .arg(&deploy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "error[dangling-service] Service/shop/orders (base/service.yaml)",
        "error[no-readiness-probe] Deployment/shop/orders (base/deployment.yaml)",
        "error[run-as-non-root] Deployment/shop/orders (base/deployment.yaml): container \"orders\": runAsUser is 0 (root)",
    ] {
        assert!(text.contains(want), "{want} missing in:\n{text}");
    }
    assert_eq!(
        stderr(&out).trim(),
        "error: --check found 3 error-level finding(s); fix them (see the report above) and run again"
    );

    let out = common::hale(tmp.path())
        .args(["deploy", "--output", "json", "--check"])
        .arg(&deploy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema"], "hale.deploy-check/v1");
    let rules: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"dangling-service") && rules.contains(&"no-readiness-probe"));
    // The ServiceMonitor selects the Service by its labels, which the typo left alone.
    assert!(!rules.contains(&"dangling-servicemonitor"), "{rules:?}");

    let out = common::hale(tmp.path())
        .args(["deploy", "--check-format", "sarif", "--check"])
        .arg(&deploy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(results
        .iter()
        .any(|r| r["ruleId"] == "run-as-non-root" && r["level"] == "error"));
}

#[test]
fn hand_edited_files_are_not_overwritten_without_force() {
    let tmp = common::tempdir();
    let deploy = render_full(tmp.path());
    let dir = tmp.path().join("orders");
    let cm = deploy.join("base/configmap.yaml");
    std::fs::write(&cm, "# mine\n").unwrap();
    let before = files(&deploy);
    let mut args = FULL.to_vec();
    args.extend(["--replicas", "3"]);
    let out = hale(tmp.path(), &dir, &args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("configmap.yaml was changed since hale wrote it"),
        "{}",
        stderr(&out)
    );
    assert_eq!(files(&deploy), before, "a refused render changed files");
    args.push("--force");
    assert_success(&hale(tmp.path(), &dir, &args), "render --force");
    assert!(read(&cm).contains("kind: ConfigMap"));
}

#[test]
fn out_dash_prints_the_base_objects_and_writes_nothing() {
    let tmp = common::tempdir();
    let dir = service(tmp.path());
    let out = hale(tmp.path(), &dir, &["--render", "--out", "-"]);
    assert_success(&out, "--out -");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("---\n# Source: base/serviceaccount.yaml\n"),
        "{text}"
    );
    for kind in [
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ServiceMonitor",
        "PrometheusRule",
    ] {
        assert!(text.contains(&format!("kind: {kind}\n")), "{kind}");
    }
    assert!(!dir.join("deploy").exists());
}

#[test]
fn bad_input_is_one_line_exit_2_and_writes_nothing() {
    let tmp = common::tempdir();
    let dir = service(tmp.path());
    let cases: &[(&[&str], &str)] = &[
        (
            &["--render", "--replicas", "0"],
            "replicas 0 with a PodDisruptionBudget",
        ),
        (&["--render", "--slo", "availability"], "is not KEY=VALUE"),
        (
            &["--render", "--slo", "availability=100"],
            "leaves no error budget",
        ),
        (
            &["--render", "--slo", "latency=p99<300ms"],
            "is not a bucket",
        ),
        (
            &["--render", "--memory-limit", "16Mi"],
            "is below the request",
        ),
        (
            &["--render", "--scrape-target", "127.0.0.1:70000"],
            "HOST:PORT",
        ),
    ];
    for (args, want) in cases {
        let out = hale(tmp.path(), &dir, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(want),
            "{args:?}: {err}"
        );
        assert!(!dir.join("deploy").exists(), "{args:?} wrote files");
    }
    // A port out of range in hale.toml.
    std::fs::write(dir.join("hale.toml"), "name = \"orders\"\nport = 70000\n").unwrap();
    let out = hale(tmp.path(), &dir, &["--render"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(!dir.join("deploy").exists());
}

#[test]
fn plain_deploy_with_a_missing_kubeconfig_is_one_line_and_writes_nothing() {
    let tmp = common::tempdir();
    let dir = service(tmp.path());
    let before = common::tree(&dir);
    let out = hale(
        tmp.path(),
        &dir,
        &["--kubeconfig", "/nonexistent/kubeconfig"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim(),
        "error: cannot read the kubeconfig /nonexistent/kubeconfig: no such file"
    );
    assert_eq!(
        common::tree(&dir),
        before,
        "plain deploy renders in memory only"
    );
}

/// Stops what the fleet test started, even when an assertion fails.
struct FleetGuard {
    tmp: PathBuf,
    dir: PathBuf,
    prometheus: Option<std::process::Child>,
}

impl Drop for FleetGuard {
    fn drop(&mut self) {
        if let Some(mut p) = self.prometheus.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
        let _ = common::hale(&self.tmp).arg("down").arg(&self.dir).output();
    }
}

fn prom_query(addr: &str, query: &str) -> Vec<serde_json::Value> {
    let url = format!("http://{addr}/api/v1/query");
    let Ok(resp) = reqwest::blocking::Client::new()
        .get(url)
        .query(&[("query", query)])
        .send()
    else {
        return Vec::new();
    };
    let doc: serde_json::Value = resp.json().unwrap_or_default();
    assert_ne!(doc["status"], "error", "{query}: {doc}");
    doc["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// An alert expression with every comparison made `bool`, so it returns its series whether or
/// not the alert would fire: what proves the expression reads metrics that exist.
fn unfiltered(expr: &str) -> String {
    expr.replace(" > ", " > bool ").replace(" == ", " == bool ")
}

/// Whether the prometheus binary is there: a skip says so, or a failure under
/// HALE_TEST_REQUIRE_ALL=1.
fn prometheus_binary() -> bool {
    if Command::new("prometheus").arg("--version").output().is_ok() {
        return true;
    }
    if std::env::var("HALE_TEST_REQUIRE_ALL").is_ok_and(|v| v == "1") {
        panic!("HALE_TEST_REQUIRE_ALL=1 and the prometheus binary is not on PATH");
    }
    eprintln!("skipped: the prometheus binary is not on PATH");
    false
}

/// `hale up --replicas 2` of the service in `dir`, its monitoring rendered with two SLOs and
/// scraped by a real Prometheus of its own (scraping and evaluating every second): the guard
/// that stops both, Prometheus's address, and the instances' host:port.
fn scraped_fleet(tmp: &Path, dir: &Path) -> (FleetGuard, String, Vec<String>) {
    let mut guard = FleetGuard {
        tmp: tmp.to_path_buf(),
        dir: dir.to_path_buf(),
        prometheus: None,
    };
    let up = common::hale(tmp)
        .args(["up", "--replicas", "2", "--output", "json"])
        .arg(dir)
        .output()
        .unwrap();
    assert_success(&up, "hale up");
    let up: serde_json::Value = serde_json::from_slice(&up.stdout).unwrap();
    let targets: Vec<String> = up["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| format!("127.0.0.1:{}", i["port"]))
        .collect();

    let mut args = vec![
        "--render",
        "--slo",
        "availability=99.9",
        "--slo",
        "latency=p99<250ms",
    ];
    for t in &targets {
        args.extend(["--scrape-target", t.as_str()]);
    }
    assert_success(&hale(tmp, dir, &args), "render");
    let prom_dir = dir.join("deploy/prometheus");
    // Scrape and evaluate every second, so a short test sees several samples.
    let config = read(&prom_dir.join("prometheus-static.yml"))
        .replace("scrape_interval: 15s", "scrape_interval: 1s")
        .replace("evaluation_interval: 15s", "evaluation_interval: 1s");
    std::fs::write(prom_dir.join("fast.yml"), config).unwrap();
    let addr = format!("127.0.0.1:{}", common::free_port());
    guard.prometheus = Some(
        Command::new("prometheus")
            .arg("--config.file")
            .arg(prom_dir.join("fast.yml"))
            .arg("--storage.tsdb.path")
            .arg(tmp.join("tsdb"))
            .arg("--web.listen-address")
            .arg(&addr)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(tmp.join("prometheus.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    (guard, addr, targets)
}

/// The queries of the rendered rules and dashboard in `dir`, each as it would return its
/// series whatever their values: recording rules by the name they record, alerts unfiltered
/// (except DownstreamBreakerOpen: the fleets call no downstream), dashboard panels as they
/// are; and the absent() alerts apart, with the selector they watch among the queries.
fn rule_and_panel_queries(dir: &Path) -> (Vec<String>, Vec<String>) {
    let rules: serde_json::Value =
        serde_norway::from_str(&read(&dir.join("deploy/prometheus/rules.yml"))).unwrap();
    let mut queries: Vec<String> = Vec::new();
    let mut absent: Vec<String> = Vec::new();
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let expr = rule["expr"].as_str().unwrap();
            if let Some(record) = rule["record"].as_str() {
                queries.push(record.to_string());
            } else if let Some(selector) = expr
                .strip_prefix("absent(")
                .and_then(|e| e.strip_suffix(')'))
            {
                // absent() is empty while the service is scraped, which is the point: its
                // selector must match the series the scrapes write.
                absent.push(expr.to_string());
                queries.push(selector.to_string());
            } else if rule["alert"] != "DownstreamBreakerOpen" {
                // The fleet has no downstream, so it exports no breaker series.
                queries.push(unfiltered(expr));
            }
        }
    }
    let dashboard: serde_json::Value =
        serde_json::from_str(&read(&dir.join("deploy/grafana/dashboard.json"))).unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            queries.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    (queries, absent)
}

/// Polls `queries` until every one returns series and Prometheus sees `instances` targets of
/// `job` up, for at most 150 s: whether they were up, and the queries still empty.
fn wait_for_series(
    addr: &str,
    job: &str,
    instances: usize,
    queries: &[String],
) -> (bool, Vec<String>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(150);
    let mut empty: Vec<String> = queries.to_vec();
    let mut targets_up = false;
    while std::time::Instant::now() < deadline && (!empty.is_empty() || !targets_up) {
        std::thread::sleep(std::time::Duration::from_secs(2));
        targets_up = prom_query(addr, &format!("up{{job=\"{job}\"}} == 1")).len() == instances;
        empty.retain(|q| prom_query(addr, q).is_empty());
    }
    (targets_up, empty)
}

#[test]
fn real_prometheus_scrapes_a_fleet_under_load_and_every_rule_and_panel_returns_series() {
    need!(Go);
    need!(Prometheus);
    if !prometheus_binary() {
        return;
    }
    let tmp = common::tempdir();
    let name = format!("m{}", std::process::id());
    let dir = tmp.path().join(&name);
    common::scaffold(tmp.path(), &name, &dir);
    let (_guard, addr, targets) = scraped_fleet(tmp.path(), &dir);

    // Bounded load through hale's own balancer, in the background.
    let endpoints = targets.join(",");
    let mut load = common::hale(tmp.path())
        .args([
            "load",
            "--endpoints",
            &endpoints,
            "-c",
            "2",
            "-r",
            "50",
            "-d",
            "90s",
            "-q",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    let (queries, absent) = rule_and_panel_queries(&dir);
    let (targets_up, empty) = wait_for_series(&addr, &name, 2, &queries);
    let _ = load.kill();
    let _ = load.wait();
    assert!(targets_up, "Prometheus does not see both instances up");
    assert_eq!(absent.len(), 1, "one absent() alert");
    for expr in &absent {
        assert!(
            prom_query(&addr, expr).is_empty(),
            "{expr} returns a series while the service is scraped"
        );
    }
    assert!(
        empty.is_empty(),
        "queries that returned no series (broken rules or panels): {empty:#?}\nprometheus log: {}",
        read(&tmp.path().join("prometheus.log"))
    );
}

/// The gRPC counterpart: a `hale new --grpc` fleet under `hale load --grpc` alone. Every rule
/// and panel that reads grpc-go's series returns series from its gRPC half alone — evaluated
/// with the HTTP request series renamed to names no target exports — so the gRPC metric names,
/// labels, codes and histogram buckets the rules name are the ones the service exports.
/// (Queries of HTTP series alone are the HTTP test's.)
#[test]
fn real_prometheus_scrapes_a_grpc_fleet_under_grpc_load_and_every_grpc_rule_and_panel_returns_series(
) {
    need!(Go);
    need!(Prometheus);
    if !prometheus_binary() {
        return;
    }
    let tmp = common::tempdir();
    let dir = crate::grpc::generate(tmp.path(), "orders");
    let (_guard, addr, targets) = scraped_fleet(tmp.path(), &dir);

    let endpoints = targets.join(",");
    let mut load = common::hale(tmp.path())
        .args(["load", "--endpoints", &endpoints])
        .args(["--grpc", "orders.v1.OrderService/Info"])
        .args(["--proto", "api/orders/v1/orders.proto"])
        .args(["-c", "2", "-r", "50", "-d", "90s", "-q"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    let rules: serde_json::Value =
        serde_norway::from_str(&read(&dir.join("deploy/prometheus/rules.yml"))).unwrap();
    let mut exprs: Vec<String> = Vec::new();
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            if rule["alert"] != "DownstreamBreakerOpen" {
                exprs.push(unfiltered(rule["expr"].as_str().unwrap()));
            }
        }
    }
    // Recording rules by their expression (their names read both halves), alerts and panels.
    let (queries, _) = rule_and_panel_queries(&dir);
    let grpc_only: Vec<String> = exprs
        .into_iter()
        .chain(queries)
        .filter(|q| q.contains("grpc_server_"))
        .map(|q| {
            q.replace("http_request", "hale_test_unexported_request")
                .replace("http_rate_limited", "hale_test_unexported_rate_limited")
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // The availability and latency SLIs, the rate-limit alert and the three panels by method.
    assert!(
        grpc_only.len() >= 6,
        "too few queries read the gRPC series: {grpc_only:#?}"
    );
    let (targets_up, empty) = wait_for_series(&addr, "orders", 2, &grpc_only);
    let _ = load.kill();
    let _ = load.wait();
    assert!(targets_up, "Prometheus does not see both instances up");
    assert!(
        empty.is_empty(),
        "queries whose gRPC half returned no series (broken gRPC rules or panels): {empty:#?}\nprometheus log: {}",
        read(&tmp.path().join("prometheus.log"))
    );
}

/// Deploy bug 9: `--render --check --output json` prints exactly one JSON document (the render's,
/// with the check inside); `--out -` prints YAML, so it refuses `--output json`.
#[test]
fn render_and_check_under_output_json_print_one_document() {
    let tmp = common::tempdir();
    let dir = service(tmp.path());
    let out = common::hale(tmp.path())
        .args(["--output", "json", "deploy"])
        .arg(&dir)
        .args(["--render", "--check"])
        .output()
        .unwrap();
    assert_success(&out, "--render --check --output json");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "one JSON document: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(doc["schema"], "hale.deploy-render/v1", "{doc}");
    assert_eq!(doc["check"]["schema"], "hale.deploy-check/v1", "{doc}");

    let out = common::hale(tmp.path())
        .args(["--output", "json", "deploy"])
        .arg(&dir)
        .args(["--render", "--out", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains("drop --output json"),
        "{}",
        stderr(&out)
    );
}

/// A namespace of the test cluster, deleted (without waiting) when the test ends.
struct ClusterNamespace {
    kubectl: String,
    kubeconfig: String,
    name: String,
}

impl ClusterNamespace {
    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(&self.kubectl)
            .args(["--kubeconfig", &self.kubeconfig, "--context", "hale-test"])
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for ClusterNamespace {
    fn drop(&mut self) {
        let _ = self.kubectl(&[
            "delete",
            "namespace",
            &self.name,
            "--wait=false",
            "--ignore-not-found",
        ]);
    }
}

/// One egress rule as the API server stored it: its peers and ports, flattened to text.
fn egress_rule(rule: &serde_json::Value) -> (Vec<String>, Vec<String>) {
    let labels = |sel: &serde_json::Value| -> String {
        let mut parts: Vec<String> = sel["matchLabels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
                    .collect()
            })
            .unwrap_or_default();
        parts.sort();
        parts.join(",")
    };
    let peers = rule["to"]
        .as_array()
        .map(|to| {
            to.iter()
                .map(|p| {
                    let mut s = Vec::new();
                    if let Some(ns) = p.get("namespaceSelector") {
                        s.push(format!("namespaces[{}]", labels(ns)));
                    }
                    if let Some(pods) = p.get("podSelector") {
                        s.push(format!("pods[{}]", labels(pods)));
                    }
                    if let Some(block) = p.get("ipBlock") {
                        s.push(format!("ip[{}]", block["cidr"].as_str().unwrap()));
                    }
                    s.join(" ")
                })
                .collect()
        })
        .unwrap_or_default();
    let ports = rule["ports"]
        .as_array()
        .map(|ports| {
            ports
                .iter()
                .map(|p| format!("{}/{}", p["protocol"].as_str().unwrap(), p["port"]))
                .collect()
        })
        .unwrap_or_default();
    (peers, ports)
}

/// `--network-policy` allows the egress the service's own settings dial — cluster DNS, the
/// registry of `registry`, the OTLP endpoint and fixed downstream endpoints of `[deploy.env]`,
/// the downstream services — and nothing else; the API server stores it as rendered. This
/// cluster enforces no NetworkPolicy (no policy-aware network plugin), so the test checks what
/// the cluster holds, not packets.
#[test]
fn network_policy_allows_the_egress_the_settings_dial_and_the_cluster_stores_it() {
    let kubeconfig = need!(Kube);
    let kubectl = std::env::var("HALE_TEST_KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let tmp = common::tempdir();
    let ns = ClusterNamespace {
        kubectl,
        kubeconfig,
        name: format!("np-{}", std::process::id()),
    };
    let dir = tmp.path().join("orders");
    std::fs::create_dir_all(dir.join(".hale")).unwrap();
    std::fs::write(
        dir.join("hale.toml"),
        format!(
            "name = \"orders\"\nport = 8080\n\
             registry = \"etcd://etcd.infra.svc.cluster.local:2379\"\n\n\
             [image]\nrepository = \"registry.local/orders\"\ntag = \"0.1.0\"\n\n\
             [deploy]\nnamespace = \"{ns}\"\nnetwork_policy = true\n\
             downstreams = [\"payments\"]\n\n\
             [deploy.env]\n\
             OTEL_EXPORTER_OTLP_ENDPOINT = \"http://otel-collector.observability.svc:4318\"\n\
             DOWNSTREAM_ENDPOINTS = \"10.0.5.7:9000\"\n",
            ns = ns.name
        ),
    )
    .unwrap();
    assert_success(
        &hale(tmp.path(), &dir, &["--render"]),
        "hale deploy --render",
    );
    assert_success(
        &ns.kubectl(&["create", "namespace", &ns.name]),
        "kubectl create namespace",
    );
    let policy = dir.join("deploy/base/networkpolicy.yaml");
    assert_success(
        &ns.kubectl(&["apply", "-f", policy.to_str().unwrap()]),
        "kubectl apply the NetworkPolicy",
    );
    let out = ns.kubectl(&[
        "-n",
        &ns.name,
        "get",
        "networkpolicy",
        "orders",
        "-o",
        "json",
    ]);
    assert_success(&out, "kubectl get networkpolicy");
    let stored: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let types = &stored["spec"]["policyTypes"];
    assert!(
        types.as_array().unwrap().iter().any(|t| t == "Egress"),
        "egress is governed, so what is not listed is denied: {types}"
    );
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // Each setting, and the rule it must give.
    let expected = [
        // DNS: kube-dns only, both protocols.
        (
            s(&["namespaces[kubernetes.io/metadata.name=kube-system] pods[k8s-app=kube-dns]"]),
            s(&["UDP/53", "TCP/53"]),
        ),
        // registry = etcd://etcd.infra.svc.cluster.local:2379
        (
            s(&["namespaces[kubernetes.io/metadata.name=infra]"]),
            s(&["TCP/2379"]),
        ),
        // OTEL_EXPORTER_OTLP_ENDPOINT = http://otel-collector.observability.svc:4318
        (
            s(&["namespaces[kubernetes.io/metadata.name=observability]"]),
            s(&["TCP/4318"]),
        ),
        // downstreams = ["payments"]: its pods, on their ports.
        (s(&["pods[app.kubernetes.io/name=payments]"]), s(&[])),
        // DOWNSTREAM_ENDPOINTS = 10.0.5.7:9000
        (s(&["ip[10.0.5.7/32]"]), s(&["TCP/9000"])),
    ];
    let got: Vec<(Vec<String>, Vec<String>)> = stored["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .map(egress_rule)
        .collect();
    assert_eq!(got, expected, "the stored egress rules");

    // Settings that dial less allow less: spans off, no downstream endpoints, the registry a
    // Service of the same namespace. Applied over the first, the stored policy follows.
    let toml = read(&dir.join("hale.toml"))
        .replace(
            "etcd://etcd.infra.svc.cluster.local:2379",
            "consul://consul:8500",
        )
        .replace(
            "DOWNSTREAM_ENDPOINTS = \"10.0.5.7:9000\"",
            "OTEL_SDK_DISABLED = \"true\"",
        );
    std::fs::write(dir.join("hale.toml"), toml).unwrap();
    assert_success(&hale(tmp.path(), &dir, &["--render"]), "second render");
    assert_success(
        &ns.kubectl(&["apply", "-f", policy.to_str().unwrap()]),
        "kubectl apply the second NetworkPolicy",
    );
    let out = ns.kubectl(&[
        "-n",
        &ns.name,
        "get",
        "networkpolicy",
        "orders",
        "-o",
        "json",
    ]);
    let stored: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<(Vec<String>, Vec<String>)> = stored["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .map(egress_rule)
        .collect();
    assert_eq!(
        got,
        [
            expected[0].clone(),
            // consul://consul:8500: a Service of the pods' own namespace.
            (s(&["pods[]"]), s(&["TCP/8500"])),
            expected[3].clone(),
        ],
        "the stored egress rules after the second apply"
    );
}
