//! `cargo xtask bench`: every row of the speed table measured in one run, tessera beside the same
//! workload in PyTorch on this machine (when `python3` can import torch, safetensors and numpy),
//! with the ratio and the row's target.
//!
//! Both sides read the same networks (tessera model directories), the same points and the same
//! frame (`.npy` files written here), and their per-point LC counts are compared, so a row's
//! ratio is between two computations of the same numbers.
//!
//! This VM's speed drifts by half from one minute to the next, for tessera and PyTorch alike, so
//! a row is measured in `--rounds` rounds that alternate the two sides (tessera, then PyTorch,
//! then tessera …), each measurement repeating its work for at least `--min-seconds`. A row's
//! ratio is the median of the rounds' ratios, each taken between measurements a few seconds
//! apart; the table also shows the smallest and largest round ratio.

use anyhow::{bail, Context as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use tessera_data::{DataDir, DatasetKind, Split};
use tessera_lc::{Directions, Frame, InMemoryPoints, LcError, LcOptions, LocalComplexity, PointSource, UniformBox};
use tessera_net::{mlp, Activation, Network, Scalar, Tensor};
use tessera_regions::{partition_slice, PartitionOptions, Slice};
use tessera_train::{Loss, Optimizer, OptimizerConfig, Points, RunConfig, RunControl, StepScratch};

use crate::runs::{RunRequest, RunStore};

mod limits;

/// The paper's MNIST MLP.
const WIDTHS: [usize; 5] = [784, 200, 200, 200, 10];
/// Directions per neighbourhood.
const P: usize = 25;
/// Batch of the training-step rows.
const STEP_BATCH: usize = 200;
/// Steps per timed repetition of a training-step row.
const STEPS_PER_REPETITION: usize = 200;

/// Arguments of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Work folder: the benchmark's training runs (trained once, then reused), networks, points
    /// and frame, and `bench.md`, the table this run printed.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Dataset directory (default: $TESSERA_DATA, ./data, ../shared/data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Points per LC row.
    #[arg(long, default_value_t = 1000)]
    points: usize,
    /// Rounds per row, each measuring tessera and then PyTorch; the median round is reported.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Least wall time of one measurement: its work is repeated until this much has passed.
    #[arg(long, default_value_t = 1.0)]
    min_seconds: f64,
    /// Leave out the rows of the step-100000 checkpoint (training it takes 10 to 20 minutes the
    /// first time).
    #[arg(long)]
    skip_long: bool,
    /// Use this model directory as the step-100000 network instead of training it (e.g. a
    /// figure run's `runs/HASH/checkpoints/step_100000`).
    #[arg(long, conflicts_with = "skip_long")]
    long_checkpoint: Option<PathBuf>,
    /// Measure tessera only.
    #[arg(long)]
    no_torch: bool,
    /// Measure only these kinds of rows (comma separated; default: all), e.g. to re-check one
    /// kind after a change. The table of record is a run of every row.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<RowKind>,
}

/// The kinds of rows of the table.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RowKind {
    /// LC rows, one radius and several radii in one pass.
    Lc,
    /// MLP training-step rows.
    Training,
    /// Exact-slice rows.
    Slices,
}

/// One line of the table.
struct Row {
    workload: String,
    unit: &'static str,
    rates: Rates,
    target: Target,
    note: String,
    /// The plain floating-point work of one unit, where the row has one (not the slices).
    work: Option<limits::Work>,
}

/// The rates of one row's rounds: tessera's and, when measured, PyTorch's of the same rounds.
struct Rates {
    tessera: Vec<f64>,
    torch: Option<Vec<f64>>,
}

impl Rates {
    /// Each round's tessera / PyTorch ratio, between two measurements taken one after the other.
    fn round_ratios(&self) -> Option<Vec<f64>> {
        self.torch.as_ref().map(|torch| self.tessera.iter().zip(torch).map(|(t, p)| t / p).collect())
    }
}

