//! The commands' work: config → model + data → training → landscape → chains → estimates → results folder.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use slt_estimators::calibration::rule::KAPPA;
use slt_estimators::calibration::{resolve_settings, unit_information_localization};
use slt_estimators::chains::{run_chains, run_chains_observed, ChainSettings};
use slt_estimators::diagnostics::half_drift_test;
use slt_estimators::hessian::HessianOperator;
use slt_estimators::ladder::{run_ladder_detailed, LadderSettings};
use slt_estimators::landscape::full_loss;
use slt_estimators::llc::running_llc;
use slt_estimators::{Landscape, LlcEstimate, Sgld, TemperedPosterior};
use slt_estimators::{MalaObserver, MalaSummary, RmspropSgld, Sgnht};

use crate::config::{
    Auto, ConfigError, DeviceChoice, Ladder, LadderLocalization, LlcConfig, ModelConfig,
    PrecisionChoice, RunConfig, SamplerKind, ValidConfig,
};
use crate::models::{Precision, Problem};
use crate::report::plot::{draw_line_plot, HLine, LinePlot, Series};
use crate::report::{
    write_atomic, write_csv, write_json, LlcSummary, RlctSummary, Summary, TheorySummary, Timing,
};
use crate::train::{load_checkpoint, train, TrainOutcome};

/// Sampling steps per chain on the temperature ladder's base rung, at least (higher rungs run more).
pub const LADDER_MIN_STEPS: usize = 1_000_000;

/// The ladder warns when ε·(nβ·h_top + γ) at its chains' end points passes this (4 × the auto rule's κ:
/// SGLD's relative bias on such a direction is then about 5%).
pub const STEP_STIFFNESS_WARN: f64 = 0.2;

/// A loss trace whose half-drift test gives p below this drifts: an auto burn-in is extended, and a
/// run (or a ladder rung, after its reruns) that still drifts warns.
pub const DRIFT_WARN_P: f64 = 1e-3;

/// Times a run at an auto step size is repeated at a quarter of the step when chains diverge.
pub const AUTO_STEP_RETRIES: usize = 2;

/// Times a run with an auto burn-in is repeated with 4× the burn-in when its loss trace still drifts.
pub const AUTO_BURNIN_RETRIES: usize = 2;

/// Where results go and how chatty to be.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The run folder.
    pub out: PathBuf,
    /// Hide progress bars and notes.
    pub quiet: bool,
}

impl RunOptions {
    /// The run folder for a config: `--out` if given, else results/<name>/.
    pub fn for_config(config: &RunConfig, out: Option<PathBuf>, quiet: bool) -> Self {
        Self {
            out: out.unwrap_or_else(|| Path::new("results").join(&config.name)),
            quiet,
        }
    }

    /// A progress bar over `total` steps, hidden when quiet or when stderr is not a terminal.
    pub fn progress(&self, total: u64, what: &str) -> ProgressBar {
        if self.quiet || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new(total);
        pb.set_style(
            ProgressStyle::with_template(
                "{msg:>10} [{bar:40}] {percent:>3}% {per_sec:>12} eta {eta}",
            )
            .expect("a fixed template")
            .progress_chars("=> "),
        );
        pb.set_message(what.to_string());
        pb
    }

    /// A line for the user on stderr, unless quiet.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }
}

/// A known answer, formatted for summary.json.
fn theory_summary(problem: &Problem, applies_to: &str) -> Option<TheorySummary> {
    problem.theory.map(|k| TheorySummary {
        lambda: k.lambda.to_f64(),
        lambda_exact: k.lambda.to_string(),
        multiplicity: k.multiplicity,
        applies_to: applies_to.into(),
    })
}

/// Whether a trained deep linear network fits its noiseless teacher exactly (full-batch loss below
/// 1e-10 of the targets' mean square), so that the teacher's λ is a meaningful reference.
fn fits_teacher_exactly(config: &RunConfig, problem: &Problem, init_loss: f64) -> bool {
    let Some(data) = problem.train.as_ref() else {
        return false;
    };
    let mean_square =
        data.targets.iter().map(|y| y * y).sum::<f64>() / data.targets.len().max(1) as f64;
    matches!(config.model, ModelConfig::Dln { .. })
        && config.data.noise == 0.0
        && init_loss <= 1e-10 * mean_square
}

/// `slt theory`: the known λ of the config's model at its reference point, as text.
pub fn theory_text(config: &ValidConfig) -> String {
    let problem = Problem::build(config);
    match (&config.model, problem.theory) {
        (_, Some(k)) => format!(
            "lambda = {} ({:.6})\nmultiplicity = {}\n",
            k.lambda,
            k.lambda.to_f64(),
            k.multiplicity
        ),
        (m, None) => format!(
            "no known lambda for model.kind = \"{}\" with these settings\n",
            m.kind()
        ),
    }
}

