//! Checks of the stacked landscape against the fast (CPU) path, on any burn device: tests/stacked.rs runs them on ndarray, tests/gpu.rs on wgpu.

use burn::tensor::Device;
use slt::models::{Problem, StackedLandscape};
use slt_estimators::chains::{run_chains, ChainSettings};
use slt_estimators::landscape::full_loss;
use slt_estimators::{Batch, Landscape, LlcEstimate, Sgld, TemperedPosterior};

use super::{problem_with, random_point};

/// Relative tolerance of the loss and gradient comparisons: the stacked landscape computes in f32,
/// the fast one in f64; f32 rounding over sums of at most a few hundred terms stays below 1e-5 of
/// the largest entry, so 1e-4 (of the gradient's largest entry, and of max(|loss|, 1e-3)) has
/// headroom while a moved point or a wrong gradient (1e-2 and more) stands far outside it.
pub const F32_TOLERANCE: f64 = 1e-4;

/// Combined standard errors within which two λ̂ of the same posterior must agree: with correct,
/// normal errors the false-positive rate is 2Φ(−4) ≈ 6·10⁻⁵.
pub const AGREE_SIGMAS: f64 = 4.0;

/// The largest relative gaps (loss, gradient) between the stacked landscape's chain c and the fast
/// landscape at `compare_to[c]`, where the stacked chains sit at `points`, on the full batch and on
/// a minibatch.
pub fn gaps(
    problem: &Problem,
    device: &Device,
    points: &[Vec<f64>],
    compare_to: &[Vec<f64>],
) -> (f64, f64) {
    let fast = problem.landscape();
    let stacked = StackedLandscape::new(
        problem.shape.as_ref().unwrap(),
        problem.train.as_ref().unwrap(),
        device,
    )
    .unwrap();
    assert_eq!(stacked.dim(), fast.dim());
    let d = fast.dim();
    let refs: Vec<&[f64]> = points.iter().map(|p| p.as_slice()).collect();
    let params = stacked.params_from_flat(&refs).unwrap();
    // The flat round trip is exact up to f32 rounding.
    for (a, b) in stacked.params_to_flat(&params).unwrap().iter().zip(points) {
        let worst = a
            .iter()
            .zip(b)
            .fold(0.0f64, |m, (x, y)| m.max((x - y).abs() / y.abs().max(1.0)));
        assert!(worst < 1e-6, "flat round trip off by {worst}");
    }
    let indices = [5usize, 0, 17, 63, 5, 40, 99, 2];
    let (mut loss_gap, mut grad_gap) = (0.0f64, 0.0f64);
    for ix in [None, Some(&indices[..])] {
        let batch = stacked.batch(ix).unwrap();
        let (losses, grads) = stacked.loss_and_grad(&params, &batch);
        let losses: Vec<f32> = losses.try_to_vec_as::<f32>().unwrap();
        let plain: Vec<f32> = stacked
            .loss(&params, &batch)
            .try_to_vec_as::<f32>()
            .unwrap();
        let grads = stacked.params_to_flat(&grads).unwrap();
        for (c, w) in compare_to.iter().enumerate() {
            let fb = match ix {
                None => Batch::Full,
                Some(i) => Batch::Indices(i),
            };
            let mut g = vec![0.0; d];
            let l = fast.loss_and_grad(w, fb, &mut g, &mut fast.workspace());
            let scale = l.abs().max(1e-3);
            loss_gap = loss_gap
                .max((l - losses[c] as f64).abs() / scale)
                .max((l - plain[c] as f64).abs() / scale);
            let gscale = g.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
            for (a, b) in g.iter().zip(&grads[c]) {
                grad_gap = grad_gap.max((a - b).abs() / gscale);
            }
        }
    }
    (loss_gap, grad_gap)
}

/// The models the agreement checks use: an MLP and a deep linear network.
pub const MODELS: [&str; 2] = [
    "kind = \"mlp\"\nwidths = [5, 8, 6, 3]",
    "kind = \"dln\"\nwidths = [4, 3, 2, 3]",
];

/// Checks loss and gradient at `chains` random points of each model on `device`, and the twins:
/// a point moved by 0.05 in one coordinate, and the chains' order swapped, are both detected.
/// Returns the largest (loss, gradient) gaps seen where they should agree.
pub fn check_landscapes(device: &Device, chains: usize) -> (f64, f64) {
    let mut worst = (0.0f64, 0.0f64);
    for model in MODELS {
        let problem = problem_with(model, 128, "");
        let d = problem.landscape().dim();
        let points: Vec<Vec<f64>> = (0..chains)
            .map(|c| random_point(d, 0.7, 10 + c as u64))
            .collect();
        let (l, g) = gaps(&problem, device, &points, &points);
        assert!(
            l < F32_TOLERANCE && g < F32_TOLERANCE,
            "{model}: loss gap {l:.2e}, gradient gap {g:.2e}"
        );
        worst = (worst.0.max(l), worst.1.max(g));
        // Twin 1: one chain's point moved by 0.05 in one coordinate.
        let mut moved = points.clone();
        moved[chains - 1][d / 2] += 0.05;
        let (l, g) = gaps(&problem, device, &moved, &points);
        assert!(
            l.max(g) > 10.0 * F32_TOLERANCE,
            "{model}: a moved point went unnoticed (gaps {l:.2e}, {g:.2e})"
        );
        // Twin 2: chains compared in the wrong order (a mix-up across the chain dimension).
        let mut swapped = points.clone();
        swapped.swap(0, chains - 1);
        let (l, g) = gaps(&problem, device, &points, &swapped);
        assert!(
            l.max(g) > 10.0 * F32_TOLERANCE,
            "{model}: swapped chains went unnoticed (gaps {l:.2e}, {g:.2e})"
        );
    }
    worst
}

