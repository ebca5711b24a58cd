//! The exact partition of a 2-D slice: regions, their codes and output maps, every layer's
//! boundary, and the decision boundary.

use crate::cell::{Affine, Point};
use crate::code::Code;
use crate::error::Result;
use crate::kink::{argmax_cells, fixed_winner, KinkLayer};
use crate::polygon::{Polygon, Segment};
use crate::progress::CountProgress;
use crate::refinement::{refine, Limits};
use crate::slice::Slice;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tessera_net::{with_workers_awake, Network, Tensor};

/// How to run a partition.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionOptions {
    /// Memory for the maps of one chunk of regions at one depth (bytes). Total memory is about
    /// this times the number of kinked layers, whatever the number of regions.
    pub chunk_bytes: usize,
    /// Fail when a layer leaves more regions than this.
    pub max_regions: usize,
    /// Compute the decision boundary of a slice.
    pub decision_boundary: bool,
}

impl Default for PartitionOptions {
    fn default() -> Self {
        // Small chunks keep a chunk's maps in cache; that is faster than big ones (measured on
        // the MNIST MLP: 1 MiB is about 3x faster than 64 MiB).
        Self { chunk_bytes: 1 << 20, max_regions: 20_000_000, decision_boundary: true }
    }
}

impl PartitionOptions {
    pub(crate) fn limits(&self) -> Limits {
        Limits { chunk_bytes: self.chunk_bytes.max(1), max_regions: self.max_regions }
    }
}

/// A linear region of a slice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// The region, a convex polygon (counter-clockwise) in slice coordinates.
    pub polygon: Vec<Point>,
    /// The activation code (one hash per kinked layer; see `activation_codes`).
    pub code: Code,
    /// Area of the polygon, in squared slice units.
    pub area: f64,
    /// The network output on the region, per output `k`: `[c, a1, a2]` with
    /// `y_k(u) = c + a1 u1 + a2 u2`.
    pub output: Vec<[f64; 3]>,
}

impl Region {
    /// The output at slice coordinates `u` (exact inside the region).
    pub fn evaluate(&self, u: Point) -> Vec<f64> {
        self.output.iter().map(|f| f[0] + f[1] * u[0] + f[2] * u[1]).collect()
    }

    /// The Frobenius norm of the output's slopes in slice coordinates, `||A||`.
    pub fn slope_norm(&self) -> f64 {
        self.output.iter().map(|f| f[1] * f[1] + f[2] * f[2]).sum::<f64>().sqrt()
    }

    /// A point inside the region (the mean of its vertices).
    pub fn interior_point(&self) -> Point {
        let n = self.polygon.len() as f64;
        let s = self.polygon.iter().fold([0.0, 0.0], |s, p| [s[0] + p[0], s[1] + p[1]]);
        [s[0] / n, s[1] / n]
    }
}

/// A piece of a layer's boundary: where `unit` (a neuron, or a pooling window whose winner
/// changes) switches state.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitSegment {
    /// Start, in slice coordinates.
    pub from: Point,
    /// End, in slice coordinates.
    pub to: Point,
    /// The unit switching state along it, within its layer.
    pub unit: u32,
}

/// A piece of the decision boundary, between the regions where `classes[0]` and `classes[1]`
/// are the top output (for a single output: between its negative and positive sides, `[0, 0]`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionSegment {
    /// Start, in slice coordinates.
    pub from: Point,
    /// End, in slice coordinates.
    pub to: Point,
    /// The two outputs tied along it.
    pub classes: [u32; 2],
}

/// What one kinked layer did to the slice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerPartition {
    /// Node id and name in the network.
    pub node: usize,
    /// Node name.
    pub name: String,
    /// "relu", "leaky_relu", "abs" or "max_pool".
    pub kind: String,
    /// Neurons (or pooling outputs) of the layer.
    pub units: usize,
    /// Regions of the partition by this layer and all before it.
    pub regions: usize,
    /// Where this layer's units switch, inside the regions of the layers before it.
    pub boundary: Vec<UnitSegment>,
}

