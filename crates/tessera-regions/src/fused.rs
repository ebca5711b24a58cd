//! The linear node that a kinked layer feeds, applied to the layer's pieces cheaply.
//!
//! A piece of a cell differs from its parent's base states in a few units, so the node's output
//! on the piece is its output on the parent's base states plus, for each differing unit, the
//! change of that unit times the node's response to it (a column of its linear map: a weight
//! column for a dense node, a kernel-sized patch for a convolution). This replaces most of the
//! dense and conv products of a partition.

use crate::kink::KinkLayer;
use tessera_net::{Network, NodeId, Op};

/// A dense or conv node fed only by a kinked layer (for dense, perhaps through flattens).
pub(crate) struct FusedLinear {
    pub node: NodeId,
    columns: Columns,
}

/// How to find the node's response to one input unit.
enum Columns {
    /// The weights transposed, `inputs x outputs`: row `u` is the response to unit `u`.
    Dense { outputs: usize, weights_t: Vec<f64> },
    /// The conv weights `[cout, cin, kh, kw]` and the geometry that maps an input pixel to the
    /// output positions whose windows read it.
    Conv { weight: Vec<f64>, cin: usize, cout: usize, in_hw: [usize; 2], out_hw: [usize; 2], op: Op },
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
        if !feeds(prev, node) {
            return None;
        }
        let weight = &net.params(node).tensors.first()?;
        let columns = match net.node(node).op {
            Op::Dense { in_features, out_features, .. } => {
                let weights_t = (0..in_features)
                    .flat_map(|i| (0..out_features).map(move |o| weight[o * in_features + i]))
                    .collect();
                Columns::Dense { outputs: out_features, weights_t }
            }
            Op::Conv2d { in_channels, out_channels, .. } if prev == layer.node => {
                let (input, output) = (net.shape(prev), net.shape(node));
                Columns::Conv {
                    weight: weight.to_vec(),
                    cin: in_channels,
                    cout: out_channels,
                    in_hw: [input[1], input[2]],
                    out_hw: [output[1], output[2]],
                    op: net.node(node).op.clone(),
                }
            }
            _ => return None,
        };
        Some(Self { node, columns })
    }

    /// Whether adding `units` columns costs less than applying the node to a row directly.
    /// Measured on the MNIST MLP and the small CIFAR CNN: a dense column (contiguous) costs
    /// about four multiply-adds of a matrix product per multiply-add, a conv column (strided
    /// over output channels) about thirty-two.
    pub fn columns_pay(&self, units: usize) -> bool {
        let (column, direct, slowdown) = match &self.columns {
            Columns::Dense { outputs, weights_t } => (*outputs, weights_t.len(), 4),
            Columns::Conv { weight, out_hw, cout, op, .. } => {
                let Op::Conv2d { kernel, .. } = *op else { unreachable!("conv columns of a conv") };
                (kernel[0] * kernel[1] * cout, weight.len() * out_hw[0] * out_hw[1], 32)
            }
        };
        slowdown * units * column <= direct
    }

    /// Add `change` times the node's response to input unit `unit` to the output row `dst`.
    pub fn add_column(&self, dst: &mut [f64], unit: usize, change: f64) {
        match &self.columns {
            Columns::Dense { outputs, weights_t } => {
                let w = &weights_t[unit * outputs..(unit + 1) * outputs];
                dst.iter_mut().zip(w).for_each(|(d, &w)| *d += change * w);
            }
            Columns::Conv { weight, cin, cout, in_hw, out_hw, op } => {
                let Op::Conv2d { kernel, stride, padding, .. } = *op else { unreachable!("conv columns of a conv") };
                let (c, pixel) = (unit / (in_hw[0] * in_hw[1]), unit % (in_hw[0] * in_hw[1]));
                let (y, x) = (pixel / in_hw[1], pixel % in_hw[1]);
                let out_len = out_hw[0] * out_hw[1];
                for (ky, oy) in readers(y, kernel[0], stride[0], padding[0], out_hw[0]) {
                    for (kx, ox) in readers(x, kernel[1], stride[1], padding[1], out_hw[1]) {
                        let tap = (c * kernel[0] + ky) * kernel[1] + kx;
                        let stride_co = cin * kernel[0] * kernel[1];
                        for co in 0..*cout {
                            dst[co * out_len + oy * out_hw[1] + ox] += change * weight[co * stride_co + tap];
                        }
                    }
                }
            }
        }
    }
}

/// The `(kernel offset, output position)` pairs along one axis whose window reads input
/// position `pos`: `out * stride + offset - padding == pos`.
fn readers(
    pos: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    out: usize,
) -> impl Iterator<Item = (usize, usize)> {
    (0..kernel).filter_map(move |k| {
        let t = (pos + padding).checked_sub(k)?;
        (t % stride == 0 && t / stride < out).then_some((k, t / stride))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kink::kink_layers;
    use tessera_net::{GraphBuilder, OffsetRows, Tensor};

    /// The conv column of every input unit equals the conv's linear part applied to the unit
    /// vector (stride 2, padding 1, 3x3 kernel on a 5x5 image: windows clipped at the edges).
    #[test]
    fn conv_columns_equal_the_linear_part_on_unit_vectors() {
        let mut b = GraphBuilder::new(&[2, 5, 5]);
        let act = b.activation(0, tessera_net::Activation::Relu);
        b.conv3x3(act, 2, 3, 2, true);
        let mut net: Network<f64> = b.build().unwrap();
        net.init_pytorch_default(9, 1.0);
        let last_use = vec![1, 2, usize::MAX];
        let fused = FusedLinear::after(&net, &last_use, &kink_layers(&net)[0]).unwrap();
        let n: usize = net.shape(2).iter().product();
        for unit in 0..50 {
            let mut e = Tensor::zeros(1, &[2, 5, 5]);
            e.data[unit] = 1.0;
            let expected = net.apply_affine(2, &[&e], OffsetRows::None);
            let mut got = vec![0.0; n];
            fused.add_column(&mut got, unit, 1.0);
            for (g, e) in got.iter().zip(&expected.data) {
                assert!((g - e).abs() < 1e-15, "unit {unit}: {g} vs {e}");
            }
        }
    }
}
