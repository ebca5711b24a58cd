//! What the importer refuses, and that each refusal names the file, the node and the reason:
//! corrupt files, ops that are not piecewise affine, and attributes the IR cannot represent.

mod common;

use common::*;
use std::path::Path;
use tessera_onnx::{import_onnx, import_onnx_bytes, OnnxError};

/// The error of importing `model`, with its message.
fn refusal(model: &tessera_onnx::proto::ModelProto) -> (OnnxError, String) {
    let error = import_model(model).expect_err("the import must be refused");
    let message = error.to_string();
    (error, message)
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "message lacks '{part}': {message}");
    }
}

#[test]
fn gelu_fixture_is_refused_as_not_piecewise_affine_naming_the_node() {
    let error = import_onnx::<f64>(&fixture("gelu.onnx")).expect_err("GELU must be refused");
    let OnnxError::NotPiecewiseAffine { ref node, ref op_type, .. } = error else { panic!("wrong error: {error}") };
    assert_eq!((node.as_str(), op_type.as_str()), ("'node_gelu'", "Gelu"));
    assert_mentions(&error.to_string(), &["gelu.onnx", "node 'node_gelu' (Gelu)", "not piecewise affine", "curved"]);
}

#[test]
fn smooth_activations_edited_into_the_mlp_are_refused_naming_the_node() {
    for op in ["Sigmoid", "Tanh", "Erf", "Softplus", "HardSwish"] {
        let mut model = fixture_model("mlp");
        let relu = node_mut(&mut model, "Relu");
        relu.op_type = Some(op.into());
        let name = relu.name().to_string();
        let (error, message) = refusal(&model);
        assert!(matches!(error, OnnxError::NotPiecewiseAffine { .. }), "{op}: {message}");
        assert_mentions(&message, &["edited.onnx", &format!("node '{name}' ({op})"), "not piecewise affine"]);
    }
}

#[test]
fn softmax_inside_the_network_is_refused() {
    let mut model = fixture_model("mlp");
    node_mut(&mut model, "Relu").op_type = Some("Softmax".into());
    let (error, message) = refusal(&model);
    assert!(matches!(error, OnnxError::NotPiecewiseAffine { .. }), "{message}");
    assert_mentions(&message, &["(Softmax)", "only be dropped as the very last op"]);
}

#[test]
fn trailing_softmax_is_dropped_with_a_note_leaving_the_logits() {
    let (plain, _) = import("mlp");
    for op in ["Softmax", "LogSoftmax"] {
        let mut model = fixture_model("mlp");
        let graph = model.graph.as_mut().expect("graph");
        graph.node.push(onnx_node(op, &["y"], "probabilities", vec![int_attribute("axis", 1)]));
        graph.output[0].name = Some("probabilities".into());
        let (net, report) = import_model(&model).expect("a trailing softmax is accepted");
        assert_eq!(net, plain, "{op}: the network is the one without the softmax");
        assert_eq!(report.notes.len(), 1, "{op}: {:?}", report.notes);
        assert_mentions(&report.notes[0], &[op, "argmax"]);
    }
}

/// The fixture's first conv reads 3 channels with a weight of 3 input channels: with group=2 the
/// weight would need 6 input channels; with group=0 nothing fits.
#[test]
fn conv_groups_that_do_not_fit_the_weight_are_refused_naming_the_node_and_the_attribute() {
    let mut model = fixture_model("cnn");
    let conv = node_mut(&mut model, "Conv");
    set_attribute(conv, int_attribute("group", 2));
    let name = conv.name().to_string();
    let (error, message) = refusal(&model);
    assert!(matches!(error, OnnxError::Node { .. }), "{message}");
    assert_mentions(&message, &[&format!("node '{name}' (Conv)"), "group=2", "input channels"]);
    set_attribute(node_mut(&mut model, "Conv"), int_attribute("group", 0));
    let (_, message) = refusal(&model);
    assert_mentions(&message, &["group=0 must be positive"]);
}

