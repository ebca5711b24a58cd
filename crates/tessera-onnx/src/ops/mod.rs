//! One lowering per ONNX op type. Ops the IR cannot represent are refused with what is wrong;
//! ops that are not piecewise affine are refused with why.

mod affine;
mod channels;
mod shape;
mod window;

use crate::attributes::Attributes;
use crate::constant::Constant;
use crate::error::{NodeProblem, NodeResult};
use crate::lower::{Lowered, Lowering, Value};
use crate::proto::NodeProto;
use std::rc::Rc;
use tessera_net::{Activation, Op};

/// The op types the importer understands, for messages.
const SUPPORTED: &str = "Gemm, MatMul, Conv, Add, Relu, LeakyRelu, Abs, PRelu, Clip (constant bounds), \
     BatchNormalization, MaxPool, AveragePool (also ceil_mode), GlobalAveragePool, GlobalMaxPool, ReduceMean (spatial), \
     Flatten, Reshape (to [batch, features]), Concat/Split/Slice along channels, the channel shuffle \
     (Reshape/Transpose/Reshape), Identity, Dropout, Constant, a trailing Softmax/LogSoftmax, and \
     Shape/Gather/Unsqueeze/Concat/Cast/Mul/Div on constants";

impl Lowering {
    pub(crate) fn lower_op(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        match node.op_type() {
            "Identity" => Ok(Lowered::Alias(self.input(node, 0)?)),
            "Dropout" => self.dropout(node),
            "Constant" => self.constant_node(node),
            "Gemm" => self.gemm(node),
            "MatMul" => self.matmul(node),
            "Add" => self.add(node),
            "Conv" => self.conv(node),
            "BatchNormalization" => self.batch_norm(node),
            "Relu" => self.activation(node, Activation::Relu),
            "Abs" => self.activation(node, Activation::Abs),
            "LeakyRelu" => {
                let slope = Attributes::of(node).float("alpha", 0.01)?;
                self.activation(node, Activation::LeakyRelu { slope })
            }
            "PRelu" => self.prelu(node),
            "Clip" => self.clip(node),
            "MaxPool" | "AveragePool" => self.pool(node),
            "GlobalAveragePool" | "GlobalMaxPool" => self.global_pool(node),
            "ReduceMean" => self.reduce_mean(node),
            "Flatten" => self.flatten(node),
            "Reshape" => self.reshape(node),
            "Shape" => self.shape_node(node),
            "Gather" => self.gather(node),
            "Unsqueeze" => self.unsqueeze(node),
            "Concat" => self.concat(node),
            "Split" => self.split(node),
            "Slice" => self.slice(node),
            "Transpose" => self.transpose(node),
            "Cast" => self.cast(node),
            "Mul" | "Div" => self.product(node),
            "Softmax" | "LogSoftmax" if self.is_graph_output(node) => self.drop_trailing_softmax(node),
            other => Err(refusal(other)),
        }
    }

    fn activation(&mut self, node: &NodeProto, activation: Activation) -> NodeResult<Lowered> {
        let x = self.tensor(node, 0)?;
        Ok(Lowered::New(self.push(Op::Activation { activation }, &[x], Vec::new(), None)?))
    }

    /// PRelu with one slope for every unit is a leaky ReLU; the IR has no per-channel slopes.
    fn prelu(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let x = self.tensor(node, 0)?;
        let slopes = self.weight(node, 1)?;
        let per_channel = slopes.per_channel(self.shape(x)).map_err(|e| format!("slope: {e}"))?;
        let slope = per_channel[0];
        if per_channel.iter().any(|&s| s != slope) {
            return Err(format!(
                "per-channel slopes {per_channel:?} differ; the IR supports one slope for all units \
                 (nn.PReLU() with num_parameters=1)"
            )
            .into());
        }
        self.activation(node, Activation::LeakyRelu { slope })
    }

    /// Clip with constant bounds: a clamp (ReLU6, Hardtanh), or a ReLU when the only bound is a
    /// lower bound of 0. Bounds are inputs 1 and 2 (opset 11 on) or attributes (before).
    fn clip(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let attributes = Attributes::of(node);
        let bound = |k: usize, name: &str, unbounded: f64| -> NodeResult<f64> {
            match self.optional_constant(node, k, &format!("{name} bound"))? {
                Some(c) => Ok(c.vector_of_len(1).map_err(|e| format!("the {name} bound must be one number: {e}"))?[0]),
                None => attributes.float(name, unbounded),
            }
        };
        let (lo, hi) = (bound(1, "min", f64::NEG_INFINITY)?, bound(2, "max", f64::INFINITY)?);
        let activation = match (lo.is_finite(), hi.is_finite()) {
            (true, true) if lo < hi => Activation::Clamp { lo, hi },
            (true, false) if lo == 0.0 => Activation::Relu,
            _ => {
                return Err(format!(
                    "Clip bounds min {lo}, max {hi}: supported are finite bounds with min < max (a clamp such as \
                     ReLU6 or Hardtanh) or min 0 alone (a ReLU)"
                )
                .into())
            }
        };
        self.activation(node, activation)
    }