/// The λ̂ comparison's problem and settings: a 4-3-2-3 deep linear network (rank-1 teacher,
/// n = 1000) at its minimal true point, nβ = n / ln n, γ = 50 (relaxation in about 2/(εγ) = 200
/// steps), ε = 2·10⁻⁴, minibatch 100, 4 chains × (1000 burn-in + 1000 draws × thin 5).
pub struct AgreementRun {
    /// The problem.
    pub problem: Problem,
    /// The posterior.
    pub posterior: TemperedPosterior,
    /// ε.
    pub step_size: f64,
    /// The chains.
    pub settings: ChainSettings,
}

impl AgreementRun {
    /// The standard comparison.
    pub fn new() -> Self {
        let problem = problem_with("kind = \"dln\"\nwidths = [4, 3, 2, 3]", 1000, "");
        let n = problem.n;
        Self {
            posterior: TemperedPosterior {
                nbeta: slt_estimators::llc::default_nbeta(n),
                localization: 50.0,
            },
            step_size: 2e-4,
            settings: ChainSettings {
                chains: 4,
                draws: 1000,
                burnin: 1000,
                thin: 5,
                batch_size: 100,
                seed: 7,
                divergence_radius: 100.0,
                full_loss_every: 0,
                threads: 0,
            },
            problem,
        }
    }

    fn center(&self) -> Vec<f64> {
        self.problem.reference_point.clone().unwrap()
    }

    /// λ̂ from the CPU path (fast landscape, f64, one chain per thread).
    pub fn cpu(&self) -> LlcEstimate {
        let landscape = self.problem.landscape();
        let center = self.center();
        let sampler = Sgld::new(self.step_size, self.posterior).unwrap();
        let traces = run_chains(&landscape, &sampler, &center, &self.settings, &|_| {}).unwrap();
        LlcEstimate::from_traces(
            &traces,
            full_loss(&landscape, &center),
            self.posterior.nbeta,
        )
        .unwrap()
    }

    /// λ̂ from the stacked landscape on `device`, with the posterior `posterior`.
    pub fn stacked(&self, device: &Device, posterior: TemperedPosterior) -> LlcEstimate {
        let landscape = StackedLandscape::new(
            self.problem.shape.as_ref().unwrap(),
            self.problem.train.as_ref().unwrap(),
            device,
        )
        .unwrap();
        let center = self.center();
        let traces = slt::models::stacked::run_stacked_sgld(
            &landscape,
            self.step_size,
            posterior,
            &center,
            &self.settings,
            &|_| {},
        )
        .unwrap();
        assert_eq!(traces.len(), self.settings.chains);
        assert!(traces
            .iter()
            .all(|t| t.divergence.is_none() && t.losses.len() == self.settings.draws));
        LlcEstimate::from_traces(
            &traces,
            full_loss(&self.problem.landscape(), &center),
            posterior.nbeta,
        )
        .unwrap()
    }
}

/// (a − b) / sqrt(se_a² + se_b²).
pub fn z_score(a: &LlcEstimate, b: &LlcEstimate) -> f64 {
    (a.mean - b.mean) / (a.stderr * a.stderr + b.stderr * b.stderr).sqrt()
}

/// The λ̂ agreement check on `device`, and its twin (γ quadrupled on the stacked path must be
/// rejected). Returns (cpu, stacked, z, twin z).
pub fn check_lambda(device: &Device) -> (LlcEstimate, LlcEstimate, f64, f64) {
    let run = AgreementRun::new();
    let cpu = run.cpu();
    let stacked = run.stacked(device, run.posterior);
    let z = z_score(&stacked, &cpu);
    let pinned = run.stacked(
        device,
        TemperedPosterior {
            localization: 4.0 * run.posterior.localization,
            ..run.posterior
        },
    );
    let twin = z_score(&pinned, &cpu);
    eprintln!(
        "λ̂ cpu {:.3} ± {:.3}, stacked {:.3} ± {:.3}: z = {z:.2}; twin (γ × 4) {:.3} ± {:.3}: z = {twin:.2}",
        cpu.mean, cpu.stderr, stacked.mean, stacked.stderr, pinned.mean, pinned.stderr
    );
    assert!(
        z.abs() < AGREE_SIGMAS,
        "stacked λ̂ {:.4} ± {:.4} vs cpu {:.4} ± {:.4}: z = {z:.2}",
        stacked.mean,
        stacked.stderr,
        cpu.mean,
        cpu.stderr
    );
    assert!(
        twin.abs() > AGREE_SIGMAS,
        "a different posterior (γ × 4) was not detected: z = {twin:.2}"
    );
    (cpu, stacked, z, twin)
}
