//! Chains stacked on a leading tensor dimension: C copies of an MLP or deep linear network evaluated with batched matrix products on any burn device, and SGLD for all of them on that device.
//!
//! The fast landscapes (`*_landscape.rs`) run one chain per thread on the CPU; this landscape runs
//! all C chains in one set of tensors of shape [C, …], so that a GPU sees matrix products big enough
//! to be worth launching. The backward pass is written by hand in tensor ops (no autodiff graph is
//! built per step). Everything is in f32 (burn's default float).

use burn::tensor::activation::relu;
use std::borrow::Cow;

use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use slt_estimators::chains::{
    run_chains_batched, ChainBatch, ChainSettings, ChainTrace, NoObserver,
};
use slt_estimators::sampler::ChainRng;
use slt_estimators::{Batch, Error, Sampler, Sgld, TemperedPosterior};

use super::{Dataset, NetShape};

type Result<T> = std::result::Result<T, Error>;

/// The parameters (or gradients) of C stacked networks, layer by layer.
///
/// # Shapes
/// - `weights[l]`: [C, H_{l+1}, H_l] (each chain's W_l, as in the fast landscapes' row-major W_l)
/// - `biases[l]`: [C, H_{l+1}] (MLP only; empty for a deep linear network)
#[derive(Debug, Clone)]
pub struct StackedParams {
    /// One [C, H_{l+1}, H_l] tensor per layer.
    pub weights: Vec<Tensor<3>>,
    /// One [C, H_{l+1}] tensor per layer (MLP), or none (deep linear network).
    pub biases: Vec<Tensor<2>>,
}

/// A minibatch on the device, feature-major (one column per point).
///
/// # Shapes
/// - `inputs_t`: [H_1, B]
/// - `targets_t`: [H_{L+1}, B]
#[derive(Debug, Clone)]
pub struct StackedBatch {
    inputs_t: Tensor<2>,
    targets_t: Tensor<2>,
    size: usize,
}

/// C networks of one family (ReLU MLP with biases and a squared-error head, or a deep linear network)
/// on a data set held on a burn device; loss ½‖f(x) − y‖² averaged over the batch, per chain.
#[derive(Debug, Clone)]
pub struct StackedLandscape {
    widths: Vec<usize>,
    /// MLP (biases, ReLU on hidden layers) rather than deep linear network.
    mlp: bool,
    /// Inputs transposed, [H_1, n].
    inputs_t: Tensor<2>,
    /// Targets transposed, [H_{L+1}, n].
    targets_t: Tensor<2>,
    n: usize,
    device: Device,
}

impl StackedLandscape {
    /// The stacked landscape of a network family on `data`, on `device`: MLP and deep linear
    /// networks only (other families are an [`Error::InvalidShape`]).
    pub fn new(shape: &NetShape, data: &Dataset, device: &Device) -> Result<Self> {
        let (widths, mlp) = match shape {
            NetShape::Mlp(w) => (w.clone(), true),
            NetShape::Dln(w) => (w.clone(), false),
            other => {
                return Err(Error::InvalidShape {
                    what: format!("{other:?}"),
                    why: "the stacked landscape supports the mlp and dln families only".into(),
                })
            }
        };
        if widths.len() < 2 || widths.contains(&0) {
            return Err(Error::InvalidShape {
                what: format!("widths {widths:?}"),
                why: "need at least 2 nonzero widths".into(),
            });
        }
        let (din, dout) = (widths[0], widths[widths.len() - 1]);
        if data.d_in != din || data.d_out != dout || data.is_empty() {
            return Err(Error::InvalidShape {
                what: format!(
                    "data of {} points, {} → {}",
                    data.len(),
                    data.d_in,
                    data.d_out
                ),
                why: format!("the network maps {din} → {dout} and needs at least one point"),
            });
        }
        let n = data.len();
        let transpose = |rows: &[f64], width: usize| -> Tensor<2> {
            let mut t = vec![0f32; rows.len()];
            for (i, row) in rows.chunks_exact(width).enumerate() {
                for (k, &v) in row.iter().enumerate() {
                    t[k * n + i] = v as f32;
                }
            }
            Tensor::from_data(TensorData::new(t, [width, n]), device)
        };
        Ok(Self {
            inputs_t: transpose(&data.inputs, din),    // [H_1, n]
            targets_t: transpose(&data.targets, dout), // [H_{L+1}, n]
            widths,
            mlp,
            n,
            device: device.clone(),
        })
    }

