//! Exact region transitions along a polyline of input space (e.g. through training points).

use crate::code::{unit_states, Code};
use crate::error::{check_width, RegionError, Result};
use crate::interval::Interval;
use crate::kink::KinkLayer;
use crate::partition::PartitionOptions;
use crate::progress::CountProgress;
use crate::refinement::{refine, Outcome};
use crate::slice::norm;
use serde::{Deserialize, Serialize};
use tessera_net::{Network, Tensor};

/// Pieces whose midpoints go through one forward pass when transitions are labelled.
const PIECES_PER_PASS: usize = 64;

/// A piece of the path inside one linear region.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathPiece {
    /// Index of the polyline segment; the piece covers parameters `t[0]..t[1]` of it (the
    /// segment from point `s` to point `s + 1` is `p_s + t (p_{s+1} - p_s)`, `t` in `[0, 1]`).
    pub segment: usize,
    /// Parameter interval `[t0, t1]` within that segment.
    pub t: [f64; 2],
    /// The activation code of the region the piece lies in.
    pub code: Code,
}

/// A unit of a kinked layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitRef {
    /// Index among the network's kinked layers.
    pub layer: usize,
    /// Node id of that layer.
    pub node: usize,
    /// Neuron (or pooling output) within the layer.
    pub unit: u32,
}

/// Where the path leaves one region for the next.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// Index of the polyline segment where the crossing lies.
    pub segment: usize,
    /// Parameter of the crossing within that segment, in `[0, 1]`.
    pub t: f64,
    /// Euclidean distance along the path from its first point.
    pub distance: f64,
    /// Every unit whose state differs between the two sides (several when hyperplanes
    /// coincide).
    pub units: Vec<UnitRef>,
}

/// Counts of one kinked layer along the path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathLayer {
    /// Node id in the network.
    pub node: usize,
    /// Node name.
    pub name: String,
    /// "relu", "leaky_relu", "abs" or "max_pool".
    pub kind: String,
    /// Neurons (or pooling outputs) of the layer.
    pub units: usize,
    /// Pieces of the path cut by this layer and those before it.
    pub pieces: usize,
}

/// The exact partition of a polyline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathPartition {
    /// Euclidean length of the whole polyline, in input units.
    pub length: f64,
    /// One entry per kinked layer, in network order.
    pub layers: Vec<PathLayer>,
    /// In order along the path.
    pub pieces: Vec<PathPiece>,
    /// The region changes, in order along the path.
    pub transitions: Vec<Transition>,
}

impl PathPartition {
    /// Number of region changes along the path.
    pub fn num_transitions(&self) -> usize {
        self.transitions.len()
    }
}

/// The linear regions met along the polyline through `points`, in order, and the transitions
/// between them with the units that switch. Zero-length segments are skipped.
pub fn path_transitions(net: &Network<f64>, points: &[Vec<f64>], options: &PartitionOptions) -> Result<PathPartition> {
    if points.len() < 2 {
        return Err(RegionError::Path(format!("needs at least 2 points, got {}", points.len())));
    }
    for (i, p) in points.iter().enumerate() {
        check_width(&format!("path point {i}"), p, net.input_width())?;
    }
    let mut layers: Vec<PathLayer> = Vec::new();
    let mut pieces = Vec::new();
    let mut starts = Vec::with_capacity(points.len());
    let mut length = 0.0;
    for (s, pair) in points.windows(2).enumerate() {
        let direction: Vec<f64> = pair[1].iter().zip(&pair[0]).map(|(q, p)| q - p).collect();
        starts.push(length);
        let seg_len = norm(&direction);
        length += seg_len;
        if seg_len == 0.0 {
            continue;
        }
        let rows = Tensor::from_vec(&[net.input_width()], [pair[0].as_slice(), &direction].concat())?;
        let outcome = refine(net, rows, Interval::new(0.0, 1.0), options.limits(), &CountProgress::new())?;
        accumulate_layers(&mut layers, &outcome);
        let mut seg_pieces: Vec<PathPiece> =
            outcome.regions.into_iter().map(|r| PathPiece { segment: s, t: r.cell.bounds(), code: r.code }).collect();
        seg_pieces.sort_by(|a, b| a.t[0].total_cmp(&b.t[0]));
        pieces.extend(seg_pieces);
    }
    if length == 0.0 {
        return Err(RegionError::Path("all points are the same: the path has zero length".into()));
    }
    let seg_lengths: Vec<f64> =
        (0..points.len() - 1).map(|s| starts.get(s + 1).unwrap_or(&length) - starts[s]).collect();
    let transitions = label_transitions(net, points, &pieces, &starts, &seg_lengths)?;
    Ok(PathPartition { length, layers, pieces, transitions })
}

fn accumulate_layers(layers: &mut Vec<PathLayer>, outcome: &Outcome<Interval>) {
    if layers.is_empty() {
        *layers = outcome.layers.iter().map(path_layer).collect();
    }
    for (l, n) in layers.iter_mut().zip(&outcome.regions_after) {
        l.pieces += n;
    }
}

fn path_layer(layer: &KinkLayer) -> PathLayer {
    PathLayer {
        node: layer.node,
        name: layer.name.clone(),
        kind: layer.kind_name().into(),
        units: layer.units,
        pieces: 0,
    }
}

/// Transitions between consecutive pieces with different codes, labelled by comparing the
/// unit states at the two pieces' midpoints (exact, coinciding hyperplanes included).
fn label_transitions(
    net: &Network<f64>,
    points: &[Vec<f64>],
    pieces: &[PathPiece],
    starts: &[f64],
    seg_lengths: &[f64],
) -> Result<Vec<Transition>> {
    let layers = crate::kink::kink_layers(net);
    let midpoint = |p: &PathPiece| -> Vec<f64> {
        let t = (p.t[0] + p.t[1]) / 2.0;
        let (a, b) = (&points[p.segment], &points[p.segment + 1]);
        a.iter().zip(b).map(|(x, y)| x + t * (y - x)).collect()
    };
    let mut transitions = Vec::new();
    let mut previous: Option<Vec<Vec<u32>>> = None;
    for (c, chunk) in pieces.chunks(PIECES_PER_PASS).enumerate() {
        let batch = Tensor::from_vec(net.input_shape(), chunk.iter().flat_map(midpoint).collect())?;
        for (i, states) in unit_states(net, &layers, &batch)?.into_iter().enumerate() {
            let index = c * PIECES_PER_PASS + i;
            if let Some(prev) = previous.as_ref().filter(|_| pieces[index - 1].code != pieces[index].code) {
                let before = &pieces[index - 1];
                let (segment, t) = (before.segment, before.t[1]);
                transitions.push(Transition {
                    segment,
                    t,
                    distance: starts[segment] + t * seg_lengths[segment],
                    units: changed_units(&layers, prev, &states),
                });
            }
            previous = Some(states);
        }
    }
    Ok(transitions)
}

fn changed_units(layers: &[KinkLayer], before: &[Vec<u32>], after: &[Vec<u32>]) -> Vec<UnitRef> {
    let mut units = Vec::new();
    for (l, (layer, (a, b))) in layers.iter().zip(before.iter().zip(after)).enumerate() {
        let changed = a.iter().zip(b).enumerate().filter(|(_, (x, y))| x != y);
        units.extend(changed.map(|(u, _)| UnitRef { layer: l, node: layer.node, unit: u as u32 }));
    }
    units
}
