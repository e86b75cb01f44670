//! The loss Hessian at w*: exact (dense, from gradient differences) or matrix-free (Lanczos, SLQ, Hutchinson), its spectrum and rank.
//!
//! Every Hessian-vector product is a central difference of full-batch gradients,
//! H v ≈ (∇L(w + h v) − ∇L(w − h v)) / (2h) with ‖v‖ = 1 and h = 1e-5 · (1 + ‖w‖/√d): exact on
//! quadratics up to rounding, O(h²) off on smooth landscapes. The dense Hessian is its d columns
//! H e_j, symmetrized; its eigenvalues come from faer. Above [`HessianSettings::dense_max_dim`]
//! parameters only products are used: Lanczos (full reorthogonalization) for the top eigenvalues,
//! stochastic Lanczos quadrature (SLQ) for the spectral density and the rank, Hutchinson for the trace.

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

use crate::error::{Error, Result};
use crate::landscape::{Batch, Landscape};
use crate::sampler::ChainRng;

/// How to compute a Hessian spectrum.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HessianSettings {
    /// Largest d for the exact dense Hessian (d gradient pairs, O(d³) eigenvalues); above it the
    /// matrix-free path. Default 2500.
    pub dense_max_dim: usize,
    /// Relative rank tolerance: eigenvalues above max(`rank_rtol` · max|h|, `rank_atol`) count towards
    /// the rank. Default 1e-6.
    pub rank_rtol: f64,
    /// Absolute rank tolerance (loss units per parameter unit²): the floor of finite-difference noise,
    /// which on a flat direction is about h² ≈ 1e-10 times the third derivative's scale (w⁴ at 0
    /// reads 4e-10). Default 1e-8.
    pub rank_atol: f64,
    /// Matrix-free path: how many top eigenvalues Lanczos reports. Default 20.
    pub top_k: usize,
    /// Matrix-free path: Lanczos steps (products) for the top eigenvalues, at least `top_k`. Default 100.
    pub lanczos_steps: usize,
    /// Matrix-free path: random probe vectors for Hutchinson's trace and for SLQ. Default 30.
    pub probes: usize,
    /// Matrix-free path: Lanczos steps per SLQ probe (quadrature nodes per probe). Default 40.
    pub slq_steps: usize,
}

impl Default for HessianSettings {
    fn default() -> Self {
        Self {
            dense_max_dim: 2500,
            rank_rtol: 1e-6,
            rank_atol: 1e-8,
            top_k: 20,
            lanczos_steps: 100,
            probes: 30,
            slq_steps: 40,
        }
    }
}

impl HessianSettings {
    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        if !(self.rank_rtol.is_finite() && self.rank_rtol > 0.0 && self.rank_rtol < 1.0) {
            return Err(Error::OutOfRange {
                name: "hessian.rank_rtol",
                value: self.rank_rtol.to_string(),
                rule: "must be in (0, 1)",
            });
        }
        if !(self.rank_atol.is_finite() && self.rank_atol >= 0.0) {
            return Err(Error::OutOfRange {
                name: "hessian.rank_atol",
                value: self.rank_atol.to_string(),
                rule: "must be non-negative and finite",
            });
        }
        if self.top_k == 0 {
            return Err(Error::OutOfRange {
                name: "hessian.top_k",
                value: "0".into(),
                rule: "must be at least 1",
            });
        }
        if self.lanczos_steps < self.top_k {
            return Err(Error::OutOfRange {
                name: "hessian.lanczos_steps",
                value: self.lanczos_steps.to_string(),
                rule: "must be at least hessian.top_k",
            });
        }
        if self.probes < 2 {
            return Err(Error::OutOfRange {
                name: "hessian.probes",
                value: self.probes.to_string(),
                rule: "must be at least 2 (the trace's error bar needs a spread)",
            });
        }
        if self.slq_steps < 2 {
            return Err(Error::OutOfRange {
                name: "hessian.slq_steps",
                value: self.slq_steps.to_string(),
                rule: "must be at least 2",
            });
        }
        Ok(())
    }
}

