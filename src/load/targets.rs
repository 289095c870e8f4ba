//! Where a run sends: one `--url`, a fixed `--endpoints` list, or a service followed live
//! through the registry (the adapter from discovery's instances to load [`Endpoint`]s). Names
//! resolve asynchronously (`tokio::net::lookup_host`), never blocking a runtime thread.
//!
//! HTTP or HTTPS: an https:// `--url`; `--scheme https` for `--endpoints` and for every
//! instance of a SERVICE; otherwise each registry instance says so itself, as the registries'
//! users mark it: meta `scheme=https` (hale register `--meta scheme=https`, go-micro, and the
//! kratos endpoint `https://…`), or the Consul tag `https`.
use std::net::SocketAddr;

use rustls::pki_types::ServerName;
use tokio::sync::watch;

use super::tls::{self, TlsError};
use super::Endpoint;
use crate::discovery::{self, Instance, Layout, RegistryError, RegistryUrl};

/// `--scheme`: how to talk to `--endpoints` or a SERVICE's instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    /// What a registry instance says of itself: meta `scheme`, else the tag `https`.
    pub fn of_instance(instance: &Instance) -> Scheme {
        match instance.meta.get("scheme") {
            Some(s) if s.eq_ignore_ascii_case("https") => Scheme::Https,
            Some(_) => Scheme::Http,
            None if instance
                .tags
                .iter()
                .any(|t| t.eq_ignore_ascii_case("https")) =>
            {
                Scheme::Https
            }
            None => Scheme::Http,
        }
    }
}

/// A target hale cannot send to.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The user's input: a malformed or unresolvable endpoint or URL, an empty list.
    #[error("{0}")]
    Bad(String),
    /// The service has no healthy instance in the registry.
    #[error(
        "no instances of service {service:?} in {registry} (check the name with `hale discover \
         {service}`, or start it with `hale up`)"
    )]
    NoInstances { service: String, registry: String },
    #[error("following {service} in {registry}")]
    Follow {
        service: String,
        registry: String,
        #[source]
        source: RegistryError,
    },
    /// A host that cannot be an HTTPS server name.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The host of `host:port` (an IPv6 literal keeps no brackets).
fn host_of(host_port: &str) -> &str {
    host_port
        .rsplit_once(':')
        .map_or(host_port, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']')
}

fn tls_name(scheme: Scheme, host_port: &str) -> Result<Option<ServerName<'static>>, TlsError> {
    match scheme {
        Scheme::Http => Ok(None),
        Scheme::Https => tls::server_name(host_of(host_port)).map(Some),
    }
}

fn bad<T>(message: String) -> Result<T, TargetError> {
    Err(TargetError::Bad(message))
}

/// Resolve `host:port` (an IP or a name) to one address.
pub async fn resolve_endpoint(text: &str) -> Result<SocketAddr, TargetError> {
    let Some((host, port)) = text.rsplit_once(':') else {
        return bad(format!(
            "endpoint {text:?} is not host:port, e.g. 127.0.0.1:8080"
        ));
    };
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return bad(format!(
            "endpoint {text:?} is not host:port with a port from 1 to 65535"
        ));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    match tokio::net::lookup_host(text).await {
        Ok(mut addrs) => match addrs.next() {
            Some(addr) => Ok(addr),
            None => bad(format!("endpoint {text:?} resolves to no address")),
        },
        Err(e) => bad(format!("endpoint {text:?} does not resolve: {e}")),
    }
}

