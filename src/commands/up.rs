//! `hale up`: arguments and a call into the library (work in progress).
use clap::Args;

use crate::exit::NotImplemented;
use crate::output::Printer;

#[derive(Debug, Args)]
pub struct UpArgs {}

pub async fn run(_args: UpArgs, _printer: &Printer) -> anyhow::Result<()> {
    Err(NotImplemented("up").into())
}
