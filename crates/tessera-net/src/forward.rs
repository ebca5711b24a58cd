//! The forward pass: affine ops on batches of rows (points or directions), kinks, and the tape
//! that backward reads.

use crate::conv::{avg_pool_sample, conv_sample, max_pool_sample, ConvGroup, Window};
use crate::op::{Activation, Mode, Op};
use crate::scalar::{fast_sum, gemm, MatRef};
use crate::{NetError, Network, NodeId, Result, Scalar, Tensor};
use rayon::prelude::*;

/// Which rows of a batch receive an op's offset (bias, batch-norm shift).
///
/// Points get offsets; directions (differences of points, columns of a linear map) do not.
/// A batch of affine maps `c + sum_j u_j a_j` stores `c, a_1, .., a_k` as consecutive rows and
/// uses `EveryNth(k + 1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetRows {
    /// Every row is a point.
    All,
    /// No row is a point: all are directions.
    None,
    /// Rows `0, k, 2k, ..` are points (the offsets `c`), the rest directions.
    EveryNth(usize),
}

impl OffsetRows {
    /// Whether row `row` of a batch receives offsets.
    #[inline]
    pub fn applies(self, row: usize) -> bool {
        match self {
            OffsetRows::All => true,
            OffsetRows::None => false,
            OffsetRows::EveryNth(k) => row.is_multiple_of(k),
        }
    }
}

/// Statistics of a batch-norm node in training mode, kept for backward and running averages.
#[derive(Clone, Debug)]
pub struct BatchStats<T> {
    /// Batch mean per channel.
    pub mean: Vec<T>,
    /// Biased batch variance per channel (the one used to normalise).
    pub var: Vec<T>,
    /// `1 / sqrt(var + eps)` per channel.
    pub inv_std: Vec<T>,
    /// Elements per channel in the batch (batch x spatial).
    pub count: usize,
}

/// Everything a forward pass leaves behind for backward.
#[derive(Clone, Debug)]
pub struct Tape<T> {
    /// The batch-norm mode the pass ran in.
    pub mode: Mode,
    /// Output of every node (node 0 is the input).
    pub values: Vec<Tensor<T>>,
    /// Winning input index of every max-pool output.
    pub argmax: Vec<Option<Vec<u32>>>,
    /// Batch statistics of every batch-norm node run in training mode.
    pub batch_stats: Vec<Option<BatchStats<T>>>,
}

impl<T: Scalar> Tape<T> {
    /// The network's output (the last node's value).
    pub fn output(&self) -> &Tensor<T> {
        self.values.last().expect("tape of an empty network")
    }
}

/// Run `work` on a thread of rayon's pool. Called from outside the pool, every parallel op
/// would otherwise hand its work to the pool and put the calling thread to sleep; a whole pass
/// run inside the pool pays that hand-off once. Inside the pool it runs in place.
pub(crate) fn on_thread_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| work())
}

/// Elements per parallel task of elementwise work: below this, waking another thread costs
/// more than the work (a tensor this small runs inline, with no synchronisation).
pub(crate) const ELEMENTWISE_CHUNK: usize = 1 << 16;

/// Rows per parallel task: small batches are not worth splitting.
pub(crate) fn rows_per_task(rows: usize, cost_per_row: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let min_rows = (1 << 15) / cost_per_row.max(1) + 1;
    rows.div_ceil(threads).max(min_rows).max(1)
}

impl<T: Scalar> Network<T> {
    /// Window geometry of a conv or pooling node.
    pub(crate) fn window(&self, id: NodeId) -> Window {
        let input = self.shape(self.node(id).inputs[0]);
        let out = self.shape(id);
        let (kernel, stride, padding) = match self.node(id).op {
            Op::Conv2d { kernel, stride, padding, .. }
            | Op::AvgPool2d { kernel, stride, padding, .. }
            | Op::MaxPool2d { kernel, stride, padding, .. } => (kernel, stride, padding),
            _ => unreachable!("window of a non-window op"),
        };
        Window { channels: input[0], in_hw: [input[1], input[2]], out_hw: [out[1], out[2]], kernel, stride, padding }
    }

    /// The geometry of one channel group of conv node `id` (its window reads the group's
    /// input channels), and the number of groups.
    pub(crate) fn conv_group(&self, id: NodeId) -> (ConvGroup, usize) {
        let Op::Conv2d { in_channels, out_channels, groups, .. } = self.node(id).op else {
            unreachable!("conv_group of a non-conv node")
        };
        let window = Window { channels: in_channels / groups, ..self.window(id) };
        (ConvGroup { window, cout: out_channels / groups }, groups)
    }

