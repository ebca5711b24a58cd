//! Line charts of metrics against training steps: LC curves with confidence bands, accuracy
//! curves, several panels in one picture; PNG or SVG chosen by the file extension.

use crate::font::{ensure_registered, FAMILY};
use crate::PlotError;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// One named curve, optionally with a band `(low, high)` per point.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// The curve's `(x, y)` points, in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Per point, the `(low, high)` of a shaded band (e.g. a confidence interval).
    pub band: Option<Vec<(f64, f64)>>,
    /// RGB colour; a palette colour when `None`.
    pub color: Option<(u8, u8, u8)>,
    /// Draw the curve dashed.
    pub dashed: bool,
}

impl Series {
    /// A solid curve in a palette colour, without band.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self { label: label.into(), points, ..Self::default() }
    }
    /// Add a band, one `(low, high)` per point.
    pub fn with_band(mut self, band: Vec<(f64, f64)>) -> Self {
        self.band = Some(band);
        self
    }
    /// Fix the colour.
    pub fn with_color(mut self, rgb: (u8, u8, u8)) -> Self {
        self.color = Some(rgb);
        self
    }
    /// Draw dashed.
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
}

/// One panel: axes, curves and vertical marker lines.
#[derive(Clone, Debug, Default)]
pub struct Chart {
    /// Panel title.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Logarithmic x axis (points with x <= 0 are left out).
    pub log_x: bool,
    /// The curves, drawn in order.
    pub series: Vec<Series>,
    /// Dashed vertical lines, e.g. snapshot steps.
    pub markers: Vec<f64>,
}

/// The paper's colours: train green, test orange, random blue.
pub const TRAIN: (u8, u8, u8) = (44, 160, 44);
/// Test-set colour (orange).
pub const TEST: (u8, u8, u8) = (255, 127, 14);
/// Random-point colour (blue).
pub const RANDOM: (u8, u8, u8) = (31, 119, 180);
const PALETTE: [(u8, u8, u8); 8] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
];

/// Draw `charts` in a grid with `columns` columns into `path` (`.png` or `.svg`).
pub fn draw_charts(charts: &[Chart], columns: usize, path: &Path) -> Result<(), PlotError> {
    ensure_registered();
    let columns = columns.clamp(1, charts.len().max(1));
    let rows = charts.len().div_ceil(columns).max(1);
    let size = (520 * columns as u32, 380 * rows as u32);
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let fail = |e: String| PlotError::Draw { path: path.to_path_buf(), message: e };
    match ext.as_str() {
        "svg" => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            draw_grid(&root, charts, rows, columns).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
        "png" => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            draw_grid(&root, charts, rows, columns).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
        _ => Err(PlotError::Format { path: path.to_path_buf() }),
    }
}

fn draw_grid<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    charts: &[Chart],
    rows: usize,
    columns: usize,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    for (area, chart) in root.split_evenly((rows, columns)).iter().zip(charts) {
        draw_chart(area, chart)?;
    }
    Ok(())
}

/// The data range of a chart, padded a little; `[1, 10]` style ranges when empty.
fn ranges(chart: &Chart) -> ((f64, f64), (f64, f64)) {
    let visible = |x: f64| !chart.log_x || x > 0.0;
    let xs = chart.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).filter(|&x| visible(x));
    let ys = chart.series.iter().flat_map(|s| {
        let band = s.band.iter().flatten().flat_map(|&(lo, hi)| [lo, hi]);
        s.points.iter().filter(|p| visible(p.0)).map(|p| p.1).chain(band)
    });
    let span = |it: &mut dyn Iterator<Item = f64>| {
        it.filter(|v| v.is_finite())
            .fold(None, |acc: Option<(f64, f64)>, v| Some(acc.map_or((v, v), |(a, b)| (a.min(v), b.max(v)))))
    };
    let (x0, x1) = span(&mut xs.into_iter()).unwrap_or((1.0, 10.0));
    let (y0, y1) = span(&mut ys.into_iter()).unwrap_or((0.0, 1.0));
    let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
    // A flat curve gets a band around its value so the axis shows distinct labels.
    let pad = if y1 > y0 { (y1 - y0) * 0.05 } else { (y0.abs() * 0.05).max(0.5) };
    ((x0, x1), (y0.min(0.0).max(y0 - pad), y1 + pad))
}