/// The exact partition of a slice by a network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partition {
    /// The slice that was partitioned.
    pub slice: Slice,
    /// Area of the slice's domain, in squared slice units (the regions' areas sum to it).
    pub domain_area: f64,
    /// One entry per kinked layer, in network order.
    pub layers: Vec<LayerPartition>,
    /// The linear regions of the whole network, covering the domain.
    pub regions: Vec<Region>,
    /// Where the top output changes.
    pub decision_boundary: Vec<DecisionSegment>,
}

/// Counts of a partition, without the geometry (what `tessera slice --json` writes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionSummary {
    /// Number of linear regions.
    pub num_regions: usize,
    /// Area of the domain, in squared slice units.
    pub domain_area: f64,
    /// One entry per kinked layer, in network order.
    pub layers: Vec<LayerSummary>,
    /// Number of decision-boundary segments.
    pub decision_boundary_segments: usize,
    /// Total length of the decision boundary, in slice units.
    pub decision_boundary_length: f64,
}

/// Counts of one layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSummary {
    /// Node id in the network.
    pub node: usize,
    /// Node name.
    pub name: String,
    /// "relu", "leaky_relu", "abs" or "max_pool".
    pub kind: String,
    /// Neurons (or pooling outputs) of the layer.
    pub units: usize,
    /// Regions after this layer and all before it.
    pub regions: usize,
    /// Number of this layer's boundary segments.
    pub boundary_segments: usize,
    /// Total length of this layer's boundary, in slice units.
    pub boundary_length: f64,
}

impl Partition {
    /// Number of linear regions.
    pub fn num_regions(&self) -> usize {
        self.regions.len()
    }

    /// The region containing `u`, if any (a linear scan).
    pub fn region_at(&self, u: Point) -> Option<&Region> {
        self.regions.iter().find(|r| Polygon::convex(&r.polygon).is_ok_and(|p| p.contains(u)))
    }

    /// The counts and lengths, without the geometry.
    pub fn summary(&self) -> PartitionSummary {
        let length = |s: &[(Point, Point)]| s.iter().fold(0.0, |t, (a, b)| t + Segment { from: *a, to: *b }.length());
        let layers = self
            .layers
            .iter()
            .map(|l| LayerSummary {
                node: l.node,
                name: l.name.clone(),
                kind: l.kind.clone(),
                units: l.units,
                regions: l.regions,
                boundary_segments: l.boundary.len(),
                boundary_length: length(&l.boundary.iter().map(|s| (s.from, s.to)).collect::<Vec<_>>()),
            })
            .collect();
        PartitionSummary {
            num_regions: self.num_regions(),
            domain_area: self.domain_area,
            layers,
            decision_boundary_segments: self.decision_boundary.len(),
            decision_boundary_length: length(
                &self.decision_boundary.iter().map(|s| (s.from, s.to)).collect::<Vec<_>>(),
            ),
        }
    }
}

/// The exact partition of `slice` into the linear regions of `net` (batch norm at evaluation).
pub fn partition_slice(net: &Network<f64>, slice: &Slice, options: &PartitionOptions) -> Result<Partition> {
    partition_slice_with_progress(net, slice, options, &CountProgress::new())
}

