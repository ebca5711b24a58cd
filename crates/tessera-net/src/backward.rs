//! Reverse-mode gradients of every op: parameter gradients (training) and input gradients
//! (adversarial attacks), from a forward `Tape`.

use crate::batch_norm::{self, ChannelLayout};
use crate::conv::{
    avg_pool_adjoint, col2im, im2col, samples_per_gemm, samples_per_task, ConvGroup, ConvScratch, ConvTask, SideBySide,
    Window,
};
use crate::direct_conv::{self, as_f32, as_f32_mut, as_f32_vec, InputGrad, Planes};
use crate::forward::{on_thread_pool, Tape, ELEMENTWISE_CHUNK};
use crate::op::{Activation, Mode, Op};
use crate::scalar::{fast_sum, gemm, par_gemm, MatRef};
use crate::{BufferPool, Network, NodeId, Scalar, Tensor};
use rayon::prelude::*;

/// What a backward pass should produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wants {
    /// Compute gradients of every parameter tensor.
    pub params: bool,
    /// Compute the gradient with respect to the input batch.
    pub input: bool,
}

impl Wants {
    /// Parameter and input gradients.
    pub const ALL: Wants = Wants { params: true, input: true };
    /// Parameter gradients only (training).
    pub const PARAMS: Wants = Wants { params: true, input: false };
    /// Input gradients only (adversarial attacks).
    pub const INPUT: Wants = Wants { params: false, input: true };
}

/// Gradients of a scalar loss.
#[derive(Clone, Debug)]
pub struct Gradients<T> {
    /// One tensor per trainable tensor, in the order of `Network::trainable` (empty if not wanted).
    pub params: Vec<Vec<T>>,
    /// Gradient with respect to the network input (if wanted).
    pub input: Option<Tensor<T>>,
    /// The buffers of the last pass, for the next one.
    buffers: Buffers<T>,
}

impl<T> Default for Gradients<T> {
    fn default() -> Self {
        Self { params: Vec::new(), input: None, buffers: Buffers::default() }
    }
}

/// What a backward pass reuses from the last one: a training loop that keeps its `Gradients`
/// allocates (and the operating system zero-fills) none of this memory after the first step.
#[derive(Clone, Debug)]
struct Buffers<T> {
    /// Per-node gradients, taken when a node's gradient is made and given back when consumed.
    pool: BufferPool<T>,
    /// The convolutions' partial parameter gradients and scratch, per parallel task.
    conv: ConvScratch<T>,
}

impl<T> Default for Buffers<T> {
    fn default() -> Self {
        Self { pool: BufferPool::default(), conv: ConvScratch::default() }
    }
}

impl<T: Scalar> Network<T> {
    /// Back-propagate `grad_output` (dLoss/dOutput for the taped batch).
    pub fn backward(&self, tape: &Tape<T>, grad_output: &Tensor<T>, wants: Wants) -> Gradients<T> {
        let mut grads = Gradients::default();
        self.backward_into(tape, grad_output, wants, &mut grads);
        grads
    }

    /// `backward` writing into `grads`, whose parameter buffers are reused when their sizes fit.
    /// A training loop that keeps one `Gradients` across steps avoids allocating (and the
    /// operating system zero-filling) the gradient memory at every step.
    pub fn backward_into(&self, tape: &Tape<T>, grad_output: &Tensor<T>, wants: Wants, out: &mut Gradients<T>) {
        let n = self.nodes().len();
        let buffers = &mut out.buffers;
        if let Some(old) = out.input.take() {
            buffers.pool.give_tensor(old);
        }
        let mut grads: Vec<Option<Tensor<T>>> = vec![None; n];
        grads[n - 1] = Some(buffers.pool.copy_of(grad_output).reshaped(self.shape(n - 1)));
        self.reset_param_grads(wants.params, &mut out.params);
        let needs_input_grad = self.nodes_needing_input_grad(wants.input);
        let params = &mut out.params;
        on_thread_pool(|| self.propagate(tape, &mut grads, wants, &needs_input_grad, params, buffers));
        out.input = if wants.input { grads[0].take() } else { None };
        grads.into_iter().flatten().for_each(|g| buffers.pool.give_tensor(g));
    }

