//! `hale deploy --check` for CI: each finding as an annotation at its manifest's file and line,
//! the findings as JUnit (one test case per rule) and as SARIF with file paths and lines, and a
//! Markdown table in the step summary.
use std::path::{Component, Path, PathBuf};

use serde_json::{json, Value};

use super::annotations::{self, Annotation, Level};
use super::junit::{Case, Failure, Suite};
use super::reports::{ReportFormat, ReportTarget};
use super::summary::cell;
use super::Env;
use crate::manifests::check::{Finding, Report, Severity, RULES};

/// Where the checked files are: `base` (the folder the paths of `files` are relative to, as the
/// user named it; `None` when they were never on disk, `--out -`) and their texts.
#[derive(Debug, Clone, Copy)]
pub struct Checked<'a> {
    pub base: Option<&'a Path>,
    pub files: &'a [(String, String)],
}

impl Checked<'_> {
    /// A finding's file as the repository sees it: `base/file` relative to the workspace
    /// (`GITHUB_WORKSPACE`, else the current folder), `/`-separated, without `./`.
    fn path(&self, finding: &Finding, workspace: Option<&Path>) -> Option<String> {
        let joined = self.base?.join(&finding.file);
        let rel = match workspace {
            Some(ws) if joined.is_absolute() => joined.strip_prefix(ws).ok()?.to_path_buf(),
            _ if joined.is_absolute() => return None,
            _ => joined,
        };
        let parts: Vec<String> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("/"))
    }

    /// The 1-based line of the `kind:` key of the document holding the finding's object (the
    /// first line of its file when the object cannot be found again).
    pub fn line(&self, finding: &Finding) -> Option<usize> {
        let (_, text) = self.files.iter().find(|(p, _)| *p == finding.file)?;
        let (kind, rest) = finding.object.split_once('/')?;
        let name = rest.rsplit('/').next()?;
        let mut start = 0;
        let lines: Vec<&str> = text.lines().collect();
        let mut bounds = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            if l.starts_with("---") {
                bounds.push((start, i));
                start = i + 1;
            }
        }
        bounds.push((start, lines.len()));
        for (from, to) in bounds {
            let doc = lines[from..to].join("\n");
            let Ok(value) = serde_norway::from_str::<Value>(&doc) else {
                continue;
            };
            if value["kind"] == kind && value["metadata"]["name"] == name {
                let at = lines[from..to]
                    .iter()
                    .position(|l| l.starts_with("kind:"))
                    .unwrap_or(0);
                return Some(from + at + 1);
            }
        }
        Some(1)
    }
}

