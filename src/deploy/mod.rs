//! What `hale deploy` does, apart from its flags: resolve the service's manifests spec and image
//! (`spec`, `image`), render and check them (`render`), apply them to a cluster and wait for the
//! rollout (`apply`), read what was applied (`status`), and the documents and text the commands print (`report`). The commands in
//! `commands/deploy*.rs` only turn flags into these modules' plain options and print the result.
pub mod apply;
pub mod image;
pub mod render;
pub mod report;
pub mod spec;
pub mod status;

use std::path::PathBuf;

use crate::kube::{KubeError, Target};
use crate::manifests::ManifestError;

pub use image::{resolve_image, ImageOrigin};
pub use spec::{resolve_spec, SpecFlags};

/// What went wrong while deploying, at this module's border.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The user's input is wrong; the message says what and how to fix it.
    #[error("{0}")]
    BadInput(String),
    #[error(transparent)]
    Kube(#[from] KubeError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// `.hale/build.json` could not be read or parsed.
    #[error("reading {path}")]
    BuildRecord {
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A rendered object is not a Kubernetes object (a bug in the renderer).
    #[error("reading the rendered {path}")]
    Rendered {
        path: String,
        #[source]
        source: serde_norway::Error,
    },
}

impl DeployError {
    /// Whether the user's input (flags, hale.toml, the build record, the kubeconfig) is wrong
    /// rather than an operation failing: exit 2.
    pub fn is_bad_input(&self) -> bool {
        match self {
            DeployError::BadInput(_) => true,
            DeployError::Kube(e) => e.is_usage(),
            DeployError::Manifest(e) => matches!(
                e,
                ManifestError::Invalid(_) | ManifestError::HandEdited(_) | ManifestError::Escape(_)
            ),
            DeployError::BuildRecord { .. } | DeployError::Rendered { .. } => false,
        }
    }
}

/// A DNS-1123 label (namespaces, service names).
fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The cluster to talk to, checked before any I/O.
pub fn target(
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    namespace: Option<String>,
) -> Result<Target, DeployError> {
    if let Some(ns) = &namespace {
        if !dns_label(ns) {
            return Err(DeployError::BadInput(format!(
                "--namespace {ns:?} is not a namespace name: use lowercase letters, digits and \
                 '-', at most 63"
            )));
        }
    }
    if context.as_deref() == Some("") {
        return Err(DeployError::BadInput(
            "--context is empty: name a context of the kubeconfig".into(),
        ));
    }
    Ok(Target {
        kubeconfig,
        context,
        namespace,
    })
}

/// The service's name, checked as every command checks it.
pub fn validate_service(service: &str) -> Result<(), DeployError> {
    crate::names::validate_service_name(service).map_err(|e| DeployError::BadInput(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_dns_labels() {
        assert!(dns_label("orders-prod"));
        assert!(!dns_label("Orders"));
        assert!(!dns_label("-a"));
        assert!(!dns_label(&"a".repeat(64)));
        let err = target(None, None, Some("a/b".into())).unwrap_err();
        assert!(err.is_bad_input());
        let err = anyhow::Error::new(err);
        assert_eq!(crate::exit::classify(&err), crate::exit::Exit::Usage);
    }

    #[test]
    fn a_missing_context_is_the_users_mistake() {
        let err = anyhow::Error::new(DeployError::from(KubeError::MissingContext {
            context: "prod".into(),
            available: "dev".into(),
        }));
        assert_eq!(crate::exit::classify(&err), crate::exit::Exit::Usage);
        let err = anyhow::Error::new(DeployError::from(KubeError::Forbidden {
            message: "no".into(),
        }));
        assert_eq!(crate::exit::classify(&err), crate::exit::Exit::Failed);
    }
}
