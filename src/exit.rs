//! Exit codes and the split between a user's mistake, a failed operation and an interruption.
//!
//! Every command returns `anyhow::Result`; the error's chain decides the code. A [`UsageError`]
//! anywhere in the chain means the input was wrong (exit 2, and the message says how to fix it);
//! [`Interrupted`] means Ctrl-C (130); anything else is a failed operation (1).
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

/// Which exit code an error chain maps to.
pub fn classify(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if cause.is::<UsageError>() || cause.is::<NotImplemented>() {
            return Exit::Usage;
        }
        if cause.is::<Interrupted>() {
            return Exit::Interrupted;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
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
