//! The commands: each builds one run context (the problem, its landscape, the measured point, the summary) and passes it to its phases.

pub mod bench;
pub mod bench_device;
pub mod calibrate;
pub mod check;
pub mod llc;
pub mod run;
pub mod train;
pub mod volume;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{ConfigError, RunConfig, ValidConfig};
use crate::error::{Context, Result};
use crate::models::{FastLandscape, Problem};
use crate::report::{write_json, Summary, Timing};
use crate::train::{load_checkpoint, TrainOutcome};

pub use llc::run_llc;
pub use run::run_all;
pub use train::run_train;

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

/// What training in the same command hands to the phases after it: the problem it trained on, its
/// outcome (checkpoints in memory) and its wall time.
pub type Trained = (Problem, TrainOutcome, f64);

/// What every phase of one command shares, built once: the problem, its landscape (f64), the
/// measured point, and the summary the phases fill in; `write_summary` is summary.json's one writer.
pub struct RunContext<'a> {
    /// The config.
    pub config: &'a ValidConfig,
    /// Where results go.
    pub opts: &'a RunOptions,
    /// Data, network shape, reference point, known answer.
    pub problem: Problem,
    /// The problem's fast landscape on its training data, in f64.
    pub landscape: FastLandscape,
    /// The measured point w*.
    pub center: Vec<f64>,
    /// Whether the problem's known λ applies at w* (the reference point of a kind with one).
    pub theory_applies: bool,
    /// The training outcome, when this command trained.
    pub trained: Option<TrainOutcome>,
    /// summary.json as the phases fill it in.
    pub summary: Summary,
    /// The LLC phase's temperature ladder, when it climbed one (a volume's λ-curve reuses it).
    pub ladder: Option<slt_estimators::run::LadderReport>,
}

impl<'a> RunContext<'a> {
    /// The context of a command: after training in the same command (its checkpoints in memory),
    /// or at a checkpoint of an earlier `slt train` or the reference point.
    pub fn new(
        config: &'a ValidConfig,
        opts: &'a RunOptions,
        trained: Option<Trained>,
    ) -> Result<Self> {
        let (problem, outcome, train_s) = match trained {
            Some((p, o, s)) => (p, Some(o), Some(s)),
            None => (config.problem(), None, None),
        };
        let (center, measured_at, theory_applies) =
            measure_point(config, &problem, outcome.as_ref(), &opts.out)?;
        let landscape = problem.landscape();
        let summary = Summary {
            name: config.name.clone(),
            n: problem.n,
            d: slt_estimators::Landscape::dim(&landscape),
            model: config.model.kind().into(),
            measured_at,
            llc: None,
            rlct: None,
            theory: None,
            volume: None,
            hessian: None,
            final_train_loss: outcome
                .as_ref()
                .and_then(|o| o.log.last().map(|r| r.train_loss)),
            timing_s: Timing {
                train: train_s,
                ..Timing::default()
            },
        };
        Ok(Self {
            config,
            opts,
            problem,
            landscape,
            center,
            theory_applies,
            trained: outcome,
            summary,
            ladder: None,
        })
    }

    /// Keeps the blocks an earlier command wrote into this folder's summary.json for the same run and
    /// point (a `slt volume` after a `slt llc` adds its block beside the LLC's).
    pub fn resume_summary(&mut self) {
        let existing = std::fs::read_to_string(self.opts.out.join("summary.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Summary>(&t).ok())
            .filter(|s| s.name == self.summary.name && s.measured_at == self.summary.measured_at);
        if let Some(s) = existing {
            self.summary = s;
        }
    }

    /// Writes summary.json (temp file + rename).
    pub fn write_summary(&self) -> Result<()> {
        write_json(&self.opts.out.join("summary.json"), &self.summary)
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
        _ => Err(no_reference_point(config).into()),
    }
}

/// A config that measures a kind without a reference point (one that must be trained) and has no
/// [train]: found by `slt check` before anything runs, and by the commands once they measure.
pub fn no_reference_point(config: &RunConfig) -> ConfigError {
    ConfigError::Invalid {
        key: "train".into(),
        value: "absent".into(),
        rule: format!(
            "model.kind = \"{}\" has no reference point: add a [train] section",
            config.model.kind()
        ),
    }
}
