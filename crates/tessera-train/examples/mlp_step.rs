//! MLP training speed for profiling: the benchmark's MNIST MLP step (784-200-200-200-10, MSE,
//! AdamW, batch 200) on one fixed batch, as `cargo xtask bench`'s training rows run it, in
//! rounds; then how many of the optimizer's moments are subnormal (the state a long run on a
//! fixed batch drifts into: dead units' first moments decay into the subnormals and stay).
//!
//!     RAYON_NUM_THREADS=2 cargo run --release -p tessera-train --example mlp_step -- \
//!         [--dtype f32|f64] [--steps 1000] [--rounds 3]
//!
//! Prints `ROUND steps/s` per round, then `BUFFER: N values, S subnormal, Z zero`.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use tessera_net::{mlp, Activation, Scalar, Tensor};
use tessera_train::{Loss, Optimizer, OptimizerConfig, Points, StepScratch};

/// The allocator of the binaries that train (`tessera`, `xtask`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const WIDTHS: [usize; 5] = [784, 200, 200, 200, 10];
const BATCH: usize = 200;

fn run<T: Scalar>(steps: usize, rounds: usize) -> Result<()> {
    let mut net = mlp::<T>(&WIDTHS, Activation::Relu)?;
    net.init_pytorch_default(0, 1.0);
    let lens: Vec<usize> = net.trainable().iter().map(|t| t.len()).collect();
    let mut optimizer = Optimizer::new(OptimizerConfig::default(), &lens)?;
    let x = (0..BATCH * WIDTHS[0]).map(|i| T::from_f64(((i * 7919) % 1000) as f64 / 1000.0)).collect();
    let labels = (0..BATCH).map(|i| (i % 10) as u8).collect();
    let mut scratch = StepScratch::with_batch(Points::new(Tensor::from_vec(&[WIDTHS[0]], x)?, labels));
    for round in 0..rounds {
        let started = Instant::now();
        for _ in 0..steps {
            scratch.step(&mut net, &mut optimizer, Loss::Mse)?;
        }
        println!("{round} {:.0} steps/s", steps as f64 / started.elapsed().as_secs_f64());
    }
    let min_normal = if T::DTYPE == "F32" { f32::MIN_POSITIVE as f64 } else { f64::MIN_POSITIVE };
    for (name, values) in optimizer.state_tensors() {
        let subnormal = values.iter().filter(|v| v.to_f64() != 0.0 && v.abs().to_f64() < min_normal).count();
        let zero = values.iter().filter(|v| v.to_f64() == 0.0).count();
        println!("{name}: {} values, {subnormal} subnormal, {zero} zero", values.len());
    }
    Ok(())
}

fn main() -> Result<()> {
    let (mut dtype, mut steps, mut rounds) = ("f32".to_string(), 1000usize, 3usize);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--dtype" => dtype = value,
            "--steps" => steps = value.parse().context("--steps")?,
            "--rounds" => rounds = value.parse().context("--rounds")?,
            other => bail!("unknown option {other} (--dtype, --steps, --rounds)"),
        }
    }
    match dtype.as_str() {
        "f32" => run::<f32>(steps, rounds),
        "f64" => run::<f64>(steps, rounds),
        other => bail!("--dtype {other}: f32 or f64"),
    }
}
