//! What hale knows about the services it generates, for the parts of hale that deploy them:
//! the shutdown time budget the Kubernetes manifests turn into `terminationGracePeriodSeconds`.
//!
//! The figures mirror the generated `internal/config` package (its `TimeBudget`) and
//! docs/contracts.md "Time budget"; a unit test reads the templates to keep them in step.
use std::time::Duration;

/// The longest a generated service may take to stop, part by part, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBudget {
    /// The pod's preStop sleep, before SIGTERM: endpoints stop sending traffic.
    pub pre_stop: Duration,
    /// Leaving the registry (the service's `DeregisterTimeout`).
    pub deregister: Duration,
    /// `DRAIN_DELAY`: still serving while clients notice the instance left.
    pub drain: Duration,
    /// `SHUTDOWN_TIMEOUT`: in-flight requests finishing.
    pub shutdown: Duration,
    /// Exporting buffered spans (the service's `SpanFlushTimeout`).
    pub span_flush: Duration,
}

impl TimeBudget {
    /// The generated service's defaults: 5 s + 5 s + 5 s + 20 s + 5 s = 40 s.
    pub const DEFAULT: TimeBudget = TimeBudget {
        pre_stop: Duration::from_secs(5),
        deregister: Duration::from_secs(5),
        drain: Duration::from_secs(5),
        shutdown: Duration::from_secs(20),
        span_flush: Duration::from_secs(5),
    };

    /// The budget with `DRAIN_DELAY` and `SHUTDOWN_TIMEOUT` as a deployment sets them.
    pub fn with(drain: Duration, shutdown: Duration) -> TimeBudget {
        TimeBudget {
            drain,
            shutdown,
            ..TimeBudget::DEFAULT
        }
    }

    /// The sum of the parts.
    pub fn total(&self) -> Duration {
        self.pre_stop + self.deregister + self.drain + self.shutdown + self.span_flush
    }

    /// `terminationGracePeriodSeconds` covering the whole budget (whole seconds, rounded up).
    pub fn termination_grace_period_seconds(&self) -> i64 {
        let total = self.total();
        let secs = total.as_secs() + u64::from(total.subsec_nanos() > 0);
        i64::try_from(secs).unwrap_or(i64::MAX)
    }
}

impl Default for TimeBudget {
    fn default() -> Self {
        TimeBudget::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG_GO: &str = include_str!("../templates/service/internal/config/config.go.tera");

    #[test]
    fn default_budget_sums_to_forty_seconds_above_kubernetes_default() {
        assert_eq!(TimeBudget::DEFAULT.total(), Duration::from_secs(40));
        assert_eq!(TimeBudget::default().termination_grace_period_seconds(), 40);
        assert!(TimeBudget::DEFAULT.termination_grace_period_seconds() > 30);
    }

    #[test]
    fn grace_period_rounds_a_partial_second_up() {
        let b = TimeBudget::with(Duration::from_millis(1500), Duration::from_secs(3));
        assert_eq!(b.total(), Duration::from_millis(19_500));
        assert_eq!(b.termination_grace_period_seconds(), 20);
    }

    /// The Go side's defaults are the ones this module sums.
    #[test]
    fn defaults_match_the_generated_service_config() {
        for line in [
            "PreStopDelay = 5 * time.Second",
            "DeregisterTimeout = 5 * time.Second",
            "SpanFlushTimeout = 5 * time.Second",
            r#""DRAIN_DELAY", 5*time.Second"#,
            r#""SHUTDOWN_TIMEOUT", 20*time.Second"#,
        ] {
            assert!(
                CONFIG_GO.contains(line),
                "config.go.tera no longer has `{line}`"
            );
        }
    }

    #[test]
    fn contracts_document_the_same_sum() {
        let doc = include_str!("../docs/contracts.md");
        let section = doc
            .split("## Time budget")
            .nth(1)
            .expect("docs/contracts.md has a Time budget section");
        assert!(section.contains("40 s"), "the documented total is 40 s");
    }
}
