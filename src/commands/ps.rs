//! `hale ps`: list the local instances `hale up` started, with their health
//! (docs/commands/ps.md).
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::fleet::{self, FleetState, InstanceStatus};
use crate::output::Printer;

#[derive(Debug, Args)]
pub struct PsArgs {
    /// The service folder.
    #[arg(default_value = ".")]
    pub path: PathBuf,
}

/// `--output json` document (docs/json/ps.md).
#[derive(Debug, Serialize)]
struct PsDocument<'a> {
    schema: &'static str,
    service: Option<&'a str>,
    registry: Option<&'a str>,
    instances: &'a [InstanceStatus],
}

pub async fn run(args: PsArgs, printer: &Printer) -> anyhow::Result<()> {
    if !args.path.is_dir() {
        return Err(crate::usage!(
            "{} is not a folder: pass the service folder where `hale up` ran",
            args.path.display()
        ));
    }
    if !FleetState::path(&args.path).exists() {
        printer.note(format!(
            "no fleet in {} (start one with `hale up`)",
            args.path.display()
        ));
        let doc = PsDocument {
            schema: "hale.ps/v1",
            service: None,
            registry: None,
            instances: &[],
        };
        printer.emit(&doc, |_| Ok(()))?;
        return Ok(());
    }
    let (state, rows) = fleet::status(&args.path).await?;
    let doc = PsDocument {
        schema: "hale.ps/v1",
        service: Some(&state.service),
        registry: Some(&state.registry),
        instances: &rows,
    };
    let code = |c: Option<u16>| c.map_or_else(|| "-".to_string(), |c| c.to_string());
    printer.emit(&doc, |out| {
        writeln!(
            out,
            "{:<20} {:>8}  {:<21} {:<5} {:<7} {:<6} FAULTS",
            "ID", "PID", "ADDRESS", "ALIVE", "HEALTHZ", "READYZ"
        )?;
        for r in &rows {
            writeln!(
                out,
                "{:<20} {:>8}  {:<21} {:<5} {:<7} {:<6} {}",
                r.id,
                r.pid,
                format!("{}:{}", r.address, r.port),
                if r.alive { "yes" } else { "no" },
                code(r.healthz),
                code(r.readyz),
                faults_text(r.faults.as_ref())
            )?;
        }
        Ok(())
    })?;
    Ok(())
}

/// The FAULTS column: `-` when none is on or the admin API did not answer.
fn faults_text(faults: Option<&fleet::ActiveFaults>) -> String {
    let Some(f) = faults.filter(|f| f.any()) else {
        return "-".to_string();
    };
    let mut parts = Vec::new();
    if f.error_rate > 0.0 {
        parts.push(format!("error-rate={}", f.error_rate));
    }
    if f.latency_ms > 0 {
        parts.push(format!("latency={}ms", f.latency_ms));
    }
    parts.join(",")
}
