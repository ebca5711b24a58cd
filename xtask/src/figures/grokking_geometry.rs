//! The grokking run's partition (P2 Figs. 7, 24 and 26): exact slices through three training
//! points at log-spaced checkpoints with regions coloured by the slope norm of the output, the
//! partition after each layer, and exact region counts of equal-area squares on and away from
//! the decision boundary at the end of training.

use super::dynamics::{training_point, training_slice};
use super::geometry::SegmentIndex;
use super::lc_exact::checkpoint_steps;
use super::sweep::grokking_run;
use super::{chart_files, png_and_svg, Check, Context, Figure, Outcome};
use crate::run_plots::accuracy_chart;
use crate::runs::RunRequest;
use crate::Scale;
use anyhow::Context as _;
use std::fmt::Write as _;
use std::path::Path;
use tessera_net::{Mode, Network, Tensor};
use tessera_plot::curves::{Chart, Series};
use tessera_plot::{draw_partition_grid, BoundaryColours, Fill, PartitionStyle};
use tessera_regions::polygon::Polygon;
use tessera_regions::{partition_slice, Partition, PartitionOptions, Point, Segment, Slice, UnitSegment};
use tessera_train::checkpoint::checkpoint_dir;
use tessera_train::load_run_data;

/// The steps of P2 Fig. 7's slices (file names), in a run of `PAPER_STEPS` steps.
const PAPER_FIG7_STEPS: [u64; 3] = [70_035, 83_375, 95_381];
const PAPER_STEPS: u64 = 100_000;
/// "Near the decision boundary": within this share of the slice's half-width of it.
const NEAR_SHARE: f64 = 0.05;
/// Sample points per axis estimating the share of a slice's area near the decision boundary.
const AREA_GRID: usize = 200;
/// Half-width of the Fig. 26 squares, as a share of the median distance between the two
/// training points whose segment crosses the decision boundary.
const DOMAIN_SHARE: f64 = 0.1;
/// Fig. 26's earlier checkpoint: the one nearest (in log) to the run's steps over this.
const EARLY_DIVISOR: f64 = 10.0;
/// Bisection steps locating the decision boundary on a segment (2^-60 of its length).
const BISECTIONS: usize = 60;

/// Log-spaced slice steps at `scale` (before the paper's Fig. 7 steps are added).
fn slice_count(scale: Scale) -> usize {
    match scale {
        Scale::Smoke => 2,
        Scale::Cpu | Scale::Paper => 8,
    }
}

/// Training-point triads of the Fig. 26 squares at `scale`.
fn triads(scale: Scale) -> usize {
    match scale {
        Scale::Smoke => 3,
        Scale::Cpu => 20,
        Scale::Paper => 50,
    }
}

/// The positive `steps` nearest (in log) to `count` log-spaced targets from the first positive
/// step to the last, ascending and without repeats.
pub(super) fn log_spaced_subset(steps: &[u64], count: usize) -> Vec<u64> {
    let positive: Vec<u64> = steps.iter().copied().filter(|&s| s > 0).collect();
    let (Some(&first), Some(&last)) = (positive.first(), positive.last()) else { return Vec::new() };
    let (lo, hi) = ((first as f64).ln(), (last as f64).ln());
    let mut chosen: Vec<u64> = (0..count)
        .map(|k| {
            let target = lo + (hi - lo) * k as f64 / (count.max(2) - 1) as f64;
            nearest_in_log(&positive, target)
        })
        .collect();
    chosen.sort_unstable();
    chosen.dedup();
    chosen
}

/// The step of `positive` (non-empty, all > 0) whose logarithm is nearest `target`.
fn nearest_in_log(positive: &[u64], target: f64) -> u64 {
    let distance = |s: u64| ((s as f64).ln() - target).abs();
    positive.iter().copied().min_by(|&a, &b| distance(a).total_cmp(&distance(b))).expect("non-empty")
}

/// The slice steps of a run of `steps` steps with `checkpoints`: a log-spaced subset, and the
/// checkpoints nearest the paper's Fig. 7 steps scaled to the run's length.
fn slice_steps(checkpoints: &[u64], steps: u64, count: usize) -> Vec<u64> {
    let mut chosen = log_spaced_subset(checkpoints, count);
    let positive: Vec<u64> = checkpoints.iter().copied().filter(|&s| s > 0).collect();
    if !positive.is_empty() {
        let scaled = PAPER_FIG7_STEPS.map(|s| (s as f64 * steps as f64 / PAPER_STEPS as f64).max(1.0).ln());
        chosen.extend(scaled.iter().map(|&t| nearest_in_log(&positive, t)));
    }
    chosen.sort_unstable();
    chosen.dedup();
    chosen
}

/// The mid-training window of a run of `steps` steps: 1e3–3.3e4 of 1e5, holding the grokking
/// run's LC peak (paper.md §7 E: 3–6e3) and its second bump before the test jump (2–5e4).
fn mid_training(steps: u64) -> (u64, u64) {
    (steps / 100, steps / 3)
}

/// Statistics of the slope norms `||A||` of a partition's regions.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct SlopeStats {
    min: f64,
    median: f64,
    max: f64,
    /// Mean weighted by region area.
    area_mean: f64,
}

