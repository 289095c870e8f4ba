//! `hale register`: arguments and a call into the library (work in progress).
use clap::Args;

use crate::exit::NotImplemented;
use crate::output::Printer;

#[derive(Debug, Args)]
pub struct RegisterArgs {}

pub async fn run(_args: RegisterArgs, _printer: &Printer) -> anyhow::Result<()> {
    Err(NotImplemented("register").into())
}
