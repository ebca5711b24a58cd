//! The CIFAR-10 conv figures: a CNN and a pre-activation ResNet18 with and without batch norm
//! (P1 Figs. 4, 5, 7, 14; P2 Figs. 6, 12, 21, 23), exact slices through three test images.
//! The CNN without BN at the scale's depth is one run (by hash) serving the BN sweep, the
//! weight-decay sweep, the robustness curve, the deformation and the slices; the ResNet
//! without BN serves its BN sweep, its layerwise LC, the deformation and the slices.

use super::geometry::{deformation_checks, deformation_files, deformation_of_run, LayerMeasures, DEFORMATION_RADII};
use super::grokking_geometry::{load_step, log_spaced_subset, regions_fall};
use super::lc_exact::checkpoint_steps;
use super::scales::{
    cnn_convs, cnn_depth, cnn_depths, cnn_overrides, cnn_reductions, cnn_steps, resnet_overrides, resnet_reductions,
    resnet_steps, CNN_CONFIG, CONV_RADIUS, RESNET_CONFIG,
};
use super::sweep::{Base, Setting, Sweep};
use super::{chart_files, png_and_svg, Context, Figure, Outcome};
use crate::checks::{self, Check, Curve};
use crate::run_plots::{curve, lc_chart, metrics_csv, plot_run};
use crate::runs::RunRequest;
use crate::Scale;
use anyhow::Context as _;
use std::fmt::Write as _;
use tessera_net::{Mode, Network, Tensor};
use tessera_plot::{draw_partitions_beside_chart, BoundaryColours, Fill, PartitionStyle};
use tessera_regions::{partition_slice, Partition, PartitionOptions, Slice};
use tessera_train::load_run_data;

/// The CNN runs' base.
pub const CNN: Base =
    Base { config_file: CNN_CONFIG, overrides: cnn_overrides, radius: CONV_RADIUS, reductions: cnn_reductions };
/// The ResNet runs' base.
pub const RESNET: Base = Base {
    config_file: RESNET_CONFIG,
    overrides: resnet_overrides,
    radius: CONV_RADIUS,
    reductions: resnet_reductions,
};

/// Metric name of the mean LC of point set `set` at the conv figures' radius.
fn lc(set: &str) -> String {
    format!("lc_{set}_r{CONV_RADIUS}_mean")
}

const PANELS: &[&str] =
    &["train_acc", "test_acc", "lc_train_r0.005_mean", "lc_test_r0.005_mean", "lc_random_r0.005_mean"];

/// The CNN without BN at the scale's depth, seed 0: the run of Figs. 4 (its no-BN setting),
/// 7 (wd 0) and P2 Fig. 6.
pub fn shared_cnn_run(ctx: &Context) -> anyhow::Result<RunRequest> {
    let mut overrides = cnn_overrides(ctx.scale, cnn_steps(ctx.scale));
    overrides.push("seed=0".into());
    Ok(RunRequest { label: "CIFAR-10 CNN without BN (shared)".into(), config: ctx.config(CNN_CONFIG, &overrides)? })
}

/// The ResNet18 without BN, seed 0 (P1 Figs. 5, 14).
pub fn resnet_run(ctx: &Context) -> anyhow::Result<RunRequest> {
    let mut overrides = resnet_overrides(ctx.scale, resnet_steps(ctx.scale));
    overrides.push("seed=0".into());
    Ok(RunRequest { label: "CIFAR-10 ResNet18 without BN".into(), config: ctx.config(RESNET_CONFIG, &overrides)? })
}

fn batch_norm(on: bool) -> String {
    format!("model.batch_norm={on}")
}

/// Per (no BN, BN) pair of settings `2k, 2k + 1`: BN raises train, test and random LC (mean over
/// the run) and keeps more of its train-LC peak at the end (P1 Figs. 4, 5; P2 Fig. 12).
fn batch_norm_checks(labels: &[String], curve: impl Fn(usize, &str) -> Curve, scale: Scale) -> Vec<Check> {
    let mut list = Vec::new();
    for pair in 0..labels.len() / 2 {
        let (plain, bn) = (2 * pair, 2 * pair + 1);
        let label = labels[plain].trim_end_matches("no BN").trim_end_matches([',', ' ']).to_string();
        for set in ["train", "test", "random"] {
            let (a, b) = (curve(bn, &lc(set)), curve(plain, &lc(set)));
            let check =
                checks::above_over(&format!("BN raises {set} LC (mean over the run)"), &a, &b, 0.0, f64::INFINITY);
            list.push(check.late_phase(scale));
        }
        let (a, b) = (curve(bn, &lc("train")), curve(plain, &lc("train")));
        list.push(checks::weaker_late_descent("BN removes the late descent of train LC", &a, &b).late_phase(scale));
        if !label.is_empty() {
            let n = list.len();
            list[n - 4..].iter_mut().for_each(|check| check.name = format!("{label}: {}", check.name));
        }
    }
    list
}

