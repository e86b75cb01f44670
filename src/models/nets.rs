//! The burn modules of every family (deep linear, superposition, MLP, the modular-addition classifier): training, checkpoints, and the generic autodiff landscape.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Device, Tensor, TensorData};

/// A network the trainer can fit: a burn module with a loss and a flat view of its parameters
/// in the layout of the matching fast landscape.
#[derive(Module, Debug)]
pub enum Net {
    /// Deep linear network (linear layers without bias).
    Dln(DlnNet),
    /// Toy model of superposition.
    Tms(TmsNet),
    /// ReLU MLP with biases.
    Mlp(MlpNet),
    /// ReLU MLP with biases whose outputs are logits, trained by softmax cross-entropy (modadd).
    Classifier(MlpNet),
}

/// f(x) = W_L ⋯ W_1 x.
#[derive(Module, Debug)]
pub struct DlnNet {
    /// The layers; burn stores each weight as [d_in, d_out].
    pub layers: Vec<Linear>,
}

/// x̂ = ReLU(WᵀW x + b).
#[derive(Module, Debug)]
pub struct TmsNet {
    /// W: [hidden, features].
    pub w: Param<Tensor<2>>,
    /// b: [features].
    pub b: Param<Tensor<1>>,
}

/// ReLU MLP with biases; no activation on the output.
#[derive(Module, Debug)]
pub struct MlpNet {
    /// The layers.
    pub layers: Vec<Linear>,
}

fn linear_from(
    w_rows: &[f64],
    b: Option<&[f64]>,
    hin: usize,
    hout: usize,
    device: &Device,
) -> Linear {
    // Flat layout is W (hout × hin, row-major); burn wants [hin, hout].
    let mut t = vec![0f32; hin * hout];
    for k in 0..hout {
        for j in 0..hin {
            t[j * hout + k] = w_rows[k * hin + j] as f32;
        }
    }
    Linear {
        weight: Param::from_data(TensorData::new(t, [hin, hout]), device),
        bias: b.map(|b| {
            Param::from_data(
                TensorData::new(b.iter().map(|&v| v as f32).collect::<Vec<_>>(), [hout]),
                device,
            )
        }),
    }
}

fn linear_to_flat(layer: &Linear, out: &mut Vec<f64>) {
    let [hin, hout] = layer.weight.val().dims();
    let data: Vec<f32> = layer
        .weight
        .val()
        .into_data()
        .try_to_vec::<f32>()
        .expect("float weights");
    for k in 0..hout {
        for j in 0..hin {
            out.push(data[j * hout + k] as f64);
        }
    }
    if let Some(b) = &layer.bias {
        out.extend(
            b.val()
                .into_data()
                .try_to_vec::<f32>()
                .expect("float bias")
                .into_iter()
                .map(f64::from),
        );
    }
}

impl Net {
    /// A network of the family `shape` with flat parameters `flat` (fast-landscape layout).
    pub fn from_flat(shape: &NetShape, flat: &[f64], device: &Device) -> Self {
        match shape {
            NetShape::Dln(widths) => {
                let mut off = 0;
                let layers = widths
                    .windows(2)
                    .map(|p| {
                        let l =
                            linear_from(&flat[off..off + p[0] * p[1]], None, p[0], p[1], device);
                        off += p[0] * p[1];
                        l
                    })
                    .collect();
                Net::Dln(DlnNet { layers })
            }
            NetShape::Mlp(widths) | NetShape::Classifier(widths) => {
                let mut off = 0;
                let layers = widths
                    .windows(2)
                    .map(|p| {
                        let (wn, bn) = (p[0] * p[1], p[1]);
                        let l = linear_from(
                            &flat[off..off + wn],
                            Some(&flat[off + wn..off + wn + bn]),
                            p[0],
                            p[1],
                            device,
                        );
                        off += wn + bn;
                        l
                    })
                    .collect();
                match shape {
                    NetShape::Classifier(_) => Net::Classifier(MlpNet { layers }),
                    _ => Net::Mlp(MlpNet { layers }),
                }
            }
            NetShape::Tms { features, hidden } => {
                let (f, h) = (*features, *hidden);
                let w: Vec<f32> = flat[..h * f].iter().map(|&v| v as f32).collect();
                let b: Vec<f32> = flat[h * f..h * f + f].iter().map(|&v| v as f32).collect();
                Net::Tms(TmsNet {
                    w: Param::from_data(TensorData::new(w, [h, f]), device),
                    b: Param::from_data(TensorData::new(b, [f]), device),
                })
            }
        }
    }

