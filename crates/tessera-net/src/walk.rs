//! What the engines that walk a network node by node share: when a node's value can be
//! dropped, which inputs each max-pooling output reads, and how a linear node responds to one
//! unit of its input (the forward pass, local complexity and the exact partitions all use these,
//! so that they agree on them).

use crate::op::Op;
use crate::{Network, NodeId, Scalar};

impl<T: Scalar> Network<T> {
    /// For each node, the last node that reads its output; `usize::MAX` for the output node,
    /// which is never dropped. A walk in node order may drop node `i`'s value right after
    /// running node `last_uses()[i]`.
    pub fn last_uses(&self) -> Vec<NodeId> {
        let mut last: Vec<NodeId> = (0..self.nodes().len()).collect();
        for (id, node) in self.nodes().iter().enumerate() {
            for &i in &node.inputs {
                last[i] = id;
            }
        }
        last[self.output_id()] = usize::MAX;
        last
    }

    /// The windows of max- or average-pooling node `id`: for each output (channel-major, then
    /// row-major), the in-sample indices of the inputs it reads in window order (kernel row,
    /// then column; padding skipped). Max pooling keeps the first maximum in this order.
    ///
    /// Panics when `id` is not a pooling node.
    pub fn pool_windows(&self, id: NodeId) -> Vec<Vec<u32>> {
        assert!(
            matches!(self.node(id).op, Op::MaxPool2d { .. } | Op::AvgPool2d { .. }),
            "pool_windows of node {id} ('{}'), not a pooling node",
            self.node(id).name
        );
        self.window(id).inputs_of_windows()
    }
}

/// The responses of a dense or conv node to each unit of its input: column `u` of the node's
/// linear part (no bias), what a change of input unit `u` alone adds to the output. Adding a few
/// columns replaces a whole matrix product when an input row differs from a known one in few
/// units.
pub struct UnitResponses<T> {
    node: NodeId,
    kind: Responses<T>,
}

enum Responses<T> {
    /// The weights transposed, `inputs x outputs`: row `u` is the response to unit `u`.
    Dense { outputs: usize, weights_t: Vec<T> },
    /// The conv weights `[cout, cin / groups, kh, kw]` and the geometry of one channel group
    /// (its window maps an input pixel to the output positions whose windows read it).
    Conv { weight: Vec<T>, group: crate::conv::ConvGroup },
}

impl<T: Scalar> UnitResponses<T> {
    /// The responses of node `id`, when it is a dense or conv node.
    pub fn of(net: &Network<T>, id: NodeId) -> Option<Self> {
        let weight = net.params(id).tensors.first()?;
        let kind = match net.node(id).op {
            Op::Dense { in_features, out_features, .. } => {
                let mut weights_t = vec![T::zero(); weight.len()];
                for (o, row) in weight.chunks(in_features).enumerate() {
                    row.iter().enumerate().for_each(|(i, &w)| weights_t[i * out_features + o] = w);
                }
                Responses::Dense { outputs: out_features, weights_t }
            }
            Op::Conv2d { .. } => Responses::Conv { weight: weight.clone(), group: net.conv_group(id).0 },
            _ => return None,
        };
        Some(Self { node: id, kind })
    }

    /// The node these are the responses of.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// Whether the node is a convolution (its responses are strided patches, not contiguous
    /// columns).
    pub fn is_conv(&self) -> bool {
        matches!(self.kind, Responses::Conv { .. })
    }

    /// How many outputs one unit's response touches, at most.
    pub fn outputs_per_unit(&self) -> usize {
        match &self.kind {
            Responses::Dense { outputs, .. } => *outputs,
            Responses::Conv { group, .. } => group.window.kernel[0] * group.window.kernel[1] * group.cout,
        }
    }

    /// Multiply-adds of the node's linear part applied to one whole input row.
    pub fn row_cost(&self) -> usize {
        match &self.kind {
            Responses::Dense { weights_t, .. } => weights_t.len(),
            Responses::Conv { weight, group } => weight.len() * group.window.out_len(),
        }
    }

