//! One `hale load` invocation past its flags: [`prepare`] checks everything that can be checked
//! before a request is sent (the plan, the targets, TLS, the output paths, the fleet a fault plan
//! acts on), [`Prepared::run`] sends, undoes the injected faults, builds the report and writes
//! the files asked for. The command prints what [`Finished`] says; nothing here prints.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::faults::FaultError;
use super::grpc::reflection::ReflectionError;
use super::grpc::{self, GrpcCall, GrpcCallError, GrpcRequest};
use super::plan::{self, LoadRequest, PlanError};
use super::report::TargetInfo;
use super::targets::{self, Scheme, TargetError};
use super::tls::{TlsClient, TlsError, Trust};
use super::{
    faults, fleet_faults, histograms, html, verdict, FaultAction, FaultActuator, LoadError,
    LoadOptions, Report, SpecError, Targets,
};
use crate::discovery::{Layout, RegistryUrl};
use crate::progress::Progress;
use crate::stop::Stop;

/// Where a run sends.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    /// `--url`.
    Url(String),
    /// `--endpoints`, with `--scheme` (default http).
    Endpoints { list: Vec<String>, scheme: Scheme },
    /// A SERVICE followed through the registry; `scheme` forces every instance's.
    Service {
        name: String,
        registry: RegistryUrl,
        layout: Layout,
        scheme: Option<Scheme>,
    },
}

/// Everything one `hale load` asks for, already typed.
#[derive(Debug, Clone)]
pub struct Job {
    pub request: LoadRequest,
    pub target: TargetSpec,
    /// `--cacert`.
    pub cacert: Option<PathBuf>,
    /// `--insecure`.
    pub insecure: bool,
    /// The service folder whose fleet a fault plan acts on (`--fleet`).
    pub fleet: PathBuf,
    /// Leave the injected error-rate and latency faults in place at the end.
    pub keep_faults: bool,
    /// `--report`: the HTML page.
    pub html: Option<PathBuf>,
    /// `--histogram-out`.
    pub histogram_out: Option<PathBuf>,
}

