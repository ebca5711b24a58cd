//! A training run: a directory holding the resolved config (`config.toml`), the metrics
//! (`metrics.jsonl`, `metrics.csv`), evaluation timings (`timings.csv`) and checkpoints; the
//! loop that trains, evaluates at log-spaced steps, checkpoints, stops cleanly when asked and
//! resumes bit-exactly.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tessera_net::{Network, Scalar};
use tessera_progress::{Reporter, Status};

use crate::batches::BatchSampler;
use crate::checkpoint::{drop_optimizer_state, latest_resumable, load_checkpoint, save_checkpoint};
use crate::config::{Dtype, RunConfig};
use crate::data::{load_run_data, Points, RunData};
use crate::error::{Result, TrainError};
use crate::eta::Eta;
use crate::evaluate::{Evaluator, LossAccuracy, Metrics};
use crate::lc_eval::LcEvaluator;
use crate::metrics::MetricsLog;
use crate::model::build_network;
use crate::optim::Optimizer;
use crate::pgd::{InputBox, PgdEvaluator};
use crate::schedule::log_spaced_steps;
use crate::step::StepScratch;

/// The resolved configuration inside a run directory.
pub const CONFIG_FILE: &str = "config.toml";
/// Seconds spent per evaluator and in training, per evaluation step.
pub const TIMINGS_FILE: &str = "timings.csv";

/// How a run is driven from outside.
#[derive(Debug, Default)]
pub struct RunControl {
    /// Set (e.g. by a Ctrl-C handler) to stop at the next step boundary with a checkpoint.
    pub stop: AtomicBool,
    /// Stop as if interrupted once this many steps are done (tests, time-boxed sessions).
    pub pause_at: Option<u64>,
    /// Show progress on stderr: a bar on a terminal, a plain line every ten seconds otherwise.
    pub progress: bool,
}

/// How a call to `run` ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// All steps done; the final checkpoint is written.
    Finished {
        /// Optimizer steps taken in all.
        step: u64,
    },
    /// Stopped early; `checkpoint` resumes the run.
    Interrupted {
        /// Optimizer steps taken when it stopped.
        step: u64,
        /// The checkpoint directory written on stopping.
        checkpoint: PathBuf,
    },
}

/// A run in progress, in element type `T`.
pub struct Trainer<T: Scalar> {
    config: RunConfig,
    dir: PathBuf,
    net: Network<T>,
    optimizer: Optimizer<T>,
    sampler: BatchSampler,
    train: Points<T>,
    step: u64,
    eval_steps: BTreeSet<u64>,
    evaluators: Vec<Box<dyn Evaluator<T>>>,
    metrics: MetricsLog,
    last_checkpoint: Option<(u64, PathBuf)>,
    last_eval: Metrics,
    last_batch_loss: f64,
    train_time: Duration,
    scratch: StepScratch<T>,
}

impl<T: Scalar> Trainer<T> {
    /// Start a fresh run in `dir` (created; it must not already hold a run).
    pub fn create(config: RunConfig, dir: &Path) -> Result<Self> {
        if dir.join(CONFIG_FILE).exists() {
            return Err(TrainError::RunDir {
                path: dir.to_path_buf(),
                message: "already holds a run (config.toml exists); resume it or choose another output folder".into(),
            });
        }
        // Data and model first: a config that cannot run leaves no empty run folder behind.
        let data = load_run_data(&config)?;
        let net = build_network(&config.model, data.train.sample_shape(), data.train.num_classes())?;
        std::fs::create_dir_all(dir).map_err(|e| TrainError::file(dir, e))?;
        let path = dir.join(CONFIG_FILE);
        std::fs::write(&path, config.to_toml()?).map_err(|e| TrainError::file(&path, e))?;
        Self::assemble(config, dir, data, net, None)
    }

