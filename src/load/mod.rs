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
pub mod assertions;
pub mod faults;
pub mod fleet_faults;
pub mod histograms;
pub mod html;
pub mod http1;
pub mod live;
pub mod plan;
pub mod report;
pub mod schedule;
pub mod stats;
pub mod targets;
pub mod tls;
pub mod verdict;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Uri};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::balance::{self, BalanceOptions, Balancer, EndpointSpec};
use crate::breaker::{
    AdaptiveConfig, AdaptiveThrottle, Admission, BreakerConfig, CircuitBreaker, EjectionLimit,
    RetryBudget, RetryBudgetConfig, State, Transition,
};
use crate::stop::Stop;

pub use faults::{FaultAction, FaultActuator, FaultKind, FaultStep};
pub use report::Report;
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
}

/// Where the instances come from.
#[derive(Debug)]
pub enum Targets {
    /// A fixed list (`--endpoints`, `--url`).
    Fixed(Vec<Endpoint>),
    /// Followed live from a registry: each change becomes a new balancing generation.
    Live(watch::Receiver<Vec<Endpoint>>),
}

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
        }
    }
}

/// The longest a run may take whatever the flags say: every loop that sends traffic stops.
pub const HARD_CAP: Duration = Duration::from_secs(3600);

/// The live view, sent to the progress renderer about every tick as one line.
#[derive(Debug, Clone)]
pub struct LiveView {
    pub elapsed: Duration,
    pub total: Option<Duration>,
    pub requests: u64,
    pub errors: u64,
    pub rps: f64,
    pub p99_ms: f64,
    /// (instance id, breaker state name) for every current instance.
    pub breakers: Vec<(String, &'static str)>,
}

impl std::fmt::Display for LiveView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open: Vec<String> = self
            .breakers
            .iter()
            .filter(|(_, s)| *s != "closed")
            .map(|(id, s)| format!("{id} {s}"))
            .collect();
        let total = self
            .total
            .map_or(String::new(), |t| format!("/{:.0}s", t.as_secs_f64()));
        write!(
            f,
            "{:.1}s{total}  {} requests  {:.0} req/s  p99 {:.2} ms  {} errors  breakers: {}",
            self.elapsed.as_secs_f64(),
            self.requests,
            self.rps,
            self.p99_ms,
            self.errors,
            if open.is_empty() {
                "all closed".to_string()
            } else {
                open.join(", ")
            }
        )
    }
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

/// One instance as seen over the whole run (a slot lives from its first appearance).
struct Slot {
    index: usize,
    id: String,
    addr: SocketAddr,
    /// The request, serialised once for this instance.
    request: http1::RequestTemplate,
    weight: u32,
    check_id: bool,
    /// HTTPS: the server name its connections present.
    tls: Option<rustls::pki_types::ServerName<'static>>,
    breaker: Option<CircuitBreaker>,
    throttle: Option<AdaptiveThrottle>,
    /// Set while a kill fault is in force, so requests to a dead instance can be counted.
    dead: AtomicBool,
    sent_while_dead: AtomicU64,
    /// Set by a restore fault; the first success afterwards stores its time.
    awaiting_recovery: AtomicBool,
    first_ok_after_restore_ns: AtomicU64,
}

impl Slot {
    fn state(&self) -> State {
        match (&self.breaker, &self.throttle) {
            (Some(b), _) => b.state(),
            (_, Some(t)) if t.is_throttling() => State::Open,
            _ => State::Closed,
        }
    }
}

struct Generation {
    number: u64,
    slots: Vec<Arc<Slot>>,
    balancer: Balancer,
}

enum Message {
    /// A worker moved past a tick: its window for it (if anything happened in it), and the
    /// first tick it may still add to.
    Window {
        worker: usize,
        window: Option<stats::Window>,
        open_from: u32,
    },
    Event(TimelineEvent),
    Done {
        worker: usize,
        report: Box<stats::WorkerReport>,
    },
    /// A worker panicked: it will never send `Done`, so the run ends with this error.
    WorkerFailed(String),
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

/// Await every worker in completion order; one that panicked is reported at once, so the
/// collector stops instead of waiting for its `Done` forever.
async fn watch_workers(
    handles: Vec<tokio::task::JoinHandle<()>>,
    tx: mpsc::UnboundedSender<Message>,
) {
    use futures::StreamExt as _;
    let mut running: futures::stream::FuturesUnordered<_> = handles
        .into_iter()
        .enumerate()
        .map(|(w, h)| async move { (w, h.await) })
        .collect();
    while let Some((w, result)) = running.next().await {
        if let Err(e) = result {
            if e.is_panic() {
                let payload = e.into_panic();
                let why = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into());
                let _ = tx.send(Message::WorkerFailed(format!(
                    "load worker {w} panicked: {why}"
                )));
            }
        }
    }
}

