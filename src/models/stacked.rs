//! Chains stacked on a leading tensor dimension: C copies of an MLP or deep linear network evaluated with batched matrix products on any burn device, and SGLD for all of them on that device.
//!
//! The fast landscapes (`*_landscape.rs`) run one chain per thread on the CPU; this landscape runs
//! all C chains in one set of tensors of shape [C, …], so that a GPU sees matrix products big enough
//! to be worth launching. The backward pass is written by hand in tensor ops (no autodiff graph is
//! built per step). Everything is in f32 (burn's default float).

use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::Rng;
use slt_estimators::chains::{ChainSettings, ChainTrace, Divergence};
use slt_estimators::{Error, TemperedPosterior};

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

/// SGLD for C stacked chains on the landscape's device, all started at `center` (w*):
/// w ← w − (ε/2)(nβ ∇L_B(w) + γ (w − w*)) + N(0, ε I), every chain on the same minibatch each step.
///
/// Minibatches are shuffled epochs over 0..n (without replacement within an epoch, as the CPU
/// chains draw them), their indices drawn on the host from `batch_rng`; a batch of at least n is
/// the full batch. The Gaussian noise is drawn on the device from its generator, seeded once with
/// `settings.seed` (so a run is reproducible on one backend, not across backends, and not bit-equal
/// to the CPU chains). Each chain's minibatch loss at w (before the step) and ‖w − w*‖ are read back
/// every `settings.thin` steps only (the kept draws, and the same spacing through the burn-in); a
/// non-finite loss or a distance past `settings.divergence_radius` ends that chain's trace there
/// (its `divergence` names the step where it was seen; between read-backs it is not watched), the
/// other chains go on, and the run stops early when every chain has diverged.
/// `settings.threads` does not apply. `progress` gets the chain-steps done, after every draw.
/// The traces' `seed` is the device seed (shared by all chains).
pub fn run_stacked_sgld<R: Rng>(
    landscape: &StackedLandscape,
    step_size: f64,
    posterior: TemperedPosterior,
    center: &[f64],
    settings: &ChainSettings,
    batch_rng: &mut R,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<ChainTrace>> {
    settings.validate()?;
    if !(step_size.is_finite() && step_size > 0.0) {
        return Err(Error::OutOfRange {
            name: "llc.step_size",
            value: step_size.to_string(),
            rule: "must be positive and finite",
        });
    }
    let c = settings.chains;
    let device = landscape.device().clone();
    device.seed(settings.seed);
    let center_params = landscape.params_from_flat(&[center])?; // [1, …] each
    let mut params = landscape.params_from_flat(&vec![center; c])?; // [C, …] each
    let (eps, nbeta, gamma) = (step_size, posterior.nbeta, posterior.localization);
    // w ← (1 − εγ/2) w + (εγ/2) w* − (ε nβ/2) g + √ε ξ; the w* term is the same every step.
    let keep = 1.0 - 0.5 * eps * gamma;
    let drift = 0.5 * eps * nbeta;
    let noise = Distribution::Normal(0.0, eps.sqrt());
    let pull_w: Vec<Tensor<3>> = center_params
        .weights
        .iter()
        .map(|w| w.clone().mul_scalar(0.5 * eps * gamma))
        .collect(); // [1, H_{l+1}, H_l]
    let pull_b: Vec<Tensor<2>> = center_params
        .biases
        .iter()
        .map(|b| b.clone().mul_scalar(0.5 * eps * gamma))
        .collect(); // [1, H_{l+1}]

    let n = landscape.data_size();
    let minibatch = settings.batch_size < n;
    let mut order: Vec<usize> = (0..n).collect();
    let mut cursor = order.len();
    let full = landscape.batch(None)?;
    let mut traces: Vec<ChainTrace> = (0..c)
        .map(|chain| ChainTrace {
            chain,
            seed: settings.seed,
            losses: Vec::with_capacity(settings.draws),
            full_losses: Vec::new(),
            divergence: None,
        })
        .collect();
    let total = settings.steps_per_chain();
    let mut pending = 0u64;
    for step in 0..total {
        let batch = if minibatch {
            if cursor + settings.batch_size > order.len() {
                order.shuffle(batch_rng);
                cursor = 0;
            }
            cursor += settings.batch_size;
            landscape.batch(Some(&order[cursor - settings.batch_size..cursor]))?
        } else {
            full.clone()
        };
        let (loss, grad) = landscape.loss_and_grad(&params, &batch);
        // Kept draws, and every thin-th step of the burn-in (divergence only), are read back.
        let draw = (step >= settings.burnin && (step - settings.burnin) % settings.thin == 0)
            .then(|| (step - settings.burnin) / settings.thin);
        if draw.is_some() || (step < settings.burnin && step % settings.thin == 0) {
            let losses = read_f32(&loss)?;
            let dist2 = read_f32(&distance2(&params, &center_params))?;
            let full_losses = match draw {
                Some(k) if settings.full_loss_every > 0 && k % settings.full_loss_every == 0 => {
                    Some(read_f32(&landscape.loss(&params, &full))?)
                }
                _ => None,
            };
            for (chain, t) in traces.iter_mut().enumerate() {
                if t.divergence.is_some() {
                    continue;
                }
                let l = losses[chain] as f64;
                let r2 = dist2[chain] as f64;
                if !l.is_finite() {
                    t.divergence = Some(Divergence {
                        step,
                        reason: format!("loss became {l}"),
                    });
                } else if r2.is_nan() || r2 > settings.divergence_radius.powi(2) {
                    t.divergence = Some(Divergence {
                        step,
                        reason: format!(
                            "distance from w* reached {:.3e} (divergence radius {:.3e})",
                            r2.sqrt(),
                            settings.divergence_radius
                        ),
                    });
                } else if let Some(k) = draw {
                    t.losses.push(l);
                    if let Some(f) = &full_losses {
                        t.full_losses.push((k, f[chain] as f64));
                    }
                }
            }
            progress(pending * c as u64);
            pending = 0;
            if traces.iter().all(|t| t.divergence.is_some()) {
                break;
            }
        }
        let mut next_w = Vec::with_capacity(params.weights.len());
        for ((w, g), pull) in params.weights.into_iter().zip(grad.weights).zip(&pull_w) {
            let xi = Tensor::<3>::random(w.shape(), noise, &device);
            next_w.push(w.mul_scalar(keep) + pull.clone() - g.mul_scalar(drift) + xi);
        }
        let mut next_b = Vec::with_capacity(params.biases.len());
        for ((b, g), pull) in params.biases.into_iter().zip(grad.biases).zip(&pull_b) {
            let xi = Tensor::<2>::random(b.shape(), noise, &device);
            next_b.push(b.mul_scalar(keep) + pull.clone() - g.mul_scalar(drift) + xi);
        }
        params = StackedParams {
            weights: next_w,
            biases: next_b,
        };
        pending += 1;
    }
    progress(pending * c as u64);
    // Wait for the queued steps, so that a caller timing the run times the work.
    device.sync().map_err(|e| Error::Numerical {
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
/// device: [`run_stacked_sgld`] with the minibatch indices drawn from a stream of `settings.seed`.
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
    let mut batch_rng = <slt_estimators::sampler::ChainRng as rand::SeedableRng>::seed_from_u64(
        slt_estimators::chains::chain_seed(settings.seed, usize::MAX),
    );
    run_stacked_sgld(
        &landscape,
        step_size,
        posterior,
        center,
        settings,
        &mut batch_rng,
        progress,
    )
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
        use slt_estimators::Sampler;
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
