//! The local affine map and the linear-part propagation reproduce the network itself:
//! `affine_map_at(x)` equals `forward` at nearby points with the same kink pattern, and
//! propagating direction rows without offsets gives exact differences of `forward`.

mod fixtures;

use fixtures::{kink_margin, preact_residual_block, random_batch, randomize, relative_max_diff, rng, small_cnn};
use proptest::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tessera_net::{mlp, Activation, Mode, Network, OffsetRows, Tensor};

const TOL: f64 = 1e-10;

/// The kinds of network the partition code meets: dense, conv with max-pool and BN (evaluation
/// mode), a pre-activation residual block, and a dense net of clamps (two kinks per unit).
fn network(kind: usize, seed: u64) -> Network<f64> {
    let mut net = match kind {
        0 => mlp(&[5, 7, 6, 3], Activation::LeakyRelu { slope: 0.1 }).expect("valid MLP"),
        1 => small_cnn(2, 6, true),
        3 => mlp(&[5, 7, 6, 3], Activation::Clamp { lo: -0.3, hi: 0.4 }).expect("valid MLP"),
        _ => preact_residual_block(2, 4, seed.is_multiple_of(2)),
    };
    randomize(&mut net, &mut rng(seed));
    net
}

fn single_row(net: &Network<f64>, data: Vec<f64>) -> Tensor<f64> {
    Tensor::from_vec(net.input_shape(), data).expect("one sample")
}

/// A point at distance `radius` from `x` in a random direction.
fn nearby(rng: &mut ChaCha8Rng, x: &[f64], radius: f64) -> Vec<f64> {
    let dir: Vec<f64> = x.iter().map(|_| rng.random_range(-1.0..1.0)).collect();
    let norm = dir.iter().map(|v| v * v).sum::<f64>().sqrt();
    x.iter().zip(&dir).map(|(a, d)| a + radius * d / norm).collect()
}

