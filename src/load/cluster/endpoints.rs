//! The Service's ready endpoints, followed live for the shards. The CLI watches the Service's
//! EndpointSlices and writes each change into an annotation of every shard pod; a shard reads
//! its annotations through the downward API volume it already reads the start instant from,
//! and hands the changes to its run as a live target list. The pods need no API access (no
//! token, no Role), and the API server sees one watch per run, not one per shard.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};
use kube::runtime::{watcher, WatchStreamExt as _};
use tokio::sync::watch;

use super::ClusterError;
use crate::kube::Cluster;
use crate::load::Endpoint;

/// The pod annotation holding the current endpoints: `POD@ADDR,POD@ADDR`. No quote or
/// backslash in it, so the downward API file (`key="value"`, Go-quoted) carries it verbatim.
pub const ENDPOINTS_ANNOTATION: &str = "hale.dev/endpoints";

/// One ready instance: its pod's name and address.
pub type Instance = (String, SocketAddr);

fn label_selector(service: &str) -> String {
    format!("kubernetes.io/service-name={service}")
}

/// The ready endpoints of some EndpointSlices, by pod name, sorted. An endpoint whose pod is
/// being deleted is not ready (its `terminating` condition is set): it drops out at once.
pub fn ready_endpoints<'a>(slices: impl IntoIterator<Item = &'a EndpointSlice>) -> Vec<Instance> {
    let mut out = Vec::new();
    for slice in slices {
        let ports = slice.ports.as_deref().unwrap_or_default();
        let port = ports
            .iter()
            .find(|p| p.name.as_deref() == Some("http"))
            .or_else(|| ports.first())
            .and_then(|p| p.port);
        let Some(port) = port else { continue };
        for e in &slice.endpoints {
            let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            if !ready {
                continue;
            }
            let name = e.target_ref.as_ref().and_then(|t| t.name.clone());
            for address in &e.addresses {
                let Ok(ip) = address.parse::<std::net::IpAddr>() else {
                    continue;
                };
                let addr = SocketAddr::new(ip, port as u16);
                out.push((name.clone().unwrap_or_else(|| addr.to_string()), addr));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The ready endpoints of a Service now.
pub async fn list(cluster: &Cluster, service: &str) -> Result<Vec<Instance>, ClusterError> {
    let api: Api<EndpointSlice> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let slices = api
        .list(&ListParams::default().labels(&label_selector(service)))
        .await
        .map_err(|e| cluster.error(format!("EndpointSlices of Service/{service}"), e))?;
    Ok(ready_endpoints(&slices.items))
}

/// Follow the Service's EndpointSlices: the receiver holds the ready endpoints, starting with
/// `initial`, and changes whenever they do. The task ends when the receiver is dropped; a
/// broken watch resumes by itself (with backoff), keeping the last list meanwhile.
pub fn follow(
    cluster: &Cluster,
    service: &str,
    initial: Vec<Instance>,
) -> (watch::Receiver<Vec<Instance>>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(initial);
    let api: Api<EndpointSlice> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let watch_secs = crate::network::deadline()
        .as_secs()
        .saturating_sub(1)
        .clamp(1, 290) as u32;
    let config = watcher::Config::default()
        .labels(&label_selector(service))
        .timeout(watch_secs);
    let task = tokio::spawn(async move {
        let mut events = watcher(api, config).default_backoff().boxed();
        let mut slices: BTreeMap<String, EndpointSlice> = BTreeMap::new();
        let mut relisted: Option<BTreeMap<String, EndpointSlice>> = None;
        while let Some(event) = events.next().await {
            let name = |s: &EndpointSlice| s.metadata.name.clone().unwrap_or_default();
            match event {
                Ok(watcher::Event::Init) => relisted = Some(BTreeMap::new()),
                Ok(watcher::Event::InitApply(s)) => {
                    relisted
                        .get_or_insert_with(BTreeMap::new)
                        .insert(name(&s), s);
                }
                Ok(watcher::Event::InitDone) => slices = relisted.take().unwrap_or_default(),
                Ok(watcher::Event::Apply(s)) => {
                    slices.insert(name(&s), s);
                }
                Ok(watcher::Event::Delete(s)) => {
                    slices.remove(&name(&s));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "EndpointSlice watch (resuming)");
                    continue;
                }
            }
            if relisted.is_some() {
                continue;
            }
            let next = ready_endpoints(slices.values());
            tx.send_if_modified(|now| {
                let changed = *now != next;
                if changed {
                    tracing::debug!(?next, "the Service's ready endpoints changed");
                    now.clone_from(&next);
                }
                changed
            });
            if tx.is_closed() {
                break;
            }
        }
    });
    (rx, task)
}

/// `POD@ADDR,POD@ADDR`, the annotation's value.
pub fn encode(instances: &[Instance]) -> String {
    instances
        .iter()
        .map(|(pod, addr)| format!("{pod}@{addr}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The endpoints in a downward API annotations file, if the CLI has written them yet.
pub fn from_annotations(text: &str) -> Option<Vec<Instance>> {
    let value = text.lines().find_map(|line| {
        line.strip_prefix(ENDPOINTS_ANNOTATION)?
            .strip_prefix('=')
            .map(|v| v.trim().trim_matches('"'))
    })?;
    let mut out = Vec::new();
    for item in value.split(',').filter(|i| !i.is_empty()) {
        let (pod, addr) = item.rsplit_once('@')?;
        out.push((pod.to_string(), addr.parse().ok()?));
    }
    Some(out)
}

fn endpoint((id, addr): &Instance) -> Endpoint {
    Endpoint {
        id: id.clone(),
        addr: *addr,
        weight: 1,
        check_id: true,
        tls: None,
        authority: addr.to_string(),
    }
}

/// The shard side: the run's targets, starting with `initial` (or what the annotations file
/// holds already), then every change the CLI writes there, read every 100 ms. The task ends
/// when the receiver is dropped.
pub fn follow_annotations(
    file: PathBuf,
    initial: &[Instance],
) -> (watch::Receiver<Vec<Endpoint>>, tokio::task::JoinHandle<()>) {
    let read = move || {
        std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| from_annotations(&t))
    };
    let first = read().unwrap_or_else(|| initial.to_vec());
    let (tx, rx) = watch::channel(first.iter().map(endpoint).collect::<Vec<_>>());
    let task = tokio::spawn(async move {
        let mut known = first;
        while !tx.is_closed() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let Some(next) = read() else { continue };
            if next != known {
                let _ = tx.send(next.iter().map(endpoint).collect());
                known = next;
            }
        }
    });
    (rx, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoints_annotation_reads_back_from_the_downward_api_file() {
        let list = vec![
            (
                "orders-7d9-abc".to_string(),
                "10.244.0.7:8080".parse().unwrap(),
            ),
            (
                "orders-7d9-xyz".to_string(),
                "10.244.0.9:8080".parse().unwrap(),
            ),
        ];
        let value = encode(&list);
        assert!(!value.contains('"') && !value.contains('\\'), "{value}");
        let file = format!(
            "hale.dev/endpoints=\"{value}\"\nhale.dev/start-at=\"1733420000123\"\n\
             kubernetes.io/config.seen=\"x\"\n"
        );
        assert_eq!(from_annotations(&file), Some(list));
        assert_eq!(
            from_annotations("hale.dev/endpoints=\"\"\n"),
            Some(Vec::new())
        );
        assert_eq!(from_annotations("hale.dev/start-at=\"1\"\n"), None);
    }
}
