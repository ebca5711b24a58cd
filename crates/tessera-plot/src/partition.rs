//! Pictures of exact partitions: regions filled, neuron boundaries, decision boundary, anchors.

use crate::colour::{region_colour, viridis, Rgb, PALETTE};
use crate::error::{PlotError, Result};
use crate::font::FAMILY;
use crate::output::{save, Figure};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tessera_regions::{Partition, Point};

/// How region interiors are filled.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Fill {
    /// A light random colour per region, fixed by its activation code and the seed.
    Random {
        /// Seed mixed into each region's colour.
        seed: u64,
    },
    /// The viridis colour of the slope norm `||A||` of the output on the region, from the
    /// smallest (dark) to the largest (yellow) norm of the picture.
    SlopeNorm,
    /// The viridis colour of `ln ||A||` from `ln lo` (dark) to `ln hi` (yellow), clamped: one
    /// scale for several pictures whose norms span orders of magnitude.
    SlopeNormLog {
        /// Norm drawn at the dark end (and below it).
        lo: f64,
        /// Norm drawn at the yellow end (and above it).
        hi: f64,
    },
    /// White.
    Blank,
}

/// How layer boundaries are coloured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BoundaryColours {
    /// All black, as in the paper's pictures.
    Black,
    /// One colour per kinked layer.
    PerLayer,
}

/// The look of a partition picture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionStyle {
    /// Width of the picture in pixels; the height follows the domain's aspect ratio.
    pub width: u32,
    /// How regions are coloured.
    pub fill: Fill,
    /// How layer boundaries are coloured.
    pub boundaries: BoundaryColours,
    /// Line width of layer boundaries in pixels (0: not drawn).
    pub boundary_width: u32,
    /// Draw the boundaries of the first this many kinked layers only (the partition after that
    /// layer); all layers when `None`.
    pub layers: Option<usize>,
    /// Line width of the decision boundary in pixels, drawn in red (0: not drawn).
    pub decision_width: u32,
    /// Mark the slice's anchor points.
    pub anchors: bool,
    /// Title drawn above the picture, if any.
    pub title: Option<String>,
}

impl Default for PartitionStyle {
    fn default() -> Self {
        Self {
            width: 800,
            fill: Fill::Random { seed: 0 },
            boundaries: BoundaryColours::Black,
            boundary_width: 1,
            layers: None,
            decision_width: 2,
            anchors: true,
            title: None,
        }
    }
}

/// Pixels around the plot area, and the height of a title.
const MARGIN: u32 = 8;
const TITLE_HEIGHT: u32 = 30;

/// Draw `partition` into `path` (`.png` or `.svg`).
pub fn draw_partition(partition: &Partition, style: &PartitionStyle, path: &Path) -> Result<()> {
    let bounds = bounding_box(partition.slice.domain.iter().chain(partition.regions.iter().flat_map(|r| &r.polygon)));
    let [x0, y0, x1, y1] = bounds;
    if !(x1 > x0 && y1 > y0) || style.width <= 2 * MARGIN {
        return Err(PlotError::Input {
            what: "partition picture".into(),
            problem: format!("nothing to draw: domain box {bounds:?}, width {} px", style.width),
        });
    }
    let plot_width = (style.width - 2 * MARGIN) as f64;
    let title = if style.title.is_some() { TITLE_HEIGHT } else { 0 };
    let height = (plot_width * (y1 - y0) / (x1 - x0)).round().clamp(1.0, 20_000.0) as u32 + 2 * MARGIN + title;
    save(&PartitionFigure { partition, style, bounds }, path, (style.width, height))
}

/// Draw `partition` on `area` (a panel of a larger picture), fitted to the slice's domain.
pub(crate) fn draw_partition_on<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    partition: &Partition,
    style: &PartitionStyle,
) -> std::result::Result<(), String> {
    let bounds = bounding_box(partition.slice.domain.iter().chain(partition.regions.iter().flat_map(|r| &r.polygon)));
    PartitionFigure { partition, style, bounds }.draw(area)
}

struct PartitionFigure<'a> {
    partition: &'a Partition,
    style: &'a PartitionStyle,
    bounds: [f64; 4],
}

impl Figure for PartitionFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> std::result::Result<(), String> {
        let text = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(text)?;
        let area = match &self.style.title {
            Some(t) => root.titled(t, (FAMILY, 18)).map_err(text)?,
            None => root.clone(),
        };
        let [x0, y0, x1, y1] = self.bounds;
        let mut chart = ChartBuilder::on(&area).margin(MARGIN).build_cartesian_2d(x0..x1, y0..y1).map_err(text)?;
        let colours = self.region_colours();
        let regions = self.partition.regions.iter().zip(colours).map(|(r, c)| {
            Polygon::new(r.polygon.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>(), RGBColor::from(c).filled())
        });
        chart.draw_series(regions).map_err(text)?;
        if self.style.boundary_width > 0 {
            let shown = self.style.layers.unwrap_or(usize::MAX);
            for (l, layer) in self.partition.layers.iter().enumerate().take(shown) {
                let colour = match self.style.boundaries {
                    BoundaryColours::Black => BLACK,
                    BoundaryColours::PerLayer => PALETTE[l % PALETTE.len()].into(),
                };
                let line = colour.stroke_width(self.style.boundary_width);
                let segments = layer.boundary.iter().map(|s| segment(s.from, s.to, line));
                chart.draw_series(segments).map_err(text)?;
            }
        }
        if self.style.decision_width > 0 {
            let line = RED.stroke_width(self.style.decision_width);
            let segments = self.partition.decision_boundary.iter().map(|s| segment(s.from, s.to, line));
            chart.draw_series(segments).map_err(text)?;
        }
        if self.style.anchors {
            let marks = self.partition.slice.anchors.iter().flat_map(|a| {
                [Circle::new((a[0], a[1]), 6, WHITE.filled()), Circle::new((a[0], a[1]), 4, BLACK.filled())]
            });
            chart.draw_series(marks).map_err(text)?;
        }
        Ok(())
    }
}

