//! Per-instance circuit breakers: three-state and adaptive (SRE client-side throttling), retry budget.
//!
//! Every method takes the caller's clock (`now_ns`, nanoseconds since an arbitrary origin), so
//! the state machines are tested without sleeping and replay identically. The closed-state
//! admission check is one atomic load; only outcomes take a short per-instance lock.
use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

/// The three states of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half-open",
        }
    }
    fn from_u8(v: u8) -> State {
        match v {
            1 => State::Open,
            2 => State::HalfOpen,
            _ => State::Closed,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Three-state breaker settings. Defaults (docs/commands/load.md explains each against
/// resilience4j and gobreaker): trip at 50 % failures over a 10 s window once 20 calls were
/// seen, or after 5 consecutive failures; stay open 5 s; close after 3 successful probes.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    pub failure_rate: f64,
    pub minimum_calls: u32,
    pub window: Duration,
    pub consecutive_failures: u32,
    pub open_for: Duration,
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_rate: 0.5,
            minimum_calls: 20,
            window: Duration::from_secs(10),
            consecutive_failures: 5,
            open_for: Duration::from_secs(5),
            half_open_probes: 3,
        }
    }
}

/// A change of state, for the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    /// Why: "failure rate 83% over 24 calls", "5 consecutive failures", "probe failed", ...
    pub reason: String,
}

/// The outcome of asking a breaker for permission.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    Allowed,
    /// Allowed as a half-open probe; `Some` when this call moved the breaker to half-open.
    Probe(Option<Transition>),
    Rejected,
}

/// Caps how many instances may be ejected (open or half-open) at once, so a fleet-wide
/// problem never cuts off every instance: `max(1, floor(n × share))`, but at most n − 1.
#[derive(Debug, Default)]
pub struct EjectionLimit {
    ejected: AtomicUsize,
    allowed: AtomicUsize,
}

impl EjectionLimit {
    pub fn new() -> Self {
        Self::default()
    }

    /// Recompute the cap for a fleet of `instances` (call on every discovery change).
    pub fn set_fleet_size(&self, instances: usize, share: f64) {
        self.allowed
            .store(max_ejected(instances, share), Ordering::Relaxed);
    }

    fn try_eject(&self) -> bool {
        let allowed = self.allowed.load(Ordering::Relaxed);
        self.ejected
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < allowed).then_some(n + 1)
            })
            .is_ok()
    }

    fn release(&self) {
        let _ = self
            .ejected
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    pub fn ejected(&self) -> usize {
        self.ejected.load(Ordering::Relaxed)
    }
}

/// How many of `instances` may be ejected at once under `share` (0..=1).
pub fn max_ejected(instances: usize, share: f64) -> usize {
    if instances <= 1 {
        return 0;
    }
    let by_share = (instances as f64 * share).floor() as usize;
    by_share.max(1).min(instances - 1)
}

/// A failure-rate window in 10 buckets, rotated by the caller's clock.
#[derive(Debug, Clone)]
struct Window {
    bucket_ns: u64,
    /// (bucket index since origin, calls, failures)
    buckets: [(u64, u32, u32); 10],
}

impl Window {
    fn new(window: Duration) -> Self {
        Window {
            bucket_ns: (window.as_nanos() as u64 / 10).max(1),
            buckets: [(u64::MAX, 0, 0); 10],
        }
    }

    fn add(&mut self, now_ns: u64, failed: bool) {
        let idx = now_ns / self.bucket_ns;
        let slot = &mut self.buckets[(idx % 10) as usize];
        if slot.0 != idx {
            *slot = (idx, 0, 0);
        }
        slot.1 += 1;
        slot.2 += u32::from(failed);
    }

    fn totals(&self, now_ns: u64) -> (u32, u32) {
        let idx = now_ns / self.bucket_ns;
        self.buckets
            .iter()
            .filter(|b| b.0 != u64::MAX && b.0 + 10 > idx && b.0 <= idx)
            .fold((0, 0), |(c, f), b| (c + b.1, f + b.2))
    }

    fn clear(&mut self) {
        self.buckets = [(u64::MAX, 0, 0); 10];
    }
}

