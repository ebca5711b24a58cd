//! The last counted layer, when its pre-activation is a dense layer `W x + b`: nothing after it
//! is needed, so vertex values there are not formed by products of matrices. A vertex differs
//! from its centre by `W (x_v - x_c)`, and `|W_i . u| <= |W_i| |u|` (Cauchy-Schwarz): a unit
//! whose range `c_i ± |W_i| |u|` has one sign is settled; only the few others get a dot
//! product. Clean vertices use `u = ± r e_p` (bounded over p at once), exact ones their own
//! difference.

use super::{DirectionValues, Run, Scan};
use crate::measure::CountError;
use crate::sign::{LayerKinks, SignSets};
use rayon::prelude::*;
use tessera_net::{Network, NodeId, OffsetRows, Op, Scalar, Tensor};

impl<T: Scalar> Run<'_, '_, T> {
    /// The dense node whose value is the last thing counted, if nothing else reads it before
    /// the count: the pre-activation of the last counted activation, or the output.
    pub(super) fn bounded_dense_target(&self, last: NodeId) -> Option<NodeId> {
        let net = self.lc.net;
        let target = match net.node(last).op {
            Op::Activation { .. } => net.node(last).inputs[0],
            _ => last,
        };
        let read_only_by_last = (target + 1..=last).all(|id| id == last || !net.node(id).inputs.contains(&target));
        (matches!(net.node(target).op, Op::Dense { .. }) && read_only_by_last).then_some(target)
    }

    /// Count `layer` on the value of dense node `id`, the last thing counted.
    pub(super) fn count_on_bounded_dense(&mut self, id: NodeId, layer: usize) -> Result<(), CountError> {
        let net = self.lc.net;
        let input = self.value(net.node(id).inputs[0]);
        let centers = net.apply_affine(id, &[&input.center], OffsetRows::All);
        let kinks = self.lc.layer_kinks(layer);
        let dense = DenseLayer::new(net, id, kinks);
        let num_dirs = self.lc.p();
        let directions = |b: usize| {
            self.book.slot[b].map(|slot| {
                let inputs: Vec<&[T]> = (0..num_dirs).map(|p| input.dirs.row(slot, p, num_dirs)).collect();
                let largest = inputs.iter().map(|e| norm(e)).fold(T::zero(), T::max) * dense.safety;
                BoundedDense { layer: &dense, inputs, largest, column: Vec::new() }
            })
        };
        let scan = Scan { kinks, count: true, detect_flips: false };
        let scanned = if self.bounds_pay_off(&dense, &centers, &input.center, &input.exact) {
            self.scan_points(
                &centers,
                &input.exact,
                Some((&dense as &dyn BoundedLayer<T>, &input.center)),
                directions,
                scan,
            )
        } else {
            let exact = self.lc.apply_affine_rows(id, &[&input.exact], OffsetRows::All);
            self.scan_points(&centers, &exact, None, directions, scan)
        };
        self.record(scanned, Some(layer)).map(drop)
    }

    /// Whether bounding the exact rows is cheaper than multiplying them by the weights, judged
    /// on a sample of rows by the share of units the bound leaves unsettled: a dot product per
    /// unsettled unit costs several times a packed matrix product's share of it, and the bound
    /// itself costs a pass over every unit.
    pub(super) fn bounds_pay_off(
        &self,
        dense: &dyn BoundedLayer<T>,
        centers: &Tensor<T>,
        center_inputs: &Tensor<T>,
        exact_inputs: &Tensor<T>,
    ) -> bool {
        let stride = exact_inputs.batch.div_ceil(SAMPLED_ROWS).max(1);
        let sample: Vec<usize> = (0..exact_inputs.batch).step_by(stride).collect();
        let unsettled: usize = sample
            .par_iter()
            .map(|&row| {
                let b = self.book.owners[row].point;
                dense.unsettled_units(centers.row(b), center_inputs.row(b), exact_inputs.row(row))
            })
            .sum();
        unsettled * MAX_UNSETTLED_SHARE_FOR_BOUNDS < sample.len() * centers.width()
    }
}

/// A last counted layer whose value at a vertex is `center + L (input - center_input)` for a
/// linear map `L`, the signs settled by bounds on `L` where they can be.
pub(super) trait BoundedLayer<T>: Sync {
    /// Record the signs of the layer's value at a vertex whose input is `input`.
    fn absorb_vertex(&self, sets: &mut SignSets, center: &[T], center_input: &[T], input: &[T]);
    /// Number of units whose sign at that vertex the bound does not settle.
    fn unsettled_units(&self, center: &[T], center_input: &[T], input: &[T]) -> usize;
}

/// Exact rows looked at to choose between bounds and a matrix product.
const SAMPLED_ROWS: usize = 64;

