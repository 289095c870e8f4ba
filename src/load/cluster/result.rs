//! What a shard hands back, and how the shards' results become one run.
//!
//! A shard prints its result as the last thing in its log: one JSON document
//! (`hale.load.shard/v1`) between two marker lines. Pod logs need no endpoint, no port-forward
//! and no permission beyond reading logs, and they outlive the container until the Job is
//! deleted. Histograms travel in HdrHistogram's own V2 deflate encoding (base64), which any
//! HdrHistogram implementation reads; counts per instance, per-tick windows and timestamped
//! events travel as they are. [`merge`] adds histograms bucket by bucket (exact), sums the
//! counters and orders the events by time, so the merged run is what one process measuring
//! all the shards' requests would have measured.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use hdrhistogram::{Counter, Histogram};
use serde::{Deserialize, Serialize};

use crate::breaker::State;
use crate::load::stats::{ErrorKind, SlotStats, Totals, Window};
use crate::load::{InstanceOutcome, RunOutcome, TimelineEvent};

pub const SCHEMA: &str = "hale.load.shard/v1";
pub const BEGIN: &str = "----- hale load shard result -----";
pub const END: &str = "----- end of hale load shard result -----";

/// One shard's run, as printed in its log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardResult {
    pub schema: String,
    pub index: u32,
    pub elapsed_ns: u64,
    pub interrupted: bool,
    /// How long after the common start instant this shard began sending.
    #[serde(default)]
    pub started_late_ms: f64,
    pub instances: Vec<InstanceDoc>,
    pub totals: TotalsDoc,
    pub ticks: Vec<WindowDoc>,
    pub events: Vec<EventDoc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstanceDoc {
    pub id: String,
    pub addr: SocketAddr,
    pub weight: u32,
    pub present_at_end: bool,
    pub final_state: String,
    pub sent: u64,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub id_mismatches: u64,
    pub corrected: String,
    pub uncorrected: String,
    pub sent_while_dead: u64,
    pub first_ok_after_restore_ns: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TotalsDoc {
    pub requests: u64,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub retries: u64,
    pub last_end_ns: u64,
    pub corrected: String,
    pub uncorrected: String,
    pub connections: u64,
    pub tls_handshakes: String,
}

/// One tick; `per_instance` is keyed by instance id (each shard numbers its slots itself).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowDoc {
    pub tick: u32,
    pub per_instance: BTreeMap<String, (u32, u32)>,
    pub requests: u32,
    pub errors: u32,
    pub latency: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventDoc {
    pub t_ms: f64,
    pub kind: String,
    pub instance: String,
    pub state: Option<String>,
    pub detail: String,
}

/// A result that cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ResultError(pub String);

fn encode<T: Counter>(h: &Histogram<T>) -> String {
    let mut buf = Vec::new();
    // Serializing into memory fails only for a histogram too large to describe.
    if V2DeflateSerializer::new().serialize(h, &mut buf).is_err() {
        buf.clear();
    }
    base64::engine::general_purpose::STANDARD.encode(buf)
}

fn decode<T: Counter>(text: &str) -> Result<Histogram<T>, ResultError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| ResultError(format!("histogram is not base64: {e}")))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| ResultError(format!("histogram does not decode: {e:?}")))
}

fn errors_doc(counts: &[u64; ErrorKind::COUNT]) -> BTreeMap<String, u64> {
    ErrorKind::ALL
        .iter()
        .map(|k| (k.name().to_string(), counts[*k as usize]))
        .collect()
}

fn errors_of(doc: &BTreeMap<String, u64>) -> [u64; ErrorKind::COUNT] {
    let mut counts = [0; ErrorKind::COUNT];
    for k in ErrorKind::ALL {
        counts[k as usize] = doc.get(k.name()).copied().unwrap_or(0);
    }
    counts
}

fn state_of(name: &str) -> State {
    match name {
        "open" => State::Open,
        "half-open" => State::HalfOpen,
        _ => State::Closed,
    }
}

/// The event kinds a run records ([`TimelineEvent::kind`] is a `&'static str`).
fn kind_of(name: &str) -> &'static str {
    const KINDS: [&str; 7] = [
        "breaker",
        "ejection-refused",
        "throttle",
        "added",
        "removed",
        "fault",
        "fault-failed",
    ];
    KINDS.into_iter().find(|k| *k == name).unwrap_or("other")
}

