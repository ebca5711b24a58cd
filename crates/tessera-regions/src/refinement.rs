//! The layer-by-layer refinement shared by slices and paths.
//!
//! Regions flow through the network's nodes in topological order, each carrying the affine
//! maps (in cell coordinates) of the tensors that later nodes still read. Affine nodes act on
//! all regions of a chunk at once (their maps are `DIM + 1` consecutive rows: constant, then
//! slopes). A kinked node splits every region (in parallel), and its pieces continue
//! depth-first in chunks of bounded memory, so the number of regions in flight never grows
//! with the size of the partition. The chunks under one split descend in parallel, and their
//! results are appended in chunk order: the partition of a sequential descent, bit for bit.
//!
//! When a kinked layer feeds a dense or conv node, its pieces get that node's output directly
//! from their parent's (see `fused`).

use crate::affine::PieceRows;
use crate::cell::{Affine, Cell, NO_LABEL};
use crate::code::Code;
use crate::error::{RegionError, Result};
use crate::fused::FusedLinear;
use crate::kink::{kink_layers, CellRefinement, KinkLayer, KinkUnits, Piece, PieceStates};
use crate::progress::CountProgress;
use crate::walk::{NodeWalk, Values};
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use tessera_net::simd::with_avx2;
use tessera_net::{BufferPool, Network, NodeId, OffsetRows, Tensor};

/// Regions per chunk however wide the maps: enough to keep both cores busy splitting.
const MIN_CHUNK: usize = 8;

/// Limits of a refinement.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Memory for the maps of one chunk of regions at one depth (bytes; at least `MIN_CHUNK`
    /// regions).
    pub chunk_bytes: usize,
    /// Stop with an error when any layer has more regions than this.
    pub max_regions: usize,
}

/// A final region: its cell, code, and the network's outputs on it, `[c, a1, a2]` per output
/// (`c + a1 u1 + a2 u2`; `a2 = 0` for one coordinate).
pub(crate) struct FinalRegion<C> {
    pub cell: C,
    pub code: Code,
    pub output: Vec<Affine>,
}

/// Everything a refinement produces.
pub(crate) struct Outcome<C: Cell> {
    pub layers: Vec<KinkLayer>,
    pub regions: Vec<FinalRegion<C>>,
    /// Number of regions after each kinked layer.
    pub regions_after: Vec<usize>,
    /// Boundary pieces made by each kinked layer, with the unit that makes each, in blocks
    /// (consumers copy them once, into their own form).
    pub boundaries: Vec<Blocks<(C::Boundary, u32)>>,
}

/// Items in blocks, in order: appended by moving block headers, copied once by the consumer.
pub(crate) type Blocks<T> = Vec<Vec<T>>;

/// What the descent below one chunk found, in depth-first order, as blocks (one per emitted
/// chunk or split chunk) that are concatenated once at the end: appending block lists moves
/// only their headers, where growing one vector per level copied every region and boundary
/// again at each level (and faulted in fresh pages for each copy).
struct Found<C: Cell> {
    regions: Blocks<FinalRegion<C>>,
    /// Per kinked layer, its boundary pieces with the unit that makes each.
    boundaries: Vec<Blocks<(C::Boundary, u32)>>,
}

impl<C: Cell> Found<C> {
    fn new(layers: usize) -> Self {
        Self { regions: Vec::new(), boundaries: (0..layers).map(|_| Vec::new()).collect() }
    }

    /// Append what a later chunk found.
    fn append(&mut self, later: Found<C>) {
        self.regions.extend(later.regions);
        self.boundaries.iter_mut().zip(later.boundaries).for_each(|(b, l)| b.extend(l));
    }
}

/// The blocks' items in order, in a vector allocated once.
fn concat<T>(blocks: Blocks<T>) -> Vec<T> {
    let mut all = Vec::with_capacity(blocks.iter().map(Vec::len).sum());
    blocks.into_iter().for_each(|b| all.extend(b));
    all
}

/// Where a piece's output rows of a fused node come from.
enum Source {
    /// Row block `k` of the node's output: the node applied to the piece directly.
    Direct(usize),
    /// Row block `k` of the node's output: the node applied to the parent's base states; plus
    /// columns.
    Columns(usize),
}

