//! Exact linear regions of a network inside a P-dimensional cross-polytope: the LC
//! neighbourhood `conv{x0 ± r v_p : p = 1..P}` of a point, the ground truth that local
//! complexity approximates.
//!
//! Coordinates: `t` in R^P with `x = x0 + r * sum_p t_p v_p`; the domain is `|t|_1 <= 1`.
//! A *piece* (a region under construction) carries its half-spaces in `t`, an inscribed ball
//! (a strictly interior witness whose radius certifies positive volume), the code of every kink
//! passed so far, and the affine maps in `t` of the network's live tensors, stored as `P + 1`
//! rows per piece: the value at `t = 0`, then the derivative along each `t_p`.
//!
//! Affine nodes map all pieces at once (`apply_affine` with `OffsetRows::EveryNth(P + 1)`).
//! At a kinked node every *unit* picks one of its candidate affine functions: a neuron its
//! pre-activation `h` (code 1, active, `h >= 0`) or `0` (code 0, `h < 0`); a max-pool output
//! one input of its window (code: that input's index in the sample). A piece splits into the
//! cells where each candidate wins, unit after unit. Ties go to the earlier candidate, as in
//! the forward pass (`slope_at(0)` is the active slope; max pooling keeps the first maximum).
//!
//! Whether a unit splits a piece, and a ball inside each of its cells, come from cheap tests
//! first: over the whole cross-polytope a difference of two candidates is bounded by its values
//! at the 2P vertices (LC's test); a cell whose boundary misses the piece's ball keeps that
//! ball, one whose boundary cuts it gets the largest ball of the cut-off cap; balls found for a
//! unit on a whole piece serve its sub-pieces that still contain them. Only then does a
//! Chebyshev-ball LP decide. A cell is kept only if its inradius exceeds `min_inradius`, so
//! slivers of zero volume (duplicate neurons, boundaries through a vertex or along a facet)
//! are never counted. Memory: `(P + 1) x width x 8` bytes per region for each live tensor;
//! regions are refined breadth-first, layer by layer, up to `max_regions`.

use crate::lp::{chebyshev_ball, cross_polytope_inball, dot, Ball, HalfSpace, LpError};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tessera_net::{Activation, AffineMap, NetError, Network, NodeId, OffsetRows, Op, Tensor};

/// Differences of candidates whose gradient is this small relative to the candidates'
/// magnitudes are constants (exact duplicates, dead units), not boundaries.
const CONSTANT_RELATIVE: f64 = 1e-10;

/// A cell keeps the ball of the cap its bounds cut from its parent's ball (no LP) while that
/// ball keeps this fraction of the parent's radius; smaller ones are recomputed by LP, so balls
/// stay large enough for the cheap "boundary misses the ball" test.
const CAP_BALL_FRACTION: f64 = 0.25;

/// Largest deviation of `V V^T` from the identity accepted for a frame (f32 files included).
const ORTHONORMAL_TOLERANCE: f64 = 1e-5;

