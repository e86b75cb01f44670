//! Probes of a landscape near w* (curvature, the posterior's natural extent) and the "auto" rules built on them.

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

use crate::hessian::HessianOperator;
use crate::landscape::{Batch, Landscape};
use crate::run::{AutoStage, RunEvent, RunObserver};
use crate::sampler::{ChainRng, TemperedPosterior};

mod pilot;
mod probe;

pub use pilot::Mixing;
use probe::{extent_along, normalize};
pub use probe::{probe_landscape, top_hessian_eigenvalue, End, LandscapeProbe, ProbedDirection};

/// The settings of an LLC run, each given by the user or left to the auto rule.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SettingsRequest {
    /// nβ, or `None` for n / ln n.
    pub nbeta: Option<f64>,
    /// γ, or `None` for the auto rule.
    pub localization: Option<f64>,
    /// ε, or `None` for the auto rule.
    pub step_size: Option<f64>,
    /// Burn-in steps, or `None` for the auto rule.
    pub burnin: Option<usize>,
    /// Steps per draw, or `None` for the auto rule.
    pub thin: Option<usize>,
    /// The chains' minibatch size (the pilot chains of the auto step size use it too).
    pub batch: usize,
    /// The run's chain count: the sampling length is set so that all of them together reach the
    /// rule's precision.
    pub chains: usize,
    /// Seed of the pilot chains.
    pub seed: u64,
}

/// Settings with every auto resolved, and what the rule saw.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedSettings {
    /// nβ.
    pub nbeta: f64,
    /// γ.
    pub localization: f64,
    /// ε.
    pub step_size: f64,
    /// Burn-in steps.
    pub burnin: usize,
    /// Steps per draw.
    pub thin: usize,
    /// The probe behind the rule (none when nothing was auto).
    pub probe: Option<ProbeSummary>,
}

/// The numbers of a [`LandscapeProbe`] and the pilot chains that the rule used, for the run's summary.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProbeSummary {
    /// Largest stiffness, ε's scale.
    pub stiffness_max: f64,
    /// Smallest stiffness of a probed non-flat direction (or γ): the slowest linear relaxation's scale.
    pub stiffness_slow: f64,
    /// The typical extent of the singular (non-quadratic) directions, γ's scale.
    pub singular_extent: f64,
    /// The largest Hessian eigenvalue the probe found (Lanczos).
    pub top_eigenvalue: f64,
    /// The smallest Hessian eigenvalue the probe found: negative at a strict saddle.
    pub bottom_eigenvalue: f64,
    /// Probed directions the quadratic term confines at this temperature (of `probed_directions`).
    pub regular_directions: usize,
    /// Probed directions flat out to the probe's cap.
    pub flat_directions: usize,
    /// Directions probed (the top and bottom Ritz vectors of each Lanczos start).
    pub probed_directions: usize,
    /// Hessian-vector products and loss evaluations of the probe (bounded, whatever d).
    pub probe_evaluations: usize,
    /// Rounds of pilot chains the auto step size took (0: the step was given).
    pub pilot_rounds: usize,
    /// The measured integrated autocorrelation time of nβ L, in steps (NaN when not measured).
    pub autocorrelation_steps: f64,
    /// Steps the mixing pilot saw before the chains' mean loss settled.
    pub transient_steps: usize,
    /// Whether burn-in and thinning came from the measured mixing (else from the slowest linear
    /// relaxation time, as when the pilot could not resolve it within its cap).
    pub measured_mixing: bool,
    /// Chain-steps of all pilot chains (step size and mixing).
    pub pilot_steps: usize,
}