/// Regions in flight together: their cells, codes so far and the maps of the live tensors.
struct Chunk<C> {
    cells: Vec<C>,
    codes: Vec<Code>,
    /// Indexed by node id; `DIM + 1` rows per region.
    values: Values,
}

/// Buffers that pass from one chunk to the next, so that a chunk's maps reuse memory instead
/// of allocating, faulting in and zeroing fresh pages; shared by the chunks descending in
/// parallel.
#[derive(Default)]
struct MapPool(Mutex<BufferPool<f64>>);

impl MapPool {
    /// A tensor to overwrite with `len` values (`Tensor::prepare` it first: its values are
    /// stale).
    fn take(&self, len: usize) -> Tensor<f64> {
        let data = self.0.lock().expect("map pool").stale(len);
        Tensor { shape: vec![len], batch: 1, data }
    }

    fn give(&self, tensor: Tensor<f64>) {
        self.0.lock().expect("map pool").give_tensor(tensor);
    }

    fn give_values(&self, values: Values) {
        let mut pool = self.0.lock().expect("map pool");
        values.into_iter().flatten().for_each(|t| pool.give_tensor(t));
    }
}

struct Engine<'a> {
    net: &'a Network<f64>,
    walk: NodeWalk<'a>,
    layers: Vec<KinkLayer>,
    /// Per kinked layer, the dense or conv node its output feeds, if it feeds nothing else.
    fused: Vec<Option<FusedLinear>>,
    limits: Limits,
    progress: &'a CountProgress,
    pool: MapPool,
    /// Regions after each kinked layer so far.
    regions_after: Vec<AtomicUsize>,
}

/// Partition `cell` by the network restricted to the affine family of inputs whose `DIM + 1`
/// rows (`origin`, then one direction per coordinate) are `rows`, reporting to `progress` and
/// stopping with `RegionError::Interrupted` when it is cancelled.
pub(crate) fn refine<C: Cell>(
    net: &Network<f64>,
    rows: Tensor<f64>,
    cell: C,
    limits: Limits,
    progress: &CountProgress,
) -> Result<Outcome<C>> {
    let layers = kink_layers(net);
    progress.layers.store(layers.len(), Ordering::Relaxed);
    let walk = NodeWalk::new(net, &layers, C::DIM + 1);
    let fused = layers.iter().map(|layer| FusedLinear::after(net, &walk.last_use, layer)).collect();
    let regions_after = layers.iter().map(|_| AtomicUsize::new(0)).collect();
    let engine = Engine { net, walk, fused, limits, progress, layers, pool: MapPool::default(), regions_after };
    let mut values = vec![None; net.nodes().len()];
    values[0] = Some(rows.reshaped(net.input_shape()));
    let mut found = Found::new(engine.layers.len());
    engine.descend(Chunk { cells: vec![cell], codes: vec![Vec::new()], values }, 1, &mut found)?;
    Ok(Outcome {
        regions_after: engine.regions_after.iter().map(|n| n.load(Ordering::Relaxed)).collect(),
        boundaries: found.boundaries,
        regions: concat(found.regions),
        layers: engine.layers,
    })
}

