//! Sweep figures: one config setting takes several values, every value is a training run (per
//! seed), the figure draws each recorded curve per value (mean over seeds, with the seeds' range
//! as a band) and checks the paper's ordering claims on the seed-mean curves.

use super::scales::{full_steps, hidden, mnist_overrides, reductions, MNIST_CONFIG, RADIUS};
use super::{chart_files, Context, Figure, Outcome};
use crate::checks::{self, Check, Curve};
use crate::runs::RunRequest;
use crate::Scale;
use std::fmt::Write as _;
use tessera_plot::curves::{Chart, Series};
use tessera_train::MetricsTable;

/// One value of the swept setting.
pub struct Setting {
    pub label: String,
    pub overrides: Vec<String>,
}

impl Setting {
    pub fn new(label: impl Into<String>, overrides: &[String]) -> Self {
        Self { label: label.into(), overrides: overrides.to_vec() }
    }
}

/// The recorded curves of a sweep: per setting, per metric, the mean over seeds.
pub struct SweepCurves {
    pub labels: Vec<String>,
    /// `[setting][seed]` metrics.
    runs: Vec<Vec<MetricsTable>>,
}

impl SweepCurves {
    /// Metric `name` of setting `k`, averaged over seeds at each step (empty if not recorded).
    pub fn curve(&self, k: usize, name: &str) -> Curve {
        let tables = &self.runs[k];
        let Some(first) = tables.first() else { return Curve::default() };
        let columns: Vec<&[f64]> = tables.iter().filter_map(|t| t.column(name)).collect();
        if columns.len() != tables.len() {
            return Curve::default();
        }
        let points = first
            .steps()
            .iter()
            .enumerate()
            .map(|(i, &s)| (s as f64, columns.iter().map(|c| c[i]).sum::<f64>() / columns.len() as f64))
            .collect();
        Curve::new(points)
    }

    /// The seeds' range of metric `name` of setting `k` at each step.
    fn band(&self, k: usize, name: &str) -> Vec<(f64, f64)> {
        let columns: Vec<&[f64]> = self.runs[k].iter().filter_map(|t| t.column(name)).collect();
        let len = columns.first().map_or(0, |c| c.len());
        (0..len)
            .map(|i| {
                columns.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| (lo.min(c[i]), hi.max(c[i])))
            })
            .collect()
    }

    /// `statistic` of metric `name` for every setting, labelled (for ordering checks).
    pub fn per_setting(&self, name: &str, statistic: impl Fn(&Curve) -> f64) -> Vec<(String, f64)> {
        (0..self.labels.len()).map(|k| (self.labels[k].clone(), statistic(&self.curve(k, name)))).collect()
    }
}

/// Metric names of the drawn and checked curves.
pub fn lc(set: &str) -> String {
    format!("lc_{set}_r{RADIUS}_mean")
}

/// What every run of a sweep shares: the config file, the overrides of a scale, the LC radius
/// drawn and checked, and what the scale reduces against the paper.
pub struct Base {
    pub config_file: &'static str,
    /// Overrides of every run at a scale, for a run of the given steps.
    pub overrides: fn(Scale, u64) -> Vec<String>,
    pub radius: &'static str,
    pub reductions: fn(Scale) -> &'static str,
}

/// The MNIST runs' base (so a setting equal to the shared run's is the shared run).
pub const MNIST: Base = Base { config_file: MNIST_CONFIG, overrides: mnist_overrides, radius: RADIUS, reductions };

/// A sweep figure.
pub struct Sweep {
    pub id: &'static str,
    pub title: &'static str,
    pub reference: &'static str,
    pub base: Base,
    /// The paper's setup and every deviation from it.
    pub about: &'static str,
    pub settings: fn(Scale) -> Vec<Setting>,
    /// Training steps at a scale (the shared full length unless a reduction is stated).
    pub steps: fn(Scale) -> u64,
    /// Metrics drawn, one panel each.
    pub panels: &'static [&'static str],
    pub checks: fn(&SweepCurves, Scale) -> Vec<Check>,
}

