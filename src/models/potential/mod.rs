//! Analytic potentials K(w) = Σ_m Π_j w_j^(e_mj): no data, the origin as reference point, the known λ of normal crossings.

use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use slt_estimators::{theory, Landscape};

use super::family::{Capabilities, Family, FamilyProblem};
use crate::sections::data::DataConfig;
use crate::sections::rules::{invalid, ConfigError};

/// `kind = "potential"`: an analytic potential.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Potential {
    /// One exponent list per monomial, one even exponent per coordinate.
    pub monomials: Vec<Vec<u32>>,
}

/// What this kind can do.
pub static CAPABILITIES: Capabilities = Capabilities {
    kind: "potential",
    data_keys: &[],
    trainable: false,
    stacks: false,
    f32_chains: false,
    behavioural: false,
};

impl Family for Potential {
    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    fn validate(&self, _data: &DataConfig) -> Result<(), ConfigError> {
        slt_estimators::Potential::new(&self.monomials)
            .map(|_| ())
            .map_err(|e| {
                invalid(
                    "model.monomials",
                    format!("{:?}", self.monomials),
                    e.to_string(),
                )
            })
    }

    /// The potential itself; n only sets nβ = n / ln n.
    fn build(&self, _data: &DataConfig, _rng: &mut Xoshiro256PlusPlus) -> FamilyProblem {
        let potential =
            slt_estimators::Potential::new(&self.monomials).expect("validated by the config");
        FamilyProblem {
            reference_point: Some(vec![0.0; potential.dim()]),
            theory: theory::potential(&self.monomials).ok().flatten(),
            potential: Some(potential),
            ..FamilyProblem::default()
        }
    }

    fn reference(&self) -> Option<(&'static str, bool)> {
        Some(("origin", true))
    }
}