/// `slt train`: trains and writes checkpoints, train_log.csv, the loss plot and config.toml.
pub fn run_train(config: &ValidConfig, opts: &RunOptions) -> Result<(Problem, TrainOutcome, f64)> {
    let problem = Problem::build(config);
    let tc = config.train.as_ref().ok_or_else(|| ConfigError::Invalid {
        key: "train".into(),
        value: "absent".into(),
        rule: "`slt train` needs a [train] section".into(),
    })?;
    let start = Instant::now();
    let pb = opts.progress(tc.steps as u64, "train");
    let outcome = train(
        tc,
        &problem,
        config.seed,
        &opts.out.join("checkpoints"),
        &|k| pb.inc(k),
    )?;
    pb.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    crate::train::write_train_log(&opts.out.join("train_log.csv"), &outcome.log)?;
    let has_test = outcome.log.iter().any(|r| r.test_loss.is_some());
    let mut bold = vec![Series {
        label: "train loss".into(),
        points: outcome
            .log
            .iter()
            .map(|r| (r.step.max(1) as f64, r.train_loss))
            .collect(),
    }];
    if has_test {
        bold.push(Series {
            label: "test loss".into(),
            points: outcome
                .log
                .iter()
                .filter_map(|r| r.test_loss.map(|t| (r.step.max(1) as f64, t)))
                .collect(),
        });
    }
    draw_line_plot(
        &LinePlot {
            title: format!("{}: training", config.name),
            x_label: "step".into(),
            y_label: "loss".into(),
            log_x: true,
            log_y: true,
            faint: vec![],
            bold,
            hlines: vec![],
        },
        &opts.out.join("train_loss.png"),
    )?;
    write_atomic(
        &opts.out.join("config.toml"),
        toml::to_string(&**config)
            .context("formatting config")?
            .as_bytes(),
    )?;
    let last = outcome.log.last().map(|r| r.train_loss).unwrap_or(f64::NAN);
    opts.note(&format!(
        "trained {} steps in {seconds:.1} s; final train loss {last:.4e}; results in {}",
        tc.steps,
        opts.out.display()
    ));
    Ok((problem, outcome, seconds))
}

/// The point to measure and how to name it: the trained model, a saved checkpoint, or the reference point.
/// The point a config measures: a checkpoint of training (the one `llc.checkpoint` names, else the
/// last), or the reference point (the teacher's minimal true point, the origin of a potential);
/// with where it is in words and whether the problem's known λ applies there.
pub fn measure_point(
    config: &RunConfig,
    problem: &Problem,
    trained: Option<&TrainOutcome>,
    out: &Path,
) -> Result<(Vec<f64>, String, bool)> {
    let wanted = config.llc.as_ref().and_then(|l| l.checkpoint);
    if let Some(t) = trained {
        let chosen = match wanted {
            Some(step) => t
                .checkpoints
                .iter()
                .find(|c| c.step == step)
                .with_context(|| format!("training saved no checkpoint at step {step}"))?,
            None => t
                .checkpoints
                .last()
                .context("training saved no checkpoint")?,
        };
        return Ok((
            chosen.params.clone(),
            format!("checkpoint step {}", chosen.step),
            false,
        ));
    }
    if let Some(tc) = &config.train {
        let shape = problem
            .shape
            .as_ref()
            .context("a trained model has a shape")?;
        let step = wanted.unwrap_or(tc.steps);
        let folder = config
            .llc
            .as_ref()
            .and_then(|l| l.from.clone())
            .unwrap_or_else(|| out.to_path_buf());
        let path = folder
            .join("checkpoints")
            .join(format!("step-{step:08}.bpk"));
        if !path.exists() {
            return Err(ConfigError::Invalid {
                key: "llc.checkpoint".into(),
                value: path.display().to_string(),
                rule: "no such checkpoint: run `slt train` (or `slt run`) on this config first, or set llc.from to its results folder".into(),
            }
            .into());
        }
        return Ok((
            load_checkpoint(shape, &path)?,
            format!("checkpoint step {step}"),
            false,
        ));
    }
    match (&config.model, &problem.reference_point) {
        (ModelConfig::Potential { .. }, Some(p)) => Ok((p.clone(), "origin".into(), true)),
        (ModelConfig::Dln { .. }, Some(p)) => Ok((p.clone(), "minimal-true-point".into(), true)),
        (ModelConfig::Mlp { .. }, Some(p)) => Ok((p.clone(), "teacher".into(), false)),
        (m, _) => Err(ConfigError::Invalid {
            key: "train".into(),
            value: "absent".into(),
            rule: format!(
                "model.kind = \"{}\" has no reference point: add a [train] section",
                m.kind()
            ),
        }
        .into()),
    }
}