/// Which path computed a spectrum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpectrumMethod {
    /// Dense Hessian from d products, every eigenvalue (faer).
    Dense,
    /// Matrix-free: Lanczos top eigenvalues, SLQ rank, Hutchinson trace.
    Lanczos,
}

/// A spectral density from stochastic Lanczos quadrature: point masses at Ritz values.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SpectralDensity {
    /// Quadrature nodes (Ritz values of every probe), ascending.
    pub nodes: Vec<f64>,
    /// Weight of each node, in eigenvalue counts: they sum to d.
    pub weights: Vec<f64>,
}

impl SpectralDensity {
    /// Estimated number of eigenvalues above `threshold` (the weight of the nodes above it).
    pub fn count_above(&self, threshold: f64) -> f64 {
        self.nodes
            .iter()
            .zip(&self.weights)
            .filter(|(x, _)| **x > threshold)
            .map(|(_, w)| w)
            .sum()
    }

    /// The density smoothed by a Gaussian of width `sigma` on `grid` (eigenvalue counts per unit).
    pub fn smoothed(&self, grid: &[f64], sigma: f64) -> Vec<f64> {
        let norm = 1.0 / (sigma * (2.0 * std::f64::consts::PI).sqrt());
        grid.iter()
            .map(|&x| {
                self.nodes
                    .iter()
                    .zip(&self.weights)
                    .map(|(n, w)| w * norm * (-0.5 * ((x - n) / sigma).powi(2)).exp())
                    .sum()
            })
            .collect()
    }
}

/// The Hessian of the full-batch loss at w*: eigenvalues, trace, rank.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HessianSpectrum {
    /// Number of parameters d.
    pub dim: usize,
    /// Eigenvalues, descending (loss units per parameter unit²). All d of them when `complete`,
    /// else the top `top_k` from Lanczos.
    pub eigenvalues: Vec<f64>,
    /// Whether `eigenvalues` holds all d eigenvalues.
    pub complete: bool,
    /// The trace: exact sum for the dense path, Hutchinson's estimate otherwise.
    pub trace: f64,
    /// Standard error of `trace` (0 for the dense path).
    pub trace_err: f64,
    /// Number of eigenvalues above `tolerance` (the dense count, or SLQ's weight above it rounded).
    pub rank_estimate: usize,
    /// The absolute rank tolerance used: max(`rank_rtol` · max|h|, `rank_atol`).
    pub tolerance: f64,
    /// The path that computed it.
    pub method: SpectrumMethod,
    /// How its Hessian-vector products were computed.
    pub products: ProductMethod,
    /// SLQ spectral density (matrix-free path only).
    pub density: Option<SpectralDensity>,
}

/// How Hessian-vector products were computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProductMethod {
    /// Exact: forward-mode tangents (dual numbers) through the landscape's backward pass.
    Exact,
    /// Central differences of gradients (step 1e-5 · (1 + ‖w*‖/√d)): accurate to about 1e-6
    /// relative where the loss is smooth, spurious where a ReLU kink lies within the step.
    FiniteDifference,
}

/// Hessian-vector products of a landscape at a fixed point: exact where the landscape provides
/// them ([`Landscape::hessian_vector_product`]), central gradient differences otherwise.
pub struct HessianOperator<'a, L: Landscape> {
    landscape: &'a L,
    center: &'a [f64],
    batch: Batch<'a>,
    /// Whether the landscape computes exact products.
    exact: bool,
    step: f64,
    ws: L::Workspace,
    point: Vec<f64>,
    gp: Vec<f64>,
    gm: Vec<f64>,
    /// Number of products computed so far.
    pub products: usize,
}

impl<'a, L: Landscape> HessianOperator<'a, L> {
    /// The operator at `center` (length d) on the points `batch`.
    pub fn new(landscape: &'a L, center: &'a [f64], batch: Batch<'a>) -> Result<Self> {
        let d = landscape.dim();
        check_center(d, center)?;
        let scale = 1.0 + center.iter().map(|x| x * x).sum::<f64>().sqrt() / (d as f64).sqrt();
        let mut ws = landscape.workspace();
        // Ask once, with v = 0, whether the landscape has exact products.
        let mut probe = vec![0.0; d];
        let exact =
            landscape.hessian_vector_product(center, &vec![0.0; d], batch, &mut probe, &mut ws);
        Ok(Self {
            landscape,
            center,
            batch,
            exact,
            step: 1e-5 * scale,
            ws,
            point: vec![0.0; d],
            gp: vec![0.0; d],
            gm: vec![0.0; d],
            products: 0,
        })
    }

