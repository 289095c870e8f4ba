//! `hale deploy status [--watch]`: the rollout state, replicas, recent events and canary of
//! what hale applied for a service (docs/commands/deploy-apply.md).
use anyhow::Context as _;

use super::deploy_kube::{connect, StatusArgs};
use crate::deploy::status;
use crate::exit::Interrupted;
use crate::output::Printer;
use crate::stop::Stop;

/// `hale deploy status`: print the status once.
pub async fn once(args: &StatusArgs, service: &str, printer: &Printer) -> anyhow::Result<()> {
    let cluster = connect(&args.target, service).await?;
    let snapshot = status::read(&cluster, service).await?;
    if printer.is_json() {
        printer.line(snapshot.json(true)?)
    } else {
        printer.line(snapshot.text().trim_end())
    }
    .context("writing the status")
}

/// `hale deploy status --watch`: the status again whenever it changes (JSON: one line per
/// change), until SIGINT or SIGTERM (exit 130).
pub async fn watch(
    args: &StatusArgs,
    service: &str,
    printer: &Printer,
    stop: &Stop,
) -> anyhow::Result<()> {
    let cluster = connect(&args.target, service).await?;
    status::watch(&cluster, service, stop, |snapshot| {
        if printer.is_json() {
            printer.line(snapshot.json(false)?)?;
        } else {
            printer.line(format!("{}\n", snapshot.text().trim_end()))?;
        }
        Ok(())
    })
    .await?;
    Err(Interrupted.into())
}
