//! Small networks and point sets shared by the integration tests.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera_lc::{Directions, Frame, LcOptions, LocalComplexity, Method, PointCounts};
use tessera_net::{cnn, mlp, Activation, CnnSpec, ConvLayer, GraphBuilder, Network, Op, Scalar};

pub const METHODS: [Method; 3] = [Method::Plain, Method::AffineShortcut, Method::Linearized];

/// An MLP with PyTorch-default weights from `seed`.
pub fn random_mlp<T: Scalar>(widths: &[usize], activation: Activation, seed: u64) -> Network<T> {
    let mut net = mlp::<T>(widths, activation).unwrap();
    net.init_pytorch_default(seed, 1.0);
    net
}

/// Uniform points in `[lo, hi]^dim`, row-major.
pub fn random_points(n: usize, dim: usize, lo: f64, hi: f64, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n * dim).map(|_| rng.random_range(lo..hi)).collect()
}

/// A small CNN with batch norm (random running statistics), max pooling and a dense head.
pub fn small_cnn(seed: u64) -> Network<f64> {
    small_cnn_with(seed, true)
}

/// `small_cnn`, with or without its batch norms.
pub fn small_cnn_with(seed: u64, batch_norm: bool) -> Network<f64> {
    let spec = CnnSpec {
        input: [2, 6, 6],
        convs: vec![
            ConvLayer { channels: 3, stride: 1, max_pool: 2 },
            ConvLayer { channels: 4, stride: 1, max_pool: 0 },
        ],
        hidden: vec![5],
        classes: 3,
        activation: Activation::Relu,
        batch_norm,
    };
    let mut net = cnn::<f64>(&spec).unwrap();
    net.init_pytorch_default(seed, 1.0);
    randomize_batch_norm(&mut net, seed);
    net
}

/// A residual network: conv stem, then `x + conv(relu(conv(relu(x))))`, average pooling,
/// dense head. The skip reads the stem's output, an affine function of the input alone.
pub fn small_residual(seed: u64) -> Network<f64> {
    let mut b = GraphBuilder::new(&[2, 4, 4]);
    let stem = b.conv3x3(0, 2, 3, 1, true);
    let bn = b.batch_norm(stem, 3);
    let a1 = b.activation(bn, Activation::LeakyRelu { slope: 0.1 });
    let c1 = b.conv3x3(a1, 3, 3, 1, true);
    let a2 = b.activation(c1, Activation::Abs);
    let c2 = b.conv3x3(a2, 3, 3, 1, false);
    let sum = b.add(c2, stem);
    let a3 = b.activation(sum, Activation::Relu);
    let pool =
        b.push("avgpool", Op::AvgPool2d { kernel: [2, 2], stride: [2, 2], padding: [0, 0], ceil_mode: false }, &[a3]);
    let flat = b.flatten(pool);
    b.dense(flat, 12, 2);
    let mut net: Network<f64> = b.build().unwrap();
    net.init_pytorch_default(seed, 1.0);
    randomize_batch_norm(&mut net, seed);
    net
}

fn randomize_batch_norm(net: &mut Network<f64>, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xb0);
    for id in 0..net.nodes().len() {
        if let Some(running) = net.params_mut(id).running.as_mut() {
            running.mean.iter_mut().for_each(|m| *m = rng.random_range(-0.3..0.3));
            running.var.iter_mut().for_each(|v| *v = rng.random_range(0.5..2.0));
        }
    }
}

/// Shared-frame options with a seeded frame.
pub fn options(dim: usize, p: usize, frame_seed: u64, radii: &[f64], method: Method) -> LcOptions {
    let mut o = LcOptions::new(Directions::Shared(Frame::random(dim, p, frame_seed).unwrap()), radii.to_vec());
    o.method = method;
    o
}

/// Counts of `points` under `options`.
pub fn counts<T: Scalar>(net: &Network<T>, options: LcOptions, points: &[f64]) -> Vec<PointCounts> {
    LocalComplexity::new(net, options).unwrap().count_points(points).unwrap()
}

/// Per-layer counts only, for comparisons.
pub fn per_layer(counts: &[PointCounts]) -> Vec<Vec<u32>> {
    counts.iter().map(|c| c.per_layer.clone()).collect()
}