/// The temperature ladder's localization by the unit-information rule: γ = 1/s², with s the median,
/// over [`rule::UNIT_INFO_DIRECTIONS`] random unit directions u, of the distance at which the loss
/// itself (nβ = 1) has risen by 1/2: L(w* + s u) − L(w*) = 1/2. The Gaussian prior then falls by the
/// factor e^(−1/2) where one observation's likelihood does: a prior worth one data point, at the
/// loss's own scale, whatever nβ. The loss is taken on the auto rule's probe points.
///
/// Why the ladder needs its own γ: its fit (crate::ladder) assumes the zeta function's pole-free part
/// g_ζ = 1, which holds when the prior's width and the loss are both of order one in the units of
/// t = nβ. The one-temperature rule (γ = 2·DELTA/s² at the posterior's extent at nβ) makes the prior
/// bite at the warm rungs, whose λ̂ it pulls down by a power of nβ; the fit reads that rise as a
/// higher multiplicity. Directions flat out to [`rule::MAX_EXTENT`] count as that far, so γ is at
/// least 1/MAX_EXTENT². Returns `None` when the loss is not finite at `center`.
pub fn unit_information_localization<L: Landscape>(
    landscape: &L,
    center: &[f64],
    seed: u64,
) -> Option<f64> {
    let points = probe_points(landscape);
    let batch = probe_batch(landscape, &points);
    let d = landscape.dim();
    let mut rng = ChainRng::seed_from_u64(seed ^ 0x7E1D_0001);
    let mut ws = landscape.workspace();
    let base = landscape.loss(center, batch, &mut ws);
    if !base.is_finite() {
        return None;
    }
    let mut point = vec![0.0; d];
    let mut extents: Vec<f64> = (0..rule::UNIT_INFO_DIRECTIONS)
        .map(|_| {
            let mut u: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
            normalize(&mut u);
            extent_along(rule::MAX_EXTENT, |s| {
                for i in 0..d {
                    point[i] = center[i] + s * u[i];
                }
                // Twice the rise, so that extent_along's level 1 is a rise of 1/2.
                2.0 * (landscape.loss(&point, batch, &mut ws) - base)
            })
        })
        .collect();
    extents.sort_by(f64::total_cmp);
    let s = extents[extents.len() / 2];
    Some(1.0 / (s * s))
}

/// The auto rule's constants, documented in docs/auto-rule.md.
pub mod rule {
    /// ε = KAPPA / (largest stiffness + γ): the stiffest direction's step bias is about KAPPA / 4.
    pub const KAPPA: f64 = 0.05;
    /// γ = 2 DELTA / s², s the median extent of the singular directions: the prior raises −log p by
    /// DELTA at the posterior's typical singular extent.
    pub const DELTA: f64 = 0.2;
    /// Lanczos starts of the probe; each gives a top and a bottom direction.
    pub const PROBE_STARTS: usize = 8;
    /// Hessian-vector products per Lanczos start (fewer when d is smaller).
    pub const LANCZOS_STEPS: usize = 20;
    /// Burn-in lasts at least this many autocorrelation times (or, as a fallback, slowest linear
    /// relaxation times τ = 2 / (ε k_slow))…
    pub const BURNIN_TAUS: f64 = 5.0;
    /// …and this many autocorrelation times of the slowest linear mode's energy, 1 / (ε k_slow)…
    pub const BURNIN_SLOW_TAUS: f64 = 2.0;
    /// …and at least this many times the mixing pilot's transient.
    pub const BURNIN_TRANSIENTS: f64 = 2.0;
    /// Draws span at least this many autocorrelation (or relaxation) times…
    pub const SAMPLE_TAUS: f64 = 30.0;
    /// …and enough to bring λ̂'s standard error to this fraction of max(λ̂, 1), by the pilot's
    /// variance and autocorrelation time.
    pub const TARGET_REL_STDERR: f64 = 0.01;
    /// At most this many steps per chain (burn-in plus sampling), whatever the relaxation time says.
    pub const MAX_STEPS: f64 = 2_000_000.0;
    /// The probe evaluates the Hessian and extents on at most this many training points.
    pub const PROBE_POINTS: usize = 2000;
    /// Extents beyond this distance count as flat.
    pub const MAX_EXTENT: f64 = 10.0;
    /// Random directions of the ladder's unit-information localization.
    pub const UNIT_INFO_DIRECTIONS: usize = 64;
    /// Pilot chains of the auto step size run this many relaxation times…
    pub const PILOT_TAUS: f64 = 2.0;
    /// …and at most this many steps per round…
    pub const PILOT_MAX_STEPS: f64 = 50_000.0;
    /// …for at most this many rounds.
    pub const PILOT_ROUNDS: usize = 8;
    /// Chains of the mixing pilot…
    pub const MIXING_CHAINS: usize = 4;
    /// …each recording this many draws of the loss on the probe's points…
    pub const MIXING_DRAWS: usize = 200;
    /// …over this many steps in its first round, 4× more in each next…
    pub const MIXING_FIRST_STEPS: usize = 2000;
    /// …until the second half holds this many effective draws per chain…
    pub const MIXING_MIN_ESS: f64 = 10.0;
    /// …and the autocorrelation time is at most this multiple of the previous round's…
    pub const MIXING_STABLE: f64 = 1.5;
    /// …or the length reaches this fraction of [`MAX_STEPS`].
    pub const MIXING_MAX_FRACTION: f64 = 0.125;
}

