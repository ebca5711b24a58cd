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
