//! Shared helpers of the integration tests: the committed fixtures (ONNX files exported by
//! PyTorch, with PyTorch's outputs and state dict recorded by `fixtures/make_fixtures.py`).

#![allow(dead_code)]

use prost::Message;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;
use tessera_net::{Mode, Network, NodeId, NodePattern, Tensor};
use tessera_onnx::proto::attribute_proto::AttributeType;
use tessera_onnx::proto::tensor_shape_proto::{dimension, Dimension};
use tessera_onnx::proto::{
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use tessera_onnx::{import_onnx, import_onnx_bytes, ImportReport, OnnxError};

/// What the fixture script recorded next to `NAME.onnx`.
#[derive(Deserialize)]
pub struct Record {
    pub input_shape: Vec<usize>,
    pub input: Vec<f64>,
    pub output_f32: Vec<f64>,
    pub output_f64: Vec<f64>,
    pub state_dict: HashMap<String, StoredTensor>,
}

#[derive(Deserialize)]
pub struct StoredTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

pub fn fixture(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(file)
}

pub fn record(name: &str) -> Record {
    let text = std::fs::read_to_string(fixture(&format!("{name}.json"))).expect("fixture record");
    serde_json::from_str(&text).expect("fixture record JSON")
}

pub fn import(name: &str) -> (Network<f64>, ImportReport) {
    import_onnx::<f64>(&fixture(&format!("{name}.onnx"))).unwrap_or_else(|e| panic!("importing {name}: {e}"))
}

impl Record {
    /// The recorded input batch.
    pub fn batch(&self) -> Tensor<f64> {
        Tensor::from_vec(&self.input_shape[1..], self.input.clone()).expect("input batch")
    }

    pub fn values(&self, key: &str) -> Vec<f64> {
        self.state_dict.get(key).unwrap_or_else(|| panic!("state dict has no '{key}'")).values.clone()
    }

    /// Fill node `id` of a natively built network from state-dict entries `prefix.weight`,
    /// `prefix.bias` (when the node has one) and, for batch norm, the running statistics.
    pub fn load_into(&self, net: &mut Network<f64>, id: NodeId, prefix: &str) {
        let names = net.node(id).op.param_names();
        let tensors: Vec<Vec<f64>> = names.iter().map(|p| self.values(&format!("{prefix}.{p}"))).collect();
        let p = net.params_mut(id);
        p.tensors = tensors;
        if let Some(running) = p.running.as_mut() {
            running.mean = self.values(&format!("{prefix}.running_mean"));
            running.var = self.values(&format!("{prefix}.running_var"));
        }
    }
}

/// `max |a - b| <= rel * max |b|`.
pub fn assert_close(a: &[f64], b: &[f64], rel: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(f64::MIN_POSITIVE);
    let worst = a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(worst <= rel * scale, "{what}: max difference {worst:e} exceeds {rel:e} x {scale:e}");
}

/// Forward of `net` on the recorded batch.
pub fn outputs(net: &Network<f64>, record: &Record) -> Vec<f64> {
    net.forward(&record.batch(), Mode::Eval).expect("forward").data
}

/// Two networks compute the same function with the same neurons: equal outputs, equal
/// pre-activations of every activation layer (to `rel` of their magnitude), and equal kink
/// states (activation slopes and max-pool winners) at every recorded input.
pub fn assert_same_neurons(imported: &Network<f64>, native: &Network<f64>, record: &Record, rel: f64) {
    let x = record.batch();
    let (y_imported, taps_imported) = imported.forward_with_taps(&x, Mode::Eval, true).expect("forward");
    let (y_native, taps_native) = native.forward_with_taps(&x, Mode::Eval, true).expect("forward");
    assert_close(&y_imported.data, &y_native.data, rel, "outputs");
    assert_eq!(taps_imported.len(), taps_native.len(), "number of activation layers");
    for (k, (a, b)) in taps_imported.iter().zip(&taps_native).enumerate() {
        assert_eq!(a.shape, b.shape, "shape of layer {k}");
        assert_close(&a.data, &b.data, rel, &format!("pre-activations of layer {k}"));
    }
    for i in 0..x.batch {
        let kinks = |net: &Network<f64>| -> Vec<NodePattern> {
            net.pattern_at(x.row(i)).expect("pattern").nodes.into_iter().flatten().collect()
        };
        assert_eq!(kinks(imported), kinks(native), "kink states at sample {i}");
    }
}

// ---- Building and editing models with the protobuf types ----

/// A fixture's model, decoded for editing.
pub fn fixture_model(name: &str) -> ModelProto {
    let bytes = std::fs::read(fixture(&format!("{name}.onnx"))).expect("fixture");
    ModelProto::decode(bytes.as_slice()).expect("fixture decodes")
}

/// Import an edited model as if it were the file `tests/fixtures/edited.onnx` (so external data
/// of the fixtures is found).
pub fn import_model(model: &ModelProto) -> Result<(Network<f64>, ImportReport), OnnxError> {
    import_onnx_bytes(&model.encode_to_vec(), &fixture("edited.onnx"))
}

/// The first node of `op_type`.
pub fn node_mut<'a>(model: &'a mut ModelProto, op_type: &str) -> &'a mut NodeProto {
    let graph = model.graph.as_mut().expect("graph");
    graph.node.iter_mut().find(|n| n.op_type() == op_type).unwrap_or_else(|| panic!("no {op_type} node"))
}

