//! etcd v3 through its JSON gateway (`/v3/*`), with the semantics of the etcd-client crate.
//!
//! Why not gRPC: etcd-client (tonic + prost) needs `protoc` at build time, which a fresh
//! machine with only a Rust toolchain lacks, and hale's install may download nothing but
//! crates. etcd serves the same v3 API as JSON over HTTP (grpc-gateway, on by default since
//! 3.4: int64 as strings, keys and values base64), so hale speaks it with reqwest:
//! `lease/grant` → `kv/put` with the lease → `lease/keepalive` about every TTL/3 (an answer
//! without a TTL means the lease is gone: register again with a new lease) → `lease/revoke` on
//! exit. Discovery is `kv/range` on a prefix, then a streaming `watch` from the next revision;
//! a watch answer carrying `compact_revision` or `canceled` triggers a full re-list.
//!
//! Key layouts ([`Layout`]): hale `/hale/services/<name>/<id>` → JSON instance; go-zero
//! `<name>/<lease id>` → `host:port`; kratos `/microservices/<name>/<id>` → kratos' JSON.
use std::collections::BTreeMap;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::consul::cause_of;
use super::{http_client, publish, Backoff, Instance, Layout, Lease, RegistryError};

/// An etcd cluster member's client URL.
#[derive(Debug, Clone)]
pub struct EtcdRegistry {
    addr: String,
    layout: Layout,
    client: reqwest::Client,
}

/// The value hale stores under `/hale/services/<name>/<id>`.
#[derive(Debug, Serialize, Deserialize)]
struct HaleValue {
    name: String,
    id: String,
    address: String,
    port: u16,
    #[serde(default, deserialize_with = "super::null_as_default")]
    tags: Vec<String>,
    #[serde(default, deserialize_with = "super::null_as_default")]
    meta: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "super::null_as_default")]
    check: String,
}

/// kratos' `registry.ServiceInstance` as its etcd registrar marshals it.
#[derive(Debug, Serialize, Deserialize)]
struct KratosValue {
    id: String,
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "super::null_as_default")]
    endpoints: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Header {
    #[serde(default, with = "int64_text")]
    revision: i64,
}

#[derive(Debug, Deserialize)]
struct KeyValue {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
    #[serde(default, with = "int64_text")]
    lease: i64,
}

#[derive(Debug, Deserialize)]
struct RangeResponse {
    header: Header,
    #[serde(default)]
    kvs: Vec<KeyValue>,
}

#[derive(Debug, Deserialize)]
struct WatchMessage {
    result: Option<WatchResult>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct WatchResult {
    header: Option<Header>,
    #[serde(default)]
    events: Vec<WatchEvent>,
    #[serde(default, with = "int64_text")]
    compact_revision: i64,
    #[serde(default)]
    canceled: bool,
}

#[derive(Debug, Deserialize)]
struct WatchEvent {
    #[serde(default, rename = "type")]
    kind: String,
    kv: KeyValue,
}

/// The gateway writes int64 as a JSON string; accept a number too.
mod int64_text {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => s.parse().map_err(serde::de::Error::custom),
            serde_json::Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| serde::de::Error::custom("not an int64")),
            _ => Ok(0),
        }
    }
}

fn b64(text: &str) -> String {
    B64.encode(text.as_bytes())
}

fn unb64(text: &str) -> String {
    B64.decode(text)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default()
}

/// The end of a prefix range: the prefix with its last byte incremented.
fn prefix_end(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    if let Some(last) = bytes.last_mut() {
        *last += 1;
    }
    String::from_utf8(bytes).unwrap_or_default()
}

impl EtcdRegistry {
    pub fn new(addr: &str, layout: Layout) -> Result<EtcdRegistry, RegistryError> {
        Ok(EtcdRegistry {
            addr: addr.to_string(),
            layout,
            client: http_client()?,
        })
    }

    pub fn url(&self) -> String {
        format!("etcd://{}", self.addr)
    }

    /// The key prefix under which the instances of `name` live in this layout.
    pub fn prefix(&self, name: &str) -> String {
        match self.layout {
            Layout::Hale => format!("/hale/services/{name}/"),
            Layout::GoZero => format!("{name}/"),
            Layout::Kratos => format!("/microservices/{name}/"),
        }
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<T, RegistryError> {
        let resp = self
            .client
            .post(format!("http://{}{path}", self.addr))
            .json(&body)
            .timeout(crate::network::deadline())
            .send()
            .await
            .map_err(|e| RegistryError::Unreachable {
                url: self.url(),
                cause: cause_of(&e),
            })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| RegistryError::Unreachable {
            url: self.url(),
            cause: cause_of(&e),
        })?;
        if !status.is_success() {
            return Err(RegistryError::Http {
                url: self.url(),
                status: status.as_u16(),
                body: text.trim().to_string(),
            });
        }
        serde_json::from_str(&text).map_err(|e| RegistryError::BadResponse {
            url: self.url(),
            detail: format!("{path}: {e}"),
        })
    }

