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
use std::cmp::Ordering;
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
    /// The layer's bounds for one point, whose centre has the value `center` here and the layer
    /// input `center_input` (prepared once for all of the point's exact vertices).
    fn for_point<'a>(&'a self, center: &'a [T], center_input: &'a [T]) -> Box<dyn PointBound<T> + 'a>;
    /// Number of units whose sign at the vertex with layer input `input` the bound does not
    /// settle.
    fn unsettled_units(&self, center: &[T], center_input: &[T], input: &[T]) -> usize;
}

/// A bounded layer prepared for one point.
pub(super) trait PointBound<T> {
    /// Record the signs of the layer's values at the point's vertices whose layer inputs are
    /// `inputs`.
    fn absorb_vertices<'r>(&self, sets: &mut SignSets, inputs: &mut dyn Iterator<Item = &'r [T]>)
    where
        T: 'r;
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

    /// A lower bound of the distance from `c` to the nearest kink of the counted layer: a
    /// value closer to `c` than this lies on `c`'s piece (on neither kink).
    fn margin(&self, c: T) -> T {
        match self.kinks {
            LayerKinks::AtZero => c.abs(),
            LayerKinks::Clamp { lo, hi } => {
                // The differences are rounded (their sign is exact): shrink them to stay below.
                let shrink = T::from_f64(1.0 - 4.0 * unit_roundoff::<T>());
                let (lo, hi) = (T::from_f64(lo), T::from_f64(hi));
                let (below, above) = ((c - lo).abs(), (c - hi).abs());
                (if below < above { below } else { above }) * shrink
            }
        }
    }
}

impl<T: Scalar> BoundedLayer<T> for DenseLayer<'_, T> {
    fn for_point<'a>(&'a self, center: &'a [T], center_input: &'a [T]) -> Box<dyn PointBound<T> + 'a> {
        Box::new(PointBounds::new(self, center, center_input))
    }

    fn unsettled_units(&self, center: &[T], center_input: &[T], input: &[T]) -> usize {
        let (_, size) = self.difference(center_input, input);
        let sets = SignSets::new(0, crate::ZeroSign::OwnSign, self.kinks);
        center.iter().enumerate().filter(|&(unit, &c)| self.settled_code(&sets, c, unit, size).is_none()).count()
    }
}

/// One point's view of the counted dense layer for its exact vertices: its centre's value and
/// input, and the units ordered by `margin_i / |W_i|`, the distance (relative to the weights'
/// norm) from the centre's value to the unit's nearest kink. A vertex whose input differs from
/// the centre's by `u` leaves unit i on the centre's piece when that ratio exceeds the bound
/// `|u|` (enlarged by the layer's safety factor): those units form a suffix of the order, so
/// each vertex costs one norm plus dot products for the units before it, and the settled units
/// are marked once for all vertices.
pub(super) struct PointBounds<'a, T> {
    layer: &'a DenseLayer<'a, T>,
    center: &'a [T],
    center_input: &'a [T],
    /// `(margin_i / |W_i|, i)`, ascending; a NaN ratio counts as lowest (never settled).
    order: Vec<(T, usize)>,
    /// Enlarges a vertex's bound to cover the rounding of the ratios.
    guard: T,
}

impl<'a, T: Scalar> PointBounds<'a, T> {
    fn new(layer: &'a DenseLayer<'a, T>, center: &'a [T], center_input: &'a [T]) -> Self {
        let lowest = T::from_f64(f64::NEG_INFINITY);
        let mut order: Vec<(T, usize)> = center
            .iter()
            .zip(&layer.row_norms)
            .enumerate()
            .map(|(unit, (&c, &norm))| {
                let ratio = layer.margin(c) / norm;
                (if ratio.to_f64().is_nan() { lowest } else { ratio }, unit)
            })
            .collect();
        order.sort_unstable_by(|a, b| a.0.partial_cmp(&b.0).expect("NaN ratios were replaced"));
        let guard = T::from_f64(1.0 + 4.0 * unit_roundoff::<T>());
        Self { layer, center, center_input, order, guard }
    }
}