    /// Per-channel `(scale, shift)` of a batch-norm node in evaluation mode.
    pub fn batch_norm_affine(&self, id: NodeId) -> (Vec<T>, Vec<T>) {
        let Op::BatchNorm { eps, .. } = self.node(id).op else { unreachable!("not a batch norm") };
        let p = self.params(id);
        let running = p.running.as_ref().expect("batch norm without running statistics");
        let eps = T::from_f64(eps);
        let scale: Vec<T> = p.tensors[0].iter().zip(&running.var).map(|(&g, &v)| g / (v + eps).sqrt()).collect();
        let shift = p.tensors[1].iter().zip(&scale).zip(&running.mean).map(|((&b, &s), &m)| b - s * m).collect();
        (scale, shift)
    }

    /// Apply affine node `id` (every op but activations and max pooling; batch norm in
    /// evaluation mode) to batches of rows, adding offsets only to the rows `offsets` selects.
    /// Row `r` of a node with several inputs (add, concat) combines row `r` of each.
    pub fn apply_affine(&self, id: NodeId, inputs: &[&Tensor<T>], offsets: OffsetRows) -> Tensor<T> {
        let node = self.node(id);
        let out_shape = self.shape(id).to_vec();
        let x = inputs[0];
        match node.op {
            Op::Input { .. } => x.clone().reshaped(&out_shape),
            Op::Flatten => x.clone().reshaped(&out_shape),
            Op::Dense { in_features, out_features, .. } => {
                let p = self.params(id);
                let mut out = Tensor::zeros(x.batch, &out_shape);
                let chunk = rows_per_task(x.batch, in_features * out_features);
                out.data.par_chunks_mut(chunk * out_features).zip(x.data.par_chunks(chunk * in_features)).for_each(
                    |(o, xi)| {
                        let rows = xi.len() / in_features;
                        gemm(
                            MatRef::new(xi, rows, in_features),
                            MatRef::transposed(&p.tensors[0], in_features, out_features),
                            T::zero(),
                            o,
                        );
                    },
                );
                if let Some(bias) = p.tensors.get(1) {
                    add_channel_offsets(&mut out, bias, 1, offsets);
                }
                out
            }
            Op::Conv2d { .. } => {
                let (group, groups) = self.conv_group(id);
                let w = group.window;
                let p = self.params(id);
                let mut out = Tensor::zeros(x.batch, &out_shape);
                let (in_w, out_w) = (x.width(), out.width());
                out.data.par_chunks_mut(out_w).zip(x.data.par_chunks(in_w)).for_each_init(
                    || vec![T::zero(); w.col_rows() * w.out_len()],
                    |col, (o, xi)| {
                        for g in 0..groups {
                            let (weight, xg, og) = group.slices(g, &p.tensors[0], xi, o);
                            conv_sample(&w, weight, group.cout, xg, col, og);
                        }
                    },
                );
                if let Some(bias) = p.tensors.get(1) {
                    add_channel_offsets(&mut out, bias, w.out_len(), offsets);
                }
                out
            }
            Op::AvgPool2d { .. } => {
                let w = self.window(id);
                let mut out = Tensor::zeros(x.batch, &out_shape);
                let (in_w, out_w) = (x.width(), out.width());
                out.data
                    .par_chunks_mut(out_w)
                    .zip(x.data.par_chunks(in_w))
                    .for_each(|(o, xi)| avg_pool_sample(&w, xi, o));
                out
            }
            Op::BatchNorm { channels, .. } => {
                let (scale, shift) = self.batch_norm_affine(id);
                let mut out = x.clone();
                let spatial = x.width() / channels;
                for row in out.data.chunks_mut(x.width()) {
                    for (c, block) in row.chunks_mut(spatial).enumerate() {
                        block.iter_mut().for_each(|v| *v *= scale[c]);
                    }
                }
                add_channel_offsets(&mut out, &shift, spatial, offsets);
                out
            }
            Op::Add => {
                let mut out = x.clone();
                out.data.iter_mut().zip(&inputs[1].data).for_each(|(a, &b)| *a += b);
                out
            }
            Op::Concat | Op::SliceChannels { .. } | Op::ChannelShuffle { .. } => {
                self.channel_route(id).forward(inputs, &out_shape)
            }
            Op::Activation { .. } | Op::MaxPool2d { .. } => {
                unreachable!("apply_affine on kinked node {id} ('{}')", node.name)
            }
        }
    }

    /// Check a batch's width against the input node and view it in the input shape.
    pub fn check_input(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        if x.data.len() != x.batch * x.width() {
            return Err(NetError::Invalid(format!(
                "input tensor holds {} values, not batch {} x sample width {}",
                x.data.len(),
                x.batch,
                x.width()
            )));
        }
        if x.width() != self.input_width() {
            return Err(NetError::InputWidth {
                got: x.width(),
                expected: self.input_width(),
                shape: self.input_shape().to_vec(),
            });
        }
        Ok(x.clone().reshaped(self.input_shape()))
    }

