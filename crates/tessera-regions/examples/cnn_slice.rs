//! Time and size of an exact slice of the small CIFAR CNN (`CnnSpec::small_cifar`, PyTorch-default
//! initialisation, seed 0): a square of the given half-width (default 0.05) around the constant
//! image 0.5, in a plane of two seeded random directions. Prints the region count, the time and
//! the regions after each kinked layer; run under `/usr/bin/time -v` for the peak memory.
//!
//!     cargo run --release -p tessera-regions --example cnn_slice -- 0.05

use std::time::Instant;
use tessera_net::{cnn, CnnSpec, Network};
use tessera_regions::{partition_slice, PartitionOptions, Slice};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let half_width: f64 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(0.05);
    let mut net: Network<f64> = cnn(&CnnSpec::small_cifar())?;
    net.init_pytorch_default(0, 1.0);
    let slice = Slice::around_point(&vec![0.5; net.input_width()], half_width, 3)?;
    let start = Instant::now();
    let partition = partition_slice(&net, &slice, &PartitionOptions::default())?;
    let seconds = start.elapsed().as_secs_f64();
    println!("{} regions in {seconds:.1} s", partition.num_regions());
    for layer in &partition.layers {
        println!("  {:<10} {:>6} units -> {:>7} regions", layer.name, layer.units, layer.regions);
    }
    Ok(())
}
