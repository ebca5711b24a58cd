//! Developer tasks for tessera: `cargo xtask reproduce-figures` runs every figure of the paper
//! as a spec (what to train, what to measure, what to draw), checks that its phenomenon appears,
//! and writes a report.

mod figures;
mod report;
mod run_metrics;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Reproduce the paper's figures and write a report with pass/fail checks.
    ReproduceFigures(ReproduceArgs),
    /// List the figures and what each one runs.
    ListFigures,
    /// Draw the accuracy and LC curves of a training run directory.
    PlotRun {
        /// A run directory written by `tessera train`.
        run: PathBuf,
        /// Picture to write (.png or .svg).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "")]
        title: String,
    },
}

#[derive(clap::Args)]
struct ReproduceArgs {
    /// Comma-separated figure ids (default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// How much compute to spend.
    #[arg(long, value_enum, default_value_t = Scale::Smoke)]
    scale: Scale,
    /// Output directory (runs are cached here; rerunning resumes).
    #[arg(long, default_value = "figures")]
    out: PathBuf,
    /// Dataset directory (default: $TESSERA_DATA, ./data, ../shared/data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// The compute budget of a reproduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scale {
    /// Minutes on a laptop: tiny versions that exercise every figure's pipeline.
    Smoke,
    /// The honest reduced-scale reproduction on a 2-core CPU (hours).
    Cpu,
    /// The published scale.
    Paper,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::ListFigures => {
            for fig in figures::all() {
                println!("{:<22} {}  [{}]", fig.id(), fig.title(), fig.paper_reference());
            }
            Ok(())
        }
        Command::PlotRun { run, out, title } => {
            let metrics = run_metrics::Metrics::read(&run)?;
            run_metrics::plot_run(&metrics, &title, &[], &out)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Command::ReproduceFigures(args) => {
            let selected = figures::select(&args.only)?;
            std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
            let ctx = figures::Context { scale: args.scale, out: args.out.clone(), data_dir: args.data_dir.clone() };
            let mut results = Vec::new();
            for fig in selected {
                eprintln!("== {} — {}", fig.id(), fig.title());
                let started = std::time::Instant::now();
                let outcome = fig.run(&ctx);
                results.push(report::Entry::new(fig.as_ref(), &ctx, outcome, started.elapsed()));
            }
            let path = report::write(&args.out, args.scale, &results)?;
            let failed = results.iter().filter(|r| !r.passed()).count();
            println!(
                "report: {}  ({} figures, {} with failed checks or errors)",
                path.display(),
                results.len(),
                failed
            );
            Ok(())
        }
    }
}