struct Shared {
    options: LoadOptions,
    start: Instant,
    deadline: Instant,
    /// `deadline` as nanoseconds since `start`.
    deadline_ns: u64,
    stop: AtomicBool,
    generation_number: AtomicU64,
    generation: RwLock<Arc<Generation>>,
    all_slots: Mutex<Vec<Arc<Slot>>>,
    ejection: EjectionLimit,
    retry_budget: Option<RetryBudget>,
    /// Closed model with --requests: how many have been claimed.
    claimed: AtomicU64,
    /// Open model: the next arrival to send.
    next_arrival: AtomicU64,
    schedule: Vec<u64>,
    uri: Uri,
    hash_values: Vec<(HeaderValue, u64)>,
    /// The hash header has one value given with the request headers (already in the template).
    hash_header_fixed: bool,
    tx: mpsc::UnboundedSender<Message>,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn event(&self, kind: &'static str, instance: &str, state: Option<State>, detail: String) {
        self.event_at(self.now_ns(), kind, instance, state, detail);
    }

    fn event_at(
        &self,
        t_ns: u64,
        kind: &'static str,
        instance: &str,
        state: Option<State>,
        detail: String,
    ) {
        let _ = self.tx.send(Message::Event(TimelineEvent {
            t_ms: t_ns as f64 / 1e6,
            kind,
            instance: instance.to_string(),
            state,
            detail,
            fault: None,
        }));
    }

    /// A carried-out (`fault`) or failed (`fault-failed`) fault, with its typed kind.
    fn fault_event(&self, t_ns: u64, kind: &'static str, step: &FaultStep, detail: String) {
        let _ = self.tx.send(Message::Event(TimelineEvent {
            t_ms: t_ns as f64 / 1e6,
            kind,
            instance: step.action.instance().to_string(),
            state: None,
            detail,
            fault: Some(step.action.kind()),
        }));
    }

    fn transition(&self, slot: &Slot, t: Transition) {
        let kind = if slot.throttle.is_some() {
            "throttle"
        } else if t.from == t.to {
            "ejection-refused"
        } else {
            "breaker"
        };
        self.event(kind, &slot.id, Some(t.to), t.reason);
    }