    /// Walk the nodes backwards from the output gradient in `grads[last]`, leaving the input
    /// gradient in `grads[0]` and adding parameter gradients into `params`. An activation that
    /// ran fused with the batch norm before it (`fused_batch_norm_backward`) is done in that
    /// batch norm's pass.
    fn propagate(
        &self,
        tape: &Tape<T>,
        grads: &mut [Option<Tensor<T>>],
        wants: Wants,
        needs_input_grad: &[bool],
        params: &mut [Vec<T>],
        buffers: &mut Buffers<T>,
    ) {
        let slots = self.param_slots();
        let readers = self.reader_counts();
        for id in (1..self.nodes().len()).rev() {
            let Some(mut g) = grads[id].take() else { continue };
            let fused = self.fused_batch_norm_backward(id, tape, &readers);
            let target = fused.map_or(id, |(bn, _)| bn);
            let node = self.node(target);
            let want_dx = needs_input_grad[target];
            let count = node.op.param_names().len();
            let param_out = if wants.params { Some(&mut params[slots[target]..slots[target] + count]) } else { None };
            let dx = match fused {
                Some((bn, slope)) => {
                    let pre = &tape.values[bn].data[..];
                    self.batch_norm_backward(bn, tape, &mut g, Some((slope, pre)), param_out);
                    vec![g]
                }
                None => self.node_backward(id, tape, g, want_dx, param_out, buffers),
            };
            if !want_dx {
                dx.into_iter().for_each(|d| buffers.pool.give_tensor(d));
                continue;
            }
            for (&i, d) in node.inputs.iter().zip(dx) {
                accumulate(&mut grads[i], d.reshaped(self.shape(i)), &mut buffers.pool);
            }
        }
    }

    /// Zeroed parameter-gradient buffers in `params` (reused where the sizes already fit), or
    /// none if parameter gradients are not wanted.
    fn reset_param_grads(&self, wanted: bool, params: &mut Vec<Vec<T>>) {
        if !wanted {
            params.clear();
            return;
        }
        let sizes: Vec<usize> = self.trainable().iter().map(|t| t.len()).collect();
        if params.len() != sizes.len() || params.iter().zip(&sizes).any(|(p, &s)| p.len() != s) {
            *params = sizes.iter().map(|&s| vec![T::zero(); s]).collect();
        } else {
            params.iter_mut().for_each(|p| p.fill(T::zero()));
        }
    }

    /// Index of each node's first tensor in the `trainable` order.
    fn param_slots(&self) -> Vec<usize> {
        let mut slots = Vec::with_capacity(self.nodes().len());
        let mut next = 0;
        for node in self.nodes() {
            slots.push(next);
            next += node.op.param_names().len();
        }
        slots
    }

    /// Whether each node must pass a gradient to its inputs: only where some node upstream
    /// has parameters, or leads back to the input and the input gradient is wanted.
    fn nodes_needing_input_grad(&self, input_wanted: bool) -> Vec<bool> {
        let mut needs: Vec<bool> = Vec::with_capacity(self.nodes().len());
        for (id, node) in self.nodes().iter().enumerate() {
            let has_params = !node.op.param_names().is_empty();
            needs.push(if id == 0 { input_wanted } else { has_params || node.inputs.iter().any(|&i| needs[i]) });
        }
        self.nodes().iter().map(|node| node.inputs.iter().any(|&i| needs[i])).collect()
    }

