//! The operations of the IR and their static description (no parameters here).

use serde::{Deserialize, Serialize};

/// A piecewise-linear elementwise nonlinearity. Each unit of an activation node is a "neuron":
/// its pre-activation's zero set is a boundary of the network's linear regions.
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
}

impl Activation {
    /// The slope of the activation on the side of `pre` (`pre == 0` takes the positive side).
    #[inline]
    pub fn slope_at(self, pre: f64) -> f64 {
        let negative = pre < 0.0;
        match self {
            Activation::Relu => {
                if negative {
                    0.0
                } else {
                    1.0
                }
            }
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
        }
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
    /// 2-D convolution of a `[C, H, W]` sample, weight `[out, in, kh, kw]`.
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
    },
    /// Average pooling (padding counts as zeros in the mean).
    AvgPool2d {
        /// Window height and width.
        kernel: [usize; 2],
        /// Step between windows per axis.
        stride: [usize; 2],
        /// Zero padding per side and axis (default 0).
        #[serde(default)]
        padding: [usize; 2],
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
    /// Reshape a sample to `[D]` (row-major order is kept).
    Flatten,
}

fn yes() -> bool {
    true
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
            Op::Conv2d { in_channels, out_channels, kernel, bias, .. } => {
                let mut v = vec![vec![out_channels, in_channels, kernel[0], kernel[1]]];
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
            Op::Conv2d { in_channels, kernel, .. } => Some(in_channels * kernel[0] * kernel[1]),
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
            Op::Flatten => "flatten",
        }
    }
}

/// Output size of a sliding window along one axis, or `None` if the window does not fit.
pub fn window_out(size: usize, kernel: usize, stride: usize, padding: usize) -> Option<usize> {
    let padded = size + 2 * padding;
    if stride == 0 || kernel == 0 || padded < kernel {
        return None;
    }
    Some((padded - kernel) / stride + 1)
}
