//! The measurement: validated options bound to a network, counting batches of points and
//! streaming whole point sets into statistics.

use crate::frame::{check_count, per_point_seed};
use crate::layers::counted_layers;
use crate::sign::LayerKinks;
use crate::stats::{SetSummary, SummaryBuilder};
use crate::vertices::DirRows;
use crate::{
    linearized, plain, CountedLayer, Directions, Frame, LcError, LcOptions, Method, PointBatch, PointSource, Result,
};
use rayon::prelude::*;
use tessera_net::{with_workers_awake, Network, NodeId, OffsetRows, Op, Scalar, Tensor};

/// Working-set size the automatic batch size aims for, over all batches counted at once.
const MEMORY_BUDGET_BYTES: usize = 256 << 20;
const MAX_BATCH_POINTS: usize = 64;

/// LC counts of one point at one radius.
#[derive(Clone, Debug, PartialEq)]
pub struct PointCounts {
    /// The point's index in its set.
    pub index: usize,
    /// Position of the radius in `LcOptions::radii`.
    pub radius_index: usize,
    /// The radius itself.
    pub radius: f64,
    /// Neurons cut per counted layer, in the order of `LocalComplexity::layers`.
    pub per_layer: Vec<u32>,
}

impl PointCounts {
    /// LC: the sum over the counted layers.
    pub fn total(&self) -> u32 {
        self.per_layer.iter().sum()
    }
}

/// Local complexity of one network under fixed options.
pub struct LocalComplexity<'n, T: Scalar> {
    pub(crate) net: &'n Network<T>,
    pub(crate) options: LcOptions,
    pub(crate) layers: Vec<CountedLayer>,
    pub(crate) radii: Vec<T>,
    /// For nodes whose direction images do not depend on the point (affine functions of the
    /// input alone) and a shared frame: those images, computed once.
    pub(crate) shared_dirs: Vec<Option<Tensor<T>>>,
    /// The last node that reads each node's output (`usize::MAX` for the output).
    pub(crate) last_use: Vec<NodeId>,
    batch_points: usize,
}

impl<'n, T: Scalar> LocalComplexity<'n, T> {
    /// Check the options against the network and prepare the shared frame's images.
    pub fn new(net: &'n Network<T>, options: LcOptions) -> Result<Self> {
        if options.radii.is_empty() {
            return Err(LcError::NoRadii);
        }
        if let Some(&value) = options.radii.iter().find(|r| !(r.is_finite() && **r > 0.0)) {
            return Err(LcError::BadRadius { value });
        }
        let d = net.input_width();
        match &options.directions {
            Directions::Shared(frame) => frame.check_width(d, "frame")?,
            Directions::PerPoint { p, .. } => check_count(*p, d, "per-point frames")?,
        }
        let layers = counted_layers(net, &options.layers, options.count_output)?;
        let radii = options.radii.iter().map(|&r| T::from_f64(r)).collect();
        let batch_points = options.batch_points.unwrap_or_else(|| auto_batch_points(net, &options)).max(1);
        let mut lc =
            Self { net, options, layers, radii, shared_dirs: Vec::new(), last_use: net.last_uses(), batch_points };
        lc.shared_dirs = lc.point_independent_dirs();
        Ok(lc)
    }

    /// The counted layers, in column order.
    pub fn layers(&self) -> &[CountedLayer] {
        &self.layers
    }

    /// The options this measurement was built with.
    pub fn options(&self) -> &LcOptions {
        &self.options
    }

    /// Number of directions P.
    pub fn p(&self) -> usize {
        self.options.directions.p()
    }

    /// Points counted per batch.
    pub fn batch_points(&self) -> usize {
        self.batch_points
    }

    /// Counts for every point of `batch` at every radius: point by point, radius by radius.
    pub fn count_batch(&self, batch: &PointBatch) -> Result<Vec<PointCounts>> {
        self.check_batch(batch, "points")?;
        self.count_checked_batch(batch)
    }

    /// The batch's counts, the pool's workers kept awake between its many short parallel steps.
    fn count_checked_batch(&self, batch: &PointBatch) -> Result<Vec<PointCounts>> {
        with_workers_awake(|| self.count_awake(batch))
    }

    fn count_awake(&self, batch: &PointBatch) -> Result<Vec<PointCounts>> {
        let centers = Tensor::from_vec(self.net.input_shape(), batch.coords.iter().map(|&v| T::from_f64(v)).collect())?;
        let dirs = self.input_dirs(batch)?;
        let flat = match self.options.method {
            Method::Plain => plain::count_plain(self, centers, dirs),
            Method::AffineShortcut => plain::count_affine_shortcut(self, centers, dirs),
            Method::Linearized => linearized::count_linearized(self, centers, dirs),
        }
        .map_err(|e| e.at_point(&batch.indices))?;
        Ok(self.unflatten(&flat, &batch.indices))
    }

