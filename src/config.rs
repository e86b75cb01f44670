//! The TOML schema of a run (serde, unknown keys rejected) and its validation into a checked config.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
pub use slt_estimators::run::{LadderLocalization, LadderRequest, LlcRequest};
pub use slt_estimators::SamplerKind;

pub use crate::sections::{choices, data, rules, train};

pub use crate::models::ModelConfig;
pub use choices::{DeviceChoice, PrecisionChoice};
pub use data::{DataConfig, DEFAULT_N, DEFAULT_TRAIN_FRACTION, MAX_MODULUS};
pub use rules::ConfigError;
pub use slt_estimators::volume::{Prior, VolumeMethod};
pub use train::{Checkpoints, OptimizerKind, TrainConfig, MAX_CHECKPOINTS};

use crate::sections::tagged::Tagged;
use rules::{at_least, at_most, invalid, positive_f64};
use train::default_batch;

/// A setting that is either chosen by the tool (`"auto"`) or given.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Auto<T> {
    /// The tool picks the value by its documented rule (and writes it into the run's config.toml).
    #[default]
    Auto,
    /// The value given.
    Value(T),
}

impl<T: Copy> Auto<T> {
    /// The given value, or `None` for auto.
    pub fn value(&self) -> Option<T> {
        match self {
            Auto::Auto => None,
            Auto::Value(v) => Some(*v),
        }
    }
}

impl<T: Serialize> Serialize for Auto<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Auto::Auto => s.serialize_str("auto"),
            Auto::Value(v) => v.serialize(s),
        }
    }
}

struct AutoVisitor<T>(std::marker::PhantomData<T>);

macro_rules! auto_visitor {
    ($t:ty, $what:expr, $from_f64:expr, $from_i64:expr) => {
        impl<'de> Visitor<'de> for AutoVisitor<$t> {
            type Value = Auto<$t>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "\"auto\" or {}", $what)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v == "auto" {
                    Ok(Auto::Auto)
                } else {
                    Err(E::custom(format!(
                        "expected \"auto\" or {}, got \"{v}\"",
                        $what
                    )))
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                #[allow(clippy::redundant_closure_call)]
                ($from_f64)(v)
                    .map(Auto::Value)
                    .ok_or_else(|| E::custom(format!("expected \"auto\" or {}, got {v}", $what)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                #[allow(clippy::redundant_closure_call)]
                ($from_i64)(v)
                    .map(Auto::Value)
                    .ok_or_else(|| E::custom(format!("expected \"auto\" or {}, got {v}", $what)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_i64(v.min(i64::MAX as u64) as i64)
            }
        }
        impl<'de> Deserialize<'de> for Auto<$t> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(AutoVisitor::<$t>(std::marker::PhantomData))
            }
        }
    };
}
auto_visitor!(f64, "a number", |v: f64| Some(v), |v: i64| Some(v as f64));
auto_visitor!(
    usize,
    "a non-negative integer",
    |_v: f64| None::<usize>,
    |v: i64| usize::try_from(v).ok()
);

/// A run: one model, its data, optional training, and the analyses asked for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Results go to results/<name>/ unless --out says otherwise.
    pub name: String,
    /// The run's seed: data, teacher, initialization and chains all derive from it.
    #[serde(default)]
    pub seed: u64,
    /// The network (or potential) being measured.
    pub model: ModelConfig,
    /// The training data.
    #[serde(default)]
    pub data: DataConfig,
    /// Training; absent: measure at the teacher's minimal true point (dln) or the origin (potential).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<TrainConfig>,
    /// The LLC estimate; absent: `run` skips it (`llc` uses the defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llc: Option<LlcConfig>,
    /// Basin volumes V(ε); absent: `run` skips them (`volume` uses the defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeConfig>,
    /// The Hessian spectrum; absent: `run` skips it unless [volume] asks for the Hessian curve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hessian: Option<HessianConfig>,
}

/// Log-spaced loss thresholds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EpsConfig {
    /// Smallest threshold ε (loss units), positive.
    pub from: f64,
    /// Largest threshold, above `from`.
    pub to: f64,
    /// Number of thresholds.
    pub points: usize,
}

