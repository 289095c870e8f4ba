//! Per-worker statistics: HDR histograms per instance, error counts by kind and one window per
//! tick, merged by the collector — workers never share a counter on the hot path.
use hdrhistogram::Histogram;
use serde::Serialize;

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The TCP connection was refused or could not be made.
    Connect,
    /// No complete response within --timeout.
    Timeout,
    /// The connection broke during the exchange (reset, closed early, bad HTTP).
    Transport,
    #[serde(rename = "5xx")]
    Status5xx,
    #[serde(rename = "4xx")]
    Status4xx,
    /// A breaker or the adaptive throttle refused locally.
    BreakerRejected,
    /// Discovery had no instance to send to.
    NoInstance,
    /// HTTPS: TCP connected but the TLS handshake failed (certificate not trusted, …).
    Tls,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Transport,
        ErrorKind::Status5xx,
        ErrorKind::Status4xx,
        ErrorKind::BreakerRejected,
        ErrorKind::NoInstance,
        ErrorKind::Tls,
    ];
    pub const COUNT: usize = 8;

    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Transport => "transport",
            ErrorKind::Status5xx => "5xx",
            ErrorKind::Status4xx => "4xx",
            ErrorKind::BreakerRejected => "breaker-rejected",
            ErrorKind::NoInstance => "no-instance",
            ErrorKind::Tls => "tls",
        }
    }

    /// Whether the instance is to blame (counts against its breaker). A 4xx is the client's
    /// mistake; local rejections never reached the instance.
    pub fn is_instance_failure(self) -> bool {
        matches!(
            self,
            ErrorKind::Connect
                | ErrorKind::Timeout
                | ErrorKind::Transport
                | ErrorKind::Status5xx
                | ErrorKind::Tls
        )
    }
}

/// Latency histograms are in microseconds, 3 significant digits, growing past 60 s if needed.
pub fn latency_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
    h.auto(true);
    h
}

/// Per-tick latency: 2 significant digits is plenty for a chart and keeps windows small.
pub fn window_histogram() -> Histogram<u32> {
    let mut h = Histogram::new_with_bounds(1, 60_000_000, 2).expect("valid histogram bounds");
    h.auto(true);
    h
}

/// What one worker saw of one instance.
#[derive(Debug, Clone)]
pub struct SlotStats {
    /// Attempts sent to the instance.
    pub sent: u64,
    pub ok: u64,
    pub errors: [u64; ErrorKind::COUNT],
    /// Responses whose X-Instance-ID named another instance.
    pub id_mismatches: u64,
    /// Latency from the intended send time (equal to `uncorrected` in the closed model).
    pub corrected: Histogram<u64>,
    pub uncorrected: Histogram<u64>,
}

impl SlotStats {
    pub fn new() -> Self {
        SlotStats {
            sent: 0,
            ok: 0,
            errors: [0; ErrorKind::COUNT],
            id_mismatches: 0,
            corrected: latency_histogram(),
            uncorrected: latency_histogram(),
        }
    }

    pub fn merge(&mut self, other: &SlotStats) {
        self.sent += other.sent;
        self.ok += other.ok;
        for (a, b) in self.errors.iter_mut().zip(other.errors) {
            *a += b;
        }
        self.id_mismatches += other.id_mismatches;
        let _ = self.corrected.add(&other.corrected);
        let _ = self.uncorrected.add(&other.uncorrected);
    }

    pub fn error_total(&self) -> u64 {
        self.errors.iter().sum()
    }
}

impl Default for SlotStats {
    fn default() -> Self {
        Self::new()
    }
}

/// Final outcomes of requests (after retries), across instances.
#[derive(Debug, Clone)]
pub struct Totals {
    pub requests: u64,
    pub ok: u64,
    pub errors: [u64; ErrorKind::COUNT],
    pub retries: u64,
    /// When the last request finished, in run nanoseconds.
    pub last_end_ns: u64,
    pub corrected: Histogram<u64>,
    pub uncorrected: Histogram<u64>,
    /// Connections opened (a new one per instance and worker, then again only when one broke
    /// or the server closed it).
    pub connections: u64,
    /// HTTPS: TLS handshake time of each opened connection, microseconds.
    pub tls_handshakes: Histogram<u64>,
}

impl Totals {
    pub fn new() -> Self {
        Totals {
            requests: 0,
            ok: 0,
            errors: [0; ErrorKind::COUNT],
            retries: 0,
            last_end_ns: 0,
            corrected: latency_histogram(),
            uncorrected: latency_histogram(),
            connections: 0,
            // Starts empty and grows on first use: most runs (plain HTTP) never record one,
            // and every worker carries its own.
            tls_handshakes: Histogram::new(3).expect("valid histogram precision"),
        }
    }

