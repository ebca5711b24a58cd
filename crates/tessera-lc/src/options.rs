//! What to measure: radii, directions, which layers, how zero counts, and how to compute it.

use crate::{Frame, ZeroSign};

/// How the vertices' pre-activations are computed. All give the same counts (up to rounding of
/// pre-activations within a few ulps of zero); they differ in speed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Method {
    /// Every vertex `x ± r v_p` through the whole network (the reference algorithm).
    Plain,
    /// The leading affine part (everything before the first kink) is evaluated once per point
    /// and once per frame direction; vertices start at the first kink as `g(x) ± r L v_p`.
    AffineShortcut,
    /// As `AffineShortcut`, and beyond the first kink vertices are carried as the centre's
    /// value plus `± r` times the direction's image under the centre's local linear map, for as
    /// long as no neuron separates the vertex from the centre; from there on they are computed
    /// exactly. Directions are shared by all radii. A last counted dense layer is settled by
    /// Cauchy-Schwarz bounds instead of products of matrices. The default and fastest.
    #[default]
    Linearized,
}

/// The directions that span each neighbourhood.
#[derive(Clone, Debug, PartialEq)]
pub enum Directions {
    /// One frame for every point (and every checkpoint), as the reference code does.
    Shared(Frame),
    /// Each point gets its own random frame of `p` directions, seeded by `seed` and the point's
    /// index in its set.
    PerPoint {
        /// Directions per frame (P).
        p: usize,
        /// Base seed, combined with each point's index.
        seed: u64,
    },
}

impl Directions {
    /// Number of directions P.
    pub fn p(&self) -> usize {
        match self {
            Directions::Shared(frame) => frame.p(),
            Directions::PerPoint { p, .. } => *p,
        }
    }
}

/// Which activation layers are counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LayerSelection {
    /// Every activation layer.
    #[default]
    All,
    /// Only these activation layers, numbered from 1 in network order (the CSV's `layer_k`).
    Only(Vec<usize>),
    /// The activation layers whose pre-activations are feature maps `[C, H, W]` (every
    /// channel x position a neuron): a CNN's convolutional layers without its dense head (P1
    /// §4.1), every ReLU of a ResNet's blocks (residual sums included).
    Convolutional,
}

/// Everything that defines one LC measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct LcOptions {
    /// Radii of the cross-polytopes; all are measured in one pass.
    pub radii: Vec<f64>,
    /// The frame of directions spanning each neighbourhood.
    pub directions: Directions,
    /// Which activation layers to count.
    pub layers: LayerSelection,
    /// Also count sign changes of the network's output (the logits). Off by default: outputs
    /// are not neurons. The reference code's MLP numbers include them.
    pub count_output: bool,
    /// Which side a pre-activation of exactly zero counts on.
    pub zero: ZeroSign,
    /// How pre-activations at the vertices are computed.
    pub method: Method,
    /// Points per batch; `None` picks a size that keeps the working set near 256 MiB.
    pub batch_points: Option<usize>,
}

impl LcOptions {
    /// Count every activation layer at each radius, zero as its own sign, fastest method.
    pub fn new(directions: Directions, radii: Vec<f64>) -> Self {
        Self {
            radii,
            directions,
            layers: LayerSelection::All,
            count_output: false,
            zero: ZeroSign::OwnSign,
            method: Method::default(),
            batch_points: None,
        }
    }

    /// What the official code reports for MLPs: every layer including the output layer, zero
    /// as its own sign (`torch.sign`).
    pub fn reference_compatible(mut self) -> Self {
        self.layers = LayerSelection::All;
        self.count_output = true;
        self.zero = ZeroSign::OwnSign;
        self
    }
}
