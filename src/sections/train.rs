//! The [train] section: optimizer, steps, minibatch, initialization and which checkpoints to keep.

use serde::{de, Deserialize, Deserializer, Serialize};

/// The most checkpoints `train.checkpoints` may ask for (each is a file, and a point of a sweep over
/// `llc.checkpoint = "all"`).
pub const MAX_CHECKPOINTS: usize = 100_000;

/// The optimizer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam (β = 0.9, 0.999).
    Adam,
    /// Adam with decoupled weight decay (Loshchilov & Hutter): each step also shrinks the weights
    /// by lr · train.weight_decay; what makes modular addition grok.
    Adamw,
    /// Plain stochastic gradient descent.
    Sgd,
}

/// When to save checkpoints: a number of log-spaced steps, or the steps themselves.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Checkpoints {
    /// This many steps, log-spaced between 1 and `train.steps` (always including the last).
    Count(usize),
    /// Exactly these steps.
    Steps(Vec<usize>),
}

/// A bad value says what is expected (serde's untagged derive says only that no variant matched).
impl<'de> Deserialize<'de> for Checkpoints {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Count(usize),
            Steps(Vec<usize>),
        }
        Ok(match Raw::deserialize(d).map_err(|_| {
            de::Error::custom(
                "expected a number of checkpoints or a list of steps like [100, 1000] (non-negative integers)",
            )
        })? {
            Raw::Count(k) => Checkpoints::Count(k),
            Raw::Steps(s) => Checkpoints::Steps(s),
        })
    }
}

/// Training with burn.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Optimizer steps.
    pub steps: usize,
    /// adam | sgd.
    #[serde(default = "default_optimizer")]
    pub optimizer: OptimizerKind,
    /// Learning rate.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Minibatch size.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Scale of the initial weights relative to the usual 1/sqrt(fan-in) (small values: saddle-to-saddle dynamics).
    #[serde(default = "default_init_scale")]
    pub init_scale: f64,
    /// Checkpoints to keep.
    #[serde(default = "default_checkpoints")]
    pub checkpoints: Checkpoints,
    /// Weight decay, at least 0 (default 0): with adamw decoupled (w ← w − lr·wd·w each step), with
    /// adam and sgd an L2 penalty (wd·w added to the gradient). The loss measured (train_log.csv, the
    /// LLC's L_n) never includes it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weight_decay: f64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

fn default_optimizer() -> OptimizerKind {
    OptimizerKind::Adam
}
fn default_lr() -> f64 {
    1e-3
}
pub(crate) fn default_batch() -> usize {
    256
}
fn default_init_scale() -> f64 {
    1.0
}
fn default_checkpoints() -> Checkpoints {
    Checkpoints::Count(20)
}

/// The checkpoint steps: `count` log-spaced steps in 1..=steps (deduplicated, always with the last), or the list given.
pub fn checkpoint_steps(spec: &Checkpoints, steps: usize) -> Vec<usize> {
    let mut out: Vec<usize> = match spec {
        Checkpoints::Steps(s) => s.clone(),
        Checkpoints::Count(k) => {
            let k = (*k).max(1);
            (0..k)
                .map(|i| {
                    if k == 1 {
                        steps
                    } else {
                        (steps as f64).powf(i as f64 / (k - 1) as f64).round() as usize
                    }
                })
                .collect()
        }
    };
    out.push(steps);
    out.retain(|&s| s >= 1 && s <= steps);
    out.sort_unstable();
    out.dedup();
    out
}
