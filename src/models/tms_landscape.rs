//! The toy model of superposition's fast landscape: x̂ = ReLU(WᵀW x + b), hand-written backward pass.

use slt_estimators::{Batch, Landscape};

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
}
