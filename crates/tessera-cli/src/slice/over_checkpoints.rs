//! `tessera slice --checkpoints DIR --out MONTAGE.png`: the exact partition of one slice (built
//! once from the arguments) at every checkpoint of a training run, drawn as one montage with a
//! panel per step titled with its region count (`tessera_plot::draw_partition_grid`, as the
//! figures draw theirs), `step,regions` in `MONTAGE.csv`, and with `--json` every step's summary.
//! A line per checkpoint goes to stderr; Ctrl-C stops it, writing nothing (the montage needs
//! every partition).

use super::{build_slice, partition, pictures, step_summary, style, write_json, Args};
use crate::checkpoint_folder::CheckpointSeries;
use anyhow::Context;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tessera_plot::{draw_partition_grid, PartitionStyle};
use tessera_regions::Partition;

/// Panels per row of the montage (as the figures' slice montages).
const COLUMNS: usize = 4;

pub(super) fn run(dir: &Path, args: &Args) -> anyhow::Result<()> {
    let counts_path = counts_path(&args.out);
    crate::output_paths::check_output_file(&counts_path)?;
    let series = CheckpointSeries::open(dir)?;
    let (slice, description) = build_slice(args)?;
    let total = series.checkpoints().len();
    let mut steps = Vec::with_capacity(total);
    for (k, checkpoint) in series.checkpoints().iter().enumerate() {
        let net = series.load(checkpoint)?;
        let label = format!("slice step {} ({}/{total})", checkpoint.step, k + 1);
        let started = Instant::now();
        let partition = partition(&net, &slice, args, &label)
            .with_context(|| format!("the slice at step {} ({})", checkpoint.step, checkpoint.path.display()))?;
        let seconds = started.elapsed().as_secs_f64();
        eprintln!("{label}: {} regions ({seconds:.1} s, {})", partition.num_regions(), checkpoint.path.display());
        let summary = step_summary(&partition, &checkpoint.path, seconds)?;
        steps.push((checkpoint.step, partition, summary));
    }
    let panels: Vec<(&Partition, PartitionStyle)> = steps
        .iter()
        .map(|(step, partition, _)| {
            (partition, style(args, format!("step {step}: {} regions", partition.num_regions())))
        })
        .collect();
    for path in pictures(args) {
        draw_partition_grid(&panels, COLUMNS, None, &path)?;
    }
    let counts: String = steps.iter().map(|(step, p, _)| format!("{step},{}\n", p.num_regions())).collect();
    std::fs::write(&counts_path, format!("step,regions\n{counts}"))
        .with_context(|| format!("writing {}", counts_path.display()))?;
    if let Some(path) = &args.json {
        let checkpoints: Vec<serde_json::Value> = steps
            .into_iter()
            .map(|(step, _, mut summary)| {
                summary["step"] = json!(step);
                summary
            })
            .collect();
        write_json(path, &json!({ "slice": description, "checkpoints": checkpoints }))?;
    }
    println!("{total} steps -> {} (regions per step: {})", args.out.display(), counts_path.display());
    Ok(())
}

/// `MONTAGE.png` -> `MONTAGE.csv`.
fn counts_path(out: &Path) -> PathBuf {
    out.with_extension("csv")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counts_sit_next_to_the_montage() {
        assert_eq!(counts_path(Path::new("out/slices.png")), Path::new("out/slices.csv"));
    }
}
