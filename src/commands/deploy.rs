//! `hale deploy`: arguments only; manifests and rollout are the next milestone.
use std::path::PathBuf;

use clap::Args;

use crate::exit::NotImplemented;
use crate::output::Printer;

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The service folder.
    #[arg(default_value = ".")]
    pub path: PathBuf,
}

pub fn run(_args: DeployArgs, _printer: &Printer) -> anyhow::Result<()> {
    Err(NotImplemented("deploy").into())
}