fn workspace(env: Env<'_>) -> Option<PathBuf> {
    env("GITHUB_WORKSPACE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
}

/// The findings as annotations, errors first.
pub fn annotations(report: &Report, checked: Checked<'_>, env: Env<'_>) -> Vec<Annotation> {
    let ws = workspace(env);
    let mut out: Vec<Annotation> = report
        .findings
        .iter()
        .map(|f| {
            let file = checked.path(f, ws.as_deref());
            Annotation {
                level: match f.severity {
                    Severity::Error => Level::Error,
                    Severity::Warning => Level::Warning,
                },
                line: file.as_ref().and_then(|_| checked.line(f)),
                file,
                title: Some(format!("hale deploy --check: {}", f.rule)),
                message: format!("{}: {}. Fix: {}", f.object, f.message, f.fix),
            }
        })
        .collect();
    out.sort_by_key(|a| a.level);
    out
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// One test case per rule `--check` knows: failed when the rule has error-level findings
/// (warnings alone pass, as they do not fail `--check`; they are listed with the errors).
pub fn junit(report: &Report) -> Suite {
    let cases = RULES
        .iter()
        .map(|rule| {
            let findings: Vec<&Finding> = report
                .findings
                .iter()
                .filter(|f| f.rule == rule.id)
                .collect();
            let errors = findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .count();
            let text = findings
                .iter()
                .map(|f| {
                    format!(
                        "{} {} ({}): {}",
                        severity(f.severity),
                        f.object,
                        f.file,
                        f.message
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Case {
                classname: "hale.deploy.check".into(),
                name: rule.id.to_string(),
                time: 0.0,
                failure: (errors > 0).then(|| Failure {
                    message: format!("{errors} finding(s): {}", rule.summary),
                    kind: "error".into(),
                    text: format!("{text}\nfix: {}", rule.fix),
                }),
            }
        })
        .collect();
    Suite {
        name: "hale deploy --check".into(),
        time: 0.0,
        cases,
    }
}

/// SARIF 2.1.0 whose locations name the file as the repository holds it, with the line, so
/// code scanning can place each finding.
pub fn sarif(report: &Report, checked: Checked<'_>, env: Env<'_>) -> Value {
    let ws = workspace(env);
    let mut doc = report.sarif();
    if let Some(results) = doc["runs"][0]["results"].as_array_mut() {
        for (result, finding) in results.iter_mut().zip(&report.findings) {
            let uri = checked
                .path(finding, ws.as_deref())
                .unwrap_or_else(|| finding.file.clone());
            let mut physical = json!({ "artifactLocation": { "uri": uri } });
            if let Some(line) = checked.line(finding) {
                physical["region"] = json!({ "startLine": line });
            }
            result["locations"][0]["physicalLocation"] = physical;
        }
    }
    doc
}

/// The step summary: counts, then one row per finding.
pub fn summary(report: &Report, checked: Checked<'_>, env: Env<'_>) -> String {
    let ws = workspace(env);
    let mut md = format!(
        "### hale deploy --check\n\n{} objects checked: **{} errors**, {} warnings\n\n",
        report.objects, report.errors, report.warnings
    );
    if !report.findings.is_empty() {
        md.push_str(
            "| level | rule | object | file | finding | fix |\n|---|---|---|---|---|---|\n",
        );
        for f in &report.findings {
            let at = checked
                .path(f, ws.as_deref())
                .map(|p| match checked.line(f) {
                    Some(l) => format!("{p}:{l}"),
                    None => p,
                })
                .unwrap_or_else(|| f.file.clone());
            md.push_str(&format!(
                "| {} | `{}` | {} | {} | {} | {} |\n",
                severity(f.severity),
                f.rule,
                cell(&f.object),
                cell(&at),
                cell(&f.message),
                cell(f.fix)
            ));
        }
        md.push('\n');
    }
    md
}

/// Everything `--check` tells CI: the report files asked for, and under GitHub Actions the
/// annotations (returned, for the command to print) and the step summary.
pub fn publish(
    report: &Report,
    checked: Checked<'_>,
    targets: &[ReportTarget],
    env: Env<'_>,
) -> anyhow::Result<String> {
    use anyhow::Context as _;
    for t in targets {
        let text = match t.format {
            ReportFormat::Junit => junit(report).to_xml(),
            ReportFormat::Sarif => {
                serde_json::to_string_pretty(&sarif(report, checked, env))? + "\n"
            }
            ReportFormat::Html => continue,
        };
        std::fs::write(&t.path, text).with_context(|| {
            format!(
                "writing the {} report {}",
                t.format.name(),
                t.path.display()
            )
        })?;
    }
    if !super::is_github_actions(env) {
        return Ok(String::new());
    }
    super::summary::append(env, &summary(report, checked, env))
        .context("appending to $GITHUB_STEP_SUMMARY")?;
    Ok(annotations::render(
        &annotations(report, checked, env),
        "the job log and the --check report list them all",
    ))
}

/// The folder `--check`'s file paths are relative to: `--check DIR`; else the folder just
/// rendered into (`None` for `--out -`, nothing on disk); else `<service>/deploy`.
pub fn base(
    check_dir: Option<&Path>,
    rendered: bool,
    out: Option<&Path>,
    service: &Path,
) -> Option<PathBuf> {
    match (check_dir, out) {
        (Some(dir), _) => Some(dir.to_path_buf()),
        (None, Some(out)) if rendered && out == Path::new("-") => None,
        (None, Some(out)) if rendered => Some(out.to_path_buf()),
        _ => Some(service.join("deploy")),
    }
}

/// Refuse `--report` values `hale deploy` cannot honour, before anything is rendered.
pub fn validate(targets: &[ReportTarget], checking: bool) -> Result<(), String> {
    super::reports::only(
        targets,
        &[ReportFormat::Junit, ReportFormat::Sarif],
        "hale deploy --check",
    )?;
    if !checking && !targets.is_empty() {
        return Err("--report writes the findings of --check: add --check".into());
    }
    Ok(())
}

/// The step summary of a plain `hale deploy` (apply and rollout wait): what went where, and how
/// it ended.
pub fn apply_summary(
    service: &str,
    image: &str,
    context: Option<&str>,
    outcome: Result<(), &anyhow::Error>,
    rollouts: &[crate::deploy::report::RolloutReport],
    env: Env<'_>,
) -> std::io::Result<()> {
    super::summary::append(
        env,
        &apply_markdown(service, image, context, outcome, rollouts),
    )
}

/// The step summary of `hale deploy`: what was deployed where and the result, then each
/// Deployment's rollout (its outcome, replicas and any rollback).
fn apply_markdown(
    service: &str,
    image: &str,
    context: Option<&str>,
    outcome: Result<(), &anyhow::Error>,
    rollouts: &[crate::deploy::report::RolloutReport],
) -> String {
    let result = match outcome {
        Ok(()) => "rolled out".to_string(),
        Err(e) => format!("**failed**: {}", cell(&format!("{e:#}"))),
    };
    let mut md = format!(
        "### hale deploy: {service}\n\n| image | context | result |\n|---|---|---|\n| `{}` | {} | {result} |\n\n",
        cell(image),
        cell(context.unwrap_or("(current)")),
    );
    if !rollouts.is_empty() {
        md.push_str(
            "| rollout | outcome | desired | updated | ready | available | rollback |\n|---|---|---:|---:|---:|---:|---|\n",
        );
        for r in rollouts {
            let rollback = r.rollback.as_ref().map_or("-".to_string(), |b| {
                format!(
                    "revision {} → {}: {}",
                    b.rollback.from_revision, b.rollback.to_revision, b.outcome
                )
            });
            let n = &r.replicas;
            md.push_str(&format!(
                "| deployment/{} | {} | {} | {} | {} | {} | {} |\n",
                cell(&r.deployment),
                r.outcome,
                n.desired,
                n.updated,
                n.ready,
                n.available,
                cell(&rollback)
            ));
        }
        md.push('\n');
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::check;

    const DEPLOYMENT: &str = "# comment\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: orders\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: orders\nspec:\n  template:\n    spec:\n      containers:\n      - name: orders\n        image: orders:latest\n";

    fn report() -> (Report, Vec<(String, String)>) {
        let files = vec![("base/deployment.yaml".to_string(), DEPLOYMENT.to_string())];
        (check::check(&files).unwrap(), files)
    }

    #[test]
    fn the_deploy_summary_has_a_row_per_rollout_with_its_replicas_and_rollback() {
        use crate::deploy::report::{RollbackReport, RolloutReport};
        use crate::kube::rollout::{Replicas, Rollback};
        let replicas = Replicas {
            desired: 2,
            updated: 1,
            ready: 1,
            available: 1,
            total: 3,
        };
        let rollouts = [RolloutReport {
            deployment: "orders".into(),
            outcome: "deadline-exceeded",
            message: String::new(),
            replicas,
            diagnosis: None,
            rollback: Some(RollbackReport {
                rollback: Rollback {
                    deployment: "orders".into(),
                    from_revision: 2,
                    to_revision: 1,
                },
                outcome: "complete",
                replicas,
            }),
        }];
        let err = anyhow::anyhow!("deployment/orders did not roll out");
        let md = apply_markdown("orders", "r/orders@sha256:1", None, Err(&err), &rollouts);
        assert!(
            md.contains("| **failed**: deployment/orders did not roll out |"),
            "{md}"
        );
        assert!(
            md.contains("| deployment/orders | deadline-exceeded | 2 | 1 | 1 | 1 | revision 2 → 1: complete |"),
            "{md}"
        );
        // Nothing applied (an early refusal): the first table only.
        let md = apply_markdown("orders", "i", Some("ctx"), Ok(()), &[]);
        assert!(!md.contains("| rollout |"), "{md}");
    }

    #[test]
    fn findings_point_at_the_kind_line_of_their_document() {
        let (report, files) = report();
        assert!(report.has_errors());
        let checked = Checked {
            base: Some(Path::new("./deploy")),
            files: &files,
        };
        let env = |_: &str| None;
        let anns = annotations(&report, checked, &env);
        let latest = anns
            .iter()
            .find(|a| a.title.as_deref() == Some("hale deploy --check: latest-tag"))
            .unwrap();
        assert_eq!(latest.file.as_deref(), Some("deploy/base/deployment.yaml"));
        assert_eq!(latest.line, Some(8));
        assert_eq!(latest.level, Level::Error);
        let sarif = sarif(&report, checked, &env);
        let loc = &sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
        assert_eq!(
            loc["artifactLocation"]["uri"],
            "deploy/base/deployment.yaml"
        );
        assert_eq!(loc["region"]["startLine"], 8);
    }

    #[test]
    fn junit_has_one_case_per_rule_and_fails_those_with_errors() {
        let (report, _) = report();
        let suite = junit(&report);
        assert_eq!(suite.cases.len(), RULES.len());
        let failed: Vec<&str> = suite
            .cases
            .iter()
            .filter(|c| c.failure.is_some())
            .map(|c| c.name.as_str())
            .collect();
        assert!(failed.contains(&"latest-tag"), "{failed:?}");
        assert!(
            !failed.contains(&"no-read-only-root-fs"),
            "a warning alone passes: {failed:?}"
        );
        assert_eq!(
            suite.failures(),
            report
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .map(|f| f.rule)
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        );
    }

    #[test]
    fn the_base_follows_what_was_checked() {
        let svc = Path::new("svc");
        assert_eq!(
            base(Some(Path::new("m")), true, None, svc),
            Some(PathBuf::from("m"))
        );
        assert_eq!(base(None, true, Some(Path::new("-")), svc), None);
        assert_eq!(
            base(None, true, Some(Path::new("o")), svc),
            Some(PathBuf::from("o"))
        );
        assert_eq!(
            base(None, false, None, svc),
            Some(PathBuf::from("svc/deploy"))
        );
    }
}