    /// Counts for points given row-major (indices `0..n`).
    pub fn count_points(&self, coords: &[f64]) -> Result<Vec<PointCounts>> {
        let d = self.net.input_width();
        if !coords.len().is_multiple_of(d) {
            let message = format!("{} values do not make points of {d} coordinates", coords.len());
            return Err(LcError::BadPointSet { set: "points".into(), message });
        }
        self.count_batch(&PointBatch { indices: (0..coords.len() / d).collect(), coords: coords.to_vec() })
    }

    /// Count a whole point set batch by batch, handing each batch's counts to `on_batch`
    /// (e.g. to write CSV rows or advance a progress bar), and return its statistics.
    pub fn run<E: From<LcError>>(
        &self,
        source: &mut dyn PointSource,
        mut on_batch: impl FnMut(&[PointCounts]) -> Result<(), E>,
    ) -> Result<SetSummary, E> {
        let set = source.name().to_string();
        if source.dim() != self.net.input_width() {
            return Err(LcError::PointWidth { set, got: source.dim(), expected: self.net.input_width() }.into());
        }
        if source.is_empty() {
            return Err(LcError::EmptyPointSet { set }.into());
        }
        let columns = self.layers.iter().map(|l| l.column.clone()).collect();
        let mut summary = SummaryBuilder::new(&set, columns, self.options.radii.clone());
        // One batch per thread at a time, each counted on its own: a batch's steps are many
        // short parallel regions whose hand-offs cost more than they share (a third of the time
        // on the MNIST MLP). Counts do not depend on which thread computes them.
        let threads = rayon::current_num_threads().max(1);
        loop {
            let mut group = Vec::with_capacity(threads);
            while group.len() < threads {
                let batch = source.next_batch(self.batch_points)?;
                if batch.is_empty() {
                    break;
                }
                self.check_batch(&batch, &set)?;
                group.push(batch);
            }
            if group.is_empty() {
                break;
            }
            let counts: Vec<Result<Vec<PointCounts>>> = match group.as_slice() {
                [single] => vec![self.count_checked_batch(single)],
                _ => group.par_iter().map(|batch| self.count_awake(batch)).collect(),
            };
            for counts in counts {
                let counts = counts?;
                summary.add(&counts);
                on_batch(&counts)?;
            }
        }
        Ok(summary.finish())
    }

    fn check_batch(&self, batch: &PointBatch, set: &str) -> Result<()> {
        let d = self.net.input_width();
        if batch.is_empty() {
            return Err(LcError::EmptyPointSet { set: set.into() });
        }
        if batch.coords.len() != batch.len() * d {
            let got = batch.coords.len() / batch.len();
            return Err(LcError::PointWidth { set: set.into(), got, expected: d });
        }
        if let Some(k) = batch.coords.iter().position(|v| !v.is_finite()) {
            return Err(LcError::NonFinitePoint { set: set.into(), index: batch.indices[k / d], coordinate: k % d });
        }
        Ok(())
    }

    /// The frame's rows at the input node: shared, or one frame per point of the batch.
    fn input_dirs(&self, batch: &PointBatch) -> Result<DirRows<T>> {
        let shape = self.net.input_shape();
        let cast = |rows: &[f64]| rows.iter().map(|&v| T::from_f64(v)).collect::<Vec<T>>();
        Ok(match &self.options.directions {
            Directions::Shared(frame) => DirRows::Shared(Tensor::from_vec(shape, cast(frame.directions()))?),
            Directions::PerPoint { p, seed } => {
                let d = self.net.input_width();
                let frames: Vec<Vec<T>> = batch
                    .indices
                    .par_iter()
                    .map(|&i| Frame::random(d, *p, per_point_seed(*seed, i)).map(|f| cast(f.directions())))
                    .collect::<Result<_>>()?;
                DirRows::PerPoint(Tensor::from_vec(shape, frames.concat())?)
            }
        })
    }

    /// Images of the shared frame at every node that is an affine function of the input alone.
    fn point_independent_dirs(&self) -> Vec<Option<Tensor<T>>> {
        let Directions::Shared(frame) = &self.options.directions else { return Vec::new() };
        let cast = frame.directions().iter().map(|&v| T::from_f64(v)).collect();
        let mut dirs: Vec<Option<Tensor<T>>> = vec![None; self.net.nodes().len()];
        dirs[0] = Tensor::from_vec(self.net.input_shape(), cast).ok();
        for id in 1..dirs.len() {
            let node = self.net.node(id);
            if !node.op.is_affine() {
                continue;
            }
            let inputs: Option<Vec<&Tensor<T>>> = node.inputs.iter().map(|&i| dirs[i].as_ref()).collect();
            dirs[id] = inputs.map(|inputs| self.net.apply_affine(id, &inputs, OffsetRows::None));
        }
        dirs
    }

