//! Kubernetes: connect the way kubectl does, server-side apply in dependency order
//! ([`apply`]), wait for a Deployment the way `kubectl rollout status` does ([`rollout`]),
//! explain and undo a failed rollout ([`diagnose`], [`rollout::rollback`]), and report or
//! delete what hale applied for a service, found by hale's labels ([`inventory`]).
//!
//! Callers hand in plain option structs and objects as [`DynamicObject`]s (any typed
//! k8s-openapi object converts with [`to_dynamic`]), so the renderer's output, a test's
//! hand-built objects and a CRD instance go through the same path.
pub mod apply;
pub mod diagnose;
pub mod inventory;
pub mod rollout;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kube::api::DynamicObject;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{ApiCapabilities, Scope};
use kube::Client;

/// The field manager of every write hale makes.
pub const FIELD_MANAGER: &str = "hale";
/// The label every object hale renders carries, with [`MANAGED_BY_VALUE`].
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "hale";
/// The label naming the service an object belongs to.
pub const NAME_LABEL: &str = "app.kubernetes.io/name";

/// The label selector of everything hale applied for `service`: prune, status and delete see
/// these objects and nothing else.
pub fn service_selector(service: &str) -> String {
    format!("{MANAGED_BY}={MANAGED_BY_VALUE},{NAME_LABEL}={service}")
}

/// Errors at the border with the Kubernetes API.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("no kubeconfig found: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config")]
    NoKubeconfig,
    #[error("cannot read the kubeconfig {path}: {cause}")]
    Kubeconfig { path: String, cause: String },
    #[error("context {context:?} is not in the kubeconfig (it has: {available}); pick one with --context")]
    MissingContext { context: String, available: String },
    #[error(
        "the kubeconfig has no current-context: pick one with --context (it has: {available})"
    )]
    NoCurrentContext { available: String },
    #[error("cannot use the kubeconfig's context {context:?}: {cause}")]
    BadContext { context: String, cause: String },
    #[error("cannot reach the API server at {server}: {cause}")]
    Unreachable { server: String, cause: String },
    #[error("the API server at {server} refused the credentials of the kubeconfig's user (401 Unauthorized)")]
    Unauthorized { server: String },
    #[error("forbidden by the API server (RBAC): {message}")]
    Forbidden { message: String },
    #[error(
        "{object}: conflict with another field manager: {message}; re-run with --force-conflicts \
         to take these fields over"
    )]
    Conflict { object: String, message: String },
    #[error("{object}: the API server does not serve {api_version} {kind}")]
    UnknownKind {
        object: String,
        api_version: String,
        kind: String,
    },
    #[error("{object}: {reason}")]
    BadObject { object: String, reason: String },
    #[error("{object}: rejected by the API server: {message}")]
    Rejected { object: String, message: String },
    #[error(
        "namespace {namespace:?} does not exist: create it with --create-namespace, or pick \
         another with --namespace"
    )]
    NoNamespace { namespace: String },
    /// Any other answer of the API server, as one sentence (never its debug form).
    #[error("{what}: the API server answered {code} {reason}: {message}")]
    Status {
        what: String,
        code: u16,
        reason: String,
        message: String,
    },
    #[error("deployment {name:?} has no earlier revision to roll back to")]
    NoPreviousRevision { name: String },
    #[error("{what}: {source}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
}

impl KubeError {
    /// Whether the user's input (flags, kubeconfig, objects) is wrong rather than an operation
    /// failing: the command exits 2 for these.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            KubeError::NoKubeconfig
                | KubeError::Kubeconfig { .. }
                | KubeError::MissingContext { .. }
                | KubeError::NoCurrentContext { .. }
                | KubeError::BadContext { .. }
                | KubeError::BadObject { .. }
        )
    }
}

/// Which cluster, context and namespace to talk to, as kubectl's flags choose them.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// `--kubeconfig`: one file, which replaces KUBECONFIG and ~/.kube/config.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`: otherwise the kubeconfig's current-context.
    pub context: Option<String>,
    /// `--namespace`: otherwise the context's namespace, otherwise `default`.
    pub namespace: Option<String>,
}