    /// Gradients of one node: returns the gradient for each input (empty if `want_dx` is false)
    /// and writes parameter gradients into `param_out`. Elementwise ops reuse `g` in place; the
    /// others take their results from `buffers` and give `g` back to it.
    fn node_backward(
        &self,
        id: NodeId,
        tape: &Tape<T>,
        mut g: Tensor<T>,
        want_dx: bool,
        param_out: Option<&mut [Vec<T>]>,
        buffers: &mut Buffers<T>,
    ) -> Vec<Tensor<T>> {
        let node = self.node(id);
        let x = &tape.values[node.inputs[0]];
        let dx = match node.op {
            Op::Input { .. } => vec![],
            Op::Flatten => return vec![g],
            Op::Add => return vec![buffers.pool.copy_of(&g), g],
            Op::Concat | Op::SliceChannels { .. } | Op::ChannelShuffle { .. } => {
                if !want_dx {
                    vec![]
                } else {
                    let shapes: Vec<&[usize]> = node.inputs.iter().map(|&i| self.shape(i)).collect();
                    self.channel_route(id).backward(&g, &shapes)
                }
            }
            Op::Dense { in_features, out_features, .. } => {
                if let Some(out) = param_out {
                    dense_param_grads(x, &g, in_features, out_features, out);
                }
                if !want_dx {
                    buffers.pool.give_tensor(g);
                    return vec![];
                }
                let w = &self.params(id).tensors[0];
                let mut dx = buffers.pool.stale_tensor(g.batch, self.shape(node.inputs[0]));
                par_gemm(
                    MatRef::new(&g.data, g.batch, out_features),
                    MatRef::new(w, out_features, in_features),
                    T::zero(),
                    &mut dx.data,
                );
                vec![dx]
            }
            Op::Conv2d { .. } => self.conv_backward(id, x, &g, want_dx, param_out, buffers).into_iter().collect(),
            Op::AvgPool2d { .. } => {
                let w = self.window(id);
                let mut dx = buffers.pool.zeros_tensor(g.batch, self.shape(node.inputs[0]));
                let (in_w, out_w) = (dx.width(), g.width());
                dx.data
                    .par_chunks_mut(in_w)
                    .zip(g.data.par_chunks(out_w))
                    .for_each(|(d, gi)| avg_pool_adjoint(&w, gi, d));
                vec![dx]
            }
            Op::MaxPool2d { .. } => {
                let argmax = tape.argmax[id].as_ref().expect("max pool argmax on tape");
                let mut dx = buffers.pool.zeros_tensor(g.batch, self.shape(node.inputs[0]));
                let (in_w, out_w) = (dx.width(), g.width());
                dx.data.par_chunks_mut(in_w).zip(g.data.par_chunks(out_w)).zip(argmax.par_chunks(out_w)).for_each(
                    |((d, gi), a)| {
                        for (&v, &s) in gi.iter().zip(a) {
                            d[s as usize] += v;
                        }
                    },
                );
                vec![dx]
            }
            Op::BatchNorm { .. } => {
                self.batch_norm_backward(id, tape, &mut g, None, param_out);
                return vec![g];
            }
            Op::Activation { activation } => {
                activation_backward(activation, &x.data, &mut g.data);
                return vec![g];
            }
        };
        buffers.pool.give_tensor(g);
        dx
    }

