//! `--canary-load`: hale drives load itself during a check and judges the canary from its own
//! per-instance attribution, so a canary is judged where no Prometheus runs or real traffic is too
//! thin. Each ready pod of the Service is one instance of a `hale load` run (round robin over the
//! pods, so the canary's share is its share of the pods); the canary's pods and the stable ones
//! are then compared: success rate and p99 of each, the canary's against the targets.
//!
//! The pods are reached by their IPs, so this needs a pod network that is routable from where
//! hale runs (a CI runner inside the cluster, or a node such as the tests').
use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use super::analysis::Analysis;
use super::gates::{GateOutcome, GateResult};
use super::{CanaryError, TRACK_CANARY, TRACK_LABEL};
use crate::kube::Cluster;
use crate::load::stats::SlotStats;
use crate::load::{self, Endpoint, LoadOptions, Model, Targets};
use crate::progress::Progress;
use crate::stop::Stop;

/// The ready pods of `service`: (name, address, is canary).
async fn ready_pods(
    cluster: &Cluster,
    service: &str,
    port: u16,
) -> Result<Vec<(String, SocketAddr, bool)>, CanaryError> {
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let pods = api
        .list(&ListParams::default().labels(&format!("app.kubernetes.io/name={service}")))
        .await
        .map_err(|e| cluster.error("listing pods", e))?;
    Ok(pods
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .filter_map(|p| {
            let ip = p.status.as_ref()?.pod_ip.as_ref()?.parse().ok()?;
            let canary = p
                .metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.get(TRACK_LABEL).map(String::as_str) == Some(TRACK_CANARY));
            Some((
                p.metadata.name.clone().unwrap_or_default(),
                SocketAddr::new(ip, port),
                canary,
            ))
        })
        .collect())
}

/// Success rate (percent) and p99 (ms) of one side; `None` when it got no requests.
fn figures(s: &SlotStats) -> Option<(f64, f64)> {
    if s.sent == 0 {
        return None;
    }
    let rate = s.ok as f64 * 100.0 / s.sent as f64;
    let p99 = s.corrected.value_at_quantile(0.99) as f64 / 1000.0;
    Some((rate, p99))
}

/// Drive load at every ready pod for the analysis window and judge the canary's pods against the
/// targets, with the stable pods' figures beside them.
pub async fn measure(
    cluster: &Cluster,
    service: &str,
    port: u16,
    analysis: &Analysis,
    stop: &Stop,
) -> Result<Vec<GateResult>, CanaryError> {
    let pods = ready_pods(cluster, service, port).await?;
    let endpoints: Vec<Endpoint> = pods
        .iter()
        .map(|(name, addr, _)| Endpoint {
            id: name.clone(),
            addr: *addr,
            weight: 1,
            check_id: false,
            tls: None,
            authority: addr.to_string(),
        })
        .collect();
    let (mut canary, mut stable) = (SlotStats::new(), SlotStats::new());
    let mut openings = Openings::default();
    if !endpoints.is_empty() {
        let options = LoadOptions {
            model: Model::Closed {
                concurrency: (2 * endpoints.len()).clamp(4, 32),
            },
            duration: Some(analysis.window),
            timeout: Duration::from_secs(5).max(analysis.p99 * 4),
            ..LoadOptions::default()
        };
        let ran = load::run(
            options,
            Targets::Fixed(endpoints),
            None,
            &Progress::hidden(),
            stop,
        )
        .await
        .map_err(|e| CanaryError::Lost(format!("--canary-load could not run: {e}")))?;
        let is_canary = |id: &str| pods.iter().any(|(n, _, c)| *c && n == id);
        for instance in &ran.instances {
            if is_canary(&instance.id) {
                canary.merge(&instance.stats);
            } else {
                stable.merge(&instance.stats);
            }
        }
        let canary_pods = pods.iter().filter(|(_, _, c)| *c).count();
        openings = Openings::count(
            &ran.events,
            canary_pods,
            pods.len() - canary_pods,
            is_canary,
        );
    }
    let (c, s) = (figures(&canary), figures(&stable));
    let versus = |pick: fn((f64, f64)) -> f64, unit: &str| {
        s.map(|s| format!(", stable {:.2}{unit}", pick(s)))
            .unwrap_or_default()
    };
    let target_ms = analysis.p99.as_secs_f64() * 1000.0;
    let gate =
        |name: &str, value: Option<f64>, holds: bool, target: String, unit: &str| GateResult {
            gate: name.to_string(),
            outcome: match value {
                None => GateOutcome::Error,
                Some(_) if holds => GateOutcome::Pass,
                Some(_) => GateOutcome::Fail,
            },
            value,
            unit: unit.to_string(),
            target,
            error: value.is_none().then(|| "no data".to_string()),
        };
    Ok(vec![
        gate(
            "load-success-rate",
            c.map(|c| c.0),
            c.is_some_and(|c| c.0 >= analysis.success_rate),
            format!(">= {}%{}", analysis.success_rate, versus(|s| s.0, "%")),
            "percent",
        ),
        gate(
            "load-p99",
            c.map(|c| c.1),
            c.is_some_and(|c| c.1 <= target_ms),
            format!(
                "<= {}{}",
                humantime::format_duration(analysis.p99),
                versus(|s| s.1, "ms")
            ),
            "ms",
        ),
        gate(
            "load-breaker",
            (openings.canary_pods > 0).then_some(openings.canary as f64),
            openings.holds(),
            format!("<= the stable pods' per pod, stable {}", openings.stable),
            "openings",
        ),
    ])
}

