//! Exact basin volumes of DESIGN §4 under the uniform prior on the box [−1, 1]^d (tests check against these).
//!
//! Each function returns ln of the Lebesgue volume of {w ∈ [−1, 1]^d : K(w) < ε}, clipped to the
//! box exactly where the formula would leave it (or refusing the threshold, where said). The prior
//! mass that the estimators report is that volume over 2^d: see [`ln_box_mass`].

use statrs::function::gamma::ln_gamma;

use super::ln_ball_volume;
use crate::error::{Error, Result};

fn check_eps(eps: f64) -> Result<()> {
    if !(eps.is_finite() && eps > 0.0) {
        return Err(Error::OutOfRange {
            name: "eps",
            value: eps.to_string(),
            rule: "a loss threshold must be positive and finite",
        });
    }
    Ok(())
}

/// ln of the prior mass of a set of Lebesgue volume e^`ln_volume` in d dimensions under the uniform
/// prior on a box of half-width `half_width`: ln_volume − d ln(2 · half_width).
pub fn ln_box_mass(ln_volume: f64, d: usize, half_width: f64) -> f64 {
    ln_volume - d as f64 * (2.0 * half_width).ln()
}

/// K = w^(2k) in one dimension: volume 2 min(ε^(1/(2k)), 1) (w²: 2√ε, w⁴: 2ε^(1/4)).
pub fn ln_volume_power(k: u32, eps: f64) -> Result<f64> {
    check_eps(eps)?;
    if k == 0 {
        return Err(Error::InvalidShape {
            what: "k = 0".into(),
            why: "K = w^(2k) needs k ≥ 1".into(),
        });
    }
    Ok(std::f64::consts::LN_2 + (eps.ln() / (2.0 * k as f64)).min(0.0))
}

/// K = x²y² on [−1, 1]²: 4√ε + 2√ε ln(1/ε) for ε ≤ 1 (exact: the set's corners stay inside), 4 above.
pub fn ln_volume_x2y2(eps: f64) -> Result<f64> {
    check_eps(eps)?;
    if eps >= 1.0 {
        return Ok(4f64.ln());
    }
    let s = eps.sqrt();
    Ok((4.0 * s + 2.0 * s * (1.0 / eps).ln()).ln())
}

/// ∫_{−1}^{1} √(1 − t⁴) dt = B(1/4, 3/2)/2 = Γ(1/4) Γ(3/2) / (2 Γ(7/4)) ≈ 1.748038.
fn quartic_disc_constant() -> f64 {
    (ln_gamma(0.25) + ln_gamma(1.5) - ln_gamma(1.75)).exp() / 2.0
}

/// K = x² + y⁴ on [−1, 1]²: 2 · 1.748038 · ε^(3/4) = 3.49608 ε^(3/4) for ε ≤ 1 (the set lies inside the
/// box); above, the box-clipped area by Simpson's rule on 20 000 intervals in y.
pub fn ln_volume_x2_plus_y4(eps: f64) -> Result<f64> {
    check_eps(eps)?;
    if eps <= 1.0 {
        return Ok((2.0 * quartic_disc_constant()).ln() + 0.75 * eps.ln());
    }
    let f = |y: f64| 2.0 * (eps - y.powi(4)).max(0.0).sqrt().min(1.0);
    let n = 20_000;
    let h = 2.0 / n as f64;
    let mut sum = f(-1.0) + f(1.0);
    for i in 1..n {
        sum += f(-1.0 + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    Ok((sum * h / 3.0).ln())
}

/// K = |w|² in R^d: the ball of radius √ε, π^(d/2)/Γ(d/2+1) ε^(d/2). Refuses ε > 1, where the ball
/// leaves the box [−1, 1]^d.
pub fn ln_volume_ball(d: usize, eps: f64) -> Result<f64> {
    check_eps(eps)?;
    if eps > 1.0 {
        return Err(Error::OutOfRange {
            name: "eps",
            value: eps.to_string(),
            rule: "the ball |w|² < ε lies inside [−1, 1]^d only for ε ≤ 1",
        });
    }
    if d == 0 {
        return Err(Error::InvalidShape {
            what: "d = 0".into(),
            why: "a ball needs at least one dimension".into(),
        });
    }
    Ok(ln_ball_volume(d) + 0.5 * d as f64 * eps.ln())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_design() {
        assert!((2.0 * quartic_disc_constant() - 3.49608).abs() < 1e-5);
        // Continuity of x² + y⁴ across the switch to quadrature at ε = 1.
        let a = ln_volume_x2_plus_y4(1.0).unwrap();
        let b = ln_volume_x2_plus_y4(1.0 + 1e-9).unwrap();
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        assert!(
            (ln_volume_ball(2, 0.25).unwrap() - (std::f64::consts::PI * 0.25).ln()).abs() < 1e-12
        );
        assert!((ln_volume_power(2, 1e-4).unwrap() - (2.0 * 0.1f64).ln()).abs() < 1e-12);
        assert!(ln_volume_x2y2(0.0).is_err());
    }
}
