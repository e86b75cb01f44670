//! The MLP's fast landscape: ReLU hidden layers with biases, a squared-error or softmax cross-entropy
//! head, hand-written forward and backward passes.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use slt_estimators::{Batch, Landscape};

use crate::models::tangent::LayeredNet;

/// The floating-point type the fast MLP computes in (parameters and gradients are f64 at the
/// interface either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// f64 throughout (the default: exact enough for finite differences and tiny losses).
    #[default]
    F64,
    /// Matrix products and activations in f32 (twice the SIMD width); losses summed in f64.
    F32,
}

/// The loss on the network's output f(x), per point (averaged over points).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Head {
    /// ½‖f(x) − y‖²: regression (the Gaussian negative log-likelihood up to a constant).
    #[default]
    Mse,
    /// KL(y ‖ softmax(f(x))) = Σ_c y_c (ln y_c − log softmax(f(x))_c), y a distribution over the
    /// outputs: the cross-entropy (negative log-likelihood) for one-hot labels, and the KL divergence
    /// from a target distribution (a reference network's predictions) otherwise.
    SoftmaxCrossEntropy,
}

/// An MLP landscape, loss ½‖y − f(x)‖² (regression) or softmax cross-entropy (classification)
/// averaged over points.
///
/// Parameters, flat and per layer in order: W_l (H_{l+1} × H_l, row-major), then b_l (H_{l+1}).
#[derive(Debug, Clone)]
pub struct MlpLandscape {
    widths: Vec<usize>,
    inputs: Vec<f64>,
    targets: Vec<f64>,
    n: usize,
    offsets: Vec<usize>,
    precision: Precision,
    head: Head,
    /// Cross-entropy head: Σ_c y_c ln y_c per point (0 for one-hot labels), so the loss is a KL divergence.
    neg_entropy: Vec<f64>,
    /// The inputs' nonzeros, where at most [`SPARSE_DENSITY`] of them are nonzero (one-hot inputs):
    /// the first layer then reads and writes only their columns of W_1.
    sparse: Option<SparseRows>,
}

/// Inputs with at most this fraction of nonzero entries are kept sparse for the first layer.
const SPARSE_DENSITY: f64 = 0.1;

/// Compressed rows of the inputs: point i's nonzeros are `index[start[i]..start[i + 1]]` with `value`s.
#[derive(Debug, Clone)]
struct SparseRows {
    start: Vec<usize>,
    index: Vec<usize>,
    value: Vec<f64>,
}

impl SparseRows {
    /// The nonzeros of row-major `inputs` (rows of `width`), if few enough.
    fn of(inputs: &[f64], width: usize) -> Option<Self> {
        let nonzero = inputs.iter().filter(|&&x| x != 0.0).count();
        if inputs.is_empty() || nonzero as f64 > SPARSE_DENSITY * inputs.len() as f64 {
            return None;
        }
        let mut rows = SparseRows {
            start: vec![0],
            index: Vec::with_capacity(nonzero),
            value: Vec::with_capacity(nonzero),
        };
        for row in inputs.chunks_exact(width) {
            for (k, &x) in row.iter().enumerate().filter(|(_, &x)| x != 0.0) {
                rows.index.push(k);
                rows.value.push(x);
            }
            rows.start.push(rows.index.len());
        }
        Some(rows)
    }
}

/// Points per matrix product: bounds the workspace whatever the batch.
const CHUNK: usize = 256;

/// The scalar of the MLP's inner loops: f32 or f64.
pub trait Real:
    faer::traits::ComplexField
    + Copy
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::AddAssign
{
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;
    /// From f64 (rounded for f32).
    fn of(x: f64) -> Self;
    /// To f64.
    fn to(self) -> f64;
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn of(x: f64) -> Self {
        x
    }
    fn to(self) -> f64 {
        self
    }
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn of(x: f64) -> Self {
        x as f32
    }
    fn to(self) -> f64 {
        self as f64
    }
}

