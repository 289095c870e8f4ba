//! `hale load`: typed flags, settings, and a call into [`crate::load`] (docs/commands/load.md).
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use http::header::{HeaderName, HeaderValue};
use http::Method;

use crate::balance::{HashKind, Strategy};
use crate::commands::RegistryArgs;
use crate::load::assertions::Assertion;
use crate::load::job::{self, Job};
use crate::load::plan::{self, Breaker};
use crate::load::{self, targets, Arrivals, FaultStep, Profile};
use crate::output::Printer;
use crate::stop::Stop;
use crate::usage;

use super::load_output::{cluster_error, print_ran};
use super::load_settings::{cluster_job, request, target, BreakerTuningArgs, ClusterArgs};

/// Load-test a fleet through client-side balancing and circuit breakers.
///
/// Targets: a SERVICE resolved through the registry and followed live, --endpoints, or --url.
/// Closed model with --concurrency, open model with --rate (latency then counts from the
/// intended send time). See docs/commands/load.md.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  hale load --endpoints 127.0.0.1:8081,127.0.0.1:8082 -d 5s\n  \
hale load orders --rate 500 --arrivals poisson --assert 'p99<250ms' --assert 'errors<0.1%'\n  \
hale load orders --fault at=3s,kill=orders-2 --fault at=6s,restore=orders-2 --assert 'recover<5s'"
)]
pub struct LoadArgs {
    /// Service name, resolved through the registry and followed during the run.
    #[arg(value_name = "SERVICE", conflicts_with_all = ["endpoints", "url", "merge"])]
    pub service: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Fixed instances: host:port,host:port,...
    #[arg(
        long,
        value_name = "HOST:PORT,...",
        value_delimiter = ',',
        conflicts_with = "url",
        value_parser = crate::values::endpoint
    )]
    pub endpoints: Vec<String>,
    /// One target URL (http://host:port/path or https://…).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Request path and query.
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// HTTP method.
    #[arg(short = 'X', long, default_value = "GET", value_parser = plan::parse_method)]
    pub method: Method,
    /// Request header "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = plan::parse_header)]
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Request body.
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Request body read from a file.
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// Send unary gRPC calls of this method (PACKAGE.SERVICE/METHOD) over HTTP/2 instead of
    /// HTTP requests; --body is the request message in JSON [default: {}], -H adds metadata.
    /// Without --proto the descriptors come from the target's server reflection.
    #[arg(
        long,
        value_name = "METHOD",
        conflicts_with_all = ["path", "hash_header"]
    )]
    pub grpc: Option<String>,
    /// The .proto file that defines --grpc's method (imports resolved beside it) [default:
    /// ask the target's server reflection].
    #[arg(long, value_name = "FILE", requires = "grpc")]
    pub proto: Option<PathBuf>,
    /// Closed model: connections (workers); open model: most requests in flight.
    #[arg(short, long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Open model: target requests per second.
    #[arg(short, long, value_name = "REQ/S")]
    pub rate: Option<f64>,
    /// Open model arrivals.
    #[arg(long, value_enum, default_value_t = Arrivals::Constant, requires = "rate")]
    pub arrivals: Arrivals,
    /// Open model rate profile: ramp:FROM-TO or steps:R1,R2,R3 (replaces --rate's constant).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<Profile>,
    /// How long to send (default 10s unless --requests is given).
    #[arg(short, long, value_name = "DURATION", value_parser = crate::values::positive_duration)]
    pub duration: Option<Duration>,
    /// Stop after this many requests.
    #[arg(short = 'n', long, value_name = "N")]
    pub requests: Option<u64>,
    /// Per-request timeout.
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = crate::values::positive_duration)]
    pub timeout: Duration,
    /// Balancing strategy.
    #[arg(short, long, value_enum, default_value_t = Strategy::P2cEwma)]
    pub strategy: Strategy,
    /// Consistent hashing: the header whose value is hashed (a fixed -H value, or one of
    /// --hash-keys generated keys per request).
    #[arg(long, value_name = "NAME", value_parser = plan::parse_header_name)]
    pub hash_header: Option<HeaderName>,
    /// Consistent hashing algorithm.
    #[arg(long, value_enum, default_value_t = HashKind::Ring)]
    pub hash: HashKind,
    /// Distinct generated keys for --hash-header.
    #[arg(long, default_value_t = 1000, value_name = "N", value_parser = crate::values::positive_count)]
    pub hash_keys: u32,
    /// Instance protection.
    #[arg(long, value_enum, default_value_t = Breaker::ThreeState)]
    pub breaker: Breaker,
    #[command(flatten)]
    pub tuning: BreakerTuningArgs,
    /// Retries per request on instance failures, bounded by a 20 % + 10/s retry budget.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub retries: u32,
    /// Largest share of instances ejected at once (at least one may be, at least one stays).
    #[arg(long, default_value = "50%", value_name = "PERCENT", value_parser = plan::parse_share)]
    pub max_ejected: f64,
    /// Seed of the arrival schedule and the random choices: replay a run with another strategy.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Inject a fault through the fleet: at=10s,kill=ID | at=20s,restore=ID |
    /// at=5s,error-rate=ID:0.5 | at=5s,latency=ID:200ms (repeatable).
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<FaultStep>,
    /// Service folder holding .hale/fleet.json (for --fault).
    #[arg(long, default_value = ".", value_name = "PATH")]
    pub fleet: PathBuf,
    /// Leave the error-rate and latency faults the run injected in place when it ends
    /// (by default they are reset to zero at the end, on Ctrl-C and on SIGTERM).
    #[arg(long)]
    pub keep_faults: bool,
    /// Fail (exit 99) unless this holds: p50|p90|p99|p999|max<DURATION, errors<N|P%, rps>N,
    /// recover<DURATION, open<DURATION, dead<N, share-deviation<P%, jain>X (repeatable).
    #[arg(long = "assert", value_name = "EXPR")]
    pub assertions: Vec<Assertion>,
    /// Write a report: FILE.html (or html=FILE) the self-contained page, junit=FILE one JUnit
    /// test case per --assert (repeatable).
    #[arg(long, value_name = "[FORMAT=]FILE")]
    pub report: Vec<crate::ci::ReportTarget>,
    /// Write the HDR histograms (V2, base64) per instance and in total.
    #[arg(long, value_name = "FILE")]
    pub histogram_out: Option<PathBuf>,
    /// http or https for --endpoints and for every instance of SERVICE (default: http, and
    /// each registry instance's own: meta scheme=https or the tag https).
    #[arg(long, value_enum, value_name = "SCHEME", conflicts_with = "url")]
    pub scheme: Option<targets::Scheme>,
    /// HTTPS: trust only the CA certificates in this PEM file (instead of the system's).
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub cacert: Option<PathBuf>,
    /// HTTPS: accept any server certificate (test servers only).
    #[arg(long, short = 'k')]
    pub insecure: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Merge --histogram-out files (no load is sent) and print their percentiles.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["endpoints", "url"])]
    pub merge: Vec<PathBuf>,
}

