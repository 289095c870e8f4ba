//! From what the user asked for to [`LoadOptions`]: the typed values of `hale load`'s flags are
//! checked together (a rate that schedules too many requests, consistent hashing without a
//! header, ...) before any I/O. Every refusal is a [`PlanError`] saying how to fix it.
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::Method;

use super::assertions::Assertion;
use super::{schedule, HashOptions, LoadOptions, Model, Profile, Protection, SpecError, HARD_CAP};
use crate::balance::{BalanceOptions, HashKind, Strategy};
use crate::breaker::{AdaptiveConfig, BreakerConfig};
use crate::load::schedule::Arrivals;
use crate::load::FaultStep;

/// How instances are protected (`--breaker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Breaker {
    /// Per-instance three-state breaker: closed, open, half-open.
    #[default]
    ThreeState,
    /// Google SRE client-side throttling per instance.
    Adaptive,
    /// Every pick goes through.
    Off,
}

impl Breaker {
    /// The flag's own word, as the report shows it.
    pub fn name(self) -> &'static str {
        match self {
            Breaker::ThreeState => "three-state",
            Breaker::Adaptive => "adaptive",
            Breaker::Off => "off",
        }
    }
}

/// Three-state breaker tuning; `None` keeps the default.
#[derive(Debug, Clone, Default)]
pub struct BreakerTuning {
    pub failure_rate: Option<f64>,
    pub min_calls: Option<u32>,
    pub consecutive: Option<u32>,
    pub window: Option<Duration>,
    pub open_for: Option<Duration>,
    pub probes: Option<u32>,
    pub adaptive_k: Option<f64>,
}

/// What the user asked for, already typed.
#[derive(Debug, Clone)]
pub struct LoadRequest {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    pub concurrency: Option<usize>,
    pub rate: Option<f64>,
    pub arrivals: Arrivals,
    pub profile: Option<Profile>,
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub timeout: Duration,
    pub strategy: Strategy,
    pub hash_header: Option<HeaderName>,
    pub hash: HashKind,
    pub hash_keys: u32,
    pub breaker: Breaker,
    pub tuning: BreakerTuning,
    pub retries: u32,
    pub max_ejected: f64,
    pub seed: u64,
    pub faults: Vec<FaultStep>,
    pub assertions: Vec<Assertion>,
    /// `--grpc`: the call every request makes, or what to build it from once the targets are
    /// known (server reflection). Not a plan's part: [`super::job::prepare`] builds it.
    pub grpc: Option<super::grpc::GrpcRequest>,
}

/// A request that does not make a run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

fn refuse<T>(message: impl Into<String>) -> Result<T, PlanError> {
    Err(PlanError(message.into()))
}

