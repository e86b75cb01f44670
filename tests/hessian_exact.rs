//! The fast landscapes' exact Hessian-vector products (tangents through the backward pass) against central differences of their gradients.
//!
//! Central differences with step h = 1e-5 along a unit vector carry a truncation error of order
//! h² · (third derivative) ≈ 1e-10 and a rounding error of order 1e-16 / h ≈ 1e-11, both relative to
//! the gradient's scale: a gap above 1e-6 of ‖Hv‖∞ is a wrong product, not noise. A ReLU kink within
//! h of some pre-activation would break the difference (not the exact product); at the random
//! points used here the chance of that is below 1% per point (a few hundred pre-activations, each
//! within 1e-5 of zero with probability about 1e-5), and the seeds are fixed.

mod common;

use common::{problem_with, random_point};
use slt::config::ValidConfig;
use slt::models::{BurnLandscape, Problem};
use slt_estimators::hessian::{
    dense_hessian, hessian_spectrum, HessianSettings, ProductMethod, SpectrumMethod,
};
use slt_estimators::{Batch, Landscape};

/// The central difference of the gradient along v (step 1e-5 along v/‖v‖, rescaled).
fn difference_product<L: Landscape>(l: &L, w: &[f64], v: &[f64], batch: Batch<'_>) -> Vec<f64> {
    let d = w.len();
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let h = 1e-5 / norm;
    let (mut gp, mut gm) = (vec![0.0; d], vec![0.0; d]);
    let wp: Vec<f64> = w.iter().zip(v).map(|(a, b)| a + h * b).collect();
    let wm: Vec<f64> = w.iter().zip(v).map(|(a, b)| a - h * b).collect();
    let mut ws = l.workspace();
    l.loss_and_grad(&wp, batch, &mut gp, &mut ws);
    l.loss_and_grad(&wm, batch, &mut gm, &mut ws);
    gp.iter()
        .zip(&gm)
        .map(|(a, b)| (a - b) / (2.0 * h))
        .collect()
}

/// Largest gap between the exact product and the difference, relative to ‖Hv‖∞.
fn gap<L: Landscape>(l: &L, w: &[f64], v: &[f64], batch: Batch<'_>) -> f64 {
    let mut exact = vec![0.0; w.len()];
    assert!(
        l.hessian_vector_product(w, v, batch, &mut exact, &mut l.workspace()),
        "the fast landscape must have exact products"
    );
    let fd = difference_product(l, w, v, batch);
    let scale = exact.iter().fold(1e-12f64, |m, x| m.max(x.abs()));
    exact
        .iter()
        .zip(&fd)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
        / scale
}

fn check_all_batches(p: &Problem, scale: f64) {
    let l = p.landscape();
    let d = l.dim();
    let indices = [5usize, 0, 17, 63, 5, 40];
    for seed in 0..3 {
        let w = random_point(d, scale, seed);
        let v = random_point(d, 1.0, 100 + seed);
        for batch in [Batch::Full, Batch::Indices(&indices)] {
            let g = gap(&l, &w, &v, batch);
            assert!(g < 1e-6, "seed {seed}, {batch:?}: relative gap {g}");
        }
    }
    // The twin: the product along another vector is told apart by the same measure.
    let w = random_point(d, scale, 7);
    let (v, u) = (random_point(d, 1.0, 8), random_point(d, 1.0, 9));
    let mut exact = vec![0.0; d];
    l.hessian_vector_product(&w, &v, Batch::Full, &mut exact, &mut l.workspace());
    let other = difference_product(&l, &w, &u, Batch::Full);
    let scale = exact.iter().fold(1e-12f64, |m, x| m.max(x.abs()));
    let wrong = exact
        .iter()
        .zip(&other)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
        / scale;
    assert!(wrong > 1e-2, "the comparison must be able to fail: {wrong}");
}

#[test]
fn deep_linear_products_are_exact() {
    // Full batch through the second moments (n ≥ input width), minibatches point by point.
    check_all_batches(
        &problem_with("kind = \"dln\"\nwidths = [4, 3, 2, 3]", 64, ""),
        0.7,
    );
    // Noisy targets: the residual term is not zero.
    check_all_batches(
        &problem_with("kind = \"dln\"\nwidths = [3, 4, 4, 2]", 64, "noise = 0.3\n"),
        0.9,
    );
}

#[test]
fn superposition_products_are_exact() {
    check_all_batches(
        &problem_with("kind = \"tms\"\nfeatures = 5\nhidden = 2", 64, ""),
        0.5,
    );
}

