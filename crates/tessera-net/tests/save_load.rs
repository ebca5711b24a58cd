//! Save -> load is bit-exact in f32 and f64, and every kind of damaged model directory gives an
//! error that names the file and the problem (never a panic).

mod fixtures;

use fixtures::{preact_residual_block, random_batch, randomize, rng, small_cnn};
use proptest::prelude::*;
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::path::Path;
use tessera_net::io::{ARCHITECTURE_FILE, WEIGHTS_FILE};
use tessera_net::{Mode, NetError, Network, Scalar};

/// A CNN with conv, BN (non-trivial running statistics), ReLU, max-pool, flatten and dense.
fn saved_cnn(dir: &Path) -> Network<f64> {
    let mut net = small_cnn(2, 6, true);
    randomize(&mut net, &mut rng(3));
    net.save(dir).expect("save");
    net
}

fn assert_bit_exact_round_trip<T: Scalar>(net: Network<T>) {
    let dir = tempfile::tempdir().unwrap();
    net.save(dir.path()).expect("save");
    let loaded: Network<T> = Network::load(dir.path()).expect("load");
    assert_eq!(loaded, net, "parameters, buffers and graph survive unchanged");
    let x = random_batch::<T>(&mut rng(5), 3, net.input_shape());
    let bits = |n: &Network<T>| -> Vec<u64> {
        n.forward(&x, Mode::Eval).unwrap().data.iter().map(|v| v.to_f64().to_bits()).collect()
    };
    assert_eq!(bits(&loaded), bits(&net));
}

#[test]
fn save_then_load_is_bit_exact_in_f64() {
    let mut cnn = small_cnn(2, 6, true);
    randomize(&mut cnn, &mut rng(1));
    assert_bit_exact_round_trip(cnn);
    let mut block = preact_residual_block(2, 4, true);
    randomize(&mut block, &mut rng(2));
    assert_bit_exact_round_trip(block);
}

#[test]
fn save_then_load_is_bit_exact_in_f32() {
    let mut cnn = small_cnn(2, 6, true);
    randomize(&mut cnn, &mut rng(1));
    assert_bit_exact_round_trip(cnn.cast::<f32>());
    let mut block = preact_residual_block(2, 4, false);
    randomize(&mut block, &mut rng(2));
    assert_bit_exact_round_trip(block.cast::<f32>());
}

fn load_error(dir: &Path) -> String {
    match Network::<f64>::load(dir) {
        Ok(_) => panic!("loading {} should fail", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "error {message:?} should mention {part:?}");
    }
}

#[test]
fn truncated_weights_file_is_reported_as_invalid_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    saved_cnn(dir.path());
    let path = dir.path().join(WEIGHTS_FILE);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_mentions(&load_error(dir.path()), &[WEIGHTS_FILE, "not a valid safetensors file"]);
}

#[test]
fn corrupt_safetensors_header_is_reported_as_invalid_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    saved_cnn(dir.path());
    let path = dir.path().join(WEIGHTS_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..24].copy_from_slice(b"this is not json");
    std::fs::write(&path, &bytes).unwrap();
    assert_mentions(&load_error(dir.path()), &[WEIGHTS_FILE, "not a valid safetensors file"]);
    std::fs::write(&path, b"").unwrap();
    assert_mentions(&load_error(dir.path()), &[WEIGHTS_FILE, "not a valid safetensors file"]);
}

#[test]
fn missing_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    assert_mentions(&load_error(dir.path()), &[ARCHITECTURE_FILE]);
    saved_cnn(dir.path());
    std::fs::remove_file(dir.path().join(WEIGHTS_FILE)).unwrap();
    assert_mentions(&load_error(dir.path()), &[WEIGHTS_FILE]);
}

#[test]
fn architecture_naming_an_unknown_op_is_rejected_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    saved_cnn(dir.path());
    let path = dir.path().join(ARCHITECTURE_FILE);
    let json = std::fs::read_to_string(&path).unwrap();
    assert!(json.contains("\"op\": \"flatten\""));
    std::fs::write(&path, json.replace("\"op\": \"flatten\"", "\"op\": \"gelu\"")).unwrap();
    assert_mentions(&load_error(dir.path()), &[ARCHITECTURE_FILE, "invalid architecture JSON", "gelu"]);
    assert!(json.contains("\"kind\": \"relu\""));
    std::fs::write(&path, json.replace("\"kind\": \"relu\"", "\"kind\": \"gelu\"")).unwrap();
    assert_mentions(&load_error(dir.path()), &[ARCHITECTURE_FILE, "gelu"]);
}

#[test]
fn architecture_with_inconsistent_shapes_is_rejected_naming_the_node() {
    let dir = tempfile::tempdir().unwrap();
    saved_cnn(dir.path());
    let path = dir.path().join(ARCHITECTURE_FILE);
    let json = std::fs::read_to_string(&path).unwrap();
    let broken = json.replacen("\"in_features\": ", "\"in_features\": 1", 1);
    std::fs::write(&path, broken).unwrap();
    assert_mentions(&load_error(dir.path()), &["dense", "expects input"]);
    std::fs::write(&path, json.replace("tessera-net/1", "tessera-net/99")).unwrap();
    assert_mentions(&load_error(dir.path()), &[ARCHITECTURE_FILE, "tessera-net/99"]);
}

