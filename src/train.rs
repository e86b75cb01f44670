//! The burn training loop: minibatches, Adam or SGD, log-spaced checkpoints, and the training log.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, SgdConfig};
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use slt_estimators::landscape::full_loss;

use crate::error::{Error, IoContext, Result};
use crate::models::{Dataset, Net, NetShape, Problem};
use crate::sections::train::{checkpoint_steps, Checkpoints, OptimizerKind, TrainConfig};

/// One saved checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The optimizer step after which it was saved.
    pub step: usize,
    /// The burnpack file.
    pub path: PathBuf,
    /// Its parameters, flat (fast-landscape layout).
    pub params: Vec<f64>,
}

/// One row of train_log.csv.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrainLogRow {
    /// Optimizer step.
    pub step: usize,
    /// Full-batch training loss.
    pub train_loss: f64,
    /// Full-batch test loss, where there is a test set.
    pub test_loss: Option<f64>,
    /// A classifier's training accuracy (fraction of points whose largest logit is the label).
    #[serde(skip)]
    pub train_acc: Option<f64>,
    /// A classifier's test accuracy, where there is a test set.
    #[serde(skip)]
    pub test_acc: Option<f64>,
}

/// One row of a classifier's train_log.csv: the losses and accuracies.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClassifierLogRow {
    /// Optimizer step.
    pub step: usize,
    /// Full-batch training loss (cross-entropy).
    pub train_loss: f64,
    /// Full-batch test loss, where there is a test set.
    pub test_loss: Option<f64>,
    /// Training accuracy.
    pub train_acc: Option<f64>,
    /// Test accuracy, where there is a test set.
    pub test_acc: Option<f64>,
}

/// Writes train_log.csv: `step, train_loss, test_loss`, and `train_acc, test_acc` for a classifier.
pub fn write_train_log(path: &Path, log: &[TrainLogRow]) -> Result<()> {
    if log.iter().any(|r| r.train_acc.is_some()) {
        let rows: Vec<ClassifierLogRow> = log
            .iter()
            .map(|r| ClassifierLogRow {
                step: r.step,
                train_loss: r.train_loss,
                test_loss: r.test_loss,
                train_acc: r.train_acc,
                test_acc: r.test_acc,
            })
            .collect();
        crate::report::write_csv(path, &rows)
    } else {
        crate::report::write_csv(path, log)
    }
}

/// What training produced.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The checkpoints, in step order; the last is the final model.
    pub checkpoints: Vec<Checkpoint>,
    /// The training log.
    pub log: Vec<TrainLogRow>,
}

/// Initial flat parameters: Gaussian with sd `scale / sqrt(fan-in)`, zero biases.
pub fn initial_params(shape: &NetShape, scale: f64, rng: &mut Xoshiro256PlusPlus) -> Vec<f64> {
    let mut g = |sd: f64, count: usize, out: &mut Vec<f64>| {
        out.extend((0..count).map(|_| sd * rng.sample::<f64, _>(StandardNormal)))
    };
    let mut flat = Vec::new();
    match shape {
        NetShape::Dln(w) => w
            .windows(2)
            .for_each(|p| g(scale / (p[0] as f64).sqrt(), p[0] * p[1], &mut flat)),
        NetShape::Mlp(w) | NetShape::Classifier(w) => w.windows(2).for_each(|p| {
            g(scale / (p[0] as f64).sqrt(), p[0] * p[1], &mut flat);
            flat.extend(std::iter::repeat_n(0.0, p[1]));
        }),
        NetShape::Tms { features, hidden } => {
            g(
                scale / (*hidden as f64).sqrt(),
                features * hidden,
                &mut flat,
            );
            flat.extend(std::iter::repeat_n(0.0, *features));
        }
    }
    flat
}

fn batch_tensors(data: &Dataset, idx: &[usize], device: &Device) -> (Tensor<2>, Tensor<2>) {
    let mut x = Vec::with_capacity(idx.len() * data.d_in);
    let mut y = Vec::with_capacity(idx.len() * data.d_out);
    for &i in idx {
        x.extend(
            data.inputs[i * data.d_in..(i + 1) * data.d_in]
                .iter()
                .map(|&v| v as f32),
        );
        y.extend(
            data.targets[i * data.d_out..(i + 1) * data.d_out]
                .iter()
                .map(|&v| v as f32),
        );
    }
    (
        Tensor::from_data(TensorData::new(x, [idx.len(), data.d_in]), device),
        Tensor::from_data(TensorData::new(y, [idx.len(), data.d_out]), device),
    )
}

/// Saves a network as burnpack, atomically (temp file, then rename).
pub fn save_checkpoint(net: &Net, path: &Path) -> Result<()> {
    let tmp = path.with_extension("bpk.tmp");
    let saved = net
        .clone()
        .save_file(&tmp)
        .output_context(|| format!("writing checkpoint {}", tmp.display()))
        .and_then(|()| {
            std::fs::rename(&tmp, path)
                .output_context(|| format!("renaming checkpoint to {}", path.display()))
        });
    if saved.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    saved?;
    Ok(())
}

