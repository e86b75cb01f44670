//! What a config error is, and the small rules every section's checks share (each error names the key and the value).

use std::fmt;
use std::path::PathBuf;

/// Everything wrong with a config, each naming the file or key and the value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (it names the key, line and column).
        message: String,
    },
    /// A value breaks a rule.
    #[error("{key} = {value}: {rule}")]
    Invalid {
        /// The dotted key (for example `llc.step_size`).
        key: String,
        /// The value as given.
        value: String,
        /// The rule it breaks.
        rule: String,
    },
}

pub fn invalid(key: &str, value: impl fmt::Display, rule: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.to_string(),
        rule: rule.into(),
    }
}

pub fn positive_f64(key: &str, v: f64) -> Result<(), ConfigError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(invalid(key, v, "must be positive and finite"))
    }
}

pub fn at_most(key: &str, v: usize, max: usize) -> Result<(), ConfigError> {
    if v <= max {
        Ok(())
    } else {
        Err(invalid(key, v, format!("must be at most {max}")))
    }
}

pub fn at_least(key: &str, v: usize, min: usize) -> Result<(), ConfigError> {
    if v >= min {
        Ok(())
    } else {
        Err(invalid(key, v, format!("must be at least {min}")))
    }
}

pub fn check_widths(widths: &[usize]) -> Result<(), ConfigError> {
    if widths.len() < 3 {
        return Err(invalid(
            "model.widths",
            format!("{widths:?}"),
            "needs at least 3 widths (input, hidden…, output)",
        ));
    }
    if let Some(i) = widths.iter().position(|&w| w == 0) {
        return Err(invalid(
            &format!("model.widths[{i}]"),
            0,
            "every width must be at least 1",
        ));
    }
    // Saturating: absurd widths must be named, not overflow.
    let params: usize = widths
        .windows(2)
        .map(|p| p[0].saturating_mul(p[1]))
        .fold(0, usize::saturating_add);
    if params > 5_000_000 {
        return Err(invalid(
            "model.widths",
            format!("{widths:?}"),
            if params == usize::MAX {
                "far more than 5,000,000 parameters".to_string()
            } else {
                format!("{params} parameters is more than 5,000,000")
            },
        ));
    }
    Ok(())
}
