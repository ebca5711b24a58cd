//! The MNIST MLP runs: LC double descent and region migration (P1 Fig. 1, P2 Fig. 2) and
//! grokking induced by ×8 initialisation (P1 Figs. 8–9, P2 Figs. 7, 10).

use super::{Check, Context, Figure, Outcome};
use crate::run_metrics::{plot_run, Metrics, Phases};
use crate::Scale;
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use tessera_train::{RunConfig, RunControl, RunOutcome, Session};

/// Overrides that shrink a paper config to `scale`.
fn scale_overrides(scale: Scale) -> Vec<String> {
    let list: &[&str] = match scale {
        Scale::Smoke => &[
            "train.steps=2000",
            "eval.count=24",
            "lc.train_points=200",
            "lc.test_points=200",
            "lc.random_points=200",
            "pgd.enabled=true",
            "pgd.points=100",
            "pgd.steps=10",
            "train.checkpoint_every=1000",
        ],
        Scale::Cpu => &["pgd.enabled=true"],
        Scale::Paper => &["pgd.enabled=true", "lc.test_points=10000", "lc.random_points=10000", "pgd.steps=100"],
    };
    list.iter().map(|s| s.to_string()).collect()
}

/// Train (or resume, or reuse) the run of `config_file` at the context's scale.
fn run_config(ctx: &Context, id: &str, config_file: &str, extra: &[&str]) -> anyhow::Result<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut overrides = scale_overrides(ctx.scale);
    overrides.extend(extra.iter().map(|s| s.to_string()));
    if let Some(dir) = &ctx.data_dir {
        overrides.push(format!("data.dir=\"{}\"", dir.display()));
    }
    let config = RunConfig::load(&workspace.join(config_file), &overrides)?;
    let dir = ctx.out.join("runs").join(format!("{id}-{:?}", ctx.scale).to_lowercase());
    let mut session = if dir.join("config.toml").exists() {
        Session::resume(&dir, Some(&config)).with_context(|| format!("resuming {}", dir.display()))?
    } else {
        Session::create(config, &dir)?
    };
    let control = RunControl { progress: true, ..RunControl::default() };
    match session.run(&control)? {
        RunOutcome::Finished { .. } => Ok(dir),
        RunOutcome::Interrupted { step, .. } => {
            anyhow::bail!("run {} interrupted at step {step}; rerun to resume", dir.display())
        }
    }
}

fn train_lc(metrics: &Metrics, set: &str) -> anyhow::Result<Vec<(f64, f64)>> {
    metrics.lc(set, "0.05").map(|(m, _)| m).context("no LC at r = 0.05 in the metrics")
}

/// Step at which `series` first reaches `level` (or `None`).
fn first_reaching(series: &[(f64, f64)], level: f64) -> Option<f64> {
    series.iter().find(|p| p.1 >= level).map(|p| p.0)
}

/// P1 Fig. 1 / P2 Fig. 2.
pub struct Dynamics;

impl Figure for Dynamics {
    fn id(&self) -> &'static str {
        "mnist-dynamics"
    }
    fn title(&self) -> &'static str {
        "LC double descent and delayed robustness of an MNIST MLP"
    }
    fn paper_reference(&self) -> &'static str {
        "P1 Fig. 1, P2 Fig. 2"
    }
    fn setup(&self, scale: Scale) -> String {
        format!(
            "configs/mnist_mlp_init1.toml: 1000 MNIST samples, MLP 784-200-200-200-10 ReLU, MSE, AdamW lr 1e-3 wd 0.01, \
             batch 200, f64; LC P = 25, r ∈ {{0.005, 0.05}}; PGD L∞ on test points. Overrides at this scale: {:?}",
            scale_overrides(scale)
        )
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Outcome> {
        let dir = run_config(ctx, self.id(), "configs/mnist_mlp_init1.toml", &[])?;
        let metrics = Metrics::read(&dir)?;
        let image = plot_run(&metrics, "MNIST MLP", &[], &ctx.figure_dir(self.id())?.join("dynamics.png"))?;
        let train = train_lc(&metrics, "train")?;
        let phases = Phases::of(&train, 1000.0).context("LC curve too short")?;
        let mut checks = vec![
            Check::new(
                "train LC: first descent (early minimum < 0.8 × initial)",
                phases.first_min.1 < 0.8 * phases.start.1,
                phases.describe(),
            ),
            Check::new(
                "train LC: ascent after the first minimum (peak > 1.2 × minimum)",
                phases.peak.1 > 1.2 * phases.first_min.1,
                phases.describe(),
            ),
        ];
        let test = train_lc(&metrics, "test")?;
        let at_peak = test.iter().find(|p| p.0 == phases.peak.0).map_or(f64::NAN, |p| p.1);
        checks.push(Check::new(
            "train LC > test LC at the train peak",
            phases.peak.1 > at_peak,
            format!("train {:.2}, test {at_peak:.2} at step {}", phases.peak.1, phases.peak.0),
        ));
        if ctx.scale != Scale::Smoke {
            checks.push(Check::new(
                "train LC: second descent below the first minimum",
                phases.double_descent(),
                phases.describe(),
            ));
            let random = train_lc(&metrics, "random")?;
            let r = Phases::of(&random, 1000.0).context("random LC curve too short")?;
            let late_min = random.iter().filter(|p| p.0 > r.peak.0).map(|p| p.1).fold(f64::INFINITY, f64::min);
            checks.push(Check::new(
                "random LC declines in the late phase (minimum after its peak < 0.5 × peak)",
                late_min < 0.5 * r.peak.1,
                format!("late minimum {late_min:.2}; {}", r.describe()),
            ));
        }
        Ok(Outcome { images: vec![image], checks, notes: vec![format!("Run directory: {}", dir.display())] })
    }
}

