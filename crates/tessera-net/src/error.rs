//! Errors of the network IR: every message names what was wrong and where.

use std::path::PathBuf;

/// Everything that can go wrong when building, running, saving or loading a network.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A node's inputs do not fit its op.
    #[error("node {node} ('{name}'): {message}")]
    Shape {
        /// Id of the offending node.
        node: usize,
        /// Its name.
        name: String,
        /// What does not fit.
        message: String,
    },
    /// A node reads from itself or a later node.
    #[error("node {node} ('{name}'): input {input} is not an earlier node")]
    BadInput {
        /// Id of the offending node.
        node: usize,
        /// Its name.
        name: String,
        /// The input id that is not earlier.
        input: usize,
    },
    /// A network needs at least an input node.
    #[error("network has no nodes")]
    Empty,
    /// An input batch whose sample width differs from the network's.
    #[error("input has width {got} per sample but the network expects {expected} (shape {shape:?})")]
    InputWidth {
        /// Width of the given samples.
        got: usize,
        /// Width of the network's input.
        expected: usize,
        /// The network's per-sample input shape.
        shape: Vec<usize>,
    },
    /// Input data whose length is not a whole number of samples.
    #[error("input data length {len} is not a multiple of the sample width {width}")]
    InputLength {
        /// Number of values given.
        len: usize,
        /// Values per sample.
        width: usize,
    },
    /// A parameter holds NaN or infinity.
    #[error("parameter '{name}' contains a non-finite value (NaN or infinity) at index {index}")]
    NonFinite {
        /// Parameter key.
        name: String,
        /// Flat index of the first bad value.
        index: usize,
    },
    /// A loaded parameter's shape differs from the op's.
    #[error("parameter '{name}': expected shape {expected:?}, found {found:?}")]
    ParamShape {
        /// Parameter key.
        name: String,
        /// Shape the op requires.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// A parameter absent from the weights file.
    #[error("parameter '{name}' is missing from {path}")]
    MissingParam {
        /// Parameter key.
        name: String,
        /// The weights file.
        path: PathBuf,
    },
    /// A file that cannot be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// An architecture file that is not valid JSON for the IR.
    #[error("{path}: invalid architecture JSON: {message}")]
    Architecture {
        /// The architecture file.
        path: PathBuf,
        /// The parser's complaint.
        message: String,
    },
    /// A printed `nn.Sequential` (`print(model)` text) that cannot be imported.
    #[error("{path}: cannot import this printed nn.Sequential: {message}")]
    PrintedSequential {
        /// The printed-model file.
        path: PathBuf,
        /// Why it cannot be imported.
        message: String,
    },
    /// Any other invalid request, with its message.
    #[error("{0}")]
    Invalid(String),
}

/// Result with `NetError` as the default error.
pub type Result<T, E = NetError> = std::result::Result<T, E>;
