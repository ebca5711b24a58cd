//! The shared MNIST run (depth 4, width 200, init ×1): LC double descent, delayed robustness
//! and region migration in exact slices (P1 Fig. 1, P2 Fig. 2), and its layerwise LC (P1 Fig. 13).

use super::scales::{full_steps, hidden, mnist_overrides, reductions, snapshots, MNIST_CONFIG, RADIUS};
use super::{chart_files, png_and_svg, Context, Figure, Outcome};
use crate::checks::{self, Check, Curve};
use crate::run_plots::{curve, lc_chart, metrics_csv, plot_run, step_chart};
use crate::runs::RunRequest;
use crate::Scale;
use anyhow::Context as _;
use tessera_net::Network;
use tessera_plot::curves::{Series, TEST, TRAIN};
use tessera_plot::{draw_partitions_beside_chart, BoundaryColours, Fill, PartitionStyle};
use tessera_regions::{partition_slice, Partition, PartitionOptions, Slice};
use tessera_train::checkpoint::checkpoint_dir;
use tessera_train::{load_run_data, MetricsTable, RunData};

/// The run every MNIST figure shares: configs/mnist_mlp_init1.toml at the scale's full length.
pub fn shared_run(ctx: &Context) -> anyhow::Result<RunRequest> {
    mnist_run(ctx, 4, "MNIST MLP depth 4 width 200 (shared)")
}

/// The full-length, seed-0 MNIST MLP run of `depth` linear layers and width 200 at `ctx`'s
/// scale: the same run (same hash) as the depth sweep's setting of that depth.
pub fn mnist_run(ctx: &Context, depth: usize, label: &str) -> anyhow::Result<RunRequest> {
    let mut overrides = mnist_overrides(ctx.scale, full_steps(ctx.scale));
    overrides.push(hidden(depth, 200));
    overrides.push("seed=0".into());
    Ok(RunRequest { label: label.into(), config: ctx.config(MNIST_CONFIG, &overrides)? })
}

/// Training point `i` of a run's subset, in f64.
pub fn training_point(data: &RunData, i: usize) -> anyhow::Result<Vec<f64>> {
    let x = data.train.get(i).with_context(|| format!("the run has no training point {i}"))?;
    Ok(x.iter().map(|&v| f64::from(v)).collect())
}

/// The slice through training points `a`, `b`, `c` of a run's subset: the square around their
/// centroid, padding 1.2 × the largest anchor distance (the paper gives no pad).
pub fn training_slice(data: &RunData, [a, b, c]: [usize; 3]) -> anyhow::Result<Slice> {
    let point = |i| training_point(data, i);
    Ok(Slice::through_points(&point(a)?, &point(b)?, &point(c)?, 1.2)?)
}

/// P1 Fig. 1 / P2 Fig. 2.
pub struct Dynamics;

impl Dynamics {
    /// Exact partitions of the slice through training points 0, 1, 2 at every snapshot step.
    fn slices(request: &RunRequest, dir: &std::path::Path) -> anyhow::Result<Vec<(u64, Partition)>> {
        let slice = training_slice(&load_run_data(&request.config)?, [0, 1, 2])?;
        snapshots(request.config.train.steps)
            .into_iter()
            .map(|step| {
                let checkpoint = checkpoint_dir(dir, step);
                let net =
                    Network::<f64>::load(&checkpoint).with_context(|| format!("loading {}", checkpoint.display()))?;
                let partition = partition_slice(&net, &slice, &PartitionOptions::default())
                    .with_context(|| format!("partitioning the slice at step {step}"))?;
                eprintln!("  slice at step {step}: {} regions", partition.num_regions());
                Ok((step, partition))
            })
            .collect()
    }