/// Mean of the ascent's peak window.
fn peak(curve: &Curve) -> f64 {
    curve.ascent_peak(checks::EARLY).map_or(f64::NAN, |p| p.1)
}

/// The conv sweeps, in report order.
pub fn sweeps() -> Vec<Sweep> {
    vec![
        Sweep {
            id: "cnn-batch-norm",
            title: "CIFAR-10 CNN of two depths with and without batch norm after every conv",
            reference: "P1 Fig. 4, P2 Fig. 12",
            base: CNN,
            about: "Paper: CNN of varying depth (values not given), 3x3 convs + one hidden dense layer, with and \
                    without BN after every conv, CE, LC over the conv layers at 2K points, P = 25 (panel file r = \
                    0.01; P2: r = 0.005). Here: configs/cifar_cnn.toml, stride 2 on the 2nd and 4th conv, BN in \
                    evaluation mode for LC; r = 0.005 drawn.",
            settings: |scale| {
                cnn_depths(scale)
                    .into_iter()
                    .flat_map(|d| {
                        [false, true].map(|on| {
                            let label = format!("{d} convs, {}", if on { "BN" } else { "no BN" });
                            Setting::new(label, &[cnn_convs(scale, d), batch_norm(on)])
                        })
                    })
                    .collect()
            },
            steps: cnn_steps,
            panels: PANELS,
            checks: |c, scale| {
                let mut list = batch_norm_checks(&c.labels, |k, m| c.curve(k, m), scale);
                let plain: Vec<(String, f64)> = c.per_setting(&lc("train"), peak).into_iter().step_by(2).collect();
                list.push(
                    checks::strictly_increasing(
                        "without BN, the train-LC ascent peak grows with depth (P1 Fig. 4)",
                        &plain,
                    )
                    .late_phase(scale),
                );
                list
            },
        },
        Sweep {
            id: "resnet-batch-norm",
            title: "CIFAR-10 pre-activation ResNet18 with and without batch norm",
            reference: "P1 Fig. 5",
            base: RESNET,
            about: "Paper: pre-activation ResNet18 (width 16) with and without BN, LC at 1K points, P = 20 (panel \
                    files r = 0.001 and 0.05). Here: configs/cifar_resnet18.toml, LC over the 16 tensors entering the \
                    block ReLUs (BN in evaluation mode); r = 0.005 drawn.",
            settings: |_| vec![Setting::new("no BN", &[batch_norm(false)]), Setting::new("BN", &[batch_norm(true)])],
            steps: resnet_steps,
            panels: PANELS,
            checks: |c, scale| batch_norm_checks(&c.labels, |k, m| c.curve(k, m), scale),
        },
        Sweep {
            id: "cnn-weight-decay",
            title: "Weight-decay sweep on the CIFAR-10 CNN",
            reference: "P1 Fig. 7",
            base: CNN,
            about: "Paper: CNN depth 5 width 32, weight decay varied (values not given); panels train and random \
                    LC. Here: the shared CNN without BN (wd 0 is the run of cnn-batch-norm and cnn-robustness), \
                    AdamW (decoupled decay).",
            settings: |scale| {
                let values: &[&str] = match scale {
                    Scale::Smoke => &["0.0", "0.1"],
                    Scale::Cpu => &["0.0", "0.01", "0.1"],
                    Scale::Paper => &["0.0", "0.01", "0.1", "1.0"],
                };
                values
                    .iter()
                    .map(|wd| Setting::new(format!("wd {wd}"), &[format!("optim.weight_decay={wd}")]))
                    .collect()
            },
            steps: cnn_steps,
            panels: &["train_acc", "test_acc", "lc_train_r0.005_mean", "lc_random_r0.005_mean"],
            checks: |c, scale| {
                vec![
                    checks::strictly_increasing(
                        "stronger wd delays or removes the late descent (train LC: last-decade mean / peak grows)",
                        &c.per_setting(&lc("train"), checks::kept_share),
                    )
                    .late_phase(scale),
                    checks::strictly_decreasing(
                        "stronger wd lowers the train-LC ascent peak",
                        &c.per_setting(&lc("train"), peak),
                    )
                    .late_phase(scale),
                ]
            },
        },
    ]
}

/// "Not checked" unless the runs are as long as the paper's: the phase comes after 5e4 steps.
fn paper_only(check: Check, scale: Scale) -> Check {
    check.unless(scale != Scale::Paper, "the paper shows it after 5e4 steps; runs of this scale stop earlier")
}

