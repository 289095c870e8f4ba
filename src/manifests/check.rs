//! `hale deploy --check`: lint rendered or hand-edited manifests for the mistakes that break a
//! rollout or a security review. Rule ids are kube-linter's, kube-score's or Polaris's where
//! those tools have one, so a finding can be looked up there too.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::ManifestError;

/// How bad a finding is. Any `Error` makes `--check` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One rule: its id, severity and the fix it suggests.
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    pub fix: &'static str,
}

use Severity::{Error, Warning};

/// Every rule `--check` knows, in report order.
pub const RULES: &[RuleInfo] = &[
    RuleInfo { id: "run-as-non-root", severity: Error, summary: "the container may run as root", fix: "set securityContext.runAsNonRoot: true and a non-zero runAsUser (65532) on the pod or container" },
    RuleInfo { id: "privileged-container", severity: Error, summary: "the container is privileged", fix: "remove securityContext.privileged or set it to false" },
    RuleInfo { id: "privilege-escalation-container", severity: Error, summary: "the container may gain privileges", fix: "set securityContext.allowPrivilegeEscalation: false" },
    RuleInfo { id: "insecureCapabilities", severity: Error, summary: "the container keeps Linux capabilities (restricted PSS needs drop ALL)", fix: "set securityContext.capabilities.drop: [ALL]" },
    RuleInfo { id: "container-seccomp-profile", severity: Error, summary: "no RuntimeDefault seccomp profile (restricted PSS)", fix: "set securityContext.seccompProfile.type: RuntimeDefault on the pod or container" },
    RuleInfo { id: "no-read-only-root-fs", severity: Warning, summary: "the root filesystem is writable", fix: "set securityContext.readOnlyRootFilesystem: true and mount an emptyDir at /tmp" },
    RuleInfo { id: "no-liveness-probe", severity: Error, summary: "the container has no liveness probe", fix: "add livenessProbe: httpGet /healthz on the named http port" },
    RuleInfo { id: "no-readiness-probe", severity: Error, summary: "the container has no readiness probe", fix: "add readinessProbe: httpGet /readyz on the named http port" },
    RuleInfo { id: "liveness-port", severity: Error, summary: "the liveness probe targets a port the container does not declare", fix: "point the probe at a name or number from the container's ports" },
    RuleInfo { id: "readiness-port", severity: Error, summary: "the readiness probe targets a port the container does not declare", fix: "point the probe at a name or number from the container's ports" },
    RuleInfo { id: "startup-port", severity: Error, summary: "the startup probe targets a port the container does not declare", fix: "point the probe at a name or number from the container's ports" },
    RuleInfo { id: "pod-probes-identical", severity: Warning, summary: "liveness and readiness probes are identical", fix: "probe liveness on /healthz and readiness on /readyz, so a draining pod is not restarted" },
    RuleInfo { id: "unset-cpu-requirements", severity: Warning, summary: "no CPU request", fix: "set resources.requests.cpu (e.g. 100m)" },
    RuleInfo { id: "unset-memory-requirements", severity: Warning, summary: "no memory request or limit", fix: "set resources.requests.memory and resources.limits.memory" },
    RuleInfo { id: "latest-tag", severity: Error, summary: "the image has no fixed tag or digest", fix: "use repo@sha256:<digest> (hale build records one) or a version tag other than latest" },
    RuleInfo { id: "env-var-secret", severity: Error, summary: "a secret-looking environment variable has a literal value", fix: "move the value into a Secret and use valueFrom.secretKeyRef" },
    RuleInfo { id: "mismatching-selector", severity: Error, summary: "the workload's selector does not match its pod template labels", fix: "make spec.selector.matchLabels a subset of spec.template.metadata.labels" },
    RuleInfo { id: "dangling-service", severity: Error, summary: "the Service selects no pods of this set", fix: "make the Service's selector match the pod template labels (app.kubernetes.io/name, app.kubernetes.io/instance)" },
    RuleInfo { id: "invalid-target-ports", severity: Error, summary: "a Service targetPort is not a port of the selected pods", fix: "use a container port name (http) or number the pods declare" },
    RuleInfo { id: "dangling-horizontalpodautoscaler", severity: Error, summary: "the HPA targets a workload not in this set", fix: "point scaleTargetRef at the Deployment's kind and name" },
    RuleInfo { id: "deployment-targeted-by-hpa-does-not-have-replicas-configured", severity: Warning, summary: "the Deployment sets replicas while an HPA owns scaling", fix: "remove spec.replicas from the Deployment; the HPA's minReplicas sets the floor" },
    RuleInfo { id: "hpa-multiple-per-target", severity: Error, summary: "two HPAs target the same workload and will fight", fix: "keep one HPA with several metrics" },
    RuleInfo { id: "deployment-has-poddisruptionbudget", severity: Warning, summary: "no PodDisruptionBudget selects the Deployment's pods", fix: "add a policy/v1 PodDisruptionBudget with maxUnavailable: 1 and the pod selector" },
    RuleInfo { id: "dangling-poddisruptionbudget", severity: Error, summary: "the PodDisruptionBudget selects no pods of this set", fix: "make its selector match the pod template labels" },
    RuleInfo { id: "pdb-max-unavailable", severity: Error, summary: "maxUnavailable 0 blocks every voluntary eviction (node drains hang)", fix: "use maxUnavailable: 1" },
    RuleInfo { id: "pdb-min-available", severity: Error, summary: "minAvailable is at least the replicas, so no pod can ever be evicted", fix: "use maxUnavailable: 1, or a minAvailable below the replicas" },
    RuleInfo { id: "dangling-servicemonitor", severity: Error, summary: "the ServiceMonitor selects no Service port of this set", fix: "match the Service's labels in spec.selector and name one of its ports in endpoints[].port" },
    RuleInfo { id: "topologySpreadConstraint", severity: Warning, summary: "the pods are not spread over zones and nodes", fix: "add topologySpreadConstraints on topology.kubernetes.io/zone and kubernetes.io/hostname" },
];

