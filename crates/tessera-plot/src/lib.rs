//! # tessera-plot: pictures
//!
//! What it is for: drawing what the other crates compute — metric curves against training
//! steps ([`curves`]: LC and accuracy curves with bands, log axes, several panels) and exact
//! partitions of 2-D slices ([`draw_partition`]: regions filled with random colours or by the
//! slope norm of the output on a linear or shared log scale, neuron boundaries of all layers or
//! of the first few, the decision boundary, anchor points) — as PNG and SVG, chosen by the file
//! extension (and P1 Fig. 1's layout: partition panels in a grid beside a chart,
//! [`draw_partitions_beside_chart`], or alone, [`draw_partition_grid`], each panel with its own
//! style, e.g. the partition after each layer), values on a grid as colour maps
//! ([`draw_grid_maps`]), the graph of one output over a slice coloured by region
//! ([`draw_region_surface`]), with an embedded font (no system fonts needed); a run's standard
//! charts from its metrics table ([`run_charts`]: accuracy and LC per radius against steps, for
//! `tessera train` runs and checkpoint folders measured by `tessera lc --checkpoints` alike).
//!
//! What it must not do: compute anything it draws (no training, no LC, no partitions), read
//! datasets or run directories (callers hand it what `tessera_train::MetricsTable` read), or
//! print.

mod colour;
pub mod curves;
mod error;
mod font;
mod grid_map;
mod montage;
mod output;
mod partition;
pub mod run_charts;
mod surface;

pub use colour::Rgb;
pub use error::{PlotError, Result};
pub use grid_map::{draw_grid_maps, GridMap};
pub use montage::{draw_partition_grid, draw_partitions_beside_chart};
pub use output::Format;
pub use partition::{draw_partition, BoundaryColours, Fill, PartitionStyle};
pub use surface::draw_region_surface;
