//! `tessera count`: the exact number of linear regions of a model inside the LC neighbourhood
//! of one point (the cross-polytope `conv{x ± r v_p}` spanned by the same P-direction frame as
//! `tessera lc`), printed as JSON with `num_regions` and per-layer figures. Progress goes to
//! stderr (a spinner on a terminal, a line every ten seconds otherwise); Ctrl-C stops the count.

use crate::region_work::RegionWork;
use anyhow::{bail, Context};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;
use tessera_data::{DataDir, DatasetSpec};
use tessera_lc::Frame;
use tessera_regions::polytope::{count_regions_with_progress, KinkKind, Neighborhood, PolytopeCount, PolytopeOptions};

/// Arguments of `tessera count`.
#[derive(clap::Args)]
pub struct Args {
    /// Model directory (architecture.json + weights.safetensors) or .onnx file.
    #[arg(long)]
    model: PathBuf,
    /// The point: its index in --dataset, or its row in --point-npy (default 0 there).
    #[arg(long)]
    point: Option<usize>,
    /// Read the point from this .npy file of rows (shape (N, d) or (N, C, H, W)).
    #[arg(long)]
    point_npy: Option<PathBuf>,
    /// Dataset of --point, DATASET:SPLIT (with :N[:seed=S], --point indexes the selection).
    #[arg(long, value_name = "DATASET:SPLIT", default_value = "mnist:test")]
    dataset: DatasetSpec,
    /// Data root (default: $TESSERA_DATA, ./data, ../shared/data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Radius r of the cross-polytope (distance of its vertices to the point).
    #[arg(long)]
    radius: f64,
    /// Number of directions P.
    #[arg(long, default_value_t = 25)]
    p: usize,
    /// Seed of the frame (the same seed gives the same frame as `tessera lc`).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Frame from a .npy file of shape (P, d) instead of a seeded one (overrides --p).
    #[arg(long)]
    frame: Option<PathBuf>,
    /// Regions whose inscribed ball is not larger than this (in units of r) are not counted.
    #[arg(long, default_value_t = PolytopeOptions::default().min_inradius)]
    min_inradius: f64,
    /// Stop with an error past this many regions after a layer.
    #[arg(long, default_value_t = PolytopeOptions::default().max_regions)]
    max_regions: usize,
    /// Also write the JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(json) = &args.json {
        crate::output_paths::check_output_file(json)?;
    }
    let summary = count(&args)?;
    let text = serde_json::to_string_pretty(&summary)?;
    if let Some(path) = &args.json {
        std::fs::write(path, format!("{text}\n")).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{text}");
    eprintln!("{}", describe_lc_terms(&summary));
    Ok(())
}

/// The JSON summary: the count (`num_regions`, `layers`, ...) and how it was set up.
fn count(args: &Args) -> anyhow::Result<serde_json::Value> {
    let net = crate::model::load_model(&args.model)?;
    let (point, origin) = load_point(args)?;
    let width = point.len();
    let (frame, frame_origin) = match &args.frame {
        Some(path) => (crate::point_files::load_frame(path, width)?, json!({ "file": path })),
        None => (Frame::random(width, args.p, args.seed)?, json!({ "seed": args.seed })),
    };
    let neighborhood = Neighborhood::new(point, frame.directions().to_vec(), frame.p(), args.radius)
        .context("building the neighbourhood")?;
    let options = PolytopeOptions {
        min_inradius: args.min_inradius,
        max_regions: args.max_regions,
        ..PolytopeOptions::default()
    };
    let start = Instant::now();
    let work = RegionWork { label: "count", doing: "counting regions", smaller: "shrink --radius" };
    let count = work.run(|progress| count_regions_with_progress(&net, &neighborhood, &options, progress))?;
    let mut summary = serde_json::to_value(&count)?;
    summary["as_lc"] = lc_terms(&count);
    summary["model"] = json!(args.model);
    summary["point"] = origin;
    summary["frame"] = frame_origin;
    summary["seconds"] = json!(start.elapsed().as_secs_f64());
    Ok(summary)
}

