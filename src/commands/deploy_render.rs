//! `hale deploy --render` (write the manifests) and `--check` (lint a set), the half of
//! `hale deploy` that never talks to a cluster (docs/commands/deploy.md). The flags live in
//! [`super::deploy`]; the work in [`crate::deploy::render`].
use std::path::Path;

use super::deploy::{resolve_spec, CheckFormat, DeployArgs};
use crate::ci;
use crate::deploy::render::{self, RenderTo};
use crate::deploy::report::{write_render_text, CheckDocument, RenderDocument};
use crate::manifests::{check, write, Spec};
use crate::output::Printer;
use crate::usage;

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
