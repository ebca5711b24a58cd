//! # tessera-regions: exact partitions into linear regions
//!
//! What it is for: the exact linear regions of a continuous piecewise-affine network
//! (`tessera-net`) on low-dimensional pieces of input space, in `f64`, checked against the
//! network's own forward pass:
//! - 2-D slices ([`partition_slice`]): a plane `x0 + u1 e1 + u2 e2` and a convex domain
//!   polygon, partitioned into convex regions with their activation codes, areas and output
//!   maps, every layer's boundary and the decision boundary, with progress and cancellation
//!   ([`partition_slice_with_progress`]);
//! - 1-D paths ([`path_transitions`]): the regions met along a polyline and which units switch
//!   at each transition;
//! - P-dimensional neighbourhoods ([`polytope`]): exact region counts by LP feasibility, with
//!   progress and cancellation;
//! - the brute-force grid baseline ([`grid_region_count`]) and activation codes of points.
//!
//! How: regions carry the affine maps (in slice coordinates) of the live tensors; affine nodes
//! act on all regions' maps at once; activations and max pooling split each region by the
//! zero sets of their units, with tolerances relative to the magnitudes involved. Regions flow
//! depth-first in chunks of bounded memory, and chunks are split in parallel.
//!
//! What it must not do: no drawing (`tessera-plot`), no statistics over points or training
//! (`tessera-lc`, `tessera-train`), no file formats beyond serde of its own results, no
//! printing. It never changes the network.

mod affine;
mod cell;
mod code;
mod error;
mod fused;
mod grid;
mod interval;
mod kink;
mod partition;
mod path;
pub mod polygon;
pub mod polytope;
mod progress;
mod refinement;
mod slice;
mod vertex_scan;
mod walk;

pub use cell::Point;
pub use code::{activation_codes, Code};
pub use error::{RegionError, Result};
pub use grid::{grid_points, grid_region_count, GridCount};
pub use kink::KinkKind;
pub use partition::{
    partition_slice, partition_slice_with_progress, DecisionSegment, LayerPartition, LayerSummary, Partition,
    PartitionOptions, PartitionSummary, Region, UnitSegment,
};
pub use path::{path_transitions, PathLayer, PathPartition, PathPiece, Transition, UnitRef};
pub use polygon::{Polygon, Segment};
pub use polytope::lp;
pub use progress::CountProgress;
pub use slice::Slice;