    fn current(&self) -> Arc<Generation> {
        self.generation
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Build a generation for `endpoints`, reusing the slots (and so the breakers and
    /// statistics) of instances already known.
    fn install(&self, endpoints: &[Endpoint]) {
        let mut all = self.all_slots.lock().unwrap_or_else(|e| e.into_inner());
        let mut slots = Vec::with_capacity(endpoints.len());
        for e in endpoints {
            let existing = all
                .iter()
                .find(|s| s.id == e.id && s.addr == e.addr && s.tls == e.tls)
                .cloned();
            let slot = existing.unwrap_or_else(|| {
                let slot = Arc::new(Slot {
                    index: all.len(),
                    id: e.id.clone(),
                    addr: e.addr,
                    request: http1::RequestTemplate::new(
                        &self.options.method,
                        self.uri.path_and_query().map_or("/", |p| p.as_str()),
                        &e.addr.to_string(),
                        &self.options.headers,
                        self.options.body.clone(),
                    ),
                    weight: e.weight.max(1),
                    check_id: e.check_id,
                    tls: e.tls.clone(),
                    breaker: match &self.options.protection {
                        Protection::Breaker(c) => Some(CircuitBreaker::new(c.clone())),
                        _ => None,
                    },
                    throttle: match &self.options.protection {
                        Protection::Adaptive(c) => Some(AdaptiveThrottle::new(c.clone())),
                        _ => None,
                    },
                    dead: AtomicBool::new(false),
                    sent_while_dead: AtomicU64::new(0),
                    awaiting_recovery: AtomicBool::new(false),
                    first_ok_after_restore_ns: AtomicU64::new(0),
                });
                all.push(slot.clone());
                slot
            });
            slots.push(slot);
        }
        let specs: Vec<EndpointSpec> = slots
            .iter()
            .map(|s| EndpointSpec {
                id: s.id.clone(),
                weight: s.weight,
            })
            .collect();
        let old = self.current();
        for gone in old
            .slots
            .iter()
            .filter(|o| !slots.iter().any(|s| s.index == o.index))
        {
            if let Some(b) = &gone.breaker {
                b.forget(&self.ejection);
            }
        }
        self.ejection
            .set_fleet_size(slots.len(), self.options.max_ejected);
        let number = old.number + 1;
        let generation = Arc::new(Generation {
            number,
            slots,
            balancer: Balancer::new(&self.options.balance, &specs),
        });
        *self.generation.write().unwrap_or_else(|e| e.into_inner()) = generation;
        self.generation_number.store(number, Ordering::Release);
    }
}

/// What the run measured, before it is turned into a [`Report`].
pub struct RunOutcome {
    pub elapsed: Duration,
    pub instances: Vec<InstanceOutcome>,
    pub totals: stats::Totals,
    pub ticks: Vec<stats::Window>,
    pub events: Vec<TimelineEvent>,
    /// Open model: how many arrivals were scheduled and a digest of their times, so two runs
    /// can be shown to have replayed the same schedule.
    pub schedule: Option<(u64, String)>,
    /// Stopped early by Ctrl-C.
    pub interrupted: bool,
}

/// One instance's figures and final state.
pub struct InstanceOutcome {
    pub id: String,
    pub addr: SocketAddr,
    pub weight: u32,
    pub present_at_end: bool,
    pub final_state: State,
    pub stats: stats::SlotStats,
    pub sent_while_dead: u64,
    pub first_ok_after_restore: Option<Duration>,
}

/// Run the load. `progress` receives a live view about every tick (the renderer draws it);
/// `actuator` carries out `options.faults`. On `stop` the senders stop and the outcome, marked
/// interrupted, covers what was measured so far.
pub async fn run(
    options: LoadOptions,
    targets: Targets,
    actuator: Option<Arc<dyn FaultActuator>>,
    progress: &crate::progress::Progress,
    stop: &Stop,
) -> Result<RunOutcome, LoadError> {
    let uri: Uri = options
        .path
        .parse()
        .map_err(|e: http::uri::InvalidUri| LoadError::BadPath {
            path: options.path.clone(),
            why: e.to_string(),
        })?;
    let duration = options.duration.unwrap_or(HARD_CAP).min(HARD_CAP);
    let schedule = match &options.model {
        Model::Open {
            rate,
            arrivals,
            profile,
            ..
        } => schedule::arrival_times(
            *rate,
            profile,
            *arrivals,
            duration,
            options.requests.unwrap_or(u64::MAX),
            options.seed,
        ),
        Model::Closed { .. } => Vec::new(),
    };
    // A fixed -H value for the hash header is already in each instance's request template;
    // otherwise workers add one of the generated keys per request.
    let fixed = options
        .hash
        .as_ref()
        .and_then(|h| options.headers.iter().find(|(n, _)| *n == h.header));
    let hash_header_fixed = fixed.is_some();
    let hash_values = match (&options.hash, fixed) {
        (Some(_), Some((_, v))) => vec![(v.clone(), balance::hash_bytes(v.as_bytes()))],
        (Some(h), None) => (0..h.keys.max(1))
            .map(|k| {
                let text = format!("key-{k}");
                let hash = balance::hash_bytes(text.as_bytes());
                (HeaderValue::from_str(&text).expect("ascii key"), hash)
            })
            .collect(),
        (None, _) => Vec::new(),
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = Instant::now();
    let retry_budget =
        (options.retries > 0).then(|| RetryBudget::new(options.retry_budget.clone()));
    let tick = options.tick.max(Duration::from_millis(10));
    let shared = Arc::new(Shared {
        start,
        deadline: start + duration,
        deadline_ns: duration.as_nanos() as u64,
        stop: AtomicBool::new(false),
        generation_number: AtomicU64::new(0),
        generation: RwLock::new(Arc::new(Generation {
            number: 0,
            slots: Vec::new(),
            balancer: Balancer::new(&options.balance, &[]),
        })),
        all_slots: Mutex::new(Vec::new()),
        ejection: EjectionLimit::new(),
        retry_budget,
        claimed: AtomicU64::new(0),
        next_arrival: AtomicU64::new(0),
        schedule,
        uri,
        hash_values,
        hash_header_fixed,
        tx: tx.clone(),
        options,
    });

    // Discovery: the first list now, then follow changes until the run stops.
    let mut discovery = None;
    match targets {
        Targets::Fixed(list) => shared.install(&list),
        Targets::Live(mut rx_instances) => {
            let first = rx_instances.borrow_and_update().clone();
            shared.install(&first);
            for e in &first {
                shared.event("added", &e.id, None, format!("{} (initial)", e.addr));
            }
            let shared = shared.clone();
            discovery = Some(tokio::spawn(async move {
                let mut known = first;
                while rx_instances.changed().await.is_ok() {
                    if shared.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let next = rx_instances.borrow_and_update().clone();
                    for e in next.iter().filter(|e| !known.contains(e)) {
                        shared.event("added", &e.id, None, e.addr.to_string());
                    }
                    for e in known.iter().filter(|e| !next.contains(e)) {
                        shared.event("removed", &e.id, None, e.addr.to_string());
                    }
                    shared.install(&next);
                    known = next;
                }
            }));
        }
    }

    // Faults at their times, carried out off the async threads (they fork and wait).
    let fault_task = actuator
        .filter(|_| !shared.options.faults.is_empty())
        .map(|actuator| {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut plan = shared.options.faults.clone();
                plan.sort_by_key(|f| f.at);
                for step in plan {
                    tokio::time::sleep_until((shared.start + step.at).into()).await;
                    if shared.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    apply_fault(&shared, actuator.clone(), step).await;
                }
            })
        });

    let workers = match &shared.options.model {
        Model::Closed { concurrency } | Model::Open { concurrency, .. } => (*concurrency).max(1),
    };
    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        let shared = shared.clone();
        let seed = shared.options.seed ^ (w as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        handles.push(tokio::spawn(async move {
            let mut worker = Worker::new(shared, seed, w);
            worker.run().await;
        }));
    }
    let monitor = tokio::spawn(watch_workers(handles, tx.clone()));
    drop(tx);

    // The hard stop: the deadline plus one timeout for requests in flight.
    let stopper = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let grace = shared.options.timeout + Duration::from_secs(1);
            tokio::time::sleep_until((shared.deadline + grace).into()).await;
            shared.stop.store(true, Ordering::Relaxed);
        })
    };

    // Collect until every worker reported; draw progress once per tick.
    let mut totals = stats::WorkerReport::default();
    let mut book = live::TickBook::new(workers, tick);
    let mut events = Vec::new();
    let mut done = 0;
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut interrupted = false;
    let mut failure = None;
    while done < workers {
        tokio::select! {
            // The stop signal stops the senders; the report covers what was measured so far.
            () = stop.stopped(), if !interrupted => {
                interrupted = true;
                shared.stop.store(true, Ordering::Relaxed);
            }
            message = rx.recv() => match message {
                Some(Message::Window { worker, window, open_from }) => {
                    book.record(worker, window.as_ref(), open_from);
                }
                Some(Message::Event(e)) => events.push(e),
                Some(Message::Done { worker, report }) => {
                    totals.merge(&report);
                    book.finished(worker);
                    done += 1;
                }
                Some(Message::WorkerFailed(why)) => {
                    failure = Some(why);
                    break;
                }
                None => break,
            },
            _ = interval.tick() => {
                // Only ticks every worker has closed count, as in the report.
                let figures = book.figures();
                let generation = shared.current();
                progress.live(LiveView {
                    elapsed: start.elapsed(),
                    total: shared.options.duration,
                    requests: figures.requests,
                    errors: figures.errors,
                    rps: figures.rps,
                    p99_ms: figures.p99_ms,
                    breakers: generation
                        .slots
                        .iter()
                        .map(|s| (s.id.clone(), s.state().name()))
                        .collect(),
                }.to_string());
            }
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    stopper.abort();
    if let Some(d) = discovery {
        d.abort();
    }
    if let Some(f) = fault_task {
        f.abort();
    }
    if let Some(why) = failure {
        monitor.abort();
        return Err(LoadError::WorkerPanicked(why));
    }
    let _ = monitor.await;
    while let Ok(message) = rx.try_recv() {
        if let Message::Event(e) = message {
            events.push(e);
        }
    }
    // The run lasted until its last response (a worker that found nothing left to send
    // does not stretch it).
    let last_ns = totals.totals.last_end_ns.max(1);
    let elapsed = Duration::from_nanos(last_ns).min(start.elapsed());
    let schedule_digest = (!shared.schedule.is_empty()).then(|| {
        let bytes: Vec<u8> = shared
            .schedule
            .iter()
            .flat_map(|t| t.to_le_bytes())
            .collect();
        (
            shared.schedule.len() as u64,
            format!("{:016x}", balance::hash_bytes(&bytes)),
        )
    });
    events.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));

    let current = shared.current();
    let all = shared
        .all_slots
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let instances = all
        .iter()
        .map(|slot| {
            let stats = totals.slots.get(slot.index).cloned().unwrap_or_default();
            let first_ok = slot.first_ok_after_restore_ns.load(Ordering::Relaxed);
            InstanceOutcome {
                id: slot.id.clone(),
                addr: slot.addr,
                weight: slot.weight,
                present_at_end: current.slots.iter().any(|s| s.index == slot.index),
                final_state: slot.state(),
                stats,
                sent_while_dead: slot.sent_while_dead.load(Ordering::Relaxed),
                first_ok_after_restore: (first_ok > 0).then(|| Duration::from_nanos(first_ok)),
            }
        })
        .collect();
    Ok(RunOutcome {
        elapsed: elapsed.max(Duration::from_millis(1)),
        instances,
        totals: totals.totals,
        ticks: book.into_ticks(),
        events,
        schedule: schedule_digest,
        interrupted,
    })
}

