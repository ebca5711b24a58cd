//! The run configuration: a TOML file with sections `data`, `model`, `optim`, `train`, `eval`,
//! `lc`, `pgd`, command-line overrides `key=value` with dotted keys, and resolution of every
//! default (seeds included) so that the copy saved in a run directory says exactly what ran.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tessera_net::Activation;

use crate::error::{Result, TrainError};
use crate::loss::Loss;
use crate::optim::OptimizerConfig;

/// A whole run. Every field has a default: the paper's MNIST run (1000 samples, MLP
/// 784-200-200-200-10 ReLU, MSE, AdamW lr 1e-3 wd 0.01, batch 200, f64, 1e5 steps, LC with
/// P = 25 at r = 0.005 and 0.05 on 1000 train/test/random points at ~50 log-spaced steps).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// The seed every component's seed defaults to (each can be set on its own).
    pub seed: u64,
    /// `[data]`: the datasets.
    pub data: DataConfig,
    /// `[model]`: the architecture.
    pub model: ModelConfig,
    /// `[optim]`: the optimizer.
    pub optim: OptimizerConfig,
    /// `[train]`: the training loop.
    pub train: TrainConfig,
    /// `[eval]`: when and what to evaluate.
    pub eval: EvalConfig,
    /// `[lc]`: local complexity tracking.
    pub lc: LcConfig,
    /// `[pgd]`: adversarial accuracy tracking.
    pub pgd: PgdConfig,
}

/// `[data]`: which dataset and which part of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// "mnist", "fashion-mnist", "cifar10", "cifar100", toy data "moons", "circles", "spiral", or
    /// the regression set "gated-sin-cos" (`(sin x1 + cos x2) 1{x1 < 0}` on `[-10, 10]^2`,
    /// trained with `loss = "mse"` against its real values).
    pub dataset: String,
    /// A data directory searched first (then `TESSERA_DATA`, `./data`, `../shared/data`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Training samples drawn without replacement from the training split (0: all of it; for
    /// toy data: the number generated).
    pub train_size: usize,
    /// Test samples: the first `test_size` of the test split (0: all; toy data: generated).
    pub test_size: usize,
    /// Seed of the training subset (defaults to the run seed).
    pub subset_seed: Option<u64>,
    /// Replace the training labels by uniform random ones (seeded by `subset_seed`).
    pub random_labels: bool,
    /// Per-channel mean/std normalization with the training subset's statistics.
    pub normalize: bool,
    /// Noise of the toy datasets.
    pub noise: f32,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dataset: "mnist".into(),
            dir: None,
            train_size: 1000,
            test_size: 0,
            subset_seed: None,
            random_labels: false,
            normalize: false,
            noise: 0.1,
        }
    }
}

/// Element type of parameters and activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 32-bit floats.
    F32,
    /// 64-bit floats.
    F64,
}

/// Architecture family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// Dense layers of widths `hidden`, activation after each.
    Mlp,
    /// 3x3 conv layers `convs`, then dense layers `hidden`.
    Cnn,
    /// Pre-activation ResNet18 of width `width`.
    Resnet18,
}

/// `[model]`: the architecture and its initialization. Input and output sizes come from the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Architecture family.
    pub arch: Arch,
    /// Hidden dense widths (MLP; the CNN's dense head).
    pub hidden: Vec<usize>,
    /// "relu", "leaky_relu" (with `leaky_slope`) or "abs".
    pub activation: String,
    /// Negative-side slope of "leaky_relu".
    pub leaky_slope: f64,
    /// Batch norm before every activation (MLP hidden layers, CNN convs, ResNet blocks).
    pub batch_norm: bool,
    /// ResNet width `k` (channels k, 2k, 4k, 8k).
    pub width: usize,
    /// Every parameter is multiplied by this after PyTorch-default initialization (8: grokking).
    pub init_scale: f64,
    /// Seed of the initialization (defaults to the run seed).
    pub init_seed: Option<u64>,
    /// Element type of parameters and activations.
    pub dtype: Dtype,
    /// CNN conv layers (3x3, padding 1).
    pub convs: Vec<tessera_net::ConvLayer>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            arch: Arch::Mlp,
            hidden: vec![200, 200, 200],
            activation: "relu".into(),
            leaky_slope: 0.01,
            batch_norm: false,
            width: 16,
            init_scale: 1.0,
            init_seed: None,
            dtype: Dtype::F64,
            convs: Vec::new(),
        }
    }
}