/// The middle value (the mean of the two middle values for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// What a row must reach.
#[derive(Clone, Copy)]
enum Target {
    /// At least this multiple of PyTorch's rate.
    Ratio(f64),
    /// At least this absolute rate (no PyTorch counterpart).
    Rate(f64),
}

impl Row {
    /// Ratio, round range, target and status columns: the status follows the median ratio.
    fn verdict(&self) -> String {
        match (self.target, self.rates.round_ratios()) {
            (Target::Ratio(t), Some(ratios)) => {
                let ratio = median(&ratios);
                let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
                let high = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let status = if ratio >= t { "met" } else { "SHORT" };
                format!("{ratio:.2}x | {low:.2}–{high:.2}x | >= {t}x | {status}")
            }
            (Target::Ratio(t), None) => format!("— | — | >= {t}x | not measured"),
            (Target::Rate(t), _) => {
                let rate = median(&self.rates.tessera);
                format!("— | — | >= {} | {}", group(t), if rate >= t { "met" } else { "SHORT" })
            }
        }
    }

    fn markdown(&self) -> String {
        let torch = self
            .rates
            .torch
            .as_ref()
            .map_or("—".to_string(), |rates| format!("{} {}", group(median(rates)), self.unit));
        format!(
            "| {} | {} {u} | {torch} | {} | {} |",
            self.workload,
            group(median(&self.rates.tessera)),
            self.verdict(),
            self.note,
            u = self.unit
        )
    }
}

/// `--rounds` rounds, each measuring tessera and then (when given) PyTorch, as rates.
fn alternate(
    rounds: usize,
    mut tessera: impl FnMut() -> anyhow::Result<f64>,
    mut torch: Option<&mut dyn FnMut() -> anyhow::Result<f64>>,
) -> anyhow::Result<Rates> {
    let mut rates = Rates { tessera: Vec::new(), torch: torch.as_ref().map(|_| Vec::new()) };
    for _ in 0..rounds.max(1) {
        rates.tessera.push(tessera()?);
        if let (Some(measure), Some(torch_rates)) = (torch.as_mut(), rates.torch.as_mut()) {
            torch_rates.push(measure()?);
        }
    }
    Ok(rates)
}

/// Rate of `work` in `units` per second, its passes repeated until `min_seconds` have passed.
fn timed_rate(units: f64, min_seconds: f64, mut work: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut passes = 0u32;
    loop {
        work()?;
        passes += 1;
        let seconds = started.elapsed().as_secs_f64();
        if seconds >= min_seconds {
            return Ok(units * f64::from(passes) / seconds);
        }
    }
}

/// `12345.6` as `12.3k`, the table's compact rate.
fn group(rate: f64) -> String {
    if rate >= 1e3 {
        format!("{:.1}k", rate / 1e3)
    } else {
        format!("{rate:.0}")
    }
}

/// A network of the table, stored as a tessera model directory both sides read.
struct Model {
    label: &'static str,
    dir: PathBuf,
    net: Network<f64>,
}

/// Points and frame files shared by both sides.
struct PointSet {
    label: &'static str,
    coords: Vec<f64>,
    npy: PathBuf,
}

