//! # tessera-onnx: import ONNX models into the network IR
//!
//! What it is for: turning an ONNX graph (typically from `torch.onnx.export`) into a
//! `tessera_net::Network`, so local complexity and exact partitions can be computed for
//! pretrained models. Supported: Gemm, MatMul (+ constant Add as bias), Conv (2-D, any channel
//! groups, symmetric padding), Relu, LeakyRelu, Abs, PRelu with one slope, Clip with constant
//! bounds, BatchNormalization (inference), MaxPool and AveragePool (also ceil_mode),
//! GlobalAveragePool/GlobalMaxPool and the spatial ReduceMean, Flatten and flattening Reshapes,
//! residual Add, Concat/Split/Slice along channels, the channel shuffle (Reshape, Transpose,
//! Reshape), Identity and Dropout (dropped), constants and the shape arithmetic exporters emit.
//! A trailing Softmax/LogSoftmax is dropped with a note.
//!
//! What it must not do: approximate. Ops that are not piecewise affine (GELU, sigmoid, tanh,
//! gates, a softmax inside the network, ...) and attributes the IR cannot represent exactly
//! (dilated convolutions, asymmetric padding, `count_include_pad=0` with padding, other
//! transposes) are refused with an error naming the node. It holds no network logic of its own
//! (that is `tessera-net`), and keeps protobuf out of every other crate.

mod attributes;
mod constant;
mod error;
mod lower;
mod ops;

/// The ONNX protobuf messages (generated at build time from the vendored `proto/onnx.proto`),
/// for callers who build or edit models in code.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

pub use error::OnnxError;

use prost::Message;
use std::path::Path;
use tessera_net::{Network, Scalar};

/// What the importer did beyond a one-to-one translation (e.g. dropping a trailing softmax).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportReport {
    /// One sentence per liberty taken, in the order taken.
    pub notes: Vec<String>,
}

/// Import the ONNX model at `path` (tensors stored as external data are read from beside it).
/// The import runs in `f64`; `T = f32` rounds the weights at the end.
pub fn import_onnx<T: Scalar>(path: &Path) -> Result<(Network<T>, ImportReport), OnnxError> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Read { path: path.to_path_buf(), source })?;
    import_onnx_bytes(&bytes, path)
}

/// Import an ONNX model from its bytes; `path` names it in messages and locates external data.
pub fn import_onnx_bytes<T: Scalar>(bytes: &[u8], path: &Path) -> Result<(Network<T>, ImportReport), OnnxError> {
    let model = proto::ModelProto::decode(bytes)
        .map_err(|e| OnnxError::Corrupt { path: path.to_path_buf(), message: e.to_string() })?;
    let (net, report) = lower::lower_model(&model, path)?;
    Ok((net.cast::<T>(), report))
}
