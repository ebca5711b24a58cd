//! Property tests of exact 2-D slices and 1-D paths on random small networks (f64).

mod common;

use common::{assert_exact_partition, regions_along};
use proptest::prelude::*;
use tessera_net::{mlp, Activation, GraphBuilder, Network, Op};
use tessera_regions::{partition_slice, path_transitions, PartitionOptions, Point, Slice};

/// The activations, by kind: the ReLU family (one kink) and a clamp (two kinks, three pieces).
fn activation(kind: u8) -> Activation {
    match kind % 4 {
        0 => Activation::Relu,
        1 => Activation::LeakyRelu { slope: 0.1 },
        2 => Activation::Abs,
        _ => Activation::Clamp { lo: -0.2, hi: 0.3 },
    }
}

fn initialised(mut net: Network<f64>, seed: u64) -> Network<f64> {
    net.init_pytorch_default(seed, 1.0);
    net
}

/// Input [1, 4, 4]: conv3x3 (1 -> 2) - act - maxpool 2x2, then either flatten - dense (8 -> 3)
/// or conv3x3 (2 -> 2) - act - flatten - dense (8 -> 3) (a conv fed by max pooling, a dense by
/// an activation).
fn conv_maxpool_net(act: Activation, seed: u64, conv_after_pool: bool) -> Network<f64> {
    let mut b = GraphBuilder::new(&[1, 4, 4]);
    let c = b.conv3x3(0, 1, 2, 1, true);
    let a = b.activation(c, act);
    let pool = Op::MaxPool2d { kernel: [2, 2], stride: [2, 2], padding: [0, 0], ceil_mode: false };
    let mut last = b.push("maxpool", pool, &[a]);
    if conv_after_pool {
        let c2 = b.conv3x3(last, 2, 2, 1, true);
        last = b.activation(c2, act);
    }
    let f = b.flatten(last);
    b.dense(f, 8, 3);
    initialised(b.build().unwrap(), seed)
}

/// Input [4]: dense - batch norm (random running statistics) - act - dense, plus the input
/// (a residual addition), then act - dense (4 -> 2).
fn residual_net(act: Activation, seed: u64) -> Network<f64> {
    let mut b = GraphBuilder::new(&[4]);
    let d1 = b.dense(0, 4, 4);
    let bn = b.batch_norm(d1, 4);
    let a1 = b.activation(bn, act);
    let d2 = b.dense(a1, 4, 4);
    let sum = b.add(d2, 0);
    let a2 = b.activation(sum, act);
    b.dense(a2, 4, 2);
    let mut net = initialised(b.build().unwrap(), seed);
    let running = net.params_mut(bn).running.as_mut().unwrap();
    running.mean = vec![0.1, -0.2, 0.05, 0.0];
    running.var = vec![0.5, 2.0, 1.0, 0.7];
    net
}

fn slice_around(center: &[f64], half_width: f64, seed: u64) -> Slice {
    Slice::around_point(center, half_width, seed).unwrap()
}

/// Lines `c + a1 u1 + a2 u2 = 0` of a one-hidden-layer MLP's neurons on a slice.
fn neuron_lines(net: &Network<f64>, slice: &Slice) -> Vec<[f64; 3]> {
    let (w, bias) = (&net.params(1).tensors[0], &net.params(1).tensors[1]);
    let d = net.input_width();
    let dot = |row: usize, v: &[f64]| (0..d).map(|j| w[row * d + j] * v[j]).sum::<f64>();
    (0..bias.len())
        .map(|i| [dot(i, &slice.origin) + bias[i], dot(i, &slice.directions[0]), dot(i, &slice.directions[1])])
        .collect()
}

