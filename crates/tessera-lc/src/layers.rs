//! The layers whose neurons are counted: activation nodes (their inputs are the
//! pre-activations) and, on request, the output node.

use crate::{LayerSelection, LcError, Result};
use tessera_net::{Network, NodeId, Scalar};

/// One counted layer, in column order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountedLayer {
    /// Column name: `layer_k` for the k-th activation layer (from 1); the output comes after
    /// the last activation layer.
    pub column: String,
    /// The network node: an activation node (counted on its input), or the output node.
    pub node: NodeId,
    /// Name of that node in the network.
    pub node_name: String,
    /// Number of neurons (units) in the layer.
    pub width: usize,
    /// Whether this is the network's output (logits) rather than an activation layer.
    pub is_output: bool,
}

/// Resolve a selection against a network.
pub(crate) fn counted_layers<T: Scalar>(
    net: &Network<T>,
    selection: &LayerSelection,
    count_output: bool,
) -> Result<Vec<CountedLayer>> {
    let activations = net.activation_ids();
    let numbers: Vec<usize> = match selection {
        LayerSelection::All => (1..=activations.len()).collect(),
        LayerSelection::Only(numbers) => {
            if let Some(&bad) = numbers.iter().find(|&&k| k == 0 || k > activations.len()) {
                return Err(LcError::LayerOutOfRange { index: bad, available: activations.len() });
            }
            let mut sorted = numbers.clone();
            sorted.sort_unstable();
            sorted.dedup();
            sorted
        }
        LayerSelection::Convolutional => {
            let numbers: Vec<usize> =
                (1..=activations.len()).filter(|&k| net.shape(activations[k - 1]).len() == 3).collect();
            if numbers.is_empty() {
                return Err(LcError::NoConvolutionalLayers);
            }
            numbers
        }
    };
    let mut layers: Vec<CountedLayer> = numbers
        .iter()
        .map(|&k| {
            let id = activations[k - 1];
            CountedLayer {
                column: format!("layer_{k}"),
                node: id,
                node_name: net.node(id).name.clone(),
                width: net.shape(id).iter().product(),
                is_output: false,
            }
        })
        .collect();
    if count_output {
        let id = net.output_id();
        layers.push(CountedLayer {
            column: format!("layer_{}", activations.len() + 1),
            node: id,
            node_name: net.node(id).name.clone(),
            width: net.output_width(),
            is_output: true,
        });
    }
    if layers.is_empty() {
        return Err(LcError::NoLayers);
    }
    Ok(layers)
}
