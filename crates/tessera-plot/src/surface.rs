//! The graph of one output of a network over a 2-D slice, as a surface in perspective: every
//! linear region of an exact partition is a flat polygon at the height of the output, filled
//! with the region's colour (P1 Fig. 2's right panel).

use crate::colour::region_colour;
use crate::error::{PlotError, Result};
use crate::font::FAMILY;
use crate::output::{save, Figure};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use tessera_regions::Partition;

/// Draw the graph of output `output` of `partition`'s network over its slice into `path`
/// (`.png` or `.svg`); regions are coloured as `Fill::Random { seed }` colours them in
/// `draw_partition`, so the two pictures match region for region.
pub fn draw_region_surface(partition: &Partition, output: usize, seed: u64, title: &str, path: &Path) -> Result<()> {
    let outputs = partition.regions.first().map_or(0, |r| r.output.len());
    if output >= outputs {
        return Err(PlotError::Input {
            what: "region surface".into(),
            problem: format!("output {output} requested, but the partition's regions have {outputs} outputs"),
        });
    }
    save(&Surface { partition, output, seed, title }, path, (900, 700))
}

struct Surface<'a> {
    partition: &'a Partition,
    output: usize,
    seed: u64,
    title: &'a str,
}

impl Figure for Surface<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> std::result::Result<(), String> {
        let text = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(text)?;
        let area = root.titled(self.title, (FAMILY, 18)).map_err(text)?;
        let regions = &self.partition.regions;
        let lifted: Vec<Vec<(f64, f64, f64)>> = regions
            .iter()
            .map(|r| r.polygon.iter().map(|p| (p[0], r.evaluate(*p)[self.output], p[1])).collect())
            .collect();
        let bounds =
            lifted.iter().flatten().fold([f64::MAX, f64::MIN, f64::MAX, f64::MIN, f64::MAX, f64::MIN], |b, p| {
                [b[0].min(p.0), b[1].max(p.0), b[2].min(p.1), b[3].max(p.1), b[4].min(p.2), b[5].max(p.2)]
            });
        let pad = |lo: f64, hi: f64| if hi > lo { (lo, hi) } else { (lo - 1.0, hi + 1.0) };
        let (x, y, z) = (pad(bounds[0], bounds[1]), pad(bounds[2], bounds[3]), pad(bounds[4], bounds[5]));
        let mut chart =
            ChartBuilder::on(&area).margin(20).build_cartesian_3d(x.0..x.1, y.0..y.1, z.0..z.1).map_err(text)?;
        chart.with_projection(|mut p| {
            p.yaw = 0.6;
            p.pitch = 0.45;
            p.scale = 0.85;
            p.into_matrix()
        });
        chart.configure_axes().draw().map_err(text)?;
        // Painter's order: the farthest region (by its centre's projected depth) first.
        let coords = chart.as_coord_spec();
        let centre = |poly: &[(f64, f64, f64)]| {
            let n = poly.len().max(1) as f64;
            let s = poly.iter().fold((0.0, 0.0, 0.0), |s, p| (s.0 + p.0, s.1 + p.1, s.2 + p.2));
            (s.0 / n, s.1 / n, s.2 / n)
        };
        let mut order: Vec<(i32, usize)> = lifted
            .iter()
            .enumerate()
            .map(|(i, poly)| {
                let c = centre(poly);
                (coords.projected_depth(&c.0, &c.1, &c.2), i)
            })
            .collect();
        order.sort_unstable_by(|a, b| b.cmp(a));
        let polygons = order.into_iter().map(|(_, i)| {
            Polygon::new(lifted[i].clone(), RGBColor::from(region_colour(&regions[i].code, self.seed)).filled())
        });
        chart.draw_series(polygons).map_err(text)?;
        Ok(())
    }
}