    /// Resume the run in `dir` from its newest resumable checkpoint (or from the start if it has
    /// none). With `expected`, the run's saved config must equal it.
    pub fn resume(dir: &Path, expected: Option<&RunConfig>) -> Result<Self> {
        let config = saved_config(dir)?;
        if let Some(expected) = expected {
            check_same_config(dir, &config, expected)?;
        }
        let data = load_run_data(&config)?;
        match latest_resumable(dir)? {
            Some((_, checkpoint)) => {
                let fresh = build_network::<T>(&config.model, data.train.sample_shape(), data.train.num_classes())?;
                let mut optimizer = Optimizer::new(config.optim.clone(), &tensor_lens(&fresh))?;
                let (net, state) = load_checkpoint(&checkpoint, &mut optimizer)?;
                let mismatch = if net.nodes() != fresh.nodes() {
                    Some("its architecture differs from the run's config".to_string())
                } else if state.batch_seed != RunConfig::seed_of(config.train.batch_seed) {
                    Some(format!("its batch seed {} is not the run's", state.batch_seed))
                } else {
                    None
                };
                if let Some(message) = mismatch {
                    return Err(TrainError::Checkpoint { path: checkpoint, message });
                }
                let resumed = Resumed { step: state.step, optimizer, checkpoint };
                Self::assemble(config, dir, data, net, Some(resumed))
            }
            None => {
                let net = build_network(&config.model, data.train.sample_shape(), data.train.num_classes())?;
                Self::assemble(config, dir, data, net, None)
            }
        }
    }

    fn assemble(
        config: RunConfig,
        dir: &Path,
        data: RunData,
        net: Network<T>,
        resumed: Option<Resumed<T>>,
    ) -> Result<Self> {
        let t = &config.train;
        let sampler = BatchSampler::new(data.train.len(), t.batch_size, t.drop_last, RunConfig::seed_of(t.batch_seed))?;
        let mut eval_steps: BTreeSet<u64> = log_spaced_steps(t.steps, config.eval.count).into_iter().collect();
        eval_steps.extend(config.eval.extra_steps.iter().filter(|&&s| s <= t.steps));
        let train = data.train_points()?;
        let evaluators = build_evaluators(&config, &data, &train)?;
        let (step, optimizer, last_checkpoint) = match resumed {
            Some(r) => (r.step, r.optimizer, Some((r.step, r.checkpoint))),
            None => (0, Optimizer::new(config.optim.clone(), &tensor_lens(&net))?, None),
        };
        let metrics = MetricsLog::open(dir, Some(step))?;
        Ok(Self {
            train,
            config,
            dir: dir.to_path_buf(),
            net,
            optimizer,
            sampler,
            step,
            eval_steps,
            evaluators,
            metrics,
            last_checkpoint,
            last_eval: Vec::new(),
            last_batch_loss: f64::NAN,
            train_time: Duration::ZERO,
            scratch: StepScratch::default(),
        })
    }

    /// The network being trained.
    pub fn network(&self) -> &Network<T> {
        &self.net
    }

    /// The run's configuration, every seed resolved.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// Optimizer steps done so far.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The steps at which the run evaluates.
    pub fn eval_steps(&self) -> Vec<u64> {
        self.eval_steps.iter().copied().collect()
    }

    /// Train until the configured number of steps (or until stopped), evaluating and
    /// checkpointing on the way.
    pub fn run(&mut self, control: &RunControl) -> Result<RunOutcome> {
        let total = self.config.train.steps;
        let mut progress = if control.progress { Reporter::new("train", Some(total)) } else { Reporter::hidden() };
        let mut eta = Eta::default();
        loop {
            let s = self.step;
            let (evaluating, started) = (self.eval_steps.contains(&s), Instant::now());
            if evaluating {
                self.evaluate_and_record(s)?;
            }
            if self.wants_checkpoint(s) {
                self.checkpoint(s)?;
            }
            if evaluating {
                eta.record_evaluation(started.elapsed());
            }
            if s >= total {
                progress.conclude(&self.status(None));
                return Ok(RunOutcome::Finished { step: s });
            }
            if control.stop.load(Ordering::SeqCst) || control.pause_at == Some(s) {
                let checkpoint = self.checkpoint(s)?;
                progress.conclude(&Status { message: format!("stopped at step {s}"), ..self.status(None) });
                return Ok(RunOutcome::Interrupted { step: s, checkpoint });
            }
            let started = Instant::now();
            self.last_batch_loss = self.train_step(s)?;
            self.train_time += started.elapsed();
            eta.record_step(started.elapsed());
            self.step += 1;
            if progress.due() {
                let evaluations_left = self.eval_steps.range(self.step..=total).count();
                progress.show(&self.status(eta.left(total - self.step, evaluations_left)));
            }
        }
    }