/// Basin volumes at loss thresholds (DESIGN §3.3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VolumeConfig {
    /// The thresholds (default 16 from 1e-4 to 1e-1).
    #[serde(default = "default_eps")]
    pub eps: EpsConfig,
    /// The estimators to run (default all four).
    #[serde(default = "default_methods")]
    pub methods: Vec<VolumeMethod>,
    /// The prior (default the box ±1 around w*).
    #[serde(default = "default_prior", deserialize_with = "prior_by_field")]
    pub prior: Prior,
    /// Nested sampling: live points per run.
    #[serde(default = "default_live_points")]
    pub live_points: usize,
    /// Nested sampling: independent runs, averaged.
    #[serde(default = "default_runs")]
    pub runs: usize,
    /// Radial Monte Carlo: random directions.
    #[serde(default = "default_directions")]
    pub directions: usize,
    /// Radial Monte Carlo: diagonal preconditioning with its importance correction.
    #[serde(default)]
    pub precondition: bool,
    /// Which loss defines the basin: "train" (default) or "behavioural" (the mean squared distance
    /// of the outputs, or of layer `layer`'s activations, from w*'s on the training inputs; for
    /// modadd's output the KL divergence of its predicted class distribution from w*'s).
    #[serde(default)]
    pub loss: BasinLoss,
    /// With loss = "behavioural": compare the activations after this many layers (1 … layers;
    /// default all: the output). An MLP's hidden activations are compared before the ReLU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
}

/// The loss whose sublevel set is the basin.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BasinLoss {
    /// The training loss L_n(w) − L_n(w*).
    #[default]
    Train,
    /// ½ mean‖f(w; x) − f(w*; x)‖² over the training inputs (a classifier's output: mean
    /// KL(p_{w*}(·|x) ‖ p_w(·|x))): do nearby parameters compute the same thing?
    Behavioural,
}

fn default_eps() -> EpsConfig {
    EpsConfig {
        from: 1e-4,
        to: 1e-1,
        points: 16,
    }
}
fn default_methods() -> Vec<VolumeMethod> {
    vec![
        VolumeMethod::Nested,
        VolumeMethod::Radial,
        VolumeMethod::Llc,
        VolumeMethod::Hessian,
    ]
}
fn default_prior() -> Prior {
    Prior::Box { half_width: 1.0 }
}

/// [volume.prior] read by `kind`, then field by field, so that an error names its key
/// (`volume.prior.half_width`): the estimators' derive for the tagged enum names only the section.
fn prior_by_field<'de, D: Deserializer<'de>>(d: D) -> Result<Prior, D::Error> {
    let mut t = Tagged::read(d, "volume.prior")?;
    match t.kind.as_str() {
        "box" => {
            t.only(&["half_width"])?;
            Ok(Prior::Box {
                half_width: t.take("half_width")?,
            })
        }
        "gaussian" => {
            t.only(&["std"])?;
            Ok(Prior::Gaussian {
                std: t.take("std")?,
            })
        }
        other => Err(de::Error::unknown_variant(other, &["box", "gaussian"])),
    }
}
fn default_live_points() -> usize {
    500
}
fn default_runs() -> usize {
    2
}
fn default_directions() -> usize {
    2000
}

impl Default for VolumeConfig {
    fn default() -> Self {
        Self {
            eps: default_eps(),
            methods: default_methods(),
            prior: default_prior(),
            live_points: default_live_points(),
            runs: default_runs(),
            directions: default_directions(),
            precondition: false,
            loss: BasinLoss::Train,
            layer: None,
        }
    }
}

/// How the Hessian spectrum is computed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum HessianMethod {
    /// Exact (dense) up to 2500 parameters, Lanczos above.
    Auto,
    /// Always the dense Hessian from d Hessian-vector products (exact on the fast landscapes,
    /// gradient differences elsewhere).
    Exact,
    /// Always matrix-free: Lanczos, SLQ, Hutchinson.
    Lanczos,
}

/// The Hessian at w* (DESIGN §3.4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HessianConfig {
    /// auto | exact | lanczos.
    #[serde(default = "default_hessian_method")]
    pub method: HessianMethod,
    /// Top eigenvalues reported by Lanczos.
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// Relative rank tolerance: eigenvalues above rank_rtol · max|h| count.
    #[serde(default = "default_rank_rtol")]
    pub rank_rtol: f64,
}

