//! The forward pass: affine ops on batches of rows (points or directions), kinks, and the tape
//! that backward reads.

use crate::batch_norm::{self, ChannelLayout};
use crate::conv::{
    avg_pool_sample, conv_samples, max_pool_sample, samples_per_gemm, samples_per_task, ConvGroup, ConvScratch,
    ConvTask, Window,
};
use crate::direct_conv::{self, as_f32, as_f32_mut, as_f32_vec, Planes};
use crate::op::{Activation, Mode, Op};
use crate::scalar::{par_gemm, MatRef};
use crate::simd::with_avx512;
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
    /// The convolutions' buffers, reused by the next pass into this tape.
    conv: ConvScratch<T>,
}

impl<T: Scalar> Tape<T> {
    /// A tape holding nothing yet (for `Network::forward_tape_into` to fill).
    pub fn empty() -> Self {
        Self {
            mode: Mode::Eval,
            values: Vec::new(),
            argmax: Vec::new(),
            batch_stats: Vec::new(),
            conv: ConvScratch::default(),
        }
    }

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
        let mut out = Tensor::empty();
        self.apply_affine_into(id, inputs, offsets, &mut out);
        out
    }

    /// `apply_affine` writing into `out`, whose buffer is reused (a training loop's tape).
    pub fn apply_affine_into(&self, id: NodeId, inputs: &[&Tensor<T>], offsets: OffsetRows, out: &mut Tensor<T>) {
        self.apply_affine_reusing(id, inputs, offsets, out, &mut ConvScratch::default());
    }

    /// `apply_affine_into` with a convolution's buffers taken from `conv`.
    fn apply_affine_reusing(
        &self,
        id: NodeId,
        inputs: &[&Tensor<T>],
        offsets: OffsetRows,
        out: &mut Tensor<T>,
        conv: &mut ConvScratch<T>,
    ) {
        let node = self.node(id);
        let out_shape = self.shape(id);
        let x = inputs[0];
        match node.op {
            Op::Input { .. } | Op::Flatten => out.copy_reshaped(x, out_shape),
            Op::Dense { in_features, out_features, .. } => {
                let p = self.params(id);
                out.prepare(x.batch, out_shape);
                par_gemm(
                    MatRef::new(&x.data, x.batch, in_features),
                    MatRef::transposed(&p.tensors[0], in_features, out_features),
                    T::zero(),
                    &mut out.data,
                );
                if let Some(bias) = p.tensors.get(1) {
                    add_channel_offsets(out, bias, 1, offsets);
                }
            }
            Op::Conv2d { .. } => {
                let (group, groups) = self.conv_group(id);
                let w = group.window;
                let p = self.params(id);
                out.prepare(x.batch, out_shape);
                if direct_conv::applies::<T>(&group, groups) {
                    direct_conv_forward(
                        &group,
                        as_f32(&p.tensors[0]),
                        as_f32(&x.data),
                        as_f32_mut(&mut out.data),
                        conv,
                    );
                } else {
                    let (in_w, out_w, per_gemm) = (x.width(), out.width(), samples_per_gemm(&w));
                    let per_task = samples_per_task(x.batch, per_gemm);
                    let (_, tasks) = conv.split(x.batch.div_ceil(per_task));
                    let parts = out.data.par_chunks_mut(per_task * out_w).zip(x.data.par_chunks(per_task * in_w));
                    parts.zip(tasks).for_each(|((o, xs), ConvTask { col, wide, .. })| {
                        for (o, xi) in o.chunks_mut(per_gemm * out_w).zip(xs.chunks(per_gemm * in_w)) {
                            conv_samples(&group, groups, &p.tensors[0], xi, o, xi.len() / in_w, col, wide);
                        }
                    });
                }
                if let Some(bias) = p.tensors.get(1) {
                    add_channel_offsets(out, bias, w.out_len(), offsets);
                }
            }
            Op::AvgPool2d { .. } => {
                let w = self.window(id);
                out.prepare(x.batch, out_shape);
                let (in_w, out_w) = (x.width(), out.width());
                out.data
                    .par_chunks_mut(out_w)
                    .zip(x.data.par_chunks(in_w))
                    .for_each(|(o, xi)| avg_pool_sample(&w, xi, o));
            }
            Op::BatchNorm { channels, .. } => {
                let (scale, shift) = self.batch_norm_affine(id);
                out.copy_reshaped(x, out_shape);
                let spatial = x.width() / channels;
                let chunk = (ELEMENTWISE_CHUNK / x.width()).max(1) * x.width();
                out.data.par_chunks_mut(chunk).for_each(|rows| {
                    for (c, block) in rows.chunks_mut(spatial).enumerate() {
                        let s = scale[c % channels];
                        block.iter_mut().for_each(|v| *v *= s);
                    }
                });
                add_channel_offsets(out, &shift, spatial, offsets);
            }
            Op::Add => {
                out.copy_reshaped(x, out_shape);
                let chunk = ELEMENTWISE_CHUNK;
                out.data.par_chunks_mut(chunk).zip(inputs[1].data.par_chunks(chunk)).for_each(|(a, b)| {
                    a.iter_mut().zip(b).for_each(|(a, &b)| *a += b);
                });
            }
            Op::Concat | Op::SliceChannels { .. } | Op::ChannelShuffle { .. } => {
                *out = self.channel_route(id).forward(inputs, out_shape)
            }
            Op::Activation { .. } | Op::MaxPool2d { .. } => {
                unreachable!("apply_affine on kinked node {id} ('{}')", node.name)
            }
        }
    }

    /// Check a batch's width against the input node and view it in the input shape.
    pub fn check_input(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        self.validate_input(x)?;
        Ok(x.clone().reshaped(self.input_shape()))
    }

    /// The errors of `check_input`, without the copy.
    fn validate_input(&self, x: &Tensor<T>) -> Result<()> {
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
        Ok(())
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
        let mut out = Tensor::empty();
        self.run_node_into(id, inputs, mode, argmax, stats, &mut out, &mut ConvScratch::default());
        out
    }

    /// `run_node` writing into `out` (and `argmax`), reusing their buffers and `conv`'s.
    #[allow(clippy::too_many_arguments)]
    fn run_node_into(
        &self,
        id: NodeId,
        inputs: &[&Tensor<T>],
        mode: Mode,
        argmax: &mut Option<Vec<u32>>,
        stats: &mut Option<BatchStats<T>>,
        out: &mut Tensor<T>,
        conv: &mut ConvScratch<T>,
    ) {
        match self.node(id).op {
            Op::Activation { activation } => activated_into(activation, inputs[0], out),
            Op::MaxPool2d { .. } => self.max_pool_into(id, inputs[0], out, argmax.get_or_insert_with(Vec::new)),
            Op::BatchNorm { .. } if mode == Mode::Train => {
                *stats = Some(self.batch_norm_train(id, inputs[0], out, None))
            }
            _ => self.apply_affine_reusing(id, inputs, OffsetRows::All, out, conv),
        }
    }

    fn max_pool_into(&self, id: NodeId, x: &Tensor<T>, out: &mut Tensor<T>, argmax: &mut Vec<u32>) {
        let w = self.window(id);
        out.prepare(x.batch, self.shape(id));
        argmax.resize(out.data.len(), 0);
        let (in_w, out_w) = (x.width(), out.width());
        out.data
            .par_chunks_mut(out_w)
            .zip(argmax.par_chunks_mut(out_w))
            .zip(x.data.par_chunks(in_w))
            .for_each(|((o, a), xi)| max_pool_sample(&w, xi, o, a));
    }

    /// Batch norm with the batch's statistics, into `out`; returns the statistics. With
    /// `activated`, also the output of the activation that follows, in the same pass.
    pub(crate) fn batch_norm_train(
        &self,
        id: NodeId,
        x: &Tensor<T>,
        out: &mut Tensor<T>,
        activated: Option<(Activation, &mut Tensor<T>)>,
    ) -> BatchStats<T> {
        let Op::BatchNorm { channels, eps, .. } = self.node(id).op else { unreachable!() };
        let p = self.params(id);
        let layout = ChannelLayout { channels, spatial: x.width() / channels };
        out.prepare(x.batch, &x.shape);
        let activated = activated.map(|(activation, a)| {
            a.prepare(x.batch, &x.shape);
            (activation, &mut a.data[..])
        });
        let affine = (&p.tensors[0][..], &p.tensors[1][..], T::from_f64(eps));
        batch_norm::forward_train(layout, &x.data, affine, &mut out.data, activated)
    }

    /// Run the network, keeping every node's output and what backward needs.
    pub fn forward_tape(&self, x: &Tensor<T>, mode: Mode) -> Result<Tape<T>> {
        let mut tape = Tape::empty();
        self.forward_tape_into(x, mode, &mut tape)?;
        Ok(tape)
    }

    /// `forward_tape` into `tape`, reusing the buffers of its values and convolutions: a training
    /// loop that keeps one tape across steps of the same batch size allocates (and zero-fills)
    /// none of them after the first step.
    pub fn forward_tape_into(&self, x: &Tensor<T>, mode: Mode, tape: &mut Tape<T>) -> Result<()> {
        let n = self.nodes().len();
        tape.mode = mode;
        tape.values.resize_with(n, Tensor::empty);
        tape.argmax.resize(n, None);
        tape.batch_stats.resize(n, None);
        self.validate_input(x)?;
        tape.values[0].copy_reshaped(x, self.input_shape());
        let Tape { values, argmax, batch_stats, conv, .. } = tape;
        on_thread_pool(|| {
            let mut id = 1;
            while id < n {
                let (done, rest) = values.split_at_mut(id);
                let inputs: Vec<&Tensor<T>> = self.node(id).inputs.iter().map(|&i| &done[i]).collect();
                if let Some(activation) = self.fused_activation(id, mode) {
                    let [out, activated, ..] = rest else { unreachable!("a fused activation follows its batch norm") };
                    batch_stats[id] = Some(self.batch_norm_train(id, inputs[0], out, Some((activation, activated))));
                    id += 2;
                    continue;
                }
                self.run_node_into(id, &inputs, mode, &mut argmax[id], &mut batch_stats[id], &mut rest[0], conv);
                id += 1;
            }
        });
        Ok(())
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

/// A 3x3 convolution (stride 1 or 2) of every sample by the direct kernels
/// (`direct_conv::applies`), over tasks of samples with their buffers from `scratch`.
fn direct_conv_forward<T: Scalar>(
    group: &ConvGroup,
    weight: &[f32],
    x: &[f32],
    out: &mut [f32],
    scratch: &mut ConvScratch<T>,
) {
    let (cin, cout) = (group.window.channels, group.cout);
    let planes = Planes::of(&group.window);
    let (in_w, out_w) = (cin * group.window.in_len(), cout * group.window.out_len());
    let per_task = samples_per_task(x.len() / in_w, 1);
    let (weights, tasks) = scratch.split((x.len() / in_w).div_ceil(per_task));
    let weights = as_f32_vec(weights);
    direct_conv::forward_weights(weight, cin, cout, weights);
    let weights: &[f32] = weights;
    let parts = out.par_chunks_mut(per_task * out_w).zip(x.par_chunks(per_task * in_w));
    parts.zip(tasks).for_each(|((o, xs), task)| {
        let (padded, flat) = (as_f32_vec(&mut task.col), as_f32_vec(&mut task.wide));
        for (o, xi) in o.chunks_exact_mut(out_w).zip(xs.chunks_exact(in_w)) {
            planes.pad(xi, padded);
            planes.correlate(padded, cin, weights, cout, flat, o);
        }
    });
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

/// The activation of every element of `x` into `out` (one pass, reusing its buffer).
pub(crate) fn activated_into<T: Scalar>(activation: Activation, x: &Tensor<T>, out: &mut Tensor<T>) {
    out.shape.clone_from(&x.shape);
    out.batch = x.batch;
    with_element_fn(activation, MapInto { data: &x.data, out: &mut out.data });
}

/// Apply `activation` to every element of `data` in place (one pass over a buffer whose
/// pre-activations are not needed any more).
pub fn activate_in_place<T: Scalar>(activation: Activation, data: &mut [T]) {
    with_element_fn(activation, MapInPlace { data });
}

struct MapInPlace<'a, T> {
    data: &'a mut [T],
}

impl<T: Scalar> ElementFn<T> for MapInPlace<'_, T> {
    type Output = ();
    fn apply(self, f: impl Fn(T) -> T + Copy + Send + Sync) {
        self.data.par_chunks_mut(ELEMENTWISE_CHUNK).for_each(|chunk| {
            with_avx512(
                #[inline(always)]
                || chunk.iter_mut().for_each(|v| *v = f(*v)),
            )
        });
    }
}

