//! The rendered file set: a kustomize base with one object per file, dev and prod overlays,
//! plain Prometheus files with their promtool tests, and the Grafana dashboard — in a stable
//! order, so the same input always gives the same bytes.
use serde::Serialize;
use serde_json::json;

use super::monitoring::{self, Discovery};
use super::{dashboard, slo, workload, ManifestError, Spec};

/// One file of the set, its path relative to the output folder (always `/`-separated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedFile {
    pub path: String,
    /// The object's kind, for Kubernetes objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip)]
    pub contents: String,
}

/// The whole set, in write order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub files: Vec<RenderedFile>,
}

impl Rendered {
    /// The Kubernetes objects of the base, as one multi-document YAML stream (for `--out -`).
    pub fn base_stream(&self) -> String {
        let mut out = String::new();
        for f in self.base_objects() {
            out.push_str("---\n");
            out.push_str(&format!("# Source: {}\n", f.path));
            out.push_str(&f.contents);
        }
        out
    }

    /// The files that hold one Kubernetes object each of the base and of the monitoring
    /// component (not the kustomizations): what plain `hale deploy` applies.
    pub fn base_objects(&self) -> impl Iterator<Item = &RenderedFile> {
        self.files.iter().filter(|f| {
            (f.path.starts_with("base/") || f.path.starts_with(MONITORING_COMPONENT))
                && f.kind
                    .as_deref()
                    .is_some_and(|k| k != "Kustomization" && k != "Component")
        })
    }

    pub fn get(&self, path: &str) -> Option<&RenderedFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

pub(crate) fn yaml<T: Serialize>(what: &str, value: &T) -> Result<String, ManifestError> {
    serde_norway::to_string(value).map_err(|source| ManifestError::Yaml {
        what: what.into(),
        source,
    })
}

struct Builder {
    files: Vec<RenderedFile>,
}

impl Builder {
    fn object<T: Serialize>(
        &mut self,
        path: &str,
        kind: &str,
        value: &T,
    ) -> Result<(), ManifestError> {
        let contents = yaml(path, value)?;
        self.files.push(RenderedFile {
            path: path.into(),
            kind: Some(kind.into()),
            contents,
        });
        Ok(())
    }