    /// Parameters per network d (the fast landscape's layout and count).
    pub fn dim(&self) -> usize {
        self.widths
            .windows(2)
            .map(|p| p[0] * p[1] + if self.mlp { p[1] } else { 0 })
            .sum()
    }

    /// Training points n.
    pub fn data_size(&self) -> usize {
        self.n
    }

    /// The device the tensors live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// C networks from C flat points in the fast landscape's layout (per layer W_l row-major, then
    /// b_l for an MLP), copied to the device.
    pub fn params_from_flat(&self, points: &[&[f64]]) -> Result<StackedParams> {
        let c = points.len();
        let d = self.dim();
        if c == 0 {
            return Err(Error::InvalidShape {
                what: "no points".into(),
                why: "need at least one chain".into(),
            });
        }
        if let Some(p) = points.iter().find(|p| p.len() != d) {
            return Err(Error::InvalidShape {
                what: format!("point of length {}", p.len()),
                why: format!("the network has {d} parameters"),
            });
        }
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        let mut off = 0;
        for pair in self.widths.windows(2) {
            let (hin, hout) = (pair[0], pair[1]);
            let wn = hin * hout;
            let w: Vec<f32> = points
                .iter()
                .flat_map(|p| p[off..off + wn].iter().map(|&v| v as f32))
                .collect();
            weights.push(Tensor::from_data(
                TensorData::new(w, [c, hout, hin]),
                &self.device,
            ));
            off += wn;
            if self.mlp {
                let b: Vec<f32> = points
                    .iter()
                    .flat_map(|p| p[off..off + hout].iter().map(|&v| v as f32))
                    .collect();
                biases.push(Tensor::from_data(
                    TensorData::new(b, [c, hout]),
                    &self.device,
                ));
                off += hout;
            }
        }
        Ok(StackedParams { weights, biases })
    }

    /// Each chain's parameters (or gradient), flat in the fast landscape's layout, read back.
    pub fn params_to_flat(&self, params: &StackedParams) -> Result<Vec<Vec<f64>>> {
        let c = params.weights[0].dims()[0];
        let mut out = vec![Vec::with_capacity(self.dim()); c];
        for (l, w) in params.weights.iter().enumerate() {
            let wv = read_f32(w)?;
            let per = wv.len() / c;
            for (chain, o) in out.iter_mut().enumerate() {
                o.extend(wv[chain * per..(chain + 1) * per].iter().map(|&v| v as f64));
            }
            if let Some(b) = params.biases.get(l) {
                let bv = read_f32(b)?;
                let per = bv.len() / c;
                for (chain, o) in out.iter_mut().enumerate() {
                    o.extend(bv[chain * per..(chain + 1) * per].iter().map(|&v| v as f64));
                }
            }
        }
        Ok(out)
    }

    /// The minibatch of the points `indices` (each in 0..n), or every point (`None`), on the
    /// device; the indices are the only host-to-device copy.
    pub fn batch(&self, indices: Option<&[usize]>) -> Result<StackedBatch> {
        match indices {
            None => Ok(StackedBatch {
                inputs_t: self.inputs_t.clone(),
                targets_t: self.targets_t.clone(),
                size: self.n,
            }),
            Some(ix) => {
                if ix.is_empty() {
                    return Err(Error::InvalidShape {
                        what: "an empty minibatch".into(),
                        why: "need at least one point".into(),
                    });
                }
                if let Some(&i) = ix.iter().find(|&&i| i >= self.n) {
                    return Err(Error::InvalidShape {
                        what: format!("minibatch index {i}"),
                        why: format!("the data set has {} points", self.n),
                    });
                }
                let idx: Vec<i64> = ix.iter().map(|&i| i as i64).collect();
                let idx =
                    Tensor::<1, Int>::from_data(TensorData::new(idx, [ix.len()]), &self.device);
                Ok(StackedBatch {
                    inputs_t: self.inputs_t.clone().select(1, idx.clone()), // [H_1, B]
                    targets_t: self.targets_t.clone().select(1, idx),       // [H_{L+1}, B]
                    size: ix.len(),
                })
            }
        }
    }

