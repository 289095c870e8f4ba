//! The `hale.load/v1` report: totals, per-instance shares and latency, fairness, timeline,
//! resilience figures and assertions, as one serde document and as text.
use std::collections::BTreeMap;
use std::io::{self, Write};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::assertions::{Assertion, AssertionResult, Metric, Percentile};
use super::stats::{jain_index, ErrorKind};
use super::{LoadOptions, Model, RunOutcome, TimelineEvent};
use crate::breaker::State;

pub const SCHEMA: &str = "hale.load/v1";

/// Describes what was loaded, for the report header.
#[derive(Debug, Clone, Serialize)]
pub struct TargetInfo {
    /// "service", "endpoints" or "url".
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    pub method: String,
    pub path: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// "closed" or "open".
    pub kind: &'static str,
    pub concurrency: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrivals: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Open model: arrivals scheduled for the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled: Option<u64>,
    /// Open model: digest of the arrival times; equal digests mean the same schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_digest: Option<String>,
}

impl ModelInfo {
    /// "500 req/s", "ramp 100→3000 req/s" or "steps 100, 200, 400 req/s".
    pub fn rate_text(&self) -> String {
        let rate = |r: f64| {
            let mut t = format!("{r:.2}");
            trim_zeros(&mut t);
            t
        };
        match self.profile.as_deref() {
            Some(p) if p.starts_with("ramp:") => {
                let (from, to) = p["ramp:".len()..].split_once('-').unwrap_or((p, ""));
                format!("ramp {from}→{to} req/s")
            }
            Some(p) if p.starts_with("steps:") => {
                format!("steps {} req/s", p["steps:".len()..].replace(',', ", "))
            }
            _ => format!("{} req/s", rate(self.rate.unwrap_or(0.0))),
        }
    }
}

/// "2.50" → "2.5", "3.00" → "3": figures without float noise.
pub fn trim_zeros(text: &mut String) {
    if text.contains('.') {
        while text.ends_with('0') {
            text.pop();
        }
        if text.ends_with('.') {
            text.pop();
        }
    }
}

