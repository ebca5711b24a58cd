//! Affine ops with weights: Gemm, MatMul, Conv, BatchNormalization, and Add (residual, or a
//! constant folded into the bias of the layer before it).

use crate::attributes::{decimal_f64, Attributes};
use crate::constant::Constant;
use crate::error::NodeResult;
use crate::lower::{Lowered, Lowering, Value};
use crate::proto::NodeProto;
use tessera_net::{NodeId, Op, RunningStats};

impl Lowering {
    /// `alpha * A * op(B) + beta * C` with A the network tensor `[batch, K]`: a dense layer.
    pub(super) fn gemm(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let attrs = Attributes::of(node);
        if attrs.int("transA", 0)? != 0 {
            return Err("transA=1 is not supported: it would transpose the batch into the features".into());
        }
        let (alpha, beta) = (attrs.float("alpha", 1.0)?, attrs.float("beta", 1.0)?);
        let b = self.weight(node, 1)?;
        let x = self.tensor(node, 0)?;
        let in_features = self.features(x)?;
        let [rows, cols] = matrix_dims(&b)?;
        let trans_b = attrs.int("transB", 0)? != 0;
        let (k, out_features) = if trans_b { (cols, rows) } else { (rows, cols) };
        if k != in_features {
            return Err(format!(
                "weight dims {:?} (transB={}) do not take {in_features} features",
                b.dims, trans_b as u8
            )
            .into());
        }
        let weight = (0..out_features * k)
            .map(|i| {
                let (m, j) = (i / k, i % k);
                alpha * if trans_b { b.values[m * k + j] } else { b.values[j * out_features + m] }
            })
            .collect();
        let bias = match self.optional_constant(node, 2, "bias")? {
            Some(c) => Some(c.per_channel(&[out_features]).map_err(|e| format!("bias C: {e}"))?),
            None => None,
        };
        let bias = bias.map(|c| c.into_iter().map(|v| beta * v).collect());
        self.push_dense(x, in_features, out_features, weight, bias)
    }

    /// `A * B` with A the network tensor `[batch, K]` and B a constant `[K, M]`: a dense layer
    /// without bias (a following constant Add becomes its bias).
    pub(super) fn matmul(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let b = self.weight(node, 1)?;
        let x = self.tensor(node, 0)?;
        let in_features = self.features(x)?;
        let [k, out_features] = matrix_dims(&b)?;
        if k != in_features {
            return Err(format!("weight dims {:?} do not take {in_features} features", b.dims).into());
        }
        let weight = (0..out_features * k).map(|i| b.values[(i % k) * out_features + i / k]).collect();
        self.push_dense(x, in_features, out_features, weight, None)
    }

    fn push_dense(
        &mut self,
        x: NodeId,
        in_features: usize,
        out_features: usize,
        weight: Vec<f64>,
        bias: Option<Vec<f64>>,
    ) -> NodeResult<Lowered> {
        let op = Op::Dense { in_features, out_features, bias: bias.is_some() };
        let tensors = [Some(weight), bias].into_iter().flatten().collect();
        Ok(Lowered::New(self.push(op, &[x], tensors, None)?))
    }

    /// The feature count of a `[batch, features]` tensor.
    fn features(&self, x: NodeId) -> NodeResult<usize> {
        match self.shape(x) {
            [d] => Ok(*d),
            other => {
                Err(format!("expects a [batch, features] input, got per-sample shape {other:?} (flatten it first)")
                    .into())
            }
        }
    }

    pub(super) fn conv(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let attrs = Attributes::of(node);
        let weight = self.weight(node, 1)?;
        let x = self.tensor(node, 0)?;
        let [out_channels, in_channels, kh, kw] = weight.dims[..] else {
            return Err(format!("only 2-D convolutions are supported (weight dims {:?})", weight.dims).into());
        };
        let group = attrs.int("group", 1)?;
        let groups = usize::try_from(group).ok().filter(|&g| g > 0 && out_channels % g == 0).ok_or_else(|| {
            format!("group={group} must be positive and divide the {out_channels} output channels of the weight")
        })?;
        // The weight's second axis holds the input channels of one group.
        let [channels, h, w] = self.image(x)?;
        let in_channels = in_channels * groups;
        if in_channels != channels {
            return Err(format!(
                "weight dims {:?} with group={group} expect {in_channels} input channels, got {channels}",
                weight.dims
            )
            .into());
        }
        let window = super::window::attributes(&attrs, Some([kh, kw]), [h, w], false)?;
        let bias = match self.optional_constant(node, 2, "bias")? {
            Some(b) => Some(b.vector_of_len(out_channels).map_err(|e| format!("bias: {e}"))?),
            None => None,
        };
        let op = Op::Conv2d {
            in_channels,
            out_channels,
            kernel: window.kernel,
            stride: window.stride,
            padding: window.padding,
            bias: bias.is_some(),
            groups,
        };
        let tensors = [Some(weight.values.clone()), bias].into_iter().flatten().collect();
        Ok(Lowered::New(self.push(op, &[x], tensors, None)?))
    }

