//! The canary's state machine: start (or resume) a canary, step through the weights with a check
//! per interval, then promote or roll back; and `promote`/`abort` for another process. Every
//! transition is written to the stable Deployment's annotation first (conditionally on its
//! resourceVersion), then acted on, so a run that is killed or interrupted can be resumed, and a
//! second process that promotes or aborts is noticed within a second.
use std::time::{Duration, Instant};

use kube::api::DynamicObject;

use super::analysis::{self, Analysis};
use super::gates::{CanaryPods, GateOutcome, Prometheus};
use super::gateway;
use super::state::{self, CanaryState, Check, CheckOutcome, Phase, Step};
use super::traffic::{self, TrafficMethod, TrafficRequest};
use super::{canary_name, CanaryError};
use crate::kube::apply::ApplyOptions;
use crate::kube::rollout::{self, RolloutOutcome};
use crate::kube::{self as k8s, Cluster};
use crate::manifests::sli::Series;
use crate::progress::Progress;
use crate::stop::Stop;

/// Everything a canary run needs, resolved and checked.
#[derive(Debug, Clone)]
pub struct CanaryRequest {
    pub service: String,
    /// The new build's image (the rendered Deployment's).
    pub image: String,
    pub analysis: Analysis,
    /// The Prometheus the SLO gates query; `None` when only `--canary-load` judges.
    pub prometheus: Option<Prometheus>,
    /// The request series the SLO gates read: HTTP, and gRPC's too for a gRPC service.
    pub series: Series,
    /// `--canary-load`: drive load at the pods' IPs on this port at each check and judge the
    /// canary's instances against the stable ones.
    pub load_port: Option<u16>,
    pub traffic: TrafficRequest,
    pub force_conflicts: bool,
    /// How long to wait for pods to become ready at each step, and for the promotion.
    pub timeout: Duration,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The new build is stable now.
    Promoted,
    /// Stable serves everything again; the reason names the failing gate and its value, "no
    /// data", or `hale deploy abort`.
    RolledBack { reason: String },
    /// Stopped by a signal: the canary stays where it is.
    Interrupted,
}

/// What a run did: the final state (every step and check) and the decision.
#[derive(Debug, Clone)]
pub struct CanaryOutcome {
    pub state: CanaryState,
    pub decision: Decision,
    pub traffic: TrafficMethod,
    pub resumed: bool,
}

/// Where a state write landed.
enum Saved {
    Ours,
    /// Another process moved the canary on (promote, abort): follow it.
    Taken,
}

/// Write `st` if the canary is still this run's and still progressing; otherwise hand back what
/// the other process wrote.
async fn save(cluster: &Cluster, st: &mut CanaryState, ours: Phase) -> Result<Saved, CanaryError> {
    st.updated_unix_ms = state::now();
    loop {
        let Some((live, d)) = state::read(cluster, &st.service).await? else {
            return Err(CanaryError::Lost(format!(
                "deployment/{} or its canary state was removed while the canary ran",
                st.service
            )));
        };
        if live.run != st.run || live.phase != ours {
            return Ok(Saved::Taken);
        }
        let rv = d.metadata.resource_version.unwrap_or_default();
        if state::write(cluster, &st.service, st, &rv).await? {
            return Ok(Saved::Ours);
        }
    }
}

/// Claim the canary for the next phase, whatever phase it has now (promote and abort from any
/// process); `None` if it has finished already.
async fn claim(
    cluster: &Cluster,
    service: &str,
    phase: Phase,
    reason: Option<String>,
) -> Result<Option<CanaryState>, CanaryError> {
    loop {
        let Some((mut st, d)) = state::read(cluster, service).await? else {
            return Ok(None);
        };
        if st.phase.is_final() {
            return Ok(None);
        }
        st.phase = phase;
        if reason.is_some() {
            st.reason = reason.clone();
        }
        st.updated_unix_ms = state::now();
        let rv = d.metadata.resource_version.unwrap_or_default();
        if state::write(cluster, service, &st, &rv).await? {
            return Ok(Some(st));
        }
    }
}

fn no_canary(cluster: &Cluster, service: &str) -> CanaryError {
    CanaryError::BadInput(format!(
        "no canary of {service} is in progress in namespace {}: start one with `hale deploy \
         --canary`",
        cluster.namespace
    ))
}

