//! Each fast landscape (hand-written backward pass) agrees with the burn network's loss and autodiff gradient.
//!
//! burn computes in f32, the fast landscapes in f64: the tolerance is 1e-4 relative to the gradient's
//! largest entry (f32 rounding over sums of at most a few hundred terms stays below 1e-5).

mod common;

use common::{problem_with, random_point};
use slt::config::ValidConfig;
use slt::models::{BurnLandscape, Problem};
use slt_estimators::{Batch, Landscape};

fn problem(model: &str) -> Problem {
    problem_n(model, 64)
}

fn problem_n(model: &str, n: usize) -> Problem {
    problem_with(model, n, "")
}

/// Compares loss and gradient at `w` on the full batch and on a minibatch; returns the largest relative gap.
fn compare(problem: &Problem, w: &[f64]) -> f64 {
    let fast = problem.landscape();
    let burn = BurnLandscape::new(
        problem.shape.clone().unwrap(),
        problem.train.clone().unwrap(),
    );
    assert_eq!(fast.dim(), burn.dim());
    let d = fast.dim();
    let indices = [5usize, 0, 17, 63, 5, 40];
    let mut worst: f64 = 0.0;
    for batch in [Batch::Full, Batch::Indices(&indices)] {
        let (mut g_fast, mut g_burn) = (vec![0.0; d], vec![0.0; d]);
        let l_fast = fast.loss_and_grad(w, batch, &mut g_fast, &mut fast.workspace());
        let l_burn = burn.loss_and_grad(w, batch, &mut g_burn, &mut ());
        let l_plain = fast.loss(w, batch, &mut fast.workspace());
        assert!(
            (l_fast - l_plain).abs() <= 1e-12 * l_fast.abs().max(1.0),
            "loss and loss_and_grad disagree"
        );
        worst = worst.max((l_fast - l_burn).abs() / l_fast.abs().max(1e-3));
        let scale = g_fast.iter().fold(1e-3f64, |m, g| m.max(g.abs()));
        for (a, b) in g_fast.iter().zip(&g_burn) {
            worst = worst.max((a - b).abs() / scale);
        }
    }
    worst
}

#[test]
fn deep_linear_fast_landscape_matches_burn() {
    let p = problem("kind = \"dln\"\nwidths = [4, 3, 2, 3]");
    let d = p.landscape().dim();
    for seed in 0..3 {
        let gap = compare(&p, &random_point(d, 0.7, seed));
        assert!(gap < 1e-4, "relative gap {gap}");
    }
    // The twin: a landscape of different data is caught by the same comparison.
    let mut other = p.clone();
    other
        .train
        .as_mut()
        .unwrap()
        .targets
        .iter_mut()
        .for_each(|y| *y += 0.1);
    let fast = other.landscape();
    let burn = BurnLandscape::new(p.shape.clone().unwrap(), p.train.clone().unwrap());
    let w = random_point(d, 0.7, 9);
    let (mut a, mut b) = (vec![0.0; d], vec![0.0; d]);
    let la = fast.loss_and_grad(&w, Batch::Full, &mut a, &mut fast.workspace());
    let lb = burn.loss_and_grad(&w, Batch::Full, &mut b, &mut ());
    assert!(
        (la - lb).abs() / la > 1e-3,
        "the comparison must be able to fail"
    );
}

#[test]
fn superposition_fast_landscape_matches_burn() {
    let p = problem("kind = \"tms\"\nfeatures = 5\nhidden = 2");
    let d = p.landscape().dim();
    for seed in 0..3 {
        // Biases around zero put some ReLUs on each side.
        let gap = compare(&p, &random_point(d, 0.5, seed));
        assert!(gap < 1e-4, "relative gap {gap}");
    }
}

#[test]
fn mlp_fast_landscape_matches_burn() {
    let p = problem("kind = \"mlp\"\nwidths = [3, 6, 5, 2]");
    let d = p.landscape().dim();
    for seed in 0..3 {
        let gap = compare(&p, &random_point(d, 0.6, seed));
        assert!(gap < 1e-4, "relative gap {gap}");
    }
    // At the teacher (the reference point) the loss is zero on both paths.
    let w = p.reference_point.clone().unwrap();
    let burn = BurnLandscape::new(p.shape.clone().unwrap(), p.train.clone().unwrap());
    assert!(burn.loss(&w, Batch::Full, &mut ()) < 1e-10);
}

#[test]
fn mlp_batches_larger_than_one_chunk_match_burn() {
    // 600 points: the fast landscape works in chunks of 256 and must add them up exactly.
    let p = problem_n("kind = \"mlp\"\nwidths = [4, 8, 3]", 600);
    let d = p.landscape().dim();
    let gap = compare(&p, &random_point(d, 0.6, 4));
    assert!(gap < 1e-4, "relative gap {gap}");
}

