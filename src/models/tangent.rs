//! Exact Hessian-vector products of layered networks (deep linear, MLP): forward-mode tangents (dual numbers) carried through the hand-written backward pass.
//!
//! Every quantity x of the forward and backward pass gets a tangent ẋ = d/dt x(w + t v) at t = 0,
//! that is the dual number x + ẋ ε with ε² = 0. The tangent of the gradient is H v, exact up to
//! rounding. Products of dual matrices split into real products: (A + Ȧ ε)(B + Ḃ ε) = AB + (ȦB + AḂ) ε,
//! each one a faer matrix product. ReLU is piecewise linear, so its tangent is the same mask (its
//! second derivative is zero away from the kink, and the kink itself has measure zero).

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use slt_estimators::Batch;

/// Points per matrix product (bounds the scratch space whatever the batch).
const CHUNK: usize = 256;

/// A layered network y = A_L, A_{l+1} = σ_l(A_l W_lᵀ + b_l), on fixed data, loss ½‖y − t‖² (or the
/// softmax cross-entropy) averaged over points; σ_l is ReLU on hidden layers when `relu`, the
/// identity otherwise.
pub(crate) struct LayeredNet<'a> {
    /// Widths H_1 … H_{L+1}.
    pub widths: &'a [usize],
    /// Parameter offsets: layer l holds W_l (H_{l+1} × H_l, row-major), then b_l (H_{l+1}) when
    /// `biases`, in `offsets[l]..offsets[l + 1]`.
    pub offsets: &'a [usize],
    /// Whether layers have biases.
    pub biases: bool,
    /// Whether hidden layers apply ReLU.
    pub relu: bool,
    /// The loss on the output: ½‖y − t‖² when false; softmax cross-entropy against target
    /// distributions t (Σ_c t_c = 1) when true, with gradient softmax(y) − t.
    pub softmax: bool,
    /// Inputs, n × H_1 row-major.
    pub inputs: &'a [f64],
    /// Targets, n × H_{L+1} row-major.
    pub targets: &'a [f64],
}

/// A matrix and its tangent, row-major, for a chunk of points.
struct Dual {
    re: Vec<f64>,
    du: Vec<f64>,
}

impl Dual {
    fn sized(len: usize) -> Self {
        Self {
            re: vec![0.0; len],
            du: vec![0.0; len],
        }
    }
}

fn rm(data: &[f64], rows: usize, cols: usize) -> MatRef<'_, f64> {
    MatRef::from_row_major_slice(&data[..rows * cols], rows, cols)
}

/// A row-major mutable matrix view.
pub(crate) fn mm(data: &mut [f64], rows: usize, cols: usize) -> MatMut<'_, f64> {
    MatMut::from_row_major_slice_mut(&mut data[..rows * cols], rows, cols)
}

/// out (+)= a · b (sequential faer product).
pub(crate) fn gemm(out: MatMut<'_, f64>, accum: Accum, a: MatRef<'_, f64>, b: MatRef<'_, f64>) {
    matmul(out, accum, a, b, 1.0, Par::Seq);
}

