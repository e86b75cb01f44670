//! What an LLC run is asked to do: each setting given or left to the auto rule, and the ladder.

use serde::{Deserialize, Deserializer, Serialize};

use crate::calibration::{divergence_radius, rule::MAX_STEPS, ResolvedSettings, SettingsRequest};
use crate::chains::ChainSettings;
use crate::sampler::SamplerKind;

/// The temperature ladder's localization γ.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum LadderLocalization {
    /// The one-temperature run's γ (resolved); the base rung reuses that run's step and chains.
    #[default]
    Auto,
    /// The unit-information rule ([`unit_information_localization`]): the prior's width is where
    /// the loss rises by 1/2.
    UnitInformation,
    /// This γ (≥ 0).
    Value(f64),
}

impl LadderLocalization {
    /// Whether this is "auto" (nothing to write in a resolved config).
    pub fn is_auto(&self) -> bool {
        matches!(self, LadderLocalization::Auto)
    }
}

impl Serialize for LadderLocalization {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            LadderLocalization::Auto => s.serialize_str("auto"),
            LadderLocalization::UnitInformation => s.serialize_str("unit-information"),
            LadderLocalization::Value(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for LadderLocalization {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            Number(f64),
        }
        let expected = "expected \"auto\", \"unit-information\" or a number ≥ 0";
        match Raw::deserialize(d).map_err(|_| serde::de::Error::custom(expected))? {
            Raw::Word(w) if w == "auto" => Ok(LadderLocalization::Auto),
            Raw::Word(w) if w == "unit-information" => Ok(LadderLocalization::UnitInformation),
            Raw::Word(w) => Err(serde::de::Error::custom(format!("\"{w}\": {expected}"))),
            Raw::Number(v) => Ok(LadderLocalization::Value(v)),
        }
    }
}

/// What an LLC run is asked to do: each setting given (`Some`) or left to the auto rule (`None`).
#[derive(Debug, Clone, PartialEq)]
pub struct LlcRequest {
    /// The sampler.
    pub sampler: SamplerKind,
    /// Step size ε in the sampler's units.
    pub step_size: Option<f64>,
    /// Localization strength γ.
    pub localization: Option<f64>,
    /// nβ (auto: n / ln n).
    pub nbeta: Option<f64>,
    /// Burn-in steps per chain.
    pub burnin: Option<usize>,
    /// Sampler steps per kept draw.
    pub thin: Option<usize>,
    /// Number of chains.
    pub chains: usize,
    /// Draws kept per chain.
    pub draws: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Record the full-batch loss every this many draws (0: never).
    pub full_loss_every: usize,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// The run's seed: pilot chains, chains, ladder and probes derive from it.
    pub seed: u64,
    /// MALA acceptance of SGLD proposals every this many draws (0: never; SGLD only).
    pub mala_every: usize,
    /// Run the chains again at ε/2 and report whether λ̂ moves.
    pub check_step: bool,
    /// The temperature ladder, if one is asked for.
    pub ladder: Option<LadderRequest>,
}

/// The temperature ladder an LLC run climbs after its one-temperature estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct LadderRequest {
    /// The rungs' factors f_k (rung k at nβ·f_k).
    pub factors: Vec<f64>,
    /// The ladder's γ.
    pub localization: LadderLocalization,
}

impl LlcRequest {
    /// The settings the auto rule is asked to resolve (given values kept).
    pub fn settings_request(&self) -> SettingsRequest {
        SettingsRequest {
            nbeta: self.nbeta,
            localization: self.localization,
            step_size: self.step_size,
            burnin: self.burnin,
            thin: self.thin,
            batch: self.batch,
            chains: self.chains,
            seed: self.seed,
        }
    }

    /// The chain runner's settings once the auto rule has resolved burn-in, thinning and γ.
    pub fn chain_settings(&self, resolved: &ResolvedSettings, center: &[f64]) -> ChainSettings {
        ChainSettings {
            chains: self.chains,
            draws: self.draws,
            burnin: resolved.burnin,
            thin: resolved.thin,
            batch_size: self.batch,
            seed: self.seed,
            divergence_radius: divergence_radius(center, resolved.localization),
            full_loss_every: self.full_loss_every,
            threads: self.threads,
        }
    }

    /// After chains diverged at an auto step: four times the burn-in and thinning the request left
    /// to the auto rule (within the rule's cap on steps per chain), so that chains at a quarter of
    /// the step still travel as far.
    pub(crate) fn quarter_step(&self, settings: &mut ChainSettings) {
        let cap = MAX_STEPS as usize;
        if self.burnin.is_none() {
            settings.burnin = (settings.burnin * 4).min(cap / 5);
        }
        if self.thin.is_none() {
            settings.thin =
                (settings.thin * 4).min(((cap - settings.burnin) / settings.draws).max(1));
        }
    }
}