/// One row of llc_trace.csv.
#[derive(serde::Serialize)]
struct TraceRow {
    chain: usize,
    draw: usize,
    loss: f64,
    running_llc: f64,
    diverged: bool,
}

/// `slt llc` (and the LLC part of `slt run`): estimates λ̂ at the trained model or the reference point.
pub fn run_llc(
    config: &ValidConfig,
    opts: &RunOptions,
    trained: Option<(Problem, TrainOutcome, f64)>,
) -> Result<Summary> {
    let (problem, outcome, train_s) = match trained {
        Some((p, o, s)) => (p, Some(o), Some(s)),
        None => (Problem::build(config), None, None),
    };
    let llc_cfg = config.llc.clone().unwrap_or_default();
    let (center, measured_at, theory_applies) =
        measure_point(config, &problem, outcome.as_ref(), &opts.out)?;
    let landscape = problem.landscape_in(match llc_cfg.precision {
        PrecisionChoice::F64 => Precision::F64,
        PrecisionChoice::F32 => Precision::F32,
    });
    let start = Instant::now();
    let request = llc_cfg.settings_request(config.seed);
    let resolved = resolve_settings(&landscape, &center, problem.n, llc_cfg.draws, request)?;
    // The ladder's localization (auto: this run's γ), resolved up front so that config.toml records it.
    let ladder_gamma = match (&llc_cfg.ladder, llc_cfg.ladder_localization) {
        (Ladder::None, _) => None,
        (_, LadderLocalization::Value(g)) => Some(g),
        (_, LadderLocalization::Auto) => Some(resolved.localization),
        (_, LadderLocalization::UnitInformation) => Some(
            unit_information_localization(&landscape, &center, config.seed)
                .context("the ladder's localization: the loss at w* is not finite")?,
        ),
    };
    let init_loss = full_loss(&landscape, &center);
    let d = landscape.dim();
    let settings = llc_cfg.chain_settings(config.seed, &resolved, &center);
    let posterior = TemperedPosterior {
        nbeta: resolved.nbeta,
        localization: resolved.localization,
    };
    // RMSProp-SGLD's preconditioner scales a direction of stiffness k by about 1/sqrt(k) (its
    // gradient's stationary rms), so the SGLD step κ/k becomes sqrt(κ ε) in its units.
    let step_size = match (llc_cfg.sampler, llc_cfg.step_size.value()) {
        (SamplerKind::RmspropSgld, None) => (KAPPA * resolved.step_size).sqrt(),
        _ => resolved.step_size,
    };
    opts.note(&format!(
        "llc: {} d = {d}, nβ = {:.4}, γ = {:.4}, ε = {:.3e}, burn-in {} + {} draws × thin {} per chain, {} chains",
        llc_cfg.sampler.name(), resolved.nbeta, resolved.localization, step_size, resolved.burnin, llc_cfg.draws, resolved.thin, llc_cfg.chains
    ));
    // A run at an auto step whose chains diverge is run again at a quarter of the step (and four
    // times the steps, within the rule's cap), at most AUTO_STEP_RETRIES times, and says so.
    let mut settings = settings;
    let mut step_size = step_size;
    let mut retries = Vec::new();
    let (mut step_retries, mut burnin_retries) = (0, 0);
    let (traces, mala) = loop {
        let total = (settings.steps_per_chain() * settings.chains) as u64;
        let pb = opts.progress(total, llc_cfg.sampler.name());
        let progress = |k| pb.inc(k);
        let (traces, mala) = match llc_cfg.sampler {
            // The stacked landscape on a burn device (config: SGLD on mlp/dln only; no MALA probe).
            SamplerKind::Sgld if llc_cfg.device != DeviceChoice::Cpu => (
                crate::models::stacked::run_problem_chains(
                    &problem,
                    llc_cfg.device,
                    step_size,
                    posterior,
                    &center,
                    &settings,
                    &progress,
                )?,
                None,
            ),
            SamplerKind::Sgld => {
                let sampler = Sgld::new(step_size, posterior)?;
                if llc_cfg.mala_every > 0 {
                    let every = llc_cfg.mala_every;
                    // Checked once here, so the per-chain constructor below cannot fail.
                    MalaObserver::for_chain(
                        &landscape,
                        &center,
                        posterior,
                        step_size,
                        every,
                        config.seed,
                        0,
                    )?;
                    let (traces, observers) = run_chains_observed(
                        &landscape,
                        &sampler,
                        &center,
                        &settings,
                        &progress,
                        |c| {
                            MalaObserver::for_chain(
                                &landscape,
                                &center,
                                posterior,
                                step_size,
                                every,
                                config.seed,
                                c,
                            )
                            .expect("validated above")
                        },
                    )?;
                    (traces, MalaSummary::from_observers(&observers))
                } else {
                    (
                        run_chains(&landscape, &sampler, &center, &settings, &progress)?,
                        None,
                    )
                }
            }
            SamplerKind::RmspropSgld => {
                let sampler = RmspropSgld::new(step_size, posterior, Default::default())?;
                (
                    run_chains(&landscape, &sampler, &center, &settings, &progress)?,
                    None,
                )
            }
            SamplerKind::Sgnht => {
                let sampler = Sgnht::new(step_size, posterior, Default::default())?;
                (
                    run_chains(&landscape, &sampler, &center, &settings, &progress)?,
                    None,
                )
            }
        };
        pb.finish_and_clear();
        let diverged = traces.iter().filter(|t| t.divergence.is_some()).count();
        if diverged == 0 {
            // An auto burn-in that left the loss trace drifting (p < DRIFT_WARN_P) is quadrupled, at most
            // twice and within the rule's cap: the slow drift along curved sets of true parameters
            // is what the linear relaxation time misses.
            let cap = slt_estimators::calibration::rule::MAX_STEPS as usize;
            let kept: Vec<&[f64]> = traces.iter().map(|t| t.losses.as_slice()).collect();
            let drifting = half_drift_test(&kept).filter(|&(_, p)| p < DRIFT_WARN_P);
            if let (Some((_, p)), None, true) = (
                drifting,
                llc_cfg.burnin.value(),
                burnin_retries < AUTO_BURNIN_RETRIES && settings.burnin < cap / 2,
            ) {
                opts.note(&format!(
                    "llc: the loss trace still drifted after the auto burn-in of {} steps (p = {p:.1e}); running again with 4× the burn-in",
                    settings.burnin
                ));
                settings.burnin = (settings.burnin * 4).min(cap / 2);
                burnin_retries += 1;
                continue;
            }
            break (traces, mala);
        }
        if llc_cfg.step_size.value().is_some() || step_retries >= AUTO_STEP_RETRIES {
            break (traces, mala);
        }
        step_retries += 1;
        retries.push(format!(
            "{diverged} of {} chains diverged at the auto step size {step_size:.3e}; ran again at a quarter of it",
            settings.chains
        ));
        quarter_step(&mut step_size, &mut settings, &llc_cfg);
    };
    let llc_s = start.elapsed().as_secs_f64();

    // Write what we have before judging it: a run whose chains all diverged keeps its traces.
    let mut rows = Vec::new();
    for t in &traces {
        for (k, (loss, run)) in t
            .losses
            .iter()
            .zip(running_llc(t, init_loss, resolved.nbeta))
            .enumerate()
        {
            rows.push(TraceRow {
                chain: t.chain,
                draw: k,
                loss: *loss,
                running_llc: run,
                diverged: t.divergence.is_some(),
            });
        }
    }
    write_csv(&opts.out.join("llc_trace.csv"), &rows)?;
    let mut resolved_config: RunConfig = (**config).clone();
    resolved_config.llc = Some(LlcConfig {
        step_size: Auto::Value(step_size),
        localization: Auto::Value(resolved.localization),
        ladder_localization: ladder_gamma
            .map_or(LadderLocalization::Auto, LadderLocalization::Value),
        nbeta: Auto::Value(resolved.nbeta),
        burnin: Auto::Value(settings.burnin),
        thin: Auto::Value(settings.thin),
        ..llc_cfg.clone()
    });
    write_atomic(
        &opts.out.join("config.toml"),
        toml::to_string(&resolved_config)
            .context("formatting config")?
            .as_bytes(),
    )?;
    let theory = if theory_applies {
        theory_summary(&problem, "the measured point")
    } else if fits_teacher_exactly(config, &problem, init_loss) {
        theory_summary(
            &problem,
            "the teacher's minimal true point (the trained net fits the teacher exactly)",
        )
    } else {
        None
    };
    plot_trace(
        config,
        opts,
        &traces,
        init_loss,
        resolved.nbeta,
        theory.as_ref().map(|t| t.lambda),
    )?;

    let est = LlcEstimate::from_traces(&traces, init_loss, resolved.nbeta)?;
    let divergences: Vec<String> = traces
        .iter()
        .filter_map(|t| {
            t.divergence
                .as_ref()
                .map(|d| format!("chain {}: {} at step {}", t.chain, d.reason, d.step))
        })
        .collect();
    let mut warnings = retries;
    if let Some(drop) = gradient_drop(&landscape, &center, resolved.nbeta) {
        if drop > 1.0 {
            warnings.push(format!(
                "w* is not a critical point at this temperature: a step along the gradient lowers nβ·L by about {drop:.3} (> 1); λ̂ then measures the slope, not a basin (train longer, or measure a converged checkpoint)"
            ));
        }
    }
    if est.mean < 0.0 {
        warnings.push(format!(
            "negative λ̂ ({:.4}): the chains found lower loss than w*, which is not a local minimum",
            est.mean
        ));
    }
    if est.rhat > 1.05 {
        warnings.push(format!(
            "R-hat of the loss traces is {:.3} > 1.05: the chains disagree; raise draws or burn-in",
            est.rhat
        ));
    }
    if est.diverged_chains > 0 {
        warnings.push(format!(
            "{} of {} chains diverged and were excluded",
            est.diverged_chains, est.chains
        ));
    }
    if let Some(m) = &mala {
        if m.mean < 0.7 {
            warnings.push(format!(
                "MALA acceptance of the SGLD proposals is {:.3} < 0.7: the step size is too large for this posterior; lower llc.step_size",
                m.mean
            ));
        }
    }
    let kept: Vec<&[f64]> = traces
        .iter()
        .filter(|t| t.divergence.is_none())
        .map(|t| t.losses.as_slice())
        .collect();
    let drift = half_drift_test(&kept);
    if let Some((t, p)) = drift {
        if p < DRIFT_WARN_P {
            warnings.push(format!(
                "the loss trace is not stationary after burn-in (second half vs first half across chains: t = {t:.2}, p = {p:.1e}); raise llc.burnin"
            ));
        }
    }
    // Step-size check: the same chains at ε/2 (twice the burn-in and thinning, same seed).
    let halved = if llc_cfg.check_step {
        let half_settings = ChainSettings {
            burnin: settings.burnin * 2,
            thin: settings.thin * 2,
            ..settings.clone()
        };
        let pb = opts.progress(
            (half_settings.steps_per_chain() * half_settings.chains) as u64,
            "ε/2",
        );
        let sampler = Sgld::new(step_size / 2.0, posterior)?;
        let traces = run_chains(&landscape, &sampler, &center, &half_settings, &|k| {
            pb.inc(k)
        })?;
        pb.finish_and_clear();
        let half = LlcEstimate::from_traces(&traces, init_loss, resolved.nbeta)?;
        let combined = (half.stderr.powi(2) + est.stderr.powi(2)).sqrt();
        if (half.mean - est.mean).abs() > 3.0 * combined {
            warnings.push(format!(
                "λ̂ moves from {:.4} to {:.4} (± {combined:.4}) when the step size is halved: the step biases it; lower llc.step_size",
                est.mean, half.mean
            ));
        }
        Some(half.mean)
    } else {
        None
    };
    let mut ladder_failure = None;
    let rlct = match &llc_cfg.ladder {
        Ladder::None => None,
        ladder => {
            let ladder_run = LadderRun {
                config,
                llc_cfg: &llc_cfg,
                landscape: &landscape,
                center: &center,
                n: problem.n,
                nbeta: resolved.nbeta,
                gamma: ladder_gamma.unwrap_or(resolved.localization),
                // At the one-temperature γ the ladder's base rung is that run: its step and chain
                // settings as they ended (after any divergence or drift retries).
                one_temperature: (llc_cfg.ladder_localization == LadderLocalization::Auto)
                    .then(|| (step_size, settings.clone())),
            };
            match ladder_run.run(ladder, opts, &mut warnings) {
                Ok(r) => Some(r),
                Err(e) => {
                    warnings.push(format!(
                        "the temperature ladder failed ({e:#}); summary.json has no rlct"
                    ));
                    ladder_failure = Some(e);
                    None
                }
            }
        }
    };
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let batch = landscape
        .data_size()
        .map(|n| llc_cfg.batch.min(n))
        .unwrap_or(0);
    let summary = Summary {
        name: config.name.clone(),
        n: problem.n,
        d,
        model: config.model.kind().into(),
        measured_at,
        llc: Some(LlcSummary {
            mean: est.mean,
            std: est.std,
            stderr: est.stderr,
            per_chain: est.per_chain.clone(),
            nbeta: est.nbeta,
            step_size,
            localization: resolved.localization,
            chains: est.chains,
            draws: est.draws,
            diverged_chains: est.diverged_chains,
            init_loss,
            rhat: est.rhat,
            ess: est.ess,
            burnin: settings.burnin,
            thin: settings.thin,
            batch,
            sampler: llc_cfg.sampler.name().into(),
            mala_acceptance: mala.as_ref().map(|m| m.mean),
            mala_probes: mala.as_ref().map(|m| m.probes).unwrap_or(0),
            stationarity_p: drift.map(|(_, p)| p),
            halved_step_mean: halved,
            expectation: "minibatch".into(),
            full_batch_mean: est.full_batch_mean,
            divergences,
            warnings,
            auto: resolved.probe.clone(),
        }),
        rlct: rlct.as_ref().map(|(r, _)| r.clone()),
        theory,
        volume: None,
        hessian: None,
        final_train_loss: outcome
            .as_ref()
            .and_then(|o| o.log.last().map(|r| r.train_loss)),
        timing_s: Timing {
            train: train_s,
            llc: Some(llc_s),
            ladder: rlct.as_ref().map(|(_, t)| *t),
            ..Timing::default()
        },
    };
    write_json(&opts.out.join("summary.json"), &summary)?;
    if let Some(e) = ladder_failure {
        return Err(e.context(format!(
            "the temperature ladder (the one-temperature λ̂ = {:.4} is in {})",
            est.mean,
            opts.out.join("summary.json").display()
        )));
    }
    let known = summary
        .theory
        .as_ref()
        .map(|t| format!(" (known λ = {})", t.lambda_exact))
        .unwrap_or_default();
    opts.note(&format!(
        "λ̂ = {:.4} ± {:.4} (std over chains {:.4}){known}; R-hat {:.3}, ESS {:.0}; {:.1} s; results in {}",
        est.mean, est.stderr, est.std, est.rhat, est.ess, llc_s, opts.out.display()
    ));
    Ok(summary)
}

