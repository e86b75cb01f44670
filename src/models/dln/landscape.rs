//! The deep linear network's fast landscape: flat parameters, hand-written forward and backward passes.

use slt_estimators::{Batch, Landscape};

use faer::Accum;

use crate::models::dot;
use crate::models::tangent::{gemm, mm, LayeredNet};

/// A deep linear network f(x) = W_L ⋯ W_1 x on a fixed data set, with loss ½‖y − f(x)‖² averaged over points.
///
/// Parameters are the layers' weights, flat and in order: W_1 (H_2 × H_1, row-major), W_2, …
#[derive(Debug, Clone)]
pub struct DlnLandscape {
    widths: Vec<usize>,
    /// Inputs, n × H_1 row-major.
    inputs: Vec<f64>,
    /// Targets, n × H_{L+1} row-major.
    targets: Vec<f64>,
    n: usize,
    offsets: Vec<usize>,
    /// The full batch's sufficient statistics (none when XᵀX is singular).
    full: Option<FullBatchStats>,
}

/// The full-batch loss of a linear map W through second moments, independent of n:
/// ½ mean‖W x − y‖² = ½ [tr((W − Bᵀ) Σ (W − Bᵀ)ᵀ) + c], with Σ = XᵀX / n, B = Σ⁻¹ XᵀY / n the
/// least-squares map and c = mean‖y − Bᵀ x‖² its residual (computed point by point, so a noiseless
/// teacher's c is exactly its rounding). The form in W − Bᵀ has no cancellation near a minimum.
#[derive(Debug, Clone)]
struct FullBatchStats {
    /// Σ, H_1 × H_1 row-major.
    sxx: Vec<f64>,
    /// Bᵀ, H_{L+1} × H_1 row-major.
    bt: Vec<f64>,
    /// The least-squares residual c.
    c: f64,
}

impl FullBatchStats {
    fn new(inputs: &[f64], targets: &[f64], din: usize, dout: usize) -> Option<Self> {
        let n = inputs.len() / din;
        if n < din {
            return None;
        }
        let x = faer::MatRef::from_row_major_slice(inputs, n, din);
        let y = faer::MatRef::from_row_major_slice(targets, n, dout);
        let scale = 1.0 / n as f64;
        let sxx = x.transpose() * x * faer::Scale(scale);
        let sxy = x.transpose() * y * faer::Scale(scale);
        let llt = sxx.llt(faer::Side::Lower).ok()?;
        let b = faer::linalg::solvers::Solve::solve(&llt, &sxy); // H_1 × H_{L+1}
        let mut c = 0.0;
        for r in 0..n {
            for k in 0..dout {
                let pred: f64 = (0..din).map(|j| b[(j, k)] * inputs[r * din + j]).sum();
                let e = targets[r * dout + k] - pred;
                c += e * e;
            }
        }
        let finite = (0..din).all(|j| (0..dout).all(|k| b[(j, k)].is_finite()));
        finite.then(|| Self {
            sxx: (0..din * din).map(|i| sxx[(i / din, i % din)]).collect(),
            bt: (0..dout * din).map(|i| b[(i % din, i / din)]).collect(),
            c: c * scale,
        })
    }
}

/// One chain's scratch space for [`DlnLandscape`].
#[derive(Debug, Clone)]
pub struct DlnWorkspace {
    /// Activations of every layer for the current batch: acts[l] is b × H_{l+1} (acts[0] holds the inputs).
    acts: Vec<Vec<f64>>,
    /// Back-propagated errors, same shapes as `acts`.
    errs: Vec<Vec<f64>>,
    /// Full batch: prefix products right[l] = W_{l−1} ⋯ W_1 (H_{l+1} × H_1; right[0] = I).
    right: Vec<Vec<f64>>,
    /// Full batch: the gradient flowing back through the prefix products, two buffers.
    back: [Vec<f64>; 2],
}

