//! The shards as one `batch/v1` Indexed Job, and what the CLI asks the API server about it: the
//! shards' pods and their states, the start instant and the live targets (annotations the pods
//! read through a downward API volume), their logs, and the Job's deletion.
use std::collections::BTreeMap;
use std::net::SocketAddr;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, DownwardAPIVolumeFile, DownwardAPIVolumeSource, EnvVar,
    ObjectFieldSelector, Pod, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements,
    SeccompProfile, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use serde::{Deserialize, Serialize};

use super::{endpoints, trust, ClusterError};
use crate::kube::Cluster;
use crate::load::{LoadOptions, Model};

/// The label every object of one run carries, with the run's id.
pub const RUN_LABEL: &str = "hale.dev/load-run";
/// The pod annotation holding the start instant (Unix milliseconds).
pub const START_ANNOTATION: &str = "hale.dev/start-at";
/// Where a shard reads its pod's annotations (downward API volume, kept current by the kubelet).
pub const ANNOTATIONS_DIR: &str = "/etc/hale-shard";
/// The environment variable carrying a shard's [`ShardSpec`].
pub const SPEC_ENV: &str = "HALE_LOAD_SHARD";
const NONROOT: i64 = 65532;

/// What a shard is told besides its `hale load` flags: how many shards there are and the
/// instances to send to (the Service's ready endpoints, by pod name) when the Job was made;
/// later changes come through the pod's [`endpoints::ENDPOINTS_ANNOTATION`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardSpec {
    pub count: u32,
    pub endpoints: Vec<(String, SocketAddr)>,
    /// `--url`: the one address every shard sends to, resolved in the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// An https:// `--url`: what the shard trusts ([`trust`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<trust::ShardTrust>,
    /// SERVICE with `--registry`: the registry the shard follows itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<super::registry::ShardRegistry>,
}

/// The Job of one run.
pub struct JobPlan<'a> {
    pub name: String,
    pub run_id: String,
    pub image: String,
    /// `hale load`'s own flags, as the user gave them.
    pub args: Vec<String>,
    pub spec: &'a ShardSpec,
    pub options: &'a LoadOptions,
    /// Seconds the Job may run in all (activeDeadlineSeconds).
    pub deadline_s: i64,
    pub node_selector: BTreeMap<String, String>,
    /// The pods mount the run's CA ConfigMap ([`trust`]): the Job is created suspended, and
    /// resumed ([`resume`]) once the ConfigMap exists.
    pub ca: bool,
}

pub(super) fn labels(run_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/managed-by".into(), "hale".into()),
        ("app.kubernetes.io/name".into(), "hale-load".into()),
        (RUN_LABEL.into(), run_id.into()),
    ])
}

pub fn selector(run_id: &str) -> String {
    format!("{RUN_LABEL}={run_id}")
}

/// Requests sized from one shard's part of the plan: a tenth of a core plus a fiftieth per
/// connection (closed model) or per 100 requests/s (open model), up to two cores; memory for
/// the histograms and a buffer per connection.
fn resources(options: &LoadOptions, count: u32) -> ResourceRequirements {
    let count = f64::from(count.max(1));
    let (connections, load) = match &options.model {
        Model::Closed { concurrency } => (*concurrency as f64 / count, *concurrency as f64 / count),
        Model::Open {
            rate, concurrency, ..
        } => (*concurrency as f64 / count, rate / count / 100.0),
    };
    let millicores = (100.0 + 20.0 * load).min(2000.0).round() as u64;
    let memory_mi = (64.0 + connections / 4.0).round() as u64;
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".into(), Quantity(format!("{millicores}m"))),
            ("memory".into(), Quantity(format!("{memory_mi}Mi"))),
        ])),
        limits: Some(BTreeMap::from([(
            "memory".into(),
            Quantity(format!("{}Mi", memory_mi * 4)),
        )])),
        ..Default::default()
    }
}