    /// One optimizer update on the mini-batch of step `s`; returns the batch loss.
    pub fn train_step(&mut self, s: u64) -> Result<f64> {
        self.train.gather_into(self.sampler.batch(s), &mut self.scratch.batch);
        let loss = self.scratch.step(&mut self.net, &mut self.optimizer, self.config.train.loss)?;
        if !loss.is_finite() {
            return Err(TrainError::NonFinite { step: s, what: "the training loss".into() });
        }
        Ok(loss)
    }

    fn wants_checkpoint(&self, s: u64) -> bool {
        let t = &self.config.train;
        let already = self.last_checkpoint.as_ref().is_some_and(|(step, _)| *step == s);
        let due = t.checkpoint_steps.contains(&s)
            || (t.checkpoint_at_eval && self.eval_steps.contains(&s))
            || (t.checkpoint_every > 0 && s > 0 && s.is_multiple_of(t.checkpoint_every))
            || s == t.steps;
        due && !already
    }

    /// Save a resumable checkpoint of step `s`, reduce the previous one to weights only (unless
    /// all optimizer states are kept) and return its folder.
    fn checkpoint(&mut self, s: u64) -> Result<PathBuf> {
        if let Some((step, dir)) = &self.last_checkpoint {
            if *step == s {
                return Ok(dir.clone());
            }
        }
        let batch_seed = RunConfig::seed_of(self.config.train.batch_seed);
        let dir = save_checkpoint(&self.dir, s, &self.net, Some(&self.optimizer), batch_seed)?;
        if let Some((_, previous)) = self.last_checkpoint.replace((s, dir.clone())) {
            if !self.config.train.keep_all_optimizer_states && previous.exists() {
                drop_optimizer_state(&previous)?;
            }
        }
        Ok(dir)
    }

    fn evaluate_and_record(&mut self, s: u64) -> Result<()> {
        self.net.check_finite().map_err(|e| TrainError::NonFinite { step: s, what: e.to_string() })?;
        let mut row = Metrics::new();
        let mut timings = vec![("training_steps".to_string(), std::mem::take(&mut self.train_time).as_secs_f64())];
        for evaluator in self.evaluators.iter_mut() {
            let started = Instant::now();
            // On rayon's pool, so the evaluator's parallel parts skip the hand-off each time.
            let net = &self.net;
            row.extend(rayon::scope(|_| evaluator.evaluate(net, s))?);
            timings.push((evaluator.name().to_string(), started.elapsed().as_secs_f64()));
        }
        self.metrics.append(s, &row)?;
        append_timings(&self.dir, s, &timings)?;
        self.last_eval = row;
        Ok(())
    }

    /// Steps done, the last batch loss and evaluation, and `eta`.
    fn status(&self, eta: Option<Duration>) -> Status {
        Status { position: self.step, message: self.progress_message(), eta }
    }

    fn progress_message(&self) -> String {
        let get = |k: &str| self.last_eval.iter().find(|(n, _)| n == k).map(|(_, v)| *v).unwrap_or(f64::NAN);
        format!(
            "batch loss {:.3e} | train loss {:.3e} acc {:.3} | test loss {:.3e} acc {:.3}",
            self.last_batch_loss,
            get("train_loss"),
            get("train_acc"),
            get("test_loss"),
            get("test_acc")
        )
    }
}

/// What resuming restores besides the network.
struct Resumed<T> {
    step: u64,
    optimizer: Optimizer<T>,
    checkpoint: PathBuf,
}

fn tensor_lens<T: Scalar>(net: &Network<T>) -> Vec<usize> {
    net.trainable().iter().map(|t| t.len()).collect()
}

