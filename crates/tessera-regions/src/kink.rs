//! The kinked nodes of a network (activations and max pooling), the one description of them
//! that every engine uses, and how the 2-D/1-D engine cuts a cell by one.
//!
//! A kinked node is a layer of *units*; on a piece of input space each unit is in one *state*,
//! the candidate affine function it passes on: a neuron the piece of its activation its
//! pre-activation `h` lies on (`Activation::piece_at`: for the ReLU family state 1, active,
//! where `h >= 0`, state 0 where `h < 0`; for a clamp state 0 below `lo`, 1 from `lo` to below
//! `hi`, 2 from `hi` up), a max-pooling output one input of its window (state: that input's
//! in-sample index). Ties go as in the forward pass (a pre-activation on a kink takes the piece
//! above; max pooling keeps the first maximum of its window, `Network::pool_windows`).

use crate::affine::{PieceRows, UnitAffine};
use crate::cell::{max_magnitude, Affine, Cell, Point, Side, NO_LABEL, REL_TOL};
use crate::code::{layer_code, layer_seed, unit_key};
use crate::vertex_scan::vertex_extremes;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tessera_net::simd::with_avx2;
use tessera_net::{Activation, Network, NodeId, Op, Tensor};

/// The kind of a kinked node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KinkKind {
    /// A layer of neurons (ReLU, leaky ReLU, absolute value).
    Activation,
    /// Max pooling: each output is the largest input of its window.
    MaxPool,
}

/// A kinked node: a layer of neurons or a max-pooling node.
#[derive(Clone, Debug)]
pub(crate) struct KinkLayer {
    pub node: NodeId,
    pub input: NodeId,
    pub name: String,
    pub kink: KinkUnits,
    /// Neurons, or pooling outputs (one window each).
    pub units: usize,
    /// Seed of this layer's code keys.
    pub seed: u64,
    /// The keys of each neuron's states (activation layers; empty for max pooling).
    keys: Vec<[u64; MAX_PIECES]>,
}

/// What the units of a kinked node choose between.
#[derive(Clone, Debug)]
pub(crate) enum KinkUnits {
    /// Neurons, each choosing between its pre-activation and the other side of its kink.
    Neurons(Activation),
    /// Pooling outputs, each choosing one input of its window (in-sample indices, in the
    /// forward pass's tie-breaking order).
    Pools { windows: Vec<Vec<u32>> },
}

impl KinkUnits {
    pub fn kind(&self) -> KinkKind {
        match self {
            KinkUnits::Neurons(_) => KinkKind::Activation,
            KinkUnits::Pools { .. } => KinkKind::MaxPool,
        }
    }

    /// The candidate functions of unit `u` on a piece whose input map is `rows`, in
    /// tie-breaking order, whose argmax is the unit's state (`state`): a neuron's are `h - k`
    /// and `0` for one kink `k` (a neuron is active where `h >= k`, whatever its slopes), and
    /// `h - hi`, `0`, `lo - h` for a clamp; a pooling output's are its window's inputs.
    pub fn candidates<A: UnitAffine>(&self, u: usize, rows: PieceRows<'_>) -> Vec<A> {
        match self {
            KinkUnits::Neurons(act) => {
                let zero = A::zero(rows.dim());
                match *act.kinks().as_slice() {
                    [k] => vec![rows.unit::<A>(u).affine(1.0, -k), zero],
                    [lo, hi] => vec![rows.unit::<A>(u).affine(1.0, -hi), zero, rows.unit::<A>(u).affine(-1.0, lo)],
                    _ => unreachable!("activations have one or two kinks"),
                }
            }
            KinkUnits::Pools { windows } => windows[u].iter().map(|&i| rows.unit(i as usize)).collect(),
        }
    }

    /// The state of unit `u` when its candidate `choice` wins.
    #[inline]
    pub fn state(&self, u: usize, choice: usize) -> u32 {
        match self {
            KinkUnits::Neurons(act) => (act.num_pieces() - 1 - choice) as u32,
            KinkUnits::Pools { windows } => windows[u][choice],
        }
    }

