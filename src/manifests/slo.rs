//! Service level objectives: `--slo` parsing, SLI recording rules, multi-window multi-burn-rate
//! alerts (the SRE workbook's, as sloth gives them), the service's own alerts (the service
//! missing from Prometheus among them), and the `promtool test rules` cases that prove each
//! alert fires when its condition holds and not otherwise. Every threshold is exact decimal
//! arithmetic, never f64 printing. Every alert links its section of the generated service's
//! RUNBOOK.md (`runbook_url`). A service that serves gRPC too counts its calls in the same
//! SLIs ([`super::sli`]).
use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Serialize;

use super::sli::Series;

mod grpc;

/// The windows every SLI is recorded over.
pub const SLI_WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// The histogram buckets of the generated service's `http_request_duration_seconds`
/// (templates/service/pkg/metrics) and, in a gRPC service, of `grpc_server_handling_seconds`
/// (internal/grpcserver): a latency objective must sit on one of them, and on both.
pub const LATENCY_BUCKETS: [&str; 13] = [
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
    "10",
];

/// What an objective measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Objective {
    /// The share of requests answered without a 5xx.
    Availability,
    /// The share of requests answered within `threshold_seconds` (a histogram bucket).
    Latency { threshold_seconds: Decimal },
}

/// One objective: what, how much of it (a fraction below 1), over which window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slo {
    pub objective: Objective,
    /// The target as a fraction, e.g. 0.999.
    pub target: Decimal,
    /// The budget window, a Prometheus duration such as `30d`.
    pub window: String,
}

/// A burn-rate alert pair: the long window and the short one that must both exceed `factor`.
#[derive(Debug, Clone, Copy)]
struct Burn {
    factor: &'static str,
    long: &'static str,
    short: &'static str,
}

const PAGE: [Burn; 2] = [
    Burn {
        factor: "14.4",
        long: "1h",
        short: "5m",
    },
    Burn {
        factor: "6",
        long: "6h",
        short: "30m",
    },
];
const TICKET: [Burn; 2] = [
    Burn {
        factor: "3",
        long: "1d",
        short: "2h",
    },
    Burn {
        factor: "1",
        long: "3d",
        short: "6h",
    },
];

impl Slo {
    /// The `slo` label value and the id `--slo` is known by.
    pub fn id(&self) -> &'static str {
        match self.objective {
            Objective::Availability => "availability",
            Objective::Latency { .. } => "latency",
        }
    }

    /// The error budget: 1 − target, exactly.
    pub fn budget(&self) -> Decimal {
        Decimal::ONE - self.target
    }

    /// The target as a percentage for messages, e.g. `99.9`.
    pub fn percent(&self) -> String {
        fmt(self.target * Decimal::ONE_HUNDRED)
    }

    /// The same objective with one nine less (99.9 → 99): the dev overlay's looser SLO.
    pub fn loosened(&self) -> Slo {
        let budget = (self.budget() * Decimal::TEN).min(Decimal::new(5, 1));
        Slo {
            target: Decimal::ONE - budget,
            ..self.clone()
        }
    }

    /// The SLI error ratio over `window`, as PromQL on the generated service's metrics: its
    /// HTTP requests, and its gRPC calls too when `series` says it serves them.
    fn error_ratio(&self, job: &str, window: &str, series: Series) -> String {
        let sel = format!("job=\"{job}\"");
        match &self.objective {
            Objective::Availability => format!(
                "({} or vector(0))\n/\n{}",
                series.faults(&sel, window),
                series.requests(&sel, window)
            ),
            Objective::Latency { threshold_seconds } => format!(
                "1 - (\n  {}\n  /\n  {}\n)",
                series.within(&sel, &fmt(*threshold_seconds), window),
                series.timed(&sel, window)
            ),
        }
    }
}

/// Decimal without trailing zeros: `0.0144`, `6`, `0.25`.
fn fmt(d: Decimal) -> String {
    d.normalize().to_string()
}

impl FromStr for Slo {
    type Err = String;

    /// `availability=99.9[,window=30d]` or `latency=p99<250ms[,window=30d]`.
    fn from_str(s: &str) -> Result<Self, String> {
        let usage = "use availability=99.9[,window=30d] or latency=p99<250ms[,window=30d]";
        let mut objective = None;
        let mut target = None;
        let mut window = "30d".to_string();
        for part in s.split(',') {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("--slo {s:?}: {part:?} is not KEY=VALUE; {usage}"))?;
            match key.trim() {
                "availability" => {
                    objective = Some(Objective::Availability);
                    target = Some(parse_percent(s, value.trim())?);
                }
                "latency" => {
                    let (quantile, threshold) = value.split_once('<').ok_or_else(|| {
                        format!("--slo {s:?}: latency needs pNN<DURATION; {usage}")
                    })?;
                    let q = quantile.trim().strip_prefix('p').ok_or_else(|| {
                        format!("--slo {s:?}: {quantile:?} is not a quantile like p99; {usage}")
                    })?;
                    target = Some(parse_percent(s, q)?);
                    objective = Some(Objective::Latency {
                        threshold_seconds: parse_threshold(s, threshold.trim())?,
                    });
                }
                "window" => {
                    let w = value.trim();
                    if !valid_window(w) {
                        return Err(format!(
                            "--slo {s:?}: window {w:?} is not a duration of at least 1d such \
                             as 7d, 28d or 30d"
                        ));
                    }
                    window = w.to_string();
                }
                other => {
                    return Err(format!("--slo {s:?}: unknown key {other:?}; {usage}"));
                }
            }
        }
        match (objective, target) {
            (Some(objective), Some(target)) => Ok(Slo {
                objective,
                target,
                window,
            }),
            _ => Err(format!("--slo {s:?} names no objective; {usage}")),
        }
    }
}

