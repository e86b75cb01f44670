//! SGNHT, RMSProp-SGLD and the MALA diagnostic against exact answers on potentials (DESIGN §4), each with a twin that rejects a wrong value.
//!
//! Tolerance: |estimate − expected| < 4 × stderr (plus a stated step-bias allowance where the bias is
//! not part of `expected`), stderr = t · sd(K) / sqrt(ESS) over the pooled chains; a two-sided 4σ
//! bound has a false-positive rate of about 6e-5 (the seeds are fixed, so each test is deterministic).

use slt_estimators::chains::{run_chains, run_chains_observed, ChainSettings};
use slt_estimators::mala::{MalaObserver, MalaSummary};
use slt_estimators::sampler::{RmspropSettings, SgnhtSettings};
use slt_estimators::{LlcEstimate, Potential, RmspropSgld, Sampler, Sgnht, TemperedPosterior};

fn flat(t: f64) -> TemperedPosterior {
    TemperedPosterior {
        nbeta: t,
        localization: 0.0,
    }
}

fn settings(steps: usize, seed: u64) -> ChainSettings {
    ChainSettings {
        chains: 4,
        draws: steps / 5,
        burnin: steps / 10,
        thin: 5,
        batch_size: 1,
        seed,
        divergence_radius: 1e6,
        full_loss_every: 0,
        threads: 0,
    }
}

fn estimate<S: Sampler>(
    monomials: &[Vec<u32>],
    sampler: &S,
    steps: usize,
    seed: u64,
) -> LlcEstimate {
    let p = Potential::new(monomials).unwrap();
    let d = monomials[0].len();
    let traces = run_chains(&p, sampler, &vec![0.0; d], &settings(steps, seed), &|_| {}).unwrap();
    LlcEstimate::from_traces(&traces, 0.0, sampler.posterior().nbeta).unwrap()
}

fn quadratic(d: usize) -> Vec<Vec<u32>> {
    (0..d)
        .map(|i| (0..d).map(|j| if i == j { 2 } else { 0 }).collect())
        .collect()
}

fn check(est: &LlcEstimate, expected: f64, allowance: f64, wrong: &[f64]) {
    let bound = 4.0 * est.stderr + allowance;
    println!(
        "λ̂ = {:.5} ± {:.5}, expected {expected:.5}, bound {bound:.5}",
        est.mean, est.stderr
    );
    assert!(
        (est.mean - expected).abs() < bound,
        "{} vs {expected} (bound {bound})",
        est.mean
    );
    for &w in wrong {
        assert!(
            (est.mean - w).abs() > bound,
            "the wrong value {w} is not rejected by {} ± {bound}",
            est.mean
        );
    }
}

/// K = |w|² in R^5, t = 144.8, ε = 1e-3, A = 0.01. Fixed-friction analysis (see `Sgnht`):
/// E[tK] = (d/2)(1 − ξ/2), ξ(4 − 2ξ − 2εt) = 4A, so 2.4865 here. Twin: d/2 + 4% = 2.6 is rejected by
/// the same 4σ bound; it can fail once the main checks passed: 2.6 is 0.1135 away, within twice the
/// bound whenever stderr > 0.0142, which the 1% check (stderr < 0.0249) allows. (SGLD's value at the
/// same ε, (d/2)/(1 − εt/2) = 2.695, was a twin too, but it is 0.2085 away, beyond twice the largest
/// bound the 1% check allows (8 × 0.0249 = 0.199), so it could never fail: removed.)
#[test]
fn sgnht_on_quadratic_matches_its_derived_value() {
    let (d, t, eps) = (5, 144.8, 1e-3);
    let s = Sgnht::new(eps, flat(t), SgnhtSettings::default()).unwrap();
    let xi = s.equilibrium_friction(2.0 * t);
    let expected = d as f64 / 2.0 * (1.0 - xi / 2.0);
    let est = estimate(&quadratic(d), &s, 200_000, 11);
    assert!(est.stderr < 0.01 * expected, "too loose: {}", est.stderr);
    check(&est, expected, 0.0, &[2.5 * 1.04]);
}

/// K = w⁴, t = 1000, ε = 3e-4: E[tK] = 1/4. Allowance: the thermostat's bias A/2 of the value (derived
/// for quadratics; 0.5%) plus 0.002 as for SGLD. Twins: 1/2 and 1/6.
#[test]
fn sgnht_on_quartic_gives_one_quarter() {
    let s = Sgnht::new(3e-4, flat(1000.0), SgnhtSettings::default()).unwrap();
    let est = estimate(&[vec![4]], &s, 400_000, 12);
    check(&est, 0.25, 0.005 * 0.25 + 0.002, &[0.5, 1.0 / 6.0]);
}

/// K = w⁶, t = 1000, ε = 1e-3: E[tK] = 1/6. Twin: 1/4.
#[test]
fn sgnht_on_sextic_gives_one_sixth() {
    let s = Sgnht::new(1e-3, flat(1000.0), SgnhtSettings::default()).unwrap();
    let est = estimate(&[vec![6]], &s, 400_000, 13);
    check(&est, 1.0 / 6.0, 0.005 / 6.0 + 0.002, &[0.25]);
}