#[derive(Debug)]
struct BreakerInner {
    state: State,
    window: Window,
    consecutive_failures: u32,
    opened_at_ns: u64,
    probes_started: u32,
    probes_succeeded: u32,
    /// Whether this breaker holds one of the [`EjectionLimit`]'s places.
    holds_ejection: bool,
}

/// The three-state circuit breaker of one instance, shared by all workers.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: AtomicU8,
    inner: Mutex<BreakerInner>,
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        let window = Window::new(config.window);
        CircuitBreaker {
            config,
            state: AtomicU8::new(State::Closed as u8),
            inner: Mutex::new(BreakerInner {
                state: State::Closed,
                window,
                consecutive_failures: 0,
                opened_at_ns: 0,
                probes_started: 0,
                probes_succeeded: 0,
                holds_ejection: false,
            }),
        }
    }

    pub fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::Relaxed))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, inner: &mut BreakerInner, to: State) {
        inner.state = to;
        self.state.store(to as u8, Ordering::Relaxed);
    }

    /// Whether a request could be admitted now, without taking a probe permit: the balancer's
    /// eligibility check.
    pub fn is_available(&self, now_ns: u64) -> bool {
        match self.state() {
            State::Closed => true,
            _ => {
                let inner = self.lock();
                match inner.state {
                    State::Closed => true,
                    State::Open => {
                        now_ns.saturating_sub(inner.opened_at_ns)
                            >= self.config.open_for.as_nanos() as u64
                    }
                    State::HalfOpen => inner.probes_started < self.config.half_open_probes,
                }
            }
        }
    }

    /// Ask to send a request. In the open state, once the cool-down has passed, the first
    /// callers become half-open probes.
    pub fn try_acquire(&self, now_ns: u64) -> Admission {
        if self.state() == State::Closed {
            return Admission::Allowed;
        }
        let mut inner = self.lock();
        match inner.state {
            State::Closed => Admission::Allowed,
            State::Open => {
                let cooled = now_ns.saturating_sub(inner.opened_at_ns)
                    >= self.config.open_for.as_nanos() as u64;
                if !cooled {
                    return Admission::Rejected;
                }
                self.set(&mut inner, State::HalfOpen);
                inner.probes_started = 1;
                inner.probes_succeeded = 0;
                Admission::Probe(Some(Transition {
                    from: State::Open,
                    to: State::HalfOpen,
                    reason: format!("cool-down of {:?} over", self.config.open_for),
                }))
            }
            State::HalfOpen => {
                if inner.probes_started < self.config.half_open_probes {
                    inner.probes_started += 1;
                    Admission::Probe(None)
                } else {
                    Admission::Rejected
                }
            }
        }
    }

    /// Record the outcome of an admitted request.
    pub fn record(&self, now_ns: u64, failed: bool, limit: &EjectionLimit) -> Option<Transition> {
        let mut inner = self.lock();
        match inner.state {
            State::Closed => {
                inner.window.add(now_ns, failed);
                if !failed {
                    inner.consecutive_failures = 0;
                    return None;
                }
                inner.consecutive_failures += 1;
                let (calls, failures) = inner.window.totals(now_ns);
                let rate = f64::from(failures) / f64::from(calls.max(1));
                let reason = if inner.consecutive_failures >= self.config.consecutive_failures {
                    format!("{} consecutive failures", inner.consecutive_failures)
                } else if calls >= self.config.minimum_calls && rate >= self.config.failure_rate {
                    format!("failure rate {:.0}% over {calls} calls", rate * 100.0)
                } else {
                    return None;
                };
                if !limit.try_eject() {
                    // Keep serving: the ejection cap protects the fleet from a breaker
                    // storm. Reset the streak so the refusal is reported once per streak.
                    inner.consecutive_failures = 0;
                    inner.window.clear();
                    return Some(Transition {
                        from: State::Closed,
                        to: State::Closed,
                        reason: format!("{reason}; not ejected: ejection limit reached"),
                    });
                }
                inner.holds_ejection = true;
                self.open(&mut inner, now_ns);
                Some(Transition {
                    from: State::Closed,
                    to: State::Open,
                    reason,
                })
            }
            State::HalfOpen => {
                if failed {
                    self.open(&mut inner, now_ns);
                    return Some(Transition {
                        from: State::HalfOpen,
                        to: State::Open,
                        reason: "probe failed".into(),
                    });
                }
                inner.probes_succeeded += 1;
                if inner.probes_succeeded >= self.config.half_open_probes {
                    self.set(&mut inner, State::Closed);
                    inner.window.clear();
                    inner.consecutive_failures = 0;
                    if std::mem::take(&mut inner.holds_ejection) {
                        limit.release();
                    }
                    return Some(Transition {
                        from: State::HalfOpen,
                        to: State::Closed,
                        reason: format!("{} probes succeeded", inner.probes_succeeded),
                    });
                }
                None
            }
            // A request admitted before the breaker opened finished late: already counted.
            State::Open => None,
        }
    }

    fn open(&self, inner: &mut BreakerInner, now_ns: u64) {
        self.set(inner, State::Open);
        inner.opened_at_ns = now_ns;
        inner.probes_started = 0;
        inner.probes_succeeded = 0;
    }

    /// The instance left the fleet: give back its ejection place.
    pub fn forget(&self, limit: &EjectionLimit) {
        let mut inner = self.lock();
        if std::mem::take(&mut inner.holds_ejection) {
            limit.release();
        }
    }
}

