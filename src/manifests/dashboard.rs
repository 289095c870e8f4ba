//! The Grafana dashboard of one service: RED per route (and per gRPC method for a gRPC service),
//! saturation, in-flight requests, breaker state per downstream, rate-limit rejections and the
//! SLO budget left.
use serde::Serialize;

use super::sli::{grpc_faults, Series, GRPC_HANDLED, GRPC_HANDLING, GRPC_NOT_USER};
use super::Spec;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    pub uid: String,
    pub title: String,
    pub tags: Vec<String>,
    pub timezone: String,
    pub schema_version: u32,
    pub refresh: String,
    pub time: TimeRange,
    pub templating: Templating,
    pub panels: Vec<Panel>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimeRange {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Templating {
    pub list: Vec<Variable>,
}

/// The data source variable, so the dashboard works with whichever Prometheus is default.
#[derive(Debug, Clone, Serialize)]
pub struct Variable {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub query: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Panel {
    pub id: u32,
    pub title: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub datasource: DataSource,
    pub grid_pos: GridPos,
    pub field_config: FieldConfig,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DataSource {
    #[serde(rename = "type")]
    pub kind: String,
    pub uid: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GridPos {
    pub h: u32,
    pub w: u32,
    pub x: u32,
    pub y: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldConfig {
    pub defaults: FieldDefaults,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldDefaults {
    pub unit: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub ref_id: String,
    pub expr: String,
    pub legend_format: String,
    /// Ask Prometheus for the exemplars of the series too: Grafana draws them as points that
    /// link to their trace.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exemplar: bool,
}

/// The generated client's histogram of downstream attempts, with trace_id exemplars.
pub const DOWNSTREAM_DURATION: &str = "downstream_request_duration_seconds";

/// Whether a query reads a histogram whose samples carry exemplars.
fn expr_has_exemplars(expr: &str) -> bool {
    expr.contains(&format!("{DOWNSTREAM_DURATION}_bucket"))
}

/// Every panel query, for tests that prove each returns a series.
pub fn queries(d: &Dashboard) -> Vec<String> {
    d.panels
        .iter()
        .flat_map(|p| p.targets.iter().map(|t| t.expr.clone()))
        .collect()
}

/// A panel before layout: title, unit, and (query, legend) pairs.
type Row = (&'static str, &'static str, Vec<(String, &'static str)>);

/// Calls per second, server-fault ratio and p99 latency by gRPC method, health checks and
/// reflection left out (as the SLO rules leave them out).
fn grpc_rows(job: &str) -> Vec<Row> {
    let user = format!(r#"job="{job}",{GRPC_NOT_USER}"#);
    let by = "grpc_service, grpc_method";
    let legend = "{{grpc_service}}/{{grpc_method}}";
    let calls = format!("sum by ({by}) (rate({GRPC_HANDLED}{{{user}}}[5m]))");
    vec![
        ("gRPC calls per second by method", "reqps", vec![(calls.clone(), legend)]),
        (
            "gRPC server-fault ratio by method",
            "percentunit",
            vec![(
                format!(
                    "(sum by ({by}) (rate({GRPC_HANDLED}{{{user},{faults}}}[5m])) or 0 * {calls})\n/ {calls}",
                    faults = grpc_faults()
                ),
                legend,
            )],
        ),
        (
            "gRPC latency p99 by method",
            "s",
            vec![(
                format!(
                    "histogram_quantile(0.99, sum by ({by}, le) (rate({GRPC_HANDLING}_bucket{{{user}}}[5m])))"
                ),
                legend,
            )],
        ),
    ]
}

pub fn dashboard(spec: &Spec) -> Dashboard {
    let job = &spec.name;
    let user = format!(r#"job="{job}",route!~"GET /(healthz|readyz|metrics)""#);
    let mut rows: Vec<Row> = vec![
        (
            "Requests per second by route",
            "reqps",
            vec![(
                format!("sum by (route) (rate(http_requests_total{{{user}}}[5m]))"),
                "{{route}}",
            )],
        ),
        (
            "Error ratio (5xx) by route",
            "percentunit",
            vec![(
                format!(
                    "(sum by (route) (rate(http_requests_total{{{user},code=~\"5..\"}}[5m])) or 0 * sum by (route) (rate(http_requests_total{{{user}}}[5m])))\n/ sum by (route) (rate(http_requests_total{{{user}}}[5m]))"
                ),
                "{{route}}",
            )],
        ),
        (
            "Latency by route",
            "s",
            vec![
                (
                    format!("histogram_quantile(0.5, sum by (route, le) (rate(http_request_duration_seconds_bucket{{{user}}}[5m])))"),
                    "p50 {{route}}",
                ),
                (
                    format!("histogram_quantile(0.99, sum by (route, le) (rate(http_request_duration_seconds_bucket{{{user}}}[5m])))"),
                    "p99 {{route}}",
                ),
            ],
        ),
        (
            "In-flight requests",
            "short",
            vec![(
                format!("sum by (instance) (http_requests_in_flight{{job=\"{job}\"}})"),
                "{{instance}}",
            )],
        ),
        (
            "Saturation: CPU",
            "percentunit",
            vec![(
                format!("sum by (instance) (rate(process_cpu_seconds_total{{job=\"{job}\"}}[5m]))"),
                "{{instance}}",
            )],
        ),
        (
            "Saturation: memory",
            "bytes",
            vec![
                (
                    format!("sum by (instance) (process_resident_memory_bytes{{job=\"{job}\"}})"),
                    "rss {{instance}}",
                ),
                (
                    format!("sum by (instance) (go_memstats_heap_inuse_bytes{{job=\"{job}\"}})"),
                    "heap {{instance}}",
                ),
            ],
        ),
        (
            "Rate-limit rejections and load shedding",
            "reqps",
            vec![
                (
                    // 429s, and for a gRPC service its ResourceExhausted answers too: what
                    // the RateLimitRejectionsRising alert counts.
                    Series::of(spec.grpc).rate_limited(&format!("job=\"{job}\""), "5m"),
                    "rate limited",
                ),
                (
                    format!("sum(rate(http_load_shed_total{{job=\"{job}\"}}[5m]))"),
                    "load shed",
                ),
            ],
        ),
    ];
    if spec.grpc {
        // Beside the HTTP RED panels: the same three questions asked of the gRPC calls.
        rows.splice(3..3, grpc_rows(job));
    }
    if !spec.downstreams.is_empty() {
        rows.push((
            "Breaker state per downstream (endpoints in each state)",
            "short",
            vec![(
                format!("sum by (downstream, state) (downstream_breaker_state{{job=\"{job}\"}})"),
                "{{downstream}} {{state}}",
            )],
        ));
    }
    if !spec.downstreams.is_empty() {
        // The client's histogram carries the trace_id of sampled calls as exemplars
        // (OpenMetrics), so a slow point on this panel opens its trace.
        rows.push((
            "Downstream latency p99 by service and status class (exemplars: traces)",
            "s",
            vec![(
                format!(
                    "histogram_quantile(0.99, sum by (le, downstream, status_class) (rate({DOWNSTREAM_DURATION}_bucket{{job=\"{job}\"}}[5m])))"
                ),
                "{{downstream}} {{status_class}}",
            )],
        ));
    }
    if !spec.slos.is_empty() {
        rows.push((
            "SLO error budget remaining",
            "percentunit",
            vec![(
                format!("slo:error_budget_remaining:ratio{{slo_service=\"{job}\"}}"),
                "{{slo}}",
            )],
        ));
    }
    let panels = rows
        .into_iter()
        .enumerate()
        .map(|(i, (title, unit, exprs))| {
            let i = i as u32;
            Panel {
                id: i + 1,
                title: title.into(),
                kind: "timeseries".into(),
                datasource: DataSource {
                    kind: "prometheus".into(),
                    uid: "${datasource}".into(),
                },
                grid_pos: GridPos {
                    h: 8,
                    w: 12,
                    x: (i % 2) * 12,
                    y: (i / 2) * 8,
                },
                field_config: FieldConfig {
                    defaults: FieldDefaults { unit: unit.into() },
                },
                targets: exprs
                    .into_iter()
                    .enumerate()
                    .map(|(j, (expr, legend))| Target {
                        ref_id: char::from(b'A' + j as u8).to_string(),
                        legend_format: legend.into(),
                        exemplar: expr_has_exemplars(&expr),
                        expr,
                    })
                    .collect(),
            }
        })
        .collect();
    Dashboard {
        uid: format!("hale-{job}"),
        title: format!("{job} (hale)"),
        tags: vec!["hale".into(), job.clone()],
        timezone: "utc".into(),
        schema_version: 39,
        refresh: "30s".into(),
        time: TimeRange {
            from: "now-6h".into(),
            to: "now".into(),
        },
        templating: Templating {
            list: vec![Variable {
                name: "datasource".into(),
                label: "Data source".into(),
                kind: "datasource".into(),
                query: "prometheus".into(),
            }],
        },
        panels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::tests::full_spec;

    fn titles(d: &Dashboard) -> Vec<String> {
        d.panels.iter().map(|p| p.title.clone()).collect()
    }

    #[test]
    fn a_grpc_service_gets_three_panels_by_method_beside_the_http_ones() {
        let http = dashboard(&full_spec());
        assert!(queries(&http).iter().all(|q| !q.contains("grpc")));
        let grpc = dashboard(&Spec {
            grpc: true,
            ..full_spec()
        });
        assert_eq!(grpc.panels.len(), http.panels.len() + 3);
        let t = titles(&grpc);
        assert_eq!(
            t[3..6],
            [
                "gRPC calls per second by method",
                "gRPC server-fault ratio by method",
                "gRPC latency p99 by method",
            ]
        );
        // The HTTP panels keep their order around them.
        let mut rest = t.clone();
        rest.drain(3..6);
        assert_eq!(rest, titles(&http));
        for (i, p) in grpc.panels.iter().enumerate() {
            assert_eq!(p.id as usize, i + 1);
        }
        for p in &grpc.panels[3..6] {
            let q = &p.targets[0].expr;
            assert!(q.contains("sum by (grpc_service, grpc_method"), "{q}");
            assert!(q.contains(GRPC_NOT_USER), "health checks left out: {q}");
            assert_eq!(
                p.targets[0].legend_format,
                "{{grpc_service}}/{{grpc_method}}"
            );
        }
        let faults = &grpc.panels[4].targets[0].expr;
        assert!(faults.contains(&grpc_faults()), "{faults}");
        assert!(!faults.contains("ResourceExhausted"), "{faults}");
        assert!(grpc.panels[5].targets[0]
            .expr
            .starts_with("histogram_quantile(0.99, sum by (grpc_service, grpc_method, le) (rate(grpc_server_handling_seconds_bucket{"));
    }
}
