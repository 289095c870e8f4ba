//! The promtool tests a gRPC service's SLO rules get besides the HTTP ones: its calls count in
//! the same budget as its requests, every server-fault code burns it, ResourceExhausted and the
//! client's own codes do not, and health checks and reflection neither count nor dilute.
use rust_decimal::Decimal;

use super::{
    burn_checks, burn_summary, counter, fmt, slo_labels, AlertContext, Fires, InputSeries,
    Objective, RuleTest, Slo, TEST_MINUTES, TEST_RPM,
};
use crate::manifests::sli::{
    GRPC_FAULT_CODES, GRPC_HANDLED, GRPC_HANDLING, HTTP_DURATION, HTTP_REQUESTS,
};

/// Where a flow of test traffic goes.
#[derive(Debug, Clone)]
enum Target {
    /// The service's HTTP API (`GET /`).
    Http,
    /// One gRPC method.
    Grpc {
        kind: &'static str,
        service: String,
        method: &'static str,
    },
}

/// One kind of traffic in a test: how much, and which share of it fails the objective.
#[derive(Debug, Clone)]
struct Flow {
    to: Target,
    per_minute: Decimal,
    /// (minutes, share failing the objective), phase after phase.
    phases: Vec<(u32, Decimal)>,
    /// The codes the failing share answers with (availability), spread evenly over them.
    codes: Vec<&'static str>,
}

