//! tessera: measure, track and draw the linear regions of piecewise-affine deep networks.
//!
//! This facade re-exports the workspace crates so a user can depend on one crate.
//! It holds no logic of its own.
pub use tessera_data as data;
pub use tessera_lc as lc;
pub use tessera_net as net;
pub use tessera_onnx as onnx;
pub use tessera_plot as plot;
pub use tessera_regions as regions;
pub use tessera_train as train;

/// The README's Rust snippet, compiled and run as a doc-test so that it works as pasted.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeSnippets;
