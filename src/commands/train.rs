//! `slt train`: the burn training loop's run folder (checkpoints, train_log.csv, the loss plot, config.toml).

use std::time::Instant;

use super::{RunOptions, Trained};
use crate::config::{ConfigError, ValidConfig};
use crate::error::{Context, Result};
use crate::report::plot::{draw_line_plot, LinePlot, Series};
use crate::report::write_atomic;
use crate::train::train;

/// `slt train`: trains and writes checkpoints, train_log.csv, the loss plot and config.toml.
pub fn run_train(config: &ValidConfig, opts: &RunOptions) -> Result<Trained> {
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
