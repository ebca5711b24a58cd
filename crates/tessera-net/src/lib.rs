//! # tessera-net: the network IR
//!
//! What it is for: a continuous piecewise-affine network as a DAG of ops (dense, conv with
//! channel groups, pooling (also in ceil mode), batch norm, ReLU-type and clamp activations, residual additions,
//! channel concatenation, slices and shuffles), with forward passes in `f32`/`f64`
//! that can return every activation's pre-activation ("taps"), backward passes for every op,
//! the exact local affine map at a point, PyTorch-default initialisation, builders for the
//! paper's architectures, save/load (JSON + safetensors, PyTorch `nn.Sequential` import), and
//! the pool of reusable buffers that training steps and exact partitions share (`BufferPool`),
//! and the matrix products everything above uses (`scalar::gemm`, `scalar::par_gemm`: on
//! AVX-512 machines a packed GEMM of its own that gives matrixmultiply's results bit for bit).
//!
//! What it must not do: no geometry beyond one region (partitions live in `tessera-regions`),
//! no statistics (`tessera-lc`), no datasets, losses or optimisers (`tessera-data`,
//! `tessera-train`), no printing.
//!
//! Layout convention: a batch is sample-major; each sample is row-major in its shape
//! (`[D]` or `[C, H, W]`). Dense weights are `[out, in]`, conv weights `[out, in, kh, kw]`,
//! exactly as PyTorch stores them.

mod awake;
pub mod backward;
mod batch_norm;
pub mod buffer_pool;
pub mod builders;
mod channels;
pub mod conv;
mod direct_conv;
mod error;
pub mod forward;
mod init;
pub mod io;
pub mod linearize;
pub mod network;
pub mod op;
#[cfg(target_arch = "x86_64")]
mod packed_gemm;
pub mod partial;
pub mod pytorch;
pub mod scalar;
pub mod simd;
mod tensor;
mod walk;

pub use awake::with_workers_awake;
pub use backward::{Gradients, Wants};
pub use buffer_pool::BufferPool;
pub use builders::{cnn, mlp, mlp_with_norm, preact_resnet18, CnnSpec, ConvLayer};
pub use error::{NetError, Result};
pub use forward::{activate_in_place, OffsetRows, Tape};
pub use linearize::{AffineMap, NodePattern, Pattern};
pub use network::{GraphBuilder, Network, Node, NodeId, NodeParams, RunningStats};
pub use op::{Activation, Kinks, Mode, Op};
pub use scalar::Scalar;
pub use tensor::Tensor;
pub use walk::UnitResponses;