/// The input series of one flow: for availability a counter per code (the good share answers
/// `200`/`OK`), for latency the threshold's bucket (the good share) and the count.
fn flow_series(job: &str, slo: &Slo, flow: &Flow) -> Vec<InputSeries> {
    let scaled = |f: &dyn Fn(Decimal) -> Decimal| -> Vec<(u32, Decimal)> {
        flow.phases
            .iter()
            .map(|(m, share)| (*m, f(*share) * flow.per_minute))
            .collect()
    };
    let good = scaled(&|share| Decimal::ONE - share);
    let codes = Decimal::from(flow.codes.len().max(1));
    let bad = scaled(&|share| share / codes);
    let all = scaled(&|_| Decimal::ONE);
    let labels = match &flow.to {
        Target::Http => format!(r#"job="{job}",method="GET",route="GET /""#),
        Target::Grpc {
            kind,
            service,
            method,
        } => format!(
            r#"job="{job}",grpc_type="{kind}",grpc_service="{service}",grpc_method="{method}""#
        ),
    };
    let series = |s: String, phases: &[(u32, Decimal)]| InputSeries {
        series: s,
        values: counter(phases),
    };
    match (&slo.objective, &flow.to) {
        (Objective::Availability, to) => {
            let (metric, code, ok) = match to {
                Target::Http => (HTTP_REQUESTS, "code", "200"),
                Target::Grpc { .. } => (GRPC_HANDLED, "grpc_code", "OK"),
            };
            let mut out = vec![series(
                format!("{metric}{{{labels},{code}=\"{ok}\"}}"),
                &good,
            )];
            for c in &flow.codes {
                out.push(series(format!("{metric}{{{labels},{code}=\"{c}\"}}"), &bad));
            }
            out
        }
        (Objective::Latency { threshold_seconds }, to) => {
            let metric = match to {
                Target::Http => HTTP_DURATION,
                Target::Grpc { .. } => GRPC_HANDLING,
            };
            vec![
                series(
                    format!(
                        "{metric}_bucket{{{labels},le=\"{}\"}}",
                        fmt(*threshold_seconds)
                    ),
                    &good,
                ),
                series(format!("{metric}_count{{{labels}}}"), &all),
            ]
        }
    }
}

/// A test: name, flows, pages?, tickets? (`None`: unchecked).
type GrpcCase = (String, Vec<Flow>, bool, Option<bool>);

/// The gRPC tests of one objective.
pub(super) fn rule_tests(job: &str, slo: &Slo, ctx: &AlertContext) -> Vec<RuleTest> {
    let labels = slo_labels(job, slo);
    let budget = slo.budget();
    let page: Fires<'_> = Some((&labels, "page", burn_summary(job, slo, true)));
    let ticket: Fires<'_> = Some((&labels, "ticket", burn_summary(job, slo, false)));
    let rpm = Decimal::from(TEST_RPM);
    // The 15x case of the HTTP tests: quiet for 175m, then `x` times the budget for 65m.
    let burst = |x: i64| -> Vec<(u32, Decimal)> {
        vec![(175, Decimal::ZERO), (65, Decimal::from(x) * budget)]
    };
    let steady = |share: Decimal| -> Vec<(u32, Decimal)> { vec![(TEST_MINUTES, share)] };
    let flow = |to: &Target,
                per_minute: Decimal,
                phases: Vec<(u32, Decimal)>,
                codes: &[&'static str]| Flow {
        to: to.clone(),
        per_minute,
        phases,
        codes: codes.to_vec(),
    };
    let calls = Target::Grpc {
        kind: "unary",
        service: format!("{job}.v1.Service"),
        method: "Create",
    };
    let health = Target::Grpc {
        kind: "unary",
        service: "grpc.health.v1.Health".into(),
        method: "Check",
    };
    let reflection = Target::Grpc {
        kind: "bidi_stream",
        service: "grpc.reflection.v1.ServerReflection".into(),
        method: "ServerReflectionInfo",
    };
    let availability = slo.objective == Objective::Availability;
    let (failing, passing) = if availability {
        ("failing", "passing")
    } else {
        ("slow", "fast")
    };
    let mut cases: Vec<GrpcCase> = Vec::new();
    if availability {
        cases.push((
            format!(
                "a 15x burst of server faults over the last 65m, spread over {}, pages",
                GRPC_FAULT_CODES.join(", ")
            ),
            vec![flow(&calls, rpm, burst(15), &GRPC_FAULT_CODES)],
            true,
            Some(true),
        ));
        for code in ["ResourceExhausted", "InvalidArgument", "NotFound"] {
            cases.push((
                format!(
                    "a 15x burst of {code} over the last 65m stays silent: the client's doing, \
                     not a server fault"
                ),
                vec![flow(&calls, rpm, burst(15), &[code])],
                false,
                Some(false),
            ));
        }
    } else {
        cases.push((
            "a 15x burst of slow calls over the last 65m pages".into(),
            vec![flow(&calls, rpm, burst(15), &[])],
            true,
            Some(true),
        ));
    }
    let half = rpm / Decimal::from(2);
    cases.extend([
        (
            format!(
                "{failing} requests at 26x on half the traffic, {passing} calls on the other half \
                 (13x of both), do not page"
            ),
            vec![
                flow(&Target::Http, half, burst(26), &["500"]),
                flow(&calls, half, burst(0), &[]),
            ],
            false,
            None,
        ),
        (
            format!(
                "{failing} calls at 30x on half the traffic, {passing} requests on the other half \
                 (15x of both), page"
            ),
            vec![
                flow(&Target::Http, half, burst(0), &["500"]),
                flow(&calls, half, burst(30), &["Internal"]),
            ],
            true,
            None,
        ),
        (
            format!("{failing} health checks and reflection calls never count"),
            vec![
                flow(&calls, rpm, steady(Decimal::ZERO), &[]),
                flow(&health, rpm, steady(Decimal::ONE), &["Unavailable"]),
                flow(&reflection, rpm, steady(Decimal::ONE), &["Internal"]),
            ],
            false,
            Some(false),
        ),
        (
            format!(
                "health checks do not dilute: a 15x burst pages beside nine times as many \
                 {passing} health checks"
            ),
            vec![
                flow(&calls, rpm, burst(15), &["Internal"]),
                flow(&health, rpm * Decimal::from(9), steady(Decimal::ZERO), &[]),
            ],
            true,
            None,
        ),
    ]);
    let mut tests = Vec::new();
    for (name, flows, pages, tickets) in cases {
        // A burn whose share would pass 100 % cannot happen: no such test.
        if flows
            .iter()
            .flat_map(|f| &f.phases)
            .any(|(_, share)| *share > Decimal::ONE)
        {
            continue;
        }
        let checks = burn_checks(&page, &ticket, pages, tickets, ctx);
        tests.push(RuleTest {
            name: format!("{}: grpc: {name}", slo.id()),
            interval: "1m".into(),
            input_series: flows
                .iter()
                .flat_map(|f| flow_series(job, slo, f))
                .collect(),
            alert_rule_test: checks,
        });
    }
    tests
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fault_codes_share_the_failing_calls_evenly() {
        let slo: Slo = "availability=99.9".parse().unwrap();
        let f = Flow {
            to: Target::Grpc {
                kind: "unary",
                service: "orders.v1.Service".into(),
                method: "Create",
            },
            per_minute: Decimal::from(TEST_RPM),
            phases: vec![(10, Decimal::new(6, 2))],
            codes: GRPC_FAULT_CODES.to_vec(),
        };
        let series = flow_series("orders", &slo, &f);
        assert_eq!(series.len(), 7);
        assert_eq!(
            series[0].series,
            r#"grpc_server_handled_total{job="orders",grpc_type="unary",grpc_service="orders.v1.Service",grpc_method="Create",grpc_code="OK"}"#
        );
        assert_eq!(series[0].values, "0+94000x10");
        for (s, code) in series[1..].iter().zip(GRPC_FAULT_CODES) {
            assert!(
                s.series.ends_with(&format!("grpc_code=\"{code}\"}}")),
                "{s:?}"
            );
            assert_eq!(s.values, "0+1000x10");
        }
    }

    #[test]
    fn every_objective_gets_the_grpc_cases() {
        let ctx = AlertContext::default();
        for spec in ["availability=99.9", "latency=p99<250ms"] {
            let slo: Slo = spec.parse().unwrap();
            let names: Vec<String> = rule_tests("orders", &slo, &ctx)
                .into_iter()
                .map(|t| t.name)
                .collect();
            assert!(
                names
                    .iter()
                    .any(|n| n.contains("health checks and reflection")),
                "{names:?}"
            );
            assert!(
                names.iter().any(|n| n.contains("do not dilute")),
                "{names:?}"
            );
            assert!(names.iter().all(|n| n.starts_with(slo.id())), "{names:?}");
        }
        let slo: Slo = "availability=99.9".parse().unwrap();
        let names: Vec<String> = rule_tests("orders", &slo, &ctx)
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert!(
            names.iter().any(|n| n.contains("ResourceExhausted")),
            "{names:?}"
        );
    }
}
