//! The last counted layer, when its pre-activation is a convolution (optionally followed by a
//! batch norm in evaluation mode, a per-channel scale): as for a last dense layer, vertex
//! values are not formed by convolving every vertex. A vertex differs from its centre by
//! `a_o W_o . patch_p(x_v - x_c)` at output channel `o` and position `p`, bounded by
//! `|a_o| |W_o| |patch_p(x_v - x_c)|` (Cauchy-Schwarz over the window); only the units whose
//! range straddles a kink get a dot product over their window.

use super::last_layer::{norm, unit_roundoff, BoundedLayer, PointBound};
use super::{Run, Scan};
use crate::measure::CountError;
use crate::sign::{LayerKinks, SignSets};
use tessera_net::{Network, NodeId, OffsetRows, Op, Scalar, Tensor};

impl<T: Scalar> Run<'_, '_, T> {
    /// The convolution (and batch norm) whose value enters activation `last`, the last thing
    /// counted, when they come right before it and nothing else reads them. Only in double
    /// precision: in single precision tessera-net's direct convolution kernels convolve the
    /// vertices faster than the bounds settle them (the issue-12 CNN, 100 CIFAR-10 points,
    /// P = 20, r = 0.005: 2.2 s of CPU with bounds against 1.8 s; f64: 2.9 s against 4.3 s).
    pub(super) fn bounded_conv_target(&self, last: NodeId) -> Option<(NodeId, Option<NodeId>)> {
        let net = self.lc.net;
        if std::mem::size_of::<T>() < std::mem::size_of::<f64>() || !matches!(net.node(last).op, Op::Activation { .. })
        {
            return None;
        }
        let pre = net.node(last).inputs[0];
        let (conv, bn) = match net.node(pre).op {
            Op::BatchNorm { .. } => (net.node(pre).inputs[0], Some(pre)),
            _ => (pre, None),
        };
        let is_plain_conv = matches!(net.node(conv).op, Op::Conv2d { groups: 1, .. });
        let chain: Vec<NodeId> = bn.into_iter().chain([last]).collect();
        let consecutive = chain.iter().enumerate().all(|(k, &id)| id == conv + 1 + k);
        let read_by_chain_only = (conv + 1..net.nodes().len())
            .filter(|&id| net.node(id).inputs.iter().any(|&i| i == conv || Some(i) == bn))
            .all(|id| chain.contains(&id));
        (is_plain_conv && consecutive && read_by_chain_only).then_some((conv, bn))
    }

    /// Count `layer` on the value of convolution `conv` (then batch norm `bn`), the last thing
    /// counted: every vertex gets an exact input row, bounded or multiplied.
    pub(super) fn count_on_bounded_conv(
        &mut self,
        conv: NodeId,
        bn: Option<NodeId>,
        layer: usize,
    ) -> Result<(), CountError> {
        self.retire_points(|_, _| true);
        let lc = self.lc;
        let input = self.value(lc.net.node(conv).inputs[0]);
        let through = |rows: &Tensor<T>| {
            let out = lc.apply_affine_rows(conv, &[rows], OffsetRows::All);
            match bn {
                Some(bn) => lc.apply_affine_rows(bn, &[&out], OffsetRows::All),
                None => out,
            }
        };
        let centers = through(&input.center);
        let kinks = lc.layer_kinks(layer);
        let bound = ConvBound::new(lc.net, conv, bn, kinks);
        let scan = Scan { kinks, count: true, detect_flips: false };
        let no_directions = |_| None::<super::RowDirections<'_, T>>;
        let scanned = if self.bounds_pay_off(&bound, &centers, &input.center, &input.exact) {
            self.scan_points(&centers, &input.exact, Some((&bound, &input.center)), no_directions, scan)
        } else {
            self.scan_points(&centers, &through(&input.exact), None, no_directions, scan)
        };
        self.record(scanned, Some(layer)).map(drop)
    }
}

/// A convolution's weights and geometry, its output channels' scales (batch norm) and weight
/// norms, and the factor that makes the bounds hold for computed values.
struct ConvBound<'a, T> {
    weights: &'a [T],
    in_shape: [usize; 3],
    out_shape: [usize; 3],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    scales: Vec<T>,
    /// `|a_o| |W_o|` per output channel.
    row_norms: Vec<T>,
    safety: T,
    kinks: LayerKinks,
}

impl<'a, T: Scalar> ConvBound<'a, T> {
    fn new(net: &'a Network<T>, conv: NodeId, bn: Option<NodeId>, kinks: LayerKinks) -> Self {
        let Op::Conv2d { kernel, stride, padding, .. } = net.node(conv).op else { unreachable!("checked a conv") };
        let dims = |id: NodeId| -> [usize; 3] { net.shape(id).try_into().expect("a conv's values are [C, H, W]") };
        let (in_shape, out_shape) = (dims(net.node(conv).inputs[0]), dims(conv));
        let weights = &net.params(conv).tensors[0];
        let per_row = in_shape[0] * kernel[0] * kernel[1];
        let scales: Vec<T> = match bn {
            None => vec![T::one(); out_shape[0]],
            Some(bn) => {
                let Op::BatchNorm { eps, .. } = net.node(bn).op else { unreachable!("checked a batch norm") };
                let params = net.params(bn);
                let running = params.running.as_ref().expect("a batch norm has running statistics");
                let eps = T::from_f64(eps);
                params.tensors[0].iter().zip(&running.var).map(|(&g, &v)| g / (v + eps).sqrt()).collect()
            }
        };
        let row_norms = weights.chunks(per_row).zip(&scales).map(|(w, &a)| a.abs() * norm(w)).collect();
        let safety = T::from_f64(1.0 + 8.0 * (per_row + kernel[0] * kernel[1] + 8) as f64 * unit_roundoff::<T>());
        Self { weights, in_shape, out_shape, kernel, stride, padding, scales, row_norms, safety, kinks }
    }

