//! The MLP's fast landscape: ReLU hidden layers with biases, hand-written forward and backward passes.

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

/// One chain's scratch space for [`MlpLandscape`]: every layer's activations and errors for one point.
#[derive(Debug, Clone)]
pub struct MlpWorkspace {
    acts: Vec<Vec<f64>>,
    errs: Vec<Vec<f64>>,
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
        ws.acts[self.widths.len() - 1].clone()
    }

    fn eval(
        &self,
        w: &[f64],
        batch: Batch<'_>,
        mut grad: Option<&mut [f64]>,
        ws: &mut MlpWorkspace,
    ) -> f64 {
        let layers = self.widths.len() - 1;
        let (h0, hl) = (self.widths[0], self.widths[layers]);
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
            ws.acts[0].copy_from_slice(&self.inputs[i * h0..(i + 1) * h0]);
            for l in 0..layers {
                let (hin, hout) = (self.widths[l], self.widths[l + 1]);
                let p = &w[self.offsets[l]..self.offsets[l + 1]];
                let (wm, b) = p.split_at(hin * hout);
                let (prev, next) = ws.acts.split_at_mut(l + 1);
                for (k, o) in next[0].iter_mut().enumerate() {
                    let z = b[k]
                        + wm[k * hin..(k + 1) * hin]
                            .iter()
                            .zip(&prev[l])
                            .map(|(a, x)| a * x)
                            .sum::<f64>();
                    *o = if l + 1 < layers { z.max(0.0) } else { z };
                }
            }
            let y = &self.targets[i * hl..(i + 1) * hl];
            for k in 0..hl {
                let e = ws.acts[layers][k] - y[k];
                total += e * e;
                ws.errs[layers][k] = e * scale;
            }
            let Some(g) = grad.as_deref_mut() else {
                continue;
            };
            for l in (0..layers).rev() {
                let (hin, hout) = (self.widths[l], self.widths[l + 1]);
                let p = &w[self.offsets[l]..self.offsets[l + 1]];
                let wm = &p[..hin * hout];
                let gp = &mut g[self.offsets[l]..self.offsets[l + 1]];
                let (gw, gb) = gp.split_at_mut(hin * hout);
                let (lo, hi) = ws.errs.split_at_mut(l + 1);
                let e_out = &hi[0];
                let x = &ws.acts[l];
                for k in 0..hout {
                    let e = e_out[k];
                    if e == 0.0 {
                        continue;
                    }
                    gb[k] += e;
                    for (gv, &xv) in gw[k * hin..(k + 1) * hin].iter_mut().zip(x) {
                        *gv += e * xv;
                    }
                }
                if l > 0 {
                    let e_in = &mut lo[l];
                    e_in.fill(0.0);
                    for k in 0..hout {
                        let e = e_out[k];
                        if e == 0.0 {
                            continue;
                        }
                        for (ev, &wv) in e_in.iter_mut().zip(&wm[k * hin..(k + 1) * hin]) {
                            *ev += e * wv;
                        }
                    }
                    // Through the ReLU of layer l's output (acts[l] > 0 where it was active).
                    for (ev, &a) in e_in.iter_mut().zip(&ws.acts[l]) {
                        if a <= 0.0 {
                            *ev = 0.0;
                        }
                    }
                }
            }
        }
        0.5 * total * scale
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
            acts: self.widths.iter().map(|&h| vec![0.0; h]).collect(),
            errs: self.widths.iter().map(|&h| vec![0.0; h]).collect(),
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
