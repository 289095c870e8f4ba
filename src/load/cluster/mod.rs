//! `hale load --on-cluster`: the plan split into shards that run as one Indexed Job on the
//! cluster the Service lives on, started together, their results merged into one report.
//!
//! The CLI side ([`run`]): plan and check the flags, read the Service's ready endpoints, build
//! and push the shard image ([`image`]), create the Job ([`job`]), show each shard's state
//! until every one is Ready (or failed), give them one start instant a moment ahead, follow
//! the Service's EndpointSlices into the shards' annotations ([`endpoints`]), carry out
//! the faults (pods deleted, or their admin API reached through port-forward: [`faults`]), wait, read each pod's framed result from its log
//! ([`result`]), merge and report; the Job and its pods are deleted on every path. An https://
//! `--url` gets the certificates the shards trust in a ConfigMap of the run ([`trust`]),
//! deleted with the Job. SERVICE with `--registry consul://…|etcd://…` is followed by each
//! shard itself ([`registry`]).
//! The shard side ([`run_shard`]): the same `hale load` flags plus a [`job::ShardSpec`], its
//! part of the plan ([`split`]), a wait for the start instant, the run against the targets
//! its annotations carry, the framed result.
pub mod endpoints;
pub mod faults;
pub mod image;
pub mod job;
pub mod registry;
pub mod result;
pub mod split;
pub mod trust;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::job::{check_writable, conclude, Finished, JobError, Ran};
use super::plan::{self, LoadRequest};
use super::report::{Percentiles, TargetInfo};
use super::{FaultAction, Report, RunOutcome, Targets, TimelineEvent};
use crate::image::distribution::RegistryOptions;
use crate::kube::{self as k8s, KubeError};
use crate::progress::Progress;
use crate::stop::Stop;
use job::{ShardSpec, ShardState};
use result::ShardResult;

/// What stops an on-cluster run.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Flags that cannot work on the cluster: one line saying what to change.
    #[error("{0}")]
    BadInput(String),
    #[error(transparent)]
    Kube(#[from] KubeError),
    #[error(transparent)]
    Load(#[from] JobError),
    #[error("{0}")]
    Image(String),
    #[error("{0}")]
    Job(String),
    /// Shards that failed or never started, each with its pod's reason.
    #[error("{0}")]
    ShardsFailed(String),
    #[error("interrupted")]
    Interrupted,
}

impl ClusterError {
    pub fn is_bad_input(&self) -> bool {
        match self {
            ClusterError::BadInput(_) => true,
            ClusterError::Kube(e) => e.is_usage(),
            ClusterError::Load(e) => e.is_bad_input(),
            _ => false,
        }
    }
}

/// Where the shards' image comes from.
#[derive(Debug, Clone)]
pub enum ShardImage {
    /// `--shard-image`: an image of hale the nodes can pull already.
    Given(String),
    /// `--shard-registry`: build one from the running binary and push it there.
    Build {
        repository: String,
        registry: RegistryOptions,
        docker_config: PathBuf,
    },
}

/// What the shards send to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterTarget {
    /// A Kubernetes Service: its ready pods, followed through its EndpointSlices.
    Service(String),
    /// `--url`: one address as the pods see it (a Service's cluster DNS name or IP), resolved
    /// inside each shard pod; the cluster balances behind it.
    Url(String),
    /// SERVICE with `--registry consul://…|etcd://…`: its instances, followed by each shard
    /// through the registry at an address the pods reach.
    Registry {
        service: String,
        url: String,
        layout: crate::discovery::Layout,
    },
}

impl std::fmt::Display for ClusterTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterTarget::Service(name) => write!(f, "Service/{name}"),
            ClusterTarget::Url(url) => f.write_str(url),
            ClusterTarget::Registry { service, url, .. } => write!(f, "{service} ({url})"),
        }
    }
}

