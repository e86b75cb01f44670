//! The application's one error type: what went wrong, in words, and the exit code it ends with
//! (2: bad input, 1: a run that failed).

use std::fmt;

use crate::config::ConfigError;
use crate::report::plot::PlotError;

/// The application's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a command can fail with.
///
/// Input errors (exit code 2) are the user's to fix: a config key, a file that cannot be read or
/// parsed, a missing checkpoint, a bad command-line value. Run failures (exit code 1) happen to a
/// valid input: every chain diverged, training diverged, results could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A config file that cannot be read or parsed, or a value that breaks a rule (input).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Other bad input: a file that cannot be read or parsed (a checkpoint, a results CSV, the
    /// peer's results), a command-line value, a config with nothing to do.
    #[error("{0}")]
    Input(String),
    /// An estimator's error: its settings out of range or a shape it cannot take are input, the
    /// rest (all chains diverged, a numerical failure) a failed run.
    #[error(transparent)]
    Estimator(#[from] slt_estimators::Error),
    /// A run that failed on valid input: training diverged, sweep points failed.
    #[error("{0}")]
    Run(String),
    /// Results that could not be formatted or written (a failed run).
    #[error("{0}")]
    Write(String),
    /// A plot that could not be drawn or saved (a failed run).
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// An error with what was being done when it happened; its exit code is the inner error's.
    #[error("{context}: {inner}")]
    Context {
        /// What was being done.
        context: String,
        /// What went wrong.
        inner: Box<Error>,
    },
}

impl Error {
    /// The process exit code: 2 for bad input, 1 for a run that failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Input(_) => 2,
            Error::Estimator(
                slt_estimators::Error::OutOfRange { .. }
                | slt_estimators::Error::InvalidShape { .. },
            ) => 2,
            Error::Estimator(_) | Error::Run(_) | Error::Write(_) | Error::Plot(_) => 1,
            Error::Context { inner, .. } => inner.exit_code(),
        }
    }

    /// Whether the user's input is at fault (exit code 2).
    pub fn is_input(&self) -> bool {
        self.exit_code() == 2
    }

    /// This error with what was being done when it happened (the exit code is kept).
    pub fn context(self, context: impl fmt::Display) -> Error {
        Error::Context {
            context: context.to_string(),
            inner: Box::new(self),
        }
    }
}

/// Formatting a config or summary into TOML failed: results cannot be written.
impl From<toml::ser::Error> for Error {
    fn from(e: toml::ser::Error) -> Self {
        Error::Write(e.to_string())
    }
}

/// Adds what was being done to an error, keeping its exit code; on an `Option`, `None` becomes a
/// failed run with that message (an invariant of the run that did not hold).
pub trait Context<T> {
    /// Wraps the error with `context`.
    fn context(self, context: impl fmt::Display) -> Result<T>;
    /// Wraps the error with the context `f` makes (only on failure).
    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.into().context(context))
    }
    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.ok_or_else(|| Error::Run(context.to_string()))
    }
    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| Error::Run(f().to_string()))
    }
}

/// Classifies a foreign error (I/O, CSV, JSON, a checkpoint's recorder) by what was being done:
/// reading an input or writing results. The message is `"<what>: <error>"`.
pub trait IoContext<T> {
    /// An input that could not be read or parsed (exit code 2).
    fn input_context<C: fmt::Display>(self, what: impl FnOnce() -> C) -> Result<T>;
    /// Results that could not be formatted or written (exit code 1).
    fn output_context<C: fmt::Display>(self, what: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: fmt::Display> IoContext<T> for std::result::Result<T, E> {
    fn input_context<C: fmt::Display>(self, what: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| Error::Input(format!("{}: {e}", what())))
    }
    fn output_context<C: fmt::Display>(self, what: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| Error::Write(format!("{}: {e}", what())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_innermost_error() {
        let config = Error::from(ConfigError::Invalid {
            key: "llc.chains".into(),
            value: "0".into(),
            rule: "must be at least 1".into(),
        });
        assert_eq!(config.exit_code(), 2);
        assert_eq!(config.context("sweep file x").exit_code(), 2);
        let diverged = Error::from(slt_estimators::Error::AllChainsDiverged {
            chains: 2,
            reason: "loss not finite".into(),
        });
        assert_eq!(diverged.exit_code(), 1);
        let range = Error::from(slt_estimators::Error::OutOfRange {
            name: "llc.step_size",
            value: "-1".into(),
            rule: "must be positive",
        });
        assert_eq!(range.context("the ladder").exit_code(), 2);
        assert_eq!(Error::Input("x".into()).exit_code(), 2);
        assert_eq!(Error::Run("x".into()).exit_code(), 1);
        assert_eq!(Error::Write("x".into()).exit_code(), 1);
    }

    #[test]
    fn messages_read_outer_to_inner() {
        let e: Result<()> = Err(std::io::Error::other("disk full")).output_context(|| "writing a");
        let e = e.context("training b").unwrap_err();
        assert_eq!(e.to_string(), "training b: writing a: disk full");
        assert_eq!(e.exit_code(), 1);
        let e: Result<()> = Err("no such file").input_context(|| "reading c");
        assert_eq!(e.unwrap_err().to_string(), "reading c: no such file");
        let none: Result<u8> = None.context("no checkpoint");
        assert_eq!(none.unwrap_err().to_string(), "no checkpoint");
    }
}
