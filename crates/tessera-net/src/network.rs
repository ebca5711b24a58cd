//! The network: a DAG of nodes in topological order, their shapes and parameters.

use crate::op::{pool_out, window_out, Activation, Op};
use crate::{NetError, Result, Scalar};
use serde::{Deserialize, Serialize};

/// Index of a node in a network.
pub type NodeId = usize;

/// A node: an op applied to the outputs of earlier nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Unique human-readable name, used in error messages and weight keys.
    pub name: String,
    /// The operation this node applies.
    #[serde(flatten)]
    pub op: Op,
    /// Ids of the nodes whose outputs feed this one, all earlier in the list.
    #[serde(default)]
    pub inputs: Vec<NodeId>,
}

/// Running statistics of a batch-norm node (buffers, not trained by gradients).
#[derive(Clone, Debug, PartialEq)]
pub struct RunningStats<T> {
    /// Running mean per channel.
    pub mean: Vec<T>,
    /// Running (unbiased) variance per channel.
    pub var: Vec<T>,
}

/// Parameters of one node: the tensors of `Op::param_names`, plus batch-norm buffers.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeParams<T> {
    /// Flat row-major tensors, one per name of `Op::param_names`, in that order.
    pub tensors: Vec<Vec<T>>,
    /// Running statistics; `Some` exactly for batch-norm nodes.
    pub running: Option<RunningStats<T>>,
}

/// A network whose parameters are of type `T`. The last node is the output.
#[derive(Clone, Debug, PartialEq)]
pub struct Network<T> {
    nodes: Vec<Node>,
    shapes: Vec<Vec<usize>>,
    params: Vec<NodeParams<T>>,
}

impl<T: Scalar> Network<T> {
    /// Build a network from nodes, checking every edge and shape; parameters start at zero
    /// (call `init::pytorch_default` or load weights).
    pub fn new(nodes: Vec<Node>) -> Result<Self> {
        if nodes.is_empty() {
            return Err(NetError::Empty);
        }
        let mut shapes = Vec::with_capacity(nodes.len());
        for (id, node) in nodes.iter().enumerate() {
            let shape = infer_shape(id, node, &shapes)?;
            shapes.push(shape);
        }
        let params = nodes.iter().map(|n| zero_params(&n.op)).collect();
        Ok(Self { nodes, shapes, params })
    }

    /// All nodes in topological order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }
    /// The node with id `id`.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }
    /// Per-sample output shape of node `id`.
    pub fn shape(&self, id: NodeId) -> &[usize] {
        &self.shapes[id]
    }
    /// Parameters of node `id`.
    pub fn params(&self, id: NodeId) -> &NodeParams<T> {
        &self.params[id]
    }
    /// Mutable parameters of node `id` (shapes must be kept).
    pub fn params_mut(&mut self, id: NodeId) -> &mut NodeParams<T> {
        &mut self.params[id]
    }
    /// Id of the output node (the last one).
    pub fn output_id(&self) -> NodeId {
        self.nodes.len() - 1
    }
    /// Per-sample input shape (the first node must be `Input`).
    pub fn input_shape(&self) -> &[usize] {
        &self.shapes[0]
    }
    /// Number of scalars in one input sample.
    pub fn input_width(&self) -> usize {
        self.input_shape().iter().product()
    }
    /// Number of scalars in one output sample.
    pub fn output_width(&self) -> usize {
        self.shapes[self.output_id()].iter().product()
    }

    /// Ids of the activation nodes, in order: the "layers of neurons".
    pub fn activation_ids(&self) -> Vec<NodeId> {
        self.nodes.iter().enumerate().filter(|(_, n)| matches!(n.op, Op::Activation { .. })).map(|(i, _)| i).collect()
    }

    /// The activation of node `id`, if it is an activation node.
    pub fn activation(&self, id: NodeId) -> Option<Activation> {
        match self.nodes[id].op {
            Op::Activation { activation } => Some(activation),
            _ => None,
        }
    }

    /// Number of nodes before which every op is affine: nodes `0..k` form the leading affine
    /// part of the network (everything before the first kink).
    pub fn leading_affine_len(&self) -> usize {
        self.nodes.iter().position(|n| !n.op.is_affine()).unwrap_or(self.nodes.len())
    }

