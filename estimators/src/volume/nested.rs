//! Nested sampling of the prior mass below each loss threshold, with Galilean (gradient-reflective) constrained moves.
//!
//! # Algorithm
//!
//! The prior is written as a map from the unit cube: w = w* + a (2u − 1) for the box,
//! w = w* + σ Φ⁻¹(u) for the Gaussian, so that u is uniform on [0, 1]^d. N live points start
//! uniform in the cube. Each iteration removes the live point of largest excess loss
//! Δ = L(w) − L(w*), records Δ* (the "dead" point), and replaces it by a walk that starts at a
//! copy of another live point chosen at random and stays in {Δ < Δ*}: Galilean Monte Carlo
//! (Skilling 2012) in coordinates whitened by the live points' spread per coordinate. A step
//! x → x + v that leaves the constraint is reflected off it, v ← v − 2 (v·n) n with n the
//! normalized loss gradient at the outside point (in whitened coordinates), and taken if the
//! reflected point is inside; otherwise the walk stays and draws a fresh velocity. The cube's
//! walls reflect specularly. The step scale adapts towards half the straight (unreflected) steps staying inside.
//!
//! After i iterations ln X_i = −i/N on average with standard deviation sqrt(i)/N, X_i the prior
//! mass below the i-th dead Δ; so ln V(ε) ≈ −i(ε)/N with error sqrt(−ln V / N), interpolated
//! linearly in ln ε between dead points. A run stops once every live point is below the smallest
//! threshold. Several independent runs (on threads) are averaged: N·runs live points in effect.
//!
//! The error bar assumes each replacement is an independent draw from the constrained prior;
//! when the runs disagree beyond it (χ² test at the deepest threshold, p < 0.001) the curve's notes
//! say so.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Mutex;

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use statrs::distribution::{ChiSquared, ContinuousCDF};
use statrs::function::erf::erfc_inv;

use super::{check_center, EpsGrid, Prior, VolumeCurve, VolumeMethod};
use crate::error::{Error, Result};
use crate::landscape::{Batch, Landscape};
use crate::sampler::ChainRng;

/// Nested-sampling settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NestedSettings {
    /// Live points N per run (at least 2). The error at threshold ε is sqrt(−ln V(ε) / (N·runs)) nats.
    /// Default 500.
    pub live_points: usize,
    /// Independent runs, averaged (at least 1); they run in parallel on `threads`. Default 2.
    pub runs: usize,
    /// Galilean steps per replacement; `None` for the automatic 20 + d. Default `None`.
    pub walk_steps: Option<usize>,
    /// Worker threads; 0 for every available core. Default 0.
    pub threads: usize,
    /// A run fails once ln X falls below −`max_depth` (nats) without reaching the smallest
    /// threshold (a threshold below the landscape's floor near w*). Default 2000.
    pub max_depth: f64,
}

impl Default for NestedSettings {
    fn default() -> Self {
        Self {
            live_points: 500,
            runs: 2,
            walk_steps: None,
            threads: 0,
            max_depth: 2000.0,
        }
    }
}

impl NestedSettings {
    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        if self.live_points < 2 {
            return Err(Error::OutOfRange {
                name: "volume.nested.live_points",
                value: self.live_points.to_string(),
                rule: "must be at least 2",
            });
        }
        if self.runs == 0 {
            return Err(Error::OutOfRange {
                name: "volume.nested.runs",
                value: "0".into(),
                rule: "must be at least 1",
            });
        }
        if self.walk_steps == Some(0) {
            return Err(Error::OutOfRange {
                name: "volume.nested.walk_steps",
                value: "0".into(),
                rule: "must be at least 1 (or absent for automatic)",
            });
        }
        if !(self.max_depth.is_finite() && self.max_depth > 0.0) {
            return Err(Error::OutOfRange {
                name: "volume.nested.max_depth",
                value: self.max_depth.to_string(),
                rule: "must be positive and finite",
            });
        }
        Ok(())
    }
}

