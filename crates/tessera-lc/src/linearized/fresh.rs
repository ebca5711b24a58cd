//! Vertices that have just crossed a kink. Right after the activation their value differs
//! from the clean value `slope(c) (c ± r d) + offset(c)` only at the few units that crossed, by
//! `delta_i = (slope(v_i) - slope(c_i)) v_i + offset(v_i) - offset(c_i)`; the next dense layer then gives
//! `centre ± r direction + W delta`, a few columns of `W`, instead of multiplying the whole row.

use super::{NodeValues, Run};
use crate::vertices::{append_rows, vertex_side, DirRows, RowFrom};
use rayon::prelude::*;
use tessera_net::simd::with_avx512;
use tessera_net::{Activation, NodeId, OffsetRows, Op, Scalar, Tensor, UnitResponses};

/// Exact rows that crossed a kink at `activation` and whose point still carries directions,
/// with their sparse differences (unit, delta) from the clean value after the activation.
pub(super) struct FreshRows<T> {
    activation: NodeId,
    rows: Vec<usize>,
    deltas: Vec<Vec<(usize, T)>>,
}

/// Where an exact row of the next dense layer comes from.
#[derive(Clone, Copy)]
enum RowSource {
    /// Row `j` of the product of the other rows with the weights.
    Product(usize),
    /// Entry `k` of the fresh rows.
    Fresh(usize),
}

impl<T: Scalar> Run<'_, '_, T> {
    /// The rows from `first_row` on (materialised at activation `id`, whose input is `pre`)
    /// whose point still carries directions.
    pub(super) fn fresh_rows(&self, id: NodeId, activation: Activation, pre: NodeId, first_row: usize) -> FreshRows<T> {
        let v = self.value(pre);
        let rows: Vec<usize> = (first_row..self.book.owners.len())
            .filter(|&r| self.book.slot[self.book.owners[r].point].is_some())
            .collect();
        let piece = |x: T| activation.piece_at(x.to_f64());
        // A vertex on another piece than its centre: `(s_x - s_c) x + (o_x - o_c)`.
        let delta = |c: T, x: T| {
            let ((sx, ox), (sc, oc)) = (activation.piece(piece(x)), activation.piece(piece(c)));
            T::from_f64(sx - sc) * x + T::from_f64(ox - oc)
        };
        let deltas = rows
            .par_iter()
            .map(|&r| {
                let (center, row) = (v.center.row(self.book.owners[r].point), v.exact.row(r));
                crossed_units(activation, center, row).into_iter().map(|i| (i, delta(center[i], row[i]))).collect()
            })
            .collect();
        FreshRows { activation: id, rows, deltas }
    }

    /// Per point of the batch, the rows from `first_row` on, materialised at activation `id`,
    /// when a dense layer reading that activation follows it (else zeros).
    pub(super) fn crossed_here_per_point(&self, id: NodeId, first_row: usize) -> Vec<usize> {
        let mut counts = vec![0; self.points];
        let next = self.lc.net.nodes().get(id + 1);
        if next.is_some_and(|n| matches!(n.op, Op::Dense { .. }) && n.inputs == [id]) {
            for key in &self.book.owners[first_row..] {
                counts[key.point] += 1;
            }
        }
        counts
    }

    /// Whether dense node `id` reads exactly the activation the fresh rows crossed at.
    pub(super) fn follows(&self, id: NodeId, fresh: &FreshRows<T>) -> bool {
        let node = self.lc.net.node(id);
        matches!(node.op, Op::Dense { .. }) && node.inputs == [fresh.activation]
    }

