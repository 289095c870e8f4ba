//! `hale discover`: list the healthy instances of a service, or follow them with --watch
//! (docs/commands/discover.md).
use std::io::Write;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::commands::RegistryArgs;
use crate::discovery::{self, Instance, Registry, RegistryUrl};
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
    #[arg(long, requires = "watch", value_parser = crate::settings::parse_duration)]
    pub timeout: Option<Duration>,
}

/// `--output json` document and `--watch` JSON line (docs/json/discover.md).
#[derive(Debug, Serialize)]
struct DiscoverReport<'a> {
    schema: &'static str,
    service: &'a str,
    registry: String,
    instances: &'a [Instance],
}

pub async fn run(args: DiscoverArgs, printer: &Printer, stop: &Stop) -> anyhow::Result<()> {
    names::validate_service_name(&args.name)?;
    let layout = args.registry.layout;
    let url = args.registry.url.resolve(std::path::Path::new("."))?;
    fn report<'a>(
        service: &'a str,
        url: &RegistryUrl,
        instances: &'a [Instance],
    ) -> DiscoverReport<'a> {
        DiscoverReport {
            schema: "hale.discover/v1",
            service,
            registry: url.to_string(),
            instances,
        }
    }
    if !args.watch {
        let registry = Registry::new(&url, layout)?;
        let instances = registry.discover(&args.name).await?;
        printer.emit(&report(&args.name, &url, &instances), |out| {
            table(out, &instances)
        })?;
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
        if printer.is_json() {
            printer.json_line(&report(&args.name, &url, &instances))?;
        } else {
            printer.line(watch_line(&instances))?;
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

fn watch_line(instances: &[Instance]) -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    let list: Vec<String> = instances
        .iter()
        .map(|i| format!("{}={}", i.id, i.endpoint()))
        .collect();
    format!("{now} {} healthy: {}", instances.len(), list.join(" "))
}

fn table(out: &mut dyn Write, instances: &[Instance]) -> std::io::Result<()> {
    if instances.is_empty() {
        return Ok(());
    }
    let rows: Vec<[String; 4]> = instances
        .iter()
        .map(|i| {
            let meta: Vec<String> = i.meta.iter().map(|(k, v)| format!("{k}={v}")).collect();
            [
                i.id.clone(),
                i.endpoint(),
                if i.tags.is_empty() {
                    "-".into()
                } else {
                    i.tags.join(",")
                },
                if meta.is_empty() {
                    "-".into()
                } else {
                    meta.join(",")
                },
            ]
        })
        .collect();
    let width = |col: usize, title: &str| {
        rows.iter()
            .map(|r| r[col].len())
            .max()
            .unwrap_or(0)
            .max(title.len())
    };
    let (w0, w1, w2) = (width(0, "ID"), width(1, "ADDRESS"), width(2, "TAGS"));
    writeln!(
        out,
        "{:<w0$}  {:<w1$}  {:<w2$}  META",
        "ID", "ADDRESS", "TAGS"
    )?;
    for [id, endpoint, tags, meta] in &rows {
        writeln!(out, "{id:<w0$}  {endpoint:<w1$}  {tags:<w2$}  {meta}")?;
    }
    Ok(())
}
