//! PyTorch semantics of initialisation and of batch-norm running statistics.

mod fixtures;

use fixtures::{random_batch, randomize, rng, small_cnn};
use proptest::prelude::*;
use tessera_net::{cnn, mlp_with_norm, preact_resnet18, Activation, CnnSpec, Mode, Network, Op};

/// PyTorch's update: `running = (1 - m) running + m batch`, the variance unbiased (n / (n - 1))
/// over the `n = batch x spatial` elements of each channel.
fn expected_running(old: &[f64], batch_values: &[Vec<f64>], momentum: f64, variance: bool) -> Vec<f64> {
    old.iter()
        .zip(batch_values)
        .map(|(&r, v)| {
            let n = v.len() as f64;
            let mean = v.iter().sum::<f64>() / n;
            let stat = if variance { v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { mean };
            (1.0 - momentum) * r + momentum * stat
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn train_mode_running_statistics_follow_pytorch_update_rule(batch in 2usize..=5, seed: u64) {
        let mut net = small_cnn(2, 6, true);
        randomize(&mut net, &mut rng(seed));
        let x = random_batch::<f64>(&mut rng(seed ^ 1), batch, net.input_shape());
        let tape = net.forward_tape(&x, Mode::Train).unwrap();
        let before = net.clone();
        net.update_running_stats(&tape);
        let bn_ids: Vec<usize> =
            (0..net.nodes().len()).filter(|&id| matches!(net.node(id).op, Op::BatchNorm { .. })).collect();
        prop_assert_eq!(bn_ids.len(), 2);
        for id in bn_ids {
            let Op::BatchNorm { channels, momentum, .. } = net.node(id).op else { unreachable!() };
            let input = &tape.values[net.node(id).inputs[0]];
            let spatial = input.width() / channels;
            let per_channel: Vec<Vec<f64>> = (0..channels)
                .map(|c| (0..batch).flat_map(|b| input.row(b)[c * spatial..(c + 1) * spatial].to_vec()).collect())
                .collect();
            let old = before.params(id).running.as_ref().unwrap();
            let new = net.params(id).running.as_ref().unwrap();
            let mean = expected_running(&old.mean, &per_channel, momentum, false);
            let var = expected_running(&old.var, &per_channel, momentum, true);
            for c in 0..channels {
                prop_assert!((new.mean[c] - mean[c]).abs() <= 1e-12 * (1.0 + mean[c].abs()));
                prop_assert!((new.var[c] - var[c]).abs() <= 1e-12 * (1.0 + var[c].abs()));
            }
            // Trainable parameters are untouched by the statistics update.
            prop_assert_eq!(&net.params(id).tensors, &before.params(id).tensors);
        }
    }
}

#[test]
fn eval_mode_tape_leaves_running_statistics_alone() {
    let mut net = small_cnn(2, 6, true);
    randomize(&mut net, &mut rng(4));
    let x = random_batch::<f64>(&mut rng(5), 3, net.input_shape());
    let before = net.clone();
    let tape = net.forward_tape(&x, Mode::Eval).unwrap();
    net.update_running_stats(&tape);
    assert_eq!(net, before);
}

/// Every dense/conv parameter within PyTorch's bound `scale / sqrt(fan_in)`, and the bound
/// nearly reached (the draw is uniform over the whole interval, not a narrower one).
fn assert_within_pytorch_bounds(net: &Network<f64>, scale: f64) {
    for (id, node) in net.nodes().iter().enumerate() {
        let Some(fan_in) = node.op.fan_in() else { continue };
        let bound = scale / (fan_in as f64).sqrt();
        for (name, tensor) in node.op.param_names().iter().zip(&net.params(id).tensors) {
            let largest = tensor.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(largest <= bound, "{}.{name}: |w| up to {largest} > bound {bound}", node.name);
            if tensor.len() >= 64 {
                assert!(largest > 0.9 * bound, "{}.{name}: |w| only up to {largest}, bound {bound}", node.name);
            }
        }
    }
}

#[test]
fn pytorch_default_init_draws_within_one_over_sqrt_fan_in() {
    let mut net = cnn::<f64>(&CnnSpec::small_cifar()).unwrap();
    net.init_pytorch_default(0, 1.0);
    assert_within_pytorch_bounds(&net, 1.0);
    let mut net = mlp_with_norm::<f64>(&[20, 30, 10], Activation::Relu, true).unwrap();
    net.init_pytorch_default(1, 1.0);
    assert_within_pytorch_bounds(&net, 1.0);
    let bn = net.params(2);
    assert!(bn.tensors[0].iter().all(|&g| g == 1.0) && bn.tensors[1].iter().all(|&b| b == 0.0));
    let running = bn.running.as_ref().unwrap();
    assert!(running.mean.iter().all(|&m| m == 0.0) && running.var.iter().all(|&v| v == 1.0));
}

#[test]
fn init_scale_multiplies_every_parameter_and_no_buffer() {
    let mut unit = preact_resnet18::<f64>([3, 32, 32], 4, 10, true).unwrap();
    let mut scaled = unit.clone();
    unit.init_pytorch_default(9, 1.0);
    scaled.init_pytorch_default(9, 8.0);
    assert_within_pytorch_bounds(&scaled, 8.0);
    for (a, b) in unit.trainable().iter().zip(scaled.trainable()) {
        // Multiplying by a power of two is exact.
        assert!(a.iter().zip(b).all(|(x, y)| 8.0 * x == *y));
    }
    for id in 0..unit.nodes().len() {
        assert_eq!(unit.params(id).running, scaled.params(id).running, "buffers are not parameters");
    }
}

#[test]
fn init_is_deterministic_for_a_seed_and_differs_between_seeds() {
    let widths = [6, 5, 3];
    let mut a = mlp_with_norm::<f64>(&widths, Activation::Relu, false).unwrap();
    let mut b = a.clone();
    let mut c = a.clone();
    a.init_pytorch_default(3, 1.0);
    b.init_pytorch_default(3, 1.0);
    c.init_pytorch_default(4, 1.0);
    assert_eq!(a, b);
    assert_ne!(a, c);
}
