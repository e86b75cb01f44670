//! The SGLD family behind one trait: a sampler turns a minibatch gradient into the next point of a chain.

mod rmsprop_sgld;
mod sgld;
mod sgnht;

pub use rmsprop_sgld::{RmspropSettings, RmspropSgld, RmspropState};
pub use sgld::Sgld;
pub use sgnht::{Sgnht, SgnhtSettings, SgnhtState};

use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use crate::calibration::rule::KAPPA;
use crate::error::Result;

/// The random number generator every chain owns (one independent stream per chain).
pub type ChainRng = Xoshiro256PlusPlus;

/// The localized, tempered posterior a sampler targets: p(w) ∝ exp(−nβ L_n(w) − (γ/2)‖w − w*‖²).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TemperedPosterior {
    /// Inverse temperature times the number of points, nβ (default n / ln n).
    pub nbeta: f64,
    /// Localization strength γ: the precision of the Gaussian prior around w*.
    pub localization: f64,
}

impl TemperedPosterior {
    /// The gradient of the negative log posterior, nβ ∇L(w) + γ (w − w*), into `out`.
    #[inline]
    pub fn drift(&self, grad_loss: &[f64], w: &[f64], center: &[f64], out: &mut [f64]) {
        for (((o, &g), &x), &c) in out.iter_mut().zip(grad_loss).zip(w).zip(center) {
            *o = self.nbeta * g + self.localization * (x - c);
        }
    }
}

/// Which member of the SGLD family a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SamplerKind {
    /// Plain SGLD.
    #[default]
    Sgld,
    /// RMSProp-preconditioned SGLD.
    RmspropSgld,
    /// Stochastic gradient Nosé–Hoover thermostat.
    Sgnht,
}

impl SamplerKind {
    /// The name, as a config spells it.
    pub fn name(self) -> &'static str {
        match self {
            SamplerKind::Sgld => "sgld",
            SamplerKind::RmspropSgld => "rmsprop-sgld",
            SamplerKind::Sgnht => "sgnht",
        }
    }

    /// This sampler's step for an auto SGLD step ε. RMSProp-SGLD's preconditioner scales a
    /// direction of stiffness k by about 1/sqrt(k) (its gradient's stationary rms), so the SGLD step
    /// κ/k becomes sqrt(κ ε) in its units; SGNHT's ε is SGLD's.
    pub fn auto_step(self, sgld_step: f64) -> f64 {
        match self {
            SamplerKind::RmspropSgld => (KAPPA * sgld_step).sqrt(),
            SamplerKind::Sgld | SamplerKind::Sgnht => sgld_step,
        }
    }

    /// The sampler at step ε for `posterior`, with the default settings of its extras.
    pub fn build(self, step_size: f64, posterior: TemperedPosterior) -> Result<AnySampler> {
        Ok(match self {
            SamplerKind::Sgld => AnySampler::Sgld(Sgld::new(step_size, posterior)?),
            SamplerKind::RmspropSgld => {
                AnySampler::RmspropSgld(RmspropSgld::new(step_size, posterior, Default::default())?)
            }
            SamplerKind::Sgnht => {
                AnySampler::Sgnht(Sgnht::new(step_size, posterior, Default::default())?)
            }
        })
    }
}

/// One of the family, chosen at run time (a config's `llc.sampler`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnySampler {
    /// Plain SGLD.
    Sgld(Sgld),
    /// RMSProp-SGLD.
    RmspropSgld(RmspropSgld),
    /// SGNHT.
    Sgnht(Sgnht),
}

/// The per-chain state of an [`AnySampler`].
#[derive(Debug, Clone, PartialEq)]
pub enum AnyState {
    /// SGLD keeps none.
    Sgld,
    /// RMSProp-SGLD's running mean of squared gradients.
    RmspropSgld(RmspropState),
    /// SGNHT's momentum and friction.
    Sgnht(SgnhtState),
}

impl AnySampler {
    /// Which member this is.
    pub fn kind(&self) -> SamplerKind {
        match self {
            AnySampler::Sgld(_) => SamplerKind::Sgld,
            AnySampler::RmspropSgld(_) => SamplerKind::RmspropSgld,
            AnySampler::Sgnht(_) => SamplerKind::Sgnht,
        }
    }
}

impl Sampler for AnySampler {
    type State = AnyState;

