//! The MLP's fast landscape: ReLU hidden layers with biases, hand-written forward and backward passes.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use slt_estimators::{Batch, Landscape};

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
}

/// Points per matrix product: bounds the workspace whatever the batch.
const CHUNK: usize = 256;

/// One chain's scratch space for [`MlpLandscape`]: every layer's activations and errors for a chunk
/// of points (CHUNK × H_l each, row-major) and the chunk's targets.
#[derive(Debug, Clone)]
pub struct MlpWorkspace {
    acts: Vec<Vec<f64>>,
    errs: Vec<Vec<f64>>,
    y: Vec<f64>,
}

impl MlpLandscape {
    /// A landscape over `inputs` (n × H_1) and `targets` (n × H_{L+1}), row-major.
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
        }
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
        ws.acts[self.widths.len() - 1][..out].to_vec()
    }

    /// Loss (and gradient into `grad`) on `batch`, in chunks of at most [`CHUNK`] points so the
    /// workspace stays small; each chunk is a few matrix products (faer).
    fn eval(
        &self,
        w: &[f64],
        batch: Batch<'_>,
        mut grad: Option<&mut [f64]>,
        ws: &mut MlpWorkspace,
    ) -> f64 {
        let count = match batch {
            Batch::Full => self.n,
            Batch::Indices(ix) => ix.len(),
        };
        if let Some(g) = grad.as_deref_mut() {
            g.fill(0.0);
        }
        let scale = 1.0 / count as f64;
        let mut total = 0.0;
        let mut start = 0;
        while start < count {
            let rows = CHUNK.min(count - start);
            total += self.eval_chunk(w, batch, start, rows, scale, grad.as_deref_mut(), ws);
            start += rows;
        }
        0.5 * total * scale
    }

    /// Σ‖f(x) − y‖² over the batch's points `start..start + rows`; adds `scale` × the gradient of
    /// ½ of it into `grad`.
    #[allow(clippy::too_many_arguments)]
    fn eval_chunk(
        &self,
        w: &[f64],
        batch: Batch<'_>,
        start: usize,
        rows: usize,
        scale: f64,
        grad: Option<&mut [f64]>,
        ws: &mut MlpWorkspace,
    ) -> f64 {
        let layers = self.widths.len() - 1;
        let (h0, hl) = (self.widths[0], self.widths[layers]);
        // Gather the chunk: acts[0] (rows × H_1), targets (rows × H_{L+1}).
        for r in 0..rows {
            let i = match batch {
                Batch::Full => start + r,
                Batch::Indices(ix) => ix[start + r],
            };
            ws.acts[0][r * h0..(r + 1) * h0].copy_from_slice(&self.inputs[i * h0..(i + 1) * h0]);
            ws.y[r * hl..(r + 1) * hl].copy_from_slice(&self.targets[i * hl..(i + 1) * hl]);
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
                1.0,
                Par::Seq,
            );
            let relu = l + 1 < layers;
            for row in out.chunks_exact_mut(hout) {
                for (z, &bk) in row.iter_mut().zip(b) {
                    *z += bk;
                    if relu && *z < 0.0 {
                        *z = 0.0;
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
            total += diff * diff;
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
                1.0,
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
                    1.0,
                    Par::Seq,
                );
                // Through the ReLU of layer l's output (A_l > 0 where it was active).
                for (ev, &a) in e_in.iter_mut().zip(a_in) {
                    if a <= 0.0 {
                        *ev = 0.0;
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
        MlpWorkspace {
            acts: self.widths.iter().map(|&h| vec![0.0; CHUNK * h]).collect(),
            errs: self.widths.iter().map(|&h| vec![0.0; CHUNK * h]).collect(),
            y: vec![0.0; CHUNK * self.widths[self.widths.len() - 1]],
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
}
