//! Ops that route channels of network tensors: Concat along channels (DenseNet, Inception,
//! ShuffleNet), Split and Slice along channels (`torch.chunk`, `torch.split`, `x[:, a:b]`), and
//! the channel shuffle, which exporters write as Reshape to `[batch, groups, C / groups, H, W]`,
//! Transpose of the two group axes, Reshape back.
//!
//! The 5-D tensors in between are never materialised: the Reshape binds its output to the same
//! IR node and records it as a view of the channels in groups (`Lowering::views`); only a
//! Transpose swapping the two group axes and a Reshape back may read a view.

use crate::attributes::Attributes;
use crate::error::NodeResult;
use crate::lower::{ChannelView, Lowered, Lowering, Value};
use crate::proto::NodeProto;
use tessera_net::{NodeId, Op};

impl Lowering {
    /// Concat of network tensors along axis 1 (channels or features); of constants, folded.
    pub(super) fn concat(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let values = (0..node.input.len()).map(|k| self.input(node, k)).collect::<NodeResult<Vec<Value>>>()?;
        if values.iter().all(|v| matches!(v, Value::Constant(_))) {
            return self.concat_constants(node);
        }
        let inputs = (0..node.input.len()).map(|k| self.tensor(node, k)).collect::<NodeResult<Vec<NodeId>>>()?;
        let rank = self.shape(inputs[0]).len() + 1;
        let axis = Attributes::of(node).int("axis", 1)?;
        if normalized_axis(axis, rank) != Some(1) {
            return Err(format!(
                "Concat along axis {axis} of a rank-{rank} tensor is not supported: only along axis 1 (channels or \
                 features)"
            )
            .into());
        }
        if let [single] = inputs[..] {
            return Ok(Lowered::Alias(Value::Tensor(single)));
        }
        for &i in &inputs[1..] {
            let (first, other) = (self.shape(inputs[0]), self.shape(i));
            if first.len() != other.len() || first[1..] != other[1..] {
                return Err(format!(
                    "the inputs' per-sample shapes {first:?} and {other:?} differ beyond the channels"
                )
                .into());
            }
        }
        Ok(Lowered::New(self.push(Op::Concat, &inputs, Vec::new(), None)?))
    }

    /// Split along axis 1 into consecutive channel ranges: one channel slice per output.
    pub(super) fn split(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let x = self.tensor(node, 0)?;
        let attrs = Attributes::of(node);
        let rank = self.shape(x).len() + 1;
        let axis = attrs.int("axis", 0)?;
        if normalized_axis(axis, rank) != Some(1) {
            return Err(format!("Split along axis {axis} is not supported: only along axis 1 (channels)").into());
        }
        let channels = self.shape(x)[0];
        let outputs = node.output.len();
        let sizes: Vec<usize> = match self.optional_input(node, 1)? {
            Some(_) => self.folded_constant(node, 1)?.as_ints()?.into_iter().map(|s| s.max(0) as usize).collect(),
            None => match attrs.ints("split")? {
                Some(sizes) => sizes.iter().map(|&s| s.max(0) as usize).collect(),
                // Opset 18's num_outputs (and before it, equal parts): ceil-sized parts, the last
                // one smaller.
                None => {
                    let part = channels.div_ceil(outputs.max(1));
                    (0..outputs).map(|k| part.min(channels.saturating_sub(k * part))).collect()
                }
            },
        };
        if sizes.len() != outputs || sizes.iter().sum::<usize>() != channels || sizes.contains(&0) {
            return Err(format!(
                "split sizes {sizes:?} do not cut the {channels} channels into {outputs} non-empty parts"
            )
            .into());
        }
        let mut parts = Vec::with_capacity(outputs);
        let mut start = 0;
        for size in sizes {
            let op = Op::SliceChannels { start, end: start + size };
            parts.push(self.push(op, &[x], Vec::new(), None)?);
            start += size;
        }
        Ok(Lowered::Many(parts))
    }