/// Check the request as a whole and build the run's options.
pub fn plan(req: LoadRequest) -> Result<LoadOptions, PlanError> {
    if req.duration.is_some_and(|d| d.is_zero()) {
        return refuse("--duration must be above 0");
    }
    if req.requests == Some(0) {
        return refuse("--requests must be above 0");
    }
    let duration = match (req.duration, req.requests) {
        (None, None) => Some(Duration::from_secs(10)),
        (d, _) => d,
    };
    if duration.is_some_and(|d| d > HARD_CAP) {
        return refuse("--duration is capped at 1h");
    }
    if req.timeout.is_zero() {
        return refuse("--timeout must be above 0");
    }
    if let Some(c) = req.concurrency {
        if c == 0 || c > 10_000 {
            return refuse("--concurrency must be from 1 to 10000");
        }
    }
    let model = match (req.rate, &req.profile) {
        (None, None) => Model::Closed {
            concurrency: req.concurrency.unwrap_or(50),
        },
        (rate, profile) => {
            let given = rate;
            let rate = rate.unwrap_or(0.0);
            if given.is_some() && !(rate.is_finite() && rate > 0.0) {
                return refuse("--rate must be above 0 requests/s");
            }
            let profile = profile.clone().unwrap_or(Profile::Constant);
            let peak = match &profile {
                Profile::Constant => rate,
                Profile::Ramp { from, to } => from.max(*to),
                Profile::Steps(s) => s.iter().cloned().fold(0.0, f64::max),
            };
            // With only --requests, the schedule runs until that many arrivals.
            let d = duration.unwrap_or(HARD_CAP);
            let scheduled = (peak * d.as_secs_f64()).min(req.requests.unwrap_or(u64::MAX) as f64);
            if scheduled > schedule::MAX_SCHEDULED as f64 {
                return refuse(format!(
                    "--rate × --duration schedules more than {} requests: shorten the run",
                    schedule::MAX_SCHEDULED
                ));
            }
            Model::Open {
                rate,
                arrivals: req.arrivals,
                profile,
                concurrency: req.concurrency.unwrap_or(256),
            }
        }
    };
    let hash = match req.hash_header {
        Some(header) => Some(HashOptions {
            header,
            keys: req.hash_keys.max(1),
        }),
        None if req.strategy == Strategy::ConsistentHash => {
            return refuse(
                "--strategy consistent-hash needs --hash-header NAME (the header to hash)",
            )
        }
        None => None,
    };
    let balance = BalanceOptions {
        strategy: req.strategy,
        hash: req.hash,
        ..Default::default()
    };
    let protection = protection(req.breaker, &req.tuning)?;
    if !req.path.starts_with('/') || req.path.parse::<http::Uri>().is_err() {
        return refuse(format!(
            "--path {:?} must start with / and be a valid request path",
            req.path
        ));
    }
    Ok(LoadOptions {
        method: req.method,
        path: req.path,
        headers: req.headers,
        body: req.body,
        model,
        duration,
        requests: req.requests,
        timeout: req.timeout,
        balance,
        hash,
        protection,
        breaker: req.breaker,
        retries: req.retries,
        max_ejected: req.max_ejected,
        seed: req.seed,
        faults: req.faults,
        ..Default::default()
    })
}

fn protection(kind: Breaker, t: &BreakerTuning) -> Result<Protection, PlanError> {
    Ok(match kind {
        Breaker::ThreeState => {
            let mut breaker = BreakerConfig::default();
            if let Some(r) = t.failure_rate {
                if !(r > 0.0 && r <= 1.0) {
                    return refuse("--breaker-failure-rate must be in (0, 1]");
                }
                breaker.failure_rate = r;
            }
            if let Some(n) = t.min_calls {
                breaker.minimum_calls = n.max(1);
            }
            if let Some(n) = t.consecutive {
                breaker.consecutive_failures = n.max(1);
            }
            if let Some(d) = t.window {
                breaker.window = d;
            }
            if let Some(d) = t.open_for {
                breaker.open_for = d;
            }
            if let Some(n) = t.probes {
                breaker.half_open_probes = n.max(1);
            }
            Protection::Breaker(breaker)
        }
        Breaker::Adaptive => {
            let mut c = AdaptiveConfig::default();
            if let Some(k) = t.adaptive_k {
                if !(k >= 1.0 && k.is_finite()) {
                    return refuse("--adaptive-k must be at least 1 (2 is the SRE book's)");
                }
                c.k = k;
            }
            Protection::Adaptive(c)
        }
        Breaker::Off => Protection::None,
    })
}

/// `-X`: an HTTP method, any case.
pub fn parse_method(text: &str) -> Result<Method, SpecError> {
    Method::from_bytes(text.to_ascii_uppercase().as_bytes())
        .map_err(|_| SpecError(format!("{text:?} is not an HTTP method")))
}

/// `-H`: `Name: value`.
pub fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), SpecError> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| SpecError(format!("{text:?} is not \"Name: value\"")))?;
    let name = parse_header_name(name.trim())?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| {
        SpecError(format!(
            "{text:?}: the value has characters HTTP does not allow"
        ))
    })?;
    Ok((name, value))
}

/// `--hash-header`: a header name.
pub fn parse_header_name(text: &str) -> Result<HeaderName, SpecError> {
    HeaderName::from_bytes(text.as_bytes())
        .map_err(|_| SpecError(format!("{text:?} is not a header name")))
}

/// `--max-ejected`: a share, `50%` or `0.5`.
pub fn parse_share(text: &str) -> Result<f64, SpecError> {
    let value = match text.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => text.parse::<f64>(),
    }
    .map_err(|_| SpecError(format!("{text:?} is not a share: write 50% or 0.5")))?;
    if !(0.0..=1.0).contains(&value) {
        return Err(SpecError(format!("{text:?} must be between 0% and 100%")));
    }
    Ok(value)
}