impl ModelConfig {
    /// The activation named by `activation`.
    pub fn activation(&self) -> Result<Activation> {
        match self.activation.as_str() {
            "relu" => Ok(Activation::Relu),
            "leaky_relu" => Ok(Activation::LeakyRelu { slope: self.leaky_slope }),
            "abs" => Ok(Activation::Abs),
            other => Err(TrainError::config(
                "[model]",
                format!("activation '{other}' is not one of \"relu\", \"leaky_relu\", \"abs\""),
            )),
        }
    }
}

/// `[train]`: the optimization loop and checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Optimizer steps in all.
    pub steps: u64,
    /// Points per mini-batch.
    pub batch_size: usize,
    /// The training loss.
    pub loss: Loss,
    /// Seed of the mini-batch order (defaults to the run seed).
    pub batch_seed: Option<u64>,
    /// Skip the last, smaller batch of each epoch.
    pub drop_last: bool,
    /// Steps at which to save a checkpoint (besides those below).
    pub checkpoint_steps: Vec<u64>,
    /// Save a checkpoint at every evaluation step.
    pub checkpoint_at_eval: bool,
    /// Also save one every this many steps (0: never), so a killed run loses little.
    pub checkpoint_every: u64,
    /// Keep the optimizer state in every checkpoint; by default only the newest checkpoint keeps
    /// it (the others hold weights only and cannot be resumed from).
    pub keep_all_optimizer_states: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 100_000,
            batch_size: 200,
            loss: Loss::Mse,
            batch_seed: None,
            drop_last: false,
            checkpoint_steps: Vec::new(),
            checkpoint_at_eval: true,
            checkpoint_every: 0,
            keep_all_optimizer_states: false,
        }
    }
}

/// `[eval]`: when to evaluate, and the loss/accuracy sets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Number of log-spaced values (`logspace(0, log10 steps, count)`, made unique, plus 0).
    pub count: usize,
    /// Extra steps to evaluate.
    pub extra_steps: Vec<u64>,
    /// Training samples for loss/accuracy (0: all).
    pub train_points: usize,
    /// Test samples for loss/accuracy (0: all).
    pub test_points: usize,
    /// Samples per forward pass during evaluation (bounds memory).
    pub batch_size: usize,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self { count: 50, extra_steps: Vec::new(), train_points: 0, test_points: 0, batch_size: 1000 }
    }
}

/// `[lc]`: local complexity at each evaluation step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LcConfig {
    /// Measure LC at evaluation steps.
    pub enabled: bool,
    /// Neighborhood radii.
    pub radii: Vec<f64>,
    /// Dimension of the cross-polytope (number of orthonormal directions).
    pub p: usize,
    /// Seed of the frame (defaults to the run seed); the same frame serves every step.
    pub frame_seed: Option<u64>,
    /// The first this many training samples.
    pub train_points: usize,
    /// The first this many test samples.
    pub test_points: usize,
    /// Points uniform in the data domain.
    pub random_points: usize,
    /// Seed of the random points (defaults to the run seed + 1).
    pub random_seed: Option<u64>,
    /// Also count sign changes of the output layer (the official code's MLP numbers).
    pub count_output_layer: bool,
    /// Record the mean count of every layer, not only the total.
    pub per_layer: bool,
    /// Which activation layers are counted: "auto" (default), "all", "conv", or layer numbers
    /// from 1 (the metrics' `layer_k`).
    #[serde(skip_serializing_if = "CountedLayers::is_auto")]
    pub layers: CountedLayers,
}

