//! The temperature ladder: λ̂ at nβ_k = nβ·f_k and a fit of the RLCT λ and its multiplicity m from them.
//!
//! # Model
//!
//! With Z(t) = ∫ exp(−tK(w)) φ(w) dw (φ the prior) the tempered expectation is
//! E_t[tK] = −d ln Z / d ln t, and Z is the inverse Mellin transform of Γ(s) ζ(−s), where
//! ζ(z) = ∫ K^z φ has its largest pole at z = −λ, of order m. The residue there gives
//!
//! Z(t) ∝ t^(−λ) P(u),  u = ln t,  P(u) = [h^(m−1)] exp(ln Γ(λ + h) − ln Γ(λ) − h u + ln g_ζ(h)),
//!
//! where g_ζ(h) = (h^m ζ(−λ − h)) / (its value at 0) is the pole-free part of the zeta function. The
//! Γ factor is universal; g_ζ depends on the model, the prior and their scales. **We set g_ζ = 1**:
//! exact up to the zeta function's own log-derivatives at the pole, which are small when the prior's
//! width and the loss are both of order one in the units t is measured in (for K = x²y² with a
//! standard Gaussian prior they shift u by 0.23; for x⁴y⁴ by 0.46; with γ = 0.1 the shift is 4.6 and 9.2,
//! and the first-order fit reads λ 2–8% low on those). Then
//!
//! E_t[tK] = λ − P'(u)/P(u) = λ + F_{m−2}/F_{m−1},  F = exp(Σ_i c_i h^i),
//! c_1 = ψ(λ) − u,  c_i = (−1)^i ζ_H(i, λ)/i (i ≥ 2, Hurwitz zeta),
//!
//! which for m = 1 is λ, for m = 2 is λ − 1/(u − ψ(λ)) and for m = 3 is
//! λ − 2(u − ψ)/((u − ψ)² + ψ'(λ)). To first order in the polygammas it is
//! λ − (m − 1)/(u − ψ(λ)) for every m: the familiar λ − (m−1)/ln t with ln t shifted by −ψ(λ) ≈ 1/λ.
//!
//! # Fit
//!
//! 1. Real-valued m: weighted least squares (weights 1/stderr²) of λ̂_k on x_k = 1/(u_k − ψ(λ)),
//!    intercept λ and slope −(m − 1), iterated until λ is a fixed point.
//! 2. Integer m: for each m = 1..=M the one-parameter model above (λ a weighted fixed point); the m with
//!    the smallest χ² is reported as `multiplicity_int` and its λ as `lambda`.
//! 3. Standard errors: each λ̂_k's stderr propagated through the whole fit (numerical Jacobian of the
//!    fixed points), assuming independent rungs. They do not include the model error (g_ζ = 1).

use crate::chains::{chain_seed, run_chains_from_observed, ChainSettings, ChainTrace, LastDraw};
use crate::diagnostics::half_drift_test;
use crate::error::{Error, Result};
use crate::landscape::{full_loss, Landscape};
use crate::llc::LlcEstimate;
use crate::sampler::Sampler;

/// The RLCT estimate from a temperature ladder.
#[derive(Debug, Clone, PartialEq)]
pub struct RlctEstimate {
    /// The RLCT λ: the fit's intercept at infinite nβ, under the integer multiplicity `multiplicity_int`.
    pub lambda: f64,
    /// Standard error of `lambda`, propagated from the rungs' standard errors (model error excluded).
    pub stderr: f64,
    /// The multiplicity m, real-valued (first-order fit λ − (m − 1)/(ln nβ − ψ(λ))).
    pub multiplicity: f64,
    /// Standard error of `multiplicity`, propagated from the rungs' standard errors.
    pub multiplicity_stderr: f64,
    /// The integer multiplicity whose model fits best (smallest χ²).
    pub multiplicity_int: usize,
    /// χ² of the chosen integer model (degrees of freedom: rungs − 1).
    pub chi2: f64,
    /// The nβ of each rung, ascending.
    pub nbetas: Vec<f64>,
    /// λ̂ at each rung.
    pub llc_at: Vec<f64>,
    /// Standard error of λ̂ at each rung.
    pub llc_err: Vec<f64>,
}

