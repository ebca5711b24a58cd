//! LC is what the papers define: checks against cases whose answer is known exactly.

mod common;

use common::*;
use proptest::prelude::*;
use tessera_lc::{Directions, Frame, LayerSelection, LcError, LcOptions, LocalComplexity, Method, ZeroSign};
use tessera_net::{mlp, Activation, GraphBuilder, Mode, Network, Tensor};

/// A network with every bias zero: all hyperplanes pass through the origin.
fn zero_bias(mut net: Network<f64>) -> Network<f64> {
    for id in 0..net.nodes().len() {
        if let Some(bias) = net.params_mut(id).tensors.get_mut(1) {
            bias.iter_mut().for_each(|b| *b = 0.0);
        }
    }
    net
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Paper 2, App. A: with zero biases and linear (slope-1 leaky ReLU) activations, every
    /// neuron's hyperplane passes through the origin, so a neighbourhood of the origin of any
    /// radius and any P >= 1 is cut by all of them.
    #[test]
    fn zero_bias_linear_network_at_the_origin_counts_every_neuron(
        log_r in -6.0f64..3.0,
        p in 1usize..=6,
        seed in 0u64..1000,
    ) {
        let widths = [6, 5, 4, 3, 2];
        let net = zero_bias(random_mlp(&widths, Activation::LeakyRelu { slope: 1.0 }, seed));
        let hidden: u32 = 5 + 4 + 3;
        for method in METHODS {
            let o = options(6, p, seed, &[10f64.powf(log_r)], method);
            let c = counts(&net, o.clone(), &[0.0; 6]);
            prop_assert_eq!(c[0].total(), hidden, "{:?}", method);
            prop_assert_eq!(&c[0].per_layer, &vec![5, 4, 3]);
            let reference = counts(&net, o.reference_compatible(), &[0.0; 6]);
            prop_assert_eq!(reference[0].total(), hidden + 2);
        }
    }

    /// One hidden layer: the count is the number of hyperplanes `w.x + b = 0` meeting the
    /// cross-polytope, i.e. with `min < 0 < max` of `w.vertex + b` over its vertices.
    #[test]
    fn one_hidden_layer_count_equals_the_direct_hyperplane_test(
        seed in 0u64..1000,
        p in 1usize..=5,
        log_r in -2.0f64..0.5,
    ) {
        let (d, h) = (5, 12);
        let net = random_mlp::<f64>(&[d, h, 3], Activation::Relu, seed);
        let radius = 10f64.powf(log_r);
        let frame = Frame::random(d, p, seed + 1).unwrap();
        let points = random_points(4, d, -1.0, 1.0, seed + 2);
        let (w, b) = (&net.params(1).tensors[0], &net.params(1).tensors[1]);
        for method in METHODS {
            let mut o = LcOptions::new(Directions::Shared(frame.clone()), vec![radius]);
            o.method = method;
            let c = counts(&net, o, &points);
            for (x, got) in points.chunks(d).zip(&c) {
                let vertices = frame.vertices(x, radius);
                let cut = (0..h).filter(|&i| {
                    let values: Vec<f64> = vertices
                        .chunks(d)
                        .map(|v| v.iter().zip(&w[i * d..(i + 1) * d]).map(|(a, b)| a * b).sum::<f64>() + b[i])
                        .collect();
                    let (lo, hi) = values.iter().fold((f64::MAX, f64::MIN), |(l, u), &v| (l.min(v), u.max(v)));
                    lo < 0.0 && 0.0 < hi
                }).count() as u32;
                prop_assert_eq!(got.per_layer[0], cut, "{:?}", method);
            }
        }
    }

    /// A clamp layer (two kinks) counts the units whose pre-activations at the 2P vertices do
    /// not all lie on one piece (below `lo`, from `lo` to below `hi`, from `hi` up), computed
    /// here directly from the forward pass of every vertex, at every layer of a deep net.
    #[test]
    fn clamp_layer_counts_equal_units_whose_vertices_leave_one_piece(
        seed in 0u64..1000,
        p in 1usize..=5,
        log_r in -2.0f64..0.5,
        (lo, hi) in (-0.4f64..0.0, 0.05f64..0.4),
    ) {
        let d = 5;
        let activation = Activation::Clamp { lo, hi };
        let net = random_mlp::<f64>(&[d, 10, 10, 10, 3], activation, seed);
        let radius = 10f64.powf(log_r);
        let frame = Frame::random(d, p, seed + 1).unwrap();
        let points = random_points(4, d, -1.0, 1.0, seed + 2);
        for method in METHODS {
            let mut o = LcOptions::new(Directions::Shared(frame.clone()), vec![radius]);
            o.method = method;
            let c = counts(&net, o, &points);
            for (x, got) in points.chunks(d).zip(&c) {
                let vertices = Tensor::from_vec(&[d], frame.vertices(x, radius)).unwrap();
                let (_, taps) = net.forward_with_taps(&vertices, Mode::Eval, true).unwrap();
                let direct: Vec<u32> = taps
                    .iter()
                    .map(|pre| {
                        (0..pre.width())
                            .filter(|&i| {
                                let piece = |v: f64| (v >= lo) as u8 + (v >= hi) as u8;
                                let first = piece(pre.data[i]);
                                (0..pre.batch).any(|v| piece(pre.data[v * pre.width() + i]) != first)
                            })
                            .count() as u32
                    })
                    .collect();
                prop_assert_eq!(&got.per_layer, &direct, "{:?}", method);
            }
        }
    }

    /// Neighbourhoods of the same centre and frame are nested in r, so the first layer's
    /// count (hyperplanes of input space) cannot drop as r grows.
    #[test]
    fn first_layer_count_is_non_decreasing_in_the_radius(seed in 0u64..1000, p in 1usize..=8) {
        let net = random_mlp::<f64>(&[8, 16, 16, 4], Activation::Relu, seed);
        let radii = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0];
        let points = random_points(3, 8, 0.0, 1.0, seed);
        for method in METHODS {
            let c = counts(&net, options(8, p, seed, &radii, method), &points);
            for per_point in c.chunks(radii.len()) {
                let first: Vec<u32> = per_point.iter().map(|c| c.per_layer[0]).collect();
                prop_assert!(first.windows(2).all(|w| w[0] <= w[1]), "{:?}: {:?}", method, first);
            }
        }
    }
}

