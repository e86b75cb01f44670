//! The commands' work: config → model + data → training → landscape → chains → estimates → results folder.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

pub use crate::commands::llc::run_llc;
use crate::config::{ConfigError, RunConfig, ValidConfig};
use crate::models::Problem;
use crate::report::plot::{draw_line_plot, LinePlot, Series};
use crate::report::{write_atomic, Summary};
use crate::train::{load_checkpoint, train, TrainOutcome};

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

/// `slt theory`: the known λ of the config's model at its reference point, as text.
pub fn theory_text(config: &ValidConfig) -> String {
    let problem = config.problem();
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
    let problem = config.problem();
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
    match (config.model.family().reference(), &problem.reference_point) {
        (Some((at, known)), Some(p)) => Ok((p.clone(), at.into(), known)),
        _ => Err(ConfigError::Invalid {
            key: "train".into(),
            value: "absent".into(),
            rule: format!(
                "model.kind = \"{}\" has no reference point: add a [train] section",
                config.model.kind()
            ),
        }
        .into()),
    }
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
