//! Running part of a network: one node on given inputs, or every node from a given node on,
//! starting from intermediate values computed elsewhere (e.g. the leading affine part evaluated
//! once per point and once per direction, as local complexity does).

use crate::op::Mode;
use crate::{NetError, Network, NodeId, Result, Scalar, Tensor};

impl<T: Scalar> Network<T> {
    /// Run node `id` alone on `inputs` (the outputs of its input nodes, in order) in evaluation
    /// mode; kinked nodes (activations, max pooling) included.
    pub fn run_node_eval(&self, id: NodeId, inputs: &[&Tensor<T>]) -> Tensor<T> {
        self.run_node(id, inputs, Mode::Eval, &mut None, &mut None)
    }

    /// The nodes before `start` whose outputs some node at or after `start` reads, in id order:
    /// what `forward_with_taps_from(start, ..)` must be given.
    pub fn values_needed_from(&self, start: NodeId) -> Vec<NodeId> {
        let mut needed: Vec<NodeId> =
            self.nodes().iter().skip(start).flat_map(|n| n.inputs.iter().copied()).filter(|&i| i < start).collect();
        if start >= self.nodes().len() && start > 0 {
            needed.push(self.output_id());
        }
        needed.sort_unstable();
        needed.dedup();
        needed
    }

    /// Run nodes `start..` given `earlier[i]`, the output of node `i < start`, for every node
    /// `values_needed_from(start)` lists (others may be `None`). Returns the output and, with
    /// `taps`, the pre-activation of every activation node at or after `start`, in id order.
    /// `start == nodes().len()` returns the given output node value unchanged.
    pub fn forward_with_taps_from(
        &self,
        start: NodeId,
        earlier: Vec<Option<Tensor<T>>>,
        mode: Mode,
        taps: bool,
    ) -> Result<(Tensor<T>, Vec<Tensor<T>>)> {
        let n = self.nodes().len();
        if start == 0 || start > n {
            return Err(NetError::Invalid(format!("forward from node {start}: must be in 1..={n}")));
        }
        let mut values = earlier;
        values.resize(n, None);
        self.check_start_values(start, &values)?;
        let tapped = self.run_nodes_from(start, &mut values, mode, taps);
        let output = values.pop().flatten().expect("output computed or checked present");
        Ok((output, tapped))
    }

    /// Every needed earlier value is present, has its node's sample width, and all share one
    /// batch size.
    fn check_start_values(&self, start: NodeId, values: &[Option<Tensor<T>>]) -> Result<()> {
        let mut batch = None;
        for id in self.values_needed_from(start) {
            let name = &self.node(id).name;
            let Some(v) = values[id].as_ref() else {
                return Err(NetError::Invalid(format!(
                    "forward from node {start}: the output of node {id} ('{name}') is needed but missing"
                )));
            };
            let width: usize = self.shape(id).iter().product();
            if v.width() != width || *batch.get_or_insert(v.batch) != v.batch {
                return Err(NetError::Invalid(format!(
                    "forward from node {start}: node {id} ('{name}') value has {} rows of width {}, \
                     expected width {width} and {} rows",
                    v.batch,
                    v.width(),
                    batch.unwrap_or(v.batch)
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{mlp, preact_resnet18, Activation, Mode, OffsetRows, Tensor};

    fn ramp(batch: usize, width: usize) -> Vec<f64> {
        (0..batch * width).map(|i| ((i * 37 % 101) as f64) / 50.0 - 1.0).collect()
    }

    #[test]
    fn forward_from_the_first_kink_matches_the_full_forward_on_an_mlp() {
        let mut net = mlp::<f64>(&[5, 7, 6, 3], Activation::Relu).unwrap();
        net.init_pytorch_default(3, 1.0);
        let x = Tensor::from_vec(&[5], ramp(4, 5)).unwrap();
        let (out, taps) = net.forward_with_taps(&x, Mode::Eval, true).unwrap();
        let start = net.leading_affine_len();
        let mut earlier = vec![Some(x.clone())];
        for id in 1..start {
            let input = earlier[net.node(id).inputs[0]].clone().unwrap();
            earlier.push(Some(net.apply_affine(id, &[&input], OffsetRows::All)));
        }
        let (out_from, taps_from) = net.forward_with_taps_from(start, earlier, Mode::Eval, true).unwrap();
        assert_eq!(out, out_from);
        assert_eq!(taps, taps_from);
    }

    #[test]
    fn forward_from_a_resnet_block_boundary_uses_the_skip_value() {
        let mut net = preact_resnet18::<f32>([3, 32, 32], 1, 4, false).unwrap();
        net.init_pytorch_default(1, 1.0);
        let x = Tensor::from_vec(&[3, 32, 32], ramp(2, 3072).into_iter().map(|v| v as f32).collect()).unwrap();
        let tape = net.forward_tape(&x, Mode::Eval).unwrap();
        let start = 6;
        let mut earlier = vec![None; start];
        for id in net.values_needed_from(start) {
            earlier[id] = Some(tape.values[id].clone());
        }
        let (out, _) = net.forward_with_taps_from(start, earlier, Mode::Eval, false).unwrap();
        assert_eq!(&out, tape.output());
    }

    #[test]
    fn missing_or_misshapen_start_values_are_errors() {
        let net = mlp::<f64>(&[2, 3, 1], Activation::Relu).unwrap();
        let err = net.forward_with_taps_from(2, vec![None, None], Mode::Eval, false).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        let wrong = Tensor::from_vec(&[4], vec![0.0; 4]).unwrap();
        let err = net.forward_with_taps_from(2, vec![None, Some(wrong)], Mode::Eval, false).unwrap_err();
        assert!(err.to_string().contains("width"), "{err}");
        assert!(net.forward_with_taps_from(0, vec![], Mode::Eval, false).is_err());
    }

    #[test]
    fn forward_from_past_the_end_returns_the_output_value() {
        let net = mlp::<f64>(&[2, 1], Activation::Relu).unwrap();
        let y = Tensor::from_vec(&[1], vec![0.5, 2.0]).unwrap();
        let (out, taps) = net.forward_with_taps_from(2, vec![None, Some(y.clone())], Mode::Eval, true).unwrap();
        assert_eq!(out, y);
        assert!(taps.is_empty());
    }
}
