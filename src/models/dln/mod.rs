//! Deep linear networks f(x) = W_L ⋯ W_1 x on a teacher of given rank: data, the minimal true point, Aoyagi's λ, and the fast landscape.

mod landscape;

pub use landscape::{DlnLandscape, DlnWorkspace};

use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use slt_estimators::theory;

use super::family::{Capabilities, Family, FamilyProblem};
use super::{train_and_test, Dataset, NetShape, Problem};
use crate::data::{gaussian_inputs, linear_targets, DlnTeacher};
use crate::sections::data::DataConfig;
use crate::sections::rules::{check_widths, invalid, ConfigError};

/// `kind = "dln"`: a deep linear network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Dln {
    /// Input, hidden…, output widths (at least 3: two layers or more).
    pub widths: Vec<usize>,
}

/// What this kind can do.
pub static CAPABILITIES: Capabilities = Capabilities {
    kind: "dln",
    data_keys: &["teacher_rank", "singular_values", "noise"],
    trainable: true,
    stacks: true,
    f32_chains: false,
    behavioural: true,
};

impl Family for Dln {
    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    fn validate(&self, d: &DataConfig) -> Result<(), ConfigError> {
        check_widths(&self.widths)?;
        let narrowest = *self.widths.iter().min().expect("checked non-empty");
        let rank = d.teacher_rank.unwrap_or(1);
        if rank > narrowest {
            return Err(invalid(
                "data.teacher_rank",
                rank,
                format!("must be at most the narrowest width, {narrowest}"),
            ));
        }
        if let Some(s) = &d.singular_values {
            if s.len() != rank {
                return Err(invalid(
                    "data.singular_values",
                    format!("{s:?}"),
                    format!("needs exactly teacher_rank = {rank} values"),
                ));
            }
            if let Some(v) = s.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
                return Err(invalid(
                    "data.singular_values",
                    v,
                    "every singular value must be positive and finite",
                ));
            }
        }
        Ok(())
    }

    /// Gaussian inputs, targets from a teacher of rank `data.teacher_rank` (plus label noise); the
    /// reference point is the teacher's minimal true point, where Aoyagi's λ applies.
    fn build(&self, d: &DataConfig, rng: &mut Xoshiro256PlusPlus) -> FamilyProblem {
        let widths = &self.widths;
        let rank = d.teacher_rank.unwrap_or(1);
        let sv = d
            .singular_values
            .clone()
            .unwrap_or_else(|| DlnTeacher::default_singular_values(rank));
        let teacher = DlnTeacher::new(widths, &sv, rng);
        let t = teacher.product();
        let (din, dout) = (widths[0], widths[widths.len() - 1]);
        let make = |count: usize| {
            let x = gaussian_inputs(count, din, rng);
            let y = linear_targets(&t, dout, din, &x, d.noise, rng);
            Dataset {
                inputs: x,
                targets: y,
                d_in: din,
                d_out: dout,
            }
        };
        let (train, test) = train_and_test(d, make);
        FamilyProblem {
            train: Some(train),
            test,
            shape: Some(NetShape::Dln(widths.clone())),
            reference_point: Some(teacher.minimal_point),
            theory: theory::deep_linear(widths, rank).ok(),
            potential: None,
            n: None,
        }
    }

    fn widths(&self) -> Option<Vec<usize>> {
        Some(self.widths.clone())
    }

    fn reference(&self) -> Option<(&'static str, bool)> {
        Some(("minimal-true-point", true))
    }

    /// A trained network that fits its noiseless teacher exactly (full-batch loss below 1e-10 of the
    /// targets' mean square) sits on the teacher's set of true parameters, where its λ applies.
    fn known_at_trained(&self, d: &DataConfig, problem: &Problem, init_loss: f64) -> bool {
        let Some(data) = problem.train.as_ref() else {
            return false;
        };
        let mean_square =
            data.targets.iter().map(|y| y * y).sum::<f64>() / data.targets.len().max(1) as f64;
        d.noise == 0.0 && init_loss <= 1e-10 * mean_square
    }
}
