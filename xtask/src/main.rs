//! Developer tasks for tessera: `cargo xtask reproduce-figures` runs every figure of the papers
//! as a spec (which training runs it needs, what to draw, what to check), trains the missing
//! runs through the run engine (shared, cached by config hash, resumable, listable for a
//! cluster), checks that each phenomenon appears, and writes a report. `cargo xtask bench`
//! measures the speed table, tessera beside PyTorch on the same machine.

mod bench;
mod checks;
mod figures;
mod report;
mod run_plots;
mod runs;

/// As in the `tessera` binary: keep the large per-batch blocks of LC, slices and training
/// instead of returning them to the system and faulting them back in (with `tessera_alloc`'s
/// purge setting, made first in `main`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::sync::Arc;
use tessera_train::RunControl;

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
    /// Every row of the speed table, tessera beside PyTorch on this machine, with ratios.
    Bench(bench::BenchArgs),
    /// Draw the accuracy and LC curves of a training run directory.
    PlotRun {
        /// A run directory written by `tessera train` (or an --out of `tessera lc --checkpoints`).
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
    /// Output directory (runs are stored once under OUT/runs/HASH and reused).
    #[arg(long, default_value = "figures")]
    out: PathBuf,
    /// Dataset directory (default: $TESSERA_DATA, ./data, ../shared/data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Train this many missing runs at a time (they share one thread pool of one thread per core).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Print every missing run as a self-contained `tessera train` command line and stop (for a
    /// job array or `xargs -P` over a shared filesystem); a later run finds their results.
    #[arg(long)]
    list_runs: bool,
    /// Seeds per setting in figures that compare settings (bands across seeds).
    #[arg(long, default_value_t = 1)]
    seeds: u64,
}

/// The compute budget of a reproduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scale {
    /// Minutes on a laptop: tiny versions that exercise every figure's pipeline.
    Smoke,
    /// The honest reduced-scale reproduction on a 2-core CPU (about an hour per figure).
    Cpu,
    /// The published scale.
    Paper,
}