    /// Write the node's output row `dst` from its input row `src`, unit `u` in `states[u]`;
    /// `offset_row`: `src` is a piece's value row (row 0), which receives the pieces' offsets.
    #[inline(always)]
    pub fn write_row(&self, dst: &mut [f64], src: &[f64], states: &[u32], offset_row: bool) {
        match self {
            KinkUnits::Neurons(act) if offset_row && act.has_offsets() => {
                let pieces = neuron_pieces(*act);
                dst.iter_mut().zip(src).zip(states).for_each(|((d, &x), &st)| {
                    let (slope, offset) = pick(pieces, st);
                    *d = x * slope + offset;
                });
            }
            KinkUnits::Neurons(act) => {
                let slopes = neuron_pieces(*act).map(|(slope, _)| slope);
                dst.iter_mut().zip(src).zip(states).for_each(|((d, &x), &st)| *d = x * pick(slopes, st));
            }
            KinkUnits::Pools { .. } => dst.iter_mut().zip(states).for_each(|(d, &st)| *d = src[st as usize]),
        }
    }

    /// Overwrite output unit `u` of row `dst` for `u` in `state` (`offset_row` as `write_row`).
    #[inline]
    pub fn write_unit(&self, dst: &mut [f64], src: &[f64], u: usize, state: u32, offset_row: bool) {
        dst[u] = match self {
            KinkUnits::Neurons(act) => {
                let (slope, offset) = act.piece(state as usize);
                src[u] * slope + if offset_row { offset } else { 0.0 }
            }
            KinkUnits::Pools { .. } => src[state as usize],
        };
    }

    /// How much output `unit` changes, on the input row `src`, when its state goes from
    /// `from` to `to` (what a piece adds to its parent's output in the parent's states);
    /// `offset_row` as `write_row`.
    #[inline(always)]
    pub fn output_change(&self, src: &[f64], unit: usize, from: u32, to: u32, offset_row: bool) -> f64 {
        match self {
            KinkUnits::Neurons(act) => {
                let ((s_to, o_to), (s_from, o_from)) = (act.piece(to as usize), act.piece(from as usize));
                src[unit] * (s_to - s_from) + if offset_row { o_to - o_from } else { 0.0 }
            }
            KinkUnits::Pools { .. } => src[to as usize] - src[from as usize],
        }
    }
}

/// The most pieces an activation has (a clamp's three).
const MAX_PIECES: usize = 3;

/// Entry `state` of a neuron's per-state values (states are below `MAX_PIECES`): selects
/// rather than an indexed load, so that the loops over units vectorise.
#[inline(always)]
fn pick<T: Copy>(values: [T; MAX_PIECES], state: u32) -> T {
    match state {
        0 => values[0],
        1 => values[1],
        _ => values[2],
    }
}

/// A neuron's `(slope, offset)` in each state (unused states repeat the last piece).
#[inline]
fn neuron_pieces(act: Activation) -> [(f64, f64); MAX_PIECES] {
    let last = act.num_pieces() - 1;
    [0, 1, 2].map(|k| act.piece(k.min(last)))
}

/// The state of a neuron whose pre-activation on `cell` is `f`, or `None` when one of the
/// activation's `kinks` cuts the cell. The tolerance of each kink `k` covers the magnitude
/// `|k|` (the pre-activation's own size where it meets the kink).
fn neuron_state<C: Cell>(cell: &C, f: &Affine, kinks: &[f64]) -> Option<u32> {
    let mut state = 0;
    for &k in kinks {
        match cell.side(&shifted(f, k), k.abs()) {
            Side::Both => return None,
            // Zero on the whole cell: the piece above, as the forward pass.
            Side::Positive | Side::Zero => state += 1,
            Side::Negative => {}
        }
    }
    Some(state)
}

/// `f - k`.
#[inline]
fn shifted(f: &Affine, k: f64) -> Affine {
    [f[0] - k, f[1], f[2]]
}

/// A part of a cell on which every unit of a layer has one state.
#[derive(Clone, Debug)]
pub(crate) struct Piece<C> {
    pub cell: C,
    /// Index of the cell it came from, in its chunk.
    pub parent: usize,
    /// The end of its chain of states in the parent's trail (see `PieceStates`).
    pub head: u32,
    /// The layer's code on this piece.
    pub code: u64,
}

