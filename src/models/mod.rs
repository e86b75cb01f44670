//! The model families: building data, the burn network and the fast landscape of a config, side by side.

pub mod dln;
pub mod family;
pub mod mlp;
pub mod modadd;
pub mod nets;
pub mod potential;
pub mod stacked;
mod tangent;
pub mod tms;

pub use dln::{DlnLandscape, DlnWorkspace};
pub use family::{Capabilities, Family};
pub use mlp::{random_mlp, Head, MlpLandscape, MlpWorkspace, Precision};
pub use nets::{BurnLandscape, Net, NetShape};
pub use stacked::{StackedLandscape, StackedParams};
pub use tms::{TmsLandscape, TmsWorkspace};

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Deserializer, Serialize};
use slt_estimators::theory::KnownLambda;
use slt_estimators::{Batch, Landscape, Potential};

use crate::sections::data::DataConfig;
use crate::sections::tagged::Tagged;

/// Every model kind, one line each: `kind` as the config spells it => the [`ModelConfig`] variant
/// (the family's folder and config type, which implements [`Family`] and has a
/// `CAPABILITIES` static). Adding a kind is a folder under
/// src/models/ plus one line here.
macro_rules! families {
    ($($(#[$doc:meta])* $kind:literal => $variant:ident($module:ident::$ty:ident)),* $(,)?) => {
        /// The [model] section: one family, chosen by `kind`.
        #[derive(Debug, Clone, Serialize, PartialEq)]
        #[serde(tag = "kind")]
        pub enum ModelConfig {
            $($(#[$doc])* #[serde(rename = $kind)] $variant($module::$ty),)*
        }

        /// Read by `kind`, then the kind's own section field by field, so that an error names its
        /// key (`model.hidden`), not only the section.
        impl<'de> Deserialize<'de> for ModelConfig {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let t = Tagged::read(d, "model")?;
                match t.kind.as_str() {
                    $($kind => t.into_section().map(ModelConfig::$variant),)*
                    other => Err(serde::de::Error::unknown_variant(other, &[$($kind),*])),
                }
            }
        }

        impl ModelConfig {
            /// The family behind this section.
            pub fn family(&self) -> &dyn Family {
                match self {
                    $(ModelConfig::$variant(f) => f,)*
                }
            }

            /// What every kind can do, in the order they are listed.
            pub fn all_capabilities() -> Vec<&'static Capabilities> {
                vec![$(&$module::CAPABILITIES,)*]
            }
        }
    };
}

families! {
    /// A deep linear network on a teacher of given rank.
    "dln" => Dln(dln::Dln),
    /// The toy model of superposition.
    "tms" => Tms(tms::Tms),
    /// A ReLU MLP regressing a random teacher.
    "mlp" => Mlp(mlp::Mlp),
    /// Modular addition, a ReLU MLP classifier.
    "modadd" => Modadd(modadd::Modadd),
    /// An analytic potential.
    "potential" => Potential(potential::Potential),
}

impl ModelConfig {
    /// The kind as the config spells it.
    pub fn kind(&self) -> &'static str {
        self.family().capabilities().kind
    }

    /// The network's widths (input, hidden…, output) for the MLP-shaped kinds.
    pub fn widths(&self) -> Option<Vec<usize>> {
        self.family().widths()
    }
}

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

/// The training set (`data.n` points) and, when `data.test_n` > 0, the held-out set, drawn by
/// `make` in that order (so the same seed gives the same training set with or without a test set).
pub(crate) fn train_and_test(
    d: &DataConfig,
    mut make: impl FnMut(usize) -> Dataset,
) -> (Dataset, Option<Dataset>) {
    let train = make(d.n());
    let test = (d.test_n > 0).then(|| make(d.test_n));
    (train, test)
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

fn rng_for(seed: u64, stream: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(slt_estimators::chains::chain_seed(
        seed,
        stream as usize + 1_000_000,
    ))
}

impl Problem {
    /// Builds the data, teacher and reference point of a [model] and [data] section (deterministic
    /// in `seed`).
    pub fn build(model: &ModelConfig, data: &DataConfig, seed: u64) -> Self {
        let mut rng = rng_for(seed, 0);
        let built = model.family().build(data, &mut rng);
        Problem {
            train: built.train,
            test: built.test,
            shape: built.shape,
            reference_point: built.reference_point,
            theory: built.theory,
            potential: built.potential,
            n: built.n.unwrap_or_else(|| data.n()),
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
