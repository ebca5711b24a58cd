//! Conv training speed, the tessera side of `bench/conv_reference.py`: one training step
//! (forward in training mode, cross-entropy, backward, AdamW lr 1e-3 wd 0.01) of the small CIFAR
//! CNN and the pre-activation ResNet18 (k = 16), each with and without BN, f32, batch 128 of
//! 32x32x3 inputs uniform in [0, 1], through `StepScratch` as the training loop runs it.
//!
//! Prints one line per network and repetition: `tessera NAME REP img/s ms/step cpu-ms/step`, the
//! last being the process's CPU time per step (user + system, from /proc/self/stat; on a
//! machine loaded by other work, wall time measures the share the scheduler gave us, CPU time
//! the work done, including rayon's spinning).
//!
//!     RAYON_NUM_THREADS=2 cargo run --release -p tessera-train --example conv_step -- \
//!         [--steps 20] [--warmup 3] [--reps 1] [--nets cnn,cnn_bn,resnet,resnet_bn]
//!
//! `bench/conv_side_by_side.sh` runs it interleaved with the PyTorch script.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera_net::{cnn, preact_resnet18, CnnSpec, Network, Tensor};
use tessera_train::{Loss, Optimizer, OptimizerConfig, Points, StepScratch};

/// The allocator of the binaries that train (`tessera`, `xtask`), so that this measures what
/// they do: glibc would return large per-step buffers to the system and fault them back in.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 128;
const NETWORKS: [&str; 4] = ["cnn", "cnn_bn", "resnet", "resnet_bn"];

fn network(name: &str) -> Result<Network<f32>> {
    let mut net = match name {
        "cnn" | "cnn_bn" => cnn(&CnnSpec { batch_norm: name == "cnn_bn", ..CnnSpec::small_cifar() })?,
        "resnet" | "resnet_bn" => preact_resnet18([3, 32, 32], 16, 10, name == "resnet_bn")?,
        other => bail!("unknown network '{other}' (one of {})", NETWORKS.join(", ")),
    };
    net.init_pytorch_default(0, 1.0);
    Ok(net)
}

/// CPU seconds (user + system) this process has used so far; 0 where /proc is missing.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime and stime are the 12th and
    // 13th (fields 14 and 15 of the line), in clock ticks of 1/100 s.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: Vec<f64> = after.split_whitespace().skip(11).take(2).filter_map(|f| f.parse().ok()).collect();
    ticks.iter().sum::<f64>() / 100.0
}

/// Steps per second in wall time and CPU seconds per step.
fn steps_per_second(name: &str, batch: &Points<f32>, steps: usize, warmup: usize) -> Result<(f64, f64)> {
    let mut net = network(name)?;
    let lens: Vec<usize> = net.trainable().iter().map(|t| t.len()).collect();
    let mut optimizer = Optimizer::new(OptimizerConfig::default(), &lens)?;
    let mut scratch = StepScratch::with_batch(batch.clone());
    for _ in 0..warmup {
        scratch.step(&mut net, &mut optimizer, Loss::CrossEntropy)?;
    }
    let (start, cpu) = (Instant::now(), cpu_seconds());
    for _ in 0..steps {
        scratch.step(&mut net, &mut optimizer, Loss::CrossEntropy)?;
    }
    Ok((steps as f64 / start.elapsed().as_secs_f64(), (cpu_seconds() - cpu) / steps as f64))
}

fn main() -> Result<()> {
    let (mut steps, mut warmup, mut reps, mut nets) = (20usize, 3usize, 1usize, NETWORKS.join(","));
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--steps" => steps = value.parse().context("--steps")?,
            "--warmup" => warmup = value.parse().context("--warmup")?,
            "--reps" => reps = value.parse().context("--reps")?,
            "--nets" => nets = value,
            other => bail!("unknown option {other} (--steps, --warmup, --reps, --nets)"),
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x: Vec<f32> = (0..BATCH * 3 * 32 * 32).map(|_| rng.random()).collect();
    let labels = (0..BATCH).map(|i| (i % 10) as u8).collect();
    let batch = Points::new(Tensor::from_vec(&[3, 32, 32], x)?, labels);
    for rep in 0..reps {
        for name in nets.split(',') {
            let (rate, cpu) = steps_per_second(name, &batch, steps, warmup)?;
            let (images, ms) = (rate * BATCH as f64, 1000.0 / rate);
            println!("tessera {name} {rep} {images:.0} img/s {ms:.1} ms/step {:.1} cpu-ms/step", 1000.0 * cpu);
        }
    }
    Ok(())
}
