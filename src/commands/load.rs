//! `hale load`: arguments, settings and a call into [`crate::load`]; the renderer for the live
//! view lives here too (workers never print).
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use clap::Args;
use http::header::{HeaderName, HeaderValue};
use http::Method;

use crate::balance::{BalanceOptions, HashKind, Strategy};
use crate::breaker::{AdaptiveConfig, BreakerConfig};
use crate::discovery;
use crate::load::assertions::Assertion;
use crate::load::report::{Percentiles, TargetInfo};
use crate::load::{
    self, Arrivals, Endpoint, FaultStep, HashOptions, LoadOptions, Model, Profile, Protection,
    Report, Targets,
};
use crate::output::Printer;
use crate::settings::{self, Overrides};
use crate::stop::Stop;
use crate::usage;

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
    /// Registry URL (consul://, etcd://, file://); default from HALE_REGISTRY, hale.toml, or
    /// the embedded file registry.
    #[arg(long, value_name = "URL")]
    pub registry: Option<String>,
    /// Fixed instances: host:port,host:port,...
    #[arg(
        long,
        value_name = "HOST:PORT,...",
        value_delimiter = ',',
        conflicts_with = "url"
    )]
    pub endpoints: Vec<String>,
    /// One target URL (http://host:port/path).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Request path and query.
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// HTTP method.
    #[arg(short = 'X', long, default_value = "GET")]
    pub method: String,
    /// Request header "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Request body.
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Request body read from a file.
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// Closed model: connections (workers); open model: most requests in flight.
    #[arg(short, long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Open model: target requests per second.
    #[arg(short, long, value_name = "REQ/S")]
    pub rate: Option<f64>,
    /// Open model arrivals: constant or poisson.
    #[arg(long, default_value = "constant", requires = "rate")]
    pub arrivals: String,
    /// Open model rate profile: ramp:FROM-TO or steps:R1,R2,R3 (replaces --rate's constant).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// How long to send (default 10s unless --requests is given).
    #[arg(short, long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Stop after this many requests.
    #[arg(short = 'n', long, value_name = "N")]
    pub requests: Option<u64>,
    /// Per-request timeout.
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub timeout: String,
    /// Balancing: round-robin, weighted-round-robin, least-connections, p2c-ewma, random,
    /// consistent-hash.
    #[arg(short, long, default_value = "p2c-ewma")]
    pub strategy: String,
    /// Consistent hashing: the header whose value is hashed (a fixed -H value, or one of
    /// --hash-keys generated keys per request).
    #[arg(long, value_name = "NAME")]
    pub hash_header: Option<String>,
    /// Consistent hashing algorithm: ring or jump.
    #[arg(long, default_value = "ring")]
    pub hash: String,
    /// Distinct generated keys for --hash-header.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub hash_keys: u32,
    /// Instance protection: three-state, adaptive (SRE client-side throttling) or off.
    #[arg(long, default_value = "three-state")]
    pub breaker: String,
    /// Three-state: failure rate that opens the breaker.
    #[arg(long, value_name = "RATE")]
    pub breaker_failure_rate: Option<f64>,
    /// Three-state: calls in the window before the failure rate counts.
    #[arg(long, value_name = "N")]
    pub breaker_min_calls: Option<u32>,
    /// Three-state: consecutive failures that open the breaker.
    #[arg(long, value_name = "N")]
    pub breaker_consecutive: Option<u32>,
    /// Three-state: failure-rate window.
    #[arg(long, value_name = "DURATION")]
    pub breaker_window: Option<String>,
    /// Three-state: how long the breaker stays open before probing.
    #[arg(long, value_name = "DURATION")]
    pub breaker_open: Option<String>,
    /// Three-state: half-open probes that must succeed to close.
    #[arg(long, value_name = "N")]
    pub breaker_probes: Option<u32>,
    /// Adaptive: K in max(0, (requests − K·accepts)/(requests + 1)).
    #[arg(long, value_name = "K")]
    pub adaptive_k: Option<f64>,
    /// Retries per request on instance failures, bounded by a 20 % + 10/s retry budget.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub retries: u32,
    /// Largest share of instances ejected at once (at least one may be, at least one stays).
    #[arg(long, default_value = "50%", value_name = "PERCENT")]
    pub max_ejected: String,
    /// Seed of the arrival schedule and the random choices: replay a run with another strategy.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Inject a fault through the fleet: at=10s,kill=ID | at=20s,restore=ID |
    /// at=5s,error-rate=ID:0.5 | at=5s,latency=ID:200ms (repeatable).
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<String>,
    /// Service folder holding .hale/fleet.json (for --fault).
    #[arg(long, default_value = ".", value_name = "PATH")]
    pub fleet: PathBuf,
    /// Fail (exit 1) unless this holds: p50|p90|p99|p999|max<DURATION, errors<N|P%, rps>N,
    /// recover<DURATION, open<DURATION, dead<N, share-deviation<P%, jain>X (repeatable).
    #[arg(long = "assert", value_name = "EXPR")]
    pub assertions: Vec<String>,
    /// Write a self-contained HTML report.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Write the HDR histograms (V2, base64) per instance and in total.
    #[arg(long, value_name = "FILE")]
    pub histogram_out: Option<PathBuf>,
    /// Merge --histogram-out files (no load is sent) and print their percentiles.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["endpoints", "url"])]
    pub merge: Vec<PathBuf>,
}

