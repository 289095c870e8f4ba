//! The typed options of one run: the load model, the protection of instances, the request.
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::Method;

use super::{plan, tls, Arrivals, FaultStep, Profile};
use crate::balance::BalanceOptions;
use crate::breaker::{AdaptiveConfig, BreakerConfig, RetryBudgetConfig};

/// The load model.
#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    /// `concurrency` workers, each sending its next request when the previous one finished.
    Closed { concurrency: usize },
    /// Requests sent at scheduled times, whatever the responses do; at most `concurrency` in
    /// flight (later ones wait, and their wait counts in the corrected latency).
    Open {
        rate: f64,
        arrivals: Arrivals,
        profile: Profile,
        concurrency: usize,
    },
}

/// How instances are protected.
#[derive(Debug, Clone, PartialEq)]
pub enum Protection {
    None,
    Breaker(BreakerConfig),
    Adaptive(AdaptiveConfig),
}

impl Protection {
    pub fn name(&self) -> &'static str {
        match self {
            Protection::None => "none",
            Protection::Breaker(_) => "breaker",
            Protection::Adaptive(_) => "adaptive",
        }
    }
}

/// Consistent hashing on a header: values are drawn from `keys` generated keys unless the
/// header has a fixed value in the request headers.
#[derive(Debug, Clone)]
pub struct HashOptions {
    pub header: HeaderName,
    pub keys: u32,
}

/// Everything a run needs; built by the command from flags and settings.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub method: Method,
    /// Path and query, e.g. "/v1/orders?limit=1".
    pub path: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    pub model: Model,
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub timeout: Duration,
    pub balance: BalanceOptions,
    pub hash: Option<HashOptions>,
    pub protection: Protection,
    /// `--breaker`'s own word for `protection`, for the report.
    pub breaker: plan::Breaker,
    /// Retries per request (0 = none), each bounded by the retry budget.
    pub retries: u32,
    pub retry_budget: RetryBudgetConfig,
    /// Share of instances that may be ejected at once.
    pub max_ejected: f64,
    pub seed: u64,
    pub faults: Vec<FaultStep>,
    /// Length of a timeline tick.
    pub tick: Duration,
    /// HTTPS targets: the TLS client every HTTPS connection uses (each endpoint says whether
    /// it is HTTPS and the name its certificate is checked against).
    pub tls: Option<tls::TlsClient>,
    /// `hale load --on-cluster`: this run is shard `index` of `count`. The open model's
    /// arrivals are the whole plan's schedule, of which this shard sends every `count`-th from
    /// `index` on, so the shards' union is the requested schedule.
    pub shard: Option<Shard>,
    /// `--grpc`: every request is this unary gRPC call over HTTP/2 instead of HTTP/1.1.
    pub grpc: Option<super::grpc::GrpcCall>,
}

/// One part of a plan split across processes ([`crate::load::cluster`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            method: Method::GET,
            path: "/".into(),
            headers: Vec::new(),
            body: Bytes::new(),
            model: Model::Closed { concurrency: 50 },
            duration: Some(Duration::from_secs(10)),
            requests: None,
            timeout: Duration::from_secs(5),
            balance: BalanceOptions::default(),
            hash: None,
            protection: Protection::Breaker(BreakerConfig::default()),
            breaker: plan::Breaker::ThreeState,
            retries: 0,
            retry_budget: RetryBudgetConfig::default(),
            max_ejected: 0.5,
            seed: 1,
            faults: Vec::new(),
            tick: Duration::from_millis(250),
            tls: None,
            shard: None,
            grpc: None,
        }
    }
}

/// The longest a run may take whatever the flags say: every loop that sends traffic stops.
pub const HARD_CAP: Duration = Duration::from_secs(3600);