/// Bounds are used while fewer than 1 in this many units stay unsettled. Measured on the MNIST
/// MLP (784-200-200-200, 2000 points, P = 25): at ~3% unsettled bounds and the product cost
/// about the same over the whole count, at ~20% (trained, r = 0.5) the product is ~25% faster.
const MAX_UNSETTLED_SHARE_FOR_BOUNDS: usize = 10;

/// A dense layer's weights, their row norms, and the factor that makes Cauchy-Schwarz bounds
/// hold for computed (rounded) dot products and norms.
pub(super) struct DenseLayer<'a, T> {
    weights: &'a [T],
    in_width: usize,
    row_norms: Vec<T>,
    safety: T,
    /// The kinks of the counted layer.
    kinks: LayerKinks,
}

impl<'a, T: Scalar> DenseLayer<'a, T> {
    fn new(net: &'a Network<T>, id: NodeId, kinks: LayerKinks) -> Self {
        let weights = &net.params(id).tensors[0];
        let in_width: usize = net.shape(net.node(id).inputs[0]).iter().product();
        let row_norms = weights.par_chunks(in_width).map(norm).collect();
        let safety = T::from_f64(1.0 + 8.0 * (in_width + 2) as f64 * unit_roundoff::<T>());
        Self { weights, in_width, row_norms, safety, kinks }
    }

    fn row(&self, unit: usize) -> &[T] {
        &self.weights[unit * self.in_width..(unit + 1) * self.in_width]
    }

    /// `input - center_input`, and its norm enlarged by the safety factor.
    fn difference(&self, center_input: &[T], input: &[T]) -> (Vec<T>, T) {
        let difference: Vec<T> = input.iter().zip(center_input).map(|(&x, &c)| x - c).collect();
        let size = norm(&difference) * self.safety;
        (difference, size)
    }

    /// The sign code every value within `|W_unit| size` of `c` has, if they share one.
    fn settled_code(&self, sets: &SignSets, c: T, unit: usize, size: T) -> Option<u8> {
        let step = self.row_norms[unit] * size;
        let lowest = sets.code(c - step);
        (lowest == sets.code(c + step)).then_some(lowest)
    }
}

impl<T: Scalar> BoundedLayer<T> for DenseLayer<'_, T> {
    /// Record the signs of `center + W (input - center_input)`, the layer's value at a vertex
    /// whose input is `input`.
    fn absorb_vertex(&self, sets: &mut SignSets, center: &[T], center_input: &[T], input: &[T]) {
        let (difference, size) = self.difference(center_input, input);
        for (unit, &c) in center.iter().enumerate() {
            let code = match self.settled_code(sets, c, unit, size) {
                Some(code) => code,
                None => sets.code(c + dot(self.row(unit), &difference)),
            };
            sets.mark(unit, code);
        }
    }

    /// Number of units whose sign at the vertex with input `input` the bound does not settle.
    fn unsettled_units(&self, center: &[T], center_input: &[T], input: &[T]) -> usize {
        let (_, size) = self.difference(center_input, input);
        let sets = SignSets::new(0, crate::ZeroSign::OwnSign, self.kinks);
        center.iter().enumerate().filter(|&(unit, &c)| self.settled_code(&sets, c, unit, size).is_none()).count()
    }
}

/// Direction values `W_i . e_p` of a dense layer for a clean vertex set, computed only for the
/// units asked about.
struct BoundedDense<'a, T> {
    layer: &'a DenseLayer<'a, T>,
    inputs: Vec<&'a [T]>,
    /// `max_p |e_p|`, enlarged by the layer's rounding safety factor.
    largest: T,
    column: Vec<T>,
}

impl<T: Scalar> DirectionValues<T> for BoundedDense<'_, T> {
    fn reach(&self, unit: usize) -> T {
        self.layer.row_norms[unit] * self.largest
    }

    fn unit_values(&mut self, unit: usize) -> &[T] {
        let w = self.layer.row(unit);
        self.column.clear();
        self.column.extend(self.inputs.iter().map(|e| dot(w, e)));
        &self.column
    }
}

/// Dot product with eight running sums, so that it vectorises (any summation order is
/// covered by the rounding safety factor).
fn dot<T: Scalar>(a: &[T], b: &[T]) -> T {
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: T = a8.remainder().iter().zip(b8.remainder()).map(|(&x, &y)| x * y).sum();
    let mut sums = [T::zero(); 8];
    for (x, y) in a8.zip(b8) {
        for k in 0..8 {
            sums[k] += x[k] * y[k];
        }
    }
    sums.iter().copied().sum::<T>() + tail
}

fn norm<T: Scalar>(v: &[T]) -> T {
    dot(v, v).sqrt()
}

/// Unit roundoff of `T` (2^-24 for f32, 2^-53 for f64).
pub(super) fn unit_roundoff<T: Scalar>() -> f64 {
    if std::mem::size_of::<T>() == 4 {
        f64::from(f32::EPSILON) / 2.0
    } else {
        f64::EPSILON / 2.0
    }
}
