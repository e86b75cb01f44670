//! slt-estimators: the science of slt — landscapes, SGLD-family samplers, chains, the LLC, diagnostics and known answers.
//!
//! Nothing here knows about files, terminals or configs: the application (`slt`) builds a
//! [`Landscape`], picks settings, runs [`chains`] and reads the estimates.

pub mod calibration;
pub mod chains;
pub mod diagnostics;
pub mod error;
pub mod hessian;
pub mod ladder;
pub mod landscape;
pub mod llc;
pub mod mala;
pub mod potentials;
pub mod run;
pub mod sampler;
pub mod theory;
pub mod volume;

pub use chains::{run_chains, ChainSettings, ChainTrace};
pub use error::{Error, Result};
pub use hessian::{hessian_spectrum, HessianSettings, HessianSpectrum};
pub use ladder::{fit_rlct, run_ladder, LadderSettings, RlctEstimate};
pub use landscape::{Batch, Landscape};
pub use llc::LlcEstimate;
pub use mala::{MalaObserver, MalaSummary};
pub use potentials::Potential;
pub use run::{Diagnostic, LlcReport, LlcRequest, LlcRun, RunObserver};
pub use sampler::{AnySampler, RmspropSgld, Sampler, SamplerKind, Sgld, Sgnht, TemperedPosterior};
pub use volume::{
    hessian_divergence, ladder_volume, laplace_volume, nested_sampling, radial_volume, EpsGrid,
    NestedSettings, Prior, RadialSettings, VolumeAnchor, VolumeCurve, VolumeDivergence,
    VolumeMethod,
};
