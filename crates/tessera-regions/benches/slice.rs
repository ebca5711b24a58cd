//! The paper's slice: the MNIST MLP 784-200-200-200-10, partitioned exactly on the plane
//! through three training points, beside the brute-force baseline (activation codes hashed on
//! a grid of the same slice). Throughput is in regions of the exact partition per second for
//! both, so the two lines compare the time to the region count.
//!
//! - Model: the directory in `TESSERA_BENCH_MODEL` (e.g. a checkpoint of
//!   `tessera train configs/mnist_mlp_init1.toml`), else the MLP at its PyTorch-default
//!   initialisation (seed 0), which has several times fewer regions on such a slice.
//! - Anchors: MNIST training points 0, 1, 2 when the data is found (see `tessera-data`'s
//!   `DataDir`), else three seeded uniform points of `[0, 1]^784`.
//! - Grid: 256 x 256 unless `TESSERA_BENCH_GRID` says otherwise (1024 x 1024 takes about a
//!   minute per iteration here).

// `criterion_group!` defines an undocumented `pub fn`; a bench has no API to document.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::path::Path;
use tessera_data::{DataDir, DatasetKind, Split};
use tessera_net::{mlp, Activation, Network};
use tessera_regions::{grid_region_count, partition_slice, PartitionOptions, Slice};

fn network() -> (Network<f64>, String) {
    if let Ok(dir) = std::env::var("TESSERA_BENCH_MODEL") {
        return (Network::load(Path::new(&dir)).expect("TESSERA_BENCH_MODEL"), dir);
    }
    let mut net = mlp::<f64>(&[784, 200, 200, 200, 10], Activation::Relu).expect("mlp");
    net.init_pytorch_default(0, 1.0);
    (net, "PyTorch-default initialisation".into())
}

fn anchors() -> (Vec<Vec<f64>>, &'static str) {
    if let Ok(mnist) = DataDir::resolve(None).load(DatasetKind::Mnist, Split::Train) {
        let point = |i: usize| mnist.sample(i).iter().map(|&v| f64::from(v)).collect();
        return ((0..3).map(point).collect(), "MNIST train 0, 1, 2");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut point = || -> Vec<f64> { (0..784).map(|_| rng.random_range(0.0..1.0)).collect() };
    (vec![point(), point(), point()], "uniform random points")
}

fn slice_mlp(c: &mut Criterion) {
    let (net, model) = network();
    let (points, anchors) = anchors();
    let slice = Slice::through_points(&points[0], &points[1], &points[2], 1.2).expect("slice");
    let options = PartitionOptions::default();
    let regions = partition_slice(&net, &slice, &options).expect("partition").num_regions();
    let resolution = std::env::var("TESSERA_BENCH_GRID").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    let grid = grid_region_count(&net, &slice, resolution).expect("grid");
    eprintln!(
        "model: {model}; anchors: {anchors}; exact partition: {regions} regions; \
         {resolution}x{resolution} grid: {} distinct codes",
        grid.distinct_codes
    );
    let mut g = c.benchmark_group("slice_mlp_784_200x3_10");
    g.sample_size(10);
    g.throughput(Throughput::Elements(regions as u64));
    g.bench_function("exact", |b| b.iter(|| black_box(partition_slice(&net, &slice, &options).expect("partition"))));
    g.bench_function(format!("grid_{resolution}"), |b| {
        b.iter(|| black_box(grid_region_count(&net, &slice, resolution).expect("grid")))
    });
    g.finish();
}

criterion_group!(benches, slice_mlp);
criterion_main!(benches);
