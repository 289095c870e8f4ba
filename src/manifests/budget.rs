//! The generated service's shutdown time budget, which terminationGracePeriodSeconds must cover.
//!
//! Kubernetes counts the grace period from the moment it starts the preStop hook; the service
//! then gets SIGTERM and runs the contract's order (docs/contracts.md): readiness 503 →
//! deregister → DRAIN_DELAY → http.Server.Shutdown(SHUTDOWN_TIMEOUT) → span flush. Each part's
//! default is the generated service's own (templates/service `internal/config`, `cmd/<name>`,
//! `internal/telemetry`); the grace period is their sum, so SIGKILL never cuts a clean exit.

/// Seconds for each part of a graceful stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBudget {
    /// The preStop sleep: endpoints controllers and kube-proxy stop routing to the pod.
    pub pre_stop: u32,
    /// Deregistration from the registry (the service's own 5 s timeout).
    pub deregister: u32,
    /// DRAIN_DELAY: clients notice the instance left before the listener closes.
    pub drain: u32,
    /// SHUTDOWN_TIMEOUT: in-flight requests finish.
    pub shutdown: u32,
    /// Flushing buffered spans (the exporter's 5 s timeout).
    pub span_flush: u32,
}

impl Default for TimeBudget {
    fn default() -> Self {
        TimeBudget {
            pre_stop: 5,
            deregister: 5,
            drain: 5,
            shutdown: 20,
            span_flush: 5,
        }
    }
}

impl TimeBudget {
    /// terminationGracePeriodSeconds: the sum of every part.
    pub fn total(&self) -> u32 {
        self.pre_stop + self.deregister + self.drain + self.shutdown + self.span_flush
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_budget_sums_to_forty_seconds() {
        assert_eq!(TimeBudget::default().total(), 40);
    }
}