    /// Parameter and input gradients of conv node `id`, over tasks of a few GEMM blocks each
    /// (samples side by side, see `samples_per_gemm`) with their buffers from `buffers.conv`;
    /// every task keeps its own partial dW, so that a thread slowed by other work on the
    /// machine does not hold up the rest.
    fn conv_backward(
        &self,
        id: NodeId,
        x: &Tensor<T>,
        g: &Tensor<T>,
        want_dx: bool,
        param_out: Option<&mut [Vec<T>]>,
        buffers: &mut Buffers<T>,
    ) -> Option<Tensor<T>> {
        let (group, groups) = self.conv_group(id);
        if direct_conv::applies::<T>(&group, groups) {
            let dx = want_dx.then(|| buffers.pool.stale_tensor(x.batch, &x.shape));
            return self.direct_conv_backward(id, &group, x, g, dx, param_out, &mut buffers.conv);
        }
        let w: Window = group.window;
        let weight = &self.params(id).tensors[0];
        let (rows, plen, cout_g) = (w.col_rows(), w.out_len(), group.cout);
        let cout = cout_g * groups;
        let (in_w, out_w, per_gemm) = (x.width(), g.width(), samples_per_gemm(&w));
        let per_task = samples_per_task(x.batch, per_gemm);
        let want_params = param_out.is_some();
        let mut dx = want_dx.then(|| buffers.pool.zeros_tensor(x.batch, &x.shape));
        let (_, tasks) = buffers.conv.split(x.batch.div_ceil(per_task));
        let param_lens = if want_params { [cout * rows, cout] } else { [0, 0] };
        let parts = dx_parts(dx.as_mut().map(|dx| &mut dx.data[..]), per_task * in_w, tasks.len());
        let partial_sums = parts
            .into_par_iter()
            .zip(x.data.par_chunks(per_task * in_w))
            .zip(g.data.par_chunks(per_task * out_w))
            .zip(tasks)
            .map(|(((mut dx_part, xs), gs), task)| {
                task.zero_param_grads(param_lens);
                let ConvTask { weight_grad: dw, bias_grad: db, col, wide, dcol } = &mut *task;
                let samples = xs.len() / in_w;
                for first in (0..samples).step_by(per_gemm) {
                    let count = per_gemm.min(samples - first);
                    let ld = count * plen;
                    let sample = |s: usize, range: &std::ops::Range<usize>| {
                        (first + s) * in_w + range.start..(first + s) * in_w + range.end
                    };
                    let gb = &gs[first * out_w..(first + count) * out_w];
                    for grp in 0..groups {
                        let (wr, xr, orows) = group.group_ranges(grp);
                        let gg: &[T] = if count == 1 {
                            &gb[orows.clone()]
                        } else {
                            wide.resize(cout_g * ld, T::zero());
                            let layout = SideBySide {
                                sample_width: out_w,
                                offset: orows.start,
                                rows: cout_g,
                                block: plen,
                                count,
                            };
                            layout.gather(gb, wide);
                            wide
                        };
                        let gm = MatRef::new(gg, cout_g, ld);
                        if want_params {
                            col.resize(rows * ld, T::zero());
                            for s in 0..count {
                                im2col(&w, &xs[sample(s, &xr)], &mut col[s * plen..], ld);
                            }
                            gemm(gm, MatRef::transposed(col, ld, rows), T::one(), &mut dw[wr.clone()]);
                        }
                        if let Some(d) = dx_part.as_deref_mut() {
                            dcol.resize(rows * ld, T::zero());
                            gemm(MatRef::transposed(&weight[wr], rows, cout_g), gm, T::zero(), dcol);
                            for s in 0..count {
                                col2im(&w, &dcol[s * plen..], ld, &mut d[sample(s, &xr)]);
                            }
                        }
                    }
                    if want_params {
                        for gi in gb.chunks(out_w) {
                            db.iter_mut().zip(gi.chunks(plen)).for_each(|(b, gc)| *b += fast_sum(gc));
                        }
                    }
                }
                task
            })
            .reduce_with(ConvTask::add_param_grads);
        if let (Some(out), Some(sum)) = (param_out, partial_sums) {
            add_into(&mut out[0], &sum.weight_grad);
            if out.len() > 1 {
                add_into(&mut out[1], &sum.bias_grad);
            }
        }
        dx
    }