    /// Forward a batch through node `id` given its inputs; fills the tape extras.
    pub(crate) fn run_node(
        &self,
        id: NodeId,
        inputs: &[&Tensor<T>],
        mode: Mode,
        argmax: &mut Option<Vec<u32>>,
        stats: &mut Option<BatchStats<T>>,
    ) -> Tensor<T> {
        match self.node(id).op {
            Op::Activation { activation } => activated(activation, inputs[0]),
            Op::MaxPool2d { .. } => {
                let (out, idx) = self.max_pool(id, inputs[0]);
                *argmax = Some(idx);
                out
            }
            Op::BatchNorm { .. } if mode == Mode::Train => {
                let (out, s) = self.batch_norm_train(id, inputs[0]);
                *stats = Some(s);
                out
            }
            _ => self.apply_affine(id, inputs, OffsetRows::All),
        }
    }

    pub(crate) fn max_pool(&self, id: NodeId, x: &Tensor<T>) -> (Tensor<T>, Vec<u32>) {
        let w = self.window(id);
        let mut out = Tensor::zeros(x.batch, self.shape(id));
        let mut argmax = vec![0u32; out.data.len()];
        let (in_w, out_w) = (x.width(), out.width());
        out.data
            .par_chunks_mut(out_w)
            .zip(argmax.par_chunks_mut(out_w))
            .zip(x.data.par_chunks(in_w))
            .for_each(|((o, a), xi)| max_pool_sample(&w, xi, o, a));
        (out, argmax)
    }

    fn batch_norm_train(&self, id: NodeId, x: &Tensor<T>) -> (Tensor<T>, BatchStats<T>) {
        let Op::BatchNorm { channels, eps, .. } = self.node(id).op else { unreachable!() };
        let p = self.params(id);
        let spatial = x.width() / channels;
        let count = spatial * x.batch;
        let n = T::from_f64(count as f64);
        let mut mean = vec![T::zero(); channels];
        let mut var = vec![T::zero(); channels];
        for row in x.data.chunks(x.width()) {
            for (c, block) in row.chunks(spatial).enumerate() {
                mean[c] += fast_sum(block);
            }
        }
        mean.iter_mut().for_each(|m| *m = *m / n);
        for row in x.data.chunks(x.width()) {
            for (c, block) in row.chunks(spatial).enumerate() {
                var[c] += block.iter().map(|&v| (v - mean[c]) * (v - mean[c])).sum::<T>();
            }
        }
        var.iter_mut().for_each(|v| *v = *v / n);
        let inv_std: Vec<T> = var.iter().map(|&v| T::one() / (v + T::from_f64(eps)).sqrt()).collect();
        let mut out = x.clone();
        for row in out.data.chunks_mut(x.width()) {
            for (c, block) in row.chunks_mut(spatial).enumerate() {
                let (g, b) = (p.tensors[0][c], p.tensors[1][c]);
                block.iter_mut().for_each(|v| *v = (*v - mean[c]) * inv_std[c] * g + b);
            }
        }
        (out, BatchStats { mean, var, inv_std, count })
    }

    /// Run the network, keeping every node's output and what backward needs.
    pub fn forward_tape(&self, x: &Tensor<T>, mode: Mode) -> Result<Tape<T>> {
        let x = self.check_input(x)?;
        let n = self.nodes().len();
        let mut tape = Tape { mode, values: Vec::with_capacity(n), argmax: vec![None; n], batch_stats: vec![None; n] };
        tape.values.push(x);
        on_thread_pool(|| {
            for id in 1..n {
                let inputs: Vec<&Tensor<T>> = self.node(id).inputs.iter().map(|&i| &tape.values[i]).collect();
                let out = self.run_node(id, &inputs, mode, &mut tape.argmax[id], &mut tape.batch_stats[id]);
                tape.values.push(out);
            }
        });
        Ok(tape)
    }

    /// Run the network; intermediate outputs are dropped as soon as no later node reads them.
    /// With `taps`, also returns the pre-activation (input) of every activation node, in the
    /// order of `activation_ids`.
    pub fn forward_with_taps(&self, x: &Tensor<T>, mode: Mode, taps: bool) -> Result<(Tensor<T>, Vec<Tensor<T>>)> {
        let x = self.check_input(x)?;
        let mut values: Vec<Option<Tensor<T>>> = vec![None; self.nodes().len()];
        values[0] = Some(x);
        let tapped = self.run_nodes_from(1, &mut values, mode, taps);
        Ok((values.pop().flatten().expect("output"), tapped))
    }

