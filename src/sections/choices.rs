//! Where and in what arithmetic the chains run (`llc.device`, `llc.precision`).

use serde::{Deserialize, Serialize};

/// Floating-point precision of the chains' arithmetic.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum PrecisionChoice {
    /// f64 throughout.
    #[default]
    F64,
    /// f32 matrix products (mlp and modadd only).
    F32,
}

/// Where the LLC chains run (`llc.device`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// The fast landscapes, one chain per thread (the default).
    #[default]
    Cpu,
    /// The stacked landscape (all chains in one tensor) on burn's ndarray backend.
    Ndarray,
    /// The stacked landscape on burn's wgpu backend (needs the `wgpu` feature).
    Wgpu,
}

impl DeviceChoice {
    /// The config value's spelling.
    pub fn name(self) -> &'static str {
        match self {
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Ndarray => "ndarray",
            DeviceChoice::Wgpu => "wgpu",
        }
    }

    pub fn is_cpu(&self) -> bool {
        *self == DeviceChoice::Cpu
    }
}