/// Scratch buffers in one scalar type: every layer's activations and errors for a chunk of points
/// (CHUNK × H_l each, row-major), the chunk's targets, and (f32 only) the parameters and gradient.
#[derive(Debug, Clone)]
pub struct Buffers<T> {
    acts: Vec<Vec<T>>,
    errs: Vec<Vec<T>>,
    y: Vec<T>,
    w: Vec<T>,
    g: Vec<T>,
}

impl<T: Real> Buffers<T> {
    fn new(widths: &[usize], dim: usize, with_params: bool) -> Self {
        let p = if with_params { dim } else { 0 };
        Self {
            acts: widths.iter().map(|&h| vec![T::ZERO; CHUNK * h]).collect(),
            errs: widths.iter().map(|&h| vec![T::ZERO; CHUNK * h]).collect(),
            y: vec![T::ZERO; CHUNK * widths[widths.len() - 1]],
            w: vec![T::ZERO; p],
            g: vec![T::ZERO; p],
        }
    }
}

/// One chain's scratch space for [`MlpLandscape`], in the landscape's precision.
#[derive(Debug, Clone)]
pub enum MlpWorkspace {
    /// f64 buffers.
    F64(Box<Buffers<f64>>),
    /// f32 buffers.
    F32(Box<Buffers<f32>>),
}

impl MlpLandscape {
    /// A landscape over `inputs` (n × H_1) and `targets` (n × H_{L+1}), row-major, computing in f64.
    pub fn new(widths: &[usize], inputs: Vec<f64>, targets: Vec<f64>) -> Self {
        let n = inputs.len() / widths[0];
        let mut offsets = vec![0];
        for l in 0..widths.len() - 1 {
            offsets.push(offsets[l] + widths[l] * widths[l + 1] + widths[l + 1]);
        }
        Self {
            sparse: SparseRows::of(&inputs, widths[0]),
            widths: widths.to_vec(),
            inputs,
            targets,
            n,
            offsets,
            precision: Precision::F64,
            head: Head::Mse,
            neg_entropy: Vec::new(),
        }
    }

    /// A classifier's landscape: softmax cross-entropy of the outputs against `targets`, one
    /// distribution over the H_{L+1} outputs per point (one-hot labels: the cross-entropy; the
    /// predictions of a reference network: the KL divergence from them, 0 at that network).
    pub fn classifier(widths: &[usize], inputs: Vec<f64>, targets: Vec<f64>) -> Self {
        let mut l = Self::new(widths, inputs, targets);
        l.head = Head::SoftmaxCrossEntropy;
        l.neg_entropy = l
            .targets
            .chunks_exact(widths[widths.len() - 1])
            .map(|y| y.iter().filter(|&&v| v > 0.0).map(|&v| v * v.ln()).sum())
            .collect();
        l
    }

    /// The loss on the output.
    pub fn head(&self) -> Head {
        self.head
    }

    /// The outputs f(w; x) (logits for a classifier) at every data point, n × H_{L+1} row-major, in f64.
    pub fn outputs(&self, w: &[f64]) -> Vec<f64> {
        let last = self.widths.len() - 1;
        let hl = self.widths[last];
        let mut ws = Buffers::<f64>::new(&self.widths, self.dim(), false);
        let mut out = Vec::with_capacity(self.n * hl);
        let mut start = 0;
        while start < self.n {
            let rows = CHUNK.min(self.n - start);
            self.eval_chunk(w, Batch::Full, start, rows, 1.0, None, &mut ws);
            out.extend_from_slice(&ws.acts[last][..rows * hl]);
            start += rows;
        }
        out
    }