/// The largest integer multiplicity considered by the fit.
const MAX_MULTIPLICITY: usize = 8;

/// Fits λ and m to λ̂ measured at several nβ (see the module documentation for the model).
///
/// Needs at least two rungs with distinct nβ > 1 (so that ln nβ > 0), finite λ̂ and positive finite
/// standard errors. Fails with [`Error::Numerical`] when the fit leaves the model's domain (λ ≤ 0).
pub fn fit_rlct(nbetas: &[f64], llcs: &[f64], llc_errs: &[f64]) -> Result<RlctEstimate> {
    if nbetas.len() != llcs.len() || nbetas.len() != llc_errs.len() {
        return Err(Error::InvalidShape {
            what: format!(
                "{} nβs, {} λ̂s, {} stderrs",
                nbetas.len(),
                llcs.len(),
                llc_errs.len()
            ),
            why: "one λ̂ and one stderr per nβ".into(),
        });
    }
    if nbetas.len() < 2 {
        return Err(Error::InvalidShape {
            what: format!("{} rungs", nbetas.len()),
            why: "the ladder needs at least two temperatures".into(),
        });
    }
    if let Some(b) = nbetas.iter().find(|b| !(b.is_finite() && **b > 1.0)) {
        return Err(Error::OutOfRange {
            name: "llc.ladder",
            value: b.to_string(),
            rule: "every rung's nβ must be finite and above 1",
        });
    }
    if let Some(l) = llcs.iter().find(|l| !l.is_finite()) {
        return Err(Error::Numerical {
            what: "RLCT fit",
            why: format!("a rung's λ̂ is {l}"),
        });
    }
    if let Some(e) = llc_errs.iter().find(|e| !(e.is_finite() && **e > 0.0)) {
        return Err(Error::Numerical {
            what: "RLCT fit",
            why: format!("a rung's stderr is {e} (needs positive and finite)"),
        });
    }
    let mut order: Vec<usize> = (0..nbetas.len()).collect();
    order.sort_by(|&a, &b| nbetas[a].total_cmp(&nbetas[b]));
    let nb: Vec<f64> = order.iter().map(|&i| nbetas[i]).collect();
    let y: Vec<f64> = order.iter().map(|&i| llcs[i]).collect();
    let err: Vec<f64> = order.iter().map(|&i| llc_errs[i]).collect();
    if nb.windows(2).any(|w| w[1] <= w[0] * (1.0 + 1e-12)) {
        return Err(Error::OutOfRange {
            name: "llc.ladder",
            value: format!("{nb:?}"),
            rule: "the rungs' nβ must be distinct",
        });
    }
    let u: Vec<f64> = nb.iter().map(|b| b.ln()).collect();
    let wts: Vec<f64> = err.iter().map(|e| 1.0 / (e * e)).collect();

    // Stage 1: real-valued m.
    let (lam1, m_real) = first_order_fit(&u, &y, &wts)?;
    // Stage 2: integer m by the smallest χ².
    let mut best: Option<(f64, usize, f64)> = None;
    for m in 1..=MAX_MULTIPLICITY {
        let Ok(lam) = integer_fit(&u, &y, &wts, m, lam1) else {
            continue;
        };
        let chi2 = chi_square(&u, &y, &wts, m, lam);
        if chi2.is_finite() && best.is_none_or(|(c, _, _)| chi2 < c) {
            best = Some((chi2, m, lam));
        }
    }
    let Some((chi2, m_int, lambda)) = best else {
        return Err(Error::Numerical {
            what: "RLCT fit",
            why: "no multiplicity gives a finite fit".into(),
        });
    };
    // Stage 3: propagate the rungs' errors by a numerical Jacobian of both fixed points.
    let mut var_lambda = 0.0;
    let mut var_m = 0.0;
    for k in 0..y.len() {
        let h = 1e-3 * err[k];
        let mut yp = y.clone();
        let mut ym = y.clone();
        yp[k] += h;
        ym[k] -= h;
        let lp = integer_fit(&u, &yp, &wts, m_int, lambda)?;
        let lm = integer_fit(&u, &ym, &wts, m_int, lambda)?;
        var_lambda += ((lp - lm) / (2.0 * h) * err[k]).powi(2);
        let (_, mp) = first_order_fit(&u, &yp, &wts)?;
        let (_, mm) = first_order_fit(&u, &ym, &wts)?;
        var_m += ((mp - mm) / (2.0 * h) * err[k]).powi(2);
    }
    Ok(RlctEstimate {
        lambda,
        stderr: var_lambda.sqrt(),
        multiplicity: m_real,
        multiplicity_stderr: var_m.sqrt(),
        multiplicity_int: m_int,
        chi2,
        nbetas: nb,
        llc_at: y,
        llc_err: err,
    })
}