/// The figures of the count that `tessera lc` reports too, in its terms: per activation layer
/// (its CSV column `layer_k`, k counting activation layers only) the neurons whose
/// pre-activation changes sign in the neighbourhood, and their total. LC counts these from the
/// signs at the cross-polytope's vertices, so it can miss a neuron that changes sign only
/// between them; max-pool kinks split regions here but are not part of LC.
fn lc_terms(count: &PolytopeCount) -> serde_json::Value {
    let activations = count.layers.iter().filter(|l| l.kind == KinkKind::Activation);
    let layers: Vec<_> = activations
        .enumerate()
        .map(|(k, l)| json!({ "column": format!("layer_{}", k + 1), "node": l.name, "units": l.units, "cutting_units": l.cutting_units }))
        .collect();
    let total: usize = layers.iter().map(|l| l["cutting_units"].as_u64().unwrap_or(0) as usize).sum();
    let max_pool_regions_ignored = count.layers.iter().any(|l| l.kind == KinkKind::MaxPool);
    json!({ "layers": layers, "total": total, "max_pool_layers_not_in_lc": max_pool_regions_ignored })
}

/// The per-layer figures side by side in LC's terms, for a person reading stderr.
fn describe_lc_terms(summary: &serde_json::Value) -> String {
    let terms = &summary["as_lc"];
    let layers: Vec<String> = terms["layers"]
        .as_array()
        .map(|ls| {
            ls.iter().map(|l| format!("{} {}", l["column"].as_str().unwrap_or("?"), l["cutting_units"])).collect()
        })
        .unwrap_or_default();
    let pools = if terms["max_pool_layers_not_in_lc"] == json!(true) { ", max-pool included" } else { "" };
    format!(
        "exact: {} regions (every kink{pools}); in the terms of tessera lc (activation layers only): {} = {} \
         neurons cut",
        summary["num_regions"],
        layers.join(" + "),
        terms["total"]
    )
}