/// Everything that can go wrong when counting regions in a neighbourhood.
#[derive(Debug, thiserror::Error)]
pub enum PolytopeError {
    #[error("radius r must be positive and finite, got {0}")]
    Radius(f64),
    #[error("neighbourhood dimension P must be at least 1")]
    ZeroDimension,
    #[error("neighbourhood dimension P = {dim} exceeds the input width d = {width}")]
    DimensionTooLarge { dim: usize, width: usize },
    #[error("frame has {got} values, expected P x d = {dim} x {width}")]
    FrameLength { got: usize, dim: usize, width: usize },
    #[error("{what} has a non-finite value at index {index}")]
    NonFinite { what: &'static str, index: usize },
    #[error(
        "frame directions are not orthonormal: (V V^T)[{row}][{col}] = {value} (tolerance {ORTHONORMAL_TOLERANCE})"
    )]
    NotOrthonormal { row: usize, col: usize, value: f64 },
    #[error("point has width {got}, but the network expects inputs of width {expected} (shape {shape:?})")]
    PointWidth { got: usize, expected: usize, shape: Vec<usize> },
    #[error("min_inradius must be positive and finite, got {0}")]
    MinInradius(f64),
    #[error("more than {limit} regions after node {node} ('{name}'): raise max_regions or shrink the radius")]
    TooManyRegions { node: NodeId, name: String, limit: usize },
    #[error(transparent)]
    Network(#[from] NetError),
    #[error(transparent)]
    Lp(#[from] LpError),
}

pub type Result<T, E = PolytopeError> = std::result::Result<T, E>;

/// The cross-polytope `conv{x0 ± r v_p}`: centre `x0` (width d), P orthonormal directions
/// (rows of a P x d matrix, as tessera-lc's frame), radius `r`.
#[derive(Clone, Debug)]
pub struct Neighborhood {
    center: Vec<f64>,
    directions: Vec<f64>,
    dim: usize,
    radius: f64,
}

impl Neighborhood {
    /// Check and build; `directions` is row-major P x d with `d = center.len()`.
    pub fn new(center: Vec<f64>, directions: Vec<f64>, dim: usize, radius: f64) -> Result<Self> {
        let width = center.len();
        if !(radius > 0.0 && radius.is_finite()) {
            return Err(PolytopeError::Radius(radius));
        }
        if dim == 0 {
            return Err(PolytopeError::ZeroDimension);
        }
        if dim > width {
            return Err(PolytopeError::DimensionTooLarge { dim, width });
        }
        if directions.len() != dim * width {
            return Err(PolytopeError::FrameLength { got: directions.len(), dim, width });
        }
        check_finite("point", &center)?;
        check_finite("frame", &directions)?;
        check_orthonormal(&directions, dim, width)?;
        Ok(Self { center, directions, dim, radius })
    }

    /// P.
    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn radius(&self) -> f64 {
        self.radius
    }
    /// The centre `x0`.
    pub fn center(&self) -> &[f64] {
        &self.center
    }
    /// Direction `p` (a row of the frame).
    pub fn direction(&self, p: usize) -> &[f64] {
        let d = self.center.len();
        &self.directions[p * d..(p + 1) * d]
    }

    /// The input-space point of coordinates `t`: `x0 + r * sum_p t_p v_p`.
    pub fn point(&self, t: &[f64]) -> Vec<f64> {
        let mut x = self.center.clone();
        for (p, &tp) in t.iter().enumerate() {
            x.iter_mut().zip(self.direction(p)).for_each(|(xi, &v)| *xi += self.radius * tp * v);
        }
        x
    }

    /// The affine map `t -> x` as `P + 1` rows: `x0`, then `r v_p`.
    fn input_rows(&self) -> Vec<f64> {
        let mut rows = self.center.clone();
        rows.extend(self.directions.iter().map(|v| self.radius * v));
        rows
    }
}

fn check_finite(what: &'static str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(PolytopeError::NonFinite { what, index }),
        None => Ok(()),
    }
}

fn check_orthonormal(directions: &[f64], dim: usize, width: usize) -> Result<()> {
    let row = |p: usize| &directions[p * width..(p + 1) * width];
    for i in 0..dim {
        for j in 0..=i {
            let value = dot(row(i), row(j));
            let target = if i == j { 1.0 } else { 0.0 };
            if (value - target).abs() > ORTHONORMAL_TOLERANCE {
                return Err(PolytopeError::NotOrthonormal { row: i, col: j, value });
            }
        }
    }
    Ok(())
}

/// Resolution and safety limits of the refinement.
#[derive(Clone, Debug, PartialEq)]
pub struct PolytopeOptions {
    /// Cells whose inscribed ball is not larger than this (in t units, where the whole
    /// cross-polytope has inradius `1/sqrt(P)`) have no volume at this resolution: not counted.
    pub min_inradius: f64,
    /// Stop with an error when a layer produces more regions than this.
    pub max_regions: usize,
}

impl Default for PolytopeOptions {
    fn default() -> Self {
        Self { min_inradius: 1e-7, max_regions: 100_000 }
    }
}

/// The kind of a kinked node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KinkKind {
    Activation,
    MaxPool,
}

/// What one kinked node does to the neighbourhood.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerCount {
    pub node: NodeId,
    pub name: String,
    pub kind: KinkKind,
    /// Neurons (activation) or pooled outputs (max pool).
    pub units: usize,
    /// Units whose state is not the same everywhere in the neighbourhood: neurons whose
    /// pre-activation takes both signs (the exact analogue of LC's per-layer count), pooled
    /// outputs whose winner changes.
    pub cutting_units: usize,
    /// Regions of the neighbourhood after this node.
    pub regions: usize,
}

