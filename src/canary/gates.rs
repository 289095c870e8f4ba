//! The SLO gates of a canary step, measured by Prometheus for the canary's pods only: request
//! success rate (non-5xx share of application requests, probes left out) and p99 latency; for a
//! gRPC service its calls count too (server-fault codes as failures, health checks and
//! reflection left out), as in the rendered SLO rules. An empty answer is not a pass: it is an
//! error, counted towards the "no data" abort.
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{analysis::Analysis, CanaryError};
use crate::manifests::sli::Series;

/// A Prometheus server's HTTP API.
#[derive(Debug, Clone)]
pub struct Prometheus {
    url: String,
    client: reqwest::Client,
}

/// How one gate came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateOutcome {
    Pass,
    Fail,
    /// Nothing measured: no data, or Prometheus failed to answer.
    Error,
}

/// One gate's measurement against its target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    /// `success-rate` or `p99`.
    pub gate: String,
    pub outcome: GateOutcome,
    /// The measured value, in `unit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// `percent` (success-rate) or `ms` (p99).
    pub unit: String,
    /// The target as text (`>= 99%`, `<= 500ms`).
    pub target: String,
    /// Why nothing was measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl GateResult {
    /// `success-rate 80.00% (>= 99%)`, `p99 no data`.
    pub fn describe(&self) -> String {
        match (self.value, &self.error) {
            (Some(v), _) if self.unit == "percent" => {
                format!("{} {v:.2}% ({})", self.gate, self.target)
            }
            (Some(v), _) => format!("{} {v:.0}ms ({})", self.gate, self.target),
            (None, Some(e)) => format!("{} {e}", self.gate),
            (None, None) => format!("{} no data", self.gate),
        }
    }
}

/// Which pods are the canary's: the namespace and the canary Deployment's pod names; and which
/// of their request series the gates read (gRPC's too for a gRPC service).
#[derive(Debug, Clone)]
pub struct CanaryPods {
    pub namespace: String,
    pub deployment: String,
    pub series: Series,
}

impl CanaryPods {
    fn selector(&self) -> String {
        format!(
            r#"namespace="{}",pod=~"{}-[a-z0-9]+-[a-z0-9]+""#,
            self.namespace, self.deployment
        )
    }
}

