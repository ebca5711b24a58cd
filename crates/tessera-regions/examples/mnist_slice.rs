//! The slice row of `xtask bench` (issue 13) on its own: the exact partition of the plane
//! through MNIST training points 0, 1, 2 (padding 1.2) by a model directory, repeated. Prints
//! each repetition's time (wall and CPU) and rate, the regions after each kinked layer, and a digest of every
//! bit of the partition (polygons, codes, areas, output maps, boundaries, decision boundary),
//! so that two builds can be checked to give the same partition bit for bit.
//!
//!     TESSERA_DATA=/work/shared/data cargo run --release -p tessera-regions \
//!         --example mnist_slice -- <model dir> [repetitions]

use std::hash::Hasher;
use std::path::Path;
use std::time::Instant;
use tessera_data::{DataDir, DatasetKind, Split};
use tessera_net::Network;
use tessera_regions::{partition_slice, Partition, PartitionOptions, Point, Slice};

// The allocator of the `tessera` and `xtask` binaries, so that times compare with theirs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = args.next().ok_or("usage: mnist_slice <model dir> [repetitions]")?;
    let repetitions: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let net = Network::<f64>::load(Path::new(&model))?;
    let mnist = DataDir::resolve(None).load(DatasetKind::Mnist, Split::Train)?;
    let point = |i: usize| -> Vec<f64> { mnist.sample(i).iter().map(|&v| f64::from(v)).collect() };
    let slice = Slice::through_points(&point(0), &point(1), &point(2), 1.2)?;
    let options = PartitionOptions::default();
    let mut last = None;
    for _ in 0..repetitions.max(1) {
        let (start, cpu) = (Instant::now(), cpu_seconds());
        let partition = partition_slice(&net, &slice, &options)?;
        let seconds = start.elapsed().as_secs_f64();
        let regions = partition.num_regions();
        println!(
            "{regions} regions in {seconds:.3} s ({:.2} s CPU): {:.1}k regions/s",
            cpu_seconds() - cpu,
            regions as f64 / seconds / 1e3
        );
        last = Some(partition);
    }
    let partition = last.expect("at least one repetition");
    for layer in &partition.layers {
        println!("  {:<10} {:>6} units -> {:>7} regions", layer.name, layer.units, layer.regions);
    }
    println!("digest {:016x}", digest(&partition));
    Ok(())
}

/// CPU time of this process so far (user + system, all threads; Linux, else 0).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the command name (which ends at the last ')'): utime and stime are the 12th
    // and 13th, in clock ticks of 1/100 s.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// FNV-1a over the bits of everything a partition holds, in order.
fn digest(p: &Partition) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    let point = |h: &mut Fnv, q: Point| q.iter().for_each(|v| h.write_u64(v.to_bits()));
    for r in &p.regions {
        r.polygon.iter().for_each(|&q| point(&mut h, q));
        r.code.iter().for_each(|&c| h.write_u64(c));
        h.write_u64(r.area.to_bits());
        r.output.iter().flatten().for_each(|v| h.write_u64(v.to_bits()));
    }
    for l in &p.layers {
        h.write_u64(l.regions as u64);
        for s in &l.boundary {
            point(&mut h, s.from);
            point(&mut h, s.to);
            h.write_u64(u64::from(s.unit));
        }
    }
    for s in &p.decision_boundary {
        point(&mut h, s.from);
        point(&mut h, s.to);
        s.classes.iter().for_each(|&c| h.write_u64(u64::from(c)));
    }
    h.finish()
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}
