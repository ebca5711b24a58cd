//! Reverse-mode gradients of every op: parameter gradients (training) and input gradients
//! (adversarial attacks), from a forward `Tape`.

use crate::conv::{avg_pool_adjoint, col2im, im2col, Window};
use crate::forward::{on_thread_pool, rows_per_task, Tape, ELEMENTWISE_CHUNK};
use crate::op::{Activation, Mode, Op};
use crate::scalar::{fast_sum, gemm, MatRef};
use crate::{Network, NodeId, Scalar, Tensor};
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
}

impl<T: Scalar> Network<T> {
    /// Back-propagate `grad_output` (dLoss/dOutput for the taped batch).
    pub fn backward(&self, tape: &Tape<T>, grad_output: &Tensor<T>, wants: Wants) -> Gradients<T> {
        let mut grads = Gradients { params: Vec::new(), input: None };
        self.backward_into(tape, grad_output, wants, &mut grads);
        grads
    }

    /// `backward` writing into `grads`, whose parameter buffers are reused when their sizes fit.
    /// A training loop that keeps one `Gradients` across steps avoids allocating (and the
    /// operating system zero-filling) the gradient memory at every step.
    pub fn backward_into(&self, tape: &Tape<T>, grad_output: &Tensor<T>, wants: Wants, out: &mut Gradients<T>) {
        let n = self.nodes().len();
        let mut grads: Vec<Option<Tensor<T>>> = vec![None; n];
        grads[n - 1] = Some(grad_output.clone().reshaped(self.shape(n - 1)));
        self.reset_param_grads(wants.params, &mut out.params);
        let needs_input_grad = self.nodes_needing_input_grad(wants.input);
        on_thread_pool(|| self.propagate(tape, &mut grads, wants, &needs_input_grad, &mut out.params));
        out.input = if wants.input { grads[0].take() } else { None };
    }