#[test]
fn asymmetric_conv_padding_is_refused() {
    let mut model = fixture_model("cnn");
    set_attribute(node_mut(&mut model, "Conv"), ints_attribute("pads", &[1, 1, 0, 0]));
    let (_, message) = refusal(&model);
    assert_mentions(&message, &["(Conv)", "asymmetric padding pads=[1, 1, 0, 0]"]);
}

#[test]
fn dilated_conv_is_refused() {
    let mut model = fixture_model("cnn");
    set_attribute(node_mut(&mut model, "Conv"), ints_attribute("dilations", &[2, 2]));
    let (_, message) = refusal(&model);
    assert_mentions(&message, &["(Conv)", "dilations=[2, 2]"]);
}

#[test]
fn padded_average_pool_without_count_include_pad_is_refused() {
    let mut model = fixture_model("residual_torchscript");
    let pool = node_mut(&mut model, "AveragePool");
    set_attribute(pool, int_attribute("count_include_pad", 0));
    let name = pool.name().to_string();
    let (_, message) = refusal(&model);
    assert_mentions(&message, &[&format!("node '{name}' (AveragePool)"), "count_include_pad=0"]);
}

#[test]
fn per_channel_prelu_slopes_are_refused_unless_equal() {
    for (slopes, accepted) in [(vec![0.25f32; 12], true), ((0..12).map(|i| i as f32 / 10.0).collect(), false)] {
        let mut model = fixture_model("mlp");
        let slope_name = node_mut(&mut model, "PRelu").input[1].clone();
        let graph = model.graph.as_mut().expect("graph");
        graph.initializer.retain(|t| t.name() != slope_name);
        graph.initializer.push(initializer(&slope_name, &[12], &slopes));
        match import_model(&model) {
            Ok((net, _)) => {
                assert!(accepted, "distinct slopes were accepted");
                let slope = net.nodes().iter().find_map(|n| match n.op {
                    tessera_net::Op::Activation { activation: tessera_net::Activation::LeakyRelu { slope } } => {
                        Some(slope).filter(|&s| s != 0.1)
                    }
                    _ => None,
                });
                assert_eq!(slope, Some(0.25));
            }
            Err(e) => {
                assert!(!accepted, "equal slopes were refused: {e}");
                assert_mentions(&e.to_string(), &["(PRelu)", "per-channel slopes"]);
            }
        }
    }
}

#[test]
fn gemm_with_transposed_input_is_refused() {
    let mut model = fixture_model("mlp");
    set_attribute(node_mut(&mut model, "Gemm"), int_attribute("transA", 1));
    let (_, message) = refusal(&model);
    assert_mentions(&message, &["(Gemm)", "transA=1"]);
}

#[test]
fn unknown_op_is_refused_listing_the_supported_ones() {
    let mut model = fixture_model("mlp");
    node_mut(&mut model, "Abs").op_type = Some("Round".into());
    let (_, message) = refusal(&model);
    assert_mentions(&message, &["(Round)", "'Round' is not supported", "supported: Gemm"]);
}

#[test]
fn constant_added_after_an_activation_is_refused() {
    let nodes = vec![onnx_node("Relu", &["x"], "r", vec![]), onnx_node("Add", &["r", "c"], "y", vec![])];
    let model = model_of(&[3], nodes, vec![initializer("c", &[3], &[1.0, 2.0, 3.0])]);
    let (_, message) = refusal(&model);
    assert_mentions(&message, &["node 'my_add' (Add)", "right after a Gemm/MatMul or Conv"]);
}

#[test]
fn constant_bias_is_not_folded_into_a_layer_whose_output_is_used_twice() {
    let nodes = vec![
        onnx_node("MatMul", &["x", "w"], "m", vec![]),
        onnx_node("Add", &["m", "c"], "biased", vec![]),
        onnx_node("Add", &["biased", "m"], "y", vec![]),
    ];
    let initializers = vec![initializer("w", &[2, 2], &[1.0, 2.0, 3.0, 4.0]), initializer("c", &[2], &[1.0, 1.0])];
    let (_, message) = refusal(&model_of(&[2], nodes, initializers));
    assert_mentions(&message, &["(Add)", "also used elsewhere"]);
}

