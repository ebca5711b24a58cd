//! Direction rows carried through the network, and the cross-polytope vertex rows built from
//! centres and directions at any node.

use crate::sign::{LayerKinks, NotANumber, SignSets};
use crate::ZeroSign;
use rayon::prelude::*;
use std::borrow::Cow;
use tessera_net::{Scalar, Tensor};

/// Images of the P frame directions at one node (linear parts only: no offsets).
#[derive(Clone, Debug)]
pub(crate) enum DirRows<T> {
    /// P rows shared by every point (the frame is shared and no kink lies upstream).
    Shared(Tensor<T>),
    /// P rows per tracked point, point after point.
    PerPoint(Tensor<T>),
}

impl<T: Scalar> DirRows<T> {
    /// Direction `p` of the point in slot `slot` (its position among the tracked points).
    pub fn row(&self, slot: usize, p: usize, num_dirs: usize) -> &[T] {
        match self {
            DirRows::Shared(t) => t.row(p),
            DirRows::PerPoint(t) => t.row(slot * num_dirs + p),
        }
    }

    /// Per-point rows for `slots` points (shared rows repeated).
    pub fn per_point(&self, slots: usize) -> Cow<'_, Tensor<T>> {
        match self {
            DirRows::PerPoint(t) => Cow::Borrowed(t),
            DirRows::Shared(t) => {
                let data = (0..slots).flat_map(|_| t.data.iter().copied()).collect();
                Cow::Owned(Tensor { shape: t.shape.clone(), batch: t.batch * slots, data })
            }
        }
    }
}

/// `+1` for the first P vertices, `-1` for the last P; and the direction each uses.
#[inline]
pub(crate) fn vertex_side(vertex: usize, num_dirs: usize) -> (bool, usize) {
    if vertex < num_dirs {
        (true, vertex)
    } else {
        (false, vertex - num_dirs)
    }
}

/// `out = center + step * dir`.
#[inline]
pub(crate) fn offset_row<T: Scalar>(center: &[T], dir: &[T], step: T, out: &mut [T]) {
    for ((o, &c), &d) in out.iter_mut().zip(center).zip(dir) {
        *o = c + step * d;
    }
}

/// The vertex rows of every point at every radius: row `(b * R + rho) * 2P + v` is
/// `centers[b] ± radii[rho] * dirs[b, p]` with the vertex order of `Frame::vertices`.
pub(crate) fn vertex_rows<T: Scalar>(
    centers: &Tensor<T>,
    dirs: &DirRows<T>,
    radii: &[T],
    num_dirs: usize,
) -> Tensor<T> {
    let width = centers.width();
    let per_point = radii.len() * 2 * num_dirs;
    let mut out = Tensor::zeros(centers.batch * per_point, &centers.shape);
    out.data.par_chunks_mut(per_point * width).enumerate().for_each(|(b, block)| {
        for (k, row) in block.chunks_mut(width).enumerate() {
            let (radius, vertex) = (radii[k / (2 * num_dirs)], k % (2 * num_dirs));
            let (plus, p) = vertex_side(vertex, num_dirs);
            let step = if plus { radius } else { -radius };
            offset_row(centers.row(b), dirs.row(b, p, num_dirs), step, row);
        }
    });
    out
}

/// Piece changes per group of `group_len` consecutive rows; the error names the first group
/// with a NaN.
pub(crate) fn count_groups<T: Scalar>(
    values: &Tensor<T>,
    group_len: usize,
    zero: ZeroSign,
    kinks: LayerKinks,
) -> Result<Vec<u32>, usize> {
    let width = values.width();
    values
        .data
        .par_chunks(group_len * width)
        .enumerate()
        .map(|(g, group)| {
            let mut sets = SignSets::new(width, zero, kinks);
            group.chunks(width).for_each(|row| sets.absorb(row));
            sets.count_changes().map_err(|NotANumber| g)
        })
        .collect()
}
