//! The brute-force baseline: activation codes hashed on a grid of a slice. It can only miss
//! regions (those between grid points), which is what the exact partition is measured against.

use crate::code::activation_codes;
use crate::error::{RegionError, Result};
use crate::slice::Slice;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use tessera_net::Network;

/// Grid points per batch of codes.
const POINTS_PER_BATCH: usize = 4096;

/// What a grid saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridCount {
    /// Grid points per side.
    pub resolution: usize,
    /// Grid points inside the domain.
    pub points: usize,
    /// Distinct activation codes among them.
    pub distinct_codes: usize,
}

/// The centres of a `resolution x resolution` grid over the bounding box of the slice's
/// domain that lie inside the domain, in slice coordinates, row by row.
pub fn grid_points(slice: &Slice, resolution: usize) -> Result<Vec<[f64; 2]>> {
    let domain = slice.domain_polygon()?;
    let (lo, hi) = slice.domain.iter().fold(([f64::MAX; 2], [f64::MIN; 2]), |(lo, hi), p| {
        ([lo[0].min(p[0]), lo[1].min(p[1])], [hi[0].max(p[0]), hi[1].max(p[1])])
    });
    let step = [(hi[0] - lo[0]) / resolution as f64, (hi[1] - lo[1]) / resolution as f64];
    let centre = |i: usize, k: usize| lo[k] + (i as f64 + 0.5) * step[k];
    Ok((0..resolution)
        .flat_map(|j| (0..resolution).map(move |i| (i, j)))
        .map(|(i, j)| [centre(i, 0), centre(j, 1)])
        .filter(|&u| domain.contains(u))
        .collect())
}

/// Count the distinct activation codes on a `resolution x resolution` grid of the slice.
pub fn grid_region_count(net: &Network<f64>, slice: &Slice, resolution: usize) -> Result<GridCount> {
    if resolution == 0 {
        return Err(RegionError::Argument {
            name: "resolution".into(),
            value: "0".into(),
            problem: "the grid needs at least one point per side".into(),
        });
    }
    slice.check(net.input_width())?;
    let points = grid_points(slice, resolution)?;
    let mut seen = HashSet::new();
    for batch in points.chunks(POINTS_PER_BATCH) {
        let inputs: Vec<f64> = batch.iter().flat_map(|&u| slice.point(u)).collect();
        seen.extend(activation_codes(net, &inputs)?);
    }
    Ok(GridCount { resolution, points: points.len(), distinct_codes: seen.len() })
}
