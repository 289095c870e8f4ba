//! One registry model over Consul, etcd and an embedded file registry.
//!
//! The backend is chosen by URL ([`RegistryUrl`]): `consul://host:port` talks to a Consul
//! agent's HTTP API, `etcd://host:port` to etcd v3 through its JSON gateway (see [`etcd`] for
//! why not gRPC), `file://PATH` to a JSON file shared with the generated Go service (see
//! [`file`]). Every backend offers the same operations on [`Registry`]: register, heartbeat,
//! deregister and list the healthy instances of a service; [`follow`] keeps a
//! `tokio::sync::watch` receiver up to date for `hale load`, and [`keep_registered`] is the
//! loop behind `hale register`: register, heartbeat, re-register after the registry comes back.
pub mod consul;
pub mod etcd;
pub mod file;
pub mod report;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use rand::Rng as _;
use serde::{Deserialize as _, Serialize, Serializer};

use crate::progress::Progress;
use crate::stop::Stop;

/// The default time an instance stays registered without a heartbeat.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

/// One instance of a service, the same model in every backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    pub name: String,
    pub id: String,
    pub address: String,
    pub port: u16,
    pub tags: Vec<String>,
    pub meta: BTreeMap<String, String>,
    /// The HTTP health path (e.g. `/healthz`), if the instance has one.
    pub check: Option<String>,
    #[serde(rename = "ttl_ms", serialize_with = "serialize_millis")]
    pub ttl: Duration,
}

/// Go encodes a nil slice or map as `null`: read it as empty, like a missing field.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn serialize_millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// What `hale register` was given for one instance, before it is checked.
#[derive(Debug, Clone)]
pub struct InstanceRequest {
    pub name: String,
    /// `HOST:PORT` (`[v6]:PORT`).
    pub address: String,
    /// The HTTP health path.
    pub check: String,
    pub ttl: Duration,
    /// `None`: [`crate::names::default_instance_id`].
    pub id: Option<String>,
    pub tags: Vec<String>,
    /// `KEY=VALUE` pairs.
    pub meta: Vec<String>,
}

impl Instance {
    /// Check a request and build the instance; every refusal says how to fix it.
    pub fn checked(req: InstanceRequest) -> Result<Instance, RegistryError> {
        let bad = |m: String| RegistryError::BadInstance(m);
        crate::names::validate_service_name(&req.name)?;
        let (address, port) = split_host_port(&req.address)
            .filter(|(host, port)| !host.is_empty() && *port != 0)
            .ok_or_else(|| {
                bad(format!(
                    "bad --address {:?}: expected HOST:PORT, e.g. 127.0.0.1:8080",
                    req.address
                ))
            })?;
        let id = match req.id {
            Some(id) => id,
            None => crate::names::default_instance_id(&req.name, &address, port),
        };
        crate::names::validate_instance_id(&id)?;
        if !req.check.starts_with('/') || req.check.contains(char::is_whitespace) {
            return Err(bad(format!(
                "bad --check {:?}: expected an HTTP path such as /healthz",
                req.check
            )));
        }
        if req.ttl < Duration::from_secs(1) {
            return Err(bad(format!(
                "bad --ttl {:?}: registries count TTLs in seconds, use at least 1s",
                humantime::format_duration(req.ttl).to_string()
            )));
        }
        let mut meta = BTreeMap::new();
        for pair in &req.meta {
            let (k, v) = pair
                .split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| {
                    bad(format!(
                        "bad --meta {pair:?}: expected KEY=VALUE, e.g. version=1.2.0"
                    ))
                })?;
            meta.insert(k.to_string(), v.to_string());
        }
        if let Some(w) = meta.get("weight") {
            if w.parse::<u32>().ok().filter(|w| *w > 0).is_none() {
                return Err(bad(format!(
                    "bad --meta weight={w:?}: the weight is a positive integer"
                )));
            }
        }
        Ok(Instance {
            name: req.name,
            id,
            address,
            port,
            tags: req.tags,
            meta,
            check: Some(req.check),
            ttl: req.ttl,
        })
    }

    /// `host:port`, with brackets around an IPv6 address.
    pub fn endpoint(&self) -> String {
        if self.address.contains(':') {
            format!("[{}]:{}", self.address, self.port)
        } else {
            format!("{}:{}", self.address, self.port)
        }
    }
}

