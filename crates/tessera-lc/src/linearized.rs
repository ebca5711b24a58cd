//! `Method::Linearized`: vertices carried as "centre + step x direction image" while they stay in
//! the centre's linear region, computed exactly only after a neuron separates them from it.
//!
//! At every node three kinds of rows are kept per batch:
//! - the centres `h(x_b)` (with offsets);
//! - the direction images `J_b v_p` under the centre's local linear map (no offsets), shared
//!   by all points while no kink lies upstream, and by all radii always;
//! - exact values of "separated" vertices.
//!
//! A vertex `x_b ± r v_p` is "clean" while every neuron upstream has it on the same side of
//! its kink as the centre; then its value at every node is exactly `h(x_b) ± r J_b v_p`. At each
//! activation the clean vertices are counted with the exact ones (a unit's range over all clean
//! vertices settles most units at once), and those that now cross a kink are materialised
//! (their current values at every live node become exact rows). A point whose clean vertices
//! become fewer than its P direction rows stops carrying directions: its clean vertices are
//! materialised too, which is then cheaper. Rows that just crossed are corrected sparsely at a
//! following dense layer (`fresh`); a last counted dense or convolutional layer is handled by
//! bounds (`last_layer`, `last_conv`). Max pooling materialises every vertex.

mod fresh;
mod last_conv;
mod last_layer;

use fresh::FreshRows;
use last_layer::{BoundedLayer, PointBound};

use crate::measure::{is_kinked, CountError, LocalComplexity};
use crate::sign::{LayerKinks, NotANumber, SignSets};
use crate::vertices::{append_rows, vertex_side, DirRows, RowFrom};
use rayon::prelude::*;
use tessera_net::{activate_in_place, Activation, NodeId, OffsetRows, Op, Scalar, Tensor};

/// The rows of one node's value.
struct NodeValues<T> {
    center: Tensor<T>,
    dirs: DirRows<T>,
    exact: Tensor<T>,
}

/// What one scan of a node's vertices does: count changes of piece between `kinks` (a counted
/// layer) and/or detect the clean vertices that leave their centre's piece.
#[derive(Clone, Copy)]
struct Scan {
    kinks: LayerKinks,
    count: bool,
    detect_flips: bool,
}

/// One vertex: point (in the batch), radius index and vertex index (`vertex_side`).
#[derive(Clone, Copy, Debug)]
struct VertexKey {
    point: usize,
    radius: usize,
    vertex: usize,
}

/// What scanning one point at one node found: sign changes per radius (when counted) and the
/// clean vertices that cross a kink.
struct PointScan {
    counts: Vec<u32>,
    flips: Vec<VertexKey>,
}

/// Which vertices are still clean, whom the exact rows belong to, and which points still carry
/// direction rows.
struct VertexBook {
    radii: usize,
    num_dirs: usize,
    /// `[point][radius][vertex]`.
    clean: Vec<bool>,
    /// Owner of each exact row (the same rows, in the same order, at every live node).
    owners: Vec<VertexKey>,
    /// Points that carry direction rows, in row order.
    tracked: Vec<usize>,
    /// Each point's position in `tracked`.
    slot: Vec<Option<usize>>,
}

impl VertexBook {
    fn new(points: usize, radii: usize, num_dirs: usize) -> Self {
        Self {
            radii,
            num_dirs,
            clean: vec![true; points * radii * 2 * num_dirs],
            owners: Vec::new(),
            tracked: (0..points).collect(),
            slot: (0..points).map(Some).collect(),
        }
    }

    fn index(&self, point: usize, radius: usize, vertex: usize) -> usize {
        (point * self.radii + radius) * 2 * self.num_dirs + vertex
    }

    fn clean_keys_of(&self, point: usize) -> impl Iterator<Item = VertexKey> + '_ {
        let per_radius = 2 * self.num_dirs;
        (0..self.radii * per_radius)
            .map(move |k| VertexKey { point, radius: k / per_radius, vertex: k % per_radius })
            .filter(|k| self.clean[self.index(k.point, k.radius, k.vertex)])
    }

    /// Exact row indices grouped by `point * radii + radius`.
    fn exact_rows_by_group(&self, points: usize) -> Vec<Vec<usize>> {
        let mut groups = vec![Vec::new(); points * self.radii];
        for (row, k) in self.owners.iter().enumerate() {
            groups[k.point * self.radii + k.radius].push(row);
        }
        groups
    }
}