fn domain_error(lambda: f64) -> Error {
    Error::Numerical {
        what: "RLCT fit",
        why: format!(
            "the fit reached λ = {lambda:.4}, outside the model (λ > 0 and ln nβ > ψ(λ)); \
             the ladder's λ̂s do not follow λ − (m − 1)/ln nβ"
        ),
    }
}

/// Weighted least squares of y on x = 1/(u − ψ(λ)) with λ the intercept's fixed point: (λ, m).
fn first_order_fit(u: &[f64], y: &[f64], w: &[f64]) -> Result<(f64, f64)> {
    let mut lambda = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if lambda <= 0.0 {
        return Err(domain_error(lambda));
    }
    let mut slope = 0.0;
    for _ in 0..500 {
        let psi = digamma(lambda);
        if u.iter().any(|&ui| ui - psi <= 0.0) {
            return Err(domain_error(lambda));
        }
        let x: Vec<f64> = u.iter().map(|&ui| 1.0 / (ui - psi)).collect();
        let sw: f64 = w.iter().sum();
        let mx = x.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() / sw;
        let my = y.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() / sw;
        let sxy: f64 = (0..x.len()).map(|k| w[k] * (x[k] - mx) * (y[k] - my)).sum();
        let sxx: f64 = (0..x.len()).map(|k| w[k] * (x[k] - mx) * (x[k] - mx)).sum();
        if sxx <= 0.0 {
            return Err(Error::Numerical {
                what: "RLCT fit",
                why: "the rungs' nβ are too close to separate λ from m".into(),
            });
        }
        slope = sxy / sxx;
        // Damped update: the map's derivative can approach −1 when m is large.
        let next = 0.5 * (lambda + (my - slope * mx));
        if !(next.is_finite() && next > 0.0) {
            return Err(domain_error(next));
        }
        let done = (next - lambda).abs() < 1e-13 * (1.0 + lambda.abs());
        lambda = next;
        if done {
            break;
        }
    }
    Ok((lambda, 1.0 - slope))
}

/// The model's correction P'(u)/P(u) at multiplicity m (E[tK] = λ − correction); `None` outside its domain.
fn correction(u: f64, lambda: f64, m: usize) -> Option<f64> {
    if m <= 1 {
        return Some(0.0);
    }
    let n = m - 1;
    let psi = digamma(lambda);
    if u - psi <= 0.0 {
        return None;
    }
    // c_1 = ψ(λ) − u, c_i = (−1)^i ζ_H(i, λ) / i.
    let mut c = vec![0.0; n + 1];
    c[1] = psi - u;
    for (i, ci) in c.iter_mut().enumerate().skip(2) {
        let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
        *ci = sign * hurwitz_zeta(i as u32, lambda) / i as f64;
    }
    // F = exp(Σ c_i h^i): F_0 = 1, F_j = (1/j) Σ_{k=1..j} k c_k F_{j−k}.
    let mut f = vec![0.0; n + 1];
    f[0] = 1.0;
    for j in 1..=n {
        f[j] = (1..=j).map(|k| k as f64 * c[k] * f[j - k]).sum::<f64>() / j as f64;
    }
    // P ∝ F_{m−1}, dP/du = −F_{m−2}; the sign of F_{m−1} must be that of (−u)^{m−1} (no root crossed).
    let expected_sign = if n % 2 == 0 { 1.0 } else { -1.0 };
    if f[n] * expected_sign <= 0.0 {
        return None;
    }
    let corr = -f[n - 1] / f[n];
    (corr.is_finite() && corr > 0.0).then_some(corr)
}