/// P2 Fig. 6 (left): the CNN's accuracy, PGD accuracy and LC.
pub struct CnnRobustness;

impl CnnRobustness {
    fn checks(metrics: &tessera_train::MetricsTable, scale: Scale) -> Vec<Check> {
        let (train, test) = (curve(metrics, &lc("train")), curve(metrics, &lc("test")));
        let smallest_eps = metrics.names().find(|n| n.starts_with("pgd_acc_eps")).unwrap_or("pgd_acc_eps").to_string();
        vec![
            checks::close_over("train LC ≈ test LC over the run (P1 Fig. 4)", &train, &test, 0.1).late_phase(scale),
            checks::first_descent(&train, checks::EARLY).late_phase(scale),
            checks::ascent(&train, checks::EARLY).late_phase(scale),
            paper_only(checks::late_fall("train LC second descent", &train, 0.5), scale),
            paper_only(checks::delayed_robustness(&curve(metrics, &smallest_eps), 0.1), scale),
        ]
    }
}

impl Figure for CnnRobustness {
    fn id(&self) -> &'static str {
        "cnn-robustness"
    }
    fn title(&self) -> &'static str {
        "CIFAR-10 CNN: clean and PGD adversarial accuracy and LC"
    }
    fn paper_reference(&self) -> &'static str {
        "P2 Fig. 6 (left)"
    }
    fn setup(&self, scale: Scale) -> String {
        format!(
            "Paper: CNN (5 convs + 2 dense), CIFAR-10, L∞ PGD on test data after each step (ε ∈ {{0.03, …, 0.2}}, α \
             = 0.0156, 10 steps), LC with P = 25 at r = 0.005 on 1024 points; adversarial accuracy rises to ≈ 70% \
             between 5e4 and 2.5e5 steps. Here: the shared CNN without BN ({CNN_CONFIG}, {} convs, AdamW lr 1e-3 \
             wd 0, inputs in [0, 1], ε in those units), {} steps, PGD at the evaluation steps only (random start, \
             α = 0.0156; a point counts as robust only if every iterate is classified correctly); {}.",
            cnn_depth(scale),
            cnn_steps(scale),
            cnn_reductions(scale)
        )
    }
    fn runs(&self, ctx: &Context) -> anyhow::Result<Vec<RunRequest>> {
        Ok(vec![shared_cnn_run(ctx)?])
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Outcome> {
        let (dir, metrics) = ctx.store.finished(&shared_cnn_run(ctx)?.config)?;
        let out = ctx.figure_dir(self.id())?;
        let image = png_and_svg(&out, "robustness", |path| plot_run(&metrics, "CIFAR-10 CNN", &[], path))?;
        std::fs::write(out.join("metrics.csv"), metrics_csv(&metrics))?;
        Ok(Outcome {
            images: vec![image],
            checks: Self::checks(&metrics, ctx.scale),
            notes: vec![format!("Run: {}. Data: metrics.csv.", ctx.shown(&dir))],
        })
    }
}

/// Tolerance of "train and test LC equal random LC" (relative to random LC).
const EQUAL_TO_RANDOM: f64 = 0.1;

/// The first window before `train`'s ascent peak where train and test LC are both within
/// `EQUAL_TO_RANDOM` of random LC (windows of the three curves at the same steps).
fn equal_to_random_before_ascent(train: &Curve, test: &Curve, random: &Curve) -> Option<f64> {
    let peak = train.ascent_peak(checks::EARLY)?;
    let near = |a: f64, r: f64| (a - r).abs() <= EQUAL_TO_RANDOM * r.abs();
    train
        .windows()
        .into_iter()
        .zip(test.windows())
        .zip(random.windows())
        .find(|((tr, te), rd)| tr.0 < peak.0 && near(tr.1, rd.1) && near(te.1, rd.1))
        .map(|((tr, _), _)| tr.0)
}

/// P1 Fig. 14's claims on per-layer curves `(name, train, test, random)` of the 16 block ReLUs:
/// in the two shallowest blocks the second ReLU's late descent is stronger than the first's,
/// and in most of the five deepest layers train and test LC equal random LC for a while before
/// the ascent.
fn resnet_layer_checks(layers: &[(String, Curve, Curve, Curve)]) -> Vec<Check> {
    let share = |k: usize| layers.get(k).map_or(f64::NAN, |l| checks::kept_share(&l.1));
    let alternates = (0..2).all(|block| share(2 * block + 1) < share(2 * block));
    let shares: Vec<String> = (0..4).map(|k| format!("{:.3}", share(k))).collect();
    let deep = &layers[layers.len().saturating_sub(5)..];
    let equal: Vec<String> = deep
        .iter()
        .filter_map(|(name, train, test, random)| {
            equal_to_random_before_ascent(train, test, random).map(|s| format!("{name} (window from step {s})"))
        })
        .collect();
    vec![
        Check::new(
            "shallow blocks 1–2: the second ReLU keeps less of its peak at the end than the first (the late descent \
             alternates between the two ReLUs of a block)",
            layers.len() >= 4 && alternates,
            format!("kept share (last-decade mean / peak) of layers 1–4: {}", shares.join(", ")),
        ),
        Check::new(
            format!(
                "deep layers: in at least 3 of the 5 deepest, train and test LC are within {:.0}% of random LC in a \
                 window before the train-LC ascent peak",
                100.0 * EQUAL_TO_RANDOM
            ),
            deep.len() == 5 && equal.len() >= 3,
            if equal.is_empty() { "in none".to_string() } else { format!("in {}", equal.join(", ")) },
        ),
    ]
}