/// A connection to one API server: the client and the resolved context and namespace.
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    /// The namespace objects without one go to.
    pub namespace: String,
    /// The namespace was chosen explicitly (`--namespace`), so objects naming another one are
    /// refused rather than moved, as kubectl does.
    pub namespace_explicit: bool,
    pub context: String,
    /// The API server's URL, for messages.
    pub server: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("server", &self.server)
            .field("context", &self.context)
            .field("namespace", &self.namespace)
            .finish()
    }
}

/// A kubeconfig file, read as every user file is (`userfile`: a FIFO or a folder is refused at
/// once) and parsed; a YAML error is `PATH:LINE:COLUMN: what` on one line, never the parser's
/// multi-line snippet.
fn read_kubeconfig_file(path: &Path) -> Result<Kubeconfig, KubeError> {
    check_kubeconfig_file(path)?;
    Kubeconfig::read_from(path).map_err(|e| {
        let (at, what) = yaml_error_line(&e.to_string());
        KubeError::Kubeconfig {
            path: format!("{}{at}", path.display()),
            cause: what,
        }
    })
}

/// A kubeconfig read as a user file (a regular file within its size limit) and nested no
/// deeper than any YAML hale reads, before kube reads it again to make the certificate paths in
/// it absolute against its folder.
fn check_kubeconfig_file(path: &Path) -> Result<(), KubeError> {
    let text =
        crate::userfile::read_to_string(path, crate::userfile::Limit::RECORD).map_err(|e| {
            KubeError::Kubeconfig {
                path: path.display().to_string(),
                cause: if e.kind() == std::io::ErrorKind::NotFound {
                    "no such file".into()
                } else {
                    e.to_string()
                },
            }
        })?;
    match crate::userfile::yaml_too_deep_at(&text) {
        Some((line, col)) => Err(KubeError::Kubeconfig {
            path: format!("{}:{line}:{col}", path.display()),
            cause: crate::userfile::too_deep(),
        }),
        None => Ok(()),
    }
}

/// `(":4:11", "expected string scalar")` from a YAML error whose first line says `line 4 column
/// 11: expected string scalar` (the parser appends a multi-line snippet: dropped).
fn yaml_error_line(message: &str) -> (String, String) {
    let first = message.lines().next().unwrap_or_default();
    let Some(at) = first.find("line ") else {
        return (String::new(), first.to_string());
    };
    let rest = &first[at + 5..];
    let parsed = rest.split_once(" column ").and_then(|(line, rest)| {
        let (col, what) = rest.split_once(": ").unwrap_or((rest, ""));
        Some((
            line.parse::<u64>().ok()?,
            col.trim().parse::<u64>().ok()?,
            what,
        ))
    });
    match parsed {
        Some((line, col, what)) => (format!(":{line}:{col}"), what.trim().to_string()),
        None => (String::new(), first.to_string()),
    }
}

