//! Errors of local-complexity measurement: each names the argument, file or point set at fault.

use std::path::PathBuf;
use tessera_net::NetError;

/// Everything that can go wrong when building a frame, reading points or counting.
#[derive(Debug, thiserror::Error)]
pub enum LcError {
    /// A frame whose directions do not live in the network's input space.
    #[error("{frame}: directions have {got} coordinates, but the network input has {expected}")]
    FrameWidth {
        /// Name of the frame (its file or `random`).
        frame: String,
        /// Width found.
        got: usize,
        /// Width of the network input.
        expected: usize,
    },
    /// More directions requested than input dimensions.
    #[error("{frame}: {p} directions cannot be orthonormal in a {dim}-dimensional input space (P must be at most d)")]
    TooManyDirections {
        /// Name of the frame (its file or `random`).
        frame: String,
        /// Directions requested (P).
        p: usize,
        /// Input dimension d.
        dim: usize,
    },
    /// A frame with P = 0.
    #[error("{frame}: a frame needs at least one direction")]
    NoDirections {
        /// Name of the frame (its file or `random`).
        frame: String,
    },
    /// Given directions that are not orthonormal.
    #[error("{frame}: the directions are not orthonormal (largest |<v_i, v_j> - delta_ij| is {deviation:.3e})")]
    NotOrthonormal {
        /// Name of the frame (its file or `random`).
        frame: String,
        /// Largest deviation from orthonormality.
        deviation: f64,
    },
    /// A radius that is zero, negative or not finite.
    #[error("radius {value} is not a positive finite number")]
    BadRadius {
        /// The rejected radius.
        value: f64,
    },
    /// An empty radius list.
    #[error("no radius given: local complexity needs at least one radius r > 0")]
    NoRadii,
    /// Points whose width differs from the network input.
    #[error("point set '{set}': points have {got} coordinates, but the network input has {expected}")]
    PointWidth {
        /// Name of the point set.
        set: String,
        /// Width found.
        got: usize,
        /// Width of the network input.
        expected: usize,
    },
    /// A point set without points.
    #[error("point set '{set}' is empty")]
    EmptyPointSet {
        /// Name of the point set.
        set: String,
    },
    /// A point with a NaN or infinite coordinate.
    #[error("point set '{set}': coordinate {coordinate} of point {index} is not finite")]
    NonFinitePoint {
        /// Name of the point set.
        set: String,
        /// Index of the point.
        index: usize,
        /// Index of the bad coordinate.
        coordinate: usize,
    },
    /// A point set that cannot be used, with the reason.
    #[error("point set '{set}': {message}")]
    BadPointSet {
        /// Name of the point set.
        set: String,
        /// What is wrong.
        message: String,
    },
    /// A layer index past the last activation layer.
    #[error(
        "layer {index} does not exist: the network has {available} activation {}, numbered from 1",
        if *.available == 1 { "layer" } else { "layers" }
    )]
    LayerOutOfRange {
        /// The requested layer (1-based).
        index: usize,
        /// Number of activation layers.
        available: usize,
    },
    /// A layer selection that leaves nothing to count.
    #[error("nothing to count: the network has no activation layer selected and the output layer is not counted")]
    NoLayers,
    /// The convolutional layers were asked for, but no activation layer sees a feature map.
    #[error("the network has no convolutional layer to count (no activation layer has a [C, H, W] input)")]
    NoConvolutionalLayers,
    /// A pre-activation that overflowed or became NaN.
    #[error("layer '{layer}': a pre-activation is not finite at point {point}")]
    NonFinitePreactivation {
        /// Name of the layer.
        layer: String,
        /// Index of the point.
        point: usize,
    },
    /// A file that cannot be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Vertices that do not form a neighbourhood graph (deformation measures).
    #[error("neighbourhood graph: {0}")]
    NeighbourhoodGraph(String),
    /// An error of the network IR.
    #[error(transparent)]
    Net(#[from] NetError),
}

/// Result with `LcError` as the default error.
pub type Result<T, E = LcError> = std::result::Result<T, E>;
