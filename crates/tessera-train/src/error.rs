//! The one error type of this crate: every message names the file, key or value at fault.

use std::path::PathBuf;

/// Everything that can go wrong while configuring, running, saving or resuming a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A configuration file could not be parsed or has an invalid value.
    #[error("{origin}: {message}")]
    Config {
        /// The file (or `--set` override) the problem comes from.
        origin: String,
        /// What is wrong.
        message: String,
    },

    /// A `--set key=value` override is malformed or names an unknown key.
    #[error("override '{item}': {message}")]
    Override {
        /// The override as given.
        item: String,
        /// What is wrong.
        message: String,
    },

    /// A file or folder of the run directory could not be read or written.
    #[error("{}: {message}", path.display())]
    File {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },

    /// A run directory cannot be started or resumed as asked.
    #[error("run directory {}: {message}", path.display())]
    RunDir {
        /// The run directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// A checkpoint is incomplete or does not fit the network or optimizer.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint {
        /// The checkpoint folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// Shapes that must agree do not (outputs vs labels, gradients vs parameters).
    #[error("shape mismatch: {0}")]
    Shape(String),

    /// Training diverged: the loss or a parameter became NaN or infinite.
    #[error("step {step}: {what} is not finite (training diverged; try a smaller learning rate)")]
    NonFinite {
        /// The optimizer step at which it was seen.
        step: u64,
        /// What became non-finite.
        what: String,
    },

    /// An error of the network IR.
    #[error(transparent)]
    Net(#[from] tessera_net::NetError),

    /// An error of the data layer (missing dataset, corrupt file).
    #[error(transparent)]
    Data(#[from] tessera_data::DataError),

    /// An error of the local-complexity measurement.
    #[error("local complexity: {0}")]
    Lc(String),
}

impl TrainError {
    /// Wraps an I/O (or other) error with the path it concerns.
    pub(crate) fn file(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        TrainError::File { path: path.into(), message: message.to_string() }
    }

    /// A configuration problem found in `origin`.
    pub(crate) fn config(origin: impl Into<String>, message: impl std::fmt::Display) -> Self {
        TrainError::Config { origin: origin.into(), message: message.to_string() }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