/// The summary of an exact count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolytopeCount {
    /// Linear regions of the network inside the neighbourhood (after the last kinked node).
    pub num_regions: usize,
    /// P.
    pub dim: usize,
    pub radius: f64,
    /// One entry per kinked node, in network order.
    pub layers: Vec<LayerCount>,
    /// Chebyshev-ball LPs solved (cheap tests decided everything else).
    pub lp_solves: u64,
}

/// One linear region of the neighbourhood.
#[derive(Clone, Debug, PartialEq)]
pub struct PolytopeRegion {
    /// The region is the cross-polytope intersected with these half-spaces (in t).
    pub halfspaces: Vec<HalfSpace>,
    /// A ball inside the region (its centre is a strictly interior point).
    pub ball: Ball,
    /// Per kinked node (the order of `PolytopeCount::layers`): one code per unit, 1/0 for an
    /// active/inactive neuron, the in-sample index of the winning input for a pooled output.
    pub codes: Vec<Vec<u32>>,
    /// The network's output as an affine function of `t` on this region.
    pub output: AffineMap<f64>,
}

/// All regions of a neighbourhood and the summary.
#[derive(Clone, Debug, PartialEq)]
pub struct PolytopePartition {
    pub count: PolytopeCount,
    pub regions: Vec<PolytopeRegion>,
}

/// Count the linear regions of `net` inside `neighborhood`.
pub fn count_regions(
    net: &Network<f64>,
    neighborhood: &Neighborhood,
    options: &PolytopeOptions,
) -> Result<PolytopeCount> {
    Ok(partition_neighborhood(net, neighborhood, options)?.count)
}

/// Enumerate the linear regions of `net` inside `neighborhood`, with their output maps.
pub fn partition_neighborhood(
    net: &Network<f64>,
    neighborhood: &Neighborhood,
    options: &PolytopeOptions,
) -> Result<PolytopePartition> {
    if net.input_width() != neighborhood.center.len() {
        return Err(PolytopeError::PointWidth {
            got: neighborhood.center.len(),
            expected: net.input_width(),
            shape: net.input_shape().to_vec(),
        });
    }
    if !(options.min_inradius > 0.0 && options.min_inradius.is_finite()) {
        return Err(PolytopeError::MinInradius(options.min_inradius));
    }
    net.check_finite()?;
    Refinement { net, dim: neighborhood.dim, options, lp_solves: AtomicU64::new(0) }.run(neighborhood)
}

/// An affine function `c + g . t`.
#[derive(Clone, Debug)]
struct Affine {
    c: f64,
    g: Vec<f64>,
}

impl Affine {
    fn zero(dim: usize) -> Self {
        Self { c: 0.0, g: vec![0.0; dim] }
    }
    /// Unit `index` of a block of `P + 1` rows of `width` values.
    fn from_rows(block: &[f64], width: usize, index: usize) -> Self {
        let dim = block.len() / width - 1;
        Self { c: block[index], g: (1..=dim).map(|p| block[p * width + index]).collect() }
    }
    fn at(&self, t: &[f64]) -> f64 {
        self.c + dot(&self.g, t)
    }
    fn minus(&self, other: &Affine) -> Affine {
        Affine { c: self.c - other.c, g: self.g.iter().zip(&other.g).map(|(a, b)| a - b).collect() }
    }
    fn magnitude(&self) -> f64 {
        self.c.abs() + self.g.iter().map(|v| v * v).sum::<f64>().sqrt()
    }
    /// Largest value over the unit cross-polytope (attained at a vertex `±e_p`).
    fn max_over_cross_polytope(&self) -> f64 {
        self.c + self.g.iter().fold(0.0f64, |m, v| m.max(v.abs()))
    }
}

/// How `later - earlier` compares across t: a constant (up to rounding) or a real boundary.
enum Difference {
    Constant(f64),
    Varying(Affine),
}