/// Where the registry is; parsed from `consul://host:port`, `etcd://host:port`, `file://PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryUrl {
    Consul { addr: String },
    Etcd { addr: String },
    File { path: PathBuf },
}

const URL_FORMS: &str = "use consul://host:port, etcd://host:port or file://PATH";

impl RegistryUrl {
    /// Parse a registry URL. Anything else is a one-line usage error naming the accepted forms.
    pub fn parse(text: &str) -> Result<RegistryUrl, RegistryError> {
        let bad = |why: &str| RegistryError::BadUrl {
            text: text.to_string(),
            why: why.to_string(),
        };
        let (scheme, rest) = text.split_once("://").ok_or_else(|| bad("no scheme"))?;
        match scheme {
            "consul" | "etcd" => {
                let addr = rest.trim_end_matches('/');
                let (host, port) =
                    split_host_port(addr).ok_or_else(|| bad("expected host:port"))?;
                if host.is_empty() || port == 0 || addr.contains('/') || addr.contains('@') {
                    return Err(bad("expected host:port"));
                }
                let addr = addr.to_string();
                Ok(if scheme == "consul" {
                    RegistryUrl::Consul { addr }
                } else {
                    RegistryUrl::Etcd { addr }
                })
            }
            "file" => {
                if rest.is_empty() || rest.ends_with('/') {
                    return Err(bad("expected a file path"));
                }
                // A relative path is made absolute now, so child processes (`hale up`) that
                // run elsewhere read the same file.
                let path = std::path::absolute(rest).map_err(|_| bad("expected a file path"))?;
                Ok(RegistryUrl::File { path })
            }
            other => Err(bad(&format!("unknown scheme {other:?}"))),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            RegistryUrl::Consul { .. } => "consul",
            RegistryUrl::Etcd { .. } => "etcd",
            RegistryUrl::File { .. } => "file",
        }
    }
}

impl fmt::Display for RegistryUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryUrl::Consul { addr } => write!(f, "consul://{addr}"),
            RegistryUrl::Etcd { addr } => write!(f, "etcd://{addr}"),
            RegistryUrl::File { path } => write!(f, "file://{}", path.display()),
        }
    }
}

/// Split `host:port` or `[v6]:port` ([`crate::values::HostPort`]: a host name, IPv4 or a
/// bracketed IPv6 address, port 1-65535). The host comes back without brackets.
pub fn split_host_port(text: &str) -> Option<(String, u16)> {
    crate::values::HostPort::parse(text)
        .ok()
        .map(|hp| (hp.host, hp.port))
}

/// How instances are laid out in etcd: hale's own keys, or those go-zero and kratos read.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// `/hale/services/<name>/<id>` → JSON instance.
    #[default]
    Hale,
    /// go-zero's `core/discov`: `<name>/<lease id>` → `host:port`.
    GoZero,
    /// kratos' `contrib/registry/etcd`: `/microservices/<name>/<id>` → JSON.
    Kratos,
}

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("bad registry URL {text:?}: {why}; {URL_FORMS}")]
    BadUrl { text: String, why: String },
    /// An instance `hale register` was asked to register that cannot be.
    #[error("{0}")]
    BadInstance(String),
    #[error(transparent)]
    Name(#[from] crate::names::NameError),
    #[error("cannot set up the HTTP client for registries: {0}")]
    Client(#[source] reqwest::Error),
    #[error("registry {url} is unreachable: {cause}")]
    Unreachable { url: String, cause: String },
    #[error("registry {url} answered {}", crate::network::http_answer(*status, body))]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    #[error("registry {url} sent a response hale cannot read: {detail}")]
    BadResponse { url: String, detail: String },
    #[error(
        "instance id {id:?} of {name:?} is already registered by another live instance at \
         {holder}: pick another --id, or pass --replace to take it over"
    )]
    DuplicateId {
        name: String,
        id: String,
        holder: String,
    },
    /// The registry forgot the instance (lease expired, agent restarted): register again.
    #[error("registry {url} no longer knows instance {id:?}")]
    Lost { url: String, id: String },
    #[error("the {layout:?} layout only exists for etcd registries, not {url}")]
    LayoutNotSupported { layout: Layout, url: String },
    #[error("file registry {path}: {cause}")]
    File { path: String, cause: std::io::Error },
    /// A registry file written by a newer hale: refused, never rewritten.
    #[error("{0}")]
    NewerFormat(String),
}

