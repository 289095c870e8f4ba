//! What `hale up`, `hale ps` and `hale down` report: their `--output json` documents
//! (docs/json/up.md, docs/json/ps.md, docs/json/down.md) and the tables printed instead of them. The commands only hand these to
//! the printer.
use std::io::Write;

use serde::Serialize;

use super::{
    ActiveFaults, DownReport, FleetState, InstanceStatus, RuntimeKind, StopMethod, StoppedInstance,
    UpReport,
};

/// `hale up --output json` (docs/json/up.md).
#[derive(Debug, Serialize)]
pub struct UpDocument<'a> {
    schema: &'static str,
    service: &'a str,
    registry: &'a str,
    dir: String,
    built: bool,
    started: &'a [String],
    stopped: &'a [String],
    kept: &'a [String],
    instances: Vec<UpInstance<'a>>,
    /// `process` or `docker`.
    runtime: &'static str,
    /// The image a container fleet runs (`null` for processes).
    image: Option<&'a str>,
    /// The engine's id of that image.
    image_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct UpInstance<'a> {
    id: &'a str,
    pid: u32,
    address: &'a str,
    port: u16,
    registered: bool,
    log: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<&'a str>,
}

impl<'a> UpDocument<'a> {
    pub fn new(report: &'a UpReport) -> UpDocument<'a> {
        let state = &report.state;
        UpDocument {
            schema: "hale.up/v1",
            service: &state.service,
            registry: &state.registry,
            dir: report.dir.display().to_string(),
            built: report.built,
            started: &report.started,
            stopped: &report.stopped,
            kept: &report.kept,
            instances: state
                .instances
                .iter()
                .map(|i| UpInstance {
                    id: &i.id,
                    pid: i.pid,
                    address: &i.address,
                    port: i.port,
                    registered: report.registered.contains(&i.id),
                    log: i.log.display().to_string(),
                    container: i.container.as_deref(),
                })
                .collect(),
            runtime: state.runtime.name(),
            image: state.image.as_deref(),
            image_id: state.image_id.as_deref(),
        }
    }

    /// The table of instances, then the registry (and a container fleet's image).
    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "{:<20} {:>8}  {:<21} REGISTERED",
            "ID", "PID", "ADDRESS"
        )?;
        for i in &self.instances {
            writeln!(
                out,
                "{:<20} {:>8}  {:<21} {}",
                i.id,
                i.pid,
                format!("{}:{}", i.address, i.port),
                if i.registered { "yes" } else { "no" }
            )?;
        }
        writeln!(out, "registry: {}", self.registry)?;
        if let Some(image) = self.image {
            writeln!(out, "image: {image} ({})", self.image_id.unwrap_or("-"))?;
        }
        Ok(())
    }
}

/// `hale ps --output json` (docs/json/ps.md).
#[derive(Debug, Serialize)]
pub struct PsDocument<'a> {
    schema: &'static str,
    service: Option<&'a str>,
    registry: Option<&'a str>,
    instances: &'a [InstanceStatus],
    /// `process` or `docker`; `null` when there is no fleet.
    runtime: Option<&'static str>,
    /// The image a container fleet runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a str>,
}

impl<'a> PsDocument<'a> {
    /// The document for a folder without a fleet.
    pub fn empty() -> PsDocument<'static> {
        PsDocument {
            schema: "hale.ps/v1",
            service: None,
            registry: None,
            instances: &[],
            runtime: None,
            image: None,
        }
    }

    pub fn new(state: &'a FleetState, rows: &'a [InstanceStatus]) -> PsDocument<'a> {
        PsDocument {
            schema: "hale.ps/v1",
            service: Some(&state.service),
            registry: Some(&state.registry),
            instances: rows,
            runtime: Some(state.runtime.name()),
            image: state
                .image
                .as_deref()
                .filter(|_| state.runtime == RuntimeKind::Docker),
        }
    }

    /// One row per instance: id, pid, address, alive, /healthz, /readyz, active faults.
    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.service.is_none() {
            return Ok(());
        }
        let code = |c: Option<u16>| c.map_or_else(|| "-".to_string(), |c| c.to_string());
        writeln!(
            out,
            "{:<20} {:>8}  {:<21} {:<5} {:<7} {:<6} FAULTS",
            "ID", "PID", "ADDRESS", "ALIVE", "HEALTHZ", "READYZ"
        )?;
        for r in self.instances {
            let line = format!(
                "{:<20} {:>8}  {:<21} {:<5} {:<7} {:<6} {}",
                r.id,
                r.pid,
                format!("{}:{}", r.address, r.port),
                if r.alive { "yes" } else { "no" },
                code(r.healthz),
                code(r.readyz),
                faults_text(r.faults.as_ref())
            );
            // The state file is a user's file: control characters are shown, not obeyed.
            writeln!(out, "{}", crate::output::escape_controls(&line))?;
        }
        Ok(())
    }
}

/// The FAULTS column: `-` when none is on or the admin API did not answer.
fn faults_text(faults: Option<&ActiveFaults>) -> String {
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
/// `hale down --output json` (docs/json/down.md).
#[derive(Debug, Serialize)]
pub struct DownDocument<'a> {
    schema: &'static str,
    service: Option<&'a str>,
    registry: Option<&'a str>,
    stopped: &'a [StoppedInstance],
    deregistered_by_hale: &'a [String],
}

impl<'a> DownDocument<'a> {
    /// What `hale down` found: a report, or no fleet at all.
    pub fn new(report: Option<&'a DownReport>) -> DownDocument<'a> {
        DownDocument {
            schema: "hale.down/v1",
            service: report.map(|r| r.service.as_str()),
            registry: report.map(|r| r.registry.as_str()),
            stopped: report.map_or(&[], |r| r.stopped.as_slice()),
            deregistered_by_hale: report.map_or(&[], |r| r.deregistered_by_hale.as_slice()),
        }
    }
}

/// How an instance went, as `hale down`'s status line says it.
pub fn stop_method_text(how: StopMethod) -> &'static str {
    match how {
        StopMethod::Sigterm => "exited after SIGTERM",
        StopMethod::Sigkill => "killed after the grace period",
        StopMethod::Gone => "was not running",
    }
}
