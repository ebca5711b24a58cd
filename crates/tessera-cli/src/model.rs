//! Loading a model given on the command line: a tessera model directory (architecture.json +
//! weights.safetensors), or an ONNX file (`.onnx`), imported on the fly.

use anyhow::Context;
use std::path::Path;
use tessera_net::Network;

/// Load the model at `path` in `f64` (the precision of all geometry).
pub fn load_model(path: &Path) -> anyhow::Result<Network<f64>> {
    if is_onnx(path) {
        return import_onnx_model(path);
    }
    if let Some(hint) = what_to_pass_instead(path) {
        anyhow::bail!("{}: not a model tessera can load: {hint}", path.display());
    }
    Network::<f64>::load(path).with_context(|| format!("loading model {}", path.display()))
}

/// For a `--model` path that is not a model directory or an ONNX file, what to pass instead.
fn what_to_pass_instead(path: &Path) -> Option<String> {
    let extension = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
    if path.is_file() {
        return Some(match extension.as_deref() {
            Some("safetensors") | Some("json") => format!(
                "pass the model directory that holds architecture.json and weights.safetensors ({})",
                path.parent().map_or(".".into(), |p| p.display().to_string())
            ),
            Some("pt") | Some("pth") | Some("ckpt") => "tessera does not read PyTorch pickles: export the model \
                 to ONNX (docs/pytorch.md), or save the state dict with safetensors and run \
                 `tessera import model.txt --weights model.safetensors --out DIR` (docs/formats.md)"
                .into(),
            _ => "pass a model directory (architecture.json + weights.safetensors) or an .onnx file".into(),
        });
    }
    if path.is_dir() && !path.join("architecture.json").exists() {
        let checkpoints = path.join(tessera_train::checkpoint::CHECKPOINTS_DIR);
        if checkpoints.is_dir() {
            let latest = crate::checkpoint_folder::discover(&checkpoints)
                .ok()
                .and_then(|found| found.last().map(|c| format!(" (the latest is {})", c.path.display())))
                .unwrap_or_default();
            return Some(format!(
                "this is a training run directory: pass one of its checkpoints, {}/step_N{latest}, or the whole \
                 run to `tessera lc` or `tessera slice` with --checkpoints",
                checkpoints.display()
            ));
        }
        return Some("the directory has no architecture.json: not a tessera model directory".into());
    }
    None
}

/// Import an ONNX file, printing the importer's notes (e.g. a dropped softmax) on stderr.
pub fn import_onnx_model(path: &Path) -> anyhow::Result<Network<f64>> {
    let (net, report) = tessera_onnx::import_onnx::<f64>(path)?;
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    Ok(net)
}

pub fn is_onnx(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn onnx_fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tessera-onnx/tests/fixtures").join(name)
    }

    #[test]
    fn onnx_files_and_model_directories_load_to_the_same_network() {
        let imported = load_model(&onnx_fixture("mlp.onnx")).expect("an .onnx file is imported");
        let dir = tempfile::tempdir().expect("temp dir");
        imported.save(dir.path()).expect("save");
        assert_eq!(load_model(dir.path()).expect("a model directory loads"), imported);
    }

    #[test]
    fn files_and_run_directories_given_as_models_say_what_to_pass_instead() {
        let dir = tempfile::tempdir().expect("temp dir");
        let model = dir.path().join("model");
        load_model(&onnx_fixture("mlp.onnx")).unwrap().save(&model).unwrap();
        let message = |p: &Path| format!("{:#}", load_model(p).expect_err("not a model"));
        let weights = message(&model.join("weights.safetensors"));
        assert!(
            weights.contains("pass the model directory") && weights.contains(&*model.to_string_lossy()),
            "{weights}"
        );
        let pickle = dir.path().join("model.pt");
        std::fs::write(&pickle, b"pickle").unwrap();
        let pt = message(&pickle);
        assert!(pt.contains("ONNX") && pt.contains("tessera import"), "{pt}");
        let run = dir.path().join("run");
        let net = load_model(&model).unwrap();
        net.save(&run.join("checkpoints/step_200")).unwrap();
        net.save(&run.join("checkpoints/step_10")).unwrap();
        let run_message = message(&run);
        assert!(run_message.contains("training run directory") && run_message.contains("step_200)"), "{run_message}");
        assert!(run_message.contains("--checkpoints"), "{run_message}");
    }

    #[test]
    fn a_refused_onnx_model_reports_the_node() {
        let message = load_model(&onnx_fixture("gelu.onnx")).expect_err("GELU is refused").to_string();
        assert!(message.contains("node_gelu") && message.contains("not piecewise affine"), "{message}");
    }
}