/// λ at integer multiplicity m: the weighted fixed point λ = Σ w (y + correction(u; λ)) / Σ w.
fn integer_fit(u: &[f64], y: &[f64], w: &[f64], m: usize, start: f64) -> Result<f64> {
    let sw: f64 = w.iter().sum();
    let mut lambda = if start > 0.0 { start } else { 0.5 };
    for _ in 0..500 {
        let mut acc = 0.0;
        for k in 0..u.len() {
            let corr = correction(u[k], lambda, m).ok_or_else(|| domain_error(lambda))?;
            acc += w[k] * (y[k] + corr);
        }
        let next = 0.5 * (lambda + acc / sw);
        if !(next.is_finite() && next > 0.0) {
            return Err(domain_error(next));
        }
        let done = (next - lambda).abs() < 1e-13 * (1.0 + lambda.abs());
        lambda = next;
        if done {
            break;
        }
    }
    Ok(lambda)
}

fn chi_square(u: &[f64], y: &[f64], w: &[f64], m: usize, lambda: f64) -> f64 {
    (0..u.len())
        .map(|k| match correction(u[k], lambda, m) {
            Some(c) => w[k] * (y[k] - (lambda - c)).powi(2),
            None => f64::INFINITY,
        })
        .sum()
}

/// The digamma function ψ(x) for x > 0 (recurrence to x ≥ 20, then the asymptotic series).
pub fn digamma(mut x: f64) -> f64 {
    let mut r = 0.0;
    while x < 20.0 {
        r -= 1.0 / x;
        x += 1.0;
    }
    let f = 1.0 / (x * x);
    r + x.ln() - 0.5 / x - f * (1.0 / 12.0 - f * (1.0 / 120.0 - f * (1.0 / 252.0 - f / 240.0)))
}

/// The Hurwitz zeta function ζ(s, x) = Σ_{k≥0} (x + k)^(−s) for integer s ≥ 2 and x > 0
/// (20 terms, then Euler–Maclaurin with four Bernoulli terms: relative error below 1e-13).
pub fn hurwitz_zeta(s: u32, x: f64) -> f64 {
    const N: usize = 20;
    let s_f = s as f64;
    let mut sum: f64 = (0..N).map(|k| (x + k as f64).powf(-s_f)).sum();
    let y = x + N as f64;
    sum += y.powf(1.0 - s_f) / (s_f - 1.0) + 0.5 * y.powf(-s_f);
    // B_2 / 2!, B_4 / 4!, B_6 / 6!, B_8 / 8!.
    let bern = [1.0 / 12.0, -1.0 / 720.0, 1.0 / 30240.0, -1.0 / 1209600.0];
    let mut rising = s_f; // s (s+1) … (s + 2j − 2)
    for (j, b) in bern.iter().enumerate() {
        let p = 2 * j as i32 + 1;
        sum += b * rising * y.powf(-s_f - p as f64);
        rising *= (s_f + p as f64) * (s_f + p as f64 + 1.0);
    }
    sum
}