    /// Exact rows of dense node `id` (input `input`, centres `center` and directions `dirs`
    /// already computed): a matrix product for most rows, sparse corrections for fresh ones.
    pub(super) fn dense_exact_rows(
        &self,
        id: NodeId,
        input: &NodeValues<T>,
        center: &Tensor<T>,
        dirs: &DirRows<T>,
        fresh: &FreshRows<T>,
    ) -> Tensor<T> {
        let (net, num_dirs) = (self.lc.net, self.lc.p());
        let mut sources: Vec<Option<RowSource>> = vec![None; input.exact.batch];
        for (k, &row) in fresh.rows.iter().enumerate() {
            sources[row] = Some(RowSource::Fresh(k));
        }
        let mut others = Vec::new();
        for (row, source) in sources.iter_mut().enumerate() {
            if source.is_none() {
                *source = Some(RowSource::Product(others.len()));
                others.push(row);
            }
        }
        let gathered = select_rows(&input.exact, &others);
        let product = self.lc.apply_affine_rows(id, &[&gathered], OffsetRows::All);
        let responses = UnitResponses::of(net, id).expect("fresh rows feed a dense node");
        let width = center.width();
        let mut out = Tensor::zeros(0, net.shape(id));
        append_rows(&mut out.data, sources.len(), width, |r| match sources[r] {
            Some(RowSource::Product(j)) => RowFrom::Copy(product.row(j)),
            Some(RowSource::Fresh(k)) => {
                let key = self.book.owners[fresh.rows[k]];
                let slot = self.book.slot[key.point].expect("fresh rows' points carry directions");
                let (plus, p) = vertex_side(key.vertex, num_dirs);
                let radius = self.lc.radii[key.radius];
                let step = if plus { radius } else { -radius };
                RowFrom::Offset { center: center.row(key.point), dir: dirs.row(slot, p, num_dirs), step }
            }
            None => unreachable!("every row has a source"),
        });
        out.batch = sources.len();
        // The crossed units' corrections, after the clean value (the order of the additions).
        out.data.par_chunks_mut(width).zip(sources.par_iter()).for_each(|(row, source)| {
            if let Some(RowSource::Fresh(k)) = source {
                for &(unit, delta) in &fresh.deltas[*k] {
                    responses.add(row, unit, delta);
                }
            }
        });
        out
    }
}

fn select_rows<T: Scalar>(t: &Tensor<T>, rows: &[usize]) -> Tensor<T> {
    let mut data = Vec::with_capacity(rows.len() * t.width());
    rows.iter().for_each(|&r| data.extend_from_slice(t.row(r)));
    Tensor { shape: t.shape.clone(), batch: rows.len(), data }
}

/// The units where `x` lies on another piece of `activation` than `center` (the pieces of
/// `Activation::piece_at`, compared in f64 as it does). Most units do not cross: the comparison
/// runs over blocks with wide vectors, and only the blocks with a crossing are walked.
fn crossed_units<T: Scalar>(activation: Activation, center: &[T], x: &[T]) -> Vec<usize> {
    match activation {
        Activation::Relu | Activation::LeakyRelu { .. } | Activation::Abs => {
            units_where_pieces_differ(center, x, |v: T| u8::from(v.to_f64() >= 0.0))
        }
        Activation::Clamp { lo, hi } => {
            units_where_pieces_differ(center, x, move |v: T| u8::from(v.to_f64() >= lo) + u8::from(v.to_f64() >= hi))
        }
    }
}

#[inline(always)]
fn units_where_pieces_differ<T: Scalar>(center: &[T], x: &[T], piece: impl Fn(T) -> u8 + Copy) -> Vec<usize> {
    const BLOCK: usize = 64;
    let mut units = Vec::new();
    let mut differs = [0u8; BLOCK];
    for (block, (c, x)) in center.chunks(BLOCK).zip(x.chunks(BLOCK)).enumerate() {
        let differs = &mut differs[..c.len()];
        with_avx512(
            #[inline(always)]
            || differs.iter_mut().zip(c).zip(x).for_each(|((d, &c), &x)| *d = u8::from(piece(c) != piece(x))),
        );
        for (word, bytes) in differs.chunks(8).enumerate().filter(|(_, b)| b.iter().any(|&d| d != 0)) {
            let first = block * BLOCK + word * 8;
            units.extend(bytes.iter().enumerate().filter(|(_, &d)| d != 0).map(|(j, _)| first + j));
        }
    }
    units
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The block scan finds exactly the units where `Activation::piece_at` differs between
        /// centre and vertex, for every activation (its pieces are written out again for speed).
        #[test]
        fn crossed_units_are_the_units_whose_piece_at_differs(
            pairs in proptest::collection::vec((-2.0f64..2.0, -2.0f64..2.0), 0..200),
            kind in 0usize..4,
        ) {
            let activation = [
                Activation::Relu,
                Activation::LeakyRelu { slope: 0.1 },
                Activation::Abs,
                Activation::Clamp { lo: -0.5, hi: 0.7 },
            ][kind];
            // Exact kinks on both sides, so that ties are covered.
            let (center, x): (Vec<f64>, Vec<f64>) =
                pairs.iter().enumerate().map(|(i, &(c, v))| if i % 7 == 0 { (0.0, v) } else if i % 11 == 0 { (c, 0.7) } else { (c, v) }).unzip();
            let expected: Vec<usize> =
                (0..center.len()).filter(|&i| activation.piece_at(center[i]) != activation.piece_at(x[i])).collect();
            prop_assert_eq!(crossed_units(activation, &center, &x), expected);
        }
    }
}