    async fn range(&self, key: &str, prefix: bool) -> Result<RangeResponse, RegistryError> {
        let mut body = json!({ "key": b64(key) });
        if prefix {
            body["range_end"] = json!(b64(&prefix_end(key)));
        }
        self.call("/v3/kv/range", body).await
    }

    async fn grant(&self, ttl: Duration) -> Result<i64, RegistryError> {
        #[derive(Deserialize)]
        struct Grant {
            #[serde(rename = "ID", with = "int64_text")]
            id: i64,
        }
        let seconds = ttl.as_secs_f64().ceil().max(1.0) as i64;
        let grant: Grant = self
            .call("/v3/lease/grant", json!({ "TTL": seconds.to_string() }))
            .await?;
        Ok(grant.id)
    }

    fn encode(&self, instance: &Instance) -> String {
        match self.layout {
            Layout::Hale => serde_json::to_string(&HaleValue {
                name: instance.name.clone(),
                id: instance.id.clone(),
                address: instance.address.clone(),
                port: instance.port,
                tags: instance.tags.clone(),
                meta: instance.meta.clone(),
                check: instance.check.clone().unwrap_or_default(),
            })
            .unwrap_or_default(),
            Layout::GoZero => instance.endpoint(),
            Layout::Kratos => serde_json::to_string(&KratosValue {
                id: instance.id.clone(),
                name: instance.name.clone(),
                version: instance.meta.get("version").cloned().unwrap_or_default(),
                metadata: Some(instance.meta.clone()),
                endpoints: vec![format!("http://{}", instance.endpoint())],
            })
            .unwrap_or_default(),
        }
    }

    /// Turn one key/value of this layout into an instance; foreign or broken values are skipped.
    fn decode(&self, name: &str, key: &str, value: &str) -> Option<Instance> {
        let last = key.rsplit('/').next().unwrap_or_default().to_string();
        let mut instance = Instance {
            name: name.to_string(),
            id: last,
            address: String::new(),
            port: 0,
            tags: Vec::new(),
            meta: BTreeMap::new(),
            check: None,
            ttl: super::DEFAULT_TTL,
        };
        match self.layout {
            Layout::Hale => {
                let v: HaleValue = serde_json::from_str(value).ok()?;
                instance.id = v.id;
                instance.address = v.address;
                instance.port = v.port;
                instance.tags = v.tags;
                instance.meta = v.meta;
                instance.check = Some(v.check).filter(|c| !c.is_empty());
            }
            Layout::GoZero => {
                let (host, port) = super::split_host_port(value.trim())?;
                instance.address = host;
                instance.port = port;
            }
            Layout::Kratos => {
                let v: KratosValue = serde_json::from_str(value).ok()?;
                let endpoint = v
                    .endpoints
                    .iter()
                    .filter_map(|e| url::Url::parse(e).ok())
                    .find(|u| u.host_str().is_some() && u.port_or_known_default().is_some())?;
                instance.id = v.id;
                instance.address = endpoint
                    .host_str()?
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string();
                instance.port = endpoint.port_or_known_default()?;
                instance.meta = v.metadata.unwrap_or_default();
                // kratos marks a TLS server by its endpoint's scheme; hale load reads meta.
                if endpoint.scheme() == "https" {
                    instance
                        .meta
                        .entry("scheme".into())
                        .or_insert_with(|| "https".into());
                }
                if !v.version.is_empty() {
                    instance.meta.entry("version".into()).or_insert(v.version);
                }
            }
        }
        (instance.port != 0).then_some(instance)
    }

    fn key_for(&self, name: &str, id: &str) -> String {
        format!("{}{id}", self.prefix(name))
    }