/// What one rung of a ladder ran and measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LadderRung {
    /// The factor f_k.
    pub factor: f64,
    /// Its nβ_k = nβ · f_k.
    pub nbeta: f64,
    /// Its sampler's step size (SGLD: ε / f_k).
    pub step_size: f64,
    /// Its burn-in steps.
    pub burnin: usize,
    /// Its thinning.
    pub thin: usize,
    /// The LLC estimate at this rung.
    pub llc: LlcEstimate,
    /// p-value of the half-drift test on the rung's kept loss traces (the last run's); `None` with
    /// fewer than 3 chains left.
    pub stationarity_p: Option<f64>,
    /// How many times the rung was run again from its own end points because its trace drifted.
    pub reruns: usize,
    /// How many times its kept draws were doubled for the fit's precision target.
    pub extensions: usize,
    /// Where its chains ended (a diverged chain's entry is the center): points of the rung's
    /// typical set, where a step-size check can look.
    pub end_points: Vec<Vec<f64>>,
}

/// A rung whose kept loss traces drift (half-drift test p below this) is run again from its own end
/// points: the first run becomes burn-in.
pub const RUNG_DRIFT_P: f64 = 0.05;

/// At most this many reruns of a drifting rung.
pub const RUNG_MAX_RERUNS: usize = 2;

/// A ladder's fit and its rungs.
#[derive(Debug, Clone, PartialEq)]
pub struct LadderRun {
    /// The RLCT fit.
    pub rlct: RlctEstimate,
    /// Each rung, in the order of the factors given.
    pub rungs: Vec<LadderRung>,
}

/// The rungs of a ladder and how their chains' lengths grow with the temperature.
#[derive(Debug, Clone, PartialEq)]
pub struct LadderSettings {
    /// The factors f_k: rung k runs at nβ_k = nβ·f_k with step ε/f_k.
    pub factors: Vec<f64>,
    /// Rung k runs f_k^p times the base burn-in and thinning (the same number of draws). With the
    /// step ε/f_k a chain moves sqrt(f_k) times less per step; p = 1 keeps the distance it explores
    /// at the prior's scale (what singular directions need), p = 0 the cost. Default 0.5.
    pub steps_exponent: f64,
    /// Start rung k's chains where rung k − 1's ended (their last kept draws; a diverged chain's
    /// successor starts at w*). The directions only the localization confines relax in time
    /// ∝ f_k/(ε γ), f_k times slower on the colder rung; a chain started at w* has not spread along
    /// them by the end of a burn-in scaled by f_k^p and reads λ̂ low. Started from the warmer rung
    /// they begin near their spread, and what is left to relax is the contraction of the directions
    /// the loss confines (relaxation time unchanged across rungs). Default true.
    pub warm_start: bool,
    /// The fit's precision target: the ladder samples on while σ_m·Δ_m > `multiplicity_precision`·λ,
    /// where σ_m is the standard error of the real-valued multiplicity and Δ_m = mean_k 1/(ln nβ_k −
    /// ψ(λ)) is how far λ moves when m moves by one. Below the target the integer m cannot shift λ by
    /// more than that fraction at one σ. Where λ is small (a few parameters' worth) the (m − 1)/ln nβ
    /// term is a large share of it, and m has to be pinned by precise rungs; where λ is large it
    /// barely matters, and the first pass suffices. Default 0.03.
    pub multiplicity_precision: f64,
    /// At most this many extensions; each runs every rung on from its chains' end points for as many
    /// draws as it holds (so the draws double: at most 2^k times the first pass). Default 3.
    pub max_extensions: usize,
}

impl Default for LadderSettings {
    /// Factors [1, 4, 16, 64] (DESIGN §3.1), p = 0.5, warm starts, precision 3% with at most 3 extensions.
    fn default() -> Self {
        Self {
            factors: vec![1.0, 4.0, 16.0, 64.0],
            steps_exponent: 0.5,
            warm_start: true,
            multiplicity_precision: 0.03,
            max_extensions: 3,
        }
    }
}