impl Sweep {
    /// The run configs of every setting (one per seed).
    pub fn requests(&self, ctx: &Context) -> anyhow::Result<Vec<Vec<RunRequest>>> {
        let steps = (self.steps)(ctx.scale);
        (self.settings)(ctx.scale)
            .into_iter()
            .map(|setting| {
                (0..ctx.seeds)
                    .map(|seed| {
                        let mut overrides = (self.base.overrides)(ctx.scale, steps);
                        overrides.extend(setting.overrides.iter().cloned());
                        overrides.push(format!("seed={seed}"));
                        let config = ctx.config(self.base.config_file, &overrides)?;
                        Ok(RunRequest { label: format!("{} {} seed {seed}", self.id, setting.label), config })
                    })
                    .collect()
            })
            .collect()
    }
}

impl Figure for Sweep {
    fn id(&self) -> &'static str {
        self.id
    }
    fn title(&self) -> &'static str {
        self.title
    }
    fn paper_reference(&self) -> &'static str {
        self.reference
    }
    fn setup(&self, scale: Scale) -> String {
        let labels: Vec<String> = (self.settings)(scale).into_iter().map(|s| s.label).collect();
        format!(
            "{} Settings: {}. {} steps per run; LC drawn at r = {}. Base config {} with the shared overrides; {}.",
            self.about,
            labels.join(", "),
            (self.steps)(scale),
            self.base.radius,
            self.base.config_file,
            (self.base.reductions)(scale)
        )
    }
    fn runs(&self, ctx: &Context) -> anyhow::Result<Vec<RunRequest>> {
        Ok(self.requests(ctx)?.into_iter().flatten().collect())
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Outcome> {
        let requests = self.requests(ctx)?;
        let labels = (self.settings)(ctx.scale).into_iter().map(|s| s.label).collect();
        let runs = requests
            .iter()
            .map(|seeds| seeds.iter().map(|r| ctx.metrics(&r.config)).collect::<anyhow::Result<Vec<_>>>())
            .collect::<anyhow::Result<Vec<_>>>()?;
        let curves = SweepCurves { labels, runs };
        let dir = ctx.figure_dir(self.id)?;
        let charts = self.charts(&curves);
        let image = chart_files(&charts, charts.len().min(3), &dir, self.id)?;
        let data = dir.join(format!("{}-runs.csv", self.id));
        std::fs::write(&data, self.csv(&curves))?;
        let hashes: Vec<String> = requests
            .iter()
            .flatten()
            .map(|r| Ok(format!("{}: runs/{}", r.label, r.config.content_hash()?)))
            .collect::<anyhow::Result<_>>()?;
        Ok(Outcome {
            images: vec![image],
            checks: (self.checks)(&curves, ctx.scale),
            notes: vec![format!(
                "Data: the plotted curves in {id}.csv, every recorded metric per run in {id}-runs.csv. Runs: {}.",
                hashes.join("; "),
                id = self.id,
            )],
        })
    }
}

impl Sweep {
    fn charts(&self, curves: &SweepCurves) -> Vec<Chart> {
        self.panels
            .iter()
            .map(|&metric| {
                let mut chart = Chart {
                    title: metric.replace("_mean", "").replace('_', " "),
                    x_label: "step".into(),
                    y_label: if metric.ends_with("acc") || metric.starts_with("pgd") { "accuracy" } else { "LC" }
                        .into(),
                    log_x: true,
                    ..Chart::default()
                };
                for (k, label) in curves.labels.iter().enumerate() {
                    let points = curves.curve(k, metric).points.into_iter().map(|(s, v)| (s.max(1.0), v)).collect();
                    let mut series = Series::new(label.clone(), points);
                    if curves.runs[k].len() > 1 {
                        series = series.with_band(curves.band(k, metric));
                    }
                    chart.series.push(series);
                }
                chart
            })
            .collect()
    }

