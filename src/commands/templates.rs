//! `hale templates export DIR`: write the built-in template set out for customising.
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::output::Printer;
use crate::scaffold;

#[derive(Debug, Args)]
pub struct TemplatesArgs {
    #[command(subcommand)]
    pub action: TemplatesAction,
}

#[derive(Debug, Subcommand)]
pub enum TemplatesAction {
    /// Write the built-in templates into DIR; use them with `hale new --templates DIR`.
    Export {
        /// The folder to create.
        dir: PathBuf,
        /// Write into a non-empty folder, replacing the template files there.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Serialize)]
struct ExportReport {
    schema: &'static str,
    dir: String,
    files: Vec<String>,
}

pub fn run(args: TemplatesArgs, printer: &Printer) -> anyhow::Result<()> {
    match args.action {
        TemplatesAction::Export { dir, force } => {
            let files = scaffold::builtin_set();
            scaffold::write_tree(&dir, &files, force)?;
            printer.status(
                "Exported",
                format!("{} templates to {}", files.len(), dir.display()),
            );
            let report = ExportReport {
                schema: "hale.templates-export/v1",
                dir: dir.display().to_string(),
                files: files
                    .iter()
                    .map(|f| f.path.to_string_lossy().into_owned())
                    .collect(),
            };
            printer.emit(&report, |out| {
                for f in &report.files {
                    writeln!(out, "{f}")?;
                }
                Ok(())
            })?;
            Ok(())
        }
    }
}
