//! The volume curve from a temperature ladder: λ̂ at nβ_k is the slope s(ε) = d ln V / d ln ε at ε ≈ λ̂/nβ_k, integrated from an anchor.
//!
//! # Model
//!
//! With Z(t) = ∫ exp(−tΔ) dφ = ∫ t e^(−tε) V(ε) dε, the tempered expectation E_t[tΔ] = −d ln Z / d ln t
//! equals s exactly when V = c ε^s, and the posterior's typical excess loss is then s/t. So rung k
//! (nβ_k, λ̂_k) gives s(ε_k) = λ̂_k at ε_k = λ̂_k / nβ_k. Between rungs s is linear in ln ε; beyond
//! them it is held at the nearest rung's value (the notes say where). The LLC's localization γ is
//! ignored: its prior is not the volume's.
//!
//! # Anchoring
//!
//! Slopes fix ln V only up to a constant, so the curve is anchored at one (ε_a, ln V(ε_a)) taken
//! from another estimator (usually nested sampling at a threshold inside the ladder's range, see
//! [`VolumeAnchor::from_curve`]): ln V(ε) = ln V(ε_a) + ∫_{ln ε_a}^{ln ε} s. The error combines the
//! anchor's error with the rungs' standard errors propagated through the integral (independent rungs;
//! the error of placing s at ε_k = λ̂_k/nβ_k is not included).

use super::{EpsGrid, Prior, VolumeCurve, VolumeMethod};
use crate::error::{Error, Result};

/// A known point of the curve the ladder's slopes are integrated from.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VolumeAnchor {
    /// The threshold ε_a (loss units, positive).
    pub eps: f64,
    /// ln V(ε_a) (nats).
    pub log_v: f64,
    /// Its standard error (nats, non-negative).
    pub log_v_err: f64,
}

impl Default for VolumeAnchor {
    /// ln V(1) = 0 ± 0: the whole prior below a loss excess of 1 (only sensible for landscapes
    /// whose excess over the prior stays below 1).
    fn default() -> Self {
        Self {
            eps: 1.0,
            log_v: 0.0,
            log_v_err: 0.0,
        }
    }
}

impl VolumeAnchor {
    /// The anchor read off `curve` at `eps` (interpolated in ln ε).
    pub fn from_curve(curve: &VolumeCurve, eps: f64) -> Result<Self> {
        let (log_v, log_v_err) = curve.log_v_at(eps).ok_or(Error::OutOfRange {
            name: "volume.ladder.anchor_eps",
            value: eps.to_string(),
            rule: "must lie inside the anchoring curve's ε range",
        })?;
        Ok(Self {
            eps,
            log_v,
            log_v_err,
        })
    }

    fn validate(&self) -> Result<()> {
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::OutOfRange {
                name: "volume.ladder.anchor_eps",
                value: self.eps.to_string(),
                rule: "a loss threshold must be positive and finite",
            });
        }
        if !(self.log_v.is_finite() && self.log_v <= 0.0) {
            return Err(Error::OutOfRange {
                name: "volume.ladder.anchor_log_v",
                value: self.log_v.to_string(),
                rule: "ln of a prior mass must be finite and ≤ 0",
            });
        }
        if !(self.log_v_err.is_finite() && self.log_v_err >= 0.0) {
            return Err(Error::OutOfRange {
                name: "volume.ladder.anchor_log_v_err",
                value: self.log_v_err.to_string(),
                rule: "must be non-negative and finite",
            });
        }
        Ok(())
    }
}

/// Piecewise-linear hat function k on knots `xs` (ascending), constant beyond the ends.
fn hat(xs: &[f64], k: usize, x: f64) -> f64 {
    let n = xs.len();
    if n == 1 {
        return 1.0;
    }
    if x <= xs[0] {
        return if k == 0 { 1.0 } else { 0.0 };
    }
    if x >= xs[n - 1] {
        return if k == n - 1 { 1.0 } else { 0.0 };
    }
    let i = xs.partition_point(|&a| a <= x).min(n - 1); // xs[i-1] ≤ x < xs[i]
    let t = (x - xs[i - 1]) / (xs[i] - xs[i - 1]);
    if k == i - 1 {
        1.0 - t
    } else if k == i {
        t
    } else {
        0.0
    }
}

/// ∫_a^b hat_k, exact (the integrand is linear between knots).
fn hat_integral(xs: &[f64], k: usize, a: f64, b: f64) -> f64 {
    let (lo, hi, sign) = if a <= b { (a, b, 1.0) } else { (b, a, -1.0) };
    let mut cuts = vec![lo];
    cuts.extend(xs.iter().cloned().filter(|&x| x > lo && x < hi));
    cuts.push(hi);
    sign * cuts
        .windows(2)
        .map(|w| 0.5 * (w[1] - w[0]) * (hat(xs, k, w[0]) + hat(xs, k, w[1])))
        .sum::<f64>()
}

