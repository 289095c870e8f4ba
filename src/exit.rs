//! Exit codes and the split between a user's mistake, a failed operation and an interruption.
//!
//! Every command returns `anyhow::Result`; the error's chain decides the code, in one place
//! ([`classify`]). Domain modules return their own errors and never decide an exit code: the
//! command layer's [`UsageError`], or a domain error variant that [`is_bad_input`] names, means
//! the input was wrong (exit 2, and the message says how to fix it); [`Interrupted`] means a stop
//! signal (130); anything else is a failed operation (1).
use std::fmt;

/// The process exit codes hale documents (docs/exit-codes.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// The command did what was asked.
    Ok = 0,
    /// The operation failed: a server was unreachable, a build broke, an assertion did not hold.
    Failed = 1,
    /// Usage or bad input: a flag, name, URL or file was wrong. Nothing was changed.
    Usage = 2,
    /// `hale load` ran, and an `--assert` did not hold (k6 uses 99 for failed thresholds).
    AssertionsFailed = 99,
    /// Interrupted by SIGINT (Ctrl-C).
    Interrupted = 130,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

/// The user's mistake: what is wrong and how to fix it, in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The run was stopped by SIGINT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// `hale load --assert`: the run went through and measured, and these assertions did not hold
/// (exit 99, apart from a run that broke).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionsFailed(pub Vec<String>);

impl fmt::Display for AssertionsFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "assertion failed: {}", self.0.join(", "))
    }
}

impl std::error::Error for AssertionsFailed {}

/// A command that exists in the CLI but whose issue has not landed. Exits 2, never a fake success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotImplemented(pub &'static str);

impl fmt::Display for NotImplemented {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`hale {}` is not implemented yet", self.0)
    }
}

impl std::error::Error for NotImplemented {}

/// Build a [`UsageError`] as an `anyhow::Error`: `return Err(usage!("bad name {n:?}: ..."))`.
#[macro_export]
macro_rules! usage {
    ($($arg:tt)*) => {
        ::anyhow::Error::new($crate::exit::UsageError(format!($($arg)*)))
    };
}