/// One nested-sampling run's raw sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct NestedRun {
    /// Excess losses Δ of the removed points in removal order (non-increasing); the last entry is
    /// the largest live Δ when the run stopped (below the smallest threshold). Entry i sits at
    /// ln X = −(i + 1)/N.
    pub dead: Vec<f64>,
    /// Live points N.
    pub live_points: usize,
    /// Loss evaluations (with or without gradient) spent.
    pub evaluations: u64,
    /// Fraction of Galilean steps that moved (straight or reflected).
    pub acceptance: f64,
}

impl NestedRun {
    /// ln V(ε) from this run alone (linear in ln ε between dead points; 0 above the first).
    pub fn log_v(&self, eps: f64) -> Option<f64> {
        let n = self.live_points as f64;
        let dead = &self.dead;
        let last = *dead.last()?;
        if eps < last {
            return None;
        }
        if eps >= dead[0] {
            return Some(0.0);
        }
        // First index with dead[i] ≤ eps (dead is non-increasing).
        let i = dead.partition_point(|&x| x > eps);
        let (hi, lo) = (dead[i - 1], dead[i]);
        let (x_hi, x_lo) = (-(i as f64) / n, -((i + 1) as f64) / n);
        let t = if lo > 0.0 {
            (eps.ln() - lo.ln()) / (hi.ln() - lo.ln())
        } else {
            (eps - lo) / (hi - lo)
        };
        let t = if t.is_finite() {
            t.clamp(0.0, 1.0)
        } else {
            1.0
        };
        Some(x_lo + t * (x_hi - x_lo))
    }
}

/// The curve and every run behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct NestedResult {
    /// The averaged curve.
    pub curve: VolumeCurve,
    /// Each run.
    pub runs: Vec<NestedRun>,
}

/// ln V(ε) at every threshold of `grid` by nested sampling around `center` under `prior`
/// (see the module documentation). `rng` seeds the runs (one draw per run).
pub fn nested_sampling<L: Landscape, R: Rng>(
    landscape: &L,
    center: &[f64],
    prior: &Prior,
    grid: &EpsGrid,
    settings: &NestedSettings,
    rng: &mut R,
) -> Result<VolumeCurve> {
    nested_sampling_detailed(landscape, center, prior, grid, settings, rng).map(|r| r.curve)
}

/// [`nested_sampling`], keeping every run's dead points.
pub fn nested_sampling_detailed<L: Landscape, R: Rng>(
    landscape: &L,
    center: &[f64],
    prior: &Prior,
    grid: &EpsGrid,
    settings: &NestedSettings,
    rng: &mut R,
) -> Result<NestedResult> {
    prior.validate()?;
    settings.validate()?;
    let eps = grid.values()?;
    let d = landscape.dim();
    check_center(d, center)?;
    let base = landscape.loss(center, Batch::Full, &mut landscape.workspace());
    if !base.is_finite() {
        return Err(Error::Numerical {
            what: "nested sampling",
            why: format!("the loss at w* is {base}"),
        });
    }
    let seeds: Vec<u64> = (0..settings.runs).map(|_| rng.random()).collect();
    let threads = match settings.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => t,
    }
    .min(settings.runs);
    let results: Mutex<Vec<Option<Result<NestedRun>>>> = Mutex::new(vec![None; settings.runs]);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let job = Job {
        landscape,
        center,
        prior: *prior,
        base,
        eps_min: eps[0],
        settings,
    };
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let r = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if r >= settings.runs {
                    break;
                }
                let run = job.run(seeds[r]);
                results.lock().expect("a nested-sampling worker panicked")[r] = Some(run);
            });
        }
    });
    let runs: Vec<NestedRun> = results
        .into_inner()
        .expect("a nested-sampling worker panicked")
        .into_iter()
        .map(|r| r.expect("every run was scheduled"))
        .collect::<Result<_>>()?;
    let total = (settings.live_points * runs.len()) as f64;
    let mut log_v = Vec::with_capacity(eps.len());
    let mut log_v_err = Vec::with_capacity(eps.len());
    let mut per_run_deepest = Vec::new();
    for (k, &e) in eps.iter().enumerate() {
        let values: Vec<f64> = runs
            .iter()
            .map(|r| r.log_v(e).expect("runs reach the smallest threshold"))
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        log_v.push(mean);
        log_v_err.push((((-mean).max(1.0 / settings.live_points as f64)) / total).sqrt());
        if k == 0 {
            per_run_deepest = values;
        }
    }
    let mut notes = vec![format!(
        "nested sampling: {} run(s) × {} live points, Galilean walks of {} steps; mean acceptance {:.2}; {} loss evaluations",
        runs.len(),
        settings.live_points,
        settings.walk_steps.unwrap_or(20 + d),
        runs.iter().map(|r| r.acceptance).sum::<f64>() / runs.len() as f64,
        runs.iter().map(|r| r.evaluations).sum::<u64>()
    )];
    if runs.len() >= 2 {
        let mean = log_v[0];
        let var_one = (-mean).max(1.0 / settings.live_points as f64) / settings.live_points as f64;
        let chi2: f64 = per_run_deepest
            .iter()
            .map(|v| (v - mean).powi(2))
            .sum::<f64>()
            / var_one;
        let dof = (runs.len() - 1) as f64;
        if let Ok(dist) = ChiSquared::new(dof) {
            let p = 1.0 - dist.cdf(chi2);
            if p < 1e-3 {
                notes.push(format!(
                    "the runs disagree beyond their error bars at ε = {:.3e} (χ² = {chi2:.1} on {dof} dof, p = {p:.1e}): \
                     the constrained moves may not be mixing; raise walk_steps",
                    eps[0]
                ));
            }
        }
    }
    let slope = super::grid_slope(&eps, &log_v);
    Ok(NestedResult {
        curve: VolumeCurve {
            method: VolumeMethod::Nested,
            prior: *prior,
            eps,
            log_v,
            log_v_err,
            slope,
            notes,
        },
        runs,
    })
}