fn parse_duration_flag(flag: &str, text: &str) -> anyhow::Result<Duration> {
    settings::parse_duration(text).map_err(|e| usage!("--{flag}: {e}"))
}

fn parse_percent(flag: &str, text: &str) -> anyhow::Result<f64> {
    let value = match text.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => text.parse::<f64>(),
    }
    .map_err(|_| usage!("--{flag} {text:?} is not a share: write 50% or 0.5"))?;
    if !(0.0..=1.0).contains(&value) {
        return Err(usage!("--{flag} {text:?} must be between 0% and 100%"));
    }
    Ok(value)
}

fn resolve_addr(text: &str) -> anyhow::Result<SocketAddr> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| usage!("endpoint {text:?} is not host:port, e.g. 127.0.0.1:8080"))?;
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(usage!(
            "endpoint {text:?} is not host:port with a port from 1 to 65535"
        ));
    }
    text.to_socket_addrs()
        .map_err(|e| usage!("endpoint {text:?} does not resolve: {e}"))?
        .next()
        .ok_or_else(|| usage!("endpoint {text:?} resolves to no address"))
}

/// Flags turned into the library's options, all checked before any I/O (exit 2 on a mistake).
struct Plan {
    options: LoadOptions,
    assertions: Vec<Assertion>,
}