/// Run nodes `1..len` with `apply_affine` (the leading affine part when `len` is
/// `leading_affine_len`), giving the output of node `len - 1`.
fn leading_part(net: &Network<f64>, len: usize, rows: &Tensor<f64>, offsets: OffsetRows) -> Tensor<f64> {
    let mut values = vec![rows.clone().reshaped(net.input_shape())];
    for id in 1..len {
        let inputs: Vec<&Tensor<f64>> = net.node(id).inputs.iter().map(|&i| &values[i]).collect();
        let out = net.apply_affine(id, &inputs, offsets);
        values.push(out);
    }
    values.pop().expect("at least the input")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn affine_map_at_x_equals_forward_at_nearby_points_with_the_same_pattern(
        kind in 0usize..4, seed: u64,
    ) {
        let net = network(kind, seed);
        let mut r = rng(seed ^ 7);
        let x = random_batch::<f64>(&mut r, 1, net.input_shape());
        prop_assume!(kink_margin(&net, &x, Mode::Eval) > 1e-6);
        let map = net.affine_map_at(&x.data).unwrap();
        prop_assert_eq!((map.inputs, map.outputs), (net.input_width(), net.output_width()));
        let pattern = net.pattern_at(&x.data).unwrap();
        let mut checked = 0;
        for k in 0..8 {
            let radius = 1e-2 / (1 << k) as f64;
            let y = nearby(&mut r, &x.data, radius);
            if net.pattern_at(&y).unwrap() != pattern {
                continue;
            }
            let expected = net.forward(&single_row(&net, y.clone()), Mode::Eval).unwrap();
            prop_assert!(relative_max_diff(&map.apply(&y), &expected.data) < TOL);
            checked += 1;
        }
        prop_assert!(checked > 0, "no nearby point kept the pattern of x");
    }

    #[test]
    fn directions_without_offsets_give_forward_differences_of_the_leading_affine_part(
        kind in 0usize..4, seed: u64,
    ) {
        let net = network(kind, seed);
        let len = net.leading_affine_len();
        prop_assert!(len >= 2 && len < net.nodes().len());
        let mut r = rng(seed ^ 11);
        let x = random_batch::<f64>(&mut r, 1, net.input_shape());
        let v = random_batch::<f64>(&mut r, 3, net.input_shape());
        let shifted = Tensor::from_vec(
            net.input_shape(),
            v.data.chunks(x.data.len()).flat_map(|d| d.iter().zip(&x.data).map(|(a, b)| a + b)).collect(),
        ).unwrap();
        let at_x = leading_part(&net, len, &x, OffsetRows::All);
        let at_shifted = leading_part(&net, len, &shifted, OffsetRows::All);
        let along_v = leading_part(&net, len, &v, OffsetRows::None);
        let differences: Vec<f64> = at_shifted
            .data
            .chunks(at_x.data.len())
            .flat_map(|row| row.iter().zip(&at_x.data).map(|(a, b)| a - b))
            .collect();
        prop_assert!(relative_max_diff(&differences, &along_v.data) < TOL);
    }

    #[test]
    fn linearized_directions_give_forward_differences_inside_the_region(kind in 0usize..4, seed: u64) {
        let net = network(kind, seed);
        let mut r = rng(seed ^ 13);
        let x = random_batch::<f64>(&mut r, 1, net.input_shape());
        prop_assume!(kink_margin(&net, &x, Mode::Eval) > 1e-6);
        let pattern = net.pattern_at(&x.data).unwrap();
        let y = nearby(&mut r, &x.data, 1e-5);
        prop_assume!(net.pattern_at(&y).unwrap() == pattern);
        let v = single_row(&net, y.iter().zip(&x.data).map(|(a, b)| a - b).collect());
        let along_v = net.forward_linearized(&v, &pattern, OffsetRows::None).unwrap();
        let fx = net.forward(&x, Mode::Eval).unwrap();
        let fy = net.forward(&single_row(&net, y), Mode::Eval).unwrap();
        let difference: Vec<f64> = fy.data.iter().zip(&fx.data).map(|(a, b)| a - b).collect();
        // The difference of two outputs loses digits to cancellation: compare to the outputs' size.
        let scale = fx.data.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        let error = difference.iter().zip(&along_v.data).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        prop_assert!(error < 1e-12 * scale, "error {error:e}, output scale {scale:e}");
    }

    #[test]
    fn every_nth_offsets_treat_each_group_as_a_point_and_its_directions(kind in 0usize..4, seed: u64) {
        let net = network(kind, seed);
        let mut r = rng(seed ^ 17);
        let x = random_batch::<f64>(&mut r, 1, net.input_shape());
        let pattern = net.pattern_at(&x.data).unwrap();
        // Two groups of (point, direction, direction).
        let rows = random_batch::<f64>(&mut r, 6, net.input_shape());
        let d = net.input_width();
        let pick = |ids: &[usize]| {
            single_row(&net, ids.iter().flat_map(|&i| rows.data[i * d..(i + 1) * d].to_vec()).collect())
        };
        let grouped = net.forward_linearized(&rows, &pattern, OffsetRows::EveryNth(3)).unwrap();
        let points = net.forward_linearized(&pick(&[0, 3]), &pattern, OffsetRows::All).unwrap();
        let directions = net.forward_linearized(&pick(&[1, 2, 4, 5]), &pattern, OffsetRows::None).unwrap();
        let m = net.output_width();
        let expected: Vec<f64> = [(&points, 0), (&directions, 0), (&directions, 1), (&points, 1), (&directions, 2), (&directions, 3)]
            .iter()
            .flat_map(|(t, i)| t.data[i * m..(i + 1) * m].to_vec())
            .collect();
        prop_assert!(relative_max_diff(&grouped.data, &expected) < 1e-13);
        // And the point rows are the network itself when the pattern is the point's own.
        let own = net.forward_linearized(&x, &pattern, OffsetRows::All).unwrap();
        prop_assert!(relative_max_diff(&own.data, &net.forward(&x, Mode::Eval).unwrap().data) < 1e-13);
    }
}
