//! `tessera lc --checkpoints DIR --out OUT`: LC at every checkpoint of a training run, on the same
//! points, frame (drawn once) and radii, recorded as a `tessera train` run records its LC:
//! `OUT/metrics.csv` and `OUT/metrics.jsonl` with the run's LC columns, one row per step
//! (`tessera_train::metrics`, so `MetricsTable` and the run charts read it), and the run's LC
//! curves `OUT/lc.png` and `OUT/lc.svg` (`tessera_plot::run_charts`).
//!
//! Resumable: `OUT/lc_checkpoints.json` records the settings; run again with the same ones, only
//! the steps not in the metrics yet are measured and appended. A line per checkpoint goes to
//! stderr; Ctrl-C stops after the current batch, keeping the steps already written.

use super::{counted_layers, lc_options, point_sets, run_sets, Args, Precision, SetNames};
use crate::checkpoint_folder::{Checkpoint, CheckpointSeries};
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tessera_lc::{InMemoryPoints, LcOptions, LocalComplexity, PointSource, SetSummary};
use tessera_net::{Network, Scalar};
use tessera_train::lc_eval::summary_metrics;
use tessera_train::metrics::{MetricsLog, METRICS_CSV, METRICS_JSONL};
use tessera_train::{Metrics, MetricsTable};

/// The settings of a checkpoint folder's measurement, inside `--out`.
const SETTINGS_FILE: &str = "lc_checkpoints.json";
/// The picture of the LC curves, inside `--out` (`.png` and `.svg`).
const PICTURE_STEM: &str = "lc";

