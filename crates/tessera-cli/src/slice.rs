//! `tessera slice`: the exact partition of a 2-D slice of input space into the model's linear
//! regions, drawn as PNG (and SVG), with a JSON summary (`num_regions`, per-layer counts).
//! Progress (regions so far, layer, rate) goes to stderr; Ctrl-C stops it, writing nothing.
//! With `--checkpoints`, the same slice at every checkpoint of a training run, drawn as one
//! montage (`over_checkpoints`).

mod over_checkpoints;

use crate::region_work::RegionWork;
use anyhow::{bail, Context};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tessera_data::{DataDir, DatasetSpec};
use tessera_net::Network;
use tessera_plot::{draw_partition, BoundaryColours, Fill, PartitionStyle};
use tessera_regions::{partition_slice_with_progress, Partition, PartitionOptions, Slice};

/// Arguments of `tessera slice`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("network").required(true).args(["model", "checkpoints"])))]
pub struct Args {
    /// Model directory (architecture.json + weights.safetensors) or .onnx file.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Instead of --model, a folder of checkpoints of one training run: model directories or
    /// .onnx files named by step (step_N/, step_N.onnx, N.onnx; a `tessera train` run directory
    /// stands for its checkpoints/). The same slice is partitioned at every checkpoint; --out is
    /// then one montage, a panel per step titled with its region count, and beside it a CSV of
    /// step,regions (--out with extension .csv); --json gets every step's summary.
    #[arg(long)]
    checkpoints: Option<PathBuf>,
    /// The plane through three dataset points I,J,K (indices into --dataset): the square around
    /// their centroid, as in the paper.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["center", "center_index"])]
    through: Option<Vec<usize>>,
    /// A square of half-width --half-width around the point in this .npy file (one row), in a
    /// plane of two random orthonormal directions (seeded by --seed).
    #[arg(long, conflicts_with = "center_index", requires = "half_width")]
    center: Option<PathBuf>,
    /// Like --center, around dataset point I.
    #[arg(long, requires = "half_width")]
    center_index: Option<usize>,
    /// Half-width of the square around --center / --center-index.
    #[arg(long)]
    half_width: Option<f64>,
    /// The square of --through extends this factor times the largest distance of an anchor to
    /// the centroid.
    #[arg(long, default_value_t = 1.2)]
    padding: f64,
    /// Seed of the random directions of --center / --center-index.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Dataset of --through and --center-index, DATASET:SPLIT (with :N[:seed=S], the indices
    /// are positions in the selection).
    #[arg(long, value_name = "DATASET:SPLIT", default_value = "mnist:train")]
    dataset: DatasetSpec,
    /// Data root (default: $TESSERA_DATA, ./data, ../shared/data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The picture: .png or .svg.
    #[arg(long)]
    out: PathBuf,
    /// Also write the picture as SVG beside --out (same name, extension .svg).
    #[arg(long)]
    svg: bool,
    /// Write the JSON summary here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Colour regions by the slope norm of the output instead of at random.
    #[arg(long)]
    slope_norm: bool,
    /// Colour each layer's boundaries differently instead of black.
    #[arg(long)]
    per_layer_colours: bool,
    /// Picture width in pixels (a montage's panels are 300 pixels each).
    #[arg(long, default_value_t = 800)]
    width: u32,
    /// Stop with an error past this many regions in a layer (default: what half the available
    /// memory, at most 2 GiB, holds at about 4 kB per region for 10 outputs: 524,288 regions).
    #[arg(long)]
    max_regions: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    crate::output_paths::check_output_file(&args.out)?;
    if let Some(json) = &args.json {
        crate::output_paths::check_output_file(json)?;
    }
    let Some(model) = &args.model else {
        let dir = args.checkpoints.as_deref().context("give --model or --checkpoints")?;
        return over_checkpoints::run(dir, &args);
    };
    let net = crate::model::load_model(model)?;
    let (slice, description) = build_slice(&args)?;
    let start = Instant::now();
    let partition = partition(&net, &slice, &args, "slice")?;
    let seconds = start.elapsed().as_secs_f64();
    draw(&partition, &args)?;
    if let Some(path) = &args.json {
        let mut summary = step_summary(&partition, model, seconds)?;
        summary["slice"] = description;
        write_json(path, &summary)?;
    }
    println!("{} regions in {seconds:.2} s -> {}", partition.num_regions(), args.out.display());
    Ok(())
}

/// The exact partition of `slice` by `net`, with progress under `label` and Ctrl-C.
fn partition(net: &Network<f64>, slice: &Slice, args: &Args, label: &str) -> anyhow::Result<Partition> {
    let max_regions =
        args.max_regions.unwrap_or_else(|| crate::memory_limit::default_slice_max_regions(net.output_width()));
    let options = PartitionOptions { max_regions, ..PartitionOptions::default() };
    let smaller = if args.through.is_some() { "shrink --padding" } else { "shrink --half-width" };
    let work = RegionWork { label, doing: "partitioning the slice", smaller };
    work.run(|progress| partition_slice_with_progress(net, slice, &options, progress))
}

