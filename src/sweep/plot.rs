//! `slt plot RESULTS_DIR`: the standard figures of a run folder or a sweep folder, PNG and SVG.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::table::{read_table, Row, ERROR, POINT};
use super::POINT_CONFIG;
use crate::config::{ConfigError, ModelConfig, ValidConfig};
use crate::error::{Error, IoContext, Result};
use plotters::prelude::SeriesLabelPosition;

use crate::report::heatmap::{draw_heatmap, Heatmap};
use crate::report::panels::{draw_figure, shared_x_range, Curve, Panel, RefLine};
use crate::report::write_json;

/// The file naming a sweep folder's axes (written by `slt sweep`), read by `slt plot`.
pub const META: &str = "sweep.json";

/// What `slt plot` needs to know about a sweep: its name and the axes' keys.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SweepMeta {
    /// The sweep's name.
    pub name: String,
    /// The base config file, as the sweep file named it (resolved against the sweep file's folder).
    pub base: String,
    /// Grid axes' keys, in grid order.
    pub axes: Vec<String>,
    /// Zipped axes' keys.
    pub zip: Vec<String>,
    /// Number of points.
    pub points: usize,
}

/// Writes sweep.json into the sweep folder.
pub fn write_meta(plan: &super::Plan) -> Result<()> {
    write_json(
        &plan.out.join(META),
        &SweepMeta {
            name: plan.spec.name.clone(),
            base: plan.spec.base_path.display().to_string(),
            axes: plan.spec.axes.iter().map(|a| a.key.clone()).collect(),
            zip: plan.spec.zip.iter().map(|a| a.key.clone()).collect(),
            points: plan.points.len(),
        },
    )
}

fn bad(key: &str, value: impl std::fmt::Display, rule: impl Into<String>) -> Error {
    ConfigError::Invalid {
        key: key.into(),
        value: value.to_string(),
        rule: rule.into(),
    }
    .into()
}

fn num(r: &Row, col: &str) -> Option<f64> {
    r.get(col).and_then(|v| v.parse::<f64>().ok())
}

