//! `hale build`: arguments only; image building is the next milestone.
use std::path::PathBuf;

use clap::Args;

use crate::exit::NotImplemented;
use crate::output::Printer;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The service folder.
    #[arg(default_value = ".")]
    pub path: PathBuf,
}

pub fn run(_args: BuildArgs, _printer: &Printer) -> anyhow::Result<()> {
    Err(NotImplemented("build").into())
}