    /// A product or quotient of two constants (the shape arithmetic of `x.size(1) // groups`),
    /// elementwise, one side possibly a single value; integer division truncates, as ONNX's.
    fn fold_product(&mut self, node: &NodeProto, a: &Constant, b: &Constant) -> NodeResult<Lowered> {
        let (long, short) = if a.values.len() >= b.values.len() { (a, b) } else { (b, a) };
        if short.values.len() != 1 && short.values.len() != long.values.len() {
            return Err(format!("constants of dims {:?} and {:?} do not broadcast", a.dims, b.dims).into());
        }
        let pick = |c: &Constant, i: usize| c.values[if c.values.len() == 1 { 0 } else { i }];
        let integer = a.integer && b.integer;
        let divide = node.op_type() == "Div";
        let values = (0..long.values.len())
            .map(|i| {
                let (x, y) = (pick(a, i), pick(b, i));
                match (divide, integer) {
                    (false, _) => Ok(x * y),
                    (true, _) if y == 0.0 => Err(format!("the constant quotient {x} / 0 divides by zero")),
                    (true, true) => Ok((x / y).trunc()),
                    (true, false) => Ok(x / y),
                }
            })
            .collect::<Result<Vec<f64>, String>>()?;
        let folded = Constant::new(long.dims.clone(), values)?.typed(integer);
        Ok(Lowered::New(Value::Constant(Rc::new(folded))))
    }

    /// A product (or quotient) of two network tensors is a gate (SiLU's `x * sigmoid(x)`,
    /// Hardswish's `x * hardsigmoid(x)`, squeeze-and-excitation): not piecewise affine. By a
    /// constant it would be affine, but the IR has no elementwise scaling: refused as unsupported.
    fn product(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let (a, b) = (self.input(node, 0)?, self.input(node, 1)?);
        if let (Value::Constant(a), Value::Constant(b)) = (&a, &b) {
            return self.fold_product(node, a, b);
        }
        if let (Value::Tensor(_), Value::Tensor(_)) = (a, b) {
            return Err(NodeProblem::NotPiecewiseAffine(format!(
                "it {} two tensors computed by the network (a gate such as SiLU's x * sigmoid(x), Hardswish or a \
                 squeeze-and-excitation block), which is not piecewise affine",
                if node.op_type() == "Mul" { "multiplies" } else { "divides" }
            )));
        }
        Err(refusal(node.op_type()))
    }

    fn dropout(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        if let Some(Value::Constant(mode)) = self.optional_input(node, 2)? {
            if mode.values.iter().any(|&v| v != 0.0) {
                return Err("training_mode is true; export the model in eval mode (model.eval())".into());
            }
        }
        Ok(Lowered::Alias(self.input(node, 0)?))
    }

    /// A softmax at the end changes neither the partition nor the argmax: drop it, with a note.
    fn drop_trailing_softmax(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let x = self.tensor(node, 0)?;
        self.notes.push(format!(
            "dropped the trailing {} node '{}': it changes neither the linear regions nor the argmax, so the \
             imported network outputs its input (the logits)",
            node.op_type(),
            node.name()
        ));
        Ok(Lowered::Alias(Value::Tensor(x)))
    }
}

/// Why an op is refused: not piecewise affine (with the reason), or not supported.
fn refusal(op_type: &str) -> NodeProblem {
    let curved = "it is curved (smooth, not made of affine pieces), so the network has no finite set of \
                  linear regions";
    match op_type {
        "Sigmoid" | "Tanh" | "Gelu" | "Erf" | "Softplus" | "Softsign" | "Elu" | "Selu" | "Celu" | "Mish"
        | "HardSwish" | "Swish" | "Exp" | "Log" | "Sqrt" | "Pow" | "Reciprocal" | "Sin" | "Cos" => {
            NodeProblem::NotPiecewiseAffine(curved.into())
        }
        "Softmax" | "LogSoftmax" => NodeProblem::NotPiecewiseAffine(
            "a softmax is curved; it can only be dropped as the very last op, where it changes neither the \
             linear regions nor the argmax"
                .into(),
        ),
        "LayerNormalization"
        | "InstanceNormalization"
        | "GroupNormalization"
        | "LpNormalization"
        | "MeanVarianceNormalization"
        | "RMSNormalization" => NodeProblem::NotPiecewiseAffine(
            "it divides by a statistic of each sample, which is not piecewise affine".into(),
        ),
        other => NodeProblem::Invalid(format!("op '{other}' is not supported; supported: {SUPPORTED}")),
    }
}