    pub fn merge(&mut self, other: &Totals) {
        self.requests += other.requests;
        self.ok += other.ok;
        for (a, b) in self.errors.iter_mut().zip(other.errors) {
            *a += b;
        }
        self.retries += other.retries;
        self.last_end_ns = self.last_end_ns.max(other.last_end_ns);
        let _ = self.corrected.add(&other.corrected);
        let _ = self.uncorrected.add(&other.uncorrected);
        self.connections += other.connections;
        let _ = self.tls_handshakes.add(&other.tls_handshakes);
    }

    pub fn error_total(&self) -> u64 {
        self.errors.iter().sum()
    }
}

impl Default for Totals {
    fn default() -> Self {
        Self::new()
    }
}

/// One tick of one worker: per-instance counts and final-outcome latency.
#[derive(Debug, Clone)]
pub struct Window {
    pub tick: u32,
    /// Indexed by instance slot: (ok, errors).
    pub per_slot: Vec<(u32, u32)>,
    pub requests: u32,
    pub errors: u32,
    pub latency: Histogram<u32>,
}

impl Window {
    pub fn new(tick: u32) -> Self {
        Window {
            tick,
            per_slot: Vec::new(),
            requests: 0,
            errors: 0,
            latency: window_histogram(),
        }
    }

    pub fn count(&mut self, slot: usize, ok: bool) {
        if self.per_slot.len() <= slot {
            self.per_slot.resize(slot + 1, (0, 0));
        }
        let c = &mut self.per_slot[slot];
        if ok {
            c.0 += 1;
        } else {
            c.1 += 1;
        }
    }

    pub fn merge(&mut self, other: &Window) {
        if self.per_slot.len() < other.per_slot.len() {
            self.per_slot.resize(other.per_slot.len(), (0, 0));
        }
        for (a, b) in self.per_slot.iter_mut().zip(&other.per_slot) {
            a.0 += b.0;
            a.1 += b.1;
        }
        self.requests += other.requests;
        self.errors += other.errors;
        let _ = self.latency.add(&other.latency);
    }
}

/// Everything one worker measured, sent once when it stops.
#[derive(Debug, Clone, Default)]
pub struct WorkerReport {
    pub slots: Vec<SlotStats>,
    pub totals: Totals,
}

impl WorkerReport {
    pub fn slot(&mut self, index: usize) -> &mut SlotStats {
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, SlotStats::new);
        }
        &mut self.slots[index]
    }

    pub fn merge(&mut self, other: &WorkerReport) {
        for (i, s) in other.slots.iter().enumerate() {
            self.slot(i).merge(s);
        }
        self.totals.merge(&other.totals);
    }
}

/// Jain's fairness index of `shares` normalised by `expected` (1.0 = exactly as expected).
pub fn jain_index(shares: &[f64], expected: &[f64]) -> Option<f64> {
    let xs: Vec<f64> = shares
        .iter()
        .zip(expected)
        .filter(|(_, &e)| e > 0.0)
        .map(|(&s, &e)| s / e)
        .collect();
    if xs.is_empty() {
        return None;
    }
    let sum: f64 = xs.iter().sum();
    let sq: f64 = xs.iter().map(|x| x * x).sum();
    if sq == 0.0 {
        return None;
    }
    Some(sum * sum / (xs.len() as f64 * sq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_index_is_one_for_expected_shares_and_drops_with_skew() {
        let eq = [1.0 / 3.0; 3];
        assert!((jain_index(&eq, &eq).unwrap() - 1.0).abs() < 1e-12);
        let weighted = [0.5, 1.0 / 3.0, 1.0 / 6.0];
        assert!((jain_index(&weighted, &weighted).unwrap() - 1.0).abs() < 1e-12);
        // All traffic on one of three: 1/n.
        let j = jain_index(&[1.0, 0.0, 0.0], &eq).unwrap();
        assert!((j - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn slot_stats_merge_adds_counts_and_histograms() {
        let mut a = SlotStats::new();
        a.sent = 2;
        a.corrected.record(100).unwrap();
        let mut b = SlotStats::new();
        b.sent = 3;
        b.errors[0] = 1;
        b.corrected.record(300).unwrap();
        a.merge(&b);
        assert_eq!(a.sent, 5);
        assert_eq!(a.error_total(), 1);
        assert_eq!(a.corrected.len(), 2);
        assert_eq!(a.corrected.max(), 300);
    }
}