/// The point the arguments name, as f64, and a JSON description of where it came from.
fn load_point(args: &Args) -> anyhow::Result<(Vec<f64>, serde_json::Value)> {
    match (&args.point_npy, args.point) {
        (Some(path), row) => {
            let row = row.unwrap_or(0);
            let point = tessera_data::npy::read_row(path, row).context("--point-npy")?;
            Ok((point, json!({ "file": path, "row": row })))
        }
        (None, Some(index)) => {
            let point = args
                .dataset
                .point(&DataDir::resolve(args.data_dir.as_deref()), index)
                .with_context(|| format!("--point {index} --dataset {}", args.dataset))?;
            Ok((point, json!({ "dataset": args.dataset.to_string(), "index": index })))
        }
        (None, None) => bail!("give --point I (an index into --dataset) or --point-npy FILE"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::Path;
    use tessera_net::{mlp, Activation};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(line: &[&str]) -> Args {
        Cli::try_parse_from(std::iter::once("count").chain(line.iter().copied())).unwrap().args
    }

    /// A saved 4-12-12-3 MLP and a two-row point file in a temporary directory.
    fn fixture() -> (tempfile::TempDir, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let mut net = mlp::<f64>(&[4, 12, 12, 3], Activation::Relu).unwrap();
        net.init_pytorch_default(1, 1.0);
        net.save(&dir.path().join("model")).unwrap();
        let rows = [0.9, 0.9, 0.9, 0.9, 0.1, 0.2, 0.3, 0.4];
        tessera_data::npy::write_rows(&dir.path().join("x.npy"), &rows, 2, 4).unwrap();
        let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
        let (model, points) = (p("model"), p("x.npy"));
        (dir, model, points)
    }

    #[test]
    fn the_summary_matches_the_library_count_for_the_same_seeded_frame() {
        let (dir, model, points) = fixture();
        let json = dir.path().join("c.json");
        let line = ["--model", &model, "--point-npy", &points, "--point", "1", "--radius", "1.5", "--p", "3"];
        let args = parse(&[&line[..], &["--seed", "7", "--json", json.to_str().unwrap()]].concat());
        run(args).unwrap();
        let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let net = crate::model::load_model(Path::new(&model)).unwrap();
        let frame = Frame::random(4, 3, 7).unwrap();
        let nbhd = Neighborhood::new(vec![0.1, 0.2, 0.3, 0.4], frame.directions().to_vec(), 3, 1.5).unwrap();
        let expected = tessera_regions::polytope::count_regions(&net, &nbhd, &PolytopeOptions::default()).unwrap();
        assert_eq!(summary["num_regions"], json!(expected.num_regions));
        assert!(expected.num_regions > 1, "radius too small for a meaningful check");
        assert_eq!(summary["layers"].as_array().unwrap().len(), 2);
        assert_eq!(summary["layers"][1]["regions"], json!(expected.num_regions));
        assert_eq!(summary["point"]["row"], json!(1));
    }

    #[test]
    fn as_lc_lists_activation_layers_under_lcs_column_names_with_their_cutting_units() {
        let (_dir, model, points) = fixture();
        let line = ["--model", &model, "--point-npy", &points, "--point", "1", "--radius", "1.5", "--p", "3"];
        let summary = count(&parse(&line)).unwrap();
        let terms = &summary["as_lc"];
        let cutting: Vec<u64> = (0..2).map(|k| summary["layers"][k]["cutting_units"].as_u64().unwrap()).collect();
        assert_eq!(terms["layers"][0]["column"], json!("layer_1"));
        assert_eq!(terms["layers"][1]["column"], json!("layer_2"));
        assert_eq!(terms["layers"][1]["cutting_units"], json!(cutting[1]));
        assert_eq!(terms["total"], json!(cutting[0] + cutting[1]));
        assert_eq!(terms["max_pool_layers_not_in_lc"], json!(false));
        let text = describe_lc_terms(&summary);
        assert!(
            text.contains("activation layers only") && text.contains(&format!("= {} neurons", cutting[0] + cutting[1])),
            "{text}"
        );
    }

    #[test]
    fn a_frame_file_sets_p_and_must_match_the_input_width() {
        let (dir, model, points) = fixture();
        let frame = dir.path().join("f.npy");
        crate::point_files::save_frame(&frame, &Frame::random(4, 2, 3).unwrap()).unwrap();
        let frame = frame.to_str().unwrap();
        let summary =
            count(&parse(&["--model", &model, "--point-npy", &points, "--radius", "0.5", "--frame", frame])).unwrap();
        assert_eq!(summary["dim"], json!(2));
        let wide = dir.path().join("wide.npy");
        crate::point_files::save_frame(&wide, &Frame::random(5, 2, 3).unwrap()).unwrap();
        let line = ["--model", &model, "--point-npy", &points, "--radius", "0.5", "--frame", wide.to_str().unwrap()];
        let message = format!("{:#}", count(&parse(&line)).unwrap_err());
        assert!(message.contains("wide.npy"), "{message}");
    }

    #[test]
    fn bad_points_radii_and_dimensions_are_errors_naming_the_problem() {
        let (_dir, model, points) = fixture();
        let run_line = |extra: &[&str]| {
            let line = [&["--model", model.as_str(), "--point-npy", points.as_str()][..], extra].concat();
            format!("{:#}", count(&parse(&line)).unwrap_err())
        };
        assert!(run_line(&["--radius", "0", "--p", "2"]).contains("radius"));
        assert!(run_line(&["--radius", "1", "--p", "5"]).contains("5 directions"));
        assert!(run_line(&["--radius", "1", "--p", "2", "--point", "2"]).contains("row 2"));
        let message = format!("{:#}", count(&parse(&["--model", &model, "--radius", "1"])).unwrap_err());
        assert!(message.contains("--point"), "{message}");
    }

    #[test]
    fn a_bad_dataset_spec_is_refused_by_the_parser_showing_the_expected_form() {
        let line = ["count", "--model", "m", "--radius", "1", "--point", "0", "--dataset", "mnist"];
        let message = Cli::try_parse_from(line).err().unwrap().to_string();
        assert!(message.contains("--dataset") && message.contains("the split is missing"), "{message}");
        assert!(message.contains("DATASET:SPLIT[:N[:seed=S]]"), "{message}");
    }

    #[test]
    fn the_region_limit_names_the_flag_that_raises_it() {
        let (_dir, model, points) = fixture();
        let line = ["--model", &model, "--point-npy", &points, "--radius", "1.5", "--p", "3", "--max-regions", "1"];
        let message = format!("{:#}", count(&parse(&line)).unwrap_err());
        assert!(message.contains("more than 1 regions") && message.contains("--max-regions"), "{message}");
        assert!(!message.contains("max_regions"), "{message}");
    }
}
