//! LC against exact region counts over training (P1 Fig. 12, P2 Fig. 35): at every checkpoint
//! of the shared MNIST run, LC at a small radius around training points beside two exact
//! counts of the same neighbourhoods (the regions of a 2-D slice, and of a low-dimensional
//! cross-polytope by tessera-regions' LP count), with the Spearman rank correlation between
//! the LC curve and each exact curve, per layer and in total.

use super::{Check, Context, Figure, Outcome};
use crate::checks::{self, Curve};
use crate::runs::RunRequest;
use crate::Scale;
use anyhow::Context as _;
use std::fmt::Write as _;
use std::path::Path;
use tessera_lc::{Directions, Frame, LcOptions, LocalComplexity};
use tessera_net::Network;
use tessera_plot::curves::{draw_charts, Chart, Series};
use tessera_regions::polytope::{count_regions, Neighborhood, PolytopeOptions};
use tessera_regions::{partition_slice, PartitionOptions, Slice};
use tessera_train::checkpoint::checkpoint_dir;
use tessera_train::load_run_data;

/// The paper's radius for both methods (P2 App. A).
const RADIUS: f64 = 0.001;
/// LC's neighbourhood dimension (the paper's).
const LC_P: usize = 25;
/// The exact cross-polytope count's dimension: small, so the LP count stays exact and cheap.
const EXACT_P: usize = 3;
/// Seed of the frames and slices.
const SEED: u64 = 0;
/// The rank correlation the issue expects (no paper reports one).
const MIN_SPEARMAN: f64 = 0.7;

/// (training points, at most this many checkpoints) at `scale`.
fn size(scale: Scale) -> usize {
    match scale {
        Scale::Smoke => 10,
        Scale::Cpu => 200,
        Scale::Paper => 500,
    }
}

/// Per checkpoint: mean over points of LC's cumulative per-layer count (layers 1..=ℓ) and of the
/// exact region counts after each layer, on the slice and in the cross-polytope.
#[derive(Clone, Debug, Default, PartialEq)]
struct Curves {
    steps: Vec<f64>,
    /// `[layer][checkpoint]`, the last layer being the total.
    lc: Vec<Vec<f64>>,
    slice: Vec<Vec<f64>>,
    polytope: Vec<Vec<f64>>,
}

/// The checkpoint steps of a run folder, ascending.
pub(super) fn checkpoint_steps(run: &Path) -> anyhow::Result<Vec<u64>> {
    let root = run.join(tessera_train::checkpoint::CHECKPOINTS_DIR);
    anyhow::ensure!(root.is_dir(), "{} has no checkpoints", run.display());
    Ok(tessera_train::checkpoint::checkpoint_folders(run)?.into_iter().map(|(step, _)| step).collect())
}

/// Running sums: `[a, a + b, a + b + c, ..]`.
fn cumulative(values: &[f64]) -> Vec<f64> {
    values
        .iter()
        .scan(0.0, |s, v| {
            *s += v;
            Some(*s)
        })
        .collect()
}

/// Per-layer means at one checkpoint: LC (cumulative), slice regions, cross-polytope regions.
fn measure(net: &Network<f64>, centres: &[Vec<f64>]) -> anyhow::Result<[Vec<f64>; 3]> {
    let d = net.input_width();
    let frame = Frame::random(d, LC_P, SEED)?;
    let lc = LocalComplexity::new(net, LcOptions::new(Directions::Shared(frame.clone()), vec![RADIUS]))?;
    let layers = net.activation_ids().len();
    let n = centres.len() as f64;
    let mut sums = [vec![0.0; layers], vec![0.0; layers], vec![0.0; layers]];
    for c in lc.count_points(&centres.concat())? {
        let per_layer: Vec<f64> = c.per_layer.iter().map(|&k| f64::from(k)).collect();
        sums[0].iter_mut().zip(cumulative(&per_layer)).for_each(|(s, v)| *s += v / n);
    }
    let options = PartitionOptions { decision_boundary: false, ..PartitionOptions::default() };
    let directions = frame.directions()[..EXACT_P * d].to_vec();
    for (i, centre) in centres.iter().enumerate() {
        let slice = Slice::around_point(centre, RADIUS, SEED.wrapping_add(i as u64))?;
        let partition = partition_slice(net, &slice, &options)?;
        sums[1].iter_mut().zip(&partition.layers).for_each(|(s, l)| *s += l.regions as f64 / n);
        let neighbourhood = Neighborhood::new(centre.clone(), directions.clone(), EXACT_P, RADIUS)?;
        let count = count_regions(net, &neighbourhood, &PolytopeOptions::default())?;
        sums[2].iter_mut().zip(&count.layers).for_each(|(s, l)| *s += l.regions as f64 / n);
    }
    Ok(sums)
}

