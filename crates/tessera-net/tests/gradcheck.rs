//! Backward of every op and of composed networks equals central finite differences (f64).
//!
//! The scalar loss is a random linear functional `sum_i c_i y_i` of the output `y`, so its
//! gradient with respect to the output is `c`. Points closer than `KINK_MARGIN` to a kink (a
//! pre-activation near zero, a near-tie in a max-pool window) are discarded: there the one-sided
//! slopes differ and a finite difference straddling the kink means nothing. The difference
//! quotient is Richardson-extrapolated (steps `STEP` and `STEP / 2`), so that the curvature of
//! batch norm over tiny batches does not masquerade as a gradient error.

mod fixtures;

use fixtures::{kink_margin, preact_residual_block, random_batch, randomize, rng, small_cnn};
use proptest::prelude::*;
use rand::seq::index::sample;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tessera_net::{mlp_with_norm, Activation, GraphBuilder, Mode, Network, Op, Tensor, Wants};

const STEP: f64 = 1e-6;
const KINK_MARGIN: f64 = 1e-4;
const REL_TOL: f64 = 1e-6;
/// Relative rounding error of one loss evaluation, generously (a few ulps per op of depth).
const ROUNDING: f64 = 1e-14;
/// Absolute floor as a fraction of the largest gradient component.
const FLOOR_OF_LARGEST: f64 = 1e-7;
/// Coordinates checked per tensor at most (a random subset beyond that).
const MAX_COORDS: usize = 24;

fn linear_loss(net: &Network<f64>, x: &Tensor<f64>, mode: Mode, c: &[f64]) -> f64 {
    let y = net.forward(x, mode).expect("forward");
    y.data.iter().zip(c).map(|(a, b)| a * b).sum()
}

/// The derivative of `f` at 0 from central differences at steps `STEP` and `STEP / 2`,
/// Richardson-extrapolated: truncation error O(STEP^4) instead of O(STEP^2).
fn derivative(mut f: impl FnMut(f64) -> f64) -> f64 {
    let mut central = |h: f64| (f(h) - f(-h)) / (2.0 * h);
    let (coarse, fine) = (central(STEP), central(STEP / 2.0));
    (4.0 * fine - coarse) / 3.0
}

/// Which coordinates of a tensor of length `len` to check.
fn coordinates(rng: &mut ChaCha8Rng, len: usize) -> Vec<usize> {
    if len <= MAX_COORDS {
        (0..len).collect()
    } else {
        sample(rng, len, MAX_COORDS).into_vec()
    }
}

/// `|analytic - numeric| <= REL_TOL * max(|analytic|, |numeric|) + floor`, where the floor
/// covers the rounding error of the difference quotient: a few ulps of the loss terms / STEP,
/// and a small fraction of the largest gradient component (ill-conditioned ops such as batch
/// norm over two samples amplify rounding, so coordinates whose true gradient is ~0 carry
/// finite-difference noise far above their own size).
fn assert_close(what: &str, analytic: f64, numeric: f64, floor: f64) -> Result<(), TestCaseError> {
    let tol = REL_TOL * analytic.abs().max(numeric.abs()) + floor;
    prop_assert!(
        (analytic - numeric).abs() <= tol,
        "{what}: backward {analytic:e} vs finite difference {numeric:e} (tolerance {tol:e})"
    );
    Ok(())
}

/// Compare `backward` with central differences for sampled coordinates of every parameter
/// tensor and of the input. Rejects the case if `x` is near a kink.
fn check_gradients(net: &mut Network<f64>, x: &Tensor<f64>, mode: Mode, seed: u64) -> Result<(), TestCaseError> {
    prop_assume!(kink_margin(net, x, mode) > KINK_MARGIN);
    let mut rng = rng(seed);
    let out = net.forward(x, mode).expect("forward");
    let c: Vec<f64> = (0..out.data.len()).map(|_| rng.random_range(-1.0..1.0)).collect();
    let magnitude: f64 = out.data.iter().zip(&c).map(|(a, b)| (a * b).abs()).sum::<f64>() + 1.0;
    let tape = net.forward_tape(x, mode).expect("forward tape");
    let grad_out = Tensor { shape: out.shape.clone(), batch: out.batch, data: c.clone() };
    let grads = net.backward(&tape, &grad_out, Wants::ALL);
    let input_grads = &grads.input.as_ref().expect("input gradient was requested").data;
    let largest = grads.params.iter().flatten().chain(input_grads).fold(0.0f64, |m, g| m.max(g.abs()));
    let floor = ROUNDING * magnitude / STEP + FLOOR_OF_LARGEST * largest;
    let names = net.trainable_names();
    prop_assert_eq!(grads.params.len(), names.len());

    for (k, name) in names.iter().enumerate() {
        for i in coordinates(&mut rng, grads.params[k].len()) {
            let original = net.trainable()[k][i];
            let numeric = derivative(|h| {
                net.trainable_mut()[k][i] = original + h;
                linear_loss(net, x, mode, &c)
            });
            net.trainable_mut()[k][i] = original;
            assert_close(&format!("{name}[{i}]"), grads.params[k][i], numeric, floor)?;
        }
    }

    let dx = grads.input.expect("input gradient was requested");
    prop_assert_eq!(dx.data.len(), x.data.len());
    for i in coordinates(&mut rng, x.data.len()) {
        let mut shifted = x.clone();
        let numeric = derivative(|h| {
            shifted.data[i] = x.data[i] + h;
            linear_loss(net, &shifted, mode, &c)
        });
        assert_close(&format!("input[{i}]"), dx.data[i], numeric, floor)?;
    }
    Ok(())
}

