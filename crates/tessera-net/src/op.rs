//! The operations of the IR and their static description (no parameters here).

use serde::{Deserialize, Serialize};

/// A piecewise-affine elementwise nonlinearity. Each unit of an activation node is a "neuron":
/// the level sets of its pre-activation at the activation's kinks are boundaries of the
/// network's linear regions.
///
/// The pieces of an activation are numbered from the lowest pre-activations up; a
/// pre-activation exactly on a kink takes the piece above it (ReLU is active at 0, a clamp at
/// `hi` is saturated), everywhere in tessera.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Activation {
    /// `max(0, x)`.
    Relu,
    /// `x` for `x >= 0`, `slope * x` otherwise.
    LeakyRelu {
        /// Slope on the negative side.
        slope: f64,
    },
    /// `|x|`.
    Abs,
    /// `min(max(x, lo), hi)`: two kinks, three pieces (`lo`, `x`, `hi`). ReLU6 is
    /// `lo = 0, hi = 6`; PyTorch's Hardtanh and ONNX Clip with constant bounds are clamps.
    Clamp {
        /// The lower kink and the value below it.
        lo: f64,
        /// The upper kink and the value above it (`hi > lo`).
        hi: f64,
    },
}

/// The kinks of an activation, ascending: the pre-activations where its slope changes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Kinks {
    values: [f64; 2],
    len: usize,
}

impl Kinks {
    /// The kink values, ascending.
    #[inline]
    pub fn as_slice(&self) -> &[f64] {
        &self.values[..self.len]
    }
}

impl Activation {
    /// ReLU6, `min(max(x, 0), 6)`.
    pub const RELU6: Activation = Activation::Clamp { lo: 0.0, hi: 6.0 };

    /// The slope of the activation at `pre` (on a kink, the slope of the piece above it).
    /// Written out per kind, not through `piece`: local complexity calls it for every unit.
    #[inline]
    pub fn slope_at(self, pre: f64) -> f64 {
        let negative = pre < 0.0;
        match self {
            Activation::Relu => f64::from(u8::from(!negative)),
            Activation::LeakyRelu { slope } => {
                if negative {
                    slope
                } else {
                    1.0
                }
            }
            Activation::Abs => {
                if negative {
                    -1.0
                } else {
                    1.0
                }
            }
            Activation::Clamp { lo, hi } => f64::from(u8::from(pre >= lo && pre < hi)),
        }
    }

    /// The kinks, ascending (one at 0 for the ReLU family, `lo` and `hi` for a clamp).
    #[inline]
    pub fn kinks(self) -> Kinks {
        match self {
            Activation::Relu | Activation::LeakyRelu { .. } | Activation::Abs => Kinks { values: [0.0, 0.0], len: 1 },
            Activation::Clamp { lo, hi } => Kinks { values: [lo, hi], len: 2 },
        }
    }

    /// Number of pieces (kinks + 1).
    #[inline]
    pub fn num_pieces(self) -> usize {
        self.kinks().len + 1
    }

    /// The piece `pre` lies on: the number of kinks at or below it.
    #[inline]
    pub fn piece_at(self, pre: f64) -> usize {
        match self {
            Activation::Relu | Activation::LeakyRelu { .. } | Activation::Abs => usize::from(pre >= 0.0),
            Activation::Clamp { lo, hi } => usize::from(pre >= lo) + usize::from(pre >= hi),
        }
    }

    /// `(slope, offset)` of piece `k`: the activation is `slope * pre + offset` there.
    #[inline]
    pub fn piece(self, k: usize) -> (f64, f64) {
        match (self, k) {
            (Activation::Relu, 0) => (0.0, 0.0),
            (Activation::LeakyRelu { slope }, 0) => (slope, 0.0),
            (Activation::Abs, 0) => (-1.0, 0.0),
            (Activation::Relu | Activation::LeakyRelu { .. } | Activation::Abs, _) => (1.0, 0.0),
            (Activation::Clamp { lo, .. }, 0) => (0.0, lo),
            (Activation::Clamp { .. }, 1) => (1.0, 0.0),
            (Activation::Clamp { hi, .. }, _) => (0.0, hi),
        }
    }

    /// Whether some piece has an offset (the activation is not linear on every piece).
    #[inline]
    pub fn has_offsets(self) -> bool {
        (0..self.num_pieces()).any(|k| self.piece(k).1 != 0.0)
    }

