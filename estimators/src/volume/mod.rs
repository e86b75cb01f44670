//! Basin volumes V(ε) = prior mass of {w : L(w) − L(w*) < ε}, by four estimators, all as ln V with an error bar.
//!
//! The prior is a box or an isotropic Gaussian around w* ([`Prior`]), and V is its *mass* (a
//! probability, so ln V ≤ 0): for the box [−a, a]^d, V = Lebesgue volume / (2a)^d. Thresholds ε are
//! in loss units (the landscape's L, an average negative log-likelihood), on a log-spaced
//! [`EpsGrid`]. Estimators:
//!
//! - [`nested_sampling`]: one run gives every threshold; error sqrt(−ln V / N).
//! - [`radial_volume`]: random directions, the radius where the loss crosses ε, star-shaped
//!   assumption; optional diagonal preconditioning with its importance correction.
//! - [`ladder_volume`]: the LLC at a ladder of nβ gives the slope s(ε) at ε ≈ λ̂/(nβ); integrated
//!   from an anchor.
//! - [`laplace_volume`]: the Hessian's ellipsoid with an eigenvalue cutoff.
//!
//! [`hessian_divergence`] lists the thresholds where the Hessian's curve departs from the direct
//! ones by more than their combined error.

pub mod exact;
mod ladder;
mod laplace;
mod nested;
mod radial;

pub use ladder::{ladder_volume, VolumeAnchor};
pub use laplace::laplace_volume;
pub use nested::{
    nested_sampling, nested_sampling_detailed, NestedResult, NestedRun, NestedSettings,
};
pub use radial::{radial_volume, RadialSettings};

use statrs::function::gamma::{gamma_lr, ln_gamma};

use crate::error::{Error, Result};

/// The prior around w* whose mass V measures.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Prior {
    /// Uniform on the box w* + [−half_width, half_width]^d (parameter units).
    Box {
        /// Half the box's side, in parameter units; positive and finite.
        half_width: f64,
    },
    /// Isotropic Gaussian N(w*, std² I).
    Gaussian {
        /// Standard deviation per coordinate, in parameter units; positive and finite.
        std: f64,
    },
}

impl Default for Prior {
    /// The box [−1, 1]^d around w* (DESIGN §4's flat prior).
    fn default() -> Self {
        Prior::Box { half_width: 1.0 }
    }
}

impl Prior {
    /// Checks the width, naming the field and value when it is not positive and finite.
    pub fn validate(&self) -> Result<()> {
        let (name, value) = match *self {
            Prior::Box { half_width } => ("volume.prior.half_width", half_width),
            Prior::Gaussian { std } => ("volume.prior.std", std),
        };
        if !(value.is_finite() && value > 0.0) {
            return Err(Error::OutOfRange {
                name,
                value: value.to_string(),
                rule: "the prior's width must be positive and finite",
            });
        }
        Ok(())
    }

    /// The prior in words, for outputs (for example "uniform box w* ± 1 per coordinate").
    pub fn describe(&self) -> String {
        match *self {
            Prior::Box { half_width } => format!("uniform box w* ± {half_width} per coordinate"),
            Prior::Gaussian { std } => format!("Gaussian N(w*, {std}² I)"),
        }
    }
}

/// ln of the volume of the unit ball in R^k: (k/2) ln π − ln Γ(k/2 + 1).
pub fn ln_ball_volume(k: usize) -> f64 {
    0.5 * k as f64 * std::f64::consts::PI.ln() - ln_gamma(k as f64 / 2.0 + 1.0)
}

/// ln P(a, x), the regularized lower incomplete gamma function, accurate when P underflows
/// (series a ln x − x − ln Γ(a+1) + ln Σ_k x^k / ((a+1)…(a+k)) for x < a + 1).
pub(crate) fn ln_gamma_lr(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if x < a + 1.0 {
        let (mut term, mut sum) = (1.0, 1.0);
        for k in 1..10_000 {
            term *= x / (a + k as f64);
            sum += term;
            if term < 1e-17 * sum {
                break;
            }
        }
        a * x.ln() - x - ln_gamma(a + 1.0) + sum.ln()
    } else {
        gamma_lr(a, x).ln()
    }
}

