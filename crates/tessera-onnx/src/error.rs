//! Errors of the ONNX import: each names the file and, where one is at fault, the ONNX node.

use std::path::PathBuf;
use tessera_net::NetError;

/// Everything that can go wrong when importing an ONNX file.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The model file cannot be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The model file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not an ONNX protobuf.
    #[error("{path}: not a valid ONNX model (protobuf decoding failed: {message})")]
    Corrupt {
        /// The model file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A problem with the model as a whole (inputs, outputs, initializers).
    #[error("{path}: {message}")]
    Model {
        /// The model file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A node that is malformed or uses an op or attribute the IR cannot represent.
    #[error("{path}: node {node} ({op_type}): {message}")]
    Node {
        /// The model file.
        path: PathBuf,
        /// Name of the node (or its index when unnamed).
        node: String,
        /// Its ONNX op type, e.g. `Softmax`.
        op_type: String,
        /// What is wrong.
        message: String,
    },
    /// A node whose op is not piecewise affine, so the network has no linear regions to measure.
    #[error(
        "{path}: node {node} ({op_type}) is not piecewise affine: {why}. tessera measures networks \
         built from affine maps and ReLU-type kinks only"
    )]
    NotPiecewiseAffine {
        /// The model file.
        path: PathBuf,
        /// Name of the node (or its index when unnamed).
        node: String,
        /// Its ONNX op type, e.g. `Softmax`.
        op_type: String,
        /// Why the op has no piecewise-affine form.
        why: String,
    },
    /// The translated graph was rejected by the network IR.
    #[error("{path}: the imported network is not valid: {source}")]
    Network {
        /// The model file.
        path: PathBuf,
        /// The IR's complaint.
        #[source]
        source: NetError,
    },
}

/// Why one node could not be lowered; the importer adds the file and node to make an `OnnxError`.
#[derive(Debug)]
pub(crate) enum NodeProblem {
    /// Malformed, or not representable in the IR.
    Invalid(String),
    /// Not piecewise affine; the text says why.
    NotPiecewiseAffine(String),
}

impl From<String> for NodeProblem {
    fn from(message: String) -> Self {
        NodeProblem::Invalid(message)
    }
}

impl From<&str> for NodeProblem {
    fn from(message: &str) -> Self {
        NodeProblem::Invalid(message.to_string())
    }
}

pub(crate) type NodeResult<T> = Result<T, NodeProblem>;