/// Run every row and print the table (also written to `OUT/bench.md`).
pub fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let torch = if args.no_torch { None } else { Torch::find() };
    let load_before = load_average();
    let frame = Frame::random(WIDTHS[0], P, 0)?;
    let frame_npy = args.out.join("frame.npy");
    tessera_data::npy::write_rows(&frame_npy, frame.directions(), P, WIDTHS[0])?;
    let uniform = uniform_points(&args.out, args.points)?;
    let test = mnist_test_points(&args.out, args.data_dir.as_deref(), args.points)?;
    let random_init = random_init_model(&args.out)?;
    let mut trained = vec![trained_model(args, 3000, "trained, step 3000")?];
    if let Some(dir) = &args.long_checkpoint {
        let net = Network::load(dir).with_context(|| format!("loading --long-checkpoint {}", dir.display()))?;
        trained.push(Model { label: "trained, step 1e5", dir: dir.clone(), net });
    } else if !args.skip_long {
        trained.push(trained_model(args, 100_000, "trained, step 1e5")?);
    }
    let timing = Timing { rounds: args.rounds, min_seconds: args.min_seconds };
    let lc = LcBench { frame: &frame, frame_npy: &frame_npy, torch: torch.as_ref(), timing };

    let wanted = |kind: RowKind| args.only.is_empty() || args.only.contains(&kind);
    let mut rows = Vec::new();
    if wanted(RowKind::Lc) {
        for dtype in [Dtype::F64, Dtype::F32] {
            for radius in [0.005, 0.05] {
                rows.push(lc.row(dtype, &random_init, &uniform, &[radius], Target::Ratio(4.0))?);
            }
        }
        for model in &trained {
            for dtype in [Dtype::F64, Dtype::F32] {
                for (radius, target) in [(0.005, 4.0), (0.05, 4.0), (0.5, 3.0)] {
                    rows.push(lc.row(dtype, model, &test, &[radius], Target::Ratio(target))?);
                }
            }
        }
        for dtype in [Dtype::F64, Dtype::F32] {
            rows.push(lc.row(dtype, &trained[0], &test, &[0.005, 0.05, 0.5], Target::Ratio(4.0))?);
        }
    }
    if wanted(RowKind::Training) {
        for dtype in [Dtype::F64, Dtype::F32] {
            rows.push(training_step_row(dtype, torch.as_ref(), timing)?);
        }
    }
    if wanted(RowKind::Slices) {
        let anchors = mnist_train_anchors(args.data_dir.as_deref())?;
        for model in &trained {
            rows.push(slice_row(model, &anchors, timing)?);
        }
    }

    let mut table = render(&rows, torch.as_ref(), timing, load_before, load_average());
    if rows.iter().any(|row| row.work.is_some()) {
        table.push_str(&limits::render(&rows, limits::gemm_rates(timing)));
    }
    println!("{table}");
    let path = args.out.join("bench.md");
    std::fs::write(&path, &table).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("written to {}", path.display());
    Ok(())
}

fn render(rows: &[Row], torch: Option<&Torch>, timing: Timing, load_before: String, load_after: String) -> String {
    let mut out = String::from(
        "| workload | tessera | PyTorch | ratio | rounds' ratios | target | status | counts |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for row in rows {
        out.push_str(&row.markdown());
        out.push('\n');
    }
    out.push_str(&format!(
        "\nrates: medians of {} alternating rounds, each measurement at least {} s; ratio: median of the \
         rounds' ratios\nmachine: {}\nthreads: {} (rayon); PyTorch: {}; load average before: {load_before}, after: {load_after}\n",
        timing.rounds.max(1),
        timing.min_seconds,
        machine(),
        rayon::current_num_threads(),
        torch.map_or("not measured".to_string(), |t| t.version.clone()),
    ));
    out
}

/// The floating-point type of a row.
#[derive(Clone, Copy)]
enum Dtype {
    F32,
    F64,
}

impl Dtype {
    fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F64 => "f64",
        }
    }

    fn torch(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
        }
    }
}

/// How every row is measured.
#[derive(Clone, Copy)]
struct Timing {
    rounds: usize,
    min_seconds: f64,
}

/// LC rows: one network, one point set, one or several radii.
struct LcBench<'a> {
    frame: &'a Frame,
    frame_npy: &'a Path,
    torch: Option<&'a Torch>,
    timing: Timing,
}