impl RlctEstimate {
    /// Δ_m = mean_k 1/(ln nβ_k − ψ(λ)): to first order, how far λ moves when m moves by one.
    pub fn lambda_per_multiplicity(&self) -> f64 {
        let psi = digamma(self.lambda.max(1e-12));
        let sum: f64 = self
            .nbetas
            .iter()
            .map(|b| 1.0 / (b.ln() - psi).max(1e-12))
            .sum();
        sum / self.nbetas.len().max(1) as f64
    }

    /// σ_m·Δ_m / λ: the share of λ that one standard error of m moves it by.
    pub fn multiplicity_uncertainty(&self) -> f64 {
        self.multiplicity_stderr * self.lambda_per_multiplicity() / self.lambda.abs().max(1e-12)
    }
}

/// Runs the sampler at nβ_k = nβ·f_k ([`Sampler::tempered`]: for SGLD the step ε/f_k, so ε·nβ, and
/// with it the step's relative bias on quadratic directions, is the same on every rung) and the base
/// localization, then [`fit_rlct`].
///
/// Rung k uses `settings` (chains, draws) with burn-in and thinning scaled by f_k^p (see
/// [`LadderSettings`]) and its own seed, [`chain_seed`]`(settings.seed ^ 0x4C41_4444, k)`. Each rung's
/// error is the larger of its ESS-based stderr and the spread over chains, std/sqrt(chains): on a
/// singular landscape the slow mode (how far the chains wander along the flat directions) is what a
/// short chain's autocorrelation misses, and the spread over chains catches it. Rungs run warm to
/// cold; with `warm_start` each starts where the warmer rung's chains ended. A rung whose kept loss
/// traces still drift (half-drift test p < [`RUNG_DRIFT_P`]) is run again from its own end points with
/// a fresh seed, at most [`RUNG_MAX_RERUNS`] times: the drifting run becomes burn-in. Then, while the
/// fit's multiplicity is too uncertain for λ ([`LadderSettings::multiplicity_precision`]), every rung
/// runs on from its chains' end points for as many draws again (at most
/// [`LadderSettings::max_extensions`] times; seeds [`chain_seed`]`(rung seed, 2000 + extension)`).
pub fn run_ladder<L: Landscape, S: Sampler>(
    landscape: &L,
    center: &[f64],
    base: &S,
    ladder: &LadderSettings,
    settings: &ChainSettings,
) -> Result<RlctEstimate> {
    run_ladder_detailed(landscape, center, base, ladder, settings, &|_| {}).map(|r| r.rlct)
}