fn default_hessian_method() -> HessianMethod {
    HessianMethod::Auto
}
fn default_top_k() -> usize {
    20
}
fn default_rank_rtol() -> f64 {
    1e-6
}

impl Default for HessianConfig {
    fn default() -> Self {
        Self {
            method: default_hessian_method(),
            top_k: default_top_k(),
            rank_rtol: default_rank_rtol(),
        }
    }
}

/// The temperature ladder for the RLCT estimate: none, the default factors, or given factors.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Ladder {
    /// No ladder (the default): only λ̂ at nβ.
    #[default]
    None,
    /// Factors [1, 4, 16, 64].
    Auto,
    /// nβ × each factor.
    Factors(Vec<f64>),
}

impl Ladder {
    /// The rungs' factors: the given ones, the default [1, 4, 16, 64] for "auto", none for "none".
    pub fn factors(&self) -> Vec<f64> {
        match self {
            Ladder::None => Vec::new(),
            Ladder::Auto => slt_estimators::ladder::LadderSettings::default().factors,
            Ladder::Factors(f) => f.clone(),
        }
    }
}

impl Serialize for Ladder {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Ladder::None => s.serialize_str("none"),
            Ladder::Auto => s.serialize_str("auto"),
            Ladder::Factors(f) => f.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Ladder {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            Factors(Vec<f64>),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected \"none\", \"auto\" or a list of factors like [1, 4, 16]",
            )
        })? {
            Raw::Word(w) if w == "none" => Ok(Ladder::None),
            Raw::Word(w) if w == "auto" => Ok(Ladder::Auto),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "\"{w}\": expected \"none\", \"auto\" or a list of factors"
            ))),
            Raw::Factors(f) => Ok(Ladder::Factors(f)),
        }
    }
}

/// The LLC estimate's settings; every `"auto"` is resolved by the rule documented in docs/auto-rule.md.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LlcConfig {
    /// The sampler.
    #[serde(default = "default_sampler")]
    pub sampler: SamplerKind,
    /// SGLD step size ε.
    #[serde(default)]
    pub step_size: Auto<f64>,
    /// Localization strength γ.
    #[serde(default)]
    pub localization: Auto<f64>,
    /// nβ (auto: n / ln n).
    #[serde(default)]
    pub nbeta: Auto<f64>,
    /// Number of chains.
    #[serde(default = "default_chains")]
    pub chains: usize,
    /// Draws kept per chain.
    #[serde(default = "default_draws")]
    pub draws: usize,
    /// Burn-in steps per chain.
    #[serde(default)]
    pub burnin: Auto<usize>,
    /// Sampler steps per kept draw.
    #[serde(default)]
    pub thin: Auto<usize>,
    /// Minibatch size for the SGLD gradient.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Also record the exact full-batch loss every this many draws (0: never; costly).
    #[serde(default)]
    pub full_loss_every: usize,
    /// Worker threads for the chains (0: one per core).
    #[serde(default)]
    pub threads: usize,
    /// The temperature ladder for the RLCT estimate: "none", "auto" ([1, 4, 16, 64]) or factors.
    #[serde(default)]
    pub ladder: Ladder,
    /// The ladder's localization γ: "auto" (the one-temperature γ, `localization`), "unit-information"
    /// (the prior's width is the distance at which the loss rises by 1/2; docs/ladder.md),
    /// or a number ≥ 0.
    #[serde(default, skip_serializing_if = "LadderLocalization::is_auto")]
    pub ladder_localization: LadderLocalization,
    /// MALA acceptance of SGLD proposals (full batch) is probed every this many draws (0: never).
    #[serde(default = "default_mala_every")]
    pub mala_every: usize,
    /// Run the chains again at half the step size (twice the steps) and report whether λ̂ moves by
    /// more than 3 combined standard errors (a step-size bias check; doubles the cost).
    #[serde(default)]
    pub check_step: bool,
    /// Arithmetic of the chains' loss and gradient: "f64" (default) or "f32" (mlp and modadd only: twice the
    /// SIMD width in the matrix products; losses are still summed in f64).
    #[serde(default)]
    pub precision: PrecisionChoice,
    /// Where the chains run: "cpu" (the fast landscapes, one chain per thread), or the stacked
    /// landscape (all chains in one tensor, f32, SGLD only) on "ndarray" or "wgpu".
    #[serde(default, skip_serializing_if = "DeviceChoice::is_cpu")]
    pub device: DeviceChoice,
    /// The training step whose checkpoint is measured (default: the last); one of the steps
    /// `train.checkpoints` saves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<usize>,
    /// The results folder of an earlier `slt train` whose checkpoints/ to read (default: this run's own
    /// folder). Lets a sweep measure every checkpoint of one training run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<std::path::PathBuf>,
}