    /// Long-format data: setting, seed, step, metric, value (every recorded metric).
    fn csv(&self, curves: &SweepCurves) -> String {
        let mut text = String::from("setting,seed,step,metric,value\n");
        for (label, seeds) in curves.labels.iter().zip(&curves.runs) {
            for (seed, table) in seeds.iter().enumerate() {
                for name in table.names() {
                    let column = table.column(name).expect("listed name");
                    for (step, value) in table.steps().iter().zip(column) {
                        let _ = writeln!(text, "{label},{seed},{step},{name},{value}");
                    }
                }
            }
        }
        text
    }
}

/// The grokking run: the grokking-depth sweep's depth-4, seed-0 run (P2 Fig. 7's network), so
/// every figure reading its partition shares it by hash.
pub fn grokking_run(ctx: &Context) -> anyhow::Result<RunRequest> {
    let sweep = all().into_iter().find(|s| s.id == "grokking-depth").expect("the grokking-depth sweep is registered");
    let depth_4 = (sweep.settings)(ctx.scale).iter().position(|s| s.label == "depth 4").expect("depth 4 is swept");
    Ok(sweep.requests(ctx)?.swap_remove(depth_4).swap_remove(0))
}

/// Mean of the ascent's peak window of a curve.
fn peak(curve: &Curve) -> f64 {
    curve.ascent_peak(checks::EARLY).map_or(f64::NAN, |p| p.1)
}

fn full(scale: Scale) -> u64 {
    full_steps(scale)
}