    /// Walk the nodes backwards from the output gradient in `grads[last]`, leaving the input
    /// gradient in `grads[0]` and adding parameter gradients into `params`.
    fn propagate(
        &self,
        tape: &Tape<T>,
        grads: &mut [Option<Tensor<T>>],
        wants: Wants,
        needs_input_grad: &[bool],
        params: &mut [Vec<T>],
    ) {
        let slots = self.param_slots();
        for id in (1..self.nodes().len()).rev() {
            let Some(g) = grads[id].take() else { continue };
            let node = self.node(id);
            let want_dx = needs_input_grad[id];
            let count = node.op.param_names().len();
            let param_out = if wants.params { Some(&mut params[slots[id]..slots[id] + count]) } else { None };
            let dx = self.node_backward(id, tape, g, want_dx, param_out);
            if !want_dx {
                continue;
            }
            for (&i, d) in node.inputs.iter().zip(dx) {
                accumulate(&mut grads[i], d.reshaped(self.shape(i)));
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
    /// and writes parameter gradients into `param_out`. Elementwise ops reuse `g` in place.
    fn node_backward(
        &self,
        id: NodeId,
        tape: &Tape<T>,
        mut g: Tensor<T>,
        want_dx: bool,
        param_out: Option<&mut [Vec<T>]>,
    ) -> Vec<Tensor<T>> {
        let node = self.node(id);
        let x = &tape.values[node.inputs[0]];
        match node.op {
            Op::Input { .. } => vec![],
            Op::Flatten => vec![g],
            Op::Add => vec![g.clone(), g],
            Op::Concat | Op::SliceChannels { .. } | Op::ChannelShuffle { .. } => {
                if !want_dx {
                    return vec![];
                }
                let shapes: Vec<&[usize]> = node.inputs.iter().map(|&i| self.shape(i)).collect();
                self.channel_route(id).backward(&g, &shapes)
            }
            Op::Dense { in_features, out_features, .. } => {
                if let Some(out) = param_out {
                    dense_param_grads(x, &g, in_features, out_features, out);
                }
                if !want_dx {
                    return vec![];
                }
                let w = &self.params(id).tensors[0];
                let mut dx = Tensor::zeros(g.batch, self.shape(node.inputs[0]));
                let chunk = rows_per_task(g.batch, in_features * out_features);
                dx.data.par_chunks_mut(chunk * in_features).zip(g.data.par_chunks(chunk * out_features)).for_each(
                    |(d, gi)| {
                        let rows = gi.len() / out_features;
                        gemm(
                            MatRef::new(gi, rows, out_features),
                            MatRef::new(w, out_features, in_features),
                            T::zero(),
                            d,
                        )
                    },
                );
                vec![dx]
            }
            Op::Conv2d { .. } => self.conv_backward(id, x, &g, want_dx, param_out).into_iter().collect(),
            Op::AvgPool2d { .. } => {
                let w = self.window(id);
                let mut dx = Tensor::zeros(g.batch, self.shape(node.inputs[0]));
                let (in_w, out_w) = (dx.width(), g.width());
                dx.data
                    .par_chunks_mut(in_w)
                    .zip(g.data.par_chunks(out_w))
                    .for_each(|(d, gi)| avg_pool_adjoint(&w, gi, d));
                vec![dx]
            }
            Op::MaxPool2d { .. } => {
                let argmax = tape.argmax[id].as_ref().expect("max pool argmax on tape");
                let mut dx = Tensor::zeros(g.batch, self.shape(node.inputs[0]));
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
            Op::BatchNorm { channels, .. } => {
                self.batch_norm_backward(id, tape, x, &mut g, channels, param_out);
                vec![g]
            }
            Op::Activation { activation } => {
                activation_backward(activation, &x.data, &mut g.data);
                vec![g]
            }
        }
    }

    fn conv_backward(
        &self,
        id: NodeId,
        x: &Tensor<T>,
        g: &Tensor<T>,
        want_dx: bool,
        param_out: Option<&mut [Vec<T>]>,
    ) -> Option<Tensor<T>> {
        let (group, groups) = self.conv_group(id);
        let w: Window = group.window;
        let weight = &self.params(id).tensors[0];
        // Per group: im2col rows, output positions, output channels; all channels in total.
        let (rows, plen, cout_g) = (w.col_rows(), w.out_len(), group.cout);
        let cout = cout_g * groups;
        let (in_w, out_w) = (x.width(), g.width());
        if let Some(out) = param_out {
            // A few chunks per thread, each with its own partial dW, so that a thread slowed by
            // other work on the machine does not hold up the rest.
            let chunk = x.batch.div_ceil(4 * rayon::current_num_threads().max(1)).max(1);
            let (dw, db) = x
                .data
                .par_chunks(chunk * in_w)
                .zip(g.data.par_chunks(chunk * out_w))
                .map(|(xs, gs)| {
                    let mut dw = vec![T::zero(); cout * rows];
                    let mut db = vec![T::zero(); cout];
                    let mut col = vec![T::zero(); rows * plen];
                    for (xi, gi) in xs.chunks(in_w).zip(gs.chunks(out_w)) {
                        for grp in 0..groups {
                            let (wr, xr, orows) = group.group_ranges(grp);
                            let xg = &xi[xr];
                            let cols: &[T] = if w.is_pointwise() {
                                xg
                            } else {
                                im2col(&w, xg, &mut col);
                                &col
                            };
                            let gg = MatRef::new(&gi[orows], cout_g, plen);
                            gemm(gg, MatRef::transposed(cols, plen, rows), T::one(), &mut dw[wr]);
                        }
                        for (c, b) in db.iter_mut().enumerate() {
                            *b += fast_sum(&gi[c * plen..(c + 1) * plen]);
                        }
                    }
                    (dw, db)
                })
                .reduce(
                    || (vec![T::zero(); cout * rows], vec![T::zero(); cout]),
                    |a, b| (add_vecs(a.0, &b.0), add_vecs(a.1, &b.1)),
                );
            add_into(&mut out[0], &dw);
            if out.len() > 1 {
                add_into(&mut out[1], &db);
            }
        }
        if !want_dx {
            return None;
        }
        let mut dx = Tensor::zeros(x.batch, &x.shape);
        dx.data.par_chunks_mut(in_w).zip(g.data.par_chunks(out_w)).for_each_init(
            || vec![T::zero(); rows * plen],
            |dcol, (d, gi)| {
                for grp in 0..groups {
                    let (wr, xr, orows) = group.group_ranges(grp);
                    let (wg, gg) =
                        (MatRef::transposed(&weight[wr], rows, cout_g), MatRef::new(&gi[orows], cout_g, plen));
                    gemm(wg, gg, T::zero(), dcol);
                    if w.is_pointwise() {
                        add_into(&mut d[xr], dcol);
                    } else {
                        col2im(&w, dcol, &mut d[xr]);
                    }
                }
            },
        );
        Some(dx)
    }

    fn batch_norm_backward(
        &self,
        id: NodeId,
        tape: &Tape<T>,
        x: &Tensor<T>,
        g: &mut Tensor<T>,
        channels: usize,
        param_out: Option<&mut [Vec<T>]>,
    ) {
        let spatial = x.width() / channels;
        let gamma = &self.params(id).tensors[0];
        // Per channel: mean and inverse std used in the forward pass.
        let (mean, inv_std, batch_mode) = match (&tape.batch_stats[id], tape.mode) {
            (Some(s), Mode::Train) => (s.mean.clone(), s.inv_std.clone(), true),
            _ => {
                let Op::BatchNorm { eps, .. } = self.node(id).op else { unreachable!() };
                let r = self.params(id).running.as_ref().expect("running stats");
                let inv = r.var.iter().map(|&v| T::one() / (v + T::from_f64(eps)).sqrt()).collect();
                (r.mean.clone(), inv, false)
            }
        };
        let mut sum_g = vec![T::zero(); channels];
        let mut sum_gx = vec![T::zero(); channels];
        for (xr, gr) in x.data.chunks(x.width()).zip(g.data.chunks(g.width())) {
            for c in 0..channels {
                let (xs, gs) = (&xr[c * spatial..(c + 1) * spatial], &gr[c * spatial..(c + 1) * spatial]);
                for (&xv, &gv) in xs.iter().zip(gs) {
                    sum_g[c] += gv;
                    sum_gx[c] += gv * (xv - mean[c]) * inv_std[c];
                }
            }
        }
        if let Some(out) = param_out {
            add_into(&mut out[0], &sum_gx);
            add_into(&mut out[1], &sum_g);
        }
        let n = T::from_f64((spatial * x.batch) as f64);
        for (dr, xr) in g.data.chunks_mut(x.width()).zip(x.data.chunks(x.width())) {
            for c in 0..channels {
                let k = gamma[c] * inv_std[c];
                for (d, &xv) in dr[c * spatial..(c + 1) * spatial].iter_mut().zip(&xr[c * spatial..(c + 1) * spatial]) {
                    *d = if batch_mode {
                        let xhat = (xv - mean[c]) * inv_std[c];
                        k * (*d - sum_g[c] / n - xhat * sum_gx[c] / n)
                    } else {
                        k * *d
                    };
                }
            }
        }
    }
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
fn scale_where_negative<T: Scalar>(g: &mut [T], pre: &[T], slope: T) {
    let zero = T::zero();
    for (d, &p) in g.iter_mut().zip(pre) {
        *d = if p < zero { *d * slope } else { *d };
    }
}

/// dW += g^T x (out x in), db += column sums of g, split over output rows for parallelism.
fn dense_param_grads<T: Scalar>(x: &Tensor<T>, g: &Tensor<T>, in_f: usize, out_f: usize, out: &mut [Vec<T>]) {
    let batch = g.batch;
    let gt = MatRef::transposed(&g.data, out_f, batch);
    let xm = MatRef::new(&x.data, batch, in_f);
    let chunk = rows_per_task(out_f, batch * in_f);
    out[0].par_chunks_mut(chunk * in_f).enumerate().for_each(|(k, dw)| {
        let r0 = k * chunk;
        let r1 = r0 + dw.len() / in_f;
        gemm(gt.row_range(r0, r1), xm, T::one(), dw);
    });
    if out.len() > 1 {
        for row in g.data.chunks(out_f) {
            add_into(&mut out[1], row);
        }
    }
}

fn accumulate<T: Scalar>(slot: &mut Option<Tensor<T>>, value: Tensor<T>) {
    match slot {
        Some(existing) => add_into(&mut existing.data, &value.data),
        None => *slot = Some(value),
    }
}

fn add_into<T: Scalar>(dst: &mut [T], src: &[T]) {
    dst.iter_mut().zip(src).for_each(|(d, &s)| *d += s);
}

fn add_vecs<T: Scalar>(mut a: Vec<T>, b: &[T]) -> Vec<T> {
    add_into(&mut a, b);
    a
}
