//! The stochastic gradient Nosé–Hoover thermostat (Ding et al. 2014): momentum plus a friction that adapts so that kinetic energy matches temperature.

use rand::Rng;
use rand_distr::StandardNormal;

use super::sgld::check_posterior;
use super::{ChainRng, Sampler, TemperedPosterior};
use crate::error::{Error, Result};

/// Settings of the thermostat.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgnhtSettings {
    /// Ding et al.'s diffusion A, per step: the injected noise is N(0, 2Aε) on the momentum and the
    /// friction starts at ξ₀ = A (where the thermostat settles when the gradient is exact). 0.01
    /// (devinterp's default) lets momentum persist about 100 steps.
    pub diffusion: f64,
}

impl Default for SgnhtSettings {
    fn default() -> Self {
        Self { diffusion: 0.01 }
    }
}

/// SGNHT, in Ding et al.'s Algorithm 1 form with learning rate η = ε (the step size; ε = h² for
/// the continuous time step h, and u = p h the momentum in per-step units). With
/// F = nβ ∇L_B(w) + γ (w − w*), one step is (kick, drift, thermostat):
///
/// u ← (1 − ξ) u − ε F + N(0, 2Aε I)
/// w ← w + u
/// ξ ← ξ + (u·u / d − ε)
///
/// with u = 0 and ξ = A at the start of a chain. The thermostat drives the mean kinetic energy
/// u·u/d to the temperature ε (E[p²] = 1 in continuous units): at stationarity the mean increment of
/// ξ is 0, so E[u·u/d] = ε holds exactly, and the friction absorbs the unknown minibatch-gradient
/// noise. ξ may be negative for a while (it is a Gaussian variable at equilibrium).
///
/// Step bias, derived for a quadratic U = (k/2) w² with ξ held at its mean: the stationary
/// E[k w²] = 1 − ξ/2 where ξ (4 − 2ξ − εk) = 4A, so ξ ≈ A and E[tK] reads low by about A/2
/// (0.5% at A = 0.01) whatever ε; ε itself enters only through ξ and stability (εk < 4, as SGLD).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sgnht {
    step_size: f64,
    posterior: TemperedPosterior,
    settings: SgnhtSettings,
}

/// Per-chain state of [`Sgnht`].
#[derive(Debug, Clone, PartialEq)]
pub struct SgnhtState {
    /// Momentum u, in per-step units (the last step's displacement).
    pub momentum: Vec<f64>,
    /// The thermostat's friction ξ (per step).
    pub friction: f64,
}

impl Sgnht {
    /// An SGNHT sampler; ε and nβ positive and finite, γ non-negative, A in (0, 1).
    pub fn new(
        step_size: f64,
        posterior: TemperedPosterior,
        settings: SgnhtSettings,
    ) -> Result<Self> {
        check_posterior(&posterior)?;
        if !(step_size.is_finite() && step_size > 0.0) {
            return Err(Error::OutOfRange {
                name: "llc.step_size",
                value: step_size.to_string(),
                rule: "must be positive and finite",
            });
        }
        if !(settings.diffusion > 0.0 && settings.diffusion < 1.0) {
            return Err(Error::OutOfRange {
                name: "llc.sgnht_diffusion",
                value: settings.diffusion.to_string(),
                rule: "must be in (0, 1) (the friction per step)",
            });
        }
        Ok(Self {
            step_size,
            posterior,
            settings,
        })
    }

    /// The thermostat's settings.
    pub fn settings(&self) -> SgnhtSettings {
        self.settings
    }

    /// The friction ξ at which the thermostat holds E[u²] = ε on a quadratic of curvature k with
    /// exact gradients (fixed-ξ stationary analysis): the root near A of ξ (4 − 2ξ − εk) = 4A.
    pub fn equilibrium_friction(&self, curvature: f64) -> f64 {
        let a = self.settings.diffusion;
        let b = 4.0 - self.step_size * curvature;
        // 2ξ² − bξ + 4A = 0, smaller root.
        (b - (b * b - 32.0 * a).max(0.0).sqrt()) / 4.0
    }
}

impl Sampler for Sgnht {
    type State = SgnhtState;

    fn name(&self) -> &'static str {
        "sgnht"
    }

    fn posterior(&self) -> TemperedPosterior {
        self.posterior
    }

    fn step_size(&self) -> f64 {
        self.step_size
    }

    fn with_step_size(&self, step_size: f64) -> Result<Self> {
        Self::new(step_size, self.posterior, self.settings)
    }

    /// nβ·f with ε/f, as SGLD: the kick ε·nβ∇L is unchanged and the thermostat's temperature ε/f
    /// follows the colder posterior.
    fn tempered(&self, factor: f64) -> Result<Self> {
        Self::new(
            self.step_size / factor,
            TemperedPosterior {
                nbeta: self.posterior.nbeta * factor,
                localization: self.posterior.localization,
            },
            self.settings,
        )
    }

    fn init_state(&self, dim: usize) -> SgnhtState {
        SgnhtState {
            momentum: vec![0.0; dim],
            friction: self.settings.diffusion,
        }
    }

    #[inline]
    fn step(
        &self,
        state: &mut SgnhtState,
        w: &mut [f64],
        grad_loss: &[f64],
        center: &[f64],
        rng: &mut ChainRng,
    ) {
        let eps = self.step_size;
        let noise_sd = (2.0 * self.settings.diffusion * eps).sqrt();
        let keep = 1.0 - state.friction;
        let TemperedPosterior {
            nbeta,
            localization,
        } = self.posterior;
        let mut kinetic = 0.0;
        for (((x, &g), &c), u) in w
            .iter_mut()
            .zip(grad_loss)
            .zip(center)
            .zip(state.momentum.iter_mut())
        {
            let z: f64 = rng.sample(StandardNormal);
            *u = keep * *u - eps * (nbeta * g + localization * (*x - c)) + noise_sd * z;
            *x += *u;
            kinetic += *u * *u;
        }
        state.friction += kinetic / w.len().max(1) as f64 - eps;
    }
}
