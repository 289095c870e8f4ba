//! `hale upgrade [PATH]`: bring a service made by `hale new` up to the current templates
//! (see docs/commands/upgrade.md).
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::output::Printer;
use crate::scaffold::lock;
use crate::scaffold::upgrade::{self, Reason, Status, UpgradeOptions};

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// The service's folder, where its hale.lock is.
    #[arg(default_value = ".", value_name = "PATH")]
    pub path: PathBuf,
    /// Write a three-way merge, with conflict markers, into files you changed, instead of
    /// leaving them alone.
    #[arg(long)]
    pub merge: bool,
    /// Print the changes as a unified diff, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Upgrade to the templates in this folder instead of the built-in set.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

/// `--output json` document (docs/json/upgrade.md).
#[derive(Debug, Serialize)]
struct UpgradeReport {
    schema: &'static str,
    dir: String,
    name: String,
    dry_run: bool,
    merge: bool,
    from: lock::Templates,
    to: lock::Templates,
    updated: Vec<String>,
    unchanged: Vec<String>,
    kept: Vec<Kept>,
    merged: Vec<String>,
    conflicted: Vec<String>,
    added: Vec<String>,
    removed: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<String>,
}

#[derive(Debug, Serialize)]
struct Kept {
    path: String,
    reason: Reason,
}

fn explain(reason: Reason) -> &'static str {
    match reason {
        Reason::Modified => "you changed it and so did the template; --merge writes a three-way merge",
        Reason::Deleted => "you deleted it; it stays deleted",
        Reason::Untracked => "new in the templates, but you have a file of your own there",
        Reason::RemovedFromTemplates => "gone from the templates; you changed it, so it stays, no longer tracked",
        Reason::NoBase => "you changed it, and its base in .hale-base/ is missing or altered: nothing to merge against",
    }
}

pub fn run(args: UpgradeArgs, printer: &Printer) -> anyhow::Result<()> {
    let opts = UpgradeOptions {
        root: args.path.clone(),
        templates: args.templates,
        merge: args.merge,
        hale_action: hale_action_env(),
    };
    let plan = upgrade::plan(&opts)?;
    if !args.dry_run {
        plan.apply()?;
    }
    let paths = |status| {
        plan.with_status(status)
            .map(|c| c.path.clone())
            .collect::<Vec<_>>()
    };
    let diff = args.dry_run.then(|| {
        plan.changes
            .iter()
            .filter(|c| c.writes())
            .map(|c| c.unified_diff())
            .collect::<String>()
    });
    let report = UpgradeReport {
        schema: "hale.upgrade/v1",
        dir: args.path.display().to_string(),
        name: plan.name.clone(),
        dry_run: args.dry_run,
        merge: args.merge,
        from: plan.from.clone(),
        to: plan.to.clone(),
        updated: paths(Status::Updated),
        unchanged: paths(Status::Unchanged),
        kept: plan
            .with_status(Status::Kept)
            .map(|c| Kept {
                path: c.path.clone(),
                reason: c.reason.unwrap_or(Reason::Modified),
            })
            .collect(),
        merged: paths(Status::Merged),
        conflicted: paths(Status::Conflicted),
        added: paths(Status::Added),
        removed: paths(Status::Removed),
        diff,
    };
    let summary = format!(
        "{} updated, {} merged, {} conflicted, {} added, {} removed, {} kept, {} unchanged",
        report.updated.len(),
        report.merged.len(),
        report.conflicted.len(),
        report.added.len(),
        report.removed.len(),
        report.kept.len(),
        report.unchanged.len()
    );
    if !args.dry_run {
        printer.status(
            "Upgraded",
            format!(
                "{} in {} to templates {}: {summary}",
                report.name, report.dir, report.to.version
            ),
        );
        if !report.conflicted.is_empty() {
            printer.warn(format!(
                "{} file(s) hold conflict markers (<<<<<<< ours … >>>>>>> theirs): resolve them before building",
                report.conflicted.len()
            ));
        }
    }
    printer.emit(&report, |out| {
        if let Some(diff) = &report.diff {
            write!(out, "{diff}")?;
            writeln!(out, "Would upgrade {}: {summary}", report.name)?;
        }
        let rows = plan.changes.iter().filter(|c| {
            c.status != Status::Unchanged && !(args.dry_run && c.status != Status::Kept)
        });
        for change in rows {
            let status = serde_json::to_value(change.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            match change.reason {
                Some(reason) => {
                    writeln!(out, "{status:<11} {}  ({})", change.path, explain(reason))?
                }
                None => writeln!(out, "{status:<11} {}", change.path)?,
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// `HALE_ACTION`: the repository of hale's GitHub Action that `hale new` and `hale upgrade`
/// write into the workflow (docs/ci.md), when set and not empty.
pub(crate) fn hale_action_env() -> Option<String> {
    std::env::var("HALE_ACTION").ok().filter(|a| !a.is_empty())
}