/// P1 Fig. 14: layerwise LC of the ResNet without BN (the per-layer columns of its run).
pub struct ResnetLayerwise;

impl Figure for ResnetLayerwise {
    fn id(&self) -> &'static str {
        "resnet-layerwise"
    }
    fn title(&self) -> &'static str {
        "Layerwise LC of the CIFAR-10 ResNet18 without batch norm"
    }
    fn paper_reference(&self) -> &'static str {
        "P1 Fig. 14"
    }
    fn setup(&self, scale: Scale) -> String {
        format!(
            "Paper: the 5 shallowest and 5 deepest layers of ResNet18 without BN, train/test/random LC. Here: the \
             per-layer LC columns (layer_k = the k-th of the 16 tensors entering the block ReLUs) of the \
             resnet-batch-norm no-BN run ({RESNET_CONFIG}, {} steps), layers 1–5 and 12–16 at r = {CONV_RADIUS}; {}.",
            resnet_steps(scale),
            resnet_reductions(scale)
        )
    }
    fn runs(&self, ctx: &Context) -> anyhow::Result<Vec<RunRequest>> {
        Ok(vec![resnet_run(ctx)?])
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Outcome> {
        let (dir, metrics) = ctx.store.finished(&resnet_run(ctx)?.config)?;
        let per_set = |set: &str| super::dynamics::layer_curves(&metrics, set, CONV_RADIUS);
        let (train, test, random) = (per_set("train"), per_set("test"), per_set("random"));
        anyhow::ensure!(
            train.len() == 16 && test.len() == 16 && random.len() == 16,
            "the ResNet run recorded {} per-layer LC columns, not 16",
            train.len()
        );
        let layers: Vec<(String, Curve, Curve, Curve)> =
            (0..16).map(|k| (train[k].0.clone(), train[k].1.clone(), test[k].1.clone(), random[k].1.clone())).collect();
        let shown: Vec<usize> = (0..5).chain(11..16).collect();
        let pick = |list: &[(String, Curve)]| shown.iter().map(|&k| list[k].clone()).collect::<Vec<_>>();
        let charts = super::dynamics::layer_charts(&[pick(&train), pick(&test), pick(&random)], CONV_RADIUS);
        let out = ctx.figure_dir(self.id())?;
        let image = chart_files(&charts, 5, &out, "layerwise")?;
        std::fs::write(out.join("metrics.csv"), metrics_csv(&metrics))?;
        let checks = resnet_layer_checks(&layers).into_iter().map(|c| c.late_phase(ctx.scale)).collect();
        Ok(Outcome {
            images: vec![image],
            checks,
            notes: vec![format!(
                "Run: {}. Data: layerwise.csv (the drawn curves), metrics.csv (every column, lc_SET_rR_layer_k_mean).",
                ctx.shown(&dir)
            )],
        })
    }
}

/// (points, P) of the conv deformation figure at `scale`.
fn conv_deformation_size(scale: Scale) -> (usize, usize) {
    match scale {
        Scale::Smoke => (4, 4),
        Scale::Cpu => (100, 25),
        Scale::Paper => (1000, 25),
    }
}

/// Mean over the hidden layers (1..) of a per-layer list.
fn hidden_mean(values: &[f64]) -> f64 {
    values.iter().skip(1).sum::<f64>() / values.len().saturating_sub(1).max(1) as f64
}

/// P2 Fig. 23 against Fig. 21: at the largest radius the ResNet's relative eccentricity and
/// diameter (mean over its hidden layers) are lower than the CNN's.
fn resnet_lower_checks(cnn: &[LayerMeasures], resnet: &[LayerMeasures]) -> Vec<Check> {
    let (Some(c), Some(r)) = (cnn.last(), resnet.last()) else { return Vec::new() };
    let compare = |what: &str, cnn: Vec<f64>, resnet: Vec<f64>| {
        let (a, b) = (hidden_mean(&resnet), hidden_mean(&cnn));
        Check::new(
            format!("r = {}: the ResNet's relative {what} (mean over hidden layers) is lower than the CNN's", r.radius),
            a < b,
            format!("ResNet {a:.3}, CNN {b:.3}"),
        )
    };
    vec![
        compare("eccentricity", c.relative_eccentricity(), r.relative_eccentricity()),
        compare("diameter", c.relative_diameter(), r.relative_diameter()),
    ]
}

