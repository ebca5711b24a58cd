//! Lowering an ONNX graph to the network IR: one walk over the nodes (ONNX keeps them in
//! topological order) that binds every ONNX value name to an IR node or to a constant.

use crate::constant::{decode_tensor, Constant, ExternalData};
use crate::error::{NodeProblem, NodeResult, OnnxError};
use crate::proto::tensor_shape_proto::dimension::Value as Dim;
use crate::proto::{type_proto, GraphProto, ModelProto, NodeProto, ValueInfoProto};
use crate::ImportReport;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;
use tessera_net::op::pool_out;
use tessera_net::{Network, Node, NodeId, NodeParams, Op, RunningStats};

/// What an ONNX value name stands for.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    /// The output of an IR node (a tensor computed by the network).
    Tensor(NodeId),
    Constant(Rc<Constant>),
}

/// The result of lowering one node.
pub(crate) enum Lowered {
    /// A value the node computed (a new IR node, or a folded constant).
    New(Value),
    /// The node passes one of its inputs through (identity, dropout, folded bias, ...).
    Alias(Value),
    /// New values, one per output of the node (Split).
    Many(Vec<Value>),
}

/// A network tensor `[C, H, W]` seen as `[groups, C / groups, H, W]` (the first Reshape of a
/// channel shuffle), with the two group axes swapped when `transposed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChannelView {
    pub groups: usize,
    pub transposed: bool,
}

/// The state of the walk.
pub(crate) struct Lowering {
    nodes: Vec<Node>,
    params: Vec<NodeParams<f64>>,
    shapes: Vec<Vec<usize>>,
    values: HashMap<String, Value>,
    /// The ONNX values that are grouped views of an IR node's channels (bound in `values` to
    /// that node): only the ops of a channel shuffle may read them.
    pub views: HashMap<String, ChannelView>,
    /// How often each ONNX value is read (as a node input or as the graph output).
    reads: HashMap<String, usize>,
    /// Reads still to come of each IR node's output, over all the names bound to it.
    pending_reads: Vec<usize>,
    /// The batch size of the graph input when the model fixes it.
    pub batch: Option<usize>,
    /// Name of the graph output.
    pub output: String,
    pub notes: Vec<String>,
    pub external: ExternalData,
}

/// Import a decoded model; `path` is the file it came from (for messages and external data).
pub(crate) fn lower_model(model: &ModelProto, path: &Path) -> Result<(Network<f64>, ImportReport), OnnxError> {
    let model_error = |message: String| OnnxError::Model { path: path.to_path_buf(), message };
    let graph = model.graph.as_ref().ok_or_else(|| model_error("the model has no graph".into()))?;
    let mut lowering = Lowering::start(graph, path).map_err(model_error)?;
    for (index, node) in graph.node.iter().enumerate() {
        lowering.lower_node(node).map_err(|problem| {
            let (node, op_type) = (node_label(node, index), node.op_type().to_string());
            let path = path.to_path_buf();
            match problem {
                NodeProblem::Invalid(message) => OnnxError::Node { path, node, op_type, message },
                NodeProblem::NotPiecewiseAffine(why) => OnnxError::NotPiecewiseAffine { path, node, op_type, why },
            }
        })?;
    }
    let notes = std::mem::take(&mut lowering.notes);
    let net = lowering.finish().map_err(|e| match e {
        Finish::Model(message) => model_error(message),
        Finish::Net(source) => OnnxError::Network { path: path.to_path_buf(), source },
    })?;
    Ok((net, ImportReport { notes }))
}

/// How a node is named in messages: its ONNX name, or its position and first output.
fn node_label(node: &NodeProto, index: usize) -> String {
    match node.name() {
        "" => format!("#{index} (output '{}')", node.output.first().map_or("", String::as_str)),
        name => format!("'{name}'"),
    }
}

enum Finish {
    Model(String),
    Net(tessera_net::NetError),
}