    /// Number of parameters d.
    pub fn dim(&self) -> usize {
        self.center.len()
    }

    /// How this operator computes its products.
    pub fn method(&self) -> ProductMethod {
        if self.exact {
            ProductMethod::Exact
        } else {
            ProductMethod::FiniteDifference
        }
    }

    /// `out = H v`: exact, or a central gradient difference along v/‖v‖ rescaled by ‖v‖.
    pub fn apply(&mut self, v: &[f64], out: &mut [f64]) {
        if self.exact {
            self.landscape
                .hessian_vector_product(self.center, v, self.batch, out, &mut self.ws);
            self.products += 1;
            return;
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            out.fill(0.0);
            return;
        }
        let h = self.step / norm;
        for ((p, &c), &x) in self.point.iter_mut().zip(self.center).zip(v) {
            *p = c + h * x;
        }
        self.landscape
            .loss_and_grad(&self.point, self.batch, &mut self.gp, &mut self.ws);
        for ((p, &c), &x) in self.point.iter_mut().zip(self.center).zip(v) {
            *p = c - h * x;
        }
        self.landscape
            .loss_and_grad(&self.point, self.batch, &mut self.gm, &mut self.ws);
        for ((o, a), b) in out.iter_mut().zip(&self.gp).zip(&self.gm) {
            *o = (a - b) / (2.0 * h);
        }
        self.products += 1;
    }
}

fn check_center(d: usize, center: &[f64]) -> Result<()> {
    if center.len() != d {
        return Err(Error::InvalidShape {
            what: format!("center of length {}", center.len()),
            why: format!("the landscape has d = {d} parameters"),
        });
    }
    if center.iter().any(|x| !x.is_finite()) {
        return Err(Error::Numerical {
            what: "hessian",
            why: "the center has a non-finite coordinate".into(),
        });
    }
    Ok(())
}

/// The dense Hessian (d × d, symmetrized) at `center` from d Hessian-vector products (exact, or
/// central gradient differences: see [`HessianOperator`]), and how its products were computed.
pub fn dense_hessian<L: Landscape>(
    landscape: &L,
    center: &[f64],
    batch: Batch<'_>,
) -> Result<(faer::Mat<f64>, ProductMethod)> {
    let mut op = HessianOperator::new(landscape, center, batch)?;
    let d = op.dim();
    let mut hess = faer::Mat::<f64>::zeros(d, d);
    let mut e = vec![0.0; d];
    let mut col = vec![0.0; d];
    for j in 0..d {
        e[j] = 1.0;
        op.apply(&e, &mut col);
        e[j] = 0.0;
        for (i, c) in col.iter().enumerate() {
            hess[(i, j)] = *c;
        }
    }
    for j in 0..d {
        for i in 0..j {
            let v = 0.5 * (hess[(i, j)] + hess[(j, i)]);
            hess[(i, j)] = v;
            hess[(j, i)] = v;
        }
    }
    if (0..d).any(|j| (0..d).any(|i| !hess[(i, j)].is_finite())) {
        return Err(Error::Numerical {
            what: "hessian",
            why: "the Hessian at w* is not finite".into(),
        });
    }
    Ok((hess, op.method()))
}

/// Eigenvalues of a symmetric matrix, descending (faer).
pub fn symmetric_eigenvalues(matrix: &faer::Mat<f64>) -> Result<Vec<f64>> {
    let mut values = matrix
        .self_adjoint_eigenvalues(faer::Side::Lower)
        .map_err(|e| Error::Numerical {
            what: "hessian eigenvalues",
            why: format!("eigensolver: {e:?}"),
        })?;
    values.sort_by(|a, b| b.total_cmp(a));
    Ok(values)
}