/// P2 Figs. 21 and 23: deformation of the embedded neighbourhood per layer, CNN and ResNet.
pub struct ConvDeformation;

impl Figure for ConvDeformation {
    fn id(&self) -> &'static str {
        "conv-deformation"
    }
    fn title(&self) -> &'static str {
        "Deformation of the LC neighbourhood per layer in the CIFAR-10 CNN and ResNet18"
    }
    fn paper_reference(&self) -> &'static str {
        "P2 Figs. 21, 23"
    }
    fn setup(&self, scale: Scale) -> String {
        let (points, p) = conv_deformation_size(scale);
        format!(
            "Paper: change of mean eccentricity and diameter of the neighbourhood graph per layer (0 = input) around \
             1000 training points, several r, CNN (Fig. 21) and ResNet18 (Fig. 23; lower). Here: the last \
             checkpoints of the shared CNN without BN and of the ResNet without BN; around the first {points} \
             training points of each run, 2P = {} cross-polytope vertices (P = {p}) for r ∈ {DEFORMATION_RADII:?} \
             embedded by each activation layer's output (tessera_lc::neighbourhood_deformation; every ReLU, the \
             CNN's dense-head ReLU included), measures averaged over points and shown as layer ℓ over layer 0. \
             Deviations: the ResNet's inputs are normalised per channel (std 1), the CNN's are raw pixels in [0, \
             1] (std ≈ 0.25), so the same r is about 4× larger relative to the data for the CNN; the paper leaves 'change' \
             undefined. CNN: {}. ResNet: {}.",
            2 * p,
            cnn_reductions(scale),
            resnet_reductions(scale)
        )
    }
    fn runs(&self, ctx: &Context) -> anyhow::Result<Vec<RunRequest>> {
        Ok(vec![shared_cnn_run(ctx)?, resnet_run(ctx)?])
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Outcome> {
        let (points, p) = conv_deformation_size(ctx.scale);
        let measure = |request: RunRequest| -> anyhow::Result<(String, Vec<LayerMeasures>)> {
            let (dir, _) = ctx.store.finished(&request.config)?;
            Ok((ctx.shown(&dir), deformation_of_run(&request, &dir, points, p)?))
        };
        let (cnn_dir, cnn) = measure(shared_cnn_run(ctx)?)?;
        let (resnet_dir, resnet) = measure(resnet_run(ctx)?)?;
        let out = ctx.figure_dir(self.id())?;
        let image = deformation_files(&[("CNN", &cnn), ("ResNet18", &resnet)], &out, "deformation")?;
        let mut checks: Vec<Check> = deformation_checks(&cnn).into_iter().map(|c| c.for_setting("CNN")).collect();
        checks.extend(deformation_checks(&resnet).into_iter().skip(1).map(|c| c.for_setting("ResNet18")));
        checks.extend(resnet_lower_checks(&cnn, &resnet));
        Ok(Outcome {
            images: vec![image],
            checks: checks.into_iter().map(|c| c.late_phase(ctx.scale)).collect(),
            notes: vec![format!(
                "Runs: CNN {cnn_dir}, ResNet18 {resnet_dir}. Data: deformation.csv (per network, radius and layer: \
                 absolute and relative measures)."
            )],
        })
    }
}

/// Checkpoints sliced per network at `scale` (log-spaced, the last included).
fn slice_count(scale: Scale) -> usize {
    match scale {
        Scale::Smoke => 2,
        Scale::Cpu => 4,
        Scale::Paper => 6,
    }
}

/// Half-width of the slice window around the first test image, as a share of the largest
/// distance of the three images from their centroid: the whole triangle of images holds far too
/// many regions for a conv net (every channel x position of the first conv is a line in the
/// plane), so the window is a small square of the plane around one image. The ResNet's
/// partition is denser and slower to compute (measured with `tessera slice --center-index`,
/// half-width 0.2 in the net's input units: 18,617 regions in 152 s for a 50-step k = 8 ResNet;
/// a 200-step 16-channel CNN has 1,255 regions in 2.5 s at 0.1 and 37,920 in 160 s at 0.5), so
/// it gets a quarter of the CNN's share beyond smoke scale.
fn window_share(scale: Scale, network: &str) -> f64 {
    let cnn = match scale {
        Scale::Smoke => 0.005,
        Scale::Cpu => 0.02,
        Scale::Paper => 0.05,
    };
    if network == "ResNet18" && scale != Scale::Smoke {
        cnn / 4.0
    } else {
        cnn
    }
}

