//! P1 Fig. 1's layout: a chart of curves on the left, partition panels in a grid on the right.

use crate::curves::{draw_chart, Chart};
use crate::error::Result;
use crate::output::{save, Figure};
use crate::partition::{draw_partition_on, PartitionStyle};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use tessera_regions::Partition;

/// Pixels of one square partition panel, and of the chart's width.
const PANEL: u32 = 300;
const CHART_WIDTH: u32 = 620;

/// Draw `chart` beside the `panels` (partition, title), `columns` panels per row, into `path`
/// (`.png` or `.svg`). Each panel uses `style` with its own title.
pub fn draw_partitions_beside_chart(
    panels: &[(&Partition, String)],
    style: &PartitionStyle,
    columns: usize,
    chart: &Chart,
    path: &Path,
) -> Result<()> {
    let columns = columns.clamp(1, panels.len().max(1));
    let rows = panels.len().div_ceil(columns).max(1) as u32;
    let size = (CHART_WIDTH + PANEL * columns as u32, (PANEL * rows).max(PANEL + 120));
    save(&Montage { panels, style, columns, chart }, path, size)
}

struct Montage<'a> {
    panels: &'a [(&'a Partition, String)],
    style: &'a PartitionStyle,
    columns: usize,
    chart: &'a Chart,
}

impl Figure for Montage<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> std::result::Result<(), String> {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (left, right) = root.split_horizontally(CHART_WIDTH);
        let (_, height) = left.dim_in_pixel();
        let chart_height = (height as f64 * 0.6).max(420.0).min(height as f64) as u32;
        draw_chart(&left.split_vertically(chart_height).0, self.chart)?;
        let rows = self.panels.len().div_ceil(self.columns).max(1);
        let cells = right.split_evenly((rows, self.columns));
        for (cell, (partition, title)) in cells.iter().zip(self.panels) {
            let style = PartitionStyle { title: Some(title.clone()), ..self.style.clone() };
            draw_partition_on(cell, partition, &style)?;
        }
        Ok(())
    }
}
