//! Line plots as PNG and SVG with plotters (embedded DejaVu Sans, no system fonts), written atomically.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

/// One named line on a plot.
pub struct Series {
    /// Legend label.
    pub label: String,
    /// (x, y) points; non-finite points (and non-positive ones on a log axis) are skipped.
    pub points: Vec<(f64, f64)>,
}

/// A dashed horizontal reference line (for example the known λ).
pub struct HLine {
    /// Legend label.
    pub label: String,
    /// Height.
    pub y: f64,
}

/// What to draw.
pub struct LinePlot {
    /// Title above the plot.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// Thin, light lines (for example one per chain).
    pub faint: Vec<Series>,
    /// Thick, dark lines (for example the mean).
    pub bold: Vec<Series>,
    /// Dashed horizontal reference lines.
    pub hlines: Vec<HLine>,
}

/// A plot that could not be drawn or saved.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Drawing or encoding failed.
    #[error("drawing plot {path}: {message}")]
    Draw {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

static FONT: Once = Once::new();

/// Registers the embedded DejaVu Sans as "sans-serif" (once per process).
pub(crate) fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/DejaVuSans.ttf"
        ));
        // A failure leaves text unrendered but the plot intact.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

const FAINT: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn keep(p: &(f64, f64), log_x: bool, log_y: bool) -> bool {
    p.0.is_finite() && p.1.is_finite() && (!log_x || p.0 > 0.0) && (!log_y || p.1 > 0.0)
}

fn range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
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
        let pad = ((hi - lo) * 0.05).max(1e-9 + lo.abs() * 0.05).max(1e-12);
        (lo - pad, hi + pad)
    }
}

fn draw_on<DB: DrawingBackend>(
    plot: &LinePlot,
    root: DrawingArea<DB, Shift>,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (lx, ly) = (plot.log_x, plot.log_y);
    let all = || {
        plot.faint
            .iter()
            .chain(&plot.bold)
            .flat_map(|s| s.points.iter())
            .filter(|p| keep(p, lx, ly))
    };
    let (x0, x1) = range(all().map(|p| p.0), lx);
    let (y0, y1) = range(
        all().map(|p| p.1).chain(
            plot.hlines
                .iter()
                .map(|h| h.y)
                .filter(|y| y.is_finite() && (!ly || *y > 0.0)),
        ),
        ly,
    );
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(&plot.title, ("sans-serif", 26))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(90);
    macro_rules! body {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(plot.x_label.as_str())
                .y_desc(plot.y_label.as_str())
                .label_style(("sans-serif", 18))
                .axis_desc_style(("sans-serif", 20))
                .draw()
                .map_err(|e| err(&e))?;
            let many = plot.faint.len() > 8;
            for (i, s) in plot.faint.iter().enumerate() {
                let color = FAINT[i % 8].mix(0.5);
                let pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .copied()
                    .filter(|p| keep(p, lx, ly))
                    .collect();
                let drawn = chart
                    .draw_series(LineSeries::new(pts, color.stroke_width(1)))
                    .map_err(|e| err(&e))?;
                if !many || i == 0 {
                    let label = if many {
                        "chains".to_string()
                    } else {
                        s.label.clone()
                    };
                    drawn.label(label).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                }
            }
            for (i, s) in plot.bold.iter().enumerate() {
                let color = [
                    BLACK,
                    RGBColor(200, 0, 0),
                    RGBColor(0, 0, 180),
                    RGBColor(230, 120, 0),
                    RGBColor(120, 0, 160),
                ][i % 5];
                let pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .copied()
                    .filter(|p| keep(p, lx, ly))
                    .collect();
                chart
                    .draw_series(LineSeries::new(pts, color.stroke_width(3)))
                    .map_err(|e| err(&e))?
                    .label(s.label.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                    });
            }
            for (k, h) in plot
                .hlines
                .iter()
                .filter(|h| h.y.is_finite() && (!ly || h.y > 0.0))
                .enumerate()
            {
                let color = [
                    RGBColor(0, 130, 0),
                    RGBColor(150, 80, 0),
                    RGBColor(100, 100, 100),
                ][k % 3];
                let n = 60;
                let xs: Vec<f64> = (0..=n)
                    .map(|k| {
                        if lx {
                            (x0.ln() + (x1.ln() - x0.ln()) * k as f64 / n as f64).exp()
                        } else {
                            x0 + (x1 - x0) * k as f64 / n as f64
                        }
                    })
                    .collect();
                let dashes = xs.windows(2).step_by(2).map(|w| {
                    PathElement::new(vec![(w[0], h.y), (w[1], h.y)], color.stroke_width(2))
                });
                chart
                    .draw_series(dashes)
                    .map_err(|e| err(&e))?
                    .label(h.label.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK)
                .label_font(("sans-serif", 18))
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(|e| err(&e))?;
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
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// Something drawable on any plotters backend: a line plot, a heatmap, a stack of panels.
pub(crate) trait Figure {
    /// Pixel size of the image.
    fn size(&self) -> (u32, u32);
    /// Draws the figure on `root`; errors in words.
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Renders `figure` as PNG at `png_path` and as SVG beside it (same name, .svg), each written to a
/// temporary file first and renamed into place.
pub(crate) fn render<F: Figure>(figure: &F, png_path: &Path) -> Result<(), PlotError> {
    register_font();
    let fail = |path: &Path, message: String| PlotError::Draw {
        path: path.to_path_buf(),
        message,
    };
    if let Some(dir) = png_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail(dir, e.to_string()))?;
    }
    let size = figure.size();
    let svg_path = png_path.with_extension("svg");
    let tmp_png = png_path.with_extension("tmp.png");
    let tmp_svg = png_path.with_extension("tmp.svg");
    figure
        .draw(BitMapBackend::new(&tmp_png, size).into_drawing_area())
        .map_err(|m| fail(png_path, m))?;
    figure
        .draw(SVGBackend::new(&tmp_svg, size).into_drawing_area())
        .map_err(|m| fail(&svg_path, m))?;
    std::fs::rename(&tmp_png, png_path).map_err(|e| fail(png_path, e.to_string()))?;
    std::fs::rename(&tmp_svg, &svg_path).map_err(|e| fail(&svg_path, e.to_string()))?;
    Ok(())
}

impl Figure for LinePlot {
    fn size(&self) -> (u32, u32) {
        (1000, 650)
    }
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String> {
        draw_on(self, root)
    }
}

/// Draws `plot` as PNG at `png_path` and as SVG beside it (same name, .svg), each atomically.
pub fn draw_line_plot(plot: &LinePlot, png_path: &Path) -> Result<(), PlotError> {
    render(plot, png_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degenerate_inputs_still_give_both_files() {
        let dir = std::env::temp_dir().join(format!("slt-plot-test-{}", std::process::id()));
        let png = dir.join("p.png");
        let plot = LinePlot {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            log_x: true,
            log_y: false,
            faint: vec![Series {
                label: "empty".into(),
                points: vec![],
            }],
            bold: vec![Series {
                label: "nan".into(),
                points: vec![(1.0, f64::NAN), (2.0, 3.0), (0.0, 1.0)],
            }],
            hlines: vec![HLine {
                label: "h".into(),
                y: 3.0,
            }],
        };
        draw_line_plot(&plot, &png).unwrap();
        assert!(png.exists() && dir.join("p.svg").exists());
        assert!(!dir.join("p.tmp.png").exists());
        std::fs::remove_dir_all(&dir).ok();
    }
}