/// The unit states of the pieces of one cell: base states that all pieces share, and a trail
/// of the states the depth-first split fixed for the units that cut the cell. The trail is a
/// tree whose root-ward chains are the pieces' states, so its size grows with the split, not
/// with pieces times cutting units (thousands of each in a wide conv layer).
pub(crate) struct PieceStates {
    pub base: Vec<u32>,
    trail: Vec<TrailEntry>,
}

#[derive(Clone, Copy)]
struct TrailEntry {
    prev: u32,
    unit: u32,
    state: u32,
    /// The code of the states along the chain up to this entry.
    code: u64,
}

impl PieceStates {
    /// The `(unit, state)` pairs on the chain that ends at `head` (each unit at most once).
    pub fn chain(&self, mut head: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        std::iter::from_fn(move || {
            (head != NO_LABEL).then(|| {
                let e = self.trail[head as usize];
                head = e.prev;
                (e.unit, e.state)
            })
        })
    }

    fn chain_code(&self, head: u32) -> u64 {
        if head == NO_LABEL {
            0
        } else {
            self.trail[head as usize].code
        }
    }

    /// Extend the chain ending at `head` by `unit` in `state` (code key `key`).
    fn push(&mut self, head: u32, unit: u32, state: u32, key: u64) -> u32 {
        let code = self.chain_code(head) ^ key;
        self.trail.push(TrailEntry { prev: head, unit, state, code });
        (self.trail.len() - 1) as u32
    }
}

/// What a layer does to one cell.
pub(crate) struct CellRefinement<C: Cell> {
    pub states: PieceStates,
    pub pieces: Vec<Piece<C>>,
    /// Boundary pieces and the unit that makes each.
    pub boundaries: Vec<(C::Boundary, u32)>,
}

/// The kinked nodes of `net` in node order.
pub(crate) fn kink_layers(net: &Network<f64>) -> Vec<KinkLayer> {
    let mut layers = Vec::new();
    for (node, n) in net.nodes().iter().enumerate() {
        let kink = match n.op {
            Op::Activation { activation } => KinkUnits::Neurons(activation),
            Op::MaxPool2d { .. } => KinkUnits::Pools { windows: net.pool_windows(node) },
            _ => continue,
        };
        let units = net.shape(node).iter().product();
        let seed = layer_seed(layers.len());
        let keys = match kink {
            KinkUnits::Neurons(_) => (0..units as u32).map(|u| [0, 1, 2].map(|s| unit_key(seed, u, s))).collect(),
            KinkUnits::Pools { .. } => Vec::new(),
        };
        layers.push(KinkLayer { node, input: n.inputs[0], name: n.name.clone(), kink, units, seed, keys });
    }
    layers
}

#[inline]
fn difference(f: &Affine, g: &Affine) -> Affine {
    [f[0] - g[0], f[1] - g[1], f[2] - g[2]]
}