struct Job<'a, L: Landscape> {
    landscape: &'a L,
    center: &'a [f64],
    prior: Prior,
    base: f64,
    eps_min: f64,
    settings: &'a NestedSettings,
}

/// A live point's excess loss, ordered so that the heap's top is the worst (largest) Δ.
#[derive(PartialEq)]
struct Worst(f64, usize);
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// One chain's evaluation buffers.
struct Eval<'a, L: Landscape> {
    landscape: &'a L,
    center: &'a [f64],
    prior: Prior,
    base: f64,
    ws: L::Workspace,
    w: Vec<f64>,
    g: Vec<f64>,
    evaluations: u64,
}

impl<L: Landscape> Eval<'_, L> {
    /// Maps cube coordinates to parameters into `self.w`; false outside the open cube (Gaussian).
    fn map(&mut self, u: &[f64]) -> bool {
        match self.prior {
            Prior::Box { half_width } => {
                for ((w, &c), &x) in self.w.iter_mut().zip(self.center).zip(u) {
                    *w = c + half_width * (2.0 * x - 1.0);
                }
                true
            }
            Prior::Gaussian { std } => {
                for ((w, &c), &x) in self.w.iter_mut().zip(self.center).zip(u) {
                    if !(x > 0.0 && x < 1.0) {
                        return false;
                    }
                    *w = c - std * std::f64::consts::SQRT_2 * erfc_inv(2.0 * x);
                }
                true
            }
        }
    }

    /// Excess loss at cube point `u` (+∞ outside).
    fn delta(&mut self, u: &[f64]) -> f64 {
        if !self.map(u) {
            return f64::INFINITY;
        }
        self.evaluations += 1;
        let l = self.landscape.loss(&self.w, Batch::Full, &mut self.ws) - self.base;
        if l.is_nan() {
            f64::INFINITY
        } else {
            l
        }
    }

    /// Gradient of the excess loss with respect to the cube coordinates at `u` into `out`; false
    /// when it is not available (outside the cube, non-finite).
    fn grad_u(&mut self, u: &[f64], out: &mut [f64]) -> bool {
        if !self.map(u) {
            return false;
        }
        self.evaluations += 1;
        self.landscape
            .loss_and_grad(&self.w, Batch::Full, &mut self.g, &mut self.ws);
        match self.prior {
            // w = w* + a (2u − 1): dw/du = 2a.
            Prior::Box { half_width } => {
                for (o, &g) in out.iter_mut().zip(&self.g) {
                    *o = g * 2.0 * half_width;
                }
            }
            // w = w* + σ z, z = Φ⁻¹(u): dw/du = σ / φ(z) = σ √(2π) exp(z²/2).
            Prior::Gaussian { std } => {
                let root = (2.0 * std::f64::consts::PI).sqrt();
                for (i, o) in out.iter_mut().enumerate() {
                    let z = (self.w[i] - self.center[i]) / std;
                    *o = self.g[i] * std * root * (0.5 * z * z).exp();
                }
            }
        }
        out.iter().all(|x| x.is_finite())
    }
}

