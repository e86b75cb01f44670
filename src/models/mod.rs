//! The model families: building data, the burn network and the fast landscape of a config, side by side.

mod dln_landscape;
pub mod mlp_landscape;
pub mod nets;
pub mod stacked;
mod tangent;
mod tms_landscape;

pub use dln_landscape::{DlnLandscape, DlnWorkspace};
pub use mlp_landscape::{Head, MlpLandscape, MlpWorkspace, Precision};
pub use nets::{BurnLandscape, Net, NetShape};
pub use stacked::{StackedLandscape, StackedParams};
pub use tms_landscape::{TmsLandscape, TmsWorkspace};

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use slt_estimators::theory::{self, KnownLambda};
use slt_estimators::{Batch, Landscape, Potential};

use crate::config::DEFAULT_TRAIN_FRACTION;
use crate::config::{ModelConfig, RunConfig};
use crate::data::{gaussian_inputs, linear_targets, DlnTeacher, ModaddSplit};

/// The dot product of two equally long slices.
#[inline]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A data set of inputs and targets, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// n × d_in.
    pub inputs: Vec<f64>,
    /// n × d_out.
    pub targets: Vec<f64>,
    /// Input width.
    pub d_in: usize,
    /// Output width.
    pub d_out: usize,
}

impl Dataset {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.inputs.len() / self.d_in
    }

    /// Whether the data set has no points.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }
}

/// A model of a config, ready to train or measure: its data, its shape, its reference point.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Training data (none for a potential).
    pub train: Option<Dataset>,
    /// Held-out data (none unless `data.test_n` > 0).
    pub test: Option<Dataset>,
    /// The burn network's shape (none for a potential).
    pub shape: Option<NetShape>,
    /// The point to measure when there is no training: the minimal true point (dln), the origin (potential).
    pub reference_point: Option<Vec<f64>>,
    /// The known λ at the reference point, where theory gives it.
    pub theory: Option<KnownLambda>,
    /// The potential, for kind = "potential".
    pub potential: Option<Potential>,
    /// n (for nβ = n / ln n).
    pub n: usize,
}

/// A data set of one-hot pairs (a, b) of modular addition mod `split.modulus`.
fn modadd_dataset(split: &ModaddSplit, pairs: &[(usize, usize)]) -> Dataset {
    let (inputs, targets) = split.encode(pairs);
    Dataset {
        inputs,
        targets,
        d_in: 2 * split.modulus,
        d_out: split.modulus,
    }
}