/// Regions sampled by the forward-pass check per partition.
const FORWARD_SAMPLES: usize = 200;

/// The plane through test images 0, 1, 2 of a run, restricted to a square of half-width
/// `share` × the largest image distance from their centroid, centred on image 0.
fn test_image_window(data: &tessera_train::RunData, share: f64) -> anyhow::Result<Slice> {
    let image = |i: usize| -> anyhow::Result<Vec<f64>> {
        let x = data.test.get(i).with_context(|| format!("the run has no test image {i}"))?;
        Ok(x.iter().map(|&v| f64::from(v)).collect())
    };
    let plane = Slice::through_points(&image(0)?, &image(1)?, &image(2)?, 1.2)?;
    let reach = plane.anchors.iter().map(|a| a[0].hypot(a[1])).fold(0.0, f64::max);
    let (c, h) = (plane.anchors[0], share * reach);
    let square = [[c[0] - h, c[1] - h], [c[0] + h, c[1] - h], [c[0] + h, c[1] + h], [c[0] - h, c[1] + h]];
    let [e1, e2] = plane.directions.clone();
    Ok(Slice::new(plane.origin.clone(), e1, e2, &square)?.with_anchors(vec![c]))
}

/// The exact partitions pass the forward pass: at the interior points of up to
/// `FORWARD_SAMPLES` regions, the region's affine output equals the network's output (every
/// logit) within 1e-8 of the largest output magnitude.
fn forward_agrees(name: &str, net: &Network<f64>, partition: &Partition) -> anyhow::Result<Check> {
    let stride = partition.regions.len().div_ceil(FORWARD_SAMPLES).max(1);
    let (mut worst, mut scale) = (0.0f64, 0.0f64);
    for region in partition.regions.iter().step_by(stride) {
        let u = region.interior_point();
        let x = Tensor::from_vec(net.input_shape(), partition.slice.point(u))?;
        let truth = net.forward(&x, Mode::Eval)?;
        for (piece, y) in region.evaluate(u).iter().zip(&truth.data) {
            worst = worst.max((piece - y).abs());
            scale = scale.max(y.abs());
        }
    }
    Ok(agreement_check(name, worst, scale, partition.regions.len().div_ceil(stride)))
}

fn agreement_check(name: &str, worst: f64, scale: f64, samples: usize) -> Check {
    let relative = worst / scale.max(1e-300);
    Check::new(
        format!("{name}: the exact regions are the network (affine piece = forward pass at region interiors, ≤ 1e-8)"),
        samples > 0 && relative <= 1e-8,
        format!("relative error {relative:.2e} at {samples} regions"),
    )
}

/// One network's slices: its run folder, metrics and the partitions at the sliced steps.
struct NetworkSlices {
    name: &'static str,
    run: String,
    metrics: tessera_train::MetricsTable,
    steps: u64,
    partitions: Vec<(u64, Partition)>,
    checks: Vec<Check>,
}

fn slice_network(ctx: &Context, name: &'static str, request: &RunRequest) -> anyhow::Result<NetworkSlices> {
    let (dir, metrics) = ctx.store.finished(&request.config)?;
    let slice = test_image_window(&load_run_data(&request.config)?, window_share(ctx.scale, name))?;
    let steps = log_spaced_subset(&checkpoint_steps(&dir)?, slice_count(ctx.scale));
    let mut partitions = Vec::new();
    let mut checks = Vec::new();
    for &step in &steps {
        let net = load_step(&dir, step)?;
        let partition = partition_slice(&net, &slice, &PartitionOptions::default())
            .with_context(|| format!("partitioning the {name} slice at step {step}"))?;
        eprintln!("  {name} slice at step {step}: {} regions", partition.num_regions());
        if Some(&step) == steps.last() {
            checks.push(forward_agrees(name, &net, &partition)?);
        }
        partitions.push((step, partition));
    }
    let counts: Vec<(u64, usize)> = partitions.iter().map(|(s, p)| (*s, p.num_regions())).collect();
    checks.push(paper_only(regions_fall(&counts, request.config.train.steps).for_setting(name), ctx.scale));
    Ok(NetworkSlices { name, run: ctx.shown(&dir), metrics, steps: request.config.train.steps, partitions, checks })
}

/// Exact slices through three CIFAR-10 test images for the CNN and the ResNet.
pub struct ConvSlices;