impl SlopeStats {
    fn of(partition: &Partition) -> Self {
        let mut norms: Vec<f64> = partition.regions.iter().map(|r| r.slope_norm()).collect();
        if norms.is_empty() {
            return Self::default();
        }
        norms.sort_by(f64::total_cmp);
        let weighted: f64 = partition.regions.iter().map(|r| r.area * r.slope_norm()).sum();
        Self {
            min: norms[0],
            median: norms[norms.len() / 2],
            max: norms[norms.len() - 1],
            area_mean: weighted / partition.domain_area,
        }
    }
}

/// Where a slice's regions and boundaries lie against its decision boundary.
#[derive(Clone, Debug, PartialEq)]
struct Concentration {
    /// Share of the domain's area within the reach of the decision boundary.
    near_area: f64,
    /// Regions whose interior point lies within the reach, and the others.
    near_regions: usize,
    far_regions: usize,
    /// Per kinked layer: share of its boundary length within the reach.
    layer_near_length: Vec<f64>,
}

impl Concentration {
    /// Region density near the decision boundary over that away from it (NaN when one side
    /// has no area).
    fn density_ratio(&self) -> f64 {
        let near = self.near_regions as f64 / self.near_area;
        let far = self.far_regions as f64 / (1.0 - self.near_area);
        if self.near_area > 0.0 && self.near_area < 1.0 {
            near / far
        } else {
            f64::NAN
        }
    }
}

/// The half-width of a slice's square domain (centred at the origin of slice coordinates).
fn half_width(slice: &Slice) -> f64 {
    slice.domain.iter().flat_map(|p| [p[0].abs(), p[1].abs()]).fold(0.0, f64::max)
}

/// Where `partition`'s regions and layer boundaries lie against its decision boundary, within
/// `NEAR_SHARE` of the half-width; `None` without a decision boundary in the slice.
fn concentration(partition: &Partition) -> Option<Concentration> {
    if partition.decision_boundary.is_empty() {
        return None;
    }
    let half = half_width(&partition.slice);
    let reach = NEAR_SHARE * half;
    let segments = partition.decision_boundary.iter().map(|s| [s.from, s.to]).collect();
    let index = SegmentIndex::new(segments, half, reach);
    let near = |p: Point| index.near(p, reach);
    let domain = Polygon::convex(&partition.slice.domain).ok()?;
    let at = |k: usize| -half + (k as f64 + 0.5) * 2.0 * half / AREA_GRID as f64;
    let samples: Vec<Point> = (0..AREA_GRID)
        .flat_map(|i| (0..AREA_GRID).map(move |j| [at(i), at(j)]))
        .filter(|&p| domain.contains(p))
        .collect();
    let near_area = samples.iter().filter(|&&p| near(p)).count() as f64 / samples.len().max(1) as f64;
    let near_regions = partition.regions.iter().filter(|r| near(r.interior_point())).count();
    let layer_near_length = partition
        .layers
        .iter()
        .map(|layer| {
            let length = |s: &UnitSegment| Segment { from: s.from, to: s.to }.length();
            let total: f64 = layer.boundary.iter().map(length).sum();
            let midpoint = |s: &UnitSegment| [(s.from[0] + s.to[0]) / 2.0, (s.from[1] + s.to[1]) / 2.0];
            let close: f64 = layer.boundary.iter().filter(|s| near(midpoint(s))).map(length).sum();
            if total > 0.0 {
                close / total
            } else {
                f64::NAN
            }
        })
        .collect();
    Some(Concentration {
        near_area,
        near_regions,
        far_regions: partition.num_regions() - near_regions,
        layer_near_length,
    })
}

/// One slice of the grokking run at one step.
struct SliceAtStep {
    step: u64,
    partition: Partition,
    slopes: SlopeStats,
    concentration: Option<Concentration>,
}

/// The step (within the mid-training window) whose slice has the most regions.
fn busiest_mid_step(counts: &[(u64, usize)], steps: u64) -> Option<(u64, usize)> {
    let (from, to) = mid_training(steps);
    counts.iter().copied().filter(|(s, _)| (from..=to).contains(s)).max_by_key(|&(_, n)| n)
}

/// P2 Fig. 7 / P1 Fig. 1's claim for the grokking run: the slice's region count falls from the
/// mid-training maximum to the end.
pub(super) fn regions_fall(counts: &[(u64, usize)], steps: u64) -> Check {
    let (from, to) = mid_training(steps);
    let middle = busiest_mid_step(counts, steps);
    let last = counts.last().copied();
    Check::new(
        format!("slice region count falls from mid-training (most regions in steps {from}–{to}) to the end"),
        matches!((middle, last), (Some((_, m)), Some((_, l))) if l < m),
        format!(
            "mid-training {}, end {}",
            middle.map_or("no slice".into(), |(s, n)| format!("{n} (step {s})")),
            last.map_or("no slice".into(), |(s, n)| format!("{n} (step {s})"))
        ),
    )
}

fn ratio_text(c: Option<&Concentration>) -> String {
    c.map_or("no decision boundary in the slice".into(), |c| {
        format!(
            "{:.3} ({} of {} regions on {:.1}% of the area)",
            c.density_ratio(),
            c.near_regions,
            c.near_regions + c.far_regions,
            100.0 * c.near_area
        )
    })
}