/// `x -> relu(x_1) -> relu(1 * that)`: at the origin with the frame `{e_1}` the second layer's
/// pre-activation is `r` on one vertex and exactly 0 on the other.
fn exact_zero_network() -> Network<f64> {
    let mut b = GraphBuilder::new(&[2]);
    let d1 = b.dense(0, 2, 1);
    let a1 = b.activation(d1, Activation::Relu);
    let d2 = b.dense(a1, 1, 1);
    let a2 = b.activation(d2, Activation::Relu);
    b.dense(a2, 1, 1);
    let mut net: Network<f64> = b.build().unwrap();
    net.params_mut(d1).tensors[0] = vec![1.0, 0.0];
    net.params_mut(d2).tensors[0] = vec![1.0];
    net
}

#[test]
fn an_exact_zero_is_its_own_sign_by_default_and_positive_on_request() {
    let net = exact_zero_network();
    let frame = Frame::from_rows(vec![1.0, 0.0], 2, "e1").unwrap();
    for method in METHODS {
        let mut o = LcOptions::new(Directions::Shared(frame.clone()), vec![0.5]);
        o.method = method;
        assert_eq!(counts(&net, o.clone(), &[0.0, 0.0])[0].per_layer, [1, 1], "{method:?}");
        o.zero = ZeroSign::Positive;
        assert_eq!(counts(&net, o, &[0.0, 0.0])[0].per_layer, [1, 0], "{method:?}");
    }
}

#[test]
fn reference_compatible_mode_adds_the_output_layer_as_the_last_column() {
    let net = random_mlp::<f64>(&[3, 4, 2], Activation::Relu, 5);
    let lc = LocalComplexity::new(&net, options(3, 2, 0, &[1.0], Method::Linearized).reference_compatible()).unwrap();
    let columns: Vec<&str> = lc.layers().iter().map(|l| l.column.as_str()).collect();
    assert_eq!(columns, ["layer_1", "layer_2"]);
    assert!(lc.layers()[1].is_output);
    assert_eq!(lc.layers()[1].width, 2);
}

#[test]
fn a_nan_weight_is_reported_with_its_layer_and_point() {
    let mut net = mlp::<f64>(&[2, 3, 3, 1], Activation::Relu).unwrap();
    net.init_pytorch_default(0, 1.0);
    net.params_mut(3).tensors[0][0] = f64::NAN;
    for method in METHODS {
        let lc = LocalComplexity::new(&net, options(2, 1, 0, &[0.1], method)).unwrap();
        let err = lc.count_points(&[0.1, 0.2, 0.3, 0.4]).unwrap_err();
        assert!(matches!(&err, LcError::NonFinitePreactivation { layer, point: 0 } if layer == "layer_2"), "{err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    /// P1 §4.1: in a CNN only the convolutional layers are counted, and each of their neurons
    /// is one channel at one position. The count per conv layer equals the number of
    /// (channel, position) units of its pre-activation (BN in evaluation mode) whose sign is not
    /// the same at all 2P vertices, computed here from a plain forward pass of the vertices.
    #[test]
    fn conv_layer_count_equals_the_direct_per_channel_and_position_sign_test(
        seed in 0u64..1000,
        p in 1usize..=4,
        radius in 0.05f64..1.0,
    ) {
        let net = small_cnn(seed);
        let frame = Frame::random(72, p, seed + 1).unwrap();
        let points = random_points(3, 72, 0.0, 1.0, seed + 2);
        for method in METHODS {
            let mut o = LcOptions::new(Directions::Shared(frame.clone()), vec![radius]);
            o.method = method;
            o.layers = LayerSelection::Convolutional;
            let lc = LocalComplexity::new(&net, o).unwrap();
            prop_assert_eq!(lc.layers().iter().map(|l| l.width).collect::<Vec<_>>(), vec![3 * 6 * 6, 4 * 3 * 3]);
            let c = lc.count_points(&points).unwrap();
            for (x, got) in points.chunks(72).zip(&c) {
                let vertices = Tensor::from_vec(&[2, 6, 6], frame.vertices(x, radius)).unwrap();
                let (_, taps) = net.forward_with_taps(&vertices, Mode::Eval, true).unwrap();
                let direct: Vec<u32> = taps[..2]
                    .iter()
                    .map(|t| {
                        let w = t.width();
                        (0..w).filter(|&u| {
                            let sign = |row: usize| t.data[row * w + u].partial_cmp(&0.0).unwrap();
                            (1..t.batch).any(|row| sign(row) != sign(0))
                        }).count() as u32
                    })
                    .collect();
                prop_assert_eq!(&got.per_layer, &direct, "{:?}", method);
            }
        }
    }
}
