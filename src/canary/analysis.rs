//! The canary analysis: the weights of the steps, how often and over what window each step is
//! checked, how many failed checks roll back, the gates' targets (Flagger's defaults), and how a
//! weight becomes a number of canary and stable pods.
use std::time::Duration;

use serde::Serialize;

use super::CanaryError;

/// Flagger's defaults: 10 % steps up to 50 %, a check every minute over one minute, rollback on
/// the first failed check, success rate ≥ 99 %, p99 ≤ 500 ms.
pub const DEFAULT_STEP_WEIGHT: u32 = 10;
pub const DEFAULT_MAX_WEIGHT: u32 = 50;
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_THRESHOLD: u32 = 1;
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
pub const DEFAULT_SUCCESS_RATE: f64 = 99.0;
pub const DEFAULT_P99: Duration = Duration::from_millis(500);
/// The shortest interval (Flagger's minimum); shorter only when the caller allows it (tests).
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);
/// Consecutive checks that could not measure (no data, Prometheus errors) before the canary is
/// aborted with "no data" (Argo Rollouts' `consecutiveErrorLimit`).
pub const ERROR_LIMIT: u32 = 4;

/// The analysis of one canary run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    pub step_weight: u32,
    pub max_weight: u32,
    #[serde(with = "secs", rename = "interval_seconds")]
    pub interval: Duration,
    pub threshold: u32,
    #[serde(with = "secs", rename = "window_seconds")]
    pub window: Duration,
    /// Percent.
    #[serde(rename = "success_rate_percent")]
    pub success_rate: f64,
    #[serde(with = "secs", rename = "p99_seconds")]
    pub p99: Duration,
    pub error_limit: u32,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// The values given for one run (flags, or the same keys in hale.toml's `[deploy.canary]`);
/// `None` means "not given".
#[derive(Debug, Clone, Default)]
pub struct Given {
    pub step_weight: Option<u32>,
    pub max_weight: Option<u32>,
    pub interval: Option<Duration>,
    pub threshold: Option<u32>,
    pub window: Option<Duration>,
    pub success_rate: Option<f64>,
    pub p99: Option<Duration>,
}

impl Given {
    /// hale.toml's `[deploy.canary]` as given values (its durations parsed here).
    pub fn from_toml(toml: &crate::settings::CanaryConfig) -> Result<Given, CanaryError> {
        let duration = |key: &str, text: &Option<String>| {
            text.as_deref()
                .map(|t| {
                    crate::values::positive_duration(t).map_err(|e| {
                        CanaryError::BadInput(format!("hale.toml deploy.canary.{key}: {e}"))
                    })
                })
                .transpose()
        };
        Ok(Given {
            step_weight: toml.step_weight,
            max_weight: toml.max_weight,
            interval: duration("interval", &toml.interval)?,
            threshold: toml
                .threshold
                .map(|n| {
                    crate::values::positive_count(&n.to_string()).map_err(|e| {
                        CanaryError::BadInput(format!("hale.toml deploy.canary.threshold: {e}"))
                    })
                })
                .transpose()?,
            window: duration("window", &toml.window)?,
            success_rate: toml.success_rate,
            p99: duration("p99", &toml.p99)?,
        })
    }
}

impl Analysis {
    /// `flags` > `toml` > Flagger's defaults, checked as a whole ([`Analysis::validate`]).
    pub fn resolve(
        flags: &Given,
        toml: &Given,
        short_intervals: bool,
    ) -> Result<Analysis, CanaryError> {
        let d = Analysis::default();
        let a = Analysis {
            step_weight: flags
                .step_weight
                .or(toml.step_weight)
                .unwrap_or(d.step_weight),
            max_weight: flags.max_weight.or(toml.max_weight).unwrap_or(d.max_weight),
            interval: flags.interval.or(toml.interval).unwrap_or(d.interval),
            threshold: flags.threshold.or(toml.threshold).unwrap_or(d.threshold),
            window: flags.window.or(toml.window).unwrap_or(d.window),
            success_rate: flags
                .success_rate
                .or(toml.success_rate)
                .unwrap_or(d.success_rate),
            p99: flags.p99.or(toml.p99).unwrap_or(d.p99),
            error_limit: d.error_limit,
        };
        a.validate(short_intervals)?;
        Ok(a)
    }
}

impl Default for Analysis {
    fn default() -> Self {
        Analysis {
            step_weight: DEFAULT_STEP_WEIGHT,
            max_weight: DEFAULT_MAX_WEIGHT,
            interval: DEFAULT_INTERVAL,
            threshold: DEFAULT_THRESHOLD,
            window: DEFAULT_WINDOW,
            success_rate: DEFAULT_SUCCESS_RATE,
            p99: DEFAULT_P99,
            error_limit: ERROR_LIMIT,
        }
    }
}

