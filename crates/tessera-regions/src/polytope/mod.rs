//! Exact linear regions of a network inside a P-dimensional cross-polytope: the LC
//! neighbourhood `conv{x0 ± r v_p : p = 1..P}` of a point, the ground truth that local
//! complexity approximates.
//!
//! Coordinates: `t` in R^P with `x = x0 + r * sum_p t_p v_p`; the domain is `|t|_1 <= 1`
//! ([`Neighborhood`]). A *piece* (a region under construction) carries its half-spaces in `t`,
//! an inscribed ball (a strictly interior witness whose radius certifies positive volume), the
//! unit states of every kinked layer passed so far, and the affine maps in `t` of the
//! network's live tensors (`P + 1` rows per piece, as every engine of this crate stores them).
//!
//! At a kinked layer every unit picks one of its candidate affine functions (the shared
//! description of kinks: a neuron its pre-activation `h`, state 1, or the other side of its
//! kink, state 0; a max-pool output one input of its window, state: that input's in-sample
//! index; ties to the earlier candidate, as the forward pass). A piece splits into the cells
//! where each candidate wins, unit after unit, decided by cheap ball tests and, when those do
//! not settle it, Chebyshev-ball LPs (`cells`, `lp`).
//!
//! Pieces are refined depth-first in chunks of `chunk_bytes` (`refine`), so memory stays
//! bounded whatever the count; a count keeps only per-layer tallies, a partition every region.
//! A [`CountProgress`] reports regions so far, the current layer and the rate to another
//! thread, and cancels the count from there.

mod cells;
pub mod lp;
mod neighborhood;
mod refine;

pub use crate::kink::KinkKind;
pub use crate::progress::CountProgress;
pub use neighborhood::Neighborhood;

use crate::error::{check_positive, RegionError, Result};
use lp::{Ball, HalfSpace};
use serde::{Deserialize, Serialize};
use tessera_net::{AffineMap, Network, NodeId};

/// Resolution and safety limits of the refinement.
#[derive(Clone, Debug, PartialEq)]
pub struct PolytopeOptions {
    /// Cells whose inscribed ball is not larger than this (in t units, where the whole
    /// cross-polytope has inradius `1/sqrt(P)`) have no volume at this resolution: not counted.
    pub min_inradius: f64,
    /// Stop with an error when a layer produces more regions than this.
    pub max_regions: usize,
    /// Memory for the maps of one chunk of pieces at one layer (bytes). Peak memory is about
    /// this times the number of kinked layers, plus the cells of the chunks in flight.
    pub chunk_bytes: usize,
}

impl Default for PolytopeOptions {
    fn default() -> Self {
        Self { min_inradius: 1e-7, max_regions: 100_000, chunk_bytes: 16 << 20 }
    }
}

/// What one kinked node does to the neighbourhood.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerCount {
    /// Node id in the network.
    pub node: NodeId,
    /// Node name.
    pub name: String,
    /// Activation or max pooling.
    pub kind: KinkKind,
    /// Neurons (activation) or pooled outputs (max pool).
    pub units: usize,
    /// Units whose state is not the same everywhere in the neighbourhood: neurons whose
    /// pre-activation takes both signs (the exact analogue of LC's per-layer count), pooled
    /// outputs whose winner changes.
    pub cutting_units: usize,
    /// Regions of the neighbourhood after this node.
    pub regions: usize,
}

/// The summary of an exact count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolytopeCount {
    /// Linear regions of the network inside the neighbourhood (after the last kinked node).
    pub num_regions: usize,
    /// P.
    pub dim: usize,
    /// Radius of the cross-polytope, in input units.
    pub radius: f64,
    /// One entry per kinked node, in network order.
    pub layers: Vec<LayerCount>,
    /// Chebyshev-ball LPs solved (cheap tests decided everything else).
    pub lp_solves: u64,
}

/// One linear region of the neighbourhood.
#[derive(Clone, Debug, PartialEq)]
pub struct PolytopeRegion {
    /// The region is the cross-polytope intersected with these half-spaces (in t).
    pub halfspaces: Vec<HalfSpace>,
    /// A ball inside the region (its centre is a strictly interior point).
    pub ball: Ball,
    /// Per kinked node (the order of `PolytopeCount::layers`): one state per unit, 1/0 for an
    /// active/inactive neuron, the in-sample index of the winning input for a pooled output.
    pub codes: Vec<Vec<u32>>,
    /// The network's output as an affine function of `t` on this region.
    pub output: AffineMap<f64>,
}

/// All regions of a neighbourhood and the summary.
#[derive(Clone, Debug, PartialEq)]
pub struct PolytopePartition {
    /// The counts.
    pub count: PolytopeCount,
    /// Every region, with its geometry.
    pub regions: Vec<PolytopeRegion>,
}

/// Count the linear regions of `net` inside `neighborhood`.
pub fn count_regions(
    net: &Network<f64>,
    neighborhood: &Neighborhood,
    options: &PolytopeOptions,
) -> Result<PolytopeCount> {
    count_regions_with_progress(net, neighborhood, options, &CountProgress::new())
}

/// [`count_regions`], reporting to `progress` and stopping with `RegionError::Interrupted`
/// when it is cancelled. Memory stays bounded (no region is kept).
pub fn count_regions_with_progress(
    net: &Network<f64>,
    neighborhood: &Neighborhood,
    options: &PolytopeOptions,
    progress: &CountProgress,
) -> Result<PolytopeCount> {
    Ok(refine(net, neighborhood, options, progress, false)?.count)
}

/// Enumerate the linear regions of `net` inside `neighborhood`, with their output maps.
pub fn partition_neighborhood(
    net: &Network<f64>,
    neighborhood: &Neighborhood,
    options: &PolytopeOptions,
) -> Result<PolytopePartition> {
    refine(net, neighborhood, options, &CountProgress::new(), true)
}

fn refine(
    net: &Network<f64>,
    neighborhood: &Neighborhood,
    options: &PolytopeOptions,
    progress: &CountProgress,
    keep_regions: bool,
) -> Result<PolytopePartition> {
    if net.input_width() != neighborhood.center().len() {
        let (got, expected) = (neighborhood.center().len(), net.input_width());
        return Err(RegionError::Width { what: "point".into(), got, expected });
    }
    check_positive("min_inradius", options.min_inradius)?;
    net.check_finite()?;
    let outcome =
        refine::Refinement::new(net, neighborhood.dim(), options, progress, keep_regions).run(neighborhood)?;
    let count = PolytopeCount {
        num_regions: outcome.num_regions,
        dim: neighborhood.dim(),
        radius: neighborhood.radius(),
        layers: outcome.layers,
        lp_solves: outcome.lp_solves,
    };
    Ok(PolytopePartition { count, regions: outcome.regions })
}