#[test]
fn mlp_in_f32_matches_burn() {
    // llc.precision = "f32": the same products in f32 (burn computes in f32 too).
    use slt::models::{FastLandscape, Precision};
    let p = problem_n("kind = \"mlp\"\nwidths = [5, 16, 3]", 300);
    let FastLandscape::Mlp(l64) = p.landscape() else {
        panic!("an mlp")
    };
    let l32 = l64.clone().with_precision(Precision::F32);
    let burn = BurnLandscape::new(p.shape.clone().unwrap(), p.train.clone().unwrap());
    let d = l32.dim();
    let w = random_point(d, 0.6, 7);
    let (mut g32, mut gb, mut g64) = (vec![0.0; d], vec![0.0; d], vec![0.0; d]);
    let v32 = l32.loss_and_grad(&w, Batch::Full, &mut g32, &mut l32.workspace());
    let vb = burn.loss_and_grad(&w, Batch::Full, &mut gb, &mut ());
    let v64 = l64.loss_and_grad(&w, Batch::Full, &mut g64, &mut l64.workspace());
    let scale = g64.iter().fold(1e-3f64, |m, g| m.max(g.abs()));
    let gap32 = g32
        .iter()
        .zip(&gb)
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0.0, f64::max);
    assert!(
        (v32 - vb).abs() / vb < 1e-4 && gap32 < 1e-4,
        "f32 vs burn: {v32} {vb}, grad gap {gap32}"
    );
    // And f32 is not f64: the rounding is visible, at the f32 level.
    let gap64 = g32
        .iter()
        .zip(&g64)
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0.0, f64::max);
    assert!(
        gap64 > 0.0 && gap64 < 1e-4 && (v32 - v64).abs() / v64 < 1e-5,
        "{gap64}"
    );
}

#[test]
fn deep_linear_full_batch_from_second_moments_matches_the_points() {
    // Batch::Full goes through XᵀX and the least-squares map (cost independent of n); every index
    // listed goes point by point. Noisy targets, so the residual term c is not zero.
    let text = "name = \"m\"\nseed = 2\n[model]\nkind = \"dln\"\nwidths = [4, 3, 3, 2]\n[data]\nn = 700\nteacher_rank = 1\nnoise = 0.3\n";
    let p = ValidConfig::from_toml(text).unwrap().problem();
    let l = p.landscape();
    let d = l.dim();
    let all: Vec<usize> = (0..700).collect();
    for (seed, scale) in [(0, 0.5), (1, 1.5)] {
        let w = random_point(d, scale, seed);
        let (mut g_full, mut g_pts) = (vec![0.0; d], vec![0.0; d]);
        let a = l.loss_and_grad(&w, Batch::Full, &mut g_full, &mut l.workspace());
        let b = l.loss_and_grad(&w, Batch::Indices(&all), &mut g_pts, &mut l.workspace());
        assert!((a - b).abs() <= 1e-10 * b, "loss {a} vs {b}");
        assert!((l.loss(&w, Batch::Full, &mut l.workspace()) - a).abs() <= 1e-14 * a);
        let scale = g_pts.iter().fold(1e-12f64, |m, g| m.max(g.abs()));
        let gap = g_full
            .iter()
            .zip(&g_pts)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
            / scale;
        assert!(gap < 1e-10, "gradient gap {gap}");
    }
    // At the teacher's minimal point with noiseless data the loss is the rounding floor.
    let q = problem("kind = \"dln\"\nwidths = [4, 3, 2, 3]");
    let w = q.reference_point.clone().unwrap();
    assert!(
        q.landscape()
            .loss(&w, Batch::Full, &mut q.landscape().workspace())
            < 1e-25
    );
}

/// A modular-addition problem mod `p` (one hidden layer of 6), `frac` of the p² pairs for training.
fn modadd(p: usize, frac: f64) -> Problem {
    let text = format!(
        "name = \"m\"\nseed = 4\n[model]\nkind = \"modadd\"\nmodulus = {p}\nhidden = [6]\n[data]\ntrain_fraction = {frac}\n"
    );
    ValidConfig::from_toml(&text).unwrap().problem()
}

