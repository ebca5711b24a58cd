//! The fast methods (leading-affine shortcut, linearized vertices) give exactly the counts of
//! the plain computation that forwards every vertex through the whole network.

mod common;

use common::*;
use proptest::prelude::*;
use tessera_lc::{Directions, LayerSelection, LcOptions, Method};
use tessera_net::{Activation, Network};

fn assert_methods_agree(net: &Network<f64>, base: LcOptions, points: &[f64]) -> Result<(), TestCaseError> {
    let plain = per_layer(&counts(net, LcOptions { method: Method::Plain, ..base.clone() }, points));
    for method in [Method::AffineShortcut, Method::Linearized] {
        let fast = per_layer(&counts(net, LcOptions { method, ..base.clone() }, points));
        prop_assert_eq!(&fast, &plain, "{:?}", method);
    }
    Ok(())
}

fn activation() -> impl Strategy<Value = Activation> {
    prop_oneof![
        Just(Activation::Relu),
        Just(Activation::Abs),
        (0.0f64..0.5).prop_map(|slope| Activation::LeakyRelu { slope }),
        (-0.5f64..0.0, 0.05f64..0.5).prop_map(|(lo, hi)| Activation::Clamp { lo, hi }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn fast_methods_equal_the_plain_computation_on_mlps(
        seed in 0u64..10_000,
        activation in activation(),
        depth in 1usize..4,
        p in 1usize..=6,
        radii in prop::collection::vec(0.001f64..3.0, 1..4),
        reference in any::<bool>(),
    ) {
        let mut widths = vec![6];
        widths.extend(std::iter::repeat_n(10, depth));
        widths.push(3);
        let net = random_mlp::<f64>(&widths, activation, seed);
        let mut o = options(6, p, seed, &radii, Method::Plain);
        if reference {
            o = o.reference_compatible();
        }
        assert_methods_agree(&net, o, &random_points(5, 6, 0.0, 1.0, seed))?;
    }

    #[test]
    fn fast_methods_equal_the_plain_computation_with_per_point_frames_and_layer_selection(
        seed in 0u64..10_000,
        p in 1usize..=4,
        radius in 0.01f64..2.0,
        layer in 1usize..=3,
    ) {
        let net = random_mlp::<f64>(&[4, 8, 8, 8, 2], Activation::Relu, seed);
        let mut o = LcOptions::new(Directions::PerPoint { p, seed }, vec![radius, 2.0 * radius]);
        o.layers = LayerSelection::Only(vec![layer]);
        assert_methods_agree(&net, o, &random_points(6, 4, -1.0, 1.0, seed))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn fast_methods_equal_the_plain_computation_on_a_cnn_with_batch_norm_and_max_pooling(
        seed in 0u64..10_000,
        p in 1usize..=5,
        radius in 0.01f64..1.0,
    ) {
        let net = small_cnn(seed);
        let o = options(72, p, seed, &[radius, 0.1 * radius], Method::Plain).reference_compatible();
        assert_methods_agree(&net, o, &random_points(3, 72, 0.0, 1.0, seed))?;
    }

    /// The last counted layer is a convolution (then batch norm): bounded, not convolved.
    #[test]
    fn fast_methods_equal_the_plain_computation_on_a_cnns_conv_layers(
        seed in 0u64..10_000,
        p in 1usize..=5,
        radius in 0.001f64..1.0,
        batch_norm in any::<bool>(),
    ) {
        let net = small_cnn_with(seed, batch_norm);
        let mut o = options(72, p, seed, &[radius, 0.1 * radius], Method::Plain);
        o.layers = LayerSelection::Convolutional;
        assert_methods_agree(&net, o, &random_points(3, 72, 0.0, 1.0, seed))?;
    }

    #[test]
    fn fast_methods_equal_the_plain_computation_on_a_residual_network(
        seed in 0u64..10_000,
        p in 1usize..=5,
        radius in 0.01f64..1.0,
    ) {
        let net = small_residual(seed);
        let o = options(32, p, seed, &[radius, 0.2 * radius, 5.0 * radius], Method::Plain);
        assert_methods_agree(&net, o, &random_points(3, 32, -1.0, 1.0, seed))?;
    }
}

#[test]
fn single_precision_counts_match_double_precision_away_from_ties() {
    let net = random_mlp::<f64>(&[8, 16, 16, 2], Activation::Relu, 11);
    let net32 = net.cast::<f32>();
    let points = random_points(20, 8, 0.0, 1.0, 3);
    let o = options(8, 4, 1, &[0.05, 0.5], Method::Linearized);
    let (a, b) = (counts(&net, o.clone(), &points), counts(&net32, o, &points));
    let differing = a.iter().zip(&b).filter(|(x, y)| x.per_layer != y.per_layer).count();
    assert!(differing <= 1, "{differing} of {} counts differ", a.len());
}