impl DlnLandscape {
    /// A landscape over `inputs` (n × H_1) and `targets` (n × H_{L+1}), both row-major.
    pub fn new(widths: &[usize], inputs: Vec<f64>, targets: Vec<f64>) -> Self {
        let n = inputs.len() / widths[0];
        assert_eq!(
            targets.len(),
            n * widths[widths.len() - 1],
            "targets must be n × output width"
        );
        let mut offsets = vec![0];
        for l in 0..widths.len() - 1 {
            offsets.push(offsets[l] + widths[l] * widths[l + 1]);
        }
        let full = FullBatchStats::new(&inputs, &targets, widths[0], widths[widths.len() - 1]);
        Self {
            widths: widths.to_vec(),
            inputs,
            targets,
            n,
            offsets,
            full,
        }
    }

    /// The full-batch loss (and gradient) from the second moments: O(L H³) whatever n.
    ///
    /// # Shapes
    /// right[l]: H_{l+1}… as documented on [`DlnWorkspace`]; D = W − Bᵀ and G = D Σ: H_{L+1} × H_1.
    fn full_batch(
        &self,
        stats: &FullBatchStats,
        w: &[f64],
        grad: Option<&mut [f64]>,
        ws: &mut DlnWorkspace,
    ) -> f64 {
        let h0 = self.widths[0];
        let layers = self.layers();
        // right[0] = I; right[l+1] = W_l right[l].
        ws.right.resize(layers + 1, Vec::new());
        ws.right[0].clear();
        ws.right[0].resize(h0 * h0, 0.0);
        for j in 0..h0 {
            ws.right[0][j * h0 + j] = 1.0;
        }
        for l in 0..layers {
            let (hin, hout) = (self.widths[l], self.widths[l + 1]);
            let wl = &w[self.offsets[l]..self.offsets[l + 1]];
            let (lo, hi) = ws.right.split_at_mut(l + 1);
            let next = &mut hi[0];
            next.resize(hout * h0, 0.0);
            // right[l+1] = W_l right[l]  (H_{l+1} × H_1).
            product(next, hout, h0, rm(wl, hout, hin), rm(&lo[l], hin, h0));
        }
        let hl = self.widths[layers];
        // D = W − Bᵀ (kept in back[0]); G = D Σ (back[1]); loss = ½ (Σ_kj D_kj G_kj + c).
        let [d, g] = &mut ws.back;
        d.clear();
        d.extend(ws.right[layers].iter().zip(&stats.bt).map(|(a, b)| a - b));
        g.resize(hl * h0, 0.0);
        product(g, hl, h0, rm(d, hl, h0), rm(&stats.sxx, h0, h0));
        let loss = 0.5 * (d.iter().zip(g.iter()).map(|(a, b)| a * b).sum::<f64>() + stats.c);
        let Some(grad) = grad else {
            return loss;
        };
        // M = ∂L/∂right[L] = G. For l = L−1 … 0: ∂L/∂W_l = M right[l]ᵀ, then M ← W_lᵀ M.
        let (mut m, mut next) = (std::mem::take(g), std::mem::take(d));
        for l in (0..layers).rev() {
            let (hin, hout) = (self.widths[l], self.widths[l + 1]);
            let wl = &w[self.offsets[l]..self.offsets[l + 1]];
            let gl = &mut grad[self.offsets[l]..self.offsets[l + 1]];
            // ∂L/∂W_l = M right[l]ᵀ  (H_{l+1} × H_l).
            product(
                gl,
                hout,
                hin,
                rm(&m, hout, h0),
                rm(&ws.right[l], hin, h0).transpose(),
            );
            if l > 0 {
                // M ← W_lᵀ M  (H_l × H_1).
                next.resize(hin * h0, 0.0);
                product(
                    &mut next,
                    hin,
                    h0,
                    rm(wl, hout, hin).transpose(),
                    rm(&m, hout, h0),
                );
                std::mem::swap(&mut m, &mut next);
            }
        }
        ws.back = [next, m];
        loss
    }

