//! `hale down`: stop the local instances gracefully and remove their state
//! (docs/commands/down.md).
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::fleet;
use crate::fleet::report::{stop_method_text, DownDocument};
use crate::output::Printer;
use crate::settings;

#[derive(Debug, Args)]
pub struct DownArgs {
    /// The service folder.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// How long each instance may take to exit after SIGTERM before it is killed; 0s kills
    /// at once (no drain: hale deregisters them).
    #[arg(long, default_value = "30s", value_parser = settings::parse_duration)]
    pub grace: Duration,
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
        let doc = DownDocument::new(None);
        printer.emit(&doc, |_| Ok(()))?;
        return Ok(());
    };
    for s in &report.stopped {
        printer.status("Stopped", format!("{} ({})", s.id, stop_method_text(s.how)));
    }
    if !report.deregistered_by_hale.is_empty() {
        printer.warn(format!(
            "removed {} from {} (they did not deregister themselves)",
            report.deregistered_by_hale.join(", "),
            report.registry
        ));
    }
    printer.status("Removed", args.path.join(fleet::STATE_DIR).display());
    let doc = DownDocument::new(Some(&report));
    printer.emit(&doc, |_| Ok(()))?;
    Ok(())
}
