//! Reparametrisations that do not move any hyperplane leave every count unchanged.

mod common;

use common::*;
use proptest::prelude::*;
use tessera_lc::Method;
use tessera_net::{Activation, Network};

const WIDTHS: [usize; 4] = [5, 7, 6, 3];
/// Dense node ids of `mlp(&WIDTHS)`: input 0, dense 1, act 2, dense 3, act 4, dense 5.
const DENSE: [usize; 3] = [1, 3, 5];

fn all_counts(net: &Network<f64>, seed: u64) -> Vec<Vec<u32>> {
    let o = options(5, 3, seed, &[0.05, 0.5, 2.0], Method::Linearized).reference_compatible();
    per_layer(&counts(net, o, &random_points(6, 5, -1.0, 1.0, seed)))
}

/// Permute the neurons of hidden layer `layer` (0-based): rows of its weights and bias,
/// columns of the next layer's weights.
fn permute_layer(net: &mut Network<f64>, layer: usize, perm: &[usize]) {
    let (inp, out, next_out) = (WIDTHS[layer], WIDTHS[layer + 1], WIDTHS[layer + 2]);
    let p = net.params(DENSE[layer]).clone();
    let w = &mut net.params_mut(DENSE[layer]).tensors;
    for (new, &old) in perm.iter().enumerate() {
        w[0][new * inp..(new + 1) * inp].copy_from_slice(&p.tensors[0][old * inp..(old + 1) * inp]);
        w[1][new] = p.tensors[1][old];
    }
    let q = net.params(DENSE[layer + 1]).tensors[0].clone();
    let w = &mut net.params_mut(DENSE[layer + 1]).tensors[0];
    for row in 0..next_out {
        for (new, &old) in perm.iter().enumerate() {
            w[row * out + new] = q[row * out + old];
        }
    }
}

/// Multiply neuron `neuron` of hidden layer `layer`'s incoming weights and bias by `factor`.
fn scale_incoming(net: &mut Network<f64>, layer: usize, neuron: usize, factor: f64) {
    let inp = WIDTHS[layer];
    let t = &mut net.params_mut(DENSE[layer]).tensors;
    t[0][neuron * inp..(neuron + 1) * inp].iter_mut().for_each(|w| *w *= factor);
    t[1][neuron] *= factor;
}

/// Divide the next layer's weights from neuron `neuron` of hidden layer `layer` by `factor`.
fn unscale_outgoing(net: &mut Network<f64>, layer: usize, neuron: usize, factor: f64) {
    let out = WIDTHS[layer + 1];
    let w = &mut net.params_mut(DENSE[layer + 1]).tensors[0];
    w.iter_mut().skip(neuron).step_by(out).for_each(|w| *w /= factor);
}

fn permutation(n: usize) -> impl Strategy<Value = Vec<usize>> {
    Just((0..n).collect::<Vec<_>>()).prop_shuffle()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn permuting_a_layers_neurons_leaves_every_count_unchanged(
        seed in 0u64..10_000,
        perm0 in permutation(7),
        perm1 in permutation(6),
    ) {
        let net = random_mlp::<f64>(&WIDTHS, Activation::Relu, seed);
        let mut permuted = net.clone();
        permute_layer(&mut permuted, 0, &perm0);
        permute_layer(&mut permuted, 1, &perm1);
        prop_assert_eq!(all_counts(&permuted, seed), all_counts(&net, seed));
    }

    /// ReLU is positively homogeneous: scaling a neuron's incoming weights and bias by c > 0
    /// and its outgoing weights by 1/c is the same function with the same hyperplanes.
    #[test]
    fn positive_rescaling_of_a_neuron_leaves_every_count_unchanged(
        seed in 0u64..10_000,
        layer in 0usize..2,
        neuron in 0usize..6,
        log_c in -2.0f64..2.0,
    ) {
        let net = random_mlp::<f64>(&WIDTHS, Activation::Relu, seed);
        let c = 10f64.powf(log_c);
        let mut rescaled = net.clone();
        scale_incoming(&mut rescaled, layer, neuron, c);
        unscale_outgoing(&mut rescaled, layer, neuron, c);
        prop_assert_eq!(all_counts(&rescaled, seed), all_counts(&net, seed));
    }

    /// Without compensating the outgoing weights the function changes downstream, but the
    /// neuron's own hyperplane does not: its layer's and earlier layers' counts stay.
    #[test]
    fn scaling_incoming_weights_alone_leaves_the_counts_up_to_that_layer_unchanged(
        seed in 0u64..10_000,
        layer in 0usize..2,
        neuron in 0usize..6,
        log_c in -2.0f64..2.0,
    ) {
        let net = random_mlp::<f64>(&WIDTHS, Activation::Relu, seed);
        let mut scaled = net.clone();
        scale_incoming(&mut scaled, layer, neuron, 10f64.powf(log_c));
        let (a, b) = (all_counts(&scaled, seed), all_counts(&net, seed));
        for (x, y) in a.iter().zip(&b) {
            prop_assert_eq!(&x[..=layer], &y[..=layer]);
        }
    }
}