fn default_mala_every() -> usize {
    10
}

fn default_sampler() -> SamplerKind {
    SamplerKind::Sgld
}
fn default_chains() -> usize {
    4
}
fn default_draws() -> usize {
    1000
}

impl LlcConfig {
    /// The LLC run this section asks for, seeded by the config's seed.
    pub fn request(&self, seed: u64) -> LlcRequest {
        LlcRequest {
            sampler: self.sampler,
            step_size: self.step_size.value(),
            localization: self.localization.value(),
            nbeta: self.nbeta.value(),
            burnin: self.burnin.value(),
            thin: self.thin.value(),
            chains: self.chains,
            draws: self.draws,
            batch: self.batch,
            full_loss_every: self.full_loss_every,
            threads: self.threads,
            seed,
            mala_every: self.mala_every,
            check_step: self.check_step,
            ladder: (self.ladder != Ladder::None).then(|| LadderRequest {
                factors: self.ladder.factors(),
                localization: self.ladder_localization,
            }),
        }
    }
}

impl Default for LlcConfig {
    fn default() -> Self {
        Self {
            sampler: default_sampler(),
            step_size: Auto::Auto,
            localization: Auto::Auto,
            nbeta: Auto::Auto,
            chains: default_chains(),
            draws: default_draws(),
            burnin: Auto::Auto,
            thin: Auto::Auto,
            batch: default_batch(),
            full_loss_every: 0,
            threads: 0,
            ladder: Ladder::None,
            ladder_localization: LadderLocalization::Auto,
            mala_every: default_mala_every(),
            check_step: false,
            precision: PrecisionChoice::F64,
            device: DeviceChoice::Cpu,
            checkpoint: None,
            from: None,
        }
    }
}

/// A config that passed every rule: the only kind the application runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidConfig(RunConfig);

impl std::ops::Deref for ValidConfig {
    type Target = RunConfig;
    fn deref(&self) -> &RunConfig {
        &self.0
    }
}

impl RunConfig {
    /// The data, network shape, reference point and known answer of this config's model
    /// (deterministic in `seed`).
    pub fn problem(&self) -> crate::models::Problem {
        crate::models::Problem::build(&self.model, &self.data, self.seed)
    }
}

impl ValidConfig {
    /// Reads, parses and validates a config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let raw: RunConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        raw.try_into()
    }

    /// The config with every setting as it was resolved, for the run folder's config.toml.
    pub fn into_inner(self) -> RunConfig {
        self.0
    }
}

impl TryFrom<RunConfig> for ValidConfig {
    type Error = ConfigError;
    fn try_from(c: RunConfig) -> Result<Self, ConfigError> {
        validate(&c)?;
        Ok(ValidConfig(c))
    }
}

/// `llc.device`: the stacked landscape runs SGLD on MLPs and deep linear networks, without the
/// ladder or the step check; "wgpu" needs the feature compiled in.
fn check_device(c: &RunConfig, l: &LlcConfig) -> Result<(), ConfigError> {
    let device = l.device;
    if device == DeviceChoice::Cpu {
        return Ok(());
    }
    let value = format!("\"{}\"", device.name());
    if device == DeviceChoice::Wgpu && !cfg!(feature = "wgpu") {
        return Err(invalid(
            "llc.device",
            value,
            "needs slt built with the wgpu feature (cargo build --release --features wgpu)",
        ));
    }
    if !c.model.family().capabilities().stacks {
        return Err(invalid(
            "llc.device",
            value,
            format!(
                "applies to model.kind = {} only, not \"{}\" (use \"cpu\")",
                kinds_where(|k| k.stacks),
                c.model.kind()
            ),
        ));
    }
    if l.sampler != SamplerKind::Sgld {
        return Err(invalid(
            "llc.device",
            value,
            "runs llc.sampler = \"sgld\" only (use \"cpu\" for the other samplers)",
        ));
    }
    if l.ladder != Ladder::None || l.check_step {
        return Err(invalid(
            "llc.device",
            value,
            "does not run llc.ladder or llc.check_step (use \"cpu\")",
        ));
    }
    Ok(())
}

