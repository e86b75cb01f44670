//! The stacked landscape on burn's wgpu backend (a GPU, or lavapipe's software Vulkan) agrees with the fast CPU landscapes: per-chain loss and gradient, and λ̂.
//!
//! Run: `cargo test --profile gpu-test --features wgpu --test gpu -- --nocapture`.

#![cfg(feature = "wgpu")]

mod common;

use common::stacked::{check_lambda, check_landscapes};
use slt::config::DeviceChoice;
use slt::models::stacked::burn_device;

#[test]
fn stacked_loss_and_gradient_match_fast_landscapes_on_wgpu() {
    let device = burn_device(DeviceChoice::Wgpu).expect("a wgpu adapter (GPU or lavapipe)");
    let (loss_gap, grad_gap) = check_landscapes(&device, 4);
    eprintln!("wgpu: largest loss gap {loss_gap:.2e}, gradient gap {grad_gap:.2e}");
}

#[test]
fn stacked_lambda_agrees_with_cpu_path_on_wgpu() {
    let device = burn_device(DeviceChoice::Wgpu).expect("a wgpu adapter (GPU or lavapipe)");
    check_lambda(&device);
}
