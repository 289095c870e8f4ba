//! The request series of the generated service as every SLI, canary gate and dashboard panel
//! reads them: which are user traffic (not probes, health checks or reflection) and which answers
//! are server faults. HTTP always; for a service made with `hale new --grpc`, grpc-go's server
//! series (go-grpc-middleware's Prometheus provider, internal/grpcserver) as well, counted in the
//! same budget as the HTTP requests: the two share one port, one process and one objective.

/// The HTTP requests counter (templates/service/pkg/metrics), by method, route and code.
pub const HTTP_REQUESTS: &str = "http_requests_total";
/// The HTTP latency histogram, by method and route.
pub const HTTP_DURATION: &str = "http_request_duration_seconds";
/// The HTTP requests the rate limiter refused (429).
pub const HTTP_RATE_LIMITED: &str = "http_rate_limited_total";
/// The gRPC calls counter, by grpc_type, grpc_service, grpc_method and grpc_code.
pub const GRPC_HANDLED: &str = "grpc_server_handled_total";
/// The gRPC latency histogram, by grpc_type, grpc_service and grpc_method (no code).
pub const GRPC_HANDLING: &str = "grpc_server_handling_seconds";

/// HTTP routes that are not user traffic and never count against an objective.
pub const PROBE_ROUTES: &str = r#"route!~"GET /(healthz|readyz|metrics)""#;

/// gRPC services that are not user traffic: health checking (the kubelet's readiness probe,
/// Consul's check, health-checking clients) and server reflection (tools such as grpcurl).
pub const GRPC_NOT_USER: &str =
    r#"grpc_service!~"grpc\\.health\\.v1\\.Health|grpc\\.reflection\\..+""#;

/// The gRPC codes that mean the server failed the call, as a 5xx does for HTTP. Not counted:
/// the client's own mistakes (InvalidArgument, NotFound, PermissionDenied, …), its cancellation
/// (Canceled), and ResourceExhausted, the rate limiter's answer to a client sending too much,
/// which is HTTP's 429.
pub const GRPC_FAULT_CODES: [&str; 6] = [
    "Unknown",
    "DeadlineExceeded",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
];

/// The matcher of the gRPC server-fault codes.
pub fn grpc_faults() -> String {
    format!("grpc_code=~\"{}\"", GRPC_FAULT_CODES.join("|"))
}

/// The matcher of every other gRPC code.
fn grpc_not_faults() -> String {
    format!("grpc_code!~\"{}\"", GRPC_FAULT_CODES.join("|"))
}

/// Which request series a query counts: the HTTP ones, and the gRPC server's too when the
/// service serves gRPC. An HTTP service's queries are exactly what they were before gRPC.
///
/// Each query sums `rate(http…) or rate(grpc…)`: the two metrics never share a label set (the
/// HTTP series carry `route` and `code`, the gRPC ones `grpc_*`), so `or` keeps both, and the
/// sum is empty only when neither exists — no data stays no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Series {
    /// Count grpc-go's server series as well.
    pub grpc: bool,
}

impl Series {
    /// The series of a service that serves gRPC (`grpc`) or HTTP only.
    pub fn of(grpc: bool) -> Series {
        Series { grpc }
    }

    /// `rate(http[w])`, or `rate(http[w]) or rate(grpc[w])`.
    fn rates(self, http: String, grpc: String, window: &str) -> String {
        if self.grpc {
            format!("rate({http}[{window}]) or rate({grpc}[{window}])")
        } else {
            format!("rate({http}[{window}])")
        }
    }

    /// Per second, the user requests (and calls) that `sel` (matchers such as `job="orders"`)
    /// selects.
    pub fn requests(self, sel: &str, window: &str) -> String {
        format!(
            "sum({})",
            self.rates(
                format!("{HTTP_REQUESTS}{{{sel},{PROBE_ROUTES}}}"),
                format!("{GRPC_HANDLED}{{{sel},{GRPC_NOT_USER}}}"),
                window,
            )
        )
    }

    /// Per second, those answered with a server fault: 5xx, or a [`GRPC_FAULT_CODES`] code.
    pub fn faults(self, sel: &str, window: &str) -> String {
        format!(
            "sum({})",
            self.rates(
                format!("{HTTP_REQUESTS}{{{sel},code=~\"5..\",{PROBE_ROUTES}}}"),
                format!("{GRPC_HANDLED}{{{sel},{},{GRPC_NOT_USER}}}", grpc_faults()),
                window,
            )
        )
    }

