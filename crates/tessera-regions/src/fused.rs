//! The linear node that a kinked layer feeds, applied to the layer's pieces cheaply.
//!
//! A piece of a cell differs from its parent's base states in a few units, so the node's output
//! on the piece is its output on the parent's base states plus, for each differing unit, the
//! change of that unit times the node's response to it (`tessera_net::UnitResponses`: a weight
//! column for a dense node, a kernel-sized patch for a convolution). This replaces most of the
//! dense and conv products of a partition.

use crate::kink::KinkLayer;
use tessera_net::{Network, NodeId, Op, UnitResponses};

/// A dense or conv node fed only by a kinked layer (for dense, perhaps through flattens).
pub(crate) struct FusedLinear {
    pub node: NodeId,
    /// The node's output width.
    outputs: usize,
    responses: UnitResponses<f64>,
}

impl FusedLinear {
    /// The dense or conv node that `layer`'s output feeds, when nothing else reads the output
    /// (or the flattens between them).
    pub fn after(net: &Network<f64>, last_use: &[NodeId], layer: &KinkLayer) -> Option<Self> {
        let feeds = |from: NodeId, to: NodeId| {
            to < net.nodes().len() && last_use[from] == to && net.node(to).inputs.as_slice() == [from]
        };
        let mut prev = layer.node;
        while feeds(prev, prev + 1) && matches!(net.node(prev + 1).op, Op::Flatten) {
            prev += 1;
        }
        let node = prev + 1;
        let fits = match net.node(node).op {
            Op::Dense { .. } => true,
            // A conv's responses are laid out in the kinked layer's own shape.
            Op::Conv2d { .. } => prev == layer.node,
            _ => false,
        };
        if !(feeds(prev, node) && fits) {
            return None;
        }
        let outputs = net.shape(node).iter().product();
        Some(Self { node, outputs, responses: UnitResponses::of(net, node)? })
    }

    /// Whether adding `units` columns costs less than applying the node to a row directly.
    /// Measured on the MNIST MLP and the small CIFAR CNN: a dense column (contiguous) costs
    /// about four multiply-adds of a matrix product per multiply-add, a conv column (strided
    /// over output channels) about thirty-two.
    pub fn columns_pay(&self, units: usize) -> bool {
        let slowdown = if self.responses.is_conv() { 32 } else { 4 };
        slowdown * units * self.responses.outputs_per_unit() <= self.responses.row_cost()
    }

    /// Outputs of the node (per row).
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Add `change` times the node's response to input unit `unit` to the output row `dst`.
    #[inline(always)]
    pub fn add_column(&self, dst: &mut [f64], unit: usize, change: f64) {
        self.responses.add(dst, unit, change);
    }
}