    /// The parameters, flat, in the layout of the family's fast landscape.
    pub fn to_flat(&self) -> Vec<f64> {
        let mut out = Vec::new();
        match self {
            Net::Dln(n) => n.layers.iter().for_each(|l| linear_to_flat(l, &mut out)),
            Net::Mlp(n) | Net::Classifier(n) => {
                n.layers.iter().for_each(|l| linear_to_flat(l, &mut out))
            }
            Net::Tms(n) => {
                out.extend(
                    n.w.val()
                        .into_data()
                        .try_to_vec::<f32>()
                        .expect("float")
                        .into_iter()
                        .map(f64::from),
                );
                out.extend(
                    n.b.val()
                        .into_data()
                        .try_to_vec::<f32>()
                        .expect("float")
                        .into_iter()
                        .map(f64::from),
                );
            }
        }
        out
    }

    /// The network's output.
    ///
    /// # Shapes
    /// - x: [batch, d_in] → [batch, d_out]
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Net::Dln(n) => n.layers.iter().fold(x, |h, l| l.forward(h)),
            Net::Mlp(n) | Net::Classifier(n) => {
                let last = n.layers.len() - 1;
                n.layers.iter().enumerate().fold(x, |h, (i, l)| {
                    let z = l.forward(h);
                    if i < last {
                        relu(z)
                    } else {
                        z
                    }
                })
            }
            Net::Tms(n) => {
                let w = n.w.val(); // [hidden, features]
                let h = x.matmul(w.clone().transpose()); // [batch, hidden]
                relu(h.matmul(w) + n.b.val().unsqueeze::<2>()) // [batch, features]
            }
        }
    }

    /// The negative log-likelihood averaged over the batch: ½‖y − f(x)‖² (Gaussian, up to a
    /// constant), or for a classifier the cross-entropy −Σ_c y_c log softmax(f(x))_c with y one-hot.
    ///
    /// # Shapes
    /// - x: [batch, d_in], y: [batch, d_out] → [1]
    pub fn loss(&self, x: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
        let batch = x.dims()[0] as f64;
        let out = self.forward(x);
        if let Net::Classifier(_) = self {
            return (log_softmax(out, 1) * y).sum().mul_scalar(-1.0 / batch);
        }
        let diff = out - y;
        (diff.clone() * diff).sum().mul_scalar(0.5 / batch)
    }
}

/// The shape of a network family, enough to rebuild it from flat parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum NetShape {
    /// Deep linear network widths.
    Dln(Vec<usize>),
    /// MLP widths.
    Mlp(Vec<usize>),
    /// A classifier MLP's widths (input, hidden…, classes): softmax cross-entropy on its logits.
    Classifier(Vec<usize>),
    /// Superposition model sizes.
    Tms {
        /// Features.
        features: usize,
        /// Hidden dimension.
        hidden: usize,
    },
}

impl NetShape {
    /// Number of parameters (the flat layout's length).
    pub fn dim(&self) -> usize {
        match self {
            NetShape::Dln(w) => w.windows(2).map(|p| p[0] * p[1]).sum(),
            NetShape::Mlp(w) | NetShape::Classifier(w) => {
                w.windows(2).map(|p| p[0] * p[1] + p[1]).sum()
            }
            NetShape::Tms { features, hidden } => features * hidden + features,
        }
    }
}