/// What a registration holds on to between heartbeats (etcd's lease).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// Consul and the file registry identify the instance by name and id alone.
    ById,
    /// An etcd lease and the key attached to it.
    Etcd { lease: i64, key: String },
}

/// A connection to one registry.
#[derive(Debug, Clone)]
pub enum Registry {
    Consul(consul::ConsulRegistry),
    Etcd(etcd::EtcdRegistry),
    File(file::FileRegistry),
}

/// The HTTP client every backend uses: the network deadline to connect
/// ([`crate::network::deadline`]); each request sets its own overall timeout (the deadline, or
/// a blocking query's wait plus the deadline) because blocking queries and watches are long.
pub(crate) fn http_client() -> Result<reqwest::Client, RegistryError> {
    reqwest::Client::builder()
        .connect_timeout(crate::network::deadline())
        .no_proxy()
        .build()
        .map_err(RegistryError::Client)
}

impl Registry {
    /// Connect to the registry at `url`, using `layout` for etcd keys.
    pub fn new(url: &RegistryUrl, layout: Layout) -> Result<Registry, RegistryError> {
        if layout != Layout::Hale && !matches!(url, RegistryUrl::Etcd { .. }) {
            return Err(RegistryError::LayoutNotSupported {
                layout,
                url: url.to_string(),
            });
        }
        Ok(match url {
            RegistryUrl::Consul { addr } => Registry::Consul(consul::ConsulRegistry::new(addr)?),
            RegistryUrl::Etcd { addr } => Registry::Etcd(etcd::EtcdRegistry::new(addr, layout)?),
            RegistryUrl::File { path } => Registry::File(file::FileRegistry::new(path.clone())),
        })
    }

    /// Register `instance`. Refuses an id held by another live instance unless `replace`.
    /// For the go-zero layout the returned id is the lease id (go-zero's key).
    pub async fn register(
        &self,
        instance: &Instance,
        replace: bool,
    ) -> Result<Lease, RegistryError> {
        match self {
            Registry::Consul(c) => c.register(instance, replace).await,
            Registry::Etcd(e) => e.register(instance, replace).await,
            Registry::File(f) => f.register(instance, replace).await,
        }
    }

    /// Tell the registry the instance is still alive. [`RegistryError::Lost`] means register again.
    pub async fn heartbeat(&self, instance: &Instance, lease: &Lease) -> Result<(), RegistryError> {
        match self {
            Registry::Consul(c) => c.heartbeat(instance).await,
            Registry::Etcd(e) => e.heartbeat(instance, lease).await,
            Registry::File(f) => f.heartbeat(instance).await,
        }
    }

    /// Remove an instance. Returns whether it was registered.
    pub async fn deregister(&self, name: &str, id: &str) -> Result<bool, RegistryError> {
        match self {
            Registry::Consul(c) => c.deregister(id).await,
            Registry::Etcd(e) => e.deregister(name, id).await,
            Registry::File(f) => f.deregister(name, id).await,
        }
    }

    /// End a registration made by this process (etcd: revoke the lease, which drops its key).
    pub async fn release(&self, instance: &Instance, lease: &Lease) -> Result<bool, RegistryError> {
        match (self, lease) {
            (Registry::Etcd(e), Lease::Etcd { lease, key }) => e.release(*lease, key).await,
            _ => self.deregister(&instance.name, &instance.id).await,
        }
    }