/// At the end, regions are denser near the decision boundary than away from it, and more so
/// than at the mid-training maximum (P2 Fig. 7: non-linearity concentrates around the boundary).
fn concentration_checks(middle: Option<&Concentration>, end: Option<&Concentration>) -> Vec<Check> {
    let ratio = |c: Option<&Concentration>| c.map_or(f64::NAN, Concentration::density_ratio);
    let within = 100.0 * NEAR_SHARE;
    vec![
        Check::new(
            format!("end: region density within {within}% of the half-width of the decision boundary > elsewhere"),
            ratio(end) > 1.0,
            format!("density ratio near / away {}", ratio_text(end)),
        ),
        Check::new(
            "the near / away density ratio grows from the mid-training maximum to the end (regions migrate to the boundary)",
            ratio(end) > ratio(middle),
            format!("mid-training {}, end {}", ratio_text(middle), ratio_text(end)),
        ),
    ]
}

/// P2 Fig. 24: at the end, the deepest layer's boundary lies nearer the decision boundary than
/// the first layer's (share of boundary length within the reach).
fn deeper_layers_check(end: Option<&Concentration>) -> Check {
    let shares = end.map(|c| c.layer_near_length.clone()).unwrap_or_default();
    let list = shares.iter().map(|s| format!("{:.3}", s)).collect::<Vec<_>>().join(", ");
    Check::new(
        format!(
            "end: the last layer's boundary lies more near the decision boundary (within {}% of the half-width) than \
             the first layer's",
            100.0 * NEAR_SHARE
        ),
        shares.len() >= 2 && shares[shares.len() - 1] > shares[0],
        format!("share of boundary length near it, per layer: {list}"),
    )
}

/// Exact partitions of the slice through training points 0, 1, 2 at `steps`.
fn slices_at(request: &RunRequest, dir: &Path, steps: &[u64]) -> anyhow::Result<Vec<SliceAtStep>> {
    let slice = training_slice(&load_run_data(&request.config)?, [0, 1, 2])?;
    steps
        .iter()
        .map(|&step| {
            let net = load_step(dir, step)?;
            let partition = partition_slice(&net, &slice, &PartitionOptions::default())
                .with_context(|| format!("partitioning the slice at step {step}"))?;
            eprintln!("  grokking slice at step {step}: {} regions", partition.num_regions());
            let (slopes, concentration) = (SlopeStats::of(&partition), concentration(&partition));
            Ok(SliceAtStep { step, partition, slopes, concentration })
        })
        .collect()
}

pub(super) fn load_step(dir: &Path, step: u64) -> anyhow::Result<Network<f64>> {
    let checkpoint = checkpoint_dir(dir, step);
    Network::<f64>::load(&checkpoint).with_context(|| format!("loading {}", checkpoint.display()))
}

/// The 1st and 99th percentiles of the positive slope norms of all `partitions`: a colour scale
/// shared by their panels.
fn slope_range<'a>(partitions: impl Iterator<Item = &'a Partition>) -> [f64; 2] {
    let mut norms: Vec<f64> =
        partitions.flat_map(|p| p.regions.iter().map(|r| r.slope_norm())).filter(|n| *n > 0.0).collect();
    if norms.is_empty() {
        return [1.0, 1.0];
    }
    norms.sort_by(f64::total_cmp);
    let at = |q: f64| norms[((norms.len() - 1) as f64 * q).round() as usize];
    [at(0.01), at(0.99)]
}

fn slopes_csv(slices: &[SliceAtStep]) -> String {
    let mut text = String::from(
        "step,regions,slope_norm_min,slope_norm_median,slope_norm_max,slope_norm_area_mean,near_area_share,\
         near_regions,far_regions,near_density_ratio\n",
    );
    for s in slices {
        let SlopeStats { min, median, max, area_mean } = s.slopes;
        let (area, near, far, ratio) = s
            .concentration
            .as_ref()
            .map_or((f64::NAN, 0, 0, f64::NAN), |c| (c.near_area, c.near_regions, c.far_regions, c.density_ratio()));
        writeln!(
            text,
            "{},{},{min},{median},{max},{area_mean},{area},{near},{far},{ratio}",
            s.step,
            s.partition.num_regions()
        )
        .expect("writing to a String");
    }
    text
}

fn layers_csv(slices: &[SliceAtStep]) -> String {
    let mut text =
        String::from("step,layer,regions_after_layer,boundary_segments,boundary_length,near_db_length_share\n");
    for s in slices {
        for (l, (layer, summary)) in s.partition.layers.iter().zip(s.partition.summary().layers).enumerate() {
            let share = s.concentration.as_ref().map_or(f64::NAN, |c| c.layer_near_length[l]);
            writeln!(
                text,
                "{},{},{},{},{},{share}",
                s.step,
                l + 1,
                layer.regions,
                layer.boundary.len(),
                summary.boundary_length
            )
            .expect("writing to a String");
        }
    }
    text
}

/// P2 Figs. 7 and 24.
pub struct GrokkingSlices;

