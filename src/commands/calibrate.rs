//! `slt calibrate`: λ̂ and MALA acceptance over a grid of step size × nβ around the auto choice.

use std::time::Instant;

use serde::Serialize;
use slt_estimators::calibration::{resolve_settings, rule};
use slt_estimators::chains::{run_chains_observed, ChainSettings};
use slt_estimators::landscape::full_loss;
use slt_estimators::{LlcEstimate, MalaObserver, MalaSummary, Sgld, TemperedPosterior};

use super::{measure_point, RunOptions};
use crate::config::ValidConfig;
use crate::error::{Context, Result};
use crate::report::heatmap::{draw_heatmap, Heatmap};
use crate::report::{write_csv, write_json};

/// Step sizes of the grid, as multiples of the auto step.
pub const STEP_FACTORS: [f64; 5] = [0.0625, 0.25, 1.0, 4.0, 16.0];
/// nβ of the grid, as multiples of the configured (or default n / ln n) nβ.
pub const NBETA_FACTORS: [f64; 3] = [1.0, 4.0, 16.0];

/// One cell of the grid.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationCell {
    /// SGLD step size ε.
    pub step_size: f64,
    /// nβ.
    pub nbeta: f64,
    /// Localization γ (the auto or configured value, the same in every cell).
    pub localization: f64,
    /// λ̂ (NaN when every chain diverged).
    pub llc_mean: f64,
    /// Its standard error.
    pub llc_stderr: f64,
    /// Mean MALA acceptance of the SGLD proposals (full batch).
    pub mala_acceptance: f64,
    /// Chains that diverged.
    pub diverged_chains: usize,
    /// Whether this is the point the auto rule (or the config) chose.
    pub chosen: bool,
    /// Wall seconds.
    pub wall_s: f64,
}

/// Runs the grid: at each (ε, nβ) the configured chains and draws, with the auto burn-in and
/// thinning scaled by ε*/ε so every cell simulates the same Langevin time (capped at the rule's
/// maximum steps). Writes calibrate.csv, calibrate.json and the heatmap calibrate.png/svg.
pub fn run_calibrate(config: &ValidConfig, opts: &RunOptions) -> Result<Vec<CalibrationCell>> {
    let problem = config.problem();
    let llc = config.llc.clone().unwrap_or_default();
    let (center, _, _) = measure_point(config, &problem, None, &opts.out)?;
    let landscape = problem.landscape();
    let request = llc.request(config.seed).settings_request();
    let chosen = resolve_settings(
        &landscape,
        &center,
        problem.n,
        llc.draws,
        request,
        &slt_estimators::run::Quiet,
    )?;
    let init_loss = full_loss(&landscape, &center);
    let cap = rule::MAX_STEPS;
    let mut cells = Vec::new();
    for &fb in &NBETA_FACTORS {
        for &fe in &STEP_FACTORS {
            let step = chosen.step_size * fe;
            let nbeta = chosen.nbeta * fb;
            let grow = 1.0 / fe;
            let burnin = ((chosen.burnin as f64 * grow).min(0.2 * cap)) as usize;
            let thin = ((chosen.thin as f64 * grow)
                .min(0.8 * cap / llc.draws as f64)
                .ceil() as usize)
                .max(1);
            let posterior = TemperedPosterior {
                nbeta,
                localization: chosen.localization,
            };
            let settings = ChainSettings {
                burnin,
                thin,
                full_loss_every: 0,
                ..llc.request(config.seed).chain_settings(&chosen, &center)
            };
            let sampler = Sgld::new(step, posterior)?;
            let every = llc.mala_every.max(1);
            MalaObserver::for_chain(&landscape, &center, posterior, step, every, config.seed, 0)?;
            let start = Instant::now();
            let (traces, observers) =
                run_chains_observed(&landscape, &sampler, &center, &settings, &|_| {}, |c| {
                    MalaObserver::for_chain(
                        &landscape,
                        &center,
                        posterior,
                        step,
                        every,
                        config.seed,
                        c,
                    )
                    .expect("validated above")
                })?;
            let wall_s = start.elapsed().as_secs_f64();
            let est = LlcEstimate::from_traces(&traces, init_loss, nbeta).ok();
            let cell = CalibrationCell {
                step_size: step,
                nbeta,
                localization: chosen.localization,
                llc_mean: est.as_ref().map_or(f64::NAN, |e| e.mean),
                llc_stderr: est.as_ref().map_or(f64::NAN, |e| e.stderr),
                mala_acceptance: MalaSummary::from_observers(&observers)
                    .map_or(f64::NAN, |m| m.mean),
                diverged_chains: traces.iter().filter(|t| t.divergence.is_some()).count(),
                chosen: fe == 1.0 && fb == 1.0,
                wall_s,
            };
            opts.note(&format!(
                "ε = {:.3e}, nβ = {:.1}: λ̂ = {:.4} ± {:.4}, MALA acceptance {:.3}, {} diverged, {:.1} s",
                cell.step_size, cell.nbeta, cell.llc_mean, cell.llc_stderr, cell.mala_acceptance, cell.diverged_chains, wall_s
            ));
            cells.push(cell);
        }
    }
    write_csv(&opts.out.join("calibrate.csv"), &cells)?;
    write_json(&opts.out.join("calibrate.json"), &cells)?;
    let values: Vec<Vec<Option<f64>>> = NBETA_FACTORS
        .iter()
        .enumerate()
        .map(|(r, _)| {
            (0..STEP_FACTORS.len())
                .map(|c| Some(cells[r * STEP_FACTORS.len() + c].llc_mean).filter(|v| v.is_finite()))
                .collect()
        })
        .collect();
    let notes: Vec<Vec<String>> = NBETA_FACTORS
        .iter()
        .enumerate()
        .map(|(r, _)| {
            (0..STEP_FACTORS.len())
                .map(|c| {
                    let cell = &cells[r * STEP_FACTORS.len() + c];
                    let acc = if cell.mala_acceptance.is_finite() {
                        format!("acc {:.2}", cell.mala_acceptance)
                    } else {
                        format!("{} diverged", cell.diverged_chains)
                    };
                    format!("{acc}{}", if cell.chosen { " ◆ chosen" } else { "" })
                })
                .collect()
        })
        .collect();
    draw_heatmap(
        &Heatmap {
            title: format!(
                "{}: λ̂ by step size and nβ (γ = {:.3})",
                config.name, chosen.localization
            ),
            x_label: "step size ε".into(),
            y_label: "nβ".into(),
            x_ticks: STEP_FACTORS
                .iter()
                .map(|f| format!("{:.2e}", chosen.step_size * f))
                .collect(),
            y_ticks: NBETA_FACTORS
                .iter()
                .map(|f| format!("{:.0}", chosen.nbeta * f))
                .collect(),
            values,
            value_label: "λ̂".into(),
            notes: Some(notes),
        },
        &opts.out.join("calibrate.png"),
    )
    .context("drawing calibrate.png")?;
    Ok(cells)
}