/// `[point][radius][layer]` counts by the linearized method.
pub(crate) fn count_linearized<T: Scalar>(
    lc: &LocalComplexity<T>,
    centers: Tensor<T>,
    dirs: DirRows<T>,
) -> Result<Vec<u32>, CountError> {
    let points = centers.batch;
    let exact = Tensor::zeros(0, &centers.shape);
    let mut values: Vec<Option<NodeValues<T>>> = (0..lc.net.nodes().len()).map(|_| None).collect();
    values[0] = Some(NodeValues { center: centers, dirs, exact });
    let mut run = Run {
        lc,
        values,
        book: VertexBook::new(points, lc.radii.len(), lc.p()),
        counts: vec![0; points * lc.radii.len() * lc.layers.len()],
        points,
        fresh: None,
    };
    run.forward()?;
    Ok(run.counts)
}

struct Run<'a, 'n, T: Scalar> {
    lc: &'a LocalComplexity<'n, T>,
    values: Vec<Option<NodeValues<T>>>,
    book: VertexBook,
    counts: Vec<u32>,
    points: usize,
    /// Rows that crossed a kink at the activation just processed.
    fresh: Option<FreshRows<T>>,
}

impl<T: Scalar> Run<'_, '_, T> {
    fn forward(&mut self) -> Result<(), CountError> {
        let net = self.lc.net;
        let last = self.lc.last_needed_node();
        let bounded_target = self.bounded_dense_target(last);
        let bounded_conv = self.bounded_conv_target(last);
        for id in 1..=last {
            if Some(id) == bounded_target {
                let layer = self.lc.activation_layer(last).or(self.lc.output_layer()).expect("last is counted");
                return self.count_on_bounded_dense(id, layer);
            }
            if let Some((conv, bn)) = bounded_conv.filter(|&(conv, _)| conv == id) {
                let layer = self.lc.activation_layer(last).expect("last is a counted activation");
                return self.count_on_bounded_conv(conv, bn, layer);
            }
            let op = net.node(id).op.clone();
            let fresh = self.fresh.take();
            let value = match op {
                Op::Activation { activation } => {
                    let pre = net.node(id).inputs[0];
                    let first_new_row = self.book.owners.len();
                    // Vertices leaving the centre's region matter only to later layers.
                    let kinks = LayerKinks::of(activation);
                    self.scan(pre, self.lc.activation_layer(id), is_kinked(&op) && id != last, kinks)?;
                    if id == last {
                        return Ok(());
                    }
                    // Carrying P direction rows pays while fewer vertices need rows of their
                    // own; those that crossed here cost almost nothing at a next dense layer.
                    let cheap = self.crossed_here_per_point(id, first_new_row);
                    let num_dirs = self.lc.p();
                    self.retire_points(|b, clean| clean + cheap[b] < num_dirs);
                    self.fresh = Some(self.fresh_rows(id, activation, pre, first_new_row));
                    self.activate(id, activation, pre)
                }
                Op::MaxPool2d { .. } => {
                    self.retire_points(|_, _| true);
                    self.kinked_without_dirs(id)
                }
                _ => self.affine(id, fresh.as_ref()),
            };
            self.values[id] = Some(value);
            if id == net.output_id() {
                if let Some(layer) = self.lc.output_layer() {
                    self.scan(id, Some(layer), false, LayerKinks::AtZero)?;
                }
            }
            for value in self.lc.last_use.iter().zip(self.values.iter_mut()).filter(|(&l, _)| l == id) {
                *value.1 = None;
            }
        }
        Ok(())
    }

    fn value(&self, id: NodeId) -> &NodeValues<T> {
        self.values[id].as_ref().expect("value dropped before its last use")
    }

    /// At node `id`: count layer `layer` (if any) over all vertices and, with `detect_flips`,
    /// materialise the clean vertices that fall on another piece (between `kinks`) than their
    /// centre.
    fn scan(
        &mut self,
        id: NodeId,
        layer: Option<usize>,
        detect_flips: bool,
        kinks: LayerKinks,
    ) -> Result<(), CountError> {
        if layer.is_none() && !detect_flips {
            return Ok(());
        }
        let v = self.value(id);
        let num_dirs = self.lc.p();
        let directions = |b: usize| self.book.slot[b].map(|slot| RowDirections::new(&v.dirs, slot, num_dirs));
        let scan = Scan { kinks, count: layer.is_some(), detect_flips };
        let scanned = self.scan_points(&v.center, &v.exact, None, directions, scan);
        let flips = self.record(scanned, layer)?;
        self.materialize(&flips);
        Ok(())
    }

