//! Radial Monte Carlo: random directions from w*, the radius where the loss crosses each ε, and the prior mass of the star-shaped set they span.
//!
//! # Estimator
//!
//! For a set S = {w* + r u : r < r(u)} that is star-shaped around w* (every ray leaves it once),
//! its prior mass is E_u[m(r(u))] over uniform directions u, with m(r) the mass of the ball of
//! radius r (box: V_ball(d) r^d / (2a)^d, with r(u) capped where the ray leaves the box, which keeps
//! the set star-shaped; Gaussian: the regularized incomplete gamma P(d/2, r²/(2σ²))).
//!
//! With `precondition`, directions are u = z/‖z‖ with z ~ N(0, diag(s²)), s_i the set's extent along
//! axis i at the grid's middle threshold; their density on the sphere is the angular central
//! Gaussian, and each draw carries the importance weight (uniform / ACG density)
//! = Π s_i · (Σ u_i²/s_i²)^(d/2). Along an ellipsoid with these axes the weighted terms are constant.
//!
//! r(u) is found by bisection on ln r (relative tolerance `rel_tol`), one ray serving every threshold.
//! The error of ln V is the weighted terms' standard error over their mean (delta method). Weights
//! are heavy-tailed when a few directions reach far (valleys, x²y²'s axes): the curve's notes give the
//! effective sample size (Σw)²/Σw² where it falls below 10% of the directions, and then the error
//! bar is not to be trusted. On a set that is not star-shaped the bisection finds one crossing per
//! ray, not the set's mass.

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

use super::{check_center, ln_ball_volume, ln_gamma_lr, EpsGrid, Prior, VolumeCurve, VolumeMethod};
use crate::error::{Error, Result};
use crate::landscape::{Batch, Landscape};
use crate::sampler::ChainRng;

/// Radial Monte Carlo settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RadialSettings {
    /// Random directions (at least 2). Default 2000.
    pub directions: usize,
    /// Draw directions from a diagonal Gaussian shaped by the set's axis extents, with the
    /// importance correction. Default false.
    pub precondition: bool,
    /// Relative tolerance of the bisection on the crossing radius. Default 1e-6.
    pub rel_tol: f64,
    /// Worker threads; 0 for every available core. Default 0.
    pub threads: usize,
}

impl Default for RadialSettings {
    fn default() -> Self {
        Self {
            directions: 2000,
            precondition: false,
            rel_tol: 1e-6,
            threads: 0,
        }
    }
}

impl RadialSettings {
    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        if self.directions < 2 {
            return Err(Error::OutOfRange {
                name: "volume.radial.directions",
                value: self.directions.to_string(),
                rule: "must be at least 2 (the error bar needs a spread)",
            });
        }
        if !(self.rel_tol.is_finite() && self.rel_tol > 0.0 && self.rel_tol < 0.1) {
            return Err(Error::OutOfRange {
                name: "volume.radial.rel_tol",
                value: self.rel_tol.to_string(),
                rule: "must be in (0, 0.1)",
            });
        }
        Ok(())
    }
}

struct Ray<'a, L: Landscape> {
    landscape: &'a L,
    center: &'a [f64],
    base: f64,
    ws: L::Workspace,
    point: Vec<f64>,
}