fn difference(later: &Affine, earlier: &Affine) -> Difference {
    let d = later.minus(earlier);
    let scale = later.magnitude() + earlier.magnitude();
    let gradient = d.g.iter().map(|v| v * v).sum::<f64>().sqrt();
    if gradient <= CONSTANT_RELATIVE * scale {
        let c = if d.c.abs() <= CONSTANT_RELATIVE * scale { 0.0 } else { d.c };
        Difference::Constant(c)
    } else {
        Difference::Varying(d)
    }
}

/// The units of a kinked node.
enum Units {
    Neurons {
        count: usize,
        activation: Activation,
    },
    /// Per pooled output, the in-sample indices of its window's inputs in forward order.
    Pools {
        windows: Vec<Vec<u32>>,
    },
}

impl Units {
    fn of(net: &Network<f64>, id: NodeId) -> Self {
        match net.node(id).op {
            Op::Activation { activation } => Units::Neurons { count: net.shape(id).iter().product(), activation },
            Op::MaxPool2d { kernel, stride, padding } => {
                let input = net.shape(net.node(id).inputs[0]);
                Units::Pools { windows: pool_windows(input, net.shape(id), kernel, stride, padding) }
            }
            _ => unreachable!("node {id} is not kinked"),
        }
    }

    fn kind(&self) -> KinkKind {
        match self {
            Units::Neurons { .. } => KinkKind::Activation,
            Units::Pools { .. } => KinkKind::MaxPool,
        }
    }

    fn len(&self) -> usize {
        match self {
            Units::Neurons { count, .. } => *count,
            Units::Pools { windows } => windows.len(),
        }
    }

    /// The candidates of unit `u` as affine functions of t, read from a piece's input rows.
    fn candidates(&self, u: usize, block: &[f64], width: usize) -> Vec<Affine> {
        match self {
            Units::Neurons { .. } => {
                let h = Affine::from_rows(block, width, u);
                let zero = Affine::zero(h.g.len());
                vec![h, zero]
            }
            Units::Pools { windows } => {
                windows[u].iter().map(|&i| Affine::from_rows(block, width, i as usize)).collect()
            }
        }
    }

    /// The code of unit `u` when candidate `choice` wins.
    fn code(&self, u: usize, choice: usize) -> u32 {
        match self {
            Units::Neurons { .. } => u32::from(choice == 0),
            Units::Pools { windows } => windows[u][choice],
        }
    }

    /// The node's output rows for one piece, from its input rows and codes.
    fn output(&self, block: &[f64], in_width: usize, codes: &[u32]) -> Vec<f64> {
        match self {
            Units::Neurons { activation, .. } => {
                let slopes: Vec<f64> =
                    codes.iter().map(|&c| activation.slope_at(if c == 1 { 1.0 } else { -1.0 })).collect();
                block.chunks(in_width).flat_map(|row| row.iter().zip(&slopes).map(|(v, s)| v * s)).collect()
            }
            Units::Pools { .. } => {
                block.chunks(in_width).flat_map(|row| codes.iter().map(|&i| row[i as usize])).collect()
            }
        }
    }
}

/// For every pooled output (channel-major, as the forward pass), the in-sample indices of its
/// window's inputs in window order (kernel row, then column; padding skipped): the forward pass
/// keeps the first maximum in this order.
fn pool_windows(
    input: &[usize],
    output: &[usize],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Vec<Vec<u32>> {
    let ([channels, in_h, in_w], [out_h, out_w]) = ([input[0], input[1], input[2]], [output[1], output[2]]);
    let source = |o: usize, k: usize, axis: usize, size: usize| {
        (o * stride[axis] + k).checked_sub(padding[axis]).filter(|&i| i < size)
    };
    let mut windows = Vec::with_capacity(channels * out_h * out_w);
    for c in 0..channels {
        for oy in 0..out_h {
            for ox in 0..out_w {
                let cells = (0..kernel[0])
                    .filter_map(|ky| source(oy, ky, 0, in_h))
                    .flat_map(|y| (0..kernel[1]).filter_map(move |kx| source(ox, kx, 1, in_w)).map(move |x| (y, x)))
                    .map(|(y, x)| ((c * in_h + y) * in_w + x) as u32)
                    .collect();
                windows.push(cells);
            }
        }
    }
    windows
}

/// A convex cell: the cross-polytope cut by half-spaces, with an inscribed ball.
#[derive(Clone, Debug)]
struct Cell {
    halfspaces: Vec<HalfSpace>,
    ball: Ball,
}

/// A region under construction.
struct Piece {
    cell: Cell,
    codes: Vec<Vec<u32>>,
}

/// A kinked node being refined.
struct Kink {
    id: NodeId,
    units: Units,
    /// Width of the node's input.
    in_width: usize,
    /// Regions produced so far at this node (all pieces together).
    produced: AtomicUsize,
}

/// The pieces and the affine maps of the live tensors: `values[node]` holds `P + 1` rows per
/// piece, in piece order.
struct Population {
    pieces: Vec<Piece>,
    values: Vec<Option<Tensor<f64>>>,
}

struct Refinement<'a> {
    net: &'a Network<f64>,
    dim: usize,
    options: &'a PolytopeOptions,
    lp_solves: AtomicU64,
}

