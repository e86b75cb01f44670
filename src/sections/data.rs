//! The [data] section: sizes and the family-specific knobs of the synthetic data sets.

use serde::{Deserialize, Serialize};

/// The training data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Training set size (for a potential: the n in nβ = n / ln n); default 10000. Not for modadd,
    /// whose training set is `train_fraction` of the p² pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<usize>,
    /// Held-out test set size (0: none).
    #[serde(default)]
    pub test_n: usize,
    /// dln: rank of the teacher's product matrix (default: 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_rank: Option<usize>,
    /// dln: the teacher's nonzero singular values (default: evenly spaced from 2 down to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub singular_values: Option<Vec<f64>>,
    /// Standard deviation of Gaussian label noise (dln, mlp).
    #[serde(default)]
    pub noise: f64,
    /// tms: probability that a feature is active in an input (default 1 / features).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_probability: Option<f64>,
    /// modadd: the fraction of the p² pairs (a, b) in the training split, in (0, 1] (default 0.5);
    /// the rest is the test split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_fraction: Option<f64>,
}

/// The training set size when `data.n` is not given.
pub const DEFAULT_N: usize = 10000;

/// The largest modulus of modadd.
pub const MAX_MODULUS: usize = 256;

/// The training fraction of modadd when `data.train_fraction` is not given.
pub const DEFAULT_TRAIN_FRACTION: f64 = 0.5;

impl DataConfig {
    /// The training set size `n` (default [`DEFAULT_N`]); modadd's is set by its split instead.
    pub fn n(&self) -> usize {
        self.n.unwrap_or(DEFAULT_N)
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            n: None,
            test_n: 0,
            teacher_rank: None,
            singular_values: None,
            noise: 0.0,
            feature_probability: None,
            train_fraction: None,
        }
    }
}
