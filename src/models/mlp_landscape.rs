//! The MLP's fast landscape: ReLU hidden layers with biases, hand-written forward and backward passes.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use slt_estimators::{Batch, Landscape};

use super::tangent::LayeredNet;

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

/// An MLP regression landscape, loss ½‖y − f(x)‖² averaged over points.
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
            widths: widths.to_vec(),
            inputs,
            targets,
            n,
            offsets,
            precision: Precision::F64,
        }
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
        0.5 * total * scale
    }

    /// Σ‖f(x) − y‖² over the batch's points `start..start + rows` (summed in f64); adds `scale` ×
    /// the gradient of ½ of it into `grad`.
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
        // Gather the chunk: acts[0] (rows × H_1), targets (rows × H_{L+1}).
        for r in 0..rows {
            let i = match batch {
                Batch::Full => start + r,
                Batch::Indices(ix) => ix[start + r],
            };
            for (a, &x) in ws.acts[0][r * h0..(r + 1) * h0]
                .iter_mut()
                .zip(&self.inputs[i * h0..(i + 1) * h0])
            {
                *a = T::of(x);
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
            let a_in = MatRef::from_row_major_slice(&prev[l][..rows * hin], rows, hin);
            let w_l = MatRef::from_row_major_slice(wm, hout, hin);
            let out = &mut next[0][..rows * hout];
            matmul(
                MatMut::from_row_major_slice_mut(out, rows, hout),
                Accum::Replace,
                a_in,
                w_l.transpose(),
                T::ONE,
                Par::Seq,
            );
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
        // Output error E_L = (A_L − Y) · scale  (rows × H_{L+1}).
        let mut total = 0.0;
        for ((e, &a), &y) in ws.errs[layers][..rows * hl]
            .iter_mut()
            .zip(&ws.acts[layers][..rows * hl])
            .zip(&ws.y[..rows * hl])
        {
            let diff = a - y;
            total += diff.to() * diff.to();
            *e = diff * scale;
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
            matmul(
                MatMut::from_row_major_slice_mut(gw, hout, hin),
                Accum::Add,
                e_out_m.transpose(),
                MatRef::from_row_major_slice(a_in, rows, hin),
                T::ONE,
                Par::Seq,
            );
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
            inputs: &self.inputs,
            targets: &self.targets,
        }
        .hessian_vector_product(w, v, batch, out);
        true
    }
}
