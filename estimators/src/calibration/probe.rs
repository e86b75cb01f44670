//! The auto rule's matrix-free probe at w*: the Hessian spectrum's ends by Lanczos, and the tempered posterior's extent along a bounded set of directions.

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

use super::rule;
use crate::hessian::{spectrum_ends, HessianOperator};
use crate::landscape::{Batch, Landscape};
use crate::sampler::ChainRng;

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

pub(super) fn normalize(v: &mut [f64]) {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Which end of the spectrum a probed direction came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The top Ritz vector of one Lanczos start: the stiffest directions.
    Top,
    /// The bottom Ritz vector: the flattest (at a minimum, a random direction of the Hessian's
    /// null space when it has one).
    Bottom,
}

/// One direction the probe measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbedDirection {
    /// Which end of the spectrum it came from.
    pub end: End,
    /// Curvature vᵀHv (its Ritz value).
    pub curvature: f64,
    /// The distance s at which nβ (L(w* + s v) − L(w*)) reaches 1 (the smaller of the two sides);
    /// `max_extent` for a direction flat to that distance.
    pub extent: f64,
    /// The stiffness of −log p at the posterior's scale: nβ h where the quadratic term dominates
    /// there, 12 / s² (a quartic's curvature at its extent) where it does not.
    pub stiffness: f64,
}

impl ProbedDirection {
    /// Whether the quadratic term does not confine this direction at this temperature.
    pub fn is_singular(&self, nbeta: f64) -> bool {
        nbeta * self.curvature.max(0.0) * self.extent * self.extent < 1.0
    }
}

/// What the auto rule learns about a landscape near w*, at a cost that does not grow with d: the
/// spectrum's ends from [`rule::PROBE_STARTS`] Lanczos runs of [`rule::LANCZOS_STEPS`] products, and
/// the posterior's extent along each run's top and bottom Ritz vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct LandscapeProbe {
    /// The largest Hessian eigenvalue found.
    pub top_eigenvalue: f64,
    /// The smallest Hessian eigenvalue found: negative at a strict saddle.
    pub bottom_eigenvalue: f64,
    /// Every start's Ritz values, pooled (ascending).
    pub ritz_values: Vec<f64>,
    /// The measured directions, top and bottom of each start.
    pub directions: Vec<ProbedDirection>,
    /// The cap on extents: directions reaching it count as flat.
    pub max_extent: f64,
    /// Hessian-vector products the probe took.
    pub products: usize,
    /// Loss evaluations of the extents.
    pub loss_evaluations: usize,
}

impl LandscapeProbe {
    /// The smallest Ritz value that the quadratic term makes regular at this temperature: its
    /// quadratic extent sqrt(2 / (nβ h)) inside `singular_extent`, the extent at which the
    /// higher-order terms confine. These are the slowest directions of the chains' loss.
    pub fn slowest_regular(&self, nbeta: f64, singular_extent: f64) -> Option<f64> {
        let threshold = 2.0 / (nbeta * singular_extent * singular_extent);
        self.ritz_values.iter().copied().find(|&h| h >= threshold)
    }

    /// Directions whose extent stayed below the cap.
    pub fn non_flat(&self) -> impl Iterator<Item = &ProbedDirection> + '_ {
        self.directions
            .iter()
            .filter(|p| p.extent < self.max_extent)
    }
}

/// Probes the landscape at `center` on the points `batch` (module docs). Each start is a fresh
/// Gaussian vector; its Krylov space's bottom Ritz vector is a random direction of the flattest
/// eigenspace, which is what the rule's γ needs (the extent along singular directions), and its top
/// Ritz vector converges to the stiffest direction, which is what ε needs.
pub fn probe_landscape<L: Landscape>(
    landscape: &L,
    center: &[f64],
    batch: Batch<'_>,
    nbeta: f64,
    seed: u64,
) -> crate::Result<LandscapeProbe> {
    let d = landscape.dim();
    let mut op = HessianOperator::new(landscape, center, batch)?;
    let mut rng = ChainRng::seed_from_u64(seed ^ 0x5EED);
    let mut ws = landscape.workspace();
    let base = landscape.loss(center, batch, &mut ws);
    let mut point = center.to_vec();
    let mut evaluations = 0;
    let (mut top, mut bottom) = (f64::NEG_INFINITY, f64::INFINITY);
    let mut directions = Vec::with_capacity(2 * rule::PROBE_STARTS);
    let mut ritz_values = Vec::new();
    for _ in 0..rule::PROBE_STARTS {
        let start: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
        let ends = spectrum_ends(&mut op, &start, rule::LANCZOS_STEPS.min(d))?;
        top = top.max(ends.top);
        bottom = bottom.min(ends.bottom);
        ritz_values.extend_from_slice(&ends.values);
        for (end, curvature, v) in [
            (End::Top, ends.top, &ends.top_vector),
            (End::Bottom, ends.bottom, &ends.bottom_vector),
        ] {
            let mut side = |sign: f64| {
                extent_along(rule::MAX_EXTENT, |s| {
                    evaluations += 1;
                    for i in 0..d {
                        point[i] = center[i] + sign * s * v[i];
                    }
                    nbeta * (landscape.loss(&point, batch, &mut ws) - base)
                })
            };
            let extent = side(1.0).min(side(-1.0));
            let h = curvature.max(0.0);
            directions.push(ProbedDirection {
                end,
                curvature,
                extent,
                stiffness: if nbeta * h * extent * extent >= 1.0 {
                    nbeta * h
                } else {
                    12.0 / (extent * extent)
                },
            });
        }
    }
    ritz_values.sort_by(f64::total_cmp);
    Ok(LandscapeProbe {
        ritz_values,
        top_eigenvalue: top,
        bottom_eigenvalue: bottom,
        directions,
        max_extent: rule::MAX_EXTENT,
        products: op.products,
        loss_evaluations: evaluations,
    })
}

/// The distance at which `excess(s)` first reaches 1, by bisection on ln s; `max_extent` if it never does.
pub(super) fn extent_along(max_extent: f64, mut excess: impl FnMut(f64) -> f64) -> f64 {
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
