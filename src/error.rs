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
    /// An estimator's error: a config key out of range or a shape it cannot take are input, the
    /// rest (an internal setting out of range, all chains diverged, a numerical failure) a failed
    /// run. An out-of-range setting is named by its config key as the user writes it
    /// ([`config_key`]), or said to be internal.
    #[error("{}", describe_estimator(.0))]
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
            Error::Estimator(slt_estimators::Error::OutOfRange { name, .. }) => {
                if config_key(name).is_some() {
                    2
                } else {
                    1
                }
            }
            Error::Estimator(slt_estimators::Error::InvalidShape { .. }) => 2,
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

/// The config key (as the user writes it) of an estimator's setting, by the name the estimator
/// gives it in `OutOfRange`; `None` for a setting the application chooses itself, which is not in
/// the config (a nested-sampling depth, the Laplace cutoff, RMSProp's decay, …): the user cannot
/// have set it wrong.
pub fn config_key(name: &str) -> Option<&'static str> {
    Some(match name {
        // The estimators' name is the config's key.
        "llc.step_size" => "llc.step_size",
        "llc.localization" => "llc.localization",
        "llc.nbeta" => "llc.nbeta",
        "llc.chains" => "llc.chains",
        "llc.draws" => "llc.draws",
        "llc.thin" => "llc.thin",
        "llc.batch" => "llc.batch",
        "llc.ladder" => "llc.ladder",
        "llc.mala_every" => "llc.mala_every",
        "hessian.top_k" => "hessian.top_k",
        "hessian.rank_rtol" => "hessian.rank_rtol",
        "volume.prior.half_width" => "volume.prior.half_width",
        "volume.prior.std" => "volume.prior.std",
        // The estimators' name for a config key spelled otherwise.
        "volume.nested.live_points" => "volume.live_points",
        "volume.nested.runs" => "volume.runs",
        "volume.radial.directions" => "volume.directions",
        "volume.eps_from" => "volume.eps.from",
        "volume.eps_to" => "volume.eps.to",
        "volume.eps_points" => "volume.eps.points",
        _ => return None,
    })
}

/// An estimator's error in words: an out-of-range config key under the key the user writes, an
/// internal setting said to be one (a failed run, not bad input).
fn describe_estimator(e: &slt_estimators::Error) -> String {
    match e {
        slt_estimators::Error::OutOfRange { name, value, rule } => match config_key(name) {
            Some(key) => format!("{key} = {value}: {rule}"),
            None => format!(
                "internal setting {name} = {value}: {rule} (not a config key: the run chose it, so this is a failure of the run, not of the input)"
            ),
        },
        other => other.to_string(),
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
        let shape = Error::from(slt_estimators::Error::InvalidShape {
            what: "[3, 0]".into(),
            why: "too few layers".into(),
        });
        assert_eq!(shape.exit_code(), 2);
        assert_eq!(Error::Input("x".into()).exit_code(), 2);
        assert_eq!(Error::Run("x".into()).exit_code(), 1);
        assert_eq!(Error::Write("x".into()).exit_code(), 1);
    }

    fn out_of_range(name: &'static str) -> Error {
        Error::from(slt_estimators::Error::OutOfRange {
            name,
            value: "0".into(),
            rule: "must be at least 1",
        })
    }

    #[test]
    fn estimator_settings_are_named_by_their_config_key() {
        for (name, key) in [
            ("volume.nested.live_points", "volume.live_points"),
            ("volume.nested.runs", "volume.runs"),
            ("volume.radial.directions", "volume.directions"),
            ("volume.eps_from", "volume.eps.from"),
            ("volume.eps_to", "volume.eps.to"),
            ("volume.eps_points", "volume.eps.points"),
            ("llc.chains", "llc.chains"),
            ("hessian.top_k", "hessian.top_k"),
        ] {
            let e = out_of_range(name);
            assert_eq!(e.exit_code(), 2, "{name}");
            assert_eq!(e.to_string(), format!("{key} = 0: must be at least 1"));
            assert_eq!(e.context("volume").exit_code(), 2);
        }
    }

    #[test]
    fn internal_settings_out_of_range_are_a_failed_run() {
        for name in [
            "volume.nested.max_depth",
            "volume.nested.walk_steps",
            "llc.divergence_radius",
            "volume.laplace.cutoff",
            "llc.rmsprop_decay",
            "hessian.lanczos_steps",
            "eps",
        ] {
            let e = out_of_range(name);
            assert_eq!(e.exit_code(), 1, "{name}");
            let text = e.to_string();
            assert!(
                text.starts_with(&format!("internal setting {name} = 0"))
                    && text.contains("not a config key"),
                "{text}"
            );
            assert_eq!(e.context("volume").exit_code(), 1);
        }
    }

    /// Every key [`config_key`] names is a key of the config schema: set to a value of the wrong
    /// type, the config is rejected for that value, not for an unknown key.
    #[test]
    fn config_keys_are_keys_of_the_schema() {
        let names = [
            "llc.step_size",
            "llc.localization",
            "llc.nbeta",
            "llc.chains",
            "llc.draws",
            "llc.thin",
            "llc.batch",
            "llc.ladder",
            "llc.mala_every",
            "hessian.top_k",
            "hessian.rank_rtol",
            "volume.prior.half_width",
            "volume.prior.std",
            "volume.nested.live_points",
            "volume.nested.runs",
            "volume.radial.directions",
            "volume.eps_from",
            "volume.eps_to",
            "volume.eps_points",
        ];
        for name in names {
            let key = config_key(name).expect("a config key");
            let mut tree: toml::Table =
                toml::from_str("name = \"x\"\n[model]\nkind = \"dln\"\nwidths = [3, 2, 3]\n")
                    .unwrap();
            if key == "volume.prior.std" {
                crate::sweep::set_key(&mut tree, "volume.prior.kind", "gaussian".into()).unwrap();
            } else if key.starts_with("volume.prior.") {
                crate::sweep::set_key(&mut tree, "volume.prior.kind", "box".into()).unwrap();
            }
            crate::sweep::set_key(&mut tree, key, toml::Value::Boolean(true)).unwrap();
            let err = crate::config::ValidConfig::from_toml(&toml::to_string(&tree).unwrap())
                .unwrap_err()
                .to_string();
            assert!(
                !err.contains("unknown field") && !err.contains("missing field"),
                "{key}: {err}"
            );
        }
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