/// `--url` with `--on-cluster`: an http:// or https:// URL with a host; the name is resolved in
/// the pods. Whether it is https://.
pub fn check_url(text: &str) -> Result<bool, ClusterError> {
    let url = url::Url::parse(text)
        .map_err(|e| ClusterError::BadInput(format!("--url {text:?}: {e}")))?;
    let https = match url.scheme() {
        "http" => false,
        "https" => true,
        _ => {
            return Err(ClusterError::BadInput(format!(
                "--url {text:?}: use http:// or https://"
            )))
        }
    };
    if url.host_str().is_none() {
        return Err(ClusterError::BadInput(format!(
            "--url {text:?} has no host"
        )));
    }
    Ok(https)
}

/// Everything `hale load --on-cluster` asks for.
#[derive(Debug, Clone)]
pub struct ClusterJob {
    pub request: LoadRequest,
    /// What the shards send to.
    pub target: ClusterTarget,
    pub kube: k8s::Target,
    pub shards: u32,
    pub image: ShardImage,
    pub allow_shard_failures: bool,
    pub node_selector: BTreeMap<String, String>,
    /// `hale load`'s flags as given, handed to every shard.
    pub args: Vec<String>,
    pub html: Option<PathBuf>,
    pub histogram_out: Option<PathBuf>,
    /// `--cacert`: for an https:// `--url`, the certificates the shards trust (instead of this
    /// machine's system roots).
    pub cacert: Option<PathBuf>,
    /// `--insecure`: for an https:// `--url`, the shards accept any certificate.
    pub insecure: bool,
    /// `--keep-faults`: leave the error-rate and latency faults on the pods after the run.
    pub keep_faults: bool,
}

/// One shard in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ShardRow {
    pub index: u32,
    pub pod: String,
    /// finished, or failed: REASON.
    pub state: String,
    pub requests: u64,
    pub errors: u64,
    pub rps: f64,
    pub p99_ms: f64,
    /// How long after the common start instant the shard began sending.
    pub started_late_ms: f64,
    /// The shard's own latency histogram (corrected), HdrHistogram V2 deflate, base64: the
    /// merged figures are these added.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub latency_histogram: String,
}

