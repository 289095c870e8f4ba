//! `hale deploy` against a cluster (docs/commands/deploy-apply.md): apply the rendered objects
//! and wait for the rollout, `hale deploy status` and `hale deploy delete`. The arguments and
//! run functions live here; `deploy.rs` renders the objects and calls [`apply`].
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use kube::api::DynamicObject;
use serde::Serialize;

use crate::exit::{Interrupted, UsageError};
use crate::kube::apply::{ApplyOptions, Change, ObjectChange};
use crate::kube::diagnose::{self, Diagnosis};
use crate::kube::inventory::{self, ObjectRef, ServiceStatus};
use crate::kube::rollout::{self, Replicas, Rollback, RolloutOutcome};
use crate::kube::{self as k8s, Cluster, KubeError, Target};
use crate::output::Printer;
use crate::stop::Stop;

/// Which cluster to talk to, chosen as kubectl chooses it.
#[derive(Debug, Clone, Args, Default)]
pub struct TargetArgs {
    /// The kubeconfig file (replaces KUBECONFIG and ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context [default: its current-context].
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The namespace [default: hale.toml deploy.namespace, then the context's namespace, then `default`].
    #[arg(short = 'n', long, value_name = "NAME")]
    pub namespace: Option<String>,
}

/// `--dry-run`: only the server-side kind exists (a client-side guess would be wrong about
/// defaults, admission and conflicts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum DryRun {
    /// Apply for real.
    #[default]
    None,
    /// Send every request as a server-side dry run and show the diff; nothing changes.
    Server,
}

/// Flags of `hale deploy` that apply and wait.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Show what would change (a diff from the API server's dry run) and change nothing.
    #[arg(long, value_enum, value_name = "MODE", num_args = 0..=1,
          default_value_t = DryRun::None, default_missing_value = "server")]
    pub dry_run: DryRun,
    /// Delete objects with hale's labels for this service that are no longer rendered.
    #[arg(long)]
    pub prune: bool,
    /// Take over fields that another field manager owns (otherwise the conflict is reported).
    #[arg(long)]
    pub force_conflicts: bool,
    /// Deploy this image instead of the rendered one (e.g. the digest `hale build` recorded).
    #[arg(long, value_name = "IMAGE", value_parser = crate::values::image_reference)]
    pub image: Option<String>,
    /// How long to wait for the rollout before giving up.
    #[arg(long, default_value = "5m", value_parser = crate::values::positive_duration)]
    pub timeout: Duration,
    /// When the rollout fails or times out, undo it to the previous revision and wait for that.
    #[arg(long)]
    pub rollback_on_failure: bool,
    /// Apply and return without waiting for the rollout.
    #[arg(long, conflicts_with = "rollback_on_failure")]
    pub no_wait: bool,
}

impl Default for ApplyArgs {
    fn default() -> Self {
        ApplyArgs {
            target: TargetArgs::default(),
            dry_run: DryRun::None,
            prune: false,
            force_conflicts: false,
            image: None,
            timeout: Duration::from_secs(300),
            rollback_on_failure: false,
            no_wait: false,
        }
    }
}

/// Flags of `hale deploy status`.
#[derive(Debug, Clone, Args, Default)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Flags of `hale deploy delete`.
#[derive(Debug, Clone, Args, Default)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub target: TargetArgs,
}

/// A Kubernetes error as the command reports it: the user's mistake exits 2.
pub fn command_error(err: KubeError) -> anyhow::Error {
    if err.is_usage() {
        anyhow::Error::new(UsageError(err.to_string()))
    } else {
        anyhow::Error::new(err)
    }
}

/// A DNS-1123 label (namespaces, service names).
fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn validate_target(target: &TargetArgs) -> anyhow::Result<Target> {
    if let Some(ns) = &target.namespace {
        if !dns_label(ns) {
            return Err(crate::usage!(
                "--namespace {ns:?} is not a namespace name: use lowercase letters, digits and \
                 '-', at most 63"
            ));
        }
    }
    if target.context.as_deref() == Some("") {
        return Err(crate::usage!(
            "--context is empty: name a context of the kubeconfig"
        ));
    }
    Ok(Target {
        kubeconfig: target.kubeconfig.clone(),
        context: target.context.clone(),
        namespace: target.namespace.clone(),
    })
}

