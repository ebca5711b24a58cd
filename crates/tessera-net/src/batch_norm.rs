//! Batch norm in training mode, one channel at a time: the statistics, the normalisation and
//! the backward pass of a channel run back to back over its blocks (one per sample) while
//! they are in cache, in parallel over channels, optionally fused with the activation that
//! follows (its output in the same pass forward, its slope applied to the gradient backward).
//!
//! The arithmetic per element and the order of the sums over blocks are those of the separate
//! passes; within a block, sums run in eight lanes (`fast_sum`), so results differ from plain
//! sequential sums by floating-point reassociation only.

use crate::backward::{centered_dot, scale_where_negative};
use crate::forward::{with_element_fn, BatchStats, ElementFn, Tape};
use crate::op::{Activation, Mode, Op};
use crate::scalar::{fast_sum, fast_sum_of};
use crate::{Network, NodeId, Scalar};
use rayon::prelude::*;

/// The `spatial`-long blocks of a batch of `channels`-channel samples, grouped by channel:
/// `result[c]` holds channel `c`'s block of every sample, in sample order.
fn channel_planes<T>(data: &[T], channels: usize, spatial: usize) -> Vec<Vec<&[T]>> {
    let mut planes: Vec<Vec<&[T]>> = (0..channels).map(|_| Vec::new()).collect();
    for (i, block) in data.chunks(spatial).enumerate() {
        planes[i % channels].push(block);
    }
    planes
}

/// `channel_planes` of a mutable batch.
fn channel_planes_mut<T>(data: &mut [T], channels: usize, spatial: usize) -> Vec<Vec<&mut [T]>> {
    let mut planes: Vec<Vec<&mut [T]>> = (0..channels).map(|_| Vec::new()).collect();
    for (i, block) in data.chunks_mut(spatial).enumerate() {
        planes[i % channels].push(block);
    }
    planes
}

/// The layout of one batch-norm input: a batch of `channels x spatial` samples.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChannelLayout {
    pub(crate) channels: usize,
    pub(crate) spatial: usize,
}

/// Normalise `x` with its batch statistics into `out` (`gamma`, `beta` per channel), and, with
/// `activation`, write the activation of `out` into `activated` in the same pass.
pub(crate) fn forward_train<T: Scalar>(
    layout: ChannelLayout,
    x: &[T],
    (gamma, beta, eps): (&[T], &[T], T),
    out: &mut [T],
    activated: Option<(Activation, &mut [T])>,
) -> BatchStats<T> {
    let ChannelLayout { channels, spatial } = layout;
    let count = x.len() / channels;
    let n = T::from_f64(count as f64);
    let inputs = channel_planes(x, channels, spatial);
    let outputs = channel_planes_mut(out, channels, spatial);
    let (activation, activated) = match activated {
        Some((a, data)) => (Some(a), channel_planes_mut(data, channels, spatial)),
        None => (None, (0..channels).map(|_| Vec::new()).collect()),
    };
    let stats: Vec<(T, T, T)> = inputs
        .into_par_iter()
        .zip(outputs)
        .zip(activated)
        .enumerate()
        .map(|(c, ((xs, mut ys), mut acts))| {
            let mean = xs.iter().map(|b| fast_sum(b)).sum::<T>() / n;
            let var = xs.iter().map(|b| fast_sum_of(b, |v| (v - mean) * (v - mean))).sum::<T>() / n;
            let inv_std = T::one() / (var + eps).sqrt();
            let (g, b) = (gamma[c], beta[c]);
            for (yb, xb) in ys.iter_mut().zip(&xs) {
                yb.iter_mut().zip(xb.iter()).for_each(|(y, &v)| *y = (v - mean) * inv_std * g + b);
            }
            if let Some(activation) = activation {
                for (ab, yb) in acts.iter_mut().zip(&ys) {
                    with_element_fn(activation, MapSlice { from: yb, to: ab });
                }
            }
            (mean, var, inv_std)
        })
        .collect();
    let mut result = BatchStats { mean: Vec::new(), var: Vec::new(), inv_std: Vec::new(), count };
    for (mean, var, inv_std) in stats {
        result.mean.push(mean);
        result.var.push(var);
        result.inv_std.push(inv_std);
    }
    result
}

/// `to[i] = f(from[i])`.
struct MapSlice<'a, T> {
    from: &'a [T],
    to: &'a mut [T],
}

impl<T: Scalar> ElementFn<T> for MapSlice<'_, T> {
    type Output = ();
    fn apply(self, f: impl Fn(T) -> T + Copy + Send + Sync) {
        self.to.iter_mut().zip(self.from).for_each(|(t, &v)| *t = f(v));
    }
}

/// What the backward pass of one batch-norm node reads besides the gradient.
pub(crate) struct BackwardInputs<'a, T> {
    /// The node's input.
    pub(crate) x: &'a [T],
    /// The mean and `1 / sqrt(var + eps)` per channel the forward pass normalised with.
    pub(crate) mean: &'a [T],
    pub(crate) inv_std: &'a [T],
    /// Whether those were the batch's statistics (training mode; they then depend on `x`) or
    /// the running ones (evaluation mode: the node is a fixed affine map).
    pub(crate) batch_statistics: bool,
    /// The elements per channel in the batch.
    pub(crate) count: usize,
    /// The scale per channel.
    pub(crate) gamma: &'a [T],
    /// A fused activation's slope on the negative side and the node's output (the
    /// activation's pre-activation): `g` arrives as the activation's output gradient.
    pub(crate) activation: Option<(T, &'a [T])>,
}