impl Figure for ConvSlices {
    fn id(&self) -> &'static str {
        "conv-slices"
    }
    fn title(&self) -> &'static str {
        "Exact partitions of the plane through three CIFAR-10 test images: CNN and ResNet18 during training"
    }
    fn paper_reference(&self) -> &'static str {
        "P1 Fig. 1 / P2 Fig. 2 for the conv nets (issue 12; the papers draw no CNN slice)"
    }
    fn setup(&self, scale: Scale) -> String {
        format!(
            "The shared CNN without BN and the ResNet18 without BN; the plane through test images 0, 1, 2 \
             (airplane, automobile, bird) of each run's data (ResNet: normalised), restricted to a square centred \
             on image 0 of half-width {} (CNN) and {} (ResNet) × the largest image distance from the centroid (a \
             conv net's first layer alone puts a line in the plane per channel × position, so the whole triangle \
             holds millions of regions; the ResNet's partition is denser and slower to compute); exact partition \
             (tessera-regions' slice engine: max pooling and residual sums exactly) at {} log-spaced \
             checkpoints, regions in random colours, the decision boundary in red, beside the LC curves. \
             CNN: {}. ResNet: {}.",
            window_share(scale, "CNN"),
            window_share(scale, "ResNet18"),
            slice_count(scale),
            cnn_reductions(scale),
            resnet_reductions(scale)
        )
    }
    fn runs(&self, ctx: &Context) -> anyhow::Result<Vec<RunRequest>> {
        Ok(vec![shared_cnn_run(ctx)?, resnet_run(ctx)?])
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Outcome> {
        let networks =
            [slice_network(ctx, "CNN", &shared_cnn_run(ctx)?)?, slice_network(ctx, "ResNet18", &resnet_run(ctx)?)?];
        let out = ctx.figure_dir(self.id())?;
        let style = PartitionStyle {
            width: 300,
            fill: Fill::Random { seed: 0 },
            boundaries: BoundaryColours::Black,
            ..PartitionStyle::default()
        };
        let mut images = Vec::new();
        let mut csv = String::from("network,step,regions\n");
        let mut notes = Vec::new();
        for n in &networks {
            let markers: Vec<f64> = n.partitions.iter().map(|(s, _)| (*s as f64).max(1.0)).collect();
            let chart = lc_chart(&n.metrics, n.name, CONV_RADIUS, &markers);
            let panels: Vec<(&Partition, String)> =
                n.partitions.iter().map(|(s, p)| (p, format!("step {s}: {} regions", p.num_regions()))).collect();
            let stem = format!("slices-{}", n.name.to_lowercase());
            images.push(png_and_svg(&out, &stem, |path| {
                Ok(draw_partitions_beside_chart(&panels, &style, panels.len().min(3), &chart, path)?)
            })?);
            for (s, p) in &n.partitions {
                writeln!(csv, "{},{s},{}", n.name, p.num_regions())?;
            }
            notes.push(format!("{} run: {} ({} steps).", n.name, n.run, n.steps));
        }
        std::fs::write(out.join("slice_regions.csv"), csv)?;
        notes.push("Data: slice_regions.csv (regions per network and step).".into());
        Ok(Outcome { images, checks: networks.into_iter().flat_map(|n| n.checks).collect(), notes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log-spaced steps 0, 1, 2, 5, 10, … up to 1e4.
    fn curve(f: impl Fn(f64) -> f64) -> Curve {
        let mut steps = vec![0.0];
        for k in 0..=4 {
            steps.extend([1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k)));
        }
        Curve::new(steps.into_iter().filter(|&s| s <= 1e4).map(|s| (s, f(s))).collect())
    }

    /// Trough 4 until 50 steps, then 8 (peak) until 2e3, then `end`.
    fn with_end(end: f64) -> Curve {
        curve(move |s| {
            if s < 5.0 {
                6.0
            } else if s <= 50.0 {
                4.0
            } else if s <= 2e3 {
                8.0
            } else {
                end
            }
        })
    }

    #[test]
    fn deep_layers_equal_random_only_before_the_ascent() {
        let random = curve(|_| 4.0);
        let near = curve(|s| if s <= 50.0 { 4.2 } else { 8.0 });
        assert_eq!(equal_to_random_before_ascent(&near, &near, &random), Some(0.0));
        let apart = curve(|s| if s <= 50.0 { 5.0 } else { 8.0 });
        assert_eq!(equal_to_random_before_ascent(&apart, &near, &random), None, "train 25% above random");
        // Equal to random only after the peak does not count.
        let late = curve(|s| {
            if s <= 50.0 {
                6.0
            } else if s <= 2e3 {
                9.0
            } else {
                4.0
            }
        });
        assert_eq!(equal_to_random_before_ascent(&late, &late, &random), None);
    }

    fn layers(first: f64, second: f64, deep_equal: bool) -> Vec<(String, Curve, Curve, Curve)> {
        let random = curve(|_| 4.0);
        (0..16)
            .map(|k| {
                let train = match k {
                    0 | 2 => with_end(first),
                    1 | 3 => with_end(second),
                    _ if deep_equal => with_end(8.0),
                    _ => curve(|s| {
                        if s < 5.0 {
                            6.0
                        } else if s <= 50.0 {
                            5.0
                        } else {
                            8.0
                        }
                    }),
                };
                (format!("layer_{}", k + 1), train.clone(), train, random.clone())
            })
            .collect()
    }

    #[test]
    fn resnet_layer_checks_need_alternation_and_deep_layers_equal_to_random() {
        let verdicts =
            |l: &[(String, Curve, Curve, Curve)]| resnet_layer_checks(l).iter().map(Check::passed).collect::<Vec<_>>();
        // No late descent in the first ReLUs, a strong one in the second ones; deep layers at 4 ≈ random.
        assert_eq!(verdicts(&layers(8.0, 2.0, true)), [true, true]);
        assert_eq!(verdicts(&layers(2.0, 8.0, true)), [false, true], "the first ReLU falls, the second does not");
        assert_eq!(verdicts(&layers(8.0, 2.0, false)), [true, false], "deep layers stay 25% above random");
    }

    #[test]
    fn the_shared_cnn_run_is_the_no_bn_setting_of_the_bn_sweep_and_wd_zero() {
        for scale in [Scale::Smoke, Scale::Cpu, Scale::Paper] {
            let out = tempfile::tempdir().unwrap();
            let ctx = Context::new(scale, out.path().to_path_buf(), None, 1);
            let shared = shared_cnn_run(&ctx).unwrap().config.content_hash().unwrap();
            let hashes = |id: &str| -> Vec<String> {
                let sweep = sweeps().into_iter().find(|s| s.id == id).unwrap();
                let requests = sweep.requests(&ctx).unwrap();
                requests.iter().map(|seeds| seeds[0].config.content_hash().unwrap()).collect()
            };
            let depth = cnn_depths(scale).iter().position(|&d| d == cnn_depth(scale)).unwrap();
            assert_eq!(hashes("cnn-batch-norm")[2 * depth], shared, "{scale:?}");
            assert_eq!(hashes("cnn-weight-decay")[0], shared, "{scale:?}");
            assert_eq!(hashes("resnet-batch-norm")[0], resnet_run(&ctx).unwrap().config.content_hash().unwrap());
        }
    }

    #[test]
    fn batch_norm_checks_pass_only_when_bn_is_higher_and_keeps_its_peak() {
        let verdicts = |bn: &Curve, plain: &Curve| {
            let labels = ["no BN".to_string(), "BN".to_string()];
            let pick = |k: usize, _: &str| if k == 1 { bn.clone() } else { plain.clone() };
            batch_norm_checks(&labels, pick, Scale::Cpu).iter().map(Check::passed).collect::<Vec<_>>()
        };
        let high_flat = curve(|s| if s <= 50.0 { 9.0 } else { 12.0 });
        assert_eq!(verdicts(&high_flat, &with_end(2.0)), [true; 4]);
        assert_eq!(verdicts(&with_end(2.0), &high_flat), [false; 4]);
        let doubled = Curve::new(with_end(2.0).points.iter().map(|&(s, v)| (s, 2.0 * v)).collect());
        assert_eq!(verdicts(&doubled, &with_end(2.0)), [true, true, true, false], "higher, same late descent");
    }

    fn measures(radius: f64, eccentricity: Vec<f64>) -> LayerMeasures {
        LayerMeasures { radius, diameter: eccentricity.clone(), eccentricity }
    }

    #[test]
    fn resnet_lower_checks_need_less_deformation_than_the_cnn() {
        let cnn = [measures(2.0, vec![1.0, 2.0, 4.0, 8.0])];
        let resnet = [measures(2.0, vec![1.0, 1.2, 1.5, 1.7, 2.0])];
        assert!(resnet_lower_checks(&cnn, &resnet).iter().all(Check::passed));
        assert!(resnet_lower_checks(&resnet, &cnn).iter().all(|c| !c.passed()));
        assert!(resnet_lower_checks(&cnn, &cnn).iter().all(|c| !c.passed()), "equal is not lower");
    }

    #[test]
    fn agreement_check_fails_on_a_relative_error_above_1e_8_or_no_sample() {
        assert!(agreement_check("CNN", 1e-12, 3.0, 10).passed());
        assert!(!agreement_check("CNN", 1e-6, 3.0, 10).passed());
        assert!(!agreement_check("CNN", 0.0, 0.0, 0).passed());
    }
}