    /// Run nodes `start..` on the pool, reading and filling `values` (one slot per node) and
    /// dropping each value after its last reader; returns the taps of the nodes run.
    pub(crate) fn run_nodes_from(
        &self,
        start: NodeId,
        values: &mut [Option<Tensor<T>>],
        mode: Mode,
        taps: bool,
    ) -> Vec<Tensor<T>> {
        let last_use = self.last_uses();
        let mut tapped = Vec::new();
        on_thread_pool(|| {
            for id in start..self.nodes().len() {
                let node = self.node(id);
                let out = {
                    let inputs: Vec<&Tensor<T>> =
                        node.inputs.iter().map(|&i| values[i].as_ref().expect("value dropped too early")).collect();
                    if taps && matches!(node.op, Op::Activation { .. }) {
                        tapped.push(inputs[0].clone());
                    }
                    self.run_node(id, &inputs, mode, &mut None, &mut None)
                };
                values[id] = Some(out);
                for &i in &node.inputs {
                    if last_use[i] == id {
                        values[i] = None;
                    }
                }
            }
        });
        tapped
    }

    /// The network's output on a batch.
    pub fn forward(&self, x: &Tensor<T>, mode: Mode) -> Result<Tensor<T>> {
        Ok(self.forward_with_taps(x, mode, false)?.0)
    }

    /// Fold the batch statistics of a training-mode tape into the running statistics
    /// (PyTorch: `running = (1 - momentum) * running + momentum * batch`, unbiased variance).
    pub fn update_running_stats(&mut self, tape: &Tape<T>) {
        for (id, stats) in tape.batch_stats.iter().enumerate() {
            let (Some(stats), Op::BatchNorm { momentum, .. }) = (stats, &self.node(id).op) else { continue };
            let m = T::from_f64(*momentum);
            let unbias = T::from_f64(stats.count as f64 / (stats.count.max(2) - 1) as f64);
            let running = self.params_mut(id).running.as_mut().expect("batch norm buffers");
            for c in 0..stats.mean.len() {
                running.mean[c] = (T::one() - m) * running.mean[c] + m * stats.mean[c];
                running.var[c] = (T::one() - m) * running.var[c] + m * stats.var[c] * unbias;
            }
        }
    }
}

/// Add `offset[c]` to each block of `spatial` elements of channel `c`, on the selected rows.
fn add_channel_offsets<T: Scalar>(out: &mut Tensor<T>, offset: &[T], spatial: usize, rows: OffsetRows) {
    let width = out.width();
    let rows_per_task = (ELEMENTWISE_CHUNK / width).max(1);
    out.data.par_chunks_mut(rows_per_task * width).enumerate().for_each(|(task, chunk)| {
        for (r, row) in chunk.chunks_mut(width).enumerate() {
            if !rows.applies(task * rows_per_task + r) {
                continue;
            }
            if spatial == 1 {
                row.iter_mut().zip(offset).for_each(|(v, &o)| *v += o);
            } else {
                for (block, &o) in row.chunks_mut(spatial).zip(offset) {
                    block.iter_mut().for_each(|v| *v += o);
                }
            }
        }
    });
}

/// The activation of every element of `x`, as a new tensor (one pass, no copy first). The
/// element functions are selects, not branches: pre-activation signs are unpredictable, and
/// selects vectorise.
pub(crate) fn activated<T: Scalar>(activation: Activation, x: &Tensor<T>) -> Tensor<T> {
    let zero = T::zero();
    let data = match activation {
        Activation::Relu => map_elements(&x.data, |v| if v < zero { zero } else { v }),
        Activation::LeakyRelu { slope } => {
            let s = T::from_f64(slope);
            map_elements(&x.data, move |v| if v < zero { v * s } else { v })
        }
        Activation::Abs => map_elements(&x.data, |v| v.abs()),
        Activation::Clamp { lo, hi } => {
            let (lo, hi) = (T::from_f64(lo), T::from_f64(hi));
            map_elements(&x.data, move |v| {
                if v < lo {
                    lo
                } else if v >= hi {
                    hi
                } else {
                    v
                }
            })
        }
    };
    Tensor { shape: x.shape.clone(), batch: x.batch, data }
}

/// `f` of every element, computed in parallel chunks straight into the new vector.
fn map_elements<T: Scalar>(data: &[T], f: impl Fn(T) -> T + Sync + Send) -> Vec<T> {
    let chunk = ELEMENTWISE_CHUNK;
    let mut out = Vec::with_capacity(data.len());
    out.spare_capacity_mut()[..data.len()].par_chunks_mut(chunk).zip(data.par_chunks(chunk)).for_each(|(o, x)| {
        o.iter_mut().zip(x).for_each(|(o, &v)| {
            o.write(f(v));
        })
    });
    // SAFETY: the loop above initialised all `data.len()` elements.
    unsafe { out.set_len(data.len()) };
    out
}