pub async fn run(args: LoadArgs, printer: &Printer, stop: &Stop) -> anyhow::Result<()> {
    if !args.merge.is_empty() {
        let merged = load::histograms::merge_report(&args.merge)?;
        printer.emit(&merged, |out| merged.write_text(out))?;
        return Ok(());
    }
    use crate::ci::ReportFormat::{Html, Junit};
    crate::ci::reports::only(&args.report, &[Html, Junit], "hale load")
        .map_err(|e| usage!("{e}"))?;
    let html = args
        .report
        .iter()
        .find(|r| r.format == Html)
        .map(|r| r.path.clone());
    if let Ok(spec) = std::env::var(load::cluster::job::SPEC_ENV) {
        // This process is one shard of an on-cluster run (a pod of its Job).
        let done = load::cluster::run_shard(request(&args)?, &spec, stop).await;
        return done.map_err(cluster_error);
    }
    if args.cluster.on_cluster {
        let job = cluster_job(&args, html)?;
        printer.status(
            "Loading",
            format!("{} on the cluster in {} shard(s)", job.target, job.shards),
        );
        let (progress, renderer) = printer.progress();
        let ran = load::cluster::run(job, &progress, stop).await;
        drop(progress);
        renderer.finish().await;
        return print_ran(ran.map_err(cluster_error)?, &args, printer);
    }
    let prepared = job::prepare(Job {
        request: request(&args)?,
        target: target(&args)?,
        cacert: args.cacert.clone(),
        insecure: args.insecure,
        fleet: args.fleet.clone(),
        keep_faults: args.keep_faults,
        html,
        histogram_out: args.histogram_out.clone(),
    })
    .await?;
    printer.status("Loading", prepared.summary());

    let (progress, renderer) = printer.progress();
    let ran = prepared.run(&progress, stop).await;
    drop(progress);
    renderer.finish().await;
    print_ran(ran, &args, printer)
}
