//! `hale deploy --canary`, `hale deploy promote` and `hale deploy abort`
//! (docs/commands/deploy-canary.md): flags and settings resolved here, the work in
//! [`crate::canary`].
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::deploy::DeployArgs;
use super::deploy_kube::{self, TargetArgs};
use super::deploy_render::resolve_spec;
use crate::canary::analysis::Given;
use crate::canary::report::{self, CanaryDocument};
use crate::canary::traffic::TrafficRequest;
use crate::canary::{self, gates::Prometheus, Analysis, CanaryRequest, Decision};
use crate::ci;
use crate::deploy::render::{self, RenderTo};
use crate::exit::Interrupted;
use crate::manifests::sli::Series;
use crate::output::Printer;
use crate::settings::{self, Overrides};
use crate::stop::Stop;
use crate::usage;

/// The environment variable that lifts the 10 s minimum of `--canary-interval` (tests).
pub const SHORT_INTERVALS_ENV: &str = "HALE_CANARY_SHORT_INTERVALS";

/// How a canary gets its share of the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Traffic {
    /// Gateway API weights where a controller programs them, else the replica ratio.
    #[default]
    Auto,
    /// The ratio of canary to stable pods behind the Service.
    Replicas,
    /// HTTPRoute and GRPCRoute weights (Gateway API).
    Gateway,
}

/// Flags of `hale deploy --canary`; each overrides hale.toml's `[deploy.canary]`.
#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Canary options")]
pub struct CanaryArgs {
    /// Deploy the new build as a canary beside the stable one, shift traffic in steps, check
    /// each step against the SLO gates, then promote it or roll it back.
    #[arg(long)]
    pub canary: bool,
    /// Weight added per step, in percent [default: 10].
    #[arg(long, value_name = "PERCENT")]
    pub canary_step_weight: Option<u32>,
    /// The last weight before promotion, in percent [default: 50].
    #[arg(long, value_name = "PERCENT")]
    pub canary_max_weight: Option<u32>,
    /// Time between checks (at least 10s) [default: 1m].
    #[arg(long, value_name = "DURATION", value_parser = crate::values::positive_duration)]
    pub canary_interval: Option<Duration>,
    /// Failed checks before the canary is rolled back [default: 1].
    #[arg(long, value_name = "N", value_parser = crate::values::positive_count)]
    pub canary_threshold: Option<u32>,
    /// The window each check measures over [default: 1m].
    #[arg(long, value_name = "DURATION", value_parser = crate::values::positive_duration)]
    pub canary_window: Option<Duration>,
    /// Minimum request success rate of the canary's pods, in percent [default: 99].
    #[arg(long, value_name = "PERCENT")]
    pub canary_success_rate: Option<f64>,
    /// Maximum p99 latency of the canary's pods [default: 500ms].
    #[arg(long, value_name = "DURATION", value_parser = crate::values::positive_duration)]
    pub canary_p99: Option<Duration>,
    /// The Prometheus HTTP API the gates query [default: hale.toml deploy.canary.prometheus].
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    /// How traffic is split between canary and stable.
    #[arg(long, value_enum, value_name = "METHOD", default_value_t = Traffic::Auto)]
    pub traffic: Traffic,
    /// At each check, drive load with hale at every ready pod (by pod IP) for the window and
    /// judge the canary's instances, beside the stable ones, by hale's own attribution.
    #[arg(long)]
    pub canary_load: bool,
}

/// `hale deploy promote` / `abort`: the service and its cluster.
#[derive(Debug, Args)]
pub struct CanaryActionArgs {
    /// The service folder (with hale.toml).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// How long to wait for the stable pods.
    #[arg(long, default_value = "5m", value_parser = crate::values::positive_duration)]
    pub timeout: Duration,
}

fn bad(message: impl Into<String>) -> anyhow::Error {
    usage!("{}", message.into())
}

/// Flags > hale.toml `[deploy.canary]` > Flagger's defaults.
fn analysis(f: &CanaryArgs, toml: &settings::CanaryConfig) -> anyhow::Result<Analysis> {
    let flags = Given {
        step_weight: f.canary_step_weight,
        max_weight: f.canary_max_weight,
        interval: f.canary_interval,
        threshold: f.canary_threshold,
        window: f.canary_window,
        success_rate: f.canary_success_rate,
        p99: f.canary_p99,
    };
    let short = settings::process_env(SHORT_INTERVALS_ENV).is_some_and(|v| v == "1");
    Ok(Analysis::resolve(&flags, &Given::from_toml(toml)?, short)?)
}

