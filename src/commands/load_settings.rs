//! `hale load`'s settings stage: the typed flags of [`LoadArgs`] turned into the library's
//! request and target (the body file read, the registry resolved), before any request is sent.
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use clap::Args;

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::load::LoadArgs;
use crate::load::cluster::{ClusterJob, ClusterTarget, ShardImage};
use crate::load::job::TargetSpec;
use crate::load::plan::{BreakerTuning, LoadRequest};
use crate::load::targets;
use crate::usage;

/// The three-state breaker's and the adaptive throttle's tuning (flattened into `hale load`).
#[derive(Debug, Args)]
pub struct BreakerTuningArgs {
    /// Three-state: failure rate that opens the breaker.
    #[arg(long, value_name = "RATE")]
    pub breaker_failure_rate: Option<f64>,
    /// Three-state: calls in the window before the failure rate counts.
    #[arg(long, value_name = "N", value_parser = crate::values::positive_count)]
    pub breaker_min_calls: Option<u32>,
    /// Three-state: consecutive failures that open the breaker.
    #[arg(long, value_name = "N", value_parser = crate::values::positive_count)]
    pub breaker_consecutive: Option<u32>,
    /// Three-state: failure-rate window.
    #[arg(long, value_name = "DURATION", value_parser = crate::values::positive_duration)]
    pub breaker_window: Option<Duration>,
    /// Three-state: how long the breaker stays open before probing.
    #[arg(long, value_name = "DURATION", value_parser = crate::values::positive_duration)]
    pub breaker_open: Option<Duration>,
    /// Three-state: half-open probes that must succeed to close.
    #[arg(long, value_name = "N", value_parser = crate::values::positive_count)]
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
    let grpc = match &args.grpc {
        Some(method) => Some(grpc_request(args, method, &body)?),
        None => None,
    };
    let path = match (&args.path, &args.url) {
        (Some(p), _) => p.clone(),
        (None, Some(u)) => targets::url_path(u)?,
        (None, None) => "/".into(),
    };
    Ok(LoadRequest {
        grpc,
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

/// `--grpc`: the call built from `--proto` here, or what to ask the target's reflection for;
/// the method's syntax, the `-H` metadata and the body's UTF-8 checked either way.
fn grpc_request(
    args: &LoadArgs,
    method: &str,
    body: &Bytes,
) -> anyhow::Result<crate::load::grpc::GrpcRequest> {
    use crate::load::grpc::{self, GrpcCall, GrpcRequest};
    for (name, value) in &args.headers {
        grpc::metadata::check(name, value).map_err(|e| usage!("{e}"))?;
    }
    grpc::split_method(method).map_err(|e| usage!("{e}"))?;
    let json = if body.is_empty() {
        "{}"
    } else {
        std::str::from_utf8(body).map_err(|_| usage!("--body is not UTF-8 JSON"))?
    };
    let Some(proto) = &args.proto else {
        return Ok(GrpcRequest::Reflect {
            method: method.to_string(),
            json: json.to_string(),
            metadata: args.headers.clone(),
        });
    };
    let source = crate::userfile::read_to_string(proto, crate::userfile::Limit::SOURCE)
        .map_err(|e| usage!("--proto {}: {e}", proto.display()))?;
    let mut call = GrpcCall::build(proto, &source, method, json).map_err(|e| usage!("{e}"))?;
    call.metadata = args.headers.clone();
    Ok(GrpcRequest::Call(call))
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

/// `hale load --on-cluster`'s flags (flattened into `hale load`).
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Run the load from the cluster: SERVICE is the name of a Kubernetes Service in
    /// --namespace (its ready pods followed live through its EndpointSlices) or, with --registry
    /// consul://HOST:PORT or etcd://HOST:PORT as the pods reach it, a registry's service that
    /// every shard follows itself; or --url an http:// or https:// URL as the pods see it
    /// (https: the shards trust --cacert, or this machine's system roots). The plan is split
    /// into --shards pods of one Indexed Job, their results merged into one report.
    #[arg(long)]
    pub on_cluster: bool,
    /// --on-cluster: how many pods (shards) share the plan.
    #[arg(long, default_value_t = 1, value_name = "N", requires = "on_cluster", value_parser = crate::values::positive_count)]
    pub shards: u32,
    /// --on-cluster: the repository (host[:port]/path) the shard image of hale is pushed to.
    #[arg(long, value_name = "REPOSITORY", requires = "on_cluster")]
    pub shard_registry: Option<String>,
    /// --on-cluster: a hale image the nodes can pull already (instead of --shard-registry).
    #[arg(
        long,
        value_name = "IMAGE",
        requires = "on_cluster",
        conflicts_with = "shard_registry",
        value_parser = crate::values::image_reference
    )]
    pub shard_image: Option<String>,
    /// --on-cluster: a node label the shard pods must match, KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE", requires = "on_cluster")]
    pub shard_node_selector: Vec<String>,
    /// --on-cluster: report the shards that ran when others fail (exit 0 unless the rest fails).
    #[arg(long, requires = "on_cluster")]
    pub allow_shard_failures: bool,
    /// --on-cluster: the kubeconfig file (replaces KUBECONFIG and ~/.kube/config).
    #[arg(long, value_name = "FILE", requires = "on_cluster")]
    pub kubeconfig: Option<PathBuf>,
    /// --on-cluster: the kubeconfig context [default: its current-context].
    #[arg(long, value_name = "NAME", requires = "on_cluster")]
    pub context: Option<String>,
    /// --on-cluster: the namespace of the Service and of the shards' Job [default: the
    /// context's, then `default`].
    #[arg(long, value_name = "NAME", requires = "on_cluster")]
    pub namespace: Option<String>,
}

/// The on-cluster job from the flags; what the cluster path cannot do yet is refused here.
pub(super) fn cluster_job(args: &LoadArgs, html: Option<PathBuf>) -> anyhow::Result<ClusterJob> {
    let c = &args.cluster;
    if args.grpc.is_some() {
        return Err(crate::exit::NotImplemented("load --grpc --on-cluster").into());
    }
    let target = match (&args.service, &args.url) {
        (Some(service), None) => {
            crate::names::validate_service_name(service)?;
            match &args.registry.url.registry {
                Some(text) => {
                    let url = crate::discovery::RegistryUrl::parse(text)?;
                    crate::load::cluster::registry::check(&url).map_err(|e| usage!("{e}"))?;
                    ClusterTarget::Registry {
                        service: service.clone(),
                        url: url.to_string(),
                        layout: args.registry.layout,
                    }
                }
                None => ClusterTarget::Service(service.clone()),
            }
        }
        (None, Some(url)) => {
            let https = crate::load::cluster::check_url(url).map_err(|e| usage!("{e}"))?;
            if !https && (args.cacert.is_some() || args.insecure) {
                return Err(usage!(
                    "--cacert and --insecure with --on-cluster are for an https:// --url"
                ));
            }
            if https {
                // The --cacert file checked as a local run checks it, before anything is said.
                let trust = crate::load::tls::Trust::from_flags(args.cacert.as_deref(), args.insecure);
                crate::load::tls::TlsClient::new(&trust).map_err(|e| usage!("{e}"))?;
            }
            ClusterTarget::Url(url.clone())
        }
        (Some(_), Some(_)) => {
            return Err(usage!(
                "--on-cluster takes a SERVICE or --url, not both"
            ))
        }
        (None, None) => {
            return Err(usage!(
                "--on-cluster needs a SERVICE (the name of a Kubernetes Service) or --url http[s]://HOST:PORT/PATH as the pods see it"
            ))
        }
    };
    if args.url.is_some() && args.registry.url.registry.is_some() {
        return Err(usage!(
            "--registry with --url and --on-cluster: the shards send to the URL; give SERVICE with --registry, or --url alone"
        ));
    }
    if matches!(target, ClusterTarget::Service(_)) {
        for (given, flag) in [
            (args.cacert.is_some(), "--cacert"),
            (args.insecure, "--insecure"),
        ] {
            if given {
                return Err(usage!(
                    "{flag} with a SERVICE and --on-cluster: the shards load its pods over http; {flag} is for an https:// --url"
                ));
            }
        }
    }
    for (given, flag) in [
        (!args.endpoints.is_empty(), "--endpoints"),
        (args.body_file.is_some(), "--body-file"),
        (args.scheme.is_some(), "--scheme"),
    ] {
        if given {
            return Err(usage!(
                "{flag} with --on-cluster: not implemented (the shards load a Service's ready pods over http, a registry's SERVICE, or one --url)"
            ));
        }
    }
    let image = match (&c.shard_image, &c.shard_registry) {
        (Some(image), _) => ShardImage::Given(image.clone()),
        (None, Some(repository)) => ShardImage::Build {
            repository: repository.clone(),
            registry: crate::image::distribution::RegistryOptions {
                certs_dirs: crate::image::distribution::RegistryOptions::docker_certs_dirs(
                    std::env::var("HOME").ok().as_deref(),
                    std::env::var("XDG_CONFIG_HOME").ok().as_deref(),
                ),
                ..Default::default()
            },
            docker_config: crate::engine::docker_config_dir(&|k| std::env::var(k).ok()),
        },
        (None, None) => {
            return Err(usage!(
                "--on-cluster needs --shard-registry HOST[:PORT]/PATH (where the shard image is pushed) or --shard-image IMAGE"
            ))
        }
    };
    let mut node_selector = BTreeMap::new();
    for pair in &c.shard_node_selector {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(usage!("--shard-node-selector {pair:?}: give KEY=VALUE"));
        };
        node_selector.insert(k.to_string(), v.to_string());
    }
    if c.context.as_deref() == Some("") || c.namespace.as_deref() == Some("") {
        return Err(usage!("--context and --namespace cannot be empty"));
    }
    // The shards get the flags as given (after `load`), so they plan exactly what the CLI did.
    let shard_args = std::env::args()
        .skip_while(|a| a != "load")
        .skip(1)
        .collect();
    let request = request(args)?;
    crate::load::cluster::check_fault_kinds(&request.faults).map_err(|e| usage!("{e}"))?;
    if let (ClusterTarget::Url(_), Some(step)) = (&target, request.faults.first()) {
        return Err(usage!(
            "--fault {step} with --url: faults act on the pods behind a Service; give the SERVICE name instead of --url"
        ));
    }
    if let (ClusterTarget::Registry { .. }, Some(step)) = (&target, request.faults.first()) {
        return Err(usage!(
            "--fault {step} with --registry: faults act on the pods behind a Kubernetes Service; give the SERVICE without --registry"
        ));
    }
    Ok(ClusterJob {
        request,
        target,
        kube: crate::kube::Target {
            kubeconfig: c.kubeconfig.clone(),
            context: c.context.clone(),
            namespace: c.namespace.clone(),
        },
        shards: c.shards,
        image,
        allow_shard_failures: c.allow_shard_failures,
        node_selector,
        args: shard_args,
        html,
        histogram_out: args.histogram_out.clone(),
        cacert: args.cacert.clone(),
        insecure: args.insecure,
        keep_faults: args.keep_faults,
    })
}