    /// Batch norm with its running statistics (inference): an affine map per channel.
    pub(super) fn batch_norm(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let attrs = Attributes::of(node);
        if attrs.int("training_mode", 0)? != 0 {
            return Err("training_mode=1 is not supported: export the model in eval mode (model.eval())".into());
        }
        let x = self.tensor(node, 0)?;
        let channels = self.shape(x)[0];
        let mut vectors = Vec::with_capacity(4);
        for (k, role) in [(1, "scale"), (2, "bias"), (3, "running mean"), (4, "running variance")] {
            let c = self.constant(node, k, role)?;
            vectors.push(c.vector_of_len(channels).map_err(|e| format!("{role}: {e}"))?);
        }
        let [scale, shift, mean, var] = <[Vec<f64>; 4]>::try_from(vectors).expect("four vectors");
        let eps = attrs.float("epsilon", 1e-5)?;
        // ONNX keeps `momentum` of the running average (0.9); PyTorch and the IR keep 1 - that.
        let momentum = decimal_f64((1.0 - attrs.float("momentum", 0.9)?) as f32).clamp(0.0, 1.0);
        let op = Op::BatchNorm { channels, eps, momentum };
        Ok(Lowered::New(self.push(op, &[x], vec![scale, shift], Some(RunningStats { mean, var }))?))
    }

    /// Two network tensors: a residual addition. A tensor and a constant: the constant joins the
    /// bias of the dense or conv layer that computed the tensor.
    pub(super) fn add(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        match (self.input(node, 0)?, self.input(node, 1)?) {
            (Value::Tensor(a), Value::Tensor(b)) => {
                if self.shape(a) != self.shape(b) {
                    return Err(format!(
                        "adds tensors of per-sample shapes {:?} and {:?}; only equal shapes (residual \
                         connections) are supported",
                        self.shape(a),
                        self.shape(b)
                    )
                    .into());
                }
                Ok(Lowered::New(self.push(Op::Add, &[a, b], Vec::new(), None)?))
            }
            (Value::Tensor(x), Value::Constant(c)) | (Value::Constant(c), Value::Tensor(x)) => {
                self.fold_bias(x, &c)?;
                Ok(Lowered::Alias(Value::Tensor(x)))
            }
            (Value::Constant(a), Value::Constant(b)) => {
                if a.dims != b.dims {
                    return Err(format!("adds constants of dims {:?} and {:?}", a.dims, b.dims).into());
                }
                let sum = a.values.iter().zip(&b.values).map(|(x, y)| x + y).collect();
                Ok(Lowered::New(Value::Constant(
                    Constant::new(a.dims.clone(), sum)?.typed(a.integer && b.integer).into(),
                )))
            }
        }
    }

    fn fold_bias(&mut self, x: NodeId, c: &Constant) -> NodeResult<()> {
        let op = self.op(x).clone();
        let (Op::Dense { bias, .. } | Op::Conv2d { bias, .. }) = op else {
            return Err(format!(
                "adds a constant to the output of the preceding {} op; a constant can only be added right \
                 after a Gemm/MatMul or Conv, whose bias absorbs it",
                op.kind_name()
            )
            .into());
        };
        if !self.read_once(x) {
            return Err("adds a constant to a layer output that is also used elsewhere, so it cannot be folded \
                        into that layer's bias"
                .into());
        }
        let values = c.per_channel(self.shape(x)).map_err(|e| format!("added constant: {e}"))?;
        if bias {
            let b = &mut self.params_mut(x).tensors[1];
            b.iter_mut().zip(&values).for_each(|(b, v)| *b += v);
        } else {
            let with_bias = match op {
                Op::Dense { in_features, out_features, .. } => Op::Dense { in_features, out_features, bias: true },
                Op::Conv2d { in_channels, out_channels, kernel, stride, padding, groups, .. } => {
                    Op::Conv2d { in_channels, out_channels, kernel, stride, padding, bias: true, groups }
                }
                _ => unreachable!("checked above"),
            };
            self.set_op(x, with_bias);
            self.params_mut(x).tensors.push(values);
        }
        Ok(())
    }

    /// The per-sample `[C, H, W]` shape of an image tensor.
    pub(super) fn image(&self, x: NodeId) -> NodeResult<[usize; 3]> {
        match *self.shape(x) {
            [c, h, w] => Ok([c, h, w]),
            ref other => Err(format!("expects a [batch, C, H, W] input, got per-sample shape {other:?}").into()),
        }
    }
}

fn matrix_dims(b: &Constant) -> NodeResult<[usize; 2]> {
    match b.dims[..] {
        [rows, cols] => Ok([rows, cols]),
        _ => Err(format!("the weight must be a matrix, it has dims {:?}", b.dims).into()),
    }
}
