//! Fault plans (`--fault at=10s,kill=orders-2`) and the actuator that carries them out.
use std::fmt;
use std::str::FromStr;

use super::SpecError;
use std::time::Duration;

use futures::future::BoxFuture;

/// One injected fault and when.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultStep {
    pub at: Duration,
    pub action: FaultAction,
}

/// What happens to an instance.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    Kill(String),
    Restore(String),
    ErrorRate(String, f64),
    Latency(String, Duration),
}

impl FaultAction {
    pub fn instance(&self) -> &str {
        match self {
            FaultAction::Kill(id)
            | FaultAction::Restore(id)
            | FaultAction::ErrorRate(id, _)
            | FaultAction::Latency(id, _) => id,
        }
    }

    pub fn kind(&self) -> FaultKind {
        match self {
            FaultAction::Kill(_) => FaultKind::Kill,
            FaultAction::Restore(_) => FaultKind::Restore,
            FaultAction::ErrorRate(..) => FaultKind::ErrorRate,
            FaultAction::Latency(..) => FaultKind::Latency,
        }
    }
}

/// What kind of fault an action is, carried by its timeline event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    Kill,
    Restore,
    ErrorRate,
    Latency,
}

impl FaultKind {
    /// The `--fault` key: `kill`, `restore`, `error-rate`, `latency`.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Restore => "restore",
            FaultKind::ErrorRate => "error-rate",
            FaultKind::Latency => "latency",
        }
    }
}

impl fmt::Display for FaultStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = humantime::format_duration(self.at);
        match &self.action {
            FaultAction::Kill(id) => write!(f, "at={at},kill={id}"),
            FaultAction::Restore(id) => write!(f, "at={at},restore={id}"),
            FaultAction::ErrorRate(id, r) => write!(f, "at={at},error-rate={id}:{r}"),
            FaultAction::Latency(id, d) => {
                write!(f, "at={at},latency={id}:{}", humantime::format_duration(*d))
            }
        }
    }
}

const FAULT_FORMS: &str = "use at=10s,kill=ID | at=20s,restore=ID | at=5s,error-rate=ID:0.5 | \
                           at=5s,latency=ID:200ms";

fn valid_instance_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl FromStr for FaultStep {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, SpecError> {
        let mut at = None;
        let mut action = None;
        for part in s.split(',') {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("fault {s:?}: {part:?} is not key=value; {FAULT_FORMS}"))?;
            let id_of = |v: &str| -> Result<String, SpecError> {
                if valid_instance_id(v) {
                    Ok(v.to_string())
                } else {
                    Err(format!(
                        "fault {s:?}: {v:?} is not an instance id (letters, digits, - _ .)"
                    )
                    .into())
                }
            };
            let split = |v: &str| -> Result<(String, String), SpecError> {
                let (id, arg) = v
                    .rsplit_once(':')
                    .ok_or_else(|| format!("fault {s:?}: write {key}=ID:VALUE; {FAULT_FORMS}"))?;
                Ok((id_of(id)?, arg.to_string()))
            };
            let next = match key {
                "at" => {
                    at = Some(
                        crate::settings::parse_duration(value)
                            .map_err(|e| format!("fault {s:?}: {e}"))?,
                    );
                    continue;
                }
                "kill" => FaultAction::Kill(id_of(value)?),
                "restore" => FaultAction::Restore(id_of(value)?),
                "error-rate" => {
                    let (id, rate) = split(value)?;
                    let rate: f64 = rate.parse().map_err(|_| {
                        format!("fault {s:?}: error rate {rate:?} is not a number from 0 to 1")
                    })?;
                    if !(0.0..=1.0).contains(&rate) {
                        return Err(
                            format!("fault {s:?}: error rate {rate} is not within 0..1").into()
                        );
                    }
                    FaultAction::ErrorRate(id, rate)
                }
                "latency" => {
                    let (id, d) = split(value)?;
                    let d = crate::settings::parse_duration(&d)
                        .map_err(|e| format!("fault {s:?}: {e}"))?;
                    FaultAction::Latency(id, d)
                }
                other => {
                    return Err(format!("fault {s:?}: unknown key {other:?}; {FAULT_FORMS}").into())
                }
            };
            if action.replace(next).is_some() {
                return Err(format!("fault {s:?}: one action per --fault; {FAULT_FORMS}").into());
            }
        }
        let at = at.ok_or_else(|| format!("fault {s:?}: missing at=DURATION; {FAULT_FORMS}"))?;
        let action =
            action.ok_or_else(|| format!("fault {s:?}: missing an action; {FAULT_FORMS}"))?;
        Ok(FaultStep { at, action })
    }
}

/// Why a fault could not be carried out (or the actuator not set up).
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// The fleet refused or failed: no such instance, its admin API did not answer, the
    /// fleet is locked by a `hale up`/`down` that is changing it, the engine is gone...
    #[error(transparent)]
    Fleet(#[from] crate::fleet::FleetError),
    /// A pod on the cluster could not be deleted, or its admin API did not take the faults.
    #[error("{0}")]
    Cluster(String),
}