/// Rank of a list of eigenvalues at the tolerance max(`rtol` · max|h|, `atol`): (rank, tolerance).
pub fn rank_with_tolerance(eigenvalues: &[f64], rtol: f64, atol: f64) -> (usize, f64) {
    let max = eigenvalues.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let tol = (rtol * max).max(atol);
    (
        eigenvalues.iter().filter(|&&x| x > tol && x > 0.0).count(),
        tol,
    )
}

/// The Hessian's spectrum at `center`: dense when d ≤ `settings.dense_max_dim`, matrix-free otherwise.
///
/// `seed` drives the random starts and probes of the matrix-free path (unused on the dense one).
pub fn hessian_spectrum<L: Landscape>(
    landscape: &L,
    center: &[f64],
    batch: Batch<'_>,
    settings: &HessianSettings,
    seed: u64,
) -> Result<HessianSpectrum> {
    settings.validate()?;
    let d = landscape.dim();
    check_center(d, center)?;
    if d <= settings.dense_max_dim {
        let (hess, products) = dense_hessian(landscape, center, batch)?;
        let eigenvalues = symmetric_eigenvalues(&hess)?;
        let trace = (0..d).map(|i| hess[(i, i)]).sum();
        let (rank_estimate, tolerance) =
            rank_with_tolerance(&eigenvalues, settings.rank_rtol, settings.rank_atol);
        return Ok(HessianSpectrum {
            dim: d,
            eigenvalues,
            complete: true,
            trace,
            trace_err: 0.0,
            rank_estimate,
            tolerance,
            method: SpectrumMethod::Dense,
            products,
            density: None,
        });
    }
    let mut op = HessianOperator::new(landscape, center, batch)?;
    let mut rng = ChainRng::seed_from_u64(seed);
    let steps = settings.lanczos_steps.min(d);
    let start: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
    let (ritz, _) = lanczos(&mut op, &start, steps)?;
    let mut top: Vec<f64> = ritz.into_iter().rev().take(settings.top_k.min(d)).collect();
    top.sort_by(|a, b| b.total_cmp(a));
    let (trace, trace_err) = hutchinson(&mut op, settings.probes, &mut rng)?;
    let density = slq(
        &mut op,
        settings.probes,
        settings.slq_steps.min(d),
        &mut rng,
    )?;
    let max = top.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let tolerance = (settings.rank_rtol * max).max(settings.rank_atol);
    let rank_estimate = density.count_above(tolerance.max(0.0)).round() as usize;
    Ok(HessianSpectrum {
        dim: d,
        eigenvalues: top,
        complete: false,
        trace,
        trace_err,
        rank_estimate,
        tolerance,
        method: SpectrumMethod::Lanczos,
        products: op.method(),
        density: Some(density),
    })
}

/// A Lanczos run: the Ritz values (ascending), the tridiagonal matrix's eigenvectors, and the
/// orthonormal Krylov basis they are coordinates in.
struct Krylov {
    values: Vec<f64>,
    coords: faer::Mat<f64>,
    basis: Vec<Vec<f64>>,
}

