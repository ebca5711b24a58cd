//! The network restricted to one linear region: frozen activation patterns and the local
//! affine map `f(x') = A x' + c`, exact on the region of `x` for continuous piecewise-affine nets.

use crate::forward::OffsetRows;
use crate::op::{Mode, Op};
use crate::{Network, NodeId, Result, Scalar, Tensor};

/// The state of every kink at one point: activation pieces and max-pool winners.
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    /// Indexed by node id; `None` for affine nodes.
    pub nodes: Vec<Option<NodePattern>>,
}

/// The frozen state of one kinked node.
#[derive(Clone, Debug, PartialEq)]
pub enum NodePattern {
    /// The piece (`Activation::piece_at`) each unit of an activation node is on.
    Pieces(Vec<u8>),
    /// Winning in-sample input index of each max-pool output.
    Winners(Vec<u32>),
}

/// An affine map `y = A x + c` with `A` row-major `outputs x inputs`.
#[derive(Clone, Debug, PartialEq)]
pub struct AffineMap<T> {
    /// Input dimension (columns of `A`).
    pub inputs: usize,
    /// Output dimension (rows of `A`).
    pub outputs: usize,
    /// The linear part `A`, row-major `outputs x inputs`.
    pub a: Vec<T>,
    /// The offset `c`, length `outputs`.
    pub c: Vec<T>,
}

impl<T: Scalar> AffineMap<T> {
    /// Evaluate at `x`.
    pub fn apply(&self, x: &[T]) -> Vec<T> {
        (0..self.outputs)
            .map(|i| {
                self.a[i * self.inputs..(i + 1) * self.inputs].iter().zip(x).map(|(&a, &b)| a * b).sum::<T>()
                    + self.c[i]
            })
            .collect()
    }
}

impl<T: Scalar> Network<T> {
    /// The kink states at the single point `x` (batch norm in evaluation mode).
    pub fn pattern_at(&self, x: &[T]) -> Result<Pattern> {
        let tape = self.forward_tape(&Tensor::from_vec(self.input_shape(), x.to_vec())?, Mode::Eval)?;
        let nodes = (0..self.nodes().len())
            .map(|id| match self.node(id).op {
                Op::Activation { activation } => {
                    let pre = &tape.values[self.node(id).inputs[0]].data;
                    Some(NodePattern::Pieces(pre.iter().map(|v| activation.piece_at(v.to_f64()) as u8).collect()))
                }
                Op::MaxPool2d { .. } => Some(NodePattern::Winners(tape.argmax[id].clone().expect("argmax"))),
                _ => None,
            })
            .collect();
        Ok(Pattern { nodes })
    }

    /// Propagate rows (points or directions) with every kink frozen to `pattern`: the network's
    /// restriction to one region, extended affinely to all of input space.
    pub fn forward_linearized(&self, rows: &Tensor<T>, pattern: &Pattern, offsets: OffsetRows) -> Result<Tensor<T>> {
        let x = self.check_input(rows)?;
        let mut values: Vec<Option<Tensor<T>>> = vec![None; self.nodes().len()];
        let last_use = self.last_uses();
        values[0] = Some(x);
        for id in 1..self.nodes().len() {
            let out = {
                let inputs: Vec<&Tensor<T>> =
                    self.node(id).inputs.iter().map(|&i| values[i].as_ref().expect("live value")).collect();
                self.frozen_node(id, &inputs, pattern, offsets)
            };
            values[id] = Some(out);
            for &i in &self.node(id).inputs {
                if last_use[i] == id {
                    values[i] = None;
                }
            }
        }
        Ok(values.pop().flatten().expect("output"))
    }

    fn frozen_node(&self, id: NodeId, inputs: &[&Tensor<T>], pattern: &Pattern, offsets: OffsetRows) -> Tensor<T> {
        match &pattern.nodes[id] {
            Some(NodePattern::Pieces(pieces)) => {
                let Op::Activation { activation } = self.node(id).op else { unreachable!("pieces of an activation") };
                let pieces: Vec<(T, T)> = pieces
                    .iter()
                    .map(|&k| {
                        let (slope, offset) = activation.piece(k as usize);
                        (T::from_f64(slope), T::from_f64(offset))
                    })
                    .collect();
                let mut out = inputs[0].clone();
                let width = out.width();
                for (r, row) in out.data.chunks_mut(width).enumerate() {
                    let with_offsets = offsets.applies(r);
                    row.iter_mut().zip(&pieces).for_each(|(v, &(s, o))| {
                        *v = *v * s + if with_offsets { o } else { T::zero() };
                    });
                }
                out
            }
            Some(NodePattern::Winners(winners)) => {
                let x = inputs[0];
                let mut out = Tensor::zeros(x.batch, self.shape(id));
                for (o, xi) in out.data.chunks_mut(winners.len()).zip(x.data.chunks(x.width())) {
                    o.iter_mut().zip(winners).for_each(|(v, &w)| *v = xi[w as usize]);
                }
                out
            }
            None => self.apply_affine(id, inputs, offsets),
        }
    }

    /// The affine map of the network on the linear region of `x`: `f(x') = A x' + c` for every
    /// `x'` with the same kink states as `x`.
    pub fn affine_map_at(&self, x: &[T]) -> Result<AffineMap<T>> {
        let pattern = self.pattern_at(x)?;
        let d = self.input_width();
        // Row 0 is the origin (receives offsets: gives c); rows 1..=d are the unit directions.
        let mut rows = Tensor::zeros(d + 1, self.input_shape());
        for i in 0..d {
            rows.data[(i + 1) * d + i] = T::one();
        }
        let out = self.forward_linearized(&rows, &pattern, OffsetRows::EveryNth(d + 1))?;
        let m = out.width();
        let mut a = vec![T::zero(); m * d];
        for i in 0..d {
            for (j, &v) in out.row(i + 1).iter().enumerate() {
                a[j * d + i] = v;
            }
        }
        Ok(AffineMap { inputs: d, outputs: m, a, c: out.row(0).to_vec() })
    }
}