/// Breaker openings (hale's per-instance breaker going to open) during a check, by side.
#[derive(Debug, Default, PartialEq)]
struct Openings {
    canary: u64,
    stable: u64,
    canary_pods: usize,
    stable_pods: usize,
}

impl Openings {
    fn count(
        events: &[load::TimelineEvent],
        canary_pods: usize,
        stable_pods: usize,
        is_canary: impl Fn(&str) -> bool,
    ) -> Openings {
        let mut o = Openings {
            canary_pods,
            stable_pods,
            ..Openings::default()
        };
        for e in events
            .iter()
            .filter(|e| e.kind == "breaker" && e.state == Some(crate::breaker::State::Open))
        {
            if is_canary(&e.instance) {
                o.canary += 1;
            } else {
                o.stable += 1;
            }
        }
        o
    }

    /// The canary's breakers opened no more often per pod than the stable ones' (so a service
    /// overloaded as a whole does not fail the canary alone); with no stable pod, never.
    fn holds(&self) -> bool {
        if self.canary == 0 {
            return true;
        }
        if self.stable_pods == 0 || self.canary_pods == 0 {
            return false;
        }
        // canary / canary_pods <= stable / stable_pods, without division.
        self.canary * self.stable_pods as u64 <= self.stable * self.canary_pods as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::State;

    fn event(instance: &str, state: State) -> load::TimelineEvent {
        load::TimelineEvent {
            t_ms: 1.0,
            kind: "breaker",
            instance: instance.into(),
            state: Some(state),
            detail: String::new(),
            fault: None,
        }
    }

    #[test]
    fn only_openings_count_and_the_canary_is_judged_per_pod_against_the_stable_pods() {
        let events = [
            event("orders-canary-a", State::Open),
            event("orders-canary-a", State::HalfOpen),
            event("orders-canary-a", State::Closed),
            event("orders-b", State::Open),
            event("orders-c", State::Open),
        ];
        let canary = |id: &str| id.starts_with("orders-canary");
        let o = Openings::count(&events, 1, 2, canary);
        assert_eq!((o.canary, o.stable), (1, 2));
        // 1 opening on 1 canary pod against 2 on 2 stable pods: as often, holds.
        assert!(o.holds());
        // The same opening on the canary with quiet stable pods fails.
        let o = Openings::count(&events[..3], 1, 2, canary);
        assert!(!o.holds());
        // No opening at all holds, whatever the sides.
        assert!(Openings::count(&[], 1, 0, canary).holds());
    }
}