impl Lowering {
    /// Read initializers, the graph input and output; the IR graph starts with its input node.
    fn start(graph: &GraphProto, path: &Path) -> Result<Self, String> {
        let mut external = ExternalData::beside(path);
        let mut values = HashMap::new();
        for t in &graph.initializer {
            let constant = decode_tensor(t, &mut external).map_err(|e| format!("initializer '{}': {e}", t.name()))?;
            values.insert(t.name().to_string(), Value::Constant(Rc::new(constant)));
        }
        let inputs: Vec<&ValueInfoProto> = graph.input.iter().filter(|i| !values.contains_key(i.name())).collect();
        let [input] = inputs.as_slice() else {
            let names: Vec<&str> = inputs.iter().map(|i| i.name()).collect();
            return Err(format!("the graph must have exactly one input tensor, it has {names:?}"));
        };
        let (batch, sample_shape) = input_shape(input)?;
        let [output] = graph.output.as_slice() else {
            let names: Vec<&str> = graph.output.iter().map(|o| o.name()).collect();
            return Err(format!("the graph must have exactly one output, it has {names:?}"));
        };
        let mut reads: HashMap<String, usize> = HashMap::new();
        for name in graph.node.iter().flat_map(|n| &n.input).chain([&output.name().to_string()]) {
            *reads.entry(name.clone()).or_default() += 1;
        }
        let mut lowering = Self {
            nodes: Vec::new(),
            params: Vec::new(),
            shapes: Vec::new(),
            values,
            views: HashMap::new(),
            reads,
            pending_reads: Vec::new(),
            batch,
            output: output.name().to_string(),
            notes: Vec::new(),
            external,
        };
        let input_node = lowering.push(Op::Input { shape: sample_shape }, &[], Vec::new(), None)?;
        lowering.bind(input.name(), input_node);
        Ok(lowering)
    }

    fn lower_node(&mut self, node: &NodeProto) -> NodeResult<()> {
        if !matches!(node.domain(), "" | "ai.onnx") {
            return Err(
                format!("operators of domain '{}' are not supported (only standard ONNX)", node.domain()).into()
            );
        }
        let reads_views = !matches!(node.op_type(), "Reshape" | "Transpose" | "Identity");
        if let Some(view) = node.input.iter().find(|i| reads_views && self.views.contains_key(*i)) {
            return Err(format!(
                "input '{view}' is a [batch, groups, C / groups, H, W] view of channels, which only the Transpose \
                 and Reshape of a channel shuffle may read"
            )
            .into());
        }
        if node.op_type() != "Split" {
            for (k, extra) in node.output.iter().enumerate().skip(1) {
                if self.reads.get(extra).is_some_and(|&n| n > 0) {
                    return Err(
                        format!("output {k} ('{extra}') is used, but only the first output is supported").into()
                    );
                }
            }
        }
        let out = node.output.first().filter(|o| !o.is_empty()).ok_or("the node has no output")?;
        match self.lower_op(node)? {
            Lowered::Many(values) => {
                for (name, value) in node.output.iter().zip(values) {
                    self.bind(name, value);
                }
            }
            Lowered::New(value) => self.bind(out, value),
            Lowered::Alias(value) => {
                if let Value::Tensor(id) = value {
                    self.pending_reads[id] -= 1;
                }
                self.bind(out, value)
            }
        }
        if node.op_type() == "Identity" {
            if let Some(view) = self.views.get(&node.input[0]).copied() {
                self.views.insert(out.clone(), view);
            }
        }
        Ok(())
    }

    fn bind(&mut self, name: &str, value: Value) {
        if let Value::Tensor(id) = value {
            self.pending_reads[id] += self.reads.get(name).copied().unwrap_or(0);
        }
        self.values.insert(name.to_string(), value);
    }

    /// Input `k` of `node`, which must exist.
    pub fn input(&self, node: &NodeProto, k: usize) -> NodeResult<Value> {
        let name = node.input.get(k).filter(|n| !n.is_empty()).ok_or_else(|| format!("input {k} is missing"))?;
        self.values.get(name).cloned().ok_or_else(|| {
            format!("input '{name}' is not produced by an earlier node, an initializer or the graph input").into()
        })
    }

    /// Input `k`, or `None` when the node leaves it out.
    pub fn optional_input(&self, node: &NodeProto, k: usize) -> NodeResult<Option<Value>> {
        match node.input.get(k) {
            Some(name) if !name.is_empty() => self.input(node, k).map(Some),
            _ => Ok(None),
        }
    }

    /// Input `k`, which must be a tensor computed by the network.
    pub fn tensor(&self, node: &NodeProto, k: usize) -> NodeResult<NodeId> {
        match self.input(node, k)? {
            Value::Tensor(id) => Ok(id),
            Value::Constant(_) => {
                Err(format!("input {k} ('{}') is a constant; a network tensor is expected here", node.input[k]).into())
            }
        }
    }

