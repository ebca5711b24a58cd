//! Loading a model given on the command line: a tessera model directory (architecture.json +
//! weights.safetensors).

use anyhow::Context;
use std::path::Path;
use tessera_net::Network;

/// Load the model at `path` in `f64` (the precision of all geometry).
pub fn load_model(path: &Path) -> anyhow::Result<Network<f64>> {
    Network::<f64>::load(path).with_context(|| format!("loading model {}", path.display()))
}
