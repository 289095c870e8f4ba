//! Kubernetes, Prometheus and Grafana manifests for one generated service, built from typed
//! objects and serialized deterministically: the same [`Spec`] gives byte-identical files.
//!
//! Kubernetes objects are k8s-openapi types (one API version feature, `v1_33`); the Prometheus
//! operator's objects, plain Prometheus files and the Grafana dashboard are serde structs here,
//! since no maintained crate types them. [`render`] builds the whole set in memory; [`write`]
//! puts it on disk atomically; [`check`] lints a rendered or hand-edited set.
pub mod check;
pub mod dashboard;
pub mod egress;
pub mod layout;
pub mod logs;
pub mod monitoring;
pub mod quantity;
pub mod sli;
pub mod slo;
pub mod workload;
pub mod write;

use std::collections::BTreeMap;

pub use crate::service_contract::TimeBudget;
pub use layout::{render, Rendered, RenderedFile};
pub use slo::{Objective, Slo};

/// The Kubernetes API version the typed objects are built against (k8s-openapi feature).
pub const KUBERNETES_API: &str = "1.33";

/// Everything the manifests are rendered from: hale.toml and flags, already resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The service name (a DNS-1123 label): object names and the `app.kubernetes.io/name` label.
    pub name: String,
    /// The namespace every namespaced object carries; `None` leaves it to kubectl/kustomize.
    pub namespace: Option<String>,
    /// Also render the Namespace object.
    pub create_namespace: bool,
    /// The container's http port.
    pub port: u16,
    /// The image reference, `repo:tag` or `repo@sha256:...`.
    pub image: String,
    /// The `app.kubernetes.io/version` label, when known.
    pub version: Option<String>,
    /// Replicas, or the HPA's minimum when it owns scaling.
    pub replicas: u32,
    /// The HPA, when autoscaling.
    pub autoscale: Option<Autoscale>,
    pub resources: Resources,
    /// Non-secret configuration for the ConfigMap (hale.toml `[deploy.env]`).
    pub env: BTreeMap<String, String>,
    /// The registry URL the pods self-register in (consul:// or etcd://); `None` for none.
    pub registry: Option<String>,
    /// Render a NetworkPolicy.
    pub network_policy: bool,
    /// The namespace Prometheus scrapes from (allowed in by the NetworkPolicy).
    pub monitoring_namespace: String,
    /// Services this one calls (egress in the NetworkPolicy, breaker panels).
    pub downstreams: Vec<String>,
    /// The label the Prometheus operator selects monitors and rules by (`release: <release>`).
    pub prometheus_label: (String, String),
    /// Service level objectives (recording rules and burn-rate alerts).
    pub slos: Vec<Slo>,
    /// The shutdown time budget; terminationGracePeriodSeconds is its total.
    pub budget: TimeBudget,
    /// `host:port` targets of the static prometheus.yml (default `127.0.0.1:<port>`).
    pub scrape_targets: Vec<String>,
    /// What every alert's `runbook_url` starts with (hale.toml `[deploy] runbook_base_url`):
    /// empty for a link relative to the service's repository, else ending in `/`.
    pub runbook_base: String,
    /// The service also serves gRPC on its port (`hale new --grpc`, hale.lock's `grpc`
    /// input): readiness asks `grpc.health.v1` there instead of GET /readyz.
    pub grpc: bool,
}

/// HorizontalPodAutoscaler settings: one HPA, CPU and optionally memory utilisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Autoscale {
    pub max_replicas: u32,
    pub cpu_percent: u32,
    pub memory_percent: Option<u32>,
}

/// Container resources as Kubernetes quantities.
#[derive(Debug, Clone, PartialEq)]
pub struct Resources {
    pub cpu_request: String,
    pub memory_request: String,
    pub memory_limit: String,
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            cpu_request: "100m".into(),
            memory_request: "64Mi".into(),
            memory_limit: "128Mi".into(),
        }
    }
}

