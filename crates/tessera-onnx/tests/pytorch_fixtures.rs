//! Networks exported by PyTorch import to the IR with PyTorch's outputs, and with the neurons
//! of the same architectures built natively (hence the same LC and exact region counts).

mod common;

use common::{assert_close, assert_same_neurons, fixture, import, outputs, record, Record};
use tessera_net::{cnn, Activation, CnnSpec, ConvLayer, GraphBuilder, Mode, Network, Op, Tensor};
use tessera_onnx::import_onnx;

/// Where the exporters fold a batch norm into the convolution before it, they round the folded
/// weights to f32: the exported function then differs from PyTorch's f64 one by about that much.
const FOLDED_IN_F32: f64 = 1e-6;

/// f64 import against PyTorch in f32 (the exported computation, rounded) and in f64 (the same
/// weights; exact up to `f64_tolerance`).
fn check_against_pytorch(name: &str, f64_tolerance: f64) {
    let (net, report) = import(name);
    let record = record(name);
    let y = outputs(&net, &record);
    assert_close(&y, &record.output_f32, 1e-6, &format!("{name}: vs PyTorch float32"));
    assert_close(&y, &record.output_f64, f64_tolerance, &format!("{name}: vs PyTorch float64"));
    assert!(report.notes.is_empty(), "{name}: unexpected notes {:?}", report.notes);
}

#[test]
fn mlp_outputs_equal_pytorch_outputs() {
    check_against_pytorch("mlp", 1e-12);
}

#[test]
fn cnn_outputs_equal_pytorch_outputs() {
    check_against_pytorch("cnn", FOLDED_IN_F32);
}

#[test]
fn cnn_from_the_torchscript_exporter_outputs_equal_pytorch_outputs() {
    check_against_pytorch("cnn_torchscript", FOLDED_IN_F32);
}

#[test]
fn residual_with_external_weights_outputs_equal_pytorch_outputs() {
    assert!(fixture("residual.onnx.data").exists(), "the fixture keeps its weights in external data");
    check_against_pytorch("residual", FOLDED_IN_F32);
}

#[test]
fn residual_from_the_torchscript_exporter_outputs_equal_pytorch_outputs() {
    check_against_pytorch("residual_torchscript", FOLDED_IN_F32);
}

#[test]
fn f32_import_outputs_equal_pytorch_float32_outputs() {
    for name in ["mlp", "cnn", "residual"] {
        let (net, _) = import_onnx::<f32>(&fixture(&format!("{name}.onnx"))).expect("import");
        let record = record(name);
        let x: Tensor<f32> = record.batch().cast();
        let y: Vec<f64> = net.forward(&x, Mode::Eval).expect("forward").data.iter().map(|&v| v as f64).collect();
        assert_close(&y, &record.output_f32, 1e-5, &format!("{name} in f32"));
    }
}

/// The MLP fixture built with `GraphBuilder`: PyTorch's `x @ w2 + b2` is a dense layer with
/// weight `w2^T`, and `PReLU` with one slope is a leaky ReLU.
fn native_mlp(record: &Record) -> Network<f64> {
    let prelu_slope = record.values("prelu.weight")[0];
    let mut b = GraphBuilder::new(&[6]);
    let d1 = b.dense(0, 6, 16);
    let a1 = b.activation(d1, Activation::Relu);
    let d2 = b.dense(a1, 16, 12);
    let bn = b.batch_norm(d2, 12);
    let a2 = b.activation(bn, Activation::LeakyRelu { slope: 0.1 });
    let d3 = b.dense(a2, 12, 12);
    let a3 = b.activation(d3, Activation::LeakyRelu { slope: prelu_slope });
    let d4 = b.dense(a3, 12, 10);
    let a4 = b.activation(d4, Activation::Abs);
    let d5 = b.dense(a4, 10, 3);
    let mut net = b.build().expect("native MLP");
    for (id, prefix) in [(d1, "fc1"), (bn, "bn"), (d3, "fc3"), (d4, "fc4"), (d5, "fc5")] {
        record.load_into(&mut net, id, prefix);
    }
    let w2 = record.values("w2");
    let w2_transposed = (0..12 * 16).map(|i| w2[(i % 16) * 12 + i / 16]).collect();
    net.params_mut(d2).tensors = vec![w2_transposed, record.values("b2")];
    net
}

#[test]
fn mlp_import_equals_the_graph_builder_network_with_the_same_weights() {
    let record = record("mlp");
    let (imported, _) = import("mlp");
    let native = native_mlp(&record);
    assert_eq!(imported, native, "nodes, names, hyper-parameters and every parameter are identical");
    assert_close(&outputs(&native, &record), &record.output_f64, 1e-12, "native MLP vs PyTorch");
}

