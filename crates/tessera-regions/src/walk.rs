//! The node-by-node walk that both engines (slices and paths in `refinement`, neighbourhoods in
//! `polytope`) run over a chunk of pieces: affine nodes map the pieces' rows all at once, values
//! are dropped after their last reader, and the walk stops at each kinked layer, where the
//! engine splits the pieces and carries the live values over to the pieces' children.

use crate::affine::gather_pieces;
use crate::kink::KinkLayer;
use tessera_net::{Network, NodeId, OffsetRows, Tensor};

/// The values of a chunk of pieces, indexed by node id (`rows` rows per piece).
pub(crate) type Values = Vec<Option<Tensor<f64>>>;

pub(crate) struct NodeWalk<'a> {
    pub net: &'a Network<f64>,
    pub last_use: Vec<NodeId>,
    layer_of: Vec<Option<usize>>,
    /// Rows per piece: coordinates + 1.
    rows: usize,
}

impl<'a> NodeWalk<'a> {
    pub fn new(net: &'a Network<f64>, layers: &[KinkLayer], rows: usize) -> Self {
        let mut layer_of = vec![None; net.nodes().len()];
        layers.iter().enumerate().for_each(|(l, k)| layer_of[k.node] = Some(l));
        Self { net, last_use: net.last_uses(), layer_of, rows }
    }

    /// Run the nodes from `from` on until a kinked one: that layer's index, or `None` when the
    /// output has been computed.
    pub fn advance(&self, values: &mut Values, from: NodeId) -> Option<usize> {
        for id in from..self.net.nodes().len() {
            if let Some(l) = self.layer_of[id] {
                return Some(l);
            }
            let value = {
                let inputs: Vec<&Tensor<f64>> =
                    self.net.node(id).inputs.iter().map(|&i| values[i].as_ref().expect("live value")).collect();
                self.net.apply_affine(id, &inputs, OffsetRows::EveryNth(self.rows))
            };
            values[id] = Some(value);
            for &i in &self.net.node(id).inputs {
                if self.last_use[i] == id {
                    values[i] = None;
                }
            }
        }
        None
    }

    /// Nodes whose values are held and that nodes after `id` still read.
    pub fn live_after<'v>(&'v self, values: &'v Values, id: NodeId) -> impl Iterator<Item = NodeId> + 'v {
        (0..id).filter(move |&i| values[i].is_some() && self.last_use[i] > id)
    }

    /// Memory of the maps one piece carries past node `id`, plus those of node `own`.
    pub fn bytes_per_piece(&self, values: &Values, id: NodeId, own: NodeId) -> usize {
        let width = |i: NodeId| self.net.shape(i).iter().product::<usize>();
        let live: usize = self.live_after(values, id).map(width).sum();
        (self.rows * (live + width(own)) * std::mem::size_of::<f64>()).max(1)
    }

    /// The values that nodes after `id` read, for the children of `parents` (one entry per
    /// child: the index of its parent piece).
    pub fn carried_over(&self, values: &Values, id: NodeId, parents: &[usize]) -> Values {
        let mut carried: Values = vec![None; values.len()];
        for i in self.live_after(values, id) {
            carried[i] = Some(gather_pieces(values[i].as_ref().expect("live"), parents, self.rows));
        }
        carried
    }
}