/// Turn `g`, the gradient of the node's output (or of the fused activation's output), into the
/// gradient of its input, in place; returns the gradients of gamma and beta per channel.
pub(crate) fn backward<T: Scalar>(layout: ChannelLayout, inputs: &BackwardInputs<T>, g: &mut [T]) -> (Vec<T>, Vec<T>) {
    let ChannelLayout { channels, spatial } = layout;
    let n = T::from_f64(inputs.count as f64);
    let xs = channel_planes(inputs.x, channels, spatial);
    let gs = channel_planes_mut(g, channels, spatial);
    let pres = match inputs.activation {
        Some((_, pre)) => channel_planes(pre, channels, spatial),
        None => (0..channels).map(|_| Vec::new()).collect(),
    };
    let slope = inputs.activation.map(|(slope, _)| slope);
    xs.into_par_iter()
        .zip(gs)
        .zip(pres)
        .enumerate()
        .map(|(c, ((xs, mut gs), pres))| {
            let (mean, inv_std) = (inputs.mean[c], inputs.inv_std[c]);
            if let Some(slope) = slope {
                for (gb, pb) in gs.iter_mut().zip(&pres) {
                    scale_where_negative(gb, pb, slope);
                }
            }
            let (sum_g, sum_gx) = xs.iter().zip(&gs).fold((T::zero(), T::zero()), |(sg, sgx), (xb, gb)| {
                (sg + fast_sum(gb), sgx + centered_dot(xb, mean, gb))
            });
            let sum_gx = sum_gx * inv_std;
            let k = inputs.gamma[c] * inv_std;
            if !inputs.batch_statistics {
                gs.iter_mut().for_each(|gb| gb.iter_mut().for_each(|d| *d *= k));
                return (sum_gx, sum_g);
            }
            let (mean_g, mean_gx) = (sum_g / n, sum_gx / n);
            for (gb, xb) in gs.iter_mut().zip(&xs) {
                for (d, &xv) in gb.iter_mut().zip(xb.iter()) {
                    let xhat = (xv - mean) * inv_std;
                    *d = k * (*d - mean_g - xhat * mean_gx);
                }
            }
            (sum_gx, sum_g)
        })
        .unzip()
}

/// The slope on the negative side of an activation that is a scale there and 1 elsewhere (all
/// but the clamp), the kind a batch norm runs fused with.
fn negative_side_slope(activation: Activation) -> Option<f64> {
    match activation {
        Activation::Clamp { .. } => None,
        _ => Some(activation.slope_at(-1.0)),
    }
}

impl<T: Scalar> Network<T> {
    /// The activation that batch-norm node `bn`, run in `mode`, computes in its own pass: node
    /// `bn + 1` when it is an activation of `bn` alone (not a clamp), in training mode.
    pub(crate) fn fused_activation(&self, bn: NodeId, mode: Mode) -> Option<Activation> {
        let is_batch_norm = matches!(self.node(bn).op, Op::BatchNorm { .. });
        if mode != Mode::Train || !is_batch_norm || bn + 1 >= self.nodes().len() {
            return None;
        }
        let next = self.node(bn + 1);
        match next.op {
            Op::Activation { activation } if next.inputs == [bn] && negative_side_slope(activation).is_some() => {
                Some(activation)
            }
            _ => None,
        }
    }

    /// The batch-norm node whose backward pass runs fused with that of activation node `id`
    /// (which then is skipped): its forward pass ran fused (`fused_activation`) with batch
    /// statistics on `tape`, and `id` is the only node reading it. Returns the node and the
    /// activation's negative-side slope.
    pub(crate) fn fused_batch_norm_backward(
        &self,
        id: NodeId,
        tape: &Tape<T>,
        readers: &[usize],
    ) -> Option<(NodeId, T)> {
        let Op::Activation { activation } = self.node(id).op else { return None };
        let bn = id.checked_sub(1)?;
        let fused = self.fused_activation(bn, tape.mode) == Some(activation);
        let has_stats = tape.batch_stats.get(bn).is_some_and(Option::is_some);
        if !fused || !has_stats || readers[bn] != 1 {
            return None;
        }
        Some((bn, T::from_f64(negative_side_slope(activation)?)))
    }

    /// How many nodes read each node's output.
    pub(crate) fn reader_counts(&self) -> Vec<usize> {
        let mut readers = vec![0; self.nodes().len()];
        for node in self.nodes() {
            for &i in &node.inputs {
                readers[i] += 1;
            }
        }
        readers
    }
}

#[cfg(test)]
mod tests {
    use crate::{preact_resnet18, Activation, Mode, Network, Op};

    /// The ResNet's BN -> ReLU pairs are what the fusion is for: every batch norm qualifies in
    /// training mode (and its backward, read by the ReLU alone), none in evaluation mode.
    #[test]
    fn every_batch_norm_of_the_preact_resnet_runs_fused_with_its_relu_in_training_mode() {
        let net: Network<f32> = preact_resnet18([3, 32, 32], 2, 10, true).unwrap();
        let readers = net.reader_counts();
        let bns: Vec<usize> =
            (0..net.nodes().len()).filter(|&id| matches!(net.node(id).op, Op::BatchNorm { .. })).collect();
        assert_eq!(bns.len(), 16);
        for bn in bns {
            assert_eq!(net.fused_activation(bn, Mode::Train), Some(Activation::Relu));
            assert_eq!(net.fused_activation(bn, Mode::Eval), None);
            assert_eq!(readers[bn], 1);
        }
    }
}