/// Reflects `x` into [0, 1], flipping `v` once per wall crossed.
#[inline]
fn fold(x: &mut f64, v: &mut f64) {
    if (0.0..=1.0).contains(x) {
        return;
    }
    let k = x.floor();
    if (k as i64).rem_euclid(2) == 0 {
        *x -= k;
    } else {
        *x = k + 1.0 - *x;
        *v = -*v;
    }
}

impl<L: Landscape> Job<'_, L> {
    fn run(&self, seed: u64) -> Result<NestedRun> {
        let d = self.landscape.dim();
        let n = self.settings.live_points;
        let steps = self.settings.walk_steps.unwrap_or(20 + d);
        let mut rng = ChainRng::seed_from_u64(seed);
        let mut ev = Eval {
            landscape: self.landscape,
            center: self.center,
            prior: self.prior,
            base: self.base,
            ws: self.landscape.workspace(),
            w: vec![0.0; d],
            g: vec![0.0; d],
            evaluations: 0,
        };
        let mut live = vec![0.0; n * d];
        let mut delta = vec![0.0; n];
        for i in 0..n {
            loop {
                for x in &mut live[i * d..(i + 1) * d] {
                    *x = rng.random::<f64>();
                }
                delta[i] = ev.delta(&live[i * d..(i + 1) * d]);
                if delta[i].is_finite() {
                    break;
                }
            }
        }
        let mut heap: BinaryHeap<Worst> = (0..n).map(|i| Worst(delta[i], i)).collect();
        let mut dead = Vec::new();
        let mut scales = vec![0.0; d];
        let refresh = (n / 10).max(1);
        let mut eta = 0.5;
        let (mut moved, mut tried) = (0u64, 0u64);
        let mut walker = Walker::new(d);
        let max_iter = (self.settings.max_depth * n as f64).ceil() as usize;
        loop {
            let Worst(worst_delta, worst) = heap.pop().expect("the heap holds every live point");
            dead.push(worst_delta);
            if worst_delta < self.eps_min {
                break;
            }
            if dead.len() > max_iter {
                return Err(Error::Numerical {
                    what: "nested sampling",
                    why: format!(
                        "ln V fell below −{} nats (volume.nested.max_depth) before the loss came within ε = {:.3e} \
                         of L(w*): the smallest threshold is below the landscape's floor near w* or the walks are stuck",
                        self.settings.max_depth, self.eps_min
                    ),
                });
            }
            if (dead.len() - 1) % refresh == 0 {
                live_scales(&live, n, d, &mut scales);
            }
            let start = loop {
                let j = rng.random_range(0..n);
                if j != worst {
                    break j;
                }
            };
            walker.x.copy_from_slice(&live[start * d..(start + 1) * d]);
            let (m, straight, t) = walker.walk(
                &mut ev,
                delta[start],
                worst_delta,
                &scales,
                eta,
                steps,
                &mut rng,
            );
            moved += m as u64;
            tried += t as u64;
            // Adapt on the straight moves: reflections succeed even for steps far too long (the
            // walk then bounces in place).
            let rate = straight as f64 / t.max(1) as f64;
            eta = (eta * (rate - 0.5).exp()).clamp(1e-8, 2.0);
            live[worst * d..(worst + 1) * d].copy_from_slice(&walker.x);
            delta[worst] = walker.delta;
            heap.push(Worst(walker.delta, worst));
        }
        Ok(NestedRun {
            dead,
            live_points: n,
            evaluations: ev.evaluations,
            acceptance: moved as f64 / tried.max(1) as f64,
        })
    }
}

