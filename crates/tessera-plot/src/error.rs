//! Errors of drawing: each names the output file and what went wrong.

use std::path::PathBuf;

/// Everything that can go wrong when drawing a figure.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// An output path whose extension is neither `.png` nor `.svg`.
    #[error("{path}: unknown picture format (use .png or .svg)")]
    Format {
        /// The output file.
        path: PathBuf,
    },
    /// The drawing backend failed to draw or write the picture.
    #[error("{path}: {message}")]
    Draw {
        /// The output file.
        path: PathBuf,
        /// The backend's message.
        message: String,
    },
    /// Data that cannot be drawn, with the reason.
    #[error("{what}: {problem}")]
    Input {
        /// What was given (e.g. a series name).
        what: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// Result with `PlotError` as the default error.
pub type Result<T, E = PlotError> = std::result::Result<T, E>;
