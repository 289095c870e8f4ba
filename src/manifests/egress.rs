//! The egress a service needs by its own settings, for the NetworkPolicy: cluster DNS, the
//! registry it registers in, the OTLP endpoint it exports spans to, the downstreams it calls —
//! each derived from the values the pods are configured with (the registry URL and the
//! ConfigMap's environment), so the policy allows exactly what the configuration dials and
//! nothing else.
//!
//! A NetworkPolicy names pods, namespaces and IP blocks, never host names, so each address
//! becomes the narrowest peer it can: a cluster Service name (`NAME`, `NAME.NS.svc[.DOMAIN]`)
//! its namespace on that port, an IP address its /32 (/128), and any other host name the port
//! towards every address ([`Peer::AnyAddress`]). A Service's port is taken to be its pods' port,
//! as a policy matches the pod's port after the Service's translation.
use std::net::IpAddr;

use super::Spec;

/// Where one allowed egress goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// The cluster's DNS: pods labelled `k8s-app=kube-dns` in `kube-system`, port 53 over UDP
    /// and TCP (CoreDNS keeps kube-dns' label).
    ClusterDns,
    /// Pods of a namespace (`None`: the service's own) on a TCP port: a Service by its cluster
    /// DNS name.
    Namespace {
        namespace: Option<String>,
        port: u16,
    },
    /// One address (`10.0.0.7/32`, `fd00::7/128`) on a TCP port.
    Address { cidr: String, port: u16 },
    /// A TCP port on any address: a host name outside the cluster, which a NetworkPolicy cannot
    /// name.
    AnyAddress { port: u16 },
    /// The pods of another hale service in the same namespace (`app.kubernetes.io/name`), on
    /// any port.
    Service { name: String },
}

/// One allowed egress and the setting it comes from (`registry consul://…`, `[deploy.env]
/// OTEL_EXPORTER_OTLP_ENDPOINT`, `--downstream payments`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Egress {
    pub because: String,
    pub to: Peer,
}

/// The OTLP endpoint variables the generated service reads, the per-signal one first (it wins).
const OTLP_ENDPOINTS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];

/// Everything `spec`'s service dials, in a stable order, without duplicates.
pub fn needed(spec: &Spec) -> Vec<Egress> {
    let mut out = vec![Egress {
        because: "DNS".into(),
        to: Peer::ClusterDns,
    }];
    let mut add = |because: String, to: Option<Peer>| {
        if let Some(to) = to {
            if !out.iter().any(|e| e.to == to) {
                out.push(Egress { because, to });
            }
        }
    };
    let env = |k: &str| {
        spec.env
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    for url in spec
        .registry
        .iter()
        .map(String::as_str)
        .chain(env("DOWNSTREAM_REGISTRY"))
    {
        if let Some((_, addr)) = url.split_once("://") {
            let peer = crate::discovery::split_host_port(addr.trim_end_matches('/'))
                .and_then(|(host, port)| peer(&host, port));
            add(format!("registry {url}"), peer);
        }
    }
    if exports_spans(spec) {
        if let Some((key, value)) = OTLP_ENDPOINTS.iter().find_map(|k| env(k).map(|v| (*k, v))) {
            add(format!("[deploy.env] {key}"), otlp_peer(value));
        }
    }
    let named = spec
        .downstreams
        .iter()
        .map(|d| (format!("downstream {d}"), d.clone()))
        .chain(
            env("DOWNSTREAM_SERVICE")
                .map(|d| ("[deploy.env] DOWNSTREAM_SERVICE".to_string(), d.to_string())),
        );
    for (because, name) in named {
        add(because, Some(Peer::Service { name }));
    }
    for addr in env("DOWNSTREAM_ENDPOINTS")
        .into_iter()
        .flat_map(|v| v.split(','))
    {
        let peer = crate::discovery::split_host_port(addr.trim())
            .and_then(|(host, port)| peer(&host, port));
        add(
            format!("[deploy.env] DOWNSTREAM_ENDPOINTS {}", addr.trim()),
            peer,
        );
    }
    out
}

/// Whether the pods export spans over OTLP: not with `OTEL_SDK_DISABLED=true`, nor with an
/// `OTEL_TRACES_EXPORTER` that does not name `otlp` (the service's own rules, README.md).
fn exports_spans(spec: &Spec) -> bool {
    let env = |k: &str| spec.env.get(k).map(|v| v.trim().to_ascii_lowercase());
    if env("OTEL_SDK_DISABLED").as_deref() == Some("true") {
        return false;
    }
    env("OTEL_TRACES_EXPORTER")
        .filter(|v| !v.is_empty())
        .is_none_or(|v| v.split(',').any(|e| e.trim() == "otlp"))
}

/// An OTLP endpoint, `http(s)://host[:port][/path]` or a bare `host:port` (gRPC): without a
/// port, the scheme's (80, 443).
fn otlp_peer(value: &str) -> Option<Peer> {
    if let Ok(url) = url::Url::parse(value) {
        if let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) {
            return peer(host, port);
        }
    }
    crate::discovery::split_host_port(value).and_then(|(host, port)| peer(&host, port))
}

