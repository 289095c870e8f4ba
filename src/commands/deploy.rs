//! `hale deploy`: `--render` writes Kubernetes, Prometheus and Grafana manifests, `--check`
//! lints a rendered or hand-edited set (docs/commands/deploy.md); plain `hale deploy` renders
//! the same objects in memory and applies them to a cluster, then waits for the rollout;
//! `hale deploy status` and `delete` act on what hale applied (docs/commands/deploy-apply.md,
//! through [`super::deploy_kube`]).
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};

use super::deploy_kube::{self, ApplyArgs, DeleteArgs, StatusArgs};
use crate::ci;
use crate::manifests::{self, check, write, Autoscale, ManifestError, Resources, Slo, Spec};
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
}

/// What else `hale deploy` does with the service in a cluster.
#[derive(Debug, Subcommand)]
pub enum DeployAction {
    /// The rollout state, replicas and recent events of what hale applied for the service.
    Status(ServiceStatusArgs),
    /// Delete everything hale applied for the service (selected by hale's labels), nothing else.
    Delete(ServiceDeleteArgs),
}

#[derive(Debug, Args)]
pub struct ServiceStatusArgs {
    /// The service folder (with hale.toml).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    #[command(flatten)]
    pub args: StatusArgs,
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
    #[arg(long, value_name = "HOST:PORT")]
    pub scrape_target: Vec<String>,
    /// Ship the logs to Loki (pods annotated for Grafana Alloy, logging/loki.alloy) or
    /// Elasticsearch (Filebeat autodiscover hints, LOG_FORMAT=ecs, logging/filebeat.yml).
    #[arg(long, value_enum, value_name = "SHIPPER")]
    pub logs: Option<manifests::logs::LogShipper>,
}

/// How `--check` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    /// SARIF 2.1.0, for CI code scanning.
    Sarif,
}

/// What `hale build` records: `.hale/build.json` (read only here; absent until a build).
#[derive(Debug, Deserialize)]
struct BuildRecord {
    reference: Option<String>,
    digest: Option<String>,
    /// `host/repo@sha256:…` when the build was pushed: the only reference a cluster can pull.
    pushed: Option<String>,
}

/// Where the deployed image reference came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImageOrigin {
    /// `--image`.
    Flag,
    /// The reference `hale build --push` pushed.
    Pushed,
    /// The last build, which was not pushed: only a cluster on this machine that shares the
    /// image store (kind, minikube, …) could run it.
    Unpushed,
    /// `[image] repository:tag` from hale.toml (no build recorded).
    Settings,
}

/// `--output json` document of `--render` (docs/json/deploy.md).
#[derive(Debug, Serialize)]
struct RenderDocument<'a> {
    schema: &'static str,
    service: &'a str,
    kubernetes_api: &'static str,
    image: &'a str,
    out: String,
    files: &'a [write::WrittenFile],
    /// `--render --check --output json`: the check's document, inside the render's.
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<CheckDocument<'a>>,
}

/// `--output json` / `--check-format json` document of `--check` (docs/json/deploy.md).
#[derive(Debug, Serialize)]
struct CheckDocument<'a> {
    schema: &'static str,
    #[serde(flatten)]
    report: &'a check::Report,
}

/// `--check` found error-level findings: the operation failed (exit 1).
#[derive(Debug, thiserror::Error)]
#[error("--check found {0} error-level finding(s); fix them (see the report above) and run again")]
pub struct CheckFailed(pub usize);