fn rng_for(seed: u64, stream: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(slt_estimators::chains::chain_seed(
        seed,
        stream as usize + 1_000_000,
    ))
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

impl Problem {
    /// Builds the data, teacher and reference point of a config (deterministic in `config.seed`).
    pub fn build(config: &RunConfig) -> Self {
        let d = &config.data;
        let n = d.n();
        let mut rng = rng_for(config.seed, 0);
        match &config.model {
            ModelConfig::Dln { widths } => {
                let rank = d.teacher_rank.unwrap_or(1);
                let sv = d
                    .singular_values
                    .clone()
                    .unwrap_or_else(|| DlnTeacher::default_singular_values(rank));
                let teacher = DlnTeacher::new(widths, &sv, &mut rng);
                let t = teacher.product();
                let (din, dout) = (widths[0], widths[widths.len() - 1]);
                let mut make = |count: usize| {
                    let x = gaussian_inputs(count, din, &mut rng);
                    let y = linear_targets(&t, dout, din, &x, d.noise, &mut rng);
                    Dataset {
                        inputs: x,
                        targets: y,
                        d_in: din,
                        d_out: dout,
                    }
                };
                let train = make(n);
                let test = (d.test_n > 0).then(|| make(d.test_n));
                Problem {
                    train: Some(train),
                    test,
                    shape: Some(NetShape::Dln(widths.clone())),
                    reference_point: Some(teacher.minimal_point),
                    theory: theory::deep_linear(widths, rank).ok(),
                    potential: None,
                    n,
                }
            }
            ModelConfig::Mlp { widths } => {
                let teacher = random_mlp(widths, 1.0, &mut rng);
                let (din, dout) = (widths[0], widths[widths.len() - 1]);
                let probe = MlpLandscape::new(widths, vec![0.0; din], vec![0.0; dout]);
                let mut make = |count: usize| {
                    let x = gaussian_inputs(count, din, &mut rng);
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
                let train = make(n);
                let test = (d.test_n > 0).then(|| make(d.test_n));
                Problem {
                    train: Some(train),
                    test,
                    shape: Some(NetShape::Mlp(widths.clone())),
                    reference_point: Some(teacher),
                    theory: None,
                    potential: None,
                    n,
                }
            }
            ModelConfig::Tms { features, hidden } => {
                let p = d.feature_probability.unwrap_or(1.0 / *features as f64);
                let mut make = |count: usize| {
                    let x = sparse_inputs(count, *features, p, &mut rng);
                    Dataset {
                        targets: x.clone(),
                        inputs: x,
                        d_in: *features,
                        d_out: *features,
                    }
                };
                let train = make(n);
                let test = (d.test_n > 0).then(|| make(d.test_n));
                Problem {
                    train: Some(train),
                    test,
                    shape: Some(NetShape::Tms {
                        features: *features,
                        hidden: *hidden,
                    }),
                    reference_point: None,
                    theory: None,
                    potential: None,
                    n,
                }
            }
            ModelConfig::Modadd { modulus, .. } => {
                let frac = d.train_fraction.unwrap_or(DEFAULT_TRAIN_FRACTION);
                let split = ModaddSplit::new(*modulus, frac, &mut rng);
                let train = modadd_dataset(&split, &split.train);
                let test = (!split.test.is_empty()).then(|| modadd_dataset(&split, &split.test));
                Problem {
                    n: train.len(),
                    train: Some(train),
                    test,
                    shape: Some(NetShape::Classifier(
                        config.model.widths().expect("modadd has widths"),
                    )),
                    reference_point: None,
                    theory: None,
                    potential: None,
                }
            }
            ModelConfig::Potential { monomials } => {
                let potential = Potential::new(monomials).expect("validated by the config");
                Problem {
                    train: None,
                    test: None,
                    shape: None,
                    reference_point: Some(vec![0.0; potential.dim()]),
                    theory: theory::potential(monomials).ok().flatten(),
                    potential: Some(potential),
                    n,
                }
            }
        }
    }

    /// The fast landscape of this problem on its training data, in f64.
    pub fn landscape(&self) -> FastLandscape {
        self.landscape_in(Precision::F64)
    }

    /// The fast landscape of this problem on its training data; `precision` applies to the MLP.
    pub fn landscape_in(&self, precision: Precision) -> FastLandscape {
        if let Some(p) = &self.potential {
            return FastLandscape::Potential(p.clone());
        }
        let data = self
            .train
            .as_ref()
            .expect("a network problem has training data");
        match self.shape.as_ref().expect("a network problem has a shape") {
            NetShape::Dln(w) => FastLandscape::Dln(DlnLandscape::new(
                w,
                data.inputs.clone(),
                data.targets.clone(),
            )),
            NetShape::Mlp(w) => FastLandscape::Mlp(
                MlpLandscape::new(w, data.inputs.clone(), data.targets.clone())
                    .with_precision(precision),
            ),
            NetShape::Classifier(w) => FastLandscape::Mlp(
                MlpLandscape::classifier(w, data.inputs.clone(), data.targets.clone())
                    .with_precision(precision),
            ),
            NetShape::Tms { features, hidden } => {
                FastLandscape::Tms(TmsLandscape::new(*features, *hidden, data.inputs.clone()))
            }
        }
    }
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

/// The fast landscape of any family, one type so the chain runner is compiled once.
#[derive(Debug, Clone)]
pub enum FastLandscape {
    /// Deep linear network.
    Dln(DlnLandscape),
    /// Toy model of superposition.
    Tms(TmsLandscape),
    /// MLP.
    Mlp(MlpLandscape),
    /// Analytic potential.
    Potential(Potential),
}

impl FastLandscape {
    /// A classifier's accuracy at `w` on its data (the fraction of points whose largest logit is
    /// the label); `None` for a regression model.
    pub fn accuracy(&self, w: &[f64]) -> Option<f64> {
        match self {
            FastLandscape::Mlp(l) if l.head() == Head::SoftmaxCrossEntropy => Some(l.accuracy(w)),
            _ => None,
        }
    }
}

/// The workspace of a [`FastLandscape`].
#[derive(Debug)]
pub enum FastWorkspace {
    /// Deep linear network.
    Dln(DlnWorkspace),
    /// Toy model of superposition.
    Tms(TmsWorkspace),
    /// MLP.
    Mlp(MlpWorkspace),
    /// Analytic potential.
    Potential,
}

macro_rules! dispatch {
    ($self:ident, $ws:ident, $l:ident, $w:ident => $e:expr) => {
        match ($self, $ws) {
            (FastLandscape::Dln($l), FastWorkspace::Dln($w)) => $e,
            (FastLandscape::Tms($l), FastWorkspace::Tms($w)) => $e,
            (FastLandscape::Mlp($l), FastWorkspace::Mlp($w)) => $e,
            (FastLandscape::Potential($l), FastWorkspace::Potential) => {
                let $w = &mut ();
                $e
            }
            _ => unreachable!("a workspace always comes from its own landscape"),
        }
    };
}

impl Landscape for FastLandscape {
    type Workspace = FastWorkspace;

    fn dim(&self) -> usize {
        match self {
            FastLandscape::Dln(l) => l.dim(),
            FastLandscape::Tms(l) => l.dim(),
            FastLandscape::Mlp(l) => l.dim(),
            FastLandscape::Potential(l) => l.dim(),
        }
    }

    fn data_size(&self) -> Option<usize> {
        match self {
            FastLandscape::Dln(l) => l.data_size(),
            FastLandscape::Tms(l) => l.data_size(),
            FastLandscape::Mlp(l) => l.data_size(),
            FastLandscape::Potential(l) => l.data_size(),
        }
    }

    fn workspace(&self) -> FastWorkspace {
        match self {
            FastLandscape::Dln(l) => FastWorkspace::Dln(l.workspace()),
            FastLandscape::Tms(l) => FastWorkspace::Tms(l.workspace()),
            FastLandscape::Mlp(l) => FastWorkspace::Mlp(l.workspace()),
            FastLandscape::Potential(_) => FastWorkspace::Potential,
        }
    }

    fn loss_and_grad(
        &self,
        w: &[f64],
        batch: Batch<'_>,
        grad: &mut [f64],
        ws: &mut FastWorkspace,
    ) -> f64 {
        dispatch!(self, ws, l, s => l.loss_and_grad(w, batch, grad, s))
    }

    fn loss(&self, w: &[f64], batch: Batch<'_>, ws: &mut FastWorkspace) -> f64 {
        dispatch!(self, ws, l, s => l.loss(w, batch, s))
    }

    fn hessian_vector_product(
        &self,
        w: &[f64],
        v: &[f64],
        batch: Batch<'_>,
        out: &mut [f64],
        ws: &mut FastWorkspace,
    ) -> bool {
        dispatch!(self, ws, l, s => l.hessian_vector_product(w, v, batch, out, s))
    }
}