/// `[lc] layers`: the activation layers whose pre-activations are counted. A neuron is a unit of
/// a pre-activation: every channel x position of a feature map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CountedLayers {
    /// A named group of layers.
    Named(LayerGroup),
    /// These activation layers, numbered from 1 in network order.
    Numbers(Vec<usize>),
}

/// The named groups of `[lc] layers`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerGroup {
    /// As the paper counts: the convolutional layers of a network that has any (a CNN without
    /// its dense head, P1 §4.1; the 16 block ReLUs of the ResNet18, residual sums included),
    /// every hidden layer otherwise (MLPs).
    #[default]
    Auto,
    /// Every activation layer.
    All,
    /// The activation layers fed by feature maps `[C, H, W]`.
    Conv,
}

impl Default for CountedLayers {
    fn default() -> Self {
        CountedLayers::Named(LayerGroup::Auto)
    }
}

impl CountedLayers {
    /// Whether this is the default, "auto" (left out of saved configs, so that configs written
    /// before the field existed keep their identity).
    pub fn is_auto(&self) -> bool {
        *self == CountedLayers::Named(LayerGroup::Auto)
    }
}

impl Default for LcConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            radii: vec![0.005, 0.05],
            p: 25,
            frame_seed: None,
            train_points: 1000,
            test_points: 1000,
            random_points: 1000,
            random_seed: None,
            count_output_layer: false,
            per_layer: true,
            layers: CountedLayers::default(),
        }
    }
}

/// `[pgd]`: L∞ PGD adversarial accuracy on test points at each evaluation step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PgdConfig {
    /// Measure adversarial accuracy at evaluation steps.
    pub enabled: bool,
    /// Radii of the L∞ ball.
    pub eps: Vec<f64>,
    /// Step size of each signed-gradient step.
    pub alpha: f64,
    /// Number of steps.
    pub steps: usize,
    /// The first this many test samples.
    pub points: usize,
    /// Seed of the random starts (defaults to the run seed).
    pub seed: Option<u64>,
}

impl Default for PgdConfig {
    fn default() -> Self {
        Self { enabled: false, eps: vec![0.06, 0.1, 0.2], alpha: 0.0156, steps: 20, points: 500, seed: None }
    }
}