async fn apply_fault(shared: &Arc<Shared>, actuator: Arc<dyn FaultActuator>, step: FaultStep) {
    let started_ns = shared.now_ns();
    let slot = {
        let all = shared.all_slots.lock().unwrap_or_else(|e| e.into_inner());
        all.iter().find(|s| s.id == step.action.instance()).cloned()
    };
    // Mark before acting: requests racing the kill are the ones the report must count.
    if let (FaultAction::Kill(_), Some(slot)) = (&step.action, &slot) {
        slot.awaiting_recovery.store(false, Ordering::Relaxed);
        slot.dead.store(true, Ordering::Relaxed);
    }
    let result = match &step.action {
        FaultAction::Kill(id) => actuator.kill(id).await,
        FaultAction::Restore(id) => actuator.restore(id).await,
        FaultAction::ErrorRate(id, rate) => actuator.set_faults(id, *rate, Duration::ZERO).await,
        FaultAction::Latency(id, latency) => actuator.set_faults(id, 0.0, *latency).await,
    };
    match result {
        Ok(()) => {
            if let (FaultAction::Restore(_), Some(slot)) = (&step.action, &slot) {
                slot.dead.store(false, Ordering::Relaxed);
                slot.first_ok_after_restore_ns.store(0, Ordering::Relaxed);
                slot.awaiting_recovery.store(true, Ordering::Relaxed);
            }
            shared.fault_event(started_ns, "fault", &step, step.to_string());
        }
        Err(e) => {
            if let (FaultAction::Kill(_), Some(slot)) = (&step.action, &slot) {
                slot.dead.store(false, Ordering::Relaxed);
            }
            shared.fault_event(
                started_ns,
                "fault-failed",
                &step,
                format!("{step}: {:#}", anyhow::Error::new(e)),
            )
        }
    }
}

