//! Errors of local-complexity measurement: each names the argument, file or point set at fault.

use std::path::PathBuf;
use tessera_net::NetError;

/// Everything that can go wrong when building a frame, reading points or counting.
#[derive(Debug, thiserror::Error)]
pub enum LcError {
    #[error("{frame}: directions have {got} coordinates, but the network input has {expected}")]
    FrameWidth { frame: String, got: usize, expected: usize },
    #[error("{frame}: {p} directions cannot be orthonormal in a {dim}-dimensional input space (P must be at most d)")]
    TooManyDirections { frame: String, p: usize, dim: usize },
    #[error("{frame}: a frame needs at least one direction")]
    NoDirections { frame: String },
    #[error("{frame}: the directions are not orthonormal (largest |<v_i, v_j> - delta_ij| is {deviation:.3e})")]
    NotOrthonormal { frame: String, deviation: f64 },
    #[error("radius {value} is not a positive finite number")]
    BadRadius { value: f64 },
    #[error("no radius given: local complexity needs at least one radius r > 0")]
    NoRadii,
    #[error("point set '{set}': points have {got} coordinates, but the network input has {expected}")]
    PointWidth { set: String, got: usize, expected: usize },
    #[error("point set '{set}' is empty")]
    EmptyPointSet { set: String },
    #[error("point set '{set}': coordinate {coordinate} of point {index} is not finite")]
    NonFinitePoint { set: String, index: usize, coordinate: usize },
    #[error("point set '{set}': {message}")]
    BadPointSet { set: String, message: String },
    #[error("layer {index} does not exist: the network has {available} activation layers, numbered from 1")]
    LayerOutOfRange { index: usize, available: usize },
    #[error("nothing to count: the network has no activation layer selected and the output layer is not counted")]
    NoLayers,
    #[error("layer '{layer}': a pre-activation is not finite at point {point}")]
    NonFinitePreactivation { layer: String, point: usize },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(transparent)]
    Net(#[from] NetError),
}

pub type Result<T, E = LcError> = std::result::Result<T, E>;