    /// Scan every point of the batch (in parallel) given the centres and exact rows at one node
    /// and, per point, its direction values there. With `bounded`, the exact rows are the
    /// inputs of that last counted layer (dense or convolution), whose centres' inputs are given
    /// too.
    fn scan_points<D: DirectionValues<T>>(
        &self,
        centers: &Tensor<T>,
        exact: &Tensor<T>,
        bounded: Option<(&dyn BoundedLayer<T>, &Tensor<T>)>,
        directions: impl Fn(usize) -> Option<D> + Sync,
        scan: Scan,
    ) -> Vec<Result<PointScan, NotANumber>> {
        let groups = self.book.exact_rows_by_group(self.points);
        (0..self.points)
            .into_par_iter()
            .map(|b| {
                let by_radius = &groups[b * self.book.radii..(b + 1) * self.book.radii];
                let has_rows = by_radius.iter().any(|rows| !rows.is_empty());
                let bounded = bounded.filter(|_| has_rows);
                let exact_rows = ExactRows {
                    rows: exact,
                    by_radius,
                    bounds: bounded.map(|(layer, inputs)| layer.for_point(centers.row(b), inputs.row(b))),
                };
                self.scan_point(b, centers.row(b), &exact_rows, directions(b), scan)
            })
            .collect()
    }

    /// Store the counts of `layer` (if counted) and return the vertices that crossed a kink.
    fn record(
        &mut self,
        scanned: Vec<Result<PointScan, NotANumber>>,
        layer: Option<usize>,
    ) -> Result<Vec<VertexKey>, CountError> {
        let (radii, num_layers) = (self.lc.radii.len(), self.lc.layers.len());
        let mut flips = Vec::new();
        for (b, result) in scanned.into_iter().enumerate() {
            let PointScan { counts, flips: point_flips } = result.map_err(|NotANumber| CountError::NotANumber {
                layer: self.lc.layers[layer.unwrap_or(0)].column.clone(),
                batch_position: b,
            })?;
            if let Some(l) = layer {
                for (rho, count) in counts.into_iter().enumerate() {
                    self.counts[(b * radii + rho) * num_layers + l] = count;
                }
            }
            flips.extend(point_flips);
        }
        Ok(flips)
    }

    /// Piece changes per radius of point `b`, and its clean vertices that cross a kink.
    ///
    /// A clean vertex's value of unit i is `c_i ± r d_pi`; over all of them it lies within
    /// `c_i ± r reach_i` with `reach_i >= max_p |d_pi|` (rounding is monotone, so this holds for
    /// the computed values too). A unit whose range has one sign has it on every clean vertex
    /// and separates none of them from the centre; only the few units whose range straddles
    /// zero are looked at vertex by vertex.
    fn scan_point(
        &self,
        b: usize,
        center: &[T],
        exact: &ExactRows<T>,
        mut directions: Option<impl DirectionValues<T>>,
        Scan { kinks, count, detect_flips }: Scan,
    ) -> Result<PointScan, NotANumber> {
        let (book, num_dirs) = (&self.book, self.lc.p());
        let mut sets = SignSets::new(center.len(), self.lc.options.zero, kinks);
        let mut counts = vec![0; book.radii];
        let mut flips = Vec::new();
        for (rho, &radius) in self.lc.radii.iter().enumerate() {
            sets.clear();
            let clean: Vec<usize> = (0..2 * num_dirs).filter(|&k| book.clean[book.index(b, rho, k)]).collect();
            if let (Some(directions), false) = (directions.as_mut(), clean.is_empty()) {
                let mut flipped = vec![false; 2 * num_dirs];
                for (unit, &c) in center.iter().enumerate() {
                    let step = radius * directions.reach(unit);
                    let lowest = sets.code(c - step);
                    if lowest == sets.code(c + step) {
                        sets.mark(unit, lowest);
                        continue;
                    }
                    let values = directions.unit_values(unit);
                    for &k in &clean {
                        let (plus, p) = vertex_side(k, num_dirs);
                        let vertex_step = if plus { radius } else { -radius };
                        let value = c + vertex_step * values[p];
                        let code = sets.code(value);
                        sets.mark(unit, code);
                        flipped[k] |= !sets.same_piece(value, c);
                    }
                }
                if detect_flips {
                    let keys = clean.iter().filter(|&&k| flipped[k]);
                    flips.extend(keys.map(|&vertex| VertexKey { point: b, radius: rho, vertex }));
                }
            }
            if count {
                exact.absorb(rho, &mut sets);
                counts[rho] = sets.count_changes()?;
            }
        }
        Ok(PointScan { counts, flips })
    }

