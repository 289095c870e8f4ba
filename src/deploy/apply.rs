//! Plain `hale deploy` against a cluster: apply the rendered objects with server-side apply,
//! wait for each Deployment's rollout, diagnose a failed one and roll it back when asked.
use std::time::Duration;

use kube::api::DynamicObject;

use super::report::{RollbackReport, RolloutReport};
use super::DeployError;
use crate::kube::apply::{AppliedDeployment, ApplyOptions, ObjectChange};
use crate::kube::rollout::{self, Replicas, RolloutOutcome};
use crate::kube::{self as k8s, diagnose, Cluster};
use crate::progress::Progress;
use crate::stop::Stop;

/// How to wait after applying.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    /// How long to wait for each rollout.
    pub timeout: Duration,
    /// Undo a failed rollout to the previous revision and wait for that.
    pub rollback_on_failure: bool,
    /// Apply and return without waiting.
    pub no_wait: bool,
}

/// What an apply did: the objects and each rollout, and whether the run failed or was stopped.
#[derive(Debug)]
pub struct ApplyOutcome {
    pub dry_run: bool,
    pub objects: Vec<ObjectChange>,
    pub rollouts: Vec<RolloutReport>,
    /// The first rollout that failed, as one line (exit 1).
    pub failure: Option<String>,
    /// A stop signal ended the wait (exit 130).
    pub interrupted: bool,
}

/// Contexts of clusters that run on this machine and can share its image store (`kind load`,
/// `minikube image load`, Docker Desktop's engine): the only ones an unpushed build can run on.
const LOCAL_CLUSTER_CONTEXTS: &[&str] = &[
    "kind-",
    "k3d-",
    "minikube",
    "docker-desktop",
    "rancher-desktop",
    "orbstack",
    "colima",
];

/// An unpushed build can run only on a cluster that shares this machine's image store.
pub fn check_unpushed(cluster: &Cluster, image: &str) -> Result<(), DeployError> {
    if LOCAL_CLUSTER_CONTEXTS
        .iter()
        .any(|p| cluster.context.starts_with(p))
    {
        return Ok(());
    }
    Err(DeployError::BadInput(format!(
        "the last build ({image}) was not pushed, so the nodes of context {:?} cannot pull it: \
         run `hale build --push` first, or pass --image",
        cluster.context
    )))
}

/// The words a rollout's outcome is reported with: (outcome, message, replicas).
pub fn outcome_words(o: &RolloutOutcome) -> (&'static str, String, Replicas) {
    match o {
        RolloutOutcome::Complete(r) => ("complete", "successfully rolled out".into(), *r),
        RolloutOutcome::DeadlineExceeded { message, replicas } => {
            ("deadline-exceeded", message.clone(), *replicas)
        }
        RolloutOutcome::TimedOut { last, replicas } => (
            "timed-out",
            format!("--timeout passed while {last}"),
            *replicas,
        ),
        RolloutOutcome::Deleted => (
            "deleted",
            "the deployment was deleted while waiting".into(),
            Replicas::default(),
        ),
        RolloutOutcome::Stopped { replicas } => ("interrupted", "interrupted".into(), *replicas),
    }
}

/// Apply `objects` and wait for each Deployment's rollout as `wait` says.
pub async fn apply(
    cluster: &Cluster,
    objects: Vec<DynamicObject>,
    options: &ApplyOptions,
    wait: &WaitOptions,
    stop: &Stop,
    progress: &Progress,
) -> Result<ApplyOutcome, DeployError> {
    let report = k8s::apply::apply(cluster, objects, options, progress).await?;
    let mut outcome = ApplyOutcome {
        dry_run: options.dry_run,
        objects: report.objects,
        rollouts: Vec::new(),
        failure: None,
        interrupted: false,
    };
    if options.dry_run || wait.no_wait {
        return Ok(outcome);
    }
    for d in &report.deployments {
        let waited =
            rollout::wait(cluster, &d.namespace, &d.name, wait.timeout, stop, progress).await?;
        let (word, message, replicas) = outcome_words(&waited);
        let mut entry = RolloutReport {
            deployment: d.name.clone(),
            outcome: word,
            message: message.clone(),
            replicas,
            diagnosis: None,
            rollback: None,
        };
        if matches!(waited, RolloutOutcome::Stopped { .. }) {
            outcome.interrupted = true;
            outcome.rollouts.push(entry);
            break;
        }
        if !waited.is_complete() {
            let mut what = format!("rollout of deployment/{} failed: {message}", d.name);
            entry.diagnosis = diagnose::diagnose(cluster, &d.namespace, &d.name)
                .await
                .ok();
            if wait.rollback_on_failure {
                progress.status("Rolling back", format!("deployment/{}", d.name));
                match rollback(cluster, d, options.force_conflicts, wait, stop, progress).await {
                    Ok(rb) => {
                        what.push_str(&format!(
                            "; rolled back to revision {} ({})",
                            rb.rollback.to_revision,
                            if rb.outcome == "complete" {
                                "available again".to_string()
                            } else {
                                format!("its rollout: {}", rb.outcome)
                            }
                        ));
                        entry.rollback = Some(rb);
                    }
                    Err(e) => what.push_str(&format!(
                        "; the rollback failed: {:#}",
                        anyhow::Error::new(e)
                    )),
                }
            }
            outcome.failure.get_or_insert(what);
        }
        outcome.rollouts.push(entry);
    }
    Ok(outcome)
}

async fn rollback(
    cluster: &Cluster,
    d: &AppliedDeployment,
    force_conflicts: bool,
    wait: &WaitOptions,
    stop: &Stop,
    progress: &Progress,
) -> Result<RollbackReport, DeployError> {
    let rb = rollout::rollback(cluster, &d.applied, force_conflicts).await?;
    progress.status(
        "Rolled back",
        format!(
            "deployment/{} from revision {} to {}",
            d.name, rb.from_revision, rb.to_revision
        ),
    );
    let waited =
        rollout::wait(cluster, &d.namespace, &d.name, wait.timeout, stop, progress).await?;
    let (word, _, replicas) = outcome_words(&waited);
    Ok(RollbackReport {
        rollback: rb,
        outcome: word,
        replicas,
    })
}
