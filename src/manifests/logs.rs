//! Log shipping for a rendered set (`hale deploy --logs loki|elastic`): what a cluster's log
//! pipeline needs to pick up the service's JSON lines and keep their fields, added to the pods
//! and rendered beside the manifests (docs/commands/deploy.md, "Logs").
//!
//! - `elastic`: Filebeat's autodiscover hints, pod annotations Filebeat (and Elastic Agent)
//!   read when `hints.enabled` is on: so nothing per service goes into the shipper's config.
//!   The container logs Elastic Common Schema (`LOG_FORMAT=ecs`), so the fields land under
//!   their ECS names (`@timestamp`, `log.level`, `trace.id`, `http.request.method`).
//!   `logging/filebeat.yml` is the autodiscover provider to merge into Filebeat's config once.
//! - `loki`: Promtail and Grafana Alloy have no hints: the pipeline is their config. The pods
//!   carry the annotation `hale.dev/logs: loki`, and `logging/loki.alloy` is the Grafana Alloy
//!   config (Promtail's successor) that discovers pods so annotated, keeps namespace, pod,
//!   container and app as labels, parses the JSON line, makes `level` a label and `trace_id`
//!   structured metadata (high-cardinality values do not belong in Loki labels), and takes the
//!   line's own `time`.
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::EnvVar;

use super::layout::yaml;
use super::{ManifestError, Rendered, RenderedFile};

/// The log pipeline to render for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogShipper {
    /// Grafana Loki, through Grafana Alloy (pods annotated, logging/loki.alloy).
    Loki,
    /// Elasticsearch, through Filebeat's (or Elastic Agent's) autodiscover hints.
    Elastic,
}

/// The pod annotation the Loki pipeline selects pods by.
pub const LOKI_ANNOTATION: &str = "hale.dev/logs";

/// The Deployment file of the base, which gets the annotations and environment.
const DEPLOYMENT: &str = "base/deployment.yaml";

/// Filebeat's hints for the service's lines: one JSON object per line, its keys at the root
/// of the event (dotted ECS keys expanded into objects), the line's own `@timestamp` and
/// `message` winning over Filebeat's, a parse error kept on the event rather than dropped.
const FILEBEAT_HINTS: &[(&str, &str)] = &[
    ("co.elastic.logs/enabled", "true"),
    ("co.elastic.logs/json.add_error_key", "true"),
    ("co.elastic.logs/json.expand_keys", "true"),
    ("co.elastic.logs/json.keys_under_root", "true"),
    ("co.elastic.logs/json.message_key", "message"),
    ("co.elastic.logs/json.overwrite_keys", "true"),
];

/// `set` with what `shipper` needs; `None` leaves it as it is.
pub fn with_shipping(
    mut set: Rendered,
    shipper: Option<LogShipper>,
) -> Result<Rendered, ManifestError> {
    let Some(shipper) = shipper else {
        return Ok(set);
    };
    let file = set
        .files
        .iter_mut()
        .find(|f| f.path == DEPLOYMENT)
        .ok_or_else(|| ManifestError::invalid(format!("the set has no {DEPLOYMENT}")))?;
    let mut deployment: Deployment =
        serde_norway::from_str(&file.contents).map_err(|source| ManifestError::Yaml {
            what: DEPLOYMENT.into(),
            source,
        })?;
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let pod = deployment
        .spec
        .as_mut()
        .map(|s| &mut s.template)
        .ok_or_else(|| ManifestError::invalid(format!("{DEPLOYMENT} has no pod template")))?;
    let annotations = pod
        .metadata
        .get_or_insert_with(Default::default)
        .annotations
        .get_or_insert_with(Default::default);
    let extra = match shipper {
        LogShipper::Elastic => {
            for (k, v) in FILEBEAT_HINTS {
                annotations.insert((*k).into(), (*v).into());
            }
            let containers = pod
                .spec
                .as_mut()
                .map(|s| &mut s.containers)
                .ok_or_else(|| ManifestError::invalid(format!("{DEPLOYMENT} has no pod spec")))?;
            for c in containers.iter_mut().filter(|c| c.name == name) {
                let env = c.env.get_or_insert_with(Vec::new);
                env.retain(|e| e.name != "LOG_FORMAT");
                env.push(EnvVar {
                    name: "LOG_FORMAT".into(),
                    value: Some("ecs".into()),
                    ..Default::default()
                });
            }
            RenderedFile {
                path: "logging/filebeat.yml".into(),
                kind: None,
                contents: filebeat_config(),
            }
        }
        LogShipper::Loki => {
            annotations.insert(LOKI_ANNOTATION.into(), "loki".into());
            RenderedFile {
                path: "logging/loki.alloy".into(),
                kind: None,
                contents: alloy_config(&name),
            }
        }
    };
    file.contents = yaml("Deployment", &deployment)?;
    set.files.push(extra);
    Ok(set)
}

