//! `hale deploy`: `--render` writes Kubernetes, Prometheus and Grafana manifests, `--check`
//! lints a rendered or hand-edited set (docs/commands/deploy.md); plain `hale deploy` renders
//! the same objects in memory and applies them to a cluster, then waits for the rollout;
//! `hale deploy status` and `delete` act on what hale applied (docs/commands/deploy-apply.md,
//! through [`super::deploy_kube`]).
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::deploy_canary::{self, CanaryActionArgs, CanaryArgs};
use super::deploy_kube::{self, ApplyArgs, DeleteArgs, StatusArgs};
use super::deploy_render::{self, CheckFormat, RenderFlags};
use super::deploy_status;
use crate::ci;
use crate::deploy::render::{self, RenderTo};
use crate::deploy::ImageOrigin;
use crate::output::Printer;
use crate::settings::{self, Overrides};
use crate::stop::Stop;
use crate::usage;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DeployArgs {
    #[command(subcommand)]
    pub action: Option<DeployAction>,
    /// The service folder (with hale.toml).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Render the manifests to files (or stdout with `--out -`) instead of applying them.
    #[arg(long)]
    pub render: bool,
    /// Lint manifests: DIR if given, else the set just rendered, else <path>/deploy.
    /// Exits 1 when any error-level finding remains.
    #[arg(long, value_name = "DIR", num_args = 0..=1)]
    pub check: Option<Option<PathBuf>>,
    /// How `--check` prints its findings [default: json under --output json, else text].
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub check_format: Option<CheckFormat>,
    /// Also write `--check`'s findings to a file: junit=FILE (a test case per rule) or
    /// sarif=FILE (code scanning, with the files' paths and lines). Repeatable.
    #[arg(long, value_name = "FORMAT=FILE")]
    pub report: Vec<crate::ci::ReportTarget>,
    #[command(flatten)]
    pub render_flags: RenderFlags,
    #[command(flatten)]
    pub apply: ApplyArgs,
    #[command(flatten)]
    pub canary: CanaryArgs,
}

/// What else `hale deploy` does with the service in a cluster.
#[derive(Debug, Subcommand)]
pub enum DeployAction {
    /// The rollout state, replicas and recent events of what hale applied for the service.
    Status(ServiceStatusArgs),
    /// Delete everything hale applied for the service (selected by hale's labels), nothing else.
    Delete(ServiceDeleteArgs),
    /// Promote the canary in progress now (`hale deploy --canary`), from any process.
    Promote(CanaryActionArgs),
    /// Roll the canary in progress back now, from any process.
    Abort(CanaryActionArgs),
}

#[derive(Debug, Args)]
pub struct ServiceStatusArgs {
    /// The service folder (with hale.toml).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    #[command(flatten)]
    pub args: StatusArgs,
    /// Print the status again whenever it changes, until interrupted.
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct ServiceDeleteArgs {
    /// The service folder (with hale.toml).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    #[command(flatten)]
    pub args: DeleteArgs,
}

pub async fn run(args: DeployArgs, printer: &Printer, stop: &Stop) -> anyhow::Result<()> {
    match &args.action {
        Some(DeployAction::Status(s)) => {
            let name = service_name(&s.path)?;
            if s.watch {
                return deploy_status::watch(&s.args, &name, printer, stop).await;
            }
            return deploy_status::once(&s.args, &name, printer).await;
        }
        Some(DeployAction::Promote(a) | DeployAction::Abort(a)) => {
            let name = service_name(&a.path)?;
            let promote = matches!(args.action, Some(DeployAction::Promote(_)));
            return deploy_canary::act(a, &name, promote, printer).await;
        }
        Some(DeployAction::Delete(d)) => {
            let name = service_name(&d.path)?;
            return deploy_kube::delete(&d.args, &name, printer).await;
        }
        None => {}
    }
    if args.canary.canary {
        return deploy_canary::run(&args, printer, stop).await;
    }
    if !args.render && args.check.is_none() {
        return apply(&args, printer, stop).await;
    }
    deploy_render::run(&args, printer)
}

/// Plain `hale deploy`: render the base objects in memory (the image by the digest `hale build`
/// recorded, when there is one) and apply them.
async fn apply(args: &DeployArgs, printer: &Printer, stop: &Stop) -> anyhow::Result<()> {
    let (spec, origin) = deploy_render::resolve_spec(args)?;
    let set = render::render(spec, args.render_flags.logs, &RenderTo::Memory)?;
    let objects = render::base_objects(&set.set)?;
    let spec = set.spec;
    let unpushed = (origin == ImageOrigin::Unpushed).then_some(spec.image.as_str());
    // The rendered image already is --image, or the recorded digest; the apply layer need not
    // override it again.
    let mut apply = args.apply.clone();
    apply.image = None;
    let outcome = deploy_kube::apply(&apply, &spec.name, objects, unpushed, printer, stop).await;
    let context = args.apply.target.context.as_deref();
    ci::deploy_check::apply_summary(
        &spec.name,
        &spec.image,
        context,
        outcome.as_ref().map(|_| ()),
        &ci::process_env,
    )
    .unwrap_or_else(|e| printer.warn(format!("could not append to $GITHUB_STEP_SUMMARY: {e}")));
    outcome
}

/// The service's name from its folder's hale.toml.
fn service_name(dir: &Path) -> anyhow::Result<String> {
    let settings = settings::resolve(dir, Overrides::default(), &settings::process_env)?;
    settings.name.ok_or_else(|| {
        usage!(
            "no service name: run in a service folder (with hale.toml) or give its path, such \
             as `hale deploy status ./orders`"
        )
    })
}