    /// The fraction of points whose largest output is their target's largest entry (a classifier's
    /// accuracy; ties go to the first index).
    pub fn accuracy(&self, w: &[f64]) -> f64 {
        let hl = self.widths[self.widths.len() - 1];
        let argmax = |v: &[f64]| {
            v.iter()
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |(bi, bv), (i, &x)| {
                    if x > bv {
                        (i, x)
                    } else {
                        (bi, bv)
                    }
                })
                .0
        };
        let correct = self
            .outputs(w)
            .chunks_exact(hl)
            .zip(self.targets.chunks_exact(hl))
            .filter(|(f, y)| argmax(f) == argmax(y))
            .count();
        correct as f64 / self.n.max(1) as f64
    }

    /// The same landscape computing in `precision`.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// The layer widths.
    pub fn widths(&self) -> &[usize] {
        &self.widths
    }

    /// The network's output at the first data point (used to make a teacher's targets).
    pub fn output(&self, w: &[f64], ws: &mut MlpWorkspace) -> Vec<f64> {
        let mut g = vec![0.0; self.dim()];
        self.eval(w, Batch::Indices(&[0]), Some(&mut g), ws);
        let out = self.widths[self.widths.len() - 1];
        let last = self.widths.len() - 1;
        match ws {
            MlpWorkspace::F64(b) => b.acts[last][..out].to_vec(),
            MlpWorkspace::F32(b) => b.acts[last][..out].iter().map(|v| v.to()).collect(),
        }
    }

    /// Loss (and gradient into `grad`) on `batch`, in the workspace's precision.
    fn eval(
        &self,
        w: &[f64],
        batch: Batch<'_>,
        grad: Option<&mut [f64]>,
        ws: &mut MlpWorkspace,
    ) -> f64 {
        match ws {
            // f64 works on the caller's parameters and gradient directly.
            MlpWorkspace::F64(b) => self.eval_in(w, batch, grad, b),
            MlpWorkspace::F32(b) => {
                let b = &mut **b;
                let mut w32 = std::mem::take(&mut b.w);
                let mut g32 = std::mem::take(&mut b.g);
                for (a, &x) in w32.iter_mut().zip(w) {
                    *a = x as f32;
                }
                let value = match grad {
                    Some(g) => {
                        let v = self.eval_in(&w32, batch, Some(&mut g32), b);
                        for (o, &x) in g.iter_mut().zip(&g32) {
                            *o = x as f64;
                        }
                        v
                    }
                    None => self.eval_in(&w32, batch, None, b),
                };
                b.w = w32;
                b.g = g32;
                value
            }
        }
    }

    /// Loss (and gradient) with parameters `w` in T, in chunks of at most [`CHUNK`] points so the
    /// workspace stays small; each chunk is a few matrix products (faer).
    fn eval_in<T: Real>(
        &self,
        w: &[T],
        batch: Batch<'_>,
        mut grad: Option<&mut [T]>,
        ws: &mut Buffers<T>,
    ) -> f64 {
        let count = match batch {
            Batch::Full => self.n,
            Batch::Indices(ix) => ix.len(),
        };
        if let Some(g) = grad.as_deref_mut() {
            g.fill(T::ZERO);
        }
        let scale = 1.0 / count as f64;
        let mut total = 0.0;
        let mut start = 0;
        while start < count {
            let rows = CHUNK.min(count - start);
            total += self.eval_chunk(w, batch, start, rows, T::of(scale), grad.as_deref_mut(), ws);
            start += rows;
        }
        total * scale
    }

    /// The summed loss of the batch's points `start..start + rows` (in f64): Σ ½‖f(x) − y‖², or
    /// Σ KL(y ‖ softmax f(x)); adds `scale` × its gradient into `grad`.
    #[allow(clippy::too_many_arguments)]
    fn eval_chunk<T: Real>(
        &self,
        w: &[T],
        batch: Batch<'_>,
        start: usize,
        rows: usize,
        scale: T,
        grad: Option<&mut [T]>,
        ws: &mut Buffers<T>,
    ) -> f64 {
        let layers = self.widths.len() - 1;
        let (h0, hl) = (self.widths[0], self.widths[layers]);
        let point = |r: usize| match batch {
            Batch::Full => start + r,
            Batch::Indices(ix) => ix[start + r],
        };
        // Gather the chunk: acts[0] (rows × H_1; not with sparse inputs), targets (rows × H_{L+1}).
        for r in 0..rows {
            let i = point(r);
            if self.sparse.is_none() {
                for (a, &x) in ws.acts[0][r * h0..(r + 1) * h0]
                    .iter_mut()
                    .zip(&self.inputs[i * h0..(i + 1) * h0])
                {
                    *a = T::of(x);
                }
            }
            for (a, &y) in ws.y[r * hl..(r + 1) * hl]
                .iter_mut()
                .zip(&self.targets[i * hl..(i + 1) * hl])
            {
                *a = T::of(y);
            }
        }
        // Forward: A_{l+1} = relu(A_l W_lᵀ + b_l)  (rows × H_{l+1}); no ReLU on the output.
        for l in 0..layers {
            let (hin, hout) = (self.widths[l], self.widths[l + 1]);
            let p = &w[self.offsets[l]..self.offsets[l + 1]];
            let (wm, b) = p.split_at(hin * hout);
            let (prev, next) = ws.acts.split_at_mut(l + 1);
            let out = &mut next[0][..rows * hout];
            match (&self.sparse, l) {
                (Some(sp), 0) => {
                    // Z = X W_1ᵀ over the nonzeros of each row: column k of W_1 times x_k.
                    for (r, row) in out.chunks_exact_mut(hout).enumerate() {
                        row.fill(T::ZERO);
                        let i = point(r);
                        for (&k, &x) in sp.index[sp.start[i]..sp.start[i + 1]]
                            .iter()
                            .zip(&sp.value[sp.start[i]..sp.start[i + 1]])
                        {
                            let x = T::of(x);
                            for (o, z) in row.iter_mut().enumerate() {
                                *z += wm[o * hin + k] * x;
                            }
                        }
                    }
                }
                _ => {
                    let a_in = MatRef::from_row_major_slice(&prev[l][..rows * hin], rows, hin);
                    let w_l = MatRef::from_row_major_slice(wm, hout, hin);
                    matmul(
                        MatMut::from_row_major_slice_mut(out, rows, hout),
                        Accum::Replace,
                        a_in,
                        w_l.transpose(),
                        T::ONE,
                        Par::Seq,
                    );
                }
            }
            let relu = l + 1 < layers;
            for row in out.chunks_exact_mut(hout) {
                for (z, &bk) in row.iter_mut().zip(b) {
                    *z += bk;
                    if relu && *z < T::ZERO {
                        *z = T::ZERO;
                    }
                }
            }
        }
        // Output error E_L = ∂(loss)/∂A_L · scale  (rows × H_{L+1}).
        let mut total = 0.0;
        match self.head {
            Head::Mse => {
                // ½ Σ (A_L − Y)², error (A_L − Y) · scale.
                for ((e, &a), &y) in ws.errs[layers][..rows * hl]
                    .iter_mut()
                    .zip(&ws.acts[layers][..rows * hl])
                    .zip(&ws.y[..rows * hl])
                {
                    let diff = a - y;
                    total += diff.to() * diff.to();
                    *e = diff * scale;
                }
                total *= 0.5;
            }
            Head::SoftmaxCrossEntropy => {
                // Per row: Σ_c y_c (lse − z_c) + Σ_c y_c ln y_c, error (softmax(z) − y) · scale; the
                // softmax in f64 (max-shifted) whatever T is.
                let s = scale.to();
                for r in 0..rows {
                    total += self.neg_entropy[match batch {
                        Batch::Full => start + r,
                        Batch::Indices(ix) => ix[start + r],
                    }];
                    let z = &ws.acts[layers][r * hl..(r + 1) * hl];
                    let y = &ws.y[r * hl..(r + 1) * hl];
                    let e = &mut ws.errs[layers][r * hl..(r + 1) * hl];
                    let m = z.iter().fold(f64::NEG_INFINITY, |m, v| m.max(v.to()));
                    let lse = m + z.iter().map(|v| (v.to() - m).exp()).sum::<f64>().ln();
                    for ((ec, &zc), &yc) in e.iter_mut().zip(z).zip(y) {
                        let (zc, yc) = (zc.to(), yc.to());
                        total += yc * (lse - zc);
                        *ec = T::of(((zc - lse).exp() - yc) * s);
                    }
                }
            }
        }
        let Some(g) = grad else {
            return total;
        };
        // Backward: ∇W_l += E_{l+1}ᵀ A_l, ∇b_l += Σ_rows E_{l+1}, E_l = (E_{l+1} W_l) ⊙ [A_l > 0].
        for l in (0..layers).rev() {
            let (hin, hout) = (self.widths[l], self.widths[l + 1]);
            let p = &w[self.offsets[l]..self.offsets[l + 1]];
            let wm = &p[..hin * hout];
            let gp = &mut g[self.offsets[l]..self.offsets[l + 1]];
            let (gw, gb) = gp.split_at_mut(hin * hout);
            let (lo, hi) = ws.errs.split_at_mut(l + 1);
            let e_out = &hi[0][..rows * hout];
            let e_out_m = MatRef::from_row_major_slice(e_out, rows, hout);
            let a_in = &ws.acts[l][..rows * hin];
            match (&self.sparse, l) {
                (Some(sp), 0) => {
                    // ∇W_1 += E_1ᵀ X over the nonzeros: column k gets x_k · (row's error).
                    for (r, e_row) in e_out.chunks_exact(hout).enumerate() {
                        let i = point(r);
                        for (&k, &x) in sp.index[sp.start[i]..sp.start[i + 1]]
                            .iter()
                            .zip(&sp.value[sp.start[i]..sp.start[i + 1]])
                        {
                            let x = T::of(x);
                            for (o, &e) in e_row.iter().enumerate() {
                                gw[o * hin + k] += e * x;
                            }
                        }
                    }
                }
                _ => matmul(
                    MatMut::from_row_major_slice_mut(gw, hout, hin),
                    Accum::Add,
                    e_out_m.transpose(),
                    MatRef::from_row_major_slice(a_in, rows, hin),
                    T::ONE,
                    Par::Seq,
                ),
            }
            for row in e_out.chunks_exact(hout) {
                for (gbk, &e) in gb.iter_mut().zip(row) {
                    *gbk += e;
                }
            }
            if l > 0 {
                let e_in = &mut lo[l][..rows * hin];
                matmul(
                    MatMut::from_row_major_slice_mut(e_in, rows, hin),
                    Accum::Replace,
                    e_out_m,
                    MatRef::from_row_major_slice(wm, hout, hin),
                    T::ONE,
                    Par::Seq,
                );
                // Through the ReLU of layer l's output (A_l > 0 where it was active).
                for (ev, &a) in e_in.iter_mut().zip(a_in) {
                    if a <= T::ZERO {
                        *ev = T::ZERO;
                    }
                }
            }
        }
        total
    }
}