    /// Total number of trainable scalars.
    pub fn num_parameters(&self) -> usize {
        self.params.iter().flat_map(|p| &p.tensors).map(Vec::len).sum()
    }

    /// All trainable tensors, in a fixed order (node order, then `Op::param_names` order).
    pub fn trainable(&self) -> Vec<&[T]> {
        self.params.iter().flat_map(|p| p.tensors.iter().map(Vec::as_slice)).collect()
    }

    /// Mutable access to all trainable tensors, in the order of `trainable`.
    pub fn trainable_mut(&mut self) -> Vec<&mut [T]> {
        self.params.iter_mut().flat_map(|p| p.tensors.iter_mut().map(Vec::as_mut_slice)).collect()
    }

    /// Qualified names (`node.param`) of all trainable tensors, in the order of `trainable`.
    pub fn trainable_names(&self) -> Vec<String> {
        self.nodes.iter().flat_map(|n| n.op.param_names().iter().map(move |p| format!("{}.{}", n.name, p))).collect()
    }

    /// Multiply every parameter (not the batch-norm buffers) by `scale`.
    pub fn scale_parameters(&mut self, scale: f64) {
        let s = T::from_f64(scale);
        for t in self.trainable_mut() {
            t.iter_mut().for_each(|v| *v *= s);
        }
    }

    /// Fail if any parameter or buffer is NaN or infinite.
    pub fn check_finite(&self) -> Result<()> {
        for (node, p) in self.nodes.iter().zip(&self.params) {
            let named = node.op.param_names().iter().zip(&p.tensors).map(|(n, t)| (n.to_string(), t));
            let buffers = p
                .running
                .iter()
                .flat_map(|r| [("running_mean".to_string(), &r.mean), ("running_var".to_string(), &r.var)]);
            for (pname, values) in named.chain(buffers) {
                if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                    return Err(NetError::NonFinite { name: format!("{}.{}", node.name, pname), index });
                }
            }
        }
        Ok(())
    }

    /// The same network with parameters converted to another element type.
    pub fn cast<U: Scalar>(&self) -> Network<U> {
        let conv = |v: &Vec<T>| v.iter().map(|x| U::from_f64(x.to_f64())).collect::<Vec<U>>();
        Network {
            nodes: self.nodes.clone(),
            shapes: self.shapes.clone(),
            params: self
                .params
                .iter()
                .map(|p| NodeParams {
                    tensors: p.tensors.iter().map(conv).collect(),
                    running: p.running.as_ref().map(|r| RunningStats { mean: conv(&r.mean), var: conv(&r.var) }),
                })
                .collect(),
        }
    }
}

fn zero_params<T: Scalar>(op: &Op) -> NodeParams<T> {
    let tensors = op.param_shapes().iter().map(|s| vec![T::zero(); s.iter().product()]).collect();
    let running = match op {
        Op::BatchNorm { channels, .. } => {
            Some(RunningStats { mean: vec![T::zero(); *channels], var: vec![T::one(); *channels] })
        }
        _ => None,
    };
    let mut p = NodeParams { tensors, running };
    if let Op::BatchNorm { .. } = op {
        p.tensors[0].iter_mut().for_each(|g| *g = T::one());
    }
    p
}