impl KinkLayer {
    pub fn kind_name(&self) -> &'static str {
        match self.kink {
            KinkUnits::Neurons(Activation::Relu) => "relu",
            KinkUnits::Neurons(Activation::LeakyRelu { .. }) => "leaky_relu",
            KinkUnits::Neurons(Activation::Abs) => "abs",
            KinkUnits::Neurons(Activation::Clamp { .. }) => "clamp",
            KinkUnits::Pools { .. } => "max_pool",
        }
    }

    /// The code key of `unit` in `state`.
    #[inline]
    pub fn key(&self, unit: u32, state: u32) -> u64 {
        match self.keys.get(unit as usize) {
            Some(pair) => pair[state as usize],
            None => unit_key(self.seed, unit, state),
        }
    }

    /// Split `cell` (index `parent` in its chunk) by this layer, given the `DIM + 1` rows of
    /// the affine map of the layer's input on the cell.
    pub fn refine<C: Cell>(&self, cell: &C, parent: usize, maps: &[f64]) -> CellRefinement<C> {
        let width = maps.len() / (C::DIM + 1);
        let (base, cutting) = self.classify(cell, maps, width);
        // The code of the units that do not cut: all units, less the placeholders of the others.
        let base_code = cutting.iter().fold(layer_code(self, &base), |h, &u| h ^ self.key(u, 0));
        let states = PieceStates { base, trail: Vec::new() };
        let mut out = CellRefinement { states, pieces: Vec::new(), boundaries: Vec::new() };
        let mut stack = vec![(cell.clone(), cutting, NO_LABEL)];
        while let Some((cell, candidates, head)) = stack.pop() {
            let Some((&unit, rest)) = candidates.split_first() else {
                let code = base_code ^ out.states.chain_code(head);
                out.pieces.push(Piece { cell, parent, head, code });
                continue;
            };
            let parts = self.cut(cell, maps, width, unit as usize, &mut out.boundaries);
            for (part, state) in parts.into_iter().rev() {
                let mut head = out.states.push(head, unit, state, self.key(unit, state));
                let mut still_cutting = Vec::with_capacity(rest.len());
                for &other in rest {
                    match self.state_on(&part, maps, width, other as usize) {
                        Some(s) => head = out.states.push(head, other, s, self.key(other, s)),
                        None => still_cutting.push(other),
                    }
                }
                stack.push((part, still_cutting, head));
            }
        }
        // The cutting units take their first piece's states as the base, so that pieces differ
        // from the base in few units (see `output_change`).
        if let Some(first) = out.pieces.first() {
            let chain: Vec<(u32, u32)> = out.states.chain(first.head).collect();
            chain.into_iter().for_each(|(u, s)| out.states.base[u as usize] = s);
        }
        out
    }

    /// The state of every unit that does not cut `cell` (0 for those that do), and the units
    /// that cut it.
    fn classify<C: Cell>(&self, cell: &C, maps: &[f64], width: usize) -> (Vec<u32>, Vec<u32>) {
        match &self.kink {
            KinkUnits::Neurons(act @ Activation::Clamp { .. }) => {
                let rows = PieceRows::new(maps, width);
                let mut cutting = Vec::new();
                let base = (0..width)
                    .map(|unit| {
                        neuron_state(cell, &rows.unit(unit), act.kinks().as_slice()).unwrap_or_else(|| {
                            cutting.push(unit as u32);
                            0
                        })
                    })
                    .collect();
                (base, cutting)
            }
            KinkUnits::Neurons(_) => classify_neurons(cell.vertices(), maps, width, C::DIM),
            KinkUnits::Pools { windows } => {
                let rows = PieceRows::new(maps, width);
                let mut base = vec![0u32; self.units];
                let mut cutting = Vec::new();
                for (unit, window) in windows.iter().enumerate() {
                    match fixed_winner(cell, window.len(), |j| rows.unit(window[j] as usize)) {
                        Some(j) => base[unit] = window[j],
                        None => cutting.push(unit as u32),
                    }
                }
                (base, cutting)
            }
        }
    }

    /// The state of `unit` on all of `cell`, or `None` when the cell straddles a change.
    fn state_on<C: Cell>(&self, cell: &C, maps: &[f64], width: usize, unit: usize) -> Option<u32> {
        let rows = PieceRows::new(maps, width);
        match &self.kink {
            KinkUnits::Neurons(act) => neuron_state(cell, &rows.unit(unit), act.kinks().as_slice()),
            KinkUnits::Pools { windows } => {
                let window = &windows[unit];
                fixed_winner(cell, window.len(), |j| rows.unit(window[j] as usize)).map(|j| window[j])
            }
        }
    }

    /// The parts of `cell` on which `unit` has one state each; records the boundaries.
    fn cut<C: Cell>(
        &self,
        cell: C,
        maps: &[f64],
        width: usize,
        unit: usize,
        bounds: &mut Vec<(C::Boundary, u32)>,
    ) -> Vec<(C, u32)> {
        let rows = PieceRows::new(maps, width);
        match &self.kink {
            KinkUnits::Neurons(act) => {
                cut_at_kinks(cell, &rows.unit(unit), act.kinks().as_slice(), unit as u32, bounds)
            }
            KinkUnits::Pools { windows } => {
                let window = &windows[unit];
                let parts = argmax_cells(&cell, &self.kink.candidates::<Affine>(unit, rows));
                bounds.extend(parts.boundaries.into_iter().map(|(b, _)| (b, unit as u32)));
                parts.cells.into_iter().map(|(j, c)| (c, window[j])).collect()
            }
        }
    }

    /// This layer's output rows for each `(parent, head)`, written into `out` (its buffer
    /// reused): the parent's input rows with the parent's base states, then the states of the
    /// chain ending at `head` (`NO_LABEL`: none), applied (slopes for activations, winners for
    /// max pooling).
    pub fn apply_into(
        &self,
        pre: &Tensor<f64>,
        rows: usize,
        states: &[PieceStates],
        pieces: &[(usize, u32)],
        out_shape: &[usize],
        out: &mut Tensor<f64>,
    ) {
        // Every value is written below, so a reused buffer needs no zeros.
        out.prepare(rows * pieces.len(), out_shape);
        out.data.par_chunks_mut(rows * self.units).zip(pieces.par_iter()).for_each(|(dst, &(parent, head))| {
            with_avx2(
                #[inline(always)]
                || self.write_output(pre, rows, parent, &states[parent], head, dst),
            )
        });
    }

    /// Write the `rows` output rows of region `parent` in its base states, then the states of
    /// the chain ending at `head`.
    #[inline(always)]
    fn write_output(
        &self,
        pre: &Tensor<f64>,
        rows: usize,
        parent: usize,
        states: &PieceStates,
        head: u32,
        dst: &mut [f64],
    ) {
        let in_w = pre.width();
        let src = &pre.data[parent * rows * in_w..(parent + 1) * rows * in_w];
        for (r, (d, s)) in dst.chunks_mut(self.units).zip(src.chunks(in_w)).enumerate() {
            self.kink.write_row(d, s, &states.base, r == 0);
            states.chain(head).for_each(|(u, st)| self.kink.write_unit(d, s, u as usize, st, r == 0));
        }
    }
}

