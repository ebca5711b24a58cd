//! One training step of the paper's MNIST MLP (784-200-200-200-10 ReLU, batch 200, MSE, AdamW),
//! in f64 and f32, and its parts. Inputs are uniform in [0, 1] (the cost does not depend on the
//! pixel values). Target: >= 285 steps/s in f64 on 2 cores (1.5x PyTorch's ~190 steps/s).
//!
//!     cargo bench -p tessera-train --bench step

// `criterion_group!` defines an undocumented `pub fn`; a bench has no API to document.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera_net::{mlp, Activation, Mode, Network, Scalar, Tensor, Wants};
use tessera_train::{Loss, Optimizer, OptimizerConfig, Points, StepScratch};

const BATCH: usize = 200;

fn setup<T: Scalar>() -> (Network<T>, Optimizer<T>, Points<T>) {
    let mut net = mlp::<T>(&[784, 200, 200, 200, 10], Activation::Relu).unwrap();
    net.init_pytorch_default(0, 1.0);
    let lens: Vec<usize> = net.trainable().iter().map(|t| t.len()).collect();
    let opt = Optimizer::new(OptimizerConfig::default(), &lens).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x: Vec<T> = (0..BATCH * 784).map(|_| T::from_f64(rng.random())).collect();
    let labels = (0..BATCH).map(|i| (i % 10) as u8).collect();
    (net, opt, Points::new(Tensor::from_vec(&[784], x).unwrap(), labels))
}

fn bench_dtype<T: Scalar>(c: &mut Criterion, name: &str) {
    let mut group = c.benchmark_group(format!("mnist_mlp_step_{name}"));
    group.throughput(Throughput::Elements(1));
    let (mut net, mut opt, batch) = setup::<T>();
    // As the training loop runs it: batch and gradient buffers reused across steps.
    let mut scratch = StepScratch::with_batch(batch.clone());
    group.bench_function(BenchmarkId::new("train_step", BATCH), |b| {
        b.iter(|| scratch.step(&mut net, &mut opt, Loss::Mse).unwrap())
    });
    group.bench_function(BenchmarkId::new("forward_tape", BATCH), |b| {
        b.iter(|| net.forward_tape(&batch.inputs, Mode::Train).unwrap())
    });
    let tape = net.forward_tape(&batch.inputs, Mode::Train).unwrap();
    let grad = Loss::Mse.value_and_grad(tape.output(), &batch.labels).unwrap().grad;
    group.bench_function(BenchmarkId::new("backward", BATCH), |b| b.iter(|| net.backward(&tape, &grad, Wants::PARAMS)));
    let grads = net.backward(&tape, &grad, Wants::PARAMS).params;
    group.bench_function(BenchmarkId::new("adamw_update", BATCH), |b| {
        b.iter(|| opt.step(net.trainable_mut(), &grads).unwrap())
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_dtype::<f64>(c, "f64");
    bench_dtype::<f32>(c, "f32");
}

criterion_group! {
    name = step;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4));
    targets = benches
}
criterion_main!(step);
