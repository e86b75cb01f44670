//! Probes of a landscape near w* (curvature, the posterior's natural extent) and the "auto" rules built on them.

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

use crate::chains::{run_chains_observed, ChainObserver, ChainSettings};
use crate::hessian::{dense_hessian, HessianOperator};
use crate::landscape::{Batch, Landscape};
use crate::sampler::{ChainRng, Sgld, TemperedPosterior};

/// The largest eigenvalue of the Hessian over `batch` at `w`, by power iteration on
/// Hessian-vector products (exact where the landscape has them, else gradient differences:
/// [`HessianOperator`]).
///
/// Returns 0 for a landscape that is flat to the probe's resolution (or a non-finite `w`).
pub fn top_hessian_eigenvalue<L: Landscape>(
    landscape: &L,
    w: &[f64],
    batch: Batch<'_>,
    iterations: usize,
    seed: u64,
) -> f64 {
    let d = landscape.dim();
    let Ok(mut op) = HessianOperator::new(landscape, w, batch) else {
        return 0.0;
    };
    let mut rng = ChainRng::seed_from_u64(seed);
    let mut v: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
    normalize(&mut v);
    let mut hv = vec![0.0; d];
    let mut eig = 0.0;
    for _ in 0..iterations.max(1) {
        op.apply(&v, &mut hv);
        eig = v.iter().zip(&hv).map(|(a, b)| a * b).sum::<f64>();
        let norm = hv.iter().map(|x| x * x).sum::<f64>().sqrt();
        if !(norm > 0.0 && norm.is_finite()) {
            return 0.0;
        }
        normalize(&mut hv);
        std::mem::swap(&mut v, &mut hv);
    }
    eig.max(0.0)
}

/// For `directions` random unit directions u, the distance s(u) at which nβ (L_n(w* + s u) − L_n(w*))
/// reaches `level`: how far the tempered posterior reaches along u. Distances beyond `max_extent`
/// (flat directions) are reported as `max_extent`.
pub fn posterior_extents<L: Landscape>(
    landscape: &L,
    center: &[f64],
    nbeta: f64,
    level: f64,
    directions: usize,
    max_extent: f64,
    seed: u64,
) -> Vec<f64> {
    let d = landscape.dim();
    let mut rng = ChainRng::seed_from_u64(seed);
    let mut ws = landscape.workspace();
    let base = landscape.loss(center, Batch::Full, &mut ws);
    let mut point = vec![0.0; d];
    let mut excess = |u: &[f64], s: f64, ws: &mut L::Workspace| {
        for i in 0..d {
            point[i] = center[i] + s * u[i];
        }
        nbeta * (landscape.loss(&point, Batch::Full, ws) - base)
    };
    (0..directions)
        .map(|_| {
            let mut u: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
            normalize(&mut u);
            // Bracket in log-space, then bisect on ln s.
            let (mut lo, mut hi) = (max_extent * 1e-9, max_extent);
            if excess(&u, hi, &mut ws) < level {
                return max_extent;
            }
            if excess(&u, lo, &mut ws) >= level {
                return lo;
            }
            for _ in 0..50 {
                let mid = (lo * hi).sqrt();
                if excess(&u, mid, &mut ws) < level {
                    lo = mid;
                } else {
                    hi = mid;
                }
                if hi / lo < 1.001 {
                    break;
                }
            }
            (lo * hi).sqrt()
        })
        .collect()
}

fn normalize(v: &mut [f64]) {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// What the auto rules learn about a landscape near w*: the Hessian's eigen-directions, and how far
/// the tempered posterior reaches along each.
#[derive(Debug, Clone, PartialEq)]
pub struct LandscapeProbe {
    /// Curvature vᵀHv of L at w* along each probed direction v (the eigenvalues, ascending, for the
    /// eigenvectors the quadratic term confines; random mixtures of the rest).
    pub eigenvalues: Vec<f64>,
    /// Along each eigen-direction, the distance s at which nβ (L(w* + s v) − L(w*)) reaches 1
    /// (the smaller of the two sides); `max_extent` for directions flat to that distance.
    pub extents: Vec<f64>,
    /// Along each eigen-direction, the stiffness of −log p at the posterior's scale: nβ h where the
    /// quadratic term dominates there, 12 / s² (a quartic's curvature at its extent) where it does not.
    pub stiffness: Vec<f64>,
    /// The cap on extents: directions reaching it count as flat.
    pub max_extent: f64,
}

impl LandscapeProbe {
    /// Directions whose extent stayed below the cap.
    pub fn non_flat(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.extents.len()).filter(|&i| self.extents[i] < self.max_extent)
    }

    /// Number of directions where the quadratic term dominates (nβ h s² ≥ 1): the Hessian's effective rank at this temperature.
    pub fn regular_directions(&self, nbeta: f64) -> usize {
        self.eigenvalues
            .iter()
            .zip(&self.extents)
            .filter(|(h, s)| nbeta * **h * **s * **s >= 1.0)
            .count()
    }
}