/// The one endpoint of `--url` (http or https), named by its `host:port`.
pub async fn url_endpoint(text: &str) -> Result<Endpoint, TargetError> {
    let url = url::Url::parse(text).or_else(|e| bad(format!("--url {text:?}: {e}")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return bad(format!("--url {text:?}: use http:// or https://"));
    }
    let Some(host) = url.host_str() else {
        return bad(format!("--url {text:?} has no host"));
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let host_port = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let addr = resolve_endpoint(&host_port).await?;
    let scheme = if url.scheme() == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    // Host as the URL gives it: its port only when the URL names one other than the scheme's.
    let authority = match url.port() {
        Some(p) => format!("{}:{p}", bracketed(host)),
        None => bracketed(host),
    };
    Ok(Endpoint {
        tls: tls_name(scheme, &host_port)?,
        authority,
        id: host_port,
        addr,
        weight: 1,
        check_id: false,
    })
}

/// An IPv6 literal in brackets, as an authority writes it; any other host as it is.
fn bracketed(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// The request path and query of `--url`.
pub fn url_path(text: &str) -> Result<String, TargetError> {
    let url = url::Url::parse(text).or_else(|e| bad(format!("--url {text:?}: {e}")))?;
    let mut path = url.path().to_string();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    Ok(path)
}

/// The `--endpoints` list, each resolved; a duplicate address or an empty list is refused.
pub async fn fixed_endpoints(
    list: &[String],
    scheme: Scheme,
) -> Result<Vec<Endpoint>, TargetError> {
    let mut out: Vec<Endpoint> = Vec::new();
    for e in list.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let addr = resolve_endpoint(e).await?;
        if out.iter().any(|x| x.addr == addr) {
            return bad(format!("--endpoints lists {e} twice"));
        }
        out.push(Endpoint {
            id: e.to_string(),
            authority: e.to_string(),
            addr,
            weight: 1,
            check_id: false,
            tls: tls_name(scheme, e)?,
        });
    }
    if out.is_empty() {
        return bad("--endpoints is empty: give host:port,host:port".into());
    }
    Ok(out)
}

/// Follow `service` in the registry as load endpoints, kept current until the run drops the
/// receiver. An unreachable registry, or no healthy instance at the start, is an error.
/// `scheme`: `--scheme`, for every instance; `None`: each instance's own.
pub async fn follow_service(
    url: &RegistryUrl,
    service: &str,
    layout: Layout,
    scheme: Option<Scheme>,
) -> Result<watch::Receiver<Vec<Endpoint>>, TargetError> {
    let mut instances = discovery::follow_layout(url, service, layout)
        .await
        .map_err(|source| TargetError::Follow {
            service: service.to_string(),
            registry: url.to_string(),
            source,
        })?;
    if instances.borrow().is_empty() {
        return Err(TargetError::NoInstances {
            service: service.to_string(),
            registry: url.to_string(),
        });
    }
    let first = endpoints_of(&instances.borrow_and_update().clone(), scheme).await;
    let (tx, rx) = watch::channel(first);
    tokio::spawn(async move {
        while instances.changed().await.is_ok() {
            let list = instances.borrow_and_update().clone();
            if tx.send(endpoints_of(&list, scheme).await).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

async fn endpoints_of(list: &[Instance], scheme: Option<Scheme>) -> Vec<Endpoint> {
    let mut out = Vec::with_capacity(list.len());
    for i in list {
        if let Some(e) = endpoint_of(i, scheme).await {
            out.push(e);
        }
    }
    out
}

/// A registry instance as a load target: its address resolved, its weight from meta `weight`,
/// HTTPS when `scheme` or the instance itself says so (its certificate checked against its
/// registered address). An instance whose address cannot be a server name is left out.
async fn endpoint_of(instance: &Instance, scheme: Option<Scheme>) -> Option<Endpoint> {
    let host_port = instance.endpoint();
    let scheme = scheme.unwrap_or_else(|| Scheme::of_instance(instance));
    let tls = tls_name(scheme, &host_port).ok()?;
    let addr = match host_port.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => tokio::net::lookup_host(&host_port).await.ok()?.next()?,
    };
    Some(Endpoint {
        id: instance.id.clone(),
        authority: host_port,
        addr,
        weight: instance
            .meta
            .get("weight")
            .and_then(|w| w.parse::<u32>().ok())
            .filter(|&w| w > 0)
            .unwrap_or(1),
        check_id: true,
        tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn endpoints_resolve_without_blocking_and_refuse_bad_forms() {
        let e = fixed_endpoints(&["localhost:8080".into()], Scheme::Http)
            .await
            .unwrap();
        assert_eq!(e[0].addr.port(), 8080);
        assert!(e[0].addr.ip().is_loopback());
        for bad in ["127.0.0.1", ":80", "127.0.0.1:0"] {
            assert!(matches!(
                resolve_endpoint(bad).await,
                Err(TargetError::Bad(_))
            ));
        }
        let twice =
            fixed_endpoints(&["127.0.0.1:1".into(), "127.0.0.1:1".into()], Scheme::Http).await;
        assert!(matches!(twice, Err(TargetError::Bad(m)) if m.contains("twice")));
    }

    #[tokio::test]
    async fn a_url_endpoint_keeps_the_authority_as_given_for_the_host_header() {
        let named = url_endpoint("http://localhost:8080/x").await.unwrap();
        assert_eq!(named.authority, "localhost:8080");
        assert!(named.addr.ip().is_loopback());
        // The scheme's own port is not written, as browsers and curl send it.
        let default_port = url_endpoint("http://localhost/").await.unwrap();
        assert_eq!(default_port.authority, "localhost");
        assert_eq!(default_port.addr.port(), 80);
        let v6 = url_endpoint("http://[::1]:8443/").await.unwrap();
        assert_eq!(v6.authority, "[::1]:8443");
    }

    fn instance(meta: &[(&str, &str)], tags: &[&str]) -> Instance {
        Instance {
            name: "orders".into(),
            id: "orders-1".into(),
            address: "127.0.0.1".into(),
            port: 8443,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            meta: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            check: None,
            ttl: std::time::Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn an_instance_is_https_by_its_scheme_meta_or_https_tag_unless_scheme_is_forced() {
        assert_eq!(Scheme::of_instance(&instance(&[], &[])), Scheme::Http);
        assert_eq!(
            Scheme::of_instance(&instance(&[("scheme", "HTTPS")], &[])),
            Scheme::Https
        );
        assert_eq!(
            Scheme::of_instance(&instance(&[], &["https"])),
            Scheme::Https
        );
        // The meta, when there, wins over a tag.
        assert_eq!(
            Scheme::of_instance(&instance(&[("scheme", "http")], &["https"])),
            Scheme::Http
        );
        let own = endpoint_of(&instance(&[("scheme", "https")], &[]), None)
            .await
            .unwrap();
        assert_eq!(
            own.tls,
            Some(ServerName::try_from("127.0.0.1".to_string()).unwrap())
        );
        let forced = endpoint_of(&instance(&[("scheme", "https")], &[]), Some(Scheme::Http))
            .await
            .unwrap();
        assert_eq!(forced.tls, None);
        let listed = fixed_endpoints(&["[::1]:8443".into()], Scheme::Https)
            .await
            .unwrap();
        assert_eq!(
            listed[0].tls,
            Some(ServerName::try_from("::1".to_string()).unwrap())
        );
    }
}