    /// Input `k`, which must be a constant (`role` names it in messages).
    pub fn constant(&self, node: &NodeProto, k: usize, role: &str) -> NodeResult<Rc<Constant>> {
        match self.input(node, k)? {
            Value::Constant(c) => Ok(c),
            Value::Tensor(_) => Err(format!(
                "the {role} (input '{}') must be a constant (an initializer), not a tensor computed by the network",
                node.input[k]
            )
            .into()),
        }
    }

    /// Input `k`, a weight that multiplies the network tensor. Computed by the network, it would
    /// make the node a product of two network tensors, which is not piecewise affine.
    pub fn weight(&self, node: &NodeProto, k: usize) -> NodeResult<Rc<Constant>> {
        match self.input(node, k)? {
            Value::Constant(c) => Ok(c),
            Value::Tensor(_) => Err(NodeProblem::NotPiecewiseAffine(format!(
                "its weight (input '{}') is computed by the network, so it multiplies two network tensors",
                node.input[k]
            ))),
        }
    }

    /// An optional constant input.
    pub fn optional_constant(&self, node: &NodeProto, k: usize, role: &str) -> NodeResult<Option<Rc<Constant>>> {
        match self.optional_input(node, k)? {
            Some(_) => self.constant(node, k, role).map(Some),
            None => Ok(None),
        }
    }

    pub fn shape(&self, id: NodeId) -> &[usize] {
        &self.shapes[id]
    }

    pub fn op(&self, id: NodeId) -> &Op {
        &self.nodes[id].op
    }

    pub fn params_mut(&mut self, id: NodeId) -> &mut NodeParams<f64> {
        &mut self.params[id]
    }

    /// Replace the op of node `id` by one of the same shape (e.g. to give it a bias).
    pub fn set_op(&mut self, id: NodeId, op: Op) {
        self.nodes[id].op = op;
    }

    /// Is the only read still to come of node `id`'s output the one by the current node?
    pub fn read_once(&self, id: NodeId) -> bool {
        self.pending_reads[id] == 1
    }

    /// Is `node`'s first output the graph output?
    pub fn is_graph_output(&self, node: &NodeProto) -> bool {
        node.output.first() == Some(&self.output)
    }

    /// Append an IR node with its parameters; returns its value.
    pub fn push(
        &mut self,
        op: Op,
        inputs: &[NodeId],
        tensors: Vec<Vec<f64>>,
        running: Option<RunningStats<f64>>,
    ) -> Result<Value, String> {
        let input_shapes: Vec<&[usize]> = inputs.iter().map(|&i| self.shapes[i].as_slice()).collect();
        let shape = output_shape(&op, &input_shapes)?;
        let id = self.nodes.len();
        self.nodes.push(Node { name: String::new(), op, inputs: inputs.to_vec() });
        self.params.push(NodeParams { tensors, running });
        self.shapes.push(shape);
        self.pending_reads.push(0);
        Ok(Value::Tensor(id))
    }

    /// Keep the nodes the output depends on, name them like `GraphBuilder` does, build the
    /// network and fill in its parameters.
    fn finish(self) -> Result<Network<f64>, Finish> {
        if self.views.contains_key(&self.output) {
            return Err(Finish::Model(format!("output '{}' is a 5-D view of channels", self.output)));
        }
        let output = match self.values.get(&self.output) {
            Some(Value::Tensor(id)) => *id,
            Some(Value::Constant(_)) => return Err(Finish::Model(format!("output '{}' is a constant", self.output))),
            None => return Err(Finish::Model(format!("output '{}' is not computed by any node", self.output))),
        };
        let mut needed = vec![false; self.nodes.len()];
        needed[output] = true;
        for id in (0..=output).rev() {
            if needed[id] {
                self.nodes[id].inputs.iter().for_each(|&i| needed[i] = true);
            }
        }
        needed[0] = true;
        let mut new_id = vec![usize::MAX; self.nodes.len()];
        let mut nodes = Vec::new();
        let mut params = Vec::new();
        for (id, (node, p)) in self.nodes.into_iter().zip(self.params).enumerate().filter(|(id, _)| needed[*id]) {
            new_id[id] = nodes.len();
            let inputs = node.inputs.iter().map(|&i| new_id[i]).collect();
            nodes.push(Node { name: format!("{}{}", kind_name(&node.op), nodes.len()), op: node.op, inputs });
            params.push(p);
        }
        let mut net = Network::<f64>::new(nodes).map_err(Finish::Net)?;
        for (id, p) in params.into_iter().enumerate() {
            let slot = net.params_mut(id);
            if p.tensors.len() != slot.tensors.len() {
                return Err(Finish::Model(format!("internal: node {id} got {} parameter tensors", p.tensors.len())));
            }
            slot.tensors = p.tensors;
            if p.running.is_some() {
                slot.running = p.running;
            }
        }
        net.check_finite().map_err(Finish::Net)?;
        Ok(net)
    }
}