/// A curve's label from the values of the other axes.
fn group_label(r: &Row, others: &[String]) -> String {
    others
        .iter()
        .map(|k| format!("{k} = {}", r.get(k).map(String::as_str).unwrap_or("")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows grouped by the values of `others` (first appearance order), each sorted by the x column.
fn groups<'a>(rows: &'a [Row], x: &str, others: &[String]) -> Vec<(String, Vec<&'a Row>)> {
    let mut order: Vec<String> = Vec::new();
    let mut map: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        let g = group_label(r, others);
        if !map.contains_key(&g) {
            order.push(g.clone());
        }
        map.entry(g).or_default().push(r);
    }
    order
        .into_iter()
        .map(|g| {
            let mut v = map.remove(&g).unwrap_or_default();
            v.sort_by(|a, b| {
                num(a, x)
                    .unwrap_or(f64::NAN)
                    .total_cmp(&num(b, x).unwrap_or(f64::NAN))
            });
            (g, v)
        })
        .collect()
}

fn wants_log(values: impl Iterator<Item = f64>) -> bool {
    let v: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    lo > 0.0 && hi / lo >= 20.0
}

/// The error half-width drawn for a column: 2 standard errors for llc.mean.
fn error_of(r: &Row, y: &str) -> f64 {
    if y == "llc.mean" {
        num(r, "llc.stderr").map(|s| 2.0 * s).unwrap_or(f64::NAN)
    } else {
        f64::NAN
    }
}

fn y_axis_label(y: &str) -> String {
    if y == "llc.mean" {
        "LLC estimate (llc.mean, ± 2 s.e.)".into()
    } else {
        y.into()
    }
}

/// `slt plot`: draws the figures a results folder supports; returns the PNG paths written.
pub fn plot_results(dir: &Path, x: Option<&str>, y: Option<&str>) -> Result<Vec<PathBuf>> {
    let csv = dir.join("sweep.csv");
    if csv.exists() {
        return plot_sweep(dir, &csv, x, y);
    }
    if x.is_some() || y.is_some() {
        return Err(bad(
            "--x/--y",
            dir.display(),
            "need a sweep folder (with sweep.csv)",
        ));
    }
    if dir.join("train_log.csv").exists() {
        let loss = loss_curves(dir, "")?;
        let path = dir.join("loss.png");
        let title = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut panels = vec![loss_panel(String::new(), loss)];
        let accuracy = accuracy_curves(dir, "")?;
        if !accuracy.is_empty() {
            panels.push(accuracy_panel(accuracy));
            let range = shared_x_range(&panels);
            for p in &mut panels {
                p.x_range = Some(range);
            }
        }
        draw_figure(&format!("{title}: training loss"), &panels, &path)?;
        return Ok(vec![path]);
    }
    Err(bad(
        "RESULTS_DIR",
        dir.display(),
        "holds neither sweep.csv (a sweep folder) nor train_log.csv (a run folder)",
    ))
}

/// train (and test) loss against step from a run folder's train_log.csv.
fn loss_curves(dir: &Path, suffix: &str) -> Result<Vec<Curve>> {
    log_curves(
        dir,
        suffix,
        &[("train_loss", "train loss"), ("test_loss", "test loss")],
    )
}

/// A classifier's train (and test) accuracy against step from train_log.csv (none for regression).
fn accuracy_curves(dir: &Path, suffix: &str) -> Result<Vec<Curve>> {
    log_curves(
        dir,
        suffix,
        &[
            ("train_acc", "train accuracy"),
            ("test_acc", "test accuracy"),
        ],
    )
}

/// The named columns of a run folder's train_log.csv against step, one curve each that has values.
fn log_curves(dir: &Path, suffix: &str, columns: &[(&str, &str)]) -> Result<Vec<Curve>> {
    let rows = read_table(&dir.join("train_log.csv"))?;
    let mut out = Vec::new();
    for &(col, name) in columns {
        let points: Vec<(f64, f64)> = rows
            .iter()
            .filter_map(|r| Some((num(r, "step")?, num(r, col)?)))
            .collect();
        if !points.is_empty() {
            out.push(Curve {
                label: format!("{name}{suffix}"),
                points,
                errors: vec![],
                markers: false,
            });
        }
    }
    Ok(out)
}

fn plot_sweep(dir: &Path, csv: &Path, x: Option<&str>, y: Option<&str>) -> Result<Vec<PathBuf>> {
    let meta: SweepMeta = serde_json::from_str(
        &std::fs::read_to_string(dir.join(META))
            .input_context(|| format!("reading {}", dir.join(META).display()))?,
    )
    .input_context(|| format!("parsing {}", dir.join(META).display()))?;
    let rows: Vec<Row> = read_table(csv)?;
    let ok_rows: Vec<Row> = rows
        .iter()
        .filter(|r| r.get(ERROR).is_none_or(|e| e.is_empty()))
        .cloned()
        .collect();
    // The grid's dimensions: each axis, and the zipped keys as one (named by the first).
    let mut dims: Vec<String> = meta.axes.clone();
    if let Some(z) = meta.zip.first() {
        dims.push(z.clone());
    }
    let others_of = |x: &str| -> Vec<String> {
        let x_is_zip = meta.zip.iter().any(|z| z == x);
        dims.iter()
            .filter(|d| d.as_str() != x && !(x_is_zip && meta.zip.contains(d)))
            .cloned()
            .collect()
    };
    match (x, y) {
        (Some(x), y) => {
            let y = y.unwrap_or("llc.mean");
            if !dims.iter().chain(&meta.zip).any(|d| d == x) {
                return Err(bad(
                    "--x",
                    x,
                    format!(
                        "is not an axis of this sweep; axes: {:?}",
                        meta.axes.iter().chain(&meta.zip).collect::<Vec<_>>()
                    ),
                ));
            }
            if !rows.iter().any(|r| r.contains_key(y)) {
                let cols: Vec<&String> = rows
                    .iter()
                    .flat_map(|r| r.keys())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                return Err(bad(
                    "--y",
                    y,
                    format!("is not a column of sweep.csv; columns: {cols:?}"),
                ));
            }
            let path = dir.join(format!("{y}_vs_{x}.png"));
            line_plot(&meta, &ok_rows, x, y, &others_of(x), &path)?;
            Ok(vec![path])
        }
        (None, Some(_)) => Err(bad("--y", "given", "needs --x KEY (an axis)")),
        (None, None) => {
            if dims.iter().any(|d| d == "llc.checkpoint") {
                let path = dir.join("llc_over_training.png");
                checkpoint_figure(dir, &meta, &ok_rows, &others_of("llc.checkpoint"), &path)?;
                Ok(vec![path])
            } else if dims.len() == 2 {
                let path = dir.join("heatmap_llc.mean.png");
                heatmap(&meta, &rows, &dims[0], &dims[1], &path)?;
                Ok(vec![path])
            } else if let Some(first) = dims.first() {
                let path = dir.join(format!("llc.mean_vs_{first}.png"));
                line_plot(&meta, &ok_rows, first, "llc.mean", &others_of(first), &path)?;
                Ok(vec![path])
            } else {
                Err(bad(
                    "sweep.json",
                    dir.display(),
                    "the sweep has no axes to plot against",
                ))
            }
        }
    }
}

fn line_plot(
    meta: &SweepMeta,
    rows: &[Row],
    x: &str,
    y: &str,
    others: &[String],
    path: &Path,
) -> Result<()> {
    if rows
        .iter()
        .any(|r| r.get(x).is_some_and(|v| v.parse::<f64>().is_err()))
    {
        return Err(bad(
            "--x",
            x,
            "has values that are not numbers; a line plot needs a numeric axis",
        ));
    }
    let curves: Vec<Curve> = groups(rows, x, others)
        .into_iter()
        .map(|(label, g)| Curve {
            label: if label.is_empty() {
                y.to_string()
            } else {
                label
            },
            points: g
                .iter()
                .map(|r| (num(r, x).unwrap_or(f64::NAN), num(r, y).unwrap_or(f64::NAN)))
                .collect(),
            errors: g.iter().map(|r| error_of(r, y)).collect(),
            markers: true,
        })
        .collect();
    let log_x = wants_log(rows.iter().filter_map(|r| num(r, x)));
    draw_figure(
        &format!("{}: {y} against {x}", meta.name),
        &[Panel {
            title: String::new(),
            x_label: x.into(),
            y_label: y_axis_label(y),
            log_x,
            log_y: false,
            curves,
            refs: vec![],
            x_range: None,
            legend: SeriesLabelPosition::UpperRight,
            y_range: None,
        }],
        path,
    )?;
    Ok(())
}

fn heatmap(meta: &SweepMeta, rows: &[Row], ykey: &str, xkey: &str, path: &Path) -> Result<()> {
    let distinct = |key: &str| -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for r in rows {
            if let Some(s) = r.get(key) {
                if !v.contains(s) {
                    v.push(s.clone());
                }
            }
        }
        if v.iter().all(|s| s.parse::<f64>().is_ok()) {
            v.sort_by(|a, b| {
                a.parse::<f64>()
                    .unwrap_or(0.0)
                    .total_cmp(&b.parse::<f64>().unwrap_or(0.0))
            });
        }
        v
    };
    let (xs, ys) = (distinct(xkey), distinct(ykey));
    let values = ys
        .iter()
        .map(|yv| {
            xs.iter()
                .map(|xv| {
                    rows.iter()
                        .find(|r| r.get(xkey) == Some(xv) && r.get(ykey) == Some(yv))
                        .and_then(|r| num(r, "llc.mean"))
                })
                .collect()
        })
        .collect();
    draw_heatmap(
        &Heatmap {
            title: format!("{}: LLC estimate (llc.mean)", meta.name),
            x_label: xkey.into(),
            y_label: ykey.into(),
            x_ticks: xs,
            y_ticks: ys,
            values,
            value_label: "llc.mean".into(),
            notes: None,
        },
        path,
    )?;
    Ok(())
}