    /// Add `scale` times the response to input unit `unit` to the output row `dst`.
    // Always inlined, so that callers compiled for wider vectors (the slice engine's AVX2
    // loops) vectorise it too; elementwise, so the same bits either way.
    #[inline(always)]
    pub fn add(&self, dst: &mut [T], unit: usize, scale: T) {
        match &self.kind {
            Responses::Dense { outputs, weights_t } => {
                let w = &weights_t[unit * outputs..(unit + 1) * outputs];
                dst.iter_mut().zip(w).for_each(|(d, &w)| *d += scale * w);
            }
            Responses::Conv { weight, group } => {
                let window = &group.window;
                let (in_len, out_len, [kh, kw]) = (window.in_len(), window.out_len(), window.kernel);
                let (channel, pixel) = (unit / in_len, unit % in_len);
                // The input channel's group, and its place among the group's input channels.
                let (g, c) = (channel / window.channels, channel % window.channels);
                let (y, x) = (pixel / window.in_hw[1], pixel % window.in_hw[1]);
                let stride_co = window.channels * kh * kw;
                for (ky, oy) in window.readers(0, y) {
                    for (kx, ox) in window.readers(1, x) {
                        let tap = (c * kh + ky) * kw + kx;
                        for co in g * group.cout..(g + 1) * group.cout {
                            dst[co * out_len + oy * window.out_hw[1] + ox] += scale * weight[co * stride_co + tap];
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, GraphBuilder, NodePattern, OffsetRows, Tensor};
    use rand::{Rng, SeedableRng};

    #[test]
    fn pool_windows_reproduce_the_forward_winners() {
        // The last two have ceil-mode partial windows at the right border.
        let pools = [
            ([2, 2], [2, 2], [0, 0], false),
            ([3, 3], [2, 2], [1, 1], false),
            ([2, 3], [1, 2], [1, 1], false),
            ([3, 3], [2, 2], [0, 0], true),
            ([2, 2], [2, 2], [1, 1], true),
        ];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        for (kernel, stride, padding, ceil_mode) in pools {
            let mut b = GraphBuilder::new(&[2, 5, 6]);
            b.push("pool", Op::MaxPool2d { kernel, stride, padding, ceil_mode }, &[0]);
            let net = b.build::<f64>().unwrap();
            let windows = net.pool_windows(1);
            for _ in 0..20 {
                // Few distinct values, so ties are common.
                let x: Vec<f64> = (0..60).map(|_| f64::from(rng.random_range(0..3u8))).collect();
                let Some(NodePattern::Winners(winners)) = net.pattern_at(&x).unwrap().nodes[1].clone() else {
                    panic!("no winners")
                };
                let first_max = |w: &Vec<u32>| {
                    *w.iter().reduce(|best, i| if x[*i as usize] > x[*best as usize] { i } else { best }).unwrap()
                };
                let ours: Vec<u32> = windows.iter().map(first_max).collect();
                assert_eq!(ours, winners, "kernel {kernel:?} stride {stride:?} padding {padding:?}");
            }
        }
    }

    /// Every response equals the node's linear part applied to the unit vector, for a dense
    /// node, a conv whose windows are clipped at the edges (stride 2, padding 1, 3x3 kernel on
    /// a 5x5 image) and a grouped conv (2 groups).
    #[test]
    fn responses_equal_the_linear_part_on_unit_vectors() {
        let mut b = GraphBuilder::new(&[2, 5, 5]);
        let act = b.activation(0, Activation::Relu);
        let conv = b.conv3x3(act, 2, 4, 2, true);
        let grouped = Op::Conv2d {
            in_channels: 4,
            out_channels: 6,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            bias: false,
            groups: 2,
        };
        let conv = b.push("grouped", grouped, &[conv]);
        let flat = b.flatten(conv);
        b.dense(flat, 54, 4);
        let mut net: Network<f64> = b.build().unwrap();
        net.init_pytorch_default(9, 1.0);
        assert!(UnitResponses::of(&net, act).is_none());
        for id in [conv - 1, conv, flat + 1] {
            let responses = UnitResponses::of(&net, id).unwrap();
            let input_shape = net.shape(net.node(id).inputs[0]).to_vec();
            let width: usize = input_shape.iter().product();
            for unit in 0..width {
                let mut e = Tensor::zeros(1, &input_shape);
                e.data[unit] = 1.0;
                let expected = net.apply_affine(id, &[&e], OffsetRows::None);
                let mut got = vec![0.0; expected.data.len()];
                responses.add(&mut got, unit, 1.0);
                for (g, e) in got.iter().zip(&expected.data) {
                    assert!((g - e).abs() < 1e-15, "node {id} unit {unit}: {g} vs {e}");
                }
            }
        }
    }

    #[test]
    fn last_uses_name_the_last_reader_and_keep_the_output() {
        let mut b = GraphBuilder::new(&[3]);
        let a = b.dense(0, 3, 3);
        let r = b.activation(a, Activation::Relu);
        let sum = b.push("sum", Op::Add, &[r, a]);
        b.dense(sum, 3, 1);
        let net = b.build::<f64>().unwrap();
        assert_eq!(net.last_uses(), vec![1, 3, 3, 4, usize::MAX]);
    }
}
