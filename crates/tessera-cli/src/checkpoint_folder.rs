//! A folder of checkpoints of one training run, for `lc --checkpoints` and `slice --checkpoints`:
//! which entries are checkpoints and at which step (tessera model directories or `.onnx` files
//! named `step_N`, `step-N`, `stepN` or `N`), their order, and loading them one at a time, each
//! checked to be the same network as the first with other weights.
//!
//! A folder holding a `checkpoints/` folder (a `tessera train` run directory) stands for that
//! folder. Hidden entries (a run's `.step_N.partial`) and the external weights of an ONNX file
//! (`step_N.onnx.data` beside `step_N.onnx`) are not checkpoints; any other entry that is not a
//! checkpoint named by step is an error naming it, so a misnamed file is never skipped silently.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use tessera_net::Network;

/// What a checkpoint folder's entries must look like, for error messages.
const EXPECTED: &str = "expected model directories (architecture.json + weights.safetensors) or .onnx files \
                        named by training step: step_N, step-N or N (e.g. step_1000/, step_1000.onnx, 1000.onnx)";

/// One checkpoint: the training step and the model directory or `.onnx` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The training step the name gives.
    pub step: u64,
    /// The model directory or `.onnx` file.
    pub path: PathBuf,
}

/// The checkpoints in `dir` (or in `dir/checkpoints`), by increasing step.
pub fn discover(dir: &Path) -> anyhow::Result<Vec<Checkpoint>> {
    if !dir.exists() {
        bail!("{}: no such folder", dir.display());
    }
    if !dir.is_dir() {
        bail!("{}: not a folder; --checkpoints takes a folder of checkpoints ({EXPECTED})", dir.display());
    }
    let run_checkpoints = dir.join(tessera_train::checkpoint::CHECKPOINTS_DIR);
    let dir = if run_checkpoints.is_dir() { run_checkpoints.as_path() } else { dir };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("listing {}", dir.display()))?;
    entries.sort();
    let mut checkpoints = Vec::new();
    for path in &entries {
        if let Some(step) = checkpoint_step(path)? {
            checkpoints.push(Checkpoint { step, path: path.clone() });
        }
    }
    if checkpoints.is_empty() {
        bail!("{}: no checkpoints in this folder ({EXPECTED})", dir.display());
    }
    checkpoints.sort_by_key(|c| c.step);
    if let Some(pair) = checkpoints.windows(2).find(|pair| pair[0].step == pair[1].step) {
        bail!(
            "two checkpoints of step {}: {} and {}; keep one",
            pair[0].step,
            pair[0].path.display(),
            pair[1].path.display()
        );
    }
    Ok(checkpoints)
}

/// The step of the folder entry `path` if it is a checkpoint, `None` if it is to be passed
/// over (hidden, or an ONNX file's external data), and an error naming it otherwise.
fn checkpoint_step(path: &Path) -> anyhow::Result<Option<u64>> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if name.starts_with('.') || is_external_data_of_a_sibling(path, &name) {
        return Ok(None);
    }
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, extension)) if path.is_file() => (stem, Some(extension.to_ascii_lowercase())),
        _ => (name.as_str(), None),
    };
    let Some(step) = step_of(stem) else {
        bail!("{}: not named by step ({EXPECTED})", path.display());
    };
    match (path.is_dir(), extension.as_deref()) {
        (true, _) if path.join(tessera_net::io::ARCHITECTURE_FILE).is_file() => Ok(Some(step)),
        (true, _) => bail!(
            "{}: a folder named by step without {}: not a tessera model directory",
            path.display(),
            tessera_net::io::ARCHITECTURE_FILE
        ),
        (false, Some("onnx")) => Ok(Some(step)),
        (false, Some("pt" | "pth" | "ckpt" | "bin")) => bail!(
            "{}: tessera does not read PyTorch pickles; export each checkpoint to ONNX (docs/pytorch.md)",
            path.display()
        ),
        (false, _) => bail!("{}: named by step but neither a model directory nor an .onnx file", path.display()),
    }
}

/// Whether `path` is `X.onnx.data` with `X.onnx` beside it (weights the exporter wrote apart).
fn is_external_data_of_a_sibling(path: &Path, name: &str) -> bool {
    name.strip_suffix(".data").is_some_and(|model| model.to_ascii_lowercase().ends_with(".onnx"))
        && path.with_extension("").is_file()
}