/// The evaluators of a run, in the order their columns appear: train and test loss/accuracy,
/// local complexity, PGD.
fn build_evaluators<T: Scalar>(
    config: &RunConfig,
    data: &RunData,
    train: &Points<T>,
) -> Result<Vec<Box<dyn Evaluator<T>>>> {
    let test = data.test_points::<T>()?;
    let (loss, batch) = (config.train.loss, config.eval.batch_size);
    let mut evaluators: Vec<Box<dyn Evaluator<T>>> = vec![
        Box::new(LossAccuracy::new("train", train.first(config.eval.train_points), loss, batch)),
        Box::new(LossAccuracy::new("test", test.first(config.eval.test_points), loss, batch)),
    ];
    if config.lc.enabled {
        evaluators.push(Box::new(LcEvaluator::new(&config.lc, train, &test, data.domain())?));
    }
    if config.pgd.enabled {
        let domain = InputBox::from_domain(data.domain());
        evaluators.push(Box::new(PgdEvaluator::new(test.first(config.pgd.points), domain, &config.pgd, batch)));
    }
    Ok(evaluators)
}

/// Whether the run in `dir` has done all its steps: it holds a config and the checkpoint of its
/// last step (written after the last metrics row). A folder without a run is not finished.
pub fn is_finished(dir: &Path) -> Result<bool> {
    if !dir.join(CONFIG_FILE).exists() {
        return Ok(false);
    }
    let config = saved_config(dir)?;
    Ok(crate::checkpoint::checkpoint_dir(dir, config.train.steps).is_dir())
}

fn saved_config(dir: &Path) -> Result<RunConfig> {
    let path = dir.join(CONFIG_FILE);
    if !path.exists() {
        return Err(TrainError::RunDir {
            path: dir.to_path_buf(),
            message: "holds no run (no config.toml) to resume".into(),
        });
    }
    RunConfig::load(&path, &[])
}

/// Fail, naming the differing lines, if a resumed run's config is not the one given.
fn check_same_config(dir: &Path, saved: &RunConfig, expected: &RunConfig) -> Result<()> {
    if saved == expected {
        return Ok(());
    }
    let (a, b) = (saved.to_toml()?, expected.to_toml()?);
    let differing: Vec<String> = b.lines().filter(|l| !a.lines().any(|m| m == *l)).map(|l| format!("  {l}")).collect();
    Err(TrainError::RunDir {
        path: dir.to_path_buf(),
        message: format!(
            "the given config differs from the run's config.toml in:\n{}\nresume without changes, or start a new run",
            differing.join("\n")
        ),
    })
}

fn append_timings(dir: &Path, step: u64, timings: &[(String, f64)]) -> Result<()> {
    let path = dir.join(TIMINGS_FILE);
    let new = !path.exists();
    let mut f =
        std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|e| TrainError::file(&path, e))?;
    let mut text = String::new();
    if new {
        text.push_str("step,part,seconds\n");
    }
    for (name, secs) in timings {
        text.push_str(&format!("{step},{name},{secs:.6}\n"));
    }
    f.write_all(text.as_bytes()).map_err(|e| TrainError::file(&path, e))
}

/// A run of either element type, chosen by `model.dtype`.
pub enum Session {
    /// A run in `f32`.
    F32(Trainer<f32>),
    /// A run in `f64`.
    F64(Trainer<f64>),
}

impl Session {
    /// Start a fresh run in `dir`.
    pub fn create(config: RunConfig, dir: &Path) -> Result<Self> {
        Ok(match config.model.dtype {
            Dtype::F32 => Session::F32(Trainer::create(config, dir)?),
            Dtype::F64 => Session::F64(Trainer::create(config, dir)?),
        })
    }

    /// Resume the run in `dir` (see `Trainer::resume`).
    pub fn resume(dir: &Path, expected: Option<&RunConfig>) -> Result<Self> {
        Ok(match saved_config(dir)?.model.dtype {
            Dtype::F32 => Session::F32(Trainer::resume(dir, expected)?),
            Dtype::F64 => Session::F64(Trainer::resume(dir, expected)?),
        })
    }

    /// Train until the configured step count or until `control` asks to stop (see `Trainer::run`).
    pub fn run(&mut self, control: &RunControl) -> Result<RunOutcome> {
        match self {
            Session::F32(t) => t.run(control),
            Session::F64(t) => t.run(control),
        }
    }

    /// Optimizer steps done so far.
    pub fn step(&self) -> u64 {
        match self {
            Session::F32(t) => t.step(),
            Session::F64(t) => t.step(),
        }
    }
}
