//! Checkpoints: `RUN/checkpoints/step_N/` holds the network (`Network::save`: architecture JSON
//! and weights safetensors), the optimizer buffers (`optimizer.safetensors`, in the network's
//! element type) and `state.json` (step, optimizer step count, batch-order state). A folder is
//! written under a temporary name and renamed when complete, so a crash never leaves a
//! half-written `step_N`.
//!
//! The random state is fully described by the seeds and the step: mini-batches are a function of
//! `(batch_seed, step)` (see `batches`), and evaluators seed their draws from the step, so a run
//! resumed from `step_N` repeats exactly what the uninterrupted run would have done.

use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use tessera_net::{Network, Scalar};

use crate::error::{Result, TrainError};
use crate::optim::Optimizer;

/// Folder of the checkpoints inside a run directory.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// Optimizer buffers inside a checkpoint.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// Step and random state inside a checkpoint.
pub const STATE_FILE: &str = "state.json";
const FORMAT: &str = "tessera-train-checkpoint/1";

/// The contents of `state.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Format tag of the checkpoint layout, checked on load.
    pub format: String,
    /// Optimizer updates applied to the saved weights.
    pub step: u64,
    /// The optimizer's own step count (Adam's bias correction).
    pub optimizer_steps: u64,
    /// Seed of the mini-batch order; with `step` it fixes every later batch.
    pub batch_seed: u64,
    /// Whether `optimizer.safetensors` is present (only then can the run resume from here).
    pub resumable: bool,
}

/// The folder of the checkpoint at `step`.
pub fn checkpoint_dir(run_dir: &Path, step: u64) -> PathBuf {
    run_dir.join(CHECKPOINTS_DIR).join(format!("step_{step}"))
}

/// Write the checkpoint of `step`; with `optimizer`, it can be resumed from.
pub fn save_checkpoint<T: Scalar>(
    run_dir: &Path,
    step: u64,
    net: &Network<T>,
    optimizer: Option<&Optimizer<T>>,
    batch_seed: u64,
) -> Result<PathBuf> {
    let final_dir = checkpoint_dir(run_dir, step);
    let partial = run_dir.join(CHECKPOINTS_DIR).join(format!(".step_{step}.partial"));
    remove_dir_if_present(&partial)?;
    net.save(&partial)?;
    if let Some(opt) = optimizer {
        let path = partial.join(OPTIMIZER_FILE);
        std::fs::write(&path, optimizer_bytes(opt)?).map_err(|e| TrainError::file(&path, e))?;
    }
    let state = CheckpointState {
        format: FORMAT.into(),
        step,
        optimizer_steps: optimizer.map_or(step, Optimizer::steps_taken),
        batch_seed,
        resumable: optimizer.is_some(),
    };
    write_state(&partial, &state)?;
    remove_dir_if_present(&final_dir)?;
    std::fs::rename(&partial, &final_dir).map_err(|e| TrainError::file(&final_dir, e))?;
    Ok(final_dir)
}

/// Remove the optimizer state of a checkpoint (it keeps its weights but can no longer be resumed
/// from); used to keep only the newest checkpoint resumable.
pub fn drop_optimizer_state(dir: &Path) -> Result<()> {
    let path = dir.join(OPTIMIZER_FILE);
    if path.exists() {
        let mut state = read_state(dir)?;
        state.resumable = false;
        write_state(dir, &state)?;
        std::fs::remove_file(&path).map_err(|e| TrainError::file(&path, e))?;
    }
    Ok(())
}

/// The resumable checkpoint with the highest step, if any.
pub fn latest_resumable(run_dir: &Path) -> Result<Option<(u64, PathBuf)>> {
    let mut best = None;
    for (step, path) in checkpoint_folders(run_dir)? {
        if path.join(STATE_FILE).is_file() && read_state(&path)?.resumable {
            best = Some((step, path));
        }
    }
    Ok(best)
}

/// Every `step_N` folder under `RUN/checkpoints`, by increasing step (none if the run has no
/// checkpoints folder yet).
pub fn checkpoint_folders(run_dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let root = run_dir.join(CHECKPOINTS_DIR);
    if !root.is_dir() {
        return Ok(Vec::new());
    }
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(&root).map_err(|e| TrainError::file(&root, e))? {
        let path = entry.map_err(|e| TrainError::file(&root, e))?.path();
        if let Some(step) =
            path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix("step_")?.parse().ok())
        {
            folders.push((step, path));
        }
    }
    folders.sort_unstable_by_key(|(step, _)| *step);
    Ok(folders)
}