    /// `out = ∇²L(w) v` of the full-batch loss from the second moments: the tangent (dual part) of
    /// every product in [`Self::full_batch`]'s forward and backward pass.
    ///
    /// # Shapes
    /// right[l], ṙight[l]: H_{l+1} × H_1; D, G = D Σ, M and their tangents: H_{L+1} × H_1, M shrinking
    /// to H_{l+1} × H_1 as it moves back.
    fn full_batch_hvp(&self, stats: &FullBatchStats, w: &[f64], v: &[f64], out: &mut [f64]) {
        let h0 = self.widths[0];
        let layers = self.layers();
        let layer = |p, l| self.layer_view(p, l);
        // right[l+1] = W_l right[l];  ṙ[l+1] = Ẇ_l right[l] + W_l ṙ[l]  (ṙ[0] = 0).
        let mut right = vec![vec![0.0; h0 * h0]];
        let mut dright = vec![vec![0.0; h0 * h0]];
        for j in 0..h0 {
            right[0][j * h0 + j] = 1.0;
        }
        for l in 0..layers {
            let (hin, hout) = (self.widths[l], self.widths[l + 1]);
            let mut next = vec![0.0; hout * h0];
            gemm(
                mm(&mut next, hout, h0),
                Accum::Replace,
                layer(w, l),
                rm(&right[l], hin, h0),
            );
            let mut dnext = vec![0.0; hout * h0];
            gemm(
                mm(&mut dnext, hout, h0),
                Accum::Replace,
                layer(v, l),
                rm(&right[l], hin, h0),
            );
            gemm(
                mm(&mut dnext, hout, h0),
                Accum::Add,
                layer(w, l),
                rm(&dright[l], hin, h0),
            );
            right.push(next);
            dright.push(dnext);
        }
        let hl = self.widths[layers];
        // G = (right[L] − Bᵀ) Σ;  Ġ = ṙ[L] Σ.
        let d: Vec<f64> = right[layers]
            .iter()
            .zip(&stats.bt)
            .map(|(a, b)| a - b)
            .collect();
        let (mut m, mut dm) = (vec![0.0; hl * h0], vec![0.0; hl * h0]);
        let sxx = rm(&stats.sxx, h0, h0);
        gemm(mm(&mut m, hl, h0), Accum::Replace, rm(&d, hl, h0), sxx);
        gemm(
            mm(&mut dm, hl, h0),
            Accum::Replace,
            rm(&dright[layers], hl, h0),
            sxx,
        );
        for l in (0..layers).rev() {
            let (hin, hout) = (self.widths[l], self.widths[l + 1]);
            // ∂L/∂W_l = M right[l]ᵀ, tangent Ṁ right[l]ᵀ + M ṙ[l]ᵀ.
            let o = mm(&mut out[self.offsets[l]..self.offsets[l + 1]], hout, hin);
            gemm(
                o,
                Accum::Replace,
                rm(&dm, hout, h0),
                rm(&right[l], hin, h0).transpose(),
            );
            let o = mm(&mut out[self.offsets[l]..self.offsets[l + 1]], hout, hin);
            gemm(
                o,
                Accum::Add,
                rm(&m, hout, h0),
                rm(&dright[l], hin, h0).transpose(),
            );
            if l > 0 {
                // M ← W_lᵀ M, tangent Ẇ_lᵀ M + W_lᵀ Ṁ.
                let mut next = vec![0.0; hin * h0];
                gemm(
                    mm(&mut next, hin, h0),
                    Accum::Replace,
                    layer(w, l).transpose(),
                    rm(&m, hout, h0),
                );
                let mut dnext = vec![0.0; hin * h0];
                gemm(
                    mm(&mut dnext, hin, h0),
                    Accum::Replace,
                    layer(v, l).transpose(),
                    rm(&m, hout, h0),
                );
                gemm(
                    mm(&mut dnext, hin, h0),
                    Accum::Add,
                    layer(w, l).transpose(),
                    rm(&dm, hout, h0),
                );
                m = next;
                dm = dnext;
            }
        }
    }

