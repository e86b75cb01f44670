//! The library's error type: one variant per way an estimator's input can be wrong.

use thiserror::Error;

/// Everything that can go wrong inside `slt-estimators`.
///
/// Each variant names the offending setting and its value, so that the application can show it to
/// the user unchanged.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// A numeric setting is outside its allowed range.
    #[error("{name} = {value}: {rule}")]
    OutOfRange {
        /// The setting's name, as the user knows it (for example `llc.step_size`).
        name: &'static str,
        /// The offending value, formatted.
        value: String,
        /// The rule it breaks, in words (for example "must be positive and finite").
        rule: &'static str,
    },
    /// A model's shape is invalid for the formula or landscape asked for.
    #[error("invalid shape {what}: {why}")]
    InvalidShape {
        /// What was given (for example the widths `[3, 0, 2]`).
        what: String,
        /// Why it is invalid.
        why: String,
    },
    /// Every chain diverged, so there is no estimate to report.
    #[error(
        "all {chains} chains diverged ({reason}); lower llc.step_size or raise llc.localization"
    )]
    AllChainsDiverged {
        /// How many chains ran.
        chains: usize,
        /// The first chain's divergence, in words.
        reason: String,
    },
    /// A numerical routine failed (for example a non-finite value where a finite one is needed).
    #[error("numerical failure in {what}: {why}")]
    Numerical {
        /// The routine.
        what: &'static str,
        /// What went wrong.
        why: String,
    },
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;