impl LayeredNet<'_> {
    fn layers(&self) -> usize {
        self.widths.len() - 1
    }

    /// `out = ∇²L(w) v` over `batch`.
    ///
    /// # Shapes
    /// Per chunk of r points: acts[l] and its tangent r × H_l; errs[l] (∂/∂A_l of the chunk's share
    /// of the loss) r × H_l; W_l and Ẇ_l H_{l+1} × H_l.
    pub fn hessian_vector_product(&self, w: &[f64], v: &[f64], batch: Batch<'_>, out: &mut [f64]) {
        let layers = self.layers();
        let count = match batch {
            Batch::Full => self.inputs.len() / self.widths[0],
            Batch::Indices(ix) => ix.len(),
        };
        out.fill(0.0);
        let scale = 1.0 / count as f64;
        let mut acts: Vec<Dual> = self
            .widths
            .iter()
            .map(|&h| Dual::sized(CHUNK * h))
            .collect();
        let mut errs: Vec<Dual> = self
            .widths
            .iter()
            .map(|&h| Dual::sized(CHUNK * h))
            .collect();
        let (h0, hl) = (self.widths[0], self.widths[layers]);
        let mut y = vec![0.0; CHUNK * hl];
        let mut start = 0;
        while start < count {
            let rows = CHUNK.min(count - start);
            // Gather the chunk; inputs and targets have no tangent.
            for r in 0..rows {
                let i = match batch {
                    Batch::Full => start + r,
                    Batch::Indices(ix) => ix[start + r],
                };
                acts[0].re[r * h0..(r + 1) * h0]
                    .copy_from_slice(&self.inputs[i * h0..(i + 1) * h0]);
                y[r * hl..(r + 1) * hl].copy_from_slice(&self.targets[i * hl..(i + 1) * hl]);
            }
            acts[0].du[..rows * h0].fill(0.0);
            // Forward: Z = A Wᵀ + b, Ż = Ȧ Wᵀ + A Ẇᵀ + ḃ; ReLU masks both.
            for l in 0..layers {
                let (hin, hout) = (self.widths[l], self.widths[l + 1]);
                let (wm, b) = w[self.offsets[l]..self.offsets[l + 1]].split_at(hin * hout);
                let (vm, vb) = v[self.offsets[l]..self.offsets[l + 1]].split_at(hin * hout);
                let (prev, next) = acts.split_at_mut(l + 1);
                let (a_in, a_out) = (&prev[l], &mut next[0]);
                let (w_l, v_l) = (rm(wm, hout, hin), rm(vm, hout, hin));
                gemm(
                    mm(&mut a_out.re, rows, hout),
                    Accum::Replace,
                    rm(&a_in.re, rows, hin),
                    w_l.transpose(),
                );
                gemm(
                    mm(&mut a_out.du, rows, hout),
                    Accum::Replace,
                    rm(&a_in.re, rows, hin),
                    v_l.transpose(),
                );
                if l > 0 {
                    gemm(
                        mm(&mut a_out.du, rows, hout),
                        Accum::Add,
                        rm(&a_in.du, rows, hin),
                        w_l.transpose(),
                    );
                }
                let relu = self.relu && l + 1 < layers;
                for r in 0..rows {
                    let zs = &mut a_out.re[r * hout..(r + 1) * hout];
                    let dz = &mut a_out.du[r * hout..(r + 1) * hout];
                    for k in 0..hout {
                        if self.biases {
                            zs[k] += b[k];
                            dz[k] += vb[k];
                        }
                        if relu && zs[k] < 0.0 {
                            zs[k] = 0.0;
                            dz[k] = 0.0;
                        }
                    }
                }
            }
            // Output error: squared error E = (A_L − Y)/count, Ė = Ȧ_L/count; cross-entropy
            // E = (p − Y)/count with p = softmax(A_L), Ė = (p ⊙ Ȧ_L − p (p · Ȧ_L))/count.
            {
                let (e, a) = (&mut errs[layers], &acts[layers]);
                if self.softmax {
                    for r in 0..rows {
                        let z = &a.re[r * hl..(r + 1) * hl];
                        let dz = &a.du[r * hl..(r + 1) * hl];
                        let m = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
                        let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                        let pdz: f64 = z.iter().zip(dz).map(|(zc, d)| (zc - lse).exp() * d).sum();
                        for c in 0..hl {
                            let p = (z[c] - lse).exp();
                            e.re[r * hl + c] = (p - y[r * hl + c]) * scale;
                            e.du[r * hl + c] = p * (dz[c] - pdz) * scale;
                        }
                    }
                } else {
                    for (er, (ar, yv)) in e.re[..rows * hl].iter_mut().zip(a.re.iter().zip(&y)) {
                        *er = (ar - yv) * scale;
                    }
                    for (ed, ad) in e.du[..rows * hl].iter_mut().zip(&a.du) {
                        *ed = ad * scale;
                    }
                }
            }
            // Backward: ∇W_l += Eᵀ A, so its tangent Ėᵀ A + Eᵀ Ȧ; ∇b_l += Σ_rows E, tangent Σ Ė;
            // E_l = (E W_l) ⊙ mask, tangent (Ė W_l + E Ẇ_l) ⊙ mask.
            for l in (0..layers).rev() {
                let (hin, hout) = (self.widths[l], self.widths[l + 1]);
                let wm = &w[self.offsets[l]..self.offsets[l] + hin * hout];
                let vm = &v[self.offsets[l]..self.offsets[l] + hin * hout];
                let (ow, ob) = out[self.offsets[l]..self.offsets[l + 1]].split_at_mut(hin * hout);
                let (lo, hi) = errs.split_at_mut(l + 1);
                let e_out = &hi[0];
                let a_in = &acts[l];
                gemm(
                    mm(ow, hout, hin),
                    Accum::Add,
                    rm(&e_out.du, rows, hout).transpose(),
                    rm(&a_in.re, rows, hin),
                );
                if l > 0 {
                    gemm(
                        mm(ow, hout, hin),
                        Accum::Add,
                        rm(&e_out.re, rows, hout).transpose(),
                        rm(&a_in.du, rows, hin),
                    );
                }
                if self.biases {
                    for row in e_out.du[..rows * hout].chunks_exact(hout) {
                        for (o, &e) in ob.iter_mut().zip(row) {
                            *o += e;
                        }
                    }
                }
                if l > 0 {
                    let e_in = &mut lo[l];
                    gemm(
                        mm(&mut e_in.re, rows, hin),
                        Accum::Replace,
                        rm(&e_out.re, rows, hout),
                        rm(wm, hout, hin),
                    );
                    gemm(
                        mm(&mut e_in.du, rows, hin),
                        Accum::Replace,
                        rm(&e_out.du, rows, hout),
                        rm(wm, hout, hin),
                    );
                    gemm(
                        mm(&mut e_in.du, rows, hin),
                        Accum::Add,
                        rm(&e_out.re, rows, hout),
                        rm(vm, hout, hin),
                    );
                    if self.relu {
                        for i in 0..rows * hin {
                            if a_in.re[i] <= 0.0 {
                                e_in.re[i] = 0.0;
                                e_in.du[i] = 0.0;
                            }
                        }
                    }
                }
            }
            start += rows;
        }
    }
}