    /// Whether the activation has a kink at all (a leaky ReLU of slope 1 is the identity).
    pub fn is_kinked(self) -> bool {
        (1..self.num_pieces()).any(|k| self.piece(k) != self.piece(0))
    }
}

/// Whether batch norm uses batch statistics (training) or its running statistics (evaluation,
/// where it is an affine map).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Normalise with batch statistics.
    Train,
    /// Normalise with running statistics (an affine map).
    #[default]
    Eval,
}

/// One operation and its hyper-parameters. Shapes are per sample: `[D]` or `[C, H, W]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// The network input, of per-sample shape `shape`.
    Input {
        /// Per-sample shape, e.g. `[784]` or `[3, 32, 32]`.
        shape: Vec<usize>,
    },
    /// `y = W x + b` with `W` of shape `[out_features, in_features]`.
    Dense {
        /// Input width.
        in_features: usize,
        /// Output width.
        out_features: usize,
        /// Whether the layer has a bias (default true).
        #[serde(default = "yes")]
        bias: bool,
    },
    /// 2-D convolution of a `[C, H, W]` sample, weight `[out, in / groups, kh, kw]`.
    Conv2d {
        /// Input channels.
        in_channels: usize,
        /// Output channels (filters).
        out_channels: usize,
        /// Kernel height and width.
        kernel: [usize; 2],
        /// Stride per axis (default 1).
        #[serde(default = "ones2")]
        stride: [usize; 2],
        /// Zero padding per side and axis (default 0).
        #[serde(default)]
        padding: [usize; 2],
        /// Whether the layer has a bias (default true).
        #[serde(default = "yes")]
        bias: bool,
        /// Channel groups (default 1): output channels of group `g` read only the input channels
        /// of group `g`, as PyTorch's `groups` (depthwise: `groups == in_channels`).
        #[serde(default = "one", skip_serializing_if = "is_one")]
        groups: usize,
    },
    /// Average pooling (padding counts as zeros in the mean, as PyTorch's
    /// `count_include_pad=True`; a ceil-mode partial window divides by its cells inside the
    /// padded input).
    AvgPool2d {
        /// Window height and width.
        kernel: [usize; 2],
        /// Step between windows per axis.
        stride: [usize; 2],
        /// Zero padding per side and axis (default 0).
        #[serde(default)]
        padding: [usize; 2],
        /// Round the output size up (default false), as PyTorch's `ceil_mode`: see
        /// [`pool_out`].
        #[serde(default, skip_serializing_if = "is_false")]
        ceil_mode: bool,
    },
    /// Max pooling; padding never wins.
    MaxPool2d {
        /// Window height and width.
        kernel: [usize; 2],
        /// Step between windows per axis.
        stride: [usize; 2],
        /// Implicit padding per side and axis (default 0).
        #[serde(default)]
        padding: [usize; 2],
        /// Round the output size up (default false), as PyTorch's `ceil_mode`: see
        /// [`pool_out`].
        #[serde(default, skip_serializing_if = "is_false")]
        ceil_mode: bool,
    },
    /// Per-channel normalisation; channels are the first dimension of the sample shape.
    BatchNorm {
        /// Number of channels (the first sample dimension).
        channels: usize,
        /// Added to the variance before the square root (default 1e-5).
        #[serde(default = "default_eps")]
        eps: f64,
        /// Weight of the batch statistics in the running averages (default 0.1).
        #[serde(default = "default_momentum")]
        momentum: f64,
    },
    /// An elementwise activation.
    Activation {
        /// Which activation.
        activation: Activation,
    },
    /// Elementwise sum of two inputs of equal shape.
    Add,
    /// Concatenation of one or more inputs along the first sample dimension (channels of
    /// `[C, H, W]`, features of `[D]`); the other dimensions must agree.
    Concat,
    /// Channels `start..end` of the input (how `torch.chunk` / `split` along channels is
    /// imported).
    SliceChannels {
        /// First channel kept.
        start: usize,
        /// One past the last channel kept.
        end: usize,
    },
    /// ShuffleNet's channel shuffle with `groups` groups: viewing the `C` channels as
    /// `[groups, C / groups]` and transposing, output channel `j * groups + g` is input
    /// channel `g * (C / groups) + j` (PyTorch's `nn.ChannelShuffle`).
    ChannelShuffle {
        /// Number of groups (divides the channels).
        groups: usize,
    },
    /// Reshape a sample to `[D]` (row-major order is kept).
    Flatten,
}

