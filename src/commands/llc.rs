//! `slt llc`: the LLC run on the measured point, its files (llc_trace.csv, llc_trace.png, config.toml resolved, summary.json) and its warnings in words.

use std::sync::Mutex;

use indicatif::ProgressBar;
use slt_estimators::calibration::rule::KAPPA;
use slt_estimators::llc::running_llc;
use slt_estimators::run::{policy, AutoStage, Diagnostic, LadderReport, RunEvent, RunObserver};
use slt_estimators::{Landscape, LlcRun};

use super::{RunContext, RunOptions, Trained};
use crate::config::{
    Auto, DeviceChoice, LadderLocalization, LlcConfig, PrecisionChoice, RunConfig, ValidConfig,
};
use crate::error::{Context, Error, Result};
use crate::models::stacked::ProblemStacked;
use crate::models::{Precision, Problem};
use crate::report::plot::{draw_line_plot, HLine, LinePlot, Series};
use crate::report::{write_atomic, write_csv, LlcSummary, RlctSummary, Summary, TheorySummary};

/// The application's view of an LLC run: a progress bar per sampling phase and notes on stderr.
pub struct Progress<'a> {
    opts: &'a RunOptions,
    bar: Mutex<ProgressBar>,
}

impl<'a> Progress<'a> {
    /// Bars and notes as `opts` asks (hidden when quiet or when stderr is not a terminal).
    pub fn new(opts: &'a RunOptions) -> Self {
        Self {
            opts,
            bar: Mutex::new(ProgressBar::hidden()),
        }
    }

    fn bar(&self) -> std::sync::MutexGuard<'_, ProgressBar> {
        self.bar.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RunObserver for Progress<'_> {
    fn phase(&self, name: &str, total: u64) {
        *self.bar() = self.opts.progress(total, name);
    }

    fn progress(&self, steps: u64) {
        self.bar().inc(steps);
    }

    fn phase_done(&self) {
        self.bar().finish_and_clear();
    }

    fn event(&self, event: &RunEvent<'_>) {
        let text = match event {
            RunEvent::Resolved {
                sampler,
                dim,
                settings,
                step_size,
                chains,
            } => format!(
                "llc: {sampler} d = {dim}, nβ = {:.4}, γ = {:.4}, ε = {step_size:.3e}, burn-in {} + {} draws × thin {} per chain, {} chains",
                settings.nbeta, settings.localization, chains.burnin, chains.draws, chains.thin, chains.chains
            ),
            RunEvent::BurninExtended { burnin, p } => format!(
                "llc: the loss trace still drifted after the auto burn-in of {burnin} steps (p = {p:.1e}); running again with 4× the burn-in"
            ),
            RunEvent::Auto(stage) => match stage {
                AutoStage::Probed {
                    top,
                    bottom,
                    evaluations,
                } => format!(
                    "auto: Hessian eigenvalues from {bottom:.3e} to {top:.3e} ({evaluations} products and loss evaluations)"
                ),
                AutoStage::Step { step_size, rounds } => {
                    format!("auto: step size {step_size:.3e} after {rounds} pilot round(s)")
                }
                AutoStage::Mixing {
                    length,
                    tau_steps,
                    resolved,
                } => format!(
                    "auto: mixing pilot of {length} steps: autocorrelation time {tau_steps:.0} steps{}",
                    if *resolved { " (accepted)" } else { "" }
                ),
            },
            RunEvent::LadderStarted {
                localization,
                source,
                step_size,
                chains,
            } => format!(
                "ladder: γ = {localization:.4} ({}), ε = {step_size:.3e}, burn-in {} + {} draws × thin {} on the base rung",
                match source {
                    LadderLocalization::Auto => "the one-temperature γ",
                    LadderLocalization::UnitInformation => "unit information",
                    LadderLocalization::Value(_) => "given",
                },
                chains.burnin,
                chains.draws,
                chains.thin
            ),
            RunEvent::LadderFitted { factors, fit } => format!(
                "rlct (ladder ×{factors:?}): λ = {:.4} ± {:.4}, m = {:.2} (nearest {})",
                fit.lambda, fit.stderr, fit.multiplicity, fit.multiplicity_int
            ),
        };
        self.opts.note(&text);
    }
}

