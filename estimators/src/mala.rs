//! The MALA diagnostic of a step size: the Metropolis–Hastings acceptance probability of an SGLD proposal, with full-batch loss and gradient.
//!
//! From a chain's point w, the (full-batch) SGLD proposal is w' = w − (ε/2) ∇U(w) + N(0, ε I) with
//! U(w) = nβ L_n(w) + (γ/2)‖w − w*‖², the negative log of the localized, tempered posterior. Its
//! acceptance probability is
//!
//! α = min(1, exp(U(w) − U(w') + ln q(w | w') − ln q(w' | w))),  ln q(b | a) = −‖b − a + (ε/2)∇U(a)‖² / (2ε),
//!
//! (both proposal densities, forward and reverse). A step size whose proposals would be accepted
//! about 90% of the time keeps the discretization bias of SGLD small; a low acceptance says the step
//! is too large for the landscape at the points the chain visits. The diagnostic does not change the
//! chain: it draws its own proposals from its own random stream.

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

use crate::chains::{chain_seed, ChainObserver};
use crate::error::{Error, Result};
use crate::landscape::{Batch, Landscape};
use crate::sampler::{ChainRng, TemperedPosterior};

/// Computes MALA acceptance probabilities of full-batch SGLD proposals on one landscape.
pub struct MalaProbe<'a, L: Landscape> {
    landscape: &'a L,
    center: &'a [f64],
    posterior: TemperedPosterior,
    step_size: f64,
    ws: L::Workspace,
    grad_w: Vec<f64>,
    grad_p: Vec<f64>,
    proposal: Vec<f64>,
}

impl<'a, L: Landscape> MalaProbe<'a, L> {
    /// A probe for proposals of step `step_size` targeting `posterior` localized at `center` (w*).
    pub fn new(
        landscape: &'a L,
        center: &'a [f64],
        posterior: TemperedPosterior,
        step_size: f64,
    ) -> Result<Self> {
        crate::sampler::Sgld::new(step_size, posterior)?;
        let d = landscape.dim();
        if center.len() != d {
            return Err(Error::InvalidShape {
                what: format!("center of length {}", center.len()),
                why: format!("the landscape has {d} parameters"),
            });
        }
        Ok(Self {
            landscape,
            center,
            posterior,
            step_size,
            ws: landscape.workspace(),
            grad_w: vec![0.0; d],
            grad_p: vec![0.0; d],
            proposal: vec![0.0; d],
        })
    }

    /// U(x) = nβ L_n(x) + (γ/2)‖x − w*‖² and its gradient into `grad`.
    fn potential(&mut self, x: &[f64], which: Which) -> f64 {
        let grad = match which {
            Which::Current => &mut self.grad_w,
            Which::Proposal => &mut self.grad_p,
        };
        let loss = self
            .landscape
            .loss_and_grad(x, Batch::Full, grad, &mut self.ws);
        let TemperedPosterior {
            nbeta,
            localization,
        } = self.posterior;
        let mut prior = 0.0;
        for ((g, &xi), &c) in grad.iter_mut().zip(x).zip(self.center) {
            *g = nbeta * *g + localization * (xi - c);
            prior += (xi - c) * (xi - c);
        }
        nbeta * loss + 0.5 * localization * prior
    }

    /// The acceptance probability of one proposal from `w`, drawn with `rng` (in [0, 1]; 0 when the
    /// proposal's loss is not finite). Fails when `w` has the wrong length or its loss is not finite.
    pub fn acceptance(&mut self, w: &[f64], rng: &mut ChainRng) -> Result<f64> {
        if w.len() != self.grad_w.len() {
            return Err(Error::InvalidShape {
                what: format!("point of length {}", w.len()),
                why: format!("the landscape has {} parameters", self.grad_w.len()),
            });
        }
        let u_w = self.potential(w, Which::Current);
        if !u_w.is_finite() {
            return Err(Error::Numerical {
                what: "MALA acceptance",
                why: format!("the potential at the chain's point is {u_w}"),
            });
        }
        let half = 0.5 * self.step_size;
        let sd = self.step_size.sqrt();
        // Forward: w' = w − (ε/2)∇U(w) + sqrt(ε) z, so ln q(w'|w) = −‖z‖²/2.
        let mut log_q_forward = 0.0;
        for ((p, &x), &g) in self.proposal.iter_mut().zip(w).zip(&self.grad_w) {
            let z: f64 = rng.sample(StandardNormal);
            *p = x - half * g + sd * z;
            log_q_forward -= 0.5 * z * z;
        }
        let proposal = std::mem::take(&mut self.proposal);
        let u_p = self.potential(&proposal, Which::Proposal);
        let mut log_q_reverse = 0.0;
        for ((&x, &p), &g) in w.iter().zip(&proposal).zip(&self.grad_p) {
            let r = x - p + half * g;
            log_q_reverse -= r * r / (2.0 * self.step_size);
        }
        self.proposal = proposal;
        if !u_p.is_finite() || !log_q_reverse.is_finite() {
            return Ok(0.0);
        }
        let log_ratio = u_w - u_p + log_q_reverse - log_q_forward;
        Ok(if log_ratio >= 0.0 {
            1.0
        } else {
            log_ratio.exp()
        })
    }
}