/// Log-spaced thresholds ε from `from` to `to` (loss units), `points` of them.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpsGrid {
    /// Smallest threshold; positive and finite.
    pub from: f64,
    /// Largest threshold; above `from` (equal only with `points` = 1).
    pub to: f64,
    /// Number of thresholds, at least 1.
    pub points: usize,
}

impl Default for EpsGrid {
    /// 16 thresholds from 1e-4 to 1e-1.
    fn default() -> Self {
        Self {
            from: 1e-4,
            to: 1e-1,
            points: 16,
        }
    }
}

impl EpsGrid {
    /// A validated grid.
    pub fn new(from: f64, to: f64, points: usize) -> Result<Self> {
        let grid = Self { from, to, points };
        grid.validate()?;
        Ok(grid)
    }

    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        if !(self.from.is_finite() && self.from > 0.0) {
            return Err(Error::OutOfRange {
                name: "volume.eps_from",
                value: self.from.to_string(),
                rule: "a loss threshold must be positive and finite",
            });
        }
        if !self.to.is_finite() || self.to < self.from || (self.to == self.from && self.points != 1)
        {
            return Err(Error::OutOfRange {
                name: "volume.eps_to",
                value: self.to.to_string(),
                rule: "must be finite and above volume.eps_from (the ε range is empty)",
            });
        }
        if self.points == 0 {
            return Err(Error::OutOfRange {
                name: "volume.eps_points",
                value: "0".into(),
                rule: "must be at least 1",
            });
        }
        Ok(())
    }

    /// The thresholds, ascending (validates first).
    pub fn values(&self) -> Result<Vec<f64>> {
        self.validate()?;
        if self.points == 1 {
            return Ok(vec![self.from]);
        }
        let (a, b) = (self.from.ln(), self.to.ln());
        let n = self.points - 1;
        Ok((0..=n)
            .map(|i| {
                if i == n {
                    self.to
                } else {
                    (a + (b - a) * i as f64 / n as f64).exp()
                }
            })
            .collect())
    }
}

/// Which estimator made a curve; one name each everywhere (`volume.methods`, summary.json's keys,
/// volume.csv's columns, plot legends, docs): nested, radial, llc, hessian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeMethod {
    /// Nested sampling (every threshold from one run).
    Nested,
    /// Radial Monte Carlo along random directions.
    Radial,
    /// The LLC temperature ladder, integrated.
    Llc,
    /// The Hessian (Laplace) ellipsoid.
    Hessian,
}

impl VolumeMethod {
    /// Short name for tables and file names.
    pub fn name(self) -> &'static str {
        match self {
            VolumeMethod::Nested => "nested",
            VolumeMethod::Radial => "radial",
            VolumeMethod::Llc => "llc",
            VolumeMethod::Hessian => "hessian",
        }
    }
}

impl std::fmt::Display for VolumeMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// ln V(ε) on a grid of thresholds, from one estimator.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VolumeCurve {
    /// The estimator.
    pub method: VolumeMethod,
    /// The prior whose mass V is.
    pub prior: Prior,
    /// Thresholds ε, ascending (loss units).
    pub eps: Vec<f64>,
    /// ln V(ε) (nats; ≤ 0).
    pub log_v: Vec<f64>,
    /// One standard error of each `log_v` (nats).
    pub log_v_err: Vec<f64>,
    /// Local slope d ln V / d ln ε at each threshold (the effective half-dimension): central
    /// differences of `log_v` on the grid (one-sided at the ends, NaN for a single point), or the
    /// estimator's own slope where it has one (Laplace: k/2; ladder: λ̂).
    pub slope: Vec<f64>,
    /// Caveats in words (assumptions, heavy tails, clipping, extrapolation).
    pub notes: Vec<String>,
}