    /// Layer l's block of a flat vector (parameters or a direction) as its H_{l+1} × H_l matrix.
    fn layer_view<'a>(&self, p: &'a [f64], l: usize) -> faer::MatRef<'a, f64> {
        rm(
            &p[self.offsets[l]..self.offsets[l + 1]],
            self.widths[l + 1],
            self.widths[l],
        )
    }

    /// The layer widths H_1 … H_{L+1}.
    pub fn widths(&self) -> &[usize] {
        &self.widths
    }

    fn layers(&self) -> usize {
        self.widths.len() - 1
    }

    /// Forward pass over the batch into `ws.acts`; returns the batch size.
    fn forward(&self, w: &[f64], batch: Batch<'_>, ws: &mut DlnWorkspace) -> usize {
        let h0 = self.widths[0];
        let b = match batch {
            Batch::Full => self.n,
            Batch::Indices(ix) => ix.len(),
        };
        for (l, a) in ws.acts.iter_mut().enumerate() {
            a.resize(b * self.widths[l], 0.0);
        }
        // acts[0] = X_B: b × H_1
        match batch {
            Batch::Full => ws.acts[0].copy_from_slice(&self.inputs),
            Batch::Indices(ix) => {
                for (r, &i) in ix.iter().enumerate() {
                    ws.acts[0][r * h0..(r + 1) * h0]
                        .copy_from_slice(&self.inputs[i * h0..(i + 1) * h0]);
                }
            }
        }
        for l in 0..self.layers() {
            let (hin, hout) = (self.widths[l], self.widths[l + 1]);
            let wl = &w[self.offsets[l]..self.offsets[l + 1]]; // hout × hin
            let (prev, next) = ws.acts.split_at_mut(l + 1);
            let (a_in, a_out) = (&prev[l], &mut next[0]); // b × hin, b × hout
            for r in 0..b {
                let x = &a_in[r * hin..(r + 1) * hin];
                for (o, row) in a_out[r * hout..(r + 1) * hout]
                    .iter_mut()
                    .zip(wl.chunks_exact(hin))
                {
                    *o = dot(row, x);
                }
            }
        }
        b
    }

    /// ½ Σ‖y − f(x)‖² / b over the batch, from the last activations; residuals go into `errs[L]`.
    fn residual_loss(
        &self,
        batch: Batch<'_>,
        b: usize,
        ws: &mut DlnWorkspace,
        keep_residual: bool,
    ) -> f64 {
        let l = self.layers();
        let hout = self.widths[l];
        let out = &ws.acts[l];
        let mut total = 0.0;
        if keep_residual {
            ws.errs[l].resize(b * hout, 0.0);
        }
        for r in 0..b {
            let i = match batch {
                Batch::Full => r,
                Batch::Indices(ix) => ix[r],
            };
            let y = &self.targets[i * hout..(i + 1) * hout];
            for k in 0..hout {
                let e = out[r * hout + k] - y[k];
                total += e * e;
                if keep_residual {
                    ws.errs[l][r * hout + k] = e / b as f64;
                }
            }
        }
        0.5 * total / b as f64
    }
}

/// A row-major matrix view.
fn rm(data: &[f64], rows: usize, cols: usize) -> faer::MatRef<'_, f64> {
    faer::MatRef::from_row_major_slice(&data[..rows * cols], rows, cols)
}

/// out (rows × cols, row-major) = a · b.
fn product(
    out: &mut [f64],
    rows: usize,
    cols: usize,
    a: faer::MatRef<'_, f64>,
    b: faer::MatRef<'_, f64>,
) {
    faer::linalg::matmul::matmul(
        faer::MatMut::from_row_major_slice_mut(&mut out[..rows * cols], rows, cols),
        faer::Accum::Replace,
        a,
        b,
        1.0,
        faer::Par::Seq,
    );
}

