//! `hale load`: arguments and a call into the library (work in progress).
use clap::Args;

use crate::exit::NotImplemented;
use crate::output::Printer;

#[derive(Debug, Args)]
pub struct LoadArgs {}

pub async fn run(_args: LoadArgs, _printer: &Printer) -> anyhow::Result<()> {
    Err(NotImplemented("load").into())
}
