//! Faults on the cluster, carried out by the CLI while the shards run. `kill=POD` deletes the
//! pod (grace 1 s). `error-rate=`, `latency=` and `restore=` (which resets them) go to the
//! pod's own admin API, `PUT /admin/faults`, as locally: the admin listener stays on the pod's
//! loopback and is reached through the API server's port-forward (kubectl port-forward's
//! path), so nothing about it is exposed on the pod network and the NetworkPolicy hale deploy
//! renders still admits only the `http` port. The pods must run with the template's fault
//! switch on (`ADMIN_ENABLED` and `FAULT_INJECTION` in hale.toml's `[deploy.env]`): every pod a
//! plan names is asked first (`GET /admin/faults`), and a plan it cannot carry out is refused
//! in one line before anything is built or created.
use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::Api;

use super::ClusterError;
use crate::fleet::ActiveFaults;
use crate::kube::Cluster;
use crate::load::faults::{FaultActuator, FaultError};
use crate::load::{FaultAction, FaultStep};

/// Where the template's admin listener is when ADMIN_ADDR is not set.
const DEFAULT_ADMIN_PORT: u16 = 6060;
/// One admin call, port-forward included.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Carries out a plan's faults on the pods behind a Service.
pub struct PodActuator {
    cluster: Cluster,
    pods: Vec<String>,
    /// The admin listener's port in each pod a plan sets faults on.
    admin_ports: BTreeMap<String, u16>,
}

impl PodActuator {
    /// Check `plan` against the Service's ready `pods`: every pod it names is one of them, and
    /// every pod it sets faults on answers `GET /admin/faults` with injection enabled. (A
    /// restore= of a killed pod was refused before, by [`super::check_fault_kinds`].)
    pub async fn prepare(
        cluster: &Cluster,
        plan: &[FaultStep],
        pods: &[String],
    ) -> Result<PodActuator, ClusterError> {
        let mut admin_ports = BTreeMap::new();
        for step in plan {
            let pod = step.action.instance();
            if !pods.iter().any(|p| p == pod) {
                return Err(ClusterError::BadInput(format!(
                    "--fault {step}: no ready pod {pod} behind the Service (pods: {})",
                    pods.join(", ")
                )));
            }
            if matches!(step.action, FaultAction::Kill(_)) || admin_ports.contains_key(pod) {
                continue;
            }
            let port = admin_port(cluster, pod).await?;
            let active = get_faults(cluster, pod, port)
                .await
                .map_err(|why| ClusterError::BadInput(format!("--fault {step}: {why}")))?;
            if !active.enabled {
                return Err(ClusterError::BadInput(format!(
                    "--fault {step}: fault injection is off in pod {pod}: set FAULT_INJECTION = \"true\" in hale.toml's [deploy.env] and deploy again"
                )));
            }
            admin_ports.insert(pod.to_string(), port);
        }
        Ok(PodActuator {
            cluster: cluster.clone(),
            pods: pods.to_vec(),
            admin_ports,
        })
    }

    fn port(&self, pod: &str) -> Result<u16, FaultError> {
        self.admin_ports
            .get(pod)
            .copied()
            .ok_or_else(|| FaultError::Cluster(format!("pod {pod} was not checked for faults")))
    }
}

impl FaultActuator for PodActuator {
    fn kill<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), FaultError>> {
        Box::pin(async move {
            super::job::kill_pod(&self.cluster, instance)
                .await
                .map_err(|e| FaultError::Cluster(e.to_string()))
        })
    }

    /// A killed pod is never restored (refused in [`PodActuator::prepare`]): on the cluster,
    /// restore= resets the pod's faults.
    fn restore<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), FaultError>> {
        self.set_faults(instance, 0.0, Duration::ZERO)
    }

    fn set_faults<'a>(
        &'a self,
        instance: &'a str,
        error_rate: f64,
        latency: Duration,
    ) -> BoxFuture<'a, Result<(), FaultError>> {
        Box::pin(async move {
            let port = self.port(instance)?;
            let body = serde_json::json!({
                "error_rate": error_rate,
                "latency_ms": latency.as_millis() as u64,
            })
            .to_string();
            let (status, _) = admin_call(&self.cluster, instance, port, "PUT", Some(body))
                .await
                .map_err(FaultError::Cluster)?;
            if !(200..300).contains(&status) {
                return Err(FaultError::Cluster(format!(
                    "pod {instance}: PUT /admin/faults answered {status}"
                )));
            }
            Ok(())
        })
    }

    fn instances(&self) -> Vec<String> {
        self.pods.clone()
    }
}