/// A diagnostic in words, naming the config key to change.
pub fn describe(d: &Diagnostic) -> String {
    match d {
        Diagnostic::StepRetried {
            diverged,
            chains,
            step_size,
        } => format!(
            "{diverged} of {chains} chains diverged at the auto step size {step_size:.3e}; ran again at a quarter of it"
        ),
        Diagnostic::NotCritical { drop } => format!(
            "w* is not a critical point at this temperature: a step along the gradient lowers nβ·L by about {drop:.3} (> {}); λ̂ then measures the slope, not a basin (train longer, or measure a converged checkpoint)",
            policy::NOT_CRITICAL_DROP
        ),
        Diagnostic::NegativeLlc { mean } => format!(
            "negative λ̂ ({mean:.4}): the chains found lower loss than w*, which is not a local minimum"
        ),
        Diagnostic::HighRhat { rhat } => format!(
            "R-hat of the loss traces is {rhat:.3} > {}: the chains disagree; raise draws or burn-in",
            policy::RHAT_WARN
        ),
        Diagnostic::DivergedChains { diverged, chains } => {
            format!("{diverged} of {chains} chains diverged and were excluded")
        }
        Diagnostic::LowMalaAcceptance { acceptance } => format!(
            "MALA acceptance of the SGLD proposals is {acceptance:.3} < {}: the step size is too large for this posterior; lower llc.step_size",
            policy::MALA_WARN
        ),
        Diagnostic::Drift { t, p } => format!(
            "the loss trace is not stationary after burn-in (second half vs first half across chains: t = {t:.2}, p = {p:.1e}); raise llc.burnin"
        ),
        Diagnostic::StepBias {
            mean,
            halved,
            combined_stderr,
        } => format!(
            "λ̂ moves from {mean:.4} to {halved:.4} (± {combined_stderr:.4}) when the step size is halved: the step biases it; lower llc.step_size"
        ),
        Diagnostic::LadderStepRetried {
            diverged,
            step_size,
        } => format!(
            "ladder: {diverged} chains diverged at the auto step size {step_size:.3e}; ran the ladder again at a quarter of it"
        ),
        Diagnostic::LadderRungDrift { nbeta, reruns, p } => format!(
            "ladder: the rung at nβ = {nbeta:.1} still drifts after {reruns} reruns (p = {p:.1e}); its λ̂ and the RLCT fit are suspect"
        ),
        Diagnostic::LadderStepStiffness { worst } => format!(
            "ladder: where its chains went the step is {worst:.2} of the stiffest direction's scale (the auto rule aims at {KAPPA}); its λ̂ are biased by a few percent or more: set llc.step_size lower or llc.ladder_localization higher"
        ),
        Diagnostic::LadderMultiplicityImprecise {
            extensions,
            multiplicity_stderr,
            uncertainty,
            target,
        } => format!(
            "ladder: after {extensions} extensions one standard error of the multiplicity ({multiplicity_stderr:.2}) still moves λ by {:.1}% (target {:.0}%); the integer m, and with it λ, may be off by one step",
            100.0 * uncertainty,
            100.0 * target
        ),
        Diagnostic::LadderPreconditioned => "ladder: rmsprop-sgld's rungs read λ̂ higher as nβ grows on quartic directions (measured +7% across the ladder on x² + y⁴), which the fit takes for a higher multiplicity; prefer llc.sampler = \"sgld\" or \"sgnht\" for the RLCT".into(),
        Diagnostic::LadderFailed { error } => {
            format!("the temperature ladder failed ({error}); summary.json has no rlct")
        }
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

/// `slt llc`: λ̂ at the trained model (after training in the same command: `trained`), at a
/// checkpoint of an earlier `slt train`, or at the reference point.
pub fn run_llc(
    config: &ValidConfig,
    opts: &RunOptions,
    trained: Option<Trained>,
) -> Result<Summary> {
    let mut ctx = RunContext::new(config, opts, trained)?;
    llc_phase(&mut ctx)?;
    Ok(ctx.summary)
}

/// The LLC phase of a command: an [`LlcRun`] at the context's point; the traces, the trace plot and
/// the resolved config are written before the estimate is judged, summary.json last.
pub fn llc_phase(ctx: &mut RunContext<'_>) -> Result<()> {
    let (config, opts) = (ctx.config, ctx.opts);
    let llc_cfg = config.llc.clone().unwrap_or_default();
    let f32_landscape;
    let landscape = match llc_cfg.precision {
        PrecisionChoice::F64 => &ctx.landscape,
        PrecisionChoice::F32 => {
            f32_landscape = ctx.problem.landscape_in(Precision::F32);
            &f32_landscape
        }
    };
    let stacked = ProblemStacked {
        problem: &ctx.problem,
        device: llc_cfg.device,
    };
    let mut run = LlcRun::new(
        landscape,
        &ctx.center,
        ctx.problem.n,
        llc_cfg.request(config.seed),
    );
    if llc_cfg.device != DeviceChoice::Cpu {
        run = run.stacked(&stacked);
    }
    let progress = Progress::new(opts);
    let sampled = run.sample(&progress)?;

    // Write what we have before judging it: a run whose chains all diverged keeps its traces.
    let nbeta = sampled.resolved.nbeta;
    let step_size = slt_estimators::Sampler::step_size(&sampled.sampler);
    write_traces(opts, &sampled.traces, sampled.init_loss, nbeta)?;
    write_resolved_config(config, &llc_cfg, &sampled, opts)?;
    let theory = if ctx.theory_applies {
        theory_summary(&ctx.problem, "the measured point")
    } else if config
        .model
        .family()
        .known_at_trained(&config.data, &ctx.problem, sampled.init_loss)
    {
        theory_summary(
            &ctx.problem,
            "the teacher's minimal true point (the trained net fits the teacher exactly)",
        )
    } else {
        None
    };
    plot_trace(
        config,
        opts,
        &sampled.traces,
        sampled.init_loss,
        nbeta,
        theory.as_ref().map(|t| t.lambda),
    )?;

    let report = run.finish(sampled, &progress)?;
    let warnings: Vec<String> = report.diagnostics.iter().map(describe).collect();
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let (est, sampled) = (&report.estimate, &report.sampled);
    let divergences: Vec<String> = sampled
        .traces
        .iter()
        .filter_map(|t| {
            t.divergence
                .as_ref()
                .map(|d| format!("chain {}: {} at step {}", t.chain, d.reason, d.step))
        })
        .collect();
    let batch = landscape
        .data_size()
        .map(|n| llc_cfg.batch.min(n))
        .unwrap_or(0);
    let summary = &mut ctx.summary;
    summary.llc = Some(LlcSummary {
        mean: est.mean,
        std: est.std,
        stderr: est.stderr,
        per_chain: est.per_chain.clone(),
        nbeta: est.nbeta,
        step_size,
        localization: sampled.resolved.localization,
        chains: est.chains,
        draws: est.draws,
        diverged_chains: est.diverged_chains,
        init_loss: sampled.init_loss,
        rhat: est.rhat,
        ess: est.ess,
        burnin: sampled.settings.burnin,
        thin: sampled.settings.thin,
        batch,
        sampler: llc_cfg.sampler.name().into(),
        mala_acceptance: sampled.mala.as_ref().map(|m| m.mean),
        mala_probes: sampled.mala.as_ref().map(|m| m.probes).unwrap_or(0),
        stationarity_p: report.stationarity.map(|(_, p)| p),
        halved_step_mean: report.halved_step_mean,
        expectation: "minibatch".into(),
        full_batch_mean: est.full_batch_mean,
        divergences,
        warnings,
        auto: sampled.resolved.probe.clone(),
    });
    summary.rlct = report.ladder.as_ref().map(rlct_summary);
    summary.theory = theory;
    summary.timing_s.llc = Some(sampled.seconds);
    summary.timing_s.ladder = report.ladder.as_ref().map(|l| l.seconds);
    ctx.write_summary()?;
    if let Some(e) = report.ladder_error() {
        return Err(Error::from(e.clone()).context(format!(
            "the temperature ladder (the one-temperature λ̂ = {:.4} is in {})",
            est.mean,
            opts.out.join("summary.json").display()
        )));
    }
    let known = ctx
        .summary
        .theory
        .as_ref()
        .map(|t| format!(" (known λ = {})", t.lambda_exact))
        .unwrap_or_default();
    opts.note(&format!(
        "λ̂ = {:.4} ± {:.4} (std over chains {:.4}){known}; R-hat {:.3}, ESS {:.0}; {:.1} s; results in {}",
        est.mean, est.stderr, est.std, est.rhat, est.ess, sampled.seconds, opts.out.display()
    ));
    ctx.ladder = report.ladder;
    Ok(())
}

/// The ladder in summary.json's words.
fn rlct_summary(l: &LadderReport) -> RlctSummary {
    let r = &l.fit;
    RlctSummary {
        lambda: r.lambda,
        localization: l.localization,
        step_size: l.step_size,
        stderr: r.stderr,
        multiplicity: r.multiplicity,
        multiplicity_stderr: r.multiplicity_stderr,
        multiplicity_int: r.multiplicity_int,
        chi2: r.chi2,
        nbetas: r.nbetas.clone(),
        llc_at: r.llc_at.clone(),
        llc_err: r.llc_err.clone(),
        stationarity_p: l.rungs.iter().map(|g| g.stationarity_p).collect(),
        reruns: l.rungs.iter().map(|g| g.reruns).collect(),
        extensions: l.rungs.iter().map(|g| g.extensions).collect(),
        multiplicity_uncertainty: r.multiplicity_uncertainty(),
        step_stiffness: l.step_stiffness.clone(),
    }
}

/// llc_trace.csv: every chain's loss and running λ̂ at each draw.
fn write_traces(
    opts: &RunOptions,
    traces: &[slt_estimators::ChainTrace],
    init_loss: f64,
    nbeta: f64,
) -> Result<()> {
    let mut rows = Vec::new();
    for t in traces {
        for (k, (loss, run)) in t
            .losses
            .iter()
            .zip(running_llc(t, init_loss, nbeta))
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
    write_csv(&opts.out.join("llc_trace.csv"), &rows)
}

/// config.toml with every "auto" of [llc] resolved, so that the run repeats exactly.
fn write_resolved_config(
    config: &ValidConfig,
    llc_cfg: &LlcConfig,
    sampled: &slt_estimators::run::Sampled,
    opts: &RunOptions,
) -> Result<()> {
    let mut resolved_config: RunConfig = (**config).clone();
    resolved_config.llc = Some(LlcConfig {
        step_size: Auto::Value(slt_estimators::Sampler::step_size(&sampled.sampler)),
        localization: Auto::Value(sampled.resolved.localization),
        ladder_localization: sampled
            .ladder_localization
            .map_or(LadderLocalization::Auto, LadderLocalization::Value),
        nbeta: Auto::Value(sampled.resolved.nbeta),
        burnin: Auto::Value(sampled.settings.burnin),
        thin: Auto::Value(sampled.settings.thin),
        ..llc_cfg.clone()
    });
    write_atomic(
        &opts.out.join("config.toml"),
        toml::to_string(&resolved_config)
            .context("formatting config")?
            .as_bytes(),
    )
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