    fn text(&mut self, path: &str, contents: String) {
        self.files.push(RenderedFile {
            path: path.into(),
            kind: None,
            contents,
        });
    }
}

const KUSTOMIZE_API: &str = "kustomize.config.k8s.io/v1beta1";
const KUSTOMIZE_COMPONENT_API: &str = "kustomize.config.k8s.io/v1alpha1";

/// Render every file from a validated spec. Validates first; nothing here touches the disk.
/// The kustomize component holding the Prometheus operator's objects (ServiceMonitor,
/// PrometheusRule): outside the base, so `kubectl apply -k base` works on a cluster without
/// the operator's CRDs; both overlays include it.
pub const MONITORING_COMPONENT: &str = "components/monitoring/";

pub fn render(spec: &Spec) -> Result<Rendered, ManifestError> {
    spec.validate()?;
    let mut b = Builder { files: Vec::new() };
    let mut base = Vec::new();
    let mut add = |b: &mut Builder, file: &str, kind: &str, r: Result<String, ManifestError>| {
        let contents = r?;
        b.files.push(RenderedFile {
            path: format!("base/{file}"),
            kind: Some(kind.into()),
            contents,
        });
        base.push(file.to_string());
        Ok::<(), ManifestError>(())
    };
    if let Some(ns) = workload::namespace(spec) {
        add(
            &mut b,
            "namespace.yaml",
            "Namespace",
            yaml("Namespace", &ns),
        )?;
    }
    add(
        &mut b,
        "serviceaccount.yaml",
        "ServiceAccount",
        yaml("ServiceAccount", &workload::service_account(spec)),
    )?;
    add(
        &mut b,
        "configmap.yaml",
        "ConfigMap",
        yaml("ConfigMap", &workload::config_map(spec)),
    )?;
    add(
        &mut b,
        "deployment.yaml",
        "Deployment",
        yaml("Deployment", &workload::deployment(spec)),
    )?;
    add(
        &mut b,
        "service.yaml",
        "Service",
        yaml("Service", &workload::service(spec)),
    )?;
    add(
        &mut b,
        "poddisruptionbudget.yaml",
        "PodDisruptionBudget",
        yaml(
            "PodDisruptionBudget",
            &workload::pod_disruption_budget(spec),
        ),
    )?;
    if let Some(hpa) = workload::horizontal_pod_autoscaler(spec) {
        add(
            &mut b,
            "horizontalpodautoscaler.yaml",
            "HorizontalPodAutoscaler",
            yaml("HorizontalPodAutoscaler", &hpa),
        )?;
    }
    if let Some(np) = workload::network_policy(spec) {
        add(
            &mut b,
            "networkpolicy.yaml",
            "NetworkPolicy",
            yaml("NetworkPolicy", &np),
        )?;
    }
    let board = dashboard::dashboard(spec);
    let board_json = dashboard_json(&board)?;
    add(
        &mut b,
        "grafana-dashboard.yaml",
        "ConfigMap",
        yaml(
            "dashboard ConfigMap",
            &dashboard_config_map(spec, &board_json),
        ),
    )?;
    b.object(
        "base/kustomization.yaml",
        "Kustomization",
        &json!({
            "apiVersion": KUSTOMIZE_API,
            "kind": "Kustomization",
            "resources": base,
        }),
    )?;
    b.object(
        &format!("{MONITORING_COMPONENT}servicemonitor.yaml"),
        "ServiceMonitor",
        &monitoring::service_monitor(spec),
    )?;
    b.object(
        &format!("{MONITORING_COMPONENT}prometheusrule.yaml"),
        "PrometheusRule",
        &monitoring::prometheus_rule(spec),
    )?;
    b.object(
        &format!("{MONITORING_COMPONENT}kustomization.yaml"),
        "Component",
        &json!({
            "apiVersion": KUSTOMIZE_COMPONENT_API,
            "kind": "Component",
            "resources": ["servicemonitor.yaml", "prometheusrule.yaml"],
        }),
    )?;
    overlays(&mut b, spec)?;
    b.text(
        "prometheus/rules.yml",
        yaml("rules", &monitoring::rules_file(spec))?,
    );
    b.text(
        "prometheus/rules.test.yml",
        yaml(
            "rule tests",
            &slo::rule_tests(
                &spec.name,
                &spec.slos,
                "rules.yml",
                &monitoring::plain_alerts(spec),
            ),
        )?,
    );
    for d in Discovery::ALL {
        b.text(
            &format!("prometheus/{}", d.file_name()),
            yaml(
                "prometheus.yml",
                &monitoring::prometheus_config(spec, d, &spec.scrape_targets, "rules.yml"),
            )?,
        );
    }
    b.text("grafana/dashboard.json", board_json);
    Ok(Rendered { files: b.files })
}

fn dashboard_json(board: &dashboard::Dashboard) -> Result<String, ManifestError> {
    let mut s = serde_json::to_string_pretty(board).map_err(|source| ManifestError::Json {
        what: "dashboard".into(),
        source,
    })?;
    s.push('\n');
    Ok(s)
}

fn dashboard_config_map(spec: &Spec, board_json: &str) -> k8s_openapi::api::core::v1::ConfigMap {
    let mut labels = spec.labels();
    // The Grafana sidecar (kube-prometheus-stack) loads ConfigMaps with this label.
    labels.insert("grafana_dashboard".into(), "1".into());
    k8s_openapi::api::core::v1::ConfigMap {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(format!("{}-dashboard", spec.name)),
            namespace: spec.namespace.clone(),
            labels: Some(labels),
            ..Default::default()
        },
        data: Some(std::collections::BTreeMap::from([(
            format!("{}.json", spec.name),
            board_json.to_string(),
        )])),
        ..Default::default()
    }
}

/// An overlay's differences from the base.
struct Overlay {
    name: &'static str,
    replicas: u32,
    max_replicas: u32,
    cpu_request: &'static str,
    memory_request: &'static str,
    memory_limit: &'static str,
    /// Objectives to use instead of the base's (`None`: the base's).
    slos: Option<Vec<slo::Slo>>,
}