fn plan(args: &LoadArgs) -> anyhow::Result<Plan> {
    let assertions = args
        .assertions
        .iter()
        .map(|a| a.parse::<Assertion>().map_err(|e| usage!("{e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let method = Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| usage!("--method {:?} is not an HTTP method", args.method))?;
    let mut headers = Vec::new();
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| usage!("--header {h:?} is not \"Name: value\""))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| usage!("--header {h:?}: {:?} is not a header name", name.trim()))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| usage!("--header {h:?}: the value has characters HTTP does not allow"))?;
        headers.push((name, value));
    }
    let body = match (&args.body, &args.body_file) {
        (Some(b), _) => Bytes::from(b.clone()),
        (None, Some(path)) => Bytes::from(
            std::fs::read(path).map_err(|e| usage!("--body-file {}: {e}", path.display()))?,
        ),
        (None, None) => Bytes::new(),
    };
    let duration = args
        .duration
        .as_deref()
        .map(|d| parse_duration_flag("duration", d))
        .transpose()?;
    if duration.is_some_and(|d| d.is_zero()) {
        return Err(usage!("--duration must be above 0"));
    }
    if args.requests == Some(0) {
        return Err(usage!("--requests must be above 0"));
    }
    let duration = match (duration, args.requests) {
        (None, None) => Some(Duration::from_secs(10)),
        (d, _) => d,
    };
    if duration.is_some_and(|d| d > load::HARD_CAP) {
        return Err(usage!("--duration is capped at 1h"));
    }
    let timeout = parse_duration_flag("timeout", &args.timeout)?;
    if timeout.is_zero() {
        return Err(usage!("--timeout must be above 0"));
    }
    let profile = args
        .profile
        .as_deref()
        .map(|p| p.parse::<Profile>().map_err(|e| usage!("--profile: {e}")))
        .transpose()?;
    if let Some(c) = args.concurrency {
        if c == 0 || c > 10_000 {
            return Err(usage!("--concurrency must be from 1 to 10000"));
        }
    }
    let model = match (args.rate, &profile) {
        (None, None) => Model::Closed {
            concurrency: args.concurrency.unwrap_or(50),
        },
        (rate, profile) => {
            let rate = rate.unwrap_or(0.0);
            if args.rate.is_some() && !(rate.is_finite() && rate > 0.0) {
                return Err(usage!("--rate must be above 0 requests/s"));
            }
            let profile = profile.clone().unwrap_or(Profile::Constant);
            let peak = match &profile {
                Profile::Constant => rate,
                Profile::Ramp { from, to } => from.max(*to),
                Profile::Steps(s) => s.iter().cloned().fold(0.0, f64::max),
            };
            // With only --requests, the schedule runs until that many arrivals.
            let d = duration.unwrap_or(load::HARD_CAP);
            let scheduled = (peak * d.as_secs_f64()).min(args.requests.unwrap_or(u64::MAX) as f64);
            if scheduled > load::schedule::MAX_SCHEDULED as f64 {
                return Err(usage!(
                    "--rate × --duration schedules more than {} requests: shorten the run",
                    load::schedule::MAX_SCHEDULED
                ));
            }
            Model::Open {
                rate,
                arrivals: args
                    .arrivals
                    .parse::<Arrivals>()
                    .map_err(|e| usage!("--arrivals: {e}"))?,
                profile,
                concurrency: args.concurrency.unwrap_or(256),
            }
        }
    };
    let strategy: Strategy = args
        .strategy
        .parse()
        .map_err(|e| usage!("--strategy: {e}"))?;
    let hash = match &args.hash_header {
        Some(h) => Some(HashOptions {
            header: HeaderName::from_bytes(h.as_bytes())
                .map_err(|_| usage!("--hash-header {h:?} is not a header name"))?,
            keys: args.hash_keys.max(1),
        }),
        None if strategy == Strategy::ConsistentHash => {
            return Err(usage!(
                "--strategy consistent-hash needs --hash-header NAME (the header to hash)"
            ))
        }
        None => None,
    };
    let balance = BalanceOptions {
        strategy,
        hash: args
            .hash
            .parse::<HashKind>()
            .map_err(|e| usage!("--hash: {e}"))?,
        ..Default::default()
    };
    let mut breaker = BreakerConfig::default();
    if let Some(r) = args.breaker_failure_rate {
        if !(r > 0.0 && r <= 1.0) {
            return Err(usage!("--breaker-failure-rate must be in (0, 1]"));
        }
        breaker.failure_rate = r;
    }
    if let Some(n) = args.breaker_min_calls {
        breaker.minimum_calls = n.max(1);
    }
    if let Some(n) = args.breaker_consecutive {
        breaker.consecutive_failures = n.max(1);
    }
    if let Some(d) = &args.breaker_window {
        breaker.window = parse_duration_flag("breaker-window", d)?;
    }
    if let Some(d) = &args.breaker_open {
        breaker.open_for = parse_duration_flag("breaker-open", d)?;
    }
    if let Some(n) = args.breaker_probes {
        breaker.half_open_probes = n.max(1);
    }
    let protection = match args.breaker.as_str() {
        "three-state" | "on" => Protection::Breaker(breaker),
        "adaptive" => {
            let mut c = AdaptiveConfig::default();
            if let Some(k) = args.adaptive_k {
                if !(k >= 1.0 && k.is_finite()) {
                    return Err(usage!(
                        "--adaptive-k must be at least 1 (2 is the SRE book's)"
                    ));
                }
                c.k = k;
            }
            Protection::Adaptive(c)
        }
        "off" | "none" => Protection::None,
        other => {
            return Err(usage!(
                "--breaker {other:?}: use three-state, adaptive or off"
            ))
        }
    };
    let faults = args
        .faults
        .iter()
        .map(|f| f.parse::<FaultStep>().map_err(|e| usage!("--fault: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let path = match (&args.path, &args.url) {
        (Some(p), _) => p.clone(),
        (None, Some(u)) => {
            let url = url::Url::parse(u).map_err(|e| usage!("--url {u:?}: {e}"))?;
            let mut p = url.path().to_string();
            if let Some(q) = url.query() {
                p.push('?');
                p.push_str(q);
            }
            p
        }
        (None, None) => "/".into(),
    };
    if !path.starts_with('/') || path.parse::<http::Uri>().is_err() {
        return Err(usage!(
            "--path {path:?} must start with / and be a valid request path"
        ));
    }
    Ok(Plan {
        options: LoadOptions {
            method,
            path,
            headers,
            body,
            model,
            duration,
            requests: args.requests,
            timeout,
            balance,
            hash,
            protection,
            retries: args.retries,
            max_ejected: parse_percent("max-ejected", &args.max_ejected)?,
            seed: args.seed,
            faults,
            ..Default::default()
        },
        assertions,
    })
}

pub async fn run(args: LoadArgs, printer: &Printer, stop: &Stop) -> anyhow::Result<()> {
    if !args.merge.is_empty() {
        return merge(&args.merge, printer);
    }
    let Plan {
        options,
        assertions,
    } = plan(&args)?;

    let (targets, target_info) = if let Some(u) = &args.url {
        let url = url::Url::parse(u).map_err(|e| usage!("--url {u:?}: {e}"))?;
        if url.scheme() != "http" {
            return Err(usage!("--url {u:?}: only http:// is supported"));
        }
        let host = url
            .host_str()
            .ok_or_else(|| usage!("--url {u:?} has no host"))?;
        let port = url.port_or_known_default().unwrap_or(80);
        let host_port = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let addr = resolve_addr(&host_port)?;
        (
            Targets::Fixed(vec![Endpoint {
                id: host_port,
                addr,
                weight: 1,
                check_id: false,
            }]),
            TargetInfo {
                kind: "url".into(),
                service: None,
                registry: None,
                method: options.method.to_string(),
                path: options.path.clone(),
            },
        )
    } else if !args.endpoints.is_empty() {
        let mut list = Vec::new();
        for e in args
            .endpoints
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
        {
            let addr = resolve_addr(e)?;
            if list.iter().any(|x: &Endpoint| x.addr == addr) {
                return Err(usage!("--endpoints lists {e} twice"));
            }
            list.push(Endpoint {
                id: e.to_string(),
                addr,
                weight: 1,
                check_id: false,
            });
        }
        if list.is_empty() {
            return Err(usage!("--endpoints is empty: give host:port,host:port"));
        }
        (
            Targets::Fixed(list),
            TargetInfo {
                kind: "endpoints".into(),
                service: None,
                registry: None,
                method: options.method.to_string(),
                path: options.path.clone(),
            },
        )
    } else if let Some(service) = &args.service {
        let cwd = std::env::current_dir().context("reading the current folder")?;
        let settings = settings::resolve(
            &cwd,
            Overrides {
                registry: args.registry.clone(),
                ..Default::default()
            },
            &settings::process_env,
        )?;
        let url = discovery::RegistryUrl::parse(&settings.registry)?;
        crate::names::validate_service_name(service)?;
        let instances = discovery::follow(&url, service)
            .await
            .with_context(|| format!("following {service} in {}", settings.registry))?;
        if instances.borrow().is_empty() {
            return Err(usage!(
                "no instances of service {service:?} in {} (check the name with `hale discover {service}`, or start it with `hale up`)",
                settings.registry
            ));
        }
        (
            Targets::Live(endpoints_of(instances).await?),
            TargetInfo {
                kind: "service".into(),
                service: Some(service.clone()),
                registry: Some(settings.registry.clone()),
                method: options.method.to_string(),
                path: options.path.clone(),
            },
        )
    } else {
        return Err(usage!(
            "nothing to load: give a SERVICE name, --endpoints HOST:PORT,... or --url URL"
        ));
    };

    let actuator: Option<Arc<dyn load::FaultActuator>> = if options.faults.is_empty() {
        None
    } else {
        let fleet_file = args.fleet.join(".hale/fleet.json");
        if !fleet_file.is_file() {
            return Err(usage!(
                "--fault needs a local fleet: no {} (run `hale up` in the service folder, or pass --fleet PATH)",
                fleet_file.display()
            ));
        }
        let actuator = load::fleet_faults::FleetActuator::open(args.fleet.clone())
            .with_context(|| format!("reading {}", fleet_file.display()))?;
        let known = load::FaultActuator::instances(&actuator);
        load::faults::validate_plan(&options.faults, &known, options.duration)
            .map_err(|e| usage!("--{e}"))?;
        Some(Arc::new(actuator))
    };

    printer.status(
        "Loading",
        format!(
            "{} {} for {} ({}, {})",
            target_info.method,
            target_info.path,
            options
                .duration
                .map(|d| humantime::format_duration(d).to_string())
                .unwrap_or_else(|| format!("{} requests", options.requests.unwrap_or(0))),
            options.balance.strategy,
            options.protection.name()
        ),
    );

    let (progress, renderer) = printer.progress();
    let outcome = load::run(options.clone(), targets, actuator, &progress, stop).await;
    drop(progress);
    renderer.finish().await;
    let outcome = outcome?;

    let report = Report::build(&outcome, &options, target_info, &assertions);
    if let Some(path) = &args.histogram_out {
        let file = load::histograms::export(&outcome)?;
        load::histograms::write(path, &file)?;
        printer.status("Wrote", format!("histograms to {}", path.display()));
    }
    if let Some(path) = &args.report {
        let page = load::html::render(&report);
        std::fs::write(path, page).with_context(|| format!("writing {}", path.display()))?;
        printer.status("Wrote", format!("HTML report to {}", path.display()));
    }
    printer.emit(&report, |out| report.write_text(out))?;
    if outcome.interrupted {
        return Err(crate::exit::Interrupted.into());
    }
    let failed: Vec<&str> = report
        .assertions
        .iter()
        .filter(|a| !a.passed)
        .map(|a| a.assertion.as_str())
        .collect();
    if !failed.is_empty() {
        anyhow::bail!("assertion failed: {}", failed.join(", "));
    }
    Ok(())
}

/// A registry instance as a load target: its address resolved, its weight from meta "weight".
async fn endpoint_of(instance: &discovery::Instance) -> Option<Endpoint> {
    let host_port = instance.endpoint();
    let addr = match host_port.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => tokio::net::lookup_host(&host_port).await.ok()?.next()?,
    };
    Some(Endpoint {
        id: instance.id.clone(),
        addr,
        weight: instance
            .meta
            .get("weight")
            .and_then(|w| w.parse::<u32>().ok())
            .filter(|&w| w > 0)
            .unwrap_or(1),
        check_id: true,
    })
}