    /// The forward pass: every layer's activations (post-ReLU for hidden MLP layers), the first
    /// being the batch's inputs.
    ///
    /// # Shapes
    /// - returns `acts[0]` = inputs [H_1, B] (shared by all chains), then `acts[l]`: [C, H_{l+1}, B];
    ///   the last is the output [C, H_{L+1}, B]
    fn forward(&self, params: &StackedParams, batch: &StackedBatch) -> (Tensor<2>, Vec<Tensor<3>>) {
        let layers = self.widths.len() - 1;
        let c = params.weights[0].dims()[0];
        let b = batch.size;
        let mut acts: Vec<Tensor<3>> = Vec::with_capacity(layers);
        for l in 0..layers {
            let hout = self.widths[l + 1];
            let w = params.weights[l].clone(); // [C, H_{l+1}, H_l]
            let mut z = if l == 0 {
                // One product for all chains: [C·H_2, H_1] @ [H_1, B] → [C·H_2, B].
                let hin = self.widths[0];
                w.reshape([c * hout, hin])
                    .matmul(batch.inputs_t.clone())
                    .reshape([c, hout, b])
            } else {
                w.matmul(acts[l - 1].clone()) // [C, H_{l+1}, H_l] @ [C, H_l, B] → [C, H_{l+1}, B]
            };
            if self.mlp {
                z = z + params.biases[l].clone().unsqueeze_dim::<3>(2); // + [C, H_{l+1}, 1]
                if l + 1 < layers {
                    z = relu(z);
                }
            }
            acts.push(z);
        }
        (batch.inputs_t.clone(), acts)
    }

    /// Each chain's loss on the batch.
    ///
    /// # Shapes
    /// - returns [C]
    pub fn loss(&self, params: &StackedParams, batch: &StackedBatch) -> Tensor<1> {
        let (_, acts) = self.forward(params, batch);
        let out = acts.last().expect("at least one layer").clone(); // [C, H_{L+1}, B]
        let c = out.dims()[0];
        let diff = out - batch.targets_t.clone().unsqueeze_dim::<3>(0); // [C, H_{L+1}, B]
        diff.square()
            .sum_dims(&[1, 2]) // [C, 1, 1]
            .reshape([c])
            .mul_scalar(0.5 / batch.size as f64)
    }

    /// Each chain's loss on the batch and its gradient (hand-written backward pass).
    ///
    /// # Shapes
    /// - returns the losses [C] and gradients shaped as `params`
    pub fn loss_and_grad(
        &self,
        params: &StackedParams,
        batch: &StackedBatch,
    ) -> (Tensor<1>, StackedParams) {
        let layers = self.widths.len() - 1;
        let (inputs_t, acts) = self.forward(params, batch);
        let c = params.weights[0].dims()[0];
        let b = batch.size;
        let diff = acts[layers - 1].clone() - batch.targets_t.clone().unsqueeze_dim::<3>(0); // [C, H_{L+1}, B]
        let loss = diff
            .clone()
            .square()
            .sum_dims(&[1, 2]) // [C, 1, 1]
            .reshape([c])
            .mul_scalar(0.5 / b as f64); // [C]
                                         // δ_{l+1} = ∂loss/∂z_{l+1}, [C, H_{l+1}, B]; at the output (f − y) / B.
        let mut delta = diff.mul_scalar(1.0 / b as f64);
        let mut gw: Vec<Tensor<3>> = Vec::with_capacity(layers);
        let mut gb: Vec<Tensor<2>> = Vec::new();
        for l in (0..layers).rev() {
            let (hin, hout) = (self.widths[l], self.widths[l + 1]);
            if self.mlp {
                gb.push(delta.clone().sum_dim(2).reshape([c, hout])); // [C, H_{l+1}]
            }
            if l == 0 {
                // [C·H_2, B] @ [B, H_1] → [C·H_2, H_1] → [C, H_2, H_1].
                gw.push(
                    delta
                        .clone()
                        .reshape([c * hout, b])
                        .matmul(inputs_t.clone().transpose())
                        .reshape([c, hout, hin]),
                );
                break;
            }
            let a = acts[l - 1].clone(); // [C, H_l, B]
            gw.push(delta.clone().matmul(a.clone().swap_dims(1, 2))); // [C, H_{l+1}, B] @ [C, B, H_l]
            delta = params.weights[l].clone().swap_dims(1, 2).matmul(delta); // [C, H_l, B]
            if self.mlp {
                // Through the ReLU: zero where the unit was inactive (a = relu(z) ≤ 0).
                delta = delta.mask_fill(a.lower_equal_elem(0.0), 0.0);
            }
        }
        gw.reverse();
        gb.reverse();
        (
            loss,
            StackedParams {
                weights: gw,
                biases: gb,
            },
        )
    }
}