/// [`run_ladder`], keeping every rung's LLC estimate; `progress` as in [`run_chains`].
pub fn run_ladder_detailed<L: Landscape, S: Sampler>(
    landscape: &L,
    center: &[f64],
    base: &S,
    ladder: &LadderSettings,
    settings: &ChainSettings,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<LadderRun> {
    let factors = &ladder.factors;
    if let Some(f) = factors.iter().find(|f| !(f.is_finite() && **f > 0.0)) {
        return Err(Error::OutOfRange {
            name: "llc.ladder",
            value: f.to_string(),
            rule: "every factor must be positive and finite",
        });
    }
    let p = ladder.steps_exponent;
    if !(p.is_finite() && (0.0..=2.0).contains(&p)) {
        return Err(Error::OutOfRange {
            name: "llc.ladder_steps_exponent",
            value: p.to_string(),
            rule: "must be in [0, 2]",
        });
    }
    let init_loss = full_loss(landscape, center);
    // Warm to cold (ascending f), so that each warm start comes from the next warmer rung.
    let mut order: Vec<usize> = (0..factors.len()).collect();
    order.sort_by(|&a, &b| factors[a].total_cmp(&factors[b]));
    let mut rungs: Vec<Option<LadderRung>> = vec![None; factors.len()];
    // Per rung: its sampler, settings and kept traces (for extensions).
    let mut runs: Vec<Option<RungState<S>>> = (0..factors.len()).map(|_| None).collect();
    let mut starts: Vec<Vec<f64>> = Vec::new();
    for k in order {
        let f = factors[k];
        let sampler = base.tempered(f)?;
        let posterior = sampler.posterior();
        let grow = f.powf(p);
        let mut rung_settings = ChainSettings {
            seed: chain_seed(settings.seed ^ 0x4C41_4444, k),
            burnin: (settings.burnin as f64 * grow).round() as usize,
            thin: ((settings.thin as f64 * grow).round() as usize).max(1),
            ..settings.clone()
        };
        let mut reruns = 0;
        let (traces, stationarity_p, ends) = loop {
            let (traces, last) = run_chains_from_observed(
                landscape,
                &sampler,
                center,
                &starts,
                &rung_settings,
                progress,
                |_| LastDraw::default(),
            )?;
            let kept: Vec<&[f64]> = traces
                .iter()
                .filter(|t| t.divergence.is_none())
                .map(|t| t.losses.as_slice())
                .collect();
            let p = half_drift_test(&kept).map(|(_, p)| p);
            let drifting = p.is_some_and(|p| p < RUNG_DRIFT_P);
            let ends = end_points(&traces, last, center);
            if drifting && reruns < RUNG_MAX_RERUNS {
                starts = ends;
                reruns += 1;
                rung_settings.seed = chain_seed(rung_settings.seed, 1000 + reruns);
                continue;
            }
            starts = if ladder.warm_start {
                ends.clone()
            } else {
                Vec::new()
            };
            break (traces, p, ends);
        };
        let llc = LlcEstimate::from_traces(&traces, init_loss, posterior.nbeta)?;
        rungs[k] = Some(LadderRung {
            factor: f,
            nbeta: posterior.nbeta,
            step_size: sampler.step_size(),
            burnin: rung_settings.burnin,
            thin: rung_settings.thin,
            llc,
            stationarity_p,
            reruns,
            extensions: 0,
            end_points: ends,
        });
        runs[k] = Some(RungState {
            sampler,
            settings: rung_settings,
            traces,
        });
    }
    let mut rungs: Vec<LadderRung> = rungs.into_iter().flatten().collect();
    let mut runs: Vec<RungState<S>> = runs.into_iter().flatten().collect();
    let mut extension = 0;
    loop {
        let fit = fit_rungs(&rungs);
        let precise = fit
            .as_ref()
            .is_ok_and(|f| f.multiplicity_uncertainty() <= ladder.multiplicity_precision);
        if precise || extension >= ladder.max_extensions {
            return fit.map(|rlct| LadderRun { rlct, rungs });
        }
        extension += 1;
        // Every rung runs on from its chains' end points for as many draws as it holds.
        for (rung, run) in rungs.iter_mut().zip(runs.iter_mut()) {
            let held = run.traces.iter().map(|t| t.losses.len()).max().unwrap_or(0);
            let settings = ChainSettings {
                seed: chain_seed(run.settings.seed, 2000 + extension),
                burnin: 0,
                draws: held.max(1),
                ..run.settings.clone()
            };
            let (more, last) = run_chains_from_observed(
                landscape,
                &run.sampler,
                center,
                &rung.end_points,
                &settings,
                progress,
                |_| LastDraw::default(),
            )?;
            rung.end_points = end_points(&more, last, center);
            for (t, m) in run.traces.iter_mut().zip(more) {
                append_trace(t, m);
            }
            rung.llc = LlcEstimate::from_traces(&run.traces, init_loss, rung.nbeta)?;
            rung.extensions = extension;
        }
    }
}

/// What a rung keeps for its extensions (its chains' end points are in its [`LadderRung`]).
struct RungState<S> {
    sampler: S,
    settings: ChainSettings,
    traces: Vec<ChainTrace>,
}

/// The RLCT fit on the rungs' λ̂, each with the larger of its ESS-based stderr and the spread over chains.
fn fit_rungs(rungs: &[LadderRung]) -> Result<RlctEstimate> {
    let nbetas: Vec<f64> = rungs.iter().map(|r| r.nbeta).collect();
    let llcs: Vec<f64> = rungs.iter().map(|r| r.llc.mean).collect();
    let errs: Vec<f64> = rungs
        .iter()
        .map(|r| {
            let spread = r.llc.std / (r.llc.per_chain.len() as f64).sqrt();
            let e = r.llc.stderr;
            if e.is_finite() {
                e.max(spread)
            } else {
                spread
            }
        })
        .collect();
    fit_rlct(&nbetas, &llcs, &errs)
}

/// Appends a continuation's draws to a chain's trace; a continuation that diverged marks the chain diverged.
fn append_trace(trace: &mut ChainTrace, more: ChainTrace) {
    if trace.divergence.is_some() {
        return;
    }
    let offset = trace.losses.len();
    trace.losses.extend(more.losses);
    trace
        .full_losses
        .extend(more.full_losses.into_iter().map(|(i, l)| (i + offset, l)));
    trace.divergence = more.divergence;
}

/// Where each chain ended (its last kept draw), or `center` for a chain that diverged.
fn end_points(traces: &[ChainTrace], last: Vec<LastDraw>, center: &[f64]) -> Vec<Vec<f64>> {
    traces
        .iter()
        .zip(last)
        .map(|(t, l)| {
            if t.divergence.is_none() && l.w.len() == center.len() {
                l.w
            } else {
                center.to_vec()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_functions() {
        assert!((digamma(1.0) + 0.577_215_664_901_532_9).abs() < 1e-13);
        assert!((digamma(0.5) + 1.963_510_026_021_423_5).abs() < 1e-13);
        let pi2_6 = std::f64::consts::PI.powi(2) / 6.0;
        assert!((hurwitz_zeta(2, 1.0) - pi2_6).abs() < 1e-13);
        // ζ(2, 1/2) = π²/2 = ψ'(1/2).
        assert!((hurwitz_zeta(2, 0.5) - 3.0 * pi2_6).abs() < 1e-12);
        assert!((hurwitz_zeta(3, 1.0) - 1.202_056_903_159_594).abs() < 1e-13);
    }

    #[test]
    fn model_corrections_match_closed_forms() {
        let (u, lam) = (8.0, 0.5);
        let psi = digamma(lam);
        assert_eq!(correction(u, lam, 1), Some(0.0));
        assert!((correction(u, lam, 2).unwrap() - 1.0 / (u - psi)).abs() < 1e-13);
        let v = u - psi;
        let want3 = 2.0 * v / (v * v + hurwitz_zeta(2, lam));
        assert!((correction(u, lam, 3).unwrap() - want3).abs() < 1e-13);
    }

    #[test]
    fn exact_model_values_are_recovered() {
        for (lam, m) in [(0.75, 1usize), (0.5, 2), (0.25, 2), (0.5, 3), (1.5, 4)] {
            let nb: Vec<f64> = [1.0, 4.0, 16.0, 64.0].iter().map(|f| 1000.0 * f).collect();
            let y: Vec<f64> = nb
                .iter()
                .map(|b| lam - correction(b.ln(), lam, m).unwrap())
                .collect();
            let fit = fit_rlct(&nb, &y, &[1e-4; 4]).unwrap();
            assert_eq!(fit.multiplicity_int, m, "{fit:?}");
            assert!((fit.lambda - lam).abs() < 1e-9, "{fit:?}");
        }
    }

    #[test]
    fn bad_input_is_rejected() {
        assert!(fit_rlct(&[100.0], &[0.4], &[0.01]).is_err());
        assert!(fit_rlct(&[100.0, 100.0], &[0.4, 0.4], &[0.01, 0.01]).is_err());
        assert!(fit_rlct(&[100.0, 400.0], &[0.4, 0.45], &[0.0, 0.01]).is_err());
        assert!(fit_rlct(&[0.5, 400.0], &[0.4, 0.45], &[0.01, 0.01]).is_err());
        assert!(fit_rlct(&[100.0, 400.0], &[0.4], &[0.01, 0.01]).is_err());
    }
}