/// Spearman's rank correlation (ties get their mean rank); NaN when either side is constant.
fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ma, mb) = (mean(&ra), mean(&rb));
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let var = |v: &[f64], m: f64| v.iter().map(|x| (x - m).powi(2)).sum::<f64>();
    cov / (var(&ra, ma) * var(&rb, mb)).sqrt()
}

fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end) as f64 / 2.0;
        order[start..=end].iter().for_each(|&i| ranks[i] = rank);
        start = end + 1;
    }
    ranks
}

/// The total curves' rank correlation reaches `MIN_SPEARMAN` (NaN fails).
fn correlation_check(exact: &str, rho: f64) -> Check {
    Check::new(
        format!("Spearman(LC, exact {exact} count) over checkpoints ≥ {MIN_SPEARMAN} (total)"),
        rho >= MIN_SPEARMAN,
        format!("ρ = {rho:.3}"),
    )
}

/// P1 Fig. 12 / P2 Fig. 35.
pub struct LcVsExact;

/// The paper's network for this figure: depth 3 (784-200-200-10), shared with the depth sweep.
fn depth_3_run(ctx: &Context) -> anyhow::Result<RunRequest> {
    super::dynamics::mnist_run(ctx, 3, "MNIST MLP depth 3 width 200")
}

impl Figure for LcVsExact {
    fn id(&self) -> &'static str {
        "lc-vs-exact"
    }
    fn title(&self) -> &'static str {
        "LC against exact region counts over training, with their rank correlation"
    }
    fn paper_reference(&self) -> &'static str {
        "P1 Fig. 12, P2 Fig. 35"
    }
    fn setup(&self, scale: Scale) -> String {
        format!(
            "The depth-3 MNIST run of the depth sweep (configs/mnist_mlp_init1.toml, MLP 784-200-200-10, as the \
             paper), every checkpoint it keeps. \
             Around the first {} training points at r = {RADIUS}: LC with P = {LC_P} (one seeded frame; per layer, \
             summed over layers 1..ℓ); the exact region count of the 2-D square of half-width r through the point in a \
             seeded random plane (slice engine); the exact region count of the P = {EXACT_P} cross-polytope spanned by \
             the LC frame's first {EXACT_P} directions (LP count). Spearman ρ between the LC curve and each exact \
             curve over checkpoints, per layer (after layer ℓ) and in total. Deviations: 500 samples and SplineCam in the paper; its LC on 25-dim, its exact \
             count on 2-dim neighbourhoods.",
            size(scale)
        )
    }
    fn runs(&self, ctx: &Context) -> anyhow::Result<Vec<RunRequest>> {
        Ok(vec![depth_3_run(ctx)?])
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Outcome> {
        let request = depth_3_run(ctx)?;
        let (dir, _) = ctx.store.finished(&request.config)?;
        let data = load_run_data(&request.config)?;
        let n = size(ctx.scale).min(data.train.len());
        let centres: Vec<Vec<f64>> =
            (0..n).map(|i| data.train.sample(i).iter().map(|&v| f64::from(v)).collect()).collect();
        let mut curves = Curves::default();
        for step in checkpoint_steps(&dir)? {
            let path = checkpoint_dir(&dir, step);
            let net = Network::<f64>::load(&path).with_context(|| format!("loading {}", path.display()))?;
            let [lc, slice, polytope] = measure(&net, &centres).with_context(|| format!("step {step}"))?;
            eprintln!(
                "  step {step}: LC {:.4}, slice {:.4}, polytope {:.4}",
                lc.last().unwrap_or(&0.0),
                slice.last().unwrap_or(&0.0),
                polytope.last().unwrap_or(&0.0)
            );
            curves.steps.push(step as f64);
            for (all, layer) in [(&mut curves.lc, lc), (&mut curves.slice, slice), (&mut curves.polytope, polytope)] {
                all.resize(layer.len(), Vec::new());
                all.iter_mut().zip(layer).for_each(|(c, v)| c.push(v));
            }
        }
        let out = ctx.figure_dir(self.id())?;
        let image = draw(&curves, &out)?;
        std::fs::write(out.join("lc_vs_exact.csv"), csv(&curves))?;
        let mut table = String::from("| layer | ρ(LC, slice) | ρ(LC, cross-polytope) |\n| --- | --- | --- |\n");
        for l in 0..curves.lc.len() {
            let name = if l + 1 == curves.lc.len() { format!("{} (total)", l + 1) } else { (l + 1).to_string() };
            let (a, b) = (spearman(&curves.lc[l], &curves.slice[l]), spearman(&curves.lc[l], &curves.polytope[l]));
            writeln!(table, "| {name} | {a:.3} | {b:.3} |")?;
        }
        let total = curves.lc.len() - 1;
        let mut list = vec![
            correlation_check("slice", spearman(&curves.lc[total], &curves.slice[total])),
            correlation_check("cross-polytope", spearman(&curves.lc[total], &curves.polytope[total])),
        ];
        // The shape checks compare levels with ratios, so the exact curves count the regions
        // beyond the one every neighbourhood has (LC counts cuts, which start at 0 too).
        let extra = |counts: &[f64]| counts.iter().map(|c| c - 1.0).collect::<Vec<_>>();
        let shapes = [
            ("LC", curves.lc[total].clone()),
            ("slice regions − 1", extra(&curves.slice[total])),
            ("cross-polytope regions − 1", extra(&curves.polytope[total])),
        ];
        for (name, values) in shapes {
            let curve = Curve::new(curves.steps.iter().copied().zip(values).collect());
            let shape = [
                checks::first_descent(&curve, checks::EARLY),
                checks::ascent(&curve, checks::EARLY),
                checks::late_fall("second descent", &curve, 0.5),
            ];
            list.extend(shape.into_iter().map(|check| check.for_setting(name)));
        }
        let checks = list.into_iter().map(|c| c.late_phase(ctx.scale)).collect();
        Ok(Outcome {
            images: vec![image],
            checks,
            notes: vec![table, format!("Run: {}. Data: lc_vs_exact.csv.", ctx.shown(&dir))],
        })
    }
}