/// A tensor's values read back to the host as f32.
fn read_f32<const D: usize>(t: &Tensor<D>) -> Result<Vec<f32>> {
    t.try_to_vec_as::<f32>().map_err(|e| Error::Numerical {
        what: "reading a tensor back from the device",
        why: e.to_string(),
    })
}

/// C SGLD chains on a stacked landscape's device, all started at `center` (w*): the device backend
/// of the chain executor ([`run_chains_batched`] owns the loop; this evaluates, steps and reads back).
///
/// The step is w ← w − (ε/2)(nβ ∇L_B(w) + γ (w − w*)) + N(0, ε I) for every chain at once, in f32,
/// with the noise drawn on the device from its generator (seeded by the executor with the run's
/// seed, so a run is reproducible on one backend, not across backends, and not bit-equal to the CPU
/// chains). Diverged chains keep being computed (masking them out would cost more than their share
/// of the batched products); the executor no longer reads them.
pub struct StackedChains<'a> {
    landscape: &'a StackedLandscape,
    /// The chains' current points, [C, …] per layer.
    params: StackedParams,
    /// w*, [1, …] per layer.
    center: StackedParams,
    /// (εγ/2) w*, [1, …] per layer: the localization's pull, the same every step.
    pull: StackedParams,
    /// 1 − εγ/2, the factor the localization keeps of w.
    keep: f64,
    /// ε nβ / 2, the gradient's factor.
    drift: f64,
    /// N(0, ε).
    noise: Distribution,
    /// The full batch (every point), on the device.
    full: StackedBatch,
    /// The last evaluation's losses [C] and gradients, until the step uses them.
    evaluated: Option<(Tensor<1>, StackedParams)>,
    /// The current points read back, kept until the next step (observers read one chain at a time).
    points: Option<Vec<Vec<f64>>>,
}

impl<'a> StackedChains<'a> {
    /// `chains` SGLD chains of `sampler` on `landscape`, all at `center` (w*).
    pub fn new(
        landscape: &'a StackedLandscape,
        sampler: &Sgld,
        center: &[f64],
        chains: usize,
    ) -> Result<Self> {
        let center_params = landscape.params_from_flat(&[center])?; // [1, …] each
        let params = landscape.params_from_flat(&vec![center; chains])?; // [C, …] each
        let (eps, posterior) = (sampler.step_size(), sampler.posterior());
        let (nbeta, gamma) = (posterior.nbeta, posterior.localization);
        // w ← (1 − εγ/2) w + (εγ/2) w* − (ε nβ/2) g + √ε ξ; the w* term is the same every step.
        let pull = StackedParams {
            weights: center_params
                .weights
                .iter()
                .map(|w| w.clone().mul_scalar(0.5 * eps * gamma))
                .collect(), // [1, H_{l+1}, H_l]
            biases: center_params
                .biases
                .iter()
                .map(|b| b.clone().mul_scalar(0.5 * eps * gamma))
                .collect(), // [1, H_{l+1}]
        };
        Ok(Self {
            full: landscape.batch(None)?,
            landscape,
            params,
            center: center_params,
            pull,
            keep: 1.0 - 0.5 * eps * gamma,
            drift: 0.5 * eps * nbeta,
            noise: Distribution::Normal(0.0, eps.sqrt()),
            evaluated: None,
            points: None,
        })
    }

    fn evaluated(&self) -> &(Tensor<1>, StackedParams) {
        self.evaluated
            .as_ref()
            .expect("the executor evaluates before it reads losses or steps")
    }
}

/// f32 values read back into f64s.
fn read_into<const D: usize>(t: &Tensor<D>, out: &mut [f64]) -> Result<()> {
    for (o, v) in out.iter_mut().zip(read_f32(t)?) {
        *o = v as f64;
    }
    Ok(())
}

