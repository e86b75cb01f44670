//! The deep linear network's fast landscape: flat parameters, hand-written forward and backward passes.

use slt_estimators::{Batch, Landscape};

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
}

/// One chain's scratch space for [`DlnLandscape`].
#[derive(Debug, Clone)]
pub struct DlnWorkspace {
    /// Activations of every layer for the current batch: acts[l] is b × H_{l+1} (acts[0] holds the inputs).
    acts: Vec<Vec<f64>>,
    /// Back-propagated errors, same shapes as `acts`.
    errs: Vec<Vec<f64>>,
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
        Self {
            widths: widths.to_vec(),
            inputs,
            targets,
            n,
            offsets,
        }
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

#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
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
        }
    }

    fn loss_and_grad(
        &self,
        w: &[f64],
        batch: Batch<'_>,
        grad: &mut [f64],
        ws: &mut DlnWorkspace,
    ) -> f64 {
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
        let b = self.forward(w, batch, ws);
        self.residual_loss(batch, b, ws, false)
    }
}