    /// `conv_backward` by the direct kernels (`direct_conv::applies`): per sample, the weight
    /// gradient from the padded input and the input gradient (into `dx`, every value written)
    /// from the padded output gradient, over tasks of samples that each keep a partial dW.
    #[allow(clippy::too_many_arguments)]
    fn direct_conv_backward(
        &self,
        id: NodeId,
        group: &ConvGroup,
        x: &Tensor<T>,
        g: &Tensor<T>,
        mut dx: Option<Tensor<T>>,
        param_out: Option<&mut [Vec<T>]>,
        scratch: &mut ConvScratch<T>,
    ) -> Option<Tensor<T>> {
        let (cin, cout) = (group.window.channels, group.cout);
        let planes = Planes::of(&group.window);
        let weight = as_f32(&self.params(id).tensors[0]);
        let (in_w, out_w, plen) = (x.width(), g.width(), group.window.out_len());
        let per_task = samples_per_task(x.batch, 1);
        let (gathered, tasks) = scratch.split(x.batch.div_ceil(per_task));
        let input_grad = dx.is_some().then(|| InputGrad::new(&group.window, weight, cout, as_f32_vec(gathered)));
        let param_lens = if param_out.is_some() { [weight.len(), cout] } else { [0, 0] };
        let parts = dx_parts(dx.as_mut().map(|dx| as_f32_mut(&mut dx.data)), per_task * in_w, tasks.len());
        let partial_sums = parts
            .into_par_iter()
            .zip(as_f32(&x.data).par_chunks(per_task * in_w))
            .zip(as_f32(&g.data).par_chunks(per_task * out_w))
            .zip(tasks)
            .map(|(((mut dx_part, xs), gs), task)| {
                task.zero_param_grads(param_lens);
                let (padded, flat) = (as_f32_vec(&mut task.col), as_f32_vec(&mut task.wide));
                if param_lens[0] > 0 {
                    let (dw, sums) = (as_f32_mut(&mut task.weight_grad), as_f32_vec(&mut task.dcol));
                    planes.pad(xs, padded);
                    planes.weight_grad(padded, cin, gs, cout, xs.len() / in_w, flat, sums, dw);
                    for gi in gs.chunks(out_w) {
                        let db = as_f32_mut(&mut task.bias_grad);
                        db.iter_mut().zip(gi.chunks(plen)).for_each(|(b, gc)| *b += fast_sum(gc));
                    }
                }
                if let (Some(d), Some(input_grad)) = (dx_part.as_deref_mut(), &input_grad) {
                    for (gi, di) in gs.chunks(out_w).zip(d.chunks_mut(in_w)) {
                        input_grad.sample(gi, cout, padded, flat, di);
                    }
                }
                task
            })
            .reduce_with(ConvTask::add_param_grads);
        if let (Some(out), Some(sum)) = (param_out, partial_sums) {
            add_into(&mut out[0], &sum.weight_grad);
            if out.len() > 1 {
                add_into(&mut out[1], &sum.bias_grad);
            }
        }
        dx
    }

    /// Batch-norm node `id`'s gradient: `g` (of its output, or with `fused` of the output of
    /// the activation after it: that activation's negative-side slope and pre-activation)
    /// becomes the gradient of its input; gamma's and beta's go into `param_out`.
    fn batch_norm_backward(
        &self,
        id: NodeId,
        tape: &Tape<T>,
        g: &mut Tensor<T>,
        fused: Option<(T, &[T])>,
        param_out: Option<&mut [Vec<T>]>,
    ) {
        let Op::BatchNorm { channels, eps, .. } = self.node(id).op else { unreachable!() };
        let x = &tape.values[self.node(id).inputs[0]];
        let layout = ChannelLayout { channels, spatial: x.width() / channels };
        let gamma = &self.params(id).tensors[0];
        let running_inv_std: Vec<T>;
        let inputs = match (&tape.batch_stats[id], tape.mode) {
            (Some(s), Mode::Train) => batch_norm::BackwardInputs {
                x: &x.data,
                mean: &s.mean,
                inv_std: &s.inv_std,
                batch_statistics: true,
                count: s.count,
                gamma,
                activation: fused,
            },
            _ => {
                let r = self.params(id).running.as_ref().expect("running stats");
                running_inv_std = r.var.iter().map(|&v| T::one() / (v + T::from_f64(eps)).sqrt()).collect();
                batch_norm::BackwardInputs {
                    x: &x.data,
                    mean: &r.mean,
                    inv_std: &running_inv_std,
                    batch_statistics: false,
                    count: x.batch * layout.spatial,
                    gamma,
                    activation: fused,
                }
            }
        };
        let (d_gamma, d_beta) = batch_norm::backward(layout, &inputs, &mut g.data);
        if let Some(out) = param_out {
            add_into(&mut out[0], &d_gamma);
            add_into(&mut out[1], &d_beta);
        }
    }
}

/// `sum_i (x_i - mean) * g_i`, with eight independent partial sums (see `fast_sum`).
pub(crate) fn centered_dot<T: Scalar>(x: &[T], mean: T, g: &[T]) -> T {
    let mut lanes = [T::zero(); 8];
    let ((xc, x_rest), (gc, g_rest)) = (x.as_chunks::<8>(), g.as_chunks::<8>());
    let tail: T = x_rest.iter().zip(g_rest).map(|(&x, &g)| (x - mean) * g).sum();
    for (xs, gs) in xc.iter().zip(gc) {
        for ((l, &x), &g) in lanes.iter_mut().zip(xs).zip(gs) {
            *l += (x - mean) * g;
        }
    }
    lanes.iter().copied().sum::<T>() + tail
}