/// Build `input -> op (-> flatten)`, randomize it and check its gradients on a random batch.
fn check_single_op(input: &[usize], op: Op, batch: usize, mode: Mode, seed: u64) -> Result<(), TestCaseError> {
    let mut b = GraphBuilder::new(input);
    b.push("op", op, &[0]);
    let mut net: Network<f64> = b.build().expect("valid single-op network");
    let mut rng = rng(seed);
    randomize(&mut net, &mut rng);
    let x = random_batch(&mut rng, batch, input);
    check_gradients(&mut net, &x, mode, seed ^ 0x5eed)
}

fn window_op_shape() -> impl Strategy<Value = (usize, usize, usize, [usize; 2], [usize; 2], [usize; 2])> {
    // (channels, height, width, kernel, stride, padding), with the kernel fitting the padded input.
    (1usize..=3, 2usize..=6, 2usize..=6, 1usize..=3, 1usize..=3, 1usize..=2, 1usize..=2, 0usize..=1, 0usize..=1)
        .prop_filter("kernel fits", |&(_, h, w, kh, kw, ..)| kh <= h && kw <= w)
        .prop_map(|(c, h, w, kh, kw, sh, sw, ph, pw)| (c, h, w, [kh, kw], [sh, sw], [ph.min(kh / 2), pw.min(kw / 2)]))
}