fn grad_flat(net: &Net, grads: &burn::tensor::Gradients) -> Vec<f64> {
    let to_vec = |t: Option<Tensor<2>>| -> Vec<f32> {
        t.map(|g| g.into_data().try_to_vec::<f32>().expect("float"))
            .unwrap_or_default()
    };
    let linear = |l: &Linear, out: &mut Vec<f64>| {
        let [hin, hout] = l.weight.val().dims();
        let g = to_vec(l.weight.val().grad(grads));
        let g = if g.is_empty() {
            vec![0.0; hin * hout]
        } else {
            g
        };
        for k in 0..hout {
            for j in 0..hin {
                out.push(g[j * hout + k] as f64);
            }
        }
        if let Some(b) = &l.bias {
            let gb = b
                .val()
                .grad(grads)
                .map(|g| g.into_data().try_to_vec::<f32>().expect("float"))
                .unwrap_or_else(|| vec![0.0; hout]);
            out.extend(gb.into_iter().map(f64::from));
        }
    };
    let mut out = Vec::new();
    match net {
        Net::Dln(n) => n.layers.iter().for_each(|l| linear(l, &mut out)),
        Net::Mlp(n) | Net::Classifier(n) => n.layers.iter().for_each(|l| linear(l, &mut out)),
        Net::Tms(n) => {
            let [h, f] = n.w.val().dims();
            let g = to_vec(n.w.val().grad(grads));
            out.extend(
                if g.is_empty() { vec![0.0; h * f] } else { g }
                    .into_iter()
                    .map(f64::from),
            );
            let gb =
                n.b.val()
                    .grad(grads)
                    .map(|g| g.into_data().try_to_vec::<f32>().expect("float"))
                    .unwrap_or_else(|| vec![0.0; f]);
            out.extend(gb.into_iter().map(f64::from));
        }
    }
    out
}

/// The generic landscape: any family's burn network, loss and gradient through burn's autodiff, on any
/// backend (`Device::default()`: ndarray, or wgpu with the `wgpu` feature). Slower than the fast
/// landscapes (graph building per step) but independent of them; tests hold the two together.
#[derive(Debug, Clone)]
pub struct BurnLandscape {
    shape: NetShape,
    data: crate::models::Dataset,
    dim: usize,
}

impl BurnLandscape {
    /// A landscape of the network `shape` on `data`.
    pub fn new(shape: NetShape, data: crate::models::Dataset) -> Self {
        let dim = shape.dim();
        Self { shape, data, dim }
    }

    fn tensors(&self, batch: slt_estimators::Batch<'_>, device: &Device) -> (Tensor<2>, Tensor<2>) {
        let idx: Vec<usize> = match batch {
            slt_estimators::Batch::Full => (0..self.data.len()).collect(),
            slt_estimators::Batch::Indices(ix) => ix.to_vec(),
        };
        let (di, dout) = (self.data.d_in, self.data.d_out);
        let x: Vec<f32> = idx
            .iter()
            .flat_map(|&i| {
                self.data.inputs[i * di..(i + 1) * di]
                    .iter()
                    .map(|&v| v as f32)
            })
            .collect();
        let y: Vec<f32> = idx
            .iter()
            .flat_map(|&i| {
                self.data.targets[i * dout..(i + 1) * dout]
                    .iter()
                    .map(|&v| v as f32)
            })
            .collect();
        (
            Tensor::from_data(TensorData::new(x, [idx.len(), di]), device),
            Tensor::from_data(TensorData::new(y, [idx.len(), dout]), device),
        )
    }
}

impl slt_estimators::Landscape for BurnLandscape {
    type Workspace = ();

    fn dim(&self) -> usize {
        self.dim
    }

    fn data_size(&self) -> Option<usize> {
        Some(self.data.len())
    }

    fn workspace(&self) {}

    fn loss_and_grad(
        &self,
        w: &[f64],
        batch: slt_estimators::Batch<'_>,
        grad: &mut [f64],
        _ws: &mut (),
    ) -> f64 {
        let device = Device::default().autodiff();
        let net = Net::from_flat(&self.shape, w, &device);
        let (x, y) = self.tensors(batch, &device);
        let loss = net.loss(x, y);
        let value = loss.clone().into_scalar::<f32>() as f64;
        let grads = loss.backward();
        grad.copy_from_slice(&grad_flat(&net, &grads));
        value
    }

    fn loss(&self, w: &[f64], batch: slt_estimators::Batch<'_>, _ws: &mut ()) -> f64 {
        let device = Device::default();
        let net = Net::from_flat(&self.shape, w, &device);
        let (x, y) = self.tensors(batch, &device);
        net.loss(x, y).into_scalar::<f32>() as f64
    }
}