/// Loads a burnpack checkpoint of the given shape; returns its flat parameters.
pub fn load_checkpoint(shape: &NetShape, path: &Path) -> Result<Vec<f64>> {
    let record = burn::store::ModuleRecord::load(path)
        .input_context(|| format!("reading checkpoint {}", path.display()))?;
    let device = Device::default();
    let template = Net::from_flat(shape, &vec![0.0; shape.dim()], &device);
    let net = template
        .try_load_record(record)
        .input_context(|| format!("checkpoint {} does not fit the model", path.display()))?;
    Ok(net.to_flat())
}

/// Trains the problem's network with burn, saving checkpoints into `checkpoint_dir`.
///
/// `progress` is called with the number of steps done since its last call.
pub fn train(
    config: &TrainConfig,
    problem: &Problem,
    seed: u64,
    checkpoint_dir: &Path,
    progress: &dyn Fn(u64),
) -> Result<TrainOutcome> {
    let shape = problem
        .shape
        .as_ref()
        .ok_or_else(|| Error::Input("this model has no network to train".into()))?;
    let data = problem
        .train
        .as_ref()
        .ok_or_else(|| Error::Input("this model has no training data".into()))?;
    std::fs::create_dir_all(checkpoint_dir)
        .output_context(|| format!("creating {}", checkpoint_dir.display()))?;
    let mut rng =
        Xoshiro256PlusPlus::seed_from_u64(slt_estimators::chains::chain_seed(seed, 2_000_000));
    let device = Device::default().autodiff();
    let mut net = Net::from_flat(
        shape,
        &initial_params(shape, config.init_scale, &mut rng),
        &device,
    );
    let l2 =
        (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay as f32));
    let mut optimizer = match config.optimizer {
        OptimizerKind::Adam => AdamConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(l2)
            .init(),
        OptimizerKind::Adamw => AdamWConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(config.weight_decay as f32)
            .init(),
        OptimizerKind::Sgd => SgdConfig::new().with_weight_decay(l2).init(),
    };
    let train_land = problem.landscape();
    let test_land = problem.test.as_ref().map(|t| {
        let mut p = problem.clone();
        p.train = Some(t.clone());
        p.landscape()
    });
    let ckpt_steps = checkpoint_steps(&config.checkpoints, config.steps);
    // Log at ~200 log-spaced steps plus every checkpoint.
    let mut log_steps = checkpoint_steps(&Checkpoints::Count(200), config.steps);
    log_steps.extend(&ckpt_steps);
    log_steps.push(0);
    log_steps.sort_unstable();
    log_steps.dedup();
    let mut log = Vec::new();
    let mut checkpoints = Vec::new();
    let n = data.len();
    let batch = config.batch.min(n);
    // A batch of at least n is the full batch, every point once, in tensors built once.
    let full = (config.batch >= n).then(|| {
        let all: Vec<usize> = (0..n).collect();
        batch_tensors(data, &all, &device)
    });
    let mut idx = vec![0usize; batch];
    let mut record = |step: usize, net: &Net, log: &mut Vec<TrainLogRow>| -> Result<()> {
        let params = net.to_flat();
        let train_loss = full_loss(&train_land, &params);
        let test_loss = test_land.as_ref().map(|l| full_loss(l, &params));
        log.push(TrainLogRow {
            step,
            train_loss,
            test_loss,
            train_acc: train_land.accuracy(&params),
            test_acc: test_land.as_ref().and_then(|l| l.accuracy(&params)),
        });
        if !train_loss.is_finite() {
            return Err(Error::Run(format!("training diverged at step {step} (train loss {train_loss}); lower train.lr (now {})", config.lr)));
        }
        if ckpt_steps.binary_search(&step).is_ok() {
            let path = checkpoint_dir.join(format!("step-{step:08}.bpk"));
            save_checkpoint(net, &path)?;
            checkpoints.push(Checkpoint { step, path, params });
        }
        Ok(())
    };
    record(0, &net, &mut log)?;
    for step in 1..=config.steps {
        let (x, y) = match &full {
            Some((x, y)) => (x.clone(), y.clone()),
            None => {
                idx.iter_mut().for_each(|i| *i = rng.random_range(0..n));
                batch_tensors(data, &idx, &device)
            }
        };
        let loss = net.loss(x, y);
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optimizer.step(config.lr, net, grads);
        if log_steps.binary_search(&step).is_ok() {
            record(step, &net, &mut log)?;
        }
        if step % 64 == 0 || step == config.steps {
            progress(if step % 64 == 0 {
                64
            } else {
                (step % 64) as u64
            });
        }
    }
    Ok(TrainOutcome { checkpoints, log })
}
