//! Exact region counts in LC neighbourhoods (cross-polytopes of dimension P around a point) of
//! the MNIST MLP 784-200-200-200-10 at its PyTorch-default initialisation, around a seeded
//! uniform point of `[0, 1]^784`, at P = 25 (the paper's LC setting) and several radii; and one
//! Chebyshev-ball LP, the unit of work. Throughput is in regions per second.

// `criterion_group!` defines an undocumented `pub fn`; a bench has no API to document.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::hint::black_box;
use tessera_net::{mlp, Activation};
use tessera_regions::lp::{chebyshev_ball, HalfSpace};
use tessera_regions::polytope::{count_regions, Neighborhood, PolytopeOptions};

/// A point of `[0, 1]^width` and `dim` orthonormal directions (Q of a Gaussian QR).
fn neighborhood(width: usize, dim: usize, radius: f64, seed: u64) -> Neighborhood {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let point: Vec<f64> = (0..width).map(|_| rng.random_range(0.0..1.0)).collect();
    let gaussian = DMatrix::from_fn(width, dim, |_, _| StandardNormal.sample(&mut rng));
    let q = gaussian.qr().q();
    let directions: Vec<f64> = (0..dim).flat_map(|p| q.column(p).iter().copied().collect::<Vec<_>>()).collect();
    Neighborhood::new(point, directions, dim, radius).expect("neighborhood")
}

fn count_mlp(c: &mut Criterion) {
    let mut net = mlp::<f64>(&[784, 200, 200, 200, 10], Activation::Relu).expect("mlp");
    net.init_pytorch_default(0, 1.0);
    let options = PolytopeOptions::default();
    let mut g = c.benchmark_group("count_mlp_784_200x3_10_p25");
    g.sample_size(10);
    for radius in [0.05, 0.2, 0.35] {
        let nbhd = neighborhood(784, 25, radius, 1);
        let summary = count_regions(&net, &nbhd, &options).expect("count");
        eprintln!(
            "r = {radius}: {} regions, cutting units per layer {:?}, {} LPs",
            summary.num_regions,
            summary.layers.iter().map(|l| l.cutting_units).collect::<Vec<_>>(),
            summary.lp_solves
        );
        g.throughput(Throughput::Elements(summary.num_regions as u64));
        g.bench_with_input(BenchmarkId::from_parameter(radius), &nbhd, |b, nbhd| {
            b.iter(|| black_box(count_regions(&net, nbhd, &options).expect("count")))
        });
    }
    g.finish();
}

fn chebyshev_lp(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut g = c.benchmark_group("chebyshev_ball_p25");
    for rows in [0usize, 10, 30] {
        let halfspaces: Vec<HalfSpace> = (0..rows)
            .map(|_| {
                let normal: Vec<f64> = (0..25).map(|_| StandardNormal.sample(&mut rng)).collect();
                HalfSpace::from_affine_nonpositive(-0.1, &normal).expect("nonzero normal")
            })
            .collect();
        g.bench_with_input(BenchmarkId::from_parameter(rows), &halfspaces, |b, h| {
            b.iter(|| black_box(chebyshev_ball(25, h.iter()).expect("lp")))
        });
    }
    g.finish();
}

criterion_group!(benches, count_mlp, chebyshev_lp);
criterion_main!(benches);
