//! `hale deploy --canary`: progressive delivery from the CLI, with nothing installed in the
//! cluster. A canary Deployment (`<name>-canary`, the Service's selector labels plus
//! `track: canary`) runs the new build beside the stable one; traffic is weighted by the ratio
//! of their ready pods behind the one Service (`traffic`), or by the weights of the HTTPRoutes and
//! GRPCRoutes an accepted Gateway programs (`gateway`); each step is checked against Prometheus
//! SLO gates (`gates`); the run's state lives in an annotation on the stable
//! Deployment (`state`), so another process can show, promote, abort or resume it (`run`);
//! `report` is what the commands print.
pub mod analysis;
pub mod gates;
pub mod gateway;
pub mod load_gate;
pub mod report;
pub mod run;
pub mod state;
pub mod traffic;

pub use analysis::Analysis;
pub use run::{abort, promote, run, CanaryOutcome, CanaryRequest, Decision};
pub use state::CanaryState;

use crate::kube::KubeError;

/// What went wrong in a canary, at this module's border.
#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    /// The user's input is wrong; the message says what and how to fix it.
    #[error("{0}")]
    BadInput(String),
    #[error(transparent)]
    Kube(#[from] KubeError),
    /// Prometheus could not be reached or did not answer as its HTTP API does.
    #[error("cannot query Prometheus at {url}: {cause}")]
    Prometheus { url: String, cause: String },
    /// Another process changed the canary while this one waited, in a way it cannot follow.
    #[error("{0}")]
    Lost(String),
}

impl CanaryError {
    /// Whether the user's input is wrong (exit 2) rather than an operation failing (exit 1).
    pub fn is_bad_input(&self) -> bool {
        match self {
            CanaryError::BadInput(_) => true,
            CanaryError::Kube(e) => e.is_usage(),
            CanaryError::Prometheus { .. } | CanaryError::Lost(_) => false,
        }
    }
}

/// The canary Deployment's (and ConfigMap's) name for a stable object's name.
pub fn canary_name(stable: &str) -> String {
    format!("{stable}-canary")
}

/// The pod label that tells canary pods from stable ones.
pub const TRACK_LABEL: &str = "track";
pub const TRACK_CANARY: &str = "canary";