fn cnn_spec() -> CnnSpec {
    CnnSpec {
        input: [3, 8, 8],
        convs: vec![
            ConvLayer { channels: 4, stride: 1, max_pool: 2 },
            ConvLayer { channels: 6, stride: 1, max_pool: 2 },
        ],
        hidden: vec![10],
        classes: 5,
        activation: Activation::Relu,
        batch_norm: true,
    }
}

/// The exporters fold each batch norm into the convolution before it, so the imported CNN has
/// biased convolutions and no batch-norm nodes: a different graph with the same neurons.
#[test]
fn cnn_imports_have_the_neurons_of_the_native_cnn_spec() {
    for name in ["cnn", "cnn_torchscript"] {
        let record = record(name);
        let mut native = cnn::<f64>(&cnn_spec()).expect("native CNN");
        let layers = [
            (1, "features.0"),
            (2, "features.1"),
            (5, "features.4"),
            (6, "features.5"),
            (10, "head.0"),
            (12, "head.2"),
        ];
        for (id, prefix) in layers {
            record.load_into(&mut native, id, prefix);
        }
        let (imported, _) = import(name);
        let kinds: Vec<&str> = imported.nodes().iter().map(|n| n.op.kind_name()).collect();
        assert_eq!(
            kinds,
            [
                "input",
                "conv2d",
                "activation",
                "max_pool2d",
                "conv2d",
                "activation",
                "max_pool2d",
                "flatten",
                "dense",
                "activation",
                "dense"
            ],
            "{name}"
        );
        assert_same_neurons(&imported, &native, &record, FOLDED_IN_F32);
    }
}

/// The residual fixture built with `GraphBuilder`, as `preact_resnet18` builds its blocks.
fn native_residual(record: &Record) -> Network<f64> {
    let relu = Activation::Relu;
    let mut b = GraphBuilder::new(&[2, 6, 6]);
    let mut layers = Vec::new();
    let stem = b.conv3x3(0, 2, 4, 1, false);
    layers.push((stem, "stem".to_string()));
    let pool = Op::AvgPool2d { kernel: [3, 3], stride: [1, 1], padding: [1, 1], ceil_mode: false };
    let mut x = b.push("avgpool", pool, &[stem]);
    for (block, cin, cout, stride) in [("block1", 4, 4, 1), ("block2", 4, 8, 2)] {
        let bn1 = b.batch_norm(x, cin);
        let a1 = b.activation(bn1, relu);
        let conv1 = b.conv3x3(a1, cin, cout, stride, false);
        let bn2 = b.batch_norm(conv1, cout);
        let a2 = b.activation(bn2, relu);
        let conv2 = b.conv3x3(a2, cout, cout, 1, false);
        for (id, layer) in [(bn1, "bn1"), (conv1, "conv1"), (bn2, "bn2"), (conv2, "conv2")] {
            layers.push((id, format!("{block}.{layer}")));
        }
        let shortcut = if stride == 1 {
            x
        } else {
            let op = Op::Conv2d {
                in_channels: cin,
                out_channels: cout,
                kernel: [1, 1],
                stride: [stride; 2],
                padding: [0, 0],
                bias: false,
                groups: 1,
            };
            let id = b.push("shortcut", op, &[a1]);
            layers.push((id, format!("{block}.shortcut")));
            id
        };
        x = b.add(conv2, shortcut);
    }
    let gap =
        b.push("avgpool", Op::AvgPool2d { kernel: [3, 3], stride: [3, 3], padding: [0, 0], ceil_mode: false }, &[x]);
    let flat = b.flatten(gap);
    let fc = b.dense(flat, 8, 3);
    layers.push((fc, "fc".to_string()));
    let mut net = b.build().expect("native residual network");
    for (id, prefix) in layers {
        record.load_into(&mut net, id, &prefix);
    }
    net
}

#[test]
fn residual_imports_have_the_neurons_of_native_preactivation_blocks() {
    for name in ["residual", "residual_torchscript"] {
        let record = record(name);
        let (imported, _) = import(name);
        assert_same_neurons(&imported, &native_residual(&record), &record, FOLDED_IN_F32);
    }
}

#[test]
fn imported_network_saves_and_loads_unchanged() {
    let (net, _) = import("residual");
    let dir = tempfile::tempdir().expect("temp dir");
    net.save(dir.path()).expect("save");
    assert_eq!(Network::<f64>::load(dir.path()).expect("load"), net);
}
