//! `tessera lc`: local complexity of a model around dataset, random or `.npy` points; one CSV
//! row per (point, radius) with per-layer counts, and a JSON summary (mean, std, 99% CI) next to
//! it. Progress (points done, rate, time left) goes to stderr; Ctrl-C stops after the current
//! batch, keeping the rows written so far. With `--checkpoints`, the same measurement at every
//! checkpoint of a training run, written as a run's metrics (`over_checkpoints`).

mod over_checkpoints;

use anyhow::{bail, Context};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use tessera_data::{DataDir, DatasetSpec};
use tessera_lc::{
    Directions, Frame, InMemoryPoints, LcOptions, LocalComplexity, Method, PointCounts, PointSource, SetSummary,
    UniformBox, ZeroSign,
};
use tessera_net::{Network, Scalar};
use tessera_progress::{Reporter, Status};
use tessera_train::config::{CountedLayers, LayerGroup};
use tessera_train::lc_eval::layer_selection;

/// Arguments of `tessera lc`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("network").required(true).args(["model", "checkpoints"])))]
pub struct Args {
    /// Model directory (architecture.json + weights.safetensors) or `.onnx` file.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Instead of --model, a folder of checkpoints of one training run: model directories or
    /// .onnx files named by step (step_N/, step_N.onnx, N.onnx; a `tessera train` run directory
    /// stands for its checkpoints/). Every checkpoint is measured on the same points, frame and
    /// radii, and --out is a folder that receives a run's LC metrics (metrics.csv and
    /// metrics.jsonl: per step lc_SET_rR_mean, _std, _ci99 and lc_SET_rR_layer_k_mean, SET being
    /// train or test for --points, random, or the .npy file's name) and its LC curves (lc.png,
    /// lc.svg). Run again into the same folder, it measures only the steps not in it yet.
    #[arg(long)]
    checkpoints: Option<PathBuf>,
    #[command(flatten)]
    points: Box<PointArgs>,
    #[command(flatten)]
    frame: Box<FrameArgs>,
    /// Radii of the cross-polytopes, comma separated; all are measured in one pass.
    #[arg(long, value_delimiter = ',', default_value = "0.005")]
    radius: Vec<f64>,
    /// Count as the official code does for MLPs: every layer plus the output (logit) layer.
    #[arg(long)]
    reference_compatible: bool,
    /// Count an exact zero pre-activation as positive (default: zero is its own sign).
    #[arg(long)]
    zero_positive: bool,
    /// Which activation layers to count: "all", "conv" (those fed by feature maps: a CNN's
    /// conv layers, a ResNet's block ReLUs), "auto" (as a training run counts: "conv" when the
    /// network has feature maps, else "all"), or layer numbers from 1, comma separated.
    /// Default: "all" with --model, "auto" with --checkpoints.
    #[arg(long, value_name = "auto|all|conv|K,K,...", value_parser = parse_layers)]
    layers: Option<CountedLayers>,
    /// How vertices are evaluated (all give the same counts).
    #[arg(long, value_enum, default_value_t = MethodArg::Linearized)]
    method: MethodArg,
    /// Floating-point precision of the forward passes.
    #[arg(long, value_enum, default_value_t = Precision::F64)]
    precision: Precision,
    /// Points per batch (default: chosen from the network's size).
    #[arg(long)]
    batch: Option<usize>,
    /// Output CSV; the summary goes to the same name with extension .summary.json. With
    /// --checkpoints, the folder of the metrics and pictures.
    #[arg(long)]
    out: PathBuf,
}