/// The per-shard table beneath the merged report.
pub fn write_shards(out: &mut dyn std::io::Write, rows: &[ShardRow]) -> std::io::Result<()> {
    writeln!(out, "shards:")?;
    writeln!(
        out,
        "  {:<5} {:<28} {:>9} {:>7} {:>9} {:>9} {:>8}  state",
        "shard", "pod", "requests", "errors", "req/s", "p99", "late"
    )?;
    for r in rows {
        writeln!(
            out,
            "  {:<5} {:<28} {:>9} {:>7} {:>9.1} {:>9} {:>8}  {}",
            r.index,
            r.pod,
            r.requests,
            r.errors,
            r.rps,
            format!("{:.2}ms", r.p99_ms),
            format!("{:.0}ms", r.started_late_ms),
            r.state
        )?;
    }
    Ok(())
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// The `--fault` steps the cluster path carries out: all of them, on the pods behind a Service
/// (see [`faults`]), except bringing back a pod the plan killed, which its Deployment replaces
/// anyway: refused before anything is built or created.
pub fn check_fault_kinds(plan: &[super::FaultStep]) -> Result<(), ClusterError> {
    for step in plan {
        if let FaultAction::Restore(pod) = &step.action {
            let killed = plan
                .iter()
                .any(|s| s.at <= step.at && s.action == FaultAction::Kill(pod.clone()));
            if killed {
                return Err(ClusterError::BadInput(format!(
                    "--fault {step}: not available with --on-cluster: a killed pod is replaced by its Deployment, not restored (restore= on the cluster resets a pod's error-rate and latency faults)"
                )));
            }
        }
    }
    Ok(())
}

/// Run the job on the cluster. Nothing of it is left in the cluster when this returns.
pub async fn run(job: ClusterJob, progress: &Progress, stop: &Stop) -> Result<Ran, ClusterError> {
    let assertions = job.request.assertions.clone();
    let mut options = plan::plan(job.request.clone()).map_err(JobError::from)?;
    split::check(&options, job.shards)?;
    check_fault_kinds(&options.faults)?;
    let https = match &job.target {
        ClusterTarget::Url(url) => {
            let https = check_url(url)?;
            if let Some(step) = options.faults.first() {
                return Err(ClusterError::BadInput(format!(
                    "--fault {step} with --url: faults act on the pods behind a Service; give the SERVICE name instead of --url"
                )));
            }
            https
        }
        ClusterTarget::Registry { url, .. } => {
            let parsed = crate::discovery::RegistryUrl::parse(url)
                .map_err(|e| ClusterError::BadInput(e.to_string()))?;
            registry::check(&parsed)?;
            if let Some(step) = options.faults.first() {
                return Err(ClusterError::BadInput(format!(
                    "--fault {step} with --registry: faults act on the pods behind a Kubernetes Service; give the SERVICE without --registry"
                )));
            }
            false
        }
        ClusterTarget::Service(_) => false,
    };
    let registry_tls = matches!(job.target, ClusterTarget::Registry { .. })
        && (job.cacert.is_some() || job.insecure);
    let shipment = if https || registry_tls {
        Some(trust::shipment(job.cacert.as_deref(), job.insecure)?)
    } else if job.cacert.is_some() || job.insecure {
        return Err(ClusterError::BadInput(
            crate::load::tls::TlsError::NotHttps.to_string(),
        ));
    } else {
        None
    };
    options.tls = shipment.as_ref().map(|s| s.client.clone());
    for (flag, path) in [
        ("--report", &job.html),
        ("--histogram-out", &job.histogram_out),
    ] {
        if let Some(path) = path {
            check_writable(flag, path)?;
        }
    }
    let cluster = k8s::connect(&job.kube).await?;
    let endpoints = match &job.target {
        ClusterTarget::Service(service) => {
            let endpoints = endpoints::list(&cluster, service).await?;
            if endpoints.is_empty() {
                return Err(ClusterError::Job(format!(
                    "Service/{service} in namespace {} has no ready endpoints (is it deployed and Ready?)",
                    cluster.namespace
                )));
            }
            endpoints
        }
        ClusterTarget::Url(_) | ClusterTarget::Registry { .. } => Vec::new(),
    };
    let actuator = if options.faults.is_empty() {
        None
    } else {
        let pods: Vec<String> = endpoints.iter().map(|(pod, _)| pod.clone()).collect();
        Some(Arc::new(
            faults::PodActuator::prepare(&cluster, &options.faults, &pods).await?,
        ))
    };
    let image = match &job.image {
        ShardImage::Given(image) => image.clone(),
        ShardImage::Build {
            repository,
            registry,
            docker_config,
        } => {
            progress.status(
                "Building",
                format!("the shard image (hale) for {repository}"),
            );
            let image =
                image::build_and_push(repository, registry, docker_config.clone(), progress, stop)
                    .await?;
            progress.status("Pushed", image.clone());
            image
        }
    };
    let run_id = format!("{:08x}", rand::random::<u32>());
    let name = format!("hale-load-{run_id}");
    let spec = ShardSpec {
        count: job.shards,
        endpoints,
        url: match &job.target {
            ClusterTarget::Url(url) => Some(url.clone()),
            _ => None,
        },
        trust: shipment.as_ref().map(|s| s.trust),
        registry: match &job.target {
            ClusterTarget::Registry {
                service,
                url,
                layout,
            } => Some(registry::ShardRegistry {
                url: url.clone(),
                service: service.clone(),
                layout: *layout,
            }),
            _ => None,
        },
    };
    let pem = shipment.as_ref().and_then(|s| s.pem.clone());
    let duration = options.duration.unwrap_or(super::HARD_CAP);
    let manifest = job::manifest(&job::JobPlan {
        name: name.clone(),
        run_id: run_id.clone(),
        image,
        args: job.args.clone(),
        spec: &spec,
        options: &options,
        deadline_s: (duration + options.timeout).as_secs() as i64 + 600,
        node_selector: job.node_selector.clone(),
        ca: pem.is_some(),
    })?;
    let created = job::create(&cluster, &manifest).await?;
    progress.status(
        "Created",
        format!(
            "Job/{name} in {}: {} shard(s){}",
            cluster.namespace,
            job.shards,
            if pem.is_some() { " (suspended)" } else { "" }
        ),
    );
    // From here on, whatever happens, the Job, its pods and the ConfigMap are deleted.
    let outcome = async {
        if let (Some(pem), Some(shipment)) = (&pem, &shipment) {
            let config_map = trust::manifest(&created, job::labels(&run_id), pem);
            trust::create(&cluster, &config_map).await?;
            progress.status(
                "Created",
                format!(
                    "ConfigMap/{}: {} CA certificate(s) from {}",
                    trust::config_map_name(&name),
                    shipment.certificates,
                    shipment.source
                ),
            );
            job::resume(&cluster, &name).await?;
        }
        drive(
            &cluster,
            &job,
            &options,
            &run_id,
            actuator.clone(),
            progress,
            stop,
        )
        .await
    }
    .await;
    // Faults set on pods are reset on every path, as locally (`--keep-faults` keeps them).
    let resets = match actuator.filter(|_| !job.keep_faults) {
        Some(actuator) => super::job::undo_faults(actuator.as_ref(), &options.faults).await,
        None => Vec::new(),
    };
    let deleted = job::delete(&cluster, &name, &run_id).await;
    if deleted.is_ok() {
        progress.status("Deleted", format!("Job/{name} and its pods"));
    }
    let ca_deleted = match &pem {
        Some(_) => {
            let config_map = trust::config_map_name(&name);
            let deleted = trust::delete(&cluster, &config_map).await;
            if deleted.is_ok() {
                progress.status("Deleted", format!("ConfigMap/{config_map}"));
            }
            deleted
        }
        None => Ok(()),
    };
    let (outcome, rows) = match outcome {
        Ok(done) => done,
        Err(e) => {
            for reset in resets {
                match reset.result {
                    Ok(()) => progress.status("Reset", format!("faults on {}", reset.instance)),
                    Err(why) => progress.warn(format!(
                        "could not reset the faults on {}: {why}",
                        reset.instance
                    )),
                }
            }
            return Err(e);
        }
    };
    deleted?;
    ca_deleted?;
    let (kind, service, registry) = match &job.target {
        ClusterTarget::Service(service) => (
            "kubernetes-service",
            Some(service.clone()),
            Some(format!("kubernetes:{}", cluster.namespace)),
        ),
        ClusterTarget::Url(_) => ("url", None, None),
        ClusterTarget::Registry { service, url, .. } => {
            ("service", Some(service.clone()), Some(url.clone()))
        }
    };
    let target = TargetInfo {
        kind: kind.into(),
        service,
        registry,
        method: options.method.to_string(),
        path: options.path.clone(),
    };
    let mut report = Report::build(&outcome, &options, target, &assertions);
    report.shards = rows;
    let mut written = Vec::new();
    let result = conclude(
        report,
        &outcome,
        job.html.clone(),
        job.histogram_out.clone(),
        &mut written,
    )
    .map(|f| Finished { ..f });
    Ok(Ran {
        resets,
        written,
        result,
    })
}

/// From a created Job to the merged outcome: wait for the shards, start them, carry out the
/// faults, wait for the results.
async fn drive(
    cluster: &k8s::Cluster,
    job: &ClusterJob,
    options: &super::LoadOptions,
    run_id: &str,
    actuator: Option<Arc<faults::PodActuator>>,
    progress: &Progress,
    stop: &Stop,
) -> Result<(RunOutcome, Vec<ShardRow>), ClusterError> {
    let count = job.shards;
    let mut shown: BTreeMap<u32, ShardState> = BTreeMap::new();
    let mut failed: BTreeMap<u32, String> = BTreeMap::new();
    let ready_by = Instant::now() + Duration::from_secs(180);
    let poll = Duration::from_millis(400);
    // Until every shard is Ready or failed.
    let ready: BTreeMap<u32, String> = loop {
        if stop.is_stopped() {
            return Err(ClusterError::Interrupted);
        }
        let pods = job::pods(cluster, run_id).await?;
        let mut ready = BTreeMap::new();
        for index in 0..count {
            let state = pods
                .get(&index)
                .map(job::state_of)
                .unwrap_or(ShardState::Pending("no pod yet".into()));
            if shown.get(&index) != Some(&state) {
                progress.status(format!("Shard {index}"), state.text());
                shown.insert(index, state.clone());
            }
            match state {
                ShardState::Failed(why) => {
                    let pod = pods.get(&index).and_then(|p| p.metadata.name.clone());
                    failed.insert(index, format!("{}: {why}", pod.unwrap_or_default()));
                }
                ShardState::Ready => {
                    let pod = pods.get(&index).and_then(|p| p.metadata.name.clone());
                    ready.insert(index, pod.unwrap_or_default());
                }
                _ => {}
            }
        }
        if !failed.is_empty() && !job.allow_shard_failures {
            return Err(shards_failed(&failed, count));
        }
        if ready.len() + failed.len() == count as usize {
            break ready;
        }
        if Instant::now() > ready_by {
            for index in 0..count {
                if !ready.contains_key(&index) && !failed.contains_key(&index) {
                    let state = shown.get(&index).map(ShardState::text).unwrap_or_default();
                    failed.insert(index, format!("never became ready in 180s ({state})"));
                }
            }
            if !job.allow_shard_failures {
                return Err(shards_failed(&failed, count));
            }
            break ready;
        }
        tokio::select! {
            () = stop.stopped() => return Err(ClusterError::Interrupted),
            () = tokio::time::sleep(poll) => {}
        }
    };
    if ready.is_empty() {
        return Err(shards_failed(&failed, count));
    }

    // A Service's targets from now on follow its EndpointSlices: each change goes to every
    // shard's annotations (see `endpoints`). A --url has nothing to follow.
    let mut background = AbortOnDrop(Vec::new());
    let mut targets = None;
    if let ClusterTarget::Service(service) = &job.target {
        let initial = endpoints::list(cluster, service).await?;
        let (rx, follower) = endpoints::follow(cluster, service, initial);
        background.0.push(follower);
        targets = Some(rx);
    }

    // One start instant a moment ahead: time for the kubelet to hand every pod its annotation.
    let lead = Duration::from_millis(3000 + 250 * u64::from(count));
    let start_ms = now_ms() + lead.as_millis();
    let now_targets = targets.as_mut().map(|t| t.borrow_and_update().clone());
    for pod in ready.values() {
        job::set_start(cluster, pod, start_ms, now_targets.as_deref()).await?;
    }
    if let Some(mut targets) = targets {
        background.0.push({
            let cluster = cluster.clone();
            let pods: Vec<String> = ready.values().cloned().collect();
            tokio::spawn(async move {
                while targets.changed().await.is_ok() {
                    let now = targets.borrow_and_update().clone();
                    tracing::debug!(targets = %endpoints::encode(&now), "to the shards");
                    for pod in &pods {
                        // A shard that finished (or failed) no longer needs them.
                        if let Err(e) = job::set_targets(&cluster, pod, &now).await {
                            tracing::debug!(%pod, error = %e, "targets not handed over");
                        }
                    }
                }
            })
        });
    }
    progress.status(
        "Starting",
        format!(
            "{} shard(s) together in {:.1}s",
            ready.len(),
            lead.as_secs_f64()
        ),
    );
    let start = Instant::now() + lead;

    // The faults at their times, relative to the start.
    let fault_events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let faults = {
        let steps = options.faults.clone();
        let events = fault_events.clone();
        tokio::spawn(async move {
            let mut steps = steps;
            steps.sort_by_key(|s| s.at);
            for step in steps {
                tokio::time::sleep_until((start + step.at).into()).await;
                let t_ms = start.elapsed().as_secs_f64() * 1000.0;
                let id = step.action.instance().to_string();
                let Some(actuator) = &actuator else { break };
                let (kind, detail) =
                    match super::faults::carry_out(actuator.as_ref(), &step.action).await {
                        Ok(()) => ("fault", step.to_string()),
                        Err(e) => ("fault-failed", format!("{step}: {e}")),
                    };
                events
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(TimelineEvent {
                        t_ms,
                        kind,
                        instance: id,
                        state: None,
                        detail,
                        fault: Some(step.action.kind()),
                    });
            }
        })
    };

    // Until every started shard finished or failed.
    let finish_by = start
        + options.duration.unwrap_or(super::HARD_CAP)
        + options.timeout
        + Duration::from_secs(120);
    let mut results: Vec<(u32, String, ShardResult)> = Vec::new();
    let mut pending: BTreeMap<u32, String> = ready;
    while !pending.is_empty() {
        if Instant::now() > finish_by {
            for (index, pod) in std::mem::take(&mut pending) {
                failed.insert(index, format!("{pod}: did not finish in time"));
            }
            break;
        }
        tokio::select! {
            () = stop.stopped() => {
                faults.abort();
                return Err(ClusterError::Interrupted);
            }
            () = tokio::time::sleep(poll) => {}
        }
        let pods = job::pods(cluster, run_id).await?;
        for (index, name) in pending.clone() {
            let state = pods
                .get(&index)
                .map(job::state_of)
                .unwrap_or(ShardState::Failed("its pod is gone".into()));
            match state {
                ShardState::Succeeded => {
                    let log = job::logs(cluster, &name).await?;
                    match ShardResult::from_log(&log) {
                        Ok(r) => results.push((index, name.clone(), r)),
                        Err(e) => {
                            failed.insert(index, format!("{name}: {e}"));
                        }
                    }
                    pending.remove(&index);
                }
                ShardState::Failed(why) => {
                    let tail = job::logs(cluster, &name).await.ok().and_then(|l| {
                        l.lines()
                            .rev()
                            .find(|l| !l.trim().is_empty())
                            .map(str::to_string)
                    });
                    let tail = tail
                        .map(|t| format!(" (last log line: {t})"))
                        .unwrap_or_default();
                    failed.insert(index, format!("{name}: {why}{tail}"));
                    pending.remove(&index);
                }
                _ => {}
            }
        }
    }
    faults.abort();
    if results.is_empty() || (!failed.is_empty() && !job.allow_shard_failures) {
        return Err(shards_failed(&failed, count));
    }
    let shard_results: Vec<ShardResult> = results.iter().map(|(_, _, r)| r.clone()).collect();
    let mut outcome = result::merge(&shard_results)
        .map_err(|e| ClusterError::Job(format!("merging the shards' results: {e}")))?;
    outcome.events.extend(
        fault_events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..),
    );
    outcome.events.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
    let mut rows: Vec<ShardRow> = results
        .iter()
        .map(|(index, pod, r)| {
            let p99 = result::decode_total(r)
                .map(|h| Percentiles::of(&h).p99)
                .unwrap_or(0.0);
            ShardRow {
                index: *index,
                pod: pod.clone(),
                state: "finished".into(),
                requests: r.totals.requests,
                errors: r.totals.errors.values().sum(),
                rps: r.totals.requests as f64 / (r.elapsed_ns as f64 / 1e9).max(1e-9),
                p99_ms: p99,
                started_late_ms: r.started_late_ms,
                latency_histogram: r.totals.corrected.clone(),
            }
        })
        .collect();
    for (index, why) in &failed {
        let (pod, why) = why.split_once(": ").unwrap_or(("", why));
        rows.push(ShardRow {
            index: *index,
            pod: pod.to_string(),
            state: format!("failed: {why}"),
            requests: 0,
            errors: 0,
            rps: 0.0,
            p99_ms: 0.0,
            started_late_ms: 0.0,
            latency_histogram: String::new(),
        });
    }
    rows.sort_by_key(|r| r.index);
    Ok((outcome, rows))
}

