//! `hale down`: stop the local instances gracefully and remove their state
//! (docs/commands/down.md).
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::fleet::{self, StopMethod, StoppedInstance};
use crate::output::Printer;
use crate::settings;

#[derive(Debug, Args)]
pub struct DownArgs {
    /// The service folder.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// How long each instance may take to exit after SIGTERM before it is killed.
    #[arg(long, default_value = "30s", value_parser = settings::parse_duration)]
    pub grace: Duration,
}

/// `--output json` document (docs/json/down.md).
#[derive(Debug, Serialize)]
struct DownDocument<'a> {
    schema: &'static str,
    service: Option<&'a str>,
    registry: Option<&'a str>,
    stopped: &'a [StoppedInstance],
    deregistered_by_hale: &'a [String],
}

pub async fn run(args: DownArgs, printer: &Printer) -> anyhow::Result<()> {
    if !args.path.is_dir() {
        return Err(crate::usage!(
            "{} is not a folder: pass the service folder where `hale up` ran",
            args.path.display()
        ));
    }
    let report = fleet::down(&args.path, args.grace).await?;
    let Some(report) = report else {
        printer.note(format!(
            "no fleet in {} (nothing to stop)",
            args.path.display()
        ));
        let doc = DownDocument {
            schema: "hale.down/v1",
            service: None,
            registry: None,
            stopped: &[],
            deregistered_by_hale: &[],
        };
        printer.emit(&doc, |_| Ok(()))?;
        return Ok(());
    };
    for s in &report.stopped {
        let how = match s.how {
            StopMethod::Sigterm => "exited after SIGTERM",
            StopMethod::Sigkill => "killed after the grace period",
            StopMethod::Gone => "was not running",
        };
        printer.status("Stopped", format!("{} ({how})", s.id));
    }
    if !report.deregistered_by_hale.is_empty() {
        printer.warn(format!(
            "removed {} from {} (they did not deregister themselves)",
            report.deregistered_by_hale.join(", "),
            report.registry
        ));
    }
    printer.status("Removed", args.path.join(fleet::STATE_DIR).display());
    let doc = DownDocument {
        schema: "hale.down/v1",
        service: Some(&report.service),
        registry: Some(&report.registry),
        stopped: &report.stopped,
        deregistered_by_hale: &report.deregistered_by_hale,
    };
    printer.emit(&doc, |_| Ok(()))?;
    Ok(())
}
