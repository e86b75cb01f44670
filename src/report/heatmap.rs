//! Heatmaps over two categorical axes (values written in the cells, a colour bar), PNG + SVG.

use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::plot::PlotError;

/// What to draw.
pub struct Heatmap {
    /// Title above the plot.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// One label per column.
    pub x_ticks: Vec<String>,
    /// One label per row (bottom to top).
    pub y_ticks: Vec<String>,
    /// values[row][column]; `None` (or non-finite): no result, drawn grey.
    pub values: Vec<Vec<Option<f64>>>,
    /// What the colour shows (the colour bar's label).
    pub value_label: String,
    /// A second line of text per cell, notes[row][column], drawn under the value (none: value only).
    pub notes: Option<Vec<Vec<String>>>,
}

const VIRIDIS: [(u8, u8, u8); 9] = [
    (68, 1, 84),
    (71, 44, 122),
    (59, 81, 139),
    (44, 113, 142),
    (33, 144, 141),
    (39, 173, 129),
    (92, 200, 99),
    (170, 220, 50),
    (253, 231, 37),
];

/// The viridis colour at t in [0, 1].
pub fn viridis(t: f64) -> RGBColor {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let s = t * (VIRIDIS.len() - 1) as f64;
    let i = (s.floor() as usize).min(VIRIDIS.len() - 2);
    let f = s - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn cell_text(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn draw_on<DB: DrawingBackend>(h: &Heatmap, root: DrawingArea<DB, Shift>) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (main, bar) = root.split_horizontally(root.dim_in_pixel().0 as i32 - 170);
    let nx = h.x_ticks.len().max(1) as i32;
    let ny = h.y_ticks.len().max(1) as i32;
    let finite = || {
        h.values
            .iter()
            .flatten()
            .flatten()
            .copied()
            .filter(|v| v.is_finite())
    };
    let lo = finite().fold(f64::INFINITY, f64::min);
    let hi = finite().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() {
        if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5, lo + 0.5)
        }
    } else {
        (0.0, 1.0)
    };
    let t = |v: f64| (v - lo) / (hi - lo);
    let mut chart = ChartBuilder::on(&main)
        .caption(&h.title, ("sans-serif", 26))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(110)
        .build_cartesian_2d((0..nx - 1).into_segmented(), (0..ny - 1).into_segmented())
        .map_err(|e| err(&e))?;
    let xt = h.x_ticks.clone();
    let yt = h.y_ticks.clone();
    let label = |ticks: &[String], v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) => ticks.get(*i as usize).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(nx as usize + 1)
        .y_labels(ny as usize + 1)
        .x_label_formatter(&|v| label(&xt, v))
        .y_label_formatter(&|v| label(&yt, v))
        .x_desc(h.x_label.as_str())
        .y_desc(h.y_label.as_str())
        .label_style(("sans-serif", 18))
        .axis_desc_style(("sans-serif", 21))
        .draw()
        .map_err(|e| err(&e))?;
    for (j, row) in h.values.iter().enumerate() {
        for (i, v) in row.iter().enumerate() {
            let (i, j) = (i as i32, j as i32);
            let v = v.filter(|v| v.is_finite());
            let color = v.map(|v| viridis(t(v))).unwrap_or(RGBColor(200, 200, 200));
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [
                        (SegmentValue::Exact(i), SegmentValue::Exact(j)),
                        (SegmentValue::Exact(i + 1), SegmentValue::Exact(j + 1)),
                    ],
                    color.filled(),
                )))
                .map_err(|e| err(&e))?;
            let text = v.map(cell_text).unwrap_or_else(|| "—".into());
            let ink = if v.is_some_and(|v| t(v) > 0.6) {
                BLACK
            } else {
                WHITE
            };
            let note = h
                .notes
                .as_ref()
                .and_then(|n| n.get(j as usize))
                .and_then(|r| r.get(i as usize))
                .filter(|t| !t.is_empty());
            let value_pos = if note.is_some() {
                VPos::Bottom
            } else {
                VPos::Center
            };
            chart
                .draw_series(std::iter::once(Text::new(
                    text,
                    (SegmentValue::CenterOf(i), SegmentValue::CenterOf(j)),
                    ("sans-serif", 18)
                        .into_font()
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, value_pos)),
                )))
                .map_err(|e| err(&e))?;
            if let Some(note) = note {
                chart
                    .draw_series(std::iter::once(Text::new(
                        note.clone(),
                        (SegmentValue::CenterOf(i), SegmentValue::CenterOf(j)),
                        ("sans-serif", 15)
                            .into_font()
                            .color(&ink)
                            .pos(Pos::new(HPos::Center, VPos::Top)),
                    )))
                    .map_err(|e| err(&e))?;
            }
        }
    }
    let mut cb = ChartBuilder::on(&bar)
        .margin_top(60)
        .margin_bottom(80)
        .margin_right(10)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..1.0, lo..hi)
        .map_err(|e| err(&e))?;
    cb.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc(h.value_label.as_str())
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(|e| err(&e))?;
    let steps = 100;
    cb.draw_series((0..steps).map(|k| {
        let a = lo + (hi - lo) * k as f64 / steps as f64;
        let b = lo + (hi - lo) * (k + 1) as f64 / steps as f64;
        Rectangle::new([(0.0, a), (1.0, b)], viridis(t((a + b) / 2.0)).filled())
    }))
    .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

impl super::plot::Figure for Heatmap {
    fn size(&self) -> (u32, u32) {
        let h = self;
        (
            (400 + 110 * h.x_ticks.len() as u32).clamp(800, 1600),
            (260 + 70 * h.y_ticks.len() as u32).clamp(600, 1400),
        )
    }
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String> {
        draw_on(self, root)
    }
}

/// Draws the heatmap as PNG at `png_path` and SVG beside it, each atomically.
pub fn draw_heatmap(h: &Heatmap, png_path: &Path) -> Result<(), PlotError> {
    super::plot::render(h, png_path)
}
