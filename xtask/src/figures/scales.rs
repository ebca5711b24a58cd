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