impl Refinement<'_> {
    fn run(&self, neighborhood: &Neighborhood) -> Result<PolytopePartition> {
        let net = self.net;
        let mut values: Vec<Option<Tensor<f64>>> = vec![None; net.nodes().len()];
        values[0] = Some(Tensor::from_vec(net.input_shape(), neighborhood.input_rows())?);
        let start =
            Piece { cell: Cell { halfspaces: Vec::new(), ball: cross_polytope_inball(self.dim) }, codes: Vec::new() };
        let mut population = Population { pieces: vec![start], values };
        let last_use = last_uses(net);
        let mut layers = Vec::new();
        for id in 1..net.nodes().len() {
            if net.node(id).op.is_affine() {
                let inputs: Vec<&Tensor<f64>> =
                    net.node(id).inputs.iter().map(|&i| population.values[i].as_ref().expect("live input")).collect();
                let out = net.apply_affine(id, &inputs, OffsetRows::EveryNth(self.dim + 1));
                population.values[id] = Some(out);
            } else {
                let (next, layer) = self.refine_at_kink(id, population, &last_use)?;
                population = next;
                layers.push(layer);
            }
            for &i in &net.node(id).inputs {
                if last_use[i] == id {
                    population.values[i] = None;
                }
            }
        }
        let output = population.values.pop().flatten().expect("output value");
        let count = PolytopeCount {
            num_regions: population.pieces.len(),
            dim: self.dim,
            radius: neighborhood.radius,
            layers,
            lp_solves: self.lp_solves.load(Ordering::Relaxed),
        };
        let regions = population
            .pieces
            .into_iter()
            .zip(output.data.chunks((self.dim + 1) * output.width()))
            .map(|(piece, rows)| PolytopeRegion {
                halfspaces: piece.cell.halfspaces,
                ball: piece.cell.ball,
                codes: piece.codes,
                output: affine_map_of_rows(rows, self.dim),
            })
            .collect();
        Ok(PolytopePartition { count, regions })
    }

    /// Split every piece at kinked node `id`; carry the tensors still needed after it over to
    /// the new pieces.
    fn refine_at_kink(
        &self,
        id: NodeId,
        population: Population,
        last_use: &[NodeId],
    ) -> Result<(Population, LayerCount)> {
        let net = self.net;
        let input = population.values[net.node(id).inputs[0]].as_ref().expect("live input");
        let kink = Kink { id, units: Units::of(net, id), in_width: input.width(), produced: AtomicUsize::new(0) };
        let block = (self.dim + 1) * kink.in_width;
        let splits: Vec<Vec<(Vec<u32>, Cell)>> = population
            .pieces
            .par_iter()
            .zip(input.data.par_chunks(block))
            .map(|(piece, rows)| self.refine_piece(&piece.cell, rows, &kink))
            .collect::<Result<_>>()?;
        let parents: Vec<usize> =
            splits.iter().enumerate().flat_map(|(k, s)| std::iter::repeat_n(k, s.len())).collect();
        let node_codes: Vec<&Vec<u32>> = splits.iter().flatten().map(|(codes, _)| codes).collect();
        let units = &kink.units;
        let layer = LayerCount {
            node: id,
            name: net.node(id).name.clone(),
            kind: units.kind(),
            units: units.len(),
            cutting_units: count_changing_units(&node_codes, units.len()),
            regions: parents.len(),
        };
        let out_data: Vec<f64> = parents
            .iter()
            .zip(&node_codes)
            .flat_map(|(&k, codes)| units.output(&input.data[k * block..(k + 1) * block], kink.in_width, codes))
            .collect();
        let out = Tensor::from_vec(net.shape(id), out_data)?;
        let mut values: Vec<Option<Tensor<f64>>> = (population.values.iter().zip(last_use))
            .map(|(v, &last)| v.as_ref().filter(|_| last > id).map(|t| gather_pieces(t, &parents, self.dim + 1)))
            .collect();
        values[id] = Some(out);
        let pieces = population
            .pieces
            .into_iter()
            .zip(splits)
            .flat_map(|(piece, split)| {
                split.into_iter().map(move |(node_codes, cell)| {
                    let mut codes = piece.codes.clone();
                    codes.push(node_codes);
                    Piece { cell, codes }
                })
            })
            .collect();
        Ok((Population { pieces, values }, layer))
    }

    /// Split one piece by every unit of a kinked node: the cells and each cell's codes.
    fn refine_piece(&self, cell: &Cell, rows: &[f64], kink: &Kink) -> Result<Vec<(Vec<u32>, Cell)>> {
        let units = &kink.units;
        let candidates: Vec<Vec<Affine>> = (0..units.len()).map(|u| units.candidates(u, rows, kink.in_width)).collect();
        let mut codes = Vec::with_capacity(units.len());
        let mut splitting = Vec::new();
        for (u, cands) in candidates.iter().enumerate() {
            let w0 = winner_at(cands, &cell.ball.center);
            codes.push(units.code(u, w0));
            if !(0..cands.len()).any(|v| v != w0 && may_beat(&cands[v], &cands[w0])) {
                continue;
            }
            // A unit that does not split the whole piece splits none of its sub-pieces (one LP
            // here saves one per sub-piece); one that does leaves balls inside its cells, which
            // stay valid in every sub-piece that still contains them.
            match self.cells_of_unit(cell, cands, &BallHints::NONE)?.as_slice() {
                [(w, _)] => codes[u] = units.code(u, *w),
                cells => splitting.push((u, cells.iter().map(|(w, c)| (*w, c.ball.clone())).collect::<Vec<_>>())),
            }
        }
        let mut done = Vec::new();
        let mut stack = vec![(cell.clone(), codes, 0usize)];
        while let Some((mut sub, mut codes, mut next)) = stack.pop() {
            loop {
                let Some((u, balls)) = splitting.get(next) else {
                    self.count_region(kink)?;
                    done.push((codes, sub));
                    break;
                };
                next += 1;
                let hints = BallHints { balls, valid_in: &cell.halfspaces };
                let mut cells = self.cells_of_unit(&sub, &candidates[*u], &hints)?;
                if cells.len() == 1 {
                    let (w, only) = cells.pop().expect("one cell");
                    codes[*u] = units.code(*u, w);
                    sub = only;
                    continue;
                }
                for (w, part) in cells {
                    let mut part_codes = codes.clone();
                    part_codes[*u] = units.code(*u, w);
                    stack.push((part, part_codes, next));
                }
                break;
            }
        }
        Ok(done)
    }

    /// The cells of `cell` where each candidate wins (those with volume), with the winner.
    fn cells_of_unit(&self, cell: &Cell, cands: &[Affine], hints: &BallHints) -> Result<Vec<(usize, Cell)>> {
        let w0 = winner_at(cands, &cell.ball.center);
        let contenders: Vec<usize> = (0..cands.len()).filter(|&v| v == w0 || may_beat(&cands[v], &cands[w0])).collect();
        if contenders.len() == 1 {
            return Ok(vec![(w0, cell.clone())]);
        }
        let mut kept = Vec::new();
        for &w in &contenders {
            let Some(bounds) = winning_halfspaces(w, &contenders, cands) else { continue };
            let cap = ball_in_cap(&cell.ball, &bounds);
            let ball = if cap.radius >= cell.ball.radius {
                Some(cap)
            } else if let Some(ball) = hints.ball_for(w, cell) {
                Some(ball.clone())
            } else if cap.radius >= CAP_BALL_FRACTION * cell.ball.radius {
                Some(cap)
            } else {
                self.chebyshev(&cell.halfspaces, &bounds)?
            };
            if let Some(ball) = ball.filter(|b| b.radius > self.options.min_inradius) {
                kept.push((w, bounds, ball));
            }
        }
        Ok(match kept.len() {
            // Every cell is thinner than the resolution: the unit does not split this piece.
            0 => vec![(w0, cell.clone())],
            1 => {
                let (w, _, ball) = kept.pop().expect("one cell");
                vec![(w, Cell { halfspaces: cell.halfspaces.clone(), ball })]
            }
            _ => kept
                .into_iter()
                .map(|(w, bounds, ball)| {
                    let mut halfspaces = cell.halfspaces.clone();
                    halfspaces.extend(bounds);
                    (w, Cell { halfspaces, ball })
                })
                .collect(),
        })
    }

    /// Account for one more region after `kink`; fail past `max_regions`.
    fn count_region(&self, kink: &Kink) -> Result<()> {
        if kink.produced.fetch_add(1, Ordering::Relaxed) >= self.options.max_regions {
            let name = self.net.node(kink.id).name.clone();
            return Err(PolytopeError::TooManyRegions { node: kink.id, name, limit: self.options.max_regions });
        }
        Ok(())
    }

    fn chebyshev(&self, halfspaces: &[HalfSpace], extra: &[HalfSpace]) -> Result<Option<Ball>> {
        self.lp_solves.fetch_add(1, Ordering::Relaxed);
        Ok(chebyshev_ball(self.dim, halfspaces.iter().chain(extra))?)
    }
}