fn parse_percent(s: &str, value: &str) -> Result<Decimal, String> {
    let v = value.strip_suffix('%').unwrap_or(value);
    let pct = Decimal::from_str(v)
        .map_err(|_| format!("--slo {s:?}: {value:?} is not a percentage such as 99.9"))?;
    if pct >= Decimal::ONE_HUNDRED {
        return Err(format!(
            "--slo {s:?}: an objective of {v} % leaves no error budget, so no alert could ever \
             be right; use less than 100, such as 99.9"
        ));
    }
    if pct <= Decimal::ZERO {
        return Err(format!(
            "--slo {s:?}: an objective of {v} % is no objective; use more than 0, such as 99.9"
        ));
    }
    Ok(pct / Decimal::ONE_HUNDRED)
}

fn parse_threshold(s: &str, value: &str) -> Result<Decimal, String> {
    let (number, scale) = if let Some(ms) = value.strip_suffix("ms") {
        (ms, Decimal::new(1, 3))
    } else if let Some(sec) = value.strip_suffix('s') {
        (sec, Decimal::ONE)
    } else {
        return Err(format!(
            "--slo {s:?}: {value:?} is not a duration such as 250ms or 1s"
        ));
    };
    let seconds = Decimal::from_str(number)
        .map_err(|_| format!("--slo {s:?}: {value:?} is not a duration such as 250ms or 1s"))?
        * scale;
    let le = fmt(seconds);
    if !LATENCY_BUCKETS.contains(&le.as_str()) {
        return Err(format!(
            "--slo {s:?}: {value} is not a bucket of http_request_duration_seconds, so the \
             share of faster requests cannot be counted; use one of 1ms 2.5ms 5ms 10ms 25ms \
             50ms 100ms 250ms 500ms 1s 2.5s 5s 10s"
        ));
    }
    Ok(seconds.normalize())
}

fn valid_window(w: &str) -> bool {
    let Some(n) = w.strip_suffix('d').or_else(|| w.strip_suffix('w')) else {
        return false;
    };
    !n.is_empty() && n.len() <= 3 && n.chars().all(|c| c.is_ascii_digit()) && n != "0"
}

/// A Prometheus rule group, as both the PrometheusRule's `spec.groups` and a plain rules file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleGroup {
    pub name: String,
    pub rules: Vec<Rule>,
}

/// One recording or alerting rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    pub expr: String,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

fn record(name: &str, expr: String, labels: &BTreeMap<String, String>) -> Rule {
    Rule {
        record: Some(name.into()),
        alert: None,
        expr,
        for_: None,
        labels: labels.clone(),
        annotations: BTreeMap::new(),
    }
}

fn alert(name: &str, expr: String, for_: Option<&str>, severity: &str, summary: String) -> Rule {
    Rule {
        record: None,
        alert: Some(name.into()),
        expr,
        for_: for_.map(str::to_string),
        labels: BTreeMap::from([("severity".into(), severity.into())]),
        annotations: BTreeMap::from([("summary".into(), summary)]),
    }
}

fn slo_labels(job: &str, slo: &Slo) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("slo".to_string(), slo.id().to_string()),
        ("slo_service".to_string(), job.to_string()),
    ])
}

fn selector(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(","))
}

/// Where the rules are evaluated, whom they send to and what the service serves: what the rules
/// need besides the service's name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertContext {
    /// The request series the SLIs count: HTTP, and gRPC's too for a service made with
    /// `hale new --grpc`.
    pub series: Series,
    /// The `namespace` label the service's scraped series carry (the Prometheus operator sets
    /// it from the Service's namespace); `None` where nothing sets it (the plain prometheus.yml
    /// files) or the namespace is left to kubectl.
    pub namespace: Option<String>,
    /// What `runbook_url` starts with: empty for a link relative to the service's repository
    /// root (`RUNBOOK.md#instancedown`), else a URL or path ending in `/`.
    pub runbook_base: String,
}

/// The generated service's runbook (templates/service/RUNBOOK.md): one `## <AlertName>` section
/// per alert.
pub const RUNBOOK_FILE: &str = "RUNBOOK.md";

impl AlertContext {
    /// The `runbook_url` of an alert: its section of the runbook, by the anchor GitHub and
    /// GitLab give a `## <AlertName>` heading (the name in lower case).
    pub fn runbook_url(&self, alert: &str) -> String {
        format!(
            "{}{RUNBOOK_FILE}#{}",
            self.runbook_base,
            alert.to_ascii_lowercase()
        )
    }
}