/// Set (or add) an attribute of a node.
pub fn set_attribute(node: &mut NodeProto, attribute: AttributeProto) {
    node.attribute.retain(|a| a.name() != attribute.name());
    node.attribute.push(attribute);
}

pub fn int_attribute(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    }
}

pub fn ints_attribute(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: values.to_vec(),
        ..Default::default()
    }
}

pub fn float_attribute(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(value),
        ..Default::default()
    }
}

pub fn floats_attribute(name: &str, values: &[f32]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Floats as i32),
        floats: values.to_vec(),
        ..Default::default()
    }
}

/// A tensor attribute without its tensor (set `t`).
pub fn tensor_attribute(name: &str) -> AttributeProto {
    AttributeProto { name: Some(name.into()), r#type: Some(AttributeType::Tensor as i32), ..Default::default() }
}

pub fn string_attribute(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::String as i32),
        s: Some(value.as_bytes().to_vec()),
        ..Default::default()
    }
}

pub fn onnx_node(op_type: &str, inputs: &[&str], output: &str, attributes: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: Some(op_type.into()),
        name: Some(format!("my_{}", op_type.to_lowercase())),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute: attributes,
        ..Default::default()
    }
}

/// A float initializer.
pub fn initializer(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(1),
        float_data: values.to_vec(),
        ..Default::default()
    }
}

/// A model with input `x` of dims `[batch, sample..]` and the given nodes; the output is `y`.
pub fn model_of(sample: &[i64], nodes: Vec<NodeProto>, initializers: Vec<TensorProto>) -> ModelProto {
    let dim = |value| Dimension { value: Some(value), ..Default::default() };
    let dims = std::iter::once(dim(dimension::Value::DimParam("batch".into())))
        .chain(sample.iter().map(|&d| dim(dimension::Value::DimValue(d))))
        .collect();
    let tensor_type = type_proto::Tensor { elem_type: Some(1), shape: Some(TensorShapeProto { dim: dims }) };
    let input = ValueInfoProto {
        name: Some("x".into()),
        r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor_type)), ..Default::default() }),
        ..Default::default()
    };
    let output = ValueInfoProto { name: Some("y".into()), ..Default::default() };
    let graph = GraphProto {
        node: nodes,
        initializer: initializers,
        input: vec![input],
        output: vec![output],
        ..Default::default()
    };
    ModelProto { ir_version: Some(10), graph: Some(graph), ..Default::default() }
}