/// A ball inside `ball` and inside every half-space of `bounds`: the largest ball of the cap
/// cut off by each bounding hyperplane in turn (the whole ball where no hyperplane meets it).
fn ball_in_cap(ball: &Ball, bounds: &[HalfSpace]) -> Ball {
    let mut cap = ball.clone();
    for h in bounds {
        let slack = h.slack(&cap.center);
        if slack < cap.radius {
            // The cap {x in ball : slack(x) >= 0} holds the ball of radius (radius + slack) / 2
            // whose centre moves (radius - slack) / 2 against the normal.
            let shift = (cap.radius - slack) / 2.0;
            cap.center.iter_mut().zip(&h.normal).for_each(|(c, n)| *c -= shift * n);
            cap.radius = (cap.radius + slack) / 2.0;
        }
    }
    cap
}

/// Balls known to lie inside a unit's cells of a larger piece (the first `valid_in.len()`
/// half-spaces of every cell they are offered to): one still inside a sub-piece is a ball of
/// the same cell there, no LP needed.
struct BallHints<'a> {
    balls: &'a [(usize, Ball)],
    valid_in: &'a [HalfSpace],
}

impl BallHints<'_> {
    const NONE: BallHints<'static> = BallHints { balls: &[], valid_in: &[] };

    fn ball_for(&self, candidate: usize, cell: &Cell) -> Option<&Ball> {
        let added = &cell.halfspaces[self.valid_in.len()..];
        self.balls
            .iter()
            .find(|(w, b)| *w == candidate && added.iter().all(|h| h.slack(&b.center) >= b.radius))
            .map(|(_, b)| b)
    }
}