impl Figure for GrokkingSlices {
    fn id(&self) -> &'static str {
        "grokking-slices"
    }
    fn title(&self) -> &'static str {
        "The grokking run's partition of a slice through three training points, by slope norm and layer by layer"
    }
    fn paper_reference(&self) -> &'static str {
        "P2 Fig. 7, Fig. 24"
    }
    fn setup(&self, scale: Scale) -> String {
        format!(
            "The grokking run: the depth-4 run of grokking-depth (configs/mnist_mlp_init8.toml, MLP 784-200-200-200-10 \
             ReLU, every parameter ×8 after init, 1000 MNIST samples, MSE, AdamW lr 1e-3 wd 0.01), the same run by \
             hash. Exact partitions (slice engine) of the 2-D slice through training points 0, 1, 2 of its subset \
             (square around their centroid, padding 1.2 × the largest anchor distance) at {} log-spaced checkpoints \
             and the checkpoints nearest the paper's Fig. 7 steps {PAPER_FIG7_STEPS:?} scaled to the run's length. \
             Regions are coloured by ||A||, the Frobenius norm of the output's 10 × 2 slope matrix restricted to the \
             slice (orthonormal slice directions), on a log scale per panel from its 1st (dark) to its 99th (yellow) \
             percentile (||A|| falls about 100-fold over training, so one scale would hide each panel's pattern; \
             the values are in slice_slopes.csv); left: train, test and PGD accuracy with the slice steps marked. Fig. 24: the partition \
             after each layer (boundaries of layers 1..ℓ, one colour per layer; regions after layer ℓ are not filled) \
             at the mid-training step with the most regions and at the end. 'Near the decision boundary' means within \
             {}% of the slice's half-width of it (area share estimated on a {AREA_GRID}² grid, regions by their \
             interior point). Deviations: the paper's Fig. 7 shows only steps 70035, 83375, 95381; its Fig. 24 uses a \
             depth-6 init ×1 MLP (here the depth-4 grokking run); its pad is not given; {}.",
            slice_count(scale),
            100.0 * NEAR_SHARE,
            super::scales::reductions(scale)
        )
    }
    fn runs(&self, ctx: &Context) -> anyhow::Result<Vec<RunRequest>> {
        Ok(vec![grokking_run(ctx)?])
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Outcome> {
        let request = grokking_run(ctx)?;
        let (dir, metrics) = ctx.store.finished(&request.config)?;
        let steps = request.config.train.steps;
        let chosen = slice_steps(&checkpoint_steps(&dir)?, steps, slice_count(ctx.scale));
        let slices = slices_at(&request, &dir, &chosen)?;
        anyhow::ensure!(!slices.is_empty(), "the grokking run {} has no checkpoints", ctx.shown(&dir));
        let out = ctx.figure_dir(self.id())?;
        let markers: Vec<f64> = slices.iter().map(|s| (s.step as f64).max(1.0)).collect();
        let chart = accuracy_chart(&metrics, "grokking MLP (init ×8)", &markers);
        let panels: Vec<(&Partition, PartitionStyle)> = slices
            .iter()
            .map(|s| {
                let [lo, hi] = slope_range([&s.partition].into_iter());
                let style = PartitionStyle {
                    width: 300,
                    fill: Fill::SlopeNormLog { lo, hi },
                    boundary_width: 0,
                    title: Some(format!("step {}: {} regions", s.step, s.partition.num_regions())),
                    ..PartitionStyle::default()
                };
                (&s.partition, style)
            })
            .collect();
        let counts: Vec<(u64, usize)> = slices.iter().map(|s| (s.step, s.partition.num_regions())).collect();
        let middle = busiest_mid_step(&counts, steps).and_then(|(m, _)| slices.iter().find(|s| s.step == m));
        let end = slices.last().expect("checked non-empty");
        let mut layer_panels = Vec::new();
        for s in middle.into_iter().chain([end]) {
            for l in 1..=s.partition.layers.len() {
                let title = format!("step {} · layer {l}: {} regions", s.step, s.partition.layers[l - 1].regions);
                let style = PartitionStyle {
                    width: 300,
                    fill: Fill::Blank,
                    boundaries: BoundaryColours::PerLayer,
                    layers: Some(l),
                    title: Some(title),
                    ..PartitionStyle::default()
                };
                layer_panels.push((&s.partition, style));
            }
        }
        let columns = end.partition.layers.len().max(1);
        let images = vec![
            png_and_svg(&out, "slices", |path| Ok(draw_partition_grid(&panels, 4, Some(&chart), path)?))?,
            png_and_svg(&out, "layerwise", |path| Ok(draw_partition_grid(&layer_panels, columns, None, path)?))?,
        ];
        std::fs::write(out.join("slice_slopes.csv"), slopes_csv(&slices))?;
        std::fs::write(out.join("slice_layers.csv"), layers_csv(&slices))?;
        let mut checks = vec![regions_fall(&counts, steps)];
        checks.extend(concentration_checks(middle.and_then(|s| s.concentration.as_ref()), end.concentration.as_ref()));
        checks.push(deeper_layers_check(end.concentration.as_ref()));
        Ok(Outcome {
            images,
            checks: checks.into_iter().map(|c| c.late_phase(ctx.scale)).collect(),
            notes: vec![format!(
                "Run: {}. Data: \
                 slice_slopes.csv (per step: regions, ||A|| min/median/max/area-weighted mean, regions near and away \
                 from the decision boundary), slice_layers.csv (per step and layer: regions after the layer, boundary \
                 length, its share near the decision boundary).",
                ctx.shown(&dir)
            )],
        })
    }
}