fn yes() -> bool {
    true
}
fn one() -> usize {
    1
}
fn is_one(n: &usize) -> bool {
    *n == 1
}
fn is_false(b: &bool) -> bool {
    !*b
}
fn ones2() -> [usize; 2] {
    [1, 1]
}
fn default_eps() -> f64 {
    1e-5
}
fn default_momentum() -> f64 {
    0.1
}

impl Op {
    /// A 3x3 convolution with padding 1, the given stride and one group.
    pub fn conv3x3(in_channels: usize, out_channels: usize, stride: usize, bias: bool) -> Op {
        Op::Conv2d { in_channels, out_channels, kernel: [3, 3], stride: [stride; 2], padding: [1, 1], bias, groups: 1 }
    }

    /// Names of the trainable parameters of this op, in storage order.
    pub fn param_names(&self) -> &'static [&'static str] {
        match self {
            Op::Dense { bias: true, .. } | Op::Conv2d { bias: true, .. } | Op::BatchNorm { .. } => &["weight", "bias"],
            Op::Dense { bias: false, .. } | Op::Conv2d { bias: false, .. } => &["weight"],
            _ => &[],
        }
    }

    /// Shapes of the trainable parameters, in the order of `param_names`.
    pub fn param_shapes(&self) -> Vec<Vec<usize>> {
        match *self {
            Op::Dense { in_features, out_features, bias } => {
                let mut v = vec![vec![out_features, in_features]];
                if bias {
                    v.push(vec![out_features]);
                }
                v
            }
            Op::Conv2d { in_channels, out_channels, kernel, bias, groups, .. } => {
                let mut v = vec![vec![out_channels, in_channels / groups.max(1), kernel[0], kernel[1]]];
                if bias {
                    v.push(vec![out_channels]);
                }
                v
            }
            Op::BatchNorm { channels, .. } => vec![vec![channels], vec![channels]],
            _ => vec![],
        }
    }

    /// Is this op affine (no kinks)? Activations and max pooling are the only kinked ops.
    pub fn is_affine(&self) -> bool {
        !matches!(self, Op::Activation { .. } | Op::MaxPool2d { .. })
    }

    /// Fan-in used by PyTorch's default initialisation bound `1/sqrt(fan_in)`.
    pub fn fan_in(&self) -> Option<usize> {
        match *self {
            Op::Dense { in_features, .. } => Some(in_features),
            Op::Conv2d { in_channels, kernel, groups, .. } => Some(in_channels / groups.max(1) * kernel[0] * kernel[1]),
            _ => None,
        }
    }

    /// A short lowercase name for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Dense { .. } => "dense",
            Op::Conv2d { .. } => "conv2d",
            Op::AvgPool2d { .. } => "avg_pool2d",
            Op::MaxPool2d { .. } => "max_pool2d",
            Op::BatchNorm { .. } => "batch_norm",
            Op::Activation { .. } => "activation",
            Op::Add => "add",
            Op::Concat => "concat",
            Op::SliceChannels { .. } => "slice_channels",
            Op::ChannelShuffle { .. } => "channel_shuffle",
            Op::Flatten => "flatten",
        }
    }
}

/// Output size of a sliding window along one axis, or `None` if the window does not fit.
pub fn window_out(size: usize, kernel: usize, stride: usize, padding: usize) -> Option<usize> {
    pool_out(size, kernel, stride, padding, false)
}

/// Output size of a pooling window along one axis, or `None` if the window does not fit. With
/// `ceil_mode` the size is rounded up, so that a last, partial window covers the border, as in
/// PyTorch: that window must start inside the input or the left padding (one that would start
/// in the right padding is not counted).
pub fn pool_out(size: usize, kernel: usize, stride: usize, padding: usize, ceil_mode: bool) -> Option<usize> {
    let padded = size + 2 * padding;
    if stride == 0 || kernel == 0 || padded < kernel {
        return None;
    }
    let span = padded - kernel;
    if !ceil_mode {
        return Some(span / stride + 1);
    }
    let out = span.div_ceil(stride) + 1;
    Some(if (out - 1) * stride >= size + padding { out - 1 } else { out })
}
