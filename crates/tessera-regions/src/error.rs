//! The one error type of exact partitions and counts: every message names the argument and
//! what is wrong with it. Errors of the layers below (the network, the LP solver) are wrapped.

use crate::lp::LpError;
use tessera_net::{NetError, NodeId};

/// Largest deviation of `V V^T` from the identity accepted for a frame (f32 files included).
pub(crate) const ORTHONORMAL_TOLERANCE: f64 = 1e-5;

/// Everything that can go wrong when building a slice, path or neighbourhood, or partitioning
/// or counting it.
#[derive(Debug, thiserror::Error)]
pub enum RegionError {
    /// A point or direction does not live in the network's input space.
    #[error("{what} has width {got}, but the network's input has width {expected}")]
    Width {
        /// What was given (e.g. "anchor 2", "direction 1").
        what: String,
        /// Number of values found.
        got: usize,
        /// Input width of the network.
        expected: usize,
    },
    /// A point or direction has a NaN or infinite coordinate.
    #[error("{what} has a non-finite value at index {index}")]
    NonFinite {
        /// What was given (e.g. "anchor 2", "direction 1").
        what: String,
        /// Index of the bad coordinate.
        index: usize,
    },
    /// The three anchors of a slice do not span a plane.
    #[error("the slice anchors are collinear or repeated: they do not span a plane")]
    CollinearAnchors,
    /// The two directions of a slice are parallel (or one is zero).
    #[error("the slice directions are linearly dependent: they do not span a plane")]
    DependentDirections,
    /// The domain polygon cannot be used.
    #[error("domain polygon: {0}")]
    Domain(String),
    /// A numeric argument out of range or not finite.
    #[error("{name} = {value}: {problem}")]
    Argument {
        /// Name of the argument, or of the node.
        name: String,
        /// The value given, as written.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A path needs at least two distinct points.
    #[error("path: {0}")]
    Path(String),
    /// A neighbourhood's frame is not a P x d matrix.
    #[error("frame has {got} values, expected P x d = {dim} x {width}")]
    FrameLength {
        /// Number of values in the frame.
        got: usize,
        /// P, the number of directions.
        dim: usize,
        /// d, the input width.
        width: usize,
    },
    /// A neighbourhood's frame directions are not orthonormal.
    #[error(
        "frame directions are not orthonormal: (V V^T)[{row}][{col}] = {value} (tolerance {ORTHONORMAL_TOLERANCE})"
    )]
    NotOrthonormal {
        /// Row of the worst entry.
        row: usize,
        /// Column of the worst entry.
        col: usize,
        /// The entry of `V V^T` found there.
        value: f64,
    },
    /// The partition or count grew past the configured limit (callers name their own knob).
    #[error("more than {limit} regions after node {node} ('{name}')")]
    TooManyRegions {
        /// The limit that was passed.
        limit: usize,
        /// The node after which it was passed.
        node: NodeId,
        /// Name of that node.
        name: String,
    },
    /// The caller cancelled a count; `regions` were complete by then.
    #[error("interrupted after {regions} regions")]
    Interrupted {
        /// Regions complete when the count stopped.
        regions: usize,
    },
    /// The network itself refused the input.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The LP solver failed (other than on an empty polytope).
    #[error(transparent)]
    Lp(#[from] LpError),
}

/// Result with `RegionError` as the default error.
pub type Result<T, E = RegionError> = std::result::Result<T, E>;

/// Fail unless `values` has the network's input width and finite values.
pub(crate) fn check_width(what: &str, values: &[f64], expected: usize) -> Result<()> {
    if values.len() != expected {
        return Err(RegionError::Width { what: what.to_string(), got: values.len(), expected });
    }
    check_finite(what, values)
}

/// Fail at the first NaN or infinite value.
pub(crate) fn check_finite(what: &str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(RegionError::NonFinite { what: what.to_string(), index }),
        None => Ok(()),
    }
}

/// Fail unless `value` is positive and finite.
pub(crate) fn check_positive(name: &str, value: f64) -> Result<()> {
    if value > 0.0 && value.is_finite() {
        return Ok(());
    }
    let problem = "must be positive and finite".to_string();
    Err(RegionError::Argument { name: name.to_string(), value: value.to_string(), problem })
}