/// The port of the pod's admin listener: ADMIN_ADDR from the container's env, or from a
/// ConfigMap it takes its env from (`[deploy.env]`), else the template's default.
async fn admin_port(cluster: &Cluster, pod: &str) -> Result<u16, ClusterError> {
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let spec = pods
        .get(pod)
        .await
        .map_err(|e| cluster.error(format!("Pod/{pod}"), e))?
        .spec
        .unwrap_or_default();
    let mut addr = None;
    for container in &spec.containers {
        for from in container.env_from.iter().flatten() {
            let Some(name) = from.config_map_ref.as_ref().map(|r| r.name.clone()) else {
                continue;
            };
            let Some(key) = "ADMIN_ADDR".strip_prefix(from.prefix.as_deref().unwrap_or("")) else {
                continue;
            };
            let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
            let map = maps
                .get_opt(&name)
                .await
                .map_err(|e| cluster.error(format!("ConfigMap/{name}"), e))?;
            if let Some(value) = map.and_then(|m| m.data).and_then(|d| d.get(key).cloned()) {
                addr = Some(value);
            }
        }
        // An env entry wins over env_from, as in the kubelet.
        for var in container.env.iter().flatten() {
            if var.name == "ADMIN_ADDR" {
                addr = var.value.clone();
            }
        }
    }
    match addr {
        None => Ok(DEFAULT_ADMIN_PORT),
        Some(addr) => parse_port(&addr).ok_or_else(|| {
            ClusterError::BadInput(format!(
                "pod {pod}: ADMIN_ADDR {addr:?} is not HOST:PORT, so its admin listener cannot be found"
            ))
        }),
    }
}

fn parse_port(addr: &str) -> Option<u16> {
    addr.rsplit_once(':')?.1.parse().ok()
}

/// `GET /admin/faults` in the pod; the error is the whole reason, for one line.
async fn get_faults(cluster: &Cluster, pod: &str, port: u16) -> Result<ActiveFaults, String> {
    let switch = "deploy with ADMIN_ENABLED = \"true\" and FAULT_INJECTION = \"true\" in hale.toml's [deploy.env] (the admin listener stays on the pod's loopback; hale reaches it through the API server's port-forward)";
    let (status, body) = admin_call(cluster, pod, port, "GET", None)
        .await
        .map_err(|why| format!("{why}: {switch}"))?;
    match status {
        200 => serde_json::from_slice(&body).map_err(|e| {
            format!("pod {pod}: GET /admin/faults on 127.0.0.1:{port} did not answer the template's JSON ({e})")
        }),
        401 | 403 => Err(format!(
            "pod {pod}: its admin API wants ADMIN_TOKEN, which hale does not carry to the cluster; leave ADMIN_TOKEN unset so the listener stays on the pod's loopback"
        )),
        404 => Err(format!(
            "pod {pod}: 127.0.0.1:{port} answered 404 to GET /admin/faults, so it is not the service's admin listener: {switch}"
        )),
        other => Err(format!("pod {pod}: GET /admin/faults answered {other}")),
    }
}

/// One HTTP/1.1 request to `127.0.0.1:port` inside the pod, through a port-forward opened for
/// it and closed after.
async fn admin_call(
    cluster: &Cluster,
    pod: &str,
    port: u16,
    method: &str,
    body: Option<String>,
) -> Result<(u16, Bytes), String> {
    let unreachable = |e: &dyn std::fmt::Display| {
        format!("pod {pod}: nothing answered on its 127.0.0.1:{port} (admin listener): {e}")
    };
    let call = async {
        let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
        let mut forward = pods
            .portforward(pod, &[port])
            .await
            .map_err(|e| format!("pod {pod}: port-forward to {port}: {e}"))?;
        let stream = forward
            .take_stream(port)
            .ok_or_else(|| format!("pod {pod}: port-forward to {port} gave no stream"))?;
        let answer = async {
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| unreachable(&e))?;
            let driver = tokio::spawn(connection);
            let request = hyper::Request::builder()
                .method(method)
                .uri("/admin/faults")
                .header(hyper::header::HOST, format!("127.0.0.1:{port}"))
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body.unwrap_or_default())))
                .map_err(|e| e.to_string())?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| unreachable(&e))?;
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| unreachable(&e))?
                .to_bytes();
            driver.abort();
            Ok::<_, String>((status, bytes))
        }
        .await;
        forward.abort();
        answer
    };
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .map_err(|_| unreachable(&format!("no answer in {}s", CALL_TIMEOUT.as_secs())))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_port_is_read_from_admin_addr() {
        assert_eq!(parse_port("127.0.0.1:7070"), Some(7070));
        assert_eq!(parse_port("[::1]:6061"), Some(6061));
        assert_eq!(parse_port("localhost"), None);
        assert_eq!(parse_port("127.0.0.1:http"), None);
    }
}
