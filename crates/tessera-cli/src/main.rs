//! The `tessera` command: train networks, measure local complexity, draw and count linear
//! regions, manage datasets. Each subcommand lives in its own module; this file only routes.

use clap::{Parser, Subcommand};

mod count;
mod data;
mod import;
mod lc;
mod model;
mod point_files;
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
    /// Import an ONNX model (e.g. from torch.onnx.export) into a tessera model directory.
    Import(import::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Lc(a) => lc::run(a),
        Command::Slice(a) => slice::run(a),
        Command::Count(a) => count::run(a),
        Command::Train(a) => train::run(a),
        Command::Data(a) => data::run(a),
        Command::Import(a) => import::run(a),
    }
}
