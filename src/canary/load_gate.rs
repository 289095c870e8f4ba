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
        for instance in &ran.instances {
            let is_canary = pods.iter().any(|(n, _, c)| *c && n == &instance.id);
            if is_canary {
                canary.merge(&instance.stats);
            } else {
                stable.merge(&instance.stats);
            }
        }
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
    ])
}