impl LcBench<'_> {
    fn row(
        &self,
        dtype: Dtype,
        model: &Model,
        points: &PointSet,
        radii: &[f64],
        target: Target,
    ) -> anyhow::Result<Row> {
        match dtype {
            Dtype::F64 => self.row_as::<f64>(dtype, model, points, radii, target),
            Dtype::F32 => self.row_as::<f32>(dtype, model, points, radii, target),
        }
    }

    fn row_as<T: Scalar>(
        &self,
        dtype: Dtype,
        model: &Model,
        points: &PointSet,
        radii: &[f64],
        target: Target,
    ) -> anyhow::Result<Row> {
        let net = model.net.cast::<T>();
        let options = LcOptions::new(Directions::Shared(self.frame.clone()), radii.to_vec());
        let lc = LocalComplexity::new(&net, options)?;
        let n = points.coords.len() / WIDTHS[0];
        // Also the warm-up of the rounds below.
        let totals = lc_totals(&lc, points, radii.len())?;
        let ours = || timed_rate(n as f64, self.timing.min_seconds, || lc_totals(&lc, points, radii.len()).map(drop));
        let mut torch_totals = Vec::new();
        let rates = match self.torch {
            Some(torch) => {
                let mut theirs = || -> anyhow::Result<f64> {
                    let mut seconds = 0.0;
                    torch_totals.clear();
                    for &radius in radii {
                        let counts = torch.lc(dtype, model, points, self.frame_npy, radius, self.timing.min_seconds)?;
                        seconds += counts.seconds;
                        torch_totals.push(counts.totals);
                    }
                    Ok(n as f64 / seconds)
                };
                alternate(self.timing.rounds, ours, Some(&mut theirs))?
            }
            None => alternate(self.timing.rounds, ours, None)?,
        };
        let differing: usize = torch_totals
            .iter()
            .zip(&totals)
            .map(|(theirs, ours)| theirs.iter().zip(ours).filter(|(a, b)| a != b).count())
            .sum();
        let note = match (self.torch, differing) {
            (None, _) => String::new(),
            (Some(_), 0) => "identical".to_string(),
            (Some(_), _) => format!("{differing} of {} points differ", n * radii.len()),
        };
        let radii_text = radii.iter().map(f64::to_string).collect::<Vec<_>>().join(", ");
        let pass = if radii.len() > 1 { " (one pass; PyTorch: one pass per radius)" } else { "" };
        let workload = format!("LC {}, {}, {}, r = {radii_text}{pass}", dtype.name(), model.label, points.label);
        eprintln!("{workload}: {:.0} points/s (median)", median(&rates.tessera));
        let work = Some(limits::lc_work(dtype, radii.len()));
        Ok(Row { workload, unit: "points/s", rates, target, note, work })
    }
}

/// Each radius' per-point LC totals, from one pass over the points.
fn lc_totals<T: Scalar>(lc: &LocalComplexity<T>, points: &PointSet, radii: usize) -> anyhow::Result<Vec<Vec<u32>>> {
    let n = points.coords.len() / WIDTHS[0];
    let mut totals = vec![vec![0; n]; radii];
    let mut source = InMemoryPoints::new(points.label, WIDTHS[0], points.coords.clone())?;
    lc.run(&mut source, |batch| {
        for counts in batch {
            totals[counts.radius_index][counts.index] = counts.total();
        }
        Ok::<_, LcError>(())
    })?;
    Ok(totals)
}

fn training_step_row(dtype: Dtype, torch: Option<&Torch>, timing: Timing) -> anyhow::Result<Row> {
    let rates = match dtype {
        Dtype::F64 => training_step_rates::<f64>(dtype, torch, timing)?,
        Dtype::F32 => training_step_rates::<f32>(dtype, torch, timing)?,
    };
    // f64 must keep its lead; f32 must get one.
    let target = Target::Ratio(if matches!(dtype, Dtype::F32) { 1.2 } else { 1.0 });
    let workload = format!("training step {} (MSE + AdamW, batch {STEP_BATCH})", dtype.name());
    eprintln!("{workload}: {:.0} steps/s (median)", median(&rates.tessera));
    let work = Some(limits::training_work(dtype));
    Ok(Row { workload, unit: "steps/s", rates, target, note: String::new(), work })
}

