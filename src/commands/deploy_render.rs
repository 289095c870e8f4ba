//! `hale deploy --render` (write the manifests) and `--check` (lint a set), the half of
//! `hale deploy` that never talks to a cluster (docs/commands/deploy.md), and the flags that
//! shape the rendered set (every `hale deploy` renders); the work in [`crate::deploy::render`].
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::deploy::DeployArgs;
use crate::ci;
use crate::deploy::render::{self, RenderTo};
use crate::deploy::report::{write_render_text, CheckDocument, RenderDocument};
use crate::deploy::{self, ImageOrigin, SpecFlags};
use crate::manifests::{check, write, Spec};
use crate::output::Printer;
use crate::settings::{self, Overrides};
use crate::usage;

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

/// `--check` found error-level findings: the operation failed (exit 1).
#[derive(Debug, thiserror::Error)]
#[error("--check found {0} error-level finding(s); fix them (see the report above) and run again")]
pub struct CheckFailed(pub usize);

/// `hale deploy --render` and/or `--check`.
pub fn run(args: &DeployArgs, printer: &Printer) -> anyhow::Result<()> {
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
    if args.render {
        let (spec, _) = resolve_spec(args)?;
        let to = match &args.render_flags.out {
            Some(_) if to_stdout => RenderTo::Memory,
            out => RenderTo::Folder {
                dir: out.clone().unwrap_or_else(|| args.path.join("deploy")),
                force: args.render_flags.force,
            },
        };
        let r = render::render(spec, args.render_flags.logs, &to)?;
        match &r.written {
            None => printer.line(r.set.base_stream().trim_end())?,
            Some(written) if !combined => print_render(printer, &r.spec, written, None)?,
            Some(_) => {}
        }
        rendered = Some(r);
    }
    let Some(dir) = &args.check else {
        return Ok(());
    };
    let files = render::files_to_check(
        rendered.as_ref().map(|r| &r.set),
        dir.as_deref(),
        &args.path,
    )?;
    let report = render::check(&files)?;
    match rendered.as_ref().map(|r| (&r.spec, r.written.as_ref())) {
        Some((spec, Some(written))) if combined => {
            print_render(printer, spec, written, Some(&report))?
        }
        _ => print_check(printer, &report, args.check_format, printer.is_json())?,
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
    Ok(())
}

fn print_check(
    printer: &Printer,
    report: &check::Report,
    format: Option<CheckFormat>,
    json: bool,
) -> anyhow::Result<()> {
    let text = match format.unwrap_or(if json {
        CheckFormat::Json
    } else {
        CheckFormat::Text
    }) {
        CheckFormat::Text => check::text(report),
        CheckFormat::Json => serde_json::to_string_pretty(&CheckDocument::new(report))?,
        CheckFormat::Sarif => serde_json::to_string_pretty(&report.sarif())?,
    };
    printer.line(text.trim_end())?;
    Ok(())
}

fn print_render(
    printer: &Printer,
    spec: &Spec,
    report: &write::WriteReport,
    check: Option<&check::Report>,
) -> anyhow::Result<()> {
    let doc = RenderDocument::new(spec, report, check);
    printer.emit(&doc, |out| write_render_text(out, spec, report))?;
    Ok(())
}
