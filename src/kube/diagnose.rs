//! Why a rollout did not complete: the pods' waiting and termination reasons
//! (ImagePullBackOff, CrashLoopBackOff, ...), the recent events of the Deployment, its
//! ReplicaSets and pods, and the last log lines where the API server serves them.
use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, ListParams, LogParams};
use serde::Serialize;

use super::{Cluster, KubeError};

/// How many pods, events and log lines a diagnosis shows.
const MAX_PODS: usize = 5;
const MAX_EVENTS: usize = 12;
const LOG_LINES: i64 = 10;
/// A node that serves no logs (kwok's, or one that is down) must not hold the report up.
const LOG_TIMEOUT: Duration = Duration::from_secs(5);

/// One container's state, as a line.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ContainerDiagnosis {
    pub name: String,
    pub ready: bool,
    pub restarts: i32,
    /// `waiting: CrashLoopBackOff: back-off 10s restarting failed container`,
    /// `terminated: Error (exit 1)`, `running`.
    pub state: String,
    /// The previous run's end, when it restarted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_termination: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PodDiagnosis {
    pub name: String,
    pub phase: String,
    pub ready: bool,
    pub containers: Vec<ContainerDiagnosis>,
    /// The last log lines of the first container that is not ready, when served.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<String>,
    /// Why there are no logs (not served by the node, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs_note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventLine {
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    /// `Pod/orders-5d9c-x2x`.
    pub object: String,
    pub message: String,
    pub count: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
}

impl std::fmt::Display for EventLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}: {}",
            self.type_, self.reason, self.object, self.message
        )?;
        if self.count > 1 {
            write!(f, " (x{})", self.count)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub deployment: String,
    pub pods: Vec<PodDiagnosis>,
    pub events: Vec<EventLine>,
}

impl Diagnosis {
    /// The report as text lines (the command prints them on stderr).
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.pods.is_empty() {
            out.push(format!("no pods of deployment/{}", self.deployment));
        }
        for pod in &self.pods {
            out.push(format!(
                "pod {} {}{}",
                pod.name,
                pod.phase,
                if pod.ready { ", ready" } else { ", not ready" }
            ));
            for c in &pod.containers {
                let mut line = format!("  container {}: {}", c.name, c.state);
                if c.restarts > 0 {
                    line.push_str(&format!(", {} restarts", c.restarts));
                }
                if let Some(last) = &c.last_termination {
                    line.push_str(&format!(", last run {last}"));
                }
                out.push(line);
            }
            if !pod.logs.is_empty() {
                out.push("  last log lines:".into());
                out.extend(pod.logs.iter().map(|l| format!("    {l}")));
            } else if let Some(note) = &pod.logs_note {
                out.push(format!("  logs: {note}"));
            }
        }
        if !self.events.is_empty() {
            out.push("recent events:".into());
            out.extend(self.events.iter().map(|e| format!("  {e}")));
        }
        out
    }
}

/// A label selector in the form list calls take.
pub fn selector_string(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            _ => continue,
        });
    }
    parts.join(",")
}

fn container_line(s: &k8s_openapi::api::core::v1::ContainerState) -> String {
    if let Some(w) = &s.waiting {
        let mut line = format!("waiting: {}", w.reason.as_deref().unwrap_or("unknown"));
        if let Some(m) = w.message.as_deref().filter(|m| !m.is_empty()) {
            line.push_str(&format!(": {m}"));
        }
        line
    } else if let Some(t) = &s.terminated {
        terminated(t)
    } else if s.running.is_some() {
        "running".into()
    } else {
        "unknown".into()
    }
}

fn terminated(t: &k8s_openapi::api::core::v1::ContainerStateTerminated) -> String {
    let mut line = format!(
        "terminated: {} (exit {})",
        t.reason.as_deref().unwrap_or("unknown"),
        t.exit_code
    );
    if let Some(m) = t.message.as_deref().filter(|m| !m.is_empty()) {
        line.push_str(&format!(": {m}"));
    }
    line
}

/// The pod as the report shows it; not-ready pods first.
pub fn pod_diagnosis(pod: &Pod) -> PodDiagnosis {
    let status = pod.status.clone().unwrap_or_default();
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let containers = status
        .container_statuses
        .iter()
        .flatten()
        .map(|c| ContainerDiagnosis {
            name: c.name.clone(),
            ready: c.ready,
            restarts: c.restart_count,
            state: c
                .state
                .as_ref()
                .map(container_line)
                .unwrap_or_else(|| "unknown".into()),
            last_termination: c
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .map(terminated),
        })
        .collect();
    PodDiagnosis {
        name: pod.metadata.name.clone().unwrap_or_default(),
        phase: status.phase.unwrap_or_else(|| "Unknown".into()),
        ready,
        containers,
        logs: Vec::new(),
        logs_note: None,
    }
}

