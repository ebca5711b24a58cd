//! What each scale trains: the overrides every MNIST run of a reproduction shares, so that one
//! run (e.g. depth 4, width 200, init ×1) serves every figure that needs it.

use crate::Scale;

/// The optimisation steps at which P1 Fig. 1 shows its slices (from the panels' file names).
pub const PAPER_SNAPSHOTS: [u64; 12] = [0, 10, 19, 140, 665, 2668, 4669, 8671, 16008, 30015, 54694, 99383];

/// The MNIST config of the shared runs.
pub const MNIST_CONFIG: &str = "configs/mnist_mlp_init1.toml";

/// Training steps of a full run at `scale`.
pub fn full_steps(scale: Scale) -> u64 {
    match scale {
        Scale::Smoke => 300,
        Scale::Cpu | Scale::Paper => 100_000,
    }
}

/// LC radius the figures draw and check (the paper's Figs. 3, 8–9 value).
pub const RADIUS: &str = "0.05";

/// Snapshot steps of a run of `steps` steps: the paper's that fit, and the last step.
pub fn snapshots(steps: u64) -> Vec<u64> {
    let mut s: Vec<u64> = PAPER_SNAPSHOTS.iter().copied().filter(|&x| x < steps).collect();
    s.push(steps);
    s
}

/// The override giving an MLP `depth` linear layers (the papers' depth) of `width` units.
pub fn hidden(depth: usize, width: usize) -> String {
    format!("model.hidden=[{}]", vec![width.to_string(); depth - 1].join(","))
}

/// Overrides every MNIST run at `scale` gets, for a run of `steps` steps.
pub fn mnist_overrides(scale: Scale, steps: u64) -> Vec<String> {
    let snapshots: Vec<String> = snapshots(steps).iter().map(u64::to_string).collect();
    let mut list = vec![
        format!("train.steps={steps}"),
        "pgd.enabled=true".into(),
        // Weights at the slice snapshots; the newest checkpoint alone keeps optimizer state.
        "train.checkpoint_at_eval=false".into(),
        format!("train.checkpoint_steps=[{}]", snapshots.join(",")),
    ];
    let per_scale: &[&str] = match scale {
        Scale::Smoke => &[
            "data.test_size=500",
            "eval.count=10",
            "lc.radii=[0.05]",
            "lc.train_points=50",
            "lc.test_points=50",
            "lc.random_points=50",
            "pgd.points=50",
            "pgd.steps=5",
            "train.checkpoint_every=0",
        ],
        Scale::Cpu => &["lc.radii=[0.005, 0.05, 0.5]", "train.checkpoint_every=5000"],
        Scale::Paper => &[
            "lc.radii=[0.005, 0.05, 0.5]",
            "lc.test_points=10000",
            "lc.random_points=10000",
            "pgd.steps=100",
            "train.checkpoint_every=5000",
        ],
    };
    list.extend(per_scale.iter().map(|s| s.to_string()));
    list
}

/// What the scale reduces against the paper, in words (for every figure's setup).
pub fn reductions(scale: Scale) -> &'static str {
    match scale {
        Scale::Smoke => {
            "smoke scale: 300 steps, LC at r = 0.05 only on 50 train/test/random points, 10 evaluations, \
             test accuracy on 500 test images, PGD with 5 steps on 50 points; it exercises the pipeline and \
             cannot show late-training phenomena"
        }
        Scale::Cpu => {
            "cpu scale (paper.md §7): LC on 1000 (not 10k) test and random points at r ∈ {0.005, 0.05, 0.5}, \
             ~50 log-spaced evaluations, PGD with 20 (not 100) steps on 500 test points; one seed unless --seeds"
        }
        Scale::Paper => "paper scale: published settings (LC on 10k test and random points, PGD with 100 steps)",
    }
}

/// The CIFAR-10 CNN config (conv figures).
pub const CNN_CONFIG: &str = "configs/cifar_cnn.toml";
/// The CIFAR-10 pre-activation ResNet18 config (conv figures).
pub const RESNET_CONFIG: &str = "configs/cifar_resnet18.toml";
/// LC radius the conv figures draw and check (P2 §2.2's default, the configs' radius).
pub const CONV_RADIUS: &str = "0.005";

/// Conv layers of the shared CNN at `scale`: the CNN's depth and channels.
pub fn cnn_depth(scale: Scale) -> usize {
    match scale {
        Scale::Smoke => 3,
        Scale::Cpu | Scale::Paper => 5,
    }
}

/// The depths of the CNN batch-norm sweep at `scale` (the paper does not give its values).
pub fn cnn_depths(scale: Scale) -> Vec<usize> {
    match scale {
        Scale::Smoke => vec![2, 3],
        Scale::Cpu => vec![3, 5],
        Scale::Paper => vec![3, 5, 7],
    }
}

/// The override giving the CNN `depth` 3x3 convs of the scale's channels, stride 2 on the
/// second and fourth (paper.md §7 H proxy 2).
pub fn cnn_convs(scale: Scale, depth: usize) -> String {
    let channels = match scale {
        Scale::Smoke => 4,
        Scale::Cpu => 16,
        Scale::Paper => 32,
    };
    let layers: Vec<String> = (1..=depth)
        .map(|k| {
            let stride = if k == 2 || k == 4 { ", stride = 2" } else { "" };
            format!("{{ channels = {channels}{stride} }}")
        })
        .collect();
    format!("model.convs=[{}]", layers.join(", "))
}

