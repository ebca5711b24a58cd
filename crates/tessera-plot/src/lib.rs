//! # tessera-plot: pictures
//!
//! What it is for: drawing what the other crates compute — metric curves against training
//! steps ([`curves`]: LC and accuracy curves with bands, log axes, several panels) and exact
//! partitions of 2-D slices ([`draw_partition`]: regions filled with random colours or by the
//! slope norm of the output, neuron boundaries, the decision boundary, anchor points) — as PNG
//! and SVG, chosen by the file extension (and P1 Fig. 1's layout: partition panels in a grid
//! beside a chart, [`draw_partitions_beside_chart`]), with an embedded font (no system fonts needed).
//!
//! What it must not do: compute anything it draws (no training, no LC, no partitions), read
//! datasets or runs, or print.

mod colour;
pub mod curves;
mod error;
mod font;
mod montage;
mod output;
mod partition;

pub use colour::Rgb;
pub use error::{PlotError, Result};
pub use montage::draw_partitions_beside_chart;
pub use output::Format;
pub use partition::{draw_partition, BoundaryColours, Fill, PartitionStyle};