pub(super) fn run(dir: &Path, args: &Args) -> anyhow::Result<()> {
    crate::output_paths::check_output_dir(&args.out)?;
    let series = CheckpointSeries::open(dir)?;
    let width = series.first().input_width();
    let sets = point_sets(&args.points, args.frame.seed, width, SetNames::Split)?
        .into_iter()
        .map(|mut source| read_all(source.as_mut()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    check_distinct_names(&sets)?;
    let options = lc_options(args, series.first())?;
    let done = prepare_out(&args.out, &settings(dir, args, &sets)?)?;
    let pending = pending(series.checkpoints(), &done, &args.out)?;
    if pending.len() < series.checkpoints().len() {
        eprintln!(
            "lc: {} of {} steps already in {}; measuring the other {}",
            series.checkpoints().len() - pending.len(),
            series.checkpoints().len(),
            args.out.join(METRICS_CSV).display(),
            pending.len()
        );
    }
    let mut log = MetricsLog::open(&args.out, None)?;
    crate::interrupt::listen();
    for (k, checkpoint) in pending.iter().enumerate() {
        let started = Instant::now();
        let net = series.load(checkpoint)?;
        let label = format!("lc step {} ({}/{})", checkpoint.step, k + 1, pending.len());
        let summaries = match args.precision {
            Precision::F64 => measure(&net, options.clone(), &sets, &label, checkpoint, args),
            Precision::F32 => measure(&net.cast::<f32>(), options.clone(), &sets, &label, checkpoint, args),
        }?;
        let metrics: Metrics = summaries.iter().flat_map(|s| summary_metrics(s, true)).collect();
        log.append(checkpoint.step, &metrics)?;
        eprintln!(
            "{label}: {} ({:.1} s, {})",
            mean_lc(&summaries),
            started.elapsed().as_secs_f64(),
            checkpoint.path.display()
        );
    }
    let pictures = draw(&args.out, dir)?;
    println!("metrics: {}\npictures: {}", args.out.join(METRICS_CSV).display(), pictures);
    Ok(())
}

/// LC of every set at one checkpoint.
fn measure<T: Scalar>(
    net: &Network<T>,
    options: LcOptions,
    sets: &[InMemoryPoints],
    label: &str,
    checkpoint: &Checkpoint,
    args: &Args,
) -> anyhow::Result<Vec<SetSummary>> {
    let lc = LocalComplexity::new(net, options).with_context(|| format!("measuring {}", checkpoint.path.display()))?;
    let mut sources: Vec<Box<dyn PointSource>> =
        sets.iter().map(|s| Box::new(s.clone()) as Box<dyn PointSource>).collect();
    run_sets(
        &lc,
        &mut sources,
        label,
        |_, _| Ok(()),
        |_| {
            format!(
                "interrupted (Ctrl-C) at step {}; the steps before it are in {}: run the same command again to \
             measure the rest",
                checkpoint.step,
                args.out.join(METRICS_CSV).display()
            )
        },
    )
}

/// The points of `source`, read once to be measured at every checkpoint.
fn read_all(source: &mut dyn PointSource) -> anyhow::Result<InMemoryPoints> {
    let (mut coords, mut indices) = (Vec::new(), Vec::new());
    loop {
        let batch = source.next_batch(4096)?;
        if batch.indices.is_empty() {
            break;
        }
        indices.extend(batch.indices);
        coords.extend(batch.coords);
    }
    Ok(InMemoryPoints::new(source.name(), source.dim(), coords)?.with_indices(indices)?)
}

/// Two sets of one name would write the same metrics columns.
fn check_distinct_names(sets: &[InMemoryPoints]) -> anyhow::Result<()> {
    for (k, set) in sets.iter().enumerate() {
        if sets[..k].iter().any(|earlier| earlier.name() == set.name()) {
            bail!(
                "two point sets would both be '{}' in the metrics (lc_{}_r…); give each split or .npy file once",
                set.name(),
                set.name()
            );
        }
    }
    Ok(())
}

/// What fixes the rows of a checkpoint folder's metrics: rows measured with other settings
/// must not be mixed into one table.
fn settings(dir: &Path, args: &Args, sets: &[InMemoryPoints]) -> anyhow::Result<Value> {
    let folder = std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
    let points = &args.points;
    let frame = &args.frame;
    Ok(json!({
        "checkpoints": folder,
        "points": points.datasets.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "points_npy": points.npy,
        "random": points.random,
        "box": points.random_box.map(|(lo, hi)| [lo, hi]),
        "sets": sets.iter().map(|s| json!({ "name": s.name(), "points": s.len() })).collect::<Vec<_>>(),
        "p": frame.p,
        "seed": frame.seed,
        "frame": frame.file,
        "per_point_frames": frame.per_point_frames,
        "radius": args.radius,
        "reference_compatible": args.reference_compatible,
        "zero_positive": args.zero_positive,
        "layers": counted_layers(args),
        "precision": format!("{:?}", args.precision).to_lowercase(),
    }))
}

/// Make `out` ready for rows measured with `settings` and return the steps it already holds:
/// a new or empty folder gets the settings file; a folder measured before must have the same
/// settings.
fn prepare_out(out: &Path, settings: &Value) -> anyhow::Result<Vec<u64>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join(SETTINGS_FILE);
    if !path.exists() {
        let mut entries = std::fs::read_dir(out).with_context(|| format!("listing {}", out.display()))?;
        if entries.next().is_some() {
            bail!(
                "{}: not empty, and not the output of `tessera lc --checkpoints` (no {SETTINGS_FILE}); give a new \
                 or empty folder",
                out.display()
            );
        }
        let text = serde_json::to_string_pretty(settings)? + "\n";
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let recorded: Value = serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    let changed = changed_settings(&recorded, settings);
    if !changed.is_empty() {
        bail!(
            "{}: its steps were measured with other settings ({}); run with the same settings to add steps, or give \
             another --out",
            out.display(),
            changed.join("; ")
        );
    }
    if !out.join(METRICS_JSONL).exists() {
        return Ok(Vec::new());
    }
    Ok(MetricsTable::read(out)?.steps().to_vec())
}

/// `key: then VALUE, now VALUE` for every setting that differs.
fn changed_settings(recorded: &Value, now: &Value) -> Vec<String> {
    let keys = now.as_object().into_iter().flat_map(|o| o.keys());
    keys.filter(|key| recorded.get(key.as_str()) != now.get(key.as_str()))
        .map(|key| {
            let shown = |v: Option<&Value>| v.map_or("absent".to_string(), Value::to_string);
            format!("{key}: then {}, now {}", shown(recorded.get(key.as_str())), shown(now.get(key.as_str())))
        })
        .collect()
}

/// The checkpoints whose steps are not in `done`; a step earlier than the last one done would
/// be appended out of order, which is refused.
fn pending<'a>(checkpoints: &'a [Checkpoint], done: &[u64], out: &Path) -> anyhow::Result<Vec<&'a Checkpoint>> {
    let pending: Vec<&Checkpoint> = checkpoints.iter().filter(|c| !done.contains(&c.step)).collect();
    let last = done.iter().max();
    if let (Some(early), Some(last)) = (pending.iter().find(|c| Some(&c.step) < last), last) {
        bail!(
            "{}: step {} comes before step {}, the last one in {}; the metrics are in step order: measure into \
             another --out",
            early.path.display(),
            early.step,
            last,
            out.join(METRICS_CSV).display()
        );
    }
    Ok(pending)
}