pub(crate) fn draw_chart<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, chart: &Chart) -> Result<(), String> {
    let ((x0, x1), (y0, y1)) = ranges(chart);
    let mut builder = ChartBuilder::on(area);
    builder.caption(&chart.title, (FAMILY, 18)).margin(12).x_label_area_size(36).y_label_area_size(52);
    if chart.log_x {
        let mut ctx = builder.build_cartesian_2d((x0..x1).log_scale(), y0..y1).map_err(|e| e.to_string())?;
        fill_chart(&mut ctx, chart, y0, y1)
    } else {
        let mut ctx = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(|e| e.to_string())?;
        fill_chart(&mut ctx, chart, y0, y1)
    }
}

fn fill_chart<'a, DB, X>(
    ctx: &mut ChartContext<'a, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    chart: &Chart,
    y0: f64,
    y1: f64,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let log_x = chart.log_x;
    let step_label = move |x: &f64| if log_x { short_number(*x) } else { format!("{x}") };
    ctx.configure_mesh()
        .x_label_formatter(&step_label)
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .label_style((FAMILY, 13))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    let visible = |x: f64| !chart.log_x || x > 0.0;
    for &m in chart.markers.iter().filter(|&&m| visible(m)) {
        ctx.draw_series(DashedLineSeries::new([(m, y0), (m, y1)], 4, 4, BLACK.mix(0.35).stroke_width(1))).map_err(e)?;
    }
    for (k, s) in chart.series.iter().enumerate() {
        let (r, g, b) = s.color.unwrap_or(PALETTE[k % PALETTE.len()]);
        let color = RGBColor(r, g, b);
        let pts: Vec<(f64, f64)> = s.points.iter().copied().filter(|p| visible(p.0) && p.1.is_finite()).collect();
        if let Some(band) = &s.band {
            let upper = s.points.iter().zip(band).filter(|(p, _)| visible(p.0)).map(|(p, b)| (p.0, b.1));
            let lower: Vec<(f64, f64)> =
                s.points.iter().zip(band).filter(|(p, _)| visible(p.0)).map(|(p, b)| (p.0, b.0)).collect();
            let polygon: Vec<(f64, f64)> = upper.chain(lower.into_iter().rev()).collect();
            ctx.draw_series(std::iter::once(Polygon::new(polygon, color.mix(0.2).filled()))).map_err(e)?;
        }
        let style = color.stroke_width(2);
        let drawn = if s.dashed {
            ctx.draw_series(DashedLineSeries::new(pts, 6, 4, style)).map_err(e)?
        } else {
            ctx.draw_series(LineSeries::new(pts, style)).map_err(e)?
        };
        if !s.label.is_empty() {
            drawn
                .label(s.label.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        }
    }
    if chart.series.iter().any(|s| !s.label.is_empty()) {
        ctx.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .label_font((FAMILY, 12))
            .position(legend_corner(chart, y0, y1))
            .draw()
            .map_err(e)?;
    }
    Ok(())
}

/// The corner of the plot where the legend hides the fewest curve points: each corner box
/// (40 % of the width, 35 % of the height) is scored by the points inside it, in axis
/// fractions (log x when the axis is); ties go to the upper right.
fn legend_corner(chart: &Chart, y0: f64, y1: f64) -> SeriesLabelPosition {
    let x = |v: f64| if chart.log_x { v.log10() } else { v };
    let points: Vec<(f64, f64)> = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|p| p.1.is_finite() && (!chart.log_x || p.0 > 0.0))
        .map(|(px, py)| (x(px), py))
        .collect();
    let (lo, hi) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    let fraction = |v: f64, a: f64, b: f64| if b > a { (v - a) / (b - a) } else { 0.5 };
    let corners = [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::LowerLeft, false, false),
    ];
    let hidden = |right: bool, upper: bool| {
        let inside = |&&(px, py): &&(f64, f64)| {
            let (fx, fy) = (fraction(px, lo, hi), fraction(py, y0, y1));
            (if right { fx >= 0.6 } else { fx <= 0.4 }) && (if upper { fy >= 0.65 } else { fy <= 0.35 })
        };
        points.iter().filter(inside).count()
    };
    corners
        .into_iter()
        .min_by_key(|&(_, right, upper)| hidden(right, upper))
        .map_or(SeriesLabelPosition::UpperRight, |c| c.0)
}

