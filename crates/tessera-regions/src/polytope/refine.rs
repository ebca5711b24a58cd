//! The depth-first refinement of a neighbourhood, in chunks of bounded memory.
//!
//! Pieces flow through the network's nodes in topological order, each carrying the affine maps
//! (in t) of the tensors that later nodes still read, `P + 1` rows per piece. Affine nodes map
//! a whole chunk at once. A kinked layer splits every piece of the chunk (in parallel), and the
//! pieces continue to the next layers in chunks of `chunk_bytes` before the next chunk of this
//! layer is formed, so the pieces in flight are bounded by the chunk size times the depth, not
//! by the number of regions. Final regions are counted, and kept only when the caller asks for
//! the partition. Region order is the breadth-first order: a piece's cells follow one another,
//! in the order of their parents.

use super::cells::{Cell, CellSplitter};
use super::lp::cross_polytope_inball;
use super::{CountProgress, LayerCount, Neighborhood, PolytopeOptions, PolytopeRegion};
use crate::affine::PieceRows;
use crate::error::{RegionError, Result};
use crate::kink::{kink_layers, KinkLayer};
use crate::walk::{NodeWalk, Values};
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tessera_net::{Network, NodeId, Tensor};

/// Pieces per chunk however wide the maps: enough to keep every core busy splitting.
const MIN_CHUNK: usize = 16;

/// A region under construction: its cell and the unit states of every kinked layer so far.
struct Piece {
    cell: Cell,
    states: Vec<Vec<u32>>,
}

/// Pieces in flight together and the maps of their live tensors (`values[node]`: `P + 1` rows
/// per piece, in piece order).
struct Chunk {
    pieces: Vec<Piece>,
    values: Values,
}

/// What one kinked layer has done so far, over all chunks.
struct LayerTally {
    regions: usize,
    /// The states of the first piece, and which units differ from them in some piece.
    first: Option<Vec<u32>>,
    changing: Vec<bool>,
}

/// What a refinement produces.
pub(super) struct Outcome {
    pub layers: Vec<LayerCount>,
    pub num_regions: usize,
    pub lp_solves: u64,
    /// The regions, when asked for.
    pub regions: Vec<PolytopeRegion>,
}

pub(super) struct Refinement<'a> {
    net: &'a Network<f64>,
    dim: usize,
    options: &'a PolytopeOptions,
    layers: Vec<KinkLayer>,
    walk: NodeWalk<'a>,
    splitter: CellSplitter,
    /// Pieces produced by each kinked layer so far (checked against `max_regions`).
    produced: Vec<AtomicUsize>,
    progress: &'a CountProgress,
    keep_regions: bool,
}

struct Sink {
    tallies: Vec<LayerTally>,
    num_regions: usize,
    regions: Vec<PolytopeRegion>,
}

impl<'a> Refinement<'a> {
    pub fn new(
        net: &'a Network<f64>,
        dim: usize,
        options: &'a PolytopeOptions,
        progress: &'a CountProgress,
        keep_regions: bool,
    ) -> Self {
        let layers = kink_layers(net);
        let walk = NodeWalk::new(net, &layers, dim + 1);
        let splitter = CellSplitter { dim, min_inradius: options.min_inradius, lp_solves: AtomicU64::new(0) };
        let produced = layers.iter().map(|_| AtomicUsize::new(0)).collect();
        Self { net, dim, options, walk, splitter, produced, progress, keep_regions, layers }
    }

    pub fn run(self, neighborhood: &Neighborhood) -> Result<Outcome> {
        let net = self.net;
        self.progress.layers.store(self.layers.len(), Ordering::Relaxed);
        let mut values: Values = vec![None; net.nodes().len()];
        values[0] = Some(Tensor::from_vec(net.input_shape(), neighborhood.input_rows())?);
        let start =
            Piece { cell: Cell { halfspaces: Vec::new(), ball: cross_polytope_inball(self.dim) }, states: Vec::new() };
        let tallies =
            self.layers.iter().map(|l| LayerTally { regions: 0, first: None, changing: vec![false; l.units] });
        let mut sink = Sink { tallies: tallies.collect(), num_regions: 0, regions: Vec::new() };
        self.descend(Chunk { pieces: vec![start], values }, 1, &mut sink)?;
        let layers = self
            .layers
            .iter()
            .zip(sink.tallies)
            .map(|(layer, tally)| LayerCount {
                node: layer.node,
                name: layer.name.clone(),
                kind: layer.kink.kind(),
                units: layer.units,
                cutting_units: tally.changing.iter().filter(|&&c| c).count(),
                regions: tally.regions,
            })
            .collect();
        Ok(Outcome {
            layers,
            num_regions: sink.num_regions,
            lp_solves: self.splitter.lp_solves.load(Ordering::Relaxed),
            regions: sink.regions,
        })
    }

    /// Run `chunk` through the nodes from `from` on.
    fn descend(&self, mut chunk: Chunk, from: NodeId, sink: &mut Sink) -> Result<()> {
        match self.walk.advance(&mut chunk.values, from) {
            Some(l) => self.split_layer(chunk, l, sink),
            None => {
                self.emit(chunk, sink);
                Ok(())
            }
        }
    }