impl Landscape for DlnLandscape {
    type Workspace = DlnWorkspace;

    fn dim(&self) -> usize {
        *self.offsets.last().expect("offsets start with 0")
    }

    fn data_size(&self) -> Option<usize> {
        Some(self.n)
    }

    fn workspace(&self) -> DlnWorkspace {
        DlnWorkspace {
            acts: vec![Vec::new(); self.widths.len()],
            errs: vec![Vec::new(); self.widths.len()],
            right: Vec::new(),
            back: [Vec::new(), Vec::new()],
        }
    }

    fn loss_and_grad(
        &self,
        w: &[f64],
        batch: Batch<'_>,
        grad: &mut [f64],
        ws: &mut DlnWorkspace,
    ) -> f64 {
        if let (Batch::Full, Some(stats)) = (batch, &self.full) {
            return self.full_batch(stats, w, Some(grad), ws);
        }
        let b = self.forward(w, batch, ws);
        let loss = self.residual_loss(batch, b, ws, true);
        // Backward: grad W_l = G_lᵀ A_{l−1} (G_l: b × H_{l+1}), G_{l−1} = G_l W_l.
        for l in (0..self.layers()).rev() {
            let (hin, hout) = (self.widths[l], self.widths[l + 1]);
            let wl = &w[self.offsets[l]..self.offsets[l + 1]];
            let gl = &mut grad[self.offsets[l]..self.offsets[l + 1]];
            gl.fill(0.0);
            let (errs_lo, errs_hi) = ws.errs.split_at_mut(l + 1);
            let g_out = &errs_hi[0]; // b × hout
            let a_in = &ws.acts[l]; // b × hin
            for r in 0..b {
                let x = &a_in[r * hin..(r + 1) * hin];
                for (k, row) in gl.chunks_exact_mut(hin).enumerate() {
                    let e = g_out[r * hout + k];
                    if e != 0.0 {
                        for (g, &xi) in row.iter_mut().zip(x) {
                            *g += e * xi;
                        }
                    }
                }
            }
            if l > 0 {
                let g_in = &mut errs_lo[l];
                g_in.resize(b * hin, 0.0);
                for r in 0..b {
                    let gi = &mut g_in[r * hin..(r + 1) * hin];
                    gi.fill(0.0);
                    for (k, row) in wl.chunks_exact(hin).enumerate() {
                        let e = g_out[r * hout + k];
                        for (g, &wv) in gi.iter_mut().zip(row) {
                            *g += e * wv;
                        }
                    }
                }
            }
        }
        loss
    }

    fn loss(&self, w: &[f64], batch: Batch<'_>, ws: &mut DlnWorkspace) -> f64 {
        if let (Batch::Full, Some(stats)) = (batch, &self.full) {
            return self.full_batch(stats, w, None, ws);
        }
        let b = self.forward(w, batch, ws);
        self.residual_loss(batch, b, ws, false)
    }

    /// Exact: tangents through the second-moment backward pass on the full batch, through the
    /// per-point one ([`LayeredNet`]) on a minibatch.
    fn hessian_vector_product(
        &self,
        w: &[f64],
        v: &[f64],
        batch: Batch<'_>,
        out: &mut [f64],
        _ws: &mut DlnWorkspace,
    ) -> bool {
        if let (Batch::Full, Some(stats)) = (batch, &self.full) {
            self.full_batch_hvp(stats, w, v, out);
        } else {
            LayeredNet {
                widths: &self.widths,
                offsets: &self.offsets,
                biases: false,
                relu: false,
                softmax: false,
                inputs: &self.inputs,
                targets: &self.targets,
            }
            .hessian_vector_product(w, v, batch, out);
        }
        true
    }
}
