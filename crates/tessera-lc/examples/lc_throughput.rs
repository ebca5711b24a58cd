//! Points per second of LC on the paper's MNIST MLP (784-200-200-200-10, random init), P = 25,
//! measured in CPU time as well as wall time, so numbers stay meaningful on a shared machine.
//!
//! `cargo run --release -p tessera-lc --example lc_throughput -- [f32|f64] [plain|affine_shortcut|linearized] [radius,...] [points] [batch points]`
//! Run with `RAYON_NUM_THREADS=1` for a per-core figure. To measure a trained network as the
//! benchmark's trained rows do, set `LC_MODEL` (model directory), `LC_POINTS` and `LC_FRAME`
//! (`.npy` files; the first `points` rows are used).

use std::path::Path;
use std::time::Instant;
use tessera_data::npy::NpyRows;
use tessera_lc::{
    Directions, Frame, InMemoryPoints, LcError, LcOptions, LocalComplexity, Method, PointSource, UniformBox,
};
use tessera_net::{mlp, Activation, Network, Scalar};

/// The allocator of the binaries that measure LC (`tessera`, `xtask`); they also set
/// `MIMALLOC_PURGE_DECOMMITS=0`, which runs of this example should set in the environment.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const REPETITIONS: usize = 5;

/// CPU time (user + system) of this process, in seconds, from /proc (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum());
    ticks / 100.0
}

/// The network, points and frame: the random-init MLP, uniform points and a random frame, or
/// what `LC_MODEL`, `LC_POINTS` and `LC_FRAME` name.
fn workload<T: Scalar>(n: usize) -> (Network<T>, Vec<f64>, Frame) {
    let Ok(model) = std::env::var("LC_MODEL") else {
        let mut net = mlp::<T>(&[784, 200, 200, 200, 10], Activation::Relu).unwrap();
        net.init_pytorch_default(0, 1.0);
        let points = UniformBox::cube("random", 784, 0.0, 1.0, n, 0).unwrap().next_batch(n).unwrap().coords;
        return (net, points, Frame::random(784, 25, 0).unwrap());
    };
    let npy = |var: &str| NpyRows::open(Path::new(&std::env::var(var).expect(var))).unwrap();
    let mut points = Vec::new();
    npy("LC_POINTS").read_rows(n, &mut points).unwrap();
    let frame = Frame::from_rows(npy("LC_FRAME").read_all().unwrap(), 784, "LC_FRAME").unwrap();
    (Network::load(Path::new(&model)).unwrap(), points, frame)
}

fn measure<T: Scalar>(method: Method, radii: Vec<f64>, n: usize, batch: Option<usize>) {
    let (net, points, frame) = workload::<T>(n);
    let mut options = LcOptions::new(Directions::Shared(frame), radii.clone());
    options.method = method;
    options.batch_points = batch;
    let lc = LocalComplexity::new(&net, options).unwrap();
    // Best of several repetitions: other processes only ever make a run slower.
    let mut best = (f64::MAX, f64::MAX);
    let mut mean_lc = 0.0;
    for _ in 0..REPETITIONS {
        let (wall, cpu) = (Instant::now(), cpu_seconds());
        let summary =
            lc.run(&mut InMemoryPoints::new("random", 784, points.clone()).unwrap(), |_| Ok::<_, LcError>(())).unwrap();
        best = (best.0.min(wall.elapsed().as_secs_f64()), best.1.min(cpu_seconds() - cpu));
        mean_lc = summary.radii.iter().map(|r| r.total.mean).sum();
    }
    println!(
        "{} {method:?} radii {radii:?}: {n} points, best of {REPETITIONS}: wall {:.3} s ({:.0} points/s), cpu {:.2} s ({:.0} points per cpu-second), threads {}, batch {}, mean LC summed over radii {mean_lc:.3}",
        T::DTYPE,
        best.0,
        n as f64 / best.0,
        best.1,
        n as f64 / best.1,
        rayon::current_num_threads(),
        lc.batch_points(),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let method = match args.get(2).map(String::as_str) {
        Some("plain") => Method::Plain,
        Some("affine_shortcut") => Method::AffineShortcut,
        _ => Method::Linearized,
    };
    let radii = args.get(3).map_or(vec![0.005], |s| s.split(',').map(|r| r.parse().expect("radius")).collect());
    let n = args.get(4).map_or(1000, |s| s.parse().expect("points"));
    let batch = args.get(5).map(|s| s.parse().expect("batch points"));
    match args.get(1).map(String::as_str) {
        Some("f32") => measure::<f32>(method, radii, n, batch),
        _ => measure::<f64>(method, radii, n, batch),
    }
}
