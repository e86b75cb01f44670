//! Results on disk: atomic writes, summary.json, CSV traces and logs, and plots.

pub mod heatmap;
pub mod panels;
pub mod plot;

use std::io::Write;
use std::path::Path;

use crate::error::{Context, Error, IoContext, Result};
use serde::Serialize;

/// Writes `bytes` to `path` atomically: a temp file in the same folder, flushed, then renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).output_context(|| format!("creating folder {}", dir.display()))?;
    let name = path
        .file_name()
        .context("a results file needs a name")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let mut f =
        std::fs::File::create(&tmp).output_context(|| format!("writing {}", tmp.display()))?;
    let written = f
        .write_all(bytes)
        .and_then(|_| f.sync_all())
        .output_context(|| format!("writing {}", tmp.display()))
        .and_then(|()| {
            std::fs::rename(&tmp, path)
                .output_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
        });
    if written.is_err() {
        // A failed write leaves no temp file behind.
        std::fs::remove_file(&tmp).ok();
    }
    written
}

/// Writes rows as CSV (header from the serde field names), atomically.
pub fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)
            .output_context(|| format!("formatting {}", path.display()))?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Write(e.to_string()))?;
    write_atomic(path, &bytes)
}

/// Writes a value as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).output_context(|| "formatting JSON")?;
    write_atomic(path, text.as_bytes())
}

/// The `llc` block of summary.json (DESIGN §5; keys are a contract: add, never rename).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct LlcSummary {
    /// Mean of the per-chain λ̂ over chains that did not diverge.
    pub mean: f64,
    /// Std of the per-chain λ̂.
    pub std: f64,
    /// Standard error of the mean (from the loss trace's ESS).
    pub stderr: f64,
    /// λ̂ per kept chain.
    pub per_chain: Vec<f64>,
    /// nβ.
    pub nbeta: f64,
    /// SGLD step size ε.
    pub step_size: f64,
    /// Localization γ.
    pub localization: f64,
    /// Chains run.
    pub chains: usize,
    /// Draws per chain.
    pub draws: usize,
    /// Chains that diverged (excluded).
    pub diverged_chains: usize,
    /// Full-batch L_n(w*).
    pub init_loss: f64,
    /// Split R-hat of the loss traces.
    pub rhat: f64,
    /// Effective sample size of the loss traces.
    pub ess: f64,
    /// Burn-in steps per chain.
    pub burnin: usize,
    /// Steps per draw.
    pub thin: usize,
    /// Minibatch size (or "full" when the landscape has no data or the batch covers it).
    pub batch: usize,
    /// The sampler.
    pub sampler: String,
    /// Which loss E_p[L_n] is averaged from: "minibatch" (at each draw) or "full-batch" (every k draws, also given).
    pub expectation: String,
    /// λ̂ from the full-batch losses, where they were recorded.
    pub full_batch_mean: Option<f64>,
    /// Each diverged chain: "chain c: reason at step s".
    pub divergences: Vec<String>,
    /// Warnings a user should read (also printed).
    pub warnings: Vec<String>,
    /// Mean MALA acceptance probability of SGLD proposals from the chains' draws (full batch; sgld only).
    pub mala_acceptance: Option<f64>,
    /// Number of MALA probes behind it.
    pub mala_probes: usize,
    /// p-value of the stationarity test of the loss traces after burn-in (second vs first half).
    pub stationarity_p: Option<f64>,
    /// λ̂ from the same chains at half the step size, when `llc.check_step` asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halved_step_mean: Option<f64>,
    /// What the auto rule measured (absent when every setting was given).
    pub auto: Option<slt_estimators::calibration::ProbeSummary>,
}