/// The slice the arguments ask for, and a JSON description of how it was built.
fn build_slice(args: &Args) -> anyhow::Result<(Slice, serde_json::Value)> {
    if let Some(indices) = &args.through {
        let listed = indices.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
        if indices.len() != 3 {
            bail!("--through takes three dataset indices I,J,K, got {} ({listed})", indices.len());
        }
        let points = dataset_points(args, indices)?;
        let slice = Slice::through_points(&points[0], &points[1], &points[2], args.padding)
            .with_context(|| format!("--through {listed}"))?;
        let description = json!({ "through": indices, "dataset": args.dataset.to_string(), "padding": args.padding });
        return Ok((slice, description));
    }
    let half_width = args.half_width.context("--half-width is required with --center or --center-index")?;
    let (center, origin) = match (&args.center, args.center_index) {
        (Some(path), _) => (tessera_data::npy::read_single_row(path).context("--center")?, json!({ "center": path })),
        (None, Some(i)) => {
            let description = json!({ "center_index": i, "dataset": args.dataset.to_string() });
            (dataset_points(args, &[i])?.remove(0), description)
        }
        (None, None) => bail!("give --through I,J,K, --center FILE.npy or --center-index I"),
    };
    let slice = Slice::around_point(&center, half_width, args.seed).context("--center / --half-width")?;
    let mut description = origin;
    description["half_width"] = json!(half_width);
    description["seed"] = json!(args.seed);
    Ok((slice, description))
}

/// The points of `--dataset` at `indices`, as f64.
fn dataset_points(args: &Args, indices: &[usize]) -> anyhow::Result<Vec<Vec<f64>>> {
    let dirs = DataDir::resolve(args.data_dir.as_deref());
    args.dataset.points(&dirs, indices).with_context(|| format!("--dataset {}", args.dataset))
}

fn draw(partition: &Partition, args: &Args) -> anyhow::Result<()> {
    let style = style(args, format!("Num Regions {}", partition.num_regions()));
    for path in pictures(args) {
        draw_partition(partition, &style, &path)?;
    }
    Ok(())
}

/// How the arguments ask partitions to be drawn, under `title`.
fn style(args: &Args, title: String) -> PartitionStyle {
    PartitionStyle {
        width: args.width,
        fill: if args.slope_norm { Fill::SlopeNorm } else { Fill::Random { seed: args.seed } },
        boundaries: if args.per_layer_colours { BoundaryColours::PerLayer } else { BoundaryColours::Black },
        title: Some(title),
        ..PartitionStyle::default()
    }
}

/// The pictures to write: --out, and with --svg its SVG twin.
fn pictures(args: &Args) -> Vec<PathBuf> {
    let mut paths = vec![args.out.clone()];
    if args.svg && !args.out.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg")) {
        paths.push(args.out.with_extension("svg"));
    }
    paths
}

/// The JSON summary of one partition (regions, per-layer counts) of `model`, with its time.
fn step_summary(partition: &Partition, model: &Path, seconds: f64) -> anyhow::Result<serde_json::Value> {
    let mut summary = serde_json::to_value(partition.summary())?;
    summary["model"] = json!(model);
    summary["seconds"] = json!(seconds);
    Ok(summary)
}

fn write_json(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use tessera_net::{mlp, Activation};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(line: &[&str]) -> Args {
        Cli::try_parse_from(std::iter::once("slice").chain(line.iter().copied())).unwrap().args
    }

    #[test]
    fn a_slice_around_a_saved_point_is_drawn_and_summarised() {
        let dir = tempfile::tempdir().unwrap();
        let mut net = mlp::<f64>(&[4, 12, 12, 3], Activation::Relu).unwrap();
        net.init_pytorch_default(1, 1.0);
        net.save(&dir.path().join("model")).unwrap();
        let center = dir.path().join("x.npy");
        tessera_data::npy::write_rows(&center, &[0.1, 0.2, 0.3, 0.4], 1, 4).unwrap();
        let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
        let (model, center, out, json) = (p("model"), p("x.npy"), p("s.png"), p("s.json"));
        let args = parse(&[
            "--model",
            &model,
            "--center",
            &center,
            "--half-width",
            "2",
            "--out",
            &out,
            "--svg",
            "--json",
            &json,
        ]);
        run(args).unwrap();
        assert!(dir.path().join("s.png").exists() && dir.path().join("s.svg").exists());
        let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert!(summary["num_regions"].as_u64().unwrap() > 1);
        assert_eq!(summary["layers"].as_array().unwrap().len(), 2);
        assert_eq!(summary["slice"]["half_width"], json!(2.0));
    }

    #[test]
    fn a_center_file_with_the_wrong_width_is_an_error_naming_the_widths() {
        let dir = tempfile::tempdir().unwrap();
        let net = mlp::<f64>(&[4, 3, 2], Activation::Relu).unwrap();
        net.save(&dir.path().join("model")).unwrap();
        let center = dir.path().join("x.npy");
        tessera_data::npy::write_rows(&center, &[0.1, 0.2, 0.3], 1, 3).unwrap();
        let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
        let (model, center, out) = (p("model"), p("x.npy"), p("s.png"));
        let err =
            run(parse(&["--model", &model, "--center", &center, "--half-width", "1", "--out", &out])).unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains("width 3") && message.contains("width 4"), "{message}");
    }

    #[test]
    fn a_bad_dataset_spec_is_refused_by_the_parser_showing_the_expected_form() {
        let line = ["slice", "--model", "m", "--through", "1,2,3", "--dataset", "mnist", "--out", "s.png"];
        let message = Cli::try_parse_from(line).err().unwrap().to_string();
        assert!(message.contains("--dataset") && message.contains("DATASET:SPLIT[:N[:seed=S]]"), "{message}");
    }

    #[test]
    fn a_center_file_with_several_points_is_refused_naming_the_flag_and_shape() {
        let dir = tempfile::tempdir().unwrap();
        let center = dir.path().join("two.npy");
        tessera_data::npy::write_rows(&center, &[0.1, 0.2, 0.3, 0.4], 2, 2).unwrap();
        let args =
            parse(&["--model", "m", "--center", center.to_str().unwrap(), "--half-width", "1", "--out", "s.png"]);
        let message = format!("{:#}", build_slice(&args).unwrap_err());
        assert!(
            message.contains("--center") && message.contains("(2, 2)") && message.contains("single point"),
            "{message}"
        );
    }
}