fn plot_trace(
    config: &RunConfig,
    opts: &RunOptions,
    traces: &[slt_estimators::ChainTrace],
    init_loss: f64,
    nbeta: f64,
    known: Option<f64>,
) -> Result<()> {
    let runs: Vec<Vec<f64>> = traces
        .iter()
        .map(|t| running_llc(t, init_loss, nbeta))
        .collect();
    let faint: Vec<Series> = runs
        .iter()
        .zip(traces)
        .map(|(r, t)| Series {
            label: format!(
                "chain {}{}",
                t.chain,
                if t.divergence.is_some() {
                    " (diverged)"
                } else {
                    ""
                }
            ),
            points: r.iter().enumerate().map(|(k, v)| (k as f64, *v)).collect(),
        })
        .collect();
    let kept: Vec<&Vec<f64>> = runs
        .iter()
        .zip(traces)
        .filter(|(_, t)| t.divergence.is_none())
        .map(|(r, _)| r)
        .collect();
    let len = kept.iter().map(|r| r.len()).min().unwrap_or(0);
    let mean: Vec<(f64, f64)> = (0..len)
        .map(|k| {
            (
                k as f64,
                kept.iter().map(|r| r[k]).sum::<f64>() / kept.len() as f64,
            )
        })
        .collect();
    draw_line_plot(
        &LinePlot {
            title: format!("{}: running λ̂ per chain", config.name),
            x_label: "draw".into(),
            y_label: "running λ̂".into(),
            log_x: false,
            log_y: false,
            faint,
            bold: vec![Series {
                label: "mean over chains".into(),
                points: mean,
            }],
            hlines: known
                .map(|y| {
                    vec![HLine {
                        label: format!("known λ = {y:.4}"),
                        y,
                    }]
                })
                .unwrap_or_default(),
        },
        &opts.out.join("llc_trace.png"),
    )?;
    Ok(())
}