/// The kinds that can, as `"a", "b" or "c"`.
fn kinds_where(can: impl Fn(&crate::models::Capabilities) -> bool) -> String {
    crate::models::family::kinds_where(&ModelConfig::all_capabilities(), can)
}

/// A family-specific [data] key set for a kind that does not read it is an error naming the kinds
/// that do (a silently ignored key would be worse).
fn check_family_data_keys(c: &RunConfig) -> Result<(), ConfigError> {
    let d = &c.data;
    let set: [(&str, Option<String>); 5] = [
        ("teacher_rank", d.teacher_rank.map(|v| v.to_string())),
        (
            "singular_values",
            d.singular_values.as_ref().map(|v| format!("{v:?}")),
        ),
        ("noise", (d.noise != 0.0).then(|| d.noise.to_string())),
        (
            "feature_probability",
            d.feature_probability.map(|v| v.to_string()),
        ),
        ("train_fraction", d.train_fraction.map(|v| v.to_string())),
    ];
    let reads = c.model.family().capabilities().data_keys;
    for (key, value) in set {
        if let Some(value) = value.filter(|_| !reads.contains(&key)) {
            return Err(invalid(
                &format!("data.{key}"),
                value,
                format!(
                    "applies to model.kind = {} only, not \"{}\"",
                    kinds_where(|k| k.data_keys.contains(&key)),
                    c.model.kind()
                ),
            ));
        }
    }
    Ok(())
}

fn validate(c: &RunConfig) -> Result<(), ConfigError> {
    if c.name.is_empty() || c.name.contains(['/', '\\']) || c.name == "." || c.name == ".." {
        return Err(invalid(
            "name",
            format!("{:?}", c.name),
            "must be a non-empty folder name without slashes",
        ));
    }
    let d = &c.data;
    if let Some(n) = d.n {
        at_least("data.n", n, 3)?;
    }
    if !(d.noise.is_finite() && d.noise >= 0.0) {
        return Err(invalid(
            "data.noise",
            d.noise,
            "must be non-negative and finite",
        ));
    }
    let family = c.model.family();
    family.validate(d)?;
    check_family_data_keys(c)?;
    if c.train.is_some() && !family.capabilities().trainable {
        return Err(invalid(
            "train",
            "a [train] section",
            match family.reference() {
                Some((at, _)) => format!(
                    "model.kind = \"{}\" is measured at its reference point ({at}), not trained; remove [train]",
                    c.model.kind()
                ),
                None => format!("model.kind = \"{}\" cannot be trained", c.model.kind()),
            },
        ));
    }
    if let Some(t) = &c.train {
        validate_train(t)?;
    }
    if let Some(v) = &c.volume {
        validate_volume(c, v)?;
    }
    if let Some(h) = &c.hessian {
        validate_hessian(h)?;
    }
    if let Some(l) = &c.llc {
        validate_llc(c, l)?;
    }
    Ok(())
}

/// The [train] section's rules.
fn validate_train(t: &TrainConfig) -> Result<(), ConfigError> {
    at_least("train.steps", t.steps, 1)?;
    if !(t.weight_decay.is_finite() && t.weight_decay >= 0.0) {
        return Err(invalid(
            "train.weight_decay",
            t.weight_decay,
            "must be non-negative and finite",
        ));
    }
    if t.optimizer == OptimizerKind::Adamw && t.lr * t.weight_decay >= 1.0 {
        return Err(invalid(
            "train.weight_decay",
            t.weight_decay,
            format!(
                "times train.lr ({}) must be below 1: adamw multiplies the weights by 1 − lr·wd each step",
                t.lr
            ),
        ));
    }
    positive_f64("train.lr", t.lr)?;
    at_least("train.batch", t.batch, 1)?;
    positive_f64("train.init_scale", t.init_scale)?;
    match &t.checkpoints {
        Checkpoints::Count(k) => {
            at_least("train.checkpoints", *k, 1)?;
            at_most("train.checkpoints", *k, train::MAX_CHECKPOINTS)?;
        }
        Checkpoints::Steps(s) => {
            if let Some(bad) = s.iter().find(|&&x| x == 0 || x > t.steps) {
                return Err(invalid(
                    "train.checkpoints",
                    bad,
                    format!("every checkpoint step must be in 1..={}", t.steps),
                ));
            }
            if s.is_empty() {
                return Err(invalid(
                    "train.checkpoints",
                    "[]",
                    "needs at least one step",
                ));
            }
        }
    }
    Ok(())
}

