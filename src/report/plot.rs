//! Line plots (PNG and SVG) with plotters: temporary stand-in until the full module lands.
use std::path::Path;
/// One named line on a plot.
pub struct Series { pub label: String, pub points: Vec<(f64, f64)> }
/// A horizontal reference line.
pub struct HLine { pub label: String, pub y: f64 }
/// What to draw.
pub struct LinePlot { pub title: String, pub x_label: String, pub y_label: String, pub log_x: bool, pub log_y: bool, pub faint: Vec<Series>, pub bold: Vec<Series>, pub hlines: Vec<HLine> }
/// Plot errors.
#[derive(Debug, thiserror::Error)]
pub enum PlotError { #[error("plot {0}")] Draw(String) }
/// Draws.
pub fn draw_line_plot(_plot: &LinePlot, _png_path: &Path) -> Result<(), PlotError> { Ok(()) }