/// Alert names, shared by the rules and their tests.
pub const ALERT_PAGE: &str = "ErrorBudgetBurnFast";
pub const ALERT_TICKET: &str = "ErrorBudgetBurnSlow";
pub const ALERT_INSTANCE_DOWN: &str = "InstanceDown";
pub const ALERT_BREAKER_OPEN: &str = "DownstreamBreakerOpen";
pub const ALERT_RATE_LIMIT: &str = "RateLimitRejectionsRising";
pub const ALERT_ABSENT: &str = "MetricsAbsent";
/// Every alert [`rule_groups`] can write, for the runbook check.
pub const ALERTS: [&str; 6] = [
    ALERT_PAGE,
    ALERT_TICKET,
    ALERT_ABSENT,
    ALERT_INSTANCE_DOWN,
    ALERT_BREAKER_OPEN,
    ALERT_RATE_LIMIT,
];

fn burn_summary(job: &str, slo: &Slo, page: bool) -> String {
    let pairs = if page { PAGE } else { TICKET };
    let how: Vec<String> = pairs
        .iter()
        .map(|b| format!("{}x over {} and {}", b.factor, b.long, b.short))
        .collect();
    format!(
        "{job} {} objective {} % over {}: the error budget burns at {}",
        slo.id(),
        slo.percent(),
        slo.window,
        how.join(", or ")
    )
}

fn burn_expr(labels: &BTreeMap<String, String>, budget: Decimal, pairs: [Burn; 2]) -> String {
    let sel = selector(labels);
    let parts: Vec<String> = pairs
        .iter()
        .map(|b| {
            let factor = Decimal::from_str(b.factor).unwrap_or(Decimal::ONE);
            let threshold = fmt(factor * budget);
            format!(
                "(\n  slo:sli_error:ratio_rate{long}{sel} > {threshold}\n  and\n  slo:sli_error:ratio_rate{short}{sel} > {threshold}\n)",
                long = b.long,
                short = b.short
            )
        })
        .collect();
    parts.join("\nor\n")
}

/// The rule groups for a service: one per SLO (recordings, objective, budget, burn alerts),
/// then the service's own alerts; every alert with its `runbook_url`.
pub fn rule_groups(job: &str, slos: &[Slo], ctx: &AlertContext) -> Vec<RuleGroup> {
    let mut groups = bare_rule_groups(job, slos, ctx);
    for rule in groups.iter_mut().flat_map(|g| g.rules.iter_mut()) {
        if let Some(name) = &rule.alert {
            rule.annotations
                .insert("runbook_url".into(), ctx.runbook_url(name));
        }
    }
    groups
}

fn bare_rule_groups(job: &str, slos: &[Slo], ctx: &AlertContext) -> Vec<RuleGroup> {
    let mut groups = Vec::new();
    for slo in slos {
        let labels = slo_labels(job, slo);
        let sel = selector(&labels);
        let budget = slo.budget();
        let mut rules: Vec<Rule> = SLI_WINDOWS
            .iter()
            .map(|w| {
                record(
                    &format!("slo:sli_error:ratio_rate{w}"),
                    slo.error_ratio(job, w, ctx.series),
                    &labels,
                )
            })
            .collect();
        if !SLI_WINDOWS.contains(&slo.window.as_str()) {
            rules.push(record(
                &format!("slo:sli_error:ratio_rate{}", slo.window),
                slo.error_ratio(job, &slo.window, ctx.series),
                &labels,
            ));
        }
        rules.push(record(
            "slo:objective:ratio",
            format!("vector({})", fmt(slo.target)),
            &labels,
        ));
        rules.push(record(
            "slo:error_budget:ratio",
            format!("vector({})", fmt(budget)),
            &labels,
        ));
        rules.push(record(
            "slo:error_budget_remaining:ratio",
            format!(
                "1 - slo:sli_error:ratio_rate{}{sel} / {}",
                slo.window,
                fmt(budget)
            ),
            &labels,
        ));
        for (name, pairs, severity, page) in [
            (ALERT_PAGE, PAGE, "page", true),
            (ALERT_TICKET, TICKET, "ticket", false),
        ] {
            let mut rule = alert(
                name,
                burn_expr(&labels, budget, pairs),
                None,
                severity,
                burn_summary(job, slo, page),
            );
            // The expression's own labels, stated: one alert per objective, never duplicates.
            rule.labels.extend(labels.clone());
            rules.push(rule);
        }
        groups.push(RuleGroup {
            name: format!("{job}-slo-{}", slo.id()),
            rules,
        });
    }
    groups.push(RuleGroup {
        name: format!("{job}-service"),
        rules: service_alerts(job, ctx),
    });
    groups
}

/// The labels of the `up` series Prometheus writes for every scrape of this service: `job` is
/// the job name of the plain prometheus.yml files and, under the operator, the Service's name
/// (the ServiceMonitor sets no `jobLabel`); `namespace` the Service's namespace there.
pub fn up_labels(job: &str, ctx: &AlertContext) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([("job".to_string(), job.to_string())]);
    if let Some(ns) = &ctx.namespace {
        labels.insert("namespace".into(), ns.clone());
    }
    labels
}