    /// Give the clean vertices `keys` exact rows at every live node, from their clean values.
    fn materialize(&mut self, keys: &[VertexKey]) {
        if keys.is_empty() {
            return;
        }
        let (book, radii, num_dirs) = (&mut self.book, &self.lc.radii, self.lc.p());
        for v in self.values.iter_mut().flatten() {
            let (center, dirs, width) = (&v.center, &v.dirs, v.center.width());
            append_rows(&mut v.exact.data, keys.len(), width, |r| {
                let k = keys[r];
                let slot = book.slot[k.point].expect("a clean vertex's point carries directions");
                let (plus, p) = vertex_side(k.vertex, num_dirs);
                let step = if plus { radii[k.radius] } else { -radii[k.radius] };
                RowFrom::Offset { center: center.row(k.point), dir: dirs.row(slot, p, num_dirs), step }
            });
            v.exact.batch += keys.len();
        }
        for k in keys {
            let i = book.index(k.point, k.radius, k.vertex);
            book.clean[i] = false;
        }
        book.owners.extend_from_slice(keys);
    }

    /// Stop carrying directions for the tracked points `b` for which `retire(b, clean vertices
    /// of b)` holds, materialising their clean vertices first.
    fn retire_points(&mut self, retire: impl Fn(usize, usize) -> bool) {
        let num_dirs = self.lc.p();
        let (leaving, staying): (Vec<usize>, Vec<usize>) =
            self.book.tracked.iter().partition(|&&b| retire(b, self.book.clean_keys_of(b).count()));
        if leaving.is_empty() {
            return;
        }
        let keys: Vec<VertexKey> = leaving.iter().flat_map(|&b| self.book.clean_keys_of(b)).collect();
        self.materialize(&keys);
        let kept_slots: Vec<usize> = staying.iter().map(|&b| self.book.slot[b].expect("tracked")).collect();
        for v in self.values.iter_mut().flatten() {
            if let DirRows::PerPoint(t) = &mut v.dirs {
                keep_blocks(t, &kept_slots, num_dirs);
            }
        }
        self.book.slot.iter_mut().for_each(|s| *s = None);
        for (slot, &b) in staying.iter().enumerate() {
            self.book.slot[b] = Some(slot);
        }
        self.book.tracked = staying;
    }

    /// Activation node `id` on the values of its input `pre`: centres and exact rows through
    /// the activation, directions scaled by the centre's slopes.
    fn activate(&mut self, id: NodeId, activation: Activation, pre: NodeId) -> NodeValues<T> {
        // The exact rows are most of the data: activated in place when `pre` dies here.
        let dying = (self.lc.last_use[pre] == id).then(|| {
            let v = self.values[pre].as_mut().expect("value dropped before its last use");
            let emptied = Tensor::zeros(0, &v.exact.shape);
            std::mem::replace(&mut v.exact, emptied)
        });
        let (net, v, num_dirs) = (self.lc.net, self.value(pre), self.lc.p());
        let width = v.center.width();
        let mut dirs = Tensor::zeros(self.book.tracked.len() * num_dirs, &v.center.shape);
        dirs.data.par_chunks_mut(num_dirs * width).zip(self.book.tracked.par_iter()).enumerate().for_each(
            |(slot, (block, &b))| {
                let slopes: Vec<T> =
                    v.center.row(b).iter().map(|c| T::from_f64(activation.slope_at(c.to_f64()))).collect();
                for (p, row) in block.chunks_mut(width).enumerate() {
                    let input = v.dirs.row(slot, p, num_dirs);
                    row.iter_mut().zip(input).zip(&slopes).for_each(|((d, &x), &s)| *d = x * s);
                }
            },
        );
        let exact = match dying {
            Some(mut rows) => {
                activate_in_place(activation, &mut rows.data);
                rows
            }
            None => self.run_rows(id, &v.exact),
        };
        NodeValues { center: net.run_node_eval(id, &[&v.center]), dirs: DirRows::PerPoint(dirs), exact }
    }

    /// A kinked node whose directions are not carried (max pooling): every vertex is exact.
    fn kinked_without_dirs(&self, id: NodeId) -> NodeValues<T> {
        let v = self.value(self.lc.net.node(id).inputs[0]);
        NodeValues {
            center: self.lc.net.run_node_eval(id, &[&v.center]),
            dirs: DirRows::PerPoint(Tensor::zeros(0, self.lc.net.shape(id))),
            exact: self.run_rows(id, &v.exact),
        }
    }

