//! Flattening, and constant folding: `Constant` nodes and the shape arithmetic exporters emit
//! for `x.view(x.size(0), -1)` (Shape, Gather, Unsqueeze, Concat, Cast on constants).
//!
//! `Shape` of a network tensor gives its batch size when the model fixes it, else 0, which
//! `Reshape` (with `allowzero=0`) reads as "keep this dimension": the batch stays the batch.

use crate::attributes::Attributes;
use crate::constant::{decode_tensor, Constant};
use crate::error::NodeResult;
use crate::lower::{Lowered, Lowering, Value};
use crate::proto::tensor_proto::DataType;
use crate::proto::NodeProto;
use std::rc::Rc;
use tessera_net::{NodeId, Op};

impl Lowering {
    pub(super) fn flatten(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let axis = Attributes::of(node).int("axis", 1)?;
        match self.input(node, 0)? {
            Value::Constant(c) => {
                let split = flatten_axis(axis, c.dims.len())?;
                let dims = vec![c.dims[..split].iter().product(), c.dims[split..].iter().product()];
                new_constant(dims, c.values.clone(), c.integer)
            }
            Value::Tensor(x) => {
                if flatten_axis(axis, self.shape(x).len() + 1)? != 1 {
                    return Err(format!(
                        "axis={axis} is not supported: only axis=1 (flatten each sample, keep the batch) is"
                    )
                    .into());
                }
                self.flatten_tensor(x)
            }
        }
    }

    fn flatten_tensor(&mut self, x: NodeId) -> NodeResult<Lowered> {
        if self.shape(x).len() == 1 {
            return Ok(Lowered::Alias(Value::Tensor(x)));
        }
        Ok(Lowered::New(self.push(Op::Flatten, &[x], Vec::new(), None)?))
    }

    /// A reshape of a network tensor to `[batch, features]` is a flatten; the reshapes around a
    /// channel shuffle are read as such (`channels.rs`); no other is supported.
    pub(super) fn reshape(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let allow_zero = Attributes::of(node).int("allowzero", 0)? != 0;
        let target = self.constant(node, 1, "target shape")?.as_ints()?;
        match self.input(node, 0)? {
            Value::Constant(c) => {
                let dims = reshaped_dims(&c.dims, &target, allow_zero)?;
                new_constant(dims, c.values.clone(), c.integer)
            }
            Value::Tensor(x) => {
                if let Some(lowered) = self.channel_group_reshape(node, x, &target)? {
                    return Ok(lowered);
                }
                let features: usize = self.shape(x).iter().product();
                let keeps_batch = match target.first() {
                    Some(0) => !allow_zero,
                    Some(-1) => target.get(1) != Some(&-1),
                    Some(&n) => self.batch.is_some_and(|b| b as i64 == n),
                    None => false,
                };
                let flat = target.len() == 2 && (target[1] == -1 || target[1] == features as i64);
                if !(keeps_batch && flat) {
                    return Err(format!(
                        "Reshape to {target:?} is not supported: only flattening each sample to [batch, \
                         {features}] and the reshapes of a channel shuffle are (the per-sample shape is {:?})",
                        self.shape(x)
                    )
                    .into());
                }
                self.flatten_tensor(x)
            }
        }
    }

    pub(super) fn constant_node(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let attrs = Attributes::of(node);
        if let Some(t) = attrs.tensor("value")? {
            let c = decode_tensor(t, &mut self.external).map_err(|e| format!("attribute 'value': {e}"))?;
            return Ok(Lowered::New(Value::Constant(Rc::new(c))));
        }
        if attrs.names().any(|n| n == "value_float") {
            return new_constant(vec![], vec![attrs.float("value_float", 0.0)?], false);
        }
        if attrs.names().any(|n| n == "value_int") {
            return new_constant(vec![], vec![attrs.int("value_int", 0)? as f64], true);
        }
        if let Some(v) = attrs.floats("value_floats")? {
            return new_constant(vec![v.len()], v.iter().map(|&x| x as f64).collect(), false);
        }
        if let Some(v) = attrs.ints("value_ints")? {
            return new_constant(vec![v.len()], v.iter().map(|&x| x as f64).collect(), true);
        }
        Err("only numeric constants (value, value_float(s), value_int(s)) are supported".into())
    }

    /// The shape of a network tensor, batch first (see the module doc for the batch entry).
    pub(super) fn shape_node(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let dims = match self.input(node, 0)? {
            Value::Constant(c) => c.dims.clone(),
            Value::Tensor(x) => [self.batch.unwrap_or(0)].into_iter().chain(self.shape(x).iter().copied()).collect(),
        };
        let attrs = Attributes::of(node);
        let rank = dims.len();
        let clamp = |v: i64| (if v < 0 { v + rank as i64 } else { v }).clamp(0, rank as i64) as usize;
        let (start, end) = (clamp(attrs.int("start", 0)?), clamp(attrs.int("end", rank as i64)?));
        let values: Vec<f64> = dims.get(start..end).unwrap_or_default().iter().map(|&d| d as f64).collect();
        new_constant(vec![values.len()], values, true)
    }