/// Follow the registry's view as load targets, until the run drops the receiver.
async fn endpoints_of(
    mut instances: tokio::sync::watch::Receiver<Vec<discovery::Instance>>,
) -> anyhow::Result<tokio::sync::watch::Receiver<Vec<Endpoint>>> {
    async fn convert(list: &[discovery::Instance]) -> Vec<Endpoint> {
        let mut out = Vec::with_capacity(list.len());
        for i in list {
            if let Some(e) = endpoint_of(i).await {
                out.push(e);
            }
        }
        out
    }
    let first = convert(&instances.borrow_and_update().clone()).await;
    let (tx, rx) = tokio::sync::watch::channel(first);
    tokio::spawn(async move {
        while instances.changed().await.is_ok() {
            let list = instances.borrow_and_update().clone();
            if tx.send(convert(&list).await).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// The one renderer of the live view: a spinner line on stderr.
#[derive(serde::Serialize)]
struct MergeDoc {
    schema: &'static str,
    files: usize,
    total: Percentiles,
    instances: std::collections::BTreeMap<String, Percentiles>,
}

fn merge(paths: &[PathBuf], printer: &Printer) -> anyhow::Result<()> {
    let (total, instances) = load::histograms::merge(paths)?;
    let doc = MergeDoc {
        schema: "hale.load.merge/v1",
        files: paths.len(),
        total: Percentiles::of(&total),
        instances: instances
            .iter()
            .map(|(id, h)| (id.clone(), Percentiles::of(h)))
            .collect(),
    };
    printer.emit(&doc, |out| {
        writeln!(
            out,
            "{:<24} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "latency ms", "count", "p50", "p90", "p99", "p99.9", "max"
        )?;
        let row = |out: &mut dyn std::io::Write, name: &str, p: &Percentiles| {
            writeln!(
                out,
                "{name:<24} {:>10} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                p.count, p.p50, p.p90, p.p99, p.p999, p.max
            )
        };
        row(out, "total", &doc.total)?;
        for (id, p) in &doc.instances {
            row(out, id, p)?;
        }
        Ok(())
    })?;
    Ok(())
}