/// The candidate with the largest value at `t` (the earliest on ties, as the forward pass).
fn winner_at(cands: &[Affine], t: &[f64]) -> usize {
    let mut best = 0;
    let mut best_value = cands[0].at(t);
    for (v, cand) in cands.iter().enumerate().skip(1) {
        let value = cand.at(t);
        if value > best_value {
            (best, best_value) = (v, value);
        }
    }
    best
}

/// Can `rival` exceed `leader` somewhere in the cross-polytope (vertex bound)?
fn may_beat(rival: &Affine, leader: &Affine) -> bool {
    match difference(rival, leader) {
        Difference::Constant(_) => false,
        Difference::Varying(d) => d.max_over_cross_polytope() > 0.0,
    }
}

/// The half-spaces where candidate `w` beats every other contender (ties to the earlier one);
/// `None` if `w` can never win (it loses to a constant margin or a tie).
fn winning_halfspaces(w: usize, contenders: &[usize], cands: &[Affine]) -> Option<Vec<HalfSpace>> {
    let mut bounds = Vec::new();
    for &v in contenders.iter().filter(|&&v| v != w) {
        match difference(&cands[v], &cands[w]) {
            Difference::Constant(c) if c > 0.0 || (c == 0.0 && v < w) => return None,
            Difference::Constant(_) => {}
            Difference::Varying(d) => bounds.extend(HalfSpace::from_affine_nonpositive(d.c, &d.g)),
        }
    }
    Some(bounds)
}

