//! `hale load` for CI: failed `--assert`ions as annotations, the assertions as JUnit (one test
//! case each) and the run as a Markdown step summary (totals, latency percentiles, instances,
//! resilience, assertions).
use super::annotations::{self, Annotation, Level};
use super::junit::{Case, Failure, Suite};
use super::reports::{ReportFormat, ReportTarget};
use super::summary::cell;
use super::Env;
use crate::load::assertions::AssertionResult;
use crate::load::report::{Percentiles, Report};

/// What an assertion measured, in its own unit: `312.000 ms`, `nothing to measure`.
fn measured(a: &AssertionResult) -> String {
    match a.value {
        Some(v) if a.unit.is_empty() => format!("{v}"),
        Some(v) => format!("{v} {}", a.unit),
        None => "nothing to measure".to_string(),
    }
}

/// One annotation per failed assertion.
pub fn annotations(report: &Report) -> Vec<Annotation> {
    report
        .assertions
        .iter()
        .filter(|a| !a.passed)
        .map(|a| Annotation {
            level: Level::Error,
            file: None,
            line: None,
            title: Some(format!("hale load: {} failed", a.assertion)),
            message: format!(
                "assertion {} did not hold: measured {} ({} requests to {}, {} errors)",
                a.assertion,
                measured(a),
                report.requests,
                target(report),
                report.errors
            ),
        })
        .collect()
}

fn target(report: &Report) -> String {
    match &report.target.service {
        Some(s) => format!("{} {}", s, report.target.path),
        None => format!("{} {}", report.target.kind, report.target.path),
    }
}

/// One test case per assertion; the suite's time is the run's.
pub fn junit(report: &Report) -> Suite {
    Suite {
        name: "hale load".into(),
        time: report.duration_s,
        cases: report
            .assertions
            .iter()
            .map(|a| Case {
                classname: "hale.load".into(),
                name: a.assertion.clone(),
                time: 0.0,
                failure: (!a.passed).then(|| Failure {
                    message: format!("measured {}", measured(a)),
                    kind: "assertion".into(),
                    text: format!(
                        "{} did not hold over {} requests ({} errors, {:.1} req/s, {:.1} s)",
                        a.assertion, report.requests, report.errors, report.rps, report.duration_s
                    ),
                }),
            })
            .collect(),
    }
}

fn ms(p: &Percentiles, v: f64) -> String {
    p.text(v)
}

/// The step summary of a run.
pub fn summary(report: &Report) -> String {
    let verdict = if report.assertions.is_empty() {
        String::new()
    } else if report.passed {
        " — all assertions held".to_string()
    } else {
        " — **assertions failed**".to_string()
    };
    let mut md = format!(
        "### hale load: {} {}{verdict}\n\n",
        report.target.method,
        cell(&target(report))
    );
    md.push_str("| requests | ok | errors | error share | req/s | duration | strategy | protection |\n|---|---|---|---|---|---|---|---|\n");
    md.push_str(&format!(
        "| {} | {} | {} | {:.3}% | {:.1} | {:.1} s | {} | {} |\n\n",
        report.requests,
        report.ok,
        report.errors,
        report.error_share * 100.0,
        report.rps,
        report.duration_s,
        cell(&report.strategy),
        cell(&report.protection)
    ));
    md.push_str("Latency (ms)\n\n| | p50 | p90 | p99 | p99.9 | max | mean |\n|---|---|---|---|---|---|---|\n");
    let rows = [
        ("corrected", &report.latency.corrected),
        ("uncorrected", &report.latency.uncorrected),
    ];
    for (name, p) in rows {
        md.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} |\n",
            ms(p, p.p50),
            ms(p, p.p90),
            ms(p, p.p99),
            ms(p, p.p999),
            ms(p, p.max),
            ms(p, p.mean)
        ));
    }
    md.push('\n');
    if !report.instances.is_empty() {
        md.push_str("| instance | address | requests | share | errors | p50 ms | p99 ms | breaker |\n|---|---|---|---|---|---|---|---|\n");
        for i in &report.instances {
            let errors: u64 = i.errors.values().sum();
            md.push_str(&format!(
                "| {} | {} | {} | {:.1}% | {} | {} | {} | {} |\n",
                cell(&i.id),
                cell(&i.address),
                i.requests,
                i.share * 100.0,
                errors,
                i.latency.text(i.latency.p50),
                i.latency.text(i.latency.p99),
                i.breaker.name()
            ));
        }
        md.push('\n');
    }
    if !report.resilience.is_empty() {
        md.push_str("| fault | instance | breaker opened after | requests to it while dead | recovered after |\n|---|---|---|---|---|\n");
        let secs = |v: Option<f64>| v.map_or("-".to_string(), |ms| format!("{:.3} s", ms / 1000.0));
        for r in &report.resilience {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                cell(&r.fault),
                cell(&r.instance),
                secs(r.breaker_opened_after_ms),
                r.requests_to_dead
                    .map_or("-".to_string(), |n| n.to_string()),
                secs(r.recovered_after_ms)
            ));
        }
        md.push('\n');
    }
    if !report.assertions.is_empty() {
        md.push_str("| assertion | result | measured |\n|---|---|---|\n");
        for a in &report.assertions {
            md.push_str(&format!(
                "| `{}` | {} | {} |\n",
                cell(&a.assertion),
                if a.passed { "pass" } else { "**FAIL**" },
                measured(a)
            ));
        }
        md.push('\n');
    }
    md
}

/// Everything a run tells CI: the JUnit files asked for, and under GitHub Actions the
/// annotations (returned, for the command to print) and the step summary.
pub fn publish(report: &Report, targets: &[ReportTarget], env: Env<'_>) -> anyhow::Result<String> {
    use anyhow::Context as _;
    for t in targets.iter().filter(|t| t.format == ReportFormat::Junit) {
        std::fs::write(&t.path, junit(report).to_xml())
            .with_context(|| format!("writing the junit report {}", t.path.display()))?;
    }
    if !super::is_github_actions(env) {
        return Ok(String::new());
    }
    super::summary::append(env, &summary(report)).context("appending to $GITHUB_STEP_SUMMARY")?;
    Ok(annotations::render(
        &annotations(report),
        "the report above lists every assertion",
    ))
}
