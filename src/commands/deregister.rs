//! `hale deregister`: arguments and a call into the library (work in progress).
use clap::Args;

use crate::exit::NotImplemented;
use crate::output::Printer;

#[derive(Debug, Args)]
pub struct DeregisterArgs {}

pub async fn run(_args: DeregisterArgs, _printer: &Printer) -> anyhow::Result<()> {
    Err(NotImplemented("deregister").into())
}
