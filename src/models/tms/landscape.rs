//! The toy model of superposition's fast landscape: x̂ = ReLU(WᵀW x + b), hand-written backward pass.

use slt_estimators::{Batch, Landscape};

use crate::models::dot;

/// Toy model of superposition on fixed inputs, loss ½‖x − x̂‖² averaged over points.
///
/// Parameters, flat: W (hidden × features, row-major), then b (features).
#[derive(Debug, Clone)]
pub struct TmsLandscape {
    features: usize,
    hidden: usize,
    /// Inputs, n × features row-major (the targets are the inputs).
    inputs: Vec<f64>,
    n: usize,
}

/// One chain's scratch space for [`TmsLandscape`]: the hidden vector and its gradient.
#[derive(Debug, Clone)]
pub struct TmsWorkspace {
    h: Vec<f64>,
    dh: Vec<f64>,
    g: Vec<f64>,
}

impl TmsLandscape {
    /// A landscape over `inputs` (n × features, row-major).
    pub fn new(features: usize, hidden: usize, inputs: Vec<f64>) -> Self {
        let n = inputs.len() / features;
        Self {
            features,
            hidden,
            inputs,
            n,
        }
    }

    fn eval(
        &self,
        w: &[f64],
        batch: Batch<'_>,
        mut grad: Option<&mut [f64]>,
        ws: &mut TmsWorkspace,
    ) -> f64 {
        let (f, hd) = (self.features, self.hidden);
        let (wm, b) = w.split_at(hd * f);
        let count = match batch {
            Batch::Full => self.n,
            Batch::Indices(ix) => ix.len(),
        };
        if let Some(g) = grad.as_deref_mut() {
            g.fill(0.0);
        }
        let scale = 1.0 / count as f64;
        let mut total = 0.0;
        for r in 0..count {
            let i = match batch {
                Batch::Full => r,
                Batch::Indices(ix) => ix[r],
            };
            let x = &self.inputs[i * f..(i + 1) * f];
            for k in 0..hd {
                ws.h[k] = wm[k * f..(k + 1) * f]
                    .iter()
                    .zip(x)
                    .map(|(a, b)| a * b)
                    .sum();
            }
            for j in 0..f {
                let z: f64 = b[j] + (0..hd).map(|k| wm[k * f + j] * ws.h[k]).sum::<f64>();
                let out = z.max(0.0);
                let e = out - x[j];
                total += e * e;
                ws.g[j] = if z > 0.0 { e * scale } else { 0.0 };
            }
            if let Some(gr) = grad.as_deref_mut() {
                let (gw, gb) = gr.split_at_mut(hd * f);
                ws.dh.fill(0.0);
                for j in 0..f {
                    let gj = ws.g[j];
                    if gj == 0.0 {
                        continue;
                    }
                    gb[j] += gj;
                    for k in 0..hd {
                        // z_j = Σ_k W_kj h_k: dW_kj += h_k g_j, dh_k += W_kj g_j.
                        gw[k * f + j] += ws.h[k] * gj;
                        ws.dh[k] += wm[k * f + j] * gj;
                    }
                }
                for k in 0..hd {
                    // h_k = Σ_j W_kj x_j: dW_kj += dh_k x_j.
                    let dk = ws.dh[k];
                    for (gv, &xj) in gw[k * f..(k + 1) * f].iter_mut().zip(x) {
                        *gv += dk * xj;
                    }
                }
            }
        }
        0.5 * total * scale
    }

    /// `out = ∇²L(w) v`: the tangent (dual part) of every line of [`Self::eval`]'s backward pass,
    /// with parameters w + ε v. ReLU passes tangents through its mask (zero second derivative off
    /// the kink).
    fn hessian_times(&self, w: &[f64], v: &[f64], batch: Batch<'_>, out: &mut [f64]) {
        let (f, hd) = (self.features, self.hidden);
        let (wm, _) = w.split_at(hd * f);
        let (vm, vb) = v.split_at(hd * f);
        let b = &w[hd * f..];
        let count = match batch {
            Batch::Full => self.n,
            Batch::Indices(ix) => ix.len(),
        };
        out.fill(0.0);
        let scale = 1.0 / count as f64;
        let (mut h, mut dh) = (vec![0.0; hd], vec![0.0; hd]);
        let (mut g, mut dg) = (vec![0.0; f], vec![0.0; f]);
        let (mut back, mut dback) = (vec![0.0; hd], vec![0.0; hd]);
        for r in 0..count {
            let i = match batch {
                Batch::Full => r,
                Batch::Indices(ix) => ix[r],
            };
            let x = &self.inputs[i * f..(i + 1) * f];
            // h = W x, ḣ = Ẇ x.
            for k in 0..hd {
                h[k] = dot(&wm[k * f..(k + 1) * f], x);
                dh[k] = dot(&vm[k * f..(k + 1) * f], x);
            }
            // z_j = b_j + Σ_k W_kj h_k, ż_j = ḃ_j + Σ_k (Ẇ_kj h_k + W_kj ḣ_k); g = ∂ℓ/∂z.
            for j in 0..f {
                let z: f64 = b[j] + (0..hd).map(|k| wm[k * f + j] * h[k]).sum::<f64>();
                let dz: f64 = vb[j]
                    + (0..hd)
                        .map(|k| vm[k * f + j] * h[k] + wm[k * f + j] * dh[k])
                        .sum::<f64>();
                if z > 0.0 {
                    g[j] = (z - x[j]) * scale;
                    dg[j] = dz * scale;
                } else {
                    g[j] = 0.0;
                    dg[j] = 0.0;
                }
            }
            let (ow, ob) = out.split_at_mut(hd * f);
            back.fill(0.0);
            dback.fill(0.0);
            for j in 0..f {
                ob[j] += dg[j];
                for k in 0..hd {
                    // ∇W_kj += h_k g_j;  back_k += W_kj g_j  (and their tangents).
                    ow[k * f + j] += dh[k] * g[j] + h[k] * dg[j];
                    back[k] += wm[k * f + j] * g[j];
                    dback[k] += vm[k * f + j] * g[j] + wm[k * f + j] * dg[j];
                }
            }
            for k in 0..hd {
                // ∇W_kj += back_k x_j.
                for (o, &xj) in ow[k * f..(k + 1) * f].iter_mut().zip(x) {
                    *o += dback[k] * xj;
                }
            }
        }
    }
}

impl Landscape for TmsLandscape {
    type Workspace = TmsWorkspace;

    fn dim(&self) -> usize {
        self.hidden * self.features + self.features
    }

    fn data_size(&self) -> Option<usize> {
        Some(self.n)
    }

    fn workspace(&self) -> TmsWorkspace {
        TmsWorkspace {
            h: vec![0.0; self.hidden],
            dh: vec![0.0; self.hidden],
            g: vec![0.0; self.features],
        }
    }

    fn loss_and_grad(
        &self,
        w: &[f64],
        batch: Batch<'_>,
        grad: &mut [f64],
        ws: &mut TmsWorkspace,
    ) -> f64 {
        self.eval(w, batch, Some(grad), ws)
    }

    fn loss(&self, w: &[f64], batch: Batch<'_>, ws: &mut TmsWorkspace) -> f64 {
        self.eval(w, batch, None, ws)
    }

    fn hessian_vector_product(
        &self,
        w: &[f64],
        v: &[f64],
        batch: Batch<'_>,
        out: &mut [f64],
        _ws: &mut TmsWorkspace,
    ) -> bool {
        self.hessian_times(w, v, batch, out);
        true
    }
}