use deploy_kube::connect;

/// `hale deploy --canary`.
pub async fn run(args: &DeployArgs, printer: &Printer, stop: &Stop) -> anyhow::Result<()> {
    let flags = &args.canary;
    if args.render || args.check.is_some() {
        return Err(bad(
            "--canary deploys to a cluster: drop --render and --check",
        ));
    }
    if args.apply.dry_run != deploy_kube::DryRun::None || args.apply.no_wait {
        return Err(bad(
            "--canary cannot be a dry run or skip the wait: drop --dry-run and --no-wait",
        ));
    }
    let toml = settings::resolve(&args.path, Overrides::default(), &settings::process_env)?;
    let toml = &toml.deploy.canary;
    let analysis = analysis(flags, toml)?;
    let url = flags.prometheus.clone().or_else(|| toml.prometheus.clone());
    if url.is_none() && !flags.canary_load {
        return Err(bad(
            "--canary needs something to judge the canary: pass --prometheus URL (or set \
             deploy.canary.prometheus in hale.toml), --canary-load, or both",
        ));
    }
    let prometheus = url.as_deref().map(Prometheus::new).transpose()?;
    let (spec, _) = resolve_spec(args)?;
    let set = render::render(spec, args.render_flags.logs, &RenderTo::Memory)?;
    let objects = render::base_objects(&set.set)?;
    let spec = set.spec;
    let cluster = connect(&args.apply.target, &spec.name).await?;
    let request = CanaryRequest {
        service: spec.name.clone(),
        image: spec.image.clone(),
        analysis,
        prometheus,
        series: Series::of(spec.grpc),
        load_port: flags.canary_load.then_some(spec.port),
        traffic: match flags.traffic {
            Traffic::Auto => TrafficRequest::Auto,
            Traffic::Replicas => TrafficRequest::Replicas,
            Traffic::Gateway => TrafficRequest::Gateway,
        },
        force_conflicts: args.apply.force_conflicts,
        timeout: args.apply.timeout,
    };
    let (progress, renderer) = printer.progress();
    let outcome = canary::run(&cluster, objects, &request, stop, &progress).await;
    drop(progress);
    renderer.finish().await;
    let outcome = outcome?;
    let doc = CanaryDocument::new(&cluster.context, &cluster.namespace, &outcome);
    printer.emit(&doc, |out| report::write_text(out, &outcome))?;
    if outcome.decision != Decision::Interrupted {
        ci::summary::append(&ci::process_env, &report::summary(&outcome)).unwrap_or_else(|e| {
            printer.warn(format!("could not append to $GITHUB_STEP_SUMMARY: {e}"))
        });
    }
    match outcome.decision {
        Decision::Promoted => Ok(()),
        Decision::RolledBack { reason } => Err(anyhow::anyhow!("canary rolled back: {reason}")),
        Decision::Interrupted => {
            let st = &outcome.state;
            printer.warn(format!(
                "the canary of {} stays at step {}/{}: resume it with the same `hale deploy \
                 --canary`, or end it with `hale deploy promote` or `hale deploy abort`",
                st.image,
                st.steps.len(),
                st.weights.len()
            ));
            Err(Interrupted.into())
        }
    }
}

/// `hale deploy promote` (`promote` true) or `hale deploy abort`.
pub async fn act(
    args: &CanaryActionArgs,
    service: &str,
    promote: bool,
    printer: &Printer,
) -> anyhow::Result<()> {
    let cluster = connect(&args.target, service).await?;
    let (progress, renderer) = printer.progress();
    let done = if promote {
        canary::promote(&cluster, service, false, args.timeout, &progress).await
    } else {
        canary::abort(&cluster, service, args.timeout, &progress).await
    };
    drop(progress);
    renderer.finish().await;
    let st = done?;
    let doc = CanaryDocument::of_state(&cluster.context, &cluster.namespace, &st);
    printer.emit(&doc, |out| {
        report::write_steps(out, &st)?;
        writeln!(
            out,
            "{}: deployment/{} runs {}",
            if promote { "promoted" } else { "rolled back" },
            st.service,
            if promote { &st.image } else { &st.stable_image }
        )
    })?;
    Ok(())
}
