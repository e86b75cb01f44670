//! SGLD against exact stationary expectations on potentials (DESIGN §4), each with a twin that fails on a wrong value.
//!
//! Tolerance: |estimate − exact| < 4 × stderr, where stderr = t · sd(K) / sqrt(ESS) over the pooled
//! chains; a two-sided 4σ bound has a false-positive rate of about 6e-5 (the seeds are fixed, so
//! each test is deterministic; the rate says how unlucky a seed would have to be).

use slt_estimators::chains::{run_chains, ChainSettings};
use slt_estimators::{LlcEstimate, Potential, Sgld, TemperedPosterior};

fn estimate(monomials: &[Vec<u32>], t: f64, eps: f64, steps: usize, seed: u64) -> LlcEstimate {
    let p = Potential::new(monomials).unwrap();
    let d = monomials[0].len();
    let sampler = Sgld::new(
        eps,
        TemperedPosterior {
            nbeta: t,
            localization: 0.0,
        },
    )
    .unwrap();
    let settings = ChainSettings {
        chains: 4,
        draws: steps / 5,
        burnin: steps / 10,
        thin: 5,
        batch_size: 1,
        seed,
        divergence_radius: 1e6,
        full_loss_every: 0,
        threads: 0,
    };
    let traces = run_chains(&p, &sampler, &vec![0.0; d], &settings, &|_| {}).unwrap();
    LlcEstimate::from_traces(&traces, 0.0, t).unwrap()
}

/// K = |w|² in R^5, t = 144.8, ε = 1e-3: SGLD's exact stationary E[tK] = (d/2)/(1 − εt/2) = 2.6954.
#[test]
fn sgld_on_quadratic_matches_its_exact_stationary_value() {
    let (d, t, eps) = (5.0, 144.8, 1e-3);
    let exact = (d / 2.0) / (1.0 - eps * t / 2.0);
    let est = estimate(
        &[
            vec![2, 0, 0, 0, 0],
            vec![0, 2, 0, 0, 0],
            vec![0, 0, 2, 0, 0],
            vec![0, 0, 0, 2, 0],
            vec![0, 0, 0, 0, 2],
        ],
        t,
        eps,
        200_000,
        1,
    );
    assert!(
        (est.mean - exact).abs() < 4.0 * est.stderr,
        "{} vs {exact} ± {}",
        est.mean,
        est.stderr
    );
    assert!(
        est.stderr < 0.02 * exact,
        "the test must be tight: stderr {}",
        est.stderr
    );
    // Twin: the continuous-time value d/2 (no step bias) is rejected: SGLD's bias is resolved.
    assert!(
        (est.mean - d / 2.0).abs() > 4.0 * est.stderr,
        "{} does not reject d/2",
        est.mean
    );
}

/// K = w⁴: E[tK] = 1/4 for every t with a flat prior; SGLD with ε = 3e-4 at t = 1000 gives about 0.2487.
#[test]
fn sgld_on_quartic_gives_one_quarter() {
    let est = estimate(&[vec![4]], 1000.0, 3e-4, 400_000, 2);
    assert!(
        (est.mean - 0.25).abs() < 4.0 * est.stderr + 0.002,
        "{} ± {}",
        est.mean,
        est.stderr
    );
    // Twin: the value of w² (1/2) and of w⁶ (1/6) are rejected.
    assert!((est.mean - 0.5).abs() > 4.0 * est.stderr);
    assert!((est.mean - 1.0 / 6.0).abs() > 4.0 * est.stderr);
}

/// K = w^6: E[tK] = 1/6.
#[test]
fn sgld_on_sextic_gives_one_sixth() {
    let est = estimate(&[vec![6]], 1000.0, 1e-3, 400_000, 3);
    assert!(
        (est.mean - 1.0 / 6.0).abs() < 4.0 * est.stderr + 0.002,
        "{} ± {}",
        est.mean,
        est.stderr
    );
    assert!((est.mean - 0.25).abs() > 4.0 * est.stderr);
}

#[test]
fn diverged_chains_are_counted_and_excluded() {
    let p = Potential::new(&[vec![2]]).unwrap();
    // ε · t = 10 > 4: the drift overshoots and every chain explodes.
    let sampler = Sgld::new(
        1e-2,
        TemperedPosterior {
            nbeta: 1000.0,
            localization: 0.0,
        },
    )
    .unwrap();
    let settings = ChainSettings {
        chains: 3,
        draws: 100,
        burnin: 0,
        thin: 1,
        batch_size: 1,
        seed: 0,
        divergence_radius: 1e3,
        full_loss_every: 0,
        threads: 1,
    };
    let traces = run_chains(&p, &sampler, &[0.0], &settings, &|_| {}).unwrap();
    assert!(traces.iter().all(|t| t.divergence.is_some()));
    let err = LlcEstimate::from_traces(&traces, 0.0, 1000.0).unwrap_err();
    assert!(err.to_string().contains("all 3 chains diverged"), "{err}");
    let mut mixed = traces.clone();
    mixed[0].divergence = None;
    mixed[0].losses = vec![0.001; 10];
    let est = LlcEstimate::from_traces(&mixed, 0.0, 1000.0).unwrap();
    assert_eq!(est.diverged_chains, 2);
    assert_eq!(est.per_chain.len(), 1);
}

#[test]
fn same_seed_same_numbers_whatever_the_threads() {
    let p = Potential::new(&[vec![2, 0], vec![0, 4]]).unwrap();
    let sampler = Sgld::new(
        1e-4,
        TemperedPosterior {
            nbeta: 100.0,
            localization: 1.0,
        },
    )
    .unwrap();
    let mut settings = ChainSettings {
        chains: 3,
        draws: 200,
        burnin: 10,
        thin: 2,
        batch_size: 1,
        seed: 9,
        divergence_radius: 1e3,
        full_loss_every: 0,
        threads: 1,
    };
    let a = run_chains(&p, &sampler, &[0.0, 0.0], &settings, &|_| {}).unwrap();
    settings.threads = 3;
    let b = run_chains(&p, &sampler, &[0.0, 0.0], &settings, &|_| {}).unwrap();
    assert_eq!(a, b);
    assert_ne!(a[0].losses, a[1].losses, "chains need distinct streams");
}