impl Analysis {
    /// Check every value before anything happens; `short_intervals` lifts the 10 s minimum.
    pub fn validate(&self, short_intervals: bool) -> Result<(), CanaryError> {
        let bad = |m: String| Err(CanaryError::BadInput(m));
        if !(1..=100).contains(&self.step_weight) {
            return bad(format!(
                "--canary-step-weight {} is not a percentage from 1 to 100",
                self.step_weight
            ));
        }
        if !(self.step_weight..=100).contains(&self.max_weight) {
            return bad(format!(
                "--canary-max-weight {} is not from --canary-step-weight ({}) to 100",
                self.max_weight, self.step_weight
            ));
        }
        if self.interval < MIN_INTERVAL && !short_intervals {
            return bad(format!(
                "--canary-interval {} is below the minimum of 10s (set \
                 HALE_CANARY_SHORT_INTERVALS=1 to allow shorter ones, for tests)",
                humantime::format_duration(self.interval)
            ));
        }
        if self.interval < Duration::from_secs(1) {
            return bad("--canary-interval must be at least 1s".into());
        }
        if self.threshold == 0 {
            return bad("--canary-threshold must be at least 1".into());
        }
        if self.window < Duration::from_secs(1) {
            return bad("--canary-window must be at least 1s".into());
        }
        if !(self.success_rate > 0.0 && self.success_rate <= 100.0) {
            return bad(format!(
                "--canary-success-rate {} is not a percentage above 0 and at most 100",
                self.success_rate
            ));
        }
        if self.p99.is_zero() {
            return bad("--canary-p99 must be above 0".into());
        }
        Ok(())
    }

    /// The weights of the steps: `step_weight` added each step, up to `max_weight`.
    pub fn weights(&self) -> Vec<u32> {
        let mut weights = Vec::new();
        let mut w = 0;
        while w < self.max_weight {
            w = (w + self.step_weight).min(self.max_weight);
            weights.push(w);
        }
        weights
    }
}

/// How many canary and stable pods approximate `weight` percent of the traffic, given the
/// stable Deployment's usual replicas (`base`): as few canary pods as the weight allows (at
/// least one), and as many stable pods as the ratio then needs (at least one).
pub fn split(base: i32, weight: u32) -> (i32, i32) {
    let base = base.max(1);
    let w = f64::from(weight.clamp(1, 100));
    if weight >= 100 {
        return (base, 0);
    }
    let canary = ((f64::from(base) * w / 100.0).round() as i32).max(1);
    let stable = ((f64::from(canary) * (100.0 - w) / w).round() as i32).max(1);
    (canary, stable)
}

/// How many canary pods carry `weight` percent of the traffic under Gateway API weights, where
/// the stable Deployment keeps its `base` replicas: enough for their share of the load
/// (rounded up), at least one.
pub fn gateway_canary_replicas(base: i32, weight: u32) -> i32 {
    let share = i64::from(base.max(1)) * i64::from(weight.clamp(1, 100));
    ((share + 99) / 100).max(1) as i32
}

/// The share of pods that are canary pods, in percent (what the replica ratio really gives).
pub fn actual_weight(canary: i32, stable: i32) -> f64 {
    if canary + stable == 0 {
        return 0.0;
    }
    f64::from(canary) * 100.0 / f64::from(canary + stable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flaggers_defaults_step_by_ten_up_to_fifty() {
        assert_eq!(Analysis::default().weights(), vec![10, 20, 30, 40, 50]);
        let a = Analysis {
            step_weight: 20,
            ..Analysis::default()
        };
        assert_eq!(a.weights(), vec![20, 40, 50]);
    }

    #[test]
    fn replica_ratio_approximates_the_weight() {
        assert_eq!(split(2, 10), (1, 9));
        assert_eq!(split(2, 25), (1, 3));
        assert_eq!(split(2, 50), (1, 1));
        assert_eq!(split(4, 50), (2, 2));
        assert_eq!(split(10, 20), (2, 8));
        assert!((actual_weight(1, 3) - 25.0).abs() < 1e-9);
    }

    #[test]
    fn gateway_weights_give_the_canary_enough_pods_for_its_share() {
        assert_eq!(gateway_canary_replicas(2, 10), 1);
        assert_eq!(gateway_canary_replicas(2, 50), 1);
        assert_eq!(gateway_canary_replicas(2, 60), 2);
        assert_eq!(gateway_canary_replicas(10, 25), 3);
        assert_eq!(gateway_canary_replicas(4, 100), 4);
    }

    #[test]
    fn short_intervals_need_the_explicit_switch() {
        let a = Analysis {
            interval: Duration::from_secs(2),
            ..Analysis::default()
        };
        assert!(a.validate(false).unwrap_err().is_bad_input());
        assert!(a.validate(true).is_ok());
        let bad = Analysis {
            max_weight: 5,
            ..Analysis::default()
        };
        assert!(bad.validate(true).is_err());
    }
}
