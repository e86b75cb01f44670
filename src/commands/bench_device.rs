//! `slt bench-device`: SGLD chain-steps per second of many chains of a large MLP, on the stacked path of a burn device and on the CPU fast path.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use slt_estimators::chains::{run_chains, ChainSettings};
use slt_estimators::{Sgld, TemperedPosterior};

use super::bench::mlp_flop_per_step;
use crate::config::{ConfigError, DeviceChoice, ValidConfig};
use crate::error::{Context, Error, Result};
use crate::models::stacked::{burn_device, run_stacked_sgld, StackedLandscape};
use crate::models::Precision;
use crate::report::write_csv;

/// What to measure: `chains` chains of an MLP of `widths` on minibatches of `batch` from `n` points,
/// `steps` timed SGLD steps per chain (after `warmup` untimed ones, which compile a device's kernels).
#[derive(Debug, Clone)]
pub struct DeviceBench {
    /// MLP widths (input, hidden…, output).
    pub widths: Vec<usize>,
    /// Chains C.
    pub chains: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Training points n.
    pub n: usize,
    /// Timed steps per chain.
    pub steps: usize,
    /// Untimed steps per chain first (stacked paths only).
    pub warmup: usize,
}

/// One measured path.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceBenchRow {
    /// "cpu" (fast landscape, f32, one chain per thread) or the stacked path's device.
    pub device: String,
    /// The MLP's widths, joined by "-".
    pub widths: String,
    /// Parameters per chain d.
    pub params: usize,
    /// Chains C.
    pub chains: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Timed steps per chain.
    pub steps: usize,
    /// Wall seconds of the timed steps.
    pub wall_s: f64,
    /// chains × steps / wall_s.
    pub chain_steps_per_s: f64,
    /// Achieved GFLOP/s of the loss-and-gradient products.
    pub gflop_per_s: f64,
}

fn settings(spec: &DeviceBench, steps: usize) -> ChainSettings {
    ChainSettings {
        chains: spec.chains,
        // One kept draw, at the first step: the rest run without a read-back.
        draws: 1,
        burnin: 0,
        thin: steps.max(1),
        batch_size: spec.batch,
        seed: 0,
        divergence_radius: 1e6,
        full_loss_every: 0,
        threads: 0,
    }
}

/// Measures each of `devices` on `spec` and writes `<out>/device-<device>.csv` (one row each).
pub fn run_device_bench(
    out: &Path,
    devices: &[DeviceChoice],
    spec: &DeviceBench,
    quiet: bool,
) -> Result<Vec<DeviceBenchRow>> {
    if spec.widths.len() < 3 || spec.widths.contains(&0) {
        return Err(Error::Input(format!(
            "--widths {:?}: needs at least 3 nonzero widths",
            spec.widths
        )));
    }
    if spec.chains == 0 || spec.steps == 0 || spec.batch == 0 || spec.n == 0 {
        return Err(Error::Input(
            "--chains, --steps, --batch and --n must be at least 1".into(),
        ));
    }
    if let Some(d) = devices.iter().find(|d| **d == DeviceChoice::Wgpu) {
        if !cfg!(feature = "wgpu") {
            return Err(ConfigError::Invalid {
                key: "--devices".into(),
                value: d.name().into(),
                rule:
                    "needs slt built with the wgpu feature (cargo build --release --features wgpu)"
                        .into(),
            }
            .into());
        }
    }
    let widths = spec
        .widths
        .iter()
        .map(|w| w.to_string())
        .collect::<Vec<_>>();
    let text = format!(
        "name = \"bench-device\"\nseed = 0\n[model]\nkind = \"mlp\"\nwidths = [{}]\n[data]\nn = {}\n",
        widths.join(", "),
        spec.n
    );
    let problem = ValidConfig::from_toml(&text)?.into_inner().problem();
    let center = problem
        .reference_point
        .clone()
        .context("an MLP problem has a teacher")?;
    let posterior = TemperedPosterior {
        nbeta: slt_estimators::llc::default_nbeta(spec.n),
        localization: 1.0,
    };
    // A small step: the chains stay near the teacher; the cost per step does not depend on it.
    let step_size = 1e-7;
    let flop = mlp_flop_per_step(&spec.widths, spec.batch);
    let mut rows = Vec::new();
    for &device in devices {
        let wall = match device {
            DeviceChoice::Cpu => {
                let landscape = problem.landscape_in(Precision::F32);
                let sampler = Sgld::new(step_size, posterior)?;
                let t = Instant::now();
                run_chains(
                    &landscape,
                    &sampler,
                    &center,
                    &settings(spec, spec.steps),
                    &|_| {},
                )?;
                t.elapsed().as_secs_f64()
            }
            _ => {
                let burn = burn_device(device)?;
                let landscape = StackedLandscape::new(
                    problem.shape.as_ref().context("an MLP has a shape")?,
                    problem.train.as_ref().context("an MLP has data")?,
                    &burn,
                )?;
                if spec.warmup > 0 {
                    run_stacked_sgld(
                        &landscape,
                        step_size,
                        posterior,
                        &center,
                        &settings(spec, spec.warmup),
                        &|_| {},
                    )?;
                }
                let t = Instant::now();
                run_stacked_sgld(
                    &landscape,
                    step_size,
                    posterior,
                    &center,
                    &settings(spec, spec.steps),
                    &|_| {},
                )?;
                t.elapsed().as_secs_f64()
            }
        };
        let rate = (spec.chains * spec.steps) as f64 / wall;
        let row = DeviceBenchRow {
            device: device.name().to_string(),
            widths: widths.join("-"),
            params: problem.shape.as_ref().expect("an MLP has a shape").dim(),
            chains: spec.chains,
            batch: spec.batch,
            steps: spec.steps,
            wall_s: wall,
            chain_steps_per_s: rate,
            gflop_per_s: flop * rate / 1e9,
        };
        if !quiet {
            eprintln!(
                "{:<8} d = {}  {} chains × {} steps  {:.2} s  {:.1} chain-steps/s  {:.1} GFLOP/s",
                row.device, row.params, row.chains, row.steps, row.wall_s, rate, row.gflop_per_s
            );
        }
        write_csv(
            &out.join(format!("device-{}.csv", device.name())),
            std::slice::from_ref(&row),
        )?;
        rows.push(row);
    }
    Ok(rows)
}
