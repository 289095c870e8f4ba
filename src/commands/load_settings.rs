//! `hale load`'s settings stage: the typed flags of [`LoadArgs`] turned into the library's
//! request and target (the body file read, the registry resolved), before any request is sent.
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use clap::Args;

use super::load::LoadArgs;
use crate::load::job::TargetSpec;
use crate::load::plan::{BreakerTuning, LoadRequest};
use crate::load::targets;
use crate::settings::parse_duration;
use crate::usage;

/// The three-state breaker's and the adaptive throttle's tuning (flattened into `hale load`).
#[derive(Debug, Args)]
pub struct BreakerTuningArgs {
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
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub breaker_window: Option<Duration>,
    /// Three-state: how long the breaker stays open before probing.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub breaker_open: Option<Duration>,
    /// Three-state: half-open probes that must succeed to close.
    #[arg(long, value_name = "N")]
    pub breaker_probes: Option<u32>,
    /// Adaptive: K in max(0, (requests − K·accepts)/(requests + 1)).
    #[arg(long, value_name = "K")]
    pub adaptive_k: Option<f64>,
}

/// The typed flags as the library's request; the body file is read here.
pub(super) fn request(args: &LoadArgs) -> anyhow::Result<LoadRequest> {
    let body = match (&args.body, &args.body_file) {
        (Some(b), _) => Bytes::from(b.clone()),
        (None, Some(path)) => Bytes::from(
            crate::userfile::read(path, crate::userfile::Limit::BODY)
                .map_err(|e| usage!("--body-file {}: {e}", path.display()))?,
        ),
        (None, None) => Bytes::new(),
    };
    let path = match (&args.path, &args.url) {
        (Some(p), _) => p.clone(),
        (None, Some(u)) => targets::url_path(u)?,
        (None, None) => "/".into(),
    };
    Ok(LoadRequest {
        method: args.method.clone(),
        path,
        headers: args.headers.clone(),
        body,
        concurrency: args.concurrency,
        rate: args.rate,
        arrivals: args.arrivals,
        profile: args.profile.clone(),
        duration: args.duration,
        requests: args.requests,
        timeout: args.timeout,
        strategy: args.strategy,
        hash_header: args.hash_header.clone(),
        hash: args.hash,
        hash_keys: args.hash_keys,
        breaker: args.breaker,
        tuning: BreakerTuning {
            failure_rate: args.tuning.breaker_failure_rate,
            min_calls: args.tuning.breaker_min_calls,
            consecutive: args.tuning.breaker_consecutive,
            window: args.tuning.breaker_window,
            open_for: args.tuning.breaker_open,
            probes: args.tuning.breaker_probes,
            adaptive_k: args.tuning.adaptive_k,
        },
        retries: args.retries,
        max_ejected: args.max_ejected,
        seed: args.seed,
        faults: args.faults.clone(),
        assertions: args.assertions.clone(),
    })
}

/// Where the flags say to send; a SERVICE's registry is resolved here (settings).
pub(super) fn target(args: &LoadArgs) -> anyhow::Result<TargetSpec> {
    if let Some(u) = &args.url {
        Ok(TargetSpec::Url(u.clone()))
    } else if !args.endpoints.is_empty() {
        Ok(TargetSpec::Endpoints {
            list: args.endpoints.clone(),
            scheme: args.scheme.unwrap_or(targets::Scheme::Http),
        })
    } else if let Some(service) = &args.service {
        crate::names::validate_service_name(service)?;
        let cwd = std::env::current_dir().context("reading the current folder")?;
        Ok(TargetSpec::Service {
            name: service.clone(),
            registry: args.registry.url.resolve(&cwd)?,
            layout: args.registry.layout,
            scheme: args.scheme,
        })
    } else {
        Err(usage!(
            "nothing to load: give a SERVICE name, --endpoints HOST:PORT,... or --url URL"
        ))
    }
}