/// Multiply the output gradient by the activation's slope at each pre-activation, in place.
fn activation_backward<T: Scalar>(activation: Activation, pre: &[T], g: &mut [T]) {
    let chunk = ELEMENTWISE_CHUNK;
    let chunks = g.par_chunks_mut(chunk).zip(pre.par_chunks(chunk));
    match activation {
        Activation::Clamp { lo, hi } => {
            let (lo, hi) = (T::from_f64(lo), T::from_f64(hi));
            chunks.for_each(|(g, pre)| keep_where_between(g, pre, lo, hi));
        }
        _ => {
            let negative_slope = T::from_f64(activation.slope_at(-1.0));
            chunks.for_each(|(g, pre)| scale_where_negative(g, pre, negative_slope));
        }
    }
}

/// `g[i] = 0` unless `lo <= pre[i] < hi` (the clamp's middle piece); a select, as below.
fn keep_where_between<T: Scalar>(g: &mut [T], pre: &[T], lo: T, hi: T) {
    let zero = T::zero();
    for (d, &p) in g.iter_mut().zip(pre) {
        *d = if p >= lo && p < hi { *d } else { zero };
    }
}

/// `g[i] *= slope` where `pre[i] < 0`; written as a select, not a branch, because the signs are
/// unpredictable (and so that it vectorises).
pub(crate) fn scale_where_negative<T: Scalar>(g: &mut [T], pre: &[T], slope: T) {
    let zero = T::zero();
    for (d, &p) in g.iter_mut().zip(pre) {
        *d = if p < zero { *d * slope } else { *d };
    }
}

/// dW += g^T x (out x in), db += column sums of g.
fn dense_param_grads<T: Scalar>(x: &Tensor<T>, g: &Tensor<T>, in_f: usize, out_f: usize, out: &mut [Vec<T>]) {
    let batch = g.batch;
    par_gemm(MatRef::transposed(&g.data, out_f, batch), MatRef::new(&x.data, batch, in_f), T::one(), &mut out[0]);
    if out.len() > 1 {
        for row in g.data.chunks(out_f) {
            add_into(&mut out[1], row);
        }
    }
}

fn accumulate<T: Scalar>(slot: &mut Option<Tensor<T>>, value: Tensor<T>, pool: &mut BufferPool<T>) {
    match slot {
        Some(existing) => {
            add_into(&mut existing.data, &value.data);
            pool.give_tensor(value);
        }
        None => *slot = Some(value),
    }
}

fn add_into<T: Scalar>(dst: &mut [T], src: &[T]) {
    dst.iter_mut().zip(src).for_each(|(d, &s)| *d += s);
}

/// The parts of `dx` (if wanted) for `tasks` tasks of `len` values each (the last may be shorter).
fn dx_parts<T>(dx: Option<&mut [T]>, len: usize, tasks: usize) -> Vec<Option<&mut [T]>> {
    match dx {
        Some(dx) => dx.chunks_mut(len).map(Some).collect(),
        None => (0..tasks).map(|_| None).collect(),
    }
}

impl<T: Scalar> ConvTask<T> {
    /// Zeroed partial gradients of `[weight, bias]` lengths (kept buffers, no allocation),
    /// inside the task so that the zeroing runs in parallel.
    fn zero_param_grads(&mut self, [weight, bias]: [usize; 2]) {
        for (grad, len) in [(&mut self.weight_grad, weight), (&mut self.bias_grad, bias)] {
            grad.clear();
            grad.resize(len, T::zero());
        }
    }

    /// Add `later`'s partial gradients into `self`'s: the tasks' partial sums combine in the
    /// tree rayon's `reduce` makes of them, as when each task returned fresh vectors.
    fn add_param_grads<'a>(sum: &'a mut Self, later: &'a mut Self) -> &'a mut Self {
        add_into(&mut sum.weight_grad, &later.weight_grad);
        add_into(&mut sum.bias_grad, &later.bias_grad);
        sum
    }
}