/// Work to run with an activation's function of one element (`with_element_fn`), so that the
/// function is a concrete closure the loop around it can inline and vectorise.
pub(crate) trait ElementFn<T> {
    type Output;
    fn apply(self, f: impl Fn(T) -> T + Copy + Send + Sync) -> Self::Output;
}

/// Run `work` with the function of `activation` on one element. The functions are selects, not
/// branches: pre-activation signs are unpredictable, and selects vectorise.
pub(crate) fn with_element_fn<T: Scalar, E: ElementFn<T>>(activation: Activation, work: E) -> E::Output {
    let zero = T::zero();
    match activation {
        Activation::Relu => work.apply(move |v| if v < zero { zero } else { v }),
        Activation::LeakyRelu { slope } => {
            let s = T::from_f64(slope);
            work.apply(move |v| if v < zero { v * s } else { v })
        }
        Activation::Abs => work.apply(|v: T| v.abs()),
        Activation::Clamp { lo, hi } => {
            let (lo, hi) = (T::from_f64(lo), T::from_f64(hi));
            work.apply(move |v| {
                if v < lo {
                    lo
                } else if v >= hi {
                    hi
                } else {
                    v
                }
            })
        }
    }
}

/// `out = f(data)` elementwise, in parallel (`map_elements`).
struct MapInto<'a, T> {
    data: &'a [T],
    out: &'a mut Vec<T>,
}

impl<T: Scalar> ElementFn<T> for MapInto<'_, T> {
    type Output = ();
    fn apply(self, f: impl Fn(T) -> T + Copy + Send + Sync) {
        map_elements(self.data, self.out, f)
    }
}

/// `out[i] = f(data[i])`, computed in parallel chunks straight into `out` (no zero fill first).
/// The activations' functions are selects: the wide-vector build gives the same values.
fn map_elements<T: Scalar>(data: &[T], out: &mut Vec<T>, f: impl Fn(T) -> T + Sync + Send) {
    let chunk = ELEMENTWISE_CHUNK;
    out.clear();
    out.reserve(data.len());
    out.spare_capacity_mut()[..data.len()].par_chunks_mut(chunk).zip(data.par_chunks(chunk)).for_each(|(o, x)| {
        with_avx512(
            #[inline(always)]
            || {
                o.iter_mut().zip(x).for_each(|(o, &v)| {
                    o.write(f(v));
                })
            },
        )
    });
    // SAFETY: the loop above initialised all `data.len()` elements.
    unsafe { out.set_len(data.len()) };
}