/// Lanczos with full reorthogonalization from `start` for `steps` products. Stops early on an
/// invariant subspace.
fn krylov<L: Landscape>(
    op: &mut HessianOperator<'_, L>,
    start: &[f64],
    steps: usize,
) -> Result<Krylov> {
    let d = op.dim();
    let norm = start.iter().map(|x| x * x).sum::<f64>().sqrt();
    if !(norm > 0.0 && norm.is_finite()) {
        return Err(Error::Numerical {
            what: "lanczos",
            why: "the start vector is zero or not finite".into(),
        });
    }
    let mut basis: Vec<Vec<f64>> = vec![start.iter().map(|x| x / norm).collect()];
    let (mut alpha, mut beta) = (Vec::<f64>::new(), Vec::<f64>::new());
    let mut w = vec![0.0; d];
    let mut scale = 0.0f64;
    for k in 0..steps {
        op.apply(&basis[k], &mut w);
        if w.iter().any(|x| !x.is_finite()) {
            return Err(Error::Numerical {
                what: "lanczos",
                why: "a Hessian-vector product is not finite".into(),
            });
        }
        let a: f64 = w.iter().zip(&basis[k]).map(|(x, y)| x * y).sum();
        alpha.push(a);
        // Full reorthogonalization, twice (classical Gram–Schmidt is unstable once).
        for _ in 0..2 {
            for q in &basis {
                let c: f64 = w.iter().zip(q).map(|(x, y)| x * y).sum();
                w.iter_mut().zip(q).for_each(|(x, y)| *x -= c * y);
            }
        }
        let b = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        scale = scale.max(a.abs()).max(b);
        if k + 1 == steps || b <= 1e-10 * scale.max(f64::MIN_POSITIVE) {
            break;
        }
        beta.push(b);
        basis.push(w.iter().map(|x| x / b).collect());
    }
    let m = alpha.len();
    basis.truncate(m);
    let mut t = faer::Mat::<f64>::zeros(m, m);
    for i in 0..m {
        t[(i, i)] = alpha[i];
        if i + 1 < m {
            t[(i, i + 1)] = beta[i];
            t[(i + 1, i)] = beta[i];
        }
    }
    let eig = t
        .self_adjoint_eigen(faer::Side::Lower)
        .map_err(|e| Error::Numerical {
            what: "lanczos",
            why: format!("tridiagonal eigensolver: {e:?}"),
        })?;
    let values: Vec<f64> = (0..m).map(|i| eig.S()[i]).collect();
    Ok(Krylov {
        values,
        coords: eig.U().to_owned(),
        basis,
    })
}

impl Krylov {
    /// The Ritz vector of the `i`-th smallest Ritz value, in the landscape's coordinates.
    fn ritz_vector(&self, i: usize) -> Vec<f64> {
        let d = self.basis[0].len();
        let mut v = vec![0.0; d];
        for (j, q) in self.basis.iter().enumerate() {
            let c = self.coords[(j, i)];
            v.iter_mut().zip(q).for_each(|(x, y)| *x += c * y);
        }
        v
    }
}

/// Lanczos with full reorthogonalization from `start` for `steps` products: the Ritz values
/// (ascending) and, for each, the squared first component of its eigenvector of the tridiagonal
/// matrix (the quadrature weights of the start vector). Stops early on an invariant subspace.
fn lanczos<L: Landscape>(
    op: &mut HessianOperator<'_, L>,
    start: &[f64],
    steps: usize,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let k = krylov(op, start, steps)?;
    let weights = (0..k.values.len())
        .map(|i| k.coords[(0, i)] * k.coords[(0, i)])
        .collect();
    Ok((k.values, weights))
}

/// The two ends of a Hessian's spectrum seen from one Krylov space: the extreme Ritz values and
/// their vectors (unit length).
#[derive(Debug, Clone, PartialEq)]
pub struct SpectrumEnds {
    /// The largest Ritz value (converges to the top eigenvalue first).
    pub top: f64,
    /// The smallest Ritz value (the most negative eigenvalue at a strict saddle).
    pub bottom: f64,
    /// The Ritz vector of `top`.
    pub top_vector: Vec<f64>,
    /// The Ritz vector of `bottom`. Where the bottom eigenvalue is degenerate (a null space), the
    /// Krylov space holds only the start's projection onto it: a random direction of that space.
    pub bottom_vector: Vec<f64>,
    /// Every Ritz value (ascending): the nodes of the start's spectral quadrature, which cover the
    /// spectrum's interior coarsely and its edges well.
    pub values: Vec<f64>,
}

/// The extreme Ritz pairs of the Hessian after `steps` Lanczos products from `start`.
pub fn spectrum_ends<L: Landscape>(
    op: &mut HessianOperator<'_, L>,
    start: &[f64],
    steps: usize,
) -> Result<SpectrumEnds> {
    let k = krylov(op, start, steps.max(1))?;
    let m = k.values.len();
    let unit = |mut v: Vec<f64>| {
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        v
    };
    Ok(SpectrumEnds {
        top: k.values[m - 1],
        bottom: k.values[0],
        top_vector: unit(k.ritz_vector(m - 1)),
        bottom_vector: unit(k.ritz_vector(0)),
        values: k.values,
    })
}