/// The preconditioner at stationarity on K = |w|² (per coordinate V = (2t)² E[w²]) solved with the
/// fixed-G SGLD formula E[t w²] = (1/2)/(1 − εGt/2): a fixed point in G.
fn rmsprop_quadratic_prediction(t: f64, eps: f64, settings: RmspropSettings) -> (f64, f64) {
    let mut g = 1.0 / ((2.0 * t).sqrt() + settings.stabilizer);
    let mut e = 0.5;
    for _ in 0..200 {
        e = 0.5 / (1.0 - eps * g * t / 2.0);
        let v = 4.0 * t * e; // (2t)² E[w²] = 4t · E[t w²]
        g = 1.0 / (v.sqrt() + settings.stabilizer);
    }
    (e, g)
}

/// K = |w|² in R^5, t = 144.8, ε = 0.017 (εG ≈ 1e-3, the SGLD test's step): the fixed-G prediction
/// (d/2)/(1 − εGt/2) = 2.69 with G from the stationary V. The omitted ∇·G term and G's fluctuation
/// leave a further bias, measured at +0.3% at the default decay 0.999 (+3.5% at 0.99, 0.0% at
/// 0.9999); allowance 1% of the value. Twins: d/2 and the value
/// with the preconditioner off (G = 1: SGLD at ε = 0.017 diverges, εt > 2), here d/2 · 1.15.
#[test]
fn rmsprop_sgld_on_quadratic_matches_fixed_preconditioner_value() {
    let (d, t, eps) = (5, 144.8, 0.017);
    let set = RmspropSettings::default();
    let s = RmspropSgld::new(eps, flat(t), set).unwrap();
    let (e, g) = rmsprop_quadratic_prediction(t, eps, set);
    let expected = d as f64 * e;
    println!(
        "predicted E[tK] = {expected:.4}, G = {g:.4}, εG = {:.2e}",
        eps * g
    );
    let est = estimate(&quadratic(d), &s, 200_000, 21);
    assert!(est.stderr < 0.01 * expected, "too loose: {}", est.stderr);
    check(&est, expected, 0.01 * expected, &[2.5, 2.5 * 1.15]);
}

/// K = w⁴, t = 1000, ε = 0.01: E[tK] = 1/4. RMSProp-SGLD's bias here is real: +5.6% measured at the
/// default decay 0.999 (+4.0% at 0.9999, +22% at 0.99): where w⁴ is flat G is large, and G follows
/// the chain's position (the omitted ∇·G term). Allowance 8% of the value. Twins: 1/2 and 1/6, and
/// the decay 0.99 run is shown to be outside the allowance.
#[test]
fn rmsprop_sgld_on_quartic_gives_one_quarter() {
    let s = RmspropSgld::new(0.01, flat(1000.0), RmspropSettings::default()).unwrap();
    let est = estimate(&[vec![4]], &s, 400_000, 22);
    check(&est, 0.25, 0.08 * 0.25, &[0.5, 1.0 / 6.0]);
    // Twin: with the faster decay 0.99 the omitted term's bias is resolved (+22% measured).
    let fast = RmspropSettings {
        decay: 0.99,
        ..Default::default()
    };
    let s = RmspropSgld::new(0.01, flat(1000.0), fast).unwrap();
    let biased = estimate(&[vec![4]], &s, 400_000, 22);
    println!("decay 0.99: λ̂ = {:.4} ± {:.4}", biased.mean, biased.stderr);
    assert!(biased.mean - 0.25 > 0.08 * 0.25 + 4.0 * biased.stderr);
}

#[test]
fn constructors_name_the_bad_setting() {
    let e = Sgnht::new(0.0, flat(1.0), SgnhtSettings::default()).unwrap_err();
    assert!(e.to_string().contains("llc.step_size"), "{e}");
    let e = Sgnht::new(1e-3, flat(1.0), SgnhtSettings { diffusion: 1.5 }).unwrap_err();
    assert!(e.to_string().contains("llc.sgnht_diffusion"), "{e}");
    let e = Sgnht::new(1e-3, flat(-1.0), SgnhtSettings::default()).unwrap_err();
    assert!(e.to_string().contains("llc.nbeta"), "{e}");
    let bad = RmspropSettings {
        decay: 1.0,
        ..Default::default()
    };
    let e = RmspropSgld::new(1e-3, flat(1.0), bad).unwrap_err();
    assert!(e.to_string().contains("llc.rmsprop_decay"), "{e}");
    let bad = RmspropSettings {
        stabilizer: 0.0,
        ..Default::default()
    };
    let e = RmspropSgld::new(1e-3, flat(1.0), bad).unwrap_err();
    assert!(e.to_string().contains("llc.rmsprop_stabilizer"), "{e}");
    let e = RmspropSgld::new(f64::NAN, flat(1.0), RmspropSettings::default()).unwrap_err();
    assert!(e.to_string().contains("llc.step_size"), "{e}");
}