/// Probes the landscape at `center` on the points `batch`: the full Hessian ([`dense_hessian`]: exact
/// products where the landscape has them, gradient differences otherwise), its eigen-decomposition
/// (faer), and the posterior's extent along each eigenvector.
pub fn probe_landscape<L: Landscape>(
    landscape: &L,
    center: &[f64],
    batch: Batch<'_>,
    nbeta: f64,
    max_extent: f64,
) -> crate::Result<LandscapeProbe> {
    let d = landscape.dim();
    let (hess, _) = dense_hessian(landscape, center, batch)?;
    let mut ws = landscape.workspace();
    let mut point = center.to_vec();
    let eig = hess
        .self_adjoint_eigen(faer::Side::Lower)
        .map_err(|e| crate::Error::Numerical {
            what: "landscape probe",
            why: format!("eigensolver: {e:?}"),
        })?;
    let (values, vectors) = (eig.S(), eig.U());
    let base = landscape.loss(center, batch, &mut ws);
    // Directions: the eigenvectors the quadratic term confines within `max_extent`, and, in the rest
    // (the Hessian's numerical null space, where single eigenvectors can be exactly flat while their
    // mixtures are not, as in a deep linear net at zero), as many random unit mixtures.
    let null: Vec<usize> = (0..d)
        .filter(|&k| nbeta * values[k].max(0.0) * max_extent * max_extent < 1.0)
        .collect();
    let mut rng = ChainRng::seed_from_u64(0x5EED);
    let mut eigenvalues = Vec::with_capacity(d);
    let mut extents = Vec::with_capacity(d);
    let mut stiffness = Vec::with_capacity(d);
    for k in 0..d {
        let is_null = null.binary_search(&k).is_ok();
        let v: Vec<f64> = if is_null {
            let coef: Vec<f64> = null.iter().map(|_| rng.sample(StandardNormal)).collect();
            let mut v: Vec<f64> = (0..d)
                .map(|i| {
                    null.iter()
                        .zip(&coef)
                        .map(|(&j, c)| c * vectors[(i, j)])
                        .sum()
                })
                .collect();
            normalize(&mut v);
            v
        } else {
            (0..d).map(|i| vectors[(i, k)]).collect()
        };
        // The Rayleigh quotient vᵀHv: the eigenvalue for an eigenvector, the mixture's curvature otherwise.
        let hk = if is_null {
            (0..d)
                .map(|i| (0..d).map(|j| v[i] * hess[(i, j)] * v[j]).sum::<f64>())
                .sum::<f64>()
                .max(0.0)
        } else {
            values[k].max(0.0)
        };
        let mut side = |sign: f64| {
            extent_along(max_extent, |s| {
                for i in 0..d {
                    point[i] = center[i] + sign * s * v[i];
                }
                nbeta * (landscape.loss(&point, batch, &mut ws) - base)
            })
        };
        let s = side(1.0).min(side(-1.0));
        eigenvalues.push(hk);
        extents.push(s);
        stiffness.push(if nbeta * hk * s * s >= 1.0 {
            nbeta * hk
        } else {
            12.0 / (s * s)
        });
    }
    Ok(LandscapeProbe {
        eigenvalues,
        extents,
        stiffness,
        max_extent,
    })
}

/// The distance at which `excess(s)` first reaches 1, by bisection on ln s; `max_extent` if it never does.
fn extent_along(max_extent: f64, mut excess: impl FnMut(f64) -> f64) -> f64 {
    let (mut lo, mut hi) = (max_extent * 1e-9, max_extent);
    let at_cap = excess(hi);
    if at_cap.is_nan() || at_cap < 1.0 {
        return max_extent;
    }
    if excess(lo) >= 1.0 {
        return lo;
    }
    while hi / lo > 1.01 {
        let mid = (lo * hi).sqrt();
        if excess(mid) < 1.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo * hi).sqrt()
}

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