/// [`partition_slice`], reporting regions so far and the layer being split to `progress`, and
/// stopping with `RegionError::Interrupted` when it is cancelled.
pub fn partition_slice_with_progress(
    net: &Network<f64>,
    slice: &Slice,
    options: &PartitionOptions,
    progress: &CountProgress,
) -> Result<Partition> {
    let domain = slice.check(net.input_width())?;
    let domain_area = domain.area();
    let mut rows = slice.origin.clone();
    rows.extend_from_slice(&slice.directions[0]);
    rows.extend_from_slice(&slice.directions[1]);
    let rows = Tensor::from_vec(&[net.input_width()], rows)?;
    let limits = options.limits();
    let outcome = with_workers_awake(|| refine(net, rows, domain, limits, progress))?;
    // Each region with its piece of the decision boundary, in parallel and in order.
    let (regions, segments): (Vec<Region>, Vec<Vec<DecisionSegment>>) = outcome
        .regions
        .into_par_iter()
        .map(|r| {
            let segments = if options.decision_boundary { decision_segments(&r.cell, &r.output) } else { Vec::new() };
            (Region { area: r.cell.area(), polygon: r.cell.into_points(), code: r.code, output: r.output }, segments)
        })
        .unzip();
    let decision_boundary = segments.into_iter().flatten().collect();
    let layers = outcome
        .layers
        .iter()
        .zip(outcome.regions_after)
        .zip(outcome.boundaries)
        .map(|((layer, regions), boundary)| layer_partition(layer, regions, boundary))
        .collect();
    Ok(Partition { slice: slice.clone(), domain_area, layers, regions, decision_boundary })
}

fn layer_partition(layer: &KinkLayer, regions: usize, blocks: Vec<Vec<(Segment, u32)>>) -> LayerPartition {
    let mut boundary = Vec::with_capacity(blocks.iter().map(Vec::len).sum());
    for block in blocks {
        boundary.extend(block.into_iter().map(|(s, unit)| UnitSegment { from: s.from, to: s.to, unit }));
    }
    LayerPartition {
        node: layer.node,
        name: layer.name.clone(),
        kind: layer.kind_name().into(),
        units: layer.units,
        regions,
        boundary,
    }
}

/// Where the top output changes (several outputs) or the output's sign changes (one
/// output) inside `cell`, on which the outputs are `fs`.
fn decision_segments(cell: &Polygon, fs: &[Affine]) -> Vec<DecisionSegment> {
    if fs.len() > 1 && fixed_winner(cell, fs.len(), |k| fs[k]).is_some() {
        Vec::new()
    } else if fs.len() == 1 {
        cell.chord(&fs[0]).map(|s| DecisionSegment { from: s.from, to: s.to, classes: [0, 0] }).into_iter().collect()
    } else {
        argmax_cells(cell, fs)
            .boundaries
            .into_iter()
            .map(|(s, classes)| DecisionSegment { from: s.from, to: s.to, classes })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_net::{mlp, Activation};

    #[test]
    fn a_network_without_kinks_has_one_region() {
        let mut net = mlp::<f64>(&[3, 2], Activation::Relu).unwrap();
        net.init_pytorch_default(1, 1.0);
        let slice = Slice::around_point(&[0.1, 0.2, 0.3], 1.0, 0).unwrap();
        let p = partition_slice(&net, &slice, &PartitionOptions::default()).unwrap();
        assert_eq!(p.num_regions(), 1);
        assert!((p.regions[0].area - 4.0).abs() < 1e-12);
        assert!(p.layers.is_empty());
    }

    fn small_mlp_slice() -> (Network<f64>, Slice) {
        let mut net = mlp::<f64>(&[4, 12, 12, 3], Activation::Relu).unwrap();
        net.init_pytorch_default(1, 1.0);
        (net, Slice::around_point(&[0.1, 0.2, 0.3, 0.4], 2.0, 0).unwrap())
    }

    #[test]
    fn progress_ends_at_the_number_of_regions_and_the_last_layer() {
        let (net, slice) = small_mlp_slice();
        let progress = CountProgress::new();
        let p = partition_slice_with_progress(&net, &slice, &PartitionOptions::default(), &progress).unwrap();
        assert!(p.num_regions() > 1);
        assert_eq!(progress.regions(), p.num_regions());
        assert_eq!(progress.layer(), (2, 2));
    }

    #[test]
    fn a_cancelled_partition_stops_with_interrupted() {
        let (net, slice) = small_mlp_slice();
        let progress = CountProgress::new();
        progress.cancel();
        let error = partition_slice_with_progress(&net, &slice, &PartitionOptions::default(), &progress).unwrap_err();
        assert!(matches!(error, crate::RegionError::Interrupted { regions: 0 }), "{error}");
    }
}