/// The parts of `cell` between the `kinks` of a neuron whose pre-activation is `f`, each with
/// its state (the pieces below the first kink, .., above the last), and the boundaries.
fn cut_at_kinks<C: Cell>(
    cell: C,
    f: &Affine,
    kinks: &[f64],
    unit: u32,
    bounds: &mut Vec<(C::Boundary, u32)>,
) -> Vec<(C, u32)> {
    let mut parts = Vec::new();
    let mut above = cell;
    for (state, &k) in kinks.iter().enumerate() {
        let g = shifted(f, k);
        match above.split(&g, k.abs(), NO_LABEL) {
            Some((below, rest, b)) => {
                bounds.push((b, unit));
                parts.push((below, state as u32));
                above = rest;
            }
            None if above.side(&g, k.abs()) == Side::Negative => {
                parts.push((above, state as u32));
                return parts;
            }
            None => {}
        }
    }
    parts.push((above, kinks.len() as u32));
    parts
}

/// The sign state of every neuron on the convex hull of `vertices` (1 where it is
/// non-negative, as `Cell::side` decides, 0 where negative), and the neurons whose sign
/// changes there. Vectorised over neurons: this is the inner loop of every slice.
fn classify_neurons(vertices: &[Point], maps: &[f64], width: usize, dim: usize) -> (Vec<u32>, Vec<u32>) {
    let (c, a1) = (&maps[..width], &maps[width..2 * width]);
    // Paths have no second slope; their points have `u2 = 0`, so any row serves.
    let a2 = if dim == 2 { &maps[2 * width..3 * width] } else { a1 };
    let mut states = Vec::with_capacity(width);
    let mut cutting = Vec::new();
    vertex_extremes(vertices, [c, a1, a2], |i, e| {
        let tol = REL_TOL * e.magnitude;
        states.push(match (e.high > tol, e.low < -tol) {
            (true, true) => {
                cutting.push(i as u32);
                0
            }
            (false, true) => 0,
            // Positive, or zero on the whole cell: the side the forward pass gives 0.
            _ => 1,
        });
    });
    (states, cutting)
}