    pub async fn register(
        &self,
        instance: &Instance,
        replace: bool,
    ) -> Result<Lease, RegistryError> {
        let fixed_key = match self.layout {
            Layout::GoZero => None,
            _ => Some(self.key_for(&instance.name, &instance.id)),
        };
        if let (Some(key), false) = (&fixed_key, replace) {
            let held = self.range(key, false).await?;
            if let Some(kv) = held.kvs.first() {
                let holder = self.decode(&instance.name, key, &unb64(&kv.value));
                let same = holder
                    .as_ref()
                    .is_some_and(|h| h.address == instance.address && h.port == instance.port);
                if !same {
                    return Err(RegistryError::DuplicateId {
                        name: instance.name.clone(),
                        id: instance.id.clone(),
                        holder: holder
                            .map_or_else(|| "an unreadable entry".into(), |h| h.endpoint()),
                    });
                }
            }
        }
        let lease = self.grant(instance.ttl).await?;
        let key = fixed_key.unwrap_or_else(|| self.key_for(&instance.name, &lease.to_string()));
        let put: Result<serde_json::Value, _> = self
            .call(
                "/v3/kv/put",
                json!({ "key": b64(&key), "value": b64(&self.encode(instance)), "lease": lease.to_string() }),
            )
            .await;
        if let Err(e) = put {
            let _ = self.revoke(lease).await;
            return Err(e);
        }
        Ok(Lease::Etcd { lease, key })
    }

    pub async fn heartbeat(&self, instance: &Instance, lease: &Lease) -> Result<(), RegistryError> {
        let Lease::Etcd { lease, .. } = lease else {
            return Ok(());
        };
        #[derive(Deserialize)]
        struct KeepAlive {
            result: Option<KeepAliveResult>,
        }
        #[derive(Deserialize)]
        struct KeepAliveResult {
            #[serde(rename = "TTL", default, with = "int64_text")]
            ttl: i64,
        }
        // The gateway answers a one-message keep-alive stream with one line and closes it.
        let answer: KeepAlive = self
            .call("/v3/lease/keepalive", json!({ "ID": lease.to_string() }))
            .await?;
        if answer.result.is_some_and(|r| r.ttl > 0) {
            Ok(())
        } else {
            Err(RegistryError::Lost {
                url: self.url(),
                id: instance.id.clone(),
            })
        }
    }