/// Per-coordinate standard deviation of the live points (cube units), floored at 1e-9 of the largest.
fn live_scales(live: &[f64], n: usize, d: usize, scales: &mut [f64]) {
    for (j, s) in scales.iter_mut().enumerate() {
        let mean = (0..n).map(|i| live[i * d + j]).sum::<f64>() / n as f64;
        let var = (0..n)
            .map(|i| (live[i * d + j] - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        *s = var.sqrt();
    }
    let max = scales.iter().cloned().fold(0.0, f64::max).max(1e-300);
    scales.iter_mut().for_each(|s| *s = s.max(1e-9 * max));
}

/// Probability of redrawing the velocity after each Galilean step.
const REFRESH: f64 = 0.2;

struct Walker {
    x: Vec<f64>,
    delta: f64,
    v: Vec<f64>,
    x1: Vec<f64>,
    v1: Vec<f64>,
    x2: Vec<f64>,
    v2: Vec<f64>,
    n: Vec<f64>,
}

impl Walker {
    fn new(d: usize) -> Self {
        Self {
            x: vec![0.0; d],
            delta: 0.0,
            v: vec![0.0; d],
            x1: vec![0.0; d],
            v1: vec![0.0; d],
            x2: vec![0.0; d],
            v2: vec![0.0; d],
            n: vec![0.0; d],
        }
    }

    fn draw_velocity(&mut self, scales: &[f64], eta: f64, rng: &mut ChainRng) {
        for (v, s) in self.v.iter_mut().zip(scales) {
            *v = eta * s * rng.sample::<f64, _>(StandardNormal);
        }
    }

    /// Galilean walk of `steps` steps inside {Δ < `limit`} from `self.x` (excess loss `start_delta`);
    /// returns (moves made, straight moves made, steps tried).
    #[allow(clippy::too_many_arguments)]
    fn walk<L: Landscape>(
        &mut self,
        ev: &mut Eval<'_, L>,
        start_delta: f64,
        limit: f64,
        scales: &[f64],
        eta: f64,
        steps: usize,
        rng: &mut ChainRng,
    ) -> (usize, usize, usize) {
        self.delta = start_delta;
        self.draw_velocity(scales, eta, rng);
        let (mut moved, mut straight) = (0, 0);
        for _ in 0..steps {
            for j in 0..self.x.len() {
                self.x1[j] = self.x[j] + self.v[j];
                self.v1[j] = self.v[j];
                fold(&mut self.x1[j], &mut self.v1[j]);
            }
            let d1 = ev.delta(&self.x1);
            let mut stepped = false;
            if d1 < limit {
                std::mem::swap(&mut self.x, &mut self.x1);
                std::mem::swap(&mut self.v, &mut self.v1);
                self.delta = d1;
                moved += 1;
                straight += 1;
                stepped = true;
            } else if d1.is_finite() && ev.grad_u(&self.x1, &mut self.n) {
                // Reflect off the constraint with the gradient at the outside point (whitened coordinates).
                for (nj, s) in self.n.iter_mut().zip(scales) {
                    *nj *= s;
                }
                let norm = self.n.iter().map(|x| x * x).sum::<f64>().sqrt();
                if norm > 0.0 && norm.is_finite() {
                    // v in whitened units is v/s; reflect there and map back.
                    let dot: f64 = self
                        .v1
                        .iter()
                        .zip(&self.n)
                        .zip(scales)
                        .map(|((v, n), s)| v / s * n / norm)
                        .sum();
                    for (j, s) in scales.iter().enumerate() {
                        self.v2[j] = self.v1[j] - 2.0 * dot * self.n[j] / norm * s;
                        self.x2[j] = self.x1[j] + self.v2[j];
                        fold(&mut self.x2[j], &mut self.v2[j]);
                    }
                    let d2 = ev.delta(&self.x2);
                    if d2 < limit {
                        std::mem::swap(&mut self.x, &mut self.x2);
                        std::mem::swap(&mut self.v, &mut self.v2);
                        self.delta = d2;
                        moved += 1;
                        stepped = true;
                    }
                }
            }
            if !stepped {
                // Neither the straight nor the reflected step stayed inside: reverse (GMC). Refreshing only here would depend on the state and bias the walk.
                self.v.iter_mut().for_each(|v| *v = -*v);
            }
            // Refresh the velocity with a fixed probability, whatever happened: a Gibbs step on v.
            if rng.random::<f64>() < REFRESH {
                self.draw_velocity(scales, eta, rng);
            }
        }
        (moved, straight, steps)
    }
}