/// The RLCT block of summary.json: λ and the multiplicity fitted to λ̂ at a ladder of nβ.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct RlctSummary {
    /// The RLCT λ (the fit's value at infinite nβ).
    pub lambda: f64,
    /// The ladder's localization γ (every rung), resolved.
    #[serde(default)]
    pub localization: f64,
    /// The base rung's step size ε (rung k: ε / f_k), resolved.
    #[serde(default)]
    pub step_size: f64,
    /// Its standard error, from the rungs' errors (model error excluded).
    pub stderr: f64,
    /// The multiplicity m, real-valued.
    pub multiplicity: f64,
    /// Standard error of `multiplicity`.
    pub multiplicity_stderr: f64,
    /// The integer multiplicity whose model fits best; `lambda` is fitted under it.
    pub multiplicity_int: usize,
    /// χ² of that fit.
    pub chi2: f64,
    /// nβ of each rung.
    pub nbetas: Vec<f64>,
    /// λ̂ at each rung.
    pub llc_at: Vec<f64>,
    /// Standard error of λ̂ at each rung.
    pub llc_err: Vec<f64>,
    /// p-value of each rung's half-drift test (its last run; null with fewer than 3 chains left).
    #[serde(default)]
    pub stationarity_p: Vec<Option<f64>>,
    /// How many times each rung was run again from its own end points because its trace drifted.
    #[serde(default)]
    pub reruns: Vec<usize>,
    /// How many times each rung's draws were doubled for the fit's precision target.
    #[serde(default)]
    pub extensions: Vec<usize>,
    /// σ_m·Δ_m/λ at the end: the share of λ that one standard error of the multiplicity moves it by.
    #[serde(default)]
    pub multiplicity_uncertainty: f64,
    /// Per rung, ε_k·(nβ_k·h_top + γ) at the stiffest of its chains' end points (h_top: the top Hessian
    /// eigenvalue there): the step's stiffness product where the chains went. The auto rule aims at
    /// 0.05; SGLD's relative bias grows about as a quarter of it.
    #[serde(default)]
    pub step_stiffness: Vec<f64>,
}

/// The volume block of summary.json: ln V(ε) and its local slope for each method.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct VolumeSummary {
    /// The prior V is the mass of, in words.
    pub prior: String,
    /// Thresholds ε.
    pub eps: Vec<f64>,
    /// ln V(ε) per method (nats).
    pub log_v: std::collections::BTreeMap<String, Vec<f64>>,
    /// One standard error of ln V per method (nats).
    pub log_v_err: std::collections::BTreeMap<String, Vec<f64>>,
    /// d ln V / d ln ε per method.
    pub slope: std::collections::BTreeMap<String, Vec<f64>>,
    /// Where the Hessian's ln V departs from a direct estimate by more than 3 combined errors.
    pub divergence: Vec<slt_estimators::volume::VolumeDivergence>,
    /// Caveats per method.
    pub notes: std::collections::BTreeMap<String, Vec<String>>,
    /// Warnings about the measured point itself (also printed), e.g. w* not being a minimum at the
    /// resolution of the smallest threshold.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// The Hessian block of summary.json.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct HessianSummary {
    /// The largest eigenvalues, descending (at most 20).
    pub eigenvalues_top: Vec<f64>,
    /// Eigenvalues above the tolerance.
    pub rank_estimate: usize,
    /// The tolerance behind `rank_estimate`.
    pub rank_tolerance: f64,
    /// The trace.
    pub trace: f64,
    /// Its standard error (0 for the exact Hessian).
    pub trace_err: f64,
    /// "dense" or "lanczos".
    pub method: String,
    /// How the Hessian-vector products were computed: "exact" (tangents through the fast
    /// landscape's backward pass) or "finite-difference" (gradient differences).
    pub products: String,
}

/// The known answer block of summary.json.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct TheorySummary {
    /// λ as a number.
    pub lambda: f64,
    /// λ exactly, as a fraction.
    pub lambda_exact: String,
    /// The multiplicity m.
    pub multiplicity: u32,
    /// Where λ is the known answer: "the measured point", or, for a trained deep linear network that
    /// fits its noiseless teacher exactly, "the teacher's minimal true point" (a reference: the LLC of
    /// the trained point equals it when every layer has rank exactly r).
    pub applies_to: String,
}

/// Wall seconds of each phase run.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Timing {
    /// Training.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train: Option<f64>,
    /// LLC estimation (probe and chains).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llc: Option<f64>,
    /// The temperature ladder's chains.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ladder: Option<f64>,
    /// Basin volumes.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub volume: Option<f64>,
    /// The Hessian spectrum.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hessian: Option<f64>,
}

/// summary.json.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Summary {
    /// The run's name.
    pub name: String,
    /// Training set size n.
    pub n: usize,
    /// Number of parameters d.
    pub d: usize,
    /// The model kind.
    pub model: String,
    /// Where the LLC was measured: "minimal-true-point", "origin", or "checkpoint step N".
    pub measured_at: String,
    /// The LLC estimate, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llc: Option<LlcSummary>,
    /// The RLCT from the temperature ladder, when `llc.ladder` asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rlct: Option<RlctSummary>,
    /// The known λ at the measured point, or null.
    pub theory: Option<TheorySummary>,
    /// Basin volumes V(ε), when they ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeSummary>,
    /// The Hessian spectrum at w*, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hessian: Option<HessianSummary>,
    /// Final training loss, when the model was trained.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_train_loss: Option<f64>,
    /// Wall seconds per phase.
    pub timing_s: Timing,
}