    /// The input rows and columns `(iy, ky)` read by output row (axis 0) or column (axis 1) `o`.
    fn taps(&self, axis: usize, o: usize) -> impl Iterator<Item = (usize, usize)> {
        let (s, p, n) = (self.stride[axis], self.padding[axis], self.in_shape[axis + 1]);
        (0..self.kernel[axis]).filter_map(move |k| (o * s + k).checked_sub(p).filter(|&i| i < n).map(|i| (i, k)))
    }

    /// `W_o . patch_(oy, ox)(difference)`.
    fn dot_at(&self, o: usize, (oy, ox): (usize, usize), difference: &[T]) -> T {
        let [cin, h, w] = self.in_shape;
        let [kh, kw] = self.kernel;
        let weights = &self.weights[o * cin * kh * kw..(o + 1) * cin * kh * kw];
        let mut sum = T::zero();
        for c in 0..cin {
            for (iy, ky) in self.taps(0, oy) {
                for (ix, kx) in self.taps(1, ox) {
                    sum += weights[(c * kh + ky) * kw + kx] * difference[(c * h + iy) * w + ix];
                }
            }
        }
        sum
    }

    /// `input - center_input`, and per output position the norm of its window, enlarged by the
    /// safety factor.
    fn difference(&self, center_input: &[T], input: &[T]) -> (Vec<T>, Vec<T>) {
        let difference: Vec<T> = input.iter().zip(center_input).map(|(&x, &c)| x - c).collect();
        let [_, h, w] = self.in_shape;
        let mut squares = vec![T::zero(); h * w];
        for channel in difference.chunks(h * w) {
            squares.iter_mut().zip(channel).for_each(|(s, &d)| *s += d * d);
        }
        let [_, oh, ow] = self.out_shape;
        let mut sizes = Vec::with_capacity(oh * ow);
        for oy in 0..oh {
            for ox in 0..ow {
                let squares = &squares;
                let sum: T = self
                    .taps(0, oy)
                    .flat_map(|(iy, _)| self.taps(1, ox).map(move |(ix, _)| squares[iy * w + ix]))
                    .sum();
                sizes.push(sum.sqrt() * self.safety);
            }
        }
        (difference, sizes)
    }

    /// The sign code of every unit at the vertex whose input is `input`, marked in `sets`:
    /// settled by the bound where it can be, else from a dot product. With `mark` false, only
    /// count the units the bound leaves unsettled (and mark nothing).
    fn visit_units(&self, sets: &mut SignSets, center: &[T], center_input: &[T], input: &[T], mark: bool) -> usize {
        let (difference, sizes) = self.difference(center_input, input);
        let [_, _, ow] = self.out_shape;
        let positions = sizes.len();
        let mut unsettled = 0;
        for (unit, &c) in center.iter().enumerate() {
            let (o, p) = (unit / positions, unit % positions);
            let step = self.row_norms[o] * sizes[p];
            let lowest = sets.code(c - step);
            let code = if lowest == sets.code(c + step) {
                lowest
            } else if mark {
                sets.code(c + self.scales[o] * self.dot_at(o, (p / ow, p % ow), &difference))
            } else {
                unsettled += 1;
                continue;
            };
            if mark {
                sets.mark(unit, code);
            }
        }
        unsettled
    }
}

impl<T: Scalar> BoundedLayer<T> for ConvBound<'_, T> {
    fn for_point<'a>(&'a self, center: &'a [T], center_input: &'a [T]) -> Box<dyn PointBound<T> + 'a> {
        Box::new(ConvPoint { bound: self, center, center_input })
    }

    fn unsettled_units(&self, center: &[T], center_input: &[T], input: &[T]) -> usize {
        let mut sets = SignSets::new(0, crate::ZeroSign::OwnSign, self.kinks);
        self.visit_units(&mut sets, center, center_input, input, false)
    }
}

/// A convolution's bounds for one point: its centre's value and input.
struct ConvPoint<'a, T> {
    bound: &'a ConvBound<'a, T>,
    center: &'a [T],
    center_input: &'a [T],
}

impl<T: Scalar> PointBound<T> for ConvPoint<'_, T> {
    fn absorb_vertices<'r>(&self, sets: &mut SignSets, inputs: &mut dyn Iterator<Item = &'r [T]>)
    where
        T: 'r,
    {
        for input in inputs {
            self.bound.visit_units(sets, self.center, self.center_input, input, true);
        }
    }
}