/// Whether a domain error is the user's to fix (a name, URL, flag value or file they gave), as
/// opposed to an operation that failed.
pub fn is_bad_input(cause: &(dyn std::error::Error + 'static)) -> bool {
    use crate::discovery::RegistryError;
    use crate::fleet::FleetError;
    if cause.is::<UsageError>()
        || cause.is::<NotImplemented>()
        || cause.is::<crate::names::NameError>()
        || cause.is::<crate::load::SpecError>()
        || cause.is::<crate::load::plan::PlanError>()
    {
        return true;
    }
    if let Some(e) = cause.downcast_ref::<crate::settings::SettingsError>() {
        return e.is_bad_input();
    }
    if let Some(e) = cause.downcast_ref::<crate::load::histograms::HistogramError>() {
        return e.is_bad_input();
    }
    if let Some(e) = cause.downcast_ref::<RegistryError>() {
        return matches!(
            e,
            RegistryError::BadUrl { .. }
                | RegistryError::BadInstance(_)
                | RegistryError::Name(_)
                | RegistryError::DuplicateId { .. }
                | RegistryError::LayoutNotSupported { .. }
                | RegistryError::NewerFormat(_)
        ) || matches!(e, RegistryError::File { cause, .. }
            if crate::userfile::is_refusal(cause)
                // Not a registry file (malformed JSON): the user's to remove or point away from.
                || cause.kind() == std::io::ErrorKind::InvalidData);
    }
    if let Some(e) = cause.downcast_ref::<crate::load::targets::TargetError>() {
        use crate::load::targets::TargetError;
        return matches!(
            e,
            TargetError::Bad(_) | TargetError::NoInstances { .. } | TargetError::Tls(_)
        );
    }
    if let Some(e) = cause.downcast_ref::<crate::canary::CanaryError>() {
        return e.is_bad_input();
    }
    if let Some(e) = cause.downcast_ref::<crate::deploy::DeployError>() {
        return e.is_bad_input();
    }
    if let Some(e) = cause.downcast_ref::<crate::scaffold::ScaffoldError>() {
        return e.is_bad_input();
    }
    if let Some(e) = cause.downcast_ref::<crate::load::job::JobError>() {
        return e.is_bad_input();
    }
    if let Some(e) = cause.downcast_ref::<crate::load::LoadError>() {
        return matches!(e, crate::load::LoadError::BadPath { .. });
    }
    if let Some(e) = cause.downcast_ref::<crate::image::build::BuildError>() {
        return e.is_bad_input();
    }
    if let Some(e) = cause.downcast_ref::<crate::engine::EngineError>() {
        return e.is_bad_input();
    }
    if let Some(e) = cause.downcast_ref::<crate::fleet::docker::DockerError>() {
        return e.is_bad_input();
    }
    if let Some(e) = cause.downcast_ref::<FleetError>() {
        if let FleetError::Docker(e) = e {
            return e.is_bad_input();
        }
        return matches!(
            e,
            FleetError::RegistryChanged { .. }
                | FleetError::Escape(_)
                | FleetError::RuntimeChanged { .. }
                | FleetError::ServiceChanged { .. }
                | FleetError::NotAService(_)
                | FleetError::NoInstance { .. }
                | FleetError::BadErrorRate(_)
                | FleetError::NewerState(_)
                // A fleet.json that is not one: the user's file to remove or restore.
                | FleetError::BadState { .. }
        );
    }
    false
}

/// Which exit code an error chain maps to.
pub fn classify(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if cause
            .downcast_ref::<crate::fleet::FleetError>()
            .is_some_and(|e| matches!(e, crate::fleet::FleetError::Stopped))
        {
            return Exit::Interrupted;
        }
        if is_bad_input(cause) {
            return Exit::Usage;
        }
        if cause.is::<Interrupted>() {
            return Exit::Interrupted;
        }
        if cause.is::<AssertionsFailed>() {
            return Exit::AssertionsFailed;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if crate::userfile::is_refusal(io) {
                return Exit::Usage;
            }
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                return Exit::Ok;
            }
        }
    }
    Exit::Failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_error_deep_in_chain_exits_2() {
        let err = anyhow::Error::new(UsageError("bad".into())).context("while reading flags");
        assert_eq!(classify(&err), Exit::Usage);
    }

    #[test]
    fn domain_errors_are_classified_by_variant() {
        let bad = crate::discovery::RegistryUrl::parse("http://x:1").unwrap_err();
        assert_eq!(classify(&anyhow::Error::new(bad)), Exit::Usage);
        let name = crate::names::validate_service_name("Orders").unwrap_err();
        assert_eq!(
            classify(&anyhow::Error::new(name).context("checking flags")),
            Exit::Usage
        );
        let lost = crate::discovery::RegistryError::Lost {
            url: "etcd://127.0.0.1:2379".into(),
            id: "o1".into(),
        };
        assert_eq!(classify(&anyhow::Error::new(lost)), Exit::Failed);
    }

    #[test]
    fn scaffold_errors_split_bad_input_from_failed_writes() {
        let lock = crate::scaffold::ScaffoldError::Lock("no hale.lock".into());
        assert_eq!(classify(&anyhow::Error::new(lock)), Exit::Usage);
        let io = crate::scaffold::ScaffoldError::Io {
            action: "writing",
            path: "x".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert_eq!(classify(&anyhow::Error::new(io)), Exit::Failed);
    }

    #[test]
    fn failed_assertions_exit_99_like_k6() {
        let err = anyhow::Error::new(AssertionsFailed(vec!["p99<1ms".into()]));
        assert_eq!(err.to_string(), "assertion failed: p99<1ms");
        assert_eq!(classify(&err), Exit::AssertionsFailed);
    }

    #[test]
    fn broken_pipe_is_success() {
        let err = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert_eq!(classify(&err), Exit::Ok);
    }

    #[test]
    fn other_errors_exit_1() {
        assert_eq!(
            classify(&anyhow::anyhow!("connection refused")),
            Exit::Failed
        );
    }
}