/// ln V(ε) on `grid` from λ̂ measured at each nβ (with standard errors), anchored at `anchor` (see
/// the module documentation). `prior` is the prior the anchor's V refers to.
pub fn ladder_volume(
    nbetas: &[f64],
    llcs: &[f64],
    llc_errs: &[f64],
    prior: &Prior,
    grid: &EpsGrid,
    anchor: &VolumeAnchor,
) -> Result<VolumeCurve> {
    prior.validate()?;
    anchor.validate()?;
    let eps = grid.values()?;
    if nbetas.is_empty() || nbetas.len() != llcs.len() || nbetas.len() != llc_errs.len() {
        return Err(Error::InvalidShape {
            what: format!(
                "{} nβ, {} λ̂, {} errors",
                nbetas.len(),
                llcs.len(),
                llc_errs.len()
            ),
            why: "need one λ̂ and one standard error per nβ, at least one rung".into(),
        });
    }
    if let Some(b) = nbetas.iter().find(|b| !(b.is_finite() && **b > 0.0)) {
        return Err(Error::OutOfRange {
            name: "volume.ladder.nbeta",
            value: b.to_string(),
            rule: "every nβ must be positive and finite",
        });
    }
    if let Some(l) = llcs.iter().find(|l| !(l.is_finite() && **l > 0.0)) {
        return Err(Error::OutOfRange {
            name: "volume.ladder.llc",
            value: l.to_string(),
            rule: "every λ̂ must be positive and finite (it places the slope at ε = λ̂/nβ)",
        });
    }
    if let Some(e) = llc_errs.iter().find(|e| !(e.is_finite() && **e >= 0.0)) {
        return Err(Error::OutOfRange {
            name: "volume.ladder.llc_err",
            value: e.to_string(),
            rule: "every standard error must be non-negative and finite",
        });
    }
    let mut rungs: Vec<(f64, f64, f64)> = (0..nbetas.len())
        .map(|k| ((llcs[k] / nbetas[k]).ln(), llcs[k], llc_errs[k]))
        .collect();
    rungs.sort_by(|a, b| a.0.total_cmp(&b.0));
    if rungs.windows(2).any(|w| w[1].0 - w[0].0 < 1e-12) {
        return Err(Error::InvalidShape {
            what: format!("nβ = {nbetas:?}"),
            why: "two rungs place their slope at the same ε = λ̂/nβ".into(),
        });
    }
    let xs: Vec<f64> = rungs.iter().map(|r| r.0).collect();
    let xa = anchor.eps.ln();
    let mut log_v = Vec::with_capacity(eps.len());
    let mut log_v_err = Vec::with_capacity(eps.len());
    let mut slope = Vec::with_capacity(eps.len());
    for &e in &eps {
        let x = e.ln();
        let (mut v, mut var) = (anchor.log_v, anchor.log_v_err.powi(2));
        let mut s = 0.0;
        for (k, r) in rungs.iter().enumerate() {
            let c = hat_integral(&xs, k, xa, x);
            v += c * r.1;
            var += (c * r.2).powi(2);
            s += hat(&xs, k, x) * r.1;
        }
        log_v.push(v);
        log_v_err.push(var.sqrt());
        slope.push(s);
    }
    let (lo, hi) = (xs[0].exp(), xs[xs.len() - 1].exp());
    let mut notes = vec![format!(
        "ladder: {} rungs place the slope at ε ∈ [{lo:.3e}, {hi:.3e}]; anchored at ε = {:.3e}, ln V = {:.3} ± {:.3}",
        rungs.len(),
        anchor.eps,
        anchor.log_v,
        anchor.log_v_err
    )];
    let outside: Vec<String> = eps
        .iter()
        .chain(std::iter::once(&anchor.eps))
        .filter(|&&e| e < lo * (1.0 - 1e-9) || e > hi * (1.0 + 1e-9))
        .map(|e| format!("{e:.2e}"))
        .collect();
    if !outside.is_empty() {
        notes.push(format!(
            "slope held constant (extrapolated) beyond the rungs at ε {}",
            outside.join(", ")
        ));
    }
    if log_v.iter().any(|v| *v > 0.0) {
        notes.push("ln V > 0 somewhere: the extrapolation or the anchor is off there".into());
    }
    Ok(VolumeCurve {
        method: VolumeMethod::Llc,
        prior: *prior,
        eps,
        log_v,
        log_v_err,
        slope,
        notes,
    })
}