/// Rewrite the weights file of a saved model, letting `edit` change the `(name, shape, values)`
/// list (values as f64, written back as F64 tensors).
fn rewrite_weights(dir: &Path, edit: impl FnOnce(&mut Vec<(String, Vec<usize>, Vec<f64>)>)) {
    let path = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<f64>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), Dtype::F64);
            let values = view.data().chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect();
            (name, view.shape().to_vec(), values)
        })
        .collect();
    edit(&mut tensors);
    let raw: Vec<(String, Vec<usize>, Vec<u8>)> =
        tensors.into_iter().map(|(n, s, v)| (n, s, v.iter().flat_map(|x| x.to_le_bytes()).collect())).collect();
    let views: Vec<(String, TensorView)> =
        raw.iter().map(|(n, s, b)| (n.clone(), TensorView::new(Dtype::F64, s.clone(), b).unwrap())).collect();
    std::fs::write(&path, safetensors::serialize(views, &None).unwrap()).unwrap();
}

#[test]
fn nan_weight_in_the_file_is_rejected_naming_the_tensor_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let net = saved_cnn(dir.path());
    let dense = net.nodes().last().unwrap().name.clone();
    rewrite_weights(dir.path(), |tensors| {
        let (_, _, values) = tensors.iter_mut().find(|(n, ..)| *n == format!("{dense}.weight")).unwrap();
        values[4] = f64::NAN;
    });
    assert_mentions(&load_error(dir.path()), &[WEIGHTS_FILE, &format!("'{dense}.weight'"), "non-finite", "index 4"]);
}

#[test]
fn infinite_running_variance_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    saved_cnn(dir.path());
    rewrite_weights(dir.path(), |tensors| {
        let (_, _, values) = tensors.iter_mut().find(|(n, ..)| n.ends_with("running_var")).unwrap();
        values[0] = f64::INFINITY;
    });
    assert_mentions(&load_error(dir.path()), &["running_var", "non-finite"]);
}

#[test]
fn missing_parameter_is_named() {
    let dir = tempfile::tempdir().unwrap();
    saved_cnn(dir.path());
    rewrite_weights(dir.path(), |tensors| tensors.retain(|(n, ..)| !n.ends_with("running_mean")));
    let message = load_error(dir.path());
    assert_mentions(&message, &["running_mean", "missing", WEIGHTS_FILE]);
}

#[test]
fn parameter_of_the_wrong_shape_is_named_with_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let net = saved_cnn(dir.path());
    let dense = net.nodes().last().unwrap().name.clone();
    rewrite_weights(dir.path(), |tensors| {
        let (_, shape, _) = tensors.iter_mut().find(|(n, ..)| *n == format!("{dense}.weight")).unwrap();
        shape.swap(0, 1);
    });
    let err = Network::<f64>::load(dir.path()).unwrap_err();
    assert!(matches!(err, NetError::ParamShape { .. }), "{err:?}");
    let expected = net.node(net.output_id()).op.param_shapes()[0].clone();
    let found = vec![expected[1], expected[0]];
    assert_mentions(&err.to_string(), &[&format!("{dense}.weight"), &format!("{expected:?}"), &format!("{found:?}")]);
}

#[test]
fn tensor_of_an_unsupported_dtype_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let net = saved_cnn(dir.path());
    let path = dir.path().join(WEIGHTS_FILE);
    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, TensorView)> = file.tensors();
    let name = format!("{}.bias", net.nodes().last().unwrap().name);
    let (_, bias) = tensors.iter().find(|(n, _)| *n == name).unwrap();
    let as_ints = bias.data().to_vec();
    let shape = vec![bias.shape()[0] * 2];
    tensors.retain(|(n, _)| *n != name);
    tensors.push((name.clone(), TensorView::new(Dtype::I32, shape, &as_ints).unwrap()));
    std::fs::write(&path, safetensors::serialize(tensors, &None).unwrap()).unwrap();
    assert_mentions(&load_error(dir.path()), &[&name, "I32", "F32 and F64"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn damaged_weight_files_never_panic_and_truncation_is_always_an_error(
        cut in 0.0f64..1.0, flips in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 0..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        saved_cnn(dir.path());
        let path = dir.path().join(WEIGHTS_FILE);
        let original = std::fs::read(&path).unwrap();
        let truncated = &original[..(cut * original.len() as f64) as usize];
        std::fs::write(&path, truncated).unwrap();
        prop_assert!(Network::<f64>::load(dir.path()).is_err());
        let mut flipped = original.clone();
        for (at, byte) in flips {
            let i = (at * flipped.len() as f64) as usize;
            flipped[i] ^= byte;
        }
        std::fs::write(&path, &flipped).unwrap();
        let _ = Network::<f64>::load(dir.path());
    }

    #[test]
    fn damaged_architecture_files_never_panic(cut in 0.0f64..1.0, byte in any::<u8>(), at in 0.0f64..1.0) {
        let dir = tempfile::tempdir().unwrap();
        saved_cnn(dir.path());
        let path = dir.path().join(ARCHITECTURE_FILE);
        let mut json = std::fs::read(&path).unwrap();
        let i = (at * json.len() as f64) as usize;
        json[i] = byte;
        json.truncate(((cut * json.len() as f64) as usize).max(1));
        std::fs::write(&path, &json).unwrap();
        let _ = Network::<f64>::load(dir.path());
    }
}