#[test]
fn modadd_cross_entropy_landscape_matches_burn() {
    // 11² · 0.6 = 73 training pairs (the comparison's minibatch reaches index 63).
    let p = modadd(11, 0.6);
    assert_eq!(p.n, 73);
    assert_eq!(p.test.as_ref().unwrap().len(), 121 - 73);
    let d = p.landscape().dim();
    assert_eq!(d, 22 * 6 + 6 + 6 * 11 + 11);
    for seed in 0..3 {
        // Logits of order a few: the softmax is neither uniform nor saturated.
        let gap = compare(&p, &random_point(d, 0.8, seed));
        assert!(gap < 1e-4, "relative gap {gap}");
    }
    let data = p.train.clone().unwrap();
    let widths = [22, 6, 11];
    // One-hot inputs take the sparse first layer; the same inputs made dense (zeros → 1e-300) take
    // the matrix product, and agree.
    let sparse =
        slt::models::MlpLandscape::classifier(&widths, data.inputs.clone(), data.targets.clone());
    let dense_inputs: Vec<f64> = data
        .inputs
        .iter()
        .map(|&x| if x == 0.0 { 1e-300 } else { x })
        .collect();
    let dense = slt::models::MlpLandscape::classifier(&widths, dense_inputs, data.targets.clone());
    let w = random_point(d, 0.8, 5);
    let (mut gs, mut gd) = (vec![0.0; d], vec![0.0; d]);
    let ls = sparse.loss_and_grad(
        &w,
        Batch::Indices(&[3, 3, 70, 0]),
        &mut gs,
        &mut sparse.workspace(),
    );
    let ld = dense.loss_and_grad(
        &w,
        Batch::Indices(&[3, 3, 70, 0]),
        &mut gd,
        &mut dense.workspace(),
    );
    assert!((ls - ld).abs() <= 1e-12 * ld, "{ls} {ld}");
    assert!(gs
        .iter()
        .zip(&gd)
        .all(|(a, b)| (a - b).abs() <= 1e-12 * (1.0 + b.abs())));
    // The twin: the same network read by the squared-error head (the MLP's) disagrees with burn's
    // cross-entropy, so the comparison can fail.
    let mse = slt::models::MlpLandscape::new(&widths, data.inputs.clone(), data.targets.clone());
    let burn = BurnLandscape::new(p.shape.clone().unwrap(), data);
    let w = random_point(d, 0.8, 9);
    let (mut a, mut b) = (vec![0.0; d], vec![0.0; d]);
    let la = mse.loss_and_grad(&w, Batch::Full, &mut a, &mut mse.workspace());
    let lb = burn.loss_and_grad(&w, Batch::Full, &mut b, &mut ());
    assert!(
        (la - lb).abs() / lb > 1e-2,
        "the comparison must be able to fail"
    );
}

#[test]
fn modadd_f32_landscape_matches_f64() {
    use slt::models::{FastLandscape, Precision};
    let p = modadd(11, 0.6);
    let FastLandscape::Mlp(l64) = p.landscape() else {
        panic!("modadd has the MLP's landscape")
    };
    let l32 = l64.clone().with_precision(Precision::F32);
    let d = l64.dim();
    let w = random_point(d, 0.8, 3);
    let (mut g32, mut g64) = (vec![0.0; d], vec![0.0; d]);
    let v32 = l32.loss_and_grad(&w, Batch::Full, &mut g32, &mut l32.workspace());
    let v64 = l64.loss_and_grad(&w, Batch::Full, &mut g64, &mut l64.workspace());
    let scale = g64.iter().fold(1e-3f64, |m, g| m.max(g.abs()));
    let gap = g32
        .iter()
        .zip(&g64)
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0.0, f64::max);
    assert!(
        (v32 - v64).abs() / v64 < 1e-5 && gap < 1e-4,
        "{v32} {v64} {gap}"
    );
}

/// Central finite differences of `l`'s full-batch loss along each coordinate.
fn finite_difference_gradient<L: Landscape>(l: &L, w: &[f64], h: f64) -> Vec<f64> {
    let mut ws = l.workspace();
    let mut x = w.to_vec();
    (0..w.len())
        .map(|i| {
            x[i] = w[i] + h;
            let up = l.loss(&x, Batch::Full, &mut ws);
            x[i] = w[i] - h;
            let down = l.loss(&x, Batch::Full, &mut ws);
            x[i] = w[i];
            (up - down) / (2.0 * h)
        })
        .collect()
}

#[test]
fn modadd_behavioural_kl_is_zero_at_w_star_positive_elsewhere_with_the_right_gradient() {
    let p = modadd(7, 0.5);
    let data = p.train.clone().unwrap();
    let widths = [14, 6, 7];
    let d = p.landscape().dim();
    let center = random_point(d, 0.8, 11);
    let kl = slt::commands::volume::kl_landscape(&widths, &data, &center);
    let mut ws = kl.workspace();
    // 0 at w* (to rounding), with a vanishing gradient: w* is the KL's minimum.
    let mut g = vec![0.0; d];
    let at_center = kl.loss_and_grad(&center, Batch::Full, &mut g, &mut ws);
    assert!(at_center.abs() < 1e-12, "KL at w* = {at_center}");
    assert!(g.iter().all(|x| x.abs() < 1e-12), "gradient at w*");
    // Positive at other points, and its gradient is the finite-difference one.
    for seed in 0..3 {
        let w: Vec<f64> = center
            .iter()
            .zip(random_point(d, 0.3, 20 + seed))
            .map(|(c, u)| c + u)
            .collect();
        let value = kl.loss_and_grad(&w, Batch::Full, &mut g, &mut ws);
        assert!(value > 1e-4, "KL {value} away from w*");
        let fd = finite_difference_gradient(&kl, &w, 1e-6);
        let scale = g.iter().fold(1e-6f64, |m, x| m.max(x.abs()));
        let gap = g
            .iter()
            .zip(&fd)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
            / scale;
        assert!(gap < 1e-6, "gradient vs finite differences: {gap}");
        // The twin: the training cross-entropy's gradient at the same point is not the KL's.
        let ce = p.landscape();
        let mut g_ce = vec![0.0; d];
        ce.loss_and_grad(&w, Batch::Full, &mut g_ce, &mut ce.workspace());
        let other = g_ce
            .iter()
            .zip(&fd)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
            / scale;
        assert!(
            other > 1e-2,
            "the finite-difference check must be able to fail"
        );
    }
}