/// PromQL's duration: whole seconds (at least one).
fn promql_duration(d: Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

/// The success-rate query, in percent.
pub fn success_rate_query(pods: &CanaryPods, window: Duration) -> String {
    let sel = pods.selector();
    let w = promql_duration(window);
    format!(
        "100 * ({} or vector(0)) / {}",
        pods.series.answered(&sel, &w),
        pods.series.requests(&sel, &w)
    )
}

/// The p99 latency query, in seconds.
pub fn p99_query(pods: &CanaryPods, window: Duration) -> String {
    let sel = pods.selector();
    let w = promql_duration(window);
    format!(
        "histogram_quantile(0.99, {})",
        pods.series.buckets_by_le(&sel, &w)
    )
}

#[derive(Deserialize)]
struct QueryAnswer {
    status: String,
    #[serde(default)]
    data: Option<QueryData>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct QueryData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

impl Prometheus {
    /// A client for `url` (http or https, no query string); checked before any request.
    pub fn new(url: &str) -> Result<Prometheus, CanaryError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            CanaryError::BadInput(format!(
                "--prometheus {url:?} is not a URL ({e}): give http://host:port"
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(CanaryError::BadInput(format!(
                "--prometheus {url:?} is not an http:// or https:// URL"
            )));
        }
        let client = reqwest::Client::builder()
            // The one network deadline (`--network-timeout`), as every other peer gets.
            .timeout(crate::network::deadline())
            .build()
            .map_err(|e| CanaryError::Prometheus {
                url: url.to_string(),
                cause: e.to_string(),
            })?;
        Ok(Prometheus {
            url: url.trim_end_matches('/').to_string(),
            client,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// One instant query: `Ok(None)` for an empty vector or NaN (no data), `Err` when
    /// Prometheus cannot be reached or refuses the query.
    pub async fn query(&self, promql: &str) -> Result<Option<f64>, CanaryError> {
        let fail = |cause: String| CanaryError::Prometheus {
            url: self.url.clone(),
            cause,
        };
        let answer = self
            .client
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", promql)])
            .send()
            .await
            .map_err(|e| fail(innermost(&e)))?;
        let code = answer.status();
        let body: QueryAnswer = answer.json().await.map_err(|e| {
            fail(format!(
                "answered {code} without the query API's JSON ({})",
                innermost(&e)
            ))
        })?;
        if body.status != "success" {
            return Err(fail(format!(
                "the query failed: {}",
                body.error.unwrap_or_else(|| code.to_string())
            )));
        }
        let Some(data) = body.data else {
            return Ok(None);
        };
        let value = match data.result_type.as_str() {
            "vector" => data
                .result
                .get(0)
                .and_then(|s| s.pointer("/value/1"))
                .cloned(),
            "scalar" => data.result.get(1).cloned(),
            _ => None,
        };
        Ok(value
            .and_then(|v| v.as_str().and_then(|s| s.parse::<f64>().ok()))
            .filter(|v| v.is_finite()))
    }

    /// Whether the server answers its query API at all: asked once before a canary starts, so
    /// an unreachable Prometheus is one clear line before anything changes.
    pub async fn ping(&self) -> Result<(), CanaryError> {
        self.query("vector(1)").await.map(|_| ())
    }

    /// Measure every gate for the canary's pods.
    pub async fn check(&self, pods: &CanaryPods, analysis: &Analysis) -> Vec<GateResult> {
        let rate = self.query(&success_rate_query(pods, analysis.window)).await;
        let p99 = self.query(&p99_query(pods, analysis.window)).await;
        let target_ms = analysis.p99.as_secs_f64() * 1000.0;
        vec![
            gate(
                "success-rate",
                rate,
                format!(">= {}%", analysis.success_rate),
                |v| v >= analysis.success_rate,
                |v| v,
            ),
            gate(
                "p99",
                p99,
                format!("<= {}", humantime::format_duration(analysis.p99)),
                |ms| ms <= target_ms,
                |s| s * 1000.0,
            ),
        ]
    }
}

fn gate(
    name: &str,
    measured: Result<Option<f64>, CanaryError>,
    target: String,
    holds: impl Fn(f64) -> bool,
    unit: impl Fn(f64) -> f64,
) -> GateResult {
    let (outcome, value, error) = match measured {
        Ok(Some(v)) => {
            let v = unit(v);
            let outcome = if holds(v) {
                GateOutcome::Pass
            } else {
                GateOutcome::Fail
            };
            (outcome, Some(v), None)
        }
        Ok(None) => (GateOutcome::Error, None, Some("no data".to_string())),
        Err(e) => (GateOutcome::Error, None, Some(e.to_string())),
    };
    GateResult {
        gate: name.to_string(),
        unit: if name == "p99" { "ms" } else { "percent" }.to_string(),
        outcome,
        value,
        target,
        error,
    }
}

/// The innermost cause of an HTTP error, on one line (`Connection refused`).
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_select_the_canary_pods_and_leave_probes_out() {
        let pods = CanaryPods {
            namespace: "shop".into(),
            deployment: "orders-canary".into(),
            series: Series::default(),
        };
        let sel = r#"namespace="shop",pod=~"orders-canary-[a-z0-9]+-[a-z0-9]+""#;
        // An HTTP service's gates: exactly the queries they always were.
        assert_eq!(
            success_rate_query(&pods, Duration::from_secs(60)),
            format!(
                r#"100 * (sum(rate(http_requests_total{{{sel},code!~"5..",route!~"GET /(healthz|readyz|metrics)"}}[60s])) or vector(0)) / sum(rate(http_requests_total{{{sel},route!~"GET /(healthz|readyz|metrics)"}}[60s]))"#
            )
        );
        assert_eq!(
            p99_query(&pods, Duration::from_secs(60)),
            format!(
                r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{{sel},route!~"GET /(healthz|readyz|metrics)"}}[60s])))"#
            )
        );
        let q = success_rate_query(&pods, Duration::from_secs(60));
        assert!(
            q.contains(r#"namespace="shop",pod=~"orders-canary-[a-z0-9]+-[a-z0-9]+""#),
            "{q}"
        );
        assert!(
            q.contains("[60s]") && q.contains("healthz|readyz|metrics"),
            "{q}"
        );
        assert!(p99_query(&pods, Duration::from_millis(500)).contains("[1s]"));
    }

    #[test]
    fn a_grpc_services_gates_count_its_calls_of_the_canary_pods() {
        let pods = CanaryPods {
            namespace: "shop".into(),
            deployment: "orders-canary".into(),
            series: Series::of(true),
        };
        let sel = r#"namespace="shop",pod=~"orders-canary-[a-z0-9]+-[a-z0-9]+""#;
        let rate = success_rate_query(&pods, Duration::from_secs(60));
        assert!(
            rate.contains(&format!(
                r#"or rate(grpc_server_handled_total{{{sel},grpc_code!~"Unknown|DeadlineExceeded|Unimplemented|Internal|Unavailable|DataLoss","#
            )),
            "{rate}"
        );
        assert!(
            rate.contains(&format!(
                "or rate(grpc_server_handled_total{{{sel},grpc_service!~"
            )),
            "{rate}"
        );
        assert!(rate.contains("grpc\\\\.health"), "{rate}");
        let p99 = p99_query(&pods, Duration::from_secs(60));
        assert!(
            p99.starts_with(
                "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{"
            ),
            "{p99}"
        );
        assert!(
            p99.contains(&format!(
                "or rate(grpc_server_handling_seconds_bucket{{{sel},grpc_service!~"
            )),
            "{p99}"
        );
    }

    #[test]
    fn an_empty_answer_is_an_error_not_a_pass() {
        let g = gate("p99", Ok(None), "<= 500ms".into(), |_| true, |v| v);
        assert_eq!(g.outcome, GateOutcome::Error);
        assert_eq!(g.describe(), "p99 no data");
        let g = gate(
            "success-rate",
            Ok(Some(80.0)),
            ">= 99%".into(),
            |v| v >= 99.0,
            |v| v,
        );
        assert_eq!(g.outcome, GateOutcome::Fail);
        assert_eq!(g.describe(), "success-rate 80.00% (>= 99%)");
    }

    #[test]
    fn a_bad_url_is_the_users_mistake() {
        assert!(Prometheus::new("localhost:9090")
            .unwrap_err()
            .is_bad_input());
        assert!(Prometheus::new("ftp://x").unwrap_err().is_bad_input());
        assert!(Prometheus::new("http://127.0.0.1:9090/").is_ok());
    }
}