impl FaultError {
    /// Whether the user can fix it by changing what they asked for (an unknown instance, an
    /// error rate outside 0..1), as opposed to a fault that failed to happen.
    pub fn is_bad_input(&self) -> bool {
        use crate::fleet::FleetError;
        match self {
            FaultError::Fleet(e) => matches!(
                e,
                FleetError::NoInstance { .. }
                    | FleetError::BadErrorRate(_)
                    | FleetError::NoFleet { .. }
                    | FleetError::BadState { .. }
            ),
            FaultError::Cluster(_) => false,
        }
    }
}

/// Carries out faults on real instances. The fleet implementation kills and restores
/// processes started by `hale up` and sets faults through each instance's admin API.
/// Each call is async: the run's workers keep sending while a fault is carried out.
pub trait FaultActuator: Send + Sync {
    fn kill<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), FaultError>>;
    fn restore<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), FaultError>>;
    fn set_faults<'a>(
        &'a self,
        instance: &'a str,
        error_rate: f64,
        latency: Duration,
    ) -> BoxFuture<'a, Result<(), FaultError>>;
    /// The instance ids this actuator can act on, to validate a plan before any load is sent.
    fn instances(&self) -> Vec<String>;
}

/// Carry out one fault step's action through `actuator`.
pub async fn carry_out(
    actuator: &dyn FaultActuator,
    action: &FaultAction,
) -> Result<(), FaultError> {
    match action {
        FaultAction::Kill(id) => actuator.kill(id).await,
        FaultAction::Restore(id) => actuator.restore(id).await,
        FaultAction::ErrorRate(id, rate) => actuator.set_faults(id, *rate, Duration::ZERO).await,
        FaultAction::Latency(id, latency) => actuator.set_faults(id, 0.0, *latency).await,
    }
}

/// Check a plan against the actuator's instances; the message names the unknown id.
pub fn validate_plan(
    plan: &[FaultStep],
    known: &[String],
    duration: Option<Duration>,
) -> Result<(), SpecError> {
    for step in plan {
        let id = step.action.instance();
        if !known.iter().any(|k| k == id) {
            return Err(format!(
                "--fault {step}: no instance {id:?} in the fleet (known: {})",
                known.join(", ")
            )
            .into());
        }
        if let Some(d) = duration {
            if step.at >= d {
                return Err(format!(
                    "--fault {step}: at= is not before the end of the run ({})",
                    humantime::format_duration(d)
                )
                .into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_forms_parse() {
        let f: FaultStep = "at=10s,kill=orders-2".parse().unwrap();
        assert_eq!(f.at, Duration::from_secs(10));
        assert_eq!(f.action, FaultAction::Kill("orders-2".into()));
        let f: FaultStep = "at=5s,error-rate=orders-1:0.5".parse().unwrap();
        assert_eq!(f.action, FaultAction::ErrorRate("orders-1".into(), 0.5));
        let f: FaultStep = "latency=orders-1:200ms,at=1500ms".parse().unwrap();
        assert_eq!(
            f.action,
            FaultAction::Latency("orders-1".into(), Duration::from_millis(200))
        );
        assert_eq!(f.at, Duration::from_millis(1500));
        assert_eq!(f.to_string(), "at=1s 500ms,latency=orders-1:200ms");
    }

    #[test]
    fn malformed_faults_explain_the_forms() {
        for bad in [
            "kill=orders-2",
            "at=10s",
            "at=10s,kill=orders-2,restore=orders-2",
            "at=ten,kill=a",
            "at=1s,error-rate=a:2",
            "at=1s,error-rate=a",
            "at=1s,explode=a",
            "at=1s,kill=../etc",
        ] {
            let err = bad.parse::<FaultStep>().unwrap_err();
            assert!(err.0.starts_with("fault "), "{bad}: {err}");
        }
    }

    #[test]
    fn fault_errors_tell_a_mistake_from_a_failure() {
        use crate::fleet::FleetError;
        let unknown = FaultError::from(FleetError::NoInstance {
            id: "orders-9".into(),
            service: "orders".into(),
            known: "orders-1".into(),
        });
        assert!(unknown.is_bad_input());
        let locked = FaultError::from(FleetError::Locked {
            dir: "/srv/orders".into(),
            lock: "/srv/orders/.hale/fleet.lock".into(),
            holder: Some(42),
        });
        assert!(!locked.is_bad_input());
        assert!(locked.to_string().contains("pid 42"), "{locked}");
    }

    #[test]
    fn plan_names_unknown_instances() {
        let plan = vec!["at=1s,kill=orders-9".parse().unwrap()];
        let err = validate_plan(&plan, &["orders-1".into()], None).unwrap_err();
        assert!(
            err.0.contains("orders-9") && err.0.contains("orders-1"),
            "{err}"
        );
    }
}