/// Read a resumable checkpoint: the network, the optimizer state (into `optimizer`, built from
/// the run's config) and the saved state.
pub fn load_checkpoint<T: Scalar>(dir: &Path, optimizer: &mut Optimizer<T>) -> Result<(Network<T>, CheckpointState)> {
    let state = read_state(dir)?;
    let fail = |m: String| TrainError::Checkpoint { path: dir.to_path_buf(), message: m };
    if state.format != FORMAT {
        return Err(fail(format!("format '{}' is not '{FORMAT}'", state.format)));
    }
    if !state.resumable {
        return Err(fail("holds weights only (no optimizer state); it cannot be resumed from".into()));
    }
    let net = Network::<T>::load(dir)?;
    let path = dir.join(OPTIMIZER_FILE);
    let bytes = std::fs::read(&path).map_err(|e| TrainError::file(&path, e))?;
    let tensors =
        SafeTensors::deserialize(&bytes).map_err(|e| TrainError::file(&path, format!("not valid safetensors: {e}")))?;
    optimizer
        .restore(state.optimizer_steps, |name| tensors.tensor(name).ok().and_then(|v| read_values(&v)))
        .map_err(|e| fail(e.to_string()))?;
    Ok((net, state))
}

fn read_state(dir: &Path) -> Result<CheckpointState> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| TrainError::file(&path, e))?;
    serde_json::from_str(&text).map_err(|e| TrainError::file(&path, format!("invalid checkpoint state: {e}")))
}

fn write_state(dir: &Path, state: &CheckpointState) -> Result<()> {
    let path = dir.join(STATE_FILE);
    let text = serde_json::to_string_pretty(state).map_err(|e| TrainError::file(&path, e))?;
    std::fs::write(&path, text).map_err(|e| TrainError::file(&path, e))
}

fn remove_dir_if_present(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| TrainError::file(dir, e))?;
    }
    Ok(())
}

/// The optimizer buffers as safetensors, in the element type `T` (bit-exact round trip).
fn optimizer_bytes<T: Scalar>(opt: &Optimizer<T>) -> Result<Vec<u8>> {
    let dtype = if T::DTYPE == "F32" { Dtype::F32 } else { Dtype::F64 };
    let named: Vec<(String, usize, Vec<u8>)> =
        opt.state_tensors().into_iter().map(|(name, values)| (name, values.len(), to_le_bytes(values))).collect();
    let views = named
        .iter()
        .map(|(name, len, bytes)| {
            TensorView::new(dtype, vec![*len], bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| TrainError::Shape(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, &None).map_err(|e| TrainError::Shape(e.to_string()))
}

fn to_le_bytes<T: Scalar>(values: &[T]) -> Vec<u8> {
    if T::DTYPE == "F32" {
        values.iter().flat_map(|v| (v.to_f64() as f32).to_le_bytes()).collect()
    } else {
        values.iter().flat_map(|v| v.to_f64().to_le_bytes()).collect()
    }
}

fn read_values<T: Scalar>(view: &TensorView) -> Option<Vec<T>> {
    let data = view.data();
    match view.dtype() {
        Dtype::F32 => Some(
            data.chunks_exact(4)
                .map(|b| T::from_f64(f64::from(f32::from_le_bytes(b.try_into().expect("4 bytes")))))
                .collect(),
        ),
        Dtype::F64 => Some(
            data.chunks_exact(8).map(|b| T::from_f64(f64::from_le_bytes(b.try_into().expect("8 bytes")))).collect(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::OptimizerConfig;
    use tessera_net::{mlp, Activation};

    #[test]
    fn checkpoint_round_trip_is_bit_exact_and_latest_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let mut net = mlp::<f64>(&[3, 4, 2], Activation::Relu).unwrap();
        net.init_pytorch_default(1, 1.0);
        let lens: Vec<usize> = net.trainable().iter().map(|t| t.len()).collect();
        let mut opt = Optimizer::new(OptimizerConfig::default(), &lens).unwrap();
        let grads: Vec<Vec<f64>> = lens.iter().map(|&n| (0..n).map(|i| i as f64 * 0.1 - 0.3).collect()).collect();
        opt.step(net.trainable_mut(), &grads).unwrap();

        let early = save_checkpoint(dir.path(), 1, &net, Some(&opt), 5).unwrap();
        let later = save_checkpoint(dir.path(), 7, &net, Some(&opt), 5).unwrap();
        assert_eq!(latest_resumable(dir.path()).unwrap().unwrap().0, 7);
        drop_optimizer_state(&later).unwrap();
        assert_eq!(latest_resumable(dir.path()).unwrap().unwrap(), (1, early.clone()));

        let mut fresh = Optimizer::new(OptimizerConfig::default(), &lens).unwrap();
        let (loaded, state) = load_checkpoint::<f64>(&early, &mut fresh).unwrap();
        assert_eq!(loaded, net);
        assert_eq!(fresh, opt);
        assert_eq!((state.step, state.batch_seed), (1, 5));
        assert!(load_checkpoint::<f64>(&later, &mut fresh).is_err());
    }

    #[test]
    fn checkpoint_folders_are_ordered_by_step_number_and_skip_other_names() {
        let dir = tempfile::tempdir().unwrap();
        assert!(checkpoint_folders(dir.path()).unwrap().is_empty());
        for name in ["step_10", "step_9", "step_100", "notes", "step_x"] {
            std::fs::create_dir_all(dir.path().join(CHECKPOINTS_DIR).join(name)).unwrap();
        }
        let steps: Vec<u64> = checkpoint_folders(dir.path()).unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(steps, vec![9, 10, 100]);
        assert_eq!(latest_resumable(dir.path()).unwrap(), None, "folders without state are not resumable");
    }
}
