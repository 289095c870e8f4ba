//! `hale discover`: list the healthy instances of a service, or follow them with --watch
//! (docs/commands/discover.md).
use std::time::Duration;

use clap::Args;

use crate::commands::RegistryArgs;
use crate::discovery::report::DiscoverReport;
use crate::discovery::{self, Registry};
use crate::exit::Interrupted;
use crate::names;
use crate::output::Printer;
use crate::stop::Stop;

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Service name.
    pub name: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Print the instances again on every change until Ctrl-C (or --timeout).
    #[arg(long)]
    pub watch: bool,
    /// Stop watching after this long (with --watch).
    #[arg(long, requires = "watch", value_parser = crate::values::positive_duration)]
    pub timeout: Option<Duration>,
}

pub async fn run(args: DiscoverArgs, printer: &Printer, stop: &Stop) -> anyhow::Result<()> {
    names::validate_service_name(&args.name)?;
    let layout = args.registry.layout;
    let url = args.registry.url.resolve(std::path::Path::new("."))?;
    if !args.watch {
        let registry = Registry::new(&url, layout)?;
        let instances = registry.discover(&args.name).await?;
        let report = DiscoverReport::new(&args.name, &url, &instances);
        printer.emit(&report, |out| report.write_table(out))?;
        if instances.is_empty() {
            printer.note(format!("no healthy instance of {} in {url}", args.name));
        }
        return Ok(());
    }

    let mut rx = discovery::follow_layout(&url, &args.name, layout).await?;
    let deadline = async {
        match args.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    let mut changes = 0u64;
    loop {
        let instances = rx.borrow_and_update().clone();
        let report = DiscoverReport::new(&args.name, &url, &instances);
        if printer.is_json() {
            printer.json_line(&report)?;
        } else {
            printer.line(report.watch_line(std::time::SystemTime::now()))?;
        }
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return Ok(()) },
            () = &mut deadline => return Ok(()),
            () = stop.stopped() => {
                printer.status("Stopped", format!("watching {} after {changes} change(s)", args.name));
                return Err(Interrupted.into());
            }
        }
        changes += 1;
    }
}