fn activation() -> impl Strategy<Value = Activation> {
    prop_oneof![
        Just(Activation::Relu),
        (-0.9f64..0.9).prop_map(|slope| Activation::LeakyRelu { slope }),
        Just(Activation::Abs),
        Just(Activation::RELU6),
        (-1.0f64..0.0, 0.1f64..1.0).prop_map(|(lo, hi)| Activation::Clamp { lo, hi }),
    ]
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 24, max_global_rejects: 4096, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    /// Concatenation (of a conv's output, the input and the conv's output again), a channel
    /// shuffle and a channel slice.
    #[test]
    fn channel_routing_gradients_match_finite_differences(
        per_group in 1usize..=2, groups in 1usize..=3, side in 1usize..=3, batch in 1usize..=2, seed: u64,
    ) {
        let c = per_group * groups;
        let mut b = GraphBuilder::new(&[c, side, side]);
        let conv = b.conv3x3(0, c, c, 1, true);
        let cat = b.concat(&[conv, 0, conv]);
        let shuffled = b.push("shuffle", Op::ChannelShuffle { groups }, &[cat]);
        b.push("slice", Op::SliceChannels { start: 1, end: 3 * c }, &[shuffled]);
        let mut net: Network<f64> = b.build().expect("valid routing network");
        let mut rng = rng(seed);
        randomize(&mut net, &mut rng);
        let x = random_batch(&mut rng, batch, &[c, side, side]);
        check_gradients(&mut net, &x, Mode::Eval, seed ^ 0x5eed)?;
    }

    #[test]
    fn dense_gradients_match_finite_differences(
        inputs in 1usize..=6, outputs in 1usize..=5, bias: bool, batch in 1usize..=3, seed: u64,
    ) {
        let op = Op::Dense { in_features: inputs, out_features: outputs, bias };
        check_single_op(&[inputs], op, batch, Mode::Eval, seed)?;
    }

    #[test]
    fn conv2d_gradients_match_finite_differences(
        (cin, h, w, kernel, stride, _) in window_op_shape(), cout in 1usize..=3,
        padding in (0usize..=2, 0usize..=2), bias: bool, groups in 1usize..=2, batch in 1usize..=2, seed: u64,
    ) {
        let op = Op::Conv2d {
            in_channels: cin * groups, out_channels: cout * groups, kernel, stride, padding: [padding.0, padding.1], bias,
            groups,
        };
        check_single_op(&[cin * groups, h, w], op, batch, Mode::Eval, seed)?;
    }

    #[test]
    fn avg_pool_gradients_match_finite_differences(
        (c, h, w, kernel, stride, padding) in window_op_shape(), ceil_mode: bool, batch in 1usize..=2, seed: u64,
    ) {
        check_single_op(&[c, h, w], Op::AvgPool2d { kernel, stride, padding, ceil_mode }, batch, Mode::Eval, seed)?;
    }

    #[test]
    fn max_pool_gradients_match_finite_differences(
        (c, h, w, kernel, stride, padding) in window_op_shape(), ceil_mode: bool, batch in 1usize..=2, seed: u64,
    ) {
        check_single_op(&[c, h, w], Op::MaxPool2d { kernel, stride, padding, ceil_mode }, batch, Mode::Eval, seed)?;
    }

    #[test]
    fn batch_norm_gradients_match_finite_differences_in_train_and_eval_mode(
        channels in 1usize..=3, spatial in prop_oneof![Just(vec![]), Just(vec![2, 3])],
        batch in 2usize..=4, train: bool, seed: u64,
    ) {
        let shape: Vec<usize> = std::iter::once(channels).chain(spatial).collect();
        let op = Op::BatchNorm { channels, eps: 1e-5, momentum: 0.1 };
        let mode = if train { Mode::Train } else { Mode::Eval };
        check_single_op(&shape, op, batch, mode, seed)?;
    }

    #[test]
    fn activation_gradients_match_finite_differences(
        activation in activation(), width in 1usize..=8, batch in 1usize..=3, seed: u64,
    ) {
        check_single_op(&[width], Op::Activation { activation }, batch, Mode::Eval, seed)?;
    }

    #[test]
    fn add_gradients_match_finite_differences(width in 1usize..=5, batch in 1usize..=3, seed: u64) {
        let mut b = GraphBuilder::new(&[width]);
        let d = b.dense(0, width, width);
        b.add(d, 0);
        let mut net: Network<f64> = b.build().expect("valid");
        let mut rng = rng(seed);
        randomize(&mut net, &mut rng);
        let x = random_batch(&mut rng, batch, &[width]);
        check_gradients(&mut net, &x, Mode::Eval, seed)?;
    }

    #[test]
    fn flatten_gradients_match_finite_differences(
        c in 1usize..=2, h in 1usize..=3, w in 1usize..=3, batch in 1usize..=2, seed: u64,
    ) {
        let mut b = GraphBuilder::new(&[c, h, w]);
        let f = b.flatten(0);
        b.dense(f, c * h * w, 2);
        let mut net: Network<f64> = b.build().expect("valid");
        let mut rng = rng(seed);
        randomize(&mut net, &mut rng);
        let x = random_batch(&mut rng, batch, &[c, h, w]);
        check_gradients(&mut net, &x, Mode::Eval, seed)?;
    }

    #[test]
    fn mlp_gradients_match_finite_differences(
        widths in proptest::collection::vec(1usize..=6, 2..=5), activation in activation(),
        batch_norm: bool, train: bool, batch in 2usize..=3, seed: u64,
    ) {
        let mut net = mlp_with_norm::<f64>(&widths, activation, batch_norm).expect("valid MLP");
        let mut rng = rng(seed);
        randomize(&mut net, &mut rng);
        let x = random_batch(&mut rng, batch, &[widths[0]]);
        let mode = if train { Mode::Train } else { Mode::Eval };
        check_gradients(&mut net, &x, mode, seed)?;
    }

    #[test]
    fn cnn_with_pooling_and_batch_norm_gradients_match_finite_differences(
        channels in 1usize..=2, size in 4usize..=6, train: bool, batch in 2usize..=3, seed: u64,
    ) {
        let mut net = small_cnn(channels, size, true);
        let mut rng = rng(seed);
        randomize(&mut net, &mut rng);
        let x = random_batch(&mut rng, batch, &[channels, size, size]);
        let mode = if train { Mode::Train } else { Mode::Eval };
        check_gradients(&mut net, &x, mode, seed)?;
    }

    #[test]
    fn residual_block_gradients_match_finite_differences(
        channels in 1usize..=2, size in 3usize..=5, project: bool, train: bool, batch in 2usize..=3, seed: u64,
    ) {
        let mut net = preact_residual_block(channels, size, project);
        let mut rng = rng(seed);
        randomize(&mut net, &mut rng);
        let x = random_batch(&mut rng, batch, &[channels, size, size]);
        let mode = if train { Mode::Train } else { Mode::Eval };
        check_gradients(&mut net, &x, mode, seed)?;
    }
}
