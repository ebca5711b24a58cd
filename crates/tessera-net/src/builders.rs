//! Ready-made architectures: the paper's MLPs, a configurable CNN, pre-activation ResNet18.

use crate::network::GraphBuilder;
use crate::op::{Activation, Op};
use crate::{Network, NodeId, Result, Scalar};
use serde::{Deserialize, Serialize};

/// A multilayer perceptron with `widths = [input, hidden.., output]`; `activation` after every
/// hidden dense layer, none after the last. `mlp(&[784, 200, 200, 200, 10], Relu)` is the
/// paper's depth-4 MNIST network.
pub fn mlp<T: Scalar>(widths: &[usize], activation: Activation) -> Result<Network<T>> {
    mlp_with_norm(widths, activation, false)
}

/// An MLP with optional batch norm after every hidden dense layer (before the activation).
pub fn mlp_with_norm<T: Scalar>(widths: &[usize], activation: Activation, batch_norm: bool) -> Result<Network<T>> {
    if widths.len() < 2 {
        return Err(crate::NetError::Invalid(format!("an MLP needs at least two widths, got {widths:?}")));
    }
    let mut b = GraphBuilder::new(&[widths[0]]);
    let mut last = b.last();
    for (k, pair) in widths.windows(2).enumerate() {
        last = b.dense(last, pair[0], pair[1]);
        if k + 2 < widths.len() {
            if batch_norm {
                last = b.batch_norm(last, pair[1]);
            }
            last = b.activation(last, activation);
        }
    }
    b.build()
}

/// A convolutional network: a stack of 3x3 convolutions (padding 1), each optionally followed by
/// batch norm, then the activation, then optional pooling; then a dense head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CnnSpec {
    /// `[C, H, W]` of the input.
    pub input: [usize; 3],
    /// The convolution layers, first to last.
    pub convs: Vec<ConvLayer>,
    /// Hidden widths of the dense head (the last dense layer maps to `classes`).
    pub hidden: Vec<usize>,
    /// Number of outputs (logits).
    pub classes: usize,
    /// Activation after every conv and hidden dense layer.
    pub activation: Activation,
    /// Insert batch norm after every convolution.
    #[serde(default)]
    pub batch_norm: bool,
}

/// One conv layer of a `CnnSpec`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvLayer {
    /// Output channels.
    pub channels: usize,
    /// Convolution stride (default 1).
    #[serde(default = "one")]
    pub stride: usize,
    /// Max-pool window (kernel = stride) after the activation; 0 or 1 for none.
    #[serde(default)]
    pub max_pool: usize,
}

fn one() -> usize {
    1
}

impl CnnSpec {
    /// The small CNN: conv3x3(3->32)-ReLU-maxpool2-conv3x3(32->64)-ReLU-maxpool2-
    /// dense(4096->128)-ReLU-dense(128->10), on 32x32x3 inputs.
    pub fn small_cifar() -> Self {
        Self {
            input: [3, 32, 32],
            convs: vec![
                ConvLayer { channels: 32, stride: 1, max_pool: 2 },
                ConvLayer { channels: 64, stride: 1, max_pool: 2 },
            ],
            hidden: vec![128],
            classes: 10,
            activation: Activation::Relu,
            batch_norm: false,
        }
    }
}

/// Build a `CnnSpec`.
pub fn cnn<T: Scalar>(spec: &CnnSpec) -> Result<Network<T>> {
    let mut b = GraphBuilder::new(&spec.input);
    let mut last = b.last();
    let mut channels = spec.input[0];
    let [_, mut h, mut w] = spec.input;
    for layer in &spec.convs {
        (h, w) = (conv3x3_out(h, layer.stride), conv3x3_out(w, layer.stride));
        last = b.conv3x3(last, channels, layer.channels, layer.stride, !spec.batch_norm);
        if spec.batch_norm {
            last = b.batch_norm(last, layer.channels);
        }
        last = b.activation(last, spec.activation);
        if layer.max_pool > 1 {
            let k = [layer.max_pool; 2];
            last =
                b.push("maxpool", Op::MaxPool2d { kernel: k, stride: k, padding: [0, 0], ceil_mode: false }, &[last]);
            (h, w) = (h / layer.max_pool, w / layer.max_pool);
        }
        channels = layer.channels;
    }
    last = b.flatten(last);
    let mut width = channels * h * w;
    for &h in &spec.hidden {
        last = b.dense(last, width, h);
        last = b.activation(last, spec.activation);
        width = h;
    }
    b.dense(last, width, spec.classes);
    b.build()
}

/// Spatial size after a 3x3 convolution with padding 1.
fn conv3x3_out(size: usize, stride: usize) -> usize {
    (size + 2 - 3) / stride.max(1) + 1
}

/// Pre-activation ResNet18 of width `k` (channels k, 2k, 4k, 8k; the paper uses k = 16) for
/// `[C, 32, 32]` inputs, as in the paper's code (kuangliu style, `avg_pool2d(4)` + dense head).
/// With `batch_norm`, BN precedes every activation in the blocks; without, it is dropped.
pub fn preact_resnet18<T: Scalar>(input: [usize; 3], k: usize, classes: usize, batch_norm: bool) -> Result<Network<T>> {
    let mut b = GraphBuilder::new(&input);
    let mut x = b.conv3x3(0, input[0], k, 1, false);
    let mut channels = k;
    for (stage, &mult) in [1usize, 2, 4, 8].iter().enumerate() {
        for block in 0..2 {
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            x = preact_block(&mut b, x, channels, k * mult, stride, batch_norm);
            channels = k * mult;
        }
    }
    x = b.push("avgpool", Op::AvgPool2d { kernel: [4, 4], stride: [4, 4], padding: [0, 0], ceil_mode: false }, &[x]);
    x = b.flatten(x);
    b.dense(x, channels, classes);
    b.build()
}

/// out = conv(act(bn(conv(act(bn(x)))))) + shortcut, shortcut = x or a 1x1 strided conv of
/// act(bn(x)) when the shape changes.
fn preact_block(b: &mut GraphBuilder, x: NodeId, cin: usize, cout: usize, stride: usize, bn: bool) -> NodeId {
    let relu = Activation::Relu;
    let pre1 = if bn { b.batch_norm(x, cin) } else { x };
    let a1 = b.activation(pre1, relu);
    let c1 = b.conv3x3(a1, cin, cout, stride, false);
    let pre2 = if bn { b.batch_norm(c1, cout) } else { c1 };
    let a2 = b.activation(pre2, relu);
    let c2 = b.conv3x3(a2, cout, cout, 1, false);
    let shortcut = if stride != 1 || cin != cout { b.conv1x1(a1, cin, cout, stride) } else { x };
    b.add(c2, shortcut)
}