    /// Slice of a network tensor: a channel range along axis 1, step 1, the other axes whole.
    pub(super) fn slice(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let x = self.tensor(node, 0)?;
        let dims: Vec<usize> =
            [self.batch.unwrap_or(usize::MAX)].into_iter().chain(self.shape(x).iter().copied()).collect();
        let ints = |k: usize| -> NodeResult<Option<Vec<i64>>> {
            match self.optional_input(node, k)? {
                Some(_) => Ok(Some(self.folded_constant(node, k)?.as_ints()?)),
                None => Ok(None),
            }
        };
        let starts = ints(1)?.ok_or("the starts are missing")?;
        let ends = ints(2)?.ok_or("the ends are missing")?;
        let axes = ints(3)?.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = ints(4)?.unwrap_or_else(|| vec![1; starts.len()]);
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err("starts, ends, axes and steps differ in length".into());
        }
        let mut channels = 0..dims[1];
        for (((&start, &end), &axis), &step) in starts.iter().zip(&ends).zip(&axes).zip(&steps) {
            let axis = normalized_axis(axis, dims.len()).ok_or(format!("axis {axis} is out of range"))?;
            let range = clamped_range(start, end, dims[axis]);
            let whole = range == (0..dims[axis]) || (axis == 0 && start == 0 && end >= i64::from(i32::MAX));
            if step != 1 || (axis != 1 && !whole) {
                return Err(format!(
                    "Slice {start}..{end} step {step} on axis {axis} is not supported: only a channel range (axis 1) \
                     with step 1 is"
                )
                .into());
            }
            if axis == 1 {
                channels = range;
            }
        }
        if channels.is_empty() {
            return Err("the slice keeps no channel".into());
        }
        if channels == (0..dims[1]) {
            return Ok(Lowered::Alias(Value::Tensor(x)));
        }
        let op = Op::SliceChannels { start: channels.start, end: channels.end };
        Ok(Lowered::New(self.push(op, &[x], Vec::new(), None)?))
    }

    /// A Reshape of a network tensor `[C, H, W]` to `[batch, groups, C / groups, H, W]` (a view of
    /// the channels in groups, bound to the same IR node), or of such a view back to
    /// `[batch, C, H, W]` (a channel shuffle when the view was transposed). `None`: not one of
    /// these, and not a view (any other reshape of a view is refused: its order would be lost).
    pub(super) fn channel_group_reshape(
        &mut self,
        node: &NodeProto,
        x: NodeId,
        target: &[i64],
    ) -> NodeResult<Option<Lowered>> {
        let input_view = self.views.get(&node.input[0]).copied();
        let &[c, h, w] = self.shape(x) else { return Ok(None) };
        let image = (h as i64, w as i64);
        let allow_zero = Attributes::of(node).int("allowzero", 0)? != 0;
        let batch_ok = |d: i64| (d == 0 && !allow_zero) || d == -1 || self.batch.is_some_and(|b| b as i64 == d);
        match (input_view, target) {
            (None, &[n, g, per, th, tw]) if batch_ok(n) && g > 0 && per > 0 && (th, tw) == image => {
                if (g * per) as usize != c {
                    return Ok(None);
                }
                let view = ChannelView { groups: g as usize, transposed: false };
                self.views.insert(node.output[0].clone(), view);
                Ok(Some(Lowered::Alias(Value::Tensor(x))))
            }
            (Some(view), &[n, tc, th, tw]) if batch_ok(n) && (tc == -1 || tc == c as i64) && (th, tw) == image => {
                if !view.transposed {
                    return Ok(Some(Lowered::Alias(Value::Tensor(x))));
                }
                let op = Op::ChannelShuffle { groups: view.groups };
                Ok(Some(Lowered::New(self.push(op, &[x], Vec::new(), None)?)))
            }
            (Some(_), _) => Err(format!(
                "Reshape of a [batch, groups, C / groups, H, W] view of channels to {target:?} is not supported: \
                 only back to [batch, {c}, {h}, {w}] (a channel shuffle)"
            )
            .into()),
            (None, _) => Ok(None),
        }
    }

    /// Transpose of a view of channels in groups, swapping the two group axes (the middle of a
    /// channel shuffle); no other Transpose of a network tensor is supported.
    pub(super) fn transpose(&mut self, node: &NodeProto) -> NodeResult<Lowered> {
        let x = self.tensor(node, 0)?;
        let perm = Attributes::of(node).ints("perm")?.map(<[i64]>::to_vec).unwrap_or_default();
        match self.views.get(&node.input[0]).copied() {
            Some(view) if perm == [0, 2, 1, 3, 4] => {
                let swapped = ChannelView { transposed: !view.transposed, ..view };
                self.views.insert(node.output[0].clone(), swapped);
                Ok(Lowered::Alias(Value::Tensor(x)))
            }
            _ => Err(format!(
                "Transpose with perm {perm:?} is not supported: only the channel shuffle's swap of the two group \
                 axes of a [batch, groups, C / groups, H, W] reshape, perm [0, 2, 1, 3, 4]"
            )
            .into()),
        }
    }
}

/// A possibly negative axis of a tensor of rank `rank`, if in range.
fn normalized_axis(axis: i64, rank: usize) -> Option<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    usize::try_from(a).ok().filter(|&a| a < rank)
}

/// ONNX Slice's `start..end` on an axis of size `dim` (negative counts from the end; clamped).
fn clamped_range(start: i64, end: i64, dim: usize) -> std::ops::Range<usize> {
    let dim_i = i64::try_from(dim).unwrap_or(i64::MAX);
    let clamp = |v: i64| (if v < 0 { v.saturating_add(dim_i) } else { v }).clamp(0, dim_i) as usize;
    clamp(start)..clamp(end)
}