/// Filebeat's autodiscover provider with hints on and nothing collected by default: only pods
/// that carry `co.elastic.logs/enabled: "true"` are read.
fn filebeat_config() -> String {
    "# Merge into Filebeat's filebeat.yml (the DaemonSet's config), once per cluster: every pod\n\
     # rendered with `hale deploy --logs elastic` is then read by its annotations (hints).\n\
     # NODE_NAME comes from the DaemonSet (fieldRef spec.nodeName), as in Elastic's manifests.\n\
     filebeat.autodiscover:\n\
     \x20 providers:\n\
     \x20   - type: kubernetes\n\
     \x20     node: ${NODE_NAME}\n\
     \x20     hints.enabled: true\n\
     \x20     hints.default_config.enabled: false\n"
        .to_string()
}

/// Grafana Alloy components that read the annotated pods' logs and send them to a
/// `loki.write "default"` the user's config defines.
fn alloy_config(service: &str) -> String {
    let id = service.replace('-', "_");
    format!(
        r#"// Grafana Alloy: add to the cluster's Alloy config (it defines loki.write "default").
// Reads the pods rendered with `hale deploy --logs loki` (annotation {LOKI_ANNOTATION}: loki).
discovery.kubernetes "hale_{id}" {{
  role = "pod"
}}

discovery.relabel "hale_{id}" {{
  targets = discovery.kubernetes.hale_{id}.targets
  rule {{
    source_labels = ["__meta_kubernetes_pod_annotation_hale_dev_logs", "__meta_kubernetes_pod_label_app_kubernetes_io_name"]
    regex         = "loki;{service}"
    action        = "keep"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_namespace"]
    target_label  = "namespace"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_name"]
    target_label  = "pod"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_container_name"]
    target_label  = "container"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
    target_label  = "app"
  }}
}}

loki.source.kubernetes "hale_{id}" {{
  targets    = discovery.relabel.hale_{id}.output
  forward_to = [loki.process.hale_{id}.receiver]
}}

// One JSON object per line: level becomes a label (few values), trace_id structured metadata
// (one value per request: never a label), the line's own time its timestamp.
loki.process "hale_{id}" {{
  stage.json {{
    expressions = {{ level = "level", trace_id = "trace_id", time = "time" }}
  }}
  stage.labels {{
    values = {{ level = "" }}
  }}
  stage.structured_metadata {{
    values = {{ trace_id = "" }}
  }}
  stage.timestamp {{
    source = "time"
    format = "RFC3339Nano"
  }}
  forward_to = [loki.write.default.receiver]
}}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests;

    fn rendered() -> Rendered {
        manifests::render(&manifests::tests::full_spec()).unwrap()
    }

    fn deployment(set: &Rendered) -> Deployment {
        serde_norway::from_str(&set.get(DEPLOYMENT).unwrap().contents).unwrap()
    }

    #[test]
    fn no_shipper_changes_nothing() {
        assert_eq!(with_shipping(rendered(), None).unwrap(), rendered());
    }

    #[test]
    fn elastic_adds_hints_and_ecs_and_is_deterministic() {
        let set = with_shipping(rendered(), Some(LogShipper::Elastic)).unwrap();
        assert_eq!(
            set,
            with_shipping(rendered(), Some(LogShipper::Elastic)).unwrap()
        );
        let d = deployment(&set);
        let pod = d.spec.unwrap().template;
        let annotations = pod.metadata.unwrap().annotations.unwrap();
        assert_eq!(annotations["co.elastic.logs/enabled"], "true");
        assert!(
            annotations.contains_key("hale.dev/config-sha256"),
            "kept the base's"
        );
        let env = pod.spec.unwrap().containers[0].env.clone().unwrap();
        assert!(env
            .iter()
            .any(|e| e.name == "LOG_FORMAT" && e.value.as_deref() == Some("ecs")));
        assert!(set.get("logging/filebeat.yml").is_some());
    }

    #[test]
    fn loki_annotates_the_pods_and_renders_the_alloy_pipeline() {
        let set = with_shipping(rendered(), Some(LogShipper::Loki)).unwrap();
        let d = deployment(&set);
        let annotations = d.spec.unwrap().template.metadata.unwrap().annotations;
        assert_eq!(annotations.unwrap()[LOKI_ANNOTATION], "loki");
        let alloy = &set.get("logging/loki.alloy").unwrap().contents;
        assert!(alloy.contains("regex         = \"loki;orders\""), "{alloy}");
    }
}