/// Training steps on a fixed batch as the training loop runs them (batch and gradient buffers
/// reused), `STEPS_PER_REPETITION` at a time, in rounds alternating with PyTorch's.
fn training_step_rates<T: Scalar>(dtype: Dtype, torch: Option<&Torch>, timing: Timing) -> anyhow::Result<Rates> {
    let mut net = mlp::<T>(&WIDTHS, Activation::Relu)?;
    net.init_pytorch_default(0, 1.0);
    let lens: Vec<usize> = net.trainable().iter().map(|t| t.len()).collect();
    let mut optimizer = Optimizer::new(OptimizerConfig::default(), &lens)?;
    let box_points = UniformBox::cube("batch", WIDTHS[0], 0.0, 1.0, STEP_BATCH, 0)?.next_batch(STEP_BATCH)?;
    let inputs = Tensor::from_vec(&[WIDTHS[0]], box_points.coords.iter().map(|&v| T::from_f64(v)).collect())?;
    let labels = (0..STEP_BATCH).map(|i| (i % 10) as u8).collect();
    let mut scratch = StepScratch::with_batch(Points::new(inputs, labels));
    let mut steps = || -> anyhow::Result<()> {
        for _ in 0..STEPS_PER_REPETITION {
            scratch.step(&mut net, &mut optimizer, Loss::Mse)?;
        }
        Ok(())
    };
    // Warms the caches and the allocator up.
    steps()?;
    let ours = || timed_rate(STEPS_PER_REPETITION as f64, timing.min_seconds, &mut steps);
    match torch {
        Some(torch) => alternate(timing.rounds, ours, Some(&mut || torch.training_steps(dtype, timing.min_seconds))),
        None => alternate(timing.rounds, ours, None),
    }
}

fn slice_row(model: &Model, anchors: &[Vec<f64>; 3], timing: Timing) -> anyhow::Result<Row> {
    let slice = Slice::through_points(&anchors[0], &anchors[1], &anchors[2], 1.2)?;
    let options = PartitionOptions::default();
    let started = Instant::now();
    let regions = partition_slice(&model.net, &slice, &options)?.num_regions();
    let first_seconds = started.elapsed().as_secs_f64();
    let rates = alternate(
        timing.rounds,
        || {
            timed_rate(regions as f64, timing.min_seconds, || {
                Ok(partition_slice(&model.net, &slice, &options).map(drop)?)
            })
        },
        None,
    )?;
    let workload = format!("exact slice through MNIST train 0, 1, 2, {} ({regions} regions)", model.label);
    let seconds = regions as f64 / median(&rates.tessera);
    eprintln!("{workload}: {seconds:.3} s (median)");
    Ok(Row {
        workload,
        unit: "regions/s",
        rates,
        target: Target::Rate(500_000.0),
        note: format!("{seconds:.3} s per slice (first {first_seconds:.3} s)"),
        work: None,
    })
}

fn random_init_model(out: &Path) -> anyhow::Result<Model> {
    let mut net = mlp::<f64>(&WIDTHS, Activation::Relu)?;
    net.init_pytorch_default(0, 1.0);
    let dir = out.join("random_init");
    net.save(&dir)?;
    Ok(Model { label: "random init", dir, net })
}

/// The checkpoint of step `steps` of the paper's MNIST run (LC off), trained once into
/// `OUT/runs` by the figures' run engine and reused afterwards.
fn trained_model(args: &BenchArgs, steps: u64, label: &'static str) -> anyhow::Result<Model> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut overrides = vec![format!("train.steps={steps}"), "lc.enabled=false".into()];
    if let Some(dir) = &args.data_dir {
        overrides.push(format!("data.dir={}", toml::Value::String(dir.display().to_string())));
    }
    let config = RunConfig::load(&workspace.join("configs/mnist_mlp_init1.toml"), &overrides)?;
    let store = RunStore::new(&args.out);
    let request = RunRequest { label: format!("bench MNIST MLP, {steps} steps"), config: config.clone() };
    store.train_missing(&[request], 1, &RunControl::default())?;
    let dir = store.dir(&config)?.join("checkpoints").join(format!("step_{steps}"));
    let net = Network::load(&dir).with_context(|| format!("loading the benchmark checkpoint {}", dir.display()))?;
    Ok(Model { label, dir, net })
}