/// `1e-3`, `0.5`, `1`, `10`, `1e3`, `2e4` style labels for log axes.
fn short_number(x: f64) -> String {
    if x.abs() < 1000.0 && (x == 0.0 || x.abs() >= 0.01) {
        format!("{}", (x * 100.0).round() / 100.0)
    } else {
        let exp = x.abs().log10().floor();
        let mantissa = (x / 10f64.powf(exp) * 10.0).round() / 10.0;
        if mantissa == 1.0 {
            format!("1e{exp}")
        } else {
            format!("{mantissa}e{exp}")
        }
    }
}

/// The data behind `charts` as CSV, one row per point: `panel,series,x,y,low,high` (the band's
/// bounds empty where a series has none). Fields are quoted where they contain a comma or quote.
pub fn charts_csv(charts: &[Chart]) -> String {
    let quote = |field: &str| {
        if field.contains([',', '"', '\n']) {
            format!("\"{}\"", field.replace('"', "\"\""))
        } else {
            field.to_string()
        }
    };
    let mut csv = String::from("panel,series,x,y,low,high\n");
    for chart in charts {
        for series in &chart.series {
            for (k, &(x, y)) in series.points.iter().enumerate() {
                let (low, high) = series
                    .band
                    .as_ref()
                    .and_then(|band| band.get(k))
                    .map_or((String::new(), String::new()), |b| (b.0.to_string(), b.1.to_string()));
                csv += &format!("{},{},{x},{y},{low},{high}\n", quote(&chart.title), quote(&series.label));
            }
        }
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axis_labels_keep_small_radii_distinct_from_zero() {
        let labels: Vec<String> = [1e-4, 1e-3, 0.01, 0.5, 1.0, 10.0, 2e4].map(short_number).into();
        assert_eq!(labels, ["1e-4", "1e-3", "0.01", "0.5", "1", "10", "2e4"]);
    }

    #[test]
    fn a_flat_curve_gets_a_y_range_of_positive_height() {
        let chart = Chart { series: vec![Series::new("flat", vec![(1.0, 192.0), (10.0, 192.0)])], ..Chart::default() };
        let (_, (y0, y1)) = ranges(&chart);
        assert!(y0 < 192.0 && 192.0 < y1 && y1 - y0 >= 1.0, "range {y0}..{y1}");
    }

    fn chart(points: Vec<(f64, f64)>) -> Chart {
        Chart {
            title: String::new(),
            x_label: "step".into(),
            y_label: "accuracy".into(),
            log_x: true,
            series: vec![Series::new("train", points)],
            markers: Vec::new(),
        }
    }

    #[test]
    fn the_legend_leaves_the_upper_right_to_a_rising_curve() {
        let rising: Vec<(f64, f64)> =
            (0..50).map(|k| (10f64.powf(k as f64 / 10.0), (k as f64 / 30.0).min(1.0))).collect();
        let corner = legend_corner(&chart(rising), 0.0, 1.0);
        assert!(!matches!(corner, SeriesLabelPosition::UpperRight), "the legend covers the curve's plateau");
        let falling: Vec<(f64, f64)> = (0..50).map(|k| (10f64.powf(k as f64 / 10.0), 1.0 - k as f64 / 50.0)).collect();
        assert!(matches!(legend_corner(&chart(falling), 0.0, 1.0), SeriesLabelPosition::UpperRight));
    }
}
