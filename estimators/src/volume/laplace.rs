//! The Hessian (Laplace) volume: the ellipsoid ½ wᵀHw < ε in the directions whose curvature exceeds a cutoff, the prior's full extent in the rest.

use super::{ln_ball_volume, EpsGrid, Prior, VolumeCurve, VolumeMethod};
use crate::error::{Error, Result};
use crate::hessian::HessianSpectrum;

/// ln V_H(ε) = ln V_ball(k) + Σ_{h_i > cutoff} ½ ln(2ε / h_i) + ln(prior density on the k-dimensional
/// eigen-subspace at w*), capped at 0: the quadratic approximation of the loss, exact for a quadratic
/// loss while the ellipsoid lies inside the box.
///
/// k = number of eigenvalues above `cutoff` (loss units per parameter unit²; default the spectrum's
/// rank tolerance); the flat directions contribute their whole prior extent. The prior density is
/// (2a)^(−k) for the box, (2πσ²)^(−k/2) for the Gaussian (leading order: exact as ε → 0). The slope
/// is k/2 wherever the cap does not bind. The error bar is 0: the finite-difference Hessian is exact
/// on quadratics up to rounding; what this curve misses is the loss's higher-order terms, which is
/// what [`super::hessian_divergence`] measures.
pub fn laplace_volume(
    spectrum: &HessianSpectrum,
    prior: &Prior,
    grid: &EpsGrid,
    cutoff: Option<f64>,
) -> Result<VolumeCurve> {
    prior.validate()?;
    let eps = grid.values()?;
    let cutoff = cutoff.unwrap_or(spectrum.tolerance);
    if !(cutoff.is_finite() && cutoff >= 0.0) {
        return Err(Error::OutOfRange {
            name: "volume.laplace.cutoff",
            value: cutoff.to_string(),
            rule: "the eigenvalue cutoff must be non-negative and finite",
        });
    }
    let kept: Vec<f64> = spectrum
        .eigenvalues
        .iter()
        .cloned()
        .filter(|&h| h > cutoff)
        .collect();
    if !spectrum.complete && kept.len() == spectrum.eigenvalues.len() {
        return Err(Error::OutOfRange {
            name: "volume.laplace.cutoff",
            value: cutoff.to_string(),
            rule: "every computed eigenvalue (the matrix-free path keeps only the top ones) is above the cutoff, \
                   so the count above it is unknown: raise hessian.top_k or the cutoff",
        });
    }
    let k = kept.len();
    let ln_density = match *prior {
        Prior::Box { half_width } => -(k as f64) * (2.0 * half_width).ln(),
        Prior::Gaussian { std } => -0.5 * k as f64 * (2.0 * std::f64::consts::PI * std * std).ln(),
    };
    let sum_ln_h: f64 = kept.iter().map(|h| h.ln()).sum();
    let mut log_v = Vec::with_capacity(eps.len());
    let mut slope = Vec::with_capacity(eps.len());
    for &e in &eps {
        let v = ln_ball_volume(k) + 0.5 * (k as f64 * (2.0 * e).ln() - sum_ln_h) + ln_density;
        log_v.push(v.min(0.0));
        slope.push(if v < 0.0 { 0.5 * k as f64 } else { 0.0 });
    }
    let mut notes = vec![format!(
        "Laplace: {k} of {} eigenvalues above the cutoff {cutoff:.3e} (slope {}); prior {}",
        spectrum.dim,
        0.5 * k as f64,
        prior.describe()
    )];
    if let (Prior::Box { half_width }, Some(&h_min)) = (prior, kept.last()) {
        let axis = (2.0 * eps[eps.len() - 1] / h_min).sqrt();
        if axis > *half_width {
            notes.push(format!(
                "the ellipsoid's longest semi-axis ({axis:.3}) exceeds the box's half-width at the largest ε; box clipping is ignored"
            ));
        }
    }
    Ok(VolumeCurve {
        method: VolumeMethod::Hessian,
        prior: *prior,
        eps,
        log_v_err: vec![0.0; log_v.len()],
        log_v,
        slope,
        notes,
    })
}
