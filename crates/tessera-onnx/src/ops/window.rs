//! Sliding windows: the kernel/stride/padding attributes shared by Conv and the pools, and the
//! pooling ops themselves.

use crate::attributes::Attributes;
use crate::error::NodeResult;
use crate::lower::{Lowered, Lowering, Value};
use crate::proto::NodeProto;
use tessera_net::{NodeId, Op};

/// A window in the IR's terms: the same padding on both sides of each axis.
pub(super) struct Window {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    /// Pools only: round the output size up (PyTorch's rule, `tessera_net::op::pool_out`).
    pub ceil_mode: bool,
}

/// Read `kernel_shape`, `strides`, `pads`, `auto_pad`, `dilations` (and `ceil_mode` for pools:
/// a partial window at the border, as PyTorch's, whose exporters write the attribute)
/// for an input of spatial size `in_hw`. A conv passes the kernel its weights have.
pub(super) fn attributes(
    attrs: &Attributes,
    weight_kernel: Option<[usize; 2]>,
    in_hw: [usize; 2],
    is_pool: bool,
) -> NodeResult<Window> {
    let declared = attrs.ints("kernel_shape")?.map(|k| pair("kernel_shape", k)).transpose()?;
    let kernel = match (weight_kernel, declared) {
        (Some(w), Some(d)) if w != d => {
            return Err(format!("kernel_shape {d:?} differs from the weight's kernel {w:?}").into())
        }
        (Some(k), _) | (None, Some(k)) => k,
        (None, None) => return Err("the attribute kernel_shape is missing".into()),
    };
    let stride = attrs.ints("strides")?.map_or(Ok([1, 1]), |s| pair("strides", s))?;
    if let Some(d) = attrs.ints("dilations")? {
        if d.iter().any(|&v| v != 1) {
            return Err(format!("dilations={d:?} is not supported: the IR has no dilated windows").into());
        }
    }
    let padding = match attrs.string("auto_pad", "NOTSET")?.as_str() {
        "NOTSET" => symmetric(attrs.ints("pads")?.unwrap_or(&[0, 0, 0, 0]))?,
        "VALID" => [0, 0],
        same @ ("SAME_UPPER" | "SAME_LOWER") => same_padding(same, kernel, stride, in_hw)?,
        other => return Err(format!("auto_pad={other} is not a known padding mode").into()),
    };
    let ceil_mode = is_pool && attrs.int("ceil_mode", 0)? != 0;
    Ok(Window { kernel, stride, padding, ceil_mode })
}

fn pair(name: &str, values: &[i64]) -> NodeResult<[usize; 2]> {
    match values {
        [a, b] if *a > 0 && *b > 0 => Ok([*a as usize, *b as usize]),
        _ => Err(format!("{name}={values:?}: only 2-D windows with positive sizes are supported").into()),
    }
}

/// ONNX pads are `[top, left, bottom, right]`; the IR pads both sides of an axis equally.
fn symmetric(pads: &[i64]) -> NodeResult<[usize; 2]> {
    match *pads {
        [t, l, b, r] if t >= 0 && l >= 0 && t == b && l == r => Ok([t as usize, l as usize]),
        [_, _, _, _] => Err(format!(
            "asymmetric padding pads={pads:?} (top, left, bottom, right) is not supported: the IR pads both \
             sides of each axis equally"
        )
        .into()),
        _ => Err(format!("pads={pads:?}: expected 4 values for a 2-D window").into()),
    }
}

/// The padding of `auto_pad=SAME_*`: output size `ceil(in / stride)`, split evenly or refused.
fn same_padding(mode: &str, kernel: [usize; 2], stride: [usize; 2], in_hw: [usize; 2]) -> NodeResult<[usize; 2]> {
    let mut padding = [0; 2];
    for a in 0..2 {
        let out = in_hw[a].div_ceil(stride[a]);
        let total = ((out - 1) * stride[a] + kernel[a]).saturating_sub(in_hw[a]);
        if !total.is_multiple_of(2) {
            return Err(format!(
                "auto_pad={mode} needs {total} padding cells on axis {a}, which cannot be split evenly; the IR \
                 pads both sides equally"
            )
            .into());
        }
        padding[a] = total / 2;
    }
    Ok(padding)
}

impl Lowering {
    pub(super) fn pool(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let attrs = Attributes::of(node);
        let x = self.tensor(node, 0)?;
        let [_, h, w] = self.image(x)?;
        let Window { kernel, stride, padding, ceil_mode } = attributes(&attrs, None, [h, w], true)?;
        if padding[0] * 2 > kernel[0] || padding[1] * 2 > kernel[1] {
            return Err(format!("padding {padding:?} is more than half the kernel {kernel:?}").into());
        }
        let op = if node.op_type() == "MaxPool" {
            Op::MaxPool2d { kernel, stride, padding, ceil_mode }
        } else {
            if padding != [0, 0] && attrs.int("count_include_pad", 0)? == 0 {
                return Err("padded AveragePool with count_include_pad=0 divides border windows by their number \
                            of real cells, but the IR counts padding as zeros (count_include_pad=1); export with \
                            count_include_pad=True or without padding"
                    .into());
            }
            Op::AvgPool2d { kernel, stride, padding, ceil_mode }
        };
        Ok(Lowered::New(self.push(op, &[x], Vec::new(), None)?))
    }

    /// Global pooling is a pool whose window is the whole feature map.
    pub(super) fn global_pool(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let x = self.tensor(node, 0)?;
        Ok(Lowered::New(self.push_global_pool(x, node.op_type() == "GlobalMaxPool")?))
    }

    /// The mean over the spatial axes (how exporters write `AdaptiveAvgPool2d(1)` and
    /// `x.mean((2, 3))`) is a global average pool, flattened unless `keepdims`.
    pub(super) fn reduce_mean(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let attrs = Attributes::of(node);
        let x = self.tensor(node, 0)?;
        let axes = match self.optional_input(node, 1)? {
            Some(_) => self.folded_constant(node, 1)?.as_ints()?,
            None => attrs.ints("axes")?.map(<[i64]>::to_vec).unwrap_or_default(),
        };
        let rank = self.shape(x).len() as i64 + 1;
        let mut axes: Vec<i64> = axes.iter().map(|&a| if a < 0 { a + rank } else { a }).collect();
        axes.sort_unstable();
        if rank != 4 || axes != [2, 3] {
            return Err(format!(
                "ReduceMean over axes {axes:?} is not supported: only the mean over the spatial axes [2, 3] of \
                 a [batch, C, H, W] tensor is (a global average pool)"
            )
            .into());
        }
        let pooled = self.push_global_pool(x, false)?;
        if attrs.int("keepdims", 1)? != 0 {
            return Ok(Lowered::New(pooled));
        }
        let Value::Tensor(id) = pooled else { unreachable!("push returns a tensor") };
        Ok(Lowered::New(self.push(Op::Flatten, &[id], Vec::new(), None)?))
    }

    fn push_global_pool(&mut self, x: NodeId, max: bool) -> NodeResult<Value> {
        let [_, h, w] = self.image(x)?;
        let (kernel, stride, padding) = ([h, w], [h, w], [0, 0]);
        let op = if max {
            Op::MaxPool2d { kernel, stride, padding, ceil_mode: false }
        } else {
            Op::AvgPool2d { kernel, stride, padding, ceil_mode: false }
        };
        Ok(self.push(op, &[x], Vec::new(), None)?)
    }
}
