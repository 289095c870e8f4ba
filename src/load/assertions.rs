//! `--assert` expressions for CI (`p99<250ms`, `errors<0.1%`, `recover<5s`), parsed before any
//! load is sent and checked against the report.
use std::fmt;
use std::str::FromStr;

use super::SpecError;

use serde::Serialize;

/// What an assertion measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Latency percentile in milliseconds (corrected for coordinated omission in the open model).
    Latency(Percentile),
    /// Error count, or share when written with %.
    Errors,
    /// Achieved requests/s.
    Rps,
    /// Longest time from a restore to recovery (seconds).
    Recover,
    /// Longest time from a fault to its breaker opening (seconds).
    Open,
    /// Most requests sent to a dead instance.
    Dead,
    /// Largest deviation of an instance's share from the expected one, in percentage points.
    ShareDeviation,
    /// Jain's fairness index against the expected shares.
    Jain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Percentile {
    P50,
    P90,
    P99,
    P999,
    Max,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn holds(self, actual: f64, bound: f64) -> bool {
        match self {
            Op::Lt => actual < bound,
            Op::Le => actual <= bound,
            Op::Gt => actual > bound,
            Op::Ge => actual >= bound,
        }
    }
}

/// A parsed assertion.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    pub text: String,
    pub metric: Metric,
    pub op: Op,
    /// In the metric's unit: ms for latency, s for recover/open, a fraction for errors%.
    pub bound: f64,
    /// `errors<0.1%` compares the error share, `errors<10` the count.
    pub percent: bool,
}

impl fmt::Display for Assertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

const FORMS: &str = "use METRIC<VALUE, e.g. p99<250ms, errors<0.1%, rps>1000, recover<5s \
                     (metrics: p50 p90 p99 p999 max errors rps recover open dead share-deviation jain)";

fn parse_ms(text: &str) -> Option<f64> {
    if let Ok(v) = text.parse::<f64>() {
        return Some(v);
    }
    humantime::parse_duration(text)
        .ok()
        .map(|d| d.as_secs_f64() * 1000.0)
        .or_else(|| {
            // humantime has no fractional units: accept 0.5ms, 1.5s.
            for (suffix, scale) in [("ms", 1.0), ("us", 0.001), ("s", 1000.0)] {
                if let Some(n) = text.strip_suffix(suffix) {
                    if let Ok(v) = n.parse::<f64>() {
                        return Some(v * scale);
                    }
                }
            }
            None
        })
}

impl FromStr for Assertion {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, SpecError> {
        let text = s.trim();
        let at = text
            .find(['<', '>'])
            .ok_or_else(|| format!("assertion {s:?} has no < or >; {FORMS}"))?;
        let name = text[..at].trim();
        let rest = &text[at..];
        let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
            (Op::Le, v)
        } else if let Some(v) = rest.strip_prefix(">=") {
            (Op::Ge, v)
        } else if let Some(v) = rest.strip_prefix('<') {
            (Op::Lt, v)
        } else {
            (Op::Gt, &rest[1..])
        };
        let value = value.trim();
        let metric = match name {
            "p50" => Metric::Latency(Percentile::P50),
            "p90" => Metric::Latency(Percentile::P90),
            "p99" => Metric::Latency(Percentile::P99),
            "p999" | "p99.9" => Metric::Latency(Percentile::P999),
            "max" => Metric::Latency(Percentile::Max),
            "errors" => Metric::Errors,
            "rps" => Metric::Rps,
            "recover" => Metric::Recover,
            "open" => Metric::Open,
            "dead" => Metric::Dead,
            "share-deviation" => Metric::ShareDeviation,
            "jain" => Metric::Jain,
            _ => return Err(format!("assertion {s:?}: unknown metric {name:?}; {FORMS}").into()),
        };
        let bad = || format!("assertion {s:?}: {value:?} is not a valid bound for {name}; {FORMS}");
        let mut percent = false;
        let bound = match metric {
            Metric::Latency(_) => parse_ms(value).ok_or_else(bad)?,
            Metric::Recover | Metric::Open => parse_ms(value).ok_or_else(bad)? / 1000.0,
            Metric::Errors | Metric::ShareDeviation => match value.strip_suffix('%') {
                Some(v) => {
                    percent = true;
                    v.trim().parse::<f64>().map_err(|_| bad())? / 100.0
                }
                None if metric == Metric::ShareDeviation => {
                    return Err(format!("assertion {s:?}: write share-deviation as a percentage, e.g. share-deviation<5%").into())
                }
                None => value.parse::<f64>().map_err(|_| bad())?,
            },
            Metric::Rps | Metric::Dead | Metric::Jain => value.parse::<f64>().map_err(|_| bad())?,
        };
        if !bound.is_finite() || bound < 0.0 {
            return Err(bad().into());
        }
        // A share of requests is at most all of them, Jain's index at most 1: a bound past
        // that is a typo that would always hold (or never), not an assertion.
        if matches!(metric, Metric::Errors | Metric::Jain) && bound > 1.0 {
            let most = if metric == Metric::Jain { "1" } else { "100%" };
            return Err(format!(
                "assertion {s:?}: {value:?} is more than {name} can be (at most {most}); {FORMS}"
            )
            .into());
        }
        // Every metric is at least zero: below zero can never hold, at least zero always
        // does. Either is a typo, not a check.
        if bound == 0.0 && matches!(op, Op::Lt | Op::Ge) {
            let (never, fix) = match op {
                Op::Lt => (
                    "can never hold",
                    "use <= 0 for none at all, or a bound above 0",
                ),
                _ => ("always holds", "give a bound above 0"),
            };
            return Err(format!(
                "assertion {s:?}: {name} is never below 0, so this {never}; {fix}"
            )
            .into());
        }
        Ok(Assertion {
            text: text.to_string(),
            metric,
            op,
            bound,
            percent,
        })
    }
}

