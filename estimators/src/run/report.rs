//! What an LLC run reports: events for the user's notes, typed diagnostics, and its outcome.

use crate::calibration::ResolvedSettings;
use crate::chains::{ChainSettings, ChainTrace};
use crate::error::Error;
use crate::ladder::{LadderRung, RlctEstimate};
use crate::llc::LlcEstimate;
use crate::mala::MalaSummary;
use crate::sampler::AnySampler;

use super::LadderLocalization;

/// What happened during a run, for the user's notes (not judgements: those are [`Diagnostic`]s).
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent<'a> {
    /// The settings are resolved; the chains start.
    Resolved {
        /// The sampler's name.
        sampler: &'static str,
        /// Parameters.
        dim: usize,
        /// The resolved settings.
        settings: &'a ResolvedSettings,
        /// The sampler's step.
        step_size: f64,
        /// The chains' settings.
        chains: &'a ChainSettings,
    },
    /// The loss trace still drifted after an auto burn-in; the run goes again with 4× the burn-in.
    BurninExtended {
        /// The burn-in that was too short.
        burnin: usize,
        /// The half-drift test's p-value.
        p: f64,
    },
    /// A stage of the auto rule's resolution is done.
    Auto(AutoStage),
    /// The temperature ladder starts.
    LadderStarted {
        /// Its γ.
        localization: f64,
        /// Where γ came from.
        source: LadderLocalization,
        /// The base rung's step.
        step_size: f64,
        /// The base rung's chains.
        chains: &'a ChainSettings,
    },
    /// The ladder's fit.
    LadderFitted {
        /// The rungs' factors.
        factors: &'a [f64],
        /// The fit.
        fit: &'a RlctEstimate,
    },
}

/// Watches an LLC run: progress of each sampling phase, and its events.
pub trait RunObserver: Sync {
    /// A sampling phase starts (`name`: the sampler, "ε/2" or "ladder"; `total`: its sampler steps
    /// over all chains, 0 when unknown).
    fn phase(&self, _name: &str, _total: u64) {}
    /// `steps` more sampler steps are done.
    fn progress(&self, _steps: u64) {}
    /// The phase is over.
    fn phase_done(&self) {}
    /// Something the user may want to know.
    fn event(&self, _event: &RunEvent<'_>) {}
}

/// The auto rule's stages, reported as they end (the resolution can take a while at large d).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AutoStage {
    /// The probe at w*.
    Probed {
        /// The largest Hessian eigenvalue found.
        top: f64,
        /// The smallest (negative at a strict saddle).
        bottom: f64,
        /// Hessian-vector products and loss evaluations taken.
        evaluations: usize,
    },
    /// The pilot chains settled the step size.
    Step {
        /// The step.
        step_size: f64,
        /// Pilot rounds taken.
        rounds: usize,
    },
    /// One round of the mixing pilot.
    Mixing {
        /// Steps per chain of the round.
        length: usize,
        /// The autocorrelation time it measured, in steps (NaN when it could not).
        tau_steps: f64,
        /// Whether the rule accepted it.
        resolved: bool,
    },
}

/// An observer that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl RunObserver for Quiet {}

