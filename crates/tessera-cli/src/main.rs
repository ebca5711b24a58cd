//! The `tessera` command: train networks, measure local complexity, draw and count linear
//! regions, manage datasets. Each subcommand lives in its own module; this file only routes.

use clap::{Parser, Subcommand};

mod checkpoint_folder;
mod count;
mod data;
mod import;
mod interrupt;
mod lc;
mod memory_limit;
mod model;
mod output_paths;
mod point_files;
mod region_work;
mod slice;
mod train;

/// LC and slices allocate large row blocks per batch; glibc returns those to the system and
/// faults them back in every batch (~15% of an LC run's CPU time in the kernel), mimalloc
/// keeps them (with `tessera_alloc`'s purge setting, made first in `main`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Measure, track and draw the linear regions of piecewise-affine deep networks.
#[derive(Parser)]
#[command(name = "tessera", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Local complexity around points (CSV per point and radius, JSON summary).
    ///
    /// What LC counts (as the paper does): per activation layer (ReLU, leaky ReLU, abs; CSV
    /// columns layer_1, layer_2, ... numbering activation layers only), the neurons whose
    /// pre-activation changes sign between the 2P vertices of the cross-polytope
    /// conv{x ± r v_p} around the point. Max-pool kinks are not counted, nor are regions: LC is
    /// a number of cutting neurons, not of linear regions. `tessera count` with the same --p,
    /// --seed and radius counts the exact regions of the same neighbourhood (every kink,
    /// max-pool included) and reports its per-layer figures in these terms too.
    Lc(lc::Args),
    /// Exact partition of a 2-D slice of input space (PNG/SVG picture, JSON summary).
    Slice(slice::Args),
    /// Exact number of linear regions inside an LC cross-polytope.
    ///
    /// What it counts: every kink splits regions, the neurons of every activation layer and
    /// every max-pool output whose winning input changes; `num_regions` is the number of
    /// linear regions of the network in the neighbourhood, and `layers` gives, per kinked node,
    /// the regions after it and its cutting units. `as_lc` lists the same neighbourhood in the
    /// terms of `tessera lc`: activation layers only (columns layer_k), the neurons whose
    /// pre-activation changes sign anywhere in it, and their total, which is what LC measures
    /// at the vertices (LC can only be lower). A max-pool network can have thousands of
    /// regions where LC is 4: LC leaves out max pooling and counts neurons, not regions.
    Count(count::Args),
    /// Train a network from a TOML config, recording LC and accuracies.
    Train(train::Args),
    /// Datasets: fetch and inspect.
    Data(data::Args),
    /// Import a PyTorch model (an ONNX file, or a printed nn.Sequential with its safetensors
    /// state dict) into a tessera model directory.
    Import(import::Args),
}

/// Errors are printed as their chain of causes, one per line; a stack trace only when
/// `TESSERA_BACKTRACE=1` asks for one (`RUST_BACKTRACE` alone is for panics).
fn main() -> std::process::ExitCode {
    // SAFETY: the first statement of `main`: no other thread has started.
    unsafe { tessera_alloc::purge_freed_memory_by_reset() };
    let Err(error) = run(Cli::parse().command) else { return std::process::ExitCode::SUCCESS };
    eprintln!("error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    if std::env::var_os("TESSERA_BACKTRACE").is_some_and(|v| v == "1") {
        eprintln!("{}", error.backtrace());
    }
    std::process::ExitCode::FAILURE
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Lc(a) => lc::run(a),
        Command::Slice(a) => slice::run(a),
        Command::Count(a) => count::run(a),
        Command::Train(a) => train::run(a),
        Command::Data(a) => data::run(a),
        Command::Import(a) => import::run(a),
    }
}