/// Google SRE client-side throttling settings (SRE book ch. 21). K = 2 is the book's value;
/// go-zero uses 1.5. Requests and accepts are counted over 10 s in 40 buckets (go-zero).
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptiveConfig {
    pub k: f64,
    pub window: Duration,
    /// No throttling before this many requests in the window (kratos uses 100; a short load
    /// test needs a smaller floor).
    pub minimum_requests: u32,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            k: 2.0,
            window: Duration::from_secs(10),
            minimum_requests: 20,
        }
    }
}

const ADAPTIVE_BUCKETS: usize = 40;

#[derive(Debug)]
struct ThrottleInner {
    /// (bucket index, requests, accepts)
    buckets: [(u64, u32, u32); ADAPTIVE_BUCKETS],
    throttling: bool,
}

/// Adaptive throttle of one instance: drops locally with probability
/// max(0, (requests − K·accepts) / (requests + 1)).
#[derive(Debug)]
pub struct AdaptiveThrottle {
    config: AdaptiveConfig,
    bucket_ns: u64,
    inner: Mutex<ThrottleInner>,
}

impl AdaptiveThrottle {
    pub fn new(config: AdaptiveConfig) -> Self {
        let bucket_ns = (config.window.as_nanos() as u64 / ADAPTIVE_BUCKETS as u64).max(1);
        AdaptiveThrottle {
            config,
            bucket_ns,
            inner: Mutex::new(ThrottleInner {
                buckets: [(u64::MAX, 0, 0); ADAPTIVE_BUCKETS],
                throttling: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ThrottleInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn totals(&self, inner: &ThrottleInner, now_ns: u64) -> (u32, u32) {
        let idx = now_ns / self.bucket_ns;
        inner
            .buckets
            .iter()
            .filter(|b| b.0 != u64::MAX && b.0 <= idx && b.0 + ADAPTIVE_BUCKETS as u64 > idx)
            .fold((0, 0), |(r, a), b| (r + b.1, a + b.2))
    }

    fn add(&self, inner: &mut ThrottleInner, now_ns: u64, requests: u32, accepts: u32) {
        let idx = now_ns / self.bucket_ns;
        let slot = &mut inner.buckets[(idx % ADAPTIVE_BUCKETS as u64) as usize];
        if slot.0 != idx {
            *slot = (idx, 0, 0);
        }
        slot.1 += requests;
        slot.2 += accepts;
    }

    /// The current drop probability.
    pub fn drop_probability(&self, now_ns: u64) -> f64 {
        let inner = self.lock();
        self.probability(&inner, now_ns)
    }

    fn probability(&self, inner: &ThrottleInner, now_ns: u64) -> f64 {
        let (requests, accepts) = self.totals(inner, now_ns);
        if requests < self.config.minimum_requests {
            return 0.0;
        }
        let r = f64::from(requests);
        ((r - self.config.k * f64::from(accepts)) / (r + 1.0)).max(0.0)
    }

    /// Decide whether to send; `draw` is a uniform number in [0, 1) from the caller's seeded
    /// generator. A local drop counts as a request that was not accepted (as in the book).
    /// Returns the admission and, when throttling starts or stops, a transition
    /// (closed → open = "throttling", open → closed = "not throttling").
    pub fn try_acquire(&self, now_ns: u64, draw: f64) -> (bool, Option<Transition>) {
        let mut inner = self.lock();
        let p = self.probability(&inner, now_ns);
        let transition = self.note_throttling(&mut inner, p);
        if draw < p {
            self.add(&mut inner, now_ns, 1, 0);
            return (false, transition);
        }
        (true, transition)
    }

    /// Record an admitted request's outcome: `accepted` is false for failures.
    pub fn record(&self, now_ns: u64, accepted: bool) -> Option<Transition> {
        let mut inner = self.lock();
        self.add(&mut inner, now_ns, 1, u32::from(accepted));
        let p = self.probability(&inner, now_ns);
        self.note_throttling(&mut inner, p)
    }

    fn note_throttling(&self, inner: &mut ThrottleInner, p: f64) -> Option<Transition> {
        let now_throttling = p > 0.0;
        if now_throttling == inner.throttling {
            return None;
        }
        inner.throttling = now_throttling;
        Some(if now_throttling {
            Transition {
                from: State::Closed,
                to: State::Open,
                reason: format!("throttling: drop probability {:.0}%", p * 100.0),
            }
        } else {
            Transition {
                from: State::Open,
                to: State::Closed,
                reason: "throttling stopped".into(),
            }
        })
    }

    pub fn is_throttling(&self) -> bool {
        self.lock().throttling
    }
}

/// Retry budget (tower `TpsBudget`, Finagle `RetryBudget`): retries may use `ratio` of the
/// requests plus `min_per_sec` per second, both over `ttl`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryBudgetConfig {
    pub ratio: f64,
    pub min_per_sec: u32,
    pub ttl: Duration,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        RetryBudgetConfig {
            ratio: 0.2,
            min_per_sec: 10,
            ttl: Duration::from_secs(10),
        }
    }
}

#[derive(Debug)]
struct BudgetInner {
    /// (bucket index, deposits, withdrawals), 10 buckets over the ttl.
    buckets: [(u64, u32, u32); 10],
}

/// A shared retry budget.
#[derive(Debug)]
pub struct RetryBudget {
    config: RetryBudgetConfig,
    bucket_ns: u64,
    inner: Mutex<BudgetInner>,
}

impl RetryBudget {
    pub fn new(config: RetryBudgetConfig) -> Self {
        let bucket_ns = (config.ttl.as_nanos() as u64 / 10).max(1);
        RetryBudget {
            config,
            bucket_ns,
            inner: Mutex::new(BudgetInner {
                buckets: [(u64::MAX, 0, 0); 10],
            }),
        }
    }

    fn slot<'a>(&self, inner: &'a mut BudgetInner, now_ns: u64) -> &'a mut (u64, u32, u32) {
        let idx = now_ns / self.bucket_ns;
        let slot = &mut inner.buckets[(idx % 10) as usize];
        if slot.0 != idx {
            *slot = (idx, 0, 0);
        }
        slot
    }

