//! # tessera-plot: pictures
//!
//! What it is for: drawing what the other crates compute — metric curves against training
//! steps ([`curves`]) and exact partitions of 2-D slices — as PNG and SVG with an embedded font
//! (no system fonts needed).
//!
//! What it must not do: compute anything it draws (no training, no LC, no partitions), or read
//! datasets.

pub mod curves;
mod font;

use std::path::PathBuf;

/// Drawing failures, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{path}: {message}")]
    Draw { path: PathBuf, message: String },
    #[error("{path}: unknown picture format (use .png or .svg)")]
    Format { path: PathBuf },
}