/// Diagnose Deployment `name` in `namespace`.
pub async fn diagnose(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
) -> Result<Diagnosis, KubeError> {
    let what = format!("Deployment/{name}");
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), namespace);
    let deployment = deployments
        .get(name)
        .await
        .map_err(|e| cluster.error(what.clone(), e))?;
    let selector = deployment
        .spec
        .as_ref()
        .map(|s| selector_string(&s.selector))
        .unwrap_or_default();
    let uid = deployment.metadata.uid.clone().unwrap_or_default();

    let sets: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), namespace);
    let replica_sets: Vec<String> = sets
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| cluster.error(format!("listing the ReplicaSets of {what}"), e))?
        .items
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == uid)
        })
        .filter_map(|rs| rs.metadata.name)
        .collect();

    let pods_api: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
    let mut pods: Vec<Pod> = pods_api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| cluster.error(format!("listing the pods of {what}"), e))?
        .items;
    let pod_names: BTreeSet<String> = pods
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    let mut report: Vec<PodDiagnosis> = pods.iter().map(pod_diagnosis).collect();
    // Not-ready pods first: they are the ones that explain a stuck rollout.
    let mut order: Vec<usize> = (0..report.len()).collect();
    order.sort_by_key(|&i| (report[i].ready, report[i].name.clone()));
    let mut sorted: Vec<PodDiagnosis> = Vec::new();
    for i in order.into_iter().take(MAX_PODS) {
        sorted.push(report[i].clone());
    }
    report = sorted;
    pods.retain(|p| {
        report
            .iter()
            .any(|r| Some(&r.name) == p.metadata.name.as_ref())
    });

    for pod in report.iter_mut() {
        let Some(container) = pod
            .containers
            .iter()
            .find(|c| !c.ready)
            .or(pod.containers.first())
            .map(|c| c.name.clone())
        else {
            continue;
        };
        let params = LogParams {
            container: Some(container),
            tail_lines: Some(LOG_LINES),
            ..LogParams::default()
        };
        match tokio::time::timeout(LOG_TIMEOUT, pods_api.logs(&pod.name, &params)).await {
            Ok(Ok(text)) => {
                pod.logs = text.lines().map(str::to_string).collect();
                if pod.logs.is_empty() {
                    pod.logs_note = Some("empty".into());
                }
            }
            Ok(Err(e)) => pod.logs_note = Some(format!("not served ({})", short(&e))),
            Err(_) => pod.logs_note = Some("not served (no answer within 5s)".into()),
        }
    }

    let events_api: Api<Event> = Api::namespaced(cluster.client.clone(), namespace);
    let mut events: Vec<Event> = events_api
        .list(&ListParams::default())
        .await
        .map_err(|e| cluster.error(format!("listing the events of {what}"), e))?
        .items
        .into_iter()
        .filter(|e| {
            let o = &e.involved_object;
            let n = o.name.as_deref().unwrap_or("");
            match o.kind.as_deref() {
                Some("Deployment") => n == name,
                Some("ReplicaSet") => replica_sets.iter().any(|r| r == n),
                Some("Pod") => pod_names.contains(n),
                _ => false,
            }
        })
        .collect();
    events.sort_by_key(event_time);
    let skip = events.len().saturating_sub(MAX_EVENTS);
    let events = events.iter().skip(skip).map(event_line).collect();
    Ok(Diagnosis {
        deployment: name.to_string(),
        pods: report,
        events,
    })
}

fn short(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

fn event_time(e: &Event) -> String {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
        .or_else(|| {
            e.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
        })
        .unwrap_or_default()
}

/// One event as the report shows it.
pub fn event_line(e: &Event) -> EventLine {
    let o = &e.involved_object;
    EventLine {
        type_: e.type_.clone().unwrap_or_else(|| "Normal".into()),
        reason: e.reason.clone().unwrap_or_default(),
        object: format!(
            "{}/{}",
            o.kind.as_deref().unwrap_or(""),
            o.name.as_deref().unwrap_or("")
        ),
        message: e.message.clone().unwrap_or_default().trim().to_string(),
        count: e.count.unwrap_or(1),
        last_seen: Some(event_time(e)).filter(|t| !t.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_crash_looping_container_says_so_with_its_last_exit() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "orders-1"},
            "status": {"phase": "Running",
              "conditions": [{"type": "Ready", "status": "False"}],
              "containerStatuses": [{"name": "orders", "ready": false, "restartCount": 4,
                "image": "x", "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff",
                                       "message": "back-off 40s restarting failed container"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}
        }))
        .unwrap();
        let d = pod_diagnosis(&pod);
        assert!(!d.ready);
        assert_eq!(
            d.containers[0].state,
            "waiting: CrashLoopBackOff: back-off 40s restarting failed container"
        );
        assert_eq!(
            d.containers[0].last_termination.as_deref(),
            Some("terminated: Error (exit 1)")
        );
    }

    #[test]
    fn selectors_render_labels_and_expressions() {
        let s: LabelSelector = serde_json::from_value(json!({
            "matchLabels": {"app": "orders"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]
        }))
        .unwrap();
        assert_eq!(selector_string(&s), "app=orders,tier in (a,b)");
    }
}