impl ChainBatch for StackedChains<'_> {
    fn chains(&self) -> usize {
        self.params.weights[0].dims()[0]
    }

    fn dim(&self) -> usize {
        self.landscape.dim()
    }

    fn data_size(&self) -> Option<usize> {
        Some(self.landscape.data_size())
    }

    /// One generator for all chains, on the device; every trace records the run's seed.
    fn seed(&mut self, seed: u64) -> Vec<u64> {
        self.landscape.device().seed(seed);
        vec![seed; self.chains()]
    }

    fn evaluate(&mut self, batch: Batch<'_>) -> Result<()> {
        let batch = match batch {
            Batch::Full => self.full.clone(),
            Batch::Indices(ix) => self.landscape.batch(Some(ix))?,
        };
        self.evaluated = Some(self.landscape.loss_and_grad(&self.params, &batch));
        Ok(())
    }

    fn losses(&mut self, out: &mut [f64]) -> Result<()> {
        read_into(&self.evaluated().0, out)
    }

    fn step(&mut self, _rng: &mut ChainRng) -> Result<()> {
        let (_, grad) = self
            .evaluated
            .take()
            .expect("the executor evaluates before it steps");
        let device = self.landscape.device();
        let params = std::mem::replace(
            &mut self.params,
            StackedParams {
                weights: Vec::new(),
                biases: Vec::new(),
            },
        );
        let mut next_w = Vec::with_capacity(params.weights.len());
        for ((w, g), pull) in params
            .weights
            .into_iter()
            .zip(grad.weights)
            .zip(&self.pull.weights)
        {
            let xi = Tensor::<3>::random(w.shape(), self.noise, device);
            next_w.push(w.mul_scalar(self.keep) + pull.clone() - g.mul_scalar(self.drift) + xi);
        }
        let mut next_b = Vec::with_capacity(params.biases.len());
        for ((b, g), pull) in params
            .biases
            .into_iter()
            .zip(grad.biases)
            .zip(&self.pull.biases)
        {
            let xi = Tensor::<2>::random(b.shape(), self.noise, device);
            next_b.push(b.mul_scalar(self.keep) + pull.clone() - g.mul_scalar(self.drift) + xi);
        }
        self.params = StackedParams {
            weights: next_w,
            biases: next_b,
        };
        self.points = None;
        Ok(())
    }

    fn squared_distances(&mut self, out: &mut [f64]) -> Result<()> {
        read_into(&distance2(&self.params, &self.center), out)
    }

    fn full_losses(&mut self, out: &mut [f64]) -> Result<()> {
        read_into(&self.landscape.loss(&self.params, &self.full), out)
    }

    /// Reads every chain back at the first call after a step (one read-back, not C).
    fn point(&mut self, chain: usize) -> Result<Cow<'_, [f64]>> {
        if self.points.is_none() {
            self.points = Some(self.landscape.params_to_flat(&self.params)?);
        }
        let points = self.points.as_ref().expect("read back above");
        Ok(Cow::Borrowed(&points[chain]))
    }
}