/// How far below w* the full-batch loss goes along the gradient, in units of 1/nβ: with g = ∇L(w*)
/// and the curvature h = gᵀHg/|g|² (one Hessian-vector product), a quadratic model
/// puts the minimum along −g at nβ |g|² / (2h) below L(w*) (at nβ |g| · 1 when the curvature is not
/// positive). Above 1 the chains see a slope, not a basin. `None` when the gradient vanishes.
pub(crate) fn gradient_drop<L: Landscape>(
    landscape: &L,
    center: &[f64],
    nbeta: f64,
) -> Option<f64> {
    let mut g = vec![0.0; center.len()];
    landscape.loss_and_grad(
        center,
        slt_estimators::Batch::Full,
        &mut g,
        &mut landscape.workspace(),
    );
    let g2: f64 = g.iter().map(|x| x * x).sum();
    if !(g2 > 0.0 && g2.is_finite()) {
        return None;
    }
    let mut hessian = HessianOperator::new(landscape, center, slt_estimators::Batch::Full).ok()?;
    let mut hg = vec![0.0; g.len()];
    hessian.apply(&g, &mut hg);
    let curvature = g.iter().zip(&hg).map(|(a, b)| a * b).sum::<f64>() / g2;
    Some(if curvature > 0.0 {
        nbeta * g2 / (2.0 * curvature)
    } else {
        nbeta * g2.sqrt()
    })
}