#[test]
fn mlp_products_are_exact() {
    check_all_batches(
        &problem_with("kind = \"mlp\"\nwidths = [3, 6, 5, 2]", 64, ""),
        0.6,
    );
    // More points than one chunk of 256.
    check_all_batches(
        &problem_with("kind = \"mlp\"\nwidths = [4, 8, 3]", 600, ""),
        0.6,
    );
}

#[test]
fn classifier_products_are_exact() {
    // Softmax cross-entropy head (modadd: one-hot pairs, 96 training pairs of 121).
    let text = "name = \"hvp\"\nseed = 5\n[model]\nkind = \"modadd\"\nmodulus = 11\nhidden = [6]\n[data]\ntrain_fraction = 0.8\n";
    let p = ValidConfig::from_toml(text).unwrap().problem();
    check_all_batches(&p, 0.6);
}

/// The dense Hessian from exact products is symmetric before symmetrization to rounding (a
/// difference quotient is only symmetric to ~1e-6), and the spectrum says which products made it;
/// the generic burn landscape has none and falls back to differences.
#[test]
fn spectrum_records_how_products_were_made() {
    let p = problem_with("kind = \"mlp\"\nwidths = [3, 5, 2]", 64, "");
    let l = p.landscape();
    let d = l.dim();
    let w = random_point(d, 0.6, 3);
    let mut ws = l.workspace();
    let mut cols = vec![vec![0.0; d]; d];
    let mut e = vec![0.0; d];
    for (j, col) in cols.iter_mut().enumerate() {
        e[j] = 1.0;
        l.hessian_vector_product(&w, &e, Batch::Full, col, &mut ws);
        e[j] = 0.0;
    }
    let scale = cols.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
    let asym = (0..d)
        .flat_map(|i| (0..d).map(move |j| (i, j)))
        .map(|(i, j)| (cols[j][i] - cols[i][j]).abs())
        .fold(0.0, f64::max);
    assert!(asym < 1e-12 * scale, "asymmetry {asym} of {scale}");
    let (_, products) = dense_hessian(&l, &w, Batch::Full).unwrap();
    assert_eq!(products, ProductMethod::Exact);
    let settings = HessianSettings::default();
    let s = hessian_spectrum(&l, &w, Batch::Full, &settings, 0).unwrap();
    assert_eq!(
        (s.method, s.products),
        (SpectrumMethod::Dense, ProductMethod::Exact)
    );
    let burn = BurnLandscape::new(p.shape.clone().unwrap(), p.train.clone().unwrap());
    let sb = hessian_spectrum(&burn, &w, Batch::Full, &settings, 0).unwrap();
    assert_eq!(sb.products, ProductMethod::FiniteDifference);
    // burn computes in f32: its difference Hessian agrees with the exact one to f32's accuracy.
    let top = (s.eigenvalues[0] - sb.eigenvalues[0]).abs() / s.eigenvalues[0];
    assert!(
        top < 1e-2,
        "top eigenvalue {} vs {}",
        s.eigenvalues[0],
        sb.eigenvalues[0]
    );
}

/// Benchmark, not a timed test (`cargo test --release --test hessian_exact -- --ignored
/// --nocapture`): the exact dense Hessian and every eigenvalue of a 2074-parameter MLP on 1000
/// points, and of a 2000-parameter deep linear network.
#[test]
#[ignore]
fn bench_exact_spectrum_2000_parameters() {
    for (model, n) in [
        ("kind = \"mlp\"\nwidths = [20, 40, 24, 10]", 1000),
        ("kind = \"dln\"\nwidths = [20, 25, 20, 20, 20, 10]", 1000),
    ] {
        let p = problem_with(model, n, "");
        let l = p.landscape();
        let d = l.dim();
        let w = p
            .reference_point
            .clone()
            .unwrap_or_else(|| random_point(d, 0.3, 1));
        let settings = HessianSettings {
            dense_max_dim: 4000,
            ..HessianSettings::default()
        };
        let t = std::time::Instant::now();
        let s = hessian_spectrum(&l, &w, Batch::Full, &settings, 0).unwrap();
        println!(
            "{}: d = {d}, n = {n}: exact dense Hessian + all eigenvalues in {:.2} s (top {:.4}, rank {}, {:?})",
            model.replace('\n', " "),
            t.elapsed().as_secs_f64(),
            s.eigenvalues[0],
            s.rank_estimate,
            s.products
        );
    }
}