/// The top `k` eigenvalues (descending) of the Hessian at `center`, by Lanczos with `steps`
/// products from a random start (`seed`). Accurate for well-separated top eigenvalues once
/// `steps` is a few times `k`.
pub fn lanczos_top<L: Landscape>(
    landscape: &L,
    center: &[f64],
    batch: Batch<'_>,
    k: usize,
    steps: usize,
    seed: u64,
) -> Result<Vec<f64>> {
    let d = landscape.dim();
    if k == 0 || k > d || steps < k {
        return Err(Error::OutOfRange {
            name: "hessian.top_k",
            value: format!("{k} (steps {steps}, d {d})"),
            rule: "need 1 ≤ top_k ≤ d and lanczos_steps ≥ top_k",
        });
    }
    let mut op = HessianOperator::new(landscape, center, batch)?;
    let mut rng = ChainRng::seed_from_u64(seed);
    let start: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
    let (values, _) = lanczos(&mut op, &start, steps.min(d))?;
    Ok(values.into_iter().rev().take(k).collect())
}

fn hutchinson<L: Landscape>(
    op: &mut HessianOperator<'_, L>,
    probes: usize,
    rng: &mut ChainRng,
) -> Result<(f64, f64)> {
    let d = op.dim();
    let mut z = vec![0.0; d];
    let mut hz = vec![0.0; d];
    let mut samples = Vec::with_capacity(probes);
    for _ in 0..probes {
        z.iter_mut()
            .for_each(|x| *x = if rng.random::<bool>() { 1.0 } else { -1.0 });
        op.apply(&z, &mut hz);
        samples.push(z.iter().zip(&hz).map(|(a, b)| a * b).sum::<f64>());
    }
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    if !mean.is_finite() {
        return Err(Error::Numerical {
            what: "hutchinson trace",
            why: "a probe's quadratic form is not finite".into(),
        });
    }
    Ok((mean, (var / n).sqrt()))
}

/// Hutchinson's trace estimate tr H ≈ mean of zᵀHz over `probes` Rademacher vectors z, with its
/// standard error (sample std / √probes).
pub fn hutchinson_trace<L: Landscape>(
    landscape: &L,
    center: &[f64],
    batch: Batch<'_>,
    probes: usize,
    seed: u64,
) -> Result<(f64, f64)> {
    if probes < 2 {
        return Err(Error::OutOfRange {
            name: "hessian.probes",
            value: probes.to_string(),
            rule: "must be at least 2",
        });
    }
    let mut op = HessianOperator::new(landscape, center, batch)?;
    let mut rng = ChainRng::seed_from_u64(seed);
    hutchinson(&mut op, probes, &mut rng)
}

fn slq<L: Landscape>(
    op: &mut HessianOperator<'_, L>,
    probes: usize,
    steps: usize,
    rng: &mut ChainRng,
) -> Result<SpectralDensity> {
    let d = op.dim();
    let mut pairs = Vec::new();
    for _ in 0..probes {
        let z: Vec<f64> = (0..d)
            .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
            .collect();
        let (values, weights) = lanczos(op, &z, steps)?;
        for (v, w) in values.into_iter().zip(weights) {
            pairs.push((v, w * d as f64 / probes as f64));
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(SpectralDensity {
        nodes: pairs.iter().map(|p| p.0).collect(),
        weights: pairs.iter().map(|p| p.1).collect(),
    })
}

/// Stochastic Lanczos quadrature: the spectral density from `probes` Rademacher starts of `steps`
/// Lanczos steps each (weights in eigenvalue counts, summing to d).
pub fn slq_density<L: Landscape>(
    landscape: &L,
    center: &[f64],
    batch: Batch<'_>,
    probes: usize,
    steps: usize,
    seed: u64,
) -> Result<SpectralDensity> {
    if probes == 0 || steps < 2 {
        return Err(Error::OutOfRange {
            name: "hessian.slq",
            value: format!("probes {probes}, steps {steps}"),
            rule: "need at least 1 probe and 2 steps",
        });
    }
    let mut op = HessianOperator::new(landscape, center, batch)?;
    let mut rng = ChainRng::seed_from_u64(seed);
    let steps = steps.min(op.dim());
    slq(&mut op, probes, steps, &mut rng)
}
