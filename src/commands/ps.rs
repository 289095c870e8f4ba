//! `hale ps`: list the local instances `hale up` started, with their health
//! (docs/commands/ps.md).
use std::path::PathBuf;

use clap::Args;

use crate::fleet::report::PsDocument;
use crate::fleet::{self, FleetState};
use crate::output::Printer;

#[derive(Debug, Args)]
pub struct PsArgs {
    /// The service folder.
    #[arg(default_value = ".")]
    pub path: PathBuf,
}

pub async fn run(args: PsArgs, printer: &Printer) -> anyhow::Result<()> {
    if !args.path.is_dir() {
        return Err(crate::usage!(
            "{} is not a folder: pass the service folder where `hale up` ran",
            args.path.display()
        ));
    }
    if !FleetState::path(&args.path).exists() {
        printer.note(format!(
            "no fleet in {} (start one with `hale up`)",
            args.path.display()
        ));
        let doc = PsDocument::empty();
        printer.emit(&doc, |out| doc.write_text(out))?;
        return Ok(());
    }
    let (state, rows) = fleet::status(&args.path).await?;
    let doc = PsDocument::new(&state, &rows);
    printer.emit(&doc, |out| doc.write_text(out))?;
    Ok(())
}