/// P1 Figs. 8–9 / P2 Figs. 7, 10: grokking by ×8 initialisation.
pub struct Grokking;

impl Grokking {
    /// ×8 initialisation memorises only after ≈ 5e3 steps: the smoke run must reach that.
    fn extra(scale: Scale) -> &'static [&'static str] {
        match scale {
            Scale::Smoke => &["train.steps=6000"],
            _ => &[],
        }
    }
}

impl Figure for Grokking {
    fn id(&self) -> &'static str {
        "mnist-grokking"
    }
    fn title(&self) -> &'static str {
        "Grokking of an MNIST MLP with ×8 initialisation, and the LC collapse"
    }
    fn paper_reference(&self) -> &'static str {
        "P1 Figs. 8–9, P2 Figs. 7, 10"
    }
    fn setup(&self, scale: Scale) -> String {
        format!(
            "configs/mnist_mlp_init8.toml (as mnist-dynamics with every parameter ×8 after init). Overrides: {:?}",
            scale_overrides(scale)
        )
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Outcome> {
        let dir = run_config(ctx, self.id(), "configs/mnist_mlp_init8.toml", Self::extra(ctx.scale))?;
        let metrics = Metrics::read(&dir)?;
        let image = plot_run(&metrics, "MNIST MLP ×8 init", &[], &ctx.figure_dir(self.id())?.join("grokking.png"))?;
        let train_acc = metrics.series("train_acc").context("no train accuracy")?;
        let test_acc = metrics.series("test_acc").context("no test accuracy")?;
        let fitted = first_reaching(&train_acc, 1.0);
        let test_when_fitted = fitted.and_then(|s| test_acc.iter().find(|p| p.0 == s)).map_or(f64::NAN, |p| p.1);
        let mut checks = vec![Check::new(
            "memorisation: train accuracy reaches 100 % while test accuracy < 50 %",
            fitted.is_some() && test_when_fitted < 0.5,
            format!("train 100 % at step {fitted:?}, test then {test_when_fitted:.3}"),
        )];
        let lc = train_lc(&metrics, "train")?;
        let phases = Phases::of(&lc, 100.0).context("LC curve too short")?;
        checks.push(Check::new(
            "no first descent (early minimum ≥ 0.8 × initial LC)",
            phases.first_min.1 >= 0.8 * phases.start.1,
            phases.describe(),
        ));
        if ctx.scale != Scale::Smoke {
            let final_test = test_acc.last().map_or(0.0, |p| p.1);
            let grok = first_reaching(&test_acc, 0.5);
            checks.push(Check::new(
                "grokking: final test accuracy ≥ 85 %",
                final_test >= 0.85,
                format!("final {final_test:.3}; test ≥ 50 % from step {grok:?}"),
            ));
            let collapse = lc.iter().filter(|p| p.0 > phases.peak.0).find(|p| p.1 < 0.5 * phases.peak.1).map(|p| p.0);
            let near = matches!((grok, collapse), (Some(g), Some(c)) if c <= 4.0 * g && g <= 4.0 * c);
            checks.push(Check::new(
                "LC collapse (train LC < half its peak) within 4× of the grokking step",
                near,
                format!("collapse at {collapse:?}, grokking at {grok:?}; {}", phases.describe()),
            ));
        }
        Ok(Outcome { images: vec![image], checks, notes: vec![format!("Run directory: {}", dir.display())] })
    }
}