/// Units whose code is not the same in every piece.
fn count_changing_units(codes: &[&Vec<u32>], units: usize) -> usize {
    let Some(first) = codes.first() else { return 0 };
    (0..units).filter(|&u| codes.iter().any(|c| c[u] != first[u])).count()
}

/// Rows of `t` for the pieces listed in `parents` (each piece owns `rows_per_piece` rows).
fn gather_pieces(t: &Tensor<f64>, parents: &[usize], rows_per_piece: usize) -> Tensor<f64> {
    let block = rows_per_piece * t.width();
    let data = parents.iter().flat_map(|&k| t.data[k * block..(k + 1) * block].iter().copied()).collect();
    Tensor { shape: t.shape.clone(), batch: parents.len() * rows_per_piece, data }
}

/// The affine map in t stored as `P + 1` rows (value at 0, then one derivative per t_p).
fn affine_map_of_rows(rows: &[f64], dim: usize) -> AffineMap<f64> {
    let outputs = rows.len() / (dim + 1);
    let mut a = vec![0.0; outputs * dim];
    for p in 0..dim {
        for (j, &v) in rows[(p + 1) * outputs..(p + 2) * outputs].iter().enumerate() {
            a[j * dim + p] = v;
        }
    }
    AffineMap { inputs: dim, outputs, a, c: rows[..outputs].to_vec() }
}

/// For each node, the last node that reads it (the output node reads itself).
fn last_uses(net: &Network<f64>) -> Vec<NodeId> {
    let mut last: Vec<NodeId> = (0..net.nodes().len()).collect();
    for (id, node) in net.nodes().iter().enumerate() {
        for &i in &node.inputs {
            last[i] = id;
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};
    use tessera_net::{GraphBuilder, NodePattern};

    proptest! {
        #[test]
        fn cap_ball_lies_inside_the_parent_ball_and_every_bound(
            center in prop::collection::vec(-0.3f64..0.3, 3),
            radius in 0.01f64..0.5,
            planes in prop::collection::vec((prop::collection::vec(-1.0f64..1.0, 3), -0.5f64..0.5), 1..4),
        ) {
            let ball = Ball { center, radius };
            let bounds: Vec<HalfSpace> =
                planes.iter().filter_map(|(g, c)| HalfSpace::from_affine_nonpositive(*c, g)).collect();
            let cap = ball_in_cap(&ball, &bounds);
            let shift = cap.center.iter().zip(&ball.center).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
            prop_assert!(shift + cap.radius <= ball.radius * (1.0 + 1e-12));
            if cap.radius > 0.0 {
                for h in &bounds {
                    prop_assert!(h.slack(&cap.center) >= cap.radius - 1e-12);
                }
            }
        }
    }

    #[test]
    fn pool_windows_reproduce_the_forward_winners() {
        let pools = [([2, 2], [2, 2], [0, 0]), ([3, 3], [2, 2], [1, 1]), ([2, 3], [1, 2], [1, 1])];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        for (kernel, stride, padding) in pools {
            let mut b = GraphBuilder::new(&[2, 5, 6]);
            b.push("pool", Op::MaxPool2d { kernel, stride, padding }, &[0]);
            let net = b.build::<f64>().unwrap();
            let windows = pool_windows(net.shape(0), net.shape(1), kernel, stride, padding);
            for _ in 0..20 {
                // Few distinct values, so ties are common.
                let x: Vec<f64> = (0..60).map(|_| f64::from(rng.random_range(0..3u8))).collect();
                let Some(NodePattern::Winners(winners)) = net.pattern_at(&x).unwrap().nodes[1].clone() else {
                    panic!("no winners")
                };
                let ours: Vec<u32> = windows
                    .iter()
                    .map(|w| {
                        *w.iter().reduce(|best, i| if x[*i as usize] > x[*best as usize] { i } else { best }).unwrap()
                    })
                    .collect();
                assert_eq!(ours, winners, "kernel {kernel:?} stride {stride:?} padding {padding:?}");
            }
        }
    }
}
