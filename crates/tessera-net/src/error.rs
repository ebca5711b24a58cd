//! Errors of the network IR: every message names what was wrong and where.

use std::path::PathBuf;

/// Everything that can go wrong when building, running, saving or loading a network.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("node {node} ('{name}'): {message}")]
    Shape { node: usize, name: String, message: String },
    #[error("node {node} ('{name}'): input {input} is not an earlier node")]
    BadInput { node: usize, name: String, input: usize },
    #[error("network has no nodes")]
    Empty,
    #[error("input has width {got} per sample but the network expects {expected} (shape {shape:?})")]
    InputWidth { got: usize, expected: usize, shape: Vec<usize> },
    #[error("input data length {len} is not a multiple of the sample width {width}")]
    InputLength { len: usize, width: usize },
    #[error("parameter '{name}' contains a non-finite value (NaN or infinity) at index {index}")]
    NonFinite { name: String, index: usize },
    #[error("parameter '{name}': expected shape {expected:?}, found {found:?}")]
    ParamShape { name: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("parameter '{name}' is missing from {path}")]
    MissingParam { name: String, path: PathBuf },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{path}: invalid architecture JSON: {message}")]
    Architecture { path: PathBuf, message: String },
    /// A printed `nn.Sequential` (`print(model)` text) that cannot be imported.
    #[error("{path}: cannot import this printed nn.Sequential: {message}")]
    PrintedSequential { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = NetError> = std::result::Result<T, E>;
