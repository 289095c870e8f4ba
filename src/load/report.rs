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
    /// Jain's index of share/expected over instances present at the end (1 = as expected).
    pub jain: Option<f64>,
    /// Largest over smallest share/expected.
    pub max_min_ratio: Option<f64>,
    /// Largest |share − expected|, as a fraction.
    pub max_share_deviation: Option<f64>,
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
    pub errors_by_kind: BTreeMap<&'static str, u64>,
    pub instances: Vec<InstanceReport>,
    pub fairness: Fairness,
    pub resilience: Vec<ResilienceFigure>,
    pub timeline: Vec<TimelineEvent>,
    pub tick_ms: f64,
    pub series: Vec<SeriesPoint>,
    pub assertions: Vec<AssertionResult>,
    /// False when an assertion failed.
    pub passed: bool,
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
        let present: Vec<usize> = (0..outcome.instances.len())
            .filter(|&i| outcome.instances[i].present_at_end)
            .collect();
        let weights: Vec<u32> = present
            .iter()
            .map(|&i| outcome.instances[i].weight)
            .collect();
        let expected = options.balance.strategy.expected_shares(&weights);
        let present_attempts: u64 = present
            .iter()
            .map(|&i| outcome.instances[i].stats.sent)
            .sum();
        let mut instances = Vec::new();
        for (i, inst) in outcome.instances.iter().enumerate() {
            let expected_share = present.iter().position(|&p| p == i).map(|k| expected[k]);
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
        let shares: Vec<f64> = present
            .iter()
            .map(|&i| outcome.instances[i].stats.sent as f64 / present_attempts.max(1) as f64)
            .collect();
        let ratios: Vec<f64> = shares.iter().zip(&expected).map(|(s, e)| s / e).collect();
        let fairness = if present_attempts == 0 {
            Fairness {
                jain: None,
                max_min_ratio: None,
                max_share_deviation: None,
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
            errors_by_kind: errors_map(&totals.errors),
            instances,
            fairness,
            resilience: resilience(outcome),
            timeline: outcome.events.clone(),
            tick_ms,
            series,
            assertions: Vec::new(),
            passed: true,
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
        let model = match self.model.kind {
            "open" => format!(
                "open {} req/s {} {} (max {} in flight)",
                self.model.rate.unwrap_or(0.0),
                self.model.arrivals.unwrap_or("constant"),
                self.model.profile.as_deref().unwrap_or("constant"),
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
                "{:<24} {:<21} {:>6.1}% {:>8} {:>9} {:>8} {:>9.3} {:>9.3} {:<9}{}",
                i.id,
                i.address,
                i.share * 100.0,
                i.expected_share
                    .map_or("-".to_string(), |e| format!("{:.1}%", e * 100.0)),
                i.requests,
                errors,
                i.latency.p50,
                i.latency.p99,
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
        if !self.timeline.is_empty() {
            writeln!(out)?;
            writeln!(out, "timeline:")?;
            for e in &self.timeline {
                let what = match e.state {
                    Some(s) if e.kind == "breaker" || e.kind == "throttle" => {
                        format!("{} → {}", e.kind, s.name())
                    }
                    _ => e.kind.to_string(),
                };
                writeln!(
                    out,
                    "  {:>9.3}s  {:<24} {:<20} {}",
                    e.t_ms / 1000.0,
                    e.instance,
                    what,
                    e.detail
                )?;
            }
        }
        if !self.resilience.is_empty() {
            writeln!(out)?;
            writeln!(out, "resilience:")?;
            let ms = |v: Option<f64>| v.map_or("never".to_string(), |v| format!("{v:.0} ms"));
            for r in &self.resilience {
                if r.kind == "restore" {
                    writeln!(
                        out,
                        "  {}: recovered after {} (breaker closed after {}, first success after {})",
                        r.fault,
                        ms(r.recovered_after_ms),
                        ms(r.breaker_closed_after_ms),
                        ms(r.first_success_after_ms)
                    )?;
                } else {
                    let dead = r.requests_to_dead.map_or(String::new(), |n| {
                        format!(", {n} requests sent to it while dead")
                    });
                    writeln!(
                        out,
                        "  {}: breaker opened after {}{}",
                        r.fault,
                        ms(r.breaker_opened_after_ms),
                        dead
                    )?;
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
                    a.actual.map_or("n/a".to_string(), |v| format!("{v:.4}"))
                )?;
            }
        }
        Ok(())
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
            if kind == "kill" {
                figure.requests_to_dead = instance.map(|i| i.sent_while_dead);
            }
        }
        out.push(figure);
    }
    out
}