fn read_kubeconfig(target: &Target) -> Result<Kubeconfig, KubeError> {
    if let Some(path) = &target.kubeconfig {
        return read_kubeconfig_file(path);
    }
    if let Some(paths) = std::env::var_os("KUBECONFIG") {
        for path in std::env::split_paths(&paths).filter(|p| !p.as_os_str().is_empty()) {
            check_kubeconfig_file(&path)?;
        }
    }
    match Kubeconfig::from_env() {
        Ok(Some(config)) => return Ok(config),
        Ok(None) => {}
        Err(e) => {
            let (at, what) = yaml_error_line(&e.to_string());
            return Err(KubeError::Kubeconfig {
                path: format!("{}{at}", std::env::var("KUBECONFIG").unwrap_or_default()),
                cause: what,
            });
        }
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or(KubeError::NoKubeconfig)?;
    let path = home.join(".kube").join("config");
    if !path.exists() {
        return Err(KubeError::NoKubeconfig);
    }
    read_kubeconfig_file(&path)
}

/// Resolve the target as kubectl does and build a client. Makes no request: an unreachable
/// server shows on the first call, as [`KubeError::Unreachable`].
pub async fn connect(target: &Target) -> Result<Cluster, KubeError> {
    let kubeconfig = read_kubeconfig(target)?;
    let available = || {
        let names: Vec<&str> = kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        if names.is_empty() {
            "no contexts".to_string()
        } else {
            names.join(", ")
        }
    };
    let context = match (&target.context, &kubeconfig.current_context) {
        (Some(c), _) => c.clone(),
        (None, Some(c)) if !c.is_empty() => c.clone(),
        _ => {
            return Err(KubeError::NoCurrentContext {
                available: available(),
            })
        }
    };
    if !kubeconfig.contexts.iter().any(|c| c.name == context) {
        return Err(KubeError::MissingContext {
            context,
            available: available(),
        });
    }
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..KubeConfigOptions::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| KubeError::BadContext {
            context: context.clone(),
            cause: e.to_string(),
        })?;
    // The network deadline: to connect, to send, and for each answer (counted from the
    // request, not from when a pooled connection went idle). Watches close themselves before
    // it (kube::rollout), so an idle watch is not a silent server.
    let deadline = crate::network::deadline();
    config.connect_timeout = Some(deadline);
    config.read_timeout = Some(deadline);
    config.write_timeout = Some(deadline);
    config.reset_reader_on_write = true;
    let server = config.cluster_url.to_string();
    let server = server.trim_end_matches('/').to_string();
    let (namespace, namespace_explicit) = match &target.namespace {
        Some(ns) => (ns.clone(), true),
        None => (config.default_namespace.clone(), false),
    };
    let client = Client::try_from(config).map_err(|e| KubeError::BadContext {
        context: context.clone(),
        cause: e.to_string(),
    })?;
    Ok(Cluster {
        client,
        namespace,
        namespace_explicit,
        context,
        server,
    })
}

impl Cluster {
    /// Turn a client error into what it means for the user; `what` names the object or the
    /// request for messages.
    pub fn error(&self, what: impl Into<String>, err: kube::Error) -> KubeError {
        let what = what.into();
        match &err {
            kube::Error::Api(status) => match status.code {
                401 => KubeError::Unauthorized {
                    server: self.server.clone(),
                },
                403 => KubeError::Forbidden {
                    message: status.message.clone(),
                },
                409 if status.reason == "Conflict" && status.message.contains("conflict") => {
                    KubeError::Conflict {
                        object: what,
                        message: status.message.clone(),
                    }
                }
                400 | 422 => KubeError::Rejected {
                    object: what,
                    message: status.message.clone(),
                },
                404 if status
                    .details
                    .as_ref()
                    .is_some_and(|d| d.kind == "namespaces" && !d.name.is_empty()) =>
                {
                    KubeError::NoNamespace {
                        namespace: status
                            .details
                            .as_ref()
                            .map(|d| d.name.clone())
                            .unwrap_or_default(),
                    }
                }
                code => KubeError::Status {
                    what,
                    code,
                    reason: if status.reason.is_empty() {
                        "(no reason)".to_string()
                    } else {
                        status.reason.clone()
                    },
                    message: status.message.clone(),
                },
            },
            kube::Error::HyperError(_) | kube::Error::Service(_) => KubeError::Unreachable {
                server: self.server.clone(),
                cause: crate::network::cause_with(
                    &err,
                    "put its CA in the kubeconfig's certificate-authority-data",
                ),
            },
            _ => KubeError::Api { what, source: err },
        }
    }
}

/// Convert any serializable Kubernetes object (a k8s-openapi type, a `serde_json::Value`) into a
/// [`DynamicObject`].
pub fn to_dynamic<T: serde::Serialize>(object: &T) -> Result<DynamicObject, KubeError> {
    let value = serde_json::to_value(object).map_err(|e| KubeError::BadObject {
        object: "object".into(),
        reason: format!("cannot be serialized: {e}"),
    })?;
    serde_json::from_value(value).map_err(|e| KubeError::BadObject {
        object: "object".into(),
        reason: format!("is not a Kubernetes object: {e}"),
    })
}

