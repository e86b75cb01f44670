//! The toy model of superposition x̂ = ReLU(WᵀW x + b): sparse feature data and the fast landscape.

mod landscape;

pub use landscape::{TmsLandscape, TmsWorkspace};

use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use super::family::{Capabilities, Family, FamilyProblem};
use super::{train_and_test, Dataset, NetShape};
use crate::sections::data::DataConfig;
use crate::sections::rules::{at_least, invalid, ConfigError};

/// `kind = "tms"`: x̂ = ReLU(WᵀW x + b), W: hidden × features.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tms {
    /// Number of sparse input features.
    pub features: usize,
    /// Hidden dimension (fewer than features gives superposition).
    pub hidden: usize,
}

/// What this kind can do.
pub static CAPABILITIES: Capabilities = Capabilities {
    kind: "tms",
    data_keys: &["feature_probability"],
    trainable: true,
    stacks: false,
    f32_chains: false,
    behavioural: false,
};

impl Family for Tms {
    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    fn validate(&self, d: &DataConfig) -> Result<(), ConfigError> {
        at_least("model.features", self.features, 1)?;
        at_least("model.hidden", self.hidden, 1)?;
        if let Some(p) = d.feature_probability {
            if !(p > 0.0 && p <= 1.0) {
                return Err(invalid("data.feature_probability", p, "must be in (0, 1]"));
            }
        }
        Ok(())
    }

    /// Sparse inputs (each feature active with probability p, value U(0, 1)) that are their own targets.
    fn build(&self, d: &DataConfig, rng: &mut Xoshiro256PlusPlus) -> FamilyProblem {
        let features = self.features;
        let p = d.feature_probability.unwrap_or(1.0 / features as f64);
        let make = |count: usize| {
            let x = sparse_inputs(count, features, p, rng);
            Dataset {
                targets: x.clone(),
                inputs: x,
                d_in: features,
                d_out: features,
            }
        };
        let (train, test) = train_and_test(d, make);
        FamilyProblem {
            train: Some(train),
            test,
            shape: Some(NetShape::Tms {
                features,
                hidden: self.hidden,
            }),
            ..FamilyProblem::default()
        }
    }
}

/// Sparse inputs for the superposition model: each feature active with probability p, value U(0, 1).
fn sparse_inputs<R: Rng>(n: usize, features: usize, p: f64, rng: &mut R) -> Vec<f64> {
    (0..n * features)
        .map(|_| {
            if rng.random::<f64>() < p {
                rng.random::<f64>()
            } else {
                0.0
            }
        })
        .collect()
}