impl RunConfig {
    /// Parse `path`, apply `overrides` (`key=value`, dotted keys), fill defaults and derived
    /// seeds, and check the values.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::file(path, e))?;
        Self::from_toml_str(&text, &path.display().to_string(), overrides)
    }

    /// Like `load`, from TOML text; `origin` names it in messages.
    pub fn from_toml_str(text: &str, origin: &str, overrides: &[String]) -> Result<Self> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| TrainError::config(origin, e))?;
        for item in overrides {
            apply_override(&mut table, item)?;
        }
        let origin = if overrides.is_empty() { origin.to_string() } else { format!("{origin} with overrides") };
        let config: RunConfig = toml::Value::Table(table).try_into().map_err(|e| TrainError::config(&origin, e))?;
        config.resolved(&origin)
    }

    /// Every `None` seed replaced by its default, and the values checked.
    fn resolved(mut self, origin: &str) -> Result<Self> {
        let seed = self.seed;
        self.data.subset_seed.get_or_insert(seed);
        self.model.init_seed.get_or_insert(seed);
        self.train.batch_seed.get_or_insert(seed);
        self.lc.frame_seed.get_or_insert(seed);
        self.lc.random_seed.get_or_insert(seed.wrapping_add(1));
        self.pgd.seed.get_or_insert(seed);
        self.validate().map_err(|e| match e {
            TrainError::Config { origin: section, message } => {
                TrainError::config(origin, format!("{section}: {message}"))
            }
            other => other,
        })?;
        Ok(self)
    }

    fn validate(&self) -> Result<()> {
        let bad = |section: &str, message: String| Err(TrainError::config(section, message));
        self.optim.validate()?;
        self.model.activation()?;
        if !(self.model.init_scale.is_finite()) {
            return bad("[model]", format!("init_scale must be finite, got {}", self.model.init_scale));
        }
        if self.train.batch_size == 0 {
            return bad("[train]", "batch_size must be positive".into());
        }
        if crate::data::is_regression(&self.data.dataset) {
            let dataset = &self.data.dataset;
            if self.train.loss != Loss::Mse {
                return bad("[train]", format!("the regression dataset '{dataset}' needs loss = \"mse\""));
            }
            if self.pgd.enabled {
                return bad("[pgd]", format!("adversarial accuracy needs classes; '{dataset}' is a regression set"));
            }
            if self.data.random_labels {
                return bad("[data]", format!("random_labels needs classes; '{dataset}' is a regression set"));
            }
        }
        if self.eval.batch_size == 0 {
            return bad("[eval]", "batch_size must be positive".into());
        }
        if self.lc.enabled {
            if self.lc.p == 0 {
                return bad("[lc]", "p must be at least 1".into());
            }
            if self.lc.radii.is_empty() || self.lc.radii.iter().any(|r| !(r.is_finite() && *r > 0.0)) {
                return bad("[lc]", format!("radii must be positive and finite, got {:?}", self.lc.radii));
            }
        }
        if self.pgd.enabled {
            if self.pgd.eps.is_empty() || self.pgd.eps.iter().any(|e| !(e.is_finite() && *e >= 0.0)) {
                return bad("[pgd]", format!("eps must be finite and >= 0, got {:?}", self.pgd.eps));
            }
            if !(self.pgd.alpha.is_finite() && self.pgd.alpha > 0.0) {
                return bad("[pgd]", format!("alpha must be positive, got {}", self.pgd.alpha));
            }
        }
        Ok(())
    }

    /// The configuration as TOML (what a run directory's `config.toml` holds).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| TrainError::config("resolved config", e))
    }

    /// The identity of the run this config describes: the first 16 hex digits of the SHA-256 of
    /// its resolved TOML with `data.dir` removed. Every setting that can change what the run
    /// computes is part of it (seeds included); `data.dir` only says where this machine keeps
    /// the dataset, so the same run found through another folder (or on another machine) has
    /// the same identity. Adding a field to the config changes every identity (runs recorded
    /// before are then trained again), which errs on the safe side.
    pub fn content_hash(&self) -> Result<String> {
        use sha2::{Digest, Sha256};
        let mut portable = self.clone();
        portable.data.dir = None;
        let digest = Sha256::digest(portable.to_toml()?.as_bytes());
        Ok(digest.iter().take(8).map(|b| format!("{b:02x}")).collect())
    }

    /// The seeds after resolution (always `Some` once loaded).
    pub(crate) fn seed_of(value: Option<u64>) -> u64 {
        value.expect("seeds are resolved when the config is loaded")
    }
}