/// The Indexed Job: `completions` = `parallelism` = N, no retries (a shard that fails is
/// reported, not re-run with another start), restricted like hale's services.
pub fn manifest(plan: &JobPlan) -> Result<Job, ClusterError> {
    let count = plan.spec.count as i32;
    let spec_json =
        serde_json::to_string(plan.spec).map_err(|e| ClusterError::Job(e.to_string()))?;
    let mut args = vec!["load".to_string()];
    args.extend(plan.args.iter().cloned());
    let container = Container {
        name: "shard".into(),
        image: Some(plan.image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        args: Some(args),
        env: Some(vec![
            EnvVar {
                name: SPEC_ENV.into(),
                value: Some(spec_json),
                ..Default::default()
            },
            EnvVar {
                name: "NO_COLOR".into(),
                value: Some("1".into()),
                ..Default::default()
            },
        ]),
        resources: Some(resources(plan.options, plan.spec.count)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(NONROOT),
            run_as_group: Some(NONROOT),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Default::default()
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        volume_mounts: Some(
            std::iter::once(VolumeMount {
                name: "start".into(),
                mount_path: ANNOTATIONS_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            })
            .chain(plan.ca.then(trust::mount))
            .collect(),
        ),
        ..Default::default()
    };
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(plan.name.clone()),
            labels: Some(labels(&plan.run_id)),
            ..Default::default()
        },
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".into()),
            suspend: plan.ca.then_some(true),
            completions: Some(count),
            parallelism: Some(count),
            backoff_limit: Some(0),
            active_deadline_seconds: Some(plan.deadline_s),
            ttl_seconds_after_finished: Some(300),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(&plan.run_id)),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    termination_grace_period_seconds: Some(5),
                    node_selector: (!plan.node_selector.is_empty())
                        .then(|| plan.node_selector.clone()),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(NONROOT),
                        run_as_group: Some(NONROOT),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    containers: vec![container],
                    volumes: Some(
                        std::iter::once(Volume {
                            name: "start".into(),
                            downward_api: Some(DownwardAPIVolumeSource {
                                items: Some(vec![DownwardAPIVolumeFile {
                                    path: "annotations".into(),
                                    field_ref: Some(ObjectFieldSelector {
                                        field_path: "metadata.annotations".into(),
                                        ..Default::default()
                                    }),
                                    ..Default::default()
                                }]),
                                ..Default::default()
                            }),
                            ..Default::default()
                        })
                        .chain(plan.ca.then(|| trust::volume(&plan.name)))
                        .collect(),
                    ),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Create the Job; the API server's copy (with its uid) comes back.
pub async fn create(cluster: &Cluster, job: &Job) -> Result<Job, ClusterError> {
    let api: Api<Job> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let created = api
        .create(&PostParams::default(), job)
        .await
        .map_err(|e| cluster.error("the shards' Job", e))?;
    Ok(created)
}

/// Let a Job created suspended make its pods.
pub async fn resume(cluster: &Cluster, name: &str) -> Result<(), ClusterError> {
    let api: Api<Job> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let patch = serde_json::json!({"spec": {"suspend": false}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| cluster.error(format!("Job/{name}"), e))?;
    Ok(())
}

/// One shard's pod as the CLI sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardState {
    /// No pod yet, or its containers are being created (the reason, if any).
    Pending(String),
    Ready,
    Succeeded,
    /// It cannot run or stopped with an error: the pod's reason and message.
    Failed(String),
}

impl ShardState {
    pub fn text(&self) -> String {
        match self {
            ShardState::Pending(why) if why.is_empty() => "pending".into(),
            ShardState::Pending(why) => format!("pending ({why})"),
            ShardState::Ready => "ready".into(),
            ShardState::Succeeded => "finished".into(),
            ShardState::Failed(why) => format!("failed: {why}"),
        }
    }
}

/// Waiting reasons that do not go away by waiting.
const STUCK: [&str; 6] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
];

/// The state of a pod.
pub fn state_of(pod: &Pod) -> ShardState {
    let status = pod.status.clone().unwrap_or_default();
    let phase = status.phase.as_deref().unwrap_or("Pending");
    let container = status
        .container_statuses
        .unwrap_or_default()
        .into_iter()
        .next();
    let waiting = container
        .as_ref()
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.waiting.clone());
    let terminated = container
        .as_ref()
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.terminated.clone());
    let reason_line = |reason: Option<String>, message: Option<String>| match (reason, message) {
        (Some(r), Some(m)) if !m.is_empty() => format!("{r}: {}", m.lines().next().unwrap_or("")),
        (Some(r), _) => r,
        (None, Some(m)) => m,
        (None, None) => String::new(),
    };
    match phase {
        "Succeeded" => ShardState::Succeeded,
        "Failed" => {
            let why = terminated
                .map(|t| {
                    let r = reason_line(t.reason, t.message);
                    format!(
                        "exit code {}{}",
                        t.exit_code,
                        if r.is_empty() {
                            String::new()
                        } else {
                            format!(", {r}")
                        }
                    )
                })
                .or_else(|| {
                    let r = reason_line(status.reason.clone(), status.message.clone());
                    (!r.is_empty()).then_some(r)
                })
                .unwrap_or_else(|| "the pod failed".into());
            ShardState::Failed(why)
        }
        _ => {
            if let Some(w) = waiting {
                if w.reason.as_deref().is_some_and(|r| STUCK.contains(&r)) {
                    return ShardState::Failed(reason_line(w.reason, w.message));
                }
                return ShardState::Pending(w.reason.unwrap_or_default());
            }
            if let Some(t) = terminated {
                if t.exit_code != 0 {
                    return ShardState::Failed(format!("exit code {}", t.exit_code));
                }
                return ShardState::Succeeded;
            }
            let ready = status
                .conditions
                .clone()
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            if ready {
                ShardState::Ready
            } else {
                let why = status
                    .conditions
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .find(|c| c.type_ == "PodScheduled" && c.status == "False")
                    .map(|c| reason_line(c.reason, c.message))
                    .unwrap_or_default();
                ShardState::Pending(why)
            }
        }
    }
}