impl Landscape for MlpLandscape {
    type Workspace = MlpWorkspace;

    fn dim(&self) -> usize {
        *self.offsets.last().expect("offsets start with 0")
    }

    fn data_size(&self) -> Option<usize> {
        Some(self.n)
    }

    fn workspace(&self) -> MlpWorkspace {
        match self.precision {
            Precision::F64 => {
                MlpWorkspace::F64(Box::new(Buffers::new(&self.widths, self.dim(), false)))
            }
            Precision::F32 => {
                MlpWorkspace::F32(Box::new(Buffers::new(&self.widths, self.dim(), true)))
            }
        }
    }

    fn loss_and_grad(
        &self,
        w: &[f64],
        batch: Batch<'_>,
        grad: &mut [f64],
        ws: &mut MlpWorkspace,
    ) -> f64 {
        self.eval(w, batch, Some(grad), ws)
    }

    fn loss(&self, w: &[f64], batch: Batch<'_>, ws: &mut MlpWorkspace) -> f64 {
        self.eval(w, batch, None, ws)
    }

    /// Exact, in f64 whatever the precision: tangents through the backward pass ([`LayeredNet`]).
    fn hessian_vector_product(
        &self,
        w: &[f64],
        v: &[f64],
        batch: Batch<'_>,
        out: &mut [f64],
        _ws: &mut MlpWorkspace,
    ) -> bool {
        LayeredNet {
            widths: &self.widths,
            offsets: &self.offsets,
            biases: true,
            relu: true,
            softmax: self.head == Head::SoftmaxCrossEntropy,
            inputs: &self.inputs,
            targets: &self.targets,
        }
        .hessian_vector_product(w, v, batch, out);
        true
    }
}
