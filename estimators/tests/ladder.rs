//! The temperature ladder against exact tempered expectations (quadrature) and against sampled rungs on normal crossings, with every sampler.

use slt_estimators::calibration::unit_information_localization;
use slt_estimators::chains::ChainSettings;
use slt_estimators::ladder::{fit_rlct, run_ladder_detailed, LadderRun, LadderSettings};
use slt_estimators::{Potential, SamplerKind, Sgld, TemperedPosterior};

/// E[tK] under exp(−tK(x, y) − γ(x² + y²)/2) by the trapezoid rule in log coordinates x = e^a,
/// y = e^b on the positive quadrant (the potentials are even), a, b ∈ [−30, ln sqrt(100/γ)], step 0.04
/// (step 0.02 agrees to 1e-5). `f(x, y, t)` returns (weight, value of tK) so that a third coordinate
/// may be integrated out analytically.
fn quad2(t: f64, gamma: f64, f: &dyn Fn(f64, f64, f64) -> (f64, f64)) -> f64 {
    let (lo, hi, h) = (-30.0, 0.5 * (100.0 / gamma).ln(), 0.04);
    let n = ((hi - lo) / h) as usize;
    let (mut z, mut s) = (0.0, 0.0);
    for i in 0..=n {
        let x = (lo + i as f64 * h).exp();
        for j in 0..=n {
            let y = (lo + j as f64 * h).exp();
            let prior = (-gamma * (x * x + y * y) / 2.0).exp() * x * y;
            let (w, v) = f(x, y, t);
            z += prior * w;
            s += prior * w * v;
        }
    }
    s / z
}