    fn checks(metrics: &MetricsTable, slices: &[(u64, Partition)], scale: Scale) -> Vec<Check> {
        let lc = |set: &str| curve(metrics, &format!("lc_{set}_r{RADIUS}_mean"));
        let (train, test, random) = (lc("train"), lc("test"), lc("random"));
        let peak = train.ascent_peak(checks::EARLY).map_or(1.0, |p| p.0);
        let mut list = vec![
            checks::within("P2 Fig. 2: initial train LC (first window) ≈ 4.9", train.start(), 4.0, 6.0),
            checks::first_descent(&train, checks::EARLY),
            checks::ascent(&train, checks::EARLY).late_phase(scale),
            checks::above_over(
                "train LC > test LC over the decade around the train peak",
                &train,
                &test,
                peak / 3.0,
                peak * 3.0,
            )
            .late_phase(scale),
            checks::late_fall("train LC second descent", &train, 0.5).late_phase(scale),
            checks::within(
                "P2 Fig. 2: final train LC (last window) ≈ 0.2",
                train.windows().last().map_or(f64::NAN, |w| w.1),
                0.05,
                0.5,
            )
            .late_phase(scale),
            checks::late_fall("random LC late decline", &random, 0.5).late_phase(scale),
            checks::above_over(
                "final test LC > train LC (last decade)",
                &test,
                &train,
                train.points.last().map_or(0.0, |p| p.0 / 10.0),
                f64::INFINITY,
            )
            .late_phase(scale),
            checks::delayed_robustness(&curve(metrics, "pgd_acc_eps0.1"), 0.1).late_phase(scale),
        ];
        let middle = slices.iter().filter(|(s, _)| (2_000..=20_000).contains(s)).map(|(_, p)| p.num_regions()).max();
        let last = slices.last().map_or(0, |(_, p)| p.num_regions());
        let fall = Check::new(
            "slice region count falls from mid-training (steps 2e3–2e4, most regions) to the end (paper 80,965 → 32,985)",
            middle.is_some_and(|m| last < m),
            format!("mid-training {}, end {last}", middle.map_or("no slice".to_string(), |m| m.to_string())),
        );
        list.push(fall.late_phase(scale));
        list
    }
}

impl Figure for Dynamics {
    fn id(&self) -> &'static str {
        "mnist-dynamics"
    }
    fn title(&self) -> &'static str {
        "LC double descent, delayed robustness and region migration of an MNIST MLP"
    }
    fn paper_reference(&self) -> &'static str {
        "P1 Fig. 1, P2 Fig. 2"
    }
    fn setup(&self, scale: Scale) -> String {
        format!(
            "configs/mnist_mlp_init1.toml: 1000 MNIST samples, MLP 784-200-200-200-10 ReLU, MSE, AdamW lr 1e-3 wd 0.01, \
             batch 200, f64, {} steps; LC P = 25 drawn at r = {RADIUS}; PGD L∞ (α = 0.0156) on test points at \
             ε ∈ {{0.06, 0.1, 0.2}}. Exact partitions of the 2-D slice through training points 0, 1, 2 of the run's \
             subset (square around their centroid, padding 1.2 × the largest anchor distance; the paper gives no \
             pad) at the paper's snapshot steps {:?}. The paper's r for Fig. 1 is not stated; {}.",
            full_steps(scale),
            snapshots(full_steps(scale)),
            reductions(scale)
        )
    }
    fn runs(&self, ctx: &Context) -> anyhow::Result<Vec<RunRequest>> {
        Ok(vec![shared_run(ctx)?])
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Outcome> {
        let request = shared_run(ctx)?;
        let (dir, metrics) = ctx.store.finished(&request.config)?;
        let out = ctx.figure_dir(self.id())?;
        let slices = Self::slices(&request, &dir)?;
        let markers: Vec<f64> = slices.iter().map(|(s, _)| (*s as f64).max(1.0)).collect();
        let chart = lc_chart(&metrics, "MNIST MLP", RADIUS, &markers);
        let panels: Vec<(&Partition, String)> =
            slices.iter().map(|(s, p)| (p, format!("step {s}: {} regions", p.num_regions()))).collect();
        let style = PartitionStyle {
            width: 300,
            fill: Fill::Random { seed: 0 },
            boundaries: BoundaryColours::Black,
            ..PartitionStyle::default()
        };
        let images = vec![
            png_and_svg(&out, "slices", |path| Ok(draw_partitions_beside_chart(&panels, &style, 4, &chart, path)?))?,
            png_and_svg(&out, "dynamics", |path| plot_run(&metrics, "MNIST MLP", &markers, path))?,
        ];
        std::fs::write(out.join("metrics.csv"), metrics_csv(&metrics))?;
        let counts: String = slices.iter().map(|(s, p)| format!("{s},{}\n", p.num_regions())).collect();
        std::fs::write(out.join("slice_regions.csv"), format!("step,regions\n{counts}"))?;
        Ok(Outcome {
            images,
            checks: Self::checks(&metrics, &slices, ctx.scale),
            notes: vec![format!(
                "Run: {}. Data: metrics.csv, slice_regions.csv; SVGs beside the PNGs.",
                ctx.shown(&dir)
            )],
        })
    }
}

/// P1 Fig. 13: LC per hidden layer.
pub struct Layerwise;

