//! What a model kind must give the rest of the toolkit: one trait, one implementation per folder under src/models/.

use rand_xoshiro::Xoshiro256PlusPlus;
use slt_estimators::theory::KnownLambda;

use super::{Dataset, NetShape, Problem};
use crate::sections::data::DataConfig;
use crate::sections::rules::ConfigError;

/// What a kind can do, known without a config (so that an error can list the kinds that can).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capabilities {
    /// `model.kind` as the config spells it.
    pub kind: &'static str,
    /// The family-specific [data] keys it reads (the others are errors for it).
    pub data_keys: &'static [&'static str],
    /// Whether it can be trained (`[train]`).
    pub trainable: bool,
    /// Whether its chains can run stacked on a burn device (`llc.device`).
    pub stacks: bool,
    /// Whether its fast landscape computes in f32 (`llc.precision = "f32"`).
    pub f32_chains: bool,
    /// Whether it has hidden layers and outputs to compare (`volume.loss = "behavioural"`).
    pub behavioural: bool,
}

/// A data set, a network and a reference point for a kind's [model] section (its config type).
pub trait Family: Sync {
    /// What the kind can do.
    fn capabilities(&self) -> &'static Capabilities;

    /// Checks the [model] section and the kind's own [data] keys; every error names its key.
    fn validate(&self, data: &DataConfig) -> Result<(), ConfigError>;

    /// Builds the training and test data, the network's shape, the reference point and the known
    /// answer, deterministic in `rng`.
    fn build(&self, data: &DataConfig, rng: &mut Xoshiro256PlusPlus) -> FamilyProblem;

    /// The network's widths (input, hidden…, output) where the kind is an MLP-shaped network.
    fn widths(&self) -> Option<Vec<usize>> {
        None
    }

    /// Where the reference point is, in words for summary.json, and whether the known λ applies
    /// there; `None` when the kind has no reference point (it must be trained).
    fn reference(&self) -> Option<(&'static str, bool)> {
        None
    }

    /// Whether the kind's known λ also applies at a trained point whose loss is `init_loss`.
    fn known_at_trained(&self, _data: &DataConfig, _problem: &Problem, _init_loss: f64) -> bool {
        false
    }
}

/// What [`Family::build`] gives; [`Problem::build`] adds n.
#[derive(Debug, Clone, Default)]
pub struct FamilyProblem {
    /// Training data (none for a potential).
    pub train: Option<Dataset>,
    /// Held-out data.
    pub test: Option<Dataset>,
    /// The burn network's shape.
    pub shape: Option<NetShape>,
    /// The point measured without training.
    pub reference_point: Option<Vec<f64>>,
    /// The known λ at the reference point.
    pub theory: Option<KnownLambda>,
    /// An analytic potential, for a kind without data.
    pub potential: Option<slt_estimators::Potential>,
    /// The training set size, where the kind sets it itself (default `data.n`).
    pub n: Option<usize>,
}

/// The kinds among `all` that `can`, as `"a", "b" or "c"`.
pub fn kinds_where(all: &[&Capabilities], can: impl Fn(&Capabilities) -> bool) -> String {
    let names: Vec<String> = all
        .iter()
        .filter(|c| can(c))
        .map(|c| format!("\"{}\"", c.kind))
        .collect();
    match names.split_last() {
        None => "none".into(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}