/// Known λ lines for a sweep's model: Aoyagi's λ at each rank r = 0..narrowest for a deep linear net.
fn theory_lines(dir: &Path, rows: &[Row]) -> Vec<RefLine> {
    let Some(id) = rows.iter().find_map(|r| r.get(POINT)) else {
        return vec![];
    };
    let Ok(text) = std::fs::read_to_string(dir.join("points").join(id).join(POINT_CONFIG)) else {
        return vec![];
    };
    let Ok(config) = ValidConfig::from_toml(&text) else {
        return vec![];
    };
    match &config.model {
        ModelConfig::Dln(dln) => {
            let widths = &dln.widths;
            let narrowest = widths.iter().copied().min().unwrap_or(0);
            (0..=narrowest)
                .filter_map(|r| {
                    let k = slt_estimators::theory::deep_linear(widths, r).ok()?;
                    Some(RefLine {
                        label: format!("Aoyagi λ, rank {r}: {}", k.lambda),
                        y: k.lambda.to_f64(),
                    })
                })
                .collect()
        }
        _ => vec![],
    }
}

/// The shared training folders the points measured (their llc.from), in first-use order.
fn train_dirs(dir: &Path, rows: &[Row]) -> Vec<(PathBuf, String)> {
    let mut out: Vec<(PathBuf, String)> = Vec::new();
    for r in rows {
        let Some(id) = r.get(POINT) else { continue };
        let Ok(text) = std::fs::read_to_string(dir.join("points").join(id).join(POINT_CONFIG))
        else {
            continue;
        };
        let Ok(config) = ValidConfig::from_toml(&text) else {
            continue;
        };
        if let Some(from) = config.llc.as_ref().and_then(|l| l.from.clone()) {
            // The path was written relative to where `slt sweep` ran; fall back to this folder's train/.
            let from = if from.join("train_log.csv").exists() {
                from
            } else {
                let tail: PathBuf = from.iter().skip_while(|c| *c != "train").collect();
                dir.join(tail)
            };
            if !out.iter().any(|(d, _)| d == &from) {
                out.push((from, String::new()));
            }
        }
    }
    out
}