impl ShardResult {
    /// What shard `index` measured.
    pub fn of(index: u32, outcome: &RunOutcome) -> ShardResult {
        let ids: Vec<&str> = outcome.instances.iter().map(|i| i.id.as_str()).collect();
        ShardResult {
            schema: SCHEMA.into(),
            index,
            elapsed_ns: outcome.elapsed.as_nanos() as u64,
            interrupted: outcome.interrupted,
            started_late_ms: 0.0,
            instances: outcome
                .instances
                .iter()
                .map(|i| InstanceDoc {
                    id: i.id.clone(),
                    addr: i.addr,
                    weight: i.weight,
                    present_at_end: i.present_at_end,
                    final_state: i.final_state.name().into(),
                    sent: i.stats.sent,
                    ok: i.stats.ok,
                    errors: errors_doc(&i.stats.errors),
                    id_mismatches: i.stats.id_mismatches,
                    corrected: encode(&i.stats.corrected),
                    uncorrected: encode(&i.stats.uncorrected),
                    sent_while_dead: i.sent_while_dead,
                    first_ok_after_restore_ns: i
                        .first_ok_after_restore
                        .map(|d| d.as_nanos() as u64),
                })
                .collect(),
            totals: TotalsDoc {
                requests: outcome.totals.requests,
                ok: outcome.totals.ok,
                errors: errors_doc(&outcome.totals.errors),
                retries: outcome.totals.retries,
                last_end_ns: outcome.totals.last_end_ns,
                corrected: encode(&outcome.totals.corrected),
                uncorrected: encode(&outcome.totals.uncorrected),
                connections: outcome.totals.connections,
                tls_handshakes: encode(&outcome.totals.tls_handshakes),
            },
            ticks: outcome
                .ticks
                .iter()
                .map(|w| WindowDoc {
                    tick: w.tick,
                    // Slots are numbered in the order instances were first seen.
                    per_instance: w
                        .per_slot
                        .iter()
                        .enumerate()
                        .filter_map(|(slot, c)| Some((ids.get(slot)?.to_string(), *c)))
                        .collect(),
                    requests: w.requests,
                    errors: w.errors,
                    latency: encode(&w.latency),
                })
                .collect(),
            events: outcome
                .events
                .iter()
                .map(|e| EventDoc {
                    t_ms: e.t_ms,
                    kind: e.kind.into(),
                    instance: e.instance.clone(),
                    state: e.state.map(|s| s.name().to_string()),
                    detail: e.detail.clone(),
                })
                .collect(),
        }
    }

    /// The framed form printed at the end of the shard's log.
    pub fn framed(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{BEGIN}\n{json}\n{END}\n")
    }

    /// The last framed result in a pod's log.
    pub fn from_log(log: &str) -> Result<ShardResult, ResultError> {
        let start = log
            .rfind(BEGIN)
            .ok_or_else(|| ResultError("its log has no result (it did not finish)".into()))?;
        let body = &log[start + BEGIN.len()..];
        let end = body
            .find(END)
            .ok_or_else(|| ResultError("its log ends inside the result".into()))?;
        let doc: ShardResult = serde_json::from_str(body[..end].trim())
            .map_err(|e| ResultError(format!("its result is not a {SCHEMA} document: {e}")))?;
        if doc.schema != SCHEMA {
            return Err(ResultError(format!(
                "its result is {}, this hale reads {SCHEMA} (run the same hale version)",
                doc.schema
            )));
        }
        Ok(doc)
    }
}

/// A shard's total latency histogram (corrected), for its row of the report.
pub fn decode_total(r: &ShardResult) -> Result<Histogram<u64>, ResultError> {
    decode(&r.totals.corrected)
}