fn validate_service(service: &str) -> anyhow::Result<()> {
    crate::names::validate_service_name(service).map_err(|e| crate::usage!("{e}"))
}

/// One rollout's result in the report.
#[derive(Debug, Serialize)]
struct RolloutReport {
    deployment: String,
    /// `complete`, `deadline-exceeded`, `timed-out`, `deleted`, `interrupted`, `not-waited`.
    outcome: &'static str,
    message: String,
    replicas: Replicas,
    #[serde(skip_serializing_if = "Option::is_none")]
    diagnosis: Option<Diagnosis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rollback: Option<RollbackReport>,
}

#[derive(Debug, Serialize)]
struct RollbackReport {
    #[serde(flatten)]
    rollback: Rollback,
    /// The outcome of waiting for the restored revision.
    outcome: &'static str,
    replicas: Replicas,
}

/// `--output json` document of `hale deploy` (docs/json/deploy-apply.md).
#[derive(Debug, Serialize)]
struct ApplyDocument<'a> {
    schema: &'static str,
    service: &'a str,
    context: &'a str,
    namespace: &'a str,
    dry_run: bool,
    objects: &'a [ObjectChange],
    rollouts: &'a [RolloutReport],
}

fn outcome_words(o: &RolloutOutcome) -> (&'static str, String, Replicas) {
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

fn is_local_cluster(context: &str) -> bool {
    LOCAL_CLUSTER_CONTEXTS
        .iter()
        .any(|p| context.starts_with(p))
}

/// Apply `objects` (the rendered service) to the cluster and wait for each Deployment's
/// rollout; on failure print the diagnosis, roll back when asked, and exit 1. `unpushed` is the
/// image when it comes from a build that was not pushed: refused unless the cluster is local.
pub async fn apply(
    args: &ApplyArgs,
    service: &str,
    objects: Vec<DynamicObject>,
    unpushed: Option<&str>,
    printer: &Printer,
    stop: &Stop,
) -> anyhow::Result<()> {
    validate_service(service)?;
    let target = validate_target(&args.target)?;
    if let Some(image) = &args.image {
        if image.is_empty() || image.chars().any(char::is_whitespace) {
            return Err(crate::usage!(
                "--image {image:?} is not an image reference: give name[:tag][@digest]"
            ));
        }
    }
    let cluster = k8s::connect(&target).await.map_err(command_error)?;
    if let Some(image) = unpushed {
        if !is_local_cluster(&cluster.context) {
            return Err(crate::usage!(
                "the last build ({image}) was not pushed, so the nodes of context {:?} cannot \
                 pull it: run `hale build --push` first, or pass --image",
                cluster.context
            ));
        }
        printer.warn(format!(
            "deploying the unpushed build {image}: it runs only if loaded into the cluster \
             (for example `kind load docker-image`)"
        ));
    }
    let options = ApplyOptions {
        service: service.to_string(),
        force_conflicts: args.force_conflicts,
        dry_run: args.dry_run == DryRun::Server,
        prune: args.prune,
        image: args.image.clone(),
    };
    let (progress, renderer) = printer.progress();
    let applied = k8s::apply::apply(&cluster, objects, &options, &progress).await;
    let report = match applied {
        Ok(r) => r,
        Err(e) => {
            drop(progress);
            renderer.finish().await;
            return Err(command_error(e));
        }
    };
    let mut rollouts = Vec::new();
    let mut failure: Option<String> = None;
    let mut interrupted = false;
    if !options.dry_run && !args.no_wait {
        for d in &report.deployments {
            let outcome = rollout::wait(
                &cluster,
                &d.namespace,
                &d.name,
                args.timeout,
                stop,
                &progress,
            )
            .await
            .map_err(command_error);
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => {
                    drop(progress);
                    renderer.finish().await;
                    return Err(e);
                }
            };
            let (word, message, replicas) = outcome_words(&outcome);
            let mut entry = RolloutReport {
                deployment: d.name.clone(),
                outcome: word,
                message: message.clone(),
                replicas,
                diagnosis: None,
                rollback: None,
            };
            if matches!(outcome, RolloutOutcome::Stopped { .. }) {
                interrupted = true;
                rollouts.push(entry);
                break;
            }
            if !outcome.is_complete() {
                let mut what = format!("rollout of deployment/{} failed: {message}", d.name);
                entry.diagnosis = diagnose::diagnose(&cluster, &d.namespace, &d.name)
                    .await
                    .ok();
                if args.rollback_on_failure {
                    progress.status("Rolling back", format!("deployment/{}", d.name));
                    match rollback(&cluster, d, args, stop, &progress).await {
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
                        Err(e) => what.push_str(&format!("; the rollback failed: {e:#}")),
                    }
                }
                failure.get_or_insert(what);
            }
            rollouts.push(entry);
        }
    }
    drop(progress);
    renderer.finish().await;
    for r in &rollouts {
        if let Some(d) = &r.diagnosis {
            if !printer.is_json() {
                printer.warn(format!("deployment/{} did not roll out:", r.deployment));
                for line in d.lines() {
                    printer.note(format!("  {line}"));
                }
            }
        }
    }
    let doc = ApplyDocument {
        schema: "hale.deploy.apply/v1",
        service,
        context: &cluster.context,
        namespace: &cluster.namespace,
        dry_run: options.dry_run,
        objects: &report.objects,
        rollouts: &rollouts,
    };
    printer.emit(&doc, |out| {
        write_apply_text(out, &report.objects, &rollouts, options.dry_run)
    })?;
    if interrupted {
        return Err(Interrupted.into());
    }
    if let Some(failure) = failure {
        return Err(anyhow::anyhow!(failure));
    }
    Ok(())
}