/// What a reader of the estimate should be told, in the order the run found it.
#[derive(Debug, Clone, PartialEq)]
pub enum Diagnostic {
    /// Chains diverged at an auto step; the run went again at a quarter of it.
    StepRetried {
        /// Chains that diverged.
        diverged: usize,
        /// Chains run.
        chains: usize,
        /// The step they diverged at.
        step_size: f64,
    },
    /// w* is not a critical point at this temperature: a step along the gradient lowers nβ·L by `drop`.
    NotCritical {
        /// The drop in units of 1/nβ (above [`crate::run::policy::NOT_CRITICAL_DROP`]).
        drop: f64,
    },
    /// λ̂ is negative: the chains found lower loss than w*.
    NegativeLlc {
        /// λ̂.
        mean: f64,
    },
    /// Split R-hat of the loss traces above [`crate::run::policy::RHAT_WARN`].
    HighRhat {
        /// R-hat.
        rhat: f64,
    },
    /// Some chains diverged and were excluded.
    DivergedChains {
        /// Chains that diverged.
        diverged: usize,
        /// Chains run.
        chains: usize,
    },
    /// MALA acceptance of the SGLD proposals below [`crate::run::policy::MALA_WARN`].
    LowMalaAcceptance {
        /// Mean acceptance.
        acceptance: f64,
    },
    /// The loss trace is not stationary after burn-in (p below [`crate::run::policy::DRIFT_WARN_P`]).
    Drift {
        /// The half-drift test's t statistic.
        t: f64,
        /// Its p-value.
        p: f64,
    },
    /// λ̂ moves by more than [`crate::run::policy::STEP_BIAS_SIGMAS`] combined standard errors at ε/2.
    StepBias {
        /// λ̂ at ε.
        mean: f64,
        /// λ̂ at ε/2.
        halved: f64,
        /// The two estimates' combined standard error.
        combined_stderr: f64,
    },
    /// Ladder chains diverged at an auto step; the ladder went again at a quarter of it.
    LadderStepRetried {
        /// Chains that diverged, over all rungs.
        diverged: usize,
        /// The step they diverged at.
        step_size: f64,
    },
    /// A rung still drifts after its reruns (p below [`crate::run::policy::DRIFT_WARN_P`]).
    LadderRungDrift {
        /// The rung's nβ.
        nbeta: f64,
        /// Its reruns.
        reruns: usize,
        /// The half-drift test's p-value.
        p: f64,
    },
    /// Where the ladder's chains went, ε·(nβ·h_top + γ) passed [`crate::run::policy::STEP_STIFFNESS_WARN`].
    LadderStepStiffness {
        /// The largest value over rungs.
        worst: f64,
    },
    /// After every extension one standard error of m still moves λ by more than the target.
    LadderMultiplicityImprecise {
        /// Extensions run.
        extensions: usize,
        /// Standard error of the real-valued m.
        multiplicity_stderr: f64,
        /// The share of λ one standard error of m moves it by.
        uncertainty: f64,
        /// The target share.
        target: f64,
    },
    /// The ladder ran a preconditioned sampler (RMSProp-SGLD), whose rungs' λ̂ drift up with nβ on
    /// quartic directions (+7% from the warmest to the coldest rung on x² + y⁴); the fit reads that
    /// drift as a higher multiplicity.
    LadderPreconditioned,
    /// The ladder failed; the one-temperature estimate stands alone.
    LadderFailed {
        /// Why.
        error: Error,
    },
}

/// What the chains gave, before it is judged.
#[derive(Debug, Clone)]
pub struct Sampled {
    /// The auto rule's resolution (nβ, γ, and the probe); the step, burn-in and thinning the chains
    /// finally ran with are in `sampler` and `settings`.
    pub resolved: ResolvedSettings,
    /// The sampler as it finally ran (after any quarter-step retries).
    pub sampler: AnySampler,
    /// The chains' settings as they finally ran.
    pub settings: ChainSettings,
    /// The ladder's γ, resolved (`None` without a ladder).
    pub ladder_localization: Option<f64>,
    /// L_n(w*), the full-batch loss at the center.
    pub init_loss: f64,
    /// Every chain's trace, diverged ones included.
    pub traces: Vec<ChainTrace>,
    /// MALA acceptance of SGLD's proposals, where probed.
    pub mala: Option<MalaSummary>,
    /// The retries so far.
    pub diagnostics: Vec<Diagnostic>,
    /// Seconds from the start of the run to the end of sampling.
    pub seconds: f64,
}

/// The temperature ladder's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct LadderReport {
    /// The RLCT fit.
    pub fit: RlctEstimate,
    /// The ladder's γ.
    pub localization: f64,
    /// The base rung's step (after any retries).
    pub step_size: f64,
    /// The rungs, ascending in nβ.
    pub rungs: Vec<LadderRung>,
    /// Per rung, ε_k·(nβ_k·h_top + γ) at its chains' end points (empty for a preconditioned sampler).
    pub step_stiffness: Vec<f64>,
    /// Seconds the ladder took.
    pub seconds: f64,
}

/// An LLC run's outcome: the estimate, its checks and diagnostics.
#[derive(Debug, Clone)]
pub struct LlcReport {
    /// What the chains gave.
    pub sampled: Sampled,
    /// λ̂ and its statistics.
    pub estimate: LlcEstimate,
    /// The half-drift test (t, p) of the kept loss traces.
    pub stationarity: Option<(f64, f64)>,
    /// λ̂ at ε/2, when checked.
    pub halved_step_mean: Option<f64>,
    /// The ladder, when asked for and it succeeded.
    pub ladder: Option<LadderReport>,
    /// Every diagnostic, in order (the retries first).
    pub diagnostics: Vec<Diagnostic>,
}

impl LlcReport {
    /// The ladder's error, when it failed.
    pub fn ladder_error(&self) -> Option<&Error> {
        self.diagnostics.iter().find_map(|d| match d {
            Diagnostic::LadderFailed { error } => Some(error),
            _ => None,
        })
    }
}