    /// The registry's URL as text, for messages.
    pub fn url(&self) -> String {
        match self {
            Registry::Consul(c) => c.url(),
            Registry::Etcd(e) => e.url(),
            Registry::File(f) => f.url(),
        }
    }

    /// The healthy instances of `name`, sorted by id.
    pub async fn discover(&self, name: &str) -> Result<Vec<Instance>, RegistryError> {
        let mut found = match self {
            Registry::Consul(c) => c.discover(name, None).await?.0,
            Registry::Etcd(e) => e.discover(name).await?.0,
            Registry::File(f) => f.discover(name).await?,
        };
        found.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(found)
    }
}

/// Follow the healthy instances of `service`: resolves once (an unreachable registry is an
/// error), then a background task keeps the receiver current — Consul blocking queries, an etcd
/// watch, or polling the file every 200 ms — until every receiver is dropped.
pub async fn follow(
    url: &RegistryUrl,
    service: &str,
) -> Result<tokio::sync::watch::Receiver<Vec<Instance>>, RegistryError> {
    follow_layout(url, service, Layout::Hale).await
}

/// [`follow`] with an etcd key layout.
pub async fn follow_layout(
    url: &RegistryUrl,
    service: &str,
    layout: Layout,
) -> Result<tokio::sync::watch::Receiver<Vec<Instance>>, RegistryError> {
    let registry = Registry::new(url, layout)?;
    let rx = match registry {
        Registry::Consul(c) => c.follow(service.to_string()).await?,
        Registry::Etcd(e) => e.follow(service.to_string()).await?,
        Registry::File(f) => f.follow(service.to_string()).await?,
    };
    Ok(rx)
}

/// Sort instances by id and publish them if they changed.
pub(crate) fn publish(tx: &tokio::sync::watch::Sender<Vec<Instance>>, mut list: Vec<Instance>) {
    list.sort_by(|a, b| a.id.cmp(&b.id));
    tx.send_if_modified(|current| {
        if *current == list {
            false
        } else {
            *current = list;
            true
        }
    });
}

/// Capped, jittered exponential backoff: 0.5 s doubling to 10 s, each wait drawn from
/// [half, full] so that many clients do not retry in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: Duration::from_millis(500),
            cap: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// A backoff whose waits never exceed `cap`.
    pub fn with_cap(cap: Duration) -> Self {
        Backoff {
            next: Duration::from_millis(200).min(cap),
            cap,
        }
    }

    pub fn next_delay(&mut self) -> Duration {
        let full = self.next;
        self.next = (self.next * 2).min(self.cap);
        let half = full / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=half)
    }

    pub fn reset(&mut self) {
        *self = Backoff::with_cap(self.cap);
    }
}

/// How [`keep_registered`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeeperOutcome {
    /// Stopped and removed from the registry.
    Deregistered,
    /// Stopped, but the registry could not be told; the entry expires after its TTL.
    DeregisterFailed(String),
}

