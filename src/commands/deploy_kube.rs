//! `hale deploy` against a cluster (docs/commands/deploy-apply.md): apply the rendered objects
//! and wait for the rollout, and `hale deploy delete` (`status` is in `deploy_status.rs`). The arguments and
//! run functions live here; `deploy.rs` renders the objects and calls [`apply`].
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use kube::api::DynamicObject;

use crate::deploy::apply::{self, WaitOptions};
use crate::deploy::report::{self, ApplyDocument, DeleteDocument};
use crate::deploy::{self, DeployError};
use crate::exit::Interrupted;
use crate::kube::apply::ApplyOptions;
use crate::kube::{self as k8s, inventory, Cluster, KubeError, Target};
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
    anyhow::Error::new(DeployError::from(err))
}

fn target(t: &TargetArgs) -> Result<Target, DeployError> {
    deploy::target(t.kubeconfig.clone(), t.context.clone(), t.namespace.clone())
}

/// Check the service name and the target, and connect.
pub(super) async fn connect(t: &TargetArgs, service: &str) -> anyhow::Result<Cluster> {
    deploy::validate_service(service)?;
    let target = target(t)?;
    Ok(k8s::connect(&target).await.map_err(DeployError::from)?)
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
    deploy::validate_service(service)?;
    let target = target(&args.target)?;
    let cluster = k8s::connect(&target).await.map_err(DeployError::from)?;
    if let Some(image) = unpushed {
        apply::check_unpushed(&cluster, image)?;
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
    let wait = WaitOptions {
        timeout: args.timeout,
        rollback_on_failure: args.rollback_on_failure,
        no_wait: args.no_wait,
    };
    let (progress, renderer) = printer.progress();
    let outcome = apply::apply(&cluster, objects, &options, &wait, stop, &progress).await;
    drop(progress);
    renderer.finish().await;
    let outcome = outcome?;
    for r in &outcome.rollouts {
        if let (Some(d), false) = (&r.diagnosis, printer.is_json()) {
            printer.warn(format!("deployment/{} did not roll out:", r.deployment));
            for line in d.lines() {
                printer.note(format!("  {line}"));
            }
        }
    }
    let doc = ApplyDocument {
        schema: "hale.deploy.apply/v1",
        service,
        context: &cluster.context,
        namespace: &cluster.namespace,
        dry_run: outcome.dry_run,
        objects: &outcome.objects,
        rollouts: &outcome.rollouts,
    };
    printer.emit(&doc, |out| {
        report::write_apply_text(out, &outcome.objects, &outcome.rollouts, outcome.dry_run)
    })?;
    if outcome.interrupted {
        return Err(Interrupted.into());
    }
    match outcome.failure {
        Some(failure) => Err(anyhow::anyhow!(failure)),
        None => Ok(()),
    }
}

/// `hale deploy delete`: delete everything hale applied for `service` (found by hale's
/// labels), nothing else.
pub async fn delete(args: &DeleteArgs, service: &str, printer: &Printer) -> anyhow::Result<()> {
    let cluster = connect(&args.target, service).await?;
    let deleted = inventory::delete(&cluster, service)
        .await
        .map_err(DeployError::from)?;
    let doc = DeleteDocument {
        schema: "hale.deploy.delete/v1",
        service,
        context: &cluster.context,
        namespace: &cluster.namespace,
        deleted: &deleted,
    };
    printer.emit(&doc, |out| report::write_delete_text(out, &doc))?;
    Ok(())
}
