//! LC of the paper's MNIST MLP (784-200-200-200-10, random PyTorch-default init), P = 25,
//! 1000 points uniform in [0, 1]^784, in f32 and f64, per method and radius.
//!
//! `cargo bench -p tessera-lc --bench lc`; throughput is reported in points per second
//! (criterion's "elem/s"). A subset: `cargo bench -p tessera-lc --bench lc -- f64/linearized`.

// `criterion_group!` defines an undocumented `pub fn`; a bench has no API to document.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;
use tessera_lc::{
    Directions, Frame, InMemoryPoints, LcError, LcOptions, LocalComplexity, Method, PointSource, UniformBox,
};
use tessera_net::{mlp, Activation, Network, Scalar};

const POINTS: usize = 1000;
const P: usize = 25;
const D: usize = 784;

fn mnist_mlp<T: Scalar>() -> Network<T> {
    let mut net = mlp::<T>(&[D, 200, 200, 200, 10], Activation::Relu).unwrap();
    net.init_pytorch_default(0, 1.0);
    net
}

fn points() -> Vec<f64> {
    UniformBox::cube("random", D, 0.0, 1.0, POINTS, 0).unwrap().next_batch(POINTS).unwrap().coords
}

fn bench_precision<T: Scalar>(c: &mut Criterion, precision: &str) {
    let net = mnist_mlp::<T>();
    let points = points();
    let frame = Frame::random(D, P, 0).unwrap();
    let cases: [(&str, Method, Vec<f64>); 6] = [
        ("plain", Method::Plain, vec![0.005]),
        ("affine_shortcut", Method::AffineShortcut, vec![0.005]),
        ("linearized", Method::Linearized, vec![0.005]),
        ("linearized", Method::Linearized, vec![0.05]),
        ("linearized", Method::Linearized, vec![1.0]),
        ("linearized", Method::Linearized, vec![0.05, 0.1, 0.5, 1.0, 5.0]),
    ];
    let mut group = c.benchmark_group(format!("lc_mnist_mlp_p25_{precision}"));
    group.sample_size(10).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(POINTS as u64));
    for (name, method, radii) in cases {
        let radii_label = radii.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("+");
        let id = BenchmarkId::new(name, format!("r={radii_label}"));
        let mut options = LcOptions::new(Directions::Shared(frame.clone()), radii);
        options.method = method;
        let lc = LocalComplexity::new(&net, options).unwrap();
        let source = InMemoryPoints::new("random", D, points.clone()).unwrap();
        group.bench_function(id, |b| b.iter(|| lc.run(&mut source.clone(), |_| Ok::<_, LcError>(())).unwrap()));
    }
    group.finish();
}

fn lc_benches(c: &mut Criterion) {
    bench_precision::<f64>(c, "f64");
    bench_precision::<f32>(c, "f32");
}

criterion_group!(benches, lc_benches);
criterion_main!(benches);
