//! The LLC run as one object: resolve "auto", run the chains with every retry and rerun rule, estimate, diagnose, check the step and climb the temperature ladder.
//!
//! The application builds an [`LlcRequest`] (what the user gave, what is left to the auto rule),
//! makes an [`LlcRun`] on its landscape and point, and calls [`LlcRun::sample`] then
//! [`LlcRun::finish`]; between the two it can write the traces, so that a run whose chains all
//! diverged keeps them. Progress and notes go to a [`RunObserver`]; what a reader should be told
//! about the estimate comes back as typed [`Diagnostic`]s, which the application formats.

use std::time::Instant;

use crate::calibration::{
    gradient_drop, probe_batch, probe_points, resolve_settings, rule::MAX_STEPS,
    top_hessian_eigenvalue, unit_information_localization, ResolvedSettings, SettingsRequest,
};
use crate::chains::{run_chains, run_chains_observed, ChainSettings, ChainTrace};
use crate::diagnostics::half_drift_test;
use crate::error::{Error, Result};
use crate::ladder::{run_ladder_detailed, LadderRung, LadderSettings};
use crate::landscape::{full_loss, Landscape};
use crate::llc::LlcEstimate;
use crate::mala::{MalaObserver, MalaSummary};
use crate::sampler::{AnySampler, Sampler, Sgld, TemperedPosterior};

mod report;
mod request;

pub use report::{
    AutoStage, Diagnostic, LadderReport, LlcReport, Quiet, RunEvent, RunObserver, Sampled,
};
pub use request::{LadderLocalization, LadderRequest, LlcRequest};

/// The run's rules: when to retry, rerun, and warn.
pub mod policy {
    /// Sampling steps per chain on the temperature ladder's base rung, at least (higher rungs run
    /// more): the fit separates λ from the (m − 1)/ln nβ term only when each rung's λ̂ is precise to
    /// about 1%.
    pub const LADDER_MIN_STEPS: usize = 1_000_000;
    /// The ladder warns when ε·(nβ·h_top + γ) at its chains' end points passes this (4 × the auto
    /// rule's κ: SGLD's relative bias on such a direction is then about 5%).
    pub const STEP_STIFFNESS_WARN: f64 = 0.2;
    /// A loss trace whose half-drift test gives p below this drifts: an auto burn-in is extended, and
    /// a run (or a ladder rung, after its reruns) that still drifts is reported.
    pub const DRIFT_WARN_P: f64 = 1e-3;
    /// Times a run at an auto step size is repeated at a quarter of the step when chains diverge.
    pub const AUTO_STEP_RETRIES: usize = 2;
    /// Times a run with an auto burn-in is repeated with 4× the burn-in when its loss trace drifts.
    pub const AUTO_BURNIN_RETRIES: usize = 2;
    /// Split R-hat of the loss traces above this: the chains disagree.
    pub const RHAT_WARN: f64 = 1.05;
    /// MALA acceptance of the SGLD proposals below this: the step is too large for the posterior.
    pub const MALA_WARN: f64 = 0.7;
    /// λ̂ at ε/2 further than this many combined standard errors from λ̂ at ε: the step biases it.
    pub const STEP_BIAS_SIGMAS: f64 = 3.0;
    /// A step along the gradient that lowers nβ·L by more than this: w* is not a critical point.
    pub const NOT_CRITICAL_DROP: f64 = 1.0;
}

use policy::*;

/// SGLD chains run somewhere other than the CPU executor (all chains stacked on a device).
pub trait StackedSgld: Sync {
    /// Runs `settings.chains` SGLD chains from `center` and returns their traces.
    fn run(
        &self,
        sampler: &Sgld,
        center: &[f64],
        settings: &ChainSettings,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Vec<ChainTrace>>;
}

/// One LLC run on a landscape at a point.
pub struct LlcRun<'a, L: Landscape> {
    landscape: &'a L,
    center: &'a [f64],
    n: usize,
    request: LlcRequest,
    stacked: Option<&'a dyn StackedSgld>,
}

impl<'a, L: Landscape> LlcRun<'a, L> {
    /// A run at `center` of `landscape`, whose data has `n` points (nβ's default is n / ln n).
    pub fn new(landscape: &'a L, center: &'a [f64], n: usize, request: LlcRequest) -> Self {
        Self {
            landscape,
            center,
            n,
            request,
            stacked: None,
        }
    }

    /// The one-temperature SGLD chains run on `stacked` instead of the CPU executor.
    pub fn stacked(mut self, stacked: &'a dyn StackedSgld) -> Self {
        self.stacked = Some(stacked);
        self
    }