/// The index of the function (of `n`, the `k`-th given by `f(k)`) that is the maximum on all
/// of `cell` (ties to the earlier function), or `None` when the maximum changes inside the
/// cell.
pub(crate) fn fixed_winner<C: Cell>(cell: &C, n: usize, f: impl Fn(usize) -> Affine) -> Option<usize> {
    let p = cell.interior_point();
    let mut best = (0, crate::cell::eval(&f(0), p));
    for k in 1..n {
        let v = crate::cell::eval(&f(k), p);
        if v > best.1 {
            best = (k, v);
        }
    }
    let (j, fj) = (best.0, f(best.0));
    let mag_j = max_magnitude(cell.vertices(), &fj);
    for k in (0..n).filter(|&k| k != j) {
        let fk = f(k);
        let floor = mag_j + max_magnitude(cell.vertices(), &fk);
        match cell.side(&difference(&fj, &fk), floor) {
            Side::Positive => {}
            Side::Zero if k > j => {}
            _ => return None,
        }
    }
    Some(j)
}

/// The parts of a cell where each of several functions is the maximum.
pub(crate) struct ArgmaxCells<C: Cell> {
    /// `(index of the winning function, its part)`.
    pub cells: Vec<(usize, C)>,
    /// `(boundary piece, [j, k])` between the parts of `j < k`.
    pub boundaries: Vec<(C::Boundary, [u32; 2])>,
}

/// The parts of `cell` where each function is the maximum (ties go to the earlier function,
/// as the forward pass's argmax does), with the boundaries between parts.
pub(crate) fn argmax_cells<C: Cell>(cell: &C, fs: &[Affine]) -> ArgmaxCells<C> {
    let mags: Vec<f64> = fs.iter().map(|f| max_magnitude(cell.vertices(), f)).collect();
    let base = cell.relabelled(NO_LABEL);
    let mut out = ArgmaxCells { cells: Vec::new(), boundaries: Vec::new() };
    for j in 0..fs.len() {
        let won = (0..fs.len()).filter(|&k| k != j).try_fold(base.clone(), |part, k| {
            let (d, floor) = (difference(&fs[j], &fs[k]), mags[j] + mags[k]);
            match part.side(&d, floor) {
                Side::Positive => Some(part),
                Side::Zero => (k > j).then_some(part),
                Side::Negative => None,
                Side::Both => part.clip(&d, floor, k as u32),
            }
        });
        if let Some(part) = won {
            for k in j + 1..fs.len() {
                out.boundaries.extend(part.labelled(k as u32).into_iter().map(|b| (b, [j as u32, k as u32])));
            }
            out.cells.push((j, part));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::polygon::Polygon;

    #[test]
    fn argmax_of_three_lines_tiles_the_square() {
        let sq = Polygon::square([0.0, 0.0], 1.0);
        // -u1, u1 and 0.5: the constant wins in the middle band |u1| < 0.5.
        let fs = [[0.0, -1.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 0.0]];
        let ArgmaxCells { cells, boundaries } = argmax_cells(&sq, &fs);
        let areas: Vec<f64> = cells.iter().map(|(_, c)| c.area()).collect();
        assert_eq!(cells.iter().map(|c| c.0).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!((areas.iter().sum::<f64>() - 4.0).abs() < 1e-14);
        assert!((areas[2] - 2.0).abs() < 1e-14);
        // Boundaries: u1 = -0.5 between 0 and 2, u1 = 0.5 between 1 and 2; none between 0 and 1.
        let mut pairs: Vec<[u32; 2]> = boundaries.iter().map(|e| e.1).collect();
        pairs.sort();
        assert_eq!(pairs, vec![[0, 2], [1, 2]]);
    }

    #[test]
    fn identical_functions_go_to_the_first() {
        let sq = Polygon::square([0.0, 0.0], 1.0);
        let fs = [[0.0; 3], [0.0; 3], [-1.0, 0.0, 0.0]];
        assert_eq!(fixed_winner(&sq, fs.len(), |k| fs[k]), Some(0));
        let parts = argmax_cells(&sq, &fs);
        assert_eq!(parts.cells.len(), 1);
        assert!(parts.boundaries.is_empty());
    }
}