    /// Split every piece of `chunk` by kinked layer `l`, then continue with the pieces in
    /// chunks that fit the memory limit.
    fn split_layer(&self, chunk: Chunk, l: usize, sink: &mut Sink) -> Result<()> {
        self.check_cancelled()?;
        self.progress.layer.store(l + 1, Ordering::Relaxed);
        let layer = &self.layers[l];
        let input = chunk.values[layer.input].as_ref().expect("live input");
        let block = (self.dim + 1) * input.width();
        let on_region = || self.count_region(l);
        let splits: Vec<Vec<(Vec<u32>, Cell)>> = chunk
            .pieces
            .par_iter()
            .zip(input.data.par_chunks(block))
            .map(|(piece, rows)| {
                let rows = PieceRows::new(rows, input.width());
                self.splitter.refine_piece(&piece.cell, &layer.kink, layer.units, rows, &on_region)
            })
            .collect::<Result<_>>()?;
        sink.tallies[l].add(splits.iter().flatten().map(|(states, _)| states));
        if l + 1 == self.layers.len() && !self.keep_regions {
            // A count needs no maps past the last kinked layer.
            let regions = splits.iter().map(Vec::len).sum();
            sink.num_regions += regions;
            self.progress.regions.fetch_add(regions, Ordering::Relaxed);
            return Ok(());
        }
        let mut children = splits
            .into_iter()
            .enumerate()
            .flat_map(|(parent, split)| split.into_iter().map(move |(states, cell)| (parent, states, cell)));
        let per_piece = self.walk.bytes_per_piece(&chunk.values, layer.node, layer.node);
        let batch = (self.options.chunk_bytes / per_piece).max(MIN_CHUNK);
        loop {
            let group: Vec<(usize, Vec<u32>, Cell)> = children.by_ref().take(batch).collect();
            if group.is_empty() {
                return Ok(());
            }
            let child = self.children(&chunk, layer, group);
            self.descend(child, layer.node + 1, sink)?;
        }
    }

    /// The chunk of `group`'s pieces (`(parent, states, cell)`): their maps past `layer`.
    fn children(&self, chunk: &Chunk, layer: &KinkLayer, group: Vec<(usize, Vec<u32>, Cell)>) -> Chunk {
        let rows = self.dim + 1;
        let parents: Vec<usize> = group.iter().map(|(parent, ..)| *parent).collect();
        let mut values = self.walk.carried_over(&chunk.values, layer.node, &parents);
        let input = chunk.values[layer.input].as_ref().expect("live input");
        let (in_w, block) = (input.width(), rows * input.width());
        let mut output = Tensor::zeros(rows * group.len(), self.net.shape(layer.node));
        output.data.par_chunks_mut(rows * layer.units).zip(group.par_iter()).for_each(|(dst, (parent, states, _))| {
            let src = &input.data[parent * block..(parent + 1) * block];
            for (r, (d, s)) in dst.chunks_mut(layer.units).zip(src.chunks(in_w)).enumerate() {
                layer.kink.write_row(d, s, states, r == 0);
            }
        });
        values[layer.node] = Some(output);
        let pieces = group
            .into_iter()
            .map(|(parent, layer_states, cell)| {
                // A count keeps only the tallies of the states, a partition every region's.
                let mut states = Vec::new();
                if self.keep_regions {
                    states = chunk.pieces[parent].states.clone();
                    states.push(layer_states);
                }
                Piece { cell, states }
            })
            .collect();
        Chunk { pieces, values }
    }

    /// Count the chunk's final regions; keep them with their output maps when asked.
    fn emit(&self, chunk: Chunk, sink: &mut Sink) {
        sink.num_regions += chunk.pieces.len();
        self.progress.regions.fetch_add(chunk.pieces.len(), Ordering::Relaxed);
        if !self.keep_regions {
            return;
        }
        let output = chunk.values[self.net.output_id()].as_ref().expect("output value");
        let block = (self.dim + 1) * output.width();
        for (piece, rows) in chunk.pieces.into_iter().zip(output.data.chunks(block)) {
            sink.regions.push(PolytopeRegion {
                halfspaces: piece.cell.halfspaces,
                ball: piece.cell.ball,
                codes: piece.states,
                output: PieceRows::new(rows, output.width()).affine_map(),
            });
        }
    }

    /// Account for one more piece after kinked layer `l`; fail past `max_regions` or when
    /// cancelled.
    fn count_region(&self, l: usize) -> Result<()> {
        if self.produced[l].fetch_add(1, Ordering::Relaxed) >= self.options.max_regions {
            let layer = &self.layers[l];
            let (limit, name) = (self.options.max_regions, layer.name.clone());
            return Err(RegionError::TooManyRegions { limit, node: layer.node, name });
        }
        self.check_cancelled()
    }

    fn check_cancelled(&self) -> Result<()> {
        self.progress.check_cancelled()
    }
}

impl LayerTally {
    fn add<'s>(&mut self, states: impl Iterator<Item = &'s Vec<u32>>) {
        for s in states {
            self.regions += 1;
            let first = self.first.get_or_insert_with(|| s.clone());
            for ((changing, a), b) in self.changing.iter_mut().zip(first.iter()).zip(s) {
                *changing |= a != b;
            }
        }
    }
}
