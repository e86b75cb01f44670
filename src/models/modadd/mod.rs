//! Modular addition (a + b) mod p: a ReLU MLP classifier on one-hot pairs, trained by cross-entropy on a seeded split of all p² pairs.

use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use super::family::{Capabilities, Family, FamilyProblem};
use super::{Dataset, NetShape};
use crate::data::ModaddSplit;
use crate::sections::data::{DataConfig, DEFAULT_TRAIN_FRACTION, MAX_MODULUS};
use crate::sections::rules::{check_widths, invalid, ConfigError};

/// `kind = "modadd"`: one-hot(a) ++ one-hot(b) (2p inputs) → ReLU MLP → p logits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Modadd {
    /// The modulus p (at least 2, at most 256).
    pub modulus: usize,
    /// Hidden widths (at least one layer; every width at least 1).
    pub hidden: Vec<usize>,
}

/// What this kind can do.
pub static CAPABILITIES: Capabilities = Capabilities {
    kind: "modadd",
    data_keys: &["train_fraction"],
    trainable: true,
    stacks: false,
    f32_chains: true,
    behavioural: true,
};

impl Family for Modadd {
    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    fn validate(&self, d: &DataConfig) -> Result<(), ConfigError> {
        let p = self.modulus;
        if !(2..=MAX_MODULUS).contains(&p) {
            return Err(invalid(
                "model.modulus",
                p,
                format!("must be in 2..={MAX_MODULUS} (the one-hot data set holds p² rows of 3p numbers)"),
            ));
        }
        if self.hidden.is_empty() {
            return Err(invalid(
                "model.hidden",
                "[]",
                "needs at least one hidden width",
            ));
        }
        if let Some(w) = self.widths() {
            // The widths are the user's hidden list between 2p and p: name the hidden entry.
            check_widths(&w).map_err(|e| match e {
                ConfigError::Invalid { key, value, rule } if key.starts_with("model.widths[") => {
                    let i: usize = key["model.widths[".len()..key.len() - 1]
                        .parse()
                        .unwrap_or(1);
                    invalid(&format!("model.hidden[{}]", i - 1), value, rule)
                }
                ConfigError::Invalid { value, rule, .. } => invalid("model.hidden", value, rule),
                other => other,
            })?;
        }
        if let Some(f) = d.train_fraction {
            if !(f > 0.0 && f <= 1.0) {
                return Err(invalid("data.train_fraction", f, "must be in (0, 1]"));
            }
        }
        let frac = d.train_fraction.unwrap_or(DEFAULT_TRAIN_FRACTION);
        if crate::data::modadd_train_size(p, frac) < 2 {
            return Err(invalid(
                "data.train_fraction",
                frac,
                format!("leaves fewer than 2 of the {} pairs for training", p * p),
            ));
        }
        // The family-specific [data] keys are checked for every kind by the config; the sizes
        // every other kind reads are modadd's to reject.
        let rejected: [(&str, bool, String); 2] = [
            ("data.n", d.n.is_some(), format!("{:?}", d.n.unwrap_or(0))),
            ("data.test_n", d.test_n != 0, d.test_n.to_string()),
        ];
        if let Some((key, _, value)) = rejected.into_iter().find(|r| r.1) {
            return Err(invalid(
                key,
                value,
                "does not apply to model.kind = \"modadd\": its data are all p² pairs, split by data.train_fraction",
            ));
        }
        Ok(())
    }

    /// All p² pairs, shuffled and split by `data.train_fraction`; n is the training split's size.
    fn build(&self, d: &DataConfig, rng: &mut Xoshiro256PlusPlus) -> FamilyProblem {
        let frac = d.train_fraction.unwrap_or(DEFAULT_TRAIN_FRACTION);
        let split = ModaddSplit::new(self.modulus, frac, rng);
        let train = modadd_dataset(&split, &split.train);
        let test = (!split.test.is_empty()).then(|| modadd_dataset(&split, &split.test));
        FamilyProblem {
            n: Some(train.len()),
            train: Some(train),
            test,
            shape: Some(NetShape::Classifier(
                self.widths().expect("modadd has widths"),
            )),
            ..FamilyProblem::default()
        }
    }

    /// 2p, hidden…, p.
    fn widths(&self) -> Option<Vec<usize>> {
        let mut w = vec![2 * self.modulus];
        w.extend(&self.hidden);
        w.push(self.modulus);
        Some(w)
    }
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