/// Expected MALA acceptance on U = (k/2) w² (1-D) for SGLD proposals of step ε, with w drawn from
/// SGLD's own stationary law N(0, 1/(k(1 − εk/4))). In units w√k, h = εk:
/// Δ = (h²/8)((1 − h/4) w² − z²) − (h^{3/2}/4)(1 − h/2) w z, acceptance E[min(1, e^Δ)], by a
/// 2-D grid (step 0.01 on [−12, 12]², error below 1e-6).
fn gaussian_acceptance(h: f64) -> f64 {
    let sd_w = 1.0 / (1.0 - h / 4.0).sqrt();
    let n = 2400;
    let step = 24.0 / n as f64;
    let (mut num, mut den) = (0.0, 0.0);
    for i in 0..=n {
        let a = -12.0 + i as f64 * step;
        let w = a * sd_w;
        let pa = (-0.5 * a * a).exp();
        for j in 0..=n {
            let z = -12.0 + j as f64 * step;
            let p = pa * (-0.5 * z * z).exp();
            let delta = h * h / 8.0 * ((1.0 - h / 4.0) * w * w - z * z)
                - h.powf(1.5) / 4.0 * (1.0 - h / 2.0) * w * z;
            num += p * delta.exp().min(1.0);
            den += p;
        }
    }
    num / den
}

/// The observer's mean acceptance on w² (t = 500, so k = 1000) for a tiny and a large SGLD step,
/// against the Gaussian closed form (0.99992 and 0.92487). 8 chains; stderr from the spread of the
/// per-chain means; bound 5 stderr + 1e-3 (a 5σ bound: false-positive rate 6e-7 per step, plus the
/// 1e-3 allowance). Twins: the small step's acceptance is near 1 and the large step's is not, and
/// each measured value rejects the other step's closed form by its own bound.
#[test]
fn mala_acceptance_matches_gaussian_closed_form() {
    let p = Potential::new(&[vec![2]]).unwrap();
    let center = [0.0];
    let t = 500.0;
    let mut results = Vec::new();
    for (h, seed) in [(0.01, 31u64), (1.0, 32)] {
        let eps = h / (2.0 * t);
        let post = flat(t);
        let sampler = slt_estimators::Sgld::new(eps, post).unwrap();
        let mut set = settings(100_000, seed);
        set.chains = 8;
        set.thin = 10;
        set.draws = 10_000;
        let (_, obs) = run_chains_observed(&p, &sampler, &center, &set, &|_| {}, |c| {
            MalaObserver::for_chain(&p, &center, post, eps, 2, seed, c).unwrap()
        })
        .unwrap();
        let summary = MalaSummary::from_observers(&obs).unwrap();
        let per = &summary.per_chain;
        let mean = per.iter().sum::<f64>() / per.len() as f64;
        let sd =
            (per.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (per.len() - 1) as f64).sqrt();
        let se = sd / (per.len() as f64).sqrt();
        let exact = gaussian_acceptance(h);
        println!(
            "h = εk = {h}: acceptance {:.5} ± {se:.5} over {} probes, closed form {exact:.5}",
            summary.mean, summary.probes
        );
        assert!(
            (summary.mean - exact).abs() < 5.0 * se + 1e-3,
            "{} vs {exact}",
            summary.mean
        );
        results.push((summary.mean, exact, 5.0 * se + 1e-3));
    }
    assert!(results[0].0 > 0.999, "tiny step: {}", results[0].0);
    assert!(results[1].0 < 0.98, "large step: {}", results[1].0);
    // Twin: each measured value rejects the other step's closed form by the bound its own check
    // used. Can fail once the checks above passed: given them the gaps are at least 0.074 and
    // 0.0199, so it fails when a bound is that wide (stderr above 0.0146 or 0.0038), which no check
    // above excludes. (The twin was a fixed 0.01, which > 0.999 and < 0.98 already implied: it
    // could never fail.)
    for (measured, other) in [(&results[0], &results[1]), (&results[1], &results[0])] {
        assert!(
            (measured.0 - other.1).abs() > measured.2,
            "{} does not reject {} (bound {})",
            measured.0,
            other.1,
            measured.2
        );
    }
}

/// A diverging proposal gives acceptance 0, not NaN; every = 0 is refused with the setting's name.
#[test]
fn mala_probe_edge_cases() {
    let p = Potential::new(&[vec![2]]).unwrap();
    let center = [0.0];
    let e = MalaObserver::new(&p, &center, flat(10.0), 1e-3, 0, 0)
        .err()
        .unwrap();
    assert!(e.to_string().contains("llc.mala_every"), "{e}");
    let mut probe = slt_estimators::mala::MalaProbe::new(&p, &center, flat(1e300), 1.0).unwrap();
    let mut rng = <slt_estimators::sampler::ChainRng as rand::SeedableRng>::seed_from_u64(1);
    let a = probe.acceptance(&[1e10], &mut rng);
    assert!(matches!(a, Ok(x) if x == 0.0) || a.is_err(), "{a:?}");
}