/// The shards' results as one run: histograms added, counters summed, windows merged per tick,
/// events ordered by time (each names its shard). Instances keep the order they were first
/// seen in, shard by shard.
pub fn merge(results: &[ShardResult]) -> Result<RunOutcome, ResultError> {
    let mut instances: Vec<InstanceOutcome> = Vec::new();
    let mut totals = Totals::new();
    let mut ticks: BTreeMap<u32, Window> = BTreeMap::new();
    let mut events = Vec::new();
    let mut elapsed = Duration::ZERO;
    let mut interrupted = false;
    for r in results {
        elapsed = elapsed.max(Duration::from_nanos(r.elapsed_ns));
        interrupted |= r.interrupted;
        for i in &r.instances {
            let stats = SlotStats {
                sent: i.sent,
                ok: i.ok,
                errors: errors_of(&i.errors),
                id_mismatches: i.id_mismatches,
                corrected: decode(&i.corrected)?,
                uncorrected: decode(&i.uncorrected)?,
            };
            let state = state_of(&i.final_state);
            let first_ok = i.first_ok_after_restore_ns.map(Duration::from_nanos);
            match instances.iter_mut().find(|o| o.id == i.id) {
                Some(o) => {
                    o.stats.merge(&stats);
                    o.present_at_end |= i.present_at_end;
                    // The most cautious breaker any shard ended with.
                    if severity(state) > severity(o.final_state) {
                        o.final_state = state;
                    }
                    o.sent_while_dead += i.sent_while_dead;
                    o.first_ok_after_restore = match (o.first_ok_after_restore, first_ok) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                None => instances.push(InstanceOutcome {
                    id: i.id.clone(),
                    addr: i.addr,
                    weight: i.weight,
                    present_at_end: i.present_at_end,
                    final_state: state,
                    stats,
                    sent_while_dead: i.sent_while_dead,
                    first_ok_after_restore: first_ok,
                }),
            }
        }
        let t = &r.totals;
        totals.merge(&Totals {
            requests: t.requests,
            ok: t.ok,
            errors: errors_of(&t.errors),
            retries: t.retries,
            last_end_ns: t.last_end_ns,
            corrected: decode(&t.corrected)?,
            uncorrected: decode(&t.uncorrected)?,
            connections: t.connections,
            tls_handshakes: decode(&t.tls_handshakes)?,
        });
        for w in &r.ticks {
            let mut window = Window::new(w.tick);
            window.requests = w.requests;
            window.errors = w.errors;
            window.latency = decode(&w.latency)?;
            for (id, counts) in &w.per_instance {
                let slot = instances.iter().position(|o| &o.id == id).ok_or_else(|| {
                    ResultError(format!("tick {} names an unknown instance {id}", w.tick))
                })?;
                if window.per_slot.len() <= slot {
                    window.per_slot.resize(slot + 1, (0, 0));
                }
                window.per_slot[slot] = *counts;
            }
            ticks
                .entry(w.tick)
                .or_insert_with(|| Window::new(w.tick))
                .merge(&window);
        }
        for e in &r.events {
            events.push(TimelineEvent {
                t_ms: e.t_ms,
                kind: kind_of(&e.kind),
                instance: e.instance.clone(),
                state: e.state.as_deref().map(state_of),
                detail: format!("{} (shard {})", e.detail, r.index),
                fault: None,
            });
        }
    }
    events.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
    Ok(RunOutcome {
        elapsed: elapsed.max(Duration::from_millis(1)),
        instances,
        totals,
        ticks: ticks.into_values().collect(),
        events,
        schedule: None,
        interrupted,
    })
}

fn severity(s: State) -> u8 {
    match s {
        State::Closed => 0,
        State::HalfOpen => 1,
        State::Open => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(id: &str, values: &[u64]) -> RunOutcome {
        let mut stats = SlotStats::new();
        let mut totals = Totals::new();
        let mut window = Window::new(0);
        for v in values {
            stats.corrected.record(*v).unwrap();
            stats.uncorrected.record(*v).unwrap();
            totals.corrected.record(*v).unwrap();
            totals.uncorrected.record(*v).unwrap();
            window.count(0, true);
            window.requests += 1;
            window.latency.record(*v / 1000 + 1).unwrap();
        }
        stats.sent = values.len() as u64;
        stats.ok = values.len() as u64;
        totals.requests = values.len() as u64;
        totals.ok = values.len() as u64;
        RunOutcome {
            elapsed: Duration::from_secs(1),
            instances: vec![InstanceOutcome {
                id: id.into(),
                addr: "10.0.0.1:8080".parse().unwrap(),
                weight: 1,
                present_at_end: true,
                final_state: State::Closed,
                stats,
                sent_while_dead: 0,
                first_ok_after_restore: None,
            }],
            totals,
            ticks: vec![window],
            events: vec![TimelineEvent {
                t_ms: values.len() as f64,
                kind: "breaker",
                instance: id.into(),
                state: Some(State::Open),
                detail: "opened".into(),
                fault: None,
            }],
            schedule: None,
            interrupted: false,
        }
    }

    #[test]
    fn merged_histograms_equal_the_union_of_the_raw_values() {
        let a: Vec<u64> = (1..=500).map(|v| v * 1_000).collect();
        let b: Vec<u64> = (1..=300).map(|v| v * 7_919).collect();
        let results = [
            ShardResult::of(0, &outcome("orders-a", &a)),
            ShardResult::of(1, &outcome("orders-a", &b)),
        ];
        let framed = results[1].framed();
        let log = format!("starting\n{framed}");
        let read = ShardResult::from_log(&log).unwrap();
        let merged = merge(&[results[0].clone(), read]).unwrap();
        let mut union = crate::load::stats::latency_histogram();
        for v in a.iter().chain(&b) {
            union.record(*v).unwrap();
        }
        assert_eq!(merged.totals.requests, 800);
        assert_eq!(merged.totals.corrected, union);
        assert_eq!(merged.instances.len(), 1);
        assert_eq!(merged.instances[0].stats.sent, 800);
        for q in [0.5, 0.99] {
            assert_eq!(
                merged.totals.corrected.value_at_quantile(q),
                union.value_at_quantile(q)
            );
        }
        assert_eq!(merged.ticks.len(), 1);
        assert_eq!(merged.ticks[0].requests, 800);
        assert_eq!(merged.ticks[0].per_slot, vec![(800, 0)]);
        let times: Vec<f64> = merged.events.iter().map(|e| e.t_ms).collect();
        assert_eq!(times, vec![300.0, 500.0], "ordered by time");
        assert!(merged.events[0].detail.ends_with("(shard 1)"));
    }

    #[test]
    fn a_log_without_a_result_says_so() {
        let err = ShardResult::from_log("panic: something\n").unwrap_err();
        assert!(err.to_string().contains("no result"), "{err}");
    }
}