fn service_alerts(job: &str, ctx: &AlertContext) -> Vec<Rule> {
    let up = selector(&up_labels(job, ctx));
    vec![
        // Without any `up` series every other alert of the service is silent, whatever
        // happens: the service missing from Prometheus must page by itself. absent() takes its
        // labels from the equality matchers, so the alert names the job (and namespace).
        alert(
            ALERT_ABSENT,
            format!("absent(up{up})"),
            Some("5m"),
            "page",
            format!(
                "{job}: Prometheus has scraped no target of job {job}{} for 5 minutes (monitor \
                 not selected, no target discovered, or no pod left), so no other alert of \
                 {job} can fire",
                ctx.namespace
                    .as_deref()
                    .map(|ns| format!(" in namespace {ns}"))
                    .unwrap_or_default()
            ),
        ),
        alert(
            ALERT_INSTANCE_DOWN,
            format!("up{{job=\"{job}\"}} == 0"),
            Some("1m"),
            "page",
            format!("{job}: an instance has not answered its /metrics scrape for 1 minute"),
        ),
        alert(
            ALERT_BREAKER_OPEN,
            format!(
                "max by (job, downstream, endpoint) (downstream_breaker_state{{job=\"{job}\",state=\"open\"}}) == 1"
            ),
            Some("2m"),
            "ticket",
            format!("{job}: a circuit breaker to a downstream endpoint has been open for 2 minutes"),
        ),
        alert(
            ALERT_RATE_LIMIT,
            format!(
                "{short} > 0.1\nand\n{short}\n  > 2 * {long}",
                short = ctx.series.rate_limited(&format!("job=\"{job}\""), "5m"),
                long = ctx.series.rate_limited(&format!("job=\"{job}\""), "1h"),
            ),
            Some("5m"),
            "ticket",
            format!("{job}: rate-limit rejections are more than twice their hourly average"),
        ),
    ]
}

