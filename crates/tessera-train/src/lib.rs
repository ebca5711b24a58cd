//! # tessera-train: training runs that record how a network's linear regions evolve
//!
//! What it is for: losses (MSE on one-hot or real-valued regression targets, cross-entropy),
//! optimizers with PyTorch's update rules (SGD with momentum, Adam, AdamW), seeded
//! mini-batches, evaluation at
//! log-spaced steps (loss and accuracy, local complexity through `tessera-lc`, PGD adversarial
//! accuracy), checkpoints, and the run directory that ties them together: a resolved TOML
//! config, metrics as JSON lines and CSV, deterministic for a seed and resumable bit-exactly.
//!
//! What it must not do: define network ops or gradients (`tessera-net`), compute local
//! complexity itself (`tessera-lc`), read dataset files (`tessera-data`), draw figures
//! (`tessera-plot`), or install signal handlers and print to stdout (the binary decides; runs
//! are stopped through `RunControl::stop`; progress goes to stderr through `tessera-progress`
//! when asked: a bar on a terminal, plain lines in a batch job).

pub mod batches;
pub mod checkpoint;
pub mod config;
pub mod data;
mod error;
mod eta;
pub mod evaluate;
pub mod lc_eval;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod pgd;
pub mod run;
pub mod schedule;
pub mod step;

pub use batches::BatchSampler;
pub use config::{apply_override, RunConfig};
pub use data::{load_run_data, Points, RunData};
pub use error::{Result, TrainError};
pub use evaluate::{Evaluator, LossAccuracy, Metrics};
pub use lc_eval::LcEvaluator;
pub use loss::{Loss, LossValue, Targets};
pub use metrics::MetricsTable;
pub use model::build_network;
pub use optim::{Optimizer, OptimizerConfig, OptimizerKind};
pub use pgd::{InputBox, PgdAttack, PgdEvaluator, PgdOutcome};
pub use run::{is_finished, RunControl, RunOutcome, Session, Trainer};
pub use schedule::log_spaced_steps;
pub use step::{training_step, StepScratch};