/// The numbers of a [`LandscapeProbe`] that the rule used, for the run's summary.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProbeSummary {
    /// Largest stiffness, ε's scale.
    pub stiffness_max: f64,
    /// Smallest stiffness of a non-flat direction (or γ), the slowest relaxation's scale.
    pub stiffness_slow: f64,
    /// The typical extent of the singular (non-quadratic) directions, γ's scale.
    pub singular_extent: f64,
    /// Directions the quadratic term confines at this temperature.
    pub regular_directions: usize,
    /// Directions flat out to the probe's cap.
    pub flat_directions: usize,
    /// Rounds of pilot chains the auto step size took (0: the step was given).
    pub pilot_rounds: usize,
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
    /// Burn-in lasts this many of the slowest relaxation times τ = 2 / (ε k_slow).
    pub const BURNIN_TAUS: f64 = 5.0;
    /// Draws span this many relaxation times…
    pub const SAMPLE_TAUS: f64 = 30.0;
    /// …and at least this many sampler steps.
    pub const MIN_SAMPLE_STEPS: f64 = 20_000.0;
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
}

/// Resolves every auto setting of an LLC run by the documented rule (docs/auto-rule.md):
/// probe the landscape at w*, then set γ from the singular directions' extent, ε from the largest
/// stiffness, burn-in and thinning from the slowest relaxation time.
pub fn resolve_settings<L: Landscape>(
    landscape: &L,
    center: &[f64],
    n: usize,
    draws: usize,
    request: SettingsRequest,
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
    let probe = probe_landscape(landscape, center, batch, nbeta, rule::MAX_EXTENT)?;
    let non_flat: Vec<usize> = probe.non_flat().collect();
    let singular: Vec<f64> = non_flat
        .iter()
        .filter(|&&i| nbeta * probe.eigenvalues[i] * probe.extents[i] * probe.extents[i] < 1.0)
        .map(|&i| probe.extents[i])
        .collect();
    let mut typical: Vec<f64> = if singular.is_empty() {
        non_flat.iter().map(|&i| probe.extents[i]).collect()
    } else {
        singular
    };
    typical.sort_by(f64::total_cmp);
    let singular_extent = typical.get(typical.len() / 2).copied().unwrap_or(1.0);
    let localization = request
        .localization
        .unwrap_or(2.0 * rule::DELTA / (singular_extent * singular_extent));
    let stiffness_max = non_flat
        .iter()
        .map(|&i| probe.stiffness[i])
        .fold(0.0, f64::max);
    let stiffness_slow = non_flat
        .iter()
        .map(|&i| probe.stiffness[i])
        .fold(f64::INFINITY, f64::min)
        .max(localization);
    let stiffness_slow = if stiffness_slow.is_finite() && stiffness_slow > 0.0 {
        stiffness_slow
    } else {
        1.0
    };
    let (step_size, pilot_rounds) = match request.step_size {
        Some(e) => (e, 0),
        None => pilot_step_size(
            landscape,
            center,
            batch,
            TemperedPosterior {
                nbeta,
                localization,
            },
            rule::KAPPA / (stiffness_max + localization).max(1e-12),
            stiffness_slow,
            &request,
        )?,
    };
    let tau = 2.0 / (step_size * stiffness_slow);
    let burnin = request
        .burnin
        .unwrap_or((rule::BURNIN_TAUS * tau).min(0.2 * rule::MAX_STEPS).ceil() as usize);
    let sample_steps =
        (rule::SAMPLE_TAUS * tau).clamp(rule::MIN_SAMPLE_STEPS, 0.8 * rule::MAX_STEPS);
    let thin = request
        .thin
        .unwrap_or((sample_steps / draws.max(1) as f64).ceil().max(1.0) as usize);
    Ok(ResolvedSettings {
        nbeta,
        localization,
        step_size,
        burnin,
        thin,
        probe: Some(ProbeSummary {
            stiffness_max,
            stiffness_slow,
            singular_extent,
            regular_directions: probe.regular_directions(nbeta),
            flat_directions: probe.extents.len() - non_flat.len(),
            pilot_rounds,
        }),
    })
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
fn pilot_step_size<L: Landscape>(
    landscape: &L,
    center: &[f64],
    probe_batch: Batch<'_>,
    posterior: TemperedPosterior,
    first: f64,
    stiffness_slow: f64,
    request: &SettingsRequest,
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
        let (traces, ends) =
            run_chains_observed(landscape, &sampler, center, &settings, &|_| {}, |_| {
                LastPoint(Vec::new())
            })?;
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
            return Ok((eps.min(target), round + 1));
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