/// SGLD for C stacked chains on the landscape's device, all started at `center` (w*), through the
/// chain executor: [`StackedChains`] stepped by [`run_chains_batched`], which draws every chain's
/// shared minibatch on the host, reads the losses back at the kept draws only, and watches for
/// divergence there and at every `thin`-th step of the burn-in (see it for the rule).
/// `settings.threads` does not apply. The traces' `seed` is the device seed (shared by all chains).
pub fn run_stacked_sgld(
    landscape: &StackedLandscape,
    step_size: f64,
    posterior: TemperedPosterior,
    center: &[f64],
    settings: &ChainSettings,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<ChainTrace>> {
    settings.validate()?;
    let sampler = Sgld::new(step_size, posterior)?;
    let mut chains = StackedChains::new(landscape, &sampler, center, settings.chains)?;
    let (traces, _) = run_chains_batched(&mut chains, settings, progress, |_| NoObserver)?;
    // Wait for the queued steps, so that a caller timing the run times the work.
    landscape.device().sync().map_err(|e| Error::Numerical {
        what: "finishing the stacked chains on the device",
        why: e.to_string(),
    })?;
    Ok(traces)
}

/// Each chain's squared distance from the center.
///
/// # Shapes
/// - `params`: [C, …] per layer, `center`: [1, …] per layer → [C]
fn distance2(params: &StackedParams, center: &StackedParams) -> Tensor<1> {
    let c = params.weights[0].dims()[0];
    let mut total: Option<Tensor<1>> = None;
    let mut add = |t: Tensor<1>| {
        total = Some(match total.take() {
            Some(s) => s + t,
            None => t,
        })
    };
    for (w, w0) in params.weights.iter().zip(&center.weights) {
        add((w.clone() - w0.clone())
            .square()
            .sum_dims(&[1, 2])
            .reshape([c])); // [C]
    }
    for (b, b0) in params.biases.iter().zip(&center.biases) {
        add((b.clone() - b0.clone()).square().sum_dim(1).reshape([c])); // [C]
    }
    total.expect("at least one layer")
}

/// The burn device of an `llc.device` choice: ndarray, or wgpu's default adapter (a GPU, or
/// lavapipe's software Vulkan). `"cpu"` has no burn device (it is the fast landscapes' path).
/// A wgpu runtime that cannot start (no adapter) is an error, not a crash.
pub fn burn_device(choice: crate::sections::choices::DeviceChoice) -> Result<Device> {
    use crate::sections::choices::DeviceChoice;
    let unavailable = |why: String| Error::Numerical {
        what: "starting the llc.device",
        why,
    };
    match choice {
        DeviceChoice::Cpu => Err(unavailable(
            "\"cpu\" runs the fast landscapes, not a burn device".into(),
        )),
        // burn 0.22 marks ndarray deprecated (for its flex backend); ndarray is the backend this
        // workspace enables, the one every CPU-side burn model here runs on.
        #[allow(deprecated)]
        DeviceChoice::Ndarray => Ok(Device::ndarray()),
        #[cfg(feature = "wgpu")]
        DeviceChoice::Wgpu => {
            let device = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
            let probe = device.clone();
            let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                Tensor::<1>::zeros([1], &probe).try_to_vec_as::<f32>()
            }));
            match started {
                Ok(Ok(_)) => Ok(device),
                Ok(Err(e)) => Err(unavailable(format!("wgpu: {e}"))),
                Err(_) => Err(unavailable(
                    "wgpu found no usable adapter (a GPU, or software Vulkan: mesa-vulkan-drivers)"
                        .into(),
                )),
            }
        }
        #[cfg(not(feature = "wgpu"))]
        DeviceChoice::Wgpu => Err(unavailable(
            "\"wgpu\" needs slt built with the wgpu feature".into(),
        )),
    }
}

/// SGLD chains of a problem (MLP or deep linear network) on the stacked landscape on `choice`'s
/// device: [`run_stacked_sgld`].
pub fn run_problem_chains(
    problem: &super::Problem,
    choice: crate::sections::choices::DeviceChoice,
    step_size: f64,
    posterior: TemperedPosterior,
    center: &[f64],
    settings: &ChainSettings,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<ChainTrace>> {
    let missing = || Error::InvalidShape {
        what: "a problem without a network or data".into(),
        why: "the stacked landscape needs an mlp or dln problem".into(),
    };
    let shape = problem.shape.as_ref().ok_or_else(missing)?;
    let data = problem.train.as_ref().ok_or_else(missing)?;
    let device = burn_device(choice)?;
    let landscape = StackedLandscape::new(shape, data, &device)?;
    run_stacked_sgld(&landscape, step_size, posterior, center, settings, progress)
}

/// A problem's SGLD chains on the stacked landscape of a burn device: the LLC run's seam to the device.
pub struct ProblemStacked<'a> {
    /// The problem (an MLP or a deep linear network with data).
    pub problem: &'a super::Problem,
    /// The device.
    pub device: crate::sections::choices::DeviceChoice,
}

impl slt_estimators::run::StackedSgld for ProblemStacked<'_> {
    fn run(
        &self,
        sampler: &slt_estimators::Sgld,
        center: &[f64],
        settings: &ChainSettings,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Vec<ChainTrace>> {
        run_problem_chains(
            self.problem,
            self.device,
            sampler.step_size(),
            sampler.posterior(),
            center,
            settings,
            progress,
        )
    }
}