    /// Per second, those answered without a server fault.
    pub fn answered(self, sel: &str, window: &str) -> String {
        format!(
            "sum({})",
            self.rates(
                format!("{HTTP_REQUESTS}{{{sel},code!~\"5..\",{PROBE_ROUTES}}}"),
                format!(
                    "{GRPC_HANDLED}{{{sel},{},{GRPC_NOT_USER}}}",
                    grpc_not_faults()
                ),
                window,
            )
        )
    }

    /// Per second, those answered within `le` seconds (a bucket of both histograms).
    pub fn within(self, sel: &str, le: &str, window: &str) -> String {
        format!(
            "sum({})",
            self.rates(
                format!("{HTTP_DURATION}_bucket{{{sel},le=\"{le}\",{PROBE_ROUTES}}}"),
                format!("{GRPC_HANDLING}_bucket{{{sel},le=\"{le}\",{GRPC_NOT_USER}}}"),
                window,
            )
        )
    }

    /// Per second, those timed by the latency histograms.
    pub fn timed(self, sel: &str, window: &str) -> String {
        format!(
            "sum({})",
            self.rates(
                format!("{HTTP_DURATION}_count{{{sel},{PROBE_ROUTES}}}"),
                format!("{GRPC_HANDLING}_count{{{sel},{GRPC_NOT_USER}}}"),
                window,
            )
        )
    }

    /// Per second and by job, the requests (and calls) the rate limiter refused: HTTP's
    /// `http_rate_limited_total` (429), and for a gRPC service its calls answered
    /// ResourceExhausted, the gRPC limiter's answer (health checks and reflection left out).
    pub fn rate_limited(self, sel: &str, window: &str) -> String {
        format!(
            "sum by (job) ({})",
            self.rates(
                format!("{HTTP_RATE_LIMITED}{{{sel}}}"),
                format!("{GRPC_HANDLED}{{{sel},grpc_code=\"ResourceExhausted\",{GRPC_NOT_USER}}}"),
                window,
            )
        )
    }

    /// The latency buckets summed by `le`, for `histogram_quantile`: one histogram of both,
    /// since the two have the same buckets.
    pub fn buckets_by_le(self, sel: &str, window: &str) -> String {
        format!(
            "sum by (le) ({})",
            self.rates(
                format!("{HTTP_DURATION}_bucket{{{sel},{PROBE_ROUTES}}}"),
                format!("{GRPC_HANDLING}_bucket{{{sel},{GRPC_NOT_USER}}}"),
                window,
            )
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_service_reads_the_http_series_alone() {
        let s = Series::of(false);
        let sel = r#"job="orders""#;
        assert_eq!(
            s.requests(sel, "5m"),
            r#"sum(rate(http_requests_total{job="orders",route!~"GET /(healthz|readyz|metrics)"}[5m]))"#
        );
        for q in [
            s.faults(sel, "5m"),
            s.answered(sel, "5m"),
            s.within(sel, "0.25", "5m"),
            s.timed(sel, "5m"),
            s.buckets_by_le(sel, "5m"),
        ] {
            assert!(!q.contains("grpc"), "{q}");
            assert_eq!(q.matches("rate(").count(), 1, "{q}");
        }
    }

    #[test]
    fn a_grpc_service_adds_its_user_calls_and_their_server_faults() {
        let s = Series::of(true);
        let sel = r#"job="orders""#;
        let faults = s.faults(sel, "1h");
        assert_eq!(
            faults,
            "sum(rate(http_requests_total{job=\"orders\",code=~\"5..\",route!~\"GET /(healthz|readyz|metrics)\"}[1h]) \
             or rate(grpc_server_handled_total{job=\"orders\",grpc_code=~\"Unknown|DeadlineExceeded|Unimplemented|Internal|Unavailable|DataLoss\",grpc_service!~\"grpc\\\\.health\\\\.v1\\\\.Health|grpc\\\\.reflection\\\\..+\"}[1h]))"
        );
        assert!(!faults.contains("ResourceExhausted"), "{faults}");
        let answered = s.answered(sel, "1h");
        assert!(answered.contains(r#"grpc_code!~"Unknown|"#), "{answered}");
        for q in [
            s.requests(sel, "1h"),
            answered,
            s.within(sel, "0.25", "1h"),
            s.timed(sel, "1h"),
            s.buckets_by_le(sel, "1h"),
        ] {
            assert!(q.contains(" or rate(grpc_server_"), "{q}");
            assert!(
                q.contains(GRPC_NOT_USER),
                "health and reflection left out: {q}"
            );
            assert!(q.contains(PROBE_ROUTES), "probes left out: {q}");
        }
        assert!(s
            .within(sel, "0.25", "1h")
            .contains(r#"grpc_server_handling_seconds_bucket{job="orders",le="0.25","#));
    }
}
