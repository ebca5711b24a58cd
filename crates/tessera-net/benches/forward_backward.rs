//! One training step's forward + backward (parameter gradients only) of the networks:
//! the MNIST MLP 784-200-200-200-10 at batch 200 (f32 and f64), the small CIFAR CNN and the
//! pre-activation ResNet18 of width 16 at batch 128 (f32); and single 3x3 convolutions of the
//! ResNet's stages (forward, and backward with input and weight gradients), f32, batch 128. The loss is MSE-like: `grad_out = output - target`. Times are per step; the
//! reported throughput is samples (images) per second.
//!
//! Two variants: `backward_into` reusing one `Gradients` across steps (what a training loop
//! should do), and `backward` allocating fresh gradient buffers every step, where the
//! allocator may hand the memory back to the operating system between steps and every step
//! pays page faults to get it again.

// `criterion_group!` defines an undocumented `pub fn`; a bench has no API to document.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use tessera_net::{
    cnn, mlp, preact_resnet18, Activation, CnnSpec, Gradients, GraphBuilder, Mode, Network, Scalar, Tensor, Wants,
};

fn random_batch<T: Scalar>(batch: usize, shape: &[usize], seed: u64) -> Tensor<T> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let width: usize = shape.iter().product();
    let data = (0..batch * width).map(|_| T::from_f64(rng.random_range(0.0..1.0))).collect();
    Tensor::from_vec(shape, data).expect("batch shape")
}

/// `output - target`, the gradient of `0.5 * |output - target|^2`.
fn mse_gradient<T: Scalar>(output: &Tensor<T>, target: &Tensor<T>) -> Tensor<T> {
    let mut grad = output.clone();
    grad.data.iter_mut().zip(&target.data).for_each(|(g, &t)| *g -= t);
    grad
}

fn bench_step<T: Scalar>(c: &mut Criterion, group: &str, net: Network<T>, batch: usize) {
    bench_step_variants(c, group, net, batch, true);
}

/// Forward + backward with reused gradient buffers, and with fresh ones if `fresh`.
fn bench_step_variants<T: Scalar>(c: &mut Criterion, group: &str, mut net: Network<T>, batch: usize, fresh: bool) {
    net.init_pytorch_default(0, 1.0);
    let x = random_batch::<T>(batch, net.input_shape(), 1);
    let target = random_batch::<T>(batch, &[net.output_width()], 2);
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(batch as u64));
    let mut grads = Gradients::default();
    g.bench_function(BenchmarkId::new(format!("{}/reused_gradients", T::DTYPE), batch), |b| {
        b.iter(|| {
            let tape = net.forward_tape(&x, Mode::Train).expect("forward");
            net.backward_into(&tape, &mse_gradient(tape.output(), &target), Wants::PARAMS, &mut grads);
            black_box(&grads);
        })
    });
    if fresh {
        g.bench_function(BenchmarkId::new(format!("{}/fresh_gradients", T::DTYPE), batch), |b| {
            b.iter(|| {
                let tape = net.forward_tape(&x, Mode::Train).expect("forward");
                black_box(net.backward(&tape, &mse_gradient(tape.output(), &target), Wants::PARAMS))
            })
        });
    }
    g.finish();
}

fn mlp_784_200x3_10(c: &mut Criterion) {
    let widths = [784, 200, 200, 200, 10];
    bench_step(c, "mlp_forward_backward", mlp::<f32>(&widths, Activation::Relu).expect("mlp"), 200);
    bench_step(c, "mlp_forward_backward", mlp::<f64>(&widths, Activation::Relu).expect("mlp"), 200);
}

fn small_cifar_cnn(c: &mut Criterion) {
    bench_step(c, "cnn_forward_backward", cnn::<f32>(&CnnSpec::small_cifar()).expect("cnn"), 128);
}

fn resnet18_k16(c: &mut Criterion) {
    let net = preact_resnet18::<f32>([3, 32, 32], 16, 10, false).expect("resnet");
    bench_step_variants(c, "resnet18_k16_forward_backward", net, 128, false);
}

/// One 3x3 convolution (padding 1, no bias) of `channels -> channels` (stride 1) or
/// `channels -> 2 channels` (stride 2) on `size x size` inputs: forward alone, and forward +
/// backward with the input and weight gradients (as inside a network).
fn conv3x3_layer(c: &mut Criterion, channels: usize, size: usize, stride: usize) {
    let batch = 128;
    let cout = channels * stride;
    let mut b = GraphBuilder::new(&[channels, size, size]);
    b.conv3x3(0, channels, cout, stride, false);
    let mut net: Network<f32> = b.build().expect("conv");
    net.init_pytorch_default(0, 1.0);
    let x = random_batch::<f32>(batch, net.input_shape(), 1);
    let mut g = c.benchmark_group(format!("conv3x3_{channels}x{size}x{size}_stride{stride}"));
    g.throughput(Throughput::Elements(batch as u64));
    g.bench_function(BenchmarkId::new("F32/forward", batch), |b| {
        b.iter(|| black_box(net.forward_tape(&x, Mode::Train).expect("forward")))
    });
    let tape = net.forward_tape(&x, Mode::Train).expect("forward");
    let gy = random_batch::<f32>(batch, &tape.output().shape, 2);
    let mut grads = Gradients::default();
    g.bench_function(BenchmarkId::new("F32/backward", batch), |b| {
        b.iter(|| {
            net.backward_into(&tape, &gy, Wants::ALL, &mut grads);
            black_box(&grads);
        })
    });
    g.finish();
}

/// The stride-1 convolutions of the ResNet18 (k = 16) stages and one stride-2 transition.
fn resnet_conv_layers(c: &mut Criterion) {
    for (channels, size) in [(16, 32), (32, 16), (64, 8), (128, 4)] {
        conv3x3_layer(c, channels, size, 1);
    }
    conv3x3_layer(c, 16, 32, 2);
}

criterion_group!(benches, mlp_784_200x3_10, small_cifar_cnn, resnet18_k16, resnet_conv_layers);
criterion_main!(benches);