/// Wait for a Deployment to be rolled out; a failure is the operation's.
async fn ready(
    cluster: &Cluster,
    name: &str,
    timeout: Duration,
    stop: &Stop,
    progress: &Progress,
) -> Result<Option<RolloutOutcome>, CanaryError> {
    let outcome = rollout::wait(cluster, &cluster.namespace, name, timeout, stop, progress).await?;
    match outcome {
        RolloutOutcome::Complete(_) => Ok(None),
        RolloutOutcome::Stopped { .. } => Ok(Some(outcome)),
        other => {
            let (word, message, _) = crate::deploy::apply::outcome_words(&other);
            Err(CanaryError::Lost(format!(
                "deployment/{name} did not become ready ({word}): {message}"
            )))
        }
    }
}

/// Scale to a step's pods: up before down, so the Service never has fewer ready pods.
async fn set_weight(
    cluster: &Cluster,
    service: &str,
    canary: i32,
    stable: i32,
) -> Result<(), CanaryError> {
    let current = traffic::deployment_info(cluster, service)
        .await?
        .map_or(0, |(r, _)| r);
    if stable > current {
        traffic::scale(cluster, service, stable).await?;
    }
    traffic::scale(cluster, &canary_name(service), canary).await?;
    if stable < current {
        traffic::scale(cluster, service, stable).await?;
    }
    Ok(())
}