/// Errors are printed as one line of causes (`a: b: c`), without a stack trace.
fn main() -> std::process::ExitCode {
    // SAFETY: the first statement of `main`: no other thread has started.
    unsafe { tessera_alloc::purge_freed_memory_by_reset() };
    match run(Cli::parse().command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Bench(args) => bench::bench(&args),
        Command::ListFigures => {
            for fig in figures::all() {
                println!("{:<26} {}  [{}]", fig.id(), fig.title(), fig.paper_reference());
            }
            Ok(())
        }
        Command::PlotRun { run, out, title } => {
            let metrics = tessera_train::MetricsTable::read(&run)?;
            run_plots::plot_run(&metrics, &title, &[], &out)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Command::ReproduceFigures(args) => {
            let control = Arc::new(RunControl { progress: args.jobs <= 1, ..RunControl::default() });
            install_interrupt_handler(Arc::clone(&control))?;
            reproduce(&args, &control).map(|_| ())
        }
    }
}

/// List or train the runs of the selected figures, then draw and check them into a report.
fn reproduce(args: &ReproduceArgs, control: &RunControl) -> anyhow::Result<runs::TrainSummary> {
    let started = std::time::Instant::now();
    let selected = figures::select(&args.only)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let ctx = figures::Context::new(args.scale, args.out.clone(), args.data_dir.clone(), args.seeds);
    let mut requests = Vec::new();
    for fig in &selected {
        requests.extend(fig.runs(&ctx).with_context(|| format!("the runs of {}", fig.id()))?);
    }
    if args.list_runs {
        let missing = ctx.store.missing(&requests)?;
        for request in &missing {
            println!("{}", ctx.store.command_line(&request.config)?);
        }
        eprintln!("{} of {} runs missing", missing.len(), ctx.store.distinct(&requests)?);
        return Ok(runs::TrainSummary::default());
    }
    let summary = ctx.store.train_missing(&requests, args.jobs, control)?;
    eprintln!("runs: {} trained, {} reused", summary.trained, summary.reused);
    let mut results = Vec::new();
    for fig in selected {
        eprintln!("== {} — {}", fig.id(), fig.title());
        let figure_started = std::time::Instant::now();
        let outcome = fig.run(&ctx);
        results.push(report::Entry::new(fig.as_ref(), &ctx, outcome, figure_started.elapsed()));
    }
    let path = report::write(&args.out, args.scale, &results)?;
    let failed = results.iter().filter(|r| r.failed()).count();
    println!(
        "report: {}  ({} figures, {failed} with failed checks or errors; {} runs trained, {} reused; {:.0} s)",
        path.display(),
        results.len(),
        summary.trained,
        summary.reused,
        started.elapsed().as_secs_f64()
    );
    Ok(summary)
}

/// The first Ctrl-C stops every training job at its next step with a checkpoint (rerun to
/// resume); a second one exits at once.
fn install_interrupt_handler(control: Arc<RunControl>) -> anyhow::Result<()> {
    ctrlc::set_handler(move || {
        if control.stop.swap(true, std::sync::atomic::Ordering::SeqCst) {
            eprintln!("\nsecond interrupt: exiting");
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: stopping the training runs at their next step (Ctrl-C again to quit now)");
    })
    .context("installing the Ctrl-C handler")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smoke_args(out: &std::path::Path, list_runs: bool) -> ReproduceArgs {
        ReproduceArgs {
            only: Vec::new(),
            scale: Scale::Smoke,
            out: out.to_path_buf(),
            data_dir: None,
            jobs: 2,
            list_runs,
            seeds: 1,
        }
    }

    #[test]
    fn the_shared_mnist_run_serves_every_figure_that_names_it() {
        let out = tempfile::tempdir().unwrap();
        let ctx = figures::Context::new(Scale::Cpu, out.path().to_path_buf(), None, 1);
        let shared = figures::shared_run(&ctx).unwrap().config.content_hash().unwrap();
        for fig in figures::all() {
            let hashes: Vec<String> =
                fig.runs(&ctx).unwrap().iter().map(|r| r.config.content_hash().unwrap()).collect();
            let expected = [
                "mnist-dynamics",
                "layerwise-lc",
                "depth-sweep",
                "train-size",
                "weight-decay",
                "batch-norm-mlp",
                "deformation",
            ];
            assert_eq!(hashes.contains(&shared), expected.contains(&fig.id()), "{}", fig.id());
        }
    }

    #[test]
    fn reports_show_run_folders_relative_to_the_output_folder() {
        let ctx = figures::Context::new(Scale::Smoke, "/tmp/out".into(), None, 1);
        assert_eq!(ctx.shown(std::path::Path::new("/tmp/out/runs/abc")), "runs/abc");
        assert_eq!(ctx.shown(std::path::Path::new("/elsewhere/runs/abc")), "/elsewhere/runs/abc");
    }

    /// The hashes of the runs figure `id` reads, in its order.
    fn run_hashes(ctx: &figures::Context, id: &str) -> Vec<String> {
        let fig = figures::select(&[id.to_string()]).unwrap().remove(0);
        fig.runs(ctx).unwrap().iter().map(|r| r.config.content_hash().unwrap()).collect()
    }

    #[test]
    fn lc_vs_exact_reads_the_depth_sweeps_depth_3_run() {
        let out = tempfile::tempdir().unwrap();
        let ctx = figures::Context::new(Scale::Cpu, out.path().to_path_buf(), None, 1);
        let (exact, sweep) = (run_hashes(&ctx, "lc-vs-exact"), run_hashes(&ctx, "depth-sweep"));
        assert_eq!(exact.len(), 1);
        assert_eq!(sweep.iter().position(|h| *h == exact[0]), Some(1), "depth 3 is the sweep's second setting");
    }

    #[test]
    fn the_grokking_geometry_figures_read_the_grokking_depth_sweeps_depth_4_run() {
        let out = tempfile::tempdir().unwrap();
        let ctx = figures::Context::new(Scale::Cpu, out.path().to_path_buf(), None, 2);
        let sweep = run_hashes(&ctx, "grokking-depth");
        for id in ["grokking-slices", "grokking-boundary-domains"] {
            let runs = run_hashes(&ctx, id);
            assert_eq!(runs.len(), 1, "{id}");
            // Settings depth 2, 4, 6 with seeds 0, 1 each: depth 4 seed 0 is the third run.
            assert_eq!(sweep.iter().position(|h| *h == runs[0]), Some(2), "{id}");
        }
    }

    /// The smoke scale end to end, as CI runs it: every figure is drawn without error, and a
    /// second reproduction with nothing changed trains nothing.
    #[test]
    fn smoke_reproduction_draws_every_figure_and_a_second_one_trains_nothing() {
        let out = tempfile::tempdir().unwrap();
        let control = RunControl::default();
        let first = reproduce(&smoke_args(out.path(), false), &control).unwrap();
        assert!(first.trained > 10, "{:?}", first);
        let report: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(out.path().join("report.json")).unwrap()).unwrap();
        assert_eq!(report.len(), figures::all().len());
        for entry in &report {
            assert!(entry["error"].is_null(), "{entry}");
        }
        assert!(out.path().join("mnist-dynamics/slices.png").is_file());
        assert!(out.path().join("depth-sweep/depth-sweep.csv").is_file());
        assert!(out.path().join("grokking-slices/layerwise.png").is_file());
        assert!(out.path().join("grokking-boundary-domains/domains.csv").is_file());
        let again = reproduce(&smoke_args(out.path(), false), &control).unwrap();
        assert_eq!(again, runs::TrainSummary { trained: 0, reused: first.trained });
    }
}