impl PartitionFigure<'_> {
    fn region_colours(&self) -> Vec<Rgb> {
        let regions = &self.partition.regions;
        match self.style.fill {
            Fill::Random { seed } => regions.iter().map(|r| region_colour(&r.code, seed)).collect(),
            Fill::SlopeNorm => {
                let norms: Vec<f64> = regions.iter().map(|r| r.slope_norm()).collect();
                let (lo, hi) = norms.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &n| (lo.min(n), hi.max(n)));
                ramp(&norms, lo, hi)
            }
            Fill::SlopeNormLog { lo, hi } => {
                // ln 0 = -inf clamps to the dark end, as a norm below `lo` does.
                let logs: Vec<f64> = regions.iter().map(|r| r.slope_norm().ln().max(f64::MIN)).collect();
                ramp(&logs, lo.ln(), hi.ln())
            }
            Fill::Blank => vec![Rgb(255, 255, 255); regions.len()],
        }
    }
}

/// Viridis colours of `values` placed linearly between `lo` (dark) and `hi` (yellow).
fn ramp(values: &[f64], lo: f64, hi: f64) -> Vec<Rgb> {
    let span = if hi > lo { hi - lo } else { 1.0 };
    values.iter().map(|v| viridis((v - lo) / span)).collect()
}

fn segment(from: Point, to: Point, style: ShapeStyle) -> PathElement<(f64, f64)> {
    PathElement::new(vec![(from[0], from[1]), (to[0], to[1])], style)
}

/// `[x0, y0, x1, y1]` of the points.
fn bounding_box<'a>(points: impl Iterator<Item = &'a Point>) -> [f64; 4] {
    points.fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |b, p| {
        [b[0].min(p[0]), b[1].min(p[1]), b[2].max(p[0]), b[3].max(p[1])]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_regions::{DecisionSegment, Region, Slice};

    /// One square region, a horizontal decision boundary at `u2 = -0.5`, an anchor at the
    /// centre; rendered into memory.
    fn render(style: &PartitionStyle) -> (Vec<u8>, (u32, u32)) {
        let square = vec![[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]];
        let slice =
            Slice::new(vec![0.0, 0.0], vec![1.0, 0.0], vec![0.0, 1.0], &square).unwrap().with_anchors(vec![[0.0, 0.0]]);
        let region =
            Region { polygon: square, code: vec![1], area: 4.0, output: vec![[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]] };
        let cut = DecisionSegment { from: [-1.0, -0.5], to: [1.0, -0.5], classes: [0, 1] };
        let partition =
            Partition { slice, domain_area: 4.0, layers: vec![], regions: vec![region], decision_boundary: vec![cut] };
        let size = (116, 116);
        let mut buffer = vec![0u8; (size.0 * size.1 * 3) as usize];
        crate::font::ensure_registered();
        {
            let root = BitMapBackend::with_buffer(&mut buffer, size).into_drawing_area();
            PartitionFigure { partition: &partition, style, bounds: [-1.0, -1.0, 1.0, 1.0] }.draw(&root).unwrap();
            root.present().unwrap();
        }
        (buffer, size)
    }

    fn pixel(buffer: &[u8], size: (u32, u32), x: u32, y: u32) -> [u8; 3] {
        let i = ((y * size.0 + x) * 3) as usize;
        [buffer[i], buffer[i + 1], buffer[i + 2]]
    }

    #[test]
    fn decision_boundary_is_red_and_anchors_are_black_dots() {
        let (buffer, size) = render(&PartitionStyle { fill: Fill::Blank, ..Default::default() });
        // Plot area: 100 px between margins of 8; u2 = -0.5 is 3/4 of the way down.
        assert_eq!(pixel(&buffer, size, 58, 8 + 75), [255, 0, 0]);
        assert_eq!(pixel(&buffer, size, 58, 58), [0, 0, 0]);
        assert_eq!(pixel(&buffer, size, 30, 30), [255, 255, 255]);
    }

    #[test]
    fn slope_norm_fill_of_a_single_region_is_the_dark_end() {
        let style = PartitionStyle { fill: Fill::SlopeNorm, decision_width: 0, anchors: false, ..Default::default() };
        let (buffer, size) = render(&style);
        let Rgb(r, g, b) = viridis(0.0);
        assert_eq!(pixel(&buffer, size, 30, 30), [r, g, b]);
    }

    /// The test region's slopes are (0, ±1): norm √2, a quarter of the way from 1/2 to 8 in
    /// logs (ln √2 − ln ½ = 1.5 ln 2, ln 8 − ln ½ = 4 ln 2: 0.375).
    #[test]
    fn log_slope_norm_fill_places_the_norm_on_a_log_scale() {
        let fill = Fill::SlopeNormLog { lo: 0.5, hi: 8.0 };
        let style = PartitionStyle { fill, decision_width: 0, anchors: false, ..Default::default() };
        let (buffer, size) = render(&style);
        let Rgb(r, g, b) = viridis(0.375);
        assert_eq!(pixel(&buffer, size, 30, 30), [r, g, b]);
        let clamped = PartitionStyle { fill: Fill::SlopeNormLog { lo: 4.0, hi: 8.0 }, ..style };
        let Rgb(r, g, b) = viridis(0.0);
        assert_eq!(pixel(&render(&clamped).0, size, 30, 30), [r, g, b]);
    }
}