/// Where the points come from.
#[derive(clap::Args)]
struct PointArgs {
    /// Dataset points DATASET:SPLIT[:N[:seed=S]]: the first N (all if omitted) or, with a seed,
    /// N drawn without replacement. E.g. mnist:test:1000, mnist:train:1000:seed=3. Repeatable.
    #[arg(long = "points", value_name = "DATASET:SPLIT[:N[:seed=S]]")]
    datasets: Vec<DatasetSpec>,
    /// Points from a .npy file of shape (N, d) or (N, C, H, W), float32 or float64. Repeatable.
    #[arg(long = "points-npy")]
    npy: Vec<PathBuf>,
    /// N random points uniform in the data box (see --box), seeded by --seed.
    #[arg(long)]
    random: Option<usize>,
    /// Box of the random points: LO,HI in every coordinate, e.g. --box 0,1 or --box=-1,1
    /// (default: the domain of the first --points dataset, else [0, 1]).
    #[arg(long = "box", value_name = "LO,HI", value_parser = parse_box, allow_hyphen_values = true)]
    random_box: Option<(f64, f64)>,
    /// Data root (default: $TESSERA_DATA, ./data, ../shared/data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// The directions spanning each neighbourhood.
#[derive(clap::Args)]
struct FrameArgs {
    /// Number of directions P (the neighbourhood has 2P vertices).
    #[arg(long, default_value_t = 25)]
    p: usize,
    /// Seed of the frame and of random points.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Frame from a .npy file of shape (P, d) instead of a seeded one (overrides --p).
    #[arg(long = "frame")]
    file: Option<PathBuf>,
    /// Save the frame used to this .npy file (shape (P, d), float64).
    #[arg(long)]
    save_frame: Option<PathBuf>,
    /// Give each point its own random frame (seeded by --seed and the point's index).
    #[arg(long)]
    per_point_frames: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum MethodArg {
    Plain,
    AffineShortcut,
    Linearized,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Precision {
    F32,
    F64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Some(model) = &args.model else {
        let dir = args.checkpoints.as_deref().context("give --model or --checkpoints")?;
        return over_checkpoints::run(dir, &args);
    };
    crate::output_paths::check_output_file(&args.out)?;
    let net = crate::model::load_model(model)?;
    let mut sets = point_sets(&args.points, args.frame.seed, net.input_width(), SetNames::Dataset)?;
    let options = lc_options(&args, &net)?;
    match args.precision {
        Precision::F64 => measure(&net, options, &mut sets, model, &args),
        Precision::F32 => measure(&net.cast::<f32>(), options, &mut sets, model, &args),
    }
}

/// Run every set, writing CSV rows as batches finish, then the JSON summary.
fn measure<T: Scalar>(
    net: &Network<T>,
    options: LcOptions,
    sets: &mut [Box<dyn PointSource>],
    model: &Path,
    args: &Args,
) -> anyhow::Result<()> {
    let lc = LocalComplexity::new(net, options)?;
    let file = File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut csv = BufWriter::new(file);
    let columns: Vec<&str> = lc.layers().iter().map(|l| l.column.as_str()).collect();
    writeln!(csv, "index,set,radius,{},total", columns.join(","))?;
    crate::interrupt::listen();
    // On an error the CSV is flushed when it is dropped, keeping the rows written so far.
    let summaries = run_sets(
        &lc,
        sets,
        "lc",
        |set, batch| Ok(write_rows(&mut csv, set, batch)?),
        |done| format!("interrupted (Ctrl-C) after {done} points; their rows are in {}", args.out.display()),
    )?;
    csv.flush().with_context(|| format!("writing {}", args.out.display()))?;
    let summary_path = summary_path(&args.out);
    write_summary(&summary_path, &lc, &summaries, model, args)?;
    print_summary(&summaries);
    println!("rows: {}\nsummary: {}", args.out.display(), summary_path.display());
    Ok(())
}

/// Every set through `lc`, in order, with progress on stderr under `label`: `on_batch` gets the
/// rows of each finished batch with its set's name, and a Ctrl-C (since
/// `crate::interrupt::listen`) stops after that batch with the error `stopped(points done)`.
fn run_sets<T: Scalar>(
    lc: &LocalComplexity<T>,
    sets: &mut [Box<dyn PointSource>],
    label: &str,
    mut on_batch: impl FnMut(&str, &[PointCounts]) -> anyhow::Result<()>,
    stopped: impl Fn(u64) -> String,
) -> anyhow::Result<Vec<SetSummary>> {
    let mut progress = Reporter::new(label, Some(sets.iter().map(|s| s.len() as u64).sum()));
    let radii = lc.options().radii.len().max(1);
    let mut done = 0;
    let mut summaries = Vec::new();
    for source in sets.iter_mut() {
        let name = source.name().to_string();
        let summary = lc.run(source.as_mut(), |batch: &[PointCounts]| -> anyhow::Result<()> {
            on_batch(&name, batch)?;
            done += (batch.len() / radii) as u64;
            if crate::interrupt::requested() {
                bail!("{}", stopped(done));
            }
            if progress.due() {
                let message = format!("points ({name}, {:.1} points/s)", progress.rate(done));
                progress.show(&Status { position: done, message, eta: None });
            }
            Ok(())
        })?;
        summaries.push(summary);
    }
    progress.finish();
    Ok(summaries)
}

fn write_rows(csv: &mut impl Write, set: &str, batch: &[PointCounts]) -> std::io::Result<()> {
    for c in batch {
        let layers: Vec<String> = c.per_layer.iter().map(u32::to_string).collect();
        writeln!(csv, "{},{},{},{},{}", c.index, set, c.radius, layers.join(","), c.total())?;
    }
    Ok(())
}

/// `FILE.csv` -> `FILE.summary.json`.
fn summary_path(out: &Path) -> PathBuf {
    out.with_extension("summary.json")
}

fn write_summary<T: Scalar>(
    path: &Path,
    lc: &LocalComplexity<T>,
    sets: &[SetSummary],
    model: &Path,
    args: &Args,
) -> anyhow::Result<()> {
    let layers: Vec<_> = lc
        .layers()
        .iter()
        .map(
            |l| serde_json::json!({ "column": l.column, "node": l.node_name, "units": l.width, "output": l.is_output }),
        )
        .collect();
    let json = serde_json::json!({
        "model": model,
        "precision": format!("{:?}", args.precision).to_lowercase(),
        "method": format!("{:?}", lc.options().method),
        "p": lc.p(),
        "seed": args.frame.seed,
        "frame": args.frame.file,
        "per_point_frames": args.frame.per_point_frames,
        "reference_compatible": args.reference_compatible,
        "zero_sign": lc.options().zero,
        "radii": lc.options().radii,
        "layers": layers,
        "sets": sets,
    });
    let text = serde_json::to_string_pretty(&json)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

fn print_summary(sets: &[SetSummary]) {
    println!("{:>16} {:>10} {:>8} {:>12} {:>10} {:>10}", "set", "radius", "points", "mean LC", "std", "99% CI");
    for s in sets {
        for r in &s.radii {
            let t = r.total;
            println!(
                "{:>16} {:>10} {:>8} {:>12.4} {:>10.4} {:>10.4}",
                s.set, r.radius, s.points, t.mean, t.std, t.ci99
            );
        }
    }
}

/// `--layers`: a named group or layer numbers from 1.
fn parse_layers(text: &str) -> Result<CountedLayers, String> {
    let group = match text {
        "auto" => Some(LayerGroup::Auto),
        "all" => Some(LayerGroup::All),
        "conv" => Some(LayerGroup::Conv),
        _ => None,
    };
    if let Some(group) = group {
        return Ok(CountedLayers::Named(group));
    }
    let numbers = text.split(',').map(|k| match k.trim().parse::<usize>() {
        Ok(0) | Err(_) => Err(format!("'{k}' is not a layer number from 1 (or give auto, all or conv)")),
        Ok(number) => Ok(number),
    });
    numbers.collect::<Result<Vec<_>, _>>().map(CountedLayers::Numbers)
}

/// The layers counted: `--layers`, else every layer for one model and, for a checkpoint folder,
/// those a training run counts.
fn counted_layers(args: &Args) -> CountedLayers {
    let default = if args.checkpoints.is_some() { LayerGroup::Auto } else { LayerGroup::All };
    args.layers.clone().unwrap_or(CountedLayers::Named(default))
}

fn lc_options<T: Scalar>(args: &Args, net: &Network<T>) -> anyhow::Result<LcOptions> {
    let input_width = net.input_width();
    let frame_args = &args.frame;
    let directions = match (&frame_args.file, frame_args.per_point_frames) {
        (Some(_), true) => bail!("--frame and --per-point-frames exclude each other"),
        (Some(path), false) => Directions::Shared(crate::point_files::load_frame(path, input_width)?),
        (None, true) => Directions::PerPoint { p: frame_args.p, seed: frame_args.seed },
        (None, false) => Directions::Shared(Frame::random(input_width, frame_args.p, frame_args.seed)?),
    };
    if let (Some(path), Directions::Shared(frame)) = (&frame_args.save_frame, &directions) {
        crate::point_files::save_frame(path, frame)?;
    }
    let mut options = LcOptions::new(directions, args.radius.clone());
    if args.reference_compatible {
        options = options.reference_compatible();
    }
    options.layers = layer_selection(&counted_layers(args), net);
    if args.zero_positive {
        options.zero = ZeroSign::Positive;
    }
    options.method = match args.method {
        MethodArg::Plain => Method::Plain,
        MethodArg::AffineShortcut => Method::AffineShortcut,
        MethodArg::Linearized => Method::Linearized,
    };
    options.batch_points = args.batch;
    Ok(options)
}

/// How point sets are named: after the dataset and split (`mnist-test`) in `tessera lc`'s rows,
/// after the split alone (`test`), as a training run names them, in a checkpoint folder's
/// metrics. `.npy` sets are named after the file, random points `random`, either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetNames {
    Dataset,
    Split,
}

/// The point sets named on the command line, in order: datasets, .npy files, random points.
fn point_sets(
    args: &PointArgs,
    seed: u64,
    input_width: usize,
    names: SetNames,
) -> anyhow::Result<Vec<Box<dyn PointSource>>> {
    let data_dir = DataDir::resolve(args.data_dir.as_deref());
    let mut sets: Vec<Box<dyn PointSource>> = Vec::new();
    let mut first_domain = None;
    for spec in &args.datasets {
        let selection = spec.load(&data_dir).with_context(|| format!("--points {spec}"))?;
        let dataset = &selection.dataset;
        first_domain.get_or_insert_with(|| (to_f64(dataset.domain().lower()), to_f64(dataset.domain().upper())));
        let name = match names {
            SetNames::Dataset => spec.set_name(),
            SetNames::Split => spec.split.to_string(),
        };
        let points = InMemoryPoints::new(name, dataset.dim(), dataset.to_f64())?;
        sets.push(Box::new(points.with_indices(selection.indices)?));
    }
    for path in &args.npy {
        sets.push(Box::new(crate::point_files::NpyPoints::open(path, input_width).context("--points-npy")?));
    }
    if let Some(n) = args.random {
        let (lower, upper) = match (args.random_box, first_domain) {
            (Some((lo, hi)), _) => (vec![lo; input_width], vec![hi; input_width]),
            (None, Some(domain)) => domain,
            (None, None) => (vec![0.0; input_width], vec![1.0; input_width]),
        };
        sets.push(Box::new(UniformBox::new("random", lower, upper, n, seed)?));
    }
    if sets.is_empty() {
        bail!("no points: give --points DATASET:SPLIT[:N], --points-npy FILE or --random N");
    }
    Ok(sets)
}

fn to_f64(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&x| f64::from(x)).collect()
}

/// `LO,HI` of `--box`: two finite numbers with LO < HI.
fn parse_box(text: &str) -> Result<(f64, f64), String> {
    let usage = || format!("'{text}': expected LO,HI, two numbers with LO < HI, e.g. 0,1");
    let (lo, hi) = text.split_once(',').ok_or_else(usage)?;
    let (lo, hi): (f64, f64) = (lo.trim().parse().map_err(|_| usage())?, hi.trim().parse().map_err(|_| usage())?);
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(usage());
    }
    Ok((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_sits_next_to_the_csv() {
        assert_eq!(summary_path(Path::new("out/lc.csv")), Path::new("out/lc.summary.json"));
    }

    #[test]
    fn csv_rows_hold_index_set_radius_layers_and_total() {
        let mut out = Vec::new();
        let counts = [PointCounts { index: 7, radius_index: 0, radius: 0.05, per_layer: vec![1, 0, 3] }];
        write_rows(&mut out, "mnist-test", &counts).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "7,mnist-test,0.05,1,0,3,4\n");
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        points: PointArgs,
    }

    fn parse(line: &[&str]) -> Result<PointArgs, clap::Error> {
        <Cli as clap::Parser>::try_parse_from(std::iter::once("lc").chain(line.iter().copied())).map(|c| c.points)
    }

    #[test]
    fn the_box_is_one_lo_hi_value_as_its_help_says() {
        assert_eq!(parse(&["--box", "0,1"]).unwrap().random_box, Some((0.0, 1.0)));
        assert_eq!(parse(&["--box", "-1,1"]).unwrap().random_box, Some((-1.0, 1.0)));
        assert_eq!(parse(&["--box=-0.5,2"]).unwrap().random_box, Some((-0.5, 2.0)));
        for bad in ["1", "1,0", "0,1,2", "a,b", "0,inf"] {
            let message = parse(&["--box", bad]).err().unwrap().to_string();
            assert!(message.contains("expected LO,HI"), "{bad}: {message}");
        }
    }

    #[test]
    fn dataset_specs_are_parsed_by_clap_with_the_expected_form_in_the_error() {
        let args = parse(&["--points", "mnist:test:100:seed=2", "--points", "cifar10:train"]).unwrap();
        assert_eq!(
            args.datasets.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["mnist:test:100:seed=2", "cifar10:train"]
        );
        let message = parse(&["--points", "mnist:test:x"]).err().unwrap().to_string();
        assert!(message.contains("--points") && message.contains("DATASET:SPLIT[:N[:seed=S]]"), "{message}");
    }

    #[derive(clap::Parser)]
    struct LcCli {
        #[command(flatten)]
        lc: Args,
    }

    /// The layers `tessera lc ARGS` counts on a small CNN (two conv layers, then a dense one).
    fn counted_on_cnn(extra: &[&str]) -> Vec<String> {
        let line = ["lc", "--random", "1", "--out", "x.csv"].into_iter().chain(extra.iter().copied());
        let args = <LcCli as clap::Parser>::try_parse_from(line).unwrap().lc;
        let spec = tessera_net::CnnSpec {
            input: [1, 6, 6],
            convs: vec![tessera_net::ConvLayer { channels: 2, stride: 1, max_pool: 0 }; 2],
            hidden: vec![4],
            classes: 3,
            ..tessera_net::CnnSpec::small_cifar()
        };
        let net = tessera_net::cnn::<f64>(&spec).unwrap();
        let options = lc_options(&args, &net).unwrap();
        let lc = LocalComplexity::new(&net, options).unwrap();
        lc.layers().iter().map(|l| l.column.clone()).collect()
    }

    #[test]
    fn a_model_counts_every_layer_and_a_checkpoint_folder_the_conv_layers_as_a_run_does() {
        assert_eq!(counted_on_cnn(&["--model", "m"]), ["layer_1", "layer_2", "layer_3"]);
        assert_eq!(counted_on_cnn(&["--checkpoints", "c"]), ["layer_1", "layer_2"]);
        assert_eq!(counted_on_cnn(&["--model", "m", "--layers", "conv"]), ["layer_1", "layer_2"]);
        assert_eq!(counted_on_cnn(&["--checkpoints", "c", "--layers", "all"]), ["layer_1", "layer_2", "layer_3"]);
        assert_eq!(counted_on_cnn(&["--model", "m", "--layers", "3,1"]), ["layer_1", "layer_3"]);
    }

    #[test]
    fn the_default_layers_are_recorded_as_the_group_they_stand_for() {
        let counted = |extra: &[&str]| {
            let line = ["lc", "--random", "1", "--out", "x"].into_iter().chain(extra.iter().copied());
            counted_layers(&<LcCli as clap::Parser>::try_parse_from(line).unwrap().lc)
        };
        assert_eq!(counted(&["--checkpoints", "c"]), counted(&["--checkpoints", "c", "--layers", "auto"]));
        assert_eq!(counted(&["--model", "m"]), CountedLayers::Named(LayerGroup::All));
        assert_eq!(serde_json::to_value(counted(&["--checkpoints", "c"])).unwrap(), "auto");
    }

    #[test]
    fn layers_are_a_group_or_numbers_from_one() {
        assert_eq!(parse_layers("auto"), Ok(CountedLayers::Named(LayerGroup::Auto)));
        assert_eq!(parse_layers("1,3"), Ok(CountedLayers::Numbers(vec![1, 3])));
        for bad in ["0", "1,x", "conv,1", ""] {
            assert!(parse_layers(bad).unwrap_err().contains("is not a layer number from 1"), "{bad}");
        }
    }
}