/// Register `instance` and keep it alive until `stop`, then remove it. Registrations, losses
/// (one warning per outage) and the deregistration are reported on `progress`.
///
/// The first registration must succeed (an unreachable registry or a duplicate id is returned
/// as an error). After that, a lost registry never ends the loop: heartbeats every TTL/3, and on
/// failure retries forever with capped jittered backoff, registering again when the registry
/// answers (a restarted etcd gets a new lease, a restarted Consul agent a new service).
pub async fn keep_registered(
    registry: &Registry,
    instance: &Instance,
    replace: bool,
    stop: &Stop,
    progress: &Progress,
) -> Result<KeeperOutcome, RegistryError> {
    let mut lease = registry.register(instance, replace).await?;
    let id = registered_id(instance, &lease);
    progress.status(
        "Registered",
        format!(
            "{id} {} in {} (ttl {}; Ctrl-C to deregister)",
            instance.endpoint(),
            registry.url(),
            humantime::format_duration(instance.ttl)
        ),
    );
    let interval = (instance.ttl / 3).max(Duration::from_millis(100));
    // Re-registration after a loss replaces our own stale entry (replace = true); the backoff
    // cap keeps the gap after the registry returns well under the 5 s users expect.
    let keep_alive = async {
        let mut backoff =
            Backoff::with_cap(interval.clamp(Duration::from_secs(1), Duration::from_secs(3)));
        let mut healthy = true;
        let mut warned = false;
        loop {
            if healthy {
                tokio::time::sleep(interval).await;
            }
            let result = if healthy {
                tracing::debug!(id = %instance.id, "heartbeat");
                registry.heartbeat(instance, &lease).await
            } else {
                // Drop the old lease first (best effort): with go-zero's layout its key would
                // otherwise linger as a second entry until the lease expired.
                if matches!(lease, Lease::Etcd { .. }) {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(1),
                        registry.release(instance, &lease),
                    )
                    .await;
                }
                match registry.register(instance, true).await {
                    Ok(new_lease) => {
                        lease = new_lease;
                        warned = false;
                        progress.status(
                            "Registered",
                            format!("{} again", registered_id(instance, &lease)),
                        );
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            };
            match result {
                Ok(()) => {
                    healthy = true;
                    backoff.reset();
                }
                Err(error) => {
                    healthy = false;
                    let retry_in = backoff.next_delay();
                    // One warning per outage, not one per retry.
                    if !warned {
                        warned = true;
                        progress.warn(format!(
                            "{error}; retrying in {} (until it answers)",
                            humantime::format_duration(Duration::from_millis(
                                retry_in.as_millis() as u64
                            ))
                        ));
                    }
                    tokio::time::sleep(retry_in).await;
                }
            }
        }
    };
    tokio::select! {
        () = stop.stopped() => {}
        () = keep_alive => {}
    }
    match tokio::time::timeout(
        crate::network::deadline(),
        registry.release(instance, &lease),
    )
    .await
    {
        Ok(Ok(_)) => {
            progress.status("Deregistered", id);
            Ok(KeeperOutcome::Deregistered)
        }
        Ok(Err(e)) => Ok(KeeperOutcome::DeregisterFailed(e.to_string())),
        Err(_) => Ok(KeeperOutcome::DeregisterFailed(
            "the registry did not answer within 5s".into(),
        )),
    }
}

/// The id under which an instance is registered: the lease id for go-zero's layout.
pub fn registered_id(instance: &Instance, lease: &Lease) -> String {
    match lease {
        Lease::Etcd { key, .. } => key.rsplit('/').next().unwrap_or(&instance.id).to_string(),
        _ => instance.id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_urls_parse_to_their_backend() {
        assert_eq!(
            RegistryUrl::parse("consul://127.0.0.1:8500").unwrap(),
            RegistryUrl::Consul {
                addr: "127.0.0.1:8500".into()
            }
        );
        assert_eq!(
            RegistryUrl::parse("etcd://localhost:2379/")
                .unwrap()
                .to_string(),
            "etcd://localhost:2379"
        );
        assert_eq!(
            RegistryUrl::parse("file:///tmp/r.json").unwrap(),
            RegistryUrl::File {
                path: "/tmp/r.json".into()
            }
        );
    }

    #[test]
    fn bad_registry_urls_name_the_accepted_forms() {
        for bad in [
            "",
            "127.0.0.1:8500",
            "http://x:1",
            "consul://",
            "consul://host",
            "etcd://h:0",
            "file://",
            "consul://a:1/x",
        ] {
            let err = RegistryUrl::parse(bad).unwrap_err().to_string();
            assert!(
                err.contains("consul://host:port, etcd://host:port or file://PATH"),
                "{bad}: {err}"
            );
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn backoff_stays_under_its_cap() {
        let mut b = Backoff::with_cap(Duration::from_secs(2));
        for _ in 0..20 {
            assert!(b.next_delay() <= Duration::from_secs(2));
        }
    }
}