fn uniform_points(out: &Path, n: usize) -> anyhow::Result<PointSet> {
    let coords = UniformBox::cube("uniform", WIDTHS[0], 0.0, 1.0, n, 0)?.next_batch(n)?.coords;
    save_points(out, "uniform points", "uniform", coords)
}

fn mnist_test_points(out: &Path, data_dir: Option<&Path>, n: usize) -> anyhow::Result<PointSet> {
    let test = DataDir::resolve(data_dir).load(DatasetKind::Mnist, Split::Test)?;
    if test.len() < n {
        bail!("the MNIST test split has {} samples, fewer than --points {n}", test.len());
    }
    let coords = (0..n).flat_map(|i| test.sample(i).iter().map(|&v| f64::from(v))).collect();
    save_points(out, "MNIST test points", "mnist_test", coords)
}

fn save_points(out: &Path, label: &'static str, stem: &str, coords: Vec<f64>) -> anyhow::Result<PointSet> {
    let npy = out.join(format!("{stem}.npy"));
    tessera_data::npy::write_rows(&npy, &coords, coords.len() / WIDTHS[0], WIDTHS[0])?;
    Ok(PointSet { label, coords, npy })
}

fn mnist_train_anchors(data_dir: Option<&Path>) -> anyhow::Result<[Vec<f64>; 3]> {
    let train = DataDir::resolve(data_dir).load(DatasetKind::Mnist, Split::Train)?;
    Ok(std::array::from_fn(|i| train.sample(i).iter().map(|&v| f64::from(v)).collect()))
}

/// The CPU's model name and widest vector extension: ratios move with both (matrixmultiply
/// picks its kernel by what the CPU offers).
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.trim() == name).map(|(_, v)| v.trim()))
    };
    let flags: Vec<&str> = field("flags").map(|f| f.split_whitespace().collect()).unwrap_or_default();
    let vector = ["avx512f", "avx2", "sse4_2"].into_iter().find(|f| flags.contains(f)).unwrap_or("unknown");
    format!("{} ({vector})", field("model name").unwrap_or("unknown CPU"))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The PyTorch side: the reference scripts under `bench/`, run by `python3`.
struct Torch {
    version: String,
    scripts: PathBuf,
}

/// A PyTorch LC measurement: seconds per pass and per-point totals.
struct TorchCounts {
    seconds: f64,
    totals: Vec<u32>,
}

impl Torch {
    /// `None` (with a message saying why) when python3 cannot import what the scripts need.
    fn find() -> Option<Torch> {
        let probe =
            Command::new("python3").args(["-c", "import torch, safetensors, numpy; print(torch.__version__)"]).output();
        match probe {
            Ok(output) if output.status.success() => Some(Torch {
                version: format!("torch {}", String::from_utf8_lossy(&output.stdout).trim()),
                scripts: Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench"),
            }),
            _ => {
                eprintln!(
                    "PyTorch rows not measured: python3 cannot import torch, safetensors and numpy \
                     (pip install torch safetensors numpy)"
                );
                None
            }
        }
    }