/// Why a [`Spec`] cannot be rendered or written: the user's input, or the disk.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The input is wrong; the message says what and how to fix it.
    #[error("{0}")]
    Invalid(String),
    /// Writing would overwrite a file that was edited by hand (or not written by hale).
    #[error(
        "{0} was changed since hale wrote it (or hale did not write it); pass --force to \
         overwrite it, or render into another folder with --out"
    )]
    HandEdited(String),
    /// An entry of the render record points outside the output folder.
    #[error(transparent)]
    Escape(#[from] crate::confine::Escape),
    #[error("serializing {what}: {source}")]
    Yaml {
        what: String,
        #[source]
        source: serde_norway::Error,
    },
    #[error("serializing {what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl ManifestError {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        ManifestError::Invalid(msg.into())
    }
}

impl Spec {
    /// Check everything before anything is rendered or written.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let bad = |m: String| Err(ManifestError::invalid(m));
        use crate::names::validate_service_name as check;
        check(&self.name).map_err(|e| ManifestError::invalid(e.to_string()))?;
        let as_namespace =
            |e: crate::names::NameError| e.to_string().replace("service name", "namespace");
        if let Some(ns) = &self.namespace {
            if let Err(e) = check(ns) {
                return bad(format!("invalid namespace: {}", as_namespace(e)));
            }
        }
        if let Err(e) = check(&self.monitoring_namespace) {
            return bad(format!("invalid monitoring namespace: {}", as_namespace(e)));
        }
        for d in &self.downstreams {
            if let Err(e) = check(d) {
                return bad(format!("invalid downstream: {e}"));
            }
        }
        if self.port == 0 {
            return bad("port 0 is out of range: use a port from 1 to 65535".into());
        }
        if self.replicas == 0 {
            return bad(
                "replicas 0 with a PodDisruptionBudget would block every eviction and serve \
                 nothing: use replicas of 1 or more"
                    .into(),
            );
        }
        if let Some(a) = &self.autoscale {
            if a.max_replicas < self.replicas {
                return bad(format!(
                    "max replicas {} is below replicas {}: the HPA's maximum must be at least \
                     its minimum",
                    a.max_replicas, self.replicas
                ));
            }
            for (what, pct) in [("cpu", Some(a.cpu_percent)), ("memory", a.memory_percent)] {
                if let Some(p) = pct {
                    if p == 0 || p > 100 {
                        return bad(format!(
                            "HPA {what} target {p}% is out of range: use 1 to 100"
                        ));
                    }
                }
            }
        }
        if self.image.is_empty() || self.image.chars().any(char::is_whitespace) {
            return bad(format!(
                "invalid image reference {:?}: use repo:tag or repo@sha256:<digest>",
                self.image
            ));
        }
        if let Some(v) = &self.version {
            if !valid_label_value(v) {
                return bad(format!(
                    "version {v:?} is not a valid label value: at most 63 letters, digits, \
                     '-', '_' or '.', starting and ending with a letter or digit"
                ));
            }
        }
        let (k, v) = &self.prometheus_label;
        if !valid_label_key(k) || !valid_label_value(v) {
            return bad(format!(
                "invalid Prometheus selector label {k}={v}: use KEY=VALUE with a Kubernetes \
                 label key and value, such as release=kube-prometheus-stack"
            ));
        }
        let r = &self.resources;
        let cpu = quantity::parse(&r.cpu_request)
            .map_err(|e| ManifestError::invalid(format!("cpu request: {e}")))?;
        let req = quantity::parse(&r.memory_request)
            .map_err(|e| ManifestError::invalid(format!("memory request: {e}")))?;
        let lim = quantity::parse(&r.memory_limit)
            .map_err(|e| ManifestError::invalid(format!("memory limit: {e}")))?;
        if cpu.is_zero() || req.is_zero() {
            return bad("cpu and memory requests must be above zero".into());
        }
        if lim < req {
            return bad(format!(
                "memory limit {} is below the request {}: raise the limit or lower the request",
                r.memory_limit, r.memory_request
            ));
        }
        for key in self.env.keys() {
            if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                || key.starts_with(|c: char| c.is_ascii_digit())
                || key.is_empty()
            {
                return bad(format!(
                    "invalid environment variable name {key:?} in [deploy.env]: use letters, \
                     digits and '_'"
                ));
            }
            if looks_secret(key) {
                return bad(format!(
                    "[deploy.env] {key} looks like a secret: secrets never go in manifests or \
                     ConfigMaps; create a Secret and reference it instead"
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.slos {
            if !seen.insert(s.id()) {
                return bad(format!(
                    "--slo {} is given twice: give each kind of objective once",
                    s.id()
                ));
            }
        }
        Ok(())
    }

    /// Labels that select this service's pods (Service, PDB, ServiceMonitor, NetworkPolicy).
    pub fn selector_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), self.name.clone()),
            ("app.kubernetes.io/instance".to_string(), self.name.clone()),
        ])
    }

    /// The app.kubernetes.io/* labels every object carries.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.selector_labels();
        labels.insert("app.kubernetes.io/component".into(), "server".into());
        labels.insert("app.kubernetes.io/part-of".into(), self.name.clone());
        labels.insert("app.kubernetes.io/managed-by".into(), "hale".into());
        if let Some(v) = &self.version {
            labels.insert("app.kubernetes.io/version".into(), v.clone());
        }
        labels
    }
}

