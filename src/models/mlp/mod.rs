//! ReLU MLPs regressing a random teacher of the same shape: data, the teacher as reference point, and the fast landscape (also modadd's classifier).

mod landscape;

pub use landscape::{Head, MlpLandscape, MlpWorkspace, Precision, Real};

use rand::Rng;
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use slt_estimators::Landscape;

use super::family::{Capabilities, Family, FamilyProblem};
use super::{train_and_test, Dataset, NetShape};
use crate::data::gaussian_inputs;
use crate::sections::data::DataConfig;
use crate::sections::rules::{check_widths, ConfigError};

/// `kind = "mlp"`: a multi-layer perceptron with ReLU hidden layers and biases.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Mlp {
    /// Input, hidden…, output widths (at least 3).
    pub widths: Vec<usize>,
}

/// What this kind can do.
pub static CAPABILITIES: Capabilities = Capabilities {
    kind: "mlp",
    data_keys: &["noise"],
    trainable: true,
    stacks: true,
    f32_chains: true,
    behavioural: true,
};

impl Family for Mlp {
    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    fn validate(&self, _data: &DataConfig) -> Result<(), ConfigError> {
        check_widths(&self.widths)
    }

    /// Gaussian inputs and the outputs of a random teacher of the same shape (plus label noise);
    /// the teacher is the reference point.
    fn build(&self, d: &DataConfig, rng: &mut Xoshiro256PlusPlus) -> FamilyProblem {
        let widths = &self.widths;
        let teacher = random_mlp(widths, 1.0, rng);
        let (din, dout) = (widths[0], widths[widths.len() - 1]);
        let probe = MlpLandscape::new(widths, vec![0.0; din], vec![0.0; dout]);
        let make = |count: usize| {
            let x = gaussian_inputs(count, din, rng);
            let mut ws = probe.workspace();
            let mut y = Vec::with_capacity(count * dout);
            for i in 0..count {
                y.extend(mlp_output(
                    &probe,
                    &teacher,
                    &x[i * din..(i + 1) * din],
                    &mut ws,
                ));
            }
            if d.noise > 0.0 {
                y.iter_mut()
                    .for_each(|v| *v += d.noise * rng.sample::<f64, _>(StandardNormal));
            }
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
            shape: Some(NetShape::Mlp(widths.clone())),
            reference_point: Some(teacher),
            theory: None,
            potential: None,
            n: None,
        }
    }

    fn widths(&self) -> Option<Vec<usize>> {
        Some(self.widths.clone())
    }

    fn reference(&self) -> Option<(&'static str, bool)> {
        Some(("teacher", false))
    }
}

/// A random MLP's flat parameters (He-style scale), in the fast landscape's layout.
pub fn random_mlp<R: Rng>(widths: &[usize], scale: f64, rng: &mut R) -> Vec<f64> {
    let mut flat = Vec::new();
    for p in widths.windows(2) {
        let sd = scale * (2.0 / p[0] as f64).sqrt();
        flat.extend((0..p[0] * p[1]).map(|_| sd * rng.sample::<f64, _>(StandardNormal)));
        flat.extend((0..p[1]).map(|_| 0.1 * scale * rng.sample::<f64, _>(StandardNormal)));
    }
    flat
}

fn mlp_output(l: &MlpLandscape, w: &[f64], x: &[f64], ws: &mut MlpWorkspace) -> Vec<f64> {
    // The landscape's loss with a zero target is ½‖f(x)‖²; read the output off a one-point landscape instead.
    let single = MlpLandscape::new(
        l.widths(),
        x.to_vec(),
        vec![0.0; l.widths()[l.widths().len() - 1]],
    );
    single.output(w, ws)
}