/// Sleep until `target` with sub-millisecond precision: tokio's timer wheel has 1 ms ticks and
/// rounds deadlines up, which would make every open-model request up to 1 ms late and show up
/// as corrected latency the server never caused. Sleep to 2 ms before, then yield until due.
async fn wait_until(target: Instant) {
    let now = Instant::now();
    if target <= now {
        return;
    }
    // A sleep can end up to a tick (plus scheduling) after its deadline: aim 2 ms early.
    if target - now > Duration::from_millis(3) {
        tokio::time::sleep_until((target - Duration::from_millis(2)).into()).await;
    }
    while Instant::now() < target {
        tokio::task::yield_now().await;
    }
}

struct Worker {
    shared: Arc<Shared>,
    /// This worker's number, for the collector's per-worker tick marks.
    index: usize,
    rng: SmallRng,
    generation: Arc<Generation>,
    connections: Vec<Option<http1::Connection>>,
    /// Where a request with a per-request header is assembled.
    scratch: Vec<u8>,
    /// The attempt timer, reused across requests (see [`Worker::send`]).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    report: stats::WorkerReport,
    window: stats::Window,
    tick_ns: u64,
    next_tick_ns: u64,
}

/// The result of one attempt on one instance.
enum Attempt {
    Ok { id_mismatch: bool },
    Failed(ErrorKind),
}

impl Worker {
    fn new(shared: Arc<Shared>, seed: u64, index: usize) -> Self {
        let generation = shared.current();
        let tick_ns = shared
            .options
            .tick
            .max(Duration::from_millis(10))
            .as_nanos() as u64;
        Worker {
            shared,
            index,
            rng: SmallRng::seed_from_u64(seed),
            generation,
            connections: Vec::new(),
            scratch: Vec::new(),
            timer: None,
            report: stats::WorkerReport::default(),
            window: stats::Window::new(0),
            tick_ns,
            next_tick_ns: tick_ns,
        }
    }

