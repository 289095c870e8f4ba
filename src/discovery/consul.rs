//! Consul through the local agent's HTTP API.
//!
//! Register: `PUT /v1/agent/service/register?replace-existing-checks` with two checks — an
//! HTTP check on the instance's health path (proves it serves) and a TTL check hale refreshes
//! with `PUT /v1/agent/check/pass/<id>:ttl` (proves the registrar is alive, so a SIGKILLed
//! `hale register` turns critical within the TTL). `DeregisterCriticalServiceAfter` ("1m",
//! Consul's minimum) is the safety net that reaps entries nobody cleans up. A heartbeat that
//! the agent refuses because it forgot the check (agent restarted) means register again.
//! Discovery reads `/v1/health/service/<name>?passing` with blocking queries.
use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng as _;
use serde::Deserialize;
use serde_json::json;

use super::{http_client, publish, Backoff, Instance, Lease, RegistryError};

/// How long one blocking query may wait; Consul adds up to wait/16 of jitter.
const BLOCKING_WAIT: Duration = Duration::from_secs(60);
/// Never loop faster than this, whatever the index does.
const MIN_LOOP_GAP: Duration = Duration::from_millis(100);

/// A Consul agent.
#[derive(Debug, Clone)]
pub struct ConsulRegistry {
    addr: String,
    client: reqwest::Client,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HealthEntry {
    node: HealthNode,
    service: HealthService,
    #[serde(default)]
    checks: Vec<HealthCheck>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HealthNode {
    #[serde(default)]
    address: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HealthService {
    #[serde(rename = "ID")]
    id: String,
    service: String,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    address: String,
    port: u16,
    #[serde(default)]
    meta: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HealthCheck {
    #[serde(rename = "CheckID", default)]
    check_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    definition: Option<CheckDefinition>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CheckDefinition {
    #[serde(rename = "HTTP", default)]
    http: Option<String>,
    #[serde(rename = "TTL", default)]
    ttl: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AgentService {
    #[serde(default)]
    address: String,
    #[serde(default)]
    port: u16,
}

impl ConsulRegistry {
    pub fn new(addr: &str) -> Result<ConsulRegistry, RegistryError> {
        Ok(ConsulRegistry {
            addr: addr.to_string(),
            client: http_client()?,
        })
    }

    pub fn url(&self) -> String {
        format!("consul://{}", self.addr)
    }

    fn endpoint(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn unreachable(&self, e: reqwest::Error) -> RegistryError {
        RegistryError::Unreachable {
            url: self.url(),
            cause: cause_of(&e),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, RegistryError> {
        let resp = req
            .timeout(crate::network::deadline())
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        Err(RegistryError::Http {
            url: self.url(),
            status,
            body: body.trim().to_string(),
        })
    }

    pub async fn register(
        &self,
        instance: &Instance,
        replace: bool,
    ) -> Result<Lease, RegistryError> {
        if !replace {
            let path = format!("/v1/agent/service/{}", instance.id);
            match self.send(self.client.get(self.endpoint(&path))).await {
                Ok(resp) => {
                    let held: AgentService = resp.json().await.map_err(|e| self.bad(e))?;
                    if held.address != instance.address || held.port != instance.port {
                        return Err(RegistryError::DuplicateId {
                            name: instance.name.clone(),
                            id: instance.id.clone(),
                            holder: format!("{}:{}", held.address, held.port),
                        });
                    }
                }
                Err(RegistryError::Http { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let ttl = format!("{}ms", instance.ttl.as_millis().max(1000));
        let mut checks = vec![json!({
            "CheckID": format!("{}:ttl", instance.id),
            "Name": format!("{} heartbeat", instance.id),
            "TTL": ttl,
            "Status": "passing",
            "DeregisterCriticalServiceAfter": "1m",
        })];
        if let Some(check) = &instance.check {
            checks.insert(
                0,
                json!({
                    "CheckID": format!("{}:http", instance.id),
                    "Name": format!("{} {check}", instance.id),
                    "HTTP": format!("http://{}{check}", instance.endpoint()),
                    "Interval": "5s",
                    "Timeout": "2s",
                    "DeregisterCriticalServiceAfter": "1m",
                }),
            );
        }
        let body = json!({
            "Name": instance.name,
            "ID": instance.id,
            "Address": instance.address,
            "Port": instance.port,
            "Tags": instance.tags,
            "Meta": instance.meta,
            "Checks": checks,
        });
        self.send(
            self.client
                .put(self.endpoint("/v1/agent/service/register?replace-existing-checks"))
                .json(&body),
        )
        .await?;
        Ok(Lease::ById)
    }

    fn bad(&self, e: impl std::fmt::Display) -> RegistryError {
        RegistryError::BadResponse {
            url: self.url(),
            detail: e.to_string(),
        }
    }

    pub async fn heartbeat(&self, instance: &Instance) -> Result<(), RegistryError> {
        let path = format!("/v1/agent/check/pass/{}:ttl", instance.id);
        match self.send(self.client.put(self.endpoint(&path))).await {
            Ok(_) => Ok(()),
            // A restarted agent forgot the check: 404 on recent versions, 500 "Unknown check"
            // on older ones. Either way the instance must be registered again.
            Err(RegistryError::Http { status, body, .. })
                if status == 404
                    || body.contains("Unknown check")
                    || body.contains("does not have associated TTL") =>
            {
                Err(RegistryError::Lost {
                    url: self.url(),
                    id: instance.id.clone(),
                })
            }
            Err(e) => Err(e),
        }
    }

    pub async fn deregister(&self, id: &str) -> Result<bool, RegistryError> {
        let known = match self
            .send(
                self.client
                    .get(self.endpoint(&format!("/v1/agent/service/{id}"))),
            )
            .await
        {
            Ok(_) => true,
            Err(RegistryError::Http { status: 404, .. }) => false,
            Err(e) => return Err(e),
        };
        if known {
            let path = format!("/v1/agent/service/deregister/{id}");
            self.send(self.client.put(self.endpoint(&path))).await?;
        }
        Ok(known)
    }

    /// The passing instances and the query index. With `index`, a blocking query that returns
    /// when the result changes or after [`BLOCKING_WAIT`].
    pub async fn discover(
        &self,
        name: &str,
        index: Option<u64>,
    ) -> Result<(Vec<Instance>, u64), RegistryError> {
        let mut url = self.endpoint(&format!("/v1/health/service/{name}?passing"));
        let mut timeout = crate::network::deadline();
        if let Some(index) = index {
            url.push_str(&format!("&index={index}&wait={}s", BLOCKING_WAIT.as_secs()));
            timeout += BLOCKING_WAIT + BLOCKING_WAIT / 16;
        }
        let resp = self
            .client
            .get(url)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            return Err(RegistryError::Http {
                url: self.url(),
                status,
                body: resp.text().await.unwrap_or_default().trim().to_string(),
            });
        }
        let new_index = resp
            .headers()
            .get("X-Consul-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let entries: Vec<HealthEntry> = resp.json().await.map_err(|e| self.bad(e))?;
        let instances = entries.into_iter().map(to_instance).collect();
        Ok((instances, new_index))
    }

    /// Blocking-query loop: index reset to 0 if it goes backwards, kept ≥ 1, at most one query
    /// per [`MIN_LOOP_GAP`], jittered backoff while the agent is away.
    pub async fn follow(
        self,
        service: String,
    ) -> Result<tokio::sync::watch::Receiver<Vec<Instance>>, RegistryError> {
        let (first, mut index) = self.discover(&service, None).await?;
        let (tx, rx) = tokio::sync::watch::channel(Vec::new());
        publish(&tx, first);
        tokio::spawn(async move {
            let mut backoff = Backoff::default();
            loop {
                let started = tokio::time::Instant::now();
                let query = self.discover(&service, Some(index.max(1)));
                let result = tokio::select! {
                    () = tx.closed() => return,
                    r = query => r,
                };
                match result {
                    Ok((list, new_index)) => {
                        backoff.reset();
                        index = next_index(index, new_index);
                        publish(&tx, list);
                        let gap = MIN_LOOP_GAP
                            + Duration::from_millis(rand::thread_rng().gen_range(0..50));
                        let elapsed = started.elapsed();
                        if elapsed < gap {
                            tokio::time::sleep(gap - elapsed).await;
                        }
                    }
                    Err(_) => {
                        index = 0;
                        tokio::select! {
                            () = tx.closed() => return,
                            () = tokio::time::sleep(backoff.next_delay()) => {}
                        }
                    }
                }
            }
        });
        Ok(rx)
    }
}

/// Consul's rules for the next blocking index: reset when it goes backwards, never 0.
pub fn next_index(previous: u64, returned: u64) -> u64 {
    if returned < previous {
        0
    } else {
        returned.max(1)
    }
}

fn to_instance(entry: HealthEntry) -> Instance {
    let address = if entry.service.address.is_empty() {
        entry.node.address
    } else {
        entry.service.address
    };
    let mut check = None;
    let mut ttl = super::DEFAULT_TTL;
    for c in &entry.checks {
        // Consul 1.8 returns an empty Definition here: fall back to the check's name, which
        // hale writes as "<id> <path>".
        if c.check_id.ends_with(":http") && check.is_none() {
            check = c
                .name
                .rsplit_once(' ')
                .map(|(_, path)| path.to_string())
                .filter(|p| p.starts_with('/'));
        }
        let Some(def) = &c.definition else { continue };
        if c.check_id.ends_with(":http") {
            if let Some(http) = &def.http {
                check = url::Url::parse(http).ok().map(|u| u.path().to_string());
            }
        }
        if c.check_id.ends_with(":ttl") {
            if let Some(parsed) = def.ttl.as_ref().and_then(parse_consul_duration) {
                ttl = parsed;
            }
        }
    }
    Instance {
        name: entry.service.service,
        id: entry.service.id,
        address,
        port: entry.service.port,
        tags: entry.service.tags.unwrap_or_default(),
        meta: entry.service.meta.unwrap_or_default(),
        check,
        ttl,
    }
}

/// Consul reports durations either as Go duration text ("10s") or as nanoseconds.
fn parse_consul_duration(value: &serde_json::Value) -> Option<Duration> {
    match value {
        serde_json::Value::String(s) => humantime::parse_duration(s).ok(),
        serde_json::Value::Number(n) => n.as_u64().map(Duration::from_nanos),
        _ => None,
    }
    .filter(|d| !d.is_zero())
}

/// The innermost cause of a reqwest error: "connection refused", not "error sending request".
pub(crate) fn cause_of(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        crate::network::no_answer()
    } else {
        crate::network::cause(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_index_resets_when_it_goes_backwards_and_stays_positive() {
        assert_eq!(next_index(10, 12), 12);
        assert_eq!(next_index(10, 3), 0);
        assert_eq!(next_index(0, 0), 1);
    }
}
