//! Damaged ONNX files are errors, never panics and never silent garbage: the exported CNN
//! fixture is truncated and has bytes overwritten at random; whatever still imports must
//! compute what the intact file computes.

use std::path::Path;

use proptest::prelude::*;
use tessera_net::{Mode, Network, Tensor};
use tessera_onnx::{import_onnx_bytes, OnnxError};

fn fixture_bytes() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cnn.onnx");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The network's outputs on a fixed input of its own input shape.
fn outputs(net: &Network<f64>) -> Vec<f64> {
    let n = 2 * net.input_shape().iter().product::<usize>();
    let values = (0..n).map(|i| ((i * 37 % 101) as f64 / 50.0) - 1.0).collect();
    let x = Tensor::from_vec(net.input_shape(), values).unwrap();
    net.forward(&x, Mode::Eval).unwrap().data
}

/// An import of damaged bytes either fails naming the file or computes the intact function.
fn check_damaged(bytes: &[u8], intact: &[f64]) -> Result<(), TestCaseError> {
    let path = Path::new("damaged/cnn.onnx");
    match import_onnx_bytes::<f64>(bytes, path) {
        Err(e) => prop_assert!(e.to_string().contains("damaged/cnn.onnx"), "error without the file name: {e}"),
        Ok((net, _)) => prop_assert_eq!(outputs(&net), intact.to_vec(), "damaged file imported a different function"),
    }
    Ok(())
}

#[test]
fn a_file_cut_inside_the_weights_is_reported_as_corrupt() {
    let bytes = fixture_bytes();
    let err = import_onnx_bytes::<f64>(&bytes[..bytes.len() / 2], Path::new("half.onnx")).unwrap_err();
    assert!(matches!(err, OnnxError::Corrupt { .. } | OnnxError::Model { .. }), "{err}");
    assert!(err.to_string().contains("half.onnx"), "{err}");
}

#[test]
fn an_empty_or_foreign_file_is_reported_as_not_onnx() {
    for bytes in [&b""[..], b"\x89PNG\r\n\x1a\nnot a model at all"] {
        let err = import_onnx_bytes::<f64>(bytes, Path::new("x.onnx")).unwrap_err();
        assert!(matches!(err, OnnxError::Corrupt { .. } | OnnxError::Model { .. }), "{err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn truncated_onnx_files_never_panic(cut in 0.0f64..1.0) {
        let bytes = fixture_bytes();
        let intact = outputs(&import_onnx_bytes::<f64>(&bytes, Path::new("cnn.onnx")).unwrap().0);
        let end = (cut * bytes.len() as f64) as usize;
        check_damaged(&bytes[..end], &intact)?;
    }

    #[test]
    fn overwritten_onnx_bytes_never_panic(edits in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 1..6)) {
        let mut bytes = fixture_bytes();
        let intact = outputs(&import_onnx_bytes::<f64>(&bytes, Path::new("cnn.onnx")).unwrap().0);
        let len = bytes.len();
        let mut changed = false;
        for (at, value) in edits {
            let i = ((at * len as f64) as usize).min(len - 1);
            changed |= bytes[i] != value;
            bytes[i] = value;
        }
        prop_assume!(changed);
        // A flipped weight byte can import fine and compute another function: that is a valid
        // model, so only structural damage is held to "error or the same function".
        match import_onnx_bytes::<f64>(&bytes, Path::new("damaged/cnn.onnx")) {
            Err(e) => prop_assert!(e.to_string().contains("damaged/cnn.onnx"), "error without the file name: {e}"),
            Ok((net, _)) => prop_assert_eq!(outputs(&net).len(), intact.len()),
        }
    }
}