/// The run's pods by completion index (the newest pod of an index wins).
pub async fn pods(cluster: &Cluster, run_id: &str) -> Result<BTreeMap<u32, Pod>, ClusterError> {
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let list = api
        .list(&ListParams::default().labels(&selector(run_id)))
        .await
        .map_err(|e| cluster.error("the shards' pods", e))?;
    let mut out = BTreeMap::new();
    for pod in list.items {
        let index = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("batch.kubernetes.io/job-completion-index"))
            .and_then(|i| i.parse::<u32>().ok());
        if let Some(index) = index {
            out.insert(index, pod);
        }
    }
    Ok(out)
}

/// Tell one pod when to start, and a Service's targets as they are now.
pub async fn set_start(
    cluster: &Cluster,
    pod: &str,
    at_ms: u128,
    targets: Option<&[endpoints::Instance]>,
) -> Result<(), ClusterError> {
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let mut annotations = serde_json::Map::new();
    annotations.insert(START_ANNOTATION.into(), at_ms.to_string().into());
    if let Some(targets) = targets {
        annotations.insert(
            endpoints::ENDPOINTS_ANNOTATION.into(),
            endpoints::encode(targets).into(),
        );
    }
    let patch = serde_json::json!({"metadata": {"annotations": annotations}});
    api.patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| cluster.error(format!("Pod/{pod}"), e))?;
    Ok(())
}

/// Tell one pod the Service's ready endpoints changed.
pub async fn set_targets(
    cluster: &Cluster,
    pod: &str,
    targets: &[endpoints::Instance],
) -> Result<(), ClusterError> {
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let patch = serde_json::json!({"metadata": {"annotations": {
        endpoints::ENDPOINTS_ANNOTATION: endpoints::encode(targets),
    }}});
    api.patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| cluster.error(format!("Pod/{pod}"), e))?;
    Ok(())
}

pub async fn logs(cluster: &Cluster, pod: &str) -> Result<String, ClusterError> {
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    api.logs(pod, &LogParams::default())
        .await
        .map_err(|e| cluster.error(format!("the log of Pod/{pod}"), e).into())
}

/// `kill=POD`: delete the pod with the shortest grace period the kubelet honours. Not 0: a
/// forced deletion removes the object at once and leaves the kubelet to stop the container
/// with the pod's own (long) grace period, so the process would keep serving.
pub async fn kill_pod(cluster: &Cluster, pod: &str) -> Result<(), ClusterError> {
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    api.delete(pod, &DeleteParams::default().grace_period(1))
        .await
        .map_err(|e| cluster.error(format!("Pod/{pod}"), e))?;
    Ok(())
}

/// Delete the Job and its pods, and wait (up to 60 s) until no pod of the run is left.
pub async fn delete(cluster: &Cluster, name: &str, run_id: &str) -> Result<(), ClusterError> {
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    match jobs.delete(name, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(cluster.error(format!("Job/{name}"), e).into()),
    }
    let lp = ListParams::default().labels(&selector(run_id));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let left = pods
            .list(&lp)
            .await
            .map_err(|e| cluster.error("the shards' pods", e))?;
        if left.items.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(ClusterError::Job(format!(
                "{} pod(s) of the run are still being deleted (label {})",
                left.items.len(),
                selector(run_id)
            )));
        }
        let _ = pods
            .delete_collection(&DeleteParams::default().grace_period(0), &lp)
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