/// Apply one `key=value` override to a parsed TOML table. The value is read as a TOML value
/// (`8`, `1e-3`, `true`, `[0.005, 0.05]`, `"text"`), or taken as a string when it is not one
/// (`data.dataset=mnist`). Intermediate tables are created as needed; unknown keys are caught
/// when the table is turned into a `RunConfig`.
pub fn apply_override(table: &mut toml::Table, item: &str) -> Result<()> {
    let fail = |message: &str| TrainError::Override { item: item.to_string(), message: message.to_string() };
    let (key, raw) = item.split_once('=').ok_or_else(|| fail("expected key=value"))?;
    let path: Vec<&str> = key.trim().split('.').collect();
    if path.iter().any(|p| p.is_empty()) {
        return Err(fail("the key has an empty part"));
    }
    let value = parse_value(raw.trim());
    let (last, parents) = path.split_last().expect("split gives at least one part");
    let mut current = table;
    for part in parents {
        let entry = current.entry(part.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry.as_table_mut().ok_or_else(|| fail(&format!("'{part}' is not a section")))?;
    }
    current.insert(last.to_string(), value);
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::OptimizerKind;

    #[test]
    fn empty_file_is_the_paper_mnist_run_with_resolved_seeds() {
        let c = RunConfig::from_toml_str("", "test", &[]).unwrap();
        assert_eq!(c.model.hidden, vec![200, 200, 200]);
        assert_eq!(c.optim.kind, OptimizerKind::AdamW);
        assert_eq!(c.train.steps, 100_000);
        assert_eq!(c.model.init_seed, Some(0));
        assert_eq!(c.lc.random_seed, Some(1));
    }

    #[test]
    fn overrides_use_dotted_keys_and_toml_values() {
        let overrides = [
            "model.init_scale=8".to_string(),
            "lc.radii=[0.5]".to_string(),
            "data.dataset=moons".to_string(),
            "seed=3".to_string(),
        ];
        let c = RunConfig::from_toml_str("[train]\nsteps = 10\n", "t", &overrides).unwrap();
        assert_eq!(c.model.init_scale, 8.0);
        assert_eq!(c.lc.radii, vec![0.5]);
        assert_eq!(c.data.dataset, "moons");
        assert_eq!(c.train.steps, 10);
        assert_eq!(c.train.batch_seed, Some(3));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = RunConfig::from_toml_str("", "cfg.toml", &["optim.lrr=1".into()]).unwrap_err().to_string();
        assert!(e.contains("lrr"), "{e}");
        let e = RunConfig::from_toml_str("[optim]\nlr = -1.0\n", "cfg.toml", &[]).unwrap_err().to_string();
        assert!(e.contains("cfg.toml") && e.contains("lr"), "{e}");
        let e = RunConfig::from_toml_str("[model]\nactivation = \"gelu\"\n", "c", &[]).unwrap_err().to_string();
        assert!(e.contains("gelu"), "{e}");
        assert!(RunConfig::from_toml_str("", "c", &["novalue".into()]).is_err());
        assert!(RunConfig::from_toml_str("seed = 1", "c", &["seed.x=1".into()]).is_err());
    }

    #[test]
    fn content_hash_changes_with_every_setting_but_not_with_the_data_folder() {
        let base = RunConfig::from_toml_str("", "t", &[]).unwrap();
        let hash = base.content_hash().unwrap();
        assert_eq!(hash.len(), 16);
        assert_eq!(hash, RunConfig::from_toml_str("", "again", &[]).unwrap().content_hash().unwrap());
        for change in
            ["seed=1", "model.init_scale=8", "optim.weight_decay=0.1", "data.train_size=500", "lc.radii=[0.5]"]
        {
            let other = RunConfig::from_toml_str("", "t", &[change.to_string()]).unwrap();
            assert_ne!(other.content_hash().unwrap(), hash, "{change} must change the run's identity");
        }
        let moved = RunConfig::from_toml_str("", "t", &["data.dir=\"/elsewhere/data\"".to_string()]).unwrap();
        assert_eq!(moved.content_hash().unwrap(), hash);
    }

    #[test]
    fn regression_config_round_trips_and_refuses_class_only_settings() {
        let text = "[data]\ndataset = \"gated-sin-cos\"\n[model]\nhidden = [30, 30, 30, 30]\n";
        let c = RunConfig::from_toml_str(text, "toy.toml", &[]).unwrap();
        assert_eq!(RunConfig::from_toml_str(&c.to_toml().unwrap(), "again", &[]).unwrap(), c);
        for (change, expected) in [
            ("train.loss=\"cross_entropy\"", "needs loss = \"mse\""),
            ("pgd.enabled=true", "adversarial accuracy needs classes"),
            ("data.random_labels=true", "random_labels needs classes"),
        ] {
            let e = RunConfig::from_toml_str(text, "toy.toml", &[change.into()]).unwrap_err().to_string();
            assert!(e.contains("toy.toml") && e.contains(expected), "{change}: {e}");
        }
    }

    #[test]
    fn resolved_config_round_trips_through_toml() {
        let c = RunConfig::from_toml_str("[pgd]\nenabled = true\n", "t", &[]).unwrap();
        let text = c.to_toml().unwrap();
        assert_eq!(RunConfig::from_toml_str(&text, "again", &[]).unwrap(), c);
    }
}
