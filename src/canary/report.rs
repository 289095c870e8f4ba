//! What the canary commands print: the `hale.deploy.canary/v1` document (docs/json/deploy-canary.md)
//! with every step and check, its text, the canary part of `hale deploy status`, and the GitHub
//! step summary.
use std::io::Write;

use serde::Serialize;

use super::run::{check_line, CanaryOutcome, Decision};
use super::state::{CanaryState, CheckOutcome, Phase};
use super::traffic::TrafficMethod;

/// `--output json` document of `hale deploy --canary`, `promote` and `abort`.
#[derive(Debug, Serialize)]
pub struct CanaryDocument<'a> {
    pub schema: &'static str,
    pub context: &'a str,
    pub namespace: &'a str,
    /// `promoted`, `rolled-back`, `interrupted`.
    pub decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic: Option<&'a TrafficMethod>,
    pub resumed: bool,
    pub canary: &'a CanaryState,
}

pub fn decision_word(d: &Decision) -> &'static str {
    match d {
        Decision::Promoted => "promoted",
        Decision::RolledBack { .. } => "rolled-back",
        Decision::Interrupted => "interrupted",
    }
}

impl<'a> CanaryDocument<'a> {
    pub fn new(context: &'a str, namespace: &'a str, outcome: &'a CanaryOutcome) -> Self {
        CanaryDocument {
            schema: "hale.deploy.canary/v1",
            context,
            namespace,
            decision: decision_word(&outcome.decision),
            reason: match &outcome.decision {
                Decision::RolledBack { reason } => Some(reason),
                _ => None,
            },
            traffic: Some(&outcome.traffic),
            resumed: outcome.resumed,
            canary: &outcome.state,
        }
    }

    /// For `promote`/`abort`, which report the final state only.
    pub fn of_state(context: &'a str, namespace: &'a str, st: &'a CanaryState) -> Self {
        CanaryDocument {
            schema: "hale.deploy.canary/v1",
            context,
            namespace,
            decision: if st.phase == Phase::Promoted {
                "promoted"
            } else {
                "rolled-back"
            },
            reason: st.reason.as_deref(),
            traffic: None,
            resumed: false,
            canary: st,
        }
    }
}

fn phase_word(p: Phase) -> &'static str {
    match p {
        Phase::Progressing => "progressing",
        Phase::Promoting => "promoting",
        Phase::Promoted => "promoted",
        Phase::Aborting => "aborting",
        Phase::RolledBack => "rolled back",
    }
}

/// Every step with its checks, then the decision.
pub fn write_steps(out: &mut dyn Write, st: &CanaryState) -> std::io::Result<()> {
    let steps = st.weights.len();
    for (i, step) in st.steps.iter().enumerate() {
        writeln!(
            out,
            "step {}/{steps}: weight {}% ({} canary, {} stable pods)",
            i + 1,
            step.weight,
            step.canary_replicas,
            step.stable_replicas
        )?;
        for c in &step.checks {
            writeln!(out, "  {}", check_line(i + 1, steps, step.weight, c))?;
        }
    }
    Ok(())
}

pub fn write_text(out: &mut dyn Write, outcome: &CanaryOutcome) -> std::io::Result<()> {
    let st = &outcome.state;
    writeln!(
        out,
        "canary of {} for deployment/{} (traffic: {}, {})",
        st.image, st.service, outcome.traffic.method, outcome.traffic.why
    )?;
    write_steps(out, st)?;
    match &outcome.decision {
        Decision::Promoted => {
            writeln!(out, "promoted: deployment/{} runs {}", st.service, st.image)
        }
        Decision::RolledBack { reason } => writeln!(
            out,
            "rolled back: deployment/{} runs {} again; {reason}",
            st.service, st.stable_image
        ),
        Decision::Interrupted => writeln!(
            out,
            "interrupted: the canary stays at step {}/{} ({}%)",
            st.steps.len(),
            st.weights.len(),
            st.current().map_or(0, |s| s.weight)
        ),
    }
}

/// The canary part of `hale deploy status`.
pub fn write_status(out: &mut dyn Write, st: &CanaryState) -> std::io::Result<()> {
    writeln!(
        out,
        "canary of {}: {} (run {}), step {}/{}{}, {} failed check(s)",
        st.image,
        phase_word(st.phase),
        st.run,
        st.steps.len(),
        st.weights.len(),
        st.current()
            .map(|s| format!(" at {}%", s.weight))
            .unwrap_or_default(),
        st.failed_checks
    )?;
    if let Some(gw) = &st.gateway {
        writeln!(
            out,
            "  traffic: {} on {} (service/{} and service/{})",
            gw.weights(),
            gw.route_names(),
            st.service,
            gw.canary_service
        )?;
    }
    if let Some(reason) = &st.reason {
        writeln!(out, "  {reason}")?;
    }
    let steps = st.weights.len();
    for (i, step) in st.steps.iter().enumerate() {
        if let Some(c) = step.checks.last() {
            writeln!(out, "  {}", check_line(i + 1, steps, step.weight, c))?;
        }
    }
    Ok(())
}

/// The Markdown for `$GITHUB_STEP_SUMMARY`.
pub fn summary(outcome: &CanaryOutcome) -> String {
    let st = &outcome.state;
    let mut md = format!(
        "### hale deploy --canary: {}\n\n`{}` → deployment/{} ({} traffic)\n\n| step | weight | pods (canary/stable) | check | gates |\n|---|---|---|---|---|\n",
        decision_word(&outcome.decision),
        st.image,
        st.service,
        outcome.traffic.method
    );
    for (i, step) in st.steps.iter().enumerate() {
        for c in &step.checks {
            let gates: Vec<String> = c.gates.iter().map(|g| g.describe()).collect();
            md.push_str(&format!(
                "| {} | {}% | {}/{} | {} | {} |\n",
                i + 1,
                step.weight,
                step.canary_replicas,
                step.stable_replicas,
                match c.outcome {
                    CheckOutcome::Pass => "pass",
                    CheckOutcome::Fail => "fail",
                    CheckOutcome::Error => "no data",
                },
                crate::ci::summary::cell(&gates.join(", "))
            ));
        }
    }
    if let Decision::RolledBack { reason } = &outcome.decision {
        md.push_str(&format!(
            "\n**Rolled back:** {}\n",
            crate::ci::summary::cell(reason)
        ));
    }
    md
}