impl<L: Landscape> Ray<'_, L> {
    fn excess(&mut self, u: &[f64], r: f64) -> f64 {
        for ((p, &c), &x) in self.point.iter_mut().zip(self.center).zip(u) {
            *p = c + r * x;
        }
        let l = self.landscape.loss(&self.point, Batch::Full, &mut self.ws) - self.base;
        if l.is_nan() {
            f64::INFINITY
        } else {
            l
        }
    }

    /// Crossing radii of every threshold (ascending `eps`) along unit `u`, each capped at `r_max`.
    fn crossings(&mut self, u: &[f64], eps: &[f64], r_max: f64, rel_tol: f64, out: &mut [f64]) {
        let mut lo = 0.0f64;
        for (k, &e) in eps.iter().enumerate() {
            if lo >= r_max || self.excess(u, r_max) < e {
                out[k..].fill(r_max);
                return;
            }
            let mut hi = r_max;
            if lo <= 0.0 {
                // Bracket from above in factors of 10 down to 1e-15 of the cap.
                let mut r = r_max;
                loop {
                    let next = r * 0.1;
                    if next < r_max * 1e-15 {
                        lo = next;
                        break;
                    }
                    if self.excess(u, next) < e {
                        lo = next;
                        hi = r;
                        break;
                    }
                    r = next;
                    hi = r;
                }
            }
            while hi / lo > 1.0 + rel_tol {
                let mid = (lo * hi).sqrt();
                if self.excess(u, mid) < e {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            // `lo` stays a verified inside radius: the next (larger) threshold's lower bracket.
            out[k] = (lo * hi).sqrt();
        }
    }
}

/// ln V(ε) at every threshold of `grid` by radial Monte Carlo around `center` under `prior` (see the
/// module documentation). `rng` seeds the directions (one draw per thread).
pub fn radial_volume<L: Landscape, R: Rng>(
    landscape: &L,
    center: &[f64],
    prior: &Prior,
    grid: &EpsGrid,
    settings: &RadialSettings,
    rng: &mut R,
) -> Result<VolumeCurve> {
    prior.validate()?;
    settings.validate()?;
    let eps = grid.values()?;
    let d = landscape.dim();
    check_center(d, center)?;
    let base = landscape.loss(center, Batch::Full, &mut landscape.workspace());
    if !base.is_finite() {
        return Err(Error::Numerical {
            what: "radial volume",
            why: format!("the loss at w* is {base}"),
        });
    }
    // The farthest a ray may go: the box's wall along each axis, or where the Gaussian's mass ends.
    let cap = match *prior {
        Prior::Box { half_width } => half_width,
        Prior::Gaussian { std } => std * ((d as f64).sqrt() + 12.0),
    };
    let new_ray = || Ray {
        landscape,
        center,
        base,
        ws: landscape.workspace(),
        point: vec![0.0; d],
    };
    let mut notes = vec![format!(
        "radial Monte Carlo: {} directions{}; assumes each sublevel set is star-shaped around w*",
        settings.directions,
        if settings.precondition {
            ", diagonal preconditioning with importance weights"
        } else {
            ""
        }
    )];
    let scales: Vec<f64> = if settings.precondition {
        let mid = (eps[0] * eps[eps.len() - 1]).sqrt();
        let mut ray = new_ray();
        let mut axis = vec![0.0; d];
        let mut r = [0.0];
        (0..d)
            .map(|i| {
                let mut ext = 1.0;
                for sign in [1.0, -1.0] {
                    axis[i] = sign;
                    ray.crossings(&axis, &[mid], cap, 1e-4, &mut r);
                    ext *= r[0];
                }
                axis[i] = 0.0;
                ext.sqrt()
            })
            .collect()
    } else {
        vec![1.0; d]
    };
    let ln_scale_sum: f64 = scales.iter().map(|s| s.ln()).sum();
    let threads = match settings.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => t,
    }
    .min(settings.directions);
    let seeds: Vec<u64> = (0..threads).map(|_| rng.random()).collect();
    let per = settings.directions.div_ceil(threads);
    // log_w[j * m + k]: ln of direction j's weighted mass at threshold k.
    let m = eps.len();
    let chunks: Vec<Vec<f64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let count = per.min(settings.directions.saturating_sub(t * per));
                let (eps, scales, seed) = (&eps, &scales, seeds[t]);
                let mut ray = new_ray();
                scope.spawn(move || {
                    let mut rng = ChainRng::seed_from_u64(seed);
                    let mut u = vec![0.0; d];
                    let mut radii = vec![0.0; m];
                    let mut out = Vec::with_capacity(count * m);
                    for _ in 0..count {
                        let norm = loop {
                            for (x, s) in u.iter_mut().zip(scales) {
                                *x = s * rng.sample::<f64, _>(StandardNormal);
                            }
                            let norm = u.iter().map(|x| x * x).sum::<f64>().sqrt();
                            if norm > 0.0 {
                                break norm;
                            }
                        };
                        u.iter_mut().for_each(|x| *x /= norm);
                        let r_max = match *prior {
                            Prior::Box { half_width } => u
                                .iter()
                                .fold(f64::INFINITY, |r, x| r.min(half_width / x.abs())),
                            Prior::Gaussian { .. } => cap,
                        };
                        ray.crossings(&u, eps, r_max, settings.rel_tol, &mut radii);
                        let ln_is = ln_scale_sum
                            + 0.5
                                * d as f64
                                * u.iter()
                                    .zip(scales)
                                    .map(|(x, s)| (x / s).powi(2))
                                    .sum::<f64>()
                                    .ln();
                        for &r in &radii {
                            let ln_mass = match *prior {
                                Prior::Box { half_width } => {
                                    ln_ball_volume(d)
                                        + d as f64 * (r.ln() - (2.0 * half_width).ln())
                                }
                                Prior::Gaussian { std } => {
                                    ln_gamma_lr(d as f64 / 2.0, 0.5 * (r / std).powi(2))
                                }
                            };
                            out.push(ln_mass + ln_is);
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a radial worker panicked"))
            .collect()
    });
    let all: Vec<f64> = chunks.into_iter().flatten().collect();
    let (log_v, log_v_err, low_ess) = weighted_means(&all, &eps)?;
    let n = all.len() / eps.len();
    if !low_ess.is_empty() {
        notes.push(format!(
            "heavy-tailed weights: effective sample size below 10% of {n} directions at ε {}; the error bar is unreliable there",
            low_ess.join(", ")
        ));
    }
    let slope = super::grid_slope(&eps, &log_v);
    Ok(VolumeCurve {
        method: VolumeMethod::Radial,
        prior: *prior,
        eps,
        log_v,
        log_v_err,
        slope,
        notes,
    })
}

/// ln V at each threshold from the directions' log-weighted masses (`all[j * m + k]`: direction j,
/// threshold k), with its relative standard error, and the thresholds whose weights have an
/// effective sample size below 10% of the directions.
fn weighted_means(all: &[f64], eps: &[f64]) -> Result<(Vec<f64>, Vec<f64>, Vec<String>)> {
    let m = eps.len();
    let n = all.len() / m;
    let mut log_v = Vec::with_capacity(m);
    let mut log_v_err = Vec::with_capacity(m);
    let mut low_ess = Vec::new();
    for k in 0..m {
        let lw: Vec<f64> = (0..n).map(|j| all[j * m + k]).collect();
        let max = lw.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        if !max.is_finite() {
            return Err(Error::Numerical {
                what: "radial volume",
                why: format!("no direction has a finite mass at ε = {:.3e}", eps[k]),
            });
        }
        let w: Vec<f64> = lw.iter().map(|x| (x - max).exp()).collect();
        let sum: f64 = w.iter().sum();
        let mean = sum / n as f64;
        let var = w.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        log_v.push((max + mean.ln()).min(0.0));
        log_v_err.push((var / n as f64).sqrt() / mean);
        let ess = sum * sum / w.iter().map(|x| x * x).sum::<f64>();
        if ess < 0.1 * n as f64 {
            low_ess.push(format!("{:.2e}: {ess:.0}", eps[k]));
        }
    }
    Ok((log_v, log_v_err, low_ess))
}
