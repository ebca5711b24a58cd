//! Ops that route whole channels: concatenation, channel slices and channel shuffles. Every
//! output channel is a copy of one input channel, so forward copies blocks and backward adds
//! them back; no channel is read twice.

use crate::forward::ELEMENTWISE_CHUNK;
use crate::op::Op;
use crate::{Network, NodeId, Scalar, Tensor};
use rayon::prelude::*;

/// A run of consecutive output channels copied from consecutive channels of one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    /// Which input of the node.
    input: usize,
    /// The input's first channel copied.
    from: usize,
    /// The first output channel written.
    to: usize,
    /// Channels in the run.
    len: usize,
}

/// Where the output channels of a routing node come from.
pub(crate) struct ChannelRoute {
    /// Values per channel (the product of the sample dimensions after the first).
    spatial: usize,
    runs: Vec<Run>,
}

impl<T: Scalar> Network<T> {
    /// The route of a concat, channel-slice or channel-shuffle node.
    pub(crate) fn channel_route(&self, id: NodeId) -> ChannelRoute {
        let node = self.node(id);
        let out = self.shape(id);
        let spatial = out[1..].iter().product();
        let runs = match node.op {
            Op::Concat => {
                let mut to = 0;
                let mut runs = Vec::with_capacity(node.inputs.len());
                for (input, &i) in node.inputs.iter().enumerate() {
                    let len = self.shape(i)[0];
                    runs.push(Run { input, from: 0, to, len });
                    to += len;
                }
                runs
            }
            Op::SliceChannels { start, end } => vec![Run { input: 0, from: start, to: 0, len: end - start }],
            Op::ChannelShuffle { groups } => {
                let per_group = out[0] / groups;
                (0..out[0])
                    .map(|to| Run { input: 0, from: (to % groups) * per_group + to / groups, to, len: 1 })
                    .collect()
            }
            _ => unreachable!("channel_route of node {id} ('{}'), which does not route channels", node.name),
        };
        ChannelRoute { spatial, runs }
    }
}

/// Rows per parallel task of a copy of rows `width` wide.
fn rows_per_task(width: usize) -> usize {
    (ELEMENTWISE_CHUNK / width.max(1)).max(1)
}

impl ChannelRoute {
    /// The routed batch: row `r` of the output is assembled from row `r` of each input.
    pub(crate) fn forward<T: Scalar>(&self, inputs: &[&Tensor<T>], out_shape: &[usize]) -> Tensor<T> {
        let batch = inputs[0].batch;
        let mut out = Tensor::zeros(batch, out_shape);
        let width = out.width();
        let widths: Vec<usize> = inputs.iter().map(|x| x.width()).collect();
        let rows = rows_per_task(width);
        out.data.par_chunks_mut(rows * width).enumerate().for_each(|(task, chunk)| {
            for (k, row) in chunk.chunks_mut(width).enumerate() {
                let r = task * rows + k;
                for run in &self.runs {
                    let (n, w) = (run.len * self.spatial, widths[run.input]);
                    let src = &inputs[run.input].data[r * w + run.from * self.spatial..][..n];
                    row[run.to * self.spatial..][..n].copy_from_slice(src);
                }
            }
        });
        out
    }

    /// The adjoint: the gradient of each input (of the given shapes) from the output's `g`.
    pub(crate) fn backward<T: Scalar>(&self, g: &Tensor<T>, input_shapes: &[&[usize]]) -> Vec<Tensor<T>> {
        let width = g.width();
        input_shapes
            .iter()
            .enumerate()
            .map(|(input, shape)| {
                let mut dx = Tensor::zeros(g.batch, shape);
                let in_width = dx.width();
                let runs: Vec<&Run> = self.runs.iter().filter(|run| run.input == input).collect();
                let rows = rows_per_task(in_width);
                dx.data.par_chunks_mut(rows * in_width).enumerate().for_each(|(task, chunk)| {
                    for (k, row) in chunk.chunks_mut(in_width).enumerate() {
                        let r = task * rows + k;
                        for run in &runs {
                            let n = run.len * self.spatial;
                            let src = &g.data[r * width + run.to * self.spatial..][..n];
                            let dst = &mut row[run.from * self.spatial..][..n];
                            dst.iter_mut().zip(src).for_each(|(d, &s)| *d += s);
                        }
                    }
                });
                dx
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::{GraphBuilder, Mode, Network, Op, Tensor};

    fn single(op: Op, shape: &[usize]) -> Network<f64> {
        let mut b = GraphBuilder::new(shape);
        b.push("op", op, &[0]);
        b.build().unwrap()
    }

    #[test]
    fn channel_shuffle_of_six_channels_in_two_groups_interleaves_the_halves() {
        let net = single(Op::ChannelShuffle { groups: 2 }, &[6, 1, 1]);
        let x = Tensor::from_vec(&[6, 1, 1], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!(net.forward(&x, Mode::Eval).unwrap().data, [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    }

    #[test]
    fn slice_channels_keeps_the_channel_range_with_its_pixels() {
        let net = single(Op::SliceChannels { start: 1, end: 3 }, &[3, 1, 2]);
        let x = Tensor::from_vec(&[3, 1, 2], (0..12).map(f64::from).collect()).unwrap();
        assert_eq!(net.forward(&x, Mode::Eval).unwrap().data, [2.0, 3.0, 4.0, 5.0, 8.0, 9.0, 10.0, 11.0]);
    }
}