    fn lc(
        &self,
        dtype: Dtype,
        model: &Model,
        points: &PointSet,
        frame: &Path,
        radius: f64,
        min_seconds: f64,
    ) -> anyhow::Result<TorchCounts> {
        let counts_csv = points.npy.with_extension(format!("torch-{}.csv", dtype.name()));
        let line = self.script(
            "lc_reference.py",
            &[
                "--model".into(),
                model.dir.display().to_string(),
                "--points-npy".into(),
                points.npy.display().to_string(),
                "--frame".into(),
                frame.display().to_string(),
                "--radius".into(),
                radius.to_string(),
                "--dtype".into(),
                dtype.torch().into(),
                "--repeat".into(),
                "1".into(),
                "--min-seconds".into(),
                min_seconds.to_string(),
                "--save-counts".into(),
                counts_csv.display().to_string(),
            ],
        )?;
        let seconds = number_after(&line, "best ")?;
        let text = std::fs::read_to_string(&counts_csv).with_context(|| format!("reading {}", counts_csv.display()))?;
        let totals = text
            .lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap_or("").parse::<u32>())
            .collect::<Result<_, _>>()
            .with_context(|| format!("parsing {}", counts_csv.display()))?;
        Ok(TorchCounts { seconds, totals })
    }

    /// Steps per second of one measurement (after the script's warm-up).
    fn training_steps(&self, dtype: Dtype, min_seconds: f64) -> anyhow::Result<f64> {
        let line = self.script(
            "train_reference.py",
            &[
                "--dtype".into(),
                dtype.torch().into(),
                "--steps".into(),
                STEPS_PER_REPETITION.to_string(),
                "--repeat".into(),
                "1".into(),
                "--min-seconds".into(),
                min_seconds.to_string(),
                "--batch".into(),
                STEP_BATCH.to_string(),
            ],
        )?;
        Ok(STEPS_PER_REPETITION as f64 / number_after(&line, "best ")?)
    }

    /// Run a reference script with 2 threads (the machine's cores) and return its last line.
    fn script(&self, name: &str, args: &[String]) -> anyhow::Result<String> {
        let threads = rayon::current_num_threads().to_string();
        let output = Command::new("python3")
            .arg(self.scripts.join(name))
            .args(args)
            .args(["--threads", &threads])
            .output()
            .with_context(|| format!("running python3 bench/{name}"))?;
        if !output.status.success() {
            bail!("bench/{name} failed: {}", String::from_utf8_lossy(&output.stderr).trim());
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        Ok(stdout.lines().last().unwrap_or_default().to_string())
    }
}

/// The number right after `marker` in `line` (e.g. `best 0.412 s`).
fn number_after(line: &str, marker: &str) -> anyhow::Result<f64> {
    line.split_once(marker)
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no number after '{marker}' in the reference's output: {line}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_after_reads_the_reference_scripts_timing() {
        let line = "torch 2.13.0 float64 threads=2 P=25 r=0.05 points=1000 batch=100: best 0.412 s, 2427 points/s";
        assert_eq!(number_after(line, "best ").unwrap(), 0.412);
        let err = number_after("Traceback", "best ").unwrap_err().to_string();
        assert!(err.contains("no number after 'best '"), "{err}");
    }

    #[test]
    fn a_row_below_its_ratio_target_is_reported_short() {
        let row = |tessera| Row {
            workload: "w".into(),
            unit: "points/s",
            rates: Rates { tessera: vec![tessera], torch: Some(vec![1000.0]) },
            target: Target::Ratio(4.0),
            note: String::new(),
            work: None,
        };
        assert!(row(3999.0).verdict().ends_with("SHORT"), "{}", row(3999.0).verdict());
        assert!(row(4000.0).verdict().ends_with("met"));
        let absolute =
            Row { rates: Rates { tessera: vec![400_000.0], torch: None }, target: Target::Rate(500_000.0), ..row(0.0) };
        assert!(absolute.verdict().ends_with("SHORT"));
    }

    #[test]
    fn a_row_is_judged_by_its_median_round_ratio_not_its_best_rates() {
        // Best rates alone would read 6000 / 1000 = 6x; the rounds' ratios are 1.5x, 2x, 6x.
        let rates = Rates { tessera: vec![6000.0, 3000.0, 3000.0], torch: Some(vec![1000.0, 1500.0, 2000.0]) };
        let target = Target::Ratio(4.0);
        let row = Row { workload: "w".into(), unit: "points/s", rates, target, note: String::new(), work: None };
        assert_eq!(row.verdict(), "2.00x | 1.50–6.00x | >= 4x | SHORT");
    }

    #[test]
    fn alternate_measures_the_two_sides_in_turn() {
        let order = std::cell::RefCell::new(String::new());
        let rates = alternate(
            3,
            || {
                order.borrow_mut().push('t');
                Ok(2.0)
            },
            Some(&mut || {
                order.borrow_mut().push('p');
                Ok(1.0)
            }),
        )
        .unwrap();
        assert_eq!(order.into_inner(), "tptptp");
        assert_eq!(rates.round_ratios().unwrap(), vec![2.0; 3]);
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