pub async fn run(args: DeployArgs, printer: &Printer, stop: &Stop) -> anyhow::Result<()> {
    match &args.action {
        Some(DeployAction::Status(s)) => {
            let name = service_name(&s.path)?;
            return deploy_kube::status(&s.args, &name, printer).await;
        }
        Some(DeployAction::Delete(d)) => {
            let name = service_name(&d.path)?;
            return deploy_kube::delete(&d.args, &name, printer).await;
        }
        None => {}
    }
    if !args.render && args.check.is_none() {
        return apply(&args, printer, stop).await;
    }
    let to_stdout = args.render_flags.out.as_deref() == Some(Path::new("-"));
    if args.render && to_stdout && printer.is_json() {
        return Err(usage!(
            "--out - prints the objects as YAML, not a JSON document: drop --output json, or \
             render into a folder"
        ));
    }
    // With --output json, --render --check prints one document: the render's, with the check
    // inside it.
    let combined = args.render && args.check.is_some() && printer.is_json();
    if combined && matches!(args.check_format, Some(f) if f != CheckFormat::Json) {
        return Err(usage!(
            "--check-format with --render and --output json would print two documents: run \
             --check on its own for that format"
        ));
    }
    ci::deploy_check::validate(&args.report, args.check.is_some()).map_err(|e| usage!("{e}"))?;
    let mut rendered = None;
    let mut render_report = None;
    if args.render {
        let (spec, _) = resolve_spec(&args.path, &args.render_flags, &args.apply)?;
        let set = manifests::render(&spec)
            .and_then(|set| manifests::logs::with_shipping(set, args.render_flags.logs))
            .map_err(user_error)?;
        if to_stdout {
            printer.line(set.base_stream().trim_end())?;
        } else {
            let dir = args
                .render_flags
                .out
                .clone()
                .unwrap_or_else(|| args.path.join("deploy"));
            let report = write::write(&set, &dir, args.render_flags.force).map_err(user_error)?;
            if !combined {
                report_render(printer, &spec, &report, None)?;
            }
            render_report = Some((spec, report));
        }
        rendered = Some(set);
    }
    if let Some(dir) = &args.check {
        let files = match (dir, &rendered) {
            (None, Some(set)) => set
                .files
                .iter()
                .filter(|f| f.path.ends_with(".yaml") || f.path.ends_with(".yml"))
                .map(|f| (f.path.clone(), f.contents.clone()))
                .collect(),
            (None, None) => read_checked(&args.path.join("deploy"))?,
            (Some(dir), _) => read_checked(dir)?,
        };
        let report = check::check(&files).map_err(user_error)?;
        let format = args.check_format.unwrap_or(if printer.is_json() {
            CheckFormat::Json
        } else {
            CheckFormat::Text
        });
        match (&render_report, combined) {
            (Some((spec, written)), true) => report_render(printer, spec, written, Some(&report))?,
            _ => print_check(printer, &report, format)?,
        }
        let base = ci::deploy_check::base(
            dir.as_deref(),
            rendered.is_some(),
            args.render_flags.out.as_deref(),
            &args.path,
        );
        let checked = ci::deploy_check::Checked {
            base: base.as_deref(),
            files: &files,
        };
        let notes = ci::deploy_check::publish(&report, checked, &args.report, &ci::process_env)?;
        ci::annotations::print(printer, &notes)?;
        if report.has_errors() {
            return Err(CheckFailed(report.errors).into());
        }
    }
    Ok(())
}