fn infer_shape(id: NodeId, node: &Node, shapes: &[Vec<usize>]) -> Result<Vec<usize>> {
    let fail = |message: String| NetError::Shape { node: id, name: node.name.clone(), message };
    for &i in &node.inputs {
        if i >= id {
            return Err(NetError::BadInput { node: id, name: node.name.clone(), input: i });
        }
    }
    let (expected_inputs, takes) = match node.op {
        Op::Input { .. } => (0..=0, "0".to_string()),
        Op::Add => (2..=2, "2".to_string()),
        Op::Concat => (1..=usize::MAX, "at least 1".to_string()),
        _ => (1..=1, "1".to_string()),
    };
    if !expected_inputs.contains(&node.inputs.len()) {
        return Err(fail(format!("{} takes {takes} input(s), got {}", node.op.kind_name(), node.inputs.len())));
    }
    if id == 0 && !matches!(node.op, Op::Input { .. }) {
        return Err(fail("the first node must be an input".into()));
    }
    let input = node.inputs.first().map(|&i| shapes[i].as_slice()).unwrap_or(&[]);
    let width: usize = input.iter().product();
    match &node.op {
        Op::Input { shape } => {
            if id != 0 {
                return Err(fail("only the first node may be an input".into()));
            }
            if shape.is_empty() || shape.contains(&0) {
                return Err(fail(format!("input shape {shape:?} must be non-empty")));
            }
            Ok(shape.clone())
        }
        Op::Dense { in_features, out_features, .. } => {
            if input.len() != 1 || width != *in_features {
                return Err(fail(format!("dense expects input [{in_features}], got {input:?}")));
            }
            if *out_features == 0 {
                return Err(fail("dense with zero outputs".into()));
            }
            Ok(vec![*out_features])
        }
        Op::Conv2d { in_channels, out_channels, kernel, stride, padding, groups, .. } => {
            let (h, w) = image_dims(input, *in_channels).map_err(&fail)?;
            if *groups == 0 || in_channels % groups != 0 || out_channels % groups != 0 {
                return Err(fail(format!(
                    "conv2d groups {groups} must divide both {in_channels} input and {out_channels} output channels"
                )));
            }
            let oh = window_out(h, kernel[0], stride[0], padding[0]);
            let ow = window_out(w, kernel[1], stride[1], padding[1]);
            match (oh, ow) {
                (Some(oh), Some(ow)) if *out_channels > 0 => Ok(vec![*out_channels, oh, ow]),
                _ => Err(fail(format!("conv2d kernel {kernel:?} does not fit input {input:?}"))),
            }
        }
        Op::AvgPool2d { kernel, stride, padding, ceil_mode } | Op::MaxPool2d { kernel, stride, padding, ceil_mode } => {
            if input.len() != 3 {
                return Err(fail(format!("pooling expects [C, H, W], got {input:?}")));
            }
            if padding[0] * 2 > kernel[0] || padding[1] * 2 > kernel[1] {
                return Err(fail("pooling padding must be at most half the kernel".into()));
            }
            let oh = pool_out(input[1], kernel[0], stride[0], padding[0], *ceil_mode);
            let ow = pool_out(input[2], kernel[1], stride[1], padding[1], *ceil_mode);
            match (oh, ow) {
                (Some(oh), Some(ow)) => Ok(vec![input[0], oh, ow]),
                _ => Err(fail(format!("pooling window {kernel:?} does not fit input {input:?}"))),
            }
        }
        Op::BatchNorm { channels, eps, momentum } => {
            if input.first() != Some(channels) {
                return Err(fail(format!("batch norm over {channels} channels, input {input:?}")));
            }
            if eps.is_nan() || *eps <= 0.0 || !(0.0..=1.0).contains(momentum) {
                return Err(fail("batch norm needs eps > 0 and momentum in [0, 1]".into()));
            }
            Ok(input.to_vec())
        }
        Op::Activation { activation } => {
            match *activation {
                Activation::LeakyRelu { slope } if !slope.is_finite() => {
                    return Err(fail("leaky ReLU slope must be finite".into()));
                }
                Activation::Clamp { lo, hi } if !(lo.is_finite() && hi.is_finite() && lo < hi) => {
                    return Err(fail(format!("clamp bounds must be finite with lo < hi, got lo {lo}, hi {hi}")));
                }
                _ => {}
            }
            Ok(input.to_vec())
        }
        Op::Add => {
            let other = &shapes[node.inputs[1]];
            if input != other.as_slice() {
                return Err(fail(format!("add of different shapes {input:?} and {other:?}")));
            }
            Ok(input.to_vec())
        }
        Op::Concat => {
            let mut out = input.to_vec();
            for &i in &node.inputs[1..] {
                let other = &shapes[i];
                if other.len() != input.len() || other[1..] != input[1..] {
                    return Err(fail(format!(
                        "concat along the first dimension of shapes {input:?} and {other:?}, which differ in another"
                    )));
                }
                out[0] += other[0];
            }
            Ok(out)
        }
        Op::SliceChannels { start, end } => {
            let channels = input.first().copied().unwrap_or(0);
            if start >= end || *end > channels {
                return Err(fail(format!("channels {start}..{end} are not a non-empty range of the input {input:?}")));
            }
            let mut out = input.to_vec();
            out[0] = end - start;
            Ok(out)
        }
        Op::ChannelShuffle { groups } => {
            let channels = input.first().copied().unwrap_or(0);
            if *groups == 0 || channels % groups != 0 {
                return Err(fail(format!("channel shuffle groups {groups} must divide the {channels} channels")));
            }
            Ok(input.to_vec())
        }
        Op::Flatten => Ok(vec![width]),
    }
}