/// `slt run`: train when the config asks for it, then every analysis it asks for.
pub fn run_all(config: &ValidConfig, opts: &RunOptions) -> Result<Option<Summary>> {
    let trained = if config.train.is_some() {
        Some(run_train(config, opts)?)
    } else {
        None
    };
    if config.llc.is_none() && config.volume.is_none() && config.hessian.is_none() {
        if trained.is_none() {
            bail!("nothing to do: the config has no [train], [llc], [volume] or [hessian]");
        }
        return Ok(None);
    }
    let mut summary = None;
    if config.llc.is_some() {
        summary = Some(run_llc(config, opts, trained)?);
    }
    // Volume and Hessian read the measured point from the checkpoints just written, and add their
    // blocks to the same summary.json.
    if config.volume.is_some() {
        summary = Some(crate::volume_cmd::run_volume(config, opts)?);
    } else if config.hessian.is_some() {
        summary = Some(crate::volume_cmd::run_hessian(config, opts)?);
    }
    Ok(summary)
}

/// After chains diverged at an auto step: a quarter of the step, and four times the burn-in and
/// thinning the config left to the auto rule (within the rule's cap on steps per chain), so the chains
/// still travel as far.
fn quarter_step(step_size: &mut f64, settings: &mut ChainSettings, llc_cfg: &LlcConfig) {
    *step_size /= 4.0;
    let cap = slt_estimators::calibration::rule::MAX_STEPS as usize;
    if llc_cfg.burnin.value().is_none() {
        settings.burnin = (settings.burnin * 4).min(cap / 5);
    }
    if llc_cfg.thin.value().is_none() {
        settings.thin = (settings.thin * 4).min(((cap - settings.burnin) / settings.draws).max(1));
    }
}