/// What stops a `hale load` before, during or right after its run.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Load(#[from] LoadError),
    /// `--grpc`: the method or `--body` does not fit the descriptors.
    #[error(transparent)]
    GrpcCall(#[from] GrpcCallError),
    /// `--grpc` without `--proto`: the target's reflection did not give the descriptors.
    #[error(transparent)]
    Reflection(#[from] ReflectionError),
    #[error(transparent)]
    Histogram(#[from] histograms::HistogramError),
    /// No usable TLS client for HTTPS targets (a `--cacert` file that is not one), or
    /// `--cacert`/`--insecure` without an HTTPS target: the [`TlsError`]'s whole line.
    #[error("{0}")]
    Tls(String),
    #[error("{flag} {}: is a folder; give a file path", path.display())]
    OutputIsFolder { flag: &'static str, path: PathBuf },
    #[error("{flag} {}: cannot write there ({why}); give a path in a folder that exists and is writable", path.display())]
    OutputNotWritable {
        flag: &'static str,
        path: PathBuf,
        why: std::io::Error,
    },
    #[error("--fault needs a local fleet: no {} (run `hale up` in the service folder, or pass --fleet PATH)", fleet_file.display())]
    NoFleet { fleet_file: PathBuf },
    #[error("--fleet {}: {why}", dir.display())]
    BadFleet { dir: PathBuf, why: Box<FaultError> },
    #[error("reading {}", fleet_file.display())]
    FleetUnreadable {
        fleet_file: PathBuf,
        #[source]
        source: Box<FaultError>,
    },
    #[error("writing {}", path.display())]
    WriteHtml {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl JobError {
    /// Whether the user can fix it by changing what they asked for (exit 2).
    pub fn is_bad_input(&self) -> bool {
        match self {
            JobError::Plan(_)
            | JobError::Spec(_)
            | JobError::Tls(_)
            | JobError::GrpcCall(_)
            | JobError::OutputIsFolder { .. }
            | JobError::OutputNotWritable { .. }
            | JobError::NoFleet { .. }
            | JobError::BadFleet { .. } => true,
            JobError::Target(e) => crate::exit::is_bad_input(e),
            JobError::Load(e) => crate::exit::is_bad_input(e),
            JobError::Histogram(e) => e.is_bad_input(),
            JobError::Reflection(e) => e.is_bad_input(),
            JobError::FleetUnreadable { .. } | JobError::WriteHtml { .. } => false,
        }
    }
}

/// A run ready to start: every check passed.
pub struct Prepared {
    pub options: LoadOptions,
    pub target: TargetInfo,
    targets: Targets,
    actuator: Option<Arc<dyn FaultActuator>>,
    keep_faults: bool,
    assertions: Vec<super::assertions::Assertion>,
    html: Option<PathBuf>,
    histogram_out: Option<PathBuf>,
}

/// What a run did: the injected faults it reset (also when the run failed), and its result.
pub struct Ran {
    /// The faults reset at the end, one per instance, in id order.
    pub resets: Vec<FaultReset>,
    /// Files written, in order: (what, path); also those written before a later one failed.
    pub written: Vec<(&'static str, PathBuf)>,
    pub result: Result<Finished, JobError>,
}

/// What a finished run gave, for the command to print.
pub struct Finished {
    pub report: Report,
    /// Stopped early by SIGINT or SIGTERM.
    pub interrupted: bool,
    /// Why the run failed as a whole, if it did ([`verdict::failure`]).
    pub failure: Option<String>,
    /// The `--assert` expressions that did not hold.
    pub failed_assertions: Vec<String>,
}

/// An instance whose injected faults were reset to zero at the end of the run (or could not be).
pub struct FaultReset {
    pub instance: String,
    pub result: Result<(), FaultError>,
}

/// Check the job as a whole and resolve its targets; nothing is sent yet.
pub async fn prepare(mut job: Job) -> Result<Prepared, JobError> {
    let assertions = job.request.assertions.clone();
    let grpc = job.request.grpc.take();
    let mut options = plan::plan(job.request)?;
    let grpc_path = match &grpc {
        None => None,
        Some(GrpcRequest::Call(call)) => Some(call.path.clone()),
        Some(GrpcRequest::Reflect { method, .. }) => {
            let (service, rpc) = grpc::split_method(method)?;
            Some(format!("/{service}/{rpc}"))
        }
    };
    let target = |kind: &str, service: Option<String>, registry: Option<String>| TargetInfo {
        kind: kind.into(),
        service,
        registry,
        method: match &grpc_path {
            Some(_) => "gRPC".to_string(),
            None => options.method.to_string(),
        },
        path: grpc_path.clone().unwrap_or_else(|| options.path.clone()),
    };
    let asks_tls = job.cacert.is_some() || job.insecure;
    let (targets, target_info, any_https) = match &job.target {
        TargetSpec::Url(u) => {
            let endpoint = targets::url_endpoint(u).await?;
            let https = endpoint.tls.is_some();
            (
                Targets::Fixed(vec![endpoint]),
                target("url", None, None),
                https,
            )
        }
        TargetSpec::Endpoints { list, scheme } => {
            let list = targets::fixed_endpoints(list, *scheme).await?;
            (
                Targets::Fixed(list),
                target("endpoints", None, None),
                *scheme == Scheme::Https,
            )
        }
        TargetSpec::Service {
            name,
            registry,
            layout,
            scheme,
        } => {
            let live = targets::follow_service(registry, name, *layout, *scheme).await?;
            // Instances may turn up HTTPS later in the run; none is HTTPS if --scheme says http.
            let https = live.borrow().iter().any(|e| e.tls.is_some());
            let maybe_https = *scheme != Some(Scheme::Http);
            (
                Targets::Live(live),
                target("service", Some(name.clone()), Some(registry.to_string())),
                https || (maybe_https && asks_tls),
            )
        }
    };
    if let Targets::Fixed(list) = &targets {
        for e in list {
            tracing::debug!(id = %e.id, addr = %e.addr, host = %e.authority, https = e.tls.is_some(), "target");
        }
    }
    let trust = Trust::from_flags(job.cacert.as_deref(), job.insecure);
    // gRPC connections offer ALPN h2, HTTP ones http/1.1.
    let tls_client = |trust: &Trust| match grpc {
        Some(_) => TlsClient::for_grpc(trust),
        None => TlsClient::new(trust),
    };
    options.tls = if any_https {
        Some(tls_client(&trust).map_err(|e| JobError::Tls(e.to_string()))?)
    } else if asks_tls {
        return Err(JobError::Tls(TlsError::NotHttps.to_string()));
    } else if matches!(job.target, TargetSpec::Service { scheme: None, .. }) {
        // A registry instance may register as HTTPS mid-run: have the system's roots ready
        // (a machine without any gets a tls error for it, as for an untrusted certificate).
        tls_client(&trust).ok()
    } else {
        None
    };

    for (flag, path) in [
        ("--report", &job.html),
        ("--histogram-out", &job.histogram_out),
    ] {
        if let Some(path) = path {
            check_writable(flag, path)?;
        }
    }

    let actuator: Option<Arc<dyn FaultActuator>> = if options.faults.is_empty() {
        None
    } else {
        let fleet_file = job.fleet.join(".hale/fleet.json");
        if !fleet_file.is_file() {
            return Err(JobError::NoFleet { fleet_file });
        }
        let actuator = fleet_faults::FleetActuator::open(job.fleet.clone()).map_err(|source| {
            if source.is_bad_input() {
                JobError::BadFleet {
                    dir: job.fleet.clone(),
                    why: Box::new(source),
                }
            } else {
                JobError::FleetUnreadable {
                    fleet_file,
                    source: Box::new(source),
                }
            }
        })?;
        let known = FaultActuator::instances(&actuator);
        faults::validate_plan(&options.faults, &known, options.duration)?;
        Some(Arc::new(actuator))
    };
    // Last, as it is the one check that talks to a target.
    options.grpc = match grpc {
        None => None,
        Some(GrpcRequest::Call(call)) => Some(call),
        Some(GrpcRequest::Reflect {
            method,
            json,
            metadata,
        }) => Some(reflected_call(&targets, options.tls.as_ref(), &method, &json, metadata).await?),
    };
    Ok(Prepared {
        options,
        target: target_info,
        targets,
        actuator,
        keep_faults: job.keep_faults,
        assertions,
        html: job.html,
        histogram_out: job.histogram_out,
    })
}

impl Prepared {
    /// The one line said before the run: method, path, length, strategy and protection.
    pub fn summary(&self) -> String {
        format!(
            "{} {} for {} ({}, {})",
            self.target.method,
            self.target.path,
            self.options
                .duration
                .map(|d| humantime::format_duration(d).to_string())
                .unwrap_or_else(|| format!("{} requests", self.options.requests.unwrap_or(0))),
            self.options.balance.strategy,
            self.options.protection.name()
        )
    }

    /// Send (the live view goes to `progress`), undo the injected faults, build the report and
    /// write the files. On `stop` the run ends early and the result says it was interrupted.
    pub async fn run(mut self, progress: &Progress, stop: &Stop) -> Ran {
        let actuator = self.actuator.take();
        let undo = actuator.clone().filter(|_| !self.keep_faults);
        let faults = self.options.faults.clone();
        let targets = std::mem::replace(&mut self.targets, Targets::Fixed(Vec::new()));
        let outcome = super::run(self.options.clone(), targets, actuator, progress, stop).await;
        let resets = match undo {
            Some(actuator) => undo_faults(actuator.as_ref(), &faults).await,
            None => Vec::new(),
        };
        let mut written = Vec::new();
        let result = match outcome {
            Ok(outcome) => self.finish(&outcome, &mut written),
            Err(e) => Err(e.into()),
        };
        Ran {
            resets,
            written,
            result,
        }
    }

    /// The report of a completed run, and the files written from it.
    fn finish(
        self,
        outcome: &super::RunOutcome,
        written: &mut Vec<(&'static str, PathBuf)>,
    ) -> Result<Finished, JobError> {
        let report = Report::build(outcome, &self.options, self.target, &self.assertions);
        conclude(report, outcome, self.html, self.histogram_out, written)
    }
}

/// A built report finished as every run is: `--histogram-out` and the HTML page written, the
/// verdict and the failed assertions taken (also for `--on-cluster`'s merged run).
pub fn conclude(
    report: Report,
    outcome: &super::RunOutcome,
    html: Option<PathBuf>,
    histogram_out: Option<PathBuf>,
    written: &mut Vec<(&'static str, PathBuf)>,
) -> Result<Finished, JobError> {
    if let Some(path) = histogram_out {
        let file = histograms::export(outcome)?;
        histograms::write(&path, &file)?;
        written.push(("histograms", path));
    }
    if let Some(path) = html {
        write_atomically(&path, html::render(&report).as_bytes()).map_err(|source| {
            JobError::WriteHtml {
                path: path.clone(),
                source,
            }
        })?;
        written.push(("HTML report", path));
    }
    let failure = verdict::failure(&report);
    let failed_assertions = report
        .assertions
        .iter()
        .filter(|a| !a.passed)
        .map(|a| a.assertion.clone())
        .collect();
    Ok(Finished {
        report,
        interrupted: outcome.interrupted,
        failure,
        failed_assertions,
    })
}

/// `--grpc` without `--proto`: the call built from the descriptors a target's server reflection
/// gives, asked of each target in order until one answers (a target that says it has no
/// reflection, or not the service, is an answer).
async fn reflected_call(
    targets: &Targets,
    tls: Option<&TlsClient>,
    method: &str,
    json: &str,
    metadata: Vec<(http::HeaderName, http::HeaderValue)>,
) -> Result<GrpcCall, JobError> {
    let endpoints = match targets {
        Targets::Fixed(list) => list.clone(),
        Targets::Live(live) => live.borrow().clone(),
    };
    let (service, _) = grpc::split_method(method)?;
    let mut failure = ReflectionError::Failed {
        target: "the service".into(),
        detail: "no instance to ask".into(),
    };
    for endpoint in &endpoints {
        match grpc::reflection::descriptors(endpoint, tls, service).await {
            Ok(pool) => {
                let origin = format!("{}'s reflection", endpoint.authority);
                let mut call = GrpcCall::from_pool(&pool, &origin, method, json)?;
                call.metadata = metadata;
                return Ok(call);
            }
            Err(e @ ReflectionError::Failed { .. }) => failure = e,
            Err(e) => return Err(e.into()),
        }
    }
    Err(failure.into())
}

/// Reset to zero the error-rate and latency faults of `plan` on the instances they name, so a
/// run leaves nothing behind. A killed instance stays killed unless the plan restores it; an
/// instance that cannot be reached (killed, gone) is reported, not retried.
pub(crate) async fn undo_faults(
    actuator: &dyn FaultActuator,
    plan: &[super::FaultStep],
) -> Vec<FaultReset> {
    let mut ids: Vec<&str> = plan
        .iter()
        .filter(|s| {
            matches!(
                s.action,
                FaultAction::ErrorRate(..) | FaultAction::Latency(..)
            )
        })
        .map(|s| s.action.instance())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut resets = Vec::with_capacity(ids.len());
    for id in ids {
        resets.push(FaultReset {
            instance: id.to_string(),
            result: actuator.set_faults(id, 0.0, Duration::ZERO).await,
        });
    }
    resets
}

/// An output path is checked before any request is sent: its folder must exist and take a new
/// file (a temporary one, removed at once), and the path must not be a folder.
pub fn check_writable(flag: &'static str, path: &Path) -> Result<(), JobError> {
    if path.is_dir() {
        return Err(JobError::OutputIsFolder {
            flag,
            path: path.to_path_buf(),
        });
    }
    tempfile::NamedTempFile::new_in(parent_of(path)).map_err(|why| {
        JobError::OutputNotWritable {
            flag,
            path: path.to_path_buf(),
            why,
        }
    })?;
    Ok(())
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Write through a temporary file beside `path`, renamed over it: a reader (or a stop) never
/// finds half a page.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut tmp = tempfile::NamedTempFile::new_in(parent_of(path))?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