    /// An original request was sent.
    pub fn deposit(&self, now_ns: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        self.slot(&mut inner, now_ns).1 += 1;
    }

    /// Take one retry from the budget if there is one left.
    pub fn try_withdraw(&self, now_ns: u64) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let idx = now_ns / self.bucket_ns;
        let (deposits, withdrawals) = inner
            .buckets
            .iter()
            .filter(|b| b.0 != u64::MAX && b.0 <= idx && b.0 + 10 > idx)
            .fold((0u64, 0u64), |(d, w), b| {
                (d + u64::from(b.1), w + u64::from(b.2))
            });
        let reserve = u64::from(self.config.min_per_sec) * self.config.ttl.as_secs().max(1);
        let allowed = (deposits as f64 * self.config.ratio) as u64 + reserve;
        if withdrawals >= allowed {
            return false;
        }
        self.slot(&mut inner, now_ns).2 += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;

    fn limit(n: usize) -> EjectionLimit {
        let l = EjectionLimit::new();
        l.set_fleet_size(n, 0.5);
        l
    }

    #[test]
    fn consecutive_failures_open_the_breaker() {
        let b = CircuitBreaker::new(BreakerConfig::default());
        let l = limit(3);
        for i in 0..4 {
            assert_eq!(b.record(i * MS, true, &l), None);
        }
        let t = b.record(4 * MS, true, &l).unwrap();
        assert_eq!((t.from, t.to), (State::Closed, State::Open));
        assert!(t.reason.contains("5 consecutive"), "{}", t.reason);
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.try_acquire(5 * MS), Admission::Rejected);
        assert!(!b.is_available(5 * MS));
        assert_eq!(l.ejected(), 1);
    }

    #[test]
    fn failure_rate_opens_only_after_minimum_calls() {
        let config = BreakerConfig {
            consecutive_failures: 1000,
            ..Default::default()
        };
        let b = CircuitBreaker::new(config);
        let l = limit(3);
        // Alternate success/failure: 50 % but below the 20-call minimum nothing happens.
        let mut t = None;
        for i in 0..19u64 {
            t = b.record(i * MS, i % 2 == 0, &l);
            assert_eq!(t, None, "call {i}");
        }
        for i in 19..40u64 {
            t = b.record(i * MS, i % 2 == 0, &l);
            if t.is_some() {
                break;
            }
        }
        let t = t.expect("breaker should open at 50 % once 20 calls are in");
        assert_eq!(t.to, State::Open);
        assert!(t.reason.starts_with("failure rate 5"), "{}", t.reason);
    }

    #[test]
    fn old_failures_leave_the_window() {
        let config = BreakerConfig {
            consecutive_failures: 1000,
            ..Default::default()
        };
        let b = CircuitBreaker::new(config);
        let l = limit(3);
        for i in 0..15u64 {
            b.record(i * MS, true, &l);
        }
        // 11 s later the 15 failures are out of the 10 s window: 10 failures of 20 calls
        // would trip with them, not without.
        for i in 0..10u64 {
            assert_eq!(b.record(11 * S + i * MS, false, &l), None);
        }
        for i in 0..9u64 {
            assert_eq!(b.record(11 * S + (20 + i) * MS, true, &l), None);
        }
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn half_open_probes_close_the_breaker() {
        let b = CircuitBreaker::new(BreakerConfig::default());
        let l = limit(3);
        for i in 0..5 {
            b.record(i * MS, true, &l);
        }
        assert_eq!(b.try_acquire(4 * S), Admission::Rejected);
        let first = b.try_acquire(5 * S + 4 * MS);
        let Admission::Probe(Some(t)) = first else {
            panic!("{first:?}")
        };
        assert_eq!((t.from, t.to), (State::Open, State::HalfOpen));
        assert_eq!(b.try_acquire(5 * S + 5 * MS), Admission::Probe(None));
        assert_eq!(b.try_acquire(5 * S + 6 * MS), Admission::Probe(None));
        // Only three probes at a time.
        assert_eq!(b.try_acquire(5 * S + 7 * MS), Admission::Rejected);
        assert_eq!(b.record(5 * S + 8 * MS, false, &l), None);
        assert_eq!(b.record(5 * S + 9 * MS, false, &l), None);
        let t = b.record(5 * S + 10 * MS, false, &l).unwrap();
        assert_eq!((t.from, t.to), (State::HalfOpen, State::Closed));
        assert_eq!(b.try_acquire(5 * S + 11 * MS), Admission::Allowed);
        assert_eq!(l.ejected(), 0);
    }

    #[test]
    fn failed_probe_reopens_for_another_cool_down() {
        let b = CircuitBreaker::new(BreakerConfig::default());
        let l = limit(3);
        for i in 0..5 {
            b.record(i * MS, true, &l);
        }
        assert!(matches!(b.try_acquire(6 * S), Admission::Probe(_)));
        let t = b.record(6 * S + MS, true, &l).unwrap();
        assert_eq!((t.from, t.to), (State::HalfOpen, State::Open));
        assert_eq!(b.try_acquire(10 * S), Admission::Rejected);
        assert!(matches!(
            b.try_acquire(11 * S + 2 * MS),
            Admission::Probe(_)
        ));
        assert_eq!(l.ejected(), 1, "reopening keeps the same ejection place");
    }

    #[test]
    fn ejection_limit_keeps_instances_serving() {
        assert_eq!(max_ejected(1, 0.5), 0);
        assert_eq!(max_ejected(2, 0.5), 1);
        assert_eq!(max_ejected(3, 0.5), 1);
        assert_eq!(max_ejected(4, 0.5), 2);
        assert_eq!(max_ejected(3, 1.0), 2, "at least one instance always stays");
        assert_eq!(max_ejected(10, 0.0), 1, "at least one may be ejected");
        let l = limit(3);
        let a = CircuitBreaker::new(BreakerConfig::default());
        let b = CircuitBreaker::new(BreakerConfig::default());
        for i in 0..5 {
            a.record(i * MS, true, &l);
        }
        assert_eq!(a.state(), State::Open);
        let mut refused = None;
        for i in 0..5 {
            refused = b.record(i * MS, true, &l);
        }
        let refused = refused.unwrap();
        assert_eq!(refused.to, State::Closed);
        assert!(refused.reason.contains("ejection limit"));
        assert_eq!(b.state(), State::Closed);
        a.forget(&l);
        assert_eq!(l.ejected(), 0);
    }

    #[test]
    fn adaptive_throttle_drops_in_proportion_to_rejections() {
        let t = AdaptiveThrottle::new(AdaptiveConfig::default());
        // 100 requests, 20 accepted: p = (100 - 2*20) / 101 ≈ 0.594.
        let mut started = None;
        for i in 0..100u64 {
            if let Some(tr) = t.record(i * MS, i < 20) {
                started = Some(tr);
            }
        }
        assert_eq!(started.unwrap().to, State::Open);
        let p = t.drop_probability(100 * MS);
        assert!((p - 60.0 / 101.0).abs() < 1e-9, "{p}");
        assert!(!t.try_acquire(100 * MS, 0.5).0);
        assert!(t.try_acquire(100 * MS, 0.7).0);
    }

    #[test]
    fn adaptive_throttle_does_not_drop_a_healthy_instance() {
        let t = AdaptiveThrottle::new(AdaptiveConfig::default());
        for i in 0..1000u64 {
            assert_eq!(
                t.record(i * MS, i % 3 != 0),
                None,
                "p stays 0 while accepts ≥ req/K"
            );
        }
        assert_eq!(t.drop_probability(1000 * MS), 0.0);
        // After the window passes, failures are forgotten.
        let t2 = AdaptiveThrottle::new(AdaptiveConfig::default());
        for i in 0..100u64 {
            t2.record(i * MS, false);
        }
        assert!(t2.drop_probability(100 * MS) > 0.9);
        assert_eq!(t2.drop_probability(11 * S), 0.0);
    }

    #[test]
    fn retry_budget_allows_ratio_plus_reserve() {
        let budget = RetryBudget::new(RetryBudgetConfig::default());
        for i in 0..1000u64 {
            budget.deposit(i * MS);
        }
        // 20 % of 1000 + 10/s × 10 s = 300 retries.
        let granted = (0..400u64)
            .filter(|i| budget.try_withdraw(S + i * MS))
            .count();
        assert_eq!(granted, 300);
        // Eleven seconds on, the window is empty again: only the reserve is left.
        let later = (0..400u64)
            .filter(|i| budget.try_withdraw(13 * S + i * MS))
            .count();
        assert_eq!(later, 100);
    }
}
