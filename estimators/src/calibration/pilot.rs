//! Pilot chains of the auto rule: the step size checked where the chains go, and the mixing time measured from their loss traces.

use super::probe::top_hessian_eigenvalue;
use super::{divergence_radius, rule, SettingsRequest};
use crate::chains::{run_chains_observed, ChainObserver, ChainSettings};
use crate::diagnostics::{effective_sample_size, mean_and_variance};
use crate::landscape::{Batch, Landscape};
use crate::run::{AutoStage, RunEvent, RunObserver};
use crate::sampler::{Sgld, TemperedPosterior};

/// Keeps the point of a chain's last kept draw.
struct LastPoint(Vec<f64>);

impl ChainObserver for LastPoint {
    fn on_draw(&mut self, _draw: usize, w: &[f64], _loss: f64) {
        self.0.clear();
        self.0.extend_from_slice(w);
    }
}

/// Checks an auto step size on the posterior's typical set, not only at w*: where the loss is a
/// polynomial of high degree (a deep net at a singular point), its curvature grows away from w* and a
/// step fitted to w* overshoots where the chains actually go. Pilot chains (two, about
/// [`rule::PILOT_TAUS`] relaxation times) run at the step; if one diverges the step is quartered, else
/// the top Hessian eigenvalue at their end points gives the stiffness there, and the step is lowered to
/// KAPPA / (nβ h_top + γ) when it is more than 1.5× that. Returns the step and the rounds taken.
pub(super) fn pilot_step_size<L: Landscape>(
    landscape: &L,
    center: &[f64],
    probe_batch: Batch<'_>,
    posterior: TemperedPosterior,
    first: f64,
    stiffness_slow: f64,
    request: &SettingsRequest,
    obs: &dyn RunObserver,
) -> crate::Result<(f64, usize)> {
    let mut eps = first;
    for round in 0..rule::PILOT_ROUNDS {
        let tau = 2.0 / (eps * stiffness_slow);
        let steps = (rule::PILOT_TAUS * tau).clamp(1000.0, rule::PILOT_MAX_STEPS) as usize;
        let settings = ChainSettings {
            chains: 2,
            draws: 4,
            burnin: 0,
            thin: (steps / 4).max(1),
            batch_size: request.batch.max(1),
            seed: request.seed ^ 0x9170_7000 ^ round as u64,
            divergence_radius: divergence_radius(center, posterior.localization),
            full_loss_every: 0,
            threads: 0,
        };
        let sampler = Sgld::new(eps, posterior)?;
        obs.phase(
            "auto: step pilot",
            (settings.chains * settings.steps_per_chain()) as u64,
        );
        let (traces, ends) = run_chains_observed(
            landscape,
            &sampler,
            center,
            &settings,
            &|k| obs.progress(k),
            |_| LastPoint(Vec::new()),
        )?;
        obs.phase_done();
        if traces.iter().any(|t| t.divergence.is_some()) {
            eps /= 4.0;
            continue;
        }
        let stiffness = ends
            .iter()
            .map(|end| {
                posterior.nbeta
                    * top_hessian_eigenvalue(landscape, &end.0, probe_batch, 30, request.seed)
                    + posterior.localization
            })
            .fold(0.0, f64::max);
        let target = rule::KAPPA / stiffness.max(1e-12);
        if eps <= 1.5 * target {
            let step_size = eps.min(target);
            obs.event(&RunEvent::Auto(AutoStage::Step {
                step_size,
                rounds: round + 1,
            }));
            return Ok((step_size, round + 1));
        }
        eps = target;
    }
    Err(crate::Error::Numerical {
        what: "auto step size",
        why: format!(
            "pilot chains still diverged or overshot after {} rounds (last step {eps:.3e}); set llc.step_size",
            rule::PILOT_ROUNDS
        ),
    })
}

/// Records the loss on the probe's points at every kept draw: the minibatch loss a chain reports
/// carries white batch noise that hides slow autocorrelation.
struct ProbeLoss<'a, L: Landscape> {
    landscape: &'a L,
    batch: Batch<'a>,
    ws: L::Workspace,
    losses: Vec<f64>,
}