/// The outcome of one assertion.
#[derive(Debug, Clone, Serialize)]
pub struct AssertionResult {
    pub assertion: String,
    /// The measured value, in the assertion's unit; null when the run had nothing to measure
    /// (e.g. `recover` without a restore), which counts as failed. A share is a fraction here.
    pub actual: Option<f64>,
    /// The measured value in the unit the assertion is written in (`errors<1%` → percent),
    /// rounded to what the measurement carries.
    pub value: Option<f64>,
    /// That unit: `ms`, `s`, `%`, `req/s`, `requests`, `errors`, or `""` for Jain's index.
    pub unit: &'static str,
    pub passed: bool,
}

impl AssertionResult {
    /// `2.01 s`, `11.45 %`, `n/a`.
    pub fn actual_text(&self) -> String {
        match self.value {
            None => "n/a".to_string(),
            Some(v) => {
                let mut text = format!("{v}");
                if let Some(dot) = text.find('.') {
                    // `value` is already rounded; this only guards the display width.
                    text.truncate(dot + 5);
                }
                if self.unit.is_empty() {
                    text
                } else {
                    format!("{text} {}", self.unit)
                }
            }
        }
    }
}

/// Round to `decimals` places, so 0.1145 × 100 shows as 11.45, not 11.450000000000001.
fn round_to(v: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (v * scale).round() / scale
}

impl Assertion {
    /// Check against a measured value (already in the assertion's unit).
    pub fn check(&self, actual: Option<f64>) -> AssertionResult {
        AssertionResult {
            assertion: self.text.clone(),
            actual,
            value: actual.map(|a| self.in_unit(a)),
            unit: self.unit(),
            passed: actual.is_some_and(|a| self.op.holds(a, self.bound)),
        }
    }

    /// The unit the assertion is written in.
    pub fn unit(&self) -> &'static str {
        match self.metric {
            Metric::Latency(_) => "ms",
            Metric::Recover | Metric::Open => "s",
            Metric::Errors if self.percent => "%",
            Metric::Errors => "errors",
            Metric::ShareDeviation => "%",
            Metric::Rps => "req/s",
            Metric::Dead => "requests",
            Metric::Jain => "",
        }
    }

    fn in_unit(&self, actual: f64) -> f64 {
        match self.metric {
            Metric::Latency(_) => round_to(actual, 3),
            Metric::Recover | Metric::Open => round_to(actual, 3),
            Metric::Errors | Metric::ShareDeviation if self.percent => round_to(actual * 100.0, 2),
            Metric::Errors | Metric::Dead => actual.round(),
            Metric::ShareDeviation => round_to(actual * 100.0, 2),
            Metric::Rps => round_to(actual, 1),
            Metric::Jain => round_to(actual, 4),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assertions_parse_with_units() {
        let a: Assertion = "p99<250ms".parse().unwrap();
        assert_eq!(a.metric, Metric::Latency(Percentile::P99));
        assert_eq!(a.bound, 250.0);
        let a: Assertion = "errors<0.1%".parse().unwrap();
        assert!(a.percent && (a.bound - 0.001).abs() < 1e-12);
        let a: Assertion = "recover<5s".parse().unwrap();
        assert_eq!((a.metric, a.bound), (Metric::Recover, 5.0));
        let a: Assertion = "rps>=1000".parse().unwrap();
        assert_eq!(a.op, Op::Ge);
        let a: Assertion = "p999<1.5s".parse().unwrap();
        assert_eq!(a.bound, 1500.0);
        assert!(a.check(Some(1499.0)).passed);
        assert!(!a.check(Some(1500.0)).passed);
        assert!(!a.check(None).passed);
    }

    #[test]
    fn results_carry_their_unit_without_float_noise() {
        let a: Assertion = "errors<1%".parse().unwrap();
        let r = a.check(Some(0.1145));
        assert_eq!((r.value, r.unit), (Some(11.45), "%"));
        assert_eq!(r.actual_text(), "11.45 %");
        let a: Assertion = "recover<5s".parse().unwrap();
        assert_eq!(a.check(Some(2.0100000001)).actual_text(), "2.01 s");
        let a: Assertion = "p99<250ms".parse().unwrap();
        assert_eq!(a.check(Some(12.345)).actual_text(), "12.345 ms");
        let a: Assertion = "jain>0.9".parse().unwrap();
        assert_eq!(a.check(Some(0.99991234)).actual_text(), "0.9999");
        let a: Assertion = "dead<10".parse().unwrap();
        assert_eq!(a.check(Some(3.0)).actual_text(), "3 requests");
        assert_eq!(a.check(None).actual_text(), "n/a");
    }

    #[test]
    fn malformed_assertions_are_refused_with_the_forms() {
        for bad in [
            "p99",
            "p98<1ms",
            "p99<fast",
            "errors<x%",
            "rps>-1",
            "share-deviation<5",
        ] {
            let err = bad.parse::<Assertion>().unwrap_err();
            assert!(err.0.starts_with("assertion "), "{bad}: {err}");
        }
    }

    #[test]
    fn a_zero_bound_that_always_or_never_holds_is_refused() {
        for (text, why) in [
            ("p99<0s", "can never hold"),
            ("errors<0%", "can never hold"),
            ("recover<0ms", "can never hold"),
            ("rps>=0", "always holds"),
        ] {
            let err = text.parse::<Assertion>().unwrap_err();
            assert!(err.0.contains(why), "{text}: {err}");
        }
        for ok in ["errors<=0", "dead<=0", "rps>0", "open<=0s"] {
            ok.parse::<Assertion>().unwrap();
        }
    }
}