/// `Kind/name` for messages (kubectl's `deployment.apps/orders` reads worse in hale's lines).
pub fn describe(object: &DynamicObject) -> String {
    let kind = object
        .types
        .as_ref()
        .map(|t| t.kind.as_str())
        .unwrap_or("object");
    let name = object.metadata.name.as_deref().unwrap_or("<unnamed>");
    format!("{kind}/{name}")
}

/// A kind the API server serves: how to reach it and whether it lives in a namespace.
#[derive(Debug, Clone)]
pub struct ServedKind {
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// Discovery of the kinds hale touches, one request per group-version, cached for one command.
#[derive(Debug, Default)]
pub struct Kinds {
    cache: HashMap<(String, String, String), Option<ServedKind>>,
}

impl Kinds {
    /// The served kind, or `None` when the API server does not serve it (a CRD not installed).
    pub async fn find(
        &mut self,
        cluster: &Cluster,
        gvk: &GroupVersionKind,
    ) -> Result<Option<ServedKind>, KubeError> {
        let key = (gvk.group.clone(), gvk.version.clone(), gvk.kind.clone());
        if let Some(found) = self.cache.get(&key) {
            return Ok(found.clone());
        }
        let found = match kube::discovery::pinned_kind(&cluster.client, gvk).await {
            Ok((resource, caps)) => Some(served(resource, &caps)),
            Err(kube::Error::Discovery(_)) => None,
            Err(kube::Error::Api(status)) if status.code == 404 => None,
            Err(e) => return Err(cluster.error(format!("discovering {}", gvk.api_version()), e)),
        };
        self.cache.insert(key, found.clone());
        Ok(found)
    }
}

fn served(resource: ApiResource, caps: &ApiCapabilities) -> ServedKind {
    ServedKind {
        resource,
        namespaced: matches!(caps.scope, Scope::Namespaced),
    }
}

/// The group-version-kind an object declares.
pub fn gvk_of(object: &DynamicObject) -> Result<GroupVersionKind, KubeError> {
    let types = object.types.as_ref().ok_or_else(|| KubeError::BadObject {
        object: describe(object),
        reason: "has no apiVersion and kind".into(),
    })?;
    GroupVersionKind::try_from(types).map_err(|e| KubeError::BadObject {
        object: describe(object),
        reason: format!("bad apiVersion {:?}: {e}", types.api_version),
    })
}

/// The kinds hale renders for a service, in the order they are applied; what prune, status and
/// delete look for (never Namespaces: deleting one deletes everything in it).
pub const SERVICE_KINDS: &[(&str, &str, &str)] = &[
    ("", "v1", "ServiceAccount"),
    ("", "v1", "ConfigMap"),
    ("apps", "v1", "Deployment"),
    ("", "v1", "Service"),
    ("policy", "v1", "PodDisruptionBudget"),
    ("autoscaling", "v2", "HorizontalPodAutoscaler"),
    ("networking.k8s.io", "v1", "NetworkPolicy"),
    ("monitoring.coreos.com", "v1", "ServiceMonitor"),
    ("monitoring.coreos.com", "v1", "PodMonitor"),
    ("monitoring.coreos.com", "v1", "PrometheusRule"),
];

/// The Prometheus operator's API group: its kinds are applied only when their CRDs exist.
pub const MONITORING_GROUP: &str = "monitoring.coreos.com";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selector_names_hale_and_the_service() {
        assert_eq!(
            service_selector("orders"),
            "app.kubernetes.io/managed-by=hale,app.kubernetes.io/name=orders"
        );
    }

    #[test]
    fn a_typed_object_becomes_a_dynamic_one_with_its_kind() {
        let cm = k8s_openapi::api::core::v1::ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some("orders".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let obj = to_dynamic(&cm).unwrap();
        assert_eq!(describe(&obj), "ConfigMap/orders");
        assert_eq!(gvk_of(&obj).unwrap().kind, "ConfigMap");
    }
}