/// The [volume] section's rules.
fn validate_volume(c: &RunConfig, v: &VolumeConfig) -> Result<(), ConfigError> {
    positive_f64("volume.eps.from", v.eps.from)?;
    positive_f64("volume.eps.to", v.eps.to)?;
    at_least("volume.eps.points", v.eps.points, 1)?;
    if v.eps.to < v.eps.from || (v.eps.to == v.eps.from && v.eps.points > 1) {
        return Err(invalid(
            "volume.eps",
            format!("from = {}, to = {}", v.eps.from, v.eps.to),
            "an empty range: `to` must be above `from`",
        ));
    }
    match v.prior {
        Prior::Box { half_width } => positive_f64("volume.prior.half_width", half_width)?,
        Prior::Gaussian { std } => positive_f64("volume.prior.std", std)?,
    }
    if v.methods.is_empty() {
        return Err(invalid(
            "volume.methods",
            "[]",
            "name at least one of nested, radial, llc, hessian",
        ));
    }
    at_least("volume.live_points", v.live_points, 2)?;
    at_least("volume.runs", v.runs, 1)?;
    at_least("volume.directions", v.directions, 2)?;
    if v.loss == BasinLoss::Behavioural {
        let layers = match c.model.widths() {
            Some(widths) if c.model.family().capabilities().behavioural => widths.len() - 1,
            _ => {
                return Err(invalid(
                    "volume.loss",
                    "\"behavioural\"",
                    format!(
                        "applies to model.kind = {}, not \"{}\"",
                        kinds_where(|k| k.behavioural),
                        c.model.kind()
                    ),
                ))
            }
        };
        if let Some(k) = v.layer {
            if k == 0 || k > layers {
                return Err(invalid(
                    "volume.layer",
                    k,
                    format!("must be in 1..={layers}"),
                ));
            }
        }
    } else if let Some(k) = v.layer {
        return Err(invalid(
            "volume.layer",
            k,
            "applies with volume.loss = \"behavioural\" only",
        ));
    }
    Ok(())
}

/// The [hessian] section's rules.
fn validate_hessian(h: &HessianConfig) -> Result<(), ConfigError> {
    at_least("hessian.top_k", h.top_k, 1)?;
    if !(h.rank_rtol > 0.0 && h.rank_rtol < 1.0) {
        return Err(invalid(
            "hessian.rank_rtol",
            h.rank_rtol,
            "must be in (0, 1)",
        ));
    }
    Ok(())
}