impl<L: Landscape> ChainObserver for ProbeLoss<'_, L> {
    fn on_draw(&mut self, _draw: usize, w: &[f64], _loss: f64) {
        let loss = self.landscape.loss(w, self.batch, &mut self.ws);
        self.losses.push(loss);
    }
}

/// What the mixing pilot measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mixing {
    /// Integrated autocorrelation time of nβ L (on the probe's points) in sampler steps, from the
    /// second half of the last round's traces.
    pub tau_steps: f64,
    /// Steps before the chains' mean loss settles (MSER truncation point of the last round).
    pub transient_steps: usize,
    /// Variance of nβ L over the posterior (second half of the last round).
    pub variance: f64,
    /// nβ (E L − L(w*)) of the last round's second half: the pilot's own λ̂.
    pub llc: f64,
    /// Steps per chain of the last round.
    pub length: usize,
    /// Chain-steps of every round together.
    pub cost: usize,
    /// Whether the last round resolved the transient and the autocorrelation (else the caller falls
    /// back to the linear relaxation time).
    pub resolved: bool,
}

/// Measures how fast nβ L mixes at step `eps`: [`rule::MIXING_CHAINS`] chains of
/// [`rule::MIXING_DRAWS`] draws, rounds of 4× the length from [`rule::MIXING_FIRST_STEPS`] until the
/// transient (MSER on the chains' mean trace) ends in the first half, the second half holds
/// [`rule::MIXING_MIN_ESS`] effective draws per chain, and the autocorrelation time is within
/// [`rule::MIXING_STABLE`] of the previous round's (a slow mode of small amplitude adds a long tail
/// to the autocorrelation that a short pilot truncates: a longer one that finds the same time has
/// not seen such a tail), or the length reaches `max_length`.
pub(super) fn pilot_mixing<L: Landscape>(
    landscape: &L,
    center: &[f64],
    probe_batch: Batch<'_>,
    posterior: TemperedPosterior,
    eps: f64,
    max_length: usize,
    request: &SettingsRequest,
    obs: &dyn RunObserver,
) -> crate::Result<Mixing> {
    let sampler = Sgld::new(eps, posterior)?;
    let mut ws = landscape.workspace();
    let base = landscape.loss(center, probe_batch, &mut ws);
    let draws = rule::MIXING_DRAWS;
    let mut length = rule::MIXING_FIRST_STEPS.min(max_length).max(draws);
    let mut cost = 0;
    let mut previous_tau = f64::NAN;
    loop {
        let settings = ChainSettings {
            chains: rule::MIXING_CHAINS,
            draws,
            burnin: 0,
            thin: length / draws,
            batch_size: request.batch.max(1),
            seed: request.seed ^ 0x3A1C_0000 ^ length as u64,
            divergence_radius: divergence_radius(center, posterior.localization),
            full_loss_every: 0,
            threads: 0,
        };
        obs.phase(
            "auto: mixing pilot",
            (settings.chains * settings.steps_per_chain()) as u64,
        );
        let (traces, observed) = run_chains_observed(
            landscape,
            &sampler,
            center,
            &settings,
            &|k| obs.progress(k),
            |_| ProbeLoss {
                landscape,
                batch: probe_batch,
                ws: landscape.workspace(),
                losses: Vec::with_capacity(draws),
            },
        )?;
        obs.phase_done();
        cost += length * rule::MIXING_CHAINS;
        let thin = settings.thin;
        let kept: Vec<Vec<f64>> = traces
            .iter()
            .zip(observed)
            .filter(|(t, o)| t.divergence.is_none() && o.losses.len() == draws)
            .map(|(_, o)| {
                o.losses
                    .iter()
                    .map(|l| posterior.nbeta * (l - base))
                    .collect()
            })
            .collect();
        let measured = measure(&kept);
        let next = length * 4;
        let tau_steps = measured.map_or(f64::NAN, |m| m.1 * thin as f64);
        // Below two draws the draws are nearly independent at this stride: a long tail would show
        // as correlation between them.
        let stable = tau_steps <= rule::MIXING_STABLE * previous_tau
            || measured.is_some_and(|m| m.1 < 2.0 && previous_tau.is_finite());
        previous_tau = tau_steps;
        let accepted = measured.is_some_and(|(transient, tau_draws, _, _)| {
            transient < draws / 2
                && (draws / 2) as f64 / tau_draws >= rule::MIXING_MIN_ESS
                && stable
        });
        obs.event(&RunEvent::Auto(AutoStage::Mixing {
            length,
            tau_steps,
            resolved: accepted,
        }));
        match measured {
            Some((transient, tau_draws, variance, llc)) if accepted => {
                return Ok(Mixing {
                    tau_steps: tau_draws * thin as f64,
                    transient_steps: transient * thin,
                    variance,
                    llc,
                    length,
                    cost,
                    resolved: true,
                });
            }
            _ if next > max_length => {
                let (transient, tau_draws, variance, llc) =
                    measured.unwrap_or((draws, draws as f64, f64::NAN, f64::NAN));
                return Ok(Mixing {
                    tau_steps: tau_draws * thin as f64,
                    transient_steps: transient * thin,
                    variance,
                    llc,
                    length,
                    cost,
                    resolved: false,
                });
            }
            _ => length = next,
        }
    }
}