/// Training steps of the CNN runs at `scale`.
pub fn cnn_steps(scale: Scale) -> u64 {
    match scale {
        Scale::Smoke => 30,
        Scale::Cpu => 20_000,
        Scale::Paper => 250_000,
    }
}

/// Training steps of the ResNet runs at `scale`.
pub fn resnet_steps(scale: Scale) -> u64 {
    match scale {
        Scale::Smoke => 20,
        Scale::Cpu => 4_000,
        Scale::Paper => 500_000,
    }
}

/// Overrides of every CNN run at `scale` (before the setting's own): AdamW (the paper's
/// optimizer; with weight decay 0 it is Adam), PGD on test points, checkpoints at evaluations.
pub fn cnn_overrides(scale: Scale, steps: u64) -> Vec<String> {
    let mut list = vec![format!("train.steps={steps}"), "optim.kind=adamw".into(), "pgd.enabled=true".into()];
    let per_scale: &[&str] = match scale {
        Scale::Smoke => &[
            "data.train_size=200",
            "data.test_size=100",
            "train.batch_size=16",
            "train.checkpoint_every=0",
            "eval.count=5",
            "lc.p=4",
            "lc.train_points=8",
            "lc.test_points=8",
            "lc.random_points=8",
            "pgd.eps=[0.03]",
            "pgd.steps=2",
            "pgd.points=8",
        ],
        Scale::Cpu => &["pgd.eps=[0.03, 0.06, 0.1]", "pgd.steps=10", "pgd.points=200"],
        Scale::Paper => &[
            "data.train_size=0",
            "train.batch_size=128",
            "train.checkpoint_every=10000",
            "eval.count=50",
            "lc.radii=[0.005, 0.01]",
            "lc.train_points=2048",
            "lc.test_points=2048",
            "lc.random_points=2048",
            "pgd.eps=[0.03, 0.06, 0.1, 0.13, 0.16, 0.2]",
            "pgd.steps=10",
            "pgd.points=1000",
        ],
    };
    list.push(cnn_convs(scale, cnn_depth(scale)));
    list.extend(per_scale.iter().map(|s| s.to_string()));
    list
}

/// Overrides of every ResNet run at `scale` (before the setting's own).
pub fn resnet_overrides(scale: Scale, steps: u64) -> Vec<String> {
    let mut list = vec![format!("train.steps={steps}")];
    let per_scale: &[&str] = match scale {
        Scale::Smoke => &[
            "model.width=2",
            "data.train_size=200",
            "data.test_size=100",
            "train.batch_size=16",
            "train.checkpoint_every=0",
            "eval.count=4",
            "lc.p=4",
            "lc.train_points=8",
            "lc.test_points=8",
            "lc.random_points=8",
        ],
        Scale::Cpu => &[
            "model.width=8",
            "data.train_size=5000",
            "train.batch_size=64",
            "eval.count=30",
            "lc.train_points=128",
            "lc.test_points=128",
            "lc.random_points=128",
        ],
        Scale::Paper => &[
            "train.batch_size=256",
            "train.checkpoint_every=10000",
            "eval.count=50",
            "lc.train_points=1024",
            "lc.test_points=1024",
            "lc.random_points=1024",
        ],
    };
    list.extend(per_scale.iter().map(|s| s.to_string()));
    list
}

/// What the scale reduces against the paper for the CNN runs.
pub fn cnn_reductions(scale: Scale) -> &'static str {
    match scale {
        Scale::Smoke => {
            "smoke scale: convs of 4 channels, 200 training images, 30 steps at batch 16, LC with P = 4 on 8 \
             points per set, 5 evaluations, PGD (ε = 0.03, 2 steps) on 8 test images; it exercises the pipeline \
             and cannot show any training phase"
        }
        Scale::Cpu => {
            "cpu scale (paper.md §7 H proxy 2): convs of 16 channels (paper: 32), 5000 training images (paper: \
             50,000; 20,000 are in shared/data), batch 64, 2e4 steps (paper: ~1e5–2.5e5), LC with P = 25 on 256 \
             (paper: 1024–2048) train/test/random points, 40 evaluations, PGD with 10 steps on 200 test images at \
             ε ∈ {0.03, 0.06, 0.1}"
        }
        Scale::Paper => {
            "paper scale: convs of 32 channels, the 20,000 training images of shared/data (the paper: 50,000), \
             batch 128 (not stated in the paper), 2.5e5 steps, LC with P = 25 on 2048 points per set at \
             r ∈ {0.005, 0.01}, PGD with 10 steps on 1000 test images at the paper's six ε"
        }
    }
}

/// What the scale reduces against the paper for the ResNet runs.
pub fn resnet_reductions(scale: Scale) -> &'static str {
    match scale {
        Scale::Smoke => {
            "smoke scale: width k = 2, 200 training images, 20 steps at batch 16, LC with P = 4 on 8 points per \
             set, 4 evaluations; it exercises the pipeline and cannot show any training phase"
        }
        Scale::Cpu => {
            "cpu scale: width k = 8 (paper: 16), 5000 training images (paper: 50,000), batch 64 (paper: 256), \
             4000 steps (paper: 5e5; about 51 epochs), LC with P = 20 on 128 (paper: 1024) train/test/random \
             points, 30 evaluations (paper: ~50)"
        }
        Scale::Paper => {
            "paper scale: width k = 16, the 20,000 training images of shared/data (the paper: 50,000), batch 256, \
             5e5 steps, LC with P = 20 on 1024 points per set"
        }
    }
}