/// The [llc] section's rules.
fn validate_llc(c: &RunConfig, l: &LlcConfig) -> Result<(), ConfigError> {
    if let Some(v) = l.step_size.value() {
        positive_f64("llc.step_size", v)?;
    }
    if let Some(v) = l.nbeta.value() {
        positive_f64("llc.nbeta", v)?;
    }
    let ladder_gamma = match l.ladder_localization {
        LadderLocalization::Value(v) => Some(v),
        _ => None,
    };
    for (key, value) in [
        ("llc.localization", l.localization.value()),
        ("llc.ladder_localization", ladder_gamma),
    ] {
        if let Some(v) = value {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(key, v, "must be non-negative and finite"));
            }
        }
    }
    at_least("llc.chains", l.chains, 1)?;
    at_least("llc.draws", l.draws, 1)?;
    at_least("llc.batch", l.batch, 1)?;
    if let Some(t) = l.thin.value() {
        at_least("llc.thin", t, 1)?;
    }
    if l.precision == PrecisionChoice::F32 && !c.model.family().capabilities().f32_chains {
        return Err(invalid(
            "llc.precision",
            "\"f32\"",
            format!(
                "applies to model.kind = {} only, not \"{}\"",
                kinds_where(|k| k.f32_chains),
                c.model.kind()
            ),
        ));
    }
    check_device(c, l)?;
    if let Some(step) = l.checkpoint {
        let Some(t) = &c.train else {
            return Err(invalid("llc.checkpoint", step, "needs a [train] section"));
        };
        let saved = train::checkpoint_steps(&t.checkpoints, t.steps);
        if !saved.contains(&step) {
            return Err(invalid(
                "llc.checkpoint",
                step,
                format!("is not a saved checkpoint step; train.checkpoints saves {saved:?}"),
            ));
        }
    }
    if l.from.is_some() && c.train.is_none() {
        return Err(invalid(
            "llc.from",
            format!("{:?}", l.from),
            "needs a [train] section",
        ));
    }
    if let Some(nbeta) = l.nbeta.value() {
        if let Some(f) = l.ladder.factors().iter().find(|f| nbeta * **f <= 1.0) {
            return Err(invalid(
                "llc.nbeta",
                nbeta,
                format!(
                    "the ladder's rung nβ·{f} = {} must be above 1 (its fit uses ln nβ)",
                    nbeta * f
                ),
            ));
        }
    }
    if let Ladder::Factors(f) = &l.ladder {
        if let Some(bad) = f.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
            return Err(invalid(
                "llc.ladder",
                bad,
                "every factor must be positive and finite",
            ));
        }
        let mut distinct = f.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        if distinct.len() < 2 {
            return Err(invalid(
                "llc.ladder",
                format!("{f:?}"),
                "needs at least two distinct factors",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_and_numbers_round_trip() {
        let c = ValidConfig::from_toml(
            "name = \"x\"\n[model]\nkind = \"dln\"\nwidths = [3, 2, 3]\n[llc]\nstep_size = 1e-4\nburnin = 100\n",
        )
        .unwrap();
        let l = c.llc.clone().unwrap();
        assert_eq!(l.step_size, Auto::Value(1e-4));
        assert_eq!(l.burnin, Auto::Value(100));
        assert_eq!(l.localization, Auto::Auto);
        let text = toml::to_string(&c.into_inner()).unwrap();
        assert!(text.contains("localization = \"auto\""), "{text}");
    }

    #[test]
    fn ladder_localization_words_and_numbers() {
        let parse = |v: &str| {
            ValidConfig::from_toml(&format!(
                "name = \"x\"\n[model]\nkind = \"dln\"\nwidths = [3, 2, 3]\n[llc]\nladder = \"auto\"\nladder_localization = {v}\n"
            ))
            .map(|c| c.llc.clone().unwrap().ladder_localization)
        };
        assert_eq!(parse("\"auto\"").unwrap(), LadderLocalization::Auto);
        assert_eq!(
            parse("\"unit-information\"").unwrap(),
            LadderLocalization::UnitInformation
        );
        assert_eq!(parse("2").unwrap(), LadderLocalization::Value(2.0));
        assert_eq!(parse("0.5").unwrap(), LadderLocalization::Value(0.5));
        let err = parse("\"wide\"").unwrap_err().to_string();
        assert!(
            err.contains("ladder_localization") && err.contains("wide"),
            "{err}"
        );
        let err = parse("-1.0").unwrap_err().to_string();
        assert!(
            err.contains("llc.ladder_localization") && err.contains("-1"),
            "{err}"
        );
        // Written back as it was read.
        let c = ValidConfig::from_toml(
            "name = \"x\"\n[model]\nkind = \"dln\"\nwidths = [3, 2, 3]\n[llc]\nladder_localization = \"unit-information\"\n",
        )
        .unwrap();
        let text = toml::to_string(&c.into_inner()).unwrap();
        assert!(
            text.contains("ladder_localization = \"unit-information\""),
            "{text}"
        );
    }

    #[test]
    fn each_rule_names_its_key() {
        let base = "name = \"x\"\n[model]\nkind = \"dln\"\nwidths = [3, 2, 3]\n";
        let cases = [
            ("[llc]\nstep_size = -1.0\n", "llc.step_size"),
            ("[llc]\nchains = 0\n", "llc.chains"),
            ("[data]\nteacher_rank = 3\n", "data.teacher_rank"),
            ("[llc]\nfoo = 1\n", "foo"),
            ("[llc]\nstep_size = \"fast\"\n", "fast"),
            ("[llc]\nstep_size = nan\n", "llc.step_size"),
        ];
        for (extra, needle) in cases {
            let err = ValidConfig::from_toml(&format!("{base}{extra}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{extra:?} gave {err}");
        }
        let err =
            ValidConfig::from_toml("name = \"x\"\n[model]\nkind = \"dln\"\nwidths = [3, 0, 3]\n")
                .unwrap_err();
        assert!(err.to_string().contains("model.widths[1]"), "{err}");
        let err = ValidConfig::from_toml("name = \"x\"\n[model]\nkind = \"resnet\"\n").unwrap_err();
        assert!(err.to_string().contains("resnet"), "{err}");
        // The sections tagged by kind name the key inside them, too.
        for (model, needle) in [
            ("kind = \"dln\"\nwidths = [3, nan, 3]", "model.widths"),
            (
                "kind = \"tms\"\nfeatures = 4\nhidden = \"two\"",
                "model.hidden",
            ),
            ("kind = \"tms\"\nfeatures = 4\nhiden = 2", "hiden"),
            ("kind = \"potential\"", "monomials"),
            ("kind = 3", "model.kind"),
            (
                "kind = \"modadd\"\nmodulus = 7\nhidden = [8, \"x\"]",
                "model.hidden",
            ),
        ] {
            let err = ValidConfig::from_toml(&format!("name = \"x\"\n[model]\n{model}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{model:?} gave {err}");
        }
        let err = ValidConfig::from_toml(
            "name = \"x\"\n[model]\nkind = \"dln\"\nwidths = [3, 2, 3]\n[volume.prior]\nkind = \"box\"\nhalf_width = [1]\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("volume.prior.half_width"), "{err}");
        // Absurd widths and checkpoint counts are named, not overflowed or allocated.
        let err = ValidConfig::from_toml(&format!(
            "name = \"x\"\n[model]\nkind = \"mlp\"\nwidths = [{m}, {m}, {m}]\n",
            m = usize::MAX / 2
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("model.widths"), "{err}");
        let err = ValidConfig::from_toml(
            "name = \"x\"\n[model]\nkind = \"dln\"\nwidths = [3, 2, 3]\n[train]\nsteps = 10\ncheckpoints = 1000000000\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("train.checkpoints") && err.contains("100000"),
            "{err}"
        );
        let err = ValidConfig::from_toml(
            "name = \"x\"\n[model]\nkind = \"dln\"\nwidths = [3, 2, 3]\n[train]\nsteps = 10\ncheckpoints = \"many\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("list of steps"), "{err}");
    }

    #[test]
    fn tagged_sections_round_trip() {
        for text in [
            "name = \"x\"\n[model]\nkind = \"tms\"\nfeatures = 4\nhidden = 2\n[volume.prior]\nkind = \"gaussian\"\nstd = 0.5\n",
            "name = \"x\"\n[model]\nkind = \"potential\"\nmonomials = [[2, 0], [0, 4]]\n[volume.prior]\nkind = \"box\"\nhalf_width = 2.0\n",
        ] {
            let c = ValidConfig::from_toml(text).unwrap();
            let again = ValidConfig::from_toml(&toml::to_string(&*c).unwrap()).unwrap();
            assert_eq!(*c, *again);
        }
    }

    #[test]
    fn family_data_keys_belong_to_their_kinds() {
        let with = |model: &str, data: &str| {
            ValidConfig::from_toml(&format!(
                "name = \"x\"\n[model]\n{model}\n[data]\nn = 100\n{data}\n"
            ))
        };
        let tms = "kind = \"tms\"\nfeatures = 4\nhidden = 2";
        let dln = "kind = \"dln\"\nwidths = [3, 2, 3]";
        let err = with(tms, "noise = 0.5").unwrap_err().to_string();
        assert!(
            err.contains("data.noise") && err.contains("\"dln\" or \"mlp\""),
            "{err}"
        );
        let err = with(dln, "feature_probability = 0.2")
            .unwrap_err()
            .to_string();
        assert!(err.contains("data.feature_probability"), "{err}");
        // Twins: the kinds that read those keys accept them.
        assert!(with(dln, "noise = 0.5").is_ok());
        assert!(with(tms, "feature_probability = 0.2").is_ok());
    }
}
