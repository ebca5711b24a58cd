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
    Network::<f64>::load(path).with_context(|| format!("loading model {}", path.display()))
}

/// Import an ONNX file, printing the importer's notes (e.g. a dropped softmax) on stderr.
pub fn import_onnx_model(path: &Path) -> anyhow::Result<Network<f64>> {
    let (net, report) = tessera_onnx::import_onnx::<f64>(path)?;
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    Ok(net)
}

fn is_onnx(path: &Path) -> bool {
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
    fn a_refused_onnx_model_reports_the_node() {
        let message = load_model(&onnx_fixture("gelu.onnx")).expect_err("GELU is refused").to_string();
        assert!(message.contains("node_gelu") && message.contains("not piecewise affine"), "{message}");
    }
}
