//! Figures of stacked panels sharing an x axis: curves with error bands and bars, labelled reference lines; PNG + SVG.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::plot::PlotError;

/// One curve of a panel.
pub struct Curve {
    /// Legend label.
    pub label: String,
    /// (x, y) points in x order; non-finite ones (and non-positive ones on a log axis) are skipped.
    pub points: Vec<(f64, f64)>,
    /// Half-widths of the error bar at each point (empty: none); drawn as bars and a light band.
    pub errors: Vec<f64>,
    /// Draw a marker at each point.
    pub markers: bool,
}

/// A dashed horizontal reference line with its label written on the plot (for example a known λ).
pub struct RefLine {
    /// The label written beside the line.
    pub label: String,
    /// Height.
    pub y: f64,
}

/// One panel.
pub struct Panel {
    /// Panel title (may be empty).
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// The curves.
    pub curves: Vec<Curve>,
    /// Labelled dashed reference lines.
    pub refs: Vec<RefLine>,
    /// The x range to use (to align panels); `None`: from the data.
    pub x_range: Option<(f64, f64)>,
    /// Where the legend goes.
    pub legend: SeriesLabelPosition,
    /// The y range to use (points outside are clipped); `None`: from the data.
    pub y_range: Option<(f64, f64)>,
}

/// A tick label: plain for moderate magnitudes (no trailing zeros), else in exponent form.
pub fn tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (1e-3..1e5).contains(&a) {
        let s = format!("{:.4}", v);
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        let s = format!("{v:.1e}");
        s.replace(".0e", "e")
    }
}

/// Line colours (colour-blind friendly order of matplotlib's tab10).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

fn keep(x: f64, y: f64, log_x: bool, log_y: bool) -> bool {
    x.is_finite() && y.is_finite() && (!log_x || x > 0.0) && (!log_y || y > 0.0)
}

/// A padded data range (log-padded on a log axis); a default for no data.
pub fn padded_range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return if log { (0.1, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        let (a, b) = (lo.ln(), hi.ln());
        let pad = ((b - a) * 0.05).max(0.1);
        ((a - pad).exp(), (b + pad).exp())
    } else {
        let pad = ((hi - lo) * 0.06).max(1e-9 + lo.abs() * 0.05).max(1e-12);
        (lo - pad, hi + pad)
    }
}

/// The x range covering every panel's data (for panels that share an axis).
pub fn shared_x_range(panels: &[Panel]) -> (f64, f64) {
    let log = panels.iter().any(|p| p.log_x);
    padded_range(
        panels
            .iter()
            .flat_map(|p| p.curves.iter())
            .flat_map(|c| c.points.iter().map(|p| p.0)),
        log,
    )
}

