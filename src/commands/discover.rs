//! `hale discover`: arguments and a call into the library (work in progress).
use clap::Args;

use crate::exit::NotImplemented;
use crate::output::Printer;

#[derive(Debug, Args)]
pub struct DiscoverArgs {}

pub async fn run(_args: DiscoverArgs, _printer: &Printer) -> anyhow::Result<()> {
    Err(NotImplemented("discover").into())
}