    /// Gather from a constant vector (picking one entry of a shape).
    pub(super) fn gather(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let data = self.folded_constant(node, 0)?;
        let indices = self.folded_constant(node, 1)?;
        if data.dims.len() != 1 || Attributes::of(node).int("axis", 0)? != 0 {
            return Err("Gather is only supported on constant vectors (axis 0)".into());
        }
        let len = data.values.len() as i64;
        let picked = indices
            .as_ints()?
            .into_iter()
            .map(|i| {
                let i = if i < 0 { i + len } else { i };
                usize::try_from(i)
                    .ok()
                    .and_then(|i| data.values.get(i).copied())
                    .ok_or(format!("index {i} out of range"))
            })
            .collect::<Result<Vec<f64>, String>>()?;
        new_constant(indices.dims.clone(), picked, data.integer)
    }

    pub(super) fn unsqueeze(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let data = self.folded_constant(node, 0)?;
        let axes = match self.optional_input(node, 1)? {
            Some(_) => self.folded_constant(node, 1)?.as_ints()?,
            None => Attributes::of(node).ints("axes")?.ok_or("the axes are missing")?.to_vec(),
        };
        let rank = data.dims.len() + axes.len();
        let mut axes = axes.into_iter().map(|a| normalize_axis(a, rank)).collect::<NodeResult<Vec<_>>>()?;
        axes.sort_unstable();
        let mut dims = data.dims.clone();
        axes.iter().for_each(|&a| dims.insert(a.min(dims.len()), 1));
        new_constant(dims, data.values.clone(), data.integer)
    }

    /// Concatenate constant vectors (or scalars).
    pub(super) fn concat_constants(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let mut values = Vec::new();
        let mut integer = true;
        for k in 0..node.input.len() {
            let c = self.folded_constant(node, k)?;
            if c.dims.len() > 1 {
                return Err("Concat is only supported on constant vectors".into());
            }
            values.extend_from_slice(&c.values);
            integer &= c.integer;
        }
        new_constant(vec![values.len()], values, integer)
    }

    /// A cast of a constant keeps its values (they are stored as `f64` already), truncated
    /// when cast to an integer type.
    pub(super) fn cast(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let c = self.folded_constant(node, 0)?;
        let to = DataType::try_from(Attributes::of(node).int("to", 0)? as i32).unwrap_or(DataType::Undefined);
        let integer = matches!(
            to,
            DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::Uint8
                | DataType::Uint16
                | DataType::Uint32
                | DataType::Uint64
                | DataType::Bool
        );
        let values = if integer { c.values.iter().map(|v| v.trunc()).collect() } else { c.values.clone() };
        new_constant(c.dims.clone(), values, integer)
    }

    /// Input `k`, which shape arithmetic needs to be a constant.
    pub(super) fn folded_constant(&self, node: &NodeProto, k: usize) -> NodeResult<Rc<Constant>> {
        match self.input(node, k)? {
            Value::Constant(c) => Ok(c),
            Value::Tensor(_) => Err(format!(
                "{} is only supported on constants (shape arithmetic), not on network tensors",
                node.op_type()
            )
            .into()),
        }
    }
}

fn new_constant(dims: Vec<usize>, values: Vec<f64>, integer: bool) -> NodeResult<Lowered> {
    Ok(Lowered::New(Value::Constant(Rc::new(Constant::new(dims, values)?.typed(integer)))))
}

/// A possibly negative axis of a tensor of rank `rank`.
fn normalize_axis(axis: i64, rank: usize) -> NodeResult<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    usize::try_from(a).ok().filter(|&a| a < rank).ok_or_else(|| format!("axis {axis} is out of range").into())
}

/// Flatten's axis in `0..=rank` (negative counts from the back).
fn flatten_axis(axis: i64, rank: usize) -> NodeResult<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    usize::try_from(a).ok().filter(|&a| a <= rank).ok_or_else(|| format!("axis {axis} is out of range").into())
}

/// ONNX Reshape of a constant: 0 copies the input dimension (unless `allow_zero`), -1 infers.
fn reshaped_dims(dims: &[usize], target: &[i64], allow_zero: bool) -> NodeResult<Vec<usize>> {
    let total: usize = dims.iter().product();
    let mut out: Vec<Option<usize>> = Vec::with_capacity(target.len());
    for (i, &t) in target.iter().enumerate() {
        out.push(match t {
            -1 => None,
            0 if !allow_zero => Some(*dims.get(i).ok_or("Reshape copies a dimension that does not exist")?),
            t if t >= 0 => Some(t as usize),
            _ => return Err(format!("Reshape target {target:?} has an invalid entry").into()),
        });
    }
    let known: usize = out.iter().flatten().product();
    let inferred = match out.iter().filter(|d| d.is_none()).count() {
        0 => None,
        1 if known > 0 && total.is_multiple_of(known) => Some(total / known),
        _ => return Err(format!("cannot reshape dims {dims:?} to {target:?}").into()),
    };
    let result: Vec<usize> = out.into_iter().map(|d| d.or(inferred).unwrap_or(0)).collect();
    if result.iter().product::<usize>() != total {
        return Err(format!("cannot reshape dims {dims:?} to {target:?}").into());
    }
    Ok(result)
}