/// What the temperature ladder needs from an LLC run.
struct LadderRun<'a> {
    config: &'a ValidConfig,
    llc_cfg: &'a LlcConfig,
    landscape: &'a crate::models::FastLandscape,
    center: &'a [f64],
    n: usize,
    nbeta: f64,
    /// The ladder's localization, resolved.
    gamma: f64,
    /// The one-temperature run's final step and chain settings, when the ladder shares its γ.
    one_temperature: Option<(f64, ChainSettings)>,
}

impl LadderRun<'_> {
    /// Resolves the ladder's step, burn-in and thinning at its γ, runs it (again at a quarter of an
    /// auto step when chains diverge, at most AUTO_STEP_RETRIES times), and summarizes it; warnings
    /// go to `warnings`.
    fn run(
        &self,
        ladder: &Ladder,
        opts: &RunOptions,
        warnings: &mut Vec<String>,
    ) -> Result<(RlctSummary, f64)> {
        let (llc_cfg, gamma) = (self.llc_cfg, self.gamma);
        let ladder_settings = LadderSettings {
            factors: ladder.factors(),
            ..LadderSettings::default()
        };
        let start = Instant::now();
        // Another γ changes the posterior's typical set: the step, burn-in and thinning are resolved
        // again by the auto rule at that γ (values the config gives are kept).
        let (base_step, chains) = match &self.one_temperature {
            Some((step, settings)) => (*step, settings.clone()),
            None => {
                let request = slt_estimators::calibration::SettingsRequest {
                    nbeta: Some(self.nbeta),
                    localization: Some(gamma),
                    ..llc_cfg.settings_request(self.config.seed)
                };
                let resolved =
                    resolve_settings(self.landscape, self.center, self.n, llc_cfg.draws, request)?;
                let chains = llc_cfg.chain_settings(self.config.seed, &resolved, self.center);
                (resolved.step_size, chains)
            }
        };
        opts.note(&format!(
            "ladder: γ = {gamma:.4} ({}), ε = {:.3e}, burn-in {} + {} draws × thin {} on the base rung",
            match llc_cfg.ladder_localization {
                LadderLocalization::Auto => "the one-temperature γ",
                LadderLocalization::UnitInformation => "unit information",
                LadderLocalization::Value(_) => "given",
            },
            base_step,
            chains.burnin,
            llc_cfg.draws,
            chains.thin
        ));
        let posterior = TemperedPosterior {
            nbeta: self.nbeta,
            localization: gamma,
        };
        // The fit separates λ from the (m − 1)/ln nβ term only when each rung's λ̂ is precise
        // to about 1%: the base rung samples at least LADDER_MIN_STEPS steps per chain.
        let mut rung_settings = ChainSettings {
            thin: chains.thin.max(LADDER_MIN_STEPS.div_ceil(chains.draws)),
            ..chains
        };
        let mut step_size = base_step;
        let mut retries = 0;
        let run = loop {
            let pb = opts.progress(0, "ladder");
            let outcome = run_ladder_detailed(
                self.landscape,
                self.center,
                &Sgld::new(step_size, posterior)?,
                &ladder_settings,
                &rung_settings,
                &|k| pb.inc(k),
            );
            pb.finish_and_clear();
            let diverged = match &outcome {
                Ok(run) => run.rungs.iter().map(|r| r.llc.diverged_chains).sum(),
                Err(slt_estimators::Error::AllChainsDiverged { chains, .. }) => *chains,
                Err(_) => 0,
            };
            if diverged == 0 || llc_cfg.step_size.value().is_some() || retries >= AUTO_STEP_RETRIES
            {
                break outcome?;
            }
            retries += 1;
            warnings.push(format!(
                "ladder: {diverged} chains diverged at the auto step size {step_size:.3e}; ran the ladder again at a quarter of it"
            ));
            quarter_step(&mut step_size, &mut rung_settings, llc_cfg);
        };
        // The rungs in the fit's order (ascending nβ).
        let mut rungs: Vec<_> = run.rungs.iter().collect();
        rungs.sort_by(|a, b| a.nbeta.total_cmp(&b.nbeta));
        for rung in &rungs {
            // Reruns start at p < RUNG_DRIFT_P (cheap insurance); the warning needs the run's own
            // evidence level.
            if let Some(p) = rung.stationarity_p.filter(|&p| p < DRIFT_WARN_P) {
                warnings.push(format!(
                    "ladder: the rung at nβ = {:.1} still drifts after {} reruns (p = {p:.1e}); its λ̂ and the RLCT fit are suspect",
                    rung.nbeta, rung.reruns
                ));
            }
        }
        // Where the chains went, how stiff was the loss against each rung's step? The auto step is
        // checked at w* and at short pilot chains' ends; the rungs' own chains go further.
        let points = slt_estimators::calibration::probe_points(self.landscape);
        let batch = slt_estimators::calibration::probe_batch(self.landscape, &points);
        let step_stiffness: Vec<f64> = rungs
            .iter()
            .map(|g| {
                g.end_points
                    .iter()
                    .map(|w| {
                        let h = slt_estimators::calibration::top_hessian_eigenvalue(
                            self.landscape,
                            w,
                            batch,
                            30,
                            self.config.seed,
                        );
                        g.step_size * (g.nbeta * h + gamma)
                    })
                    .fold(0.0, f64::max)
            })
            .collect();
        if let Some(worst) = step_stiffness.iter().copied().reduce(f64::max) {
            if worst > STEP_STIFFNESS_WARN {
                warnings.push(format!(
                    "ladder: where its chains went the step is {worst:.2} of the stiffest direction's scale (the auto rule aims at {KAPPA}); its λ̂ are biased by a few percent or more: set llc.step_size lower or llc.ladder_localization higher"
                ));
            }
        }
        let r = run.rlct;
        let uncertainty = r.multiplicity_uncertainty();
        if uncertainty > ladder_settings.multiplicity_precision {
            warnings.push(format!(
                "ladder: after {} extensions one standard error of the multiplicity ({:.2}) still moves λ by {:.1}% (target {:.0}%); the integer m, and with it λ, may be off by one step",
                ladder_settings.max_extensions,
                r.multiplicity_stderr,
                100.0 * uncertainty,
                100.0 * ladder_settings.multiplicity_precision
            ));
        }
        opts.note(&format!(
            "rlct (ladder ×{:?}): λ = {:.4} ± {:.4}, m = {:.2} (nearest {})",
            ladder_settings.factors, r.lambda, r.stderr, r.multiplicity, r.multiplicity_int
        ));
        Ok((
            RlctSummary {
                lambda: r.lambda,
                localization: gamma,
                step_size,
                stderr: r.stderr,
                multiplicity: r.multiplicity,
                multiplicity_stderr: r.multiplicity_stderr,
                multiplicity_int: r.multiplicity_int,
                chi2: r.chi2,
                nbetas: r.nbetas,
                llc_at: r.llc_at,
                llc_err: r.llc_err,
                stationarity_p: rungs.iter().map(|g| g.stationarity_p).collect(),
                reruns: rungs.iter().map(|g| g.reruns).collect(),
                extensions: rungs.iter().map(|g| g.extensions).collect(),
                multiplicity_uncertainty: uncertainty,
                step_stiffness,
            },
            start.elapsed().as_secs_f64(),
        ))
    }
}