/// A panel of a classifier's accuracy against step (linear y from 0 to 1).
/// Loss against training step, both axes logarithmic.
fn loss_panel(title: String, curves: Vec<Curve>) -> Panel {
    Panel {
        title,
        x_label: "training step".into(),
        y_label: "loss (full batch)".into(),
        log_x: true,
        log_y: true,
        curves,
        refs: vec![],
        x_range: None,
        legend: SeriesLabelPosition::UpperRight,
        y_range: None,
    }
}

fn accuracy_panel(curves: Vec<Curve>) -> Panel {
    Panel {
        title: "accuracy over training".into(),
        x_label: "training step".into(),
        y_label: "accuracy (full batch)".into(),
        log_x: true,
        log_y: false,
        curves,
        refs: vec![],
        x_range: None,
        legend: SeriesLabelPosition::LowerRight,
        y_range: Some((0.0, 1.02)),
    }
}

fn checkpoint_figure(
    dir: &Path,
    meta: &SweepMeta,
    rows: &[Row],
    others: &[String],
    path: &Path,
) -> Result<()> {
    let x = "llc.checkpoint";
    let curves: Vec<Curve> = groups(rows, x, others)
        .into_iter()
        .map(|(label, g)| Curve {
            label: if label.is_empty() {
                "LLC estimate ± 2 s.e.".into()
            } else {
                label
            },
            points: g
                .iter()
                .map(|r| {
                    (
                        num(r, x).unwrap_or(f64::NAN),
                        num(r, "llc.mean").unwrap_or(f64::NAN),
                    )
                })
                .collect(),
            errors: g.iter().map(|r| error_of(r, "llc.mean")).collect(),
            markers: true,
        })
        .collect();
    let mut loss = Vec::new();
    let mut accuracy = Vec::new();
    let dirs = train_dirs(dir, rows);
    for (d, _) in &dirs {
        let suffix = if dirs.len() > 1 {
            format!(
                " ({})",
                d.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            )
        } else {
            String::new()
        };
        if let Ok(c) = loss_curves(d, &suffix) {
            loss.extend(c);
        }
        if let Ok(c) = accuracy_curves(d, &suffix) {
            accuracy.extend(c);
        }
    }
    if loss.is_empty() {
        // No training log found: the loss at each measured checkpoint from sweep.csv.
        loss.push(Curve {
            label: "train loss at checkpoint".into(),
            points: rows
                .iter()
                .filter_map(|r| Some((num(r, x)?, num(r, "checkpoint.train_loss")?)))
                .collect(),
            errors: vec![],
            markers: true,
        });
    }
    let refs = theory_lines(dir, rows);
    let y_range = llc_range(&(&curves, &refs));
    let mut panels = vec![
        Panel {
            title: "LLC over training".into(),
            x_label: "training step".into(),
            y_label: "LLC estimate (± 2 s.e.)".into(),
            log_x: true,
            log_y: false,
            curves,
            refs,
            x_range: None,
            legend: SeriesLabelPosition::LowerRight,
            y_range,
        },
        loss_panel("loss over training".into(), loss),
    ];
    if !accuracy.is_empty() {
        panels.push(accuracy_panel(accuracy));
    }
    let range = shared_x_range(&panels);
    for p in &mut panels {
        p.x_range = Some(range);
    }
    draw_figure(&meta.name, &panels, path)?;
    Ok(())
}

/// The λ̂ panel's y range: strongly negative estimates (checkpoints that are not near a critical
/// point, where the chains find lower loss) are left off the scale so the others stay legible.
fn llc_range((curves, refs): &(&Vec<Curve>, &Vec<RefLine>)) -> Option<(f64, f64)> {
    let top = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.1))
        .chain(refs.iter().map(|r| r.y))
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() || top <= 0.0 {
        return None;
    }
    let floor = -0.25 * top;
    let low = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite() && *v >= floor)
        .fold(0.0f64, f64::min);
    Some(crate::report::panels::padded_range(
        [low, top].into_iter(),
        false,
    ))
}