impl VolumeCurve {
    /// ln V and its error at `eps` by linear interpolation in ln ε; `None` outside the grid.
    pub fn log_v_at(&self, eps: f64) -> Option<(f64, f64)> {
        let n = self.eps.len();
        if n == 0 || eps.is_nan() || eps <= 0.0 {
            return None;
        }
        let tol = 1e-9;
        if (eps / self.eps[0] - 1.0).abs() < tol {
            return Some((self.log_v[0], self.log_v_err[0]));
        }
        for i in 0..n.saturating_sub(1) {
            let (a, b) = (self.eps[i], self.eps[i + 1]);
            if eps >= a && eps <= b * (1.0 + tol) {
                let t = ((eps.ln() - a.ln()) / (b.ln() - a.ln())).clamp(0.0, 1.0);
                let v = self.log_v[i] + t * (self.log_v[i + 1] - self.log_v[i]);
                let e = self.log_v_err[i] + t * (self.log_v_err[i + 1] - self.log_v_err[i]);
                return Some((v, e));
            }
        }
        None
    }
}

/// Central-difference slope of `log_v` against ln `eps` (one-sided at the ends).
pub(crate) fn grid_slope(eps: &[f64], log_v: &[f64]) -> Vec<f64> {
    let n = eps.len();
    if n < 2 {
        return vec![f64::NAN; n];
    }
    (0..n)
        .map(|i| {
            let (a, b) = (i.saturating_sub(1), (i + 1).min(n - 1));
            (log_v[b] - log_v[a]) / (eps[b].ln() - eps[a].ln())
        })
        .collect()
}

/// A threshold where the Hessian's ln V departs from a direct estimate.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VolumeDivergence {
    /// The threshold ε.
    pub eps: f64,
    /// The direct estimator compared with.
    pub method: VolumeMethod,
    /// ln V_Hessian − ln V_direct (nats): positive when the Hessian overstates the volume.
    pub gap: f64,
    /// The combined standard error sqrt(err_H² + err_direct²) (nats).
    pub combined_err: f64,
}

/// Default number of combined standard errors beyond which the Hessian's curve counts as departing.
pub const DIVERGENCE_Z: f64 = 3.0;

/// Every (threshold, direct curve) pair where |ln V_H − ln V_direct| > `z` · sqrt(err_H² + err_D²).
///
/// The direct curves' thresholds are matched to the Hessian curve's by interpolation in ln ε;
/// thresholds outside a direct curve's grid are skipped. `z` ([`DIVERGENCE_Z`] = 3 by default) sets
/// the false-positive rate per comparison for Gaussian errors (3: 0.27%).
pub fn hessian_divergence(
    hessian: &VolumeCurve,
    direct: &[VolumeCurve],
    z: f64,
) -> Result<Vec<VolumeDivergence>> {
    if !(z.is_finite() && z > 0.0) {
        return Err(Error::OutOfRange {
            name: "volume.divergence_z",
            value: z.to_string(),
            rule: "must be positive and finite",
        });
    }
    let mut out = Vec::new();
    for curve in direct {
        if curve.prior != hessian.prior {
            return Err(Error::InvalidShape {
                what: format!(
                    "{} curve with prior {}",
                    curve.method,
                    curve.prior.describe()
                ),
                why: format!("the Hessian curve's prior is {}", hessian.prior.describe()),
            });
        }
        for (i, &eps) in hessian.eps.iter().enumerate() {
            let Some((v, e)) = curve.log_v_at(eps) else {
                continue;
            };
            let gap = hessian.log_v[i] - v;
            let combined_err = (hessian.log_v_err[i].powi(2) + e.powi(2)).sqrt();
            if gap.is_finite() && gap.abs() > z * combined_err {
                out.push(VolumeDivergence {
                    eps,
                    method: curve.method,
                    gap,
                    combined_err,
                });
            }
        }
    }
    Ok(out)
}

/// Checks a center against the landscape's dimension.
pub(crate) fn check_center(d: usize, center: &[f64]) -> Result<()> {
    if center.len() != d {
        return Err(Error::InvalidShape {
            what: format!("center of length {}", center.len()),
            why: format!("the landscape has d = {d} parameters"),
        });
    }
    if center.iter().any(|x| !x.is_finite()) {
        return Err(Error::Numerical {
            what: "volume",
            why: "the center w* has a non-finite coordinate".into(),
        });
    }
    Ok(())
}