    /// Apply affine node `id` to direction rows (no offsets), reusing the precomputed images
    /// when every input is shared; `slots` is the number of tracked points.
    pub(crate) fn affine_dirs(&self, id: NodeId, inputs: &[&DirRows<T>], slots: usize) -> DirRows<T> {
        if inputs.iter().all(|d| matches!(d, DirRows::Shared(_))) {
            if let Some(Some(shared)) = self.shared_dirs.get(id) {
                return DirRows::Shared(shared.clone());
            }
        }
        let expanded: Vec<_> = inputs.iter().map(|d| d.per_point(slots)).collect();
        let refs: Vec<&Tensor<T>> = expanded.iter().map(|t| t.as_ref()).collect();
        DirRows::PerPoint(self.apply_affine_rows(id, &refs, OffsetRows::None))
    }

    /// `apply_affine` that also accepts empty batches.
    pub(crate) fn apply_affine_rows(&self, id: NodeId, inputs: &[&Tensor<T>], offsets: OffsetRows) -> Tensor<T> {
        if inputs[0].batch == 0 {
            return Tensor::zeros(0, self.net.shape(id));
        }
        self.net.apply_affine(id, inputs, offsets)
    }

    /// The node after which nothing more is counted.
    pub(crate) fn last_needed_node(&self) -> NodeId {
        self.layers.iter().map(|l| l.node).max().expect("at least one counted layer")
    }

    /// Position among the counted layers of the layer counted at activation node `id`.
    pub(crate) fn activation_layer(&self, id: NodeId) -> Option<usize> {
        self.layers.iter().position(|l| l.node == id && !l.is_output)
    }

    /// The kinks of counted layer `l`: its activation's, or a sign change for the output.
    pub(crate) fn layer_kinks(&self, l: usize) -> LayerKinks {
        let layer = &self.layers[l];
        match self.net.activation(layer.node) {
            Some(activation) if !layer.is_output => LayerKinks::of(activation),
            _ => LayerKinks::AtZero,
        }
    }

    /// Position of the output layer among the counted layers, if counted.
    pub(crate) fn output_layer(&self) -> Option<usize> {
        self.layers.iter().position(|l| l.is_output)
    }

    fn unflatten(&self, flat: &[u32], indices: &[usize]) -> Vec<PointCounts> {
        let (r, l) = (self.radii.len(), self.layers.len());
        let mut out = Vec::with_capacity(indices.len() * r);
        for (b, &index) in indices.iter().enumerate() {
            for (k, &radius) in self.options.radii.iter().enumerate() {
                let start = (b * r + k) * l;
                out.push(PointCounts { index, radius_index: k, radius, per_layer: flat[start..start + l].to_vec() });
            }
        }
        out
    }
}

/// What can fail while counting a batch: a NaN pre-activation (which layer, which point of
/// the batch), or the network itself.
#[derive(Debug)]
pub(crate) enum CountError {
    NotANumber { layer: String, batch_position: usize },
    Net(tessera_net::NetError),
}

impl From<tessera_net::NetError> for CountError {
    fn from(e: tessera_net::NetError) -> Self {
        CountError::Net(e)
    }
}

impl CountError {
    fn at_point(self, indices: &[usize]) -> LcError {
        match self {
            CountError::NotANumber { layer, batch_position } => {
                LcError::NonFinitePreactivation { layer, point: indices[batch_position] }
            }
            CountError::Net(e) => LcError::Net(e),
        }
    }
}

/// Points per batch so that a batch's rows at the widest node stay within the budget.
fn auto_batch_points<T: Scalar>(net: &Network<T>, options: &LcOptions) -> usize {
    let widest = (0..net.nodes().len()).map(|id| net.shape(id).iter().product::<usize>()).max().unwrap_or(1);
    let p = options.directions.p();
    let rows = 1 + p + options.radii.len() * 2 * p;
    // A few tensors of this size are alive at once (live nodes, the next node, temporaries).
    let bytes_per_point = 4 * rows * widest * std::mem::size_of::<T>();
    let concurrent = rayon::current_num_threads().max(1);
    (MEMORY_BUDGET_BYTES / concurrent / bytes_per_point.max(1)).clamp(1, MAX_BATCH_POINTS)
}

/// Whether activation or pooling `op` has a kink (a leaky ReLU of slope 1 is linear).
pub(crate) fn is_kinked(op: &Op) -> bool {
    match op {
        Op::Activation { activation } => activation.is_kinked(),
        Op::MaxPool2d { .. } => true,
        _ => false,
    }
}