/// Resolves every auto setting of an LLC run by the documented rule (docs/auto-rule.md): probe the
/// landscape at w* without forming its Hessian, set γ from the singular directions' extent and ε
/// from the largest stiffness, check ε with pilot chains, then set burn-in and thinning from the
/// autocorrelation the pilot chains measure.
pub fn resolve_settings<L: Landscape>(
    landscape: &L,
    center: &[f64],
    n: usize,
    draws: usize,
    request: SettingsRequest,
    obs: &dyn RunObserver,
) -> crate::Result<ResolvedSettings> {
    let nbeta = request
        .nbeta
        .unwrap_or_else(|| crate::llc::default_nbeta(n));
    let needs_probe = request.localization.is_none()
        || request.step_size.is_none()
        || request.burnin.is_none()
        || request.thin.is_none();
    if !needs_probe {
        return Ok(ResolvedSettings {
            nbeta,
            localization: request.localization.unwrap_or(0.0),
            step_size: request.step_size.unwrap_or(0.0),
            burnin: request.burnin.unwrap_or(0),
            thin: request.thin.unwrap_or(1),
            probe: None,
        });
    }
    let points = probe_points(landscape);
    let batch = probe_batch(landscape, &points);
    let probe = probe_landscape(landscape, center, batch, nbeta, request.seed)?;
    obs.event(&RunEvent::Auto(AutoStage::Probed {
        top: probe.top_eigenvalue,
        bottom: probe.bottom_eigenvalue,
        evaluations: probe.products + probe.loss_evaluations,
    }));
    let scales = Scales::of(&probe, nbeta, request.localization);
    let localization = scales.localization;
    let posterior = TemperedPosterior {
        nbeta,
        localization,
    };
    let (step_size, pilot_rounds) = match request.step_size {
        Some(e) => (e, 0),
        None => pilot::pilot_step_size(
            landscape,
            center,
            batch,
            posterior,
            rule::KAPPA / (scales.stiffness_max + localization).max(1e-12),
            scales.stiffness_slow,
            &request,
            obs,
        )?,
    };
    // The integrated autocorrelation time of the energy nβ h x²/2 of a linear mode of stiffness k.
    let linear_tau = 1.0 / (step_size * scales.stiffness_slow);
    let mixing = if request.burnin.is_none() || request.thin.is_none() {
        let cap = (rule::MIXING_MAX_FRACTION * rule::MAX_STEPS) as usize;
        Some(pilot::pilot_mixing(
            landscape, center, batch, posterior, step_size, cap, &request, obs,
        )?)
    } else {
        None
    };
    let (burnin, sample_steps) = lengths(mixing.as_ref(), linear_tau, draws, request.chains);
    let burnin = request.burnin.unwrap_or(burnin);
    let thin = request
        .thin
        .unwrap_or((sample_steps / draws.max(1) as f64).ceil().max(1.0) as usize);
    let non_flat = probe.non_flat().count();
    Ok(ResolvedSettings {
        nbeta,
        localization,
        step_size,
        burnin,
        thin,
        probe: Some(ProbeSummary {
            stiffness_max: scales.stiffness_max,
            stiffness_slow: scales.stiffness_slow,
            singular_extent: scales.singular_extent,
            top_eigenvalue: probe.top_eigenvalue,
            bottom_eigenvalue: probe.bottom_eigenvalue,
            regular_directions: probe
                .directions
                .iter()
                .filter(|p| !p.is_singular(nbeta))
                .count(),
            flat_directions: probe.directions.len() - non_flat,
            probed_directions: probe.directions.len(),
            probe_evaluations: probe.products + probe.loss_evaluations,
            pilot_rounds,
            autocorrelation_steps: mixing.map_or(f64::NAN, |m| m.tau_steps),
            transient_steps: mixing.map_or(0, |m| m.transient_steps),
            measured_mixing: mixing.is_some_and(|m| m.resolved),
            pilot_steps: mixing.map_or(0, |m| m.cost),
        }),
    })
}