async fn rollback(
    cluster: &Cluster,
    d: &k8s::apply::AppliedDeployment,
    args: &ApplyArgs,
    stop: &Stop,
    progress: &crate::progress::Progress,
) -> anyhow::Result<RollbackReport> {
    let rb = rollout::rollback(cluster, &d.applied, args.force_conflicts)
        .await
        .map_err(command_error)?;
    progress.status(
        "Rolled back",
        format!(
            "deployment/{} from revision {} to {}",
            d.name, rb.from_revision, rb.to_revision
        ),
    );
    let outcome = rollout::wait(cluster, &d.namespace, &d.name, args.timeout, stop, progress)
        .await
        .map_err(command_error)?;
    let (word, _, replicas) = outcome_words(&outcome);
    Ok(RollbackReport {
        rollback: rb,
        outcome: word,
        replicas,
    })
}

fn write_apply_text(
    out: &mut dyn Write,
    objects: &[ObjectChange],
    rollouts: &[RolloutReport],
    dry_run: bool,
) -> std::io::Result<()> {
    for o in objects {
        let mut line = format!("{}/{} {}", o.kind, o.name, o.change.verb(dry_run));
        if let Some(note) = &o.note {
            line.push_str(&format!(": {note}"));
        }
        writeln!(out, "{line}")?;
        if let Some(diff) = &o.diff {
            write!(out, "{diff}")?;
        }
    }
    if dry_run && objects.iter().all(|o| o.change == Change::Unchanged) {
        writeln!(out, "no changes")?;
    }
    for r in rollouts {
        match r.outcome {
            "complete" => writeln!(
                out,
                "deployment/{} rolled out: {} of {} replicas available",
                r.deployment, r.replicas.available, r.replicas.desired
            )?,
            _ => writeln!(
                out,
                "deployment/{} {}: {}",
                r.deployment, r.outcome, r.message
            )?,
        }
        if let Some(rb) = &r.rollback {
            writeln!(
                out,
                "deployment/{} rolled back to revision {}: {}",
                r.deployment, rb.rollback.to_revision, rb.outcome
            )?;
        }
    }
    Ok(())
}

