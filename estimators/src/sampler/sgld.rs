//! Stochastic gradient Langevin dynamics (Welling & Teh 2011), the plain member of the family.

use rand::Rng;
use rand_distr::StandardNormal;

use super::{ChainRng, Sampler, TemperedPosterior};
use crate::error::{Error, Result};

/// SGLD: w ← w − (ε/2)(nβ ∇L_B(w) + γ (w − w*)) + N(0, ε I).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sgld {
    step_size: f64,
    posterior: TemperedPosterior,
}

impl Sgld {
    /// An SGLD sampler; the step size and nβ must be positive and finite, γ non-negative and finite.
    pub fn new(step_size: f64, posterior: TemperedPosterior) -> Result<Self> {
        check_posterior(&posterior)?;
        if !(step_size.is_finite() && step_size > 0.0) {
            return Err(Error::OutOfRange {
                name: "llc.step_size",
                value: step_size.to_string(),
                rule: "must be positive and finite",
            });
        }
        Ok(Self {
            step_size,
            posterior,
        })
    }
}

/// Checks nβ > 0 and γ ≥ 0, both finite.
pub(crate) fn check_posterior(p: &TemperedPosterior) -> Result<()> {
    if !(p.nbeta.is_finite() && p.nbeta > 0.0) {
        return Err(Error::OutOfRange {
            name: "llc.nbeta",
            value: p.nbeta.to_string(),
            rule: "must be positive and finite",
        });
    }
    if !(p.localization.is_finite() && p.localization >= 0.0) {
        return Err(Error::OutOfRange {
            name: "llc.localization",
            value: p.localization.to_string(),
            rule: "must be non-negative and finite",
        });
    }
    Ok(())
}

impl Sampler for Sgld {
    type State = ();

    fn name(&self) -> &'static str {
        "sgld"
    }

    fn posterior(&self) -> TemperedPosterior {
        self.posterior
    }

    fn step_size(&self) -> f64 {
        self.step_size
    }

    fn with_step_size(&self, step_size: f64) -> Result<Self> {
        Self::new(step_size, self.posterior)
    }

    /// nβ·f with the step ε/f: ε·nβ, and with it the step's relative bias, is unchanged.
    fn tempered(&self, factor: f64) -> Result<Self> {
        Self::new(
            self.step_size / factor,
            TemperedPosterior {
                nbeta: self.posterior.nbeta * factor,
                localization: self.posterior.localization,
            },
        )
    }

    fn init_state(&self, _dim: usize) -> Self::State {}

    #[inline]
    fn step(
        &self,
        _state: &mut (),
        w: &mut [f64],
        grad_loss: &[f64],
        center: &[f64],
        rng: &mut ChainRng,
    ) {
        let half = 0.5 * self.step_size;
        let noise_sd = self.step_size.sqrt();
        let TemperedPosterior {
            nbeta,
            localization,
        } = self.posterior;
        for ((x, &g), &c) in w.iter_mut().zip(grad_loss).zip(center) {
            let z: f64 = rng.sample(StandardNormal);
            *x += -half * (nbeta * g + localization * (*x - c)) + noise_sd * z;
        }
    }
}