fn image_dims(input: &[usize], channels: usize) -> std::result::Result<(usize, usize), String> {
    match input {
        [c, h, w] if *c == channels => Ok((*h, *w)),
        _ => Err(format!("expects input [{channels}, H, W], got {input:?}")),
    }
}

/// Builds networks node by node; each call returns the new node's id.
#[derive(Default)]
pub struct GraphBuilder {
    nodes: Vec<Node>,
}

impl GraphBuilder {
    /// A builder holding only the input node, of per-sample shape `input_shape`.
    pub fn new(input_shape: &[usize]) -> Self {
        let mut b = Self::default();
        b.push("input", Op::Input { shape: input_shape.to_vec() }, &[]);
        b
    }

    /// Append a node with an automatic name (`kind` + index).
    pub fn push(&mut self, kind: &str, op: Op, inputs: &[NodeId]) -> NodeId {
        let id = self.nodes.len();
        self.nodes.push(Node { name: format!("{kind}{id}"), op, inputs: inputs.to_vec() });
        id
    }

    /// The id of the most recently added node.
    pub fn last(&self) -> NodeId {
        self.nodes.len() - 1
    }

    /// A dense layer with bias, `in_features -> out_features`.
    pub fn dense(&mut self, from: NodeId, in_features: usize, out_features: usize) -> NodeId {
        self.push("dense", Op::Dense { in_features, out_features, bias: true }, &[from])
    }

    /// A 3x3 convolution with padding 1 and the given stride.
    pub fn conv3x3(&mut self, from: NodeId, cin: usize, cout: usize, stride: usize, bias: bool) -> NodeId {
        self.push("conv", Op::conv3x3(cin, cout, stride, bias), &[from])
    }

    /// A 1x1 convolution without bias (the projection shortcut of residual blocks).
    pub fn conv1x1(&mut self, from: NodeId, cin: usize, cout: usize, stride: usize) -> NodeId {
        let op = Op::Conv2d {
            in_channels: cin,
            out_channels: cout,
            kernel: [1, 1],
            stride: [stride; 2],
            padding: [0, 0],
            bias: false,
            groups: 1,
        };
        self.push("shortcut", op, &[from])
    }

    /// An elementwise activation node.
    pub fn activation(&mut self, from: NodeId, activation: Activation) -> NodeId {
        self.push("act", Op::Activation { activation }, &[from])
    }

    /// Batch norm over `channels` (eps 1e-5, momentum 0.1, PyTorch's defaults).
    pub fn batch_norm(&mut self, from: NodeId, channels: usize) -> NodeId {
        self.push("bn", Op::BatchNorm { channels, eps: 1e-5, momentum: 0.1 }, &[from])
    }

    /// Elementwise sum of two nodes of equal shape.
    pub fn add(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.push("add", Op::Add, &[a, b])
    }

    /// Concatenation of nodes along channels (the first sample dimension).
    pub fn concat(&mut self, inputs: &[NodeId]) -> NodeId {
        self.push("concat", Op::Concat, inputs)
    }

    /// Flatten a sample to one dimension.
    pub fn flatten(&mut self, from: NodeId) -> NodeId {
        self.push("flatten", Op::Flatten, &[from])
    }

    /// Finish: check shapes and allocate parameters.
    pub fn build<T: Scalar>(self) -> Result<Network<T>> {
        Network::new(self.nodes)
    }
}