fn rule(id: &str) -> &'static RuleInfo {
    RULES.iter().find(|r| r.id == id).unwrap_or(&RULES[0])
}

/// One finding: which rule, on which object in which file, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    /// `Kind/name` or `Kind/namespace/name`.
    pub object: String,
    pub file: String,
    pub message: String,
    pub fix: &'static str,
}

/// The `--check` report (docs/json/deploy-check.md).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub objects: usize,
    pub errors: usize,
    pub warnings: usize,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.errors > 0
    }

    /// The findings as SARIF 2.1.0, for CI code scanning.
    pub fn sarif(&self) -> Value {
        let used: BTreeSet<&str> = self.findings.iter().map(|f| f.rule).collect();
        let rules: Vec<Value> = RULES
            .iter()
            .filter(|r| used.contains(r.id))
            .map(|r| {
                json!({
                    "id": r.id,
                    "shortDescription": { "text": r.summary },
                    "help": { "text": r.fix },
                    "defaultConfiguration": { "level": level(r.severity) },
                })
            })
            .collect();
        let results: Vec<Value> = self
            .findings
            .iter()
            .map(|f| {
                json!({
                    "ruleId": f.rule,
                    "level": level(f.severity),
                    "message": { "text": format!("{}: {}. Fix: {}", f.object, f.message, f.fix) },
                    "locations": [{
                        "physicalLocation": { "artifactLocation": { "uri": f.file } },
                        "logicalLocations": [{ "fullyQualifiedName": f.object }],
                    }],
                })
            })
            .collect();
        json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": { "driver": {
                    "name": "hale",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }},
                "results": results,
            }],
        })
    }
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// A parsed Kubernetes object and where it came from.
#[derive(Debug, Clone)]
struct Object {
    file: String,
    kind: String,
    name: String,
    namespace: String,
    value: Value,
}

