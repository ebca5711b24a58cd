//! Errors of drawing: each names the output file and what went wrong.

use std::path::PathBuf;

/// Everything that can go wrong when drawing a figure.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{path}: unknown picture format (use .png or .svg)")]
    Format { path: PathBuf },
    #[error("{path}: {message}")]
    Draw { path: PathBuf, message: String },
    #[error("{what}: {problem}")]
    Input { what: String, problem: String },
}

pub type Result<T, E = PlotError> = std::result::Result<T, E>;