/// Faces of the arrangement of `lines` inside the square `[-h, h]^2`, in general position:
/// 1 + lines crossing the square + crossing points inside it. `None` when the lines are too
/// close to a degenerate position for the formula to apply.
fn arrangement_faces(lines: &[[f64; 3]], h: f64) -> Option<usize> {
    let corners: [Point; 4] = [[-h, -h], [h, -h], [h, h], [-h, h]];
    let value = |l: &[f64; 3], p: Point| l[0] + l[1] * p[0] + l[2] * p[1];
    let norm = |l: &[f64; 3]| l[1].hypot(l[2]);
    let mut crossing = Vec::new();
    for l in lines {
        let dist: Vec<f64> = corners.iter().map(|&p| value(l, p) / norm(l)).collect();
        if dist.iter().any(|d| d.abs() < 1e-6 * h) {
            return None;
        }
        if dist.iter().any(|&d| d > 0.0) && dist.iter().any(|&d| d < 0.0) {
            crossing.push(*l);
        }
    }
    let mut points: Vec<Point> = Vec::new();
    for i in 0..crossing.len() {
        for j in 0..i {
            let (a, b) = (crossing[i], crossing[j]);
            let det = a[1] * b[2] - a[2] * b[1];
            if det.abs() < 1e-9 * norm(&a) * norm(&b) {
                return None;
            }
            let p = [(-a[0] * b[2] + a[2] * b[0]) / det, (-a[1] * b[0] + a[0] * b[1]) / det];
            let margin = h - p[0].abs().max(p[1].abs());
            if margin.abs() < 1e-6 * h {
                return None;
            }
            if margin > 0.0 {
                points.push(p);
            }
        }
    }
    for i in 0..points.len() {
        for j in 0..i {
            if (points[i][0] - points[j][0]).hypot(points[i][1] - points[j][1]) < 1e-6 * h {
                return None;
            }
        }
    }
    Some(1 + crossing.len() + points.len())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn one_hidden_layer_count_equals_faces_of_the_line_arrangement(
        d in 2usize..5, n in 1usize..14, seed in 0u64..1000, h in 0.3f64..3.0,
    ) {
        let net = initialised(mlp(&[d, n, 2], Activation::Relu).unwrap(), seed);
        let slice = slice_around(&vec![0.2; d], h, seed + 1);
        let faces = arrangement_faces(&neuron_lines(&net, &slice), h);
        prop_assume!(faces.is_some());
        let p = partition_slice(&net, &slice, &PartitionOptions::default()).unwrap();
        prop_assert_eq!(p.num_regions(), faces.unwrap());
        assert_exact_partition(&net, &slice, &p, 24);
    }

    #[test]
    fn deep_dense_partition_tiles_the_domain_and_matches_forward(
        act in 0u8..4, seed in 0u64..1000, h in 0.2f64..2.0,
    ) {
        let net = initialised(mlp(&[3, 7, 6, 5, 3], activation(act)).unwrap(), seed);
        let slice = slice_around(&[0.3, -0.1, 0.5], h, seed);
        let p = partition_slice(&net, &slice, &PartitionOptions::default()).unwrap();
        assert_exact_partition(&net, &slice, &p, 40);
    }

    #[test]
    fn conv_maxpool_partition_tiles_the_domain_and_matches_forward(
        act in 0u8..4, seed in 0u64..1000, h in 0.2f64..2.0, conv_after_pool: bool,
    ) {
        let net = conv_maxpool_net(activation(act), seed, conv_after_pool);
        let slice = slice_around(&[0.5; 16], h, seed);
        let p = partition_slice(&net, &slice, &PartitionOptions::default()).unwrap();
        assert_exact_partition(&net, &slice, &p, 40);
    }

    #[test]
    fn residual_batchnorm_partition_tiles_the_domain_and_matches_forward(
        act in 0u8..4, seed in 0u64..1000, h in 0.2f64..2.0,
    ) {
        let net = residual_net(activation(act), seed);
        let slice = slice_around(&[0.1, 0.2, -0.3, 0.4], h, seed);
        let p = partition_slice(&net, &slice, &PartitionOptions::default()).unwrap();
        assert_exact_partition(&net, &slice, &p, 40);
    }

    #[test]
    fn small_chunks_give_the_same_partition_as_one_chunk(seed in 0u64..1000) {
        let net = conv_maxpool_net(Activation::Relu, seed, true);
        let slice = slice_around(&[0.5; 16], 1.0, seed);
        let whole = partition_slice(&net, &slice, &PartitionOptions::default()).unwrap();
        let tiny = PartitionOptions { chunk_bytes: 1, ..PartitionOptions::default() };
        let chunked = partition_slice(&net, &slice, &tiny).unwrap();
        prop_assert_eq!(whole, chunked);
    }

    #[test]
    fn parallel_descent_gives_the_partition_of_one_thread(seed in 0u64..1000, act in 0u8..4) {
        let net = initialised(mlp(&[3, 9, 8, 7, 3], activation(act)).unwrap(), seed);
        let slice = slice_around(&[0.3, -0.1, 0.5], 1.5, seed);
        // Tiny chunks: many chunks under every split, descending in parallel.
        let tiny = PartitionOptions { chunk_bytes: 1, ..PartitionOptions::default() };
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| partition_slice(&net, &slice, &tiny)).unwrap()
        };
        let one = on(1);
        prop_assert!(one.num_regions() > 1);
        prop_assert_eq!(&one, &on(4));
        prop_assert_eq!(one, partition_slice(&net, &slice, &PartitionOptions::default()).unwrap());
    }

    #[test]
    fn path_transitions_equal_boundaries_crossed_in_the_slice(
        seed in 0u64..1000, a in prop::array::uniform2(-0.9f64..0.9), b in prop::array::uniform2(-0.9f64..0.9),
    ) {
        prop_assume!((a[0] - b[0]).hypot(a[1] - b[1]) > 0.1);
        let net = initialised(mlp(&[3, 7, 6, 3], Activation::Relu).unwrap(), seed);
        let slice = slice_around(&[0.3, -0.1, 0.5], 1.5, seed);
        let (ua, ub) = ([a[0] * 1.5, a[1] * 1.5], [b[0] * 1.5, b[1] * 1.5]);
        let p = partition_slice(&net, &slice, &PartitionOptions::default()).unwrap();
        let crossed = regions_along(&p, ua, ub);
        let path = path_transitions(&net, &[slice.point(ua), slice.point(ub)], &PartitionOptions::default()).unwrap();
        prop_assert_eq!(path.num_transitions(), crossed.len() - 1);
        let slice_codes: Vec<&Vec<u64>> = crossed.iter().map(|&(_, i)| &p.regions[i].code).collect();
        let path_codes: Vec<&Vec<u64>> = path.pieces.iter().map(|piece| &piece.code).collect();
        prop_assert_eq!(slice_codes, path_codes);
        for t in &path.transitions {
            prop_assert!(!t.units.is_empty());
        }
    }
}