impl Object {
    fn id(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// Read every `*.yaml`/`*.yml` file below `dir` (sorted), as (relative path, text).
pub fn read_dir(dir: &Path) -> Result<Vec<(String, String)>, ManifestError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| ManifestError::Io {
            action: "reading",
            path: d.display().to_string(),
            source,
        })?;
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            // A linked folder is not followed: a link back up would loop forever, and one
            // elsewhere would count files twice or read outside the set.
            let is_link = std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink());
            if p.is_dir() {
                if !is_link {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                let text = crate::userfile::read_to_string(&p, crate::userfile::Limit::SOURCE)
                    .map_err(|source| ManifestError::Io {
                        action: "reading",
                        path: p.display().to_string(),
                        source,
                    })?;
                let rel = p.strip_prefix(dir).unwrap_or(&p).display().to_string();
                out.push((rel, text));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Lint a set of YAML files. Documents without `kind`/`metadata.name` (kustomization patches,
/// Prometheus files) are skipped; overlays' partial patches too.
pub fn check(files: &[(String, String)]) -> Result<Report, ManifestError> {
    let mut objects = Vec::new();
    for (file, text) in files {
        // Before libyaml, which reads a whole document before its own limit applies.
        crate::userfile::check_yaml_depth(file, text)
            .map_err(|e| ManifestError::invalid(e.to_string()))?;
        for doc in serde_norway::Deserializer::from_str(text) {
            let value = Value::deserialize(doc)
                .map_err(|e| ManifestError::invalid(format!("{file}: not valid YAML: {e}")))?;
            let kind = value["kind"].as_str().unwrap_or_default().to_string();
            let name = value["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if kind.is_empty() || name.is_empty() || kind == "Kustomization" {
                continue;
            }
            // An overlay patch is a fragment of an object in the base, not an object.
            if file.contains("overlays/") && file.ends_with("-patch.yaml") {
                continue;
            }
            objects.push(Object {
                file: file.clone(),
                kind,
                namespace: value["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                name,
                value,
            });
        }
    }
    let mut findings = Vec::new();
    lint(&objects, &mut findings);
    findings.sort_by(|a, b| {
        (a.severity, &a.file, &a.object, a.rule).cmp(&(b.severity, &b.file, &b.object, b.rule))
    });
    findings.dedup();
    let errors = findings.iter().filter(|f| f.severity == Error).count();
    Ok(Report {
        objects: objects.len(),
        errors,
        warnings: findings.len() - errors,
        findings,
    })
}

fn finding(o: &Object, id: &str, message: String) -> Finding {
    let r = rule(id);
    Finding {
        rule: r.id,
        severity: r.severity,
        object: o.id(),
        file: o.file.clone(),
        message,
        fix: r.fix,
    }
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn selects(selector: &BTreeMap<String, String>, l: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| l.get(k) == Some(v))
}

/// A workload's pod template: (object, template labels, pod spec).
fn pod_template(o: &Object) -> Option<(BTreeMap<String, String>, &Value)> {
    match o.kind.as_str() {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => Some((
            labels(&o.value["spec"]["template"]["metadata"]["labels"]),
            &o.value["spec"]["template"]["spec"],
        )),
        "Pod" => Some((labels(&o.value["metadata"]["labels"]), &o.value["spec"])),
        _ => None,
    }
}

fn is_true(v: &Value) -> bool {
    v.as_bool() == Some(true)
}

fn lint(objects: &[Object], out: &mut Vec<Finding>) {
    let workloads: Vec<(&Object, BTreeMap<String, String>, &Value)> = objects
        .iter()
        .filter_map(|o| pod_template(o).map(|(l, s)| (o, l, s)))
        .collect();
    for (o, pod_labels, pod) in &workloads {
        lint_pod(o, pod, out);
        if o.kind != "Pod" {
            let sel = labels(&o.value["spec"]["selector"]["matchLabels"]);
            if !selects(&sel, pod_labels) {
                out.push(finding(
                    o,
                    "mismatching-selector",
                    format!("selector {sel:?} does not match template labels {pod_labels:?}"),
                ));
            }
            if pod["topologySpreadConstraints"]
                .as_array()
                .is_none_or(|a| a.is_empty())
            {
                out.push(finding(
                    o,
                    "topologySpreadConstraint",
                    "no topologySpreadConstraints".into(),
                ));
            }
        }
    }
    let pods_in = |ns: &str, sel: &BTreeMap<String, String>| {
        workloads
            .iter()
            .filter(|(o, l, _)| o.namespace == ns && selects(sel, l))
            .collect::<Vec<_>>()
    };
    let services: Vec<&Object> = objects.iter().filter(|o| o.kind == "Service").collect();
    for svc in &services {
        let sel = labels(&svc.value["spec"]["selector"]);
        if sel.is_empty() {
            continue; // a selector-less Service has hand-managed endpoints
        }
        let matched = pods_in(&svc.namespace, &sel);
        if matched.is_empty() {
            out.push(finding(
                svc,
                "dangling-service",
                format!("selector {sel:?} matches no pod template"),
            ));
            continue;
        }
        for port in svc.value["spec"]["ports"].as_array().into_iter().flatten() {
            let target = if port["targetPort"].is_null() {
                &port["port"]
            } else {
                &port["targetPort"]
            };
            let ok = matched.iter().all(|(_, _, pod)| declares_port(pod, target));
            if !ok {
                out.push(finding(
                    svc,
                    "invalid-target-ports",
                    format!("targetPort {target} is not a port of the selected pods"),
                ));
            }
        }
    }
    // HPAs.
    let mut targets: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for hpa in objects
        .iter()
        .filter(|o| o.kind == "HorizontalPodAutoscaler")
    {
        let r = &hpa.value["spec"]["scaleTargetRef"];
        let (kind, name) = (
            r["kind"].as_str().unwrap_or_default().to_string(),
            r["name"].as_str().unwrap_or_default().to_string(),
        );
        *targets
            .entry((hpa.namespace.clone(), kind.clone(), name.clone()))
            .or_default() += 1;
        match workloads
            .iter()
            .find(|(o, _, _)| o.namespace == hpa.namespace && o.kind == kind && o.name == name)
        {
            None => out.push(finding(
                hpa,
                "dangling-horizontalpodautoscaler",
                format!("scaleTargetRef {kind}/{name} is not in this set"),
            )),
            Some((w, _, _)) => {
                if !w.value["spec"]["replicas"].is_null() {
                    out.push(finding(
                        w,
                        "deployment-targeted-by-hpa-does-not-have-replicas-configured",
                        format!(
                            "spec.replicas is set and HorizontalPodAutoscaler/{} scales it",
                            hpa.name
                        ),
                    ));
                }
            }
        }
    }
    for ((ns, kind, name), n) in targets {
        if n > 1 {
            if let Some((w, _, _)) = workloads
                .iter()
                .find(|(o, _, _)| o.namespace == ns && o.kind == kind && o.name == name)
            {
                out.push(finding(
                    w,
                    "hpa-multiple-per-target",
                    format!("{n} HPAs target it"),
                ));
            }
        }
    }
    // PDBs.
    let pdbs: Vec<&Object> = objects
        .iter()
        .filter(|o| o.kind == "PodDisruptionBudget")
        .collect();
    for pdb in &pdbs {
        let sel = labels(&pdb.value["spec"]["selector"]["matchLabels"]);
        let matched = pods_in(&pdb.namespace, &sel);
        if matched.is_empty() {
            out.push(finding(
                pdb,
                "dangling-poddisruptionbudget",
                format!("selector {sel:?} matches no pod template"),
            ));
        }
        let spec = &pdb.value["spec"];
        if spec["maxUnavailable"].as_i64() == Some(0)
            || spec["maxUnavailable"].as_str() == Some("0%")
        {
            out.push(finding(
                pdb,
                "pdb-max-unavailable",
                "maxUnavailable is 0".into(),
            ));
        }
        if let Some(min) = spec["minAvailable"].as_i64() {
            for (w, _, _) in &matched {
                let replicas = w.value["spec"]["replicas"]
                    .as_i64()
                    .or_else(|| hpa_min(objects, w));
                if let Some(r) = replicas.or(Some(1)) {
                    if min >= r {
                        out.push(finding(
                            pdb,
                            "pdb-min-available",
                            format!("minAvailable {min} with {r} replicas of {}", w.id()),
                        ));
                    }
                }
            }
        }
    }
    for (w, l, _) in workloads.iter().filter(|(o, _, _)| o.kind == "Deployment") {
        let covered = pdbs.iter().any(|p| {
            p.namespace == w.namespace
                && selects(&labels(&p.value["spec"]["selector"]["matchLabels"]), l)
        });
        if !covered {
            out.push(finding(
                w,
                "deployment-has-poddisruptionbudget",
                "no PodDisruptionBudget selects its pods".into(),
            ));
        }
    }
    // ServiceMonitors.
    for sm in objects.iter().filter(|o| o.kind == "ServiceMonitor") {
        let sel = labels(&sm.value["spec"]["selector"]["matchLabels"]);
        let names: Vec<String> = sm.value["spec"]["namespaceSelector"]["matchNames"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_else(|| vec![sm.namespace.clone()]);
        let matched: Vec<&&Object> = services
            .iter()
            .filter(|s| {
                names.contains(&s.namespace)
                    && selects(&sel, &labels(&s.value["metadata"]["labels"]))
            })
            .collect();
        if matched.is_empty() {
            out.push(finding(
                sm,
                "dangling-servicemonitor",
                format!("selector {sel:?} matches no Service's labels"),
            ));
            continue;
        }
        for ep in sm.value["spec"]["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let Some(port) = ep["port"].as_str() else {
                continue;
            };
            let named = matched.iter().any(|s| {
                s.value["spec"]["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["name"].as_str() == Some(port))
            });
            if !named {
                out.push(finding(
                    sm,
                    "dangling-servicemonitor",
                    format!("endpoint port {port:?} is not a port name of the selected Service"),
                ));
            }
        }
    }
}

fn hpa_min(objects: &[Object], w: &Object) -> Option<i64> {
    objects
        .iter()
        .filter(|o| o.kind == "HorizontalPodAutoscaler" && o.namespace == w.namespace)
        .find(|o| o.value["spec"]["scaleTargetRef"]["name"].as_str() == Some(&w.name))
        .map(|o| o.value["spec"]["minReplicas"].as_i64().unwrap_or(1))
}

fn containers(pod: &Value) -> impl Iterator<Item = &Value> {
    pod["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(pod["initContainers"].as_array().into_iter().flatten())
}

fn declares_port(pod: &Value, port: &Value) -> bool {
    pod["containers"].as_array().into_iter().flatten().any(|c| {
        c["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| match port {
                Value::String(name) => p["name"].as_str() == Some(name.as_str()),
                Value::Number(n) => p["containerPort"].as_i64() == n.as_i64(),
                _ => false,
            })
    })
}

fn lint_pod(o: &Object, pod: &Value, out: &mut Vec<Finding>) {
    let psc = &pod["securityContext"];
    for c in containers(pod) {
        let name = c["name"].as_str().unwrap_or("?");
        let sc = &c["securityContext"];
        let at = |what: &str| format!("container {name:?}: {what}");
        let user = sc["runAsUser"]
            .as_i64()
            .or_else(|| psc["runAsUser"].as_i64());
        let non_root = if sc["runAsNonRoot"].is_boolean() {
            is_true(&sc["runAsNonRoot"])
        } else {
            is_true(&psc["runAsNonRoot"])
        };
        if user == Some(0) {
            out.push(finding(o, "run-as-non-root", at("runAsUser is 0 (root)")));
        } else if !non_root {
            out.push(finding(
                o,
                "run-as-non-root",
                at("runAsNonRoot is not true"),
            ));
        }
        if is_true(&sc["privileged"]) {
            out.push(finding(o, "privileged-container", at("privileged: true")));
        }
        if sc["allowPrivilegeEscalation"].as_bool() != Some(false) {
            out.push(finding(
                o,
                "privilege-escalation-container",
                at("allowPrivilegeEscalation is not false"),
            ));
        }
        let drops_all = sc["capabilities"]["drop"]
            .as_array()
            .is_some_and(|d| d.iter().any(|v| v.as_str() == Some("ALL")));
        if !drops_all {
            out.push(finding(
                o,
                "insecureCapabilities",
                at("capabilities.drop does not contain ALL"),
            ));
        }
        let seccomp = sc["seccompProfile"]["type"]
            .as_str()
            .or_else(|| psc["seccompProfile"]["type"].as_str());
        if !matches!(seccomp, Some("RuntimeDefault") | Some("Localhost")) {
            out.push(finding(
                o,
                "container-seccomp-profile",
                at("seccompProfile is not RuntimeDefault"),
            ));
        }
        if !is_true(&sc["readOnlyRootFilesystem"]) {
            out.push(finding(
                o,
                "no-read-only-root-fs",
                at("readOnlyRootFilesystem is not true"),
            ));
        }
        let is_init = pod["initContainers"]
            .as_array()
            .is_some_and(|a| a.iter().any(|i| i["name"] == c["name"]));
        if !is_init {
            for (field, missing, port_rule) in [
                ("livenessProbe", Some("no-liveness-probe"), "liveness-port"),
                (
                    "readinessProbe",
                    Some("no-readiness-probe"),
                    "readiness-port",
                ),
                ("startupProbe", None, "startup-port"),
            ] {
                let probe = &c[field];
                if probe.is_null() {
                    if let Some(rule) = missing {
                        out.push(finding(o, rule, at(&format!("no {field}"))));
                    }
                    continue;
                }
                let port = ["httpGet", "grpc", "tcpSocket"]
                    .iter()
                    .map(|kind| &probe[kind])
                    .find(|action| action.is_object())
                    .map_or(&Value::Null, |action| &action["port"]);
                if !port.is_null() && !declares_port(&json!({ "containers": [c] }), port) {
                    out.push(finding(
                        o,
                        port_rule,
                        at(&format!("{field} port {port} is not declared")),
                    ));
                }
            }
            if !c["livenessProbe"].is_null() && c["livenessProbe"] == c["readinessProbe"] {
                out.push(finding(
                    o,
                    "pod-probes-identical",
                    at("livenessProbe equals readinessProbe"),
                ));
            }
        }
        let res = &c["resources"];
        if res["requests"]["cpu"].is_null() {
            out.push(finding(
                o,
                "unset-cpu-requirements",
                at("no resources.requests.cpu"),
            ));
        }
        if res["requests"]["memory"].is_null() || res["limits"]["memory"].is_null() {
            out.push(finding(
                o,
                "unset-memory-requirements",
                at("no memory request or limit"),
            ));
        }
        let image = c["image"].as_str().unwrap_or_default();
        if !pinned(image) {
            out.push(finding(
                o,
                "latest-tag",
                at(&format!("image {image:?} is not pinned")),
            ));
        }
        for env in c["env"].as_array().into_iter().flatten() {
            let n = env["name"].as_str().unwrap_or_default();
            if env["value"].is_string() && super::looks_secret(n) {
                out.push(finding(
                    o,
                    "env-var-secret",
                    at(&format!("env {n} has a literal value")),
                ));
            }
        }
    }
}

/// A digest, or a tag other than `latest`.
fn pinned(image: &str) -> bool {
    if image.contains("@sha256:") {
        return true;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) => !tag.is_empty() && tag != "latest",
        None => false,
    }
}

/// The findings as text, one per line, then a summary line.
pub fn text(report: &Report) -> String {
    let mut s = String::new();
    for f in &report.findings {
        s.push_str(&format!(
            "{}[{}] {} ({}): {}\n  fix: {}\n",
            level(f.severity),
            f.rule,
            f.object,
            f.file,
            f.message,
            f.fix
        ));
    }
    s.push_str(&format!(
        "{} objects checked: {} errors, {} warnings\n",
        report.objects, report.errors, report.warnings
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::{render, tests::full_spec};

    fn rendered() -> Vec<(String, String)> {
        render(&full_spec())
            .unwrap()
            .files
            .into_iter()
            .filter(|f| f.path.ends_with(".yaml") || f.path.ends_with(".yml"))
            .map(|f| (f.path, f.contents))
            .collect()
    }

    #[test]
    fn rendered_set_has_no_findings() {
        let report = check(&rendered()).unwrap();
        assert_eq!(report.findings, vec![], "{}", text(&report));
        assert!(report.objects >= 10);
    }

    fn edit(files: &mut [(String, String)], path: &str, from: &str, to: &str) {
        let f = files.iter_mut().find(|(p, _)| p == path).unwrap();
        assert!(f.1.contains(from), "{from} not in {path}");
        f.1 = f.1.replacen(from, to, 1);
    }

    fn rules(report: &Report) -> BTreeSet<&'static str> {
        report.findings.iter().map(|f| f.rule).collect()
    }

    #[test]
    fn a_grpc_readiness_probe_on_an_undeclared_port_is_found() {
        let spec = crate::manifests::Spec {
            grpc: true,
            ..full_spec()
        };
        let mut files: Vec<(String, String)> = render(&spec)
            .unwrap()
            .files
            .into_iter()
            .filter(|f| f.path.ends_with(".yaml"))
            .map(|f| (f.path, f.contents))
            .collect();
        let report = check(&files).unwrap();
        assert!(report.findings.is_empty(), "{}", text(&report));
        let f = files
            .iter_mut()
            .find(|(p, _)| p == "base/deployment.yaml")
            .unwrap();
        let mut d: Value = serde_norway::from_str(&f.1).unwrap();
        d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["port"] =
            json!(9999);
        f.1 = serde_norway::to_string(&d).unwrap();
        let report = check(&files).unwrap();
        assert!(
            rules(&report).contains("readiness-port"),
            "{}",
            text(&report)
        );
    }

    #[test]
    fn hand_edits_with_the_usual_mistakes_are_found() {
        let mut files = rendered();
        // A selector typo in the Service (its selector comes after its labels).
        let svc = files
            .iter_mut()
            .find(|(p, _)| p == "base/service.yaml")
            .unwrap();
        let at = svc.1.rfind("app.kubernetes.io/name: orders").unwrap();
        svc.1
            .replace_range(at..at + 30, "app.kubernetes.io/name: order");
        // A missing readiness probe.
        let f = files
            .iter_mut()
            .find(|(p, _)| p == "base/deployment.yaml")
            .unwrap();
        let mut d: Value = serde_norway::from_str(&f.1).unwrap();
        let c = &mut d["spec"]["template"]["spec"]["containers"][0];
        c.as_object_mut().unwrap().remove("readinessProbe");
        c["securityContext"]["runAsUser"] = json!(0);
        c["securityContext"]["runAsNonRoot"] = json!(false);
        c["image"] = json!("orders:latest");
        f.1 = serde_norway::to_string(&d).unwrap();
        let report = check(&files).unwrap();
        let got = rules(&report);
        for want in [
            "dangling-service",
            "no-readiness-probe",
            "run-as-non-root",
            "latest-tag",
        ] {
            assert!(got.contains(want), "{want} missing in {}", text(&report));
        }
        assert!(report.has_errors());
        let svc = report
            .findings
            .iter()
            .find(|f| f.rule == "dangling-service")
            .unwrap();
        assert_eq!(svc.object, "Service/shop/orders");
        assert_eq!(svc.file, "base/service.yaml");
    }

    #[test]
    fn replicas_beside_an_hpa_and_a_strict_pdb_are_found() {
        let mut files = rendered();
        edit(
            &mut files,
            "base/deployment.yaml",
            "  revisionHistoryLimit: 5",
            "  replicas: 2\n  revisionHistoryLimit: 5",
        );
        edit(
            &mut files,
            "base/poddisruptionbudget.yaml",
            "maxUnavailable: 1",
            "maxUnavailable: 0",
        );
        edit(
            &mut files,
            "components/monitoring/servicemonitor.yaml",
            "port: http",
            "port: metrics",
        );
        let got = rules(&check(&files).unwrap());
        for want in [
            "deployment-targeted-by-hpa-does-not-have-replicas-configured",
            "pdb-max-unavailable",
            "dangling-servicemonitor",
        ] {
            assert!(got.contains(want), "{want} missing: {got:?}");
        }
    }

    #[test]
    fn sarif_names_rules_and_files() {
        let mut files = rendered();
        edit(
            &mut files,
            "base/service.yaml",
            "targetPort: http",
            "targetPort: web",
        );
        let report = check(&files).unwrap();
        let sarif = report.sarif();
        assert_eq!(sarif["version"], "2.1.0");
        let result = &sarif["runs"][0]["results"][0];
        assert_eq!(result["ruleId"], "invalid-target-ports");
        assert_eq!(
            result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "base/service.yaml"
        );
    }

    #[test]
    fn pinned_images() {
        assert!(pinned("r/o@sha256:ab"));
        assert!(pinned("registry:5000/o:1.2"));
        assert!(!pinned("registry:5000/o"));
        assert!(!pinned("o:latest"));
    }
}
