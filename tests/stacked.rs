//! The stacked landscape (all chains in one tensor) on burn's ndarray backend agrees with the fast CPU landscapes: per-chain loss and gradient, and λ̂.

mod common;

use common::stacked::{check_lambda, check_landscapes};
use slt::commands::{run_all, RunOptions};
use slt::config::{ConfigError, DeviceChoice, ValidConfig};
use slt::models::stacked::burn_device;

fn ndarray() -> burn::tensor::Device {
    burn_device(DeviceChoice::Ndarray).unwrap()
}

#[test]
fn stacked_loss_and_gradient_match_fast_landscapes_on_ndarray() {
    let (loss_gap, grad_gap) = check_landscapes(&ndarray(), 4);
    eprintln!("ndarray: largest loss gap {loss_gap:.2e}, gradient gap {grad_gap:.2e}");
}

#[test]
fn stacked_lambda_agrees_with_cpu_path_on_ndarray() {
    check_lambda(&ndarray());
}

fn config(model: &str, llc: &str) -> Result<ValidConfig, ConfigError> {
    let rank = if model.contains("dln") {
        "teacher_rank = 1\n"
    } else {
        ""
    };
    ValidConfig::from_toml(&format!(
        "name = \"device\"\nseed = 0\n[model]\n{model}\n[data]\nn = 200\n{rank}[llc]\n{llc}\n"
    ))
}

fn rejected_key(result: Result<ValidConfig, ConfigError>) -> String {
    match result {
        Err(ConfigError::Invalid { key, value, rule }) => {
            eprintln!("{key} = {value}: {rule}");
            key
        }
        other => panic!("expected a rule broken, got {other:?}"),
    }
}

#[test]
fn device_key_is_validated() {
    let dln = "kind = \"dln\"\nwidths = [3, 2, 3]";
    for device in ["cpu", "ndarray"] {
        let c = config(dln, &format!("device = \"{device}\"")).unwrap();
        assert_eq!(c.llc.as_ref().unwrap().device.name(), device);
    }
    assert!(config("kind = \"mlp\"\nwidths = [3, 4, 2]", "device = \"ndarray\"").is_ok());
    // The stacked landscape has no superposition model, no other sampler, no ladder.
    let tms = "kind = \"tms\"\nfeatures = 4\nhidden = 2";
    assert_eq!(
        rejected_key(config(tms, "device = \"ndarray\"")),
        "llc.device"
    );
    let other = "device = \"ndarray\"\nsampler = \"sgnht\"";
    assert_eq!(rejected_key(config(dln, other)), "llc.device");
    let ladder = "device = \"ndarray\"\nladder = \"auto\"";
    assert_eq!(rejected_key(config(dln, ladder)), "llc.device");
    // Without the feature, "wgpu" is a rule broken that names the key.
    if !cfg!(feature = "wgpu") {
        assert_eq!(rejected_key(config(dln, "device = \"wgpu\"")), "llc.device");
    }
    // An unknown device is a parse error.
    assert!(matches!(
        config(dln, "device = \"tpu\""),
        Err(ConfigError::Parse { .. })
    ));
}

#[test]
fn run_on_ndarray_device_writes_an_estimate() {
    let c = config(
        "kind = \"dln\"\nwidths = [3, 2, 3]",
        "device = \"ndarray\"\nchains = 2\ndraws = 200\nburnin = 200\nthin = 2\nbatch = 50\n\
         step_size = 1e-4\nlocalization = 50.0\nmala_every = 0",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let summary = run_all(
        &c,
        &RunOptions {
            out: dir.path().to_path_buf(),
            quiet: true,
        },
    )
    .unwrap()
    .unwrap();
    let llc = summary.llc.unwrap();
    assert_eq!((llc.chains, llc.draws, llc.diverged_chains), (2, 200, 0));
    assert!(llc.mean.is_finite() && llc.mean > 0.0, "λ̂ {}", llc.mean);
    assert!(dir.path().join("summary.json").exists());
}

#[test]
fn diverging_stacked_chains_are_recorded_not_a_crash() {
    let run = common::stacked::AgreementRun::new();
    let device = ndarray();
    let landscape = slt::models::StackedLandscape::new(
        run.problem.shape.as_ref().unwrap(),
        run.problem.train.as_ref().unwrap(),
        &device,
    )
    .unwrap();
    let center = run.problem.reference_point.clone().unwrap();
    // A step 10⁴ times too large: every chain blows up within the first draws.
    let traces = slt::models::stacked::run_stacked_sgld(
        &landscape,
        2.0,
        run.posterior,
        &center,
        &run.settings,
        &|_| {},
    )
    .unwrap();
    for t in &traces {
        let d = t.divergence.as_ref().expect("the chain diverged");
        eprintln!("chain {}: {} at step {}", t.chain, d.reason, d.step);
        assert!(t.losses.len() < run.settings.draws);
    }
    assert!(slt_estimators::LlcEstimate::from_traces(&traces, 0.0, run.posterior.nbeta).is_err());
}