/// Every sweep figure, in report order.
pub fn all() -> Vec<Sweep> {
    vec![
        Sweep {
            id: "depth-sweep",
            title: "LC dynamics of MNIST MLPs of depth 2–5",
            reference: "P1 Fig. 3, P2 Fig. 27",
            base: MNIST,
            about: "Paper: depth ∈ {2, 3, 4, 5} (linear layers), width 200, 1K MNIST, r ∈ {0.05, 0.5}. As the paper.",
            settings: |_| [2, 3, 4, 5].map(|d| Setting::new(format!("depth {d}"), &[hidden(d, 200)])).into(),
            steps: full,
            panels: &["train_acc", "test_acc", "lc_train_r0.05_mean", "lc_test_r0.05_mean", "lc_random_r0.05_mean"],
            checks: |c, scale| {
                let mut list = Vec::new();
                for (k, label) in c.labels.iter().enumerate() {
                    let train = c.curve(k, &lc("train"));
                    list.push(checks::ascent(&train, checks::EARLY).for_setting(label).late_phase(scale));
                }
                let gap = |k: usize| {
                    let (train, test) = (c.curve(k, &lc("train")), c.curve(k, &lc("test")));
                    let p = train.ascent_peak(checks::EARLY).map_or(0.0, |p| p.0);
                    train.mean_over(p, p * 10.0) - test.mean_over(p, p * 10.0)
                };
                let mut gaps: Vec<(String, f64)> = (0..c.labels.len()).map(|k| (c.labels[k].clone(), -gap(k))).collect();
                gaps.iter_mut().for_each(|g| g.0 = format!("{} (−gap)", g.0));
                list.push(
                    checks::strictly_increasing(
                        "train–test LC gap over the decade after the train peak shrinks with depth",
                        &gaps,
                    )
                    .late_phase(scale),
                );
                list
            },
        },
        Sweep {
            id: "width-sweep",
            title: "LC dynamics of MNIST MLPs of width 20–500",
            reference: "P1 Fig. 6, P2 Fig. 14",
            base: MNIST,
            about: "Paper: depth 3, width ∈ {20, 100, 500, 1000, 2000}. Here: depth 4 (3 hidden layers) so that \
                    width 200 is the run shared with the other figures; widths 1000 and 2000 only at paper scale; \
                    at cpu scale 3e4 steps (paper.md §7 D: 3e4–5e4) so the width-500 run fits the hour.",
            settings: |scale| {
                let widths: &[usize] = match scale {
                    Scale::Smoke => &[20, 100, 200],
                    Scale::Cpu => &[20, 100, 200, 500],
                    Scale::Paper => &[20, 100, 200, 500, 1000, 2000],
                };
                widths.iter().map(|&w| Setting::new(format!("width {w}"), &[hidden(4, w)])).collect()
            },
            steps: |scale| if scale == Scale::Cpu { 30_000 } else { full_steps(scale) },
            panels: &["train_acc", "test_acc", "lc_train_r0.05_mean", "lc_test_r0.05_mean", "lc_random_r0.05_mean"],
            checks: |c, scale| {
                vec![
                    checks::strictly_increasing("initial train LC grows with width", &c.per_setting(&lc("train"), Curve::start)),
                    checks::strictly_increasing(
                        "ascent peak of train LC grows with width (up to 500)",
                        &c.per_setting(&lc("train"), peak),
                    )
                    .late_phase(scale),
                ]
            },
        },
        Sweep {
            id: "grokking-depth",
            title: "Grokking with ×8 initialisation at depths 2, 4, 6, and the LC collapse",
            reference: "P1 Figs. 8–9, P2 Figs. 7, 10, 29",
            base: Base { config_file: "configs/mnist_mlp_init8.toml", ..MNIST },
            about: "Paper: MLP width 200, every parameter ×8 after init, depth 2–6 (Fig. 9: 2, 4, 6), r = 0.05. As the paper.",
            settings: |_| [2, 4, 6].map(|d| Setting::new(format!("depth {d}"), &[hidden(d, 200)])).into(),
            steps: full,
            panels: &["train_acc", "test_acc", "lc_train_r0.05_mean", "lc_test_r0.05_mean", "lc_random_r0.05_mean"],
            checks: |c, scale| {
                let mut list = Vec::new();
                for (k, label) in c.labels.iter().enumerate() {
                    let train = c.curve(k, &lc("train"));
                    list.push(checks::grokking(&train, &c.curve(k, "test_acc")).for_setting(label).late_phase(scale));
                    list.push(checks::no_first_descent(&train, checks::EARLY).for_setting(label));
                }
                list.push(
                    checks::strictly_increasing("peak train LC grows with depth", &c.per_setting(&lc("train"), peak))
                        .late_phase(scale),
                );
                list
            },
        },
        Sweep {
            id: "train-size",
            title: "Training-set size with true labels",
            reference: "P1 Fig. 10, P2 Figs. 13, 28",
            base: MNIST,
            about: "Paper: depth 3 width 200, n from 1K up (P2 Table 1: 1K–60K). Here: depth 4 (the shared \
                    run is n = 1000), n ∈ {1000, 2000, 5000, 10000}.",
            settings: |scale| {
                let sizes: &[usize] = if scale == Scale::Smoke { &[1000, 2000] } else { &[1000, 2000, 5000, 10000] };
                sizes.iter().map(|&n| Setting::new(format!("n = {n}"), &[format!("data.train_size={n}")])).collect()
            },
            steps: full,
            panels: &["train_acc", "test_acc", "lc_train_r0.05_mean", "lc_test_r0.05_mean"],
            checks: |c, scale| {
                let negated_peak = |curve: &Curve| -peak(curve);
                vec![
                    checks::strictly_increasing(
                        "final test accuracy (last-decade mean) grows with n",
                        &c.per_setting("test_acc", Curve::last_decade),
                    )
                    .late_phase(scale),
                    checks::strictly_increasing(
                        "the train-LC ascent peak shrinks with n (negated peak grows)",
                        &c.per_setting(&lc("train"), negated_peak),
                    )
                    .late_phase(scale),
                ]
            },
        },
        Sweep {
            id: "train-size-random-labels",
            title: "Training-set size with random labels",
            reference: "P1 Fig. 11, P2 Figs. 31–33, 36",
            base: MNIST,
            about: "Paper: as train-size with uniformly random training labels. Here: depth 4, n ∈ {250, 500, 1000, 2000}, \
                    1e5 steps (paper.md §7 F: 5e4, more where larger n needs longer to memorise).",
            settings: |_| {
                [250, 500, 1000, 2000]
                    .map(|n| Setting::new(format!("n = {n}"), &[format!("data.train_size={n}"), "data.random_labels=true".into()]))
                    .into()
            },
            steps: full,
            panels: &["train_acc", "test_acc", "lc_train_r0.05_mean", "lc_test_r0.05_mean"],
            checks: |c, scale| {
                let peak_step = |curve: &Curve| curve.ascent_peak(checks::EARLY).map_or(f64::NAN, |p| p.0);
                vec![
                    checks::strictly_increasing(
                        "the random-label ascent lengthens with n (step of the train-LC peak window)",
                        &c.per_setting(&lc("train"), peak_step),
                    )
                    .late_phase(scale),
                    checks::strictly_increasing("peak train LC grows with n", &c.per_setting(&lc("train"), peak))
                        .late_phase(scale),
                ]
            },
        },
        Sweep {
            id: "weight-decay",
            title: "Weight-decay sweep on the MNIST MLP",
            reference: "P2 Fig. 30 (P1 Fig. 7 is its CNN version)",
            base: MNIST,
            about: "Paper: AdamW weight decay swept (values not given). Here: wd ∈ {0, 0.01, 0.1, 1} on the depth-4 \
                    width-200 MLP (wd = 0.01 is the shared run).",
            settings: |_| {
                ["0", "0.01", "0.1", "1"]
                    .map(|wd| Setting::new(format!("wd {wd}"), &[format!("optim.weight_decay={wd}")]))
                    .into()
            },
            steps: full,
            panels: &["train_acc", "test_acc", "lc_train_r0.05_mean", "lc_random_r0.05_mean"],
            checks: |c, scale| {
                let mut peaks = c.per_setting(&lc("train"), peak);
                peaks.truncate(3);
                vec![checks::strictly_decreasing(
                    "stronger wd (0 → 0.01 → 0.1) lowers the train-LC ascent peak (P1; P2 calls it non-monotone)",
                    &peaks,
                )
                .late_phase(scale)]
            },
        },
        Sweep {
            id: "batch-norm-mlp",
            title: "Batch norm after every hidden dense layer removes the late LC descent",
            reference: "P2 Fig. 12 (MLP proxy, paper.md §7 H proxy 1)",
            base: MNIST,
            about: "Paper: CNN/ResNet with and without BN on CIFAR10. Here: the depth-4 width-200 MNIST MLP with \
                    BatchNorm before every hidden ReLU (LC on the BN outputs, eval mode) against the shared run.",
            settings: |_| {
                vec![Setting::new("no BN", &["model.batch_norm=false".into()]), Setting::new("BN", &["model.batch_norm=true".into()])]
            },
            steps: full,
            panels: &["train_acc", "test_acc", "lc_train_r0.05_mean", "lc_random_r0.05_mean"],
            checks: |c, scale| {
                let (plain, bn) = (c.curve(0, &lc("train")), c.curve(1, &lc("train")));
                let whole = |curve: &Curve| curve.mean_over(0.0, f64::INFINITY);
                vec![
                    Check::new(
                        "BN raises train LC (mean over the run)",
                        whole(&bn) > whole(&plain),
                        format!("BN {:.3}, no BN {:.3}", whole(&bn), whole(&plain)),
                    ),
                    {
                        let fall = checks::late_fall("BN train LC", &bn, 0.5);
                        Check::new(
                            "BN removes the late descent (BN train LC does not fall below 0.5 × its peak)",
                            !fall.passed(),
                            fall.detail,
                        )
                        .late_phase(scale)
                    },
                ]
            },
        },
    ]
}