    async fn revoke(&self, lease: i64) -> Result<bool, RegistryError> {
        match self
            .call::<serde_json::Value>("/v3/lease/revoke", json!({ "ID": lease.to_string() }))
            .await
        {
            Ok(_) => Ok(true),
            Err(RegistryError::Http { body, .. }) if body.contains("lease not found") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Revoke our lease (its key goes with it); delete the key too in case it outlived it.
    pub async fn release(&self, lease: i64, key: &str) -> Result<bool, RegistryError> {
        let revoked = self.revoke(lease).await?;
        let deleted = self.delete(key).await?;
        Ok(revoked || deleted)
    }

    async fn delete(&self, key: &str) -> Result<bool, RegistryError> {
        #[derive(Deserialize)]
        struct Deleted {
            #[serde(default, with = "int64_text")]
            deleted: i64,
        }
        let d: Deleted = self
            .call("/v3/kv/deleterange", json!({ "key": b64(key) }))
            .await?;
        Ok(d.deleted > 0)
    }

    /// Remove `name`/`id` (for go-zero the id is the lease id): revoke the lease holding it, so a
    /// registrar still running notices, then delete the key.
    pub async fn deregister(&self, name: &str, id: &str) -> Result<bool, RegistryError> {
        let key = self.key_for(name, id);
        let held = self.range(&key, false).await?;
        let Some(kv) = held.kvs.first() else {
            return Ok(false);
        };
        if kv.lease != 0 {
            self.revoke(kv.lease).await?;
        }
        self.delete(&key).await?;
        Ok(true)
    }

    /// The instances of `name` and the revision they were read at.
    pub async fn discover(&self, name: &str) -> Result<(Vec<Instance>, i64), RegistryError> {
        let (map, revision) = self.list(name).await?;
        Ok((map.into_values().collect(), revision))
    }

    async fn list(&self, name: &str) -> Result<(BTreeMap<String, Instance>, i64), RegistryError> {
        let resp = self.range(&self.prefix(name), true).await?;
        let mut map = BTreeMap::new();
        for kv in &resp.kvs {
            let key = unb64(&kv.key);
            if let Some(instance) = self.decode(name, &key, &unb64(&kv.value)) {
                map.insert(key, instance);
            }
        }
        Ok((map, resp.header.revision))
    }

    /// Range, then watch the prefix from the next revision, applying events; re-list after a
    /// compaction, a cancel or a broken stream (an outage may have hidden lease expiries).
    pub async fn follow(
        self,
        service: String,
    ) -> Result<tokio::sync::watch::Receiver<Vec<Instance>>, RegistryError> {
        let (mut map, mut revision) = self.list(&service).await?;
        let (tx, rx) = tokio::sync::watch::channel(Vec::new());
        publish(&tx, map.values().cloned().collect());
        tokio::spawn(async move {
            let mut backoff = Backoff::default();
            loop {
                let outcome = tokio::select! {
                    () = tx.closed() => return,
                    o = self.watch_once(&service, &mut map, &mut revision, &tx) => o,
                };
                match outcome {
                    WatchEnd::Relist => {}
                    WatchEnd::Broken => {
                        tokio::select! {
                            () = tx.closed() => return,
                            () = tokio::time::sleep(backoff.next_delay()) => {}
                        }
                        // After an outage the keys may have expired without us seeing events
                        // for them if etcd lost its history; the re-list below settles it.
                    }
                }
                match self.list(&service).await {
                    Ok((fresh, rev)) => {
                        backoff.reset();
                        map = fresh;
                        revision = rev;
                        publish(&tx, map.values().cloned().collect());
                    }
                    Err(_) => continue,
                }
            }
        });
        Ok(rx)
    }

    async fn watch_once(
        &self,
        service: &str,
        map: &mut BTreeMap<String, Instance>,
        revision: &mut i64,
        tx: &tokio::sync::watch::Sender<Vec<Instance>>,
    ) -> WatchEnd {
        let prefix = self.prefix(service);
        let body = json!({ "create_request": {
            "key": b64(&prefix),
            "range_end": b64(&prefix_end(&prefix)),
            "start_revision": (*revision + 1).to_string(),
        }});
        let Ok(resp) = self
            .client
            .post(format!("http://{}/v3/watch", self.addr))
            .json(&body)
            .send()
            .await
        else {
            return WatchEnd::Broken;
        };
        if !resp.status().is_success() {
            return WatchEnd::Broken;
        }
        let mut stream = resp.bytes_stream();
        let mut buffer: Vec<u8> = Vec::new();
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else {
                return WatchEnd::Broken;
            };
            buffer.extend_from_slice(&chunk);
            while let Some(pos) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=pos).collect();
                let Ok(message) = serde_json::from_slice::<WatchMessage>(&line) else {
                    continue;
                };
                if message.error.is_some() {
                    return WatchEnd::Broken;
                }
                let Some(result) = message.result else {
                    continue;
                };
                if result.compact_revision != 0 || result.canceled {
                    return WatchEnd::Relist;
                }
                for event in &result.events {
                    let key = unb64(&event.kv.key);
                    if event.kind == "DELETE" {
                        map.remove(&key);
                    } else if let Some(instance) =
                        self.decode(service, &key, &unb64(&event.kv.value))
                    {
                        map.insert(key, instance);
                    }
                }
                if let Some(header) = &result.header {
                    *revision = (*revision).max(header.revision);
                }
                if !result.events.is_empty() {
                    publish(tx, map.values().cloned().collect());
                }
            }
        }
        WatchEnd::Broken
    }
}

enum WatchEnd {
    Relist,
    Broken,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte() {
        assert_eq!(
            prefix_end("/hale/services/orders/"),
            "/hale/services/orders0"
        );
    }

    #[test]
    fn layouts_decode_their_own_values() {
        let zero = EtcdRegistry::new("127.0.0.1:1", Layout::GoZero).unwrap();
        let i = zero
            .decode("orders", "orders/7587", "127.0.0.1:8081")
            .unwrap();
        assert_eq!((i.id.as_str(), i.port), ("7587", 8081));
        let kratos = EtcdRegistry::new("127.0.0.1:1", Layout::Kratos).unwrap();
        let v = r#"{"id":"k1","name":"orders","version":"v1","metadata":null,"endpoints":["http://127.0.0.1:9000"]}"#;
        let i = kratos
            .decode("orders", "/microservices/orders/k1", v)
            .unwrap();
        assert_eq!(
            (i.id.as_str(), i.address.as_str(), i.port),
            ("k1", "127.0.0.1", 9000)
        );
        assert_eq!(i.meta["version"], "v1");
        let tls = r#"{"id":"k2","name":"orders","version":"","metadata":{},"endpoints":["https://127.0.0.1:9443"]}"#;
        let i = kratos
            .decode("orders", "/microservices/orders/k2", tls)
            .unwrap();
        assert_eq!((i.port, i.meta["scheme"].as_str()), (9443, "https"));
    }
}
