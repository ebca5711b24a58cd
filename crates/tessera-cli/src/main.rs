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
/// keeps them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc (v3) purges freed memory by decommitting it: LC's and the slices' large per-batch row
/// blocks are then faulted back in and zeroed by the kernel at every batch (6,000 faults and ~14 %
/// of the CPU time of an LC pass at r = 0.5). Purging by reset keeps the pages mapped until the
/// system needs them. `MIMALLOC_PURGE_DECOMMITS` in the environment still decides.
fn purge_freed_memory_by_reset() {
    if std::env::var_os("MIMALLOC_PURGE_DECOMMITS").is_none() {
        // SAFETY: called first in `main`, before any other thread runs (the options are not
        // thread safe); the option exists in the linked mimalloc v3.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DECOMMITS, 0) };
    }
}

/// `mi_option_purge_decommits` in mimalloc v3's option enum (the sys crate names no constant
/// for it; a test checks the index against the environment variable of that name).
const PURGE_DECOMMITS: libmimalloc_sys::mi_option_t = 5;

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
    purge_freed_memory_by_reset();
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

#[cfg(test)]
mod tests {
    use super::PURGE_DECOMMITS;

    /// Run in a child process whose mimalloc read `MIMALLOC_PURGE_DECOMMITS=7` at start: the
    /// option at index `PURGE_DECOMMITS` must be the one of that name.
    #[test]
    fn purge_decommits_index_is_the_option_of_that_name() {
        const CHILD: &str = "TESSERA_TEST_MIMALLOC_CHILD";
        if std::env::var_os(CHILD).is_some() {
            // SAFETY: reading an option; the index is in range (checked by mimalloc too).
            assert_eq!(unsafe { libmimalloc_sys::mi_option_get(PURGE_DECOMMITS) }, 7);
            return;
        }
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "tests::purge_decommits_index_is_the_option_of_that_name", "--quiet"])
            .env(CHILD, "1")
            .env("MIMALLOC_PURGE_DECOMMITS", "7")
            .status()
            .unwrap();
        assert!(status.success(), "the option at index {PURGE_DECOMMITS} is not purge_decommits");
    }
}
