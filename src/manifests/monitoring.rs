//! Prometheus objects: the operator's ServiceMonitor and PrometheusRule (monitoring.coreos.com/v1,
//! as serde structs: no maintained crate types them), and plain prometheus.yml files for
//! static, consul_sd and kubernetes_sd discovery.
use std::collections::BTreeMap;

use serde::Serialize;

use super::sli::Series;
use super::slo::{rule_groups, AlertContext, RuleGroup};
use super::workload::PORT_NAME;
use super::Spec;

/// The operator's API group and version.
pub const MONITORING_API: &str = "monitoring.coreos.com/v1";

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitor {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: Metadata,
    pub spec: ServiceMonitorSpec,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    pub selector: MatchLabels,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<NamespaceSelector>,
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchLabels {
    pub match_labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    pub match_names: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub port: String,
    pub path: String,
    pub interval: String,
    pub scrape_timeout: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusRule {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: Metadata,
    pub spec: PrometheusRuleSpec,
}

#[derive(Debug, Clone, Serialize)]
pub struct PrometheusRuleSpec {
    pub groups: Vec<RuleGroup>,
}

/// A plain Prometheus rules file (`groups:`), the form promtool reads.
#[derive(Debug, Clone, Serialize)]
pub struct RulesFile {
    pub groups: Vec<RuleGroup>,
}

/// Labels of the operator objects: the service's, plus the one the Prometheus selects by.
fn operator_meta(spec: &Spec, name: String) -> Metadata {
    let mut labels = spec.labels();
    let (k, v) = &spec.prometheus_label;
    labels.insert(k.clone(), v.clone());
    Metadata {
        name,
        namespace: spec.namespace.clone(),
        labels,
    }
}

pub fn service_monitor(spec: &Spec) -> ServiceMonitor {
    ServiceMonitor {
        api_version: MONITORING_API,
        kind: "ServiceMonitor",
        metadata: operator_meta(spec, spec.name.clone()),
        spec: ServiceMonitorSpec {
            selector: MatchLabels {
                match_labels: spec.selector_labels(),
            },
            namespace_selector: spec.namespace.as_ref().map(|ns| NamespaceSelector {
                match_names: vec![ns.clone()],
            }),
            endpoints: vec![Endpoint {
                port: PORT_NAME.into(),
                path: "/metrics".into(),
                interval: "30s".into(),
                scrape_timeout: "10s".into(),
            }],
        },
    }
}

/// The alerts' context under the Prometheus operator: the scraped series carry the Service's
/// namespace (when the set names one), so a same-named service elsewhere cannot hide this one.
pub fn operator_alerts(spec: &Spec) -> AlertContext {
    AlertContext {
        series: Series::of(spec.grpc),
        namespace: spec.namespace.clone(),
        runbook_base: spec.runbook_base.clone(),
    }
}

/// The alerts' context of the plain prometheus.yml files, whose scrapes add no namespace.
pub fn plain_alerts(spec: &Spec) -> AlertContext {
    AlertContext {
        series: Series::of(spec.grpc),
        namespace: None,
        runbook_base: spec.runbook_base.clone(),
    }
}

pub fn prometheus_rule(spec: &Spec) -> PrometheusRule {
    PrometheusRule {
        api_version: MONITORING_API,
        kind: "PrometheusRule",
        metadata: operator_meta(spec, spec.name.clone()),
        spec: PrometheusRuleSpec {
            groups: rule_groups(&spec.name, &spec.slos, &operator_alerts(spec)),
        },
    }
}

pub fn rules_file(spec: &Spec) -> RulesFile {
    RulesFile {
        groups: rule_groups(&spec.name, &spec.slos, &plain_alerts(spec)),
    }
}

/// A prometheus.yml for people without the operator.
#[derive(Debug, Clone, Serialize)]
pub struct PrometheusConfig {
    pub global: Global,
    pub rule_files: Vec<String>,
    pub scrape_configs: Vec<ScrapeConfig>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Global {
    pub scrape_interval: String,
    pub evaluation_interval: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScrapeConfig {
    pub job_name: String,
    pub metrics_path: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub static_configs: Vec<StaticConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consul_sd_configs: Vec<ConsulSd>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kubernetes_sd_configs: Vec<KubernetesSd>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub relabel_configs: Vec<Relabel>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StaticConfig {
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsulSd {
    pub server: String,
    pub services: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KubernetesSd {
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Names>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Names {
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Relabel {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_labels: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

/// How the plain Prometheus finds the instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    Static,
    Consul,
    Kubernetes,
}

impl Discovery {
    pub const ALL: [Discovery; 3] = [Discovery::Static, Discovery::Consul, Discovery::Kubernetes];

    pub fn file_name(self) -> &'static str {
        match self {
            Discovery::Static => "prometheus-static.yml",
            Discovery::Consul => "prometheus-consul.yml",
            Discovery::Kubernetes => "prometheus-kubernetes.yml",
        }
    }
}

/// A prometheus.yml scraping the service, its rules file beside it.
pub fn prometheus_config(
    spec: &Spec,
    discovery: Discovery,
    static_targets: &[String],
    rules_file: &str,
) -> PrometheusConfig {
    let mut scrape = ScrapeConfig {
        job_name: spec.name.clone(),
        metrics_path: "/metrics".into(),
        static_configs: Vec::new(),
        consul_sd_configs: Vec::new(),
        kubernetes_sd_configs: Vec::new(),
        relabel_configs: Vec::new(),
    };
    let keep = |label: &str, regex: &str| Relabel {
        source_labels: vec![label.into()],
        regex: Some(regex.into()),
        action: "keep".into(),
        target_label: None,
        replacement: None,
    };
    let copy = |label: &str, target: &str| Relabel {
        source_labels: vec![label.into()],
        regex: None,
        action: "replace".into(),
        target_label: Some(target.into()),
        replacement: None,
    };
    match discovery {
        Discovery::Static => {
            let targets = if static_targets.is_empty() {
                vec![format!("127.0.0.1:{}", spec.port)]
            } else {
                static_targets.to_vec()
            };
            scrape.static_configs.push(StaticConfig { targets });
        }
        Discovery::Consul => {
            let server = spec
                .registry
                .as_deref()
                .and_then(|r| r.strip_prefix("consul://"))
                .map(|r| r.trim_end_matches('/').to_string())
                .unwrap_or_else(|| "127.0.0.1:8500".into());
            scrape.consul_sd_configs.push(ConsulSd {
                server,
                services: vec![spec.name.clone()],
            });
            scrape
                .relabel_configs
                .push(copy("__meta_consul_service_id", "consul_service_id"));
        }
        Discovery::Kubernetes => {
            scrape.kubernetes_sd_configs.push(KubernetesSd {
                role: "endpointslice".into(),
                namespaces: spec.namespace.as_ref().map(|ns| Names {
                    names: vec![ns.clone()],
                }),
            });
            scrape.relabel_configs = vec![
                keep(
                    "__meta_kubernetes_service_label_app_kubernetes_io_name",
                    &spec.name,
                ),
                keep("__meta_kubernetes_endpointslice_port_name", PORT_NAME),
                copy("__meta_kubernetes_namespace", "kubernetes_namespace"),
                copy("__meta_kubernetes_pod_name", "kubernetes_pod"),
            ];
        }
    }
    PrometheusConfig {
        global: Global {
            scrape_interval: "15s".into(),
            evaluation_interval: "15s".into(),
        },
        rule_files: vec![rules_file.into()],
        scrape_configs: vec![scrape],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::slo::{up_labels, ALERT_ABSENT};
    use crate::manifests::tests::full_spec;
    use crate::manifests::workload;

    fn absent_expr(groups: &[RuleGroup]) -> String {
        groups
            .iter()
            .flat_map(|g| &g.rules)
            .find(|r| r.alert.as_deref() == Some(ALERT_ABSENT))
            .map(|r| r.expr.clone())
            .unwrap()
    }

    /// The labels absent() asks for are the ones each scrape writes: every plain prometheus.yml
    /// names its job after the service; the operator takes `job` from the Service's name (the
    /// ServiceMonitor sets no jobLabel) and `namespace` from the Service's namespace, which the
    /// monitor selects.
    #[test]
    fn the_absent_alert_asks_for_the_labels_every_scrape_writes() {
        let spec = full_spec();
        let plain = up_labels(&spec.name, &plain_alerts(&spec));
        for d in Discovery::ALL {
            let config = prometheus_config(&spec, d, &[], "rules.yml");
            assert_eq!(config.scrape_configs[0].job_name, plain["job"], "{d:?}");
            assert_eq!(plain.len(), 1, "nothing but job: {plain:?}");
        }
        assert_eq!(
            absent_expr(&rules_file(&spec).groups),
            format!("absent(up{{job=\"{}\"}})", spec.name)
        );

        let operator = up_labels(&spec.name, &operator_alerts(&spec));
        let service = workload::service(&spec);
        assert_eq!(
            service.metadata.name.as_deref(),
            Some(operator["job"].as_str())
        );
        assert_eq!(
            service.metadata.namespace.as_ref(),
            Some(&operator["namespace"])
        );
        let monitor = service_monitor(&spec);
        assert_eq!(
            monitor.spec.namespace_selector.unwrap().match_names,
            vec![operator["namespace"].clone()]
        );
        assert_eq!(
            absent_expr(&prometheus_rule(&spec).spec.groups),
            format!(
                "absent(up{{job=\"{}\",namespace=\"{}\"}})",
                spec.name, operator["namespace"]
            )
        );
        // No namespace in the set: the operator's scrapes' namespace is unknown, job alone.
        let loose = Spec {
            namespace: None,
            ..full_spec()
        };
        assert_eq!(
            absent_expr(&prometheus_rule(&loose).spec.groups),
            format!("absent(up{{job=\"{}\"}})", loose.name)
        );
    }
}
