//! Values on a regular grid over a rectangle of the plane (e.g. LC at every grid point) as
//! colour maps, several panels side by side, optionally with an exact partition's boundaries
//! drawn over them.

use crate::colour::viridis;
use crate::error::{PlotError, Result};
use crate::font::FAMILY;
use crate::output::{save, Figure};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use tessera_regions::Partition;

/// One panel: `rows x columns` values over the rectangle `[x0, x1] x [y0, y1]`; value
/// `[row * columns + column]` is the cell whose centre is at column `column` from the left and
/// row `row` from the bottom.
#[derive(Clone, Debug, PartialEq)]
pub struct GridMap {
    /// Drawn above the panel.
    pub title: String,
    /// The values, row-major from the bottom row.
    pub values: Vec<f64>,
    /// Cells per row.
    pub columns: usize,
    /// `[x0, y0, x1, y1]`.
    pub extent: [f64; 4],
}

impl GridMap {
    fn rows(&self) -> usize {
        self.values.len() / self.columns.max(1)
    }

    fn check(&self) -> Result<()> {
        let [x0, y0, x1, y1] = self.extent;
        if self.columns == 0 || self.values.is_empty() || !self.values.len().is_multiple_of(self.columns) {
            return Err(PlotError::Input {
                what: format!("grid map '{}'", self.title),
                problem: format!("{} values do not fill rows of {} columns", self.values.len(), self.columns),
            });
        }
        if !(x1 > x0 && y1 > y0) {
            return Err(PlotError::Input {
                what: format!("grid map '{}'", self.title),
                problem: format!("empty extent {:?}", self.extent),
            });
        }
        Ok(())
    }
}

/// Pixels of one square panel and around its plot area.
const PANEL: u32 = 420;
const MARGIN: u32 = 10;

/// Draw `maps` side by side, `columns` per row, into `path` (`.png` or `.svg`). Each panel is
/// coloured by viridis from its own smallest value (dark) to its largest (yellow); with
/// `overlay`, that partition's neuron boundaries (in its slice coordinates, which must be the
/// maps' plane) are drawn in thin red lines.
pub fn draw_grid_maps(maps: &[GridMap], columns: usize, overlay: Option<&Partition>, path: &Path) -> Result<()> {
    if maps.is_empty() {
        return Err(PlotError::Input { what: "grid maps".into(), problem: "no panel to draw".into() });
    }
    maps.iter().try_for_each(GridMap::check)?;
    let columns = columns.clamp(1, maps.len());
    let rows = maps.len().div_ceil(columns) as u32;
    save(&GridMaps { maps, columns, overlay }, path, (PANEL * columns as u32, (PANEL + 30) * rows))
}

struct GridMaps<'a> {
    maps: &'a [GridMap],
    columns: usize,
    overlay: Option<&'a Partition>,
}

impl Figure for GridMaps<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> std::result::Result<(), String> {
        let text = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(text)?;
        let cells = root.split_evenly((self.maps.len().div_ceil(self.columns), self.columns));
        for (cell, map) in cells.iter().zip(self.maps) {
            let area = cell.titled(&map.title, (FAMILY, 16)).map_err(text)?;
            let [x0, y0, x1, y1] = map.extent;
            let mut chart = ChartBuilder::on(&area).margin(MARGIN).build_cartesian_2d(x0..x1, y0..y1).map_err(text)?;
            let (lo, hi) = map.values.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let span = if hi > lo { hi - lo } else { 1.0 };
            let (dx, dy) = ((x1 - x0) / map.columns as f64, (y1 - y0) / map.rows() as f64);
            let cells = map.values.iter().enumerate().map(|(k, v)| {
                let (row, column) = ((k / map.columns) as f64, (k % map.columns) as f64);
                let corner = (x0 + column * dx, y0 + row * dy);
                let colour = viridis((v - lo) / span);
                Rectangle::new([corner, (corner.0 + dx, corner.1 + dy)], RGBColor::from(colour).filled())
            });
            chart.draw_series(cells).map_err(text)?;
            if let Some(partition) = self.overlay {
                let line = RED.stroke_width(1);
                let segments = partition
                    .layers
                    .iter()
                    .flat_map(|l| &l.boundary)
                    .map(|s| PathElement::new(vec![(s.from[0], s.from[1]), (s.to[0], s.to[1])], line));
                chart.draw_series(segments).map_err(text)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ragged_or_empty_maps_are_refused_by_name() {
        let map = GridMap { title: "r = 1".into(), values: vec![0.0; 5], columns: 2, extent: [0.0, 0.0, 1.0, 1.0] };
        let path = std::env::temp_dir().join("tessera-grid-map-refused.png");
        let e = draw_grid_maps(&[map], 1, None, &path).unwrap_err().to_string();
        assert!(e.contains("grid map 'r = 1'") && e.contains("5 values do not fill rows of 2 columns"), "{e}");
        let e = draw_grid_maps(&[], 1, None, &path).unwrap_err().to_string();
        assert!(e.contains("no panel"), "{e}");
    }

    #[test]
    fn a_grid_map_is_written_as_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let map =
            GridMap { title: "t".into(), values: vec![0.0, 1.0, 2.0, 3.0], columns: 2, extent: [-1.0, -1.0, 1.0, 1.0] };
        for name in ["m.png", "m.svg"] {
            draw_grid_maps(std::slice::from_ref(&map), 1, None, &dir.path().join(name)).unwrap();
            assert!(std::fs::metadata(dir.path().join(name)).unwrap().len() > 100);
        }
    }
}