/// `mean LC at r = R1, R2: train A1, A2; test B1, B2` for a progress line.
fn mean_lc(summaries: &[SetSummary]) -> String {
    let radii = summaries
        .first()
        .map_or(String::new(), |s| s.radii.iter().map(|r| r.radius.to_string()).collect::<Vec<_>>().join(", "));
    let sets: Vec<String> = summaries
        .iter()
        .map(|s| {
            let means: Vec<String> = s.radii.iter().map(|r| format!("{:.4}", r.total.mean)).collect();
            format!("{} {}", s.set, means.join(", "))
        })
        .collect();
    format!("mean LC at r = {radii}: {}", sets.join("; "))
}

/// The run's LC curves from the metrics in `out`, as PNG and SVG; the paths, for the user.
fn draw(out: &Path, dir: &Path) -> anyhow::Result<String> {
    let metrics = MetricsTable::read(out)?;
    let title = dir.display().to_string();
    let paths: Vec<PathBuf> = ["png", "svg"].iter().map(|ext| out.join(format!("{PICTURE_STEM}.{ext}"))).collect();
    for path in &paths {
        tessera_plot::run_charts::plot_run(&metrics, &title, &[], path)?;
    }
    Ok(paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(step: u64) -> Checkpoint {
        Checkpoint { step, path: PathBuf::from(format!("ckpt/step_{step}")) }
    }

    #[test]
    fn pending_steps_are_those_not_done_and_none_may_come_before_the_last_done() {
        let all = [checkpoint(0), checkpoint(10), checkpoint(100)];
        let steps = |p: Vec<&Checkpoint>| p.iter().map(|c| c.step).collect::<Vec<_>>();
        assert_eq!(steps(pending(&all, &[], Path::new("out")).unwrap()), [0, 10, 100]);
        assert_eq!(steps(pending(&all, &[0, 10], Path::new("out")).unwrap()), [100]);
        let message = pending(&all, &[0, 100], Path::new("out")).unwrap_err().to_string();
        assert!(message.contains("step_10: step 10 comes before step 100"), "{message}");
    }

    #[test]
    fn changed_settings_name_the_key_and_both_values() {
        let then = json!({ "p": 25, "radius": [0.005], "seed": 0 });
        let now = json!({ "p": 25, "radius": [0.05], "seed": 0 });
        assert_eq!(changed_settings(&then, &then), Vec::<String>::new());
        assert_eq!(changed_settings(&then, &now), ["radius: then [0.005], now [0.05]"]);
        assert_eq!(changed_settings(&json!({}), &json!({ "p": 3 })), ["p: then absent, now 3"]);
    }

    #[test]
    fn a_folder_with_other_files_is_not_written_into() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
        let message = prepare_out(dir.path(), &json!({})).unwrap_err().to_string();
        assert!(message.contains("not empty") && message.contains(SETTINGS_FILE), "{message}");
    }

    #[test]
    fn two_sets_of_one_name_are_refused() {
        let set = |name: &str| InMemoryPoints::new(name, 2, vec![0.0, 1.0]).unwrap();
        assert!(check_distinct_names(&[set("train"), set("test")]).is_ok());
        let message = check_distinct_names(&[set("test"), set("random"), set("test")]).unwrap_err().to_string();
        assert!(message.contains("'test'"), "{message}");
    }
}