impl Engine<'_> {
    /// Run `chunk` through the nodes from `from` on.
    fn descend<C: Cell>(&self, mut chunk: Chunk<C>, from: NodeId, out: &mut Found<C>) -> Result<()> {
        match self.walk.advance(&mut chunk.values, from) {
            Some(l) => self.split_layer(chunk, l, out),
            None => {
                self.emit(chunk, out);
                Ok(())
            }
        }
    }

    /// Split every region of `chunk` by kinked layer `l`, then continue with the pieces in
    /// chunks that fit the memory limit. The chunks descend in parallel, each into its own
    /// `Found`, appended in order, so the result is that of a sequential depth-first descent.
    fn split_layer<C: Cell>(&self, chunk: Chunk<C>, l: usize, out: &mut Found<C>) -> Result<()> {
        self.progress.check_cancelled()?;
        self.progress.layer.store(l + 1, Ordering::Relaxed);
        let layer = &self.layers[l];
        let pre = chunk.values[layer.input].as_ref().expect("live pre-activation");
        let stride = (C::DIM + 1) * pre.width();
        let refined: Vec<CellRefinement<C>> = chunk
            .cells
            .par_iter()
            .enumerate()
            .map(|(r, cell)| layer.refine(cell, r, &pre.data[r * stride..(r + 1) * stride]))
            .collect();
        let total: usize = refined.iter().map(|r| r.pieces.len()).sum();
        let regions = self.regions_after[l].fetch_add(total, Ordering::Relaxed) + total;
        if regions > self.limits.max_regions {
            let (limit, name) = (self.limits.max_regions, layer.name.clone());
            return Err(RegionError::TooManyRegions { limit, node: layer.node, name });
        }
        let produced = self.fused[l].as_ref().map_or(layer.node, |f| f.node);
        let per_piece = self.walk.bytes_per_piece(&chunk.values, layer.node, produced);
        let batch = (self.limits.chunk_bytes / per_piece).max(MIN_CHUNK);
        let (states, groups, boundaries) = regroup(refined, batch, total);
        out.boundaries[l].push(boundaries);
        let found: Vec<Found<C>> = groups
            .into_par_iter()
            .map(|group| {
                let mut found = Found::new(self.layers.len());
                let child = self.children(&chunk, l, &states, group);
                self.descend(child, produced + 1, &mut found)?;
                Ok(found)
            })
            .collect::<Result<_>>()?;
        found.into_iter().for_each(|f| out.append(f));
        self.pool.give_values(chunk.values);
        Ok(())
    }

    /// The chunk of `group`'s pieces: their maps past kinked layer `l` (past its fused node,
    /// if it has one).
    fn children<C: Cell>(&self, chunk: &Chunk<C>, l: usize, states: &[PieceStates], group: Vec<Piece<C>>) -> Chunk<C> {
        let layer = &self.layers[l];
        let parents: Vec<usize> = group.iter().map(|p| p.parent).collect();
        let mut values = self.walk.carried_over(&chunk.values, layer.node, &parents);
        let pre = chunk.values[layer.input].as_ref().expect("live pre-activation");
        match &self.fused[l] {
            Some(fused) => values[fused.node] = Some(self.fused_output(pre, layer, fused, states, &group)),
            None => {
                let pieces: Vec<(usize, u32)> = group.iter().map(|p| (p.parent, p.head)).collect();
                let mut post = self.pool.take((C::DIM + 1) * pieces.len() * layer.units);
                layer.apply_into(pre, C::DIM + 1, states, &pieces, self.net.shape(layer.node), &mut post);
                values[layer.node] = Some(post);
            }
        }
        let codes = group
            .iter()
            .map(|p| {
                let mut code = Vec::with_capacity(self.layers.len());
                code.extend_from_slice(&chunk.codes[p.parent]);
                code.push(p.code);
                code
            })
            .collect();
        Chunk { cells: group.into_iter().map(|p| p.cell).collect(), codes, values }
    }

    /// The fused node's output rows for each piece: the parent's output in its base states,
    /// plus a column of the node for each unit whose state differs from the base; or, for
    /// pieces that differ in so many units that this costs more, the node applied directly.
    fn fused_output<C: Cell>(
        &self,
        pre: &Tensor<f64>,
        layer: &KinkLayer,
        fused: &FusedLinear,
        states: &[PieceStates],
        group: &[Piece<C>],
    ) -> Tensor<f64> {
        let rows = C::DIM + 1;
        let differing = |p: &Piece<C>| {
            let parent = &states[p.parent];
            parent.chain(p.head).filter(move |&(u, s)| parent.base[u as usize] != s)
        };
        // Where each piece's rows come from: the node applied to the piece directly, or to its
        // parent's base states (one row block per parent; a parent's pieces are contiguous).
        // Both kinds go through the node in one product (rows are independent, so the bits do
        // not depend on the grouping), which packs the node's weights once.
        let mut through = Vec::new();
        let mut last_base: Option<(usize, usize)> = None;
        let sources: Vec<Source> = group
            .iter()
            .map(|p| {
                if !fused.columns_pay(differing(p).count()) {
                    through.push((p.parent, p.head));
                    return Source::Direct(through.len() - 1);
                }
                match last_base {
                    Some((parent, k)) if parent == p.parent => Source::Columns(k),
                    _ => {
                        through.push((p.parent, NO_LABEL));
                        last_base = Some((p.parent, through.len() - 1));
                        Source::Columns(through.len() - 1)
                    }
                }
            })
            .collect();
        let block = rows * self.net.shape(fused.node).iter().product::<usize>();
        let mut post = self.pool.take(rows * through.len() * layer.units);
        let mut node_out = self.pool.take(block * through.len());
        layer.apply_into(pre, rows, states, &through, &[layer.units], &mut post);
        self.net.apply_affine_into(fused.node, &[&post], OffsetRows::EveryNth(rows), &mut node_out);
        self.pool.give(post);
        let in_w = pre.width();
        // Every block is copied over below, so a reused buffer needs no zeros.
        let mut out = self.pool.take(block * group.len());
        out.prepare(rows * group.len(), self.net.shape(fused.node));
        out.data.par_chunks_mut(block).zip(group.par_iter().zip(&sources)).for_each(|(dst, (piece, source))| {
            let (Source::Direct(k) | Source::Columns(k)) = *source;
            dst.copy_from_slice(&node_out.data[k * block..(k + 1) * block]);
            if let Source::Columns(_) = source {
                let src = &pre.data[piece.parent * rows * in_w..(piece.parent + 1) * rows * in_w];
                let base = &states[piece.parent].base;
                with_avx2(
                    #[inline(always)]
                    || add_columns(fused, &layer.kink, dst, src, base, differing(piece)),
                );
            }
        });
        self.pool.give(node_out);
        out
    }

    /// Hand the chunk's regions, with their output maps, to the outcome.
    fn emit<C: Cell>(&self, chunk: Chunk<C>, out: &mut Found<C>) {
        let output = chunk.values[self.net.output_id()].as_ref().expect("output value");
        let (width, stride) = (output.width(), (C::DIM + 1) * output.width());
        self.progress.regions.fetch_add(chunk.cells.len(), Ordering::Relaxed);
        let regions = chunk.cells.into_iter().zip(chunk.codes).enumerate();
        out.regions.push(
            regions
                .map(|(r, (cell, code))| FinalRegion {
                    cell,
                    code,
                    output: PieceRows::new(&output.data[r * stride..(r + 1) * stride], width).units(),
                })
                .collect(),
        );
        self.pool.give_values(chunk.values);
    }
}