/// Environment variable names that usually carry secrets (kube-linter `env-var-secret`).
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|s| upper.contains(s))
}

/// A Kubernetes label value: empty, or ≤ 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
pub fn valid_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
}

/// A Kubernetes label key: an optional DNS prefix and `/`, then a non-empty label-value name.
pub fn valid_label_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
    });
    prefix_ok && !name.is_empty() && valid_label_value(name)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The spec the unit tests render: every optional part switched on.
    pub fn full_spec() -> Spec {
        Spec {
            name: "orders".into(),
            namespace: Some("shop".into()),
            create_namespace: true,
            port: 8080,
            image: "registry.local/orders@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
            version: Some("0.1.0".into()),
            replicas: 2,
            autoscale: Some(Autoscale {
                max_replicas: 6,
                cpu_percent: 70,
                memory_percent: Some(80),
            }),
            resources: Resources::default(),
            env: BTreeMap::from([("LOG_LEVEL".into(), "info".into())]),
            registry: Some("consul://consul.consul.svc:8500".into()),
            network_policy: true,
            monitoring_namespace: "monitoring".into(),
            downstreams: vec!["payments".into()],
            prometheus_label: ("release".into(), "kube-prometheus-stack".into()),
            slos: vec![
                "availability=99.9,window=30d".parse().unwrap(),
                "latency=p99<250ms".parse().unwrap(),
            ],
            budget: TimeBudget::DEFAULT,
            scrape_targets: Vec::new(),
            runbook_base: String::new(),
            grpc: false,
        }
    }

    #[test]
    fn replicas_zero_is_refused() {
        let spec = Spec {
            replicas: 0,
            autoscale: None,
            ..full_spec()
        };
        let err = spec.validate().unwrap_err().to_string();
        assert!(err.contains("replicas 0"), "{err}");
    }

    #[test]
    fn secret_looking_env_is_refused() {
        let mut spec = full_spec();
        spec.env.insert("DB_PASSWORD".into(), "hunter2".into());
        let err = spec.validate().unwrap_err().to_string();
        assert!(err.contains("looks like a secret"), "{err}");
    }

    #[test]
    fn memory_limit_below_request_is_refused() {
        let mut spec = full_spec();
        spec.resources.memory_limit = "32Mi".into();
        assert!(spec.validate().is_err());
    }

    #[test]
    fn label_keys_and_values() {
        assert!(valid_label_key("release"));
        assert!(valid_label_key("app.kubernetes.io/name"));
        assert!(!valid_label_key("Bad Key"));
        assert!(valid_label_value("kube-prometheus-stack"));
        assert!(!valid_label_value("-x"));
    }
}
