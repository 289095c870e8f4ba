//! `hale ps`: arguments and a call into the library (work in progress).
use clap::Args;

use crate::exit::NotImplemented;
use crate::output::Printer;

#[derive(Debug, Args)]
pub struct PsArgs {}

pub async fn run(_args: PsArgs, _printer: &Printer) -> anyhow::Result<()> {
    Err(NotImplemented("ps").into())
}