/// The per-layer LC columns of point set `set` at radius `radius`, in layer order, named by
/// layer (`layer_k`).
pub fn layer_curves(metrics: &MetricsTable, set: &str, radius: &str) -> Vec<(String, Curve)> {
    let prefix = format!("lc_{set}_r{radius}_");
    let mut layers: Vec<(usize, String, Curve)> = metrics
        .names()
        .filter_map(|n| Some((n, n.strip_prefix(&prefix)?.strip_suffix("_mean")?)))
        .filter(|(_, layer)| !layer.is_empty())
        .map(|(n, layer)| {
            let number = layer.strip_prefix("layer_").and_then(|k| k.parse().ok()).unwrap_or(usize::MAX);
            (number, layer.to_string(), curve(metrics, n))
        })
        .collect();
    // Columns come in name order (layer_10 before layer_2); layers go in network order.
    layers.sort_by_key(|l| l.0);
    layers.into_iter().map(|(_, name, c)| (name, c)).collect()
}

/// One chart per layer: the curves of `sets` (train, test, and random when given, in that
/// order; each a list of `layer_curves`) for that layer.
pub fn layer_charts(sets: &[Vec<(String, Curve)>], radius: &str) -> Vec<tessera_plot::curves::Chart> {
    let colours = [("train", TRAIN), ("test", TEST), ("random", tessera_plot::curves::RANDOM)];
    let first = sets.first().map_or(&[][..], |s| s.as_slice());
    first
        .iter()
        .enumerate()
        .map(|(k, (layer, _))| {
            let mut chart = step_chart(format!("{layer}: LC, r = {radius}"), "local complexity", &[]);
            for (set, (label, colour)) in sets.iter().zip(colours) {
                let points = set[k].1.points.iter().map(|&(s, v)| (s.max(1.0), v)).collect();
                chart.series.push(Series::new(label, points).with_color(colour));
            }
            chart
        })
        .collect()
}

impl Figure for Layerwise {
    fn id(&self) -> &'static str {
        "layerwise-lc"
    }
    fn title(&self) -> &'static str {
        "LC of each hidden layer of the MNIST MLP"
    }
    fn paper_reference(&self) -> &'static str {
        "P1 Fig. 13"
    }
    fn setup(&self, scale: Scale) -> String {
        format!(
            "Paper: depth-6 width-200 MLP, layers 1–5. Here: the shared depth-4 width-200 run (hidden layers 1–3), \
             per-layer LC at r = {RADIUS} on train and test points; {}.",
            reductions(scale)
        )
    }
    fn runs(&self, ctx: &Context) -> anyhow::Result<Vec<RunRequest>> {
        Ok(vec![shared_run(ctx)?])
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Outcome> {
        let metrics = ctx.metrics(&shared_run(ctx)?.config)?;
        let (train, test) = (layer_curves(&metrics, "train", RADIUS), layer_curves(&metrics, "test", RADIUS));
        anyhow::ensure!(train.len() >= 2 && train.len() == test.len(), "the run recorded no per-layer LC");
        let charts = layer_charts(&[train.clone(), test.clone()], RADIUS);
        let out = ctx.figure_dir(self.id())?;
        let image = chart_files(&charts, charts.len(), &out, "layerwise")?;
        std::fs::write(out.join("metrics.csv"), metrics_csv(&metrics))?;
        let scale = ctx.scale;
        let gap = |k: usize| {
            let p = train[k].1.ascent_peak(checks::EARLY).map_or(1.0, |p| p.0);
            train[k].1.mean_over(p / 3.0, p * 3.0) - test[k].1.mean_over(p / 3.0, p * 3.0)
        };
        let sharpness = |c: &Curve| {
            let trough = c.trough_in(0.0, checks::EARLY).map_or(f64::NAN, |t| t.1);
            c.ascent_peak(checks::EARLY).map_or(f64::NAN, |p| p.1) / trough
        };
        let (first, last) = (0, train.len() - 1);
        let checks = vec![
            Check::new(
                "the first layer's train–test gap around its peak exceeds the last layer's",
                gap(first) > gap(last),
                format!("{} {:.3}, {} {:.3}", train[first].0, gap(first), train[last].0, gap(last)),
            )
            .late_phase(scale),
            Check::new(
                "the first layer's ascent is sharper (peak / early trough) than the last layer's",
                sharpness(&train[first].1) > sharpness(&train[last].1),
                format!("{:.3} vs {:.3}", sharpness(&train[first].1), sharpness(&train[last].1)),
            )
            .late_phase(scale),
        ];
        Ok(Outcome {
            images: vec![image],
            checks,
            notes: vec!["Data: metrics.csv (per-layer columns lc_SET_rR_LAYER_mean).".into()],
        })
    }
}