/// Latency percentiles in milliseconds (HDR histogram, 3 significant digits).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    /// One figure as text: `-` when nothing was measured (an idle instance), not 0.000.
    pub fn text(&self, ms: f64) -> String {
        if self.count == 0 {
            "-".to_string()
        } else {
            format!("{ms:.3}")
        }
    }

    pub fn of<T: hdrhistogram::Counter>(h: &Histogram<T>) -> Self {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// From the intended send time (coordinated-omission corrected); the same as uncorrected
    /// in the closed model.
    pub corrected: Percentiles,
    /// From the moment the request was actually sent.
    pub uncorrected: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstanceReport {
    pub id: String,
    pub address: String,
    pub weight: u32,
    /// Attempts sent to this instance.
    pub requests: u64,
    pub ok: u64,
    pub errors: BTreeMap<&'static str, u64>,
    /// Share of all attempts.
    pub share: f64,
    /// What the strategy should give it (null when it left the fleet before the end).
    pub expected_share: Option<f64>,
    pub latency: Percentiles,
    /// Responses whose X-Instance-ID named another instance.
    pub id_mismatches: u64,
    /// Breaker state at the end (closed when there is no breaker).
    pub breaker: State,
    pub present_at_end: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Fairness {
    /// Jain's index of share/expected over instances present at the end and not killed on
    /// purpose (1 = as expected).
    pub jain: Option<f64>,
    /// Largest over smallest share/expected.
    pub max_min_ratio: Option<f64>,
    /// Largest |share − expected|, as a fraction.
    pub max_share_deviation: Option<f64>,
    /// Instances left out of the figures because a fault killed them on purpose.
    pub excluded: Vec<String>,
    /// Why the expected shares are not the strategy's usual ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What one injected fault did.
#[derive(Debug, Clone, Serialize)]
pub struct ResilienceFigure {
    pub fault: String,
    pub kind: &'static str,
    pub instance: String,
    pub at_ms: f64,
    /// Kill, error-rate, latency: time until the instance's breaker (or throttle) opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaker_opened_after_ms: Option<f64>,
    /// Kill: attempts sent to the instance while it was dead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_to_dead: Option<u64>,
    /// Kill: the instance's errors over the whole run, which `requests_to_dead` is compared to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_errors: Option<u64>,
    /// Kill: of those, requests its breaker refused locally (they never reached it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected_locally: Option<u64>,
    /// Kill: why `instance_errors` differs from `requests_to_dead` (absent when they agree).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_errors_differ: Option<String>,
    /// Restore: time until its breaker closed again (0 if it was closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaker_closed_after_ms: Option<f64>,
    /// Restore: time until it answered successfully again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_success_after_ms: Option<f64>,
    /// Restore: the later of the two: the instance is fully back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered_after_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeriesPoint {
    pub t_ms: f64,
    pub requests: u32,
    pub errors: u32,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Successful + failed attempts per instance, in the order of `instances`.
    pub per_instance: Vec<u32>,
}

/// HTTPS: what the TLS handshakes cost.
#[derive(Debug, Clone, Serialize)]
pub struct TlsFigures {
    /// Handshake time of each opened connection (after TCP connect), milliseconds.
    pub handshake: Percentiles,
}

/// One timeline line: a run of consecutive events of one kind (and state) for one instance,
/// collapsed so that a breaker refused ejection a thousand times reads as one line.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    /// When the first event of the run happened (the same as `first_ms`).
    pub t_ms: f64,
    pub kind: &'static str,
    pub instance: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    /// The first event's detail.
    pub detail: String,
    /// Events collapsed into this entry (1 for a single event).
    pub count: u64,
    pub first_ms: f64,
    pub last_ms: f64,
}

/// Collapse repeated events: an event joins the previous entry of the same instance when it
/// has the same kind and state and nothing else happened to that instance in between.
/// Faults are never collapsed: each one is a step of the plan.
pub fn collapse_timeline(events: &[TimelineEvent]) -> Vec<TimelineEntry> {
    let mut entries: Vec<TimelineEntry> = Vec::new();
    // Index of each instance's latest entry.
    let mut latest: BTreeMap<&str, usize> = BTreeMap::new();
    for e in events {
        if e.kind != "fault" && e.kind != "fault-failed" {
            if let Some(&k) = latest.get(e.instance.as_str()) {
                let last = &mut entries[k];
                if last.kind == e.kind && last.state == e.state {
                    last.count += 1;
                    last.last_ms = e.t_ms;
                    continue;
                }
            }
        }
        latest.insert(&e.instance, entries.len());
        entries.push(TimelineEntry {
            t_ms: e.t_ms,
            kind: e.kind,
            instance: e.instance.clone(),
            state: e.state,
            detail: e.detail.clone(),
            count: 1,
            first_ms: e.t_ms,
            last_ms: e.t_ms,
        });
    }
    entries
}

impl TimelineEntry {
    /// "breaker → open", "ejection-refused ×1234".
    pub fn what(&self) -> String {
        let mut what = match self.state {
            Some(s) if self.kind == "breaker" || self.kind == "throttle" => {
                format!("{} → {}", self.kind, s.name())
            }
            _ => self.kind.to_string(),
        };
        if self.count > 1 {
            what.push_str(&format!(" ×{}", self.count));
        }
        what
    }

    /// "1.204s" or "1.204–9.870s" for a collapsed entry.
    pub fn when(&self) -> String {
        if self.count > 1 {
            format!(
                "{:.3}–{:.3}s",
                self.first_ms / 1000.0,
                self.last_ms / 1000.0
            )
        } else {
            format!("{:.3}s", self.first_ms / 1000.0)
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub target: TargetInfo,
    pub strategy: String,
    pub protection: String,
    /// `--breaker` in the flag's own words: `three-state`, `adaptive` or `off`.
    pub breaker: &'static str,
    pub model: ModelInfo,
    pub seed: u64,
    pub duration_s: f64,
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    pub error_share: f64,
    pub retries: u64,
    pub rps: f64,
    pub latency: Latency,
    /// Connections opened: one per worker and instance when they are kept alive.
    pub connections: u64,
    /// HTTPS targets only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFigures>,
    pub errors_by_kind: BTreeMap<&'static str, u64>,
    pub instances: Vec<InstanceReport>,
    pub fairness: Fairness,
    pub resilience: Vec<ResilienceFigure>,
    /// Collapsed: see [`TimelineEntry`].
    pub timeline: Vec<TimelineEntry>,
    /// Events before collapsing.
    pub timeline_events: u64,
    pub tick_ms: f64,
    pub series: Vec<SeriesPoint>,
    pub assertions: Vec<AssertionResult>,
    /// False when an assertion failed.
    pub passed: bool,
    /// Stopped early by Ctrl-C or SIGTERM: the figures cover only the part that ran.
    pub interrupted: bool,
    /// `--on-cluster`: what each shard (a pod of the Job) did; the figures above are theirs
    /// merged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<super::cluster::ShardRow>,
}

fn errors_map(counts: &[u64; ErrorKind::COUNT]) -> BTreeMap<&'static str, u64> {
    ErrorKind::ALL
        .iter()
        .map(|k| (k.name(), counts[*k as usize]))
        .collect()
}

impl Report {
    pub fn build(
        outcome: &RunOutcome,
        options: &LoadOptions,
        target: TargetInfo,
        assertions: &[Assertion],
    ) -> Report {
        let seconds = outcome.elapsed.as_secs_f64().max(1e-9);
        let totals = &outcome.totals;
        let all_attempts: u64 = outcome.instances.iter().map(|i| i.stats.sent).sum();
        // An instance killed on purpose is expected to lose its traffic: fairness is judged
        // over the instances present at the end that no fault killed.
        let killed: Vec<&str> = outcome
            .events
            .iter()
            .filter(|e| e.kind == "fault" && e.detail.contains("kill="))
            .map(|e| e.instance.as_str())
            .collect();
        let judged: Vec<usize> = (0..outcome.instances.len())
            .filter(|&i| {
                let inst = &outcome.instances[i];
                inst.present_at_end && !killed.contains(&inst.id.as_str())
            })
            .collect();
        let judged_attempts: u64 = judged
            .iter()
            .map(|&i| outcome.instances[i].stats.sent)
            .sum();
        // Consistent hashing on one fixed key sends everything to the one instance that key
        // maps to: expect that one (the busiest) to take it all.
        let fixed_key = options.balance.strategy == crate::balance::Strategy::ConsistentHash
            && options
                .hash
                .as_ref()
                .is_some_and(|h| options.headers.iter().any(|(name, _)| *name == h.header));
        let expected: Vec<f64> = if fixed_key {
            let busiest = judged
                .iter()
                .enumerate()
                .max_by_key(|(_, &i)| outcome.instances[i].stats.sent)
                .map(|(k, _)| k);
            (0..judged.len())
                .map(|k| if Some(k) == busiest { 1.0 } else { 0.0 })
                .collect()
        } else {
            let weights: Vec<u32> = judged
                .iter()
                .map(|&i| outcome.instances[i].weight)
                .collect();
            options.balance.strategy.expected_shares(&weights)
        };
        let mut instances = Vec::new();
        for (i, inst) in outcome.instances.iter().enumerate() {
            let expected_share = judged.iter().position(|&p| p == i).map(|k| expected[k]);
            instances.push(InstanceReport {
                id: inst.id.clone(),
                address: inst.addr.to_string(),
                weight: inst.weight,
                requests: inst.stats.sent,
                ok: inst.stats.ok,
                errors: errors_map(&inst.stats.errors),
                share: inst.stats.sent as f64 / all_attempts.max(1) as f64,
                expected_share,
                latency: Percentiles::of(&inst.stats.corrected),
                id_mismatches: inst.stats.id_mismatches,
                breaker: inst.final_state,
                present_at_end: inst.present_at_end,
            });
        }
        let shares: Vec<f64> = judged
            .iter()
            .map(|&i| outcome.instances[i].stats.sent as f64 / judged_attempts.max(1) as f64)
            .collect();
        let ratios: Vec<f64> = shares
            .iter()
            .zip(&expected)
            .filter(|(_, &e)| e > 0.0)
            .map(|(s, e)| s / e)
            .collect();
        let mut excluded: Vec<String> = outcome
            .instances
            .iter()
            .filter(|i| killed.contains(&i.id.as_str()))
            .map(|i| i.id.clone())
            .collect();
        excluded.dedup();
        let note = fixed_key.then(|| {
            "consistent hashing on one fixed key: all traffic is expected on one instance"
                .to_string()
        });
        let fairness = if judged_attempts == 0 {
            Fairness {
                jain: None,
                max_min_ratio: None,
                max_share_deviation: None,
                excluded,
                note,
            }
        } else {
            let max = ratios.iter().cloned().fold(f64::MIN, f64::max);
            let min = ratios.iter().cloned().fold(f64::MAX, f64::min);
            Fairness {
                jain: jain_index(&shares, &expected),
                max_min_ratio: (min > 0.0).then(|| max / min),
                max_share_deviation: shares
                    .iter()
                    .zip(&expected)
                    .map(|(s, e)| (s - e).abs())
                    .reduce(f64::max),
                excluded,
                note,
            }
        };

        let tick_ms = options.tick.as_secs_f64() * 1000.0;
        let series = outcome
            .ticks
            .iter()
            .map(|w| SeriesPoint {
                t_ms: f64::from(w.tick) * tick_ms,
                requests: w.requests,
                errors: w.errors,
                rps: f64::from(w.requests) / (tick_ms / 1000.0),
                p50_ms: w.latency.value_at_quantile(0.5) as f64 / 1000.0,
                p99_ms: w.latency.value_at_quantile(0.99) as f64 / 1000.0,
                per_instance: (0..outcome.instances.len())
                    .map(|i| w.per_slot.get(i).map_or(0, |c| c.0 + c.1))
                    .collect(),
            })
            .collect();

        let (kind, concurrency, rate, arrivals, profile) = match &options.model {
            Model::Closed { concurrency } => ("closed", *concurrency, None, None, None),
            Model::Open {
                rate,
                arrivals,
                profile,
                concurrency,
            } => (
                "open",
                *concurrency,
                Some(*rate),
                Some(match arrivals {
                    super::Arrivals::Constant => "constant",
                    super::Arrivals::Poisson => "poisson",
                }),
                Some(profile.to_string()),
            ),
        };
        let mut report = Report {
            schema: SCHEMA,
            target,
            strategy: options.balance.strategy.name().to_string(),
            protection: options.protection.name().to_string(),
            breaker: options.breaker.name(),
            model: ModelInfo {
                kind,
                concurrency,
                rate,
                arrivals,
                profile,
                scheduled: outcome.schedule.as_ref().map(|s| s.0),
                schedule_digest: outcome.schedule.as_ref().map(|s| s.1.clone()),
            },
            seed: options.seed,
            duration_s: seconds,
            requests: totals.requests,
            ok: totals.ok,
            errors: totals.error_total(),
            error_share: totals.error_total() as f64 / totals.requests.max(1) as f64,
            retries: totals.retries,
            rps: totals.requests as f64 / seconds,
            latency: Latency {
                corrected: Percentiles::of(&totals.corrected),
                uncorrected: Percentiles::of(&totals.uncorrected),
            },
            connections: totals.connections,
            tls: options.tls.as_ref().map(|_| TlsFigures {
                handshake: Percentiles::of(&totals.tls_handshakes),
            }),
            errors_by_kind: errors_map(&totals.errors),
            instances,
            fairness,
            resilience: resilience(outcome),
            timeline: collapse_timeline(&outcome.events),
            timeline_events: outcome.events.len() as u64,
            tick_ms,
            series,
            assertions: Vec::new(),
            passed: true,
            interrupted: outcome.interrupted,
            shards: Vec::new(),
        };
        report.assertions = assertions
            .iter()
            .map(|a| a.check(report.measure(a)))
            .collect();
        report.passed = report.assertions.iter().all(|a| a.passed);
        report
    }

    /// The value an assertion compares, in its unit.
    pub fn measure(&self, a: &Assertion) -> Option<f64> {
        let latency = &self.latency.corrected;
        match a.metric {
            Metric::Latency(p) => (latency.count > 0).then_some(match p {
                Percentile::P50 => latency.p50,
                Percentile::P90 => latency.p90,
                Percentile::P99 => latency.p99,
                Percentile::P999 => latency.p999,
                Percentile::Max => latency.max,
            }),
            Metric::Errors => Some(if a.percent {
                self.error_share
            } else {
                self.errors as f64
            }),
            Metric::Rps => Some(self.rps),
            Metric::Recover => {
                let restores: Vec<_> = self
                    .resilience
                    .iter()
                    .filter(|r| r.kind == "restore")
                    .collect();
                if restores.is_empty() {
                    return None;
                }
                restores
                    .iter()
                    .map(|r| r.recovered_after_ms.map(|ms| ms / 1000.0))
                    .try_fold(0.0f64, |acc, v| v.map(|v| acc.max(v)))
            }
            Metric::Open => {
                let faults: Vec<_> = self
                    .resilience
                    .iter()
                    .filter(|r| r.kind != "restore")
                    .collect();
                if faults.is_empty() {
                    return None;
                }
                faults
                    .iter()
                    .map(|r| r.breaker_opened_after_ms.map(|ms| ms / 1000.0))
                    .try_fold(0.0f64, |acc, v| v.map(|v| acc.max(v)))
            }
            Metric::Dead => self
                .resilience
                .iter()
                .filter_map(|r| r.requests_to_dead)
                .max()
                .map(|n| n as f64),
            Metric::ShareDeviation => self.fairness.max_share_deviation,
            Metric::Jain => self.fairness.jain,
        }
    }

    /// The human report.
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "{} requests in {:.2}s: {:.1} req/s, {} errors ({:.2}%){}",
            self.requests,
            self.duration_s,
            self.rps,
            self.errors,
            self.error_share * 100.0,
            if self.retries > 0 {
                format!(", {} retries", self.retries)
            } else {
                String::new()
            }
        )?;
        if self.interrupted {
            writeln!(
                out,
                "interrupted after {:.2}s: the figures cover only the part that ran",
                self.duration_s
            )?;
        }
        let model = match self.model.kind {
            "open" => format!(
                "open {}, {} arrivals (max {} in flight)",
                self.model.rate_text(),
                self.model.arrivals.unwrap_or("constant"),
                self.model.concurrency
            ),
            _ => format!(
                "closed, {} workers, one connection per instance each",
                self.model.concurrency
            ),
        };
        writeln!(
            out,
            "{} {}  strategy {}  breaker {}  model {}  seed {}",
            self.target.method, self.target.path, self.strategy, self.breaker, model, self.seed
        )?;
        writeln!(out)?;
        // Overall latency is that of successful requests; each instance's row below counts
        // every attempt it answered.
        if self.latency.corrected.count == 0 {
            writeln!(out, "latency: no successful request")?;
        } else {
            writeln!(
                out,
                "latency ms      {:>9} {:>9} {:>9} {:>9} {:>9}",
                "p50", "p90", "p99", "p99.9", "max"
            )?;
            let row = |out: &mut dyn Write, name: &str, p: &Percentiles| {
                writeln!(
                    out,
                    "  {name:<13} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                    p.p50, p.p90, p.p99, p.p999, p.max
                )
            };
            if self.model.kind == "open" {
                row(out, "corrected", &self.latency.corrected)?;
                row(out, "uncorrected", &self.latency.uncorrected)?;
            } else {
                row(out, "successful", &self.latency.corrected)?;
            }
        }
        let errors: Vec<String> = self
            .errors_by_kind
            .iter()
            .filter(|(_, &n)| n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if !errors.is_empty() {
            writeln!(out, "errors: {}", errors.join(", "))?;
        }
        match &self.tls {
            Some(t) => writeln!(
                out,
                "connections: {} opened, TLS handshake ms p50 {} p99 {} max {}",
                self.connections,
                t.handshake.text(t.handshake.p50),
                t.handshake.text(t.handshake.p99),
                t.handshake.text(t.handshake.max)
            )?,
            None => writeln!(out, "connections: {} opened", self.connections)?,
        }
        writeln!(out)?;
        writeln!(
            out,
            "{:<24} {:<21} {:>7} {:>8} {:>9} {:>8} {:>9} {:>9} {:<9}",
            "instance",
            "address",
            "share",
            "expected",
            "requests",
            "errors",
            "p50 ms",
            "p99 ms",
            "breaker"
        )?;
        for i in &self.instances {
            let errors: u64 = i.errors.values().sum();
            writeln!(
                out,
                "{:<24} {:<21} {:>6.1}% {:>8} {:>9} {:>8} {:>9} {:>9} {:<9}{}",
                i.id,
                i.address,
                i.share * 100.0,
                i.expected_share
                    .map_or("-".to_string(), |e| format!("{:.1}%", e * 100.0)),
                i.requests,
                errors,
                i.latency.text(i.latency.p50),
                i.latency.text(i.latency.p99),
                i.breaker.name(),
                if i.id_mismatches > 0 {
                    format!("  {} X-Instance-ID mismatches", i.id_mismatches)
                } else {
                    String::new()
                }
            )?;
        }
        if let (Some(j), Some(dev)) = (self.fairness.jain, self.fairness.max_share_deviation) {
            writeln!(
                out,
                "fairness: Jain {:.4}, max/min {}, largest share deviation {:.2} pp",
                j,
                self.fairness
                    .max_min_ratio
                    .map_or("-".to_string(), |r| format!("{r:.3}")),
                dev * 100.0
            )?;
        }
        if !self.fairness.excluded.is_empty() {
            writeln!(
                out,
                "fairness leaves out {} (killed on purpose)",
                self.fairness.excluded.join(", ")
            )?;
        }
        if let Some(note) = &self.fairness.note {
            writeln!(out, "fairness: {note}")?;
        }
        if !self.timeline.is_empty() {
            writeln!(out)?;
            writeln!(out, "timeline:")?;
            for e in &self.timeline {
                writeln!(
                    out,
                    "  {:>17}  {:<24} {:<26} {}",
                    e.when(),
                    e.instance,
                    e.what(),
                    e.detail
                )?;
            }
        }
        if !self.resilience.is_empty() {
            writeln!(out)?;
            writeln!(out, "resilience:")?;
            let ms = |v: f64| format!("{v:.0} ms");
            for r in &self.resilience {
                if r.kind == "restore" {
                    let closed = r
                        .breaker_closed_after_ms
                        .map_or("its breaker never closed".to_string(), |v| {
                            format!("breaker closed after {}", ms(v))
                        });
                    let success = r
                        .first_success_after_ms
                        .map_or("no success after the restore".to_string(), |v| {
                            format!("first success after {}", ms(v))
                        });
                    match r.recovered_after_ms {
                        Some(v) => writeln!(
                            out,
                            "  {}: recovered after {} ({closed}, {success})",
                            r.fault,
                            ms(v)
                        )?,
                        None => writeln!(
                            out,
                            "  {}: not recovered by the end of the run ({closed}, {success})",
                            r.fault
                        )?,
                    }
                } else {
                    let opened = r
                        .breaker_opened_after_ms
                        .map_or("breaker never opened".to_string(), |v| {
                            format!("breaker opened after {}", ms(v))
                        });
                    let dead = match (r.requests_to_dead, r.dead_explanation()) {
                        (Some(n), Some(why)) => {
                            format!(", {n} requests sent to it while dead ({why})")
                        }
                        (Some(n), None) => format!(", {n} requests sent to it while dead"),
                        _ => String::new(),
                    };
                    writeln!(out, "  {}: {opened}{dead}", r.fault)?;
                }
            }
        }
        if !self.assertions.is_empty() {
            writeln!(out)?;
            writeln!(out, "assertions:")?;
            for a in &self.assertions {
                writeln!(
                    out,
                    "  {} {}  (actual {})",
                    if a.passed { "pass" } else { "FAIL" },
                    a.assertion,
                    a.actual_text()
                )?;
            }
        }
        if !self.shards.is_empty() {
            writeln!(out)?;
            super::cluster::write_shards(out, &self.shards)?;
        }
        Ok(())
    }
}

/// The error count of a killed instance and the requests sent to it while dead (those it did
/// not answer) differ for two reasons: local breaker rejections count as its errors but were
/// never sent, and failures before the kill was ordered (in flight when it died, or earlier).
fn why_errors_differ(dead: u64, errors: u64, rejected: u64) -> Option<String> {
    if errors == dead {
        return None;
    }
    let mut parts = Vec::new();
    if rejected > 0 {
        parts.push(format!(
            "its {errors} errors include {rejected} its breaker refused locally, never sent"
        ));
    }
    let reached = errors.saturating_sub(rejected);
    if reached > dead {
        parts.push(format!(
            "{} of its errors were sent before the kill (in flight when it died, or earlier failures)",
            reached - dead
        ));
    }
    Some(parts.join("; "))
}

impl ResilienceFigure {
    fn dead_explanation(&self) -> Option<&str> {
        self.why_errors_differ.as_deref()
    }
}

/// Resilience figures from the timeline: for each carried-out fault, when the instance's
/// breaker reacted and, for a restore, when it was back.
fn resilience(outcome: &RunOutcome) -> Vec<ResilienceFigure> {
    let events = &outcome.events;
    let mut out = Vec::new();
    for fault in events.iter().filter(|e| e.kind == "fault") {
        let Some(kind) = fault.fault else { continue };
        let kind = kind.name();
        let instance = outcome.instances.iter().find(|i| i.id == fault.instance);
        let breaker_events = || {
            events.iter().filter(|e| {
                e.instance == fault.instance && (e.kind == "breaker" || e.kind == "throttle")
            })
        };
        let after = |state: State| {
            breaker_events()
                .find(|e| e.t_ms >= fault.t_ms && e.state == Some(state))
                .map(|e| e.t_ms - fault.t_ms)
        };
        let mut figure = ResilienceFigure {
            fault: fault.detail.clone(),
            kind,
            instance: fault.instance.clone(),
            at_ms: fault.t_ms,
            breaker_opened_after_ms: None,
            requests_to_dead: None,
            instance_errors: None,
            rejected_locally: None,
            why_errors_differ: None,
            breaker_closed_after_ms: None,
            first_success_after_ms: None,
            recovered_after_ms: None,
        };
        if kind == "restore" {
            let state_at_restore = breaker_events()
                .rfind(|e| e.t_ms <= fault.t_ms)
                .and_then(|e| e.state)
                .unwrap_or(State::Closed);
            figure.breaker_closed_after_ms = if state_at_restore == State::Closed {
                Some(0.0)
            } else {
                after(State::Closed)
            };
            figure.first_success_after_ms = instance
                .and_then(|i| i.first_ok_after_restore)
                .map(|d| (d.as_secs_f64() * 1000.0 - fault.t_ms).max(0.0));
            figure.recovered_after_ms = match (
                figure.breaker_closed_after_ms,
                figure.first_success_after_ms,
            ) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
        } else {
            figure.breaker_opened_after_ms = after(State::Open);
            if let (true, Some(i)) = (kind == "kill", instance) {
                let rejected = i.stats.errors[ErrorKind::BreakerRejected as usize];
                figure.requests_to_dead = Some(i.sent_while_dead);
                figure.instance_errors = Some(i.stats.error_total());
                figure.rejected_locally = Some(rejected);
                figure.why_errors_differ =
                    why_errors_differ(i.sent_while_dead, i.stats.error_total(), rejected);
            }
        }
        out.push(figure);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(t_ms: f64, kind: &'static str, instance: &str, state: Option<State>) -> TimelineEvent {
        TimelineEvent {
            t_ms,
            kind,
            instance: instance.into(),
            state,
            detail: String::new(),
            fault: None,
        }
    }

    #[test]
    fn repeated_events_of_one_instance_collapse_and_others_interleave() {
        let open = Some(State::Open);
        let events = vec![
            event(1.0, "fault", "a", None),
            event(2.0, "ejection-refused", "a", open),
            event(3.0, "ejection-refused", "b", open),
            event(4.0, "ejection-refused", "a", open),
            event(5.0, "ejection-refused", "a", open),
            event(6.0, "breaker", "a", open),
            event(7.0, "ejection-refused", "a", open),
            event(8.0, "fault", "a", None),
            event(9.0, "fault", "a", None),
        ];
        let entries = collapse_timeline(&events);
        let shape: Vec<(&str, &str, u64, f64, f64)> = entries
            .iter()
            .map(|e| (e.kind, e.instance.as_str(), e.count, e.first_ms, e.last_ms))
            .collect();
        assert_eq!(
            shape,
            [
                ("fault", "a", 1, 1.0, 1.0),
                ("ejection-refused", "a", 3, 2.0, 5.0),
                ("ejection-refused", "b", 1, 3.0, 3.0),
                ("breaker", "a", 1, 6.0, 6.0),
                ("ejection-refused", "a", 1, 7.0, 7.0),
                ("fault", "a", 1, 8.0, 8.0),
                ("fault", "a", 1, 9.0, 9.0),
            ]
        );
        assert_eq!(entries[1].what(), "ejection-refused ×3");
        assert_eq!(entries[1].when(), "0.002–0.005s");
    }

    #[test]
    fn ramp_and_steps_read_as_rates() {
        let model = |rate: f64, profile: &str| ModelInfo {
            kind: "open",
            concurrency: 1,
            rate: Some(rate),
            arrivals: Some("constant"),
            profile: Some(profile.into()),
            scheduled: None,
            schedule_digest: None,
        };
        assert_eq!(
            model(0.0, "ramp:100-3000").rate_text(),
            "ramp 100→3000 req/s"
        );
        assert_eq!(model(0.0, "steps:1,2").rate_text(), "steps 1, 2 req/s");
        assert_eq!(model(500.0, "constant").rate_text(), "500 req/s");
        assert_eq!(model(2.5, "constant").rate_text(), "2.5 req/s");
    }

    #[test]
    fn errors_and_requests_to_dead_agree_or_say_why() {
        assert_eq!(why_errors_differ(9, 9, 0), None);
        let why = why_errors_differ(9, 30, 21).unwrap();
        assert!(why.contains("21 its breaker refused locally"), "{why}");
        let why = why_errors_differ(9, 12, 0).unwrap();
        assert!(
            why.contains("3 of its errors were sent before the kill"),
            "{why}"
        );
    }
}