/// From chains of nβ (L − L(w*)) traces: the transient (MSER draws), the integrated autocorrelation
/// time of the second half (draws), the variance and the mean there. `None` with fewer than two
/// chains or non-finite values.
fn measure(chains: &[Vec<f64>]) -> Option<(usize, f64, f64, f64)> {
    if chains.len() < 2 || chains.iter().flatten().any(|x| !x.is_finite()) {
        return None;
    }
    let n = chains.iter().map(Vec::len).min()?;
    let mean_trace: Vec<f64> = (0..n)
        .map(|t| chains.iter().map(|c| c[t]).sum::<f64>() / chains.len() as f64)
        .collect();
    let transient = mser(&mean_trace);
    let halves: Vec<&[f64]> = chains.iter().map(|c| &c[n / 2..n]).collect();
    let ess = effective_sample_size(&halves);
    let total = (halves.len() * (n - n / 2)) as f64;
    let tau = if ess.is_finite() && ess > 0.0 {
        (total / ess).max(1.0)
    } else {
        n as f64
    };
    let pooled: Vec<f64> = halves.iter().flat_map(|h| h.iter().copied()).collect();
    let (mean, variance) = mean_and_variance(&pooled);
    Some((transient, tau, variance, mean))
}

/// The marginal standard error rule (White 1997): the truncation d ≤ n/2 that minimizes the
/// squared standard error proxy Σ_{t ≥ d} (x_t − x̄_d)² / (n − d)²; n when the minimum sits at the
/// half (the transient has not ended within it).
fn mser(trace: &[f64]) -> usize {
    let n = trace.len();
    let mut best = (f64::INFINITY, n);
    for d in 0..=n / 2 {
        let tail = &trace[d..];
        let (_, var) = mean_and_variance(tail);
        let m = tail.len() as f64;
        let score = var * (m - 1.0) / (m * m);
        if score < best.0 {
            best = (score, d);
        }
    }
    if best.1 >= n / 2 {
        n
    } else {
        best.1
    }
}

#[cfg(test)]
mod tests {
    use super::mser;

    #[test]
    fn mser_finds_the_end_of_a_ramp() {
        // A linear rise over 40 points, then a constant with a small alternation.
        let trace: Vec<f64> = (0..200)
            .map(|t| {
                if t < 40 {
                    t as f64 / 40.0
                } else {
                    1.0 + 0.01 * if t % 2 == 0 { 1.0 } else { -1.0 }
                }
            })
            .collect();
        let d = mser(&trace);
        assert!((30..=45).contains(&d), "truncation {d}");
        // Still rising at the half: not resolved.
        let ramp: Vec<f64> = (0..200).map(|t| t as f64).collect();
        assert_eq!(mser(&ramp), 200);
    }
}