    /// Resolves the auto settings and runs the chains: at an auto step, chains that diverge are run
    /// again at a quarter of it (at most [`policy::AUTO_STEP_RETRIES`] times); with an auto burn-in, a
    /// loss trace that still drifts (p < [`policy::DRIFT_WARN_P`]) is run again with 4× the burn-in
    /// (at most [`policy::AUTO_BURNIN_RETRIES`] times, within the rule's cap): the slow drift along
    /// curved sets of true parameters is what the linear relaxation time misses.
    pub fn sample(&self, obs: &dyn RunObserver) -> Result<Sampled> {
        let start = Instant::now();
        let r = &self.request;
        let resolved = resolve_settings(
            self.landscape,
            self.center,
            self.n,
            r.draws,
            r.settings_request(),
            obs,
        )?;
        // Resolved up front so that a resolved config can record it.
        let ladder_localization = match &r.ladder {
            None => None,
            Some(l) => Some(self.ladder_gamma(l.localization, &resolved)?),
        };
        let init_loss = full_loss(self.landscape, self.center);
        let mut settings = r.chain_settings(&resolved, self.center);
        let posterior = TemperedPosterior {
            nbeta: resolved.nbeta,
            localization: resolved.localization,
        };
        let step = r
            .step_size
            .unwrap_or_else(|| r.sampler.auto_step(resolved.step_size));
        let mut sampler = r.sampler.build(step, posterior)?;
        obs.event(&RunEvent::Resolved {
            sampler: r.sampler.name(),
            dim: self.landscape.dim(),
            settings: &resolved,
            step_size: step,
            chains: &settings,
        });
        let mut diagnostics = Vec::new();
        let (mut step_retries, mut burnin_retries) = (0, 0);
        let cap = MAX_STEPS as usize;
        let (traces, mala) = loop {
            let (traces, mala) = self.run_once(&sampler, &settings, obs)?;
            let diverged = traces.iter().filter(|t| t.divergence.is_some()).count();
            if diverged == 0 {
                let kept: Vec<&[f64]> = traces.iter().map(|t| t.losses.as_slice()).collect();
                let drifting = half_drift_test(&kept).filter(|&(_, p)| p < DRIFT_WARN_P);
                if let (Some((_, p)), None, true) = (
                    drifting,
                    r.burnin,
                    burnin_retries < AUTO_BURNIN_RETRIES && settings.burnin < cap / 2,
                ) {
                    obs.event(&RunEvent::BurninExtended {
                        burnin: settings.burnin,
                        p,
                    });
                    settings.burnin = (settings.burnin * 4).min(cap / 2);
                    burnin_retries += 1;
                    continue;
                }
                break (traces, mala);
            }
            if r.step_size.is_some() || step_retries >= AUTO_STEP_RETRIES {
                break (traces, mala);
            }
            step_retries += 1;
            diagnostics.push(Diagnostic::StepRetried {
                diverged,
                chains: settings.chains,
                step_size: sampler.step_size(),
            });
            sampler = sampler.with_step_size(sampler.step_size() / 4.0)?;
            r.quarter_step(&mut settings);
        };
        Ok(Sampled {
            resolved,
            sampler,
            settings,
            ladder_localization,
            init_loss,
            traces,
            mala,
            diagnostics,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// Estimates λ̂ from what [`LlcRun::sample`] gave, judges it, and runs the step check and the
    /// ladder when asked. Fails when every chain diverged. A failed ladder is a
    /// [`Diagnostic::LadderFailed`], not an error: the one-temperature estimate stands.
    pub fn finish(&self, sampled: Sampled, obs: &dyn RunObserver) -> Result<LlcReport> {
        let r = &self.request;
        let nbeta = sampled.resolved.nbeta;
        let est = LlcEstimate::from_traces(&sampled.traces, sampled.init_loss, nbeta)?;
        let mut diagnostics = sampled.diagnostics.clone();
        if let Some(drop) = gradient_drop(self.landscape, self.center, nbeta) {
            if drop > NOT_CRITICAL_DROP {
                diagnostics.push(Diagnostic::NotCritical { drop });
            }
        }
        if est.mean < 0.0 {
            diagnostics.push(Diagnostic::NegativeLlc { mean: est.mean });
        }
        if est.rhat > RHAT_WARN {
            diagnostics.push(Diagnostic::HighRhat { rhat: est.rhat });
        }
        if est.diverged_chains > 0 {
            diagnostics.push(Diagnostic::DivergedChains {
                diverged: est.diverged_chains,
                chains: est.chains,
            });
        }
        if let Some(m) = sampled.mala.as_ref().filter(|m| m.mean < MALA_WARN) {
            diagnostics.push(Diagnostic::LowMalaAcceptance { acceptance: m.mean });
        }
        let kept: Vec<&[f64]> = sampled
            .traces
            .iter()
            .filter(|t| t.divergence.is_none())
            .map(|t| t.losses.as_slice())
            .collect();
        let stationarity = half_drift_test(&kept);
        if let Some((t, p)) = stationarity.filter(|&(_, p)| p < DRIFT_WARN_P) {
            diagnostics.push(Diagnostic::Drift { t, p });
        }
        let halved_step_mean = if r.check_step {
            let half = self.halved_step(&sampled, obs)?;
            let combined = (half.stderr.powi(2) + est.stderr.powi(2)).sqrt();
            if (half.mean - est.mean).abs() > STEP_BIAS_SIGMAS * combined {
                diagnostics.push(Diagnostic::StepBias {
                    mean: est.mean,
                    halved: half.mean,
                    combined_stderr: combined,
                });
            }
            Some(half.mean)
        } else {
            None
        };
        let ladder = match &r.ladder {
            None => None,
            Some(l) => match self.ladder(l, &sampled, &mut diagnostics, obs) {
                Ok(report) => Some(report),
                Err(error) => {
                    diagnostics.push(Diagnostic::LadderFailed { error });
                    None
                }
            },
        };
        Ok(LlcReport {
            sampled,
            estimate: est,
            stationarity,
            halved_step_mean,
            ladder,
            diagnostics,
        })
    }

    /// One pass of the chains: on the stacked device for SGLD when one is set, else the CPU
    /// executor, with MALA probes for SGLD when asked.
    fn run_once(
        &self,
        sampler: &AnySampler,
        settings: &ChainSettings,
        obs: &dyn RunObserver,
    ) -> Result<(Vec<ChainTrace>, Option<MalaSummary>)> {
        let (landscape, center, r) = (self.landscape, self.center, &self.request);
        obs.phase(
            sampler.name(),
            (settings.steps_per_chain() * settings.chains) as u64,
        );
        let progress = |k| obs.progress(k);
        let out = match (sampler, self.stacked) {
            (AnySampler::Sgld(s), Some(stacked)) => {
                (stacked.run(s, center, settings, &progress)?, None)
            }
            (AnySampler::Sgld(s), None) if r.mala_every > 0 => {
                let (posterior, step, every) = (s.posterior(), s.step_size(), r.mala_every);
                let observer = |c| {
                    MalaObserver::for_chain(landscape, center, posterior, step, every, r.seed, c)
                };
                // Checked once here, so that the per-chain constructor below cannot fail.
                observer(0)?;
                let (traces, observers) =
                    run_chains_observed(landscape, s, center, settings, &progress, |c| {
                        observer(c).expect("checked above")
                    })?;
                (traces, MalaSummary::from_observers(&observers))
            }
            _ => (
                run_chains(landscape, sampler, center, settings, &progress)?,
                None,
            ),
        };
        obs.phase_done();
        Ok(out)
    }

    /// The same chains at ε/2 with twice the burn-in and thinning, same seeds.
    fn halved_step(&self, sampled: &Sampled, obs: &dyn RunObserver) -> Result<LlcEstimate> {
        let settings = ChainSettings {
            burnin: sampled.settings.burnin * 2,
            thin: sampled.settings.thin * 2,
            ..sampled.settings.clone()
        };
        obs.phase("ε/2", (settings.steps_per_chain() * settings.chains) as u64);
        let sampler = sampled
            .sampler
            .with_step_size(sampled.sampler.step_size() / 2.0)?;
        let traces = run_chains(self.landscape, &sampler, self.center, &settings, &|k| {
            obs.progress(k)
        });
        obs.phase_done();
        LlcEstimate::from_traces(&traces?, sampled.init_loss, sampled.resolved.nbeta)
    }

    /// The ladder's γ: the one-temperature γ, the unit-information rule's, or the given value.
    fn ladder_gamma(&self, how: LadderLocalization, resolved: &ResolvedSettings) -> Result<f64> {
        match how {
            LadderLocalization::Value(g) => Ok(g),
            LadderLocalization::Auto => Ok(resolved.localization),
            LadderLocalization::UnitInformation => {
                unit_information_localization(self.landscape, self.center, self.request.seed)
                    .ok_or_else(|| Error::Numerical {
                        what: "the ladder's localization",
                        why: "the loss at w* is not finite".into(),
                    })
            }
        }
    }

    /// The temperature ladder: its base rung's step and chains (the one-temperature run's when it
    /// shares that γ, else the auto rule resolved again at the ladder's γ, given values kept), run
    /// again at a quarter of an auto step when chains diverge (at most
    /// [`policy::AUTO_STEP_RETRIES`] times), then judged.
    fn ladder(
        &self,
        ladder: &LadderRequest,
        sampled: &Sampled,
        diagnostics: &mut Vec<Diagnostic>,
        obs: &dyn RunObserver,
    ) -> Result<LadderReport> {
        let r = &self.request;
        let start = Instant::now();
        let nbeta = sampled.resolved.nbeta;
        let gamma = sampled
            .ladder_localization
            .unwrap_or(sampled.resolved.localization);
        let (base_step, chains) = if ladder.localization.is_auto() {
            (sampled.sampler.step_size(), sampled.settings.clone())
        } else {
            // Another γ changes the posterior's typical set: the auto rule runs again at it.
            let request = SettingsRequest {
                nbeta: Some(nbeta),
                localization: Some(gamma),
                ..r.settings_request()
            };
            let resolved =
                resolve_settings(self.landscape, self.center, self.n, r.draws, request, obs)?;
            let step = r
                .step_size
                .unwrap_or_else(|| r.sampler.auto_step(resolved.step_size));
            (step, r.chain_settings(&resolved, self.center))
        };
        obs.event(&RunEvent::LadderStarted {
            localization: gamma,
            source: ladder.localization,
            step_size: base_step,
            chains: &chains,
        });
        let posterior = TemperedPosterior {
            nbeta,
            localization: gamma,
        };
        let ladder_settings = LadderSettings {
            factors: ladder.factors.clone(),
            ..LadderSettings::default()
        };
        let mut rung_settings = ChainSettings {
            thin: chains.thin.max(LADDER_MIN_STEPS.div_ceil(chains.draws)),
            ..chains
        };
        let mut sampler = r.sampler.build(base_step, posterior)?;
        let mut retries = 0;
        let run = loop {
            obs.phase("ladder", 0);
            let outcome = run_ladder_detailed(
                self.landscape,
                self.center,
                &sampler,
                &ladder_settings,
                &rung_settings,
                &|k| obs.progress(k),
            );
            obs.phase_done();
            let diverged = match &outcome {
                Ok(run) => run.rungs.iter().map(|r| r.llc.diverged_chains).sum(),
                Err(Error::AllChainsDiverged { chains, .. }) => *chains,
                Err(_) => 0,
            };
            if diverged == 0 || r.step_size.is_some() || retries >= AUTO_STEP_RETRIES {
                break outcome?;
            }
            retries += 1;
            diagnostics.push(Diagnostic::LadderStepRetried {
                diverged,
                step_size: sampler.step_size(),
            });
            sampler = sampler.with_step_size(sampler.step_size() / 4.0)?;
            r.quarter_step(&mut rung_settings);
        };
        let mut rungs = run.rungs;
        rungs.sort_by(|a, b| a.nbeta.total_cmp(&b.nbeta));
        for rung in &rungs {
            // Reruns start at p < RUNG_DRIFT_P (cheap insurance); the report needs the run's own
            // evidence level.
            if let Some(p) = rung.stationarity_p.filter(|&p| p < DRIFT_WARN_P) {
                diagnostics.push(Diagnostic::LadderRungDrift {
                    nbeta: rung.nbeta,
                    reruns: rung.reruns,
                    p,
                });
            }
        }
        if sampler.sgld_step().is_none() {
            diagnostics.push(Diagnostic::LadderPreconditioned);
        }
        let step_stiffness = self.step_stiffness(&sampler, &rungs, gamma);
        if let Some(worst) = step_stiffness.iter().copied().reduce(f64::max) {
            if worst > STEP_STIFFNESS_WARN {
                diagnostics.push(Diagnostic::LadderStepStiffness { worst });
            }
        }
        let fit = run.rlct;
        let uncertainty = fit.multiplicity_uncertainty();
        if uncertainty > ladder_settings.multiplicity_precision {
            diagnostics.push(Diagnostic::LadderMultiplicityImprecise {
                extensions: ladder_settings.max_extensions,
                multiplicity_stderr: fit.multiplicity_stderr,
                uncertainty,
                target: ladder_settings.multiplicity_precision,
            });
        }
        obs.event(&RunEvent::LadderFitted {
            factors: &ladder_settings.factors,
            fit: &fit,
        });
        Ok(LadderReport {
            fit,
            localization: gamma,
            step_size: sampler.step_size(),
            rungs,
            step_stiffness,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// Where the chains went, how stiff was the loss against each rung's step? The auto step is
    /// checked at w* and at short pilot chains' ends; the rungs' own chains go further. Empty for a
    /// sampler whose step is not in SGLD's units.
    fn step_stiffness(&self, base: &AnySampler, rungs: &[LadderRung], gamma: f64) -> Vec<f64> {
        if base.sgld_step().is_none() {
            return Vec::new();
        }
        let points = probe_points(self.landscape);
        let batch = probe_batch(self.landscape, &points);
        rungs
            .iter()
            .map(|g| {
                g.end_points
                    .iter()
                    .map(|w| {
                        let h =
                            top_hessian_eigenvalue(self.landscape, w, batch, 30, self.request.seed);
                        g.step_size * (g.nbeta * h + gamma)
                    })
                    .fold(0.0, f64::max)
            })
            .collect()
    }
}