    fn name(&self) -> &'static str {
        self.kind().name()
    }

    fn posterior(&self) -> TemperedPosterior {
        match self {
            AnySampler::Sgld(s) => s.posterior(),
            AnySampler::RmspropSgld(s) => s.posterior(),
            AnySampler::Sgnht(s) => s.posterior(),
        }
    }

    fn step_size(&self) -> f64 {
        match self {
            AnySampler::Sgld(s) => s.step_size(),
            AnySampler::RmspropSgld(s) => s.step_size(),
            AnySampler::Sgnht(s) => s.step_size(),
        }
    }

    fn with_step_size(&self, step_size: f64) -> Result<Self> {
        Ok(match self {
            AnySampler::Sgld(s) => AnySampler::Sgld(s.with_step_size(step_size)?),
            AnySampler::RmspropSgld(s) => AnySampler::RmspropSgld(s.with_step_size(step_size)?),
            AnySampler::Sgnht(s) => AnySampler::Sgnht(s.with_step_size(step_size)?),
        })
    }

    fn tempered(&self, factor: f64) -> Result<Self> {
        Ok(match self {
            AnySampler::Sgld(s) => AnySampler::Sgld(s.tempered(factor)?),
            AnySampler::RmspropSgld(s) => AnySampler::RmspropSgld(s.tempered(factor)?),
            AnySampler::Sgnht(s) => AnySampler::Sgnht(s.tempered(factor)?),
        })
    }

    fn sgld_step(&self) -> Option<f64> {
        match self {
            AnySampler::Sgld(s) => s.sgld_step(),
            AnySampler::RmspropSgld(s) => s.sgld_step(),
            AnySampler::Sgnht(s) => s.sgld_step(),
        }
    }

    fn init_state(&self, dim: usize) -> AnyState {
        match self {
            AnySampler::Sgld(_) => AnyState::Sgld,
            AnySampler::RmspropSgld(s) => AnyState::RmspropSgld(s.init_state(dim)),
            AnySampler::Sgnht(s) => AnyState::Sgnht(s.init_state(dim)),
        }
    }

    #[inline]
    fn step(
        &self,
        state: &mut AnyState,
        w: &mut [f64],
        grad_loss: &[f64],
        center: &[f64],
        rng: &mut ChainRng,
    ) {
        match (self, state) {
            (AnySampler::Sgld(s), _) => s.step(&mut (), w, grad_loss, center, rng),
            (AnySampler::RmspropSgld(s), AnyState::RmspropSgld(st)) => {
                s.step(st, w, grad_loss, center, rng)
            }
            (AnySampler::Sgnht(s), AnyState::Sgnht(st)) => s.step(st, w, grad_loss, center, rng),
            _ => unreachable!("a state is made by its own sampler's init_state"),
        }
    }
}

/// One member of the SGLD family.
///
/// The chain runner owns the loop (burn-in, thinning, minibatches, divergence); a sampler only
/// advances `w` by one step given the minibatch loss gradient at `w`.
pub trait Sampler: Sync {
    /// Per-chain state (momentum, preconditioner statistics); made once per chain.
    type State: Send;

    /// A short name, as the config spells it (`sgld`).
    fn name(&self) -> &'static str;

    /// The posterior this sampler targets.
    fn posterior(&self) -> TemperedPosterior;

    /// The step size ε.
    fn step_size(&self) -> f64;

    /// A fresh state for a chain in `dim` dimensions.
    fn init_state(&self, dim: usize) -> Self::State;

    /// The same sampler at another step size (the divergence retry's quarter step, the ε/2 check).
    fn with_step_size(&self, step_size: f64) -> Result<Self>
    where
        Self: Sized;

    /// The same sampler at nβ·`factor`, its step rescaled so that the step's relative bias on a
    /// quadratic direction is the same as at nβ (a temperature ladder's rung).
    fn tempered(&self, factor: f64) -> Result<Self>
    where
        Self: Sized;

    /// The step in SGLD's units (the scale ε·stiffness is compared with), or `None` where a
    /// preconditioner makes the step per coordinate.
    fn sgld_step(&self) -> Option<f64> {
        Some(self.step_size())
    }

    /// Advances `w` by one step; `grad_loss` is ∇L_B(w) on the current minibatch.
    fn step(
        &self,
        state: &mut Self::State,
        w: &mut [f64],
        grad_loss: &[f64],
        center: &[f64],
        rng: &mut ChainRng,
    );
}