/// The scales the rule reads off a probe: γ (given, or from the singular directions' extent), the
/// largest stiffness (ε's scale) and the smallest (the slowest linear relaxation).
struct Scales {
    localization: f64,
    singular_extent: f64,
    stiffness_max: f64,
    stiffness_slow: f64,
}

impl Scales {
    fn of(probe: &LandscapeProbe, nbeta: f64, localization: Option<f64>) -> Self {
        let non_flat: Vec<&ProbedDirection> = probe.non_flat().collect();
        let singular: Vec<f64> = non_flat
            .iter()
            .filter(|p| p.is_singular(nbeta))
            .map(|p| p.extent)
            .collect();
        let mut typical: Vec<f64> = if singular.is_empty() {
            non_flat.iter().map(|p| p.extent).collect()
        } else {
            singular
        };
        typical.sort_by(f64::total_cmp);
        let singular_extent = typical.get(typical.len() / 2).copied().unwrap_or(1.0);
        let localization =
            localization.unwrap_or(2.0 * rule::DELTA / (singular_extent * singular_extent));
        let stiffness_max = non_flat
            .iter()
            .map(|p| p.stiffness)
            .fold(nbeta * probe.top_eigenvalue.max(0.0), f64::max);
        let slowest_regular = probe
            .slowest_regular(nbeta, singular_extent)
            .map_or(f64::INFINITY, |h| nbeta * h);
        let stiffness_slow = non_flat
            .iter()
            .map(|p| p.stiffness)
            .fold(slowest_regular, f64::min)
            .max(localization);
        let stiffness_slow = if stiffness_slow.is_finite() && stiffness_slow > 0.0 {
            stiffness_slow
        } else {
            1.0
        };
        Self {
            localization,
            singular_extent,
            stiffness_max,
            stiffness_slow,
        }
    }
}