/// Delete the canary and wait until its Deployment object is gone.
async fn remove_canary(
    cluster: &Cluster,
    service: &str,
    timeout: Duration,
) -> Result<(), CanaryError> {
    traffic::delete_canary(cluster, service).await?;
    let deadline = Instant::now() + timeout;
    while traffic::canary_exists(cluster, service).await? {
        if Instant::now() > deadline {
            return Err(CanaryError::Lost(format!(
                "deployment/{} was deleted but is still there after {}",
                canary_name(service),
                humantime::format_duration(timeout)
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// Put the routes of a gateway canary back as they were (nothing for the replica ratio).
async fn restore_routes(cluster: &Cluster, st: &CanaryState) -> Result<(), CanaryError> {
    match &st.gateway {
        Some(gw) => gateway::restore(cluster, gw).await,
        None => Ok(()),
    }
}

/// Roll back: the routes restored, stable to its replicas, ready, then the canary removed. Not
/// interruptible: a half-finished rollback would leave the traffic split. The routes are
/// restored again at the end, in case the process running the canary set a step's weights
/// while this one claimed it.
async fn roll_back(
    cluster: &Cluster,
    st: &CanaryState,
    timeout: Duration,
    progress: &Progress,
) -> Result<(), CanaryError> {
    restore_routes(cluster, st).await?;
    traffic::scale(cluster, &st.service, st.stable_replicas).await?;
    ready(cluster, &st.service, timeout, &Stop::new(), progress).await?;
    remove_canary(cluster, &st.service, timeout).await?;
    restore_routes(cluster, st).await
}

/// Promote: the routes restored (to the stable Service alone, which the rollout then moves to
/// the new build), the stable objects as rendered for the new build applied over the stable
/// ones (its replicas restored first, so the apply owns them without a conflict), rolled out
/// with every new pod at once (the canary's pods serve meanwhile), the rendered rollout strategy
/// put back, and the canary removed.
async fn promote_now(
    cluster: &Cluster,
    st: &CanaryState,
    stable: Vec<DynamicObject>,
    force_conflicts: bool,
    timeout: Duration,
    progress: &Progress,
) -> Result<(), CanaryError> {
    restore_routes(cluster, st).await?;
    traffic::scale(cluster, &st.service, st.stable_replicas).await?;
    let options = ApplyOptions {
        service: st.service.clone(),
        force_conflicts,
        ..ApplyOptions::default()
    };
    let (surged, rendered) = traffic::surge_all(stable, &st.service);
    k8s::apply::apply(cluster, surged, &options, progress).await?;
    ready(cluster, &st.service, timeout, &Stop::new(), progress).await?;
    if let Some(rendered) = rendered {
        k8s::apply::apply(cluster, vec![rendered], &options, &Progress::hidden()).await?;
    }
    remove_canary(cluster, &st.service, timeout).await?;
    restore_routes(cluster, st).await
}

async fn finish(
    cluster: &Cluster,
    mut st: CanaryState,
    phase: Phase,
) -> Result<CanaryState, CanaryError> {
    loop {
        let Some((live, d)) = state::read(cluster, &st.service).await? else {
            return Ok(st);
        };
        if live.run != st.run {
            return Ok(live);
        }
        st.phase = phase;
        st.updated_unix_ms = state::now();
        let rv = d.metadata.resource_version.unwrap_or_default();
        if state::write(cluster, &st.service, &st, &rv).await? {
            return Ok(st);
        }
    }
}

/// Another process took the canary over: wait until it finishes, and report its decision.
async fn follow(
    cluster: &Cluster,
    service: &str,
    timeout: Duration,
    stop: &Stop,
) -> Result<(CanaryState, Decision), CanaryError> {
    let deadline = Instant::now() + timeout;
    loop {
        let st = state::read(cluster, service)
            .await?
            .map(|(s, _)| s)
            .ok_or_else(|| {
                CanaryError::Lost(format!("the canary state of {service} was removed"))
            })?;
        match st.phase {
            Phase::Promoted => return Ok((st, Decision::Promoted)),
            Phase::RolledBack => {
                let reason = st.reason.clone().unwrap_or_else(|| "aborted".into());
                return Ok((st, Decision::RolledBack { reason }));
            }
            _ if stop.is_stopped() => return Ok((st, Decision::Interrupted)),
            _ if Instant::now() > deadline => {
                return Err(CanaryError::Lost(format!(
                    "another process is {} the canary of {service} and did not finish within {}",
                    if st.phase == Phase::Promoting {
                        "promoting"
                    } else {
                        "aborting"
                    },
                    humantime::format_duration(timeout)
                )))
            }
            _ => {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = stop.stopped() => {}
                }
            }
        }
    }
}

fn check_outcome(gates: &[super::gates::GateResult]) -> CheckOutcome {
    if gates.iter().any(|g| g.outcome == GateOutcome::Fail) {
        CheckOutcome::Fail
    } else if gates.iter().any(|g| g.outcome == GateOutcome::Error) {
        CheckOutcome::Error
    } else {
        CheckOutcome::Pass
    }
}

/// One line for a step's check: the gates with their values against the targets.
pub fn check_line(step: usize, steps: usize, weight: u32, check: &Check) -> String {
    let gates: Vec<String> = check.gates.iter().map(|g| g.describe()).collect();
    format!(
        "step {step}/{steps} at {weight}%: {}: {}",
        match check.outcome {
            CheckOutcome::Pass => "passed",
            CheckOutcome::Fail => "failed",
            CheckOutcome::Error => "not measured",
        },
        gates.join(", ")
    )
}

/// The method of a canary in progress, which a resumed run keeps.
fn resumed_method(st: &CanaryState) -> TrafficMethod {
    match &st.gateway {
        Some(gw) => TrafficMethod::gateway(
            gw,
            format!(
                "the canary in progress weights {} (as it started)",
                gw.route_names()
            ),
        ),
        None => TrafficMethod::replicas("the canary in progress started with it".into()),
    }
}

/// The pods of a step at `weight`: by the replica ratio, or (with Gateway API weights) enough
/// canary pods for their share beside the stable Deployment's own replicas.
fn step_pods(st: &CanaryState, weight: u32) -> (i32, i32, f64) {
    if st.gateway.is_some() {
        let canary = analysis::gateway_canary_replicas(st.stable_replicas, weight);
        (canary, st.stable_replicas, f64::from(weight))
    } else {
        let (canary, stable) = analysis::split(st.stable_replicas, weight);
        (canary, stable, analysis::actual_weight(canary, stable))
    }
}

/// The step's line: the weight and what carries it.
fn step_line(st: &CanaryState, index: usize, canary: i32, stable: i32, actual: f64) -> String {
    let steps = st.weights.len();
    let weight = st.weights[index];
    match &st.gateway {
        Some(gw) => format!(
            "{}/{steps}: weight {weight}%: {} at {}/{weight} to service/{} and service/{} \
             ({canary} canary and {stable} stable pods)",
            index + 1,
            gw.route_names(),
            100 - weight,
            st.service,
            gw.canary_service,
        ),
        None => format!(
            "{}/{steps}: weight {weight}%: {canary} canary and {stable} stable pods ({actual:.0}% \
             of the pods)",
            index + 1,
        ),
    }
}

/// Whether another process took the canary over (promote, abort, another run).
async fn taken(cluster: &Cluster, st: &CanaryState) -> Result<bool, CanaryError> {
    Ok(match state::read(cluster, &st.service).await? {
        Some((live, _)) => live.run != st.run || live.phase != Phase::Progressing,
        None => false,
    })
}

/// Start a canary of `objects` (the rendered set of the new build), or resume the one of the
/// same image in progress, and drive it to promotion or rollback.
pub async fn run(
    cluster: &Cluster,
    objects: Vec<DynamicObject>,
    req: &CanaryRequest,
    stop: &Stop,
    progress: &Progress,
) -> Result<CanaryOutcome, CanaryError> {
    let service = req.service.as_str();
    let mut set = traffic::canary_set(service, objects)?;
    // An unreachable Prometheus is one line, before anything is said or changed.
    if let Some(p) = &req.prometheus {
        p.ping().await?;
    }
    let existing = state::read(cluster, service)
        .await?
        .filter(|(st, _)| !st.phase.is_final());
    if let Some((st, _)) = &existing {
        if st.image != req.image {
            return Err(CanaryError::BadInput(format!(
                "a canary of {} is in progress for {service}: resume it with the same build, or \
                 end it with `hale deploy promote` or `hale deploy abort` first",
                st.image
            )));
        }
    }
    // A canary in progress keeps the method it started with (its pods' labels depend on it).
    let detected = match &existing {
        Some((st, _)) => traffic::Detected {
            method: resumed_method(st),
            gateway: st.gateway.clone(),
        },
        None => traffic::detect(cluster, service, req.traffic).await?,
    };
    if detected.gateway.is_some() {
        set.give_own_service(service)?;
    }
    let traffic = detected.method;
    progress.status("Traffic", traffic.line());
    let (mut st, resumed) = match existing {
        Some((st, _)) => {
            if st.phase != Phase::Progressing {
                let (st, decision) = follow(cluster, service, req.timeout, stop).await?;
                return Ok(CanaryOutcome {
                    state: st,
                    decision,
                    traffic,
                    resumed: true,
                });
            }
            progress.status(
                "Resuming",
                format!("the canary of {} (run {})", st.image, st.run),
            );
            (st, true)
        }
        _ => {
            let Some((replicas, stable_image)) = traffic::deployment_info(cluster, service).await?
            else {
                return Err(CanaryError::BadInput(format!(
                    "deployment/{service} is not deployed in namespace {}: deploy the first \
                     version with `hale deploy`, then the next one with `hale deploy --canary`",
                    cluster.namespace
                )));
            };
            if stable_image == req.image {
                return Err(CanaryError::BadInput(format!(
                    "deployment/{service} already runs {}: build and push a new version first",
                    req.image
                )));
            }
            let now = state::now();
            let st = CanaryState {
                run: format!("{now}-{}", std::process::id()),
                service: service.to_string(),
                image: req.image.clone(),
                stable_image,
                phase: Phase::Progressing,
                weights: req.analysis.weights(),
                stable_replicas: replicas,
                failed_checks: 0,
                consecutive_errors: 0,
                traffic: traffic.method.to_string(),
                gateway: detected.gateway,
                analysis: serde_json::to_value(&req.analysis).unwrap_or_default(),
                prometheus: req.prometheus.as_ref().map(|p| p.url().to_string()),
                steps: Vec::new(),
                reason: None,
                started_unix_ms: now,
                updated_unix_ms: now,
            };
            // Claim the canary before creating anything, conditionally: a second start loses.
            let rv = state::resource_version(cluster, service).await?;
            if !state::write(cluster, service, &st, &rv).await? {
                return Err(CanaryError::BadInput(format!(
                    "another process started a canary of {service} at the same time"
                )));
            }
            (st, false)
        }
    };
    st.updated_unix_ms = state::now();
    drive(cluster, set, st, traffic, resumed, req, stop, progress).await
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    cluster: &Cluster,
    set: traffic::CanarySet,
    mut st: CanaryState,
    traffic: TrafficMethod,
    resumed: bool,
    req: &CanaryRequest,
    stop: &Stop,
    progress: &Progress,
) -> Result<CanaryOutcome, CanaryError> {
    let service = req.service.as_str();
    let outcome = |state: CanaryState, decision: Decision| CanaryOutcome {
        state,
        decision,
        traffic: traffic.clone(),
        resumed,
    };
    let options = ApplyOptions {
        service: service.to_string(),
        force_conflicts: req.force_conflicts,
        ..ApplyOptions::default()
    };
    // Everything but the Deployment and its ConfigMap (the Service, its account, the PDB, ...)
    // is the same for both versions; then the canary's own copies.
    k8s::apply::apply(cluster, set.others, &options, progress).await?;
    k8s::apply::apply(cluster, set.canary, &options, progress).await?;
    let pods = CanaryPods {
        namespace: cluster.namespace.clone(),
        deployment: canary_name(service),
        series: req.series,
    };
    let steps = st.weights.len();
    let analysis = &req.analysis;
    loop {
        let done = st
            .current()
            .and_then(|s| s.checks.last())
            .is_some_and(|c| c.outcome == CheckOutcome::Pass);
        let index = if st.steps.is_empty() || done {
            st.steps.len()
        } else {
            st.steps.len() - 1
        };
        if index >= steps {
            break;
        }
        let weight = st.weights[index];
        let (canary, stable, actual) = step_pods(&st, weight);
        if index == st.steps.len() {
            st.steps.push(Step {
                weight,
                actual_weight: actual,
                canary_replicas: canary,
                stable_replicas: stable,
                checks: Vec::new(),
            });
            if let Saved::Taken = save(cluster, &mut st, Phase::Progressing).await? {
                let (st, d) = follow(cluster, service, req.timeout, stop).await?;
                return Ok(outcome(st, d));
            }
        }
        let started = Instant::now();
        let moved = async {
            set_weight(cluster, service, canary, stable).await?;
            progress.status("Step", step_line(&st, index, canary, stable, actual));
            for name in [canary_name(service), service.to_string()] {
                if ready(cluster, &name, req.timeout, stop, progress)
                    .await?
                    .is_some()
                {
                    return Ok(true);
                }
            }
            Ok::<bool, CanaryError>(false)
        }
        .await;
        match moved {
            Ok(false) => {}
            Ok(true) => return Ok(outcome(st, Decision::Interrupted)),
            // An abort or a promote from another process deletes or scales the canary while
            // this run scales it or waits for its pods: that process's decision ends the run,
            // not the error it caused here.
            Err(e) => {
                if !taken(cluster, &st).await.unwrap_or(false) {
                    return Err(e);
                }
                let (st, d) = follow(cluster, service, req.timeout, stop).await?;
                return Ok(outcome(st, d));
            }
        }
        // The routes send to the canary only once its pods are ready, and only while the
        // canary is still this run's (a promote or abort restores them).
        if let Some(gw) = &st.gateway {
            if taken(cluster, &st).await? {
                let (st, d) = follow(cluster, service, req.timeout, stop).await?;
                return Ok(outcome(st, d));
            }
            gateway::set_weight(cluster, gw, service, weight).await?;
        }
        // One check per interval, counted from the step's start. After a check that measured
        // nothing (the canary's first scrapes not in yet), Prometheus is asked again each second
        // and the next check comes as soon as it measures: the error still counts, but the step
        // does not wait a whole interval for data that arrived a second late.
        let mut next_check = started + analysis.interval;
        loop {
            let awaiting_data = req.load_port.is_none()
                && st
                    .current()
                    .and_then(|s| s.checks.last())
                    .is_some_and(|c| c.outcome == CheckOutcome::Error);
            let mut measured = None;
            loop {
                let now = Instant::now();
                if now >= next_check {
                    break;
                }
                let nap = (next_check - now).min(Duration::from_secs(1));
                tokio::select! {
                    () = tokio::time::sleep(nap) => {}
                    () = stop.stopped() => return Ok(outcome(st, Decision::Interrupted)),
                }
                if let Some((live, _)) = state::read(cluster, service).await? {
                    if live.run != st.run || live.phase != Phase::Progressing {
                        let (st, d) = follow(cluster, service, req.timeout, stop).await?;
                        return Ok(outcome(st, d));
                    }
                }
                if let (true, Some(p)) = (awaiting_data, &req.prometheus) {
                    let gates = p.check(&pods, analysis).await;
                    if check_outcome(&gates) != CheckOutcome::Error {
                        measured = Some(gates);
                        break;
                    }
                }
            }
            let mut gates = match (measured, &req.prometheus) {
                (Some(early), _) => {
                    next_check = Instant::now() + analysis.interval;
                    early
                }
                (None, Some(p)) => {
                    next_check += analysis.interval;
                    p.check(&pods, analysis).await
                }
                (None, None) => {
                    next_check += analysis.interval;
                    Vec::new()
                }
            };
            if let Some(port) = req.load_port {
                gates.extend(
                    super::load_gate::measure(cluster, service, port, analysis, stop).await?,
                );
                if stop.is_stopped() {
                    return Ok(outcome(st, Decision::Interrupted));
                }
            }
            let check = Check {
                at_unix_ms: state::now(),
                outcome: check_outcome(&gates),
                gates,
            };
            progress.status("Checked", check_line(index + 1, steps, weight, &check));
            let verdict = check.outcome;
            let failing: Vec<String> = check
                .gates
                .iter()
                .filter(|g| g.outcome == GateOutcome::Fail)
                .map(|g| g.describe())
                .collect();
            let errors: Vec<String> = check
                .gates
                .iter()
                .filter_map(|g| g.error.as_ref().map(|e| format!("{} {e}", g.gate)))
                .collect();
            if let Some(step) = st.steps.last_mut() {
                step.checks.push(check);
            }
            match verdict {
                CheckOutcome::Pass => st.consecutive_errors = 0,
                CheckOutcome::Fail => {
                    st.consecutive_errors = 0;
                    st.failed_checks += 1;
                }
                CheckOutcome::Error => st.consecutive_errors += 1,
            }
            let reason = if verdict == CheckOutcome::Fail && st.failed_checks >= analysis.threshold
            {
                Some(format!(
                    "gate failed at step {}/{steps} ({weight}%): {}",
                    index + 1,
                    failing.join(", ")
                ))
            } else if st.consecutive_errors >= analysis.error_limit {
                Some(format!(
                    "no data: {} consecutive checks measured nothing ({})",
                    st.consecutive_errors,
                    errors.join(", ")
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                st.phase = Phase::Aborting;
                st.reason = Some(reason.clone());
                if let Saved::Taken = save(cluster, &mut st, Phase::Progressing).await? {
                    let (st, d) = follow(cluster, service, req.timeout, stop).await?;
                    return Ok(outcome(st, d));
                }
                progress.status("Rolling back", reason.clone());
                roll_back(cluster, &st, req.timeout, progress).await?;
                let st = finish(cluster, st, Phase::RolledBack).await?;
                return Ok(outcome(st, Decision::RolledBack { reason }));
            }
            if let Saved::Taken = save(cluster, &mut st, Phase::Progressing).await? {
                let (st, d) = follow(cluster, service, req.timeout, stop).await?;
                return Ok(outcome(st, d));
            }
            if verdict == CheckOutcome::Pass {
                break;
            }
        }
    }
    st.phase = Phase::Promoting;
    st.reason = Some("every step passed".into());
    if let Saved::Taken = save(cluster, &mut st, Phase::Progressing).await? {
        let (st, d) = follow(cluster, service, req.timeout, stop).await?;
        return Ok(outcome(st, d));
    }
    progress.status("Promoting", format!("{} to deployment/{service}", st.image));
    promote_now(
        cluster,
        &st,
        set.stable,
        req.force_conflicts,
        req.timeout,
        progress,
    )
    .await?;
    let st = finish(cluster, st, Phase::Promoted).await?;
    Ok(outcome(st, Decision::Promoted))
}

/// `hale deploy promote`: promote the canary in progress now, whichever process runs it.
pub async fn promote(
    cluster: &Cluster,
    service: &str,
    force_conflicts: bool,
    timeout: Duration,
    progress: &Progress,
) -> Result<CanaryState, CanaryError> {
    let stable = traffic::rendered_stable(cluster, service)
        .await?
        .ok_or_else(|| no_canary(cluster, service))?;
    let st = claim(
        cluster,
        service,
        Phase::Promoting,
        Some("promoted by `hale deploy promote`".into()),
    )
    .await?
    .ok_or_else(|| no_canary(cluster, service))?;
    progress.status("Promoting", format!("{} to deployment/{service}", st.image));
    promote_now(cluster, &st, stable, force_conflicts, timeout, progress).await?;
    finish(cluster, st, Phase::Promoted).await
}

/// `hale deploy abort`: roll the canary in progress back now, whichever process runs it.
pub async fn abort(
    cluster: &Cluster,
    service: &str,
    timeout: Duration,
    progress: &Progress,
) -> Result<CanaryState, CanaryError> {
    let st = claim(
        cluster,
        service,
        Phase::Aborting,
        Some("aborted by `hale deploy abort`".into()),
    )
    .await?
    .ok_or_else(|| no_canary(cluster, service))?;
    progress.status("Rolling back", format!("the canary of {}", st.image));
    roll_back(cluster, &st, timeout, progress).await?;
    finish(cluster, st, Phase::RolledBack).await
}