/// The step a checkpoint's name (without extension) gives: `step_N`, `step-N`, `stepN` or `N`.
fn step_of(stem: &str) -> Option<u64> {
    let digits = stem.strip_prefix("step").map_or(stem, |rest| rest.trim_start_matches(['_', '-']));
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The checkpoints of a folder with the first one loaded: the network every other checkpoint
/// must match (the same nodes, input shape included; only the weights differ).
pub struct CheckpointSeries {
    checkpoints: Vec<Checkpoint>,
    first: Network<f64>,
}

impl CheckpointSeries {
    /// Discover the checkpoints of `dir` and load the first.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let checkpoints = discover(dir)?;
        let first = crate::model::load_model(&checkpoints[0].path)?;
        Ok(Self { checkpoints, first })
    }

    /// The checkpoints, by increasing step.
    pub fn checkpoints(&self) -> &[Checkpoint] {
        &self.checkpoints
    }

    /// The network of the first checkpoint.
    pub fn first(&self) -> &Network<f64> {
        &self.first
    }

    /// Load `checkpoint` (one of this series), checked to be the first one's network.
    pub fn load(&self, checkpoint: &Checkpoint) -> anyhow::Result<Network<f64>> {
        let reference = &self.checkpoints[0];
        if checkpoint.path == reference.path {
            return Ok(self.first.clone());
        }
        let net = crate::model::load_model(&checkpoint.path)?;
        if let Some(difference) = architecture_difference(&self.first, &net) {
            bail!(
                "{}: not the network of {} ({difference}); the checkpoints of a folder must be one network \
                 at different steps",
                checkpoint.path.display(),
                reference.path.display()
            );
        }
        Ok(net)
    }
}