/// `hale deploy status`: the rollout state, replicas and recent events of what hale applied
/// for `service`.
pub async fn status(args: &StatusArgs, service: &str, printer: &Printer) -> anyhow::Result<()> {
    validate_service(service)?;
    let target = validate_target(&args.target)?;
    let cluster = k8s::connect(&target).await.map_err(command_error)?;
    let status = inventory::status(&cluster, service)
        .await
        .map_err(command_error)?;
    #[derive(Serialize)]
    struct Doc<'a> {
        schema: &'static str,
        context: &'a str,
        #[serde(flatten)]
        status: &'a ServiceStatus,
    }
    let doc = Doc {
        schema: "hale.deploy.status/v1",
        context: &cluster.context,
        status: &status,
    };
    printer
        .emit(&doc, |out| write_status_text(out, &status))
        .context("writing the status")
}

fn write_status_text(out: &mut dyn Write, s: &ServiceStatus) -> std::io::Result<()> {
    if s.objects.is_empty() {
        return writeln!(
            out,
            "nothing deployed by hale for {} in namespace {}",
            s.service, s.namespace
        );
    }
    for d in &s.deployments {
        writeln!(
            out,
            "deployment/{}: {} ({}), revision {}",
            d.name, d.state, d.message, d.revision
        )?;
        writeln!(out, "  replicas: {}", d.replicas)?;
        if !d.images.is_empty() {
            writeln!(out, "  image: {}", d.images.join(", "))?;
        }
    }
    writeln!(out, "objects:")?;
    for o in &s.objects {
        writeln!(out, "  {}/{}", o.kind, o.name)?;
    }
    if !s.events.is_empty() {
        writeln!(out, "recent events:")?;
        for e in &s.events {
            writeln!(out, "  {e}")?;
        }
    }
    Ok(())
}

/// `hale deploy delete`: delete everything hale applied for `service` (found by hale's
/// labels), nothing else.
pub async fn delete(args: &DeleteArgs, service: &str, printer: &Printer) -> anyhow::Result<()> {
    validate_service(service)?;
    let target = validate_target(&args.target)?;
    let cluster = k8s::connect(&target).await.map_err(command_error)?;
    let deleted = inventory::delete(&cluster, service)
        .await
        .map_err(command_error)?;
    #[derive(Serialize)]
    struct Doc<'a> {
        schema: &'static str,
        service: &'a str,
        context: &'a str,
        namespace: &'a str,
        deleted: &'a [ObjectRef],
    }
    let doc = Doc {
        schema: "hale.deploy.delete/v1",
        service,
        context: &cluster.context,
        namespace: &cluster.namespace,
        deleted: &deleted,
    };
    printer.emit(&doc, |out| {
        if deleted.is_empty() {
            return writeln!(
                out,
                "nothing deployed by hale for {service} in namespace {}",
                cluster.namespace
            );
        }
        for o in &deleted {
            writeln!(out, "{}/{} deleted", o.kind, o.name)?;
        }
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_dns_labels() {
        assert!(dns_label("orders-prod"));
        assert!(!dns_label("Orders"));
        assert!(!dns_label("-a"));
        assert!(!dns_label(&"a".repeat(64)));
        let bad = TargetArgs {
            namespace: Some("a/b".into()),
            ..TargetArgs::default()
        };
        let err = validate_target(&bad).unwrap_err();
        assert_eq!(crate::exit::classify(&err), crate::exit::Exit::Usage);
    }

    #[test]
    fn a_missing_context_is_the_users_mistake() {
        let err = command_error(KubeError::MissingContext {
            context: "prod".into(),
            available: "dev".into(),
        });
        assert_eq!(crate::exit::classify(&err), crate::exit::Exit::Usage);
        let err = command_error(KubeError::Forbidden {
            message: "no".into(),
        });
        assert_eq!(crate::exit::classify(&err), crate::exit::Exit::Failed);
    }
}