fn draw(curves: &Curves, out: &Path) -> anyhow::Result<std::path::PathBuf> {
    let total = curves.lc.len() - 1;
    let series = |label: &str, values: &[f64]| {
        Series::new(label, curves.steps.iter().map(|s| s.max(1.0)).zip(values.iter().copied()).collect())
    };
    let chart = |title: &str, values: &[f64], y: &str| Chart {
        title: title.into(),
        x_label: "step".into(),
        y_label: y.into(),
        log_x: true,
        series: vec![series(title, values)],
        ..Chart::default()
    };
    let charts = [
        chart("LC (P = 25), all layers", &curves.lc[total], "neurons cut"),
        chart("exact regions, 2-D slice", &curves.slice[total], "regions"),
        chart("exact regions, P = 3 cross-polytope", &curves.polytope[total], "regions"),
    ];
    draw_charts(&charts, 3, &out.join("lc_vs_exact.svg"))?;
    let png = out.join("lc_vs_exact.png");
    draw_charts(&charts, 3, &png)?;
    Ok(png)
}

fn csv(curves: &Curves) -> String {
    let layers = curves.lc.len();
    let mut text = String::from("step");
    for l in 1..=layers {
        write!(text, ",lc_layers1to{l},slice_regions_after{l},polytope_regions_after{l}").expect("writing to a String");
    }
    text.push('\n');
    for (k, step) in curves.steps.iter().enumerate() {
        write!(text, "{step}").expect("writing to a String");
        for l in 0..layers {
            write!(text, ",{},{},{}", curves.lc[l][k], curves.slice[l][k], curves.polytope[l][k])
                .expect("writing to a String");
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_is_one_for_monotone_minus_one_reversed_and_averages_ties() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((spearman(&a, &[10.0, 20.0, 25.0, 100.0, 1e3]) - 1.0).abs() < 1e-12);
        assert!((spearman(&a, &[5.0, 4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![2.5, 0.0, 2.5, 1.0]);
        assert!(spearman(&a, &[1.0; 5]).is_nan());
    }

    #[test]
    fn correlation_check_fails_below_the_threshold_and_on_nan() {
        let descent_ascent_descent = [5.0, 2.0, 6.0, 7.0, 3.0, 1.0];
        let same_shape = [3.0, 1.5, 4.0, 4.5, 2.0, 1.2];
        let unrelated = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert!(correlation_check("x", spearman(&descent_ascent_descent, &same_shape)).passed());
        assert!(!correlation_check("x", spearman(&descent_ascent_descent, &unrelated)).passed());
        assert!(!correlation_check("x", f64::NAN).passed());
    }

    #[test]
    fn cumulative_sums_layers() {
        assert_eq!(cumulative(&[1.0, 0.5, 2.0]), vec![1.0, 1.5, 3.5]);
    }
}
