//! Errors of exact partitions: every message names the argument and what is wrong with it.

use tessera_net::NetError;

/// Everything that can go wrong when building a slice or path, or partitioning it.
#[derive(Debug, thiserror::Error)]
pub enum RegionError {
    /// A point or direction does not live in the network's input space.
    #[error("{what} has width {got}, but the network's input has width {expected}")]
    Width { what: String, got: usize, expected: usize },
    /// The three anchors of a slice do not span a plane.
    #[error("the slice anchors are collinear or repeated: they do not span a plane")]
    CollinearAnchors,
    /// The two directions of a slice are parallel (or one is zero).
    #[error("the slice directions are linearly dependent: they do not span a plane")]
    DependentDirections,
    /// The domain polygon cannot be used.
    #[error("domain polygon: {0}")]
    Domain(String),
    /// A numeric argument out of range or not finite.
    #[error("{name} = {value}: {problem}")]
    Argument { name: String, value: String, problem: String },
    /// A path needs at least two distinct points.
    #[error("path: {0}")]
    Path(String),
    /// The partition grew past the configured limit.
    #[error("the partition has more than {limit} regions after layer {layer} ('{name}'); raise max_regions")]
    TooManyRegions { limit: usize, layer: usize, name: String },
    /// The network itself refused the input.
    #[error(transparent)]
    Net(#[from] NetError),
}

pub type Result<T, E = RegionError> = std::result::Result<T, E>;

/// Fail unless `values` has the network's input width.
pub(crate) fn check_width(what: &str, values: &[f64], expected: usize) -> Result<()> {
    if values.len() != expected {
        return Err(RegionError::Width { what: what.to_string(), got: values.len(), expected });
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(RegionError::Argument {
            name: format!("{what}[{i}]"),
            value: values[i].to_string(),
            problem: "must be finite".into(),
        });
    }
    Ok(())
}