    fn run_rows(&self, id: NodeId, rows: &Tensor<T>) -> Tensor<T> {
        if rows.batch == 0 {
            return Tensor::zeros(0, self.lc.net.shape(id));
        }
        self.lc.net.run_node_eval(id, &[rows])
    }

    /// Affine node `id`: offsets on centres and exact rows, none on directions.
    /// With `fresh` rows from the activation this dense node reads, those rows are corrected
    /// sparsely instead of multiplied.
    fn affine(&self, id: NodeId, fresh: Option<&FreshRows<T>>) -> NodeValues<T> {
        let inputs: Vec<&NodeValues<T>> = self.lc.net.node(id).inputs.iter().map(|&i| self.value(i)).collect();
        let centers: Vec<&Tensor<T>> = inputs.iter().map(|v| &v.center).collect();
        let dirs: Vec<&DirRows<T>> = inputs.iter().map(|v| &v.dirs).collect();
        let center = self.lc.net.apply_affine(id, &centers, OffsetRows::All);
        let dirs = self.lc.affine_dirs(id, &dirs, self.book.tracked.len());
        let exact = match fresh {
            Some(fresh) if self.follows(id, fresh) => self.dense_exact_rows(id, inputs[0], &center, &dirs, fresh),
            _ => {
                let exact: Vec<&Tensor<T>> = inputs.iter().map(|v| &v.exact).collect();
                self.lc.apply_affine_rows(id, &exact, OffsetRows::All)
            }
        };
        NodeValues { center, dirs, exact }
    }
}

/// One point's exact rows at a node, grouped by radius.
struct ExactRows<'a, T> {
    rows: &'a Tensor<T>,
    by_radius: &'a [Vec<usize>],
    /// When the rows are the inputs of the last counted layer (dense or convolution): that
    /// layer's bounds for the point.
    bounds: Option<Box<dyn PointBound<T> + 'a>>,
}

impl<T: Scalar> ExactRows<'_, T> {
    /// Record the signs of the rows of radius `rho`.
    fn absorb(&self, rho: usize, sets: &mut SignSets) {
        let mut rows = self.by_radius[rho].iter().map(|&row| self.rows.row(row));
        match &self.bounds {
            None => rows.for_each(|row| sets.absorb(row)),
            Some(bounds) => bounds.absorb_vertices(sets, &mut rows),
        }
    }
}

/// A point's direction values `d_pi` at one node, unit by unit.
trait DirectionValues<T> {
    /// An upper bound of `|d_pi|` over p.
    fn reach(&self, unit: usize) -> T;
    /// `d_pi` for p = 0..P.
    fn unit_values(&mut self, unit: usize) -> &[T];
}

/// Direction values held as P rows; the reach is the exact maximum.
struct RowDirections<'a, T> {
    rows: Vec<&'a [T]>,
    reach: Vec<T>,
    column: Vec<T>,
}

impl<'a, T: Scalar> RowDirections<'a, T> {
    fn new(dirs: &'a DirRows<T>, slot: usize, num_dirs: usize) -> Self {
        let rows: Vec<&[T]> = (0..num_dirs).map(|p| dirs.row(slot, p, num_dirs)).collect();
        let mut reach = vec![T::zero(); rows[0].len()];
        for row in &rows {
            for (m, &d) in reach.iter_mut().zip(*row) {
                *m = m.max(d.abs());
            }
        }
        Self { rows, reach, column: Vec::with_capacity(num_dirs) }
    }
}

impl<T: Scalar> DirectionValues<T> for RowDirections<'_, T> {
    fn reach(&self, unit: usize) -> T {
        self.reach[unit]
    }

    fn unit_values(&mut self, unit: usize) -> &[T] {
        self.column.clear();
        self.column.extend(self.rows.iter().map(|row| row[unit]));
        &self.column
    }
}

/// Keep only the blocks of `block_rows` rows at the increasing positions `keep`, in place.
fn keep_blocks<T: Scalar>(t: &mut Tensor<T>, keep: &[usize], block_rows: usize) {
    debug_assert!(keep.windows(2).all(|w| w[0] < w[1]), "blocks move forward only");
    let block = block_rows * t.width();
    for (new, &old) in keep.iter().enumerate() {
        if new != old {
            t.data.copy_within(old * block..(old + 1) * block, new * block);
        }
    }
    t.data.truncate(keep.len() * block);
    t.batch = keep.len() * block_rows;
}
