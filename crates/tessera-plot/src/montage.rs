//! Partition panels in a grid: P1 Fig. 1's layout (a chart of curves on the left, the panels on
//! the right) and a grid of panels alone.

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
    let styled: Vec<(&Partition, PartitionStyle)> =
        panels.iter().map(|(p, title)| (*p, PartitionStyle { title: Some(title.clone()), ..style.clone() })).collect();
    draw_montage(&styled, columns, Some(chart), path)
}

/// Draw the `panels`, each partition with its own style (title, fill, layers shown), `columns`
/// per row, beside `chart` when one is given, into `path` (`.png` or `.svg`).
pub fn draw_partition_grid(
    panels: &[(&Partition, PartitionStyle)],
    columns: usize,
    chart: Option<&Chart>,
    path: &Path,
) -> Result<()> {
    draw_montage(panels, columns, chart, path)
}

fn draw_montage(
    panels: &[(&Partition, PartitionStyle)],
    columns: usize,
    chart: Option<&Chart>,
    path: &Path,
) -> Result<()> {
    let columns = columns.clamp(1, panels.len().max(1));
    let rows = panels.len().div_ceil(columns).max(1) as u32;
    let chart_width = if chart.is_some() { CHART_WIDTH } else { 0 };
    let height = if chart.is_some() { (PANEL * rows).max(PANEL + 120) } else { PANEL * rows };
    save(&Montage { panels, columns, chart }, path, (chart_width + PANEL * columns as u32, height))
}

struct Montage<'a> {
    panels: &'a [(&'a Partition, PartitionStyle)],
    columns: usize,
    chart: Option<&'a Chart>,
}

impl Figure for Montage<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> std::result::Result<(), String> {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let right = match self.chart {
            Some(chart) => {
                let (left, right) = root.split_horizontally(CHART_WIDTH);
                let (_, height) = left.dim_in_pixel();
                let chart_height = (height as f64 * 0.6).max(420.0).min(height as f64) as u32;
                draw_chart(&left.split_vertically(chart_height).0, chart)?;
                right
            }
            None => root.clone(),
        };
        let rows = self.panels.len().div_ceil(self.columns).max(1);
        let cells = right.split_evenly((rows, self.columns));
        for (cell, (partition, style)) in cells.iter().zip(self.panels) {
            draw_partition_on(cell, partition, style)?;
        }
        Ok(())
    }
}