/// The narrowest peer for `host:port`; `None` for loopback, which no NetworkPolicy governs.
fn peer(host: &str, port: u16) -> Option<Peer> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        if ip.is_loopback() {
            return None;
        }
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        return Some(Peer::Address {
            cidr: format!("{ip}/{bits}"),
            port,
        });
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" {
        return None;
    }
    let labels: Vec<&str> = host.split('.').collect();
    match labels.as_slice() {
        // A Service of the pod's own namespace, found through the search path.
        [_] => Some(Peer::Namespace {
            namespace: None,
            port,
        }),
        // NAME.NAMESPACE.svc, optionally followed by the cluster domain.
        [_, ns, "svc", ..] => Some(Peer::Namespace {
            namespace: Some((*ns).to_string()),
            port,
        }),
        _ => Some(Peer::AnyAddress { port }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::tests::full_spec;
    use std::collections::BTreeMap;

    fn with(env: &[(&str, &str)], registry: Option<&str>, downstreams: &[&str]) -> Spec {
        Spec {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            registry: registry.map(str::to_string),
            downstreams: downstreams.iter().map(|d| d.to_string()).collect(),
            ..full_spec()
        }
    }

    fn peers(spec: &Spec) -> Vec<(String, Peer)> {
        needed(spec)
            .into_iter()
            .map(|e| (e.because, e.to))
            .collect()
    }

    #[test]
    fn every_setting_the_pods_dial_becomes_one_peer() {
        let spec = with(
            &[
                (
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    "http://otel-collector.observability.svc.cluster.local:4318",
                ),
                ("DOWNSTREAM_ENDPOINTS", "10.0.5.7:9000, [fd00::7]:9001"),
            ],
            Some("etcd://etcd.infra.svc:2379"),
            &["payments"],
        );
        let ns = |n: Option<&str>, port| Peer::Namespace {
            namespace: n.map(str::to_string),
            port,
        };
        assert_eq!(
            peers(&spec),
            vec![
                ("DNS".into(), Peer::ClusterDns),
                (
                    "registry etcd://etcd.infra.svc:2379".into(),
                    ns(Some("infra"), 2379)
                ),
                (
                    "[deploy.env] OTEL_EXPORTER_OTLP_ENDPOINT".into(),
                    ns(Some("observability"), 4318)
                ),
                (
                    "downstream payments".into(),
                    Peer::Service {
                        name: "payments".into()
                    }
                ),
                (
                    "[deploy.env] DOWNSTREAM_ENDPOINTS 10.0.5.7:9000".into(),
                    Peer::Address {
                        cidr: "10.0.5.7/32".into(),
                        port: 9000
                    }
                ),
                (
                    "[deploy.env] DOWNSTREAM_ENDPOINTS [fd00::7]:9001".into(),
                    Peer::Address {
                        cidr: "fd00::7/128".into(),
                        port: 9001
                    }
                ),
            ]
        );
    }

    #[test]
    fn only_dns_when_the_service_dials_nothing() {
        assert_eq!(
            peers(&with(&[], None, &[])),
            vec![("DNS".into(), Peer::ClusterDns)]
        );
    }

    #[test]
    fn host_names_map_to_the_narrowest_peer() {
        let p = |h: &str| peer(h, 4317);
        assert_eq!(
            p("collector"),
            Some(Peer::Namespace {
                namespace: None,
                port: 4317
            })
        );
        assert_eq!(
            p("collector.obs.svc.cluster.local."),
            Some(Peer::Namespace {
                namespace: Some("obs".into()),
                port: 4317
            })
        );
        assert_eq!(
            p("collector.example.com"),
            Some(Peer::AnyAddress { port: 4317 })
        );
        assert_eq!(p("127.0.0.1"), None);
        assert_eq!(p("localhost"), None);
        assert_eq!(p("[::1]"), None);
    }

    #[test]
    fn the_traces_endpoint_wins_and_a_disabled_exporter_dials_nothing() {
        let both = with(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a.obs.svc:4318"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "https://traces.example.com",
                ),
            ],
            None,
            &[],
        );
        assert_eq!(
            peers(&both)[1],
            (
                "[deploy.env] OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".into(),
                Peer::AnyAddress { port: 443 }
            )
        );
        for off in [
            ("OTEL_SDK_DISABLED", "TRUE"),
            ("OTEL_TRACES_EXPORTER", "console"),
        ] {
            let spec = with(
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a.obs.svc:4318"),
                    off,
                ],
                None,
                &[],
            );
            assert_eq!(peers(&spec).len(), 1, "{off:?}: {:?}", peers(&spec));
        }
        let grpc = with(
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector.obs.svc:4317")],
            None,
            &[],
        );
        assert_eq!(
            peers(&grpc)[1].1,
            Peer::Namespace {
                namespace: Some("obs".into()),
                port: 4317
            }
        );
    }

    #[test]
    fn the_same_peer_twice_is_allowed_once() {
        let spec = with(
            &[("DOWNSTREAM_REGISTRY", "consul://consul.consul.svc:8500")],
            Some("consul://consul.consul.svc:8500"),
            &["payments"],
        );
        let spec = Spec {
            env: {
                let mut e = spec.env.clone();
                e.insert("DOWNSTREAM_SERVICE".into(), "payments".into());
                e
            },
            ..spec
        };
        assert_eq!(peers(&spec).len(), 3, "{:?}", peers(&spec));
    }
}
