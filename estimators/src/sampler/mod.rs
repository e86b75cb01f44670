//! The SGLD family behind one trait: a sampler turns a minibatch gradient into the next point of a chain.

mod rmsprop_sgld;
mod sgld;
mod sgnht;

pub use rmsprop_sgld::{RmspropSettings, RmspropSgld, RmspropState};
pub use sgld::Sgld;
pub use sgnht::{Sgnht, SgnhtSettings, SgnhtState};

use rand_xoshiro::Xoshiro256PlusPlus;

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