/// A `promtool test rules` file.
#[derive(Debug, Clone, Serialize)]
pub struct RuleTests {
    pub rule_files: Vec<String>,
    pub evaluation_interval: String,
    pub tests: Vec<RuleTest>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleTest {
    pub name: String,
    pub interval: String,
    pub input_series: Vec<InputSeries>,
    pub alert_rule_test: Vec<AlertTest>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InputSeries {
    pub series: String,
    pub values: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertTest {
    pub eval_time: String,
    pub alertname: String,
    pub exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExpAlert {
    pub exp_labels: BTreeMap<String, String>,
    pub exp_annotations: BTreeMap<String, String>,
}

/// Requests per minute in the synthetic traffic of the SLO tests.
const TEST_RPM: i64 = 100_000;
/// Four hours of one-minute samples.
const TEST_MINUTES: u32 = 240;

/// promtool's expanding notation for a counter growing `per_min[i]` for `phase[i].0` minutes
/// each: `0+a x n c+b x m ...`, where every phase continues from the last value.
fn counter(phases: &[(u32, Decimal)]) -> String {
    let mut parts = Vec::new();
    let mut value = Decimal::ZERO;
    for (i, (minutes, rate)) in phases.iter().enumerate() {
        // The first phase starts with the sample at 0; later ones start one step on.
        let (start, steps) = if i == 0 {
            (value, *minutes)
        } else {
            (value + rate, minutes - 1)
        };
        parts.push(format!("{}+{}x{steps}", fmt(start), fmt(*rate)));
        value = start + rate * Decimal::from(steps);
    }
    parts.join(" ")
}

/// Traffic whose error ratio is `phase.1` for `phase.0` minutes, phase after phase.
fn traffic(job: &str, slo: &Slo, phases: &[(u32, Decimal)]) -> Vec<InputSeries> {
    let total = Decimal::from(TEST_RPM);
    let bad: Vec<(u32, Decimal)> = phases
        .iter()
        .map(|(m, r)| (*m, (*r).min(Decimal::ONE) * total))
        .collect();
    let good: Vec<(u32, Decimal)> = bad.iter().map(|(m, b)| (*m, total - b)).collect();
    let all: Vec<(u32, Decimal)> = phases.iter().map(|(m, _)| (*m, total)).collect();
    let series = |s: String, values: String| InputSeries { series: s, values };
    match &slo.objective {
        Objective::Availability => vec![
            series(
                format!(
                    "http_requests_total{{job=\"{job}\",method=\"GET\",route=\"GET /\",code=\"200\"}}"
                ),
                counter(&good),
            ),
            series(
                format!(
                    "http_requests_total{{job=\"{job}\",method=\"GET\",route=\"GET /\",code=\"500\"}}"
                ),
                counter(&bad),
            ),
            // Probe traffic never counts: a failing /readyz must not burn the budget.
            series(
                format!(
                    "http_requests_total{{job=\"{job}\",method=\"GET\",route=\"GET /readyz\",code=\"503\"}}"
                ),
                counter(&all),
            ),
        ],
        Objective::Latency { threshold_seconds } => vec![
            series(
                format!(
                    "http_request_duration_seconds_bucket{{job=\"{job}\",method=\"GET\",route=\"GET /\",le=\"{}\"}}",
                    fmt(*threshold_seconds)
                ),
                counter(&good),
            ),
            series(
                format!(
                    "http_request_duration_seconds_count{{job=\"{job}\",method=\"GET\",route=\"GET /\"}}"
                ),
                counter(&all),
            ),
        ],
    }
}

/// A burn-rate test: name, phases as (minutes, burn rate), pages?, tickets? (`None`: unchecked).
type BurnCase = (&'static str, Vec<(u32, &'static str)>, bool, Option<bool>);

type Fires<'a> = Option<(&'a BTreeMap<String, String>, &'a str, String)>;

/// A burn case's checks: the page alert fires or stays silent; the ticket alert too, when the
/// case checks it (`None`: unchecked).
pub(super) fn burn_checks(
    page: &Fires<'_>,
    ticket: &Fires<'_>,
    pages: bool,
    tickets: Option<bool>,
    ctx: &AlertContext,
) -> Vec<AlertTest> {
    let mut checks = vec![expect(ALERT_PAGE, page.clone().filter(|_| pages), ctx)];
    if let Some(t) = tickets {
        checks.push(expect(ALERT_TICKET, ticket.clone().filter(|_| t), ctx));
    }
    checks
}

fn expect(alertname: &str, fires: Fires<'_>, ctx: &AlertContext) -> AlertTest {
    AlertTest {
        eval_time: format!("{TEST_MINUTES}m"),
        alertname: alertname.into(),
        exp_alerts: fires
            .map(|(labels, severity, summary)| {
                let mut l = labels.clone();
                l.insert("severity".into(), severity.into());
                vec![ExpAlert {
                    exp_labels: l,
                    exp_annotations: BTreeMap::from([
                        ("summary".into(), summary),
                        ("runbook_url".into(), ctx.runbook_url(alertname)),
                    ]),
                }]
            })
            .unwrap_or_default(),
    }
}

/// promtool unit tests for every alert in [`rule_groups`]: each fires when its condition holds
/// and stays silent when it does not. Each burn-rate pair gets traffic just above and just
/// below its threshold that no other pair reacts to, so a wrong threshold fails a test —
/// except the ticket's 3x pair, which the 1x pair always accompanies (1d > 3x implies
/// 3d > 1x, 2h > 3x implies 6h > 1x), so no traffic can tell it apart.
/// A gRPC service's objectives get the tests of its calls as well (slo/grpc.rs).
pub fn rule_tests(job: &str, slos: &[Slo], rule_file: &str, ctx: &AlertContext) -> RuleTests {
    let mut tests = Vec::new();
    let d = |s: &str| Decimal::from_str(s).unwrap_or(Decimal::ONE);
    for slo in slos {
        let labels = slo_labels(job, slo);
        let budget = slo.budget();
        let page: Fires<'_> = Some((&labels, "page", burn_summary(job, slo, true)));
        let ticket: Fires<'_> = Some((&labels, "ticket", burn_summary(job, slo, false)));
        let id = slo.id();
        // (name, phases as (minutes, burn rate), page expected, ticket expected or unchecked)
        let cases: [BurnCase; 6] = [
            (
                "a 15x burst over the last 65m pages (14.4x over 1h and 5m)",
                vec![(175, "0"), (65, "15")],
                true,
                Some(true),
            ),
            (
                "a 13x burst over the last 65m does not page",
                vec![(175, "0"), (65, "13")],
                false,
                None,
            ),
            (
                "6.5x for 4h pages (6x over 6h and 30m)",
                vec![(TEST_MINUTES, "6.5")],
                true,
                Some(true),
            ),
            (
                "5.5x for 4h opens a ticket, no page",
                vec![(TEST_MINUTES, "5.5")],
                false,
                Some(true),
            ),
            (
                "1.5x for 4h opens a ticket (1x over 3d and 6h)",
                vec![(TEST_MINUTES, "1.5")],
                false,
                Some(true),
            ),
            (
                "0.5x for 4h stays silent",
                vec![(TEST_MINUTES, "0.5")],
                false,
                Some(false),
            ),
        ];
        for (name, phases, pages, tickets) in cases {
            let phases: Vec<(u32, Decimal)> =
                phases.iter().map(|(m, f)| (*m, d(f) * budget)).collect();
            // A burn rate whose error ratio would pass 100 % cannot happen: no such test.
            if phases.iter().any(|(_, r)| *r >= Decimal::ONE) {
                continue;
            }
            let checks = burn_checks(&page, &ticket, pages, tickets, ctx);
            tests.push(RuleTest {
                name: format!("{id}: {name}"),
                interval: "1m".into(),
                input_series: traffic(job, slo, &phases),
                alert_rule_test: checks,
            });
        }
        if ctx.series.grpc {
            tests.extend(grpc::rule_tests(job, slo, ctx));
        }
    }
    tests.extend(service_alert_tests(job, ctx));
    RuleTests {
        rule_files: vec![rule_file.into()],
        evaluation_interval: "1m".into(),
        tests,
    }
}

fn service_alert_tests(job: &str, ctx: &AlertContext) -> Vec<RuleTest> {
    let alerts = service_alerts(job, ctx);
    let summary = |name: &str| {
        alerts
            .iter()
            .find(|r| r.alert.as_deref() == Some(name))
            .and_then(|r| r.annotations.get("summary").cloned())
            .unwrap_or_default()
    };
    let with = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let at = |eval: &str, name: &str, labels: Option<BTreeMap<String, String>>| AlertTest {
        eval_time: eval.into(),
        alertname: name.into(),
        exp_alerts: labels
            .map(|l| {
                vec![ExpAlert {
                    exp_labels: l,
                    exp_annotations: BTreeMap::from([
                        ("summary".into(), summary(name)),
                        ("runbook_url".into(), ctx.runbook_url(name)),
                    ]),
                }]
            })
            .unwrap_or_default(),
    };
    let s = |series: String, values: &str| InputSeries {
        series,
        values: values.into(),
    };
    let up = up_labels(job, ctx);
    let up_series = |instance: &str| {
        let mut l = up.clone();
        l.insert("instance".into(), instance.into());
        format!("up{}", selector(&l))
    };
    let mut absent_labels = up.clone();
    absent_labels.insert("severity".into(), "page".into());
    // The same job in another namespace (or another job) must not hide this one's absence.
    let elsewhere = match &ctx.namespace {
        Some(_) => {
            let mut l = up.clone();
            l.insert(
                "namespace".into(),
                format!("not-{}", ctx.namespace.as_deref().unwrap_or_default()),
            );
            l.insert("instance".into(), "c:8080".into());
            format!("up{}", selector(&l))
        }
        None => "up{job=\"prometheus\",instance=\"localhost:9090\"}".to_string(),
    };
    let mut tests = vec![
        RuleTest {
            name: "a service Prometheus never scraped is absent after 5m".into(),
            interval: "1m".into(),
            input_series: vec![s(elsewhere.clone(), "1x20")],
            alert_rule_test: vec![
                at("3m", ALERT_ABSENT, None),
                at("10m", ALERT_ABSENT, Some(absent_labels.clone())),
            ],
        },
        RuleTest {
            name: "a service whose every target vanished is absent 5m after its series went stale"
                .into(),
            interval: "1m".into(),
            input_series: vec![
                s(up_series("a:8080"), "1x5 _x25"),
                s(elsewhere, "1x30"),
            ],
            alert_rule_test: vec![
                at("8m", ALERT_ABSENT, None),
                at("20m", ALERT_ABSENT, Some(absent_labels)),
            ],
        },
        RuleTest {
            name: "a scraped service is not absent, even with its targets down".into(),
            interval: "1m".into(),
            input_series: vec![
                s(up_series("a:8080"), "1x20"),
                s(up_series("b:8080"), "0x20"),
            ],
            alert_rule_test: vec![at("15m", ALERT_ABSENT, None)],
        },
        RuleTest {
            name: "an instance that stops answering scrapes is down after 1m".into(),
            interval: "1m".into(),
            input_series: vec![
                s(format!("up{{job=\"{job}\",instance=\"a:8080\"}}"), "1x10 0x10"),
                s(format!("up{{job=\"{job}\",instance=\"b:8080\"}}"), "1x20"),
            ],
            alert_rule_test: vec![
                at("5m", ALERT_INSTANCE_DOWN, None),
                at(
                    "15m",
                    ALERT_INSTANCE_DOWN,
                    Some(with(&[
                        ("job", job),
                        ("instance", "a:8080"),
                        ("severity", "page"),
                    ])),
                ),
            ],
        },
        RuleTest {
            name: "a breaker open for 2m alerts, a closed one does not".into(),
            interval: "1m".into(),
            input_series: vec![
                s(
                    format!("downstream_breaker_state{{job=\"{job}\",instance=\"a:8080\",downstream=\"payments\",endpoint=\"10.0.0.1:8080\",state=\"open\"}}"),
                    "0x5 1x10",
                ),
                s(
                    format!("downstream_breaker_state{{job=\"{job}\",instance=\"a:8080\",downstream=\"payments\",endpoint=\"10.0.0.2:8080\",state=\"open\"}}"),
                    "0x15",
                ),
            ],
            alert_rule_test: vec![
                at("5m", ALERT_BREAKER_OPEN, None),
                at(
                    "12m",
                    ALERT_BREAKER_OPEN,
                    Some(with(&[
                        ("job", job),
                        ("downstream", "payments"),
                        ("endpoint", "10.0.0.1:8080"),
                        ("severity", "ticket"),
                    ])),
                ),
            ],
        },
        RuleTest {
            name: "rate-limit rejections jumping above their hourly average alert".into(),
            interval: "1m".into(),
            input_series: vec![s(
                format!("http_rate_limited_total{{job=\"{job}\",instance=\"a:8080\"}}"),
                "0x60 0+120x30",
            )],
            alert_rule_test: vec![
                at("55m", ALERT_RATE_LIMIT, None),
                at(
                    "80m",
                    ALERT_RATE_LIMIT,
                    Some(with(&[("job", job), ("severity", "ticket")])),
                ),
            ],
        },
        RuleTest {
            name: "steady rate-limit rejections do not alert".into(),
            interval: "1m".into(),
            input_series: vec![s(
                format!("http_rate_limited_total{{job=\"{job}\",instance=\"a:8080\"}}"),
                "0+120x120",
            )],
            alert_rule_test: vec![at("110m", ALERT_RATE_LIMIT, None)],
        },
    ];
    if ctx.series.grpc {
        // The gRPC limiter's ResourceExhausted answers count as rejections; a health checker
        // refused as often does not.
        let calls = |code: &str, service: &str| {
            s(
                format!(
                    "grpc_server_handled_total{{job=\"{job}\",instance=\"a:8080\",grpc_type=\"unary\",grpc_service=\"{service}\",grpc_method=\"Get\",grpc_code=\"{code}\"}}"
                ),
                "0x60 0+120x30",
            )
        };
        tests.push(RuleTest {
            name: "rate limit: grpc: ResourceExhausted answers jumping above their hourly average alert".into(),
            interval: "1m".into(),
            input_series: vec![calls("ResourceExhausted", "orders.v1.OrdersService")],
            alert_rule_test: vec![
                at("55m", ALERT_RATE_LIMIT, None),
                at(
                    "80m",
                    ALERT_RATE_LIMIT,
                    Some(with(&[("job", job), ("severity", "ticket")])),
                ),
            ],
        });
        tests.push(RuleTest {
            name: "rate limit: grpc: other codes and refused health checks are not rejections"
                .into(),
            interval: "1m".into(),
            input_series: vec![
                calls("Unavailable", "orders.v1.OrdersService"),
                calls("ResourceExhausted", "grpc.health.v1.Health"),
            ],
            alert_rule_test: vec![at("80m", ALERT_RATE_LIMIT, None)],
        });
    }
    tests
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_availability_and_latency() {
        let a: Slo = "availability=99.9,window=30d".parse().unwrap();
        assert_eq!(a.objective, Objective::Availability);
        assert_eq!(a.budget().normalize().to_string(), "0.001");
        let l: Slo = "latency=p99<250ms".parse().unwrap();
        assert_eq!(
            l.objective,
            Objective::Latency {
                threshold_seconds: Decimal::new(25, 2)
            }
        );
        assert_eq!(l.window, "30d");
    }

    #[test]
    fn refuses_bad_objectives() {
        for bad in [
            "availability=100",
            "availability=0",
            "availability=abc",
            "latency=p99<300ms",
            "latency=99<250ms",
            "availability=99.9,window=5m",
            "speed=fast",
            "nonsense",
        ] {
            assert!(bad.parse::<Slo>().is_err(), "{bad} parsed");
        }
        let err = "availability=100".parse::<Slo>().unwrap_err();
        assert!(err.contains("no error budget"), "{err}");
    }

    #[test]
    fn thresholds_are_exact_decimals() {
        let slo: Slo = "availability=99.9".parse().unwrap();
        let groups = rule_groups("orders", &[slo], &AlertContext::default());
        let page = groups[0]
            .rules
            .iter()
            .find(|r| r.alert.as_deref() == Some(ALERT_PAGE))
            .unwrap();
        assert!(page.expr.contains("> 0.0144"), "{}", page.expr);
        assert!(page.expr.contains("> 0.006"), "{}", page.expr);
        let ticket = groups[0]
            .rules
            .iter()
            .find(|r| r.alert.as_deref() == Some(ALERT_TICKET))
            .unwrap();
        assert!(ticket.expr.contains("> 0.003"), "{}", ticket.expr);
        assert!(ticket.expr.contains("> 0.001\n"), "{}", ticket.expr);
    }

    #[test]
    fn records_every_window() {
        let slo: Slo = "latency=p99.9<1s,window=28d".parse().unwrap();
        let groups = rule_groups("orders", &[slo], &AlertContext::default());
        let records: Vec<_> = groups[0]
            .rules
            .iter()
            .filter_map(|r| r.record.clone())
            .collect();
        for w in SLI_WINDOWS.iter().chain(&["28d"]) {
            assert!(
                records.contains(&format!("slo:sli_error:ratio_rate{w}")),
                "{w}"
            );
        }
    }

    #[test]
    fn every_alert_links_its_runbook_section() {
        let slos: Vec<Slo> = vec![
            "availability=99.9".parse().unwrap(),
            "latency=p99<250ms".parse().unwrap(),
        ];
        for base in ["", "https://git.example/acme/orders/-/blob/main/"] {
            let ctx = AlertContext {
                namespace: None,
                runbook_base: base.into(),
                ..AlertContext::default()
            };
            let mut seen = std::collections::BTreeSet::new();
            let groups = rule_groups("orders", &slos, &ctx);
            for rule in groups.iter().flat_map(|g| &g.rules) {
                let Some(name) = &rule.alert else { continue };
                assert!(ALERTS.contains(&name.as_str()), "{name} is not in ALERTS");
                assert_eq!(
                    rule.annotations["runbook_url"],
                    format!("{base}RUNBOOK.md#{}", name.to_ascii_lowercase())
                );
                seen.insert(name.clone());
            }
            assert_eq!(seen.len(), ALERTS.len(), "every alert is written: {seen:?}");
        }
    }

    #[test]
    fn the_absent_alert_selects_the_labels_every_scrape_writes() {
        let plain = rule_groups("orders", &[], &AlertContext::default());
        let absent = |groups: &[RuleGroup]| {
            groups
                .iter()
                .flat_map(|g| &g.rules)
                .find(|r| r.alert.as_deref() == Some(ALERT_ABSENT))
                .cloned()
                .unwrap()
        };
        let rule = absent(&plain);
        assert_eq!(rule.expr, r#"absent(up{job="orders"})"#);
        assert_eq!(rule.labels["severity"], "page");
        let operator = AlertContext {
            namespace: Some("shop".into()),
            runbook_base: String::new(),
            ..AlertContext::default()
        };
        let rule = absent(&rule_groups("orders", &[], &operator));
        assert_eq!(rule.expr, r#"absent(up{job="orders",namespace="shop"})"#);
        assert_eq!(rule.for_.as_deref(), Some("5m"));
    }

    /// The `le` list of the first `[]float64{…}` after `anchor` in a built-in template.
    fn template_buckets(file: &str, anchor: &str) -> Vec<String> {
        let text = crate::scaffold::BUILTIN
            .get_file(file)
            .and_then(|f| f.contents_utf8())
            .unwrap_or_else(|| panic!("no template {file}"));
        let from = text
            .find(anchor)
            .unwrap_or_else(|| panic!("{anchor} in {file}"));
        let list = text[from..].split_once("[]float64{").unwrap().1;
        let list = list.split_once('}').unwrap().0;
        list.split(',')
            .map(|n| {
                let n = n.trim();
                let n = if n.starts_with('.') {
                    format!("0{n}")
                } else {
                    n.to_string()
                };
                fmt(Decimal::from_str(&n).unwrap())
            })
            .collect()
    }

    /// A latency objective's `le` must exist on every histogram its SLI reads: the HTTP one, and
    /// the gRPC server's in a gRPC service.
    #[test]
    fn both_latency_histograms_of_the_template_have_the_objective_buckets() {
        for (file, anchor) in [
            ("pkg/metrics/metrics.go", "http_request_duration_seconds"),
            ("internal/grpcserver/server.go.tera", "WithHistogramBuckets"),
        ] {
            assert_eq!(template_buckets(file, anchor), LATENCY_BUCKETS, "{file}");
        }
    }

    fn exprs(groups: &[RuleGroup]) -> Vec<String> {
        groups
            .iter()
            .flat_map(|g| &g.rules)
            .map(|r| r.expr.clone())
            .collect()
    }

    #[test]
    fn an_http_services_rules_read_no_grpc_series() {
        let slos: Vec<Slo> = vec![
            "availability=99.9".parse().unwrap(),
            "latency=p99<250ms".parse().unwrap(),
        ];
        for e in exprs(&rule_groups("orders", &slos, &AlertContext::default())) {
            assert!(!e.contains("grpc"), "{e}");
        }
        let tests = rule_tests("orders", &slos, "rules.yml", &AlertContext::default());
        assert!(tests.tests.iter().all(|t| !t.name.contains("grpc")));
    }

    #[test]
    fn a_grpc_services_slis_count_its_calls_but_not_its_health_checks() {
        let ctx = AlertContext {
            series: Series::of(true),
            ..AlertContext::default()
        };
        let slos: Vec<Slo> = vec![
            "availability=99.9".parse().unwrap(),
            "latency=p99<250ms".parse().unwrap(),
        ];
        let groups = rule_groups("orders", &slos, &ctx);
        let sli = |group: usize| {
            groups[group]
                .rules
                .iter()
                .find(|r| r.record.as_deref() == Some("slo:sli_error:ratio_rate5m"))
                .unwrap()
                .expr
                .clone()
        };
        let availability = sli(0);
        assert!(
            availability.contains(
                r#"or rate(grpc_server_handled_total{job="orders",grpc_code=~"Unknown|DeadlineExceeded|Unimplemented|Internal|Unavailable|DataLoss",grpc_service!~"grpc\\.health\\.v1\\.Health|grpc\\.reflection\\..+"}[5m])"#
            ),
            "{availability}"
        );
        assert!(
            !availability.contains("ResourceExhausted"),
            "{availability}"
        );
        let latency = sli(1);
        assert!(
            latency
                .contains(r#"or rate(grpc_server_handling_seconds_bucket{job="orders",le="0.25","#),
            "{latency}"
        );
        assert!(
            latency.contains("or rate(grpc_server_handling_seconds_count{"),
            "{latency}"
        );
        // The service's own alerts are not SLIs: the same as an HTTP service's, but for the
        // rate-limit alert, which counts the gRPC limiter's ResourceExhausted answers too.
        let plain = rule_groups("orders", &slos, &AlertContext::default());
        let (own, own_plain) = (&groups.last().unwrap().rules, &plain.last().unwrap().rules);
        assert_eq!(own.len(), own_plain.len());
        for (r, p) in own.iter().zip(own_plain) {
            if r.alert.as_deref() == Some(ALERT_RATE_LIMIT) {
                assert!(
                    r.expr.contains(r#"grpc_code="ResourceExhausted""#),
                    "{}",
                    r.expr
                );
                assert!(!p.expr.contains("grpc"), "{}", p.expr);
            } else {
                assert_eq!(r, p);
            }
        }

        let http = rule_tests("orders", &slos, "rules.yml", &AlertContext::default());
        let grpc = rule_tests("orders", &slos, "rules.yml", &ctx);
        let extra: Vec<&str> = grpc
            .tests
            .iter()
            .map(|t| t.name.as_str())
            .filter(|n| n.contains(": grpc: "))
            .collect();
        assert_eq!(grpc.tests.len(), http.tests.len() + extra.len());
        assert!(extra.iter().any(|n| n.starts_with("availability: grpc: ")));
        assert!(extra.iter().any(|n| n.starts_with("latency: grpc: ")));
        assert!(extra.iter().any(|n| n.starts_with("rate limit: grpc: ")));
    }

    #[test]
    fn loosened_drops_one_nine() {
        let slo: Slo = "availability=99.95".parse().unwrap();
        assert_eq!(slo.loosened().percent(), "99.5");
    }
}
