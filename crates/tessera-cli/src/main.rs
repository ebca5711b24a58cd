//! The `tessera` command: train networks, measure local complexity, draw and count linear
//! regions, manage datasets. Each subcommand lives in its own module; this file only routes.

use clap::{Parser, Subcommand};

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
    Lc(lc::Args),
    /// Exact partition of a 2-D slice of input space (PNG/SVG picture, JSON summary).
    Slice(slice::Args),
    /// Exact number of linear regions inside an LC cross-polytope.
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