/// Background tasks of one run, ended with it on every path.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

fn shards_failed(failed: &BTreeMap<u32, String>, count: u32) -> ClusterError {
    let list: Vec<String> = failed
        .iter()
        .map(|(i, why)| format!("shard {i} ({why})"))
        .collect();
    ClusterError::ShardsFailed(format!(
        "{} of {count} shard(s) failed: {} (--allow-shard-failures reports the others)",
        failed.len(),
        list.join("; ")
    ))
}

/// The shard side: this process is one pod of the Job. Runs its part of the plan from the
/// common start instant and prints its framed result on stdout.
pub async fn run_shard(
    request: LoadRequest,
    spec_json: &str,
    stop: &Stop,
) -> Result<(), ClusterError> {
    let spec: ShardSpec = serde_json::from_str(spec_json)
        .map_err(|e| ClusterError::BadInput(format!("{}: {e}", job::SPEC_ENV)))?;
    let index: u32 = std::env::var("JOB_COMPLETION_INDEX")
        .ok()
        .and_then(|i| i.parse().ok())
        .ok_or_else(|| {
            ClusterError::BadInput(
                "JOB_COMPLETION_INDEX is not set: a shard runs in an Indexed Job".into(),
            )
        })?;
    let mut request = request;
    request.faults.clear();
    let options = plan::plan(request).map_err(JobError::from)?;
    let mut options = split::shard(options, index, spec.count);
    if let Some(trust) = spec.trust {
        options.tls = Some(
            crate::load::tls::TlsClient::new(&trust.local())
                .map_err(|e| JobError::Tls(e.to_string()))?,
        );
    }
    // A --url is resolved here, in the pod (cluster DNS), before the start; a Service's pods
    // come as the CLI writes them into the pod's annotations, live.
    let mut follower = AbortOnDrop(Vec::new());
    let targets = match (&spec.registry, &spec.url) {
        (Some(registry), _) => registry::follow(registry, None).await?,
        (None, Some(url)) => Targets::Fixed(vec![super::targets::url_endpoint(url)
            .await
            .map_err(JobError::from)?]),
        (None, None) => {
            let annotations = std::path::Path::new(job::ANNOTATIONS_DIR).join("annotations");
            let (targets, task) = endpoints::follow_annotations(annotations, &spec.endpoints);
            follower.0.push(task);
            Targets::Live(targets)
        }
    };
    let start_ms = wait_for_start(stop).await?;
    let now = now_ms();
    if start_ms > now {
        tokio::time::sleep(Duration::from_millis((start_ms - now) as u64)).await;
    }
    let started_late_ms = now_ms().saturating_sub(start_ms) as f64;
    let outcome = super::run(options, targets, None, &Progress::hidden(), stop)
        .await
        .map_err(JobError::from)?;
    let mut doc = ShardResult::of(index, &outcome);
    doc.started_late_ms = started_late_ms;
    let mut out = std::io::stdout().lock();
    out.write_all(doc.framed().as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| ClusterError::Job(format!("writing the result: {e}")))?;
    Ok(())
}

/// The start instant from the pod's annotations (downward API file), polled.
async fn wait_for_start(stop: &Stop) -> Result<u128, ClusterError> {
    let path = std::path::Path::new(job::ANNOTATIONS_DIR).join("annotations");
    let give_up = Instant::now() + Duration::from_secs(600);
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Some(at) = start_annotation(&text) {
                return Ok(at);
            }
        }
        if stop.is_stopped() {
            return Err(ClusterError::Interrupted);
        }
        if Instant::now() > give_up {
            return Err(ClusterError::Job("no start instant came in 600s".into()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `hale.dev/start-at="1733420000000"` in the downward API's annotations file.
fn start_annotation(text: &str) -> Option<u128> {
    text.lines().find_map(|line| {
        let value = line
            .strip_prefix(job::START_ANNOTATION)?
            .strip_prefix('=')?;
        value.trim().trim_matches('"').parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_instant_is_read_from_the_annotations_file() {
        let text = "kubernetes.io/config.seen=\"x\"\nhale.dev/start-at=\"1733420000123\"\n";
        assert_eq!(start_annotation(text), Some(1_733_420_000_123));
        assert_eq!(start_annotation("other=\"1\"\n"), None);
    }
}
