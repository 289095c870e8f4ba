//! What the deploy commands print: the `--output json` documents (docs/json/deploy.md,
//! docs/json/deploy-apply.md) and their text. The commands hand these to the printer.
use std::io::Write;

use serde::Serialize;

use crate::kube::apply::{Change, ObjectChange};
use crate::kube::diagnose::Diagnosis;
use crate::kube::inventory::{ObjectRef, ServiceStatus};
use crate::kube::rollout::{Replicas, Rollback};
use crate::manifests::{self, check, write, Spec};

/// One rollout's result in the report.
#[derive(Debug, Serialize)]
pub struct RolloutReport {
    pub deployment: String,
    /// `complete`, `deadline-exceeded`, `timed-out`, `deleted`, `interrupted`, `not-waited`.
    pub outcome: &'static str,
    pub message: String,
    pub replicas: Replicas,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<Diagnosis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackReport>,
}

#[derive(Debug, Serialize)]
pub struct RollbackReport {
    #[serde(flatten)]
    pub rollback: Rollback,
    /// The outcome of waiting for the restored revision.
    pub outcome: &'static str,
    pub replicas: Replicas,
}

/// `--output json` document of `hale deploy` (docs/json/deploy-apply.md).
#[derive(Debug, Serialize)]
pub struct ApplyDocument<'a> {
    pub schema: &'static str,
    pub service: &'a str,
    pub context: &'a str,
    pub namespace: &'a str,
    pub dry_run: bool,
    pub objects: &'a [ObjectChange],
    pub rollouts: &'a [RolloutReport],
}

pub fn write_apply_text(
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

/// `--output json` document of `hale deploy status`.
#[derive(Debug, Serialize)]
pub struct StatusDocument<'a> {
    pub schema: &'static str,
    pub context: &'a str,
    #[serde(flatten)]
    pub status: &'a ServiceStatus,
    /// The last canary run (`hale deploy --canary`), in progress or finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<&'a crate::canary::CanaryState>,
}

pub fn write_status_text(out: &mut dyn Write, s: &ServiceStatus) -> std::io::Result<()> {
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

/// `--output json` document of `hale deploy delete`.
#[derive(Debug, Serialize)]
pub struct DeleteDocument<'a> {
    pub schema: &'static str,
    pub service: &'a str,
    pub context: &'a str,
    pub namespace: &'a str,
    pub deleted: &'a [ObjectRef],
}

pub fn write_delete_text(out: &mut dyn Write, doc: &DeleteDocument<'_>) -> std::io::Result<()> {
    if doc.deleted.is_empty() {
        return writeln!(
            out,
            "nothing deployed by hale for {} in namespace {}",
            doc.service, doc.namespace
        );
    }
    for o in doc.deleted {
        writeln!(out, "{}/{} deleted", o.kind, o.name)?;
    }
    Ok(())
}

/// `--output json` document of `--render` (docs/json/deploy.md).
#[derive(Debug, Serialize)]
pub struct RenderDocument<'a> {
    pub schema: &'static str,
    pub service: &'a str,
    pub kubernetes_api: &'static str,
    pub image: &'a str,
    pub out: String,
    pub files: &'a [write::WrittenFile],
    /// `--render --check --output json`: the check's document, inside the render's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckDocument<'a>>,
}

impl<'a> RenderDocument<'a> {
    pub fn new(
        spec: &'a Spec,
        report: &'a write::WriteReport,
        check: Option<&'a check::Report>,
    ) -> Self {
        RenderDocument {
            schema: "hale.deploy-render/v1",
            service: &spec.name,
            kubernetes_api: manifests::KUBERNETES_API,
            image: &spec.image,
            out: report.out.display().to_string(),
            files: &report.files,
            check: check.map(CheckDocument::new),
        }
    }
}

pub fn write_render_text(
    out: &mut dyn Write,
    spec: &Spec,
    report: &write::WriteReport,
) -> std::io::Result<()> {
    let count = |s: write::FileStatus| report.files.iter().filter(|f| f.status == s).count();
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
}

/// `--output json` / `--check-format json` document of `--check` (docs/json/deploy.md).
#[derive(Debug, Serialize)]
pub struct CheckDocument<'a> {
    pub schema: &'static str,
    #[serde(flatten)]
    pub report: &'a check::Report,
}

impl<'a> CheckDocument<'a> {
    pub fn new(report: &'a check::Report) -> Self {
        CheckDocument {
            schema: "hale.deploy-check/v1",
            report,
        }
    }
}