    async fn run(&mut self) {
        let open = matches!(self.shared.options.model, Model::Open { .. });
        let limit = self.shared.options.requests;
        loop {
            if self.shared.stop.load(Ordering::Relaxed) {
                break;
            }
            // The clock is read once here and once when the response is complete: on the
            // closed model's hot path each read is a visible share of the generator's time.
            let (intended_ns, now_ns) = if open {
                let i = self.shared.next_arrival.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(&at) = self.shared.schedule.get(i) else {
                    break;
                };
                // Nothing this worker records from now on ends before `at`: the ticks
                // before it are closed as far as it is concerned.
                if at >= self.next_tick_ns {
                    self.flush_window(at);
                }
                let target = self.shared.start + Duration::from_nanos(at);
                wait_until(target).await;
                (at, self.shared.now_ns())
            } else {
                let now_ns = self.shared.now_ns();
                if now_ns >= self.shared.deadline_ns {
                    break;
                }
                if let Some(limit) = limit {
                    if self.shared.claimed.fetch_add(1, Ordering::Relaxed) >= limit {
                        break;
                    }
                }
                (now_ns, now_ns)
            };
            if self.shared.stop.load(Ordering::Relaxed) {
                break;
            }
            let rejected_locally = self.request(intended_ns, now_ns).await;
            if rejected_locally && !open {
                // A closed-model worker whose every instance is cut off would otherwise spin
                // millions of local rejections a second; a real client would back off too.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let now = self.shared.now_ns();
        self.flush_window(now);
        let report = std::mem::take(&mut self.report);
        let _ = self.shared.tx.send(Message::Done {
            worker: self.index,
            report: Box::new(report),
        });
    }

    fn refresh_generation(&mut self) {
        let number = self.shared.generation_number.load(Ordering::Acquire);
        if number != self.generation.number {
            self.generation = self.shared.current();
            // Close the keep-alive connections to instances that left the fleet: a long run
            // over a churning fleet would otherwise hold one socket per worker per departed
            // instance. Slot indices are stable for the run, so a returning instance simply
            // connects again.
            for (index, connection) in self.connections.iter_mut().enumerate() {
                if connection.is_some() && !self.generation.slots.iter().any(|s| s.index == index) {
                    *connection = None;
                }
            }
        }
    }

    /// Close the current window: nothing this worker records from now on ends before
    /// `now_ns`. The collector hears of it even when the window is empty, since it counts a
    /// tick only once every worker has closed it.
    fn flush_window(&mut self, now_ns: u64) {
        let tick = (now_ns / self.tick_ns) as u32;
        let window = if self.window.requests > 0 || !self.window.per_slot.is_empty() {
            Some(std::mem::replace(
                &mut self.window,
                stats::Window::new(tick),
            ))
        } else {
            self.window.tick = tick;
            None
        };
        let _ = self.shared.tx.send(Message::Window {
            worker: self.index,
            window,
            open_from: tick,
        });
        self.next_tick_ns = (u64::from(tick) + 1) * self.tick_ns;
    }

    /// Send one request (with its retries); returns whether it was refused locally.
    async fn request(&mut self, intended_ns: u64, now_ns: u64) -> bool {
        self.refresh_generation();
        let generation = self.generation.clone();
        let (hash_value, key) = if self.shared.hash_values.is_empty() {
            (None, 0)
        } else {
            let i = self.rng.gen_range(0..self.shared.hash_values.len());
            let (v, k) = &self.shared.hash_values[i];
            (Some(v.clone()), *k)
        };
        if let Some(budget) = &self.shared.retry_budget {
            budget.deposit(intended_ns);
        }
        let mut excluded: Option<usize> = None;
        let mut attempts_left = self.shared.options.retries;
        let outcome: Result<usize, ErrorKind>;
        let mut sent_ns = intended_ns;
        let mut last_end_ns = None;
        let mut now = now_ns;
        loop {
            let Some((position, admitted_probe)) = self.choose(&generation, key, now, excluded)
            else {
                outcome = Err(if generation.slots.is_empty() {
                    ErrorKind::NoInstance
                } else {
                    ErrorKind::BreakerRejected
                });
                break;
            };
            let _ = admitted_probe;
            let slot = generation.slots[position].clone();
            if let Some(throttle) = &slot.throttle {
                let draw: f64 = self.rng.gen();
                let (admit, transition) = throttle.try_acquire(now, draw);
                if let Some(t) = transition {
                    self.shared.transition(&slot, t);
                }
                if !admit {
                    self.report.slot(slot.index).errors[ErrorKind::BreakerRejected as usize] += 1;
                    outcome = Err(ErrorKind::BreakerRejected);
                    break;
                }
            }
            // Sent after the kill was ordered: counted once it is known the instance did not
            // answer (one that still answered was not dead yet: the kill takes a moment).
            let sent_while_dead = slot.dead.load(Ordering::Relaxed);
            sent_ns = now;
            generation.balancer.start(position);
            let attempt = self.send(&slot, hash_value.as_ref(), sent_ns).await;
            let end_ns = self.shared.now_ns();
            now = end_ns;
            last_end_ns = Some(end_ns);
            generation
                .balancer
                .finish(position, end_ns.saturating_sub(sent_ns), end_ns);
            let failed = match &attempt {
                Attempt::Ok { .. } => None,
                Attempt::Failed(kind) => Some(*kind),
            };
            let instance_failure = failed.is_some_and(ErrorKind::is_instance_failure);
            if sent_while_dead && failed.is_some() {
                slot.sent_while_dead.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(b) = &slot.breaker {
                if let Some(t) = b.record(end_ns, instance_failure, &self.shared.ejection) {
                    self.shared.transition(&slot, t);
                }
            }
            if let Some(t) = &slot.throttle {
                if let Some(tr) = t.record(end_ns, !instance_failure) {
                    self.shared.transition(&slot, tr);
                }
            }
            let stats = self.report.slot(slot.index);
            stats.sent += 1;
            let corrected_us = (end_ns.saturating_sub(intended_ns) / 1000).max(1);
            let uncorrected_us = (end_ns.saturating_sub(sent_ns) / 1000).max(1);
            let _ = stats.corrected.record(corrected_us);
            let _ = stats.uncorrected.record(uncorrected_us);
            match attempt {
                Attempt::Ok { id_mismatch } => {
                    stats.ok += 1;
                    stats.id_mismatches += u64::from(id_mismatch);
                    if slot.awaiting_recovery.load(Ordering::Relaxed)
                        && slot
                            .awaiting_recovery
                            .compare_exchange(true, false, Ordering::AcqRel, Ordering::Relaxed)
                            .is_ok()
                    {
                        slot.first_ok_after_restore_ns
                            .store(end_ns.max(1), Ordering::Relaxed);
                    }
                    outcome = Ok(slot.index);
                    break;
                }
                Attempt::Failed(kind) => {
                    stats.errors[kind as usize] += 1;
                    let retry = attempts_left > 0
                        && kind.is_instance_failure()
                        && self
                            .shared
                            .retry_budget
                            .as_ref()
                            .is_some_and(|b| b.try_withdraw(end_ns));
                    if !retry {
                        outcome = Err(kind);
                        break;
                    }
                    attempts_left -= 1;
                    self.report.totals.retries += 1;
                    excluded = Some(position);
                }
            }
        }
        // One clock read per attempt is enough: a local rejection reads it once more.
        let end_ns = last_end_ns.unwrap_or_else(|| self.shared.now_ns());
        if end_ns >= self.next_tick_ns {
            self.flush_window(end_ns);
        }
        let totals = &mut self.report.totals;
        totals.requests += 1;
        totals.last_end_ns = totals.last_end_ns.max(end_ns);
        let corrected_us = (end_ns.saturating_sub(intended_ns) / 1000).max(1);
        let uncorrected_us = (end_ns.saturating_sub(sent_ns.min(end_ns)) / 1000).max(1);
        self.window.requests += 1;
        match outcome {
            Ok(index) => {
                totals.ok += 1;
                let _ = totals.corrected.record(corrected_us);
                let _ = totals.uncorrected.record(uncorrected_us);
                let _ = self.window.latency.record(corrected_us);
                self.window.count(index, true);
                false
            }
            Err(kind) => {
                totals.errors[kind as usize] += 1;
                self.window.errors += 1;
                matches!(kind, ErrorKind::BreakerRejected | ErrorKind::NoInstance)
            }
        }
    }

    /// Pick an instance its breaker admits; a few tries, since a half-open breaker may have
    /// run out of probe permits between the eligibility check and the acquire.
    fn choose(
        &mut self,
        generation: &Generation,
        key: u64,
        now: u64,
        excluded: Option<usize>,
    ) -> Option<(usize, bool)> {
        for _ in 0..3 {
            let slots = &generation.slots;
            let eligible = |i: usize| {
                Some(i) != excluded
                    && slots[i]
                        .breaker
                        .as_ref()
                        .is_none_or(|b| b.is_available(now))
            };
            let position = generation
                .balancer
                .pick(&mut self.rng, key, now, &eligible)?;
            let Some(breaker) = &slots[position].breaker else {
                return Some((position, false));
            };
            match breaker.try_acquire(now) {
                Admission::Allowed => return Some((position, false)),
                Admission::Probe(transition) => {
                    if let Some(t) = transition {
                        self.shared.transition(&slots[position], t);
                    }
                    return Some((position, true));
                }
                Admission::Rejected => continue,
            }
        }
        None
    }

    /// One attempt, bounded by --timeout. The worker keeps one timer armed for a deadline
    /// between the attempt's due time and `slack` after it, and moves it only when it falls
    /// out of that range: a timer per request (`tokio::time::timeout`) would enter and leave
    /// the runtime's timer wheel on every request. A timeout so fires at most `slack` late.
    async fn send(
        &mut self,
        slot: &Slot,
        hash_value: Option<&HeaderValue>,
        sent_ns: u64,
    ) -> Attempt {
        let timeout = self.shared.options.timeout;
        let slack = (timeout / 20).max(Duration::from_millis(1));
        let due = self.shared.start + Duration::from_nanos(sent_ns) + timeout;
        let mut timer = self
            .timer
            .take()
            .unwrap_or_else(|| Box::pin(tokio::time::sleep_until((due + slack).into())));
        let armed = timer.deadline().into_std();
        if armed < due || armed > due + slack {
            timer.as_mut().reset((due + slack).into());
        }
        let result = tokio::select! {
            biased;
            result = self.exchange(slot, hash_value) => Some(result),
            () = timer.as_mut() => None,
        };
        self.timer = Some(timer);
        match result {
            Some(Ok(attempt)) => attempt,
            Some(Err(kind)) => Attempt::Failed(kind),
            None => Attempt::Failed(ErrorKind::Timeout),
        }
    }

    /// One exchange on the worker's connection to `slot`. The connection is taken out while
    /// in use and put back only when it can carry the next request, so a timeout or a broken
    /// exchange drops it.
    async fn exchange(
        &mut self,
        slot: &Slot,
        hash_value: Option<&HeaderValue>,
    ) -> Result<Attempt, ErrorKind> {
        if self.connections.len() <= slot.index {
            self.connections.resize_with(slot.index + 1, || None);
        }
        let extra = match (&self.shared.options.hash, hash_value) {
            (Some(h), Some(v)) if !self.shared.hash_header_fixed => Some((&h.header, v)),
            _ => None,
        };
        let template = &slot.request;
        let request = template.bytes(extra, &mut self.scratch);
        let expect_id = slot.check_id.then_some(slot.id.as_bytes());
        let mut resent = false;
        loop {
            let mut connection = match self.connections[slot.index].take() {
                Some(c) => c,
                None => {
                    let tls = match (&slot.tls, &self.shared.options.tls) {
                        (None, _) => None,
                        (Some(name), Some(client)) => Some((client, name)),
                        // An HTTPS instance appeared in a run that has no TLS client (no
                        // trusted roots and neither --cacert nor --insecure).
                        (Some(_), None) => return Err(ErrorKind::Tls),
                    };
                    let opened =
                        http1::Connection::open(slot.addr, tls)
                            .await
                            .map_err(|e| match e {
                                http1::OpenError::Connect(_) => ErrorKind::Connect,
                                http1::OpenError::Tls(_) => ErrorKind::Tls,
                            })?;
                    let totals = &mut self.report.totals;
                    totals.connections += 1;
                    if let Some(d) = opened.handshake {
                        let _ = totals.tls_handshakes.record(d.as_micros().max(1) as u64);
                    }
                    opened
                }
            };
            match connection
                .exchange(request, template.is_head, expect_id)
                .await
            {
                Ok(exchange) => {
                    if exchange.keep_alive {
                        self.connections[slot.index] = Some(connection);
                    }
                    return Ok(match exchange.status {
                        500..=599 => Attempt::Failed(ErrorKind::Status5xx),
                        400..=499 => Attempt::Failed(ErrorKind::Status4xx),
                        _ => Attempt::Ok {
                            id_mismatch: exchange.id_mismatch,
                        },
                    });
                }
                // The server closed the idle connection: the request never reached it.
                Err(http1::Failure::Stale) if template.idempotent && !resent => resent = true,
                Err(_) => return Err(ErrorKind::Transport),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_worker_is_reported_while_the_others_still_run() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (release, hold) = tokio::sync::oneshot::channel::<()>();
        let still_running = tokio::spawn(async move {
            let _ = hold.await;
        });
        let panicking = tokio::spawn(async { panic!("boom") });
        tokio::spawn(watch_workers(vec![still_running, panicking], tx));
        let message = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("the panic is reported without waiting for the other worker");
        match message {
            Some(Message::WorkerFailed(why)) => {
                assert!(why.contains("worker 1") && why.contains("boom"), "{why}")
            }
            _ => panic!("expected WorkerFailed"),
        }
        let _ = release.send(());
    }
}
