//! The temperature ladder with every sampler of the family: RMSProp-SGLD and SGNHT rungs (`Sampler::tempered`) on normal crossings with known λ and m.

use slt_estimators::chains::ChainSettings;
use slt_estimators::ladder::{run_ladder_detailed, LadderRun, LadderSettings};
use slt_estimators::{Potential, SamplerKind, TemperedPosterior};

/// nβ of the base rung: n / ln n at n = 3000 (374.7); the ladder is [1, 4, 16, 64], γ = 1.
fn base_nbeta() -> f64 {
    3000.0 / 3000f64.ln()
}

/// The ladder of `kind` on the potential `monos` at the settings of estimators/tests/ladder.rs
/// (γ = 1, 4 chains × 2e6 steps at the base rung, seed 7, no precision extensions), with the step
/// the auto rule would give each sampler for SGLD's ε·nβ = 0.05 ([`SamplerKind::auto_step`]).
fn ladder(kind: SamplerKind, monos: &[Vec<u32>]) -> LadderRun {
    let p = Potential::new(monos).unwrap();
    let d = monos[0].len();
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
    let run = run_ladder_detailed(
        &p,
        &vec![0.0; d],
        &base,
        &LadderSettings {
            max_extensions: 0,
            ..LadderSettings::default()
        },
        &settings,
        &|_| {},
    )
    .unwrap();
    for r in &run.rungs {
        println!(
            "  {}: nβ = {:.0}, ε = {:.3e}: λ̂ = {:.4} ± {:.4}, R-hat {:.3}",
            kind.name(),
            r.nbeta,
            r.step_size,
            r.llc.mean,
            r.llc.stderr,
            r.llc.rhat
        );
    }
    let f = &run.rlct;
    println!(
        "{}: λ = {:.4} ± {:.4}, m = {:.3} ± {:.3} → {}, χ² = {:.2}",
        kind.name(),
        f.lambda,
        f.stderr,
        f.multiplicity,
        f.multiplicity_stderr,
        f.multiplicity_int,
        f.chi2
    );
    run
}

/// x² + y⁴ (λ = 3/4, m = 1). Bound: 5% of λ (the SGLD ladder's bar, estimators/tests/ladder.rs) and
/// m exact. Twin: the fit must separate λ from the regular model's d/2 = 1 by more than its bar,
/// and the rungs' λ̂ must be flat in nβ (m = 1): the coldest and warmest rung agree within 4
/// combined stderrs (false-positive rate about 6e-5 for Gaussian errors); a sampler whose rungs
/// were not rescaled to the colder temperature would bias them apart.
fn x2_plus_y4(kind: SamplerKind) {
    let run = ladder(kind, &[vec![2, 0], vec![0, 4]]);
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
    let run = ladder(kind, &[vec![2, 2]]);
    let fit = &run.rlct;
    assert!((fit.lambda - 0.5).abs() < 0.05 * 0.5, "{fit:?}");
    assert_eq!(fit.multiplicity_int, 2, "{fit:?}");
    assert!(run.rungs[0].llc.mean < 0.95 * 0.5, "{:?}", run.rungs[0].llc);
}

/// Known to fail, kept visible: RMSProp-SGLD's λ̂ on x² + y⁴ rises from 0.780 at the base rung to
/// 0.832 at the coldest (4 chains, seed 7: ± 0.003 each), so the fit reads m = 2 and λ = 0.917 (+22%).
/// SGLD and SGNHT rungs are flat on the same landscape. The omitted ∇·G term (pSGLD's bias, +5.6% on
/// w⁴ at the default decay: sampler/rmsprop_sgld.rs) grows at the colder rungs; a 4× longer
/// memory at the coldest rung did not remove it (0.825). docs/ladder.md states the limitation.
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