/// The batch size (if fixed) and the per-sample shape of the graph input.
fn input_shape(input: &ValueInfoProto) -> Result<(Option<usize>, Vec<usize>), String> {
    let name = input.name();
    let tensor = match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => t,
        _ => return Err(format!("input '{name}' is not a tensor")),
    };
    let dims = tensor.shape.as_ref().map(|s| s.dim.as_slice()).unwrap_or_default();
    if dims.len() < 2 {
        return Err(format!("input '{name}' must be [batch, features..], it has {} dimension(s)", dims.len()));
    }
    let batch = match dims[0].value {
        Some(Dim::DimValue(n)) if n > 0 => Some(n as usize),
        _ => None,
    };
    let sample = dims[1..]
        .iter()
        .enumerate()
        .map(|(k, d)| match &d.value {
            Some(Dim::DimValue(n)) if *n > 0 => Ok(*n as usize),
            Some(Dim::DimParam(p)) => Err(format!(
                "input '{name}' dimension {} is symbolic ('{p}'); tessera needs a fixed sample shape",
                k + 1
            )),
            _ => Err(format!("input '{name}' dimension {} has no fixed size", k + 1)),
        })
        .collect::<Result<_, _>>()?;
    Ok((batch, sample))
}

/// Per-sample output shape of an op on inputs of shapes `inputs` (the IR checks again).
fn output_shape(op: &Op, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
    let input = inputs.first().copied().unwrap_or_default();
    let window = |kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2], ceil_mode: bool, channels: usize| {
        let out = |a: usize, size: usize| pool_out(size, kernel[a], stride[a], padding[a], ceil_mode);
        match input {
            [_, h, w] => match (out(0, *h), out(1, *w)) {
                (Some(oh), Some(ow)) => Ok(vec![channels, oh, ow]),
                _ => Err(format!(
                    "the window {kernel:?} (stride {stride:?}, padding {padding:?}) does not fit the input {input:?}"
                )),
            },
            _ => Err(format!("expects a [batch, C, H, W] input, got per-sample shape {input:?}")),
        }
    };
    let channels = input.first().copied().unwrap_or(0);
    match *op {
        Op::Input { ref shape } => Ok(shape.clone()),
        Op::Dense { out_features, .. } => Ok(vec![out_features]),
        Op::Conv2d { out_channels, kernel, stride, padding, .. } => {
            window(kernel, stride, padding, false, out_channels)
        }
        Op::AvgPool2d { kernel, stride, padding, ceil_mode } | Op::MaxPool2d { kernel, stride, padding, ceil_mode } => {
            window(kernel, stride, padding, ceil_mode, channels)
        }
        Op::Flatten => Ok(vec![input.iter().product()]),
        Op::Concat => {
            let mut shape = input.to_vec();
            shape[0] = inputs.iter().map(|s| s[0]).sum();
            Ok(shape)
        }
        Op::SliceChannels { start, end } => {
            let mut shape = input.to_vec();
            shape[0] = end - start;
            Ok(shape)
        }
        Op::BatchNorm { .. } | Op::Activation { .. } | Op::Add | Op::ChannelShuffle { .. } => Ok(input.to_vec()),
    }
}

/// The node-name prefix `GraphBuilder` and the builders use for each op.
fn kind_name(op: &Op) -> &'static str {
    match op {
        Op::Input { .. } => "input",
        Op::Dense { .. } => "dense",
        Op::Conv2d { .. } => "conv",
        Op::AvgPool2d { .. } => "avgpool",
        Op::MaxPool2d { .. } => "maxpool",
        Op::BatchNorm { .. } => "bn",
        Op::Activation { .. } => "act",
        Op::Add => "add",
        Op::Concat => "concat",
        Op::SliceChannels { .. } => "slice",
        Op::ChannelShuffle { .. } => "shuffle",
        Op::Flatten => "flatten",
    }
}
