//! Load generation with per-instance attribution, faults, timeline and reports.
//!
//! Shape: N worker tasks each own one HTTP/1.1 keep-alive connection per instance (hale's own
//! minimal client, [`http1`]), pick an instance through the shared [`Balancer`], ask that
//! instance's breaker, send, and record into their own statistics. Once per tick a worker
//! hands a small window to the collector over a channel, saying which ticks it has closed; at
//! the end it hands over its histograms. The collector merges ([`live::TickBook`]), feeds the
//! live view from ticks every worker has closed and builds the report. Nothing on the
//! request path takes a lock except the breaker's outcome record and smooth weighted round
//! robin's pick.
//!
//! One responsibility per file: `options.rs` (the typed options of a run), `plan.rs` (flags to
//! options), `targets.rs` (where the instances come from), `run.rs` (one run: discovery,
//! faults, workers, the collector), `shared.rs` (the slots and balancing generation the tasks
//! share), `worker.rs` (pick, retry, record), `attempt.rs` (one exchange and its attribution),
//! `http1.rs` and `tls.rs` (the wire), `stats.rs`, `live.rs` and `report.rs` (figures, the
//! live line, the document).
pub mod assertions;
mod attempt;
pub mod cluster;
pub mod faults;
pub mod fleet_faults;
pub mod grpc;
pub mod histograms;
pub mod html;
pub mod http1;
pub mod job;
pub mod live;
mod options;
pub mod plan;
pub mod report;
mod run;
pub mod schedule;
mod shared;
pub mod stats;
pub mod targets;
pub mod tls;
pub mod verdict;
mod worker;

use std::net::SocketAddr;

use serde::Serialize;
use tokio::sync::watch;

use crate::breaker::State;

pub use faults::{FaultAction, FaultActuator, FaultKind, FaultStep};
pub use live::LiveView;
pub use options::{HashOptions, LoadOptions, Model, Protection, Shard, HARD_CAP};
pub use report::Report;
pub use run::{run, InstanceOutcome, RunOutcome};
pub use schedule::{Arrivals, Profile};
pub use stats::ErrorKind;

/// One instance to send to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: String,
    pub addr: SocketAddr,
    pub weight: u32,
    /// Count responses whose X-Instance-ID differs from `id` (registry targets; an address
    /// given with --endpoints has no known id).
    pub check_id: bool,
    /// HTTPS: the name the instance's certificate is checked against; `None` for HTTP.
    pub tls: Option<rustls::pki_types::ServerName<'static>>,
    /// The request's Host: the authority as the user gave it (`orders.local:8080` of
    /// `--url http://orders.local:8080/` or of `--endpoints`), the registered `host:port` of a
    /// registry instance; never the address it resolved to, which virtual hosts do not know.
    pub authority: String,
}

/// Where the instances come from.
#[derive(Debug)]
pub enum Targets {
    /// A fixed list (`--endpoints`, `--url`).
    Fixed(Vec<Endpoint>),
    /// Followed live from a registry: each change becomes a new balancing generation.
    Live(watch::Receiver<Vec<Endpoint>>),
}

/// An entry of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEvent {
    /// Milliseconds since the start of the run.
    pub t_ms: f64,
    /// breaker, ejection-refused, throttle, added, removed, fault, fault-failed.
    pub kind: &'static str,
    pub instance: String,
    /// For breaker events: the new state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    pub detail: String,
    /// For fault and fault-failed events: which kind of fault.
    #[serde(skip)]
    pub fault: Option<FaultKind>,
}

/// A `--profile`, `--fault` or `--assert` value hale cannot read, or a fault plan that does not
/// fit the fleet; the message names the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

impl From<String> for SpecError {
    fn from(message: String) -> Self {
        SpecError(message)
    }
}

/// What ends a run early.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("path {path:?} is not a valid request target: {why}")]
    BadPath { path: String, why: String },
    #[error("{0} (a bug in hale: please report it)")]
    WorkerPanicked(String),
}