impl<T: Scalar> PointBound<T> for PointBounds<'_, T> {
    /// Record the signs of `center + W (input - center_input)` at every vertex whose layer
    /// input is one of `inputs`.
    fn absorb_vertices<'r>(&self, sets: &mut SignSets, inputs: &mut dyn Iterator<Item = &'r [T]>)
    where
        T: 'r,
    {
        let mut difference = Vec::with_capacity(self.center_input.len());
        // Units from this position on are settled on the centre's piece by some vertex.
        let mut settled_from = self.order.len();
        for input in inputs {
            difference.clear();
            difference.extend(input.iter().zip(self.center_input).map(|(&x, &c)| x - c));
            let bound = norm(&difference) * self.layer.safety * self.guard;
            let unsettled =
                self.order.partition_point(|(ratio, _)| ratio.partial_cmp(&bound) != Some(Ordering::Greater));
            for &(_, unit) in &self.order[..unsettled] {
                let value = self.center[unit] + dot(self.layer.row(unit), &difference);
                sets.mark(unit, sets.code(value));
            }
            settled_from = settled_from.min(unsettled);
        }
        for &(_, unit) in &self.order[settled_from..] {
            sets.mark(unit, sets.code(self.center[unit]));
        }
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

pub(super) fn norm<T: Scalar>(v: &[T]) -> T {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tessera_net::{mlp, Activation};

    fn kinks_of(clamp: bool) -> LayerKinks {
        if clamp {
            LayerKinks::Clamp { lo: -0.25, hi: 0.5 }
        } else {
            LayerKinks::AtZero
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Bounding, then dot products for the unsettled units only, records the same pieces
        /// as computing every unit's value at every vertex.
        #[test]
        fn bounded_vertices_record_the_pieces_of_their_exact_values(
            seed in 0u64..1000,
            clamp in any::<bool>(),
            center in prop::collection::vec(-1.0f64..1.0, 9),
            center_input in prop::collection::vec(0.0f64..2.0, 12),
            offsets in prop::collection::vec((prop::collection::vec(-1.0f64..1.0, 12), -7i32..1), 1..6),
        ) {
            let mut net = mlp::<f64>(&[8, 12, 9], Activation::Relu).unwrap();
            net.init_pytorch_default(seed, 1.0);
            let kinks = kinks_of(clamp);
            let layer = DenseLayer::new(&net, 3, kinks);
            // Centre values from far to within rounding of a kink.
            let center: Vec<f64> = center.iter().enumerate().map(|(i, c)| c * 10f64.powi(-(i as i32))).collect();
            let inputs: Vec<Vec<f64>> = offsets
                .iter()
                .map(|(u, scale)| center_input.iter().zip(u).map(|(c, d)| c + d * 10f64.powi(*scale)).collect())
                .collect();
            let mut bounded = SignSets::new(9, crate::ZeroSign::OwnSign, kinks);
            PointBounds::new(&layer, &center, &center_input).absorb_vertices(&mut bounded, &mut inputs.iter().map(Vec::as_slice));
            let mut exact = SignSets::new(9, crate::ZeroSign::OwnSign, kinks);
            for input in &inputs {
                let difference: Vec<f64> = input.iter().zip(&center_input).map(|(x, c)| x - c).collect();
                for (unit, c) in center.iter().enumerate() {
                    exact.mark(unit, exact.code(c + dot(layer.row(unit), &difference)));
                }
            }
            prop_assert_eq!(bounded.seen(), exact.seen());
        }
    }

    /// A vertex at the centre settles nothing by the bound (its bound is zero) and is looked at
    /// unit by unit; a centre exactly on a kink stays there.
    #[test]
    fn a_vertex_at_its_centre_takes_the_centres_pieces() {
        let mut net = mlp::<f64>(&[2, 3, 4], Activation::Relu).unwrap();
        net.init_pytorch_default(1, 1.0);
        let layer = DenseLayer::new(&net, 3, LayerKinks::AtZero);
        let (center, center_input) = ([0.0, -1.0, 2.0, 1e-300], [0.5, 0.0, 1.0]);
        let mut sets = SignSets::new(4, crate::ZeroSign::OwnSign, LayerKinks::AtZero);
        PointBounds::new(&layer, &center, &center_input)
            .absorb_vertices(&mut sets, &mut [&center_input[..]].into_iter());
        assert_eq!(sets.seen(), &[2, 1, 4, 4]);
    }
}