/// Burn-in and sampling steps per chain (docs/auto-rule.md), from the measured mixing where the pilot
/// resolved it and the slowest linear mode, whose energy's autocorrelation time `linear_tau` a short
/// pilot cannot see (it holds a small share of the variance, over a long time): burn-in past the
/// transient, [`rule::BURNIN_TAUS`] measured times and [`rule::BURNIN_SLOW_TAUS`] linear ones; draws
/// spanning [`rule::SAMPLE_TAUS`] measured times and enough for [`rule::TARGET_REL_STDERR`] over
/// `chains`, counting the measured variance and autocorrelation and the slow mode's variance 1/2.
/// Without a resolved pilot, 5 and 30 slowest relaxation times 2 `linear_tau`. Within
/// [`rule::MAX_STEPS`].
fn lengths(mixing: Option<&Mixing>, linear_tau: f64, draws: usize, chains: usize) -> (usize, f64) {
    let cap = rule::MAX_STEPS;
    let linear_tau = if linear_tau.is_finite() {
        linear_tau
    } else {
        0.0
    };
    match mixing.filter(|m| m.resolved) {
        Some(m) => {
            let tau = m.tau_steps.max(1.0);
            let burnin = (rule::BURNIN_TAUS * tau)
                .max(rule::BURNIN_TRANSIENTS * m.transient_steps as f64)
                .max(rule::BURNIN_SLOW_TAUS * linear_tau)
                .max(draws as f64)
                .min(0.2 * cap);
            let target = rule::TARGET_REL_STDERR * m.llc.abs().max(1.0);
            let precise =
                (m.variance * tau + 0.5 * linear_tau) / (chains.max(1) as f64 * target * target);
            let sample = (rule::SAMPLE_TAUS * tau)
                .max(if precise.is_finite() { precise } else { 0.0 })
                .max(draws as f64)
                .min(0.8 * cap);
            (burnin.ceil() as usize, sample)
        }
        None => {
            let relaxation = 2.0 * linear_tau;
            let burnin = (rule::BURNIN_TAUS * relaxation).min(0.2 * cap).ceil() as usize;
            let sample = (rule::SAMPLE_TAUS * relaxation).clamp(20_000.0, 0.8 * cap);
            (burnin, sample)
        }
    }
}

/// The training points the auto rule probes on: the first [`rule::PROBE_POINTS`].
pub fn probe_points<L: Landscape>(landscape: &L) -> Vec<usize> {
    (0..landscape.data_size().unwrap_or(0).min(rule::PROBE_POINTS)).collect()
}

/// Those points as a batch, or the full batch for a landscape without data (a potential).
pub fn probe_batch<'a, L: Landscape>(landscape: &L, points: &'a [usize]) -> Batch<'a> {
    if landscape.data_size().is_some() {
        Batch::Indices(points)
    } else {
        Batch::Full
    }
}

/// The distance from w* at which a chain counts as diverged: 10 prior widths (sqrt(d / γ)) beyond
/// ‖w*‖, or 100 × (1 + ‖w*‖) without localization.
pub fn divergence_radius(center: &[f64], localization: f64) -> f64 {
    let norm = center.iter().map(|x| x * x).sum::<f64>().sqrt();
    if localization > 0.0 {
        10.0 * (center.len() as f64 / localization).sqrt() + norm
    } else {
        100.0 * (1.0 + norm)
    }
}

/// How far below w* the full-batch loss goes along the gradient, in units of 1/nβ: with g = ∇L(w*)
/// and the curvature h = gᵀHg/|g|² (one Hessian-vector product), a quadratic model
/// puts the minimum along −g at nβ |g|² / (2h) below L(w*) (at nβ |g| · 1 when the curvature is not
/// positive). Above 1 the chains see a slope, not a basin. `None` when the gradient vanishes.
pub fn gradient_drop<L: Landscape>(landscape: &L, center: &[f64], nbeta: f64) -> Option<f64> {
    let mut g = vec![0.0; center.len()];
    landscape.loss_and_grad(center, Batch::Full, &mut g, &mut landscape.workspace());
    let g2: f64 = g.iter().map(|x| x * x).sum();
    if !(g2 > 0.0 && g2.is_finite()) {
        return None;
    }
    let mut hessian = HessianOperator::new(landscape, center, Batch::Full).ok()?;
    let mut hg = vec![0.0; g.len()];
    hessian.apply(&g, &mut hg);
    let curvature = g.iter().zip(&hg).map(|(a, b)| a * b).sum::<f64>() / g2;
    Some(if curvature > 0.0 {
        nbeta * g2 / (2.0 * curvature)
    } else {
        nbeta * g2.sqrt()
    })
}