/// Plain `hale deploy`: render the base objects in memory (the image by the digest `hale build`
/// recorded, when there is one) and apply them.
async fn apply(args: &DeployArgs, printer: &Printer, stop: &Stop) -> anyhow::Result<()> {
    let (spec, origin) = resolve_spec(&args.path, &args.render_flags, &args.apply)?;
    let set = manifests::render(&spec)
        .and_then(|set| manifests::logs::with_shipping(set, args.render_flags.logs))
        .map_err(user_error)?;
    let unpushed = (origin == ImageOrigin::Unpushed).then_some(spec.image.as_str());
    let objects = set
        .base_objects()
        .map(|f| {
            serde_norway::from_str::<kube::api::DynamicObject>(&f.contents)
                .with_context(|| format!("reading the rendered {}", f.path))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
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
    let env = |k: &str| std::env::var(k).ok();
    let settings = settings::resolve(dir, Overrides::default(), &env)?;
    settings.name.ok_or_else(|| {
        usage!(
            "no service name: run in a service folder (with hale.toml) or give its path, such \
             as `hale deploy status ./orders`"
        )
    })
}

fn read_checked(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    if !dir.is_dir() {
        return Err(usage!(
            "{} is not a folder of manifests: render one with `hale deploy --render` or give \
             --check DIR",
            dir.display()
        ));
    }
    let files = check::read_dir(dir).map_err(user_error)?;
    if files.is_empty() {
        return Err(usage!(
            "{} holds no .yaml or .yml files to check",
            dir.display()
        ));
    }
    Ok(files)
}

fn print_check(
    printer: &Printer,
    report: &check::Report,
    format: CheckFormat,
) -> anyhow::Result<()> {
    let text = match format {
        CheckFormat::Text => check::text(report),
        CheckFormat::Json => serde_json::to_string_pretty(&CheckDocument {
            schema: "hale.deploy-check/v1",
            report,
        })?,
        CheckFormat::Sarif => serde_json::to_string_pretty(&report.sarif())?,
    };
    printer.line(text.trim_end())?;
    Ok(())
}

fn report_render(
    printer: &Printer,
    spec: &Spec,
    report: &write::WriteReport,
    check: Option<&check::Report>,
) -> anyhow::Result<()> {
    let count = |s: write::FileStatus| report.files.iter().filter(|f| f.status == s).count();
    let doc = RenderDocument {
        schema: "hale.deploy-render/v1",
        service: &spec.name,
        kubernetes_api: manifests::KUBERNETES_API,
        image: &spec.image,
        out: report.out.display().to_string(),
        files: &report.files,
        check: check.map(|report| CheckDocument {
            schema: "hale.deploy-check/v1",
            report,
        }),
    };
    printer.emit(&doc, |out| {
        for f in &report.files {
            if f.status != write::FileStatus::Unchanged {
                writeln!(
                    out,
                    "{:<9} {}",
                    format!("{:?}", f.status).to_lowercase(),
                    f.path
                )?;
            }
        }
        writeln!(
            out,
            "{}: {} files in {} ({} written, {} unchanged, {} removed)",
            spec.name,
            report.files.len() - count(write::FileStatus::Removed),
            report.out.display(),
            count(write::FileStatus::Written),
            count(write::FileStatus::Unchanged),
            count(write::FileStatus::Removed),
        )
    })?;
    Ok(())
}

/// The user's mistakes become usage errors (exit 2); disk failures stay failures (exit 1).
fn user_error(e: ManifestError) -> anyhow::Error {
    match e {
        ManifestError::Invalid(_) | ManifestError::HandEdited(_) | ManifestError::Escape(_) => {
            usage!("{e}")
        }
        other => anyhow::Error::new(other),
    }
}

/// Flags > hale.toml `[deploy]`/`[image]` > .hale/build.json > defaults, validated later by
/// [`Spec::validate`] before anything is written.
fn resolve_spec(
    dir: &Path,
    flags: &RenderFlags,
    apply: &ApplyArgs,
) -> anyhow::Result<(Spec, ImageOrigin)> {
    let env = |k: &str| std::env::var(k).ok();
    let settings = settings::resolve(dir, Overrides::default(), &env)?;
    let name = settings.name.clone().ok_or_else(|| {
        usage!(
            "no service name: run in a service folder (with hale.toml) or give its path, such \
             as `hale deploy --render ./orders`"
        )
    })?;
    let d = &settings.deploy;
    let slo_specs = if flags.slo.is_empty() {
        d.slo.clone()
    } else {
        flags.slo.clone()
    };
    let slos = slo_specs
        .iter()
        .map(|s| s.parse::<Slo>().map_err(|e| usage!("{e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (label_key, label_value) = flags.prometheus_label.split_once('=').ok_or_else(|| {
        usage!(
            "--prometheus-label {:?} is not KEY=VALUE, such as release=kube-prometheus-stack",
            flags.prometheus_label
        )
    })?;
    let (image, version, origin) = resolve_image(dir, &name, apply.image.as_deref(), &settings)?;
    let registry = Some(settings.registry.clone())
        .filter(|r| r.starts_with("consul://") || r.starts_with("etcd://"));
    for t in &flags.scrape_target {
        let ok = t
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !ok {
            return Err(usage!(
                "--scrape-target {t:?} is not HOST:PORT with a port from 1 to 65535"
            ));
        }
    }
    let max_replicas = flags.max_replicas.or(d.max_replicas);
    let spec = Spec {
        name,
        namespace: apply
            .target
            .namespace
            .clone()
            .or_else(|| d.namespace.clone()),
        create_namespace: flags.create_namespace,
        port: settings.port,
        image,
        version,
        replicas: flags.replicas.or(d.replicas).unwrap_or(2),
        autoscale: max_replicas.map(|max| Autoscale {
            max_replicas: max,
            cpu_percent: flags.hpa_cpu,
            memory_percent: flags.hpa_memory,
        }),
        resources: Resources {
            cpu_request: flags
                .cpu
                .clone()
                .or_else(|| d.cpu.clone())
                .unwrap_or_else(|| Resources::default().cpu_request),
            memory_request: flags
                .memory
                .clone()
                .or_else(|| d.memory.clone())
                .unwrap_or_else(|| Resources::default().memory_request),
            memory_limit: flags
                .memory_limit
                .clone()
                .or_else(|| d.memory_limit.clone())
                .unwrap_or_else(|| Resources::default().memory_limit),
        },
        env: d.env.clone(),
        registry,
        network_policy: flags.network_policy || d.network_policy.unwrap_or(false),
        monitoring_namespace: flags.monitoring_namespace.clone(),
        downstreams: if flags.downstream.is_empty() {
            d.downstreams.clone()
        } else {
            flags.downstream.clone()
        },
        prometheus_label: (label_key.to_string(), label_value.to_string()),
        slos,
        budget: manifests::TimeBudget::DEFAULT,
        scrape_targets: flags.scrape_target.clone(),
    };
    Ok((spec, origin))
}

/// The image and its version label: `--image`, else what .hale/build.json records (the pushed
/// `registry/repo@sha256:…`, else the local reference by digest), else `[image]
/// repository:tag` (tag default 0.1.0, the version `hale new` starts at).
pub(crate) fn resolve_image(
    dir: &Path,
    name: &str,
    image: Option<&str>,
    settings: &settings::Settings,
) -> anyhow::Result<(String, Option<String>, ImageOrigin)> {
    let repository = settings
        .image
        .repository
        .clone()
        .unwrap_or_else(|| name.to_string());
    let tag = settings
        .image
        .tag
        .clone()
        .unwrap_or_else(|| "0.1.0".to_string());
    let label = |t: &str| Some(t.to_string()).filter(|t| manifests::valid_label_value(t));
    if let Some(image) = image {
        let version = image
            .rsplit('/')
            .next()
            .and_then(|last| last.split('@').next())
            .and_then(|last| last.split_once(':').map(|(_, t)| t.to_string()));
        return Ok((
            image.to_string(),
            version.and_then(|v| label(&v)),
            ImageOrigin::Flag,
        ));
    }
    let record_path = dir.join(".hale/build.json");
    let record = match crate::userfile::read(&record_path, crate::userfile::Limit::RECORD) {
        Ok(bytes) => Some(
            serde_json::from_slice::<BuildRecord>(&bytes)
                .with_context(|| format!("reading {}", record_path.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", record_path.display())),
    };
    if let Some(BuildRecord {
        reference,
        digest: Some(digest),
        pushed,
    }) = record
    {
        if !digest.starts_with("sha256:")
            || digest.len() != 71
            || !digest[7..].chars().all(|c| c.is_ascii_hexdigit())
        {
            return Err(usage!(
                "{}: digest {digest:?} is not sha256:<64 hex digits>; run `hale build` again",
                record_path.display()
            ));
        }
        let (repo, version) = match reference.as_deref() {
            Some(r) => {
                let no_digest = r.split('@').next().unwrap_or(r);
                let last_slash = no_digest.rfind('/').map_or(0, |i| i + 1);
                match no_digest[last_slash..].rfind(':') {
                    Some(i) => (
                        no_digest[..last_slash + i].to_string(),
                        Some(no_digest[last_slash + i + 1..].to_string()),
                    ),
                    None => (no_digest.to_string(), None),
                }
            }
            None => (repository, Some(tag)),
        };
        if let Some(pushed) = pushed {
            let (pushed_repo, pushed_digest) = pushed.split_once('@').unwrap_or((&pushed, ""));
            if pushed_repo.is_empty() || !pushed_digest.starts_with("sha256:") {
                return Err(usage!(
                    "{}: pushed reference {pushed:?} is not registry/repository@sha256:…; run \
                     `hale build --push` again",
                    record_path.display()
                ));
            }
            return Ok((pushed, version.and_then(|v| label(&v)), ImageOrigin::Pushed));
        }
        return Ok((
            format!("{repo}@{digest}"),
            version.and_then(|v| label(&v)),
            ImageOrigin::Unpushed,
        ));
    }
    Ok((
        format!("{repository}:{tag}"),
        label(&tag),
        ImageOrigin::Settings,
    ))
}