fn draw_panel<DB: DrawingBackend>(
    panel: &Panel,
    area: &DrawingArea<DB, Shift>,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    // A log y axis over less than a decade and a half gets one tick label at most: draw it linear.
    let ys_all = || {
        panel
            .curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.1))
            .filter(|y| y.is_finite() && *y > 0.0)
    };
    let span = ys_all().fold(f64::NEG_INFINITY, f64::max) / ys_all().fold(f64::INFINITY, f64::min);
    let (lx, ly) = (panel.log_x, panel.log_y && span >= 30.0);
    let (x0, x1) = panel.x_range.unwrap_or_else(|| {
        padded_range(
            panel
                .curves
                .iter()
                .flat_map(|c| c.points.iter().map(|p| p.0)),
            lx,
        )
    });
    let ys = panel.curves.iter().flat_map(|c| {
        c.points.iter().enumerate().flat_map(move |(i, p)| {
            let e = c
                .errors
                .get(i)
                .copied()
                .filter(|e| e.is_finite())
                .unwrap_or(0.0);
            [p.1 - e, p.1 + e, p.1]
        })
    });
    let (y0, y1) = panel
        .y_range
        .unwrap_or_else(|| padded_range(ys.chain(panel.refs.iter().map(|r| r.y)), ly));
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(18)
        .x_label_area_size(60)
        .y_label_area_size(95);
    if !panel.title.is_empty() {
        builder.caption(&panel.title, ("sans-serif", 24));
    }
    macro_rules! body {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(panel.x_label.as_str())
                .y_desc(panel.y_label.as_str())
                .label_style(("sans-serif", 18))
                .axis_desc_style(("sans-serif", 21))
                .light_line_style(RGBColor(235, 235, 235))
                .x_label_formatter(&|v| tick(*v))
                .y_label_formatter(&|v| tick(*v))
                .draw()
                .map_err(|e| err(&e))?;
            let xs_at = |k: usize, n: usize| {
                if lx {
                    (x0.ln() + (x1.ln() - x0.ln()) * k as f64 / n as f64).exp()
                } else {
                    x0 + (x1 - x0) * k as f64 / n as f64
                }
            };
            // Labels of lines closer than a label's height go side by side instead of on top.
            let mut label_rows: Vec<(i32, usize)> = Vec::new();
            for r in panel
                .refs
                .iter()
                .filter(|r| r.y.is_finite() && (!ly || r.y > 0.0))
            {
                let color = RGBColor(90, 90, 90);
                let row = chart.backend_coord(&(xs_at(1, 100), r.y)).1;
                let taken: Vec<usize> = label_rows
                    .iter()
                    .filter(|(p, _)| (p - row).abs() < 16)
                    .map(|&(_, slot)| slot)
                    .collect();
                let crowd = (0..).find(|k| !taken.contains(k)).unwrap_or(0);
                label_rows.push((row, crowd));
                let n = 80;
                let dashes = (0..n).step_by(2).map(|k| {
                    PathElement::new(
                        vec![(xs_at(k, n), r.y), (xs_at(k + 1, n), r.y)],
                        color.stroke_width(1),
                    )
                });
                chart.draw_series(dashes).map_err(|e| err(&e))?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        r.label.clone(),
                        (xs_at(1 + 24 * crowd, 100), r.y),
                        ("sans-serif", 16)
                            .into_font()
                            .color(&color)
                            .pos(Pos::new(HPos::Left, VPos::Bottom)),
                    )))
                    .map_err(|e| err(&e))?;
            }
            for (i, c) in panel.curves.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                let pts: Vec<(f64, f64, f64)> = c
                    .points
                    .iter()
                    .enumerate()
                    .map(|(k, p)| (p.0, p.1, c.errors.get(k).copied().unwrap_or(f64::NAN)))
                    .filter(|p| keep(p.0, p.1, lx, ly))
                    .collect();
                let with_err: Vec<&(f64, f64, f64)> = pts
                    .iter()
                    .filter(|p| p.2.is_finite() && (!ly || p.1 - p.2 > 0.0))
                    .collect();
                if with_err.len() >= 2 {
                    let mut poly: Vec<(f64, f64)> =
                        with_err.iter().map(|p| (p.0, p.1 - p.2)).collect();
                    poly.extend(with_err.iter().rev().map(|p| (p.0, p.1 + p.2)));
                    chart
                        .draw_series(std::iter::once(Polygon::new(
                            poly,
                            color.mix(0.15).filled(),
                        )))
                        .map_err(|e| err(&e))?;
                }
                chart
                    .draw_series(with_err.iter().map(|p| {
                        PathElement::new(
                            vec![(p.0, p.1 - p.2), (p.0, p.1 + p.2)],
                            color.mix(0.8).stroke_width(2),
                        )
                    }))
                    .map_err(|e| err(&e))?;
                let line: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1)).collect();
                chart
                    .draw_series(LineSeries::new(line.clone(), color.stroke_width(3)))
                    .map_err(|e| err(&e))?
                    .label(c.label.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3))
                    });
                if c.markers {
                    chart
                        .draw_series(line.iter().map(|p| Circle::new(*p, 4, color.filled())))
                        .map_err(|e| err(&e))?;
                }
            }
            if panel.curves.iter().any(|c| !c.label.is_empty()) {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.9))
                    .border_style(BLACK)
                    .label_font(("sans-serif", 17))
                    .position(panel.legend.clone())
                    .draw()
                    .map_err(|e| err(&e))?;
            }
        }};
    }
    match (lx, ly) {
        (false, false) => body!(builder
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| err(&e))?),
        (true, false) => body!(builder
            .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
            .map_err(|e| err(&e))?),
        (false, true) => body!(builder
            .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
            .map_err(|e| err(&e))?),
        (true, true) => body!(builder
            .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
            .map_err(|e| err(&e))?),
    }
    Ok(())
}

fn draw_all<DB: DrawingBackend>(
    title: &str,
    panels: &[Panel],
    root: DrawingArea<DB, Shift>,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = if title.is_empty() {
        root
    } else {
        root.titled(title, ("sans-serif", 28))
            .map_err(|e| err(&e))?
    };
    let areas = root.split_evenly((panels.len().max(1), 1));
    for (panel, area) in panels.iter().zip(&areas) {
        draw_panel(panel, area)?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// A titled stack of panels, as one figure.
struct Stack<'a> {
    title: &'a str,
    panels: &'a [Panel],
}

impl super::plot::Figure for Stack<'_> {
    fn size(&self) -> (u32, u32) {
        (1000, 60 + 470 * self.panels.len().max(1) as u32)
    }
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String> {
        draw_all(self.title, self.panels, root)
    }
}

/// Draws the panels stacked top to bottom as PNG at `png_path` and SVG beside it, each atomically.
pub fn draw_figure(title: &str, panels: &[Panel], png_path: &Path) -> Result<(), PlotError> {
    super::plot::render(&Stack { title, panels }, png_path)
}