fn overlays(b: &mut Builder, spec: &Spec) -> Result<(), ManifestError> {
    let base_max = spec
        .autoscale
        .as_ref()
        .map_or(spec.replicas, |a| a.max_replicas);
    let list = [
        Overlay {
            name: "dev",
            replicas: 1,
            max_replicas: 2,
            cpu_request: "50m",
            memory_request: "32Mi",
            memory_limit: "64Mi",
            // Dev pages nobody at the production objective: one nine less.
            slos: Some(spec.slos.iter().map(slo::Slo::loosened).collect()),
        },
        Overlay {
            name: "prod",
            replicas: spec.replicas.max(3),
            max_replicas: base_max.max(10),
            cpu_request: "250m",
            memory_request: "128Mi",
            memory_limit: "256Mi",
            slos: None,
        },
    ];
    for o in list {
        let dir = format!("overlays/{}", o.name);
        let target_meta = |kind_name: &str| {
            let mut m = json!({ "name": kind_name });
            if let Some(ns) = &spec.namespace {
                m["namespace"] = json!(ns);
            }
            m
        };
        let mut patches = Vec::new();
        let mut deployment_spec = json!({
            "template": { "spec": { "containers": [{
                "name": spec.name,
                "resources": {
                    "requests": { "cpu": o.cpu_request, "memory": o.memory_request },
                    "limits": { "memory": o.memory_limit },
                },
            }]}},
        });
        if spec.autoscale.is_none() {
            deployment_spec["replicas"] = json!(o.replicas);
        }
        b.object(
            &format!("{dir}/deployment-patch.yaml"),
            "Deployment",
            &json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": target_meta(&spec.name),
                "spec": deployment_spec,
            }),
        )?;
        patches.push(json!({ "path": "deployment-patch.yaml" }));
        if spec.autoscale.is_some() {
            b.object(
                &format!("{dir}/hpa-patch.yaml"),
                "HorizontalPodAutoscaler",
                &json!({
                    "apiVersion": "autoscaling/v2",
                    "kind": "HorizontalPodAutoscaler",
                    "metadata": target_meta(&spec.name),
                    "spec": { "minReplicas": o.replicas, "maxReplicas": o.max_replicas },
                }),
            )?;
            patches.push(json!({ "path": "hpa-patch.yaml" }));
        }
        if let Some(slos) = o.slos.filter(|s| !s.is_empty()) {
            let groups = slo::rule_groups(&spec.name, &slos, &monitoring::operator_alerts(spec));
            b.object(
                &format!("{dir}/prometheusrule-patch.yaml"),
                "PrometheusRule",
                &json!({
                    "apiVersion": monitoring::MONITORING_API,
                    "kind": "PrometheusRule",
                    "metadata": target_meta(&spec.name),
                    "spec": { "groups": groups },
                }),
            )?;
            patches.push(json!({ "path": "prometheusrule-patch.yaml" }));
        }
        b.object(
            &format!("{dir}/kustomization.yaml"),
            "Kustomization",
            &json!({
                "apiVersion": KUSTOMIZE_API,
                "kind": "Kustomization",
                "resources": ["../../base"],
                "components": ["../../components/monitoring"],
                "patches": patches,
            }),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::tests::full_spec;

    #[test]
    fn same_input_gives_identical_bytes() {
        let a = render(&full_spec()).unwrap();
        let b = render(&full_spec()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn every_object_carries_the_app_labels() {
        let set = render(&full_spec()).unwrap();
        for f in set.files.iter().filter(|f| f.path.starts_with("base/")) {
            if f.kind.as_deref() == Some("Kustomization") {
                continue;
            }
            for key in [
                "app.kubernetes.io/name",
                "app.kubernetes.io/instance",
                "app.kubernetes.io/managed-by",
                "app.kubernetes.io/version",
            ] {
                assert!(f.contents.contains(key), "{} lacks {key}", f.path);
            }
        }
    }

    #[test]
    fn base_objects_round_trip_through_k8s_openapi() {
        use k8s_openapi::api::apps::v1::Deployment;
        use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
        use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
        use k8s_openapi::api::networking::v1::NetworkPolicy;
        use k8s_openapi::api::policy::v1::PodDisruptionBudget;
        fn round<T: serde::de::DeserializeOwned + Serialize>(text: &str) {
            let obj: T = serde_norway::from_str(text).unwrap();
            assert_eq!(serde_norway::to_string(&obj).unwrap(), text);
        }
        let set = render(&full_spec()).unwrap();
        for f in &set.files {
            let t = f.contents.as_str();
            match (f.path.as_str(), f.kind.as_deref()) {
                (p, Some("Deployment")) if p.starts_with("base/") => round::<Deployment>(t),
                (p, Some("Service")) if p.starts_with("base/") => round::<Service>(t),
                (p, Some("ServiceAccount")) if p.starts_with("base/") => round::<ServiceAccount>(t),
                (p, Some("ConfigMap")) if p.starts_with("base/") => round::<ConfigMap>(t),
                (p, Some("Namespace")) if p.starts_with("base/") => round::<Namespace>(t),
                (p, Some("PodDisruptionBudget")) if p.starts_with("base/") => {
                    round::<PodDisruptionBudget>(t)
                }
                (p, Some("HorizontalPodAutoscaler")) if p.starts_with("base/") => {
                    round::<HorizontalPodAutoscaler>(t)
                }
                (p, Some("NetworkPolicy")) if p.starts_with("base/") => round::<NetworkPolicy>(t),
                _ => {}
            }
        }
    }
}