#[derive(Clone, Copy)]
enum Which {
    Current,
    Proposal,
}

/// A chain observer that computes the MALA acceptance probability every `every` kept draws and
/// keeps their running mean. Make one per chain (for example with [`MalaObserver::for_chain`]).
pub struct MalaObserver<'a, L: Landscape> {
    probe: MalaProbe<'a, L>,
    every: usize,
    rng: ChainRng,
    sum: f64,
    count: usize,
    failures: usize,
}

impl<'a, L: Landscape> MalaObserver<'a, L> {
    /// An observer probing every `every` draws (at least 1) with its own stream seeded by `seed`.
    pub fn new(
        landscape: &'a L,
        center: &'a [f64],
        posterior: TemperedPosterior,
        step_size: f64,
        every: usize,
        seed: u64,
    ) -> Result<Self> {
        if every == 0 {
            return Err(Error::OutOfRange {
                name: "llc.mala_every",
                value: "0".into(),
                rule: "must be at least 1",
            });
        }
        Ok(Self {
            probe: MalaProbe::new(landscape, center, posterior, step_size)?,
            every,
            rng: ChainRng::seed_from_u64(seed),
            sum: 0.0,
            count: 0,
            failures: 0,
        })
    }

    /// The observer of chain `chain` in a run seeded with `seed`: its stream is
    /// [`chain_seed`]`(seed ^ 0x4D41_4C41, chain)`, distinct from the chain's own.
    pub fn for_chain(
        landscape: &'a L,
        center: &'a [f64],
        posterior: TemperedPosterior,
        step_size: f64,
        every: usize,
        seed: u64,
        chain: usize,
    ) -> Result<Self> {
        Self::new(
            landscape,
            center,
            posterior,
            step_size,
            every,
            chain_seed(seed ^ 0x4D41_4C41, chain),
        )
    }

    /// The mean acceptance probability so far, or `None` before the first probe.
    pub fn mean_acceptance(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// Number of probes averaged.
    pub fn probes(&self) -> usize {
        self.count
    }

    /// Number of draws where the probe failed (non-finite potential at the chain's point); skipped.
    pub fn failures(&self) -> usize {
        self.failures
    }
}

impl<L: Landscape> ChainObserver for MalaObserver<'_, L>
where
    L::Workspace: Send,
{
    fn on_draw(&mut self, draw: usize, w: &[f64], _loss: f64) {
        if draw % self.every != 0 {
            return;
        }
        match self.probe.acceptance(w, &mut self.rng) {
            Ok(a) => {
                self.sum += a;
                self.count += 1;
            }
            Err(_) => self.failures += 1,
        }
    }
}

/// The MALA acceptance of a run: the mean over all chains' probes, and each chain's mean.
#[derive(Debug, Clone, PartialEq)]
pub struct MalaSummary {
    /// Mean acceptance probability over every probe of every chain.
    pub mean: f64,
    /// Each chain's mean (NaN for a chain with no probe).
    pub per_chain: Vec<f64>,
    /// Total number of probes.
    pub probes: usize,
}

impl MalaSummary {
    /// Pools the observers of a run; `None` when no chain made a probe.
    pub fn from_observers<L: Landscape>(observers: &[MalaObserver<'_, L>]) -> Option<Self> {
        let probes: usize = observers.iter().map(|o| o.count).sum();
        if probes == 0 {
            return None;
        }
        let sum: f64 = observers.iter().map(|o| o.sum).sum();
        Some(Self {
            mean: sum / probes as f64,
            per_chain: observers
                .iter()
                .map(|o| o.mean_acceptance().unwrap_or(f64::NAN))
                .collect(),
            probes,
        })
    }
}
