//! `hale down`: arguments and a call into the library (work in progress).
use clap::Args;

use crate::exit::NotImplemented;
use crate::output::Printer;

#[derive(Debug, Args)]
pub struct DownArgs {}

pub async fn run(_args: DownArgs, _printer: &Printer) -> anyhow::Result<()> {
    Err(NotImplemented("down").into())
}