/// The top output of `net` at `x`.
fn top_class(net: &Network<f64>, x: &[f64]) -> anyhow::Result<usize> {
    let y = net.forward(&Tensor::from_vec(&[x.len()], x.to_vec())?, Mode::Eval)?;
    Ok(y.data.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(k, _)| k))
}

/// A point of the segment `a → b` where the top output changes from `a`'s (bisection); `None`
/// when `a` and `b` have the same top output.
fn boundary_point(net: &Network<f64>, a: &[f64], b: &[f64]) -> anyhow::Result<Option<Vec<f64>>> {
    let class = top_class(net, a)?;
    if top_class(net, b)? == class {
        return Ok(None);
    }
    let at = |t: f64| -> Vec<f64> { a.iter().zip(b).map(|(x, y)| x + t * (y - x)).collect() };
    let (mut lo, mut hi) = (0.0, 1.0);
    for _ in 0..BISECTIONS {
        let mid = 0.5 * (lo + hi);
        if top_class(net, &at(mid))? == class {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(Some(at(0.5 * (lo + hi))))
}

/// One Fig. 26 pair of squares: one centred on the decision boundary, one on a training point.
struct DomainPair {
    /// The training points whose segment crosses the boundary (the far square is on the first).
    points: [usize; 2],
    near: Partition,
    far: Partition,
}

/// For a triad of training points, the first pair (a, b), (a, c), (b, c) the network tells
/// apart, with the boundary point on its segment and the triad's plane directions.
struct Crossing {
    points: [usize; 2],
    boundary: Vec<f64>,
    distance: f64,
    directions: [Vec<f64>; 2],
}

fn crossing(net: &Network<f64>, data: &tessera_train::RunData, triad: [usize; 3]) -> anyhow::Result<Option<Crossing>> {
    let plane = training_slice(data, triad)?;
    for [i, j] in [[triad[0], triad[1]], [triad[0], triad[2]], [triad[1], triad[2]]] {
        let (a, b) = (training_point(data, i)?, training_point(data, j)?);
        if let Some(boundary) = boundary_point(net, &a, &b)? {
            // The far square goes on the pair's point farther from the boundary point.
            let gap = |x: &[f64]| x.iter().zip(&boundary).map(|(u, v)| (u - v).powi(2)).sum::<f64>().sqrt();
            let points = if gap(&a) >= gap(&b) { [i, j] } else { [j, i] };
            let distance = a.iter().zip(&b).map(|(u, v)| (u - v).powi(2)).sum::<f64>().sqrt();
            return Ok(Some(Crossing { points, boundary, distance, directions: plane.directions.clone() }));
        }
    }
    Ok(None)
}

/// The crossings of the first `triads(scale)` training-point triads (those with a pair the
/// network tells apart).
fn crossings(net: &Network<f64>, data: &tessera_train::RunData, scale: Scale) -> anyhow::Result<Vec<Crossing>> {
    let mut found = Vec::new();
    for k in 0..triads(scale).min(data.train.len() / 3) {
        found.extend(crossing(net, data, [3 * k, 3 * k + 1, 3 * k + 2])?);
    }
    anyhow::ensure!(!found.is_empty(), "no training pair of the first triads is classified differently");
    Ok(found)
}

/// The near and away squares of half-width `half` of every crossing, partitioned exactly.
fn domain_pairs(
    net: &Network<f64>,
    data: &tessera_train::RunData,
    crossings: Vec<Crossing>,
    half: f64,
) -> anyhow::Result<Vec<DomainPair>> {
    let options = PartitionOptions::default();
    crossings
        .into_iter()
        .map(|c| {
            let away = training_point(data, c.points[0])?;
            let near = partition_slice(net, &square(c.boundary, &c.directions, half)?, &options)?;
            let far = partition_slice(net, &square(away, &c.directions, half)?, &options)?;
            let [a, b] = c.points;
            eprintln!("  squares of points {a}, {b}: near {} regions, away {}", near.num_regions(), far.num_regions());
            Ok(DomainPair { points: c.points, near, far })
        })
        .collect()
}

/// Mean region counts of the near and the away squares.
fn mean_counts(pairs: &[DomainPair]) -> [f64; 2] {
    let n = pairs.len().max(1) as f64;
    [
        pairs.iter().map(|p| p.near.num_regions() as f64).sum::<f64>() / n,
        pairs.iter().map(|p| p.far.num_regions() as f64).sum::<f64>() / n,
    ]
}

/// P2 §3 (with Fig. 26): "as LC near the decision boundary rises, LC away from it falls": from
/// the earlier checkpoint to the end, the near squares' mean count rises and the away squares'
/// falls.
fn migration_check(early_step: u64, early: [f64; 2], end: [f64; 2]) -> Check {
    Check::new(
        format!(
            "from step {early_step} to the end, regions near the decision boundary rise and away from it fall (means)"
        ),
        end[0] > early[0] && end[1] < early[1],
        format!(
            "near {:.1} → {:.1}, away {:.1} → {:.1} (near / away {:.2} → {:.2})",
            early[0],
            end[0],
            early[1],
            end[1],
            early[0] / early[1],
            end[0] / end[1]
        ),
    )
}

/// The square of half-width `half` around `centre` in the plane of `directions`.
fn square(centre: Vec<f64>, directions: &[Vec<f64>; 2], half: f64) -> anyhow::Result<Slice> {
    let corners = [[-half, -half], [half, -half], [half, half], [-half, half]];
    let slice = Slice::new(centre, directions[0].clone(), directions[1].clone(), &corners)?;
    Ok(slice.with_anchors(vec![[0.0, 0.0]]))
}

/// P2 Fig. 26's claim: more regions in the squares on the decision boundary (mean) than in the
/// squares away from it.
fn more_regions_near(near: &[usize], far: &[usize]) -> Check {
    let mean = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len().max(1) as f64;
    let (n, f) = (mean(near), mean(far));
    Check::new(
        "more regions in equal-area squares on the decision boundary than away from it (mean, strict)",
        !near.is_empty() && near.len() == far.len() && n > f,
        format!(
            "{} pairs: near {n:.1}, away {f:.1} (ratio {:.2}; more near in {} pairs; paper: 123,156 and 88,362 vs \
             33,273 and 32,018)",
            near.len(),
            n / f,
            near.iter().zip(far).filter(|(a, b)| a > b).count()
        ),
    )
}

/// P2 Fig. 26.
pub struct BoundaryDomains;

impl Figure for BoundaryDomains {
    fn id(&self) -> &'static str {
        "grokking-boundary-domains"
    }
    fn title(&self) -> &'static str {
        "Exact region counts of equal-area squares on and away from the decision boundary after grokking"
    }
    fn paper_reference(&self) -> &'static str {
        "P2 Fig. 26"
    }
    fn setup(&self, scale: Scale) -> String {
        format!(
            "The grokking run (grokking-slices; the depth-4 run of grokking-depth) at its last checkpoint (paper: step \
             95381 of 1e5). For the first {} training-point triads (3k, 3k+1, 3k+2) of its subset: the first pair the \
             network classifies differently; the point where the top output changes on the segment between them \
             (bisection, {BISECTIONS} halvings); two squares in the triad's plane of equal half-width h = \
             {DOMAIN_SHARE} × the median pair distance: one centred on that boundary point ('near'), one centred on \
             the pair's training point farther from it ('away'). Regions of each square counted exactly (slice \
             engine). The same rule (same h, its own boundary points) at the checkpoint nearest step/{EARLY_DIVISOR} \
             gives the earlier counts. Deviations: the paper shows 2 + 2 domains without saying how they were chosen; ours are chosen \
             by this rule, and 'away' squares that still hold a piece of the decision boundary are counted and \
             reported, not dropped; {}.",
            triads(scale),
            super::scales::reductions(scale)
        )
    }
    fn runs(&self, ctx: &Context) -> anyhow::Result<Vec<RunRequest>> {
        Ok(vec![grokking_run(ctx)?])
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Outcome> {
        let request = grokking_run(ctx)?;
        let (dir, _) = ctx.store.finished(&request.config)?;
        let step =
            *checkpoint_steps(&dir)?.last().with_context(|| format!("{} has no checkpoints", ctx.shown(&dir)))?;
        let net = load_step(&dir, step)?;
        let data = load_run_data(&request.config)?;
        let found = crossings(&net, &data, ctx.scale)?;
        let mut distances: Vec<f64> = found.iter().map(|c| c.distance).collect();
        distances.sort_by(f64::total_cmp);
        let half = DOMAIN_SHARE * distances[distances.len() / 2];
        let pairs = domain_pairs(&net, &data, found, half)?;
        // The same rule at an earlier checkpoint, before the boundary's regions have gathered.
        let early_step = nearest_in_log(
            &checkpoint_steps(&dir)?.into_iter().filter(|&s| s > 0).collect::<Vec<_>>(),
            (request.config.train.steps as f64 / EARLY_DIVISOR).max(1.0).ln(),
        );
        let early_net = load_step(&dir, early_step)?;
        let early = domain_pairs(&early_net, &data, crossings(&early_net, &data, ctx.scale)?, half)?;
        let near: Vec<usize> = pairs.iter().map(|p| p.near.num_regions()).collect();
        let far: Vec<usize> = pairs.iter().map(|p| p.far.num_regions()).collect();
        let far_with_boundary = pairs.iter().filter(|p| !p.far.decision_boundary.is_empty()).count();
        let out = ctx.figure_dir(self.id())?;
        let [lo, hi] = slope_range(pairs.iter().flat_map(|p| [&p.near, &p.far]));
        let shown = pairs.len().min(2);
        let mut panels = Vec::new();
        for (label, pick) in [("near", true), ("away", false)] {
            for p in &pairs[..shown] {
                let partition = if pick { &p.near } else { &p.far };
                let style = PartitionStyle {
                    width: 300,
                    fill: Fill::SlopeNormLog { lo, hi },
                    boundary_width: 0,
                    title: Some(format!(
                        "{label}, points {}, {}: {} regions",
                        p.points[0],
                        p.points[1],
                        partition.num_regions()
                    )),
                    ..PartitionStyle::default()
                };
                panels.push((partition, style));
            }
        }
        let counts_series = |label: String, pairs: &[DomainPair], pick: fn(&DomainPair) -> &Partition| {
            Series::new(
                label,
                pairs.iter().enumerate().map(|(k, p)| (k as f64, pick(p).num_regions() as f64)).collect(),
            )
        };
        let chart = Chart {
            title: format!("regions per square (half-width {half:.3})"),
            x_label: "pair (triad order; each step its own pairs)".into(),
            y_label: "regions".into(),
            series: vec![
                counts_series(format!("near the boundary, step {step}"), &pairs, |p| &p.near),
                counts_series(format!("away from it, step {step}"), &pairs, |p| &p.far),
                counts_series(format!("near, step {early_step}"), &early, |p| &p.near).dashed(),
                counts_series(format!("away, step {early_step}"), &early, |p| &p.far).dashed(),
            ],
            ..Chart::default()
        };
        let images = vec![
            png_and_svg(&out, "domains", |path| Ok(draw_partition_grid(&panels, shown.max(1), None, path)?))?,
            chart_files(&[chart], 1, &out, "counts")?,
        ];
        let mut csv = String::from(
            "step,pair,far_point,other_point,near_regions,away_regions,away_has_decision_boundary,\
             near_slope_norm_area_mean,away_slope_norm_area_mean\n",
        );
        for (at, list) in [(early_step, &early), (step, &pairs)] {
            for (k, p) in list.iter().enumerate() {
                let [a, b] = p.points;
                writeln!(
                    csv,
                    "{at},{k},{a},{b},{},{},{},{},{}",
                    p.near.num_regions(),
                    p.far.num_regions(),
                    !p.far.decision_boundary.is_empty(),
                    SlopeStats::of(&p.near).area_mean,
                    SlopeStats::of(&p.far).area_mean
                )?;
            }
        }
        std::fs::write(out.join("domains.csv"), csv)?;
        let mean_slope = |pick: fn(&DomainPair) -> &Partition| {
            pairs.iter().map(|p| SlopeStats::of(pick(p)).area_mean).sum::<f64>() / pairs.len() as f64
        };
        let (near_slope, far_slope) = (mean_slope(|p| &p.near), mean_slope(|p| &p.far));
        Ok(Outcome {
            images,
            checks: vec![
                more_regions_near(&near, &far).late_phase(ctx.scale),
                migration_check(early_step, mean_counts(&early), mean_counts(&pairs)).late_phase(ctx.scale),
            ],
            notes: vec![format!(
                "Run: {}, step {step}. Squares of half-width {half:.4} (area {:.4}). {far_with_boundary} of {} 'away' \
                 squares hold a piece of the decision boundary. Mean area-weighted ||A|| (slice-restricted output \
                 slope): near {near_slope:.4}, away {far_slope:.4}. Slope-norm colours: one log scale for the four \
                 panels, {lo:.4e} to {hi:.4e}. Data: domains.csv (per step and pair: the training points, regions \
                 and mean ||A|| near and away), counts.csv.",
                ctx.shown(&dir),
                4.0 * half * half,
                pairs.len()
            )],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_regions::{DecisionSegment, LayerPartition, Region};

    #[test]
    fn log_spaced_subset_picks_nearest_checkpoints_and_keeps_the_ends() {
        let steps = [0, 10, 19, 140, 665, 2668, 4669, 5000, 8671, 10000, 25000, 99383, 100000];
        assert_eq!(log_spaced_subset(&steps, 5), vec![10, 140, 665, 10000, 100000]);
        assert_eq!(log_spaced_subset(&steps, 1), vec![10]);
        assert_eq!(log_spaced_subset(&[0], 3), Vec::<u64>::new());
        let with_paper = slice_steps(&[0, 10, 100, 1000, 70000, 85000, 95000, 100000], 100_000, 3);
        assert_eq!(with_paper, vec![10, 1000, 70000, 85000, 95000, 100000]);
    }

    #[test]
    fn regions_fall_needs_fewer_regions_at_the_end_than_mid_training() {
        let falling = [(10, 50), (2000, 900), (20000, 800), (100000, 300)];
        assert!(regions_fall(&falling, 100_000).passed());
        let rising = [(10, 50), (2000, 300), (20000, 400), (100000, 900)];
        assert!(!regions_fall(&rising, 100_000).passed());
        assert!(!regions_fall(&[(100000, 5)], 100_000).passed(), "no mid-training slice proves nothing");
    }

    /// A partition of the square [-1, 1]² into vertical strips at `cuts` (x positions), one
    /// layer holding the cuts as its boundary, the decision boundary the line x = `boundary`.
    fn strips(cuts: &[f64], boundary: f64) -> Partition {
        let mut edges = vec![-1.0];
        edges.extend_from_slice(cuts);
        edges.push(1.0);
        let regions = edges
            .windows(2)
            .map(|w| Region {
                polygon: vec![[w[0], -1.0], [w[1], -1.0], [w[1], 1.0], [w[0], 1.0]],
                code: vec![],
                area: 2.0 * (w[1] - w[0]),
                output: vec![[0.0, w[0], 0.0]],
            })
            .collect();
        let square = [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]];
        let boundary_segments = |xs: &[f64]| -> Vec<UnitSegment> {
            xs.iter().map(|&x| UnitSegment { from: [x, -1.0], to: [x, 1.0], unit: 0 }).collect()
        };
        let layer = |xs: &[f64]| LayerPartition {
            node: 1,
            name: "relu".into(),
            kind: "relu".into(),
            units: 1,
            regions: xs.len() + 1,
            boundary: boundary_segments(xs),
        };
        Partition {
            slice: Slice::new(vec![0.0, 0.0], vec![1.0, 0.0], vec![0.0, 1.0], &square).unwrap(),
            domain_area: 4.0,
            layers: vec![layer(&cuts[..cuts.len() / 2]), layer(&cuts[cuts.len() / 2..])],
            regions,
            decision_boundary: vec![DecisionSegment { from: [boundary, -1.0], to: [boundary, 1.0], classes: [0, 1] }],
        }
    }

    /// Ten strip cuts within 0.04 of x = `around`: the shallow half left of it, the deep half right.
    fn cuts_around(around: f64) -> Vec<f64> {
        (0..10).map(|k| around - 0.036 + 0.008 * k as f64).collect()
    }

    #[test]
    fn concentration_sees_regions_and_deep_boundaries_gathered_on_the_decision_boundary() {
        let on = concentration(&strips(&cuts_around(0.5), 0.5)).unwrap();
        assert!(on.density_ratio() > 5.0, "{on:?}");
        assert!((on.near_area - 0.05).abs() < 0.01, "{on:?}");
        let off = concentration(&strips(&cuts_around(-0.5), 0.5)).unwrap();
        assert!(off.density_ratio() < 1.0, "{off:?}");
        assert!(concentration(&Partition { decision_boundary: vec![], ..strips(&[0.0], 0.5) }).is_none());
        let [lo, hi] = slope_range([strips(&cuts_around(0.5), 0.5)].iter());
        assert!(lo < hi && lo > 0.0, "{lo} {hi}");
    }

    #[test]
    fn concentration_checks_need_a_denser_boundary_at_the_end_than_mid_training() {
        let (on, off) =
            (concentration(&strips(&cuts_around(0.5), 0.5)), concentration(&strips(&cuts_around(-0.5), 0.5)));
        assert!(concentration_checks(off.as_ref(), on.as_ref()).iter().all(Check::passed));
        assert!(concentration_checks(on.as_ref(), off.as_ref()).iter().all(|c| !c.passed()));
        assert!(concentration_checks(None, None).iter().all(|c| !c.passed()));
    }

    #[test]
    fn deeper_layers_check_needs_the_last_layer_nearer_the_decision_boundary() {
        // Deep cuts (the right half) on the boundary at 0.02, shallow ones 0.2 left of it.
        let mut cuts: Vec<f64> = (0..5).map(|k| -0.3 + 0.01 * k as f64).collect();
        cuts.extend((0..5).map(|k| 0.0 + 0.01 * k as f64));
        let deep_near = concentration(&strips(&cuts, 0.02));
        assert!(deeper_layers_check(deep_near.as_ref()).passed(), "{}", deeper_layers_check(deep_near.as_ref()).detail);
        let shallow_near = concentration(&strips(&cuts, -0.28));
        assert!(!deeper_layers_check(shallow_near.as_ref()).passed());
        assert!(!deeper_layers_check(None).passed());
    }

    #[test]
    fn more_regions_near_needs_a_strictly_larger_mean() {
        assert!(more_regions_near(&[120, 90], &[30, 35]).passed());
        assert!(!more_regions_near(&[30, 35], &[120, 90]).passed());
        assert!(!more_regions_near(&[50, 50], &[50, 50]).passed());
        assert!(!more_regions_near(&[], &[]).passed());
    }

    #[test]
    fn migration_check_needs_near_counts_to_rise_and_away_counts_to_fall() {
        assert!(migration_check(1000, [800.0, 700.0], [1800.0, 600.0]).passed());
        assert!(!migration_check(1000, [800.0, 700.0], [1800.0, 900.0]).passed(), "away rose");
        assert!(!migration_check(1000, [800.0, 700.0], [700.0, 600.0]).passed(), "near fell");
        assert!(!migration_check(1000, [f64::NAN; 2], [f64::NAN; 2]).passed());
    }

    #[test]
    fn boundary_point_lies_where_the_top_output_changes() {
        // Two outputs y0 = x0, y1 = x1 (identity, no kinks): the top output changes on x0 = x1.
        let mut net = tessera_net::mlp::<f64>(&[2, 2], tessera_net::Activation::Relu).unwrap();
        net.params_mut(1).tensors[0].copy_from_slice(&[1.0, 0.0, 0.0, 1.0]);
        net.params_mut(1).tensors[1].copy_from_slice(&[0.0, 0.0]);
        let p = boundary_point(&net, &[1.0, 0.0], &[0.0, 3.0]).unwrap().unwrap();
        assert!((p[0] - p[1]).abs() < 1e-12, "{p:?}");
        assert!(boundary_point(&net, &[1.0, 0.0], &[2.0, 1.0]).unwrap().is_none());
    }

    #[test]
    fn slope_stats_weight_by_area() {
        let s = SlopeStats::of(&strips(&[0.0], 0.5));
        // Strips [-1, 0] (slope -1) and [0, 1] (slope 0): norms 1 and 0, equal areas.
        assert_eq!((s.min, s.max, s.area_mean), (0.0, 1.0, 0.5));
    }
}