/// How `other`'s architecture differs from `reference`'s, if it does (weights aside).
fn architecture_difference(reference: &Network<f64>, other: &Network<f64>) -> Option<String> {
    let shape = |net: &Network<f64>| net.input_shape().iter().map(usize::to_string).collect::<Vec<_>>().join("×");
    if reference.input_shape() != other.input_shape() {
        return Some(format!("input shape {} instead of {}", shape(other), shape(reference)));
    }
    let (a, b) = (reference.nodes(), other.nodes());
    if let Some(k) = a.iter().zip(b).position(|(x, y)| x != y) {
        return Some(format!("node {} '{}' differs from node {} '{}'", k + 1, b[k].name, k + 1, a[k].name));
    }
    (a.len() != b.len()).then(|| format!("{} nodes instead of {}", b.len(), a.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_net::{mlp, Activation};

    /// A folder holding a model directory at each of `dirs` and an empty file at each of `files`.
    fn folder(dirs: &[&str], files: &[&str]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let net = mlp::<f64>(&[3, 4, 2], Activation::Relu).unwrap();
        for dir in dirs {
            net.save(&root.path().join(dir)).unwrap();
        }
        for file in files {
            std::fs::write(root.path().join(file), b"").unwrap();
        }
        root
    }

    fn steps_and_names(dir: &Path) -> Vec<(u64, String)> {
        let found = discover(dir).unwrap();
        found.iter().map(|c| (c.step, c.path.file_name().unwrap().to_string_lossy().into_owned())).collect()
    }

    fn error(dir: &Path) -> String {
        format!("{:#}", discover(dir).unwrap_err())
    }

    #[test]
    fn checkpoints_are_ordered_by_step_number_not_by_name() {
        let root = folder(&["step_1000", "step_20", "step_3"], &[]);
        assert_eq!(
            steps_and_names(root.path()),
            [(3, "step_3".into()), (20, "step_20".into()), (1000, "step_1000".into())]
        );
    }

    #[test]
    fn every_naming_form_gives_its_step_and_model_folders_mix_with_onnx_files() {
        let root = folder(&["step_5", "7"], &["step_1000.onnx", "step-40.ONNX", "step300.onnx", "2000.onnx"]);
        let steps: Vec<u64> = discover(root.path()).unwrap().iter().map(|c| c.step).collect();
        assert_eq!(steps, [5, 7, 40, 300, 1000, 2000]);
        assert_eq!(
            (step_of("step_012"), step_of("step_"), step_of("step_1e3"), step_of("final")),
            (Some(12), None, None, None)
        );
    }

    #[test]
    fn hidden_entries_and_onnx_external_data_are_passed_over() {
        let root = folder(&["step_1", ".step_2.partial"], &["step_3.onnx", "step_3.onnx.data", ".DS_Store"]);
        assert_eq!(steps_and_names(root.path()), [(1, "step_1".into()), (3, "step_3.onnx".into())]);
    }

    #[test]
    fn a_run_directory_stands_for_its_checkpoints_folder() {
        let root = folder(&["checkpoints/step_0", "checkpoints/step_10"], &["config.toml", "metrics.csv"]);
        assert_eq!(steps_and_names(root.path()), [(0, "step_0".into()), (10, "step_10".into())]);
    }

    #[test]
    fn an_empty_folder_is_an_error_naming_it_and_the_expected_names() {
        let root = folder(&[], &[]);
        let message = error(root.path());
        assert!(message.contains(&*root.path().to_string_lossy()) && message.contains("no checkpoints"), "{message}");
        assert!(message.contains("step_1000.onnx"), "{message}");
    }

    #[test]
    fn an_entry_not_named_by_step_is_an_error_naming_the_file() {
        let root = folder(&["step_1"], &["final.onnx"]);
        let message = error(root.path());
        assert!(message.contains("final.onnx: not named by step"), "{message}");
        let root = folder(&["best_model"], &[]);
        assert!(error(root.path()).contains("best_model: not named by step"));
    }

    #[test]
    fn two_checkpoints_of_one_step_are_an_error_naming_both() {
        let root = folder(&["step_100"], &["100.onnx"]);
        let message = error(root.path());
        assert!(message.contains("two checkpoints of step 100"), "{message}");
        assert!(message.contains("100.onnx and ") && message.contains("step_100;"), "{message}");
        let root = folder(&["step_7", "step_007"], &[]);
        assert!(error(root.path()).contains("two checkpoints of step 7"));
    }

    #[test]
    fn step_named_entries_that_are_not_models_say_what_they_are() {
        let root = folder(&[], &["step_5.pt"]);
        assert!(error(root.path()).contains("step_5.pt: tessera does not read PyTorch pickles"));
        let root = folder(&[], &["step_5.txt"]);
        assert!(error(root.path()).contains("step_5.txt: named by step but neither"));
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("step_5")).unwrap();
        assert!(error(root.path()).contains("step_5: a folder named by step without architecture.json"));
    }

    #[test]
    fn a_missing_folder_or_a_file_is_an_error_naming_it() {
        let root = folder(&[], &["file"]);
        assert!(error(&root.path().join("absent")).contains("absent: no such folder"));
        assert!(error(&root.path().join("file")).contains("file: not a folder"));
    }

    #[test]
    fn checkpoints_of_another_network_are_refused_naming_the_file_and_the_difference() {
        let root = tempfile::tempdir().unwrap();
        mlp::<f64>(&[3, 4, 2], Activation::Relu).unwrap().save(&root.path().join("step_0")).unwrap();
        mlp::<f64>(&[3, 4, 2], Activation::Relu).unwrap().save(&root.path().join("step_1")).unwrap();
        mlp::<f64>(&[5, 4, 2], Activation::Relu).unwrap().save(&root.path().join("step_2")).unwrap();
        mlp::<f64>(&[3, 6, 2], Activation::Relu).unwrap().save(&root.path().join("step_3")).unwrap();
        mlp::<f64>(&[3, 4, 4, 2], Activation::Relu).unwrap().save(&root.path().join("step_4")).unwrap();
        let series = CheckpointSeries::open(root.path()).unwrap();
        let [first, same, wider_input, wider_layer, deeper] = series.checkpoints() else { panic!("five") };
        assert_eq!(series.load(first).unwrap(), *series.first());
        assert!(series.load(same).is_ok());
        let message = |c: &Checkpoint| format!("{:#}", series.load(c).unwrap_err());
        let input = message(wider_input);
        assert!(
            input.contains("step_2: not the network of") && input.contains("input shape 5 instead of 3"),
            "{input}"
        );
        let layer = message(wider_layer);
        assert!(layer.contains("step_3: not the network of") && layer.contains("node "), "{layer}");
        assert!(message(deeper).contains("step_4: not the network of"));
    }
}