/// Add to a piece's output rows `dst` (its parent's in the parent's base states `base`) the
/// column of each unit whose state `changes` from the base, scaled by that unit's change on the
/// parent's input rows `src`. A named function, inlined, so that `with_avx2` compiles it whole.
#[inline(always)]
fn add_columns(
    fused: &FusedLinear,
    kink: &KinkUnits,
    dst: &mut [f64],
    src: &[f64],
    base: &[u32],
    changes: impl Iterator<Item = (u32, u32)>,
) {
    let rows = dst.len() / fused.outputs();
    let in_w = src.len() / rows;
    for (unit, state) in changes {
        let (u, from) = (unit as usize, base[unit as usize]);
        for (r, (d, s)) in dst.chunks_mut(fused.outputs()).zip(src.chunks(in_w)).enumerate() {
            fused.add_column(d, u, kink.output_change(s, u, from, state, r == 0));
        }
    }
}

/// The refinements' piece states, their pieces in groups of `batch` (in order), and their
/// boundaries: each piece moved once, straight into its group (pieces are a few hundred bytes).
#[allow(clippy::type_complexity)]
fn regroup<C: Cell>(
    refined: Vec<CellRefinement<C>>,
    batch: usize,
    total: usize,
) -> (Vec<PieceStates>, Vec<Vec<Piece<C>>>, Vec<(C::Boundary, u32)>) {
    let mut states = Vec::with_capacity(refined.len());
    let mut boundaries = Vec::with_capacity(refined.iter().map(|r| r.boundaries.len()).sum());
    let mut groups: Vec<Vec<Piece<C>>> = Vec::with_capacity(total.div_ceil(batch));
    let mut left = total;
    for r in refined {
        states.push(r.states);
        boundaries.extend(r.boundaries);
        for piece in r.pieces {
            if groups.last().is_none_or(|g| g.len() == batch) {
                groups.push(Vec::with_capacity(batch.min(left)));
            }
            groups.last_mut().expect("a group was just ensured").push(piece);
            left -= 1;
        }
    }
    (states, groups, boundaries)
}
