//! `hale deploy`: `--render` writes Kubernetes, Prometheus and Grafana manifests, `--check`
//! lints a rendered or hand-edited set (docs/commands/deploy.md); plain `hale deploy` renders
//! the same objects in memory and applies them to a cluster, then waits for the rollout;
//! `hale deploy status` and `delete` act on what hale applied (docs/commands/deploy-apply.md,
//! through [`super::deploy_kube`]).
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use super::deploy_canary::{self, CanaryActionArgs, CanaryArgs};
use super::deploy_kube::{self, ApplyArgs, DeleteArgs, StatusArgs};
use super::deploy_render;
use crate::ci;
use crate::deploy::render::{self, RenderTo};
use crate::deploy::{self, ImageOrigin, SpecFlags};
use crate::manifests::Spec;
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

/// Flags that shape the rendered set; each overrides hale.toml's `[deploy]`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Render options")]
pub struct RenderFlags {
    /// Where to write: a folder [default: <path>/deploy], or `-` for the base objects on stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Overwrite files changed since hale wrote them (or that hale did not write).
    #[arg(long)]
    pub force: bool,
    /// Also render the Namespace object (labelled to enforce the restricted Pod Security Standard).
    #[arg(long)]
    pub create_namespace: bool,
    /// Replicas, or the HPA's minimum with --max-replicas [default: hale.toml, then 2].
    #[arg(long)]
    pub replicas: Option<u32>,
    /// Let one HorizontalPodAutoscaler own scaling, up to N replicas.
    #[arg(long, value_name = "N")]
    pub max_replicas: Option<u32>,
    /// The HPA's CPU utilisation target, in percent of the request.
    #[arg(long, value_name = "PERCENT", default_value_t = 70)]
    pub hpa_cpu: u32,
    /// Also scale on memory utilisation, in percent of the request.
    #[arg(long, value_name = "PERCENT")]
    pub hpa_memory: Option<u32>,
    /// CPU request [default: hale.toml deploy.cpu, then 100m].
    #[arg(long, value_name = "QUANTITY")]
    pub cpu: Option<String>,
    /// Memory request [default: hale.toml deploy.memory, then 64Mi].
    #[arg(long, value_name = "QUANTITY")]
    pub memory: Option<String>,
    /// Memory limit; GOMEMLIMIT follows it [default: hale.toml deploy.memory_limit, then 128Mi].
    #[arg(long, value_name = "QUANTITY")]
    pub memory_limit: Option<String>,
    /// A service level objective: availability=99.9[,window=30d] or latency=p99<250ms
    /// (repeatable; replaces hale.toml deploy.slo).
    #[arg(long, value_name = "SPEC")]
    pub slo: Vec<String>,
    /// A service this one calls (repeatable): NetworkPolicy egress and dashboard panels.
    #[arg(long, value_name = "NAME")]
    pub downstream: Vec<String>,
    /// Render a NetworkPolicy: ingress from the namespace and the monitoring namespace only.
    #[arg(long)]
    pub network_policy: bool,
    /// The namespace Prometheus runs in (allowed in by the NetworkPolicy).
    #[arg(long, value_name = "NAME", default_value = "monitoring")]
    pub monitoring_namespace: String,
    /// The label the Prometheus operator selects ServiceMonitors and PrometheusRules by.
    #[arg(
        long,
        value_name = "KEY=VALUE",
        default_value = "release=kube-prometheus-stack"
    )]
    pub prometheus_label: String,
    /// A target of the static prometheus.yml (repeatable) [default: 127.0.0.1:<port>].
    #[arg(long, value_name = "HOST:PORT", value_parser = crate::values::host_port)]
    pub scrape_target: Vec<String>,
    /// Ship the logs to Loki (pods annotated for Grafana Alloy, logging/loki.alloy) or
    /// Elasticsearch (Filebeat autodiscover hints, LOG_FORMAT=ecs, logging/filebeat.yml).
    #[arg(long, value_enum, value_name = "SHIPPER")]
    pub logs: Option<crate::manifests::logs::LogShipper>,
}

/// How `--check` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    /// SARIF 2.1.0, for CI code scanning.
    Sarif,
}

pub async fn run(args: DeployArgs, printer: &Printer, stop: &Stop) -> anyhow::Result<()> {
    match &args.action {
        Some(DeployAction::Status(s)) => {
            let name = service_name(&s.path)?;
            if s.watch {
                return deploy_canary::watch(&s.args, &name, printer, stop).await;
            }
            return deploy_kube::status(&s.args, &name, printer).await;
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
    let (spec, origin) = resolve_spec(args)?;
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

/// Flags > `HALE_*` env > hale.toml > .hale/build.json > defaults, into the manifests spec.
pub(super) fn resolve_spec(args: &DeployArgs) -> anyhow::Result<(Spec, ImageOrigin)> {
    let settings = settings::resolve(&args.path, Overrides::default(), &settings::process_env)?;
    let f = &args.render_flags;
    let flags = SpecFlags {
        namespace: args.apply.target.namespace.clone(),
        image: args.apply.image.clone(),
        create_namespace: f.create_namespace,
        replicas: f.replicas,
        max_replicas: f.max_replicas,
        hpa_cpu: f.hpa_cpu,
        hpa_memory: f.hpa_memory,
        cpu: f.cpu.clone(),
        memory: f.memory.clone(),
        memory_limit: f.memory_limit.clone(),
        slo: f.slo.clone(),
        downstream: f.downstream.clone(),
        network_policy: f.network_policy,
        monitoring_namespace: f.monitoring_namespace.clone(),
        prometheus_label: f.prometheus_label.clone(),
        scrape_target: f.scrape_target.clone(),
    };
    Ok(deploy::resolve_spec(&args.path, &settings, &flags)?)
}