/// The four potentials of the issue: (name, λ, m, exact E[tK] at (t, γ)).
type Exact = fn(f64, f64) -> f64;
type Case = (&'static str, Vec<Vec<u32>>, f64, usize, Exact);
fn cases() -> Vec<Case> {
    vec![
        ("x²+y⁴", vec![vec![2, 0], vec![0, 4]], 0.75, 1, |t, g| {
            quad2(t, g, &|x, y, t| {
                let k = t * (x * x + y.powi(4));
                ((-k).exp(), k)
            })
        }),
        ("x²y²", vec![vec![2, 2]], 0.5, 2, |t, g| {
            quad2(t, g, &|x, y, t| {
                let k = t * x * x * y * y;
                ((-k).exp(), k)
            })
        }),
        ("x⁴y⁴", vec![vec![4, 4]], 0.25, 2, |t, g| {
            quad2(t, g, &|x, y, t| {
                let k = t * (x * y).powi(4);
                ((-k).exp(), k)
            })
        }),
        // (xyz)²: z integrated out, ∫ exp(−(a + γ/2) z²) dz ∝ (a + γ/2)^(−1/2) and E[t x²y² z² | x, y]
        // = a / (2 (a + γ/2)) with a = t x²y².
        ("(xyz)²", vec![vec![2, 2, 2]], 0.5, 3, |t, g| {
            quad2(t, g, &|x, y, t| {
                let a = t * x * x * y * y;
                (1.0 / (a + g / 2.0).sqrt(), a / (2.0 * (a + g / 2.0)))
            })
        }),
    ]
}

/// nβ of the base rung: n / ln n at n = 3000 (374.7); the ladder is [1, 4, 16, 64] (top 23 981), γ = 1.
fn base_nbeta() -> f64 {
    3000.0 / 3000f64.ln()
}

/// The fit alone, on exact tempered values (quadrature): this is the model error, with no sampling.
/// Measured: x²+y⁴ −0.3%, x²y² +0.5%, x⁴y⁴ +1.9%, (xyz)² +3.4%; integer m exact on all four (the
/// real-valued m: 1.08, 1.95, 1.87, 2.44). Bound: 5% of λ
/// (the target). No randomness: the values are quadrature, so no false-positive rate.
/// Twin (the singular cases): the single-temperature λ̂ at the top rung (−16%, −27%, −30%) is rejected
/// by the same 5% bound (the ladder is needed there); it can fail once the fit passed, being the
/// fit's input, not its output. x²+y⁴ (m = 1) has no twin: every plausible wrong λ lies more than
/// twice the bound away (x²+y⁶'s 2/3 at −11%, the m = 2 fit of these values at +15%, d/2 = 1), so the
/// bound rejects it by arithmetic. (The λ ± 25% twins were implied the same way, 25% − 5% > 5%:
/// removed.)
#[test]
fn fit_on_exact_tempered_values_recovers_lambda_and_m() {
    let gamma = 1.0;
    for (name, _, lam, m, exact) in cases() {
        let nb: Vec<f64> = [1.0, 4.0, 16.0, 64.0]
            .iter()
            .map(|f| base_nbeta() * f)
            .collect();
        let y: Vec<f64> = nb.iter().map(|&t| exact(t, gamma)).collect();
        // Rung errors of the size the sampled test has (0.004): they weight the fit, not the values.
        let fit = fit_rlct(&nb, &y, &[4e-3; 4]).unwrap();
        println!(
            "{name}: λ = {:.4} ({:+.1}%), m = {:.3} ± {:.3} → {} (true {m}); λ̂ at the rungs {y:.4?}",
            fit.lambda,
            100.0 * (fit.lambda / lam - 1.0),
            fit.multiplicity,
            fit.multiplicity_stderr,
            fit.multiplicity_int
        );
        assert!((fit.lambda - lam).abs() < 0.05 * lam, "{name}: {fit:?}");
        assert_eq!(fit.multiplicity_int, m, "{name}: {fit:?}");
        // The real-valued m is the first-order fit's; it reads low at m = 3 (2.44 here), which is why the
        // integer choice uses the full model (χ²).
        if m > 1 {
            assert!(
                (y[3] - lam).abs() > 0.05 * lam,
                "{name}: the top rung alone is already right"
            );
        }
    }
}

/// The sampled ladder of `kind` on the potential `monos`, one setting for every test: γ = 1, the step
/// the auto rule gives `kind` for SGLD's ε·nβ = 0.05 ([`SamplerKind::auto_step`]), 4 chains × 2e6
/// steps at the base rung (× sqrt(f) above, drifting rungs rerun: the ladder's defaults, without
/// precision extensions), seed 7.
pub fn sampled_ladder(kind: SamplerKind, monos: &[Vec<u32>]) -> LadderRun {
    let p = Potential::new(monos).unwrap();
    let nb0 = base_nbeta();
    let base = kind
        .build(
            kind.auto_step(0.05 / nb0),
            TemperedPosterior {
                nbeta: nb0,
                localization: 1.0,
            },
        )
        .unwrap();
    let steps = 2_000_000;
    let settings = ChainSettings {
        chains: 4,
        draws: 20_000,
        burnin: steps / 10,
        thin: steps / 20_000,
        batch_size: 1,
        seed: 7,
        divergence_radius: 1e3,
        full_loss_every: 0,
        threads: 0,
    };
    run_ladder_detailed(
        &p,
        &vec![0.0; monos[0].len()],
        &base,
        // The fit at these fixed settings (the precision extensions are tested below).
        &LadderSettings {
            max_extensions: 0,
            ..LadderSettings::default()
        },
        &settings,
        &|_| {},
    )
    .unwrap()
}

/// SGLD ladders on the four potentials, one setting for all: γ = 1, ε·nβ = 0.05 on every rung,
/// 4 chains × 2e6 steps at the base rung (× sqrt(f) above, drifting rungs rerun: the ladder's
/// defaults, without precision extensions), seed 7. Bound: 5% of λ and m exact. The bound is the model
/// error (test above, up to +3.4% for (xyz)²) plus the step bias (ε·nβ = 0.05: +1.7% on x² + y⁴) plus
/// sampling (λ's stderr 0.002–0.004). Measured at seed 7: +0.9%, +0.7%, +0.6%, +4.2%. For (xyz)² the
/// margin is 1.2 stderr (0.0039 of 0.025), so another seed would fail about 12% of the time: that
/// case holds the bar at this seed, not with room; the model error is most of it. Twins: on
/// the singular cases the single-temperature λ̂ at the base nβ is rejected by the same 5% bound (it
/// is the fit's input, so it can fail once the fit passed). On x²+y⁴ (m = 1) the one-temperature
/// λ̂ is right, and every plausible wrong λ is more than twice the bound away, so no wrong value can
/// fail the 5% bound once the main check passed; the twin there is the nearest, x²+y⁶'s 2/3 (−11%),
/// rejected at 4 of the fit's standard errors: given the main check it fails only when the stderr
/// is above 0.0115 (5.5 times the measured 0.0021), where the 5% bound would be only 3.3 standard
/// errors wide. (The λ ± 25% twins could never fail once the 5% check passed: removed.)
fn sampled_case(which: usize) {
    let gamma = 1.0;
    let (name, monos, lam, m, exact) = cases().swap_remove(which);
    let run = sampled_ladder(SamplerKind::Sgld, &monos);
    let fit = &run.rlct;
    for r in &run.rungs {
        println!(
            "  nβ = {:.0}: λ̂ = {:.4} ± {:.4} (exact at this nβ: {:.4}), R-hat {:.3}",
            r.nbeta,
            r.llc.mean,
            r.llc.stderr,
            exact(r.nbeta, gamma),
            r.llc.rhat
        );
    }
    println!(
        "{name}: λ = {:.4} ± {:.4} ({:+.1}%), m = {:.3} ± {:.3} → {} (true {m}), χ² = {:.2}",
        fit.lambda,
        fit.stderr,
        100.0 * (fit.lambda / lam - 1.0),
        fit.multiplicity,
        fit.multiplicity_stderr,
        fit.multiplicity_int,
        fit.chi2
    );
    assert!((fit.lambda - lam).abs() < 0.05 * lam, "{name}: {fit:?}");
    assert_eq!(fit.multiplicity_int, m, "{name}: {fit:?}");
    if m > 1 {
        assert!((run.rungs[0].llc.mean - lam).abs() > 0.05 * lam);
    }
    if name == "x²+y⁴" {
        // Can fail: |λ̂ − 2/3| ≥ 0.0833 − 0.0375 = 0.046 after the main check, ≤ 4·stderr when
        // stderr ≥ 0.0115.
        assert!(
            (fit.lambda - 2.0 / 3.0).abs() > 4.0 * fit.stderr,
            "{name}: x²+y⁶'s λ is not rejected: {fit:?}"
        );
    }
}

#[test]
fn sampled_ladder_x2_plus_y4() {
    sampled_case(0);
}

#[test]
fn sampled_ladder_x2y2() {
    sampled_case(1);
}

#[test]
fn sampled_ladder_x4y4() {
    sampled_case(2);
}

#[test]
fn sampled_ladder_xyz_squared() {
    sampled_case(3);
}

/// The ladder's unit-information localization on K = c|w|² (d = 3): the loss rises by 1/2 at
/// s² = 1/(2c) along every direction, so γ = 1/s² = 2c exactly (the bisection stops within 1% in s,
/// so 2% in γ; no randomness reaches the answer). Twin: the c = 4 case is the c = 1 case's twin: a
/// rule blind to the loss's scale gives 2 for both, passes c = 1 and fails c = 4 (the check's
/// own 2% bound). (A further check that γ at c = 4 is not 2 followed from its ±2% bound around 8
/// and could never fail: removed.)
#[test]
fn unit_information_localization_reads_the_loss_scale() {
    let mono = vec![vec![2, 0, 0], vec![0, 2, 0], vec![0, 0, 2]];
    for c in [1.0, 4.0] {
        let p = Potential::with_coefficients(&mono, &[c; 3]).unwrap();
        let gamma = unit_information_localization(&p, &[0.0; 3], 3).unwrap();
        assert!(
            (gamma - 2.0 * c).abs() < 0.02 * 2.0 * c,
            "c = {c}: γ = {gamma}"
        );
    }
}

/// The precision extensions on x²y² (γ = 1, short chains: 4 × 100 000 steps at the base rung): the
/// first pass leaves one standard error of m worth more than 3% of λ, so the ladder doubles every
/// rung's draws until it is not (or three times). The first pass is the same run as with
/// `max_extensions = 0` (same seeds), so the two can be compared: each extension doubles the draws,
/// and the uncertainty falls below the unextended run's. Twin: a target that the first pass already
/// meets (100%) extends nothing. Deterministic (fixed seeds); no tolerance is statistical.
#[test]
fn ladder_extends_rungs_until_m_is_pinned() {
    let p = Potential::new(&[vec![2, 2]]).unwrap();
    let nb0 = base_nbeta();
    let base = Sgld::new(
        0.05 / nb0,
        TemperedPosterior {
            nbeta: nb0,
            localization: 1.0,
        },
    )
    .unwrap();
    let settings = ChainSettings {
        chains: 4,
        draws: 1000,
        burnin: 10_000,
        thin: 100,
        batch_size: 1,
        seed: 3,
        divergence_radius: 1e3,
        full_loss_every: 0,
        threads: 0,
    };
    let run = |precision: f64, max_extensions: usize| {
        let ladder = LadderSettings {
            multiplicity_precision: precision,
            max_extensions,
            ..LadderSettings::default()
        };
        run_ladder_detailed(&p, &[0.0, 0.0], &base, &ladder, &settings, &|_| {}).unwrap()
    };
    let first = run(0.03, 0);
    let extended = run(0.03, 3);
    let loose = run(1.0, 3);
    let u0 = first.rlct.multiplicity_uncertainty();
    let u1 = extended.rlct.multiplicity_uncertainty();
    let ext = extended.rungs[0].extensions;
    println!(
        "first pass: λ = {:.4}, m = {:.2} ± {:.2} → {}, uncertainty {u0:.3}; after {ext} extensions: λ = {:.4}, m = {:.2} ± {:.2} → {}, uncertainty {u1:.3}",
        first.rlct.lambda, first.rlct.multiplicity, first.rlct.multiplicity_stderr, first.rlct.multiplicity_int,
        extended.rlct.lambda, extended.rlct.multiplicity, extended.rlct.multiplicity_stderr, extended.rlct.multiplicity_int,
    );
    assert!(u0 > 0.03, "the first pass is already precise: {u0}");
    assert!(ext >= 1, "no extension ran");
    assert!(u1 <= 0.03 || ext == 3, "stopped early: {u1} after {ext}");
    assert!(u1 < u0, "{u1} ≥ {u0}");
    for (a, b) in first.rungs.iter().zip(&extended.rungs) {
        assert_eq!(b.extensions, ext);
        // Draws per chain double with each extension (every chain kept here: no divergence).
        assert_eq!(b.llc.draws, a.llc.draws << ext, "{b:?}");
    }
    assert!(loose.rungs.iter().all(|r| r.extensions == 0));
    assert_eq!(loose.rlct, first.rlct);
}

// The ladder with the other samplers of the family (rungs by `Sampler::tempered`).

/// x² + y⁴ (λ = 3/4, m = 1). Bound: 5% of λ (the SGLD ladder's bar, estimators/tests/ladder.rs) and
/// m exact. Twin: the fit must separate λ from the regular model's d/2 = 1 by more than its bar,
/// and the rungs' λ̂ must be flat in nβ (m = 1): the coldest and warmest rung agree within 4
/// combined stderrs (false-positive rate about 6e-5 for Gaussian errors); a sampler whose rungs
/// were not rescaled to the colder temperature would bias them apart.
fn x2_plus_y4(kind: SamplerKind) {
    let run = sampled_ladder(kind, &[vec![2, 0], vec![0, 4]]);
    let fit = &run.rlct;
    assert!((fit.lambda - 0.75).abs() < 0.05 * 0.75, "{fit:?}");
    assert_eq!(fit.multiplicity_int, 1, "{fit:?}");
    let (warm, cold) = (&run.rungs[0].llc, &run.rungs[3].llc);
    let combined = (warm.stderr.powi(2) + cold.stderr.powi(2)).sqrt();
    assert!(
        (warm.mean - cold.mean).abs() < 4.0 * combined,
        "rungs drift with nβ: {} vs {} (± {combined})",
        warm.mean,
        cold.mean
    );
}

/// x²y² (λ = 1/2, m = 2). Bound: 5% of λ and m exact. Twin (can fail: it depends on the rungs, not
/// on the fit): the single-temperature λ̂ at the base nβ is more than 5% below λ, so the ladder's
/// correction is what brought the fit within its bar.
fn x2y2(kind: SamplerKind) {
    let run = sampled_ladder(kind, &[vec![2, 2]]);
    let fit = &run.rlct;
    assert!((fit.lambda - 0.5).abs() < 0.05 * 0.5, "{fit:?}");
    assert_eq!(fit.multiplicity_int, 2, "{fit:?}");
    assert!(run.rungs[0].llc.mean < 0.95 * 0.5, "{:?}", run.rungs[0].llc);
}

/// Known to fail, kept visible: RMSProp-SGLD's λ̂ on x² + y⁴ rises from 0.780 at the base rung to
/// 0.832 at the coldest (4 chains, seed 7: ± 0.003 each), so the fit reads m = 2 and λ = 0.917 (+22%).
/// SGLD and SGNHT rungs are flat on the same landscape. The omitted ∇·G term (pSGLD's bias, +5.6% on
/// w⁴ at the default decay: sampler/rmsprop_sgld.rs) grows at the colder rungs; an 8× longer
/// memory at the coldest rung (decay 1 − (1 − α)/sqrt(f)) did not remove it (0.825). docs/ladder.md states the limitation.
#[test]
#[ignore = "known limitation: rmsprop-sgld's rungs drift up with nβ on x² + y⁴ (docs/ladder.md)"]
fn rmsprop_ladder_x2_plus_y4() {
    x2_plus_y4(SamplerKind::RmspropSgld);
}

#[test]
fn sgnht_ladder_x2_plus_y4() {
    x2_plus_y4(SamplerKind::Sgnht);
}

#[test]
fn rmsprop_ladder_x2y2() {
    x2y2(SamplerKind::RmspropSgld);
}

#[test]
fn sgnht_ladder_x2y2() {
    x2y2(SamplerKind::Sgnht);
}