#[test]
fn corrupt_and_missing_files_are_refused_naming_the_path() {
    let bytes = std::fs::read(fixture("mlp.onnx")).expect("fixture");
    let truncated = import_onnx_bytes::<f64>(&bytes[..bytes.len() / 2], Path::new("truncated.onnx"));
    let Err(error @ OnnxError::Corrupt { .. }) = truncated else { panic!("truncated file: {truncated:?}") };
    assert_mentions(&error.to_string(), &["truncated.onnx", "not a valid ONNX model"]);
    let garbage = import_onnx_bytes::<f64>(b"\xff\xfe this is not a protobuf", Path::new("garbage.onnx"));
    assert!(matches!(garbage, Err(OnnxError::Corrupt { .. })), "{garbage:?}");
    let empty = import_onnx_bytes::<f64>(b"", Path::new("empty.onnx")).expect_err("an empty file has no graph");
    assert_mentions(&empty.to_string(), &["empty.onnx", "no graph"]);
    let missing = import_onnx::<f64>(Path::new("/no/such/model.onnx")).expect_err("missing file");
    assert!(matches!(missing, OnnxError::Read { .. }));
    assert_mentions(&missing.to_string(), &["/no/such/model.onnx", "cannot read"]);
}

#[test]
fn missing_external_data_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("residual.onnx");
    std::fs::copy(fixture("residual.onnx"), &copy).expect("copy");
    let error = import_onnx::<f64>(&copy).expect_err("the weights are missing");
    assert_mentions(&error.to_string(), &["residual.onnx.data", "initializer"]);
}

#[test]
fn product_of_two_network_tensors_is_refused_as_not_piecewise_affine() {
    let nodes = vec![onnx_node("Relu", &["x"], "r", vec![]), onnx_node("MatMul", &["x", "r"], "y", vec![])];
    let (error, message) = refusal(&model_of(&[2], nodes, vec![]));
    assert!(matches!(error, OnnxError::NotPiecewiseAffine { .. }), "{message}");
    assert_mentions(&message, &["node 'my_matmul' (MatMul)", "multiplies two network tensors"]);
}

/// A gate multiplies two network tensors: SiLU (`x * sigmoid(x)`, refused at the sigmoid) and,
/// with a piecewise-affine gate, the product itself (quadratic on each piece).
#[test]
fn gates_multiplying_two_network_tensors_are_refused_naming_the_node() {
    let silu = model_of(
        &[3],
        vec![onnx_node("Sigmoid", &["x"], "s", vec![]), onnx_node("Mul", &["x", "s"], "y", vec![])],
        vec![],
    );
    let (error, message) = refusal(&silu);
    assert!(matches!(error, OnnxError::NotPiecewiseAffine { .. }), "{message}");
    assert_mentions(&message, &["node 'my_sigmoid' (Sigmoid)", "curved"]);
    let relu_gate = model_of(
        &[3],
        vec![onnx_node("Relu", &["x"], "r", vec![]), onnx_node("Mul", &["x", "r"], "y", vec![])],
        vec![],
    );
    let (error, message) = refusal(&relu_gate);
    assert!(matches!(error, OnnxError::NotPiecewiseAffine { .. }), "{message}");
    assert_mentions(&message, &["node 'my_mul' (Mul)", "multiplies two tensors computed by the network"]);
    let scaled = model_of(&[3], vec![onnx_node("Mul", &["x", "c"], "y", vec![])], vec![initializer("c", &[], &[2.0])]);
    let (error, message) = refusal(&scaled);
    assert!(matches!(error, OnnxError::Node { .. }), "{message}");
    assert_mentions(&message, &["'Mul' is not supported"]);
}
